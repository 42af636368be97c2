/*
 * ckpt_redis.c - the Redis checkpoint backend (hiredis, the pre-1.0 API).
 *
 * URL: redis://[user:password@]host[:port][/db][?key=NAME&wait=N&timeout=MS]
 * (port 6379, db 0, key "cdc-handler:checkpoint", wait 0, timeout 2000 ms by
 * default; user, password and key may be percent-encoded). The password is
 * sent with AUTH (AUTH user password for a Redis 6 ACL user), never shown:
 * the description and every error message name host:port only.
 *
 * A read is GET key. A write is a compare-and-set done by a Lua script
 * (EVAL), so that two daemons sharing a key cannot both win: the new value
 * is stored only when the key is absent, or holds the value this store last
 * read or wrote, or one of its own writes whose reply was lost (a write sent
 * just before a connection broke may still be executed by the server later).
 * Anything else means another writer changed the key: CDC_ERR_FATAL, so the
 * loser stops. A key that vanished (Redis restarted without persistence) is
 * written again. Callers are expected to load before the first save.
 *
 * With wait=N > 0, each write is followed by WAIT N timeout; fewer replicas
 * acknowledging is CDC_ERR_RETRY (the value was stored on the primary).
 *
 * A broken connection is dropped and made again on the next call; every
 * failure to reach the server is CDC_ERR_RETRY. Refused credentials, a
 * missing permission or a bad db number are CDC_ERR_FATAL.
 */
#include "checkpoint/ckpt_store.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#define RDS_DEFAULT_KEY  "cdc-handler:checkpoint"
#define RDS_DEFAULT_PORT 6379
#define RDS_PENDING_MAX  8 /* unanswered writes we still accept as "ours" */

/* ARGV[1]: new value; ARGV[2..]: values we accept as current ("" = none) */
static const char rds_cas_script[] = "local cur = redis.call('GET', KEYS[1])\n"
                                     "local ok = (cur == false)\n"
                                     "for i = 2, #ARGV do\n"
                                     "  if ARGV[i] ~= '' and cur == ARGV[i] then ok = true end\n"
                                     "end\n"
                                     "if ok then redis.call('SET', KEYS[1], ARGV[1]) return 1 end\n"
                                     "return 0\n";

struct ckpt_redis {
    char host[256];
    int port;
    char user[128];
    char password[256];
    int db;
    char key[256];
    int wait;                       /* replicas to WAIT for, 0: none */
    int timeout_ms;                 /* connect, command and WAIT timeout */
    char where[300];                /* "host:port" for messages */
    redisContext *c;                /* NULL when disconnected */
    char *last;                     /* the value last read or written; NULL: the key was absent */
    char *pending[RDS_PENDING_MAX]; /* writes sent whose outcome is unknown */
    int npending;
    bool dropped; /* the last failure was an established connection closing */
};

/* ---- URL parsing ---- */

static bool
rds_parse_int(const char *p, size_t n, long min, long max, int *out)
{
    long v;

    if (!ckpt_url_long(p, n, min, max, &v))
        return false;
    *out = (int) v;
    return true;
}

static cdc_rc
rds_parse_query(struct ckpt_redis *r, const char *q, struct cdc_err *err)
{
    while (*q) {
        size_t n = strcspn(q, "&");
        const char *eq = memchr(q, '=', n);
        size_t klen = eq ? (size_t) (eq - q) : n;
        const char *v = eq ? eq + 1 : q + n;
        size_t vlen = (size_t) (q + n - v);
        bool ok;

        if (klen == 3 && strncmp(q, "key", 3) == 0)
            ok = ckpt_url_decode(v, vlen, r->key, sizeof(r->key)) && r->key[0] != '\0';
        else if (klen == 4 && strncmp(q, "wait", 4) == 0)
            ok = rds_parse_int(v, vlen, 0, 1000, &r->wait);
        else if (klen == 7 && strncmp(q, "timeout", 7) == 0)
            ok = rds_parse_int(v, vlen, 1, 3600000, &r->timeout_ms);
        else
            return cdc_err_set(err, CDC_ERR_CONFIG,
                               "redis checkpoint URL: unknown parameter \"%.*s\" (known: key, "
                               "wait, timeout)",
                               (int) klen, q);
        if (!ok)
            return cdc_err_set(err, CDC_ERR_CONFIG,
                               "redis checkpoint URL: invalid value for parameter \"%.*s\"",
                               (int) klen, q);
        q += n;
        if (*q == '&')
            q++;
    }
    return CDC_OK;
}

