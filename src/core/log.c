/*
 * log.c - structured logging to stderr; see log.h.
 *
 * The rate limiter is a small table of kinds (hash of module, level and
 * format string), each with the start of its window, the records written in
 * it and the records dropped. One mutex guards the table; the clock is read
 * under it, so windows are consistent across threads. Summaries are built
 * under the lock and written together with the record in one write(2).
 */
#include "core/log.h"
#include "core/buf.h"
#include "core/clock.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum cdc_log_level cdc_log_level_cur = CDC_LOG_INFO;
static enum cdc_log_format log_format = CDC_LOG_JSON;
static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static char ctx_source[128];
static char ctx_slot[128];
static char ctx_pos[64];

static _Atomic int log_fd = STDERR_FILENO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

/* Kinds tracked at once; when full, the kind whose window began first is evicted. */
#define RL_SLOTS 64

struct rl_kind {
    uint64_t key; /* hash of level, module, format; 0: free slot */
    char mod[32]; /* for the summary */
    char fmt[96]; /* for the summary, cut */
    enum cdc_log_level level;
    int64_t start_ms;    /* window start: the first record of this window */
    unsigned written;    /* records written in this window */
    uint64_t suppressed; /* records dropped in this window */
};

static pthread_mutex_t rl_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rl_kind rl_table[RL_SLOTS];
static unsigned rl_burst = CDC_LOG_RL_BURST;
static int64_t rl_window_ms = CDC_LOG_RL_WINDOW_MS;
static int64_t (*rl_clock)(void) = cdc_now_ms;
static int64_t rl_next_due = INT64_MAX; /* earliest window end with suppressed > 0 */

void
cdc_log_setup(enum cdc_log_level level, enum cdc_log_format format)
{
    cdc_log_level_cur = level;
    log_format = format;
}

static void
copy_field(char *dst, size_t n, const char *src)
{
    pthread_mutex_lock(&ctx_lock);
    snprintf(dst, n, "%s", src ? src : "");
    pthread_mutex_unlock(&ctx_lock);
}

void
cdc_log_set_context(const char *source, const char *slot)
{
    copy_field(ctx_source, sizeof(ctx_source), source);
    copy_field(ctx_slot, sizeof(ctx_slot), slot);
}

void
cdc_log_set_position(const char *pos)
{
    copy_field(ctx_pos, sizeof(ctx_pos), pos);
}

void
cdc_log_set_ratelimit(unsigned burst, int64_t window_ms)
{
    pthread_mutex_lock(&rl_lock);
    rl_burst = burst;
    rl_window_ms = window_ms > 0 ? window_ms : 1;
    memset(rl_table, 0, sizeof(rl_table));
    rl_next_due = INT64_MAX;
    pthread_mutex_unlock(&rl_lock);
}

void
cdc_log_set_fd(int fd)
{
    atomic_store(&log_fd, fd);
}

void
cdc_log_set_clock(int64_t (*now_ms)(void))
{
    pthread_mutex_lock(&rl_lock);
    rl_clock = now_ms != NULL ? now_ms : cdc_now_ms;
    pthread_mutex_unlock(&rl_lock);
}

bool
cdc_log_level_parse(const char *s, enum cdc_log_level *out)
{
    if (strcasecmp(s, "warning") == 0) {
        *out = CDC_LOG_WARN;
        return true;
    }
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum cdc_log_level) i;
            return true;
        }
    }
    return false;
}

const char *
cdc_log_level_name(enum cdc_log_level l)
{
    return level_names[l];
}

/* JSON string body escaping; enough for log text (control chars as \u00XX). */
static void
put_json_str(struct cdc_buf *b, const char *s)
{
    cdc_buf_putc(b, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char) *s;
        if (c == '"' || c == '\\') {
            cdc_buf_putc(b, '\\');
            cdc_buf_putc(b, (char) c);
        } else if (c == '\n') {
            cdc_buf_puts(b, "\\n");
        } else if (c < 0x20) {
            cdc_buf_printf(b, "\\u%04x", c);
        } else {
            cdc_buf_putc(b, (char) c);
        }
    }
    cdc_buf_putc(b, '"');
}

/* logfmt value: quoted when it holds spaces, quotes or '='. */
static void
put_text_val(struct cdc_buf *b, const char *s)
{
    if (*s != '\0' && strpbrk(s, " \"=\t\n") == NULL) {
        cdc_buf_puts(b, s);
        return;
    }
    put_json_str(b, s);
}

static void
put_field(struct cdc_buf *b, const char *key, const char *val)
{
    if (log_format == CDC_LOG_JSON) {
        cdc_buf_printf(b, ",\"%s\":", key);
        put_json_str(b, val);
    } else {
        cdc_buf_printf(b, " %s=", key);
        put_text_val(b, val);
    }
}

