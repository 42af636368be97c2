/*
 * log.c - structured logging to stderr; see log.h.
 */
#include "core/log.h"
#include "core/buf.h"

#include <pthread.h>
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

static const char *const level_names[] = {"error", "warn", "info", "debug"};

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

void
cdc_log_write(enum cdc_log_level level, const char *mod, const char *fmt, ...)
{
    char msg[2048], ts[96], source[128], slot[128], pos[64];
    struct cdc_buf b = CDC_BUF_INIT;
    struct timeval tv;
    struct tm tm;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
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
        cdc_buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"mod\":", ts, level_names[level]);
    else
        cdc_buf_printf(&b, "ts=%s level=%s mod=", ts, level_names[level]);
    if (log_format == CDC_LOG_JSON)
        put_json_str(&b, mod);
    else
        put_text_val(&b, mod);
    if (source[0])
        put_field(&b, "source", source);
    if (slot[0])
        put_field(&b, "slot", slot);
    if (pos[0])
        put_field(&b, "pos", pos);
    put_field(&b, "msg", msg);
    if (log_format == CDC_LOG_JSON)
        cdc_buf_putc(&b, '}');
    cdc_buf_putc(&b, '\n');
    if (cdc_buf_ok(&b)) {
        ssize_t r = write(STDERR_FILENO, b.data, b.len);
        (void) r;
    }
    cdc_buf_free(&b);
}
