/*
 * ckpt_url.c - the small pieces of URL parsing the store backends share
 * (percent-decoding, bounded integers, hex digits); see ckpt_store.h.
 */
#include "checkpoint/ckpt_store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int
ckpt_hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

bool
ckpt_url_decode(const char *p, size_t n, char *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        int ch = (unsigned char) p[i];

        if (ch == '%') {
            int hi, lo;

            if (i + 2 >= n)
                return false;
            hi = ckpt_hexval(p[i + 1]);
            lo = ckpt_hexval(p[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            ch = hi * 16 + lo;
            i += 2;
        }
        if (ch == 0 || o + 1 >= cap)
            return false;
        out[o++] = (char) ch;
    }
    out[o] = '\0';
    return true;
}

bool
ckpt_url_long(const char *p, size_t n, long min, long max, long *out)
{
    char tmp[24];
    char *end;
    long v;

    if (n == 0 || n >= sizeof(tmp))
        return false;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    errno = 0;
    v = strtol(tmp, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}
