/*
 * lsn.c - parsing the "%X/%X" text form of an LSN.
 */
#include "core/lsn.h"

#include <ctype.h>
#include <stdlib.h>

static bool
parse_hex32(const char *s, const char **end, uint32_t *out)
{
    uint64_t v = 0;
    const char *p = s;

    while (isxdigit((unsigned char) *p)) {
        v = v * 16 + (uint64_t) (isdigit((unsigned char) *p)
                                     ? *p - '0'
                                     : (tolower((unsigned char) *p) - 'a' + 10));
        if (v > UINT32_MAX)
            return false;
        p++;
    }
    if (p == s || p - s > 8)
        return false;
    *end = p;
    *out = (uint32_t) v;
    return true;
}

bool
cdc_lsn_parse(const char *s, cdc_lsn *out)
{
    uint32_t hi, lo;
    const char *p;

    if (s == NULL || !parse_hex32(s, &p, &hi) || *p != '/')
        return false;
    if (!parse_hex32(p + 1, &p, &lo) || *p != '\0')
        return false;
    *out = ((cdc_lsn) hi << 32) | lo;
    return true;
}
