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
#include <string.h>

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
