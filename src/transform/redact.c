/*
 * redact.c - sensitive-field rules and PII detection; see redact.h.
 *
 * HMAC-SHA256 is computed from two SHA-256 states prepared once from the key
 * (after absorbing key^ipad and key^opad, RFC 2104): each value copies them
 * (plain structs) and finishes both hashes. OpenSSL 3.0's EVP and EVP_MAC
 * interfaces duplicate their context with a malloc on every reuse, which the
 * encoder's "no allocation per row" rule forbids, so this file uses the
 * low-level SHA256_* functions (deprecated in 3.0, not removed; the known
 * answers of RFC 4231 in test_redact.c check the construction).
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_CTX: see above */

#include "transform/redact.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "event/json.h"

#define REDACT_LIT(b, s) cdc_buf_append((b), (s), sizeof(s) - 1)

struct redact_rule {
    char *pattern; /* NUL-terminated copy */
    enum redact_action action;
    uint32_t n;                   /* truncate:N */
    bool qualified;               /* pattern names schema.table(.column) */
    const struct redact_set *set; /* the key and the counters */
};

struct redact_set {
    struct redact_rule *rules;
    int n;
    struct redact_rule detect; /* what the text columns of a detect table point at */
    bool has_detect;           /* some rule is a detect rule */
    bool has_key;
    SHA256_CTX inner, outer;                              /* after key^ipad, key^opad */
    char prefix[sizeof("hmac:") + REDACT_KEY_ID_MAX + 1]; /* "hmac:<id>:" */
    size_t prefix_len;
    _Atomic uint64_t *pii_hits; /* [REDACT_PII_N] or NULL */
};

static const char redact_hex[] = "0123456789abcdef";

/* ---- parsing ---- */

static bool
redact_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static size_t
redact_count_dots(const char *s, size_t n)
{
    size_t d = 0;

    for (size_t i = 0; i < n; i++)
        d += s[i] == '.';
    return d;
}

/* The action after '='; sets out->action and out->n. */
static cdc_rc
redact_parse_action(const char *a, struct redact_spec *out, struct cdc_err *err)
{
    static const char *const names[] = {"drop", "mask", "hash"};
    char *end;
    unsigned long v;

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(a, names[i]) == 0) {
            out->action = (enum redact_action) i;
            return CDC_OK;
        }
    }
    if (strcmp(a, "detect") == 0) {
        out->action = REDACT_A_DETECT;
        return CDC_OK;
    }
    if (strcmp(a, "truncate") == 0 || strcmp(a, "truncate:") == 0)
        return cdc_err_set(err, CDC_ERR_CONFIG, "truncate needs a length: truncate:N");
    if (strncmp(a, "truncate:", 9) == 0) {
        a += 9;
        v = redact_is_digit(*a) ? strtoul(a, &end, 10) : 0;
        if (v < 1 || v > REDACT_TRUNCATE_MAX || *end != '\0')
            return cdc_err_set(err, CDC_ERR_CONFIG,
                               "truncate:N needs N between 1 and %d, got \"%.20s\"",
                               REDACT_TRUNCATE_MAX, a);
        out->action = REDACT_A_TRUNCATE;
        out->n = (uint32_t) v;
        return CDC_OK;
    }
    return cdc_err_set(err, CDC_ERR_CONFIG,
                       "unknown action \"%.40s\" (expected drop, mask, hash, truncate:N or detect)",
                       a);
}

