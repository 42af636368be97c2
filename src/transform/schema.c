/*
 * schema.c - schema versions, compatibility, registry documents; see schema.h.
 */
#include "transform/schema.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "event/json.h"
#include "event/jsonr.h"

void
schema_version_of(const struct cdc_relation *rel, char out[SCHEMA_VERSION_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;

    for (uint32_t i = 0; ok && i < rel->ncols; i++) {
        const struct cdc_column *c = &rel->cols[i];
        char num[40];
        int n =
            snprintf(num, sizeof(num), "%" PRIu32 "%c%" PRId32 "\n", c->type_id, '\0', c->type_mod);

        ok = EVP_DigestUpdate(ctx, c->name, strlen(c->name) + 1) == 1 &&
             EVP_DigestUpdate(ctx, num, (size_t) n) == 1;
    }
    ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen >= SCHEMA_VERSION_LEN / 2;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        out[0] = '\0'; /* "unknown": only when OpenSSL cannot allocate a context */
        return;
    }
    for (unsigned i = 0; i < SCHEMA_VERSION_LEN / 2; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[SCHEMA_VERSION_LEN] = '\0';
}

cdc_rc
schema_def_from_rel(struct schema_def *d, const struct cdc_relation *rel, struct cdc_err *err)
{
    memset(d, 0, sizeof(*d));
    d->cols = calloc(rel->ncols ? rel->ncols : 1, sizeof(*d->cols));
    if (d->cols == NULL)
        goto nomem;
    for (uint32_t i = 0; i < rel->ncols; i++) {
        d->cols[i].name = strdup(rel->cols[i].name);
        if (d->cols[i].name == NULL)
            goto nomem;
        d->cols[i].type_id = rel->cols[i].type_id;
        d->cols[i].type_mod = rel->cols[i].type_mod;
        d->ncols = i + 1;
    }
    schema_version_of(rel, d->version);
    return CDC_OK;
nomem:
    schema_def_free(d);
    return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory copying the columns of \"%s\".\"%s\"",
                       rel->schema, rel->table);
}

void
schema_def_free(struct schema_def *d)
{
    if (d->cols != NULL)
        for (uint32_t i = 0; i < d->ncols; i++)
            free(d->cols[i].name);
    free(d->cols);
    memset(d, 0, sizeof(*d));
}

static const struct cdc_column *
schema_find_col(const struct cdc_relation *rel, const char *name)
{
    for (uint32_t i = 0; i < rel->ncols; i++)
        if (strcmp(rel->cols[i].name, name) == 0)
            return &rel->cols[i];
    return NULL;
}

static bool
schema_old_has(const struct schema_def *old, const char *name)
{
    for (uint32_t i = 0; i < old->ncols; i++)
        if (strcmp(old->cols[i].name, name) == 0)
            return true;
    return false;
}

void
schema_compare(const struct schema_def *old, const struct cdc_relation *rel,
               struct schema_diff *out)
{
    bool same_order = old->ncols == rel->ncols;

    memset(out, 0, sizeof(*out));
    for (uint32_t i = 0; i < old->ncols; i++) {
        const struct schema_col *o = &old->cols[i];
        const struct cdc_column *c = schema_find_col(rel, o->name);

        if (c == NULL || c->type_id != o->type_id || c->type_mod != o->type_mod) {
            if (out->n_incompatible++ == 0 && c == NULL)
                snprintf(out->what, sizeof(out->what), "column \"%s\" was dropped (or renamed)",
                         o->name);
            else if (out->n_incompatible == 1)
                snprintf(out->what, sizeof(out->what),
                         "column \"%s\" changed type from %" PRIu32 "/%" PRId32 " to %" PRIu32
                         "/%" PRId32 " (type id/modifier)",
                         o->name, o->type_id, o->type_mod, c->type_id, c->type_mod);
        }
        if (same_order && strcmp(rel->cols[i].name, o->name) != 0)
            same_order = false;
    }
    for (uint32_t i = 0; i < rel->ncols; i++) {
        if (schema_old_has(old, rel->cols[i].name))
            continue;
        if (out->n_added++ == 0 && out->n_incompatible == 0)
            snprintf(out->what, sizeof(out->what), "column \"%s\" was added", rel->cols[i].name);
    }
    if (out->n_incompatible > 0)
        out->change = SCHEMA_INCOMPATIBLE;
    else if (out->n_added > 0 || !same_order)
        out->change = SCHEMA_COMPATIBLE;
    if (out->change == SCHEMA_COMPATIBLE && out->n_added == 0)
        snprintf(out->what, sizeof(out->what), "columns were reordered");
}

