/*
 * relcache.c - relid -> struct cdc_relation, an open-addressing hash table
 * (linear probing, power-of-two capacity, load <= 1/2; entries are never
 * deleted, only replaced, so no tombstones are needed).
 *
 * Each relation is ONE allocation: the struct cdc_relation, then its column
 * array, then the NUL-terminated schema, table and column names, so replacing
 * or freeing a relation is a single free().
 */
#include "source/pg/relcache.h"

#include <stdlib.h>
#include <string.h>

#include "source/pg/pgtypes.h"

#define RELCACHE_INIT_CAP 16

struct relcache {
    struct cdc_relation **slots; /* cap slots, NULL when empty */
    size_t cap;                  /* power of two */
    size_t count;                /* non-NULL slots */
};

static size_t
relcache_hash(uint32_t relid, size_t cap)
{
    /* Fibonacci hashing: OIDs are often consecutive */
    return (size_t) ((relid * UINT32_C(2654435769)) >> 7) & (cap - 1);
}

/* The slot holding relid, or the empty slot where it belongs. */
static struct cdc_relation **
relcache_slot(struct cdc_relation **slots, size_t cap, uint32_t relid)
{
    size_t i = relcache_hash(relid, cap);

    while (slots[i] != NULL && slots[i]->id != relid)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

cdc_rc
relcache_create(struct relcache **out, struct cdc_err *err)
{
    struct relcache *rc = calloc(1, sizeof(*rc));

    if (rc == NULL)
        goto fail;
    rc->slots = calloc(RELCACHE_INIT_CAP, sizeof(*rc->slots));
    if (rc->slots == NULL)
        goto fail;
    rc->cap = RELCACHE_INIT_CAP;
    *out = rc;
    return CDC_OK;
fail:
    free(rc);
    return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory creating the relation cache");
}

void
relcache_destroy(struct relcache *rc)
{
    if (rc == NULL)
        return;
    for (size_t i = 0; i < rc->cap; i++)
        free(rc->slots[i]);
    free(rc->slots);
    free(rc);
}

static cdc_rc
relcache_grow(struct relcache *rc, struct cdc_err *err)
{
    size_t ncap = rc->cap * 2;
    struct cdc_relation **ns = calloc(ncap, sizeof(*ns));

    if (ns == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory growing the relation cache");
    for (size_t i = 0; i < rc->cap; i++)
        if (rc->slots[i] != NULL)
            *relcache_slot(ns, ncap, rc->slots[i]->id) = rc->slots[i];
    free(rc->slots);
    rc->slots = ns;
    rc->cap = ncap;
    return CDC_OK;
}

/* Copy s to *p and advance *p past its terminator; returns the copy. */
static const char *
relcache_copy_str(char **p, const char *s)
{
    size_t n = strlen(s) + 1;
    char *dst = *p;

    memcpy(dst, s, n);
    *p += n;
    return dst;
}

/* Build one relation (one allocation) from a decoded Relation message. */
static struct cdc_relation *
relcache_build(const struct pgo_relation *r)
{
    struct pgo_column_iter it;
    struct pgo_column col;
    struct cdc_relation *rel;
    size_t strbytes = strlen(r->nspname) + strlen(r->relname) + 2;
    size_t head = sizeof(*rel) + (size_t) r->ncols * sizeof(struct cdc_column);
    char *p;

    pgo_column_iter_init(&it, r);
    while (pgo_column_next(&it, &col))
        strbytes += strlen(col.name) + 1;
    rel = malloc(head + strbytes);
    if (rel == NULL)
        return NULL;
    rel->id = r->relid;
    rel->replident = r->replident;
    rel->schema_version[0] = '\0'; /* the pipeline's relation hook fills it */
    rel->ncols = r->ncols;
    rel->cols = (struct cdc_column *) (rel + 1);
    p = (char *) rel + head;
    rel->schema = relcache_copy_str(&p, r->nspname);
    rel->table = relcache_copy_str(&p, r->relname);
    pgo_column_iter_init(&it, r);
    for (uint32_t i = 0; pgo_column_next(&it, &col); i++) {
        struct cdc_column *c = &rel->cols[i];

        c->name = relcache_copy_str(&p, col.name);
        c->type_id = col.type_oid;
        c->type_mod = col.typmod;
        c->is_key = (col.flags & PGO_COL_FLAG_KEY) != 0;
        (void) pgtypes_lookup(col.type_oid, &c->fmt, &c->elem_fmt);
    }
    return rel;
}

cdc_rc
relcache_put(struct relcache *rc, const struct pgo_relation *r, struct cdc_err *err)
{
    struct cdc_relation *rel, **slot;

    if ((rc->count + 1) * 2 > rc->cap && relcache_grow(rc, err) != CDC_OK)
        return CDC_ERR_NOMEM;
    rel = relcache_build(r);
    if (rel == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory caching relation \"%s.%s\"",
                           r->nspname, r->relname);
    slot = relcache_slot(rc->slots, rc->cap, r->relid);
    if (*slot == NULL)
        rc->count++;
    free(*slot);
    *slot = rel;
    return CDC_OK;
}

const struct cdc_relation *
relcache_get(const struct relcache *rc, uint32_t relid)
{
    return *relcache_slot(rc->slots, rc->cap, relid);
}

size_t
relcache_count(const struct relcache *rc)
{
    return rc->count;
}
