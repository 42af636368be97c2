/*
 * envelope.c - a change -> CDCEvent or Debezium JSON, and event ids; see
 * envelope.h.
 *
 * Output is compact JSON (no spaces), fields in a fixed order, so the same
 * change always gives the same bytes: golden tests compare them exactly and a
 * replay publishes identical payloads (which is why Debezium's ts_ms, the
 * connector's processing time there, is the commit time here). Fixed keys
 * are written as literal fragments, and what is the same for every event of
 * a source (host, engine, version, labels, Debezium's source head) is
 * rendered once by env_ctx_configure() and copied; only column names and
 * values go through the escaping encoder. Nothing here does I/O or knows
 * where events go.
 */
#include "transform/envelope.h"

#include <stdlib.h>
#include <string.h>

#include "event/json.h"
#include "transform/redact.h"

#define ENV_LIT(b, s) cdc_buf_append((b), (s), sizeof(s) - 1)

static const char env_hex_upper[] = "0123456789ABCDEF";

void
env_ctx_init(struct env_ctx *ctx, const char *source)
{
    size_t n = source ? strnlen(source, ENV_SOURCE_MAX) : 0;

    memcpy(ctx->source, source ? source : "", n);
    ctx->source[n] = '\0';
    ctx->source_len = n;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) source[i];

        /* Nats-Msg-Id is a header value: printable ASCII, no spaces */
        ctx->id_prefix[i] = c > 0x20 && c < 0x7F ? (char) c : '_';
    }
    ctx->id_prefix[n] = '\0';
    ctx->format = ENV_FORMAT_NATIVE;
    ctx->binlog = false;
    memset(&ctx->meta_tail, 0, sizeof(ctx->meta_tail));
    memset(&ctx->dbz_source, 0, sizeof(ctx->dbz_source));
    memset(&ctx->dbz_db, 0, sizeof(ctx->dbz_db));
}

void
env_opts_init(struct env_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->format = ENV_FORMAT_NATIVE;
}

void
env_ctx_free(struct env_ctx *ctx)
{
    cdc_buf_free(&ctx->meta_tail);
    cdc_buf_free(&ctx->dbz_source);
    cdc_buf_free(&ctx->dbz_db);
}

static void
env_put_cstr(struct cdc_buf *b, const char *s)
{
    json_put_str(b, s, strlen(s));
}

/* Debezium's connector name for our engine name. */
static const char *
env_dbz_connector(const char *engine)
{
    if (engine != NULL && strcmp(engine, "mysql") == 0)
        return "mysql";
    if (engine != NULL && strcmp(engine, "mariadb") == 0)
        return "mariadb";
    return "postgresql";
}

cdc_rc
env_ctx_configure(struct env_ctx *ctx, const struct env_opts *o, struct cdc_err *err)
{
    struct cdc_buf *t = &ctx->meta_tail, *d = &ctx->dbz_source;
    const char *engine = o->engine ? o->engine : "postgres";

    cdc_buf_reset(t);
    cdc_buf_reset(d);
    cdc_buf_reset(&ctx->dbz_db);
    ctx->format = o->format;
    ctx->binlog = strcmp(engine, "postgres") != 0;
    if (o->host != NULL) {
        ENV_LIT(t, ",\"source_host\":");
        env_put_cstr(t, o->host);
    }
    ENV_LIT(t, ",\"engine\":");
    env_put_cstr(t, engine);
    if (o->handler_version != NULL) {
        ENV_LIT(t, ",\"handler_version\":");
        env_put_cstr(t, o->handler_version);
    }
    if (o->n_labels > 0) {
        ENV_LIT(t, ",\"labels\":{");
        for (int i = 0; i < o->n_labels; i++) {
            if (i > 0)
                cdc_buf_putc(t, ',');
            json_put_key(t, o->label_keys[i]);
            env_put_cstr(t, o->label_values[i]);
        }
        cdc_buf_putc(t, '}');
    }
    ENV_LIT(d, "\"source\":{\"version\":");
    env_put_cstr(d, o->handler_version ? o->handler_version : "");
    ENV_LIT(d, ",\"connector\":\"");
    cdc_buf_puts(d, env_dbz_connector(engine));
    ENV_LIT(d, "\",\"name\":");
    json_put_str(d, ctx->source, ctx->source_len);
    env_put_cstr(&ctx->dbz_db, o->database ? o->database : "");
    if (!cdc_buf_ok(t) || !cdc_buf_ok(d) || !cdc_buf_ok(&ctx->dbz_db))
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory preparing the event envelope");
    return CDC_OK;
}