cdc_rc
redact_parse_item(const char *item, struct redact_spec *out, struct cdc_err *err)
{
    const char *eq = strrchr(item, '=');
    size_t plen = eq ? (size_t) (eq - item) : strlen(item), dots;
    cdc_rc rc;

    memset(out, 0, sizeof(*out));
    out->pattern = item;
    out->pattern_len = plen;
    if (plen == 0)
        return cdc_err_set(err, CDC_ERR_CONFIG, "the column name is empty");
    if (eq != NULL && (rc = redact_parse_action(eq + 1, out, err)) != CDC_OK)
        return rc;
    dots = redact_count_dots(item, plen);
    if (item[0] == '.' || item[plen - 1] == '.' || memmem(item, plen, "..", 2) != NULL)
        return cdc_err_set(err, CDC_ERR_CONFIG, "\"%.*s\" has an empty name part", (int) plen,
                           item);
    if (out->action == REDACT_A_DETECT && dots != 1)
        return cdc_err_set(err, CDC_ERR_CONFIG,
                           "detect applies to a table: write schema.table=detect, got \"%.*s\"",
                           (int) plen, item);
    if (out->action != REDACT_A_DETECT && dots == 1)
        return cdc_err_set(err, CDC_ERR_CONFIG,
                           "\"%.*s\": write a plain column name or schema.table.column", (int) plen,
                           item);
    return CDC_OK;
}

bool
redact_key_id_is_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;

    return n >= 1 && n <= REDACT_KEY_ID_MAX &&
           strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

/* ---- the set ---- */

/* Prepare the inner and outer states of HMAC-SHA256 (RFC 2104) for key. */
static void
redact_hmac_setup(struct redact_set *s, const char *key, size_t len)
{
    unsigned char k[SHA256_CBLOCK] = {0}, pad[SHA256_CBLOCK];

    if (len > SHA256_CBLOCK)
        SHA256((const unsigned char *) key, len, k); /* longer keys are hashed first */
    else
        memcpy(k, key, len);
    for (int i = 0; i < SHA256_CBLOCK; i++)
        pad[i] = k[i] ^ 0x36;
    SHA256_Init(&s->inner);
    SHA256_Update(&s->inner, pad, sizeof(pad));
    for (int i = 0; i < SHA256_CBLOCK; i++)
        pad[i] = k[i] ^ 0x5c;
    SHA256_Init(&s->outer);
    SHA256_Update(&s->outer, pad, sizeof(pad));
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));
}

static cdc_rc
redact_set_key(struct redact_set *s, const struct redact_opts *o, struct cdc_err *err)
{
    if (o->key == NULL || o->key_len == 0)
        return cdc_err_set(err, CDC_ERR_CONFIG, "a hash rule needs a key (cdc.sensitive_hash_key)");
    if (o->key_len < REDACT_KEY_MIN)
        return cdc_err_set(err, CDC_ERR_CONFIG, "the hash key must be at least %d bytes",
                           REDACT_KEY_MIN);
    if (!redact_key_id_is_valid(o->key_id))
        return cdc_err_set(err, CDC_ERR_CONFIG,
                           "a hash rule needs a key id (cdc.sensitive_hash_key_id) of 1 to %d "
                           "characters among A-Z, a-z, 0-9, _, . and -",
                           REDACT_KEY_ID_MAX);
    redact_hmac_setup(s, o->key, o->key_len);
    s->prefix_len = (size_t) snprintf(s->prefix, sizeof(s->prefix), "hmac:%s:", o->key_id);
    s->has_key = true;
    return CDC_OK;
}

