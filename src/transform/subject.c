/*
 * subject.c - event subjects and the token escaping rule; see subject.h.
 *
 * Why this rule is injective: a kept byte stands for itself and is never '%';
 * every other byte becomes '%' and two hex digits; so a token reads back
 * unambiguously left to right. "%00" would be the escape of a NUL byte, which a
 * C string name cannot hold, so it is free to stand for the empty name.
 */
#include "transform/subject.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "event/json.h"

static bool
subj_is_kept(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

void
subj_put_token(struct cdc_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t run = 0;

    if (len == 0) {
        cdc_buf_append(b, "%00", 3);
        return;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];
        char esc[3] = {'%', hex[c >> 4], hex[c & 15]};

        if (subj_is_kept(c))
            continue;
        cdc_buf_append(b, s + run, i - run);
        cdc_buf_append(b, esc, 3);
        run = i + 1;
    }
    cdc_buf_append(b, s + run, len - run);
}

static void
subj_put_name(struct cdc_buf *b, const char *name)
{
    subj_put_token(b, name ? name : "", name ? strlen(name) : 0);
}

void
subj_build(struct cdc_buf *b, const char *prefix, const char *database, const char *schema,
           const char *table)
{
    if (prefix != NULL && *prefix != '\0') {
        cdc_buf_puts(b, prefix);
        cdc_buf_putc(b, '.');
    }
    subj_put_name(b, database);
    cdc_buf_putc(b, '.');
    subj_put_name(b, schema);
    cdc_buf_putc(b, '.');
    subj_put_name(b, table);
}

/* ---- templates ---- */

static const struct {
    const char *name; /* between the braces */
    enum subj_part_kind kind;
} subj_tokens[] = {
    {"prefix", SUBJ_PREFIX}, {"database", SUBJ_DATABASE},
    {"schema", SUBJ_SCHEMA}, {"table", SUBJ_TABLE},
    {"op", SUBJ_OP},
};

#define SUBJ_KNOWN "{prefix}, {database}, {schema}, {table}, {op}, {pk_hash:N}"

static cdc_rc
subj_add(struct subj_tmpl *t, enum subj_part_kind kind, size_t off, size_t len, uint32_t n,
         struct cdc_err *err)
{
    struct subj_part *p;

    /* a literal run continues the previous one */
    if (kind == SUBJ_LITERAL && t->n_parts > 0 && t->parts[t->n_parts - 1].kind == SUBJ_LITERAL &&
        t->parts[t->n_parts - 1].off + t->parts[t->n_parts - 1].len == off) {
        t->parts[t->n_parts - 1].len += (uint16_t) len;
        return CDC_OK;
    }
    if (t->n_parts == SUBJ_TMPL_PARTS)
        return cdc_err_set(err, CDC_ERR_CONFIG, "has more than %d tokens and literal parts",
                           SUBJ_TMPL_PARTS);
    p = &t->parts[t->n_parts++];
    p->kind = kind;
    p->off = (uint16_t) off;
    p->len = (uint16_t) len;
    p->n = n;
    if (kind == SUBJ_PK_HASH)
        t->has_pk_hash = true;
    return CDC_OK;
}

/* "{pk_hash:N}": N in 1..SUBJ_PK_HASH_MAX. name is the text between the braces. */
static cdc_rc
subj_pk_token(const char *name, size_t len, uint32_t *n, struct cdc_err *err)
{
    const char *digits = name + 8;
    size_t nd = len - 8;
    unsigned long v = 0;

    if (nd == 0 || nd > 5 || strspn(digits, "0123456789") < nd)
        return cdc_err_set(err, CDC_ERR_CONFIG,
                           "{pk_hash:N} needs a partition count N between 1 and %d, got \"{%.*s}\"",
                           SUBJ_PK_HASH_MAX, (int) len, name);
    for (size_t i = 0; i < nd; i++)
        v = v * 10 + (unsigned long) (digits[i] - '0');
    if (v < 1 || v > SUBJ_PK_HASH_MAX)
        return cdc_err_set(err, CDC_ERR_CONFIG, "{pk_hash:N}: N must be between 1 and %d, got %lu",
                           SUBJ_PK_HASH_MAX, v);
    *n = (uint32_t) v;
    return CDC_OK;
}