/* ---- event ids ---- */

/* Write v as exactly `digits` upper-case hex digits at out. */
static void
env_hex_fixed(char *out, uint64_t v, int digits)
{
    for (int i = digits - 1; i >= 0; i--, v >>= 4)
        out[i] = env_hex_upper[v & 15];
}

void
env_event_id(const struct env_ctx *ctx, const struct cdc_change *ch, char *out, size_t outlen)
{
    char tmp[ENV_EVENT_ID_MAX];
    size_t n = ctx->source_len;

    if (outlen == 0)
        return;
    memcpy(tmp, ctx->id_prefix, n);
    tmp[n] = '-';
    env_hex_fixed(tmp + n + 1, ch->commit_lsn, 16);
    tmp[n + 17] = '-';
    env_hex_fixed(tmp + n + 18, ch->seq, 8);
    n += ENV_EVENT_ID_SUFFIX_LEN;
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, tmp, n);
    out[n] = '\0';
}

/* Parse exactly `digits` upper-case hex digits. */
static bool
env_parse_hex(const char *s, int digits, uint64_t *out)
{
    uint64_t v = 0;

    for (int i = 0; i < digits; i++) {
        const char *d = s[i] ? strchr(env_hex_upper, s[i]) : NULL;

        if (d == NULL)
            return false;
        v = v << 4 | (uint64_t) (d - env_hex_upper);
    }
    *out = v;
    return true;
}

bool
env_event_id_parse(const char *id, size_t len, cdc_lsn *commit_lsn, uint32_t *seq)
{
    const char *suffix;
    uint64_t lsn, s;

    if (id == NULL || len < ENV_EVENT_ID_SUFFIX_LEN)
        return false;
    suffix = id + len - ENV_EVENT_ID_SUFFIX_LEN;
    if (suffix[0] != '-' || suffix[17] != '-' || !env_parse_hex(suffix + 1, 16, &lsn) ||
        !env_parse_hex(suffix + 18, 8, &s))
        return false;
    *commit_lsn = lsn;
    *seq = (uint32_t) s;
    return true;
}

/* ---- small writers ---- */

/* "16/B374D848", as PostgreSQL prints an LSN (%X/%X), without printf. */
static void
env_put_lsn(struct cdc_buf *b, cdc_lsn lsn)
{
    char tmp[CDC_LSN_STRLEN];
    int n = 0;
    uint32_t half[2] = {(uint32_t) (lsn >> 32), (uint32_t) lsn};

    for (int h = 0; h < 2; h++) {
        int shift = 28;

        while (shift > 0 && ((half[h] >> shift) & 15) == 0)
            shift -= 4;
        for (; shift >= 0; shift -= 4)
            tmp[n++] = env_hex_upper[(half[h] >> shift) & 15];
        if (h == 0)
            tmp[n++] = '/';
    }
    cdc_buf_append(b, tmp, (size_t) n);
}

/* Write v as exactly `digits` decimal digits at out. */
static void
env_dec_fixed(char *out, int64_t v, int digits)
{
    for (int i = digits - 1; i >= 0; i--, v /= 10)
        out[i] = (char) ('0' + v % 10);
}

/* Floor division for the negative (pre-1970) side. */
static int64_t
env_floor_div(int64_t a, int64_t d)
{
    return a / d - (a % d != 0 && (a < 0) != (d < 0));
}

