/*
 * mysource.c - the MySQL and MariaDB source: mysrc (the binlog dump) and the
 * pure decoders (binlog.c, rowdec.c) behind the source.h interface.
 *
 * Transactions: a GTID event (MariaDB 162, MySQL 33/34) or a QUERY "BEGIN"
 * opens one; TABLE_MAP events describe tables; ROWS events carry the row
 * images; XID, or a QUERY "COMMIT"/"ROLLBACK", ends it. A DDL QUERY is its
 * own transaction (after a standalone GTID, or alone when GTIDs are off) and
 * becomes one cdc.ddl event; it also drops what we know of table columns.
 *
 * Positions: a binlog position is (file, offset). Source positions are the
 * 64-bit (file number << 32 | offset), which increases along the binlog,
 * across rotations. A transaction's key is the position just past the
 * event that opened it; its end, where a restart resumes, is the position
 * just past the event that closed it. The checkpoint also keeps the file
 * name and, on MariaDB, the GTID position (domain-server-seq per domain) of
 * the last transaction before it: a restart resumes from the GTID position
 * when there is one (MariaDB), else from file and offset (MySQL: Connector/C
 * 3.3 cannot request a dump by GTID set).
 *
 * Column names come from the TABLE_MAP's optional metadata
 * (binlog_row_metadata=FULL); otherwise from information_schema, by
 * position. On MariaDB information_schema is read always (its UUID, INET4,
 * INET6 and JSON columns look like others in the binlog), matched by name
 * when the binlog has names, so rows written before a later ALTER still
 * decode. Cached per table until a DDL statement.
 */
#include "aws/awscreds.h"
#include "source/mysql/binlog.h"
#include "source/mysql/mysrc.h"
#include "source/mysql/rowdec.h"
#include "source/source.h"
#include "transform/filter.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MYS_FILES     8    /* binlog file names remembered, by number */
#define MYS_GTIDS_MAX 4096 /* committed GTIDs waiting for a checkpoint (see mys_note_gtid) */

/* A table as the pipeline sees it, built from a TABLE_MAP (and the schema). */
struct mys_table {
    uint64_t table_id;
    struct binlog_table *bt;
    struct cdc_relation rel;
    struct cdc_column *cols;
    char *names;   /* storage for column names from information_schema, or NULL */
    bool included; /* its changes are published (rds.database, cdc.table_filters and
                      cdc.table_excludes) */
};

/* A committed transaction's GTID, applied to the GTID position at checkpoint time. */
struct mys_gtid {
    cdc_lsn end;
    struct mysrc_gtid gtid;
};

struct mysource {
    struct mysrc *src;
    struct filter *filter; /* cdc.table_filters, cdc.table_excludes */
    struct rowdec *rd;
    struct binlog_fmt fmt;
    size_t crc_len;               /* 4 when events carry a CRC32 (after mysrc_event.len) */
    int64_t tolerable_downtime_s; /* cdc.tolerable_downtime, for the retention check */
    struct mysrc_server server;
    /* where src_start() goes */
    bool start_by_gtid;
    char start_file[MYSRC_FILE_MAX];
    uint64_t start_pos;
    /* binlog file numbers -> names, for checkpoint records */
    struct {
        uint32_t num;
        char name[MYSRC_FILE_MAX];
    } files[MYS_FILES];
    unsigned n_files;
    /* tables of the current TABLE_MAPs */
    struct mys_table *tables;
    size_t n_tables, cap_tables;
    /* the open transaction */
    bool in_txn;
    bool saw_begin;   /* a QUERY "BEGIN" came: the transaction ends with XID or COMMIT */
    bool ddl_pending; /* the DDL statement in ddl is to be handed over next */
    bool end_pending; /* the transaction ends after what was handed over: COMMIT next */
    cdc_lsn end_pos;  /* end_pending: the position to report */
    cdc_lsn key;
    int64_t commit_time_us;
    uint32_t seq;
    bool has_gtid;
    struct mysrc_gtid gtid;
    char gtid_text[80];
    struct cdc_binlog_origin origin;
    char origin_file[MYSRC_FILE_MAX];
    /* decoded changes of one ROWS event */
    struct cdc_buf scratch;
    struct cdc_change *changes;
    struct cdc_tuple *tuples;
    struct cdc_value *vals;
    struct rowdec_zero *zeros;
    struct cdc_raw_col *raw;
    size_t cap_changes, cap_vals;
    char *ddl; /* the DDL statement of the current change, NUL-terminated */
    /* GTID bookkeeping (MariaDB) */
    char gtid_set[sizeof(((struct ckpt_record *) 0)->gtid_set)];
    struct mys_gtid *gtids; /* a ring of MYS_GTIDS_MAX, oldest at gtid_head */
    size_t gtid_head, n_gtids;
    /* for cdc_binlog_lag_seconds (src_lag_ms) */
    int64_t last_event_us; /* header timestamp of the last transaction event read; 0: none yet */
    bool caught_up;        /* a heartbeat came after it: the server had nothing more to send */
};

/* ---- positions ---- */