/* userinfo "user:password" or ":password" or "password"-less "user" */
static cdc_rc
rds_parse_userinfo(struct ckpt_redis *r, const char *p, size_t n, struct cdc_err *err)
{
    const char *colon = memchr(p, ':', n);
    size_t ulen = colon ? (size_t) (colon - p) : n;

    if (!ckpt_url_decode(p, ulen, r->user, sizeof(r->user)) ||
        (colon && !ckpt_url_decode(colon + 1, n - ulen - 1, r->password, sizeof(r->password))))
        return cdc_err_set(err, CDC_ERR_CONFIG,
                           "redis checkpoint URL: user name or password is malformed or too long");
    return CDC_OK;
}

static cdc_rc
rds_parse_hostport(struct ckpt_redis *r, const char *p, size_t n, struct cdc_err *err)
{
    const char *end = p + n, *h = p, *hend, *portp = NULL;

    if (n > 0 && p[0] == '[') { /* [IPv6 address] */
        h = p + 1;
        hend = memchr(h, ']', n - 1);
        if (hend == NULL || (hend + 1 < end && hend[1] != ':'))
            return cdc_err_set(err, CDC_ERR_CONFIG, "redis checkpoint URL: malformed [host]");
        if (hend + 1 < end)
            portp = hend + 2;
    } else {
        hend = memchr(p, ':', n);
        if (hend != NULL)
            portp = hend + 1;
        else
            hend = end;
    }
    if (hend == h || (size_t) (hend - h) >= sizeof(r->host))
        return cdc_err_set(err, CDC_ERR_CONFIG, "redis checkpoint URL: host is empty or too long");
    memcpy(r->host, h, (size_t) (hend - h));
    r->host[hend - h] = '\0';
    r->port = RDS_DEFAULT_PORT;
    if (portp != NULL && !rds_parse_int(portp, (size_t) (end - portp), 1, 65535, &r->port))
        return cdc_err_set(err, CDC_ERR_CONFIG, "redis checkpoint URL: invalid port");
    return CDC_OK;
}

static cdc_rc
rds_parse_url(struct ckpt_redis *r, const char *url, struct cdc_err *err)
{
    const char *p = url, *auth_end, *hp_end, *q;
    size_t authority;
    cdc_rc rc;

    snprintf(r->key, sizeof(r->key), "%s", RDS_DEFAULT_KEY);
    r->timeout_ms = 2000;
    authority = strcspn(p, "/?");
    /* the password may contain '@': the last '@' of the authority ends the userinfo */
    auth_end = NULL;
    for (const char *s = p; s < p + authority; s++)
        if (*s == '@')
            auth_end = s;
    if (auth_end) {
        rc = rds_parse_userinfo(r, p, (size_t) (auth_end - p), err);
        if (rc != CDC_OK)
            return rc;
        p = auth_end + 1;
        authority -= (size_t) (p - url);
    }
    hp_end = p + authority;
    rc = rds_parse_hostport(r, p, authority, err);
    if (rc != CDC_OK)
        return rc;
    p = hp_end;
    if (*p == '/') {
        size_t n = strcspn(p + 1, "?");

        if (n > 0 && !rds_parse_int(p + 1, n, 0, INT_MAX, &r->db))
            return cdc_err_set(err, CDC_ERR_CONFIG,
                               "redis checkpoint URL: database \"%.*s\" is not a number", (int) n,
                               p + 1);
        p += 1 + n;
    }
    q = *p == '?' ? p + 1 : p;
    return rds_parse_query(r, q, err);
}

/* ---- connection ---- */

static void
rds_disconnect(struct ckpt_redis *r)
{
    if (r->c != NULL) {
        redisFree(r->c);
        r->c = NULL;
    }
}

/* Copy a server message into out with any occurrence of the password masked. */
static void
rds_scrub(const struct ckpt_redis *r, const char *msg, char *out, size_t cap)
{
    size_t plen = strlen(r->password), o = 0;

    while (*msg && o + 1 < cap) {
        if (plen > 0 && strncmp(msg, r->password, plen) == 0) {
            o += (size_t) snprintf(out + o, cap - o, "********");
            if (o >= cap)
                o = cap - 1;
            msg += plen;
            continue;
        }
        out[o++] = *msg++;
    }
    out[o] = '\0';
}