/* One name as a key token (see schema.h). */
static void
schema_key_token(struct cdc_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    if (s == NULL || *s == '\0') {
        cdc_buf_puts(b, "=00");
        return;
    }
    for (; *s; s++) {
        unsigned char c = (unsigned char) *s;

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '_' || c == '-') {
            cdc_buf_putc(b, (char) c);
        } else {
            cdc_buf_putc(b, '=');
            cdc_buf_putc(b, hex[c >> 4]);
            cdc_buf_putc(b, hex[c & 15]);
        }
    }
}

void
schema_kv_key(struct cdc_buf *b, const char *database, const char *schema, const char *table,
              const char *suffix)
{
    schema_key_token(b, database);
    cdc_buf_putc(b, '.');
    schema_key_token(b, schema);
    cdc_buf_putc(b, '.');
    schema_key_token(b, table);
    cdc_buf_putc(b, '.');
    cdc_buf_puts(b, suffix);
}

/* The JSON Schema "type" of a column's values, NULL for "any JSON value". */
static const char *
schema_json_type(enum cdc_vfmt f)
{
    switch (f) {
    case CDC_VF_INT:
        return "[\"integer\",\"null\"]";
    case CDC_VF_FLOAT: /* NaN and the infinities are strings */
        return "[\"number\",\"string\",\"null\"]";
    case CDC_VF_BOOL:
        return "[\"boolean\",\"null\"]";
    case CDC_VF_ARRAY:
        return "[\"array\",\"null\"]";
    case CDC_VF_JSON:
    case CDC_VF_RAW_JSON:
        return NULL;
    default:
        return "[\"string\",\"null\"]";
    }
}

static void
schema_json_props(struct cdc_buf *b, const struct cdc_relation *rel)
{
    bool first = true;

    cdc_buf_puts(b, "\"properties\":{");
    for (uint32_t i = 0; i < rel->ncols; i++) {
        const struct cdc_column *c = &rel->cols[i];
        const char *type = schema_json_type(c->fmt);

        if (c->omit)
            continue;
        if (!first)
            cdc_buf_putc(b, ',');
        first = false;
        json_put_key(b, c->name);
        cdc_buf_putc(b, '{');
        if (type != NULL)
            cdc_buf_printf(b, "\"type\":%s,", type);
        cdc_buf_printf(
            b, "\"x-cdc-type-id\":%" PRIu32 ",\"x-cdc-type-mod\":%" PRId32 ",\"x-cdc-key\":%s}",
            c->type_id, c->type_mod, c->is_key ? "true" : "false");
    }
    cdc_buf_putc(b, '}');
}