/* The number at the end of a binlog file name ("mysql-bin.000042" -> 42). */
static uint32_t
mys_file_num(const char *name)
{
    const char *dot = strrchr(name, '.');

    return dot != NULL ? (uint32_t) strtoul(dot + 1, NULL, 10) : 0;
}

static cdc_lsn
mys_pos64(const char *file, uint64_t pos)
{
    return ((cdc_lsn) mys_file_num(file) << 32) | (pos & 0xFFFFFFFFu);
}

static void
mys_remember_file(struct mysource *ms, const char *name)
{
    uint32_t num = mys_file_num(name);

    for (unsigned i = 0; i < ms->n_files && i < MYS_FILES; i++)
        if (ms->files[i].num == num)
            return;
    ms->files[ms->n_files % MYS_FILES].num = num;
    snprintf(ms->files[ms->n_files % MYS_FILES].name, MYSRC_FILE_MAX, "%s", name);
    ms->n_files++;
}

static const char *
mys_file_name(const struct mysource *ms, uint32_t num)
{
    for (unsigned i = 0; i < ms->n_files && i < MYS_FILES; i++)
        if (ms->files[i].num == num)
            return ms->files[i].name;
    return NULL;
}

static cdc_lsn
mys_current(const struct mysource *ms)
{
    const struct mysrc_pos *p = mysrc_position(ms->src);

    return mys_pos64(p->file, p->pos);
}

/* ---- tables ---- */

static void
mys_table_free(struct mys_table *t)
{
    binlog_table_destroy(t->bt);
    free(t->cols);
    free(t->names);
    memset(t, 0, sizeof(*t));
}

/* Forget every table (after DDL: names and types may have changed). */
static void
mys_tables_clear(struct mysource *ms)
{
    for (size_t i = 0; i < ms->n_tables; i++)
        mys_table_free(&ms->tables[i]);
    ms->n_tables = 0;
}

static struct mys_table *
mys_table_find(struct mysource *ms, uint64_t table_id)
{
    for (size_t i = 0; i < ms->n_tables; i++)
        if (ms->tables[i].table_id == table_id)
            return &ms->tables[i];
    return NULL;
}

/*
 * Is db.table captured? With cdc.table_filters: when one of them matches it
 * (transform/filter.h: "db.table", "db.*", globs); without: when db is
 * rds.database (every table of the database, as the PostgreSQL source does).
 * Either way, no cdc.table_excludes pattern may match it. Asked once per
 * TABLE_MAP that differs from the last one, never per row.
 */
static bool
mys_included(const struct source *s, const char *db, const char *table)
{
    const struct mysource *ms = s->impl;
    const char *home = s->cfg->rds.database != NULL ? s->cfg->rds.database : "";

    if (!filter_has_includes(ms->filter) && strcmp(db, home) != 0)
        return false;
    return filter_table_included(ms->filter, db, table);
}

/* Same table map as the one we have (the server repeats it in every transaction)? */
static bool
mys_table_same(const struct mys_table *t, const struct binlog_table *bt)
{
    if (strcmp(t->bt->db, bt->db) != 0 || strcmp(t->bt->table, bt->table) != 0 ||
        t->bt->ncols != bt->ncols)
        return false;
    for (uint32_t i = 0; i < bt->ncols; i++) {
        const struct binlog_column *a = &t->bt->cols[i], *b = &bt->cols[i];

        if (a->type != b->type || a->real_type != b->real_type || a->length != b->length ||
            a->precision != b->precision || a->scale != b->scale || a->fsp != b->fsp ||
            a->is_unsigned != b->is_unsigned || a->collation != b->collation)
            return false;
    }
    return true;
}

/* What the schema says a MariaDB column really is (the binlog shows BINARY or LONGTEXT). */
static enum binlog_logical
mys_logical(const struct mysrc_colinfo *ci)
{
    if (ci->is_json)
        return BINLOG_LOGICAL_JSON;
    if (strcmp(ci->data_type, "uuid") == 0)
        return BINLOG_LOGICAL_UUID;
    if (strcmp(ci->data_type, "inet6") == 0)
        return BINLOG_LOGICAL_INET6;
    if (strcmp(ci->data_type, "inet4") == 0)
        return BINLOG_LOGICAL_INET4;
    return BINLOG_LOGICAL_NONE;
}