/* A context-level failure (no reply): drop the connection, CDC_ERR_RETRY. */
static cdc_rc
rds_conn_failed(struct ckpt_redis *r, const char *what, struct cdc_err *err)
{
    char msg[256];
    bool timedout = r->c && r->c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);

    rds_scrub(r, r->c ? r->c->errstr : "out of memory", msg, sizeof(msg));
    r->dropped =
        r->c != NULL && !timedout && (r->c->err == REDIS_ERR_EOF || r->c->err == REDIS_ERR_IO);
    rds_disconnect(r);
    if (timedout)
        return cdc_err_set(err, CDC_ERR_RETRY,
                           "redis checkpoint store %s: %s: no answer within %d ms", r->where, what,
                           r->timeout_ms);
    return cdc_err_set(err, CDC_ERR_RETRY, "redis checkpoint store %s: %s: %s", r->where, what,
                       msg[0] ? msg : "connection lost");
}

/* A permanent refusal by the server, or a transient error reply? */
static bool
rds_error_is_fatal(const char *msg)
{
    static const char *const fatal[] = {
        "WRONGPASS", "NOAUTH",       "NOPERM",         "ERR invalid password",
        "ERR AUTH",  "ERR DB index", "ERR invalid DB", "ERR Client sent AUTH",
        "MOVED",     "ASK"};

    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
        if (strncmp(msg, fatal[i], strlen(fatal[i])) == 0)
            return true;
    return false;
}

/* An error reply: frees it, drops the connection, sets err. */
static cdc_rc
rds_reply_failed(struct ckpt_redis *r, redisReply *reply, const char *what, struct cdc_err *err)
{
    char msg[256];
    cdc_rc code;

    rds_scrub(r, reply->str ? reply->str : "", msg, sizeof(msg));
    code = rds_error_is_fatal(msg) ? CDC_ERR_FATAL : CDC_ERR_RETRY;
    freeReplyObject(reply);
    rds_disconnect(r);
    return cdc_err_set(err, code, "redis checkpoint store %s: %s failed: %s", r->where, what, msg);
}

/* Run a command with argv; on CDC_OK *out is a non-error reply the caller frees. */
static cdc_rc
rds_command(struct ckpt_redis *r, int argc, const char **argv, const size_t *lens, const char *what,
            redisReply **out, struct cdc_err *err)
{
    redisReply *reply = redisCommandArgv(r->c, argc, argv, lens);

    if (reply == NULL)
        return rds_conn_failed(r, what, err);
    if (reply->type == REDIS_REPLY_ERROR)
        return rds_reply_failed(r, reply, what, err);
    *out = reply;
    return CDC_OK;
}

static struct timeval
rds_tv(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    return tv;
}

static cdc_rc
rds_auth_select(struct ckpt_redis *r, struct cdc_err *err)
{
    redisReply *reply = NULL;
    const char *argv[3];
    char dbtext[16];
    cdc_rc rc;

    if (r->password[0] != '\0') {
        int argc = 0;

        argv[argc++] = "AUTH";
        if (r->user[0] != '\0')
            argv[argc++] = r->user;
        argv[argc++] = r->password;
        reply = redisCommandArgv(r->c, argc, argv, NULL);
        if (reply == NULL)
            return rds_conn_failed(r, "AUTH", err);
        if (reply->type == REDIS_REPLY_ERROR && rds_error_is_fatal(reply->str)) {
            char msg[256];

            rds_scrub(r, reply->str, msg, sizeof(msg));
            freeReplyObject(reply);
            rds_disconnect(r);
            return cdc_err_set(err, CDC_ERR_FATAL,
                               "redis checkpoint store %s: authentication as \"%s\" refused: %s "
                               "(check the password in cdc.checkpoint_storage)",
                               r->where, r->user[0] ? r->user : "default", msg);
        }
        if (reply->type == REDIS_REPLY_ERROR)
            return rds_reply_failed(r, reply, "AUTH", err);
        freeReplyObject(reply);
    }
    if (r->db != 0) {
        snprintf(dbtext, sizeof(dbtext), "%d", r->db);
        argv[0] = "SELECT";
        argv[1] = dbtext;
        rc = rds_command(r, 2, argv, NULL, "SELECT", &reply, err);
        if (rc != CDC_OK)
            return rc;
        freeReplyObject(reply);
    }
    return CDC_OK;
}