void
env_put_time(struct cdc_buf *b, int64_t us)
{
    int64_t secs = env_floor_div(us, 1000000), frac = us - secs * 1000000;
    int64_t days = env_floor_div(secs, 86400), sod = secs - days * 86400;
    /* civil_from_days (H. Hinnant): days since 1970-01-01 -> year, month, day */
    int64_t z = days + 719468, era = env_floor_div(z, 146097), doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = yoe + era * 400 + (m <= 2);
    char tmp[28]; /* "-MM-DDTHH:MM:SS.ffffffZ" */

    if (y < 0) {
        cdc_buf_putc(b, '-');
        y = -y;
    }
    if (y > 9999) {
        cdc_buf_put_i64(b, y);
    } else {
        env_dec_fixed(tmp, y, 4);
        cdc_buf_append(b, tmp, 4);
    }
    memcpy(tmp, "-MM-DDTHH:MM:SS.ffffffZ", 23);
    env_dec_fixed(tmp + 1, m, 2);
    env_dec_fixed(tmp + 4, d, 2);
    env_dec_fixed(tmp + 7, sod / 3600, 2);
    env_dec_fixed(tmp + 10, sod / 60 % 60, 2);
    env_dec_fixed(tmp + 13, sod % 60, 2);
    env_dec_fixed(tmp + 16, frac, 6);
    cdc_buf_append(b, tmp, 23);
}

/* ---- the envelope ---- */

static const char *const env_types[] = {
    [CDC_OP_INSERT] = "\"cdc.insert\"", [CDC_OP_UPDATE] = "\"cdc.update\"",
    [CDC_OP_DELETE] = "\"cdc.delete\"", [CDC_OP_TRUNCATE] = "\"cdc.truncate\"",
    [CDC_OP_DDL] = "\"cdc.ddl\"",
};

const char *
env_event_type(enum cdc_op op)
{
    static const char *const names[] = {
        [CDC_OP_INSERT] = "cdc.insert", [CDC_OP_UPDATE] = "cdc.update",
        [CDC_OP_DELETE] = "cdc.delete", [CDC_OP_TRUNCATE] = "cdc.truncate",
        [CDC_OP_DDL] = "cdc.ddl",
    };

    return (unsigned) op <= CDC_OP_DDL ? names[op] : NULL;
}

static const char *const env_ops[] = {
    [CDC_OP_INSERT] = "\"INSERT\"", [CDC_OP_UPDATE] = "\"UPDATE\"",
    [CDC_OP_DELETE] = "\"DELETE\"", [CDC_OP_TRUNCATE] = "\"TRUNCATE\"",
    [CDC_OP_DDL] = "\"DDL\"",
};

/* A tuple as an object: ABSENT and UNCHANGED columns left out, NULL as null. */
static void
env_put_tuple(struct cdc_buf *b, const struct cdc_relation *rel, const struct cdc_tuple *t)
{
    bool first = true;

    cdc_buf_putc(b, '{');
    for (uint32_t i = 0; i < t->nvals; i++) {
        const struct cdc_value *v = &t->vals[i];
        const struct cdc_column *c = &rel->cols[i];

        if (v->state == CDC_VAL_ABSENT || v->state == CDC_VAL_UNCHANGED || c->omit)
            continue;
        if (!first)
            cdc_buf_putc(b, ',');
        first = false;
        json_put_key(b, c->name);
        if (c->redact != NULL) /* the one test a column without a rule pays */
            redact_put_value(b, c, v);
        else if (v->state == CDC_VAL_NULL)
            ENV_LIT(b, "null");
        else
            (void) json_put_value(b, c->fmt, c->elem_fmt, v->data, v->len);
    }
    cdc_buf_putc(b, '}');
}

/* "unchanged_columns":[...] when the after image has UNCHANGED values. */
static void
env_put_unchanged(struct cdc_buf *b, const struct cdc_relation *rel, const struct cdc_tuple *t)
{
    bool first = true;

    for (uint32_t i = 0; i < t->nvals; i++) {
        if (t->vals[i].state != CDC_VAL_UNCHANGED || rel->cols[i].omit)
            continue;
        if (first)
            ENV_LIT(b, ",\"unchanged_columns\":[");
        else
            cdc_buf_putc(b, ',');
        first = false;
        json_put_str(b, rel->cols[i].name, strlen(rel->cols[i].name));
    }
    if (!first)
        cdc_buf_putc(b, ']');
}

