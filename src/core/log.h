/*
 * log.h - one line per record on stderr, JSON (default) or logfmt text.
 *
 * The macros test the level before evaluating their arguments (Redis
 * serverLog). Records carry the module name and, once set, the source context
 * (source name, slot) and the latest source position. Callers must never pass
 * secrets: config values marked secret are not to be formatted into messages.
 *
 * Thread-safe: a record is written with a single write(2).
 *
 * Rate limit: warn and error records are counted per (module, level, format
 * string). Of each kind, the first CDC_LOG_RL_BURST records within
 * CDC_LOG_RL_WINDOW_MS of the first are written and the rest dropped; the
 * first log call of any level after the window has ended writes one record
 * "N similar lines suppressed from module M ..." at the kind's level, and the
 * kind starts a new window. Info and debug records are never dropped. Without
 * a later log call the summary is not written (there is no timer).
 */
#ifndef CDC_CORE_LOG_H
#define CDC_CORE_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum cdc_log_level { CDC_LOG_ERROR = 0, CDC_LOG_WARN, CDC_LOG_INFO, CDC_LOG_DEBUG };
enum cdc_log_format { CDC_LOG_JSON = 0, CDC_LOG_TEXT };

extern enum cdc_log_level cdc_log_level_cur;

void cdc_log_setup(enum cdc_log_level level, enum cdc_log_format format);
/* Context added to every record; strings are copied. NULL clears a field. */
void cdc_log_set_context(const char *source, const char *slot);
/* The latest source position, as text ("16/B374D848"); copied. */
void cdc_log_set_position(const char *pos);

/* Rate limit defaults: 5 records of a kind per 10 s. */
#define CDC_LOG_RL_BURST     5
#define CDC_LOG_RL_WINDOW_MS 10000

/*
 * Set the warn/error rate limit: at most `burst` records of a kind per
 * window_ms (burst 0 turns the limit off). Forgets every kind counted so far,
 * without writing their summaries. Any thread.
 */
void cdc_log_set_ratelimit(unsigned burst, int64_t window_ms);
/* Write records to fd instead of stderr (STDERR_FILENO restores). Any thread. */
void cdc_log_set_fd(int fd);
/* The rate limiter's clock, monotonic milliseconds; NULL restores cdc_now_ms. For tests. */
void cdc_log_set_clock(int64_t (*now_ms)(void));

/* Parse "error", "warn"/"warning", "info", "debug". Returns false otherwise. */
bool cdc_log_level_parse(const char *s, enum cdc_log_level *out);
const char *cdc_log_level_name(enum cdc_log_level l);

void cdc_log_write(enum cdc_log_level level, const char *mod, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define cdc_log_at(lvl, mod, ...)                                                                  \
    do {                                                                                           \
        if ((lvl) <= cdc_log_level_cur)                                                            \
            cdc_log_write((lvl), (mod), __VA_ARGS__);                                              \
    } while (0)

#define log_error(mod, ...) cdc_log_at(CDC_LOG_ERROR, mod, __VA_ARGS__)
#define log_warn(mod, ...)  cdc_log_at(CDC_LOG_WARN, mod, __VA_ARGS__)
#define log_info(mod, ...)  cdc_log_at(CDC_LOG_INFO, mod, __VA_ARGS__)
#define log_debug(mod, ...) cdc_log_at(CDC_LOG_DEBUG, mod, __VA_ARGS__)

#endif