void
schema_json_schema(struct cdc_buf *b, const struct cdc_relation *rel, const char *database,
                   uint32_t n)
{
    char version[SCHEMA_VERSION_LEN + 1], suffix[16];
    struct cdc_buf title = CDC_BUF_INIT;

    schema_version_of(rel, version);
    snprintf(suffix, sizeof(suffix), "v%" PRIu32, n);
    cdc_buf_puts(b, "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
                    "\"$id\":\"urn:cdc-handler:schema:");
    schema_kv_key(b, database, rel->schema, rel->table, suffix);
    cdc_buf_puts(b, "\",\"title\":");
    cdc_buf_printf(&title, "%s.%s", rel->schema, rel->table);
    json_put_str(b, title.data != NULL ? title.data : "", title.len);
    cdc_buf_free(&title);
    cdc_buf_puts(b, ",\"description\":\"row image (before/after) of the table's change events\","
                    "\"type\":\"object\",");
    schema_json_props(b, rel);
    cdc_buf_puts(b, ",\"additionalProperties\":false,\"x-cdc-database\":");
    json_put_str(b, database != NULL ? database : "", database != NULL ? strlen(database) : 0);
    cdc_buf_puts(b, ",\"x-cdc-schema\":");
    json_put_str(b, rel->schema, strlen(rel->schema));
    cdc_buf_puts(b, ",\"x-cdc-table\":");
    json_put_str(b, rel->table, strlen(rel->table));
    cdc_buf_printf(b, ",\"x-cdc-version\":%" PRIu32 ",\"x-cdc-schema-version\":\"%s\"}", n,
                   version);
}

void
schema_index_encode(struct cdc_buf *b, const struct schema_index *ix)
{
    cdc_buf_printf(b, "{\"version\":%" PRIu32 ",\"schema_version\":\"%s\",\"versions\":[", ix->n,
                   ix->n > 0 ? ix->versions[ix->n - 1] : "");
    for (uint32_t i = 0; i < ix->n; i++)
        cdc_buf_printf(b, "%s[\"%s\",\"%016" PRIX64 "\"]", i ? "," : "", ix->versions[i],
                       ix->first_pos[i]);
    cdc_buf_puts(b, "],\"columns\":[");
    for (uint32_t i = 0; i < ix->latest.ncols; i++) {
        const struct schema_col *c = &ix->latest.cols[i];

        cdc_buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        json_put_str(b, c->name, strlen(c->name));
        cdc_buf_printf(b, ",\"type_id\":%" PRIu32 ",\"type_mod\":%" PRId32 "}", c->type_id,
                       c->type_mod);
    }
    cdc_buf_puts(b, "]}");
}

