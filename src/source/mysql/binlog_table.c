/*
 * binlog_table.c - build the owned struct binlog_table from a decoded
 * TABLE_MAP event; see binlog.h.
 *
 * The column metadata block holds 0, 1 or 2 bytes per column depending on its
 * type (MySQL's Table_map_log_event, rows_event.h). The optional metadata
 * fields (binlog_row_metadata=MINIMAL or FULL) are TLVs: a type byte, a
 * length-encoded length, a value. Several fields describe only a subset of
 * the columns, in column order: SIGNEDNESS the numeric ones (one bit each,
 * most significant bit first), the charset fields the character columns,
 * the ENUM_AND_SET fields and the string values the ENUM / SET columns,
 * GEOMETRY_TYPE the geometry columns.
 *
 * One allocation holds the table, its columns, the ENUM/SET value arrays and
 * every string (NUL-terminated copies).
 */
#include "source/mysql/binlog.h"
#include "source/mysql/mycur.h"

#include <stdlib.h>
#include <string.h>

/* Where strings and value arrays are carved from, sized exactly beforehand. */
struct pool {
    char *s;              /* next free string byte */
    struct binlog_str *e; /* next free ENUM/SET value slot */
};

static bool
is_numeric(uint8_t rt)
{
    switch (rt) {
    case MYT_TINY:
    case MYT_SHORT:
    case MYT_INT24:
    case MYT_LONG:
    case MYT_LONGLONG:
    case MYT_NEWDECIMAL:
    case MYT_FLOAT:
    case MYT_DOUBLE:
        return true;
    default:
        return false;
    }
}

static bool
is_blob(uint8_t t)
{
    return t == MYT_BLOB || t == MYT_TINY_BLOB || t == MYT_MEDIUM_BLOB || t == MYT_LONG_BLOB;
}

/* Character columns, as the server counts them for the charset fields. */
static bool
is_character(uint8_t rt, bool mariadb)
{
    return rt == MYT_STRING || rt == MYT_VAR_STRING || rt == MYT_VARCHAR || is_blob(rt) ||
           (mariadb && rt == MYT_GEOMETRY); /* MariaDB: "base class is blob for geom type" */
}

static bool
is_enum_or_set(uint8_t rt)
{
    return rt == MYT_ENUM || rt == MYT_SET;
}

static cdc_rc
col_fail(struct cdc_err *err, uint32_t i, uint8_t type, const char *what)
{
    return cdc_err_set(err, CDC_ERR_PROTO, "binlog: TABLE_MAP column %u (type %u): %s", i + 1, type,
                       what);
}

/* STRING's two metadata bytes: real type, and the length with its high bits folded in. */
static cdc_rc
string_meta(struct binlog_column *col, uint32_t i, const uint8_t *m, struct cdc_err *err)
{
    if ((m[0] & 0x30) != 0x30) {
        col->length = m[1] | (uint32_t) ((m[0] & 0x30) ^ 0x30) << 4;
        col->real_type = m[0] | 0x30;
    } else {
        col->real_type = m[0];
        col->length = m[1];
    }
    switch (col->real_type) {
    case MYT_STRING:
        return CDC_OK;
    case MYT_ENUM:
        return col->length == 1 || col->length == 2
                   ? CDC_OK
                   : col_fail(err, i, col->type, "ENUM pack length not 1 or 2");
    case MYT_SET:
        return col->length >= 1 && col->length <= 8
                   ? CDC_OK
                   : col_fail(err, i, col->type, "SET pack length not 1 to 8");
    default:
        return col_fail(err, i, col->type, "unsupported real type in CHAR metadata");
    }
}