/* Column names, keys and MariaDB's logical types from information_schema. */
static cdc_rc
mys_table_schema(struct mysource *ms, struct mys_table *t, struct cdc_err *err)
{
    struct mysrc_colinfo *ci = NULL;
    uint32_t n = 0;
    size_t need = 0, off = 0;
    cdc_rc rc;

    rc = mysrc_table_columns(ms->src, t->bt->db, t->bt->table, &ci, &n, err);
    if (rc != CDC_OK)
        return rc;
    if (t->bt->has_names) {
        /*
         * The binlog names its columns (binlog_row_metadata=FULL): it wins. The table may
         * have changed since these rows were written (a later ALTER): information_schema
         * only adds what the binlog lacks, matched by name; a column gone from it keeps
         * the binlog's type alone.
         */
        for (uint32_t i = 0; i < t->bt->ncols; i++) {
            struct binlog_column *c = &t->bt->cols[i];

            for (uint32_t j = 0; j < n; j++) {
                if (strcmp(ci[j].name, c->name) != 0)
                    continue;
                if (!t->bt->has_pk)
                    c->is_pk = ci[j].is_key;
                c->logical = mys_logical(&ci[j]);
                if (!t->bt->has_signedness)
                    c->is_unsigned = ci[j].is_unsigned;
                break;
            }
        }
        free(ci);
        return CDC_OK;
    }
    if (n != t->bt->ncols) {
        free(ci);
        /* the table changed after these rows were written: the binlog wins, names are lost */
        return cdc_err_set(err, CDC_ERR_PROTO,
                           "table `%s`.`%s` has %u columns now but %u in the binlog: set "
                           "binlog_row_metadata=FULL so the binlog carries column names",
                           t->bt->db, t->bt->table, n, t->bt->ncols);
    }
    for (uint32_t i = 0; i < n; i++)
        need += strlen(ci[i].name) + 1;
    t->names = malloc(need ? need : 1);
    if (t->names == NULL) {
        free(ci);
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < n; i++) {
        struct binlog_column *c = &t->bt->cols[i];
        size_t len = strlen(ci[i].name) + 1;

        memcpy(t->names + off, ci[i].name, len);
        c->name = t->names + off;
        off += len;
        if (!t->bt->has_pk)
            c->is_pk = ci[i].is_key;
        c->logical = mys_logical(&ci[i]);
        if (!t->bt->has_signedness)
            c->is_unsigned = ci[i].is_unsigned;
    }
    free(ci);
    return CDC_OK;
}

static cdc_rc
mys_table_build(struct mysource *ms, struct mys_table *t, struct cdc_err *err)
{
    bool need_schema = ms->server.is_mariadb || !t->bt->has_names;
    cdc_rc rc;

    if (need_schema) {
        rc = mys_table_schema(ms, t, err);
        if (rc != CDC_OK)
            return rc;
    }
    t->cols = calloc(t->bt->ncols ? t->bt->ncols : 1, sizeof(*t->cols));
    if (t->cols == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < t->bt->ncols; i++) {
        const struct binlog_column *c = &t->bt->cols[i];

        t->cols[i].name = c->name != NULL ? c->name : "";
        t->cols[i].type_id = c->type;
        t->cols[i].type_mod = -1;
        t->cols[i].fmt = rowdec_col_fmt(c);
        t->cols[i].elem_fmt = CDC_VF_STRING;
        t->cols[i].is_key = c->is_pk;
    }
    t->rel.id = (uint32_t) t->table_id;
    t->rel.schema = t->bt->db;
    t->rel.table = t->bt->table;
    t->rel.replident = 'f'; /* binlog_row_image=FULL: whole rows before and after */
    t->rel.ncols = t->bt->ncols;
    t->rel.cols = t->cols;
    return CDC_OK;
}

static cdc_rc
mys_on_table_map(struct source *s, const struct binlog_table_map *tm, struct cdc_err *err)
{
    struct mysource *ms = s->impl;
    struct binlog_table *bt = NULL;
    struct mys_table *t;
    cdc_rc rc;

    rc = binlog_table_create(&bt, tm, &ms->fmt, err);
    if (rc != CDC_OK)
        return rc;
    t = mys_table_find(ms, tm->table_id);
    if (t != NULL && mys_table_same(t, bt)) {
        binlog_table_destroy(bt);
        return CDC_OK;
    }
    if (t != NULL) {
        mys_table_free(t);
    } else {
        if (ms->n_tables == ms->cap_tables) {
            size_t cap = ms->cap_tables ? ms->cap_tables * 2 : 16;
            struct mys_table *nt = realloc(ms->tables, cap * sizeof(*nt));

            if (nt == NULL) {
                binlog_table_destroy(bt);
                return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
            }
            ms->tables = nt;
            ms->cap_tables = cap;
        }
        t = &ms->tables[ms->n_tables++];
        memset(t, 0, sizeof(*t));
    }
    t->table_id = tm->table_id;
    t->bt = bt;
    t->included = mys_included(s, bt->db, bt->table);
    if (!t->included)
        return CDC_OK; /* remembered, so its rows are recognised and skipped */
    rc = mys_table_build(ms, t, err);
    if (rc != CDC_OK) {
        mys_table_free(t);
        *t = ms->tables[--ms->n_tables];
        return rc;
    }
    if (s->on_relation != NULL)
        s->on_relation(s->relation_closure, &t->rel);
    return CDC_OK;
}

/* ---- changes ---- */

static cdc_rc
mys_reserve(struct mysource *ms, size_t changes, size_t vals, struct cdc_err *err)
{
    if (changes > ms->cap_changes) {
        size_t cap = changes * 2;
        struct cdc_change *c = realloc(ms->changes, cap * sizeof(*c));
        struct cdc_tuple *t = realloc(ms->tuples, 2 * cap * sizeof(*t));

        if (c != NULL)
            ms->changes = c;
        if (t != NULL)
            ms->tuples = t;
        if (c == NULL || t == NULL)
            return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
        ms->cap_changes = cap;
    }
    if (vals > ms->cap_vals) {
        size_t cap = vals * 2;
        struct cdc_value *v = realloc(ms->vals, cap * sizeof(*v));
        struct rowdec_zero *z = realloc(ms->zeros, cap * sizeof(*z));
        struct cdc_raw_col *r = realloc(ms->raw, cap * sizeof(*r));

        if (v != NULL)
            ms->vals = v;
        if (z != NULL)
            ms->zeros = z;
        if (r != NULL)
            ms->raw = r;
        if (v == NULL || z == NULL || r == NULL)
            return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
        ms->cap_vals = cap;
    }
    return CDC_OK;
}