static bool
schema_is_version(const char *s)
{
    if (strlen(s) != SCHEMA_VERSION_LEN)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

/* ["<hex>","<16 hex>"]: one more version */
static bool
schema_parse_version(struct jsonr *r, struct schema_index *ix, struct cdc_buf *tmp,
                     struct cdc_err *err)
{
    char version[SCHEMA_VERSION_LEN + 1], *end;
    uint64_t pos;

    cdc_buf_reset(tmp);
    if (!jsonr_eat(r, '[') || !jsonr_string(r, tmp) || !schema_is_version(tmp->data))
        return false;
    memcpy(version, tmp->data, sizeof(version));
    cdc_buf_reset(tmp);
    if (!jsonr_eat(r, ',') || !jsonr_string(r, tmp) || tmp->len != 16 || !jsonr_eat(r, ']'))
        return false;
    pos = strtoull(tmp->data, &end, 16);
    return *end == '\0' && schema_index_add(ix, version, pos, err) == CDC_OK;
}

static bool
schema_parse_versions(struct jsonr *r, struct schema_index *ix, struct cdc_buf *tmp,
                      struct cdc_err *err)
{
    if (!jsonr_eat(r, '['))
        return false;
    if (jsonr_eat(r, ']'))
        return true;
    do {
        if (!schema_parse_version(r, ix, tmp, err))
            return false;
    } while (jsonr_eat(r, ','));
    return jsonr_eat(r, ']');
}

static bool
schema_parse_col(struct jsonr *r, struct schema_col *c, struct cdc_buf *tmp)
{
    struct jsonr v;
    int64_t id, mod;

    cdc_buf_reset(tmp);
    if (!jsonr_member(r, "name", &v) || !jsonr_string(&v, tmp) || strlen(tmp->data) != tmp->len ||
        !jsonr_member(r, "type_id", &v) || !jsonr_int(&v, &id) || id < 0 || id > UINT32_MAX ||
        !jsonr_member(r, "type_mod", &v) || !jsonr_int(&v, &mod) || mod < INT32_MIN ||
        mod > INT32_MAX || !jsonr_skip(r))
        return false;
    c->name = strdup(tmp->data);
    c->type_id = (uint32_t) id;
    c->type_mod = (int32_t) mod;
    return c->name != NULL;
}

static bool
schema_parse_cols(struct jsonr *r, struct schema_def *d, struct cdc_buf *tmp)
{
    struct jsonr scan = *r;
    uint32_t n = 0;

    /* count first: one allocation */
    if (!jsonr_eat(&scan, '['))
        return false;
    if (!jsonr_eat(&scan, ']')) {
        do {
            if (!jsonr_skip(&scan))
                return false;
            n++;
        } while (jsonr_eat(&scan, ','));
        if (!jsonr_eat(&scan, ']'))
            return false;
    }
    d->cols = calloc(n ? n : 1, sizeof(*d->cols));
    if (d->cols == NULL || !jsonr_eat(r, '['))
        return false;
    for (uint32_t i = 0; i < n; i++) {
        if ((i > 0 && !jsonr_eat(r, ',')) || !schema_parse_col(r, &d->cols[i], tmp))
            return false;
        d->ncols = i + 1;
    }
    return true;
}

cdc_rc
schema_index_parse(const char *text, size_t len, struct schema_index *ix, struct cdc_err *err)
{
    struct cdc_buf tmp = CDC_BUF_INIT;
    struct jsonr r, v;
    int64_t n = -1;
    bool ok;

    memset(ix, 0, sizeof(*ix));
    cdc_err_clear(err);
    jsonr_init(&r, text, len);
    ok = jsonr_member(&r, "version", &v) && jsonr_int(&v, &n) && n >= 1 &&
         jsonr_member(&r, "versions", &v) && schema_parse_versions(&v, ix, &tmp, err) &&
         ix->n == (uint64_t) n && jsonr_member(&r, "columns", &v) &&
         schema_parse_cols(&v, &ix->latest, &tmp);
    if (ok) {
        cdc_buf_reset(&tmp);
        ok = jsonr_member(&r, "schema_version", &v) && jsonr_string(&v, &tmp) &&
             strcmp(tmp.data, ix->versions[ix->n - 1]) == 0;
    }
    cdc_buf_free(&tmp);
    if (ok) {
        memcpy(ix->latest.version, ix->versions[ix->n - 1], SCHEMA_VERSION_LEN + 1);
        return CDC_OK;
    }
    schema_index_free(ix);
    if (err != NULL && err->code == CDC_ERR_NOMEM)
        return CDC_ERR_NOMEM;
    return cdc_err_set(err, CDC_ERR_PROTO,
                       "not a schema registry index (expected {\"version\":N,\"schema_version\":"
                       "...,\"versions\":[...],\"columns\":[...]} with N versions)");
}

cdc_rc
schema_index_add(struct schema_index *ix, const char *version, uint64_t pos, struct cdc_err *err)
{
    char(*nv)[SCHEMA_VERSION_LEN + 1] = realloc(ix->versions, (ix->n + 1) * sizeof(*nv));
    uint64_t *np;

    if (nv == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    ix->versions = nv;
    np = realloc(ix->first_pos, (ix->n + 1) * sizeof(*np));
    if (np == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    ix->first_pos = np;
    snprintf(ix->versions[ix->n], SCHEMA_VERSION_LEN + 1, "%s", version);
    ix->first_pos[ix->n] = pos;
    ix->n++;
    return CDC_OK;
}

void
schema_index_free(struct schema_index *ix)
{
    free(ix->versions);
    free(ix->first_pos);
    schema_def_free(&ix->latest);
    memset(ix, 0, sizeof(*ix));
}