/* One "{...}" token at t->text[*i] ('{'); advances *i past '}'. */
static cdc_rc
subj_token(struct subj_tmpl *t, size_t *i, struct cdc_err *err)
{
    const char *name = t->text + *i + 1, *end = strchr(name, '}');
    size_t len;
    uint32_t n = 0;
    cdc_rc rc;

    if (end == NULL || memchr(name, '{', (size_t) (end - name)) != NULL)
        return cdc_err_set(err, CDC_ERR_CONFIG, "unterminated token at \"%.20s\" (known: %s)",
                           t->text + *i, SUBJ_KNOWN);
    len = (size_t) (end - name);
    *i += len + 2;
    for (size_t k = 0; k < sizeof(subj_tokens) / sizeof(subj_tokens[0]); k++)
        if (strlen(subj_tokens[k].name) == len && memcmp(subj_tokens[k].name, name, len) == 0)
            return subj_add(t, subj_tokens[k].kind, 0, 0, 0, err);
    if (len >= 7 && memcmp(name, "pk_hash", 7) == 0 && (len == 7 || name[7] == ':')) {
        if (len == 7)
            return cdc_err_set(err, CDC_ERR_CONFIG,
                               "{pk_hash} needs a partition count: {pk_hash:N}, N from 1 to %d",
                               SUBJ_PK_HASH_MAX);
        rc = subj_pk_token(name, len, &n, err);
        return rc != CDC_OK ? rc : subj_add(t, SUBJ_PK_HASH, 0, 0, n, err);
    }
    return cdc_err_set(err, CDC_ERR_CONFIG, "unknown token \"{%.*s}\" (known: %s)",
                       (int) (len > 40 ? 40 : len), name, SUBJ_KNOWN);
}

/* Every subject of the template must fall under the stream's "{prefix}.>". */
static cdc_rc
subj_check_covered(const char *tmpl, const char *prefix, struct cdc_err *err)
{
    size_t pl = prefix ? strlen(prefix) : 0;
    const char *rest = NULL;

    if (strncmp(tmpl, "{prefix}", 8) == 0)
        rest = tmpl + 8;
    else if (pl > 0 && strncmp(tmpl, prefix, pl) == 0)
        rest = tmpl + pl;
    if (rest == NULL || rest[0] != '.' || rest[1] == '\0')
        return cdc_err_set(
            err, CDC_ERR_CONFIG,
            "is not covered by the stream's subjects \"%s.>\" (the stream is created "
            "with them): start it with \"{prefix}.\" and at least one more level",
            prefix ? prefix : "");
    return CDC_OK;
}

cdc_rc
subj_tmpl_compile(struct subj_tmpl *t, const char *tmpl, const char *prefix, struct cdc_err *err)
{
    bool level_empty = true;
    size_t i = 0, len;
    cdc_rc rc;

    if (tmpl == NULL || *tmpl == '\0')
        tmpl = SUBJ_DEFAULT_TEMPLATE;
    memset(t, 0, sizeof(*t));
    len = strlen(tmpl);
    if (len > SUBJ_TMPL_MAX)
        return cdc_err_set(err, CDC_ERR_CONFIG, "is longer than %d bytes", SUBJ_TMPL_MAX);
    memcpy(t->text, tmpl, len + 1);
    while (i < len) {
        unsigned char c = (unsigned char) t->text[i];

        if (c == '{') {
            if ((rc = subj_token(t, &i, err)) != CDC_OK)
                return rc;
            level_empty = false;
            continue;
        }
        if (c == '}')
            return cdc_err_set(err, CDC_ERR_CONFIG, "has a '}' without its '{' at byte %zu", i + 1);
        if (c <= 0x20 || c == 0x7f || c == '*' || c == '>')
            return cdc_err_set(err, CDC_ERR_CONFIG,
                               "may not hold whitespace, control characters or wildcards ('*', "
                               "'>'): byte %zu is 0x%02X",
                               i + 1, c);
        if (c == '.' && level_empty)
            return cdc_err_set(err, CDC_ERR_CONFIG,
                               "has an empty level at byte %zu (a leading or double dot)", i + 1);
        level_empty = c == '.';
        if ((rc = subj_add(t, SUBJ_LITERAL, i, 1, 0, err)) != CDC_OK)
            return rc;
        i++;
    }
    if (level_empty)
        return cdc_err_set(err, CDC_ERR_CONFIG, "has an empty level at its end (a trailing dot)");
    t->is_default = strcmp(tmpl, SUBJ_DEFAULT_TEMPLATE) == 0;
    return subj_check_covered(tmpl, prefix, err);
}

