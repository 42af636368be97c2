/*
 * json.c - the hot-path JSON encoder; see json.h.
 *
 * Values arrive in PostgreSQL's text output form (the replication session
 * runs with DateStyle=ISO, TimeZone=UTC, IntervalStyle=iso_8601,
 * bytea_output=hex, extra_float_digits=3). Each typed format is parsed
 * completely before anything is written, so a value that does not parse is
 * written once, as a string of its raw text, and never half-rendered. Arrays
 * are the exception: they render while parsing and roll the buffer back on
 * a syntax error.
 *
 * This file does no I/O and knows nothing of events, envelopes or subjects.
 */
#include "event/json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define JSON_MAX_DEPTH       1024 /* json_is_valid() nesting limit */
#define JSON_ARR_MAX_DEPTH   16   /* PostgreSQL allows 6 array dimensions */
#define JSON_ARR_STACK_BYTES 256  /* unescaped array elements up to this size stay on the stack */

static const char json_hex_lower[] = "0123456789abcdef";

/*
 * Byte classes for json_put_str: 0 copies as is, 1 needs an escape, 2 starts
 * (or should start) a multi-byte UTF-8 sequence.
 */
static const unsigned char json_cls[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x00 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x10 */
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20: '"' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x30 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x40 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* 0x50: '\\' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x60 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x70 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

static inline bool
json_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static inline bool
json_is_cont(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

/*
 * Length of the well-formed UTF-8 sequence at s (s[0] >= 0x80, n bytes
 * available), or 0 if there is none (Unicode Table 3-7: no overlongs, no
 * surrogates, nothing above U+10FFFF).
 */
static size_t
json_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    unsigned lo = 0x80, hi = 0xBF;

    if (c < 0xC2)
        return 0;
    if (c < 0xE0)
        return n >= 2 && json_is_cont(s[1]) ? 2 : 0;
    if (c < 0xF0) {
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
        return n >= 3 && s[1] >= lo && s[1] <= hi && json_is_cont(s[2]) ? 3 : 0;
    }
    if (c < 0xF5) {
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
        return n >= 4 && s[1] >= lo && s[1] <= hi && json_is_cont(s[2]) && json_is_cont(s[3]) ? 4
                                                                                              : 0;
    }
    return 0;
}

static void
json_put_escape(struct cdc_buf *b, unsigned char c)
{
    char e[6] = {'\\', 'u', '0', '0', json_hex_lower[c >> 4], json_hex_lower[c & 15]};

    switch (c) {
    case '"':
    case '\\':
        e[1] = (char) c;
        break;
    case '\n':
        e[1] = 'n';
        break;
    case '\t':
        e[1] = 't';
        break;
    case '\r':
        e[1] = 'r';
        break;
    case '\b':
        e[1] = 'b';
        break;
    case '\f':
        e[1] = 'f';
        break;
    default:
        cdc_buf_append(b, e, 6);
        return;
    }
    cdc_buf_append(b, e, 2);
}

/*
 * Do all 8 bytes at s copy as is (0x20..0x7F but '"' and '\\')? Word-at-a-time
 * tests ("Bit Twiddling Hacks": hasless/haszero), exact as booleans.
 */
static inline bool
json_word_is_plain(const unsigned char *s)
{
    const uint64_t ones = UINT64_C(0x0101010101010101), highs = ones * 0x80;
    uint64_t w, q, bs;

    memcpy(&w, s, 8);
    q = w ^ (ones * '"');
    bs = w ^ (ones * '\\');
    return ((((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((bs - ones) & ~bs) | w) & highs) == 0;
}

/* The body of a JSON string, without the quotes: runs of plain bytes go in one append. */
static void
json_put_str_body(struct cdc_buf *b, const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *) str;
    size_t i = 0, run = 0, k;

    for (;;) {
        while (len - i >= 8 && json_word_is_plain(s + i))
            i += 8;
        while (i < len && json_cls[s[i]] == 0)
            i++;
        if (i == len)
            break;
        if (json_cls[s[i]] == 2 && (k = json_utf8_seq(s + i, len - i)) != 0) {
            i += k;
            continue;
        }
        cdc_buf_append(b, s + run, i - run);
        if (json_cls[s[i]] == 1)
            json_put_escape(b, s[i]);
        else
            cdc_buf_append(b, "\xEF\xBF\xBD", 3); /* U+FFFD for one invalid byte */
        run = ++i;
    }
    cdc_buf_append(b, s + run, i - run);
}

void
json_put_str(struct cdc_buf *b, const char *s, size_t len)
{
    cdc_buf_putc(b, '"');
    json_put_str_body(b, s, len);
    cdc_buf_putc(b, '"');
}

void
json_put_key(struct cdc_buf *b, const char *name)
{
    json_put_str(b, name, strlen(name));
    cdc_buf_putc(b, ':');
}

/* ---- base64 ---- */

static const char json_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Encode one group of n (1..3) bytes into 4 characters at out. */
static void
json_b64_group(const unsigned char *in, size_t n, char *out)
{
    uint32_t v = (uint32_t) in[0] << 16;

    if (n > 1)
        v |= (uint32_t) in[1] << 8;
    if (n > 2)
        v |= in[2];
    out[0] = json_b64[(v >> 18) & 63];
    out[1] = json_b64[(v >> 12) & 63];
    out[2] = n > 1 ? json_b64[(v >> 6) & 63] : '=';
    out[3] = n > 2 ? json_b64[v & 63] : '=';
}

void
json_put_base64(struct cdc_buf *b, const void *data, size_t len)
{
    const unsigned char *in = data;
    size_t out_len = (len + 2) / 3 * 4;
    char *out;

    if (!cdc_buf_reserve(b, out_len))
        return;
    out = b->data + b->len;
    for (; len >= 3; len -= 3, in += 3, out += 4)
        json_b64_group(in, 3, out);
    if (len > 0)
        json_b64_group(in, len, out);
    b->len += out_len;
    b->data[b->len] = '\0';
}

static int
json_hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode hex pairs h[0..2*n) into out[0..n). False on a non-hex digit. */
static bool
json_unhex(const unsigned char *h, size_t n, unsigned char *out)
{
    for (size_t i = 0; i < n; i++) {
        int hi = json_hexval(h[2 * i]), lo = json_hexval(h[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return false;
        out[i] = (unsigned char) (hi << 4 | lo);
    }
    return true;
}

/* bytea hex form "\x0a0b" -> base64 string, decoding three bytes at a time. */
static bool
json_put_bytea(struct cdc_buf *b, const char *t, size_t len)
{
    const unsigned char *h;
    size_t n, out_len;
    char *out;

    if (len < 2 || t[0] != '\\' || t[1] != 'x' || len % 2 != 0)
        return false;
    h = (const unsigned char *) t + 2;
    n = (len - 2) / 2;
    for (size_t i = 0; i < 2 * n; i++)
        if (json_hexval(h[i]) < 0)
            return false;
    out_len = (n + 2) / 3 * 4;
    if (!cdc_buf_reserve(b, out_len + 2))
        return true;
    out = b->data + b->len;
    *out++ = '"';
    for (; n > 0; h += 6, out += 4) {
        unsigned char g[3];
        size_t k = n < 3 ? n : 3;

        (void) json_unhex(h, k, g);
        json_b64_group(g, k, out);
        n -= k;
    }
    *out = '"';
    b->len += out_len + 2;
    b->data[b->len] = '\0';
    return true;
}

/* ---- numbers and literals ---- */

/* Is s[0..len), all of it, a JSON number (an integer if int_only)? */
static bool
json_is_number(const unsigned char *s, size_t len, bool int_only)
{
    size_t i = 0;

    if (i < len && s[i] == '-')
        i++;
    if (i == len || !json_is_digit(s[i]))
        return false;
    if (s[i] == '0')
        i++;
    else
        while (i < len && json_is_digit(s[i]))
            i++;
    if (int_only)
        return i == len;
    if (i < len && s[i] == '.') {
        if (++i == len || !json_is_digit(s[i]))
            return false;
        while (i < len && json_is_digit(s[i]))
            i++;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        if (++i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i == len || !json_is_digit(s[i]))
            return false;
        while (i < len && json_is_digit(s[i]))
            i++;
    }
    return i == len;
}

static bool
json_eq(const char *t, size_t len, const char *lit)
{
    size_t n = strlen(lit);

    return len == n && memcmp(t, lit, n) == 0;
}

static bool
json_put_float(struct cdc_buf *b, const char *t, size_t len)
{
    if (json_eq(t, len, "NaN") || json_eq(t, len, "Infinity") || json_eq(t, len, "-Infinity")) {
        json_put_str(b, t, len);
        return true;
    }
    if (!json_is_number((const unsigned char *) t, len, false))
        return false;
    cdc_buf_append(b, t, len);
    return true;
}

static bool
json_put_bool(struct cdc_buf *b, const char *t, size_t len)
{
    if (json_eq(t, len, "t") || json_eq(t, len, "true"))
        cdc_buf_append(b, "true", 4);
    else if (json_eq(t, len, "f") || json_eq(t, len, "false"))
        cdc_buf_append(b, "false", 5);
    else
        return false;
    return true;
}

/* ---- dates and times ---- */

/* A parsed date/time text; each piece points into the input. */
struct json_dt {
    const char *year; /* >= 4 digits */
    size_t year_len;
    const char *mmdd; /* "-MM-DD" */
    const char *time; /* "HH:MM:SS[.f+]" */
    size_t time_len;
    const char *off; /* "+HH[:MM[:SS]]" or NULL */
    size_t off_len;
    bool bc; /* " BC" suffix */
};

/* n digits at p? */
static bool
json_digits(const char *p, const char *end, size_t n)
{
    if ((size_t) (end - p) < n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!json_is_digit((unsigned char) p[i]))
            return false;
    return true;
}

/* "YYYY[Y...]-MM-DD": returns the end of the date or NULL. */
static const char *
json_parse_date(const char *p, const char *end, struct json_dt *dt)
{
    const char *q = p;

    while (q < end && json_is_digit((unsigned char) *q))
        q++;
    if (q - p < 4 || q - p > 9 || end - q < 6 || q[0] != '-' || q[3] != '-' ||
        !json_digits(q + 1, end, 2) || !json_digits(q + 4, end, 2))
        return NULL;
    dt->year = p;
    dt->year_len = (size_t) (q - p);
    dt->mmdd = q;
    return q + 6;
}

/* "HH:MM:SS[.f+]": returns the end of the time or NULL. */
static const char *
json_parse_time(const char *p, const char *end, struct json_dt *dt)
{
    const char *q;

    if (end - p < 8 || !json_digits(p, end, 2) || p[2] != ':' || p[5] != ':' ||
        !json_digits(p + 3, end, 2) || !json_digits(p + 6, end, 2))
        return NULL;
    q = p + 8;
    if (q < end && *q == '.') {
        if (++q == end || !json_is_digit((unsigned char) *q))
            return NULL;
        while (q < end && json_is_digit((unsigned char) *q))
            q++;
    }
    dt->time = p;
    dt->time_len = (size_t) (q - p);
    return q;
}

/* "+HH[:MM[:SS]]": returns the end of the offset or NULL. */
static const char *
json_parse_off(const char *p, const char *end, struct json_dt *dt)
{
    const char *q;

    if (p == end || (*p != '+' && *p != '-') || !json_digits(p + 1, end, 2))
        return NULL;
    q = p + 3;
    for (int i = 0; i < 2 && q < end && *q == ':'; i++) {
        if (!json_digits(q + 1, end, 2))
            return NULL;
        q += 3;
    }
    dt->off = p;
    dt->off_len = (size_t) (q - p);
    return q;
}

/* Optional " BC", then the end of the input. */
static bool
json_parse_era(const char *p, const char *end, struct json_dt *dt)
{
    dt->bc = end - p == 3 && memcmp(p, " BC", 3) == 0;
    return p == end || dt->bc;
}

/*
 * Write the year: as printed for AD; for BC the ISO 8601 astronomical year
 * (1 BC = 0000, 44 BC = -0043), at least four digits.
 */
static void
json_put_year(struct cdc_buf *b, const struct json_dt *dt)
{
    char tmp[12];
    int64_t y = 0, astro;
    int i = (int) sizeof(tmp);

    if (!dt->bc) {
        cdc_buf_append(b, dt->year, dt->year_len);
        return;
    }
    for (size_t k = 0; k < dt->year_len; k++)
        y = y * 10 + (dt->year[k] - '0');
    astro = y - 1; /* the magnitude of the (non-positive) astronomical year */
    do {
        tmp[--i] = (char) ('0' + astro % 10);
        astro /= 10;
    } while (astro != 0 || (int) sizeof(tmp) - i < 4);
    if (y > 1)
        tmp[--i] = '-';
    cdc_buf_append(b, tmp + i, sizeof(tmp) - (size_t) i);
}

/* An offset of zero ("+00", "-00:00", ...)? */
static bool
json_off_is_zero(const struct json_dt *dt)
{
    for (size_t i = 1; i < dt->off_len; i++)
        if (dt->off[i] != '0' && dt->off[i] != ':')
            return false;
    return true;
}

/* A BC year must be 1..9999999 (there is no year 0 BC). */
static bool
json_bc_year_ok(const struct json_dt *dt)
{
    if (dt->year_len > 7)
        return false;
    for (size_t i = 0; i < dt->year_len; i++)
        if (dt->year[i] != '0')
            return true;
    return false;
}

/* "infinity" / "-infinity" pass through as strings. */
static bool
json_put_infinity(struct cdc_buf *b, const char *t, size_t len)
{
    if (!json_eq(t, len, "infinity") && !json_eq(t, len, "-infinity"))
        return false;
    json_put_str(b, t, len);
    return true;
}

/* date, timestamp and timestamptz (with_time, with_tz select which). */
static bool
json_put_datetime(struct cdc_buf *b, const char *t, size_t len, bool with_time, bool with_tz)
{
    const char *p = t, *end = t + len;
    struct json_dt dt = {0};

    if (json_put_infinity(b, t, len))
        return true;
    if ((p = json_parse_date(p, end, &dt)) == NULL)
        return false;
    if (with_time && (p == end || *p++ != ' ' || (p = json_parse_time(p, end, &dt)) == NULL))
        return false;
    if (with_tz && (p = json_parse_off(p, end, &dt)) == NULL)
        return false;
    if (!json_parse_era(p, end, &dt) || (dt.bc && !json_bc_year_ok(&dt)))
        return false;
    cdc_buf_putc(b, '"');
    json_put_year(b, &dt);
    cdc_buf_append(b, dt.mmdd, 6);
    if (with_time) {
        cdc_buf_putc(b, 'T');
        cdc_buf_append(b, dt.time, dt.time_len);
    }
    if (with_tz && json_off_is_zero(&dt)) {
        cdc_buf_putc(b, 'Z');
    } else if (with_tz) {
        /* RFC 3339 wants +HH:MM */
        cdc_buf_append(b, dt.off, 3);
        cdc_buf_append(b, dt.off_len > 3 ? dt.off + 3 : ":00", dt.off_len > 3 ? dt.off_len - 3 : 3);
    }
    cdc_buf_putc(b, '"');
    return true;
}

/* time and timetz: validated, then copied as printed. */
static bool
json_put_time(struct cdc_buf *b, const char *t, size_t len, bool with_tz)
{
    const char *p, *end = t + len;
    struct json_dt dt = {0};

    if ((p = json_parse_time(t, end, &dt)) == NULL)
        return false;
    if (with_tz && (p = json_parse_off(p, end, &dt)) == NULL)
        return false;
    if (p != end)
        return false;
    cdc_buf_putc(b, '"');
    cdc_buf_append(b, t, len);
    cdc_buf_putc(b, '"');
    return true;
}

static bool
json_put_json(struct cdc_buf *b, const char *t, size_t len)
{
    if (!json_is_valid(t, len))
        return false;
    cdc_buf_append(b, t, len);
    return true;
}

/* ---- arrays ---- */

struct json_arr {
    struct cdc_buf *b;
    enum cdc_vfmt elem; /* element format, never CDC_VF_ARRAY */
    const char *p;      /* parse position */
    const char *end;
};

static bool json_arr_list(struct json_arr *a, int depth);

static bool
json_arr_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static void
json_arr_skip_space(struct json_arr *a)
{
    while (a->p < a->end && json_arr_is_space(*a->p))
        a->p++;
}

/* Strings render straight from the escaped text, segment by segment. */
static bool
json_is_plain_string_fmt(enum cdc_vfmt f)
{
    return f == CDC_VF_STRING || f == CDC_VF_NUMERIC || f == CDC_VF_INTERVAL;
}

/* Render a quoted element s[0..len) holding backslash escapes. */
static void
json_arr_put_escaped(struct json_arr *a, const char *s, size_t len)
{
    char stack[JSON_ARR_STACK_BYTES], *tmp = stack;
    size_t n = 0;

    if (json_is_plain_string_fmt(a->elem)) {
        cdc_buf_putc(a->b, '"');
        for (size_t i = 0, run = 0; i <= len; i++) {
            if (i == len || s[i] == '\\') {
                json_put_str_body(a->b, s + run, i - run);
                run = ++i; /* the escaped byte starts the next run */
            }
        }
        cdc_buf_putc(a->b, '"');
        return;
    }
    if (len > sizeof(stack) && (tmp = malloc(len)) == NULL) {
        a->b->oom = true;
        return;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\')
            i++;
        tmp[n++] = s[i];
    }
    (void) json_put_value(a->b, a->elem, CDC_VF_STRING, tmp, n);
    if (tmp != stack)
        free(tmp);
}

/* A quoted element at a->p. */
static bool
json_arr_quoted(struct json_arr *a)
{
    const char *s = ++a->p;
    bool esc = false;

    while (a->p < a->end && *a->p != '"') {
        if (*a->p == '\\') {
            esc = true;
            if (++a->p == a->end)
                return false;
        }
        a->p++;
    }
    if (a->p == a->end)
        return false;
    if (esc)
        json_arr_put_escaped(a, s, (size_t) (a->p - s));
    else
        (void) json_put_value(a->b, a->elem, CDC_VF_STRING, s, (size_t) (a->p - s));
    a->p++;
    return true;
}

/* An unquoted element at a->p: up to ',' or '}', trailing space trimmed; NULL is null. */
static bool
json_arr_unquoted(struct json_arr *a)
{
    const char *s = a->p, *e;

    while (a->p < a->end && *a->p != ',' && *a->p != '}') {
        if (*a->p == '"' || *a->p == '{' || *a->p == '\\')
            return false;
        a->p++;
    }
    for (e = a->p; e > s && json_arr_is_space(e[-1]); e--)
        ;
    if (e == s)
        return false;
    if (e - s == 4 && strncasecmp(s, "NULL", 4) == 0)
        cdc_buf_append(a->b, "null", 4);
    else
        (void) json_put_value(a->b, a->elem, CDC_VF_STRING, s, (size_t) (e - s));
    return true;
}

static bool
json_arr_elem(struct json_arr *a, int depth)
{
    json_arr_skip_space(a);
    if (a->p == a->end)
        return false;
    if (*a->p == '{')
        return json_arr_list(a, depth + 1);
    if (*a->p == '"')
        return json_arr_quoted(a);
    return json_arr_unquoted(a);
}

/* "{elem,elem,...}" at a->p, written as "[...]". */
static bool
json_arr_list(struct json_arr *a, int depth)
{
    if (depth > JSON_ARR_MAX_DEPTH || a->p == a->end || *a->p != '{')
        return false;
    a->p++;
    cdc_buf_putc(a->b, '[');
    json_arr_skip_space(a);
    if (a->p < a->end && *a->p == '}') {
        a->p++;
        cdc_buf_putc(a->b, ']');
        return true;
    }
    for (;;) {
        if (!json_arr_elem(a, depth))
            return false;
        json_arr_skip_space(a);
        if (a->p == a->end)
            return false;
        if (*a->p == '}')
            break;
        if (*a->p++ != ',')
            return false;
        cdc_buf_putc(a->b, ',');
    }
    a->p++;
    cdc_buf_putc(a->b, ']');
    return true;
}

/* Skip the optional "[lo:hi][lo:hi]=" bounds decoration. */
static bool
json_arr_skip_bounds(struct json_arr *a)
{
    if (a->p == a->end || *a->p != '[')
        return true;
    while (a->p < a->end && *a->p == '[') {
        for (int part = 0; part < 2; part++) {
            a->p++; /* '[' or ':' */
            if (a->p < a->end && (*a->p == '-' || *a->p == '+'))
                a->p++;
            if (a->p == a->end || !json_is_digit((unsigned char) *a->p))
                return false;
            while (a->p < a->end && json_is_digit((unsigned char) *a->p))
                a->p++;
            if (a->p == a->end || *a->p != (part == 0 ? ':' : ']'))
                return false;
        }
        a->p++;
    }
    return a->p < a->end && *a->p++ == '=';
}

static bool
json_put_array(struct cdc_buf *b, enum cdc_vfmt elem, const char *t, size_t len)
{
    struct json_arr a = {b, elem == CDC_VF_ARRAY ? CDC_VF_STRING : elem, t, t + len};
    size_t start = b->len;

    if (json_arr_skip_bounds(&a) && json_arr_list(&a, 1)) {
        json_arr_skip_space(&a);
        if (a.p == a.end)
            return true;
    }
    /* roll back whatever was written before the syntax error */
    if (!b->oom) {
        b->len = start;
        if (b->cap > 0)
            b->data[start] = '\0';
    }
    return false;
}

/* ---- dispatch ---- */

/* Render as fmt; false (and nothing written) if the text does not parse. */
static bool
json_put_typed(struct cdc_buf *b, enum cdc_vfmt fmt, enum cdc_vfmt elem_fmt, const char *t,
               size_t len)
{
    switch (fmt) {
    case CDC_VF_INT:
        if (!json_is_number((const unsigned char *) t, len, true))
            return false;
        cdc_buf_append(b, t, len);
        return true;
    case CDC_VF_FLOAT:
        return json_put_float(b, t, len);
    case CDC_VF_BOOL:
        return json_put_bool(b, t, len);
    case CDC_VF_JSON:
        return json_put_json(b, t, len);
    case CDC_VF_TIMESTAMPTZ:
        return json_put_datetime(b, t, len, true, true);
    case CDC_VF_TIMESTAMP:
        return json_put_datetime(b, t, len, true, false);
    case CDC_VF_DATE:
        return json_put_datetime(b, t, len, false, false);
    case CDC_VF_TIME:
        return json_put_time(b, t, len, false);
    case CDC_VF_TIMETZ:
        return json_put_time(b, t, len, true);
    case CDC_VF_BYTEA_HEX:
        return json_put_bytea(b, t, len);
    case CDC_VF_ARRAY:
        return json_put_array(b, elem_fmt, t, len);
    case CDC_VF_RAW_JSON:
        cdc_buf_append(b, t, len);
        return true;
    case CDC_VF_BASE64:
        cdc_buf_putc(b, '"');
        json_put_base64(b, t, len);
        cdc_buf_putc(b, '"');
        return true;
    case CDC_VF_STRING:
    case CDC_VF_NUMERIC:
    case CDC_VF_INTERVAL:
    default:
        json_put_str(b, t, len);
        return true;
    }
}

bool
json_put_value(struct cdc_buf *b, enum cdc_vfmt fmt, enum cdc_vfmt elem_fmt, const char *text,
               size_t len)
{
    if (text == NULL)
        text = "";
    if (json_put_typed(b, fmt, elem_fmt, text, len))
        return true;
    json_put_str(b, text, len);
    return false;
}

/* ---- validation ---- */

struct json_val {
    const unsigned char *p;
    const unsigned char *end;
};

static void
json_val_space(struct json_val *v)
{
    while (v->p < v->end && (*v->p == ' ' || *v->p == '\t' || *v->p == '\n' || *v->p == '\r'))
        v->p++;
}

/* A string at v->p (on the opening quote). */
static bool
json_val_string(struct json_val *v)
{
    size_t k;

    for (v->p++; v->p < v->end; v->p++) {
        unsigned char c;

        while (v->end - v->p >= 8 && json_word_is_plain(v->p))
            v->p += 8;
        if (v->p == v->end)
            break;
        c = *v->p;

        if (c == '"') {
            v->p++;
            return true;
        }
        if (c < 0x20)
            return false;
        if (c == '\\') {
            if (++v->p == v->end)
                return false;
            c = *v->p;
            if (c == 'u') {
                for (int i = 0; i < 4; i++)
                    if (++v->p == v->end || json_hexval(*v->p) < 0)
                        return false;
            } else if (strchr("\"\\/bfnrt", c) == NULL || c == '\0') {
                return false;
            }
        } else if (c >= 0x80) {
            if ((k = json_utf8_seq(v->p, (size_t) (v->end - v->p))) == 0)
                return false;
            v->p += k - 1;
        }
    }
    return false;
}

static bool
json_val_lit(struct json_val *v, const char *lit, size_t n)
{
    if ((size_t) (v->end - v->p) < n || memcmp(v->p, lit, n) != 0)
        return false;
    v->p += n;
    return true;
}

static bool
json_is_num_char(unsigned char c)
{
    return json_is_digit(c) || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* A scalar (string, number, literal) at v->p. */
static bool
json_val_scalar(struct json_val *v)
{
    const unsigned char *s = v->p;

    switch (*s) {
    case '"':
        return json_val_string(v);
    case 't':
        return json_val_lit(v, "true", 4);
    case 'f':
        return json_val_lit(v, "false", 5);
    case 'n':
        return json_val_lit(v, "null", 4);
    default:
        while (v->p < v->end && json_is_num_char(*v->p))
            v->p++;
        return v->p > s && json_is_number(s, (size_t) (v->p - s), false);
    }
}

/* A key and its colon, at v->p (after '{' or ','). */
static bool
json_val_key(struct json_val *v)
{
    json_val_space(v);
    if (v->p == v->end || *v->p != '"' || !json_val_string(v))
        return false;
    json_val_space(v);
    return v->p < v->end && *v->p++ == ':';
}

bool
json_is_valid(const char *s, size_t len)
{
    struct json_val v = {(const unsigned char *) s, (const unsigned char *) s + len};
    uint64_t is_obj[JSON_MAX_DEPTH / 64] = {0}; /* one bit per open container */
    int depth = 0;

    for (;;) {
        /* a value */
        json_val_space(&v);
        if (v.p == v.end)
            return false;
        if (*v.p == '{' || *v.p == '[') {
            bool obj = *v.p++ == '{';

            if (depth == JSON_MAX_DEPTH)
                return false;
            if (obj)
                is_obj[depth / 64] |= UINT64_C(1) << (depth % 64);
            else
                is_obj[depth / 64] &= ~(UINT64_C(1) << (depth % 64));
            depth++;
            json_val_space(&v);
            if (v.p < v.end && *v.p == (obj ? '}' : ']')) {
                v.p++;
                depth--;
            } else {
                if (obj && !json_val_key(&v))
                    return false;
                continue;
            }
        } else if (!json_val_scalar(&v)) {
            return false;
        }
        /* after a value: close containers until one wants another value */
        for (;;) {
            bool obj;

            json_val_space(&v);
            if (depth == 0)
                return v.p == v.end;
            if (v.p == v.end)
                return false;
            obj = (is_obj[(depth - 1) / 64] >> ((depth - 1) % 64)) & 1;
            if (*v.p == (obj ? '}' : ']')) {
                v.p++;
                depth--;
                continue;
            }
            if (*v.p++ != ',' || (obj && !json_val_key(&v)))
                return false;
            break;
        }
    }
}
