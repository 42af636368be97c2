/*
 * filter.c - table and operation filters; see filter.h for the pattern
 * syntax and the verdicts.
 *
 * A pattern is compiled into two globs (schema part, table part). A glob is
 * its characters with, per character, whether it is a literal or a
 * wildcard, so that quoted `*` and `?` stay literal. Matching is the usual
 * iterative glob match with one backtrack point (the last `*`), linear in
 * practice. This module does no I/O and does not log.
 */
#include "transform/filter.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum glob_kind { GLOB_LIT = 0, GLOB_STAR, GLOB_ONE };

struct glob {
    char *chars;   /* the characters, NUL-terminated (a wildcard's slot holds '*' or '?') */
    uint8_t *kind; /* per character: enum glob_kind */
    size_t n;
    bool wild; /* holds at least one wildcard */
};

struct pattern {
    struct glob schema, table;
    char *text; /* the pattern as written, for messages */
};

struct filter {
    struct pattern *inc, *exc;
    int n_inc, n_exc;
    unsigned ops; /* bit (1 << enum cdc_op) per published operation */
};

static const char *const filter_op_names[] = {"insert", "update", "delete", "truncate", "ddl"};

#define FILTER_N_OPS (int) (sizeof(filter_op_names) / sizeof(filter_op_names[0]))

/* ---- parsing ---- */

static void
glob_free(struct glob *g)
{
    free(g->chars);
    free(g->kind);
    memset(g, 0, sizeof(*g));
}

static void
pattern_free(struct pattern *p)
{
    glob_free(&p->schema);
    glob_free(&p->table);
    free(p->text);
    p->text = NULL;
}

/*
 * Parse `pat` into p (p may be NULL: syntax check only). The parts are
 * written into storage of strlen(pat) + 1 bytes each, which always suffices.
 */
static cdc_rc
pattern_parse(const char *pat, struct pattern *p, struct cdc_err *err)
{
    size_t len = pat != NULL ? strlen(pat) : 0;
    struct glob g[2];
    int part = 0;
    bool quoted = false, was_quoted[2] = {false, false};
    cdc_rc rc = CDC_OK;

    memset(g, 0, sizeof(g));
    if (len == 0)
        return cdc_err_set(err, CDC_ERR_CONFIG, "a pattern is empty");
    for (int i = 0; i < 2; i++) {
        g[i].chars = calloc(len + 1, 1);
        g[i].kind = calloc(len + 1, 1);
        if (g[i].chars == NULL || g[i].kind == NULL) {
            rc = cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
            goto fail;
        }
    }
    for (size_t i = 0; i < len; i++) {
        char c = pat[i];
        struct glob *cur = &g[part];
        enum glob_kind k = GLOB_LIT;

        if (quoted) {
            if (c == '"' && pat[i + 1] == '"') {
                i++;
            } else if (c == '"') {
                quoted = false;
                continue;
            }
        } else if (c == '"') {
            quoted = was_quoted[part] = true;
            continue;
        } else if (c == '.') {
            if (part == 1) {
                rc = cdc_err_set(err, CDC_ERR_CONFIG,
                                 "\"%s\" has more than one unquoted dot: quote a name that "
                                 "holds a dot, e.g. \"my.schema\".orders",
                                 pat);
                goto fail;
            }
            part = 1;
            continue;
        } else if (c == '*' || c == '?') {
            k = c == '*' ? GLOB_STAR : GLOB_ONE;
            cur->wild = true;
        }
        cur->chars[cur->n] = c;
        cur->kind[cur->n++] = (uint8_t) k;
    }
    if (quoted) {
        rc = cdc_err_set(err, CDC_ERR_CONFIG, "\"%s\" has an unterminated double quote", pat);
        goto fail;
    }
    if (part == 0) {
        rc = cdc_err_set(err, CDC_ERR_CONFIG,
                         "\"%s\" has no schema part: write schema.table, e.g. public.%s or *.%s",
                         pat, pat, pat);
        goto fail;
    }
    for (int i = 0; i < 2; i++) {
        if (g[i].n == 0 && !was_quoted[i]) {
            rc = cdc_err_set(err, CDC_ERR_CONFIG, "\"%s\" has an empty %s part", pat,
                             i == 0 ? "schema" : "table");
            goto fail;
        }
    }
    if (p != NULL) {
        p->text = strdup(pat);
        if (p->text == NULL) {
            rc = cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
            goto fail;
        }
        p->schema = g[0];
        p->table = g[1];
        return CDC_OK;
    }
fail:
    glob_free(&g[0]);
    glob_free(&g[1]);
    return rc;
}

cdc_rc
filter_pattern_check(const char *pattern, struct cdc_err *err)
{
    return pattern_parse(pattern, NULL, err);
}

bool
filter_op_parse(const char *name, enum cdc_op *out)
{
    for (int i = 0; name != NULL && i < FILTER_N_OPS; i++) {
        if (strcasecmp(name, filter_op_names[i]) == 0) {
            *out = (enum cdc_op) i;
            return true;
        }
    }
    return false;
}