/* Unpack one column's type metadata at c. */
static cdc_rc
col_meta(struct cur *c, struct binlog_column *col, uint32_t i, struct cdc_err *err)
{
    const uint8_t *m;

    col->real_type = col->type;
    switch (col->type) {
    case MYT_TINY:
    case MYT_SHORT:
    case MYT_INT24:
    case MYT_LONG:
    case MYT_LONGLONG:
    case MYT_NULL:
    case MYT_TIMESTAMP:
    case MYT_DATE:
    case MYT_NEWDATE:
    case MYT_TIME:
    case MYT_DATETIME:
    case MYT_YEAR:
        return CDC_OK;
    case MYT_FLOAT:
    case MYT_DOUBLE:
        if (cur_bytes(c, 1, &m) != CDC_OK)
            return CDC_ERR_PROTO;
        col->length = col->type == MYT_FLOAT ? 4 : 8;
        return CDC_OK;
    case MYT_TIME2:
    case MYT_DATETIME2:
    case MYT_TIMESTAMP2:
        if (cur_bytes(c, 1, &m) != CDC_OK)
            return CDC_ERR_PROTO;
        col->fsp = m[0];
        return col->fsp <= 6 ? CDC_OK : col_fail(err, i, col->type, "fractional digits above 6");
    case MYT_BLOB:
    case MYT_TINY_BLOB:
    case MYT_MEDIUM_BLOB:
    case MYT_LONG_BLOB:
    case MYT_JSON:
    case MYT_GEOMETRY:
        if (cur_bytes(c, 1, &m) != CDC_OK)
            return CDC_ERR_PROTO;
        col->length = m[0];
        return col->length >= 1 && col->length <= 4
                   ? CDC_OK
                   : col_fail(err, i, col->type, "length prefix not 1 to 4 bytes");
    case MYT_VARCHAR:
    case MYT_VAR_STRING:
        if (cur_bytes(c, 2, &m) != CDC_OK)
            return CDC_ERR_PROTO;
        col->length = m[0] | (uint32_t) m[1] << 8;
        return CDC_OK;
    case MYT_BIT:
        if (cur_bytes(c, 2, &m) != CDC_OK)
            return CDC_ERR_PROTO;
        col->length = (uint32_t) m[1] * 8 + m[0];
        return m[0] < 8 && col->length >= 1 && col->length <= 64
                   ? CDC_OK
                   : col_fail(err, i, col->type, "BIT length not 1 to 64");
    case MYT_NEWDECIMAL:
        if (cur_bytes(c, 2, &m) != CDC_OK)
            return CDC_ERR_PROTO;
        col->precision = m[0];
        col->scale = m[1];
        return col->precision >= 1 && col->precision <= 65 && col->scale <= 30 &&
                       col->scale <= col->precision
                   ? CDC_OK
                   : col_fail(err, i, col->type, "DECIMAL precision/scale out of range");
    case MYT_STRING:
    case MYT_ENUM:
    case MYT_SET:
        if (cur_bytes(c, 2, &m) != CDC_OK)
            return CDC_ERR_PROTO;
        return string_meta(col, i, m, err);
    default:
        return col_fail(err, i, col->type, "unsupported column type");
    }
}

/* ---- optional metadata ---- */

/* Index of the k-th column (from 0) matching a class, or ncols. */
enum col_class { CLASS_NUMERIC, CLASS_CHAR, CLASS_ENUMSET, CLASS_ENUM, CLASS_SET, CLASS_GEOM };

static bool
in_class(const struct binlog_column *col, enum col_class k, bool mariadb)
{
    switch (k) {
    case CLASS_NUMERIC:
        return is_numeric(col->real_type);
    case CLASS_CHAR:
        return is_character(col->real_type, mariadb);
    case CLASS_ENUMSET:
        return is_enum_or_set(col->real_type);
    case CLASS_ENUM:
        return col->real_type == MYT_ENUM;
    case CLASS_SET:
        return col->real_type == MYT_SET;
    case CLASS_GEOM:
    default:
        return col->real_type == MYT_GEOMETRY;
    }
}

/* The next column of class k at or after *i; false when there is none. */
static bool
next_in_class(const struct binlog_table *t, enum col_class k, bool mariadb, uint32_t *i)
{
    while (*i < t->ncols && !in_class(&t->cols[*i], k, mariadb))
        (*i)++;
    return *i < t->ncols;
}