/* "zero_dates":{"col":"0000-00-00",...}: values the source gave as null, raw. */
static void
env_put_zero_dates(struct cdc_buf *b, const struct cdc_change *ch)
{
    bool first = true;

    for (uint32_t i = 0; i < ch->n_zero_dates; i++) {
        const struct cdc_raw_col *z = &ch->zero_dates[i];

        if (z->col >= ch->rel->ncols || ch->rel->cols[z->col].omit ||
            ch->rel->cols[z->col].redact != NULL) /* the raw text would bypass the rule */
            continue;
        if (first)
            ENV_LIT(b, ",\"zero_dates\":{");
        else
            cdc_buf_putc(b, ',');
        first = false;
        json_put_str(b, ch->rel->cols[z->col].name, strlen(ch->rel->cols[z->col].name));
        cdc_buf_putc(b, ':');
        json_put_str(b, z->raw.data, z->raw.len);
    }
    if (!first)
        cdc_buf_putc(b, '}');
}

/* The source position: PostgreSQL LSNs and txid, or the binlog file, position, GTID, server. */
static void
env_put_position(struct cdc_buf *b, const struct cdc_change *ch)
{
    const struct cdc_binlog_origin *o = ch->binlog;

    if (o == NULL) {
        ENV_LIT(b, ",\"metadata\":{\"lsn\":\"");
        env_put_lsn(b, ch->lsn);
        ENV_LIT(b, "\",\"commit_lsn\":\"");
        env_put_lsn(b, ch->commit_lsn);
        ENV_LIT(b, "\",\"txid\":");
        cdc_buf_put_u64(b, ch->xid);
        return;
    }
    ENV_LIT(b, ",\"metadata\":{\"binlog_file\":");
    json_put_str(b, o->file, strlen(o->file));
    ENV_LIT(b, ",\"binlog_pos\":");
    cdc_buf_put_u64(b, o->pos);
    ENV_LIT(b, ",\"gtid\":");
    if (o->gtid != NULL)
        json_put_str(b, o->gtid, strlen(o->gtid));
    else
        ENV_LIT(b, "null");
    ENV_LIT(b, ",\"server_id\":");
    cdc_buf_put_u64(b, o->server_id);
}

/* `,"event_version":1[,"schema_version":".."]` and the configured static part. */
static void
env_put_enrichment(struct cdc_buf *b, const struct env_ctx *ctx, const struct cdc_change *ch)
{
    ENV_LIT(b, ",\"event_version\":" ENV_EVENT_VERSION_STR);
    if (ch->rel != NULL && ch->rel->schema_version[0] != '\0') {
        ENV_LIT(b, ",\"schema_version\":");
        json_put_str(b, ch->rel->schema_version, strnlen(ch->rel->schema_version, 16));
    }
    if (ctx->meta_tail.len > 0) /* NULL data until configured */
        cdc_buf_append(b, ctx->meta_tail.data, ctx->meta_tail.len);
}

static void
env_put_metadata(struct cdc_buf *b, const struct env_ctx *ctx, const struct cdc_change *ch)
{
    env_put_position(b, ch);
    ENV_LIT(b, ",\"sequence\":");
    cdc_buf_put_u64(b, ch->seq);
    if (ch->after != NULL && ch->rel != NULL)
        env_put_unchanged(b, ch->rel, ch->after);
    if (ch->n_zero_dates > 0 && ch->rel != NULL)
        env_put_zero_dates(b, ch);
    if (ch->op == CDC_OP_DDL && ch->ddl != NULL) {
        ENV_LIT(b, ",\"ddl\":");
        json_put_str(b, ch->ddl, strlen(ch->ddl));
    }
    env_put_enrichment(b, ctx, ch);
    cdc_buf_putc(b, '}');
}