static cdc_rc
rds_connect(struct ckpt_redis *r, struct cdc_err *err)
{
    if (r->c != NULL)
        return CDC_OK;
    r->c = redisConnectWithTimeout(r->host, r->port, rds_tv(r->timeout_ms));
    if (r->c == NULL || r->c->err)
        return rds_conn_failed(r, "could not connect", err);
    if (redisSetTimeout(r->c, rds_tv(r->timeout_ms)) != REDIS_OK)
        return rds_conn_failed(r, "could not set the timeout", err);
    return rds_auth_select(r, err);
}

/* ---- the ops ---- */

static void
rds_clear_pending(struct ckpt_redis *r)
{
    for (int i = 0; i < r->npending; i++)
        free(r->pending[i]);
    r->npending = 0;
}

static void
rds_add_pending(struct ckpt_redis *r, char *value)
{
    if (r->npending == RDS_PENDING_MAX) {
        free(r->pending[0]);
        memmove(r->pending, r->pending + 1, sizeof(r->pending[0]) * (RDS_PENDING_MAX - 1));
        r->npending--;
    }
    r->pending[r->npending++] = value;
}

static cdc_rc
rds_read_once(struct ckpt_redis *r, char *buf, size_t cap, size_t *len, struct cdc_err *err)
{
    const char *argv[2] = {"GET", r->key};
    redisReply *reply = NULL;
    char *copy = NULL;
    cdc_rc rc;

    *len = 0;
    rc = rds_connect(r, err);
    if (rc == CDC_OK)
        rc = rds_command(r, 2, argv, NULL, "GET", &reply, err);
    if (rc != CDC_OK)
        return rc;
    if (reply->type == REDIS_REPLY_NIL) {
        freeReplyObject(reply);
        free(r->last);
        r->last = NULL;
        rds_clear_pending(r);
        return CDC_OK;
    }
    if (reply->type != REDIS_REPLY_STRING || reply->len >= cap ||
        (copy = strdup(reply->str)) == NULL) {
        rc = cdc_err_set(err, CDC_ERR_FATAL,
                         "redis checkpoint store %s: key \"%s\" does not hold a checkpoint "
                         "(type %d, %zu bytes)",
                         r->where, r->key, reply->type, reply->len);
        freeReplyObject(reply);
        return rc;
    }
    memcpy(buf, reply->str, reply->len);
    buf[reply->len] = '\0';
    /* an empty value is a corrupt record, not a missing one */
    *len = reply->len == 0 ? 1 : reply->len;
    freeReplyObject(reply);
    free(r->last);
    r->last = copy;
    rds_clear_pending(r);
    return CDC_OK;
}

static cdc_rc
rds_wait_replicas(struct ckpt_redis *r, struct cdc_err *err)
{
    char nrep[16], ms[16];
    const char *argv[3] = {"WAIT", nrep, ms};
    redisReply *reply = NULL;
    long long got;
    cdc_rc rc;

    snprintf(nrep, sizeof(nrep), "%d", r->wait);
    snprintf(ms, sizeof(ms), "%d", r->timeout_ms);
    /* the socket must outlast the server-side WAIT */
    if (redisSetTimeout(r->c, rds_tv(r->timeout_ms + 1000)) != REDIS_OK)
        return rds_conn_failed(r, "could not set the timeout", err);
    rc = rds_command(r, 3, argv, NULL, "WAIT", &reply, err);
    if (rc != CDC_OK)
        return rc;
    got = reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
    freeReplyObject(reply);
    if (redisSetTimeout(r->c, rds_tv(r->timeout_ms)) != REDIS_OK)
        return rds_conn_failed(r, "could not set the timeout", err);
    if (got < r->wait)
        return cdc_err_set(err, CDC_ERR_RETRY,
                           "redis checkpoint store %s: only %lld of %d replicas acknowledged the "
                           "checkpoint within %d ms",
                           r->where, got < 0 ? 0 : got, r->wait, r->timeout_ms);
    return CDC_OK;
}

