/*
 * ckpt_record.c - the checkpoint record's JSON form and its SHA-256 digest.
 *
 * Written as one flat JSON object whose last member is "sha256": the hex
 * digest of every byte before `,"sha256"`. Only this exact form is parsed
 * back: the reader looks up each member by key in a flat object and verifies
 * the digest first, so a corrupt or hand-edited record is detected.
 */
#include "checkpoint/ckpt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define DIGEST_KEY ",\"sha256\":\""

static void
sha256_hex(const char *data, size_t len, char hex[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;

    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* The names we store are identifiers; refuse anything needing JSON escapes. */
static bool
is_plain(const char *s)
{
    for (; *s; s++)
        if (*s == '"' || *s == '\\' || (unsigned char) *s < 0x20)
            return false;
    return true;
}

cdc_rc
ckpt_encode(const struct ckpt_record *rec, char *out, size_t outlen, struct cdc_err *err)
{
    char hex[65];
    int n, m;

    if (!is_plain(rec->source) || !is_plain(rec->slot) || !is_plain(rec->stream) ||
        !is_plain(rec->engine) || !is_plain(rec->system_id) || !is_plain(rec->binlog_file) ||
        !is_plain(rec->gtid_set))
        return cdc_err_set(err, CDC_ERR_CONFIG,
                           "checkpoint names must not contain quotes, backslashes or control "
                           "characters");
    n = snprintf(out, outlen,
                 "{\"version\":%d,\"source\":\"%s\",\"engine\":\"%s\",\"lsn\":\"" CDC_LSN_FMT
                 "\",\"slot\":\"%s\",\"system_id\":\"%s\",\"timeline\":%" PRIu32
                 ",\"stream\":\"%s\",\"stream_seq\":%" PRIu64 ",\"time_us\":%" PRId64,
                 CKPT_VERSION, rec->source, rec->engine, CDC_LSN_ARGS(rec->lsn), rec->slot,
                 rec->system_id, rec->timeline, rec->stream, rec->stream_seq, rec->time_us);
    if (n >= 0 && (size_t) n < outlen && rec->binlog_file[0] != '\0')
        n += snprintf(out + n, outlen - (size_t) n,
                      ",\"binlog_file\":\"%s\",\"binlog_pos\":%" PRIu64 ",\"gtid_set\":\"%s\"",
                      rec->binlog_file, rec->binlog_pos, rec->gtid_set);
    if (n < 0 || (size_t) n + sizeof(DIGEST_KEY) + 64 + 4 > outlen)
        return cdc_err_set(err, CDC_ERR_CONFIG, "checkpoint record too long");
    sha256_hex(out, (size_t) n, hex);
    m = snprintf(out + n, outlen - (size_t) n, "%s%s\"}\n", DIGEST_KEY, hex);
    if (m < 0)
        return cdc_err_set(err, CDC_ERR_IO, "could not format checkpoint record");
    return CDC_OK;
}

/* Find "key": in the flat object and return a pointer to its value. */
static const char *
member(const char *text, const char *key)
{
    char pat[64];
    const char *p;

    snprintf(pat, sizeof(pat), "\"%s\":", key);
    p = strstr(text, pat);
    return p ? p + strlen(pat) : NULL;
}

static bool
get_str(const char *text, const char *key, char *out, size_t outlen)
{
    const char *p = member(text, key), *q;

    if (p == NULL || *p != '"')
        return false;
    q = strchr(p + 1, '"');
    if (q == NULL || (size_t) (q - p - 1) >= outlen)
        return false;
    memcpy(out, p + 1, (size_t) (q - p - 1));
    out[q - p - 1] = '\0';
    return true;
}

static bool
get_num(const char *text, const char *key, int64_t *out)
{
    const char *p = member(text, key);
    char *end;

    if (p == NULL)
        return false;
    *out = strtoll(p, &end, 10);
    return end != p && (*end == ',' || *end == '}');
}

cdc_rc
ckpt_decode(const char *text, size_t len, struct ckpt_record *rec, struct cdc_err *err)
{
    char buf[CKPT_MAX_LEN], hex[65], want[65], lsn[CDC_LSN_STRLEN + 1];
    const char *d;
    int64_t version, timeline, seq, t;

    if (len == 0 || len >= sizeof(buf))
        return cdc_err_set(err, CDC_ERR_FATAL, "checkpoint record has an invalid length (%zu)",
                           len);
    memcpy(buf, text, len);
    buf[len] = '\0';
    d = strstr(buf, DIGEST_KEY);
    if (d == NULL || strlen(d) < sizeof(DIGEST_KEY) - 1 + 64 ||
        strncmp(d + sizeof(DIGEST_KEY) - 1 + 64, "\"}", 2) != 0)
        return cdc_err_set(err, CDC_ERR_FATAL, "checkpoint record has no sha256 digest");
    memcpy(want, d + sizeof(DIGEST_KEY) - 1, 64);
    want[64] = '\0';
    sha256_hex(buf, (size_t) (d - buf), hex);
    if (strcmp(hex, want) != 0)
        return cdc_err_set(err, CDC_ERR_FATAL,
                           "checkpoint record is corrupt: sha256 %s does not match its content "
                           "(%s)",
                           want, hex);
    memset(rec, 0, sizeof(*rec));
    if (!get_num(buf, "version", &version) || version != CKPT_VERSION)
        return cdc_err_set(err, CDC_ERR_FATAL, "checkpoint record has an unsupported version");
    if (!get_str(buf, "source", rec->source, sizeof(rec->source)) ||
        !get_str(buf, "engine", rec->engine, sizeof(rec->engine)) ||
        !get_str(buf, "lsn", lsn, sizeof(lsn)) || !cdc_lsn_parse(lsn, &rec->lsn) ||
        !get_str(buf, "slot", rec->slot, sizeof(rec->slot)) ||
        !get_str(buf, "system_id", rec->system_id, sizeof(rec->system_id)) ||
        !get_num(buf, "timeline", &timeline) ||
        !get_str(buf, "stream", rec->stream, sizeof(rec->stream)) ||
        !get_num(buf, "stream_seq", &seq) || !get_num(buf, "time_us", &t))
        return cdc_err_set(err, CDC_ERR_FATAL, "checkpoint record is missing a member");
    if (member(buf, "binlog_file") != NULL) {
        int64_t pos;

        if (!get_str(buf, "binlog_file", rec->binlog_file, sizeof(rec->binlog_file)) ||
            !get_num(buf, "binlog_pos", &pos) || pos < 0 ||
            !get_str(buf, "gtid_set", rec->gtid_set, sizeof(rec->gtid_set)))
            return cdc_err_set(err, CDC_ERR_FATAL, "checkpoint record has a bad binlog position");
        rec->binlog_pos = (uint64_t) pos;
    }
    rec->version = (int) version;
    rec->timeline = (uint32_t) timeline;
    rec->stream_seq = (uint64_t) seq;
    rec->time_us = t;
    return CDC_OK;
}