static cdc_rc
env_check(const struct cdc_change *ch, struct cdc_err *err)
{
    const struct cdc_tuple *t[2] = {ch->before, ch->after};

    if ((unsigned) ch->op > CDC_OP_DDL)
        return cdc_err_set(err, CDC_ERR_PROTO, "unknown change operation %d", (int) ch->op);
    if (ch->rel == NULL && (ch->before != NULL || ch->after != NULL || ch->op != CDC_OP_DDL))
        return cdc_err_set(err, CDC_ERR_PROTO, "change without a relation");
    for (int i = 0; i < 2; i++)
        if (t[i] != NULL && t[i]->nvals != ch->rel->ncols)
            return cdc_err_set(err, CDC_ERR_PROTO,
                               "tuple of %u values for relation \"%s.%s\" of %u columns",
                               t[i]->nvals, ch->rel->schema, ch->rel->table, ch->rel->ncols);
    return CDC_OK;
}

/* "schema":...,"table":... (null for a DDL event without a relation) */
static void
env_put_names(struct cdc_buf *b, const struct cdc_relation *rel)
{
    ENV_LIT(b, ",\"schema\":");
    if (rel == NULL) {
        ENV_LIT(b, "null,\"table\":null");
        return;
    }
    json_put_str(b, rel->schema, strlen(rel->schema));
    ENV_LIT(b, ",\"table\":");
    json_put_str(b, rel->table, strlen(rel->table));
}

/* ---- the Debezium envelope ---- */

/* Debezium's value for a column whose value the source did not send
 * (unavailable.value.placeholder). */
#define ENV_DBZ_UNAVAILABLE "\"__debezium_unavailable_value\""

/* A row image for Debezium: as env_put_tuple(), but an unchanged TOAST value is the placeholder. */
static void
env_dbz_tuple(struct cdc_buf *b, const struct cdc_relation *rel, const struct cdc_tuple *t)
{
    bool first = true;

    if (t == NULL) {
        ENV_LIT(b, "null");
        return;
    }
    cdc_buf_putc(b, '{');
    for (uint32_t i = 0; i < t->nvals; i++) {
        const struct cdc_value *v = &t->vals[i];
        const struct cdc_column *c = &rel->cols[i];

        if (v->state == CDC_VAL_ABSENT || c->omit)
            continue;
        if (!first)
            cdc_buf_putc(b, ',');
        first = false;
        json_put_key(b, c->name);
        if (v->state == CDC_VAL_NULL)
            ENV_LIT(b, "null");
        else if (v->state == CDC_VAL_UNCHANGED)
            ENV_LIT(b, ENV_DBZ_UNAVAILABLE);
        else if (c->redact != NULL) /* masked, hashed or truncated: never the raw value */
            redact_put_value(b, c, v);
        else
            (void) json_put_value(b, c->fmt, c->elem_fmt, v->data, v->len);
    }
    cdc_buf_putc(b, '}');
}

/* ts_ms, ts_us and ts_ns of a time in microseconds (ts_ns null if it does not fit 64 bits). */
static void
env_dbz_times(struct cdc_buf *b, int64_t us)
{
    int64_t ns;

    ENV_LIT(b, "\"ts_ms\":");
    cdc_buf_put_i64(b, env_floor_div(us, 1000));
    ENV_LIT(b, ",\"ts_us\":");
    cdc_buf_put_i64(b, us);
    ENV_LIT(b, ",\"ts_ns\":");
    if (__builtin_mul_overflow(us, 1000, &ns))
        ENV_LIT(b, "null");
    else
        cdc_buf_put_i64(b, ns);
}