/* Append one record (one line) for msg to b. */
static void
put_record(struct cdc_buf *b, enum cdc_log_level level, const char *mod, const char *msg)
{
    char ts[96], source[128], slot[128], pos[64];
    struct timeval tv;
    struct tm tm;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long) tv.tv_usec);
    pthread_mutex_lock(&ctx_lock);
    memcpy(source, ctx_source, sizeof(source));
    memcpy(slot, ctx_slot, sizeof(slot));
    memcpy(pos, ctx_pos, sizeof(pos));
    pthread_mutex_unlock(&ctx_lock);

    if (log_format == CDC_LOG_JSON)
        cdc_buf_printf(b, "{\"ts\":\"%s\",\"level\":\"%s\",\"mod\":", ts, level_names[level]);
    else
        cdc_buf_printf(b, "ts=%s level=%s mod=", ts, level_names[level]);
    if (log_format == CDC_LOG_JSON)
        put_json_str(b, mod);
    else
        put_text_val(b, mod);
    if (source[0])
        put_field(b, "source", source);
    if (slot[0])
        put_field(b, "slot", slot);
    if (pos[0])
        put_field(b, "pos", pos);
    put_field(b, "msg", msg);
    if (log_format == CDC_LOG_JSON)
        cdc_buf_putc(b, '}');
    cdc_buf_putc(b, '\n');
}

/* FNV-1a over level, module and format string; never 0 (0 marks a free slot). */
static uint64_t
rl_hash(enum cdc_log_level level, const char *mod, const char *fmt)
{
    uint64_t h = 14695981039346656037ULL;

    h = (h ^ (uint64_t) level) * 1099511628211ULL;
    for (const char *p = mod; *p; p++)
        h = (h ^ (unsigned char) *p) * 1099511628211ULL;
    h = (h ^ 0xffu) * 1099511628211ULL; /* separator: ("ab","c") differs from ("a","bc") */
    for (const char *p = fmt; *p; p++)
        h = (h ^ (unsigned char) *p) * 1099511628211ULL;
    return h != 0 ? h : 1;
}

/* Append kind k's "N similar lines suppressed" record to b and end its window. rl_lock held. */
static void
rl_summarize(struct rl_kind *k, struct cdc_buf *b)
{
    char msg[256];

    if (k->suppressed > 0) {
        snprintf(msg, sizeof(msg),
                 "%" PRIu64 " similar lines suppressed from module %s (more than %u in %g s): %s",
                 k->suppressed, k->mod, rl_burst, (double) rl_window_ms / 1000.0, k->fmt);
        put_record(b, k->level, k->mod, msg);
    }
    k->written = 0;
    k->suppressed = 0;
}

/* Summarize every kind whose window has ended with records dropped. rl_lock held. */
static void
rl_flush_due(int64_t now, struct cdc_buf *b)
{
    if (now < rl_next_due)
        return;
    rl_next_due = INT64_MAX;
    for (int i = 0; i < RL_SLOTS; i++) {
        struct rl_kind *k = &rl_table[i];

        if (k->key == 0 || k->suppressed == 0)
            continue;
        if (now - k->start_ms >= rl_window_ms)
            rl_summarize(k, b);
        else if (k->start_ms + rl_window_ms < rl_next_due)
            rl_next_due = k->start_ms + rl_window_ms;
    }
}

/* Count one warn/error record; true when it is to be written. rl_lock held. */
static bool
rl_admit(enum cdc_log_level level, const char *mod, const char *fmt, int64_t now, struct cdc_buf *b)
{
    uint64_t key = rl_hash(level, mod, fmt);
    struct rl_kind *k = NULL, *victim = &rl_table[0];

    for (int i = 0; i < RL_SLOTS && k == NULL; i++) {
        if (rl_table[i].key == key)
            k = &rl_table[i];
        else if (rl_table[i].key == 0 ||
                 (victim->key != 0 && rl_table[i].start_ms < victim->start_ms))
            victim = &rl_table[i];
    }
    if (k == NULL) {
        k = victim;
        if (k->key != 0)
            rl_summarize(k, b);
        memset(k, 0, sizeof(*k));
        k->key = key;
        k->level = level;
        snprintf(k->mod, sizeof(k->mod), "%s", mod);
        snprintf(k->fmt, sizeof(k->fmt), "%s", fmt);
        k->start_ms = now;
    } else if (now - k->start_ms >= rl_window_ms) {
        rl_summarize(k, b); /* normally done by rl_flush_due already */
        k->start_ms = now;
    }
    if (k->written < rl_burst) {
        k->written++;
        return true;
    }
    k->suppressed++;
    if (k->start_ms + rl_window_ms < rl_next_due)
        rl_next_due = k->start_ms + rl_window_ms;
    return false;
}

void
cdc_log_write(enum cdc_log_level level, const char *mod, const char *fmt, ...)
{
    char msg[2048];
    struct cdc_buf b = CDC_BUF_INIT;
    bool write_it = true;
    va_list ap;

    pthread_mutex_lock(&rl_lock);
    if (rl_burst > 0) {
        int64_t now = rl_clock();

        rl_flush_due(now, &b);
        if (level <= CDC_LOG_WARN)
            write_it = rl_admit(level, mod, fmt, now, &b);
    }
    pthread_mutex_unlock(&rl_lock);

    if (write_it) {
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        put_record(&b, level, mod, msg);
    }
    if (b.len > 0 && cdc_buf_ok(&b)) {
        ssize_t r = write(atomic_load(&log_fd), b.data, b.len);
        (void) r;
    }
    cdc_buf_free(&b);
}