static cdc_rc
redact_add_rule(struct redact_set *s, const char *item, bool *needs_key, struct cdc_err *err)
{
    struct redact_spec sp;
    struct redact_rule *r = &s->rules[s->n];
    cdc_rc rc = redact_parse_item(item, &sp, err);

    if (rc != CDC_OK)
        return cdc_err_prefix(err, "cdc.sensitive_fields item %d", s->n + 1);
    r->pattern = strndup(sp.pattern, sp.pattern_len);
    if (r->pattern == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    r->action = sp.action;
    r->n = sp.n;
    r->qualified = strchr(r->pattern, '.') != NULL;
    r->set = s;
    *needs_key |= sp.action == REDACT_A_HASH;
    s->has_detect |= sp.action == REDACT_A_DETECT;
    s->n++;
    return CDC_OK;
}

cdc_rc
redact_set_create(struct redact_set **out, const struct redact_opts *o, struct cdc_err *err)
{
    struct redact_set *s = calloc(1, sizeof(*s));
    bool needs_key = false;
    cdc_rc rc = CDC_OK;

    if (s == NULL || (o->n > 0 && (s->rules = calloc((size_t) o->n, sizeof(*s->rules))) == NULL)) {
        rc = cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    s->pii_hits = o->pii_hits;
    s->detect.action = REDACT_A_DETECT;
    s->detect.set = s;
    for (int i = 0; i < o->n; i++)
        if ((rc = redact_add_rule(s, o->items[i], &needs_key, err)) != CDC_OK)
            goto fail;
    if (needs_key && (rc = redact_set_key(s, o, err)) != CDC_OK)
        goto fail;
    *out = s;
    return CDC_OK;
fail:
    redact_set_destroy(s);
    return rc;
}

void
redact_set_destroy(struct redact_set *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < s->n; i++)
        free(s->rules[i].pattern);
    free(s->rules);
    OPENSSL_cleanse(s, sizeof(*s));
    free(s);
}

/* ---- matching (once per relation definition) ---- */

/* Is rule "a.b" (or "a.b.c" when col is not NULL) exactly rel's schema.table(.col)? */
static bool
redact_qualified_match(const char *rule, const struct cdc_relation *rel, const char *col)
{
    size_t sl = strlen(rel->schema), tl = strlen(rel->table);

    if (strncmp(rule, rel->schema, sl) != 0 || rule[sl] != '.' ||
        strncmp(rule + sl + 1, rel->table, tl) != 0)
        return false;
    rule += sl + 1 + tl;
    if (col == NULL)
        return *rule == '\0';
    return *rule == '.' && strcmp(rule + 1, col) == 0;
}

/* The rule for column col of rel: a qualified match first, else the first plain one. */
static const struct redact_rule *
redact_find(const struct redact_set *s, const struct cdc_relation *rel, const char *col)
{
    const struct redact_rule *plain = NULL;

    for (int i = 0; i < s->n; i++) {
        const struct redact_rule *r = &s->rules[i];

        if (r->action == REDACT_A_DETECT)
            continue;
        if (r->qualified && redact_qualified_match(r->pattern, rel, col))
            return r;
        if (!r->qualified && plain == NULL && strcmp(r->pattern, col) == 0)
            plain = r;
    }
    return plain;
}

static bool
redact_is_detect_table(const struct redact_set *s, const struct cdc_relation *rel)
{
    for (int i = 0; i < s->n && s->has_detect; i++)
        if (s->rules[i].action == REDACT_A_DETECT &&
            redact_qualified_match(s->rules[i].pattern, rel, NULL))
            return true;
    return false;
}

unsigned
redact_apply(const struct redact_set *s, struct cdc_relation *rel)
{
    bool detect = s != NULL && redact_is_detect_table(s, rel);
    unsigned marked = 0;

    for (uint32_t i = 0; i < rel->ncols; i++) {
        struct cdc_column *c = &rel->cols[i];
        const struct redact_rule *r = s != NULL ? redact_find(s, rel, c->name) : NULL;

        if (r == NULL && detect && c->fmt == CDC_VF_STRING)
            r = &s->detect;
        c->omit = r != NULL && r->action == REDACT_A_DROP;
        c->redact = r != NULL && !c->omit ? r : NULL;
        marked += r != NULL;
    }
    return marked;
}

/* ---- rendering (per value) ---- */

static void
redact_put_hmac(struct cdc_buf *b, const struct redact_set *s, const char *data, size_t len)
{
    unsigned char ih[SHA256_DIGEST_LENGTH], mac[SHA256_DIGEST_LENGTH];
    char hex[2 * SHA256_DIGEST_LENGTH];
    SHA256_CTX c = s->inner;

    SHA256_Update(&c, data, len);
    SHA256_Final(ih, &c);
    c = s->outer;
    SHA256_Update(&c, ih, sizeof(ih));
    SHA256_Final(mac, &c);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        hex[2 * i] = redact_hex[mac[i] >> 4];
        hex[2 * i + 1] = redact_hex[mac[i] & 15];
    }
    cdc_buf_putc(b, '"');
    cdc_buf_append(b, s->prefix, s->prefix_len); /* the id is [A-Za-z0-9_.-]: no escaping */
    cdc_buf_append(b, hex, sizeof(hex));
    cdc_buf_putc(b, '"');
}