/* A string: length-encoded length, bytes; copied NUL-terminated into the pool if p != NULL. */
static cdc_rc
opt_str(struct cur *c, struct pool *p, struct binlog_str *out)
{
    uint64_t n;
    const uint8_t *s;

    if (cur_packed_max(c, cur_left(c), "string length", &n) != CDC_OK ||
        cur_bytes(c, n, &s) != CDC_OK)
        return CDC_ERR_PROTO;
    if (p != NULL) {
        memcpy(p->s, s, n);
        p->s[n] = '\0';
        out->s = p->s;
        out->len = (uint32_t) n;
        p->s += n + 1;
    }
    return CDC_OK;
}

/* MSB-first bitmap over the columns of class k (all columns for CLASS_ENUMSET == none). */
static cdc_rc
opt_bitmap(struct cur *c, struct binlog_table *t, enum col_class k, bool all, bool mariadb,
           bool signedness)
{
    uint32_t i = 0, bit = 0;

    for (;; i++, bit++) {
        if (!all && !next_in_class(t, k, mariadb, &i))
            break;
        if (all && i >= t->ncols)
            break;
        if (bit / 8 >= cur_left(c))
            return cur_fail(c, "bitmap shorter than the columns it describes");
        if (signedness)
            t->cols[i].is_unsigned = (c->buf[c->off + bit / 8] & (0x80 >> (bit % 8))) != 0;
        else
            t->cols[i].visible = (c->buf[c->off + bit / 8] & (0x80 >> (bit % 8))) != 0;
    }
    c->off = c->len;
    return CDC_OK;
}

/* DEFAULT_CHARSET form: a default collation, then (index, collation) pairs. */
static cdc_rc
opt_default_charset(struct cur *c, struct binlog_table *t, enum col_class k, bool mariadb)
{
    uint64_t dflt, idx, coll;
    uint32_t i = 0, n = 0;

    if (cur_packed(c, &dflt) != CDC_OK)
        return CDC_ERR_PROTO;
    for (; next_in_class(t, k, mariadb, &i); i++, n++)
        t->cols[i].collation = (uint32_t) dflt;
    while (cur_left(c) > 0) {
        if (cur_packed_max(c, n == 0 ? 0 : n - 1, "charset column index", &idx) != CDC_OK ||
            cur_packed_max(c, UINT32_MAX, "collation", &coll) != CDC_OK)
            return CDC_ERR_PROTO;
        i = 0;
        for (uint64_t m = 0; next_in_class(t, k, mariadb, &i); i++, m++)
            if (m == idx) {
                t->cols[i].collation = (uint32_t) coll;
                break;
            }
    }
    return CDC_OK;
}

/* COLUMN_CHARSET form: one collation per column of class k. */
static cdc_rc
opt_column_charset(struct cur *c, struct binlog_table *t, enum col_class k, bool mariadb)
{
    uint64_t coll;

    for (uint32_t i = 0; next_in_class(t, k, mariadb, &i); i++) {
        if (cur_packed_max(c, UINT32_MAX, "collation", &coll) != CDC_OK)
            return CDC_ERR_PROTO;
        t->cols[i].collation = (uint32_t) coll;
    }
    return CDC_OK;
}

static cdc_rc
opt_names(struct cur *c, struct binlog_table *t, struct pool *p)
{
    for (uint32_t i = 0; i < t->ncols; i++) {
        struct binlog_str s = {NULL, 0};

        if (opt_str(c, p, &s) != CDC_OK)
            return CDC_ERR_PROTO;
        t->cols[i].name = s.s;
    }
    return CDC_OK;
}

/*
 * ENUM_STR_VALUE / SET_STR_VALUE: per column of class k, a count then the
 * strings. With p == NULL only counts into *total (the sizing pass).
 */
static cdc_rc
opt_values(struct cur *c, struct binlog_table *t, enum col_class k, struct pool *p, size_t *total)
{
    uint64_t n;

    for (uint32_t i = 0; next_in_class(t, k, false, &i); i++) {
        if (cur_packed_max(c, cur_left(c), "value count", &n) != CDC_OK)
            return CDC_ERR_PROTO;
        if (p != NULL) {
            t->cols[i].elems = p->e;
            t->cols[i].n_elems = (uint32_t) n;
        }
        for (uint64_t v = 0; v < n; v++)
            if (opt_str(c, p, p != NULL ? p->e++ : NULL) != CDC_OK)
                return CDC_ERR_PROTO;
        *total += n;
    }
    return CDC_OK;
}