static cdc_rc
patterns_compile(const char *const *pats, int n, struct pattern **out, struct cdc_err *err)
{
    struct pattern *v;

    *out = NULL;
    if (n <= 0)
        return CDC_OK;
    v = calloc((size_t) n, sizeof(*v));
    if (v == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    *out = v;
    for (int i = 0; i < n; i++) {
        cdc_rc rc = pattern_parse(pats[i], &v[i], err);

        if (rc != CDC_OK)
            return rc;
    }
    return CDC_OK;
}

cdc_rc
filter_create(struct filter **out, const char *const *includes, int n_includes,
              const char *const *excludes, int n_excludes, const char *const *ops, int n_ops,
              struct cdc_err *err)
{
    struct filter *f = calloc(1, sizeof(*f));
    cdc_rc rc;

    if (f == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    f->n_inc = n_includes > 0 ? n_includes : 0;
    f->n_exc = n_excludes > 0 ? n_excludes : 0;
    rc = patterns_compile(includes, f->n_inc, &f->inc, err);
    if (rc == CDC_OK)
        rc = patterns_compile(excludes, f->n_exc, &f->exc, err);
    if (rc != CDC_OK)
        goto fail;
    f->ops = n_ops > 0 ? 0 : (1u << FILTER_N_OPS) - 1;
    for (int i = 0; i < n_ops; i++) {
        enum cdc_op op;

        if (!filter_op_parse(ops[i], &op)) {
            rc = cdc_err_set(err, CDC_ERR_CONFIG,
                             "unknown operation \"%s\": use insert, update, delete, truncate or "
                             "ddl",
                             ops[i] ? ops[i] : "");
            goto fail;
        }
        f->ops |= 1u << op;
    }
    *out = f;
    return CDC_OK;
fail:
    filter_destroy(f);
    return rc;
}

void
filter_destroy(struct filter *f)
{
    if (f == NULL)
        return;
    for (int i = 0; f->inc != NULL && i < f->n_inc; i++)
        pattern_free(&f->inc[i]);
    for (int i = 0; f->exc != NULL && i < f->n_exc; i++)
        pattern_free(&f->exc[i]);
    free(f->inc);
    free(f->exc);
    free(f);
}

/* ---- matching ---- */

/* Length of the UTF-8 character at s (1 for a byte that does not start a valid sequence). */
static size_t
utf8_len(const char *s)
{
    size_t n = 1;

    while (s[n] != '\0' && ((unsigned char) s[n] & 0xC0) == 0x80 && n < 4)
        n++;
    return n;
}

static bool
glob_match(const struct glob *g, const char *s)
{
    size_t gi = 0, star_gi = SIZE_MAX;
    const char *star_s = NULL;

    while (*s != '\0') {
        if (gi < g->n && g->kind[gi] == GLOB_STAR) {
            star_gi = gi++;
            star_s = s;
        } else if (gi < g->n && g->kind[gi] == GLOB_ONE) {
            gi++;
            s += utf8_len(s);
        } else if (gi < g->n && g->chars[gi] == *s) {
            gi++;
            s++;
        } else if (star_gi != SIZE_MAX) {
            /* let the last star take one more character and try again after it */
            gi = star_gi + 1;
            star_s += utf8_len(star_s);
            s = star_s;
        } else {
            return false;
        }
    }
    while (gi < g->n && g->kind[gi] == GLOB_STAR)
        gi++;
    return gi == g->n;
}

static bool
pattern_match(const struct pattern *p, const char *schema, const char *table)
{
    return glob_match(&p->schema, schema) && glob_match(&p->table, table);
}

bool
filter_table_included(const struct filter *f, const char *schema, const char *table)
{
    bool in = f->n_inc == 0;

    if (schema == NULL || table == NULL)
        return false;
    for (int i = 0; !in && i < f->n_inc; i++)
        in = pattern_match(&f->inc[i], schema, table);
    for (int i = 0; in && i < f->n_exc; i++)
        in = !pattern_match(&f->exc[i], schema, table);
    return in;
}

bool
filter_has_includes(const struct filter *f)
{
    return f->n_inc > 0;
}

bool
filter_has_excludes(const struct filter *f)
{
    return f->n_exc > 0;
}

bool
filter_schema_may_match(const struct filter *f, const char *schema)
{
    if (f->n_inc == 0)
        return true;
    for (int i = 0; i < f->n_inc; i++)
        if (glob_match(&f->inc[i].schema, schema))
            return true;
    return false;
}

bool
filter_op_included(const struct filter *f, enum cdc_op op)
{
    return (unsigned) op < (unsigned) FILTER_N_OPS && (f->ops & (1u << op)) != 0;
}

/* ---- the PostgreSQL publication ---- */

/* A glob without wildcards, as the plain name it stands for. */
static const char *
glob_name(const struct glob *g)
{
    return g->chars;
}

/* The table part is a lone `*`: the whole schema. */
static bool
glob_is_any(const struct glob *g)
{
    return g->n == 1 && g->kind[0] == GLOB_STAR;
}

static bool
plan_has(const struct filter_pub_plan *p, const char *schema, const char *table)
{
    for (int i = 0; i < p->n; i++) {
        const struct filter_pub_object *o = &p->objects[i];

        if (strcmp(o->schema, schema) == 0 &&
            (o->table == NULL || (table != NULL && strcmp(o->table, table) == 0)))
            return true;
    }
    return false;
}

static cdc_rc
plan_add(struct filter_pub_plan *p, const char *schema, const char *table, struct cdc_err *err)
{
    struct filter_pub_object *o = &p->objects[p->n];

    o->schema = strdup(schema);
    o->table = table != NULL ? strdup(table) : NULL;
    if (o->schema == NULL || (table != NULL && o->table == NULL)) {
        free(o->schema);
        free(o->table);
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    }
    p->n++;
    return CDC_OK;
}

/* Could an exclude pattern match some table of `schema`? */
static bool
excludes_touch_schema(const struct filter *f, const char *schema)
{
    for (int i = 0; i < f->n_exc; i++)
        if (glob_match(&f->exc[i].schema, schema))
            return true;
    return false;
}

/* Note that the publication is wider than the included tables: why = pattern "pat" + rest. */
static void
plan_wider(struct filter_pub_plan *p, const char *pat, const char *rest)
{
    if (p->wider)
        return;
    p->wider = true;
    if (pat != NULL)
        snprintf(p->why, sizeof(p->why), "pattern \"%s\" %s", pat, rest);
    else
        snprintf(p->why, sizeof(p->why), "%s", rest);
}

/* Pass one: whole schemas (so that pass two can leave out their tables). */
static cdc_rc
plan_schemas(const struct filter *f, struct filter_pub_plan *p, struct cdc_err *err)
{
    for (int i = 0; i < f->n_inc; i++) {
        const struct pattern *pt = &f->inc[i];
        const char *s = glob_name(&pt->schema);
        cdc_rc rc;

        if (!pt->table.wild)
            continue;
        if (!glob_is_any(&pt->table))
            plan_wider(p, pt->text, "is published as its whole schema");
        else if (excludes_touch_schema(f, s))
            plan_wider(p, pt->text, "is published as its whole schema, where excludes may match");
        if (plan_has(p, s, NULL))
            continue;
        rc = plan_add(p, s, NULL, err);
        if (rc != CDC_OK)
            return rc;
    }
    return CDC_OK;
}

static cdc_rc
plan_list(const struct filter *f, struct filter_pub_plan *p, struct cdc_err *err)
{
    cdc_rc rc;

    p->objects = calloc((size_t) f->n_inc, sizeof(*p->objects));
    if (p->objects == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    rc = plan_schemas(f, p, err);
    for (int i = 0; rc == CDC_OK && i < f->n_inc; i++) {
        const struct pattern *pt = &f->inc[i];
        const char *s = glob_name(&pt->schema), *t = glob_name(&pt->table);

        if (pt->table.wild || plan_has(p, s, t) || !filter_table_included(f, s, t))
            continue;
        rc = plan_add(p, s, t, err);
    }
    return rc;
}

/* Is `*.*` among the include patterns? */
static bool
filter_includes_all(const struct filter *f)
{
    for (int i = 0; i < f->n_inc; i++)
        if (glob_is_any(&f->inc[i].schema) && glob_is_any(&f->inc[i].table))
            return true;
    return false;
}

cdc_rc
filter_pub_plan(const struct filter *f, struct filter_pub_plan *out, struct cdc_err *err)
{
    cdc_rc rc;

    memset(out, 0, sizeof(*out));
    if (f->n_inc == 0) {
        out->all_tables = true;
        if (f->n_exc > 0)
            plan_wider(out, NULL,
                       "cdc.table_excludes without cdc.table_filters: the publication is FOR ALL "
                       "TABLES");
        return CDC_OK;
    }
    for (int i = 0; i < f->n_inc; i++) {
        const struct pattern *pt = &f->inc[i];

        if (!pt->schema.wild)
            continue;
        out->all_tables = true;
        if (f->n_exc == 0 && filter_includes_all(f))
            continue;
        if (!glob_is_any(&pt->schema) || !glob_is_any(&pt->table))
            plan_wider(out, pt->text,
                       "has a wildcard in its schema part: the publication is FOR ALL TABLES");
        else if (f->n_exc > 0)
            plan_wider(out, NULL, "*.* with cdc.table_excludes: the publication is FOR ALL TABLES");
    }
    if (out->all_tables)
        return CDC_OK;
    rc = plan_list(f, out, err);
    if (rc != CDC_OK)
        filter_pub_plan_free(out);
    return rc;
}

void
filter_pub_plan_free(struct filter_pub_plan *p)
{
    for (int i = 0; p->objects != NULL && i < p->n; i++) {
        free(p->objects[i].schema);
        free(p->objects[i].table);
    }
    free(p->objects);
    memset(p, 0, sizeof(*p));
}