/* The first n characters of a value: whole UTF-8 sequences, or bytes for binary types. */
static void
redact_put_truncated(struct cdc_buf *b, const struct cdc_column *c, const char *s, size_t len,
                     uint32_t n)
{
    size_t i = 0, chars = 0;

    if (c->fmt == CDC_VF_BASE64) {
        (void) json_put_value(b, CDC_VF_BASE64, CDC_VF_STRING, s, len < n ? len : n);
        return;
    }
    if (c->fmt == CDC_VF_BYTEA_HEX && len >= 2 && s[0] == '\\' && s[1] == 'x') {
        /* "\x" then two hex digits per byte: keep n bytes, rendered as base64 like the rest */
        size_t keep = (len - 2) / 2 < n ? len : 2 + 2 * (size_t) n;

        (void) json_put_value(b, CDC_VF_BYTEA_HEX, CDC_VF_STRING, s, keep);
        return;
    }
    /* stop at the start of character n + 1: a byte that is not a continuation byte */
    for (; i < len; i++) {
        if (((unsigned char) s[i] & 0xC0) != 0x80 && chars++ == n)
            break;
    }
    json_put_str(b, s, i);
}

void
redact_put_value(struct cdc_buf *b, const struct cdc_column *c, const struct cdc_value *v)
{
    const struct redact_rule *r = c->redact;
    enum redact_pii kind;

    if (v->state == CDC_VAL_NULL) {
        REDACT_LIT(b, "null");
        return;
    }
    switch (r->action) {
    case REDACT_A_HASH:
        redact_put_hmac(b, r->set, v->data, v->len);
        return;
    case REDACT_A_TRUNCATE:
        redact_put_truncated(b, c, v->data, v->len, r->n);
        return;
    case REDACT_A_DETECT:
        if (!redact_pii_find(v->data, v->len, &kind)) {
            (void) json_put_value(b, c->fmt, c->elem_fmt, v->data, v->len);
            return;
        }
        if (r->set->pii_hits != NULL)
            atomic_fetch_add_explicit(&r->set->pii_hits[kind], 1, memory_order_relaxed);
        REDACT_LIT(b, REDACT_MASKED);
        return;
    case REDACT_A_DROP: /* not reached: dropped columns are omitted; never write the value */
    case REDACT_A_MASK:
    default:
        REDACT_LIT(b, REDACT_MASKED);
        return;
    }
}

/* ---- PII detection ---- */

static bool
redact_is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
redact_is_alnum(char c)
{
    return redact_is_alpha(c) || redact_is_digit(c);
}

static bool
redact_is_local_char(char c)
{
    return redact_is_alnum(c) || (c != '\0' && strchr("._%+-", c) != NULL);
}

/* local@domain.tld around the '@' at s[at]: a local part, dotted labels, a TLD of 2+ letters. */
static bool
redact_email_at(const char *s, size_t len, size_t at)
{
    size_t end = at + 1, dot = 0, tld = 0;

    if (at == 0 || !redact_is_local_char(s[at - 1]))
        return false;
    while (end < len && (redact_is_alnum(s[end]) || s[end] == '-' || s[end] == '.'))
        end++;
    while (end > at + 1 && s[end - 1] == '.') /* a sentence's full stop */
        end--;
    for (size_t i = at + 1; i < end; i++) {
        if (s[i] == '.') {
            if (i == at + 1 || s[i - 1] == '.')
                return false;
            dot = i;
        }
    }
    if (dot == 0)
        return false;
    for (size_t i = dot + 1; i < end; i++, tld++)
        if (!redact_is_alpha(s[i]))
            return false;
    return tld >= 2;
}