/* A change of the open transaction, with its position fields. */
static struct cdc_change *
mys_change(struct mysource *ms, size_t i, enum cdc_op op, const struct cdc_relation *rel)
{
    struct cdc_change *ch = &ms->changes[i];

    memset(ch, 0, sizeof(*ch));
    ch->op = op;
    ch->rel = rel;
    ch->commit_lsn = ms->key;
    ch->lsn = ms->key;
    ch->seq = ms->seq++;
    ch->commit_time_us = ms->commit_time_us;
    ch->binlog = &ms->origin;
    return ch;
}

/*
 * Decode every row of a ROWS event into changes. Values of image k live at
 * vals[k * ncols], its zero dates at zeros[k * ncols].
 */
static cdc_rc
mys_on_rows(struct mysource *ms, const struct binlog_rows *rows, struct src_out *out,
            struct cdc_err *err)
{
    static const enum cdc_op ops[] = {CDC_OP_INSERT, CDC_OP_UPDATE, CDC_OP_DELETE};
    struct mys_table *t = mys_table_find(ms, rows->table_id);
    int per_row = rows->kind == BINLOG_ROWS_UPDATE ? 2 : 1;
    size_t nimg = 0, nrows, left = rows->rows_len;
    const uint8_t *p = rows->rows;
    struct rowdec_image *imgs = NULL;
    uint32_t ncols;
    cdc_rc rc = CDC_OK;

    if (t == NULL)
        return cdc_err_set(err, CDC_ERR_PROTO,
                           "rows event for table id %" PRIu64 " without its TABLE_MAP",
                           rows->table_id);
    if (!t->included)
        return CDC_OK;
    ncols = t->bt->ncols;
    cdc_buf_reset(&ms->scratch);
    /* images until the event is used up; grow as we go */
    for (;;) {
        size_t used = 0;

        if (left == 0)
            break;
        if (nimg % 64 == 0) {
            struct rowdec_image *ni = realloc(imgs, (nimg + 64) * sizeof(*ni));

            if (ni == NULL) {
                rc = cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
                goto done;
            }
            imgs = ni;
            rc = mys_reserve(ms, (nimg + 64) / (size_t) per_row + 1, (nimg + 64) * ncols, err);
            if (rc != CDC_OK)
                goto done;
        }
        memset(&imgs[nimg], 0, sizeof(imgs[nimg]));
        imgs[nimg].vals = &ms->vals[nimg * ncols];
        imgs[nimg].zeros = &ms->zeros[nimg * ncols];
        rc = rowdec_decode(ms->rd, t->bt, rows,
                           rows->kind == BINLOG_ROWS_WRITE ||
                               (rows->kind == BINLOG_ROWS_UPDATE && nimg % 2 == 1),
                           p, left, &ms->scratch, &imgs[nimg], &used, err);
        if (rc != CDC_OK)
            goto done;
        p += used;
        left -= used;
        nimg++;
    }
    if (nimg % (size_t) per_row != 0) {
        rc = cdc_err_set(err, CDC_ERR_PROTO, "update event on `%s`.`%s` ends after a before image",
                         t->bt->db, t->bt->table);
        goto done;
    }
    nrows = nimg / (size_t) per_row;
    for (size_t k = 0; k < nimg; k++) {
        /* the vals pointers may have moved with mys_reserve: set them again */
        imgs[k].vals = &ms->vals[k * ncols];
        imgs[k].zeros = &ms->zeros[k * ncols];
        rowdec_fixup(&ms->scratch, t->bt, &imgs[k]);
    }
    for (size_t r = 0; r < nrows; r++) {
        struct cdc_change *ch = mys_change(ms, r, ops[rows->kind], &t->rel);
        struct rowdec_image *first = &imgs[r * (size_t) per_row];
        struct rowdec_image *img_after = NULL;
        struct cdc_tuple *tb = &ms->tuples[2 * r], *ta = &ms->tuples[2 * r + 1];

        if (rows->kind == BINLOG_ROWS_WRITE) {
            img_after = first;
        } else {
            tb->nvals = ncols;
            tb->vals = first->vals;
            ch->before = tb;
            if (rows->kind == BINLOG_ROWS_UPDATE)
                img_after = first + 1;
        }
        if (img_after != NULL) {
            ta->nvals = ncols;
            ta->vals = img_after->vals;
            ch->after = ta;
            if (img_after->nzeros > 0) {
                struct cdc_raw_col *rc0 = &ms->raw[(size_t) (img_after - imgs) * ncols];

                for (uint32_t z = 0; z < img_after->nzeros; z++) {
                    rc0[z].col = img_after->zeros[z].col;
                    rc0[z].raw = img_after->zeros[z].raw;
                }
                ch->zero_dates = rc0;
                ch->n_zero_dates = img_after->nzeros;
            }
        }
    }
    out->kind = SRC_CHANGES;
    out->changes = ms->changes;
    out->n_changes = nrows;
done:
    free(imgs);
    return rc;
}

