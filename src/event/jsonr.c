/*
 * jsonr.c - the small JSON reader; see jsonr.h.
 */
#include "event/jsonr.h"

#include <string.h>

#define JSONR_MAX_DEPTH 64

void
jsonr_init(struct jsonr *r, const char *text, size_t len)
{
    r->p = text;
    r->end = text + len;
}

static void
jsonr_ws(struct jsonr *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

bool
jsonr_eat(struct jsonr *r, char c)
{
    jsonr_ws(r);
    if (r->p < r->end && *r->p == c) {
        r->p++;
        return true;
    }
    return false;
}

static int
jsonr_hex4(const char *p)
{
    int v = 0;

    for (int i = 0; i < 4; i++) {
        char c = p[i];

        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

static void
jsonr_put_utf8(struct cdc_buf *out, uint32_t cp)
{
    if (cp < 0x80) {
        cdc_buf_putc(out, (char) cp);
    } else if (cp < 0x800) {
        cdc_buf_putc(out, (char) (0xC0 | (cp >> 6)));
        cdc_buf_putc(out, (char) (0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        cdc_buf_putc(out, (char) (0xE0 | (cp >> 12)));
        cdc_buf_putc(out, (char) (0x80 | ((cp >> 6) & 0x3F)));
        cdc_buf_putc(out, (char) (0x80 | (cp & 0x3F)));
    } else {
        cdc_buf_putc(out, (char) (0xF0 | (cp >> 18)));
        cdc_buf_putc(out, (char) (0x80 | ((cp >> 12) & 0x3F)));
        cdc_buf_putc(out, (char) (0x80 | ((cp >> 6) & 0x3F)));
        cdc_buf_putc(out, (char) (0x80 | (cp & 0x3F)));
    }
}

/* \uXXXX at p (p points at 'u'), with a following low surrogate when needed. */
static bool
jsonr_unicode(struct jsonr *r, struct cdc_buf *out)
{
    int hi, lo;

    if (r->end - r->p < 5 || (hi = jsonr_hex4(r->p + 1)) < 0)
        return false;
    r->p += 5;
    if (hi < 0xD800 || hi > 0xDFFF) {
        jsonr_put_utf8(out, (uint32_t) hi);
        return true;
    }
    if (hi > 0xDBFF || r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u' ||
        (lo = jsonr_hex4(r->p + 2)) < 0xDC00 || lo > 0xDFFF)
        return false;
    r->p += 6;
    jsonr_put_utf8(out, 0x10000 + (((uint32_t) hi - 0xD800) << 10) + ((uint32_t) lo - 0xDC00));
    return true;
}

static bool
jsonr_escape(struct jsonr *r, struct cdc_buf *out)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *hit;

    if (r->p >= r->end)
        return false;
    if (*r->p == 'u')
        return jsonr_unicode(r, out);
    hit = strchr(from, *r->p);
    if (hit == NULL || *r->p == '\0')
        return false;
    cdc_buf_putc(out, to[hit - from]);
    r->p++;
    return true;
}

bool
jsonr_string(struct jsonr *r, struct cdc_buf *out)
{
    if (!jsonr_eat(r, '"') || !cdc_buf_reserve(out, 1))
        return false;
    out->data[out->len] = '\0'; /* an empty string is "" too, never NULL */
    while (r->p < r->end) {
        char c = *r->p++;

        if (c == '"')
            return cdc_buf_ok(out);
        if ((unsigned char) c < 0x20)
            return false;
        if (c != '\\')
            cdc_buf_putc(out, c);
        else if (!jsonr_escape(r, out))
            return false;
    }
    return false;
}

bool
jsonr_int(struct jsonr *r, int64_t *out)
{
    bool neg;
    uint64_t v = 0, lim;
    const char *start;

    jsonr_ws(r);
    neg = r->p < r->end && *r->p == '-';
    if (neg)
        r->p++;
    lim = neg ? (uint64_t) INT64_MAX + 1 : (uint64_t) INT64_MAX;
    start = r->p;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
        uint64_t d = (uint64_t) (*r->p - '0');

        if (v > (lim - d) / 10)
            return false;
        v = v * 10 + d;
        r->p++;
    }
    if (r->p == start || (r->p < r->end && (*r->p == '.' || *r->p == 'e' || *r->p == 'E')))
        return false;
    *out = neg ? (v == (uint64_t) INT64_MAX + 1 ? INT64_MIN : -(int64_t) v) : (int64_t) v;
    return true;
}

static bool jsonr_skip_depth(struct jsonr *r, int depth);

/* After '{' or '[': members or elements up to the closing byte. */
static bool
jsonr_skip_items(struct jsonr *r, char close, int depth)
{
    struct cdc_buf scratch = CDC_BUF_INIT;
    bool ok = true;

    if (jsonr_eat(r, close))
        return true;
    do {
        if (close == '}') {
            cdc_buf_reset(&scratch);
            ok = jsonr_string(r, &scratch) && jsonr_eat(r, ':');
        }
        ok = ok && jsonr_skip_depth(r, depth + 1);
    } while (ok && jsonr_eat(r, ','));
    cdc_buf_free(&scratch);
    return ok && jsonr_eat(r, close);
}

static bool
jsonr_literal(struct jsonr *r, const char *word)
{
    size_t n = strlen(word);

    if ((size_t) (r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return false;
    r->p += n;
    return true;
}

static bool
jsonr_skip_depth(struct jsonr *r, int depth)
{
    struct cdc_buf scratch = CDC_BUF_INIT;
    bool ok;

    if (depth > JSONR_MAX_DEPTH)
        return false;
    jsonr_ws(r);
    if (r->p >= r->end)
        return false;
    switch (*r->p) {
    case '{':
    case '[':
        r->p++;
        return jsonr_skip_items(r, r->p[-1] == '{' ? '}' : ']', depth);
    case '"':
        ok = jsonr_string(r, &scratch);
        cdc_buf_free(&scratch);
        return ok;
    case 't':
        return jsonr_literal(r, "true");
    case 'f':
        return jsonr_literal(r, "false");
    case 'n':
        return jsonr_literal(r, "null");
    default:
        /* a number: sign, digits, fraction, exponent */
        if (*r->p == '-')
            r->p++;
        if (r->p >= r->end || *r->p < '0' || *r->p > '9')
            return false;
        while (r->p < r->end && strchr("0123456789.eE+-", *r->p) != NULL && *r->p != '\0')
            r->p++;
        return true;
    }
}

bool
jsonr_skip(struct jsonr *r)
{
    return jsonr_skip_depth(r, 0);
}

bool
jsonr_member(const struct jsonr *r, const char *key, struct jsonr *val)
{
    struct cdc_buf name = CDC_BUF_INIT;
    struct jsonr c = *r;
    bool found = false;

    if (!jsonr_eat(&c, '{') || jsonr_eat(&c, '}'))
        goto done;
    do {
        cdc_buf_reset(&name);
        if (!jsonr_string(&c, &name) || !jsonr_eat(&c, ':'))
            goto done;
        if (strcmp(name.data, key) == 0 && name.len == strlen(key)) {
            jsonr_ws(&c);
            *val = c;
            found = true;
            goto done;
        }
        if (!jsonr_skip(&c))
            goto done;
    } while (jsonr_eat(&c, ','));
done:
    cdc_buf_free(&name);
    return found;
}