static bool
redact_has_email(const char *s, size_t len)
{
    const char *p = s;

    while ((p = memchr(p, '@', len - (size_t) (p - s))) != NULL) {
        if (redact_email_at(s, len, (size_t) (p - s)))
            return true;
        p++;
    }
    return false;
}

static bool
redact_luhn(const unsigned char *d, int n)
{
    int sum = 0;

    for (int i = n - 1, k = 0; i >= 0; i--, k++) {
        int v = d[i];

        if (k % 2 == 1 && (v *= 2) > 9)
            v -= 9;
        sum += v;
    }
    return sum % 10 == 0;
}

/*
 * A run of digits starting at s[i], single spaces or dashes allowed between
 * digits; returns its end and stores up to 20 digits in d (*nd: how many,
 * 20 meaning "too many").
 */
static size_t
redact_digit_run(const char *s, size_t len, size_t i, unsigned char *d, int *nd)
{
    *nd = 0;
    while (i < len) {
        if (redact_is_digit(s[i])) {
            if (*nd < 20)
                d[(*nd)++] = (unsigned char) (s[i] - '0');
            i++;
        } else if ((s[i] == ' ' || s[i] == '-') && i + 1 < len && redact_is_digit(s[i + 1])) {
            i++;
        } else {
            break;
        }
    }
    return i;
}

static bool
redact_has_card(const char *s, size_t len)
{
    unsigned char d[20];
    int nd;

    for (size_t i = 0; i < len;) {
        size_t end;

        if (!redact_is_digit(s[i]) || (i > 0 && redact_is_alnum(s[i - 1]))) {
            i++;
            continue;
        }
        end = redact_digit_run(s, len, i, d, &nd);
        if (nd >= 13 && nd <= 19 && (end == len || !redact_is_alpha(s[end])) && redact_luhn(d, nd))
            return true;
        i = end;
    }
    return false;
}

static int
redact_num(const char *s, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!redact_is_digit(s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Is the byte before s[i] (or after s[i - 1]) part of a longer number? */
static bool
redact_joins_number(const char *s, size_t len, size_t i, int dir)
{
    if (dir < 0)
        return i > 0 && (redact_is_alnum(s[i - 1]) ||
                         (s[i - 1] == '-' && i > 1 && redact_is_digit(s[i - 2])));
    return i < len &&
           (redact_is_alnum(s[i]) || (s[i] == '-' && i + 1 < len && redact_is_digit(s[i + 1])));
}

static bool
redact_has_ssn(const char *s, size_t len)
{
    for (size_t i = 0; i + 11 <= len; i++) {
        const char *p = s + i;
        int area, group, serial;

        if (p[3] != '-' || p[6] != '-')
            continue;
        area = redact_num(p, 3);
        group = redact_num(p + 4, 2);
        serial = redact_num(p + 7, 4);
        if (area <= 0 || area == 666 || area >= 900 || group <= 0 || serial <= 0)
            continue;
        if (!redact_joins_number(s, len, i, -1) && !redact_joins_number(s, len, i + 11, 1))
            return true;
    }
    return false;
}

bool
redact_pii_find(const char *s, size_t len, enum redact_pii *kind)
{
    size_t digits = 0;

    if (len == 0)
        return false;
    if (memchr(s, '@', len) != NULL && redact_has_email(s, len)) {
        *kind = REDACT_PII_EMAIL;
        return true;
    }
    /* most text holds too few digits for a card (13) or an SSN (9): one cheap pass first */
    for (size_t i = 0; i < len; i++)
        digits += redact_is_digit(s[i]);
    if (digits >= 13 && redact_has_card(s, len))
        *kind = REDACT_PII_CARD;
    else if (digits >= 9 && redact_has_ssn(s, len))
        *kind = REDACT_PII_SSN;
    else
        return false;
    return true;
}

const char *
redact_pii_name(enum redact_pii k)
{
    static const char *const names[REDACT_PII_N] = {"email", "card", "ssn"};

    return (unsigned) k < REDACT_PII_N ? names[k] : "unknown";
}