/* The PostgreSQL half of source{}: db, sequence, schema, table, txId, lsn, xmin. */
static void
env_dbz_source_pg(struct cdc_buf *b, const struct env_ctx *ctx, const struct cdc_change *ch)
{
    ENV_LIT(b, ",\"db\":");
    cdc_buf_append(b, ctx->dbz_db.data, ctx->dbz_db.len);
    /* Debezium: ["last committed LSN","current LSN"]; here the event's own commit LSN, which
       orders transactions the same way */
    ENV_LIT(b, ",\"sequence\":\"[\\\"");
    cdc_buf_put_u64(b, ch->commit_lsn);
    ENV_LIT(b, "\\\",\\\"");
    cdc_buf_put_u64(b, ch->lsn);
    ENV_LIT(b, "\\\"]\",\"schema\":");
    if (ch->rel != NULL)
        env_put_cstr(b, ch->rel->schema);
    else
        ENV_LIT(b, "null");
    ENV_LIT(b, ",\"table\":");
    if (ch->rel != NULL)
        env_put_cstr(b, ch->rel->table);
    else
        ENV_LIT(b, "null");
    ENV_LIT(b, ",\"txId\":");
    cdc_buf_put_u64(b, ch->xid);
    ENV_LIT(b, ",\"lsn\":");
    cdc_buf_put_u64(b, ch->lsn);
    ENV_LIT(b, ",\"xmin\":null}");
}

/* The MySQL/MariaDB half: db, sequence, table, server_id, gtid, file, pos, row, thread, query. */
static void
env_dbz_source_binlog(struct cdc_buf *b, const struct env_ctx *ctx, const struct cdc_change *ch)
{
    const struct cdc_binlog_origin *o = ch->binlog;

    ENV_LIT(b, ",\"db\":");
    if (ch->rel != NULL)
        env_put_cstr(b, ch->rel->schema);
    else
        cdc_buf_append(b, ctx->dbz_db.data, ctx->dbz_db.len);
    ENV_LIT(b, ",\"sequence\":null,\"table\":");
    if (ch->rel != NULL)
        env_put_cstr(b, ch->rel->table);
    else
        ENV_LIT(b, "null");
    ENV_LIT(b, ",\"server_id\":");
    cdc_buf_put_u64(b, o ? o->server_id : 0);
    ENV_LIT(b, ",\"gtid\":");
    if (o != NULL && o->gtid != NULL)
        env_put_cstr(b, o->gtid);
    else
        ENV_LIT(b, "null");
    ENV_LIT(b, ",\"file\":");
    env_put_cstr(b, o && o->file ? o->file : "");
    ENV_LIT(b, ",\"pos\":");
    cdc_buf_put_u64(b, o ? o->pos : 0);
    /* Debezium: the row within its binlog event; here the event's index in its transaction,
       which with pos (the transaction's start) orders events the same way */
    ENV_LIT(b, ",\"row\":");
    cdc_buf_put_u64(b, ch->seq);
    ENV_LIT(b, ",\"thread\":null,\"query\":null}");
}

static void
env_dbz_source(struct cdc_buf *b, const struct env_ctx *ctx, const struct cdc_change *ch)
{
    cdc_buf_append(b, ctx->dbz_source.data, ctx->dbz_source.len);
    cdc_buf_putc(b, ',');
    env_dbz_times(b, ch->commit_time_us);
    ENV_LIT(b, ",\"snapshot\":\"false\"");
    if (ctx->binlog || ch->binlog != NULL)
        env_dbz_source_binlog(b, ctx, ch);
    else
        env_dbz_source_pg(b, ctx, ch);
}

/* Our additions, which Debezium consumers ignore: event id, position order, enrichment. */
static void
env_dbz_metadata(struct cdc_buf *b, const struct env_ctx *ctx, const struct cdc_change *ch,
                 const char *id)
{
    ENV_LIT(b, ",\"metadata\":{\"event_id\":");
    env_put_cstr(b, id);
    ENV_LIT(b, ",\"sequence\":");
    cdc_buf_put_u64(b, ch->seq);
    env_put_enrichment(b, ctx, ch);
    cdc_buf_putc(b, '}');
}