static cdc_rc
opt_geometry(struct cur *c, struct binlog_table *t)
{
    uint64_t g;

    for (uint32_t i = 0; next_in_class(t, CLASS_GEOM, false, &i); i++) {
        if (cur_packed_max(c, UINT32_MAX, "geometry type", &g) != CDC_OK)
            return CDC_ERR_PROTO;
        t->cols[i].geometry_type = (uint32_t) g;
    }
    return CDC_OK;
}

static cdc_rc
opt_pk(struct cur *c, struct binlog_table *t, bool with_prefix)
{
    uint64_t idx, prefix = 0;

    while (cur_left(c) > 0) {
        if (t->ncols == 0)
            return cur_fail(c, "primary key in a table without columns");
        if (cur_packed_max(c, t->ncols - 1u, "primary key column", &idx) != CDC_OK)
            return CDC_ERR_PROTO;
        if (with_prefix && cur_packed_max(c, UINT32_MAX, "key prefix", &prefix) != CDC_OK)
            return CDC_ERR_PROTO;
        t->cols[idx].is_pk = true;
        t->cols[idx].pk_prefix = (uint32_t) prefix;
    }
    return CDC_OK;
}

/* One TLV's value, in its own cursor. p == NULL: the sizing pass (values only). */
static cdc_rc
opt_field(struct cur *c, uint8_t type, struct binlog_table *t, bool mariadb, struct pool *p,
          size_t *total)
{
    if (p == NULL) {
        if (type == BINLOG_OM_ENUM_STR_VALUE || type == BINLOG_OM_SET_STR_VALUE)
            return opt_values(c, t, type == BINLOG_OM_ENUM_STR_VALUE ? CLASS_ENUM : CLASS_SET, NULL,
                              total);
        return CDC_OK;
    }
    switch (type) {
    case BINLOG_OM_SIGNEDNESS:
        t->has_signedness = true;
        return opt_bitmap(c, t, CLASS_NUMERIC, false, mariadb, true);
    case BINLOG_OM_DEFAULT_CHARSET:
        t->has_charsets = true;
        return opt_default_charset(c, t, CLASS_CHAR, mariadb);
    case BINLOG_OM_COLUMN_CHARSET:
        t->has_charsets = true;
        return opt_column_charset(c, t, CLASS_CHAR, mariadb);
    case BINLOG_OM_ENUM_AND_SET_DEFAULT_CHARSET:
        return opt_default_charset(c, t, CLASS_ENUMSET, mariadb);
    case BINLOG_OM_ENUM_AND_SET_COLUMN_CHARSET:
        return opt_column_charset(c, t, CLASS_ENUMSET, mariadb);
    case BINLOG_OM_COLUMN_NAME:
        t->has_names = true;
        return opt_names(c, t, p);
    case BINLOG_OM_ENUM_STR_VALUE:
        t->has_enum_values = true;
        return opt_values(c, t, CLASS_ENUM, p, total);
    case BINLOG_OM_SET_STR_VALUE:
        t->has_set_values = true;
        return opt_values(c, t, CLASS_SET, p, total);
    case BINLOG_OM_GEOMETRY_TYPE:
        return opt_geometry(c, t);
    case BINLOG_OM_SIMPLE_PRIMARY_KEY:
    case BINLOG_OM_PRIMARY_KEY_WITH_PREFIX:
        t->has_pk = true;
        return opt_pk(c, t, type == BINLOG_OM_PRIMARY_KEY_WITH_PREFIX);
    case BINLOG_OM_COLUMN_VISIBILITY:
        t->has_visibility = true;
        return opt_bitmap(c, t, CLASS_NUMERIC, true, mariadb, false);
    default:
        return CDC_OK; /* a field of a later version */
    }
}