/* ---- transactions ---- */

static void
mys_begin(struct mysource *ms, const struct mysrc_event *e, int64_t commit_time_us,
          struct src_out *out)
{
    ms->in_txn = true;
    ms->saw_begin = ms->ddl_pending = ms->end_pending = false;
    ms->key = mys_pos64(e->file, e->pos);
    ms->commit_time_us = commit_time_us;
    ms->seq = 0;
    ms->has_gtid = e->has_gtid;
    if (e->has_gtid) {
        ms->gtid = e->gtid;
        mysrc_gtid_format(&e->gtid, ms->gtid_text, sizeof(ms->gtid_text));
    }
    snprintf(ms->origin_file, sizeof(ms->origin_file), "%s", e->file);
    ms->origin.file = ms->origin_file;
    ms->origin.pos = e->pos;
    ms->origin.gtid = e->has_gtid ? ms->gtid_text : NULL;
    ms->origin.server_id = e->server_id;
    out->kind = SRC_BEGIN;
    out->key = ms->key;
    out->commit_time_us = commit_time_us;
}

/*
 * Remember the committed transaction's GTID for the checkpoint's GTID
 * position. When more than MYS_GTIDS_MAX wait, the oldest is forgotten: the
 * GTID position written may then lag the binlog position, which only makes a
 * restart resume earlier, and its replays are not published twice (the
 * stream is read back). It never makes a restart resume later.
 */
static cdc_rc
mys_note_gtid(struct mysource *ms, cdc_lsn end, struct cdc_err *err)
{
    struct mys_gtid *g;

    if (!ms->has_gtid || ms->gtid.is_mysql)
        return CDC_OK;
    if (ms->gtids == NULL) {
        ms->gtids = malloc(MYS_GTIDS_MAX * sizeof(*ms->gtids));
        if (ms->gtids == NULL)
            return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    }
    if (ms->n_gtids == MYS_GTIDS_MAX) {
        ms->gtid_head = (ms->gtid_head + 1) % MYS_GTIDS_MAX;
        ms->n_gtids--;
    }
    g = &ms->gtids[(ms->gtid_head + ms->n_gtids) % MYS_GTIDS_MAX];
    g->end = end;
    g->gtid = ms->gtid;
    ms->n_gtids++;
    return CDC_OK;
}

static cdc_rc
mys_commit(struct mysource *ms, cdc_lsn end, struct src_out *out, struct cdc_err *err)
{
    ms->in_txn = false;
    ms->saw_begin = ms->ddl_pending = ms->end_pending = false;
    out->kind = SRC_COMMIT;
    out->end = end;
    return mys_note_gtid(ms, end, err);
}