/* A DDL event: Debezium's schema change event, with the relation's database and schema. */
static void
env_dbz_ddl(struct cdc_buf *b, const struct env_ctx *ctx, const struct cdc_change *ch)
{
    cdc_buf_putc(b, '{');
    env_dbz_source(b, ctx, ch);
    cdc_buf_putc(b, ',');
    ENV_LIT(b, "\"ts_ms\":");
    cdc_buf_put_i64(b, env_floor_div(ch->commit_time_us, 1000));
    ENV_LIT(b, ",\"databaseName\":");
    if (ctx->binlog && ch->rel != NULL)
        env_put_cstr(b, ch->rel->schema);
    else
        cdc_buf_append(b, ctx->dbz_db.data, ctx->dbz_db.len);
    ENV_LIT(b, ",\"schemaName\":");
    if (!ctx->binlog && ch->rel != NULL)
        env_put_cstr(b, ch->rel->schema);
    else
        ENV_LIT(b, "null");
    ENV_LIT(b, ",\"ddl\":");
    if (ch->ddl != NULL)
        env_put_cstr(b, ch->ddl);
    else
        ENV_LIT(b, "null");
    ENV_LIT(b, ",\"tableChanges\":[]");
}

static void
env_encode_debezium(const struct env_ctx *ctx, const struct cdc_change *ch, struct cdc_buf *out,
                    const char *id)
{
    static const char ops[] = {[CDC_OP_INSERT] = 'c',
                               [CDC_OP_UPDATE] = 'u',
                               [CDC_OP_DELETE] = 'd',
                               [CDC_OP_TRUNCATE] = 't'};

    if (ch->op == CDC_OP_DDL) {
        env_dbz_ddl(out, ctx, ch);
    } else {
        cdc_buf_putc(out, '{');
        if (ch->op != CDC_OP_TRUNCATE) {
            ENV_LIT(out, "\"before\":");
            env_dbz_tuple(out, ch->rel, ch->before);
            ENV_LIT(out, ",\"after\":");
            env_dbz_tuple(out, ch->rel, ch->after);
            cdc_buf_putc(out, ',');
        }
        env_dbz_source(out, ctx, ch);
        ENV_LIT(out, ",\"op\":\"");
        cdc_buf_putc(out, ops[ch->op]);
        ENV_LIT(out, "\",\"ts_ms\":");
        cdc_buf_put_i64(out, env_floor_div(ch->commit_time_us, 1000));
        ENV_LIT(out, ",\"transaction\":null");
    }
    env_dbz_metadata(out, ctx, ch, id);
    cdc_buf_putc(out, '}');
}

/* ---- entry point ---- */

cdc_rc
env_encode(const struct env_ctx *ctx, const struct cdc_change *ch, struct cdc_buf *out,
           struct cdc_err *err)
{
    char id[ENV_EVENT_ID_MAX];
    cdc_rc rc;

    if ((rc = env_check(ch, err)) != CDC_OK)
        return rc;
    env_event_id(ctx, ch, id, sizeof(id));
    if (ctx->format == ENV_FORMAT_DEBEZIUM) {
        env_encode_debezium(ctx, ch, out, id);
        goto done;
    }
    ENV_LIT(out, "{\"event_id\":");
    json_put_str(out, id, strlen(id));
    ENV_LIT(out, ",\"event_type\":");
    cdc_buf_puts(out, env_types[ch->op]);
    ENV_LIT(out, ",\"source\":");
    json_put_str(out, ctx->source, ctx->source_len);
    ENV_LIT(out, ",\"timestamp\":\"");
    env_put_time(out, ch->commit_time_us);
    cdc_buf_putc(out, '"');
    env_put_names(out, ch->rel);
    ENV_LIT(out, ",\"operation\":");
    cdc_buf_puts(out, env_ops[ch->op]);
    if (ch->before != NULL) {
        ENV_LIT(out, ",\"before\":");
        env_put_tuple(out, ch->rel, ch->before);
    }
    if (ch->after != NULL) {
        ENV_LIT(out, ",\"after\":");
        env_put_tuple(out, ch->rel, ch->after);
    }
    env_put_metadata(out, ctx, ch);
    cdc_buf_putc(out, '}');
done:
    if (!cdc_buf_ok(out))
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory encoding an event");
    return CDC_OK;
}
