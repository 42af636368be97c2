/*
 * cfg_dump.c - printing the effective configuration as YAML (--dump-config),
 * and masking credentials embedded in URLs.
 *
 * The dump lists every key of cfg_keys[], in order, with secrets (and any
 * "user:password@" inside a URL) replaced by "********". An empty secret is
 * printed as "" so that the user sees it is unset. The output loads back with
 * cfg_load() to the same configuration, masked secrets aside: strings are
 * double-quoted and "${" is written "$${" so that nothing is interpolated.
 */
#include "config/config.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

#define CFG_MASK "********"

char *
cfg_redact_urls(const char *s)
{
    struct cdc_buf b = CDC_BUF_INIT;
    const char *p;

    if (s == NULL)
        s = "";
    cdc_buf_reserve(&b, strlen(s) + 16);
    while ((p = strstr(s, "://")) != NULL) {
        const char *auth = p + 3;
        size_t alen = strcspn(auth, "/?#, \t\r\n");
        const char *at = memrchr(auth, '@', alen);

        cdc_buf_append(&b, s, (size_t) (auth - s));
        s = auth;
        if (at != NULL) {
            const char *colon = memchr(auth, ':', (size_t) (at - auth));

            /* "user:password@" keeps the user; a lone "token@" is all secret */
            if (colon != NULL)
                cdc_buf_append(&b, auth, (size_t) (colon + 1 - auth));
            cdc_buf_puts(&b, CFG_MASK);
            s = at;
        }
    }
    cdc_buf_puts(&b, s);
    if (!cdc_buf_ok(&b)) {
        cdc_buf_free(&b);
        return NULL;
    }
    return b.data;
}

/* A YAML double-quoted scalar that cfg_load() reads back as s. */
static void
cfg_dump_quoted(FILE *out, const char *s)
{
    fputc('"', out);
    for (; s != NULL && *s; s++) {
        unsigned char c = (unsigned char) *s;

        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02X", c);
        else if (c == '$' && s[1] == '{')
            fputs("$$", out); /* a literal "${", not a reference */
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void
cfg_dump_string(FILE *out, const char *s, bool secret)
{
    char *r;

    if (secret) {
        /* an unset secret is shown as such; a set one never */
        fputs(s != NULL && *s ? "\"" CFG_MASK "\"" : "\"\"", out);
        return;
    }
    r = cfg_redact_urls(s);
    cfg_dump_quoted(out, r ? r : CFG_MASK);
    free(r);
}

static void
cfg_dump_duration(FILE *out, int64_t ms)
{
    if (ms == 0)
        fputs("0s", out);
    else if (ms % 3600000 == 0)
        fprintf(out, "%lldh", (long long) (ms / 3600000));
    else if (ms % 60000 == 0)
        fprintf(out, "%lldm", (long long) (ms / 60000));
    else if (ms % 1000 == 0)
        fprintf(out, "%llds", (long long) (ms / 1000));
    else
        fprintf(out, "%lldms", (long long) ms);
}

static void
cfg_dump_list(FILE *out, const struct cfg_strlist *l, int depth)
{
    if (l->n == 0) {
        fputs(" []\n", out);
        return;
    }
    fputc('\n', out);
    for (int i = 0; i < l->n; i++) {
        fprintf(out, "%*s- ", 2 * (depth + 1), "");
        cfg_dump_string(out, l->items[i], false);
        fputc('\n', out);
    }
}

static void
cfg_dump_map(FILE *out, const struct cfg_strmap *m, int depth)
{
    if (m->n == 0) {
        fputs(" {}\n", out);
        return;
    }
    fputc('\n', out);
    for (int i = 0; i < m->n; i++) {
        fprintf(out, "%*s", 2 * (depth + 1), "");
        cfg_dump_quoted(out, m->keys[i]);
        fputs(": ", out);
        cfg_dump_string(out, m->values[i], false);
        fputc('\n', out);
    }
}

static void
cfg_dump_value(FILE *out, const struct cdc_config *cfg, int ki, int depth)
{
    const struct cfg_key *k = &cfg_keys[ki];
    const void *f = (const char *) cfg + k->off;
    int e;

    switch (k->type) {
    case CFG_T_STR:
    case CFG_T_WORD:
        fputc(' ', out);
        cfg_dump_string(out, *(char *const *) f, k->secret);
        break;
    case CFG_T_INT:
        fprintf(out, " %d", *(const int *) f);
        break;
    case CFG_T_I64:
    case CFG_T_SIZE:
        fprintf(out, " %lld", (long long) *(const int64_t *) f);
        break;
    case CFG_T_DUR:
        fputc(' ', out);
        cfg_dump_duration(out, *(const int64_t *) f);
        break;
    case CFG_T_BOOL:
        fputs(*(const bool *) f ? " true" : " false", out);
        break;
    case CFG_T_ENUM:
        e = *(const int *) f;
        for (int i = 0; k->names[i]; i++)
            if (i == e)
                fprintf(out, " %s", k->names[i]);
        break;
    case CFG_T_LIST:
        cfg_dump_list(out, f, depth);
        return;
    case CFG_T_MAP:
        cfg_dump_map(out, f, depth);
        return;
    }
    fputc('\n', out);
}

/* The length of the first `n` dot-separated components of path (n >= 1). */
static size_t
cfg_prefix_len(const char *path, int n)
{
    size_t i = 0;

    for (; path[i]; i++)
        if (path[i] == '.' && --n == 0)
            break;
    return i;
}

static int
cfg_depth(const char *path)
{
    int d = 0;

    for (; *path; path++)
        d += *path == '.';
    return d;
}

/* Print the section headers that `path` opens after `prev`; returns the key's depth. */
static int
cfg_dump_sections(FILE *out, const char *prev, const char *path)
{
    int depth = cfg_depth(path), same = 0;

    while (same < depth && same < cfg_depth(prev) &&
           cfg_prefix_len(prev, same + 1) == cfg_prefix_len(path, same + 1) &&
           strncmp(prev, path, cfg_prefix_len(path, same + 1)) == 0)
        same++;
    for (int d = same; d < depth; d++) {
        size_t from = d ? cfg_prefix_len(path, d) + 1 : 0;

        fprintf(out, "%*s%.*s:\n", 2 * d, "", (int) (cfg_prefix_len(path, d + 1) - from),
                path + from);
    }
    return depth;
}

void
cfg_dump(const struct cdc_config *cfg, FILE *out)
{
    const char *prev = "";

    fputs("# cdc-handler effective configuration (defaults, file, environment and -X overrides\n"
          "# applied; secrets masked)\n",
          out);
    for (int i = 0; i < CFG_NKEYS; i++) {
        const char *path = cfg_keys[i].path, *last = strrchr(path, '.');
        int depth = cfg_dump_sections(out, prev, path);

        fprintf(out, "%*s%s:", 2 * depth, "", last ? last + 1 : path);
        cfg_dump_value(out, cfg, i, depth);
        prev = path;
    }
}
