/*
 * schematrack.c - schema versions, strict mode and the registry; see
 * schematrack.h.
 */
#include "pipeline/schematrack.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/lsn.h"
#include "transform/schema.h"

#define MOD "schema"

struct st_table {
    char *schema, *table;   /* owned copies */
    bool have_cur;          /* cur holds the current definition */
    struct schema_def cur;  /* the current definition */
    struct schema_index ix; /* what the registry holds (ix.n == 0: nothing) */
};

struct schematrack {
    struct schematrack_opts o;
    char *database;
    uint64_t pos;  /* the open transaction's key */
    bool accepted; /* --accept-schema-change let a change of the open transaction through */
    struct st_table *tables;
    size_t n, cap;
    struct cdc_buf key, val; /* scratch */
    cdc_rc rc;               /* kept failure */
    struct cdc_err err;
};

cdc_rc
schematrack_create(struct schematrack **out, const struct schematrack_opts *o, struct cdc_err *err)
{
    struct schematrack *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    t->o = *o;
    t->database = strdup(o->database != NULL ? o->database : "");
    if (t->database == NULL) {
        free(t);
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    }
    *out = t;
    return CDC_OK;
}

void
schematrack_destroy(struct schematrack *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->tables[i].schema);
        free(t->tables[i].table);
        schema_def_free(&t->tables[i].cur);
        schema_index_free(&t->tables[i].ix);
    }
    free(t->tables);
    free(t->database);
    cdc_buf_free(&t->key);
    cdc_buf_free(&t->val);
    free(t);
}

void
schematrack_begin(struct schematrack *t, uint64_t pos)
{
    t->pos = pos;
    t->accepted = false;
}

void
schematrack_commit(struct schematrack *t)
{
    if (t->accepted && t->o.accept != NULL)
        *t->o.accept = false;
    t->accepted = false;
}

static cdc_rc
st_fail(struct schematrack *t, cdc_rc rc, const struct cdc_err *err)
{
    if (t->rc == CDC_OK) {
        t->rc = rc;
        t->err = *err;
    }
    return rc;
}

static struct st_table *
st_find(struct schematrack *t, const char *schema, const char *table)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->tables[i].schema, schema) == 0 && strcmp(t->tables[i].table, table) == 0)
            return &t->tables[i];
    return NULL;
}

/* Read the table's index from the registry: its newest definition becomes current. */
static cdc_rc
st_load(struct schematrack *t, struct st_table *tab, struct cdc_err *err)
{
    bool found = false;
    cdc_rc rc;

    cdc_buf_reset(&t->key);
    cdc_buf_reset(&t->val);
    schema_kv_key(&t->key, t->database, tab->schema, tab->table, "latest");
    if (!cdc_buf_ok(&t->key))
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    rc = t->o.store.get(t->o.store.closure, t->key.data, &t->val, &found, err);
    if (rc != CDC_OK || !found)
        return rc;
    rc = schema_index_parse(t->val.data, t->val.len, &tab->ix, err);
    if (rc != CDC_OK)
        return cdc_err_prefix(err, "schema registry key \"%s\"", t->key.data);
    /* the index's newest definition is the current one */
    tab->cur = tab->ix.latest;
    memset(&tab->ix.latest, 0, sizeof(tab->ix.latest));
    tab->have_cur = true;
    return CDC_OK;
}

static cdc_rc
st_add(struct schematrack *t, const struct cdc_relation *rel, struct st_table **out,
       struct cdc_err *err)
{
    struct st_table *tab;

    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        struct st_table *nt = realloc(t->tables, cap * sizeof(*nt));

        if (nt == NULL)
            return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
        t->tables = nt;
        t->cap = cap;
    }
    tab = &t->tables[t->n];
    memset(tab, 0, sizeof(*tab));
    tab->schema = strdup(rel->schema);
    tab->table = strdup(rel->table);
    if (tab->schema == NULL || tab->table == NULL) {
        free(tab->schema);
        free(tab->table);
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    }
    t->n++;
    *out = tab;
    return CDC_OK;
}

/* rel's definition becomes the table's current one. */
static cdc_rc
st_adopt(struct st_table *tab, const struct cdc_relation *rel, struct cdc_err *err)
{
    struct schema_def d;
    cdc_rc rc = schema_def_from_rel(&d, rel, err);

    if (rc != CDC_OK)
        return rc;
    schema_def_free(&tab->cur);
    tab->cur = d;
    tab->have_cur = true;
    return CDC_OK;
}

static cdc_rc
st_put(struct schematrack *t, const struct st_table *tab, const char *suffix, struct cdc_err *err)
{
    cdc_buf_reset(&t->key);
    schema_kv_key(&t->key, t->database, tab->schema, tab->table, suffix);
    if (!cdc_buf_ok(&t->key) || !cdc_buf_ok(&t->val))
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    return t->o.store.put(t->o.store.closure, t->key.data, t->val.data, t->val.len, err);
}

/* Write version ix.n + 1 (its JSON Schema, then the index naming it) and adopt it. */
static cdc_rc
st_register(struct schematrack *t, struct st_table *tab, const struct cdc_relation *rel,
            struct cdc_err *err)
{
    char suffix[24];
    uint32_t n = tab->ix.n + 1;
    cdc_rc rc;

