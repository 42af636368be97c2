/*
 * seen.c - a set of event positions; see seen.h. Open addressing with
 * linear probing, grown at half full.
 */
#include "pipeline/seen.h"

#include <stdlib.h>

void
seen_init(struct seen *s)
{
    s->keys = NULL;
    s->cap = s->n = 0;
    s->max_commit = 0;
}

void
seen_free(struct seen *s)
{
    free(s->keys);
    seen_init(s);
}

static size_t
seen_slot(const struct seen *s, cdc_lsn lsn, uint64_t tag)
{
    uint64_t h = (lsn ^ (tag * 0x9E3779B97F4A7C15ULL)) * 0xFF51AFD7ED558CCDULL;
    size_t i = (size_t) (h ^ (h >> 32)) & (s->cap - 1);

    while (s->keys[2 * i + 1] != 0 && (s->keys[2 * i] != lsn || s->keys[2 * i + 1] != tag))
        i = (i + 1) & (s->cap - 1);
    return i;
}

static bool
seen_grow(struct seen *s)
{
    struct seen bigger = *s;

    bigger.cap = s->cap ? s->cap * 2 : 1024;
    bigger.keys = calloc(bigger.cap * 2, sizeof(uint64_t));
    if (bigger.keys == NULL)
        return false;
    for (size_t i = 0; i < s->cap; i++) {
        if (s->keys[2 * i + 1] != 0) {
            size_t j = seen_slot(&bigger, s->keys[2 * i], s->keys[2 * i + 1]);

            bigger.keys[2 * j] = s->keys[2 * i];
            bigger.keys[2 * j + 1] = s->keys[2 * i + 1];
        }
    }
    free(s->keys);
    *s = bigger;
    return true;
}

cdc_rc
seen_add(struct seen *s, cdc_lsn commit_lsn, uint32_t seq, struct cdc_err *err)
{
    uint64_t tag = (uint64_t) seq + 1;
    size_t i;

    if ((s->n + 1) * 2 > s->cap && !seen_grow(s))
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory remembering stream events");
    i = seen_slot(s, commit_lsn, tag);
    if (s->keys[2 * i + 1] == 0) {
        s->keys[2 * i] = commit_lsn;
        s->keys[2 * i + 1] = tag;
        s->n++;
    }
    if (commit_lsn > s->max_commit)
        s->max_commit = commit_lsn;
    return CDC_OK;
}

bool
seen_has(const struct seen *s, cdc_lsn commit_lsn, uint32_t seq)
{
    uint64_t tag = (uint64_t) seq + 1;

    if (s->n == 0 || commit_lsn > s->max_commit)
        return false;
    return s->keys[2 * seen_slot(s, commit_lsn, tag) + 1] != 0;
}
