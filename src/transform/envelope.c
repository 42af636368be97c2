/*
 * envelope.c - a change -> CDCEvent JSON, and event ids; see envelope.h.
 *
 * Output is compact JSON (no spaces), fields in a fixed order, so the same
 * change always gives the same bytes: golden tests compare them exactly and a
 * replay publishes identical payloads. Fixed keys are written as literal
 * fragments; only column names and values go through the escaping encoder.
 * Nothing here does I/O or knows where events go.
 */
#include "transform/envelope.h"

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

static void
env_put_metadata(struct cdc_buf *b, const struct cdc_change *ch)
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

cdc_rc
env_encode(const struct env_ctx *ctx, const struct cdc_change *ch, struct cdc_buf *out,
           struct cdc_err *err)
{
    char id[ENV_EVENT_ID_MAX];
    cdc_rc rc;

    if ((rc = env_check(ch, err)) != CDC_OK)
        return rc;
    env_event_id(ctx, ch, id, sizeof(id));
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
    env_put_metadata(out, ch);
    cdc_buf_putc(out, '}');
    if (!cdc_buf_ok(out))
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory encoding an event");
    return CDC_OK;
}