/* Walk the TLVs: the sizing pass (p == NULL) counts ENUM/SET values, the second fills. */
static cdc_rc
opt_walk(const struct binlog_table_map *tm, struct binlog_table *t, bool mariadb, struct pool *p,
         size_t *total, struct cdc_err *err)
{
    struct cur c = {tm->opt, tm->opt_len, 0, "TABLE_MAP optional metadata", err};

    *total = 0;
    while (cur_left(&c) > 0) {
        uint8_t type;
        uint64_t n;
        const uint8_t *v;
        struct cur f;

        if (cur_u8(&c, &type) != CDC_OK ||
            cur_packed_max(&c, cur_left(&c), "length", &n) != CDC_OK ||
            cur_bytes(&c, n, &v) != CDC_OK)
            return CDC_ERR_PROTO;
        f = (struct cur){v, n, 0, "TABLE_MAP optional metadata", err};
        if (opt_field(&f, type, t, mariadb, p, total) != CDC_OK)
            return cdc_err_prefix(err, "field %u", type);
    }
    return CDC_OK;
}

/* ---- create / destroy ---- */

static cdc_rc
cols_from_map(const struct binlog_table_map *tm, struct binlog_table *t, struct cdc_err *err)
{
    struct cur c = {tm->meta, tm->meta_len, 0, "TABLE_MAP column metadata", err};

    for (uint32_t i = 0; i < t->ncols; i++) {
        struct binlog_column *col = &t->cols[i];

        col->type = tm->types[i];
        col->nullable = (tm->null_bits[i / 8] >> (i % 8)) & 1;
        col->visible = true;
        if (col_meta(&c, col, i, err) != CDC_OK)
            return CDC_ERR_PROTO;
    }
    return CDC_OK;
}

cdc_rc
binlog_table_create(struct binlog_table **out, const struct binlog_table_map *tm,
                    const struct binlog_fmt *fmt, struct cdc_err *err)
{
    struct binlog_table probe = {0}, *t = NULL;
    struct binlog_column *cols = NULL;
    size_t nvals = 0, size, strbytes;
    struct pool p;
    char *mem;
    cdc_rc rc = CDC_ERR_PROTO;

    /* the sizing pass works on a temporary column array */
    if (tm->ncols > BINLOG_MAX_COLS)
        return cdc_err_set(err, CDC_ERR_PROTO, "binlog: TABLE_MAP with %u columns", tm->ncols);
    cols = calloc(tm->ncols > 0 ? tm->ncols : 1, sizeof(*cols));
    if (cols == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory for a table map");
    probe.ncols = tm->ncols;
    probe.cols = cols;
    if (cols_from_map(tm, &probe, err) != CDC_OK ||
        opt_walk(tm, &probe, fmt->is_mariadb, NULL, &nvals, err) != CDC_OK)
        goto fail;
    /* every string of the optional metadata has a length byte, so its copy plus NUL fits */
    strbytes = tm->db_len + tm->table_len + 2 + tm->opt_len;
    size = sizeof(*t) + tm->ncols * sizeof(*cols) + nvals * sizeof(struct binlog_str) + strbytes;
    mem = calloc(1, size);
    if (mem == NULL) {
        rc = cdc_err_set(err, CDC_ERR_NOMEM, "out of memory for a table map");
        goto fail;
    }
    t = (struct binlog_table *) (void *) mem;
    t->cols = (struct binlog_column *) (void *) (mem + sizeof(*t));
    memcpy(t->cols, cols, tm->ncols * sizeof(*cols));
    p.e = (struct binlog_str *) (void *) (mem + sizeof(*t) + tm->ncols * sizeof(*cols));
    p.s = (char *) (p.e + nvals);
    t->table_id = tm->table_id;
    t->flags = tm->flags;
    t->ncols = tm->ncols;
    t->db = p.s;
    memcpy(p.s, tm->db, tm->db_len);
    p.s += tm->db_len + 1;
    t->table = p.s;
    memcpy(p.s, tm->table, tm->table_len);
    p.s += tm->table_len + 1;
    if (opt_walk(tm, t, fmt->is_mariadb, &p, &nvals, err) != CDC_OK)
        goto fail;
    free(cols);
    *out = t;
    return CDC_OK;
fail:
    free(cols);
    free(t);
    return rc;
}

void
binlog_table_destroy(struct binlog_table *t)
{
    free(t);
}