static cdc_rc
rds_write_once(struct ckpt_redis *r, const char *text, size_t len, struct cdc_err *err)
{
    const char *argv[5 + 1 + RDS_PENDING_MAX];
    size_t lens[5 + 1 + RDS_PENDING_MAX];
    redisReply *reply = NULL;
    char *value;
    long long set;
    int argc = 0;
    cdc_rc rc;

    rc = rds_connect(r, err);
    if (rc != CDC_OK)
        return rc;
    value = strndup(text, len);
    if (value == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    argv[argc++] = "EVAL";
    argv[argc++] = rds_cas_script;
    argv[argc++] = "1";
    argv[argc++] = r->key;
    argv[argc++] = value;
    argv[argc++] = r->last ? r->last : "";
    for (int i = 0; i < r->npending; i++)
        argv[argc++] = r->pending[i];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    reply = redisCommandArgv(r->c, argc, argv, lens);
    if (reply == NULL) {
        /* sent or not, the server may still execute it: accept it as ours later */
        rds_add_pending(r, value);
        return rds_conn_failed(r, "could not write the checkpoint", err);
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        free(value);
        return rds_reply_failed(r, reply, "EVAL (compare-and-set)", err);
    }
    set = reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
    freeReplyObject(reply);
    if (set != 1) {
        free(value);
        return cdc_err_set(err, CDC_ERR_FATAL,
                           "redis checkpoint store %s: checkpoint key \"%s\" was changed by "
                           "another writer (is a second cdc-handler using the same key?)",
                           r->where, r->key);
    }
    free(r->last);
    r->last = value;
    rds_clear_pending(r);
    return r->wait > 0 ? rds_wait_replicas(r, err) : CDC_OK;
}

/*
 * An idle connection the server closed (its timeout, a restart) shows up only
 * when it is next used: then one fresh connection is tried at once.
 */
static bool
rds_try_again(struct ckpt_redis *r, bool reused, cdc_rc rc)
{
    return rc == CDC_ERR_RETRY && reused && r->c == NULL && r->dropped;
}

static cdc_rc
rds_read(struct ckpt_store *s, char *buf, size_t cap, size_t *len, struct cdc_err *err)
{
    struct ckpt_redis *r = s->impl;
    bool reused = r->c != NULL;
    cdc_rc rc;

    r->dropped = false;
    rc = rds_read_once(r, buf, cap, len, err);
    if (rds_try_again(r, reused, rc))
        rc = rds_read_once(r, buf, cap, len, err);
    return rc;
}

static cdc_rc
rds_write(struct ckpt_store *s, const char *text, size_t len, struct cdc_err *err)
{
    struct ckpt_redis *r = s->impl;
    bool reused = r->c != NULL;
    cdc_rc rc;

    r->dropped = false;
    rc = rds_write_once(r, text, len, err);
    if (rds_try_again(r, reused, rc))
        rc = rds_write_once(r, text, len, err);
    return rc;
}

static void
rds_close(struct ckpt_store *s)
{
    struct ckpt_redis *r = s->impl;

    rds_disconnect(r);
    rds_clear_pending(r);
    free(r->last);
    /* do not leave the password in freed memory */
    memset(r->password, 0, sizeof(r->password));
    free(r);
}

static const struct ckpt_ops redis_ops = {rds_read, rds_write, rds_close};

cdc_rc
ckpt_redis_open(struct ckpt_store *s, const char *url, struct cdc_err *err)
{
    struct ckpt_redis *r;
    cdc_rc rc;

    if (strncmp(url, "redis://", 8) != 0)
        return cdc_err_set(err, CDC_ERR_CONFIG, "not a redis:// URL");
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    rc = rds_parse_url(r, url + 8, err);
    if (rc != CDC_OK) {
        memset(r->password, 0, sizeof(r->password));
        free(r);
        return rc;
    }
    if (strchr(r->host, ':') != NULL)
        snprintf(r->where, sizeof(r->where), "[%s]:%d", r->host, r->port);
    else
        snprintf(r->where, sizeof(r->where), "%s:%d", r->host, r->port);
    s->ops = &redis_ops;
    s->impl = r;
    snprintf(s->desc, sizeof(s->desc), "redis://%.100s%s%.280s/%d key=%.100s", r->user,
             r->user[0] ? "@" : "", r->where, r->db, r->key);
    return CDC_OK;
}