uint64_t
subj_fnv1a64(const void *p, size_t len)
{
    const unsigned char *s = p;
    uint64_t h = UINT64_C(0xcbf29ce484222325);

    for (size_t i = 0; i < len; i++) {
        h ^= s[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

/* The value of key column i: from after if sent there, else from before; NULL if neither. */
static const struct cdc_value *
subj_key_value(const struct cdc_change *ch, uint32_t i)
{
    const struct cdc_tuple *imgs[2] = {ch->after, ch->before};

    for (int k = 0; k < 2; k++) {
        const struct cdc_tuple *t = imgs[k];

        if (t != NULL && i < t->nvals &&
            (t->vals[i].state == CDC_VAL_PRESENT || t->vals[i].state == CDC_VAL_NULL))
            return &t->vals[i];
    }
    return NULL;
}

uint64_t
subj_pk_hash(const struct cdc_change *ch, struct cdc_buf *scratch)
{
    const struct cdc_relation *rel = ch->rel;
    bool first = true;

    cdc_buf_reset(scratch);
    cdc_buf_putc(scratch, '[');
    for (uint32_t i = 0; rel != NULL && ch->op <= CDC_OP_DELETE && i < rel->ncols; i++) {
        const struct cdc_column *c = &rel->cols[i];
        const struct cdc_value *v;

        if (!c->is_key)
            continue;
        if (!first)
            cdc_buf_putc(scratch, ',');
        first = false;
        v = subj_key_value(ch, i);
        if (v == NULL || v->state == CDC_VAL_NULL)
            cdc_buf_append(scratch, "null", 4);
        else
            (void) json_put_value(scratch, c->fmt, c->elem_fmt, v->data, v->len);
    }
    cdc_buf_putc(scratch, ']');
    return subj_fnv1a64(scratch->data, scratch->len);
}

static const char *const subj_ops[] = {
    [CDC_OP_INSERT] = "insert",     [CDC_OP_UPDATE] = "update", [CDC_OP_DELETE] = "delete",
    [CDC_OP_TRUNCATE] = "truncate", [CDC_OP_DDL] = "ddl",
};

void
subj_tmpl_render(const struct subj_tmpl *t, struct cdc_buf *b, const char *prefix,
                 const char *database, const struct cdc_change *ch, struct cdc_buf *scratch)
{
    const struct cdc_relation *rel = ch->rel;

    if (t->is_default) {
        subj_build(b, prefix, database, rel ? rel->schema : NULL, rel ? rel->table : NULL);
        return;
    }
    for (int i = 0; i < t->n_parts; i++) {
        const struct subj_part *p = &t->parts[i];

        switch (p->kind) {
        case SUBJ_LITERAL:
            cdc_buf_append(b, t->text + p->off, p->len);
            break;
        case SUBJ_PREFIX:
            cdc_buf_puts(b, prefix ? prefix : "");
            break;
        case SUBJ_DATABASE:
            subj_put_name(b, database);
            break;
        case SUBJ_SCHEMA:
            subj_put_name(b, rel ? rel->schema : NULL);
            break;
        case SUBJ_TABLE:
            subj_put_name(b, rel ? rel->table : NULL);
            break;
        case SUBJ_OP:
            cdc_buf_puts(b, (unsigned) ch->op <= CDC_OP_DDL ? subj_ops[ch->op] : "unknown");
            break;
        case SUBJ_PK_HASH:
            cdc_buf_put_u64(b, subj_pk_hash(ch, scratch) % p->n);
            break;
        }
    }
}