/* Keep a DDL statement's text (the event's buffer goes with the next read). */
static cdc_rc
mys_keep_ddl(struct mysource *ms, const struct binlog_query *q, struct cdc_err *err)
{
    char *ddl = malloc(q->sql_len + 1);

    if (ddl == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    memcpy(ddl, q->sql, q->sql_len);
    ddl[q->sql_len] = '\0';
    free(ms->ddl);
    ms->ddl = ddl;
    return CDC_OK;
}

/* The kept DDL statement: one cdc.ddl event, and the table descriptions are stale. */
static cdc_rc
mys_emit_ddl(struct mysource *ms, struct src_out *out, struct cdc_err *err)
{
    struct cdc_change *ch;
    cdc_rc rc = mys_reserve(ms, 1, 0, err);

    if (rc != CDC_OK)
        return rc;
    ms->ddl_pending = false;
    mys_tables_clear(ms);
    ch = mys_change(ms, 0, CDC_OP_DDL, NULL);
    ch->ddl = ms->ddl;
    out->kind = SRC_CHANGES;
    out->changes = ms->changes;
    out->n_changes = 1;
    return CDC_OK;
}

/*
 * A DDL statement is published when its default database is captured:
 * rds.database, or a database some cdc.table_filters pattern may match.
 */
static bool
mys_ddl_included(const struct source *s, const struct binlog_query *q)
{
    const struct mysource *ms = s->impl;
    const char *home = s->cfg->rds.database != NULL ? s->cfg->rds.database : "";
    char db[512];

    if (q->db_len == strlen(home) && strncmp(q->db, home, q->db_len) == 0)
        return true;
    if (!filter_has_includes(ms->filter) || q->db_len >= sizeof(db))
        return false;
    memcpy(db, q->db, q->db_len);
    db[q->db_len] = '\0';
    return filter_schema_may_match(ms->filter, db);
}

static int64_t
mys_event_time(const struct mysrc_event *e)
{
    return (int64_t) e->timestamp * 1000000;
}

/* One decoded event: fills *out when it means something to the pipeline. */
static cdc_rc
mys_on_event(struct source *s, const struct mysrc_event *e, const struct binlog_event *ev,
             struct src_out *out, struct cdc_err *err)
{
    struct mysource *ms = s->impl;
    cdc_lsn here = mys_pos64(e->file, e->pos);

    switch (ev->h.type) {
    case BINLOG_FORMAT_DESCRIPTION:
        binlog_fmt_apply(&ms->fmt, &ev->u.fde);
        return CDC_OK;
    case BINLOG_ROTATE:
        mys_remember_file(ms, e->file);
        return CDC_OK;
    case BINLOG_MARIA_GTID:
        mys_begin(ms, e, mys_event_time(e), out);
        return CDC_OK;
    case BINLOG_GTID:
    case BINLOG_ANONYMOUS_GTID:
        mys_begin(ms, e,
                  ev->u.gtid.has_commit_ts ? (int64_t) ev->u.gtid.immediate_commit_ts_us
                                           : mys_event_time(e),
                  out);
        return CDC_OK;
    case BINLOG_QUERY:
        switch (ev->u.query.kind) {
        case BINLOG_QUERY_BEGIN:
            if (!ms->in_txn)
                mys_begin(ms, e, mys_event_time(e), out);
            ms->saw_begin = true;
            return CDC_OK;
        case BINLOG_QUERY_COMMIT:
        case BINLOG_QUERY_ROLLBACK:
            return ms->in_txn ? mys_commit(ms, here, out, err) : CDC_OK;
        case BINLOG_QUERY_DDL: {
            cdc_rc rc;

            mys_tables_clear(ms); /* any table may have changed */
            if (!mys_ddl_included(s, &ev->u.query)) {
                /* not ours: still a transaction to close if it opened one */
                if (ms->in_txn && !ms->saw_begin)
                    return mys_commit(ms, here, out, err);
                return CDC_OK;
            }
            rc = mys_keep_ddl(ms, &ev->u.query, err);
            if (rc != CDC_OK)
                return rc;
            /* a DDL statement is a transaction of its own (after its GTID, if any) */
            if (!ms->in_txn || !ms->saw_begin) {
                ms->end_pending = true;
                ms->end_pos = here;
            }
            if (!ms->in_txn) {
                mys_begin(ms, e, mys_event_time(e), out);
                ms->ddl_pending = true; /* handed over with the next call */
                ms->end_pending = true;
                return CDC_OK;
            }
            return mys_emit_ddl(ms, out, err);
        }
        default:
            return CDC_OK;
        }
    case BINLOG_XID:
        return ms->in_txn ? mys_commit(ms, here, out, err) : CDC_OK;
    case BINLOG_TABLE_MAP:
        return mys_on_table_map(s, &ev->u.table_map, err);
    default:
        if (binlog_is_rows_event(ev->h.type))
            return mys_on_rows(ms, &ev->u.rows, out, err);
        return CDC_OK;
    }
}

/* ---- the source interface ---- */

/*
 * Remember the header time of events that belong to transactions. Not the
 * ROTATE, FORMAT_DESCRIPTION or GTID list a dump starts with: they carry the
 * binlog file's creation time, and would show a lag that is not there.
 */
static void
mys_note_event_time(struct mysource *ms, const struct mysrc_event *e, const struct binlog_event *ev)
{
    switch (ev->h.type) {
    case BINLOG_MARIA_GTID:
    case BINLOG_GTID:
    case BINLOG_ANONYMOUS_GTID:
    case BINLOG_QUERY:
    case BINLOG_XID:
    case BINLOG_TABLE_MAP:
        break;
    default:
        if (!binlog_is_rows_event(ev->h.type))
            return;
    }
    if (e->timestamp == 0)
        return;
    ms->last_event_us = (int64_t) e->timestamp * 1000000;
    ms->caught_up = false;
}

/* now - the last transaction event's time; 0 once a heartbeat said we read everything. */
static int64_t
mys_lag_ms(struct source *s, int64_t now_us)
{
    struct mysource *ms = s->impl;
    int64_t lag;

    if (ms->caught_up)
        return 0;
    if (ms->last_event_us == 0)
        return -1;
    lag = (now_us - ms->last_event_us) / 1000;
    return lag > 0 ? lag : 0;
}

static cdc_rc
mys_next(struct source *s, int timeout_ms, struct src_out *out, struct cdc_err *err)
{
    struct mysource *ms = s->impl;
    struct mysrc_event e;
    struct binlog_event ev;
    cdc_rc rc;

    (void) timeout_ms; /* mysrc_read returns at least every heartbeat */
    memset(out, 0, sizeof(*out));
    if (ms->ddl_pending)
        return mys_emit_ddl(ms, out, err);
    if (ms->end_pending)
        return mys_commit(ms, ms->end_pos, out, err);
    rc = mysrc_read(ms->src, &e, err);
    if (rc != CDC_OK)
        return rc;
    if (e.kind == MYSRC_HEARTBEAT) {
        ms->caught_up = true;
        if (!ms->in_txn) {
            out->kind = SRC_IDLE;
            out->end = mys_current(ms);
        }
        return CDC_OK;
    }
    /* mysrc leaves the CRC32 out of len, but it follows in the buffer: the decoder wants it */
    rc = binlog_decode(&ms->fmt, e.data, e.len + ms->crc_len, &ev, err);
    if (rc != CDC_OK)
        return cdc_err_prefix(err, "binlog %s at %" PRIu64, e.file, e.pos);
    mys_note_event_time(ms, &e, &ev);
    rc = mys_on_event(s, &e, &ev, out, err);
    if (rc != CDC_OK && rc != CDC_ERR_NOMEM && rc != CDC_ERR_RETRY)
        return cdc_err_prefix(err, "binlog %s at %" PRIu64, e.file, e.pos);
    return rc;
}

static void
mys_opts(const struct cdc_config *c, struct mysrc_opts *o)
{
    mysrc_opts_init(o);
    o->host = c->rds.endpoint;
    o->port = c->rds.port;
    o->user = c->rds.username;
    o->password = c->rds.password;
    if (c->rds.auth == CFG_AUTH_IAM) {
        /* a fresh token for every connection (SQL, dump, each reconnect): one signed for the
           first connection expires 15 minutes later */
        o->password = NULL;
        o->password_fn = awscreds_rds_password;
        o->password_closure = c->rds.region;
    }
    o->sslmode = c->rds.ssl_mode;
    o->ssl_ca = c->rds.ssl_root_cert;
    o->server_id = (uint32_t) c->rds.server_id;
    o->heartbeat_ms = 500;
}

/* "mysql:<server_uuid>" or "mariadb:<server_id>": which server wrote the binlog. */
static void
mys_identity(const struct mysrc_server *sv, char *out, size_t cap)
{
    if (sv->is_mariadb)
        snprintf(out, cap, "mariadb:%" PRIu32, sv->server_id);
    else
        snprintf(out, cap, "%s", sv->server_uuid);
}

static cdc_rc
mys_preflight(struct mysource *ms, char *warn, size_t cap, struct cdc_err *err)
{
    struct mysrc_preflight pf;
    size_t used = 0;
    cdc_rc rc;

    rc = mysrc_preflight(ms->src, ms->tolerable_downtime_s, &pf, err);
    if (rc != CDC_OK)
        return rc;
    for (int i = 0; i < pf.n; i++) {
        const struct mysrc_check *c = &pf.v[i];

        if (c->severity == MYSRC_SEV_ERROR)
            return cdc_err_set(err, CDC_ERR_FATAL, "%s: %s", c->what, c->msg);
        if (c->severity == MYSRC_SEV_WARN && used < cap)
            used += (size_t) snprintf(warn + used, cap - used, "; %s: %s", c->what, c->msg);
    }
    return CDC_OK;
}

static cdc_rc
mys_prepare(struct source *s, const struct ckpt_record *ckpt, const char *ckpt_desc, bool accept,
            struct ckpt_record *rec, struct src_start *start, struct cdc_err *err)
{
    struct mysource *ms = s->impl;
    struct mysrc_opts o;
    struct mysrc_pos cur;
    char *gtids = NULL;
    char ident[sizeof(rec->system_id)], warn[512] = "";
    size_t len;
    cdc_rc rc;

    mys_opts(s->cfg, &o);
    ms->tolerable_downtime_s = s->cfg->cdc.tolerable_downtime_ms / 1000;
    rc = mysrc_create(&ms->src, &o, err);
    if (rc == CDC_OK)
        rc = mysrc_server_info(ms->src, &ms->server, err);
    if (rc == CDC_OK)
        rc = mys_preflight(ms, warn, sizeof(warn), err);
    if (rc != CDC_OK)
        return rc;
    ms->crc_len = strcasecmp(ms->server.binlog_checksum, "CRC32") == 0 ? BINLOG_CHECKSUM_LEN : 0;
    binlog_fmt_init(&ms->fmt, ms->crc_len ? BINLOG_CHECKSUM_CRC32 : BINLOG_CHECKSUM_OFF);
    mys_identity(&ms->server, ident, sizeof(ident));
    snprintf(rec->engine, sizeof(rec->engine), "%s", ms->server.is_mariadb ? "mariadb" : "mysql");
    snprintf(rec->system_id, sizeof(rec->system_id), "%s", ident);
    rec->slot[0] = '\0';
    if (ckpt != NULL && ckpt->binlog_file[0] == '\0' && !accept)
        return cdc_err_set(err, CDC_ERR_FATAL,
                           "checkpoint %s holds a %s position, not a binlog position: point "
                           "cdc.checkpoint_storage at a new location for this source",
                           ckpt_desc, ckpt->engine[0] ? ckpt->engine : "non-binlog");
    if (ckpt != NULL && strcmp(ckpt->system_id, ident) != 0 && !accept)
        return cdc_err_set(err, CDC_ERR_FATAL,
                           "checkpoint %s was written for server %s but the server is %s: another "
                           "database is behind this endpoint; point cdc.checkpoint_storage at a "
                           "new location to start over, or restart with --accept-slot-position "
                           "to resume from the checkpoint's binlog position anyway",
                           ckpt_desc, ckpt->system_id, ident);
    if (ckpt != NULL && ckpt->binlog_file[0] != '\0') {
        snprintf(ms->start_file, sizeof(ms->start_file), "%s", ckpt->binlog_file);
        ms->start_pos = ckpt->binlog_pos;
        snprintf(ms->gtid_set, sizeof(ms->gtid_set), "%s", ckpt->gtid_set);
        ms->start_by_gtid = ms->server.is_mariadb && ckpt->gtid_set[0] != '\0';
        start->pos = mys_pos64(ms->start_file, ms->start_pos);
        snprintf(start->note, sizeof(start->note),
                 "resuming binlog from %.256s:%" PRIu64 "%s%.160s (checkpoint %.64s)",
                 ms->start_file, ms->start_pos, ms->start_by_gtid ? ", GTID position " : "",
                 ms->start_by_gtid ? ms->gtid_set : "", ckpt_desc);
    } else {
        rc = mysrc_current_position(ms->src, &cur, &gtids, err);
        if (rc != CDC_OK)
            return rc;
        snprintf(ms->start_file, sizeof(ms->start_file), "%s", cur.file);
        ms->start_pos = cur.pos;
        snprintf(ms->gtid_set, sizeof(ms->gtid_set), "%s",
                 ms->server.is_mariadb && gtids ? gtids : "");
        free(gtids);
        ms->start_by_gtid = false;
        start->pos = mys_pos64(cur.file, cur.pos);
        snprintf(start->note, sizeof(start->note),
                 "no checkpoint in %s: starting at the server's current binlog position "
                 "%s:%" PRIu64,
                 ckpt_desc, cur.file, cur.pos);
    }
    len = strlen(start->note);
    if (warn[0] != '\0' && len < sizeof(start->note)) {
        snprintf(start->note + len, sizeof(start->note) - len, "%s", warn);
        start->warn = true;
    }
    mys_remember_file(ms, ms->start_file);
    snprintf(rec->binlog_file, sizeof(rec->binlog_file), "%s", ms->start_file);
    rec->binlog_pos = ms->start_pos;
    snprintf(rec->gtid_set, sizeof(rec->gtid_set), "%s", ms->gtid_set);
    return rowdec_create(&ms->rd, err);
}

static cdc_rc
mys_start(struct source *s, cdc_lsn pos, struct cdc_err *err)
{
    struct mysource *ms = s->impl;

    (void) pos; /* decided in prepare: file and offset, or the GTID position */
    if (ms->start_by_gtid)
        return mysrc_start_gtid(ms->src, ms->gtid_set, err);
    return mysrc_start_file(ms->src, ms->start_file, ms->start_pos, err);
}

static void
mys_confirm(struct source *s, cdc_lsn pos)
{
    /* a binlog dump takes no confirmation: the checkpoint is the only record */
    (void) s, (void) pos;
}

/* The checkpoint's position fields for rec->lsn: file name, offset, GTID position. */
static void
mys_describe_position(struct source *s, struct ckpt_record *rec)
{
    struct mysource *ms = s->impl;
    const char *name = mys_file_name(ms, (uint32_t) (rec->lsn >> 32));

    if (name != NULL)
        snprintf(rec->binlog_file, sizeof(rec->binlog_file), "%s", name);
    rec->binlog_pos = rec->lsn & 0xFFFFFFFFu;
    while (ms->n_gtids > 0 && ms->gtids[ms->gtid_head].end <= rec->lsn) {
        struct cdc_err ignored;

        (void) mysrc_gtid_set_update(ms->gtid_set, sizeof(ms->gtid_set),
                                     &ms->gtids[ms->gtid_head].gtid, &ignored);
        ms->gtid_head = (ms->gtid_head + 1) % MYS_GTIDS_MAX;
        ms->n_gtids--;
    }
    snprintf(rec->gtid_set, sizeof(rec->gtid_set), "%s", ms->gtid_set);
}

static cdc_lsn
mys_received(struct source *s)
{
    struct mysource *ms = s->impl;

    return ms->src != NULL ? mys_current(ms) : 0;
}

static void
mys_stop(struct source *s)
{
    struct mysource *ms = s->impl;

    (void) mysrc_stop(ms->src, NULL);
}

static void
mys_destroy(struct source *s)
{
    struct mysource *ms = s->impl;

    mysrc_destroy(ms->src);
    rowdec_destroy(ms->rd);
    filter_destroy(ms->filter);
    mys_tables_clear(ms);
    free(ms->tables);
    cdc_buf_free(&ms->scratch);
    free(ms->changes);
    free(ms->tuples);
    free(ms->vals);
    free(ms->zeros);
    free(ms->raw);
    free(ms->ddl);
    free(ms->gtids);
    free(ms);
}

static const struct src_ops mysource_ops = {
    .prepare = mys_prepare,
    .start = mys_start,
    .next = mys_next,
    .confirm = mys_confirm,
    .describe_position = mys_describe_position,
    .received = mys_received,
    .lag_ms = mys_lag_ms,
    .stop = mys_stop,
    .destroy = mys_destroy,
};

cdc_rc
mysource_init(struct source *s, struct cdc_err *err)
{
    struct mysource *ms = calloc(1, sizeof(*ms));
    cdc_rc rc;

    if (ms == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    rc = src_filter_create(s->cfg, &ms->filter, err);
    if (rc != CDC_OK) {
        free(ms);
        return rc;
    }
    s->ops = &mysource_ops;
    s->impl = ms;
    return CDC_OK;
}