    snprintf(suffix, sizeof(suffix), "v%" PRIu32, n);
    cdc_buf_reset(&t->val);
    schema_json_schema(&t->val, rel, t->database, n);
    rc = st_put(t, tab, suffix, err);
    if (rc != CDC_OK)
        return rc;
    rc = schema_index_add(&tab->ix, rel->schema_version, t->pos, err);
    if (rc != CDC_OK)
        return rc;
    rc = schema_def_from_rel(&tab->ix.latest, rel, err);
    if (rc == CDC_OK) {
        cdc_buf_reset(&t->val);
        schema_index_encode(&t->val, &tab->ix);
        rc = st_put(t, tab, "latest", err);
    }
    schema_def_free(&tab->ix.latest); /* cur holds it from now on */
    if (rc != CDC_OK) {
        tab->ix.n--; /* not registered: the next run (a replay) tries again */
        return rc;
    }
    return st_adopt(tab, rel, err);
}

/* A definition that differs from the current one: check it, register it. */
static cdc_rc
st_new_version(struct schematrack *t, struct st_table *tab, const struct cdc_relation *rel,
               struct cdc_err *err)
{
    struct schema_diff d = {.change = SCHEMA_COMPATIBLE};
    bool accept = t->o.accept != NULL && *t->o.accept;
    cdc_rc rc;

    if (tab->have_cur)
        schema_compare(&tab->cur, rel, &d);
    if (d.change == SCHEMA_INCOMPATIBLE && t->o.strict && !accept)
        return cdc_err_set(
            err, CDC_ERR_FATAL,
            "incompatible schema change of table \"%s\".\"%s\" at " CDC_LSN_FMT
            ": %s%s (schema version %s -> %s); strict_mode is on: nothing from this "
            "transaction on is published or confirmed; adapt the consumers, then restart with "
            "--accept-schema-change",
            rel->schema, rel->table, CDC_LSN_ARGS(t->pos), d.what,
            d.n_incompatible > 1 ? " (and more columns)" : "", tab->cur.version,
            rel->schema_version);
    rc = st_register(t, tab, rel, err);
    if (rc != CDC_OK)
        return rc;
    if (d.change == SCHEMA_INCOMPATIBLE) {
        if (t->o.strict)
            t->accepted = true;
        log_warn(MOD,
                 "table \"%s\".\"%s\": incompatible schema change%s: %s; now version v%" PRIu32
                 " (%s)",
                 rel->schema, rel->table, t->o.strict ? " accepted (--accept-schema-change)" : "",
                 d.what, tab->ix.n, rel->schema_version);
    } else {
        log_info(MOD, "table \"%s\".\"%s\": schema version v%" PRIu32 " (%s)%s%s", rel->schema,
                 rel->table, tab->ix.n, rel->schema_version, tab->ix.n > 1 ? ": " : "",
                 tab->ix.n > 1 ? d.what : "");
    }
    return CDC_OK;
}

static cdc_rc
st_relation(struct schematrack *t, const struct cdc_relation *rel, struct cdc_err *err)
{
    struct st_table *tab = st_find(t, rel->schema, rel->table);
    const struct schema_index *ix;
    cdc_rc rc;

    if (tab == NULL) {
        rc = st_add(t, rel, &tab, err);
        if (rc == CDC_OK)
            rc = st_load(t, tab, err);
        if (rc != CDC_OK) {
            /* forget it: the next relation message loads it again */
            if (tab != NULL) {
                free(tab->schema);
                free(tab->table);
                schema_def_free(&tab->cur);
                schema_index_free(&tab->ix);
                t->n--;
            }
            return rc;
        }
    }
    if (tab->have_cur && strcmp(tab->cur.version, rel->schema_version) == 0)
        return CDC_OK;
    ix = &tab->ix;
    if (ix->n > 0 && (strcmp(ix->versions[ix->n - 1], rel->schema_version) == 0 ||
                      t->pos < ix->first_pos[ix->n - 1]))
        return st_adopt(tab, rel, err); /* registered already, or a replay of older history */
    return st_new_version(t, tab, rel, err);
}

void
schematrack_on_relation(struct schematrack *t, struct cdc_relation *rel)
{
    struct cdc_err err;
    cdc_rc rc;

    schema_version_of(rel, rel->schema_version);
    if (t == NULL || t->rc != CDC_OK)
        return;
    rc = st_relation(t, rel, &err);
    if (rc != CDC_OK)
        (void) st_fail(t, rc, &err);
}

cdc_rc
schematrack_check(struct schematrack *t, struct cdc_err *err)
{
    cdc_rc rc;

    if (t == NULL || t->rc == CDC_OK)
        return CDC_OK;
    rc = t->rc;
    *err = t->err;
    t->rc = CDC_OK;
    return rc;
}

uint32_t
schematrack_versions(const struct schematrack *t, const char *schema, const char *table)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->tables[i].schema, schema) == 0 && strcmp(t->tables[i].table, table) == 0)
            return t->tables[i].ix.n;
    return 0;
}
