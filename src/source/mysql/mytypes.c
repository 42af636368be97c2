/*
 * mytypes.c - MySQL storage formats to text; see mytypes.h.
 *
 * DECIMAL: MySQL's decimal2bin (strings/decimal.c). The digits are split in
 * groups of 9 from the decimal point both ways, each full group stored in 4
 * big-endian bytes and a leading/trailing partial group in the fewest bytes
 * that hold its digits (dig2bytes). A negative value has every byte
 * inverted; then the top bit of the first byte is flipped, so it is set for
 * a non-negative value.
 *
 * Temporal "2" forms (my_time.cc): big-endian, an integer part offset so it
 * sorts as unsigned, then 0-3 fraction bytes. DATETIME2's integer part packs
 * ((year * 13 + month) << 5 | day) << 17 | hour << 12 | minute << 6 | second;
 * TIME2's packs hour << 12 | minute << 6 | second, and a negative TIME2 with
 * a fraction stores the fraction of the next integer up (the "reverse order"
 * my_time_packed_from_binary() undoes).
 */
#include "source/mysql/mytypes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define DIG_PER_DEC 9

static const uint8_t dig2bytes[DIG_PER_DEC + 1] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};
static const uint32_t pow10_u32[DIG_PER_DEC + 1] = {
    1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000,
};

static uint64_t
be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;

    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

size_t
my_decimal_bin_size(unsigned precision, unsigned scale)
{
    unsigned intg = precision - scale;

    return (intg / DIG_PER_DEC) * 4 + dig2bytes[intg % DIG_PER_DEC] + (scale / DIG_PER_DEC) * 4 +
           dig2bytes[scale % DIG_PER_DEC];
}

/* One group of n bytes at p[*off], sign-undone; false if it holds more than `digits` digits. */
static bool
dec_group(const uint8_t *p, size_t *off, size_t n, uint8_t mask, unsigned digits, uint32_t *out)
{
    uint32_t v = 0;

    for (size_t i = 0; i < n; i++) {
        uint8_t b = p[*off + i];

        if (*off + i == 0)
            b ^= 0x80;
        v = v << 8 | (uint8_t) (b ^ mask);
    }
    *off += n;
    *out = v;
    return v < pow10_u32[digits];
}

/* Append v in exactly `width` digits (width 0: as many as it needs). */
static size_t
put_digits(char *s, uint32_t v, unsigned width)
{
    char tmp[10];
    size_t n = 0;

    do {
        tmp[n++] = (char) ('0' + v % 10);
        v /= 10;
    } while (v != 0 || n < width);
    for (size_t i = 0; i < n; i++)
        s[i] = tmp[n - 1 - i];
    return n;
}

bool
my_decimal_to_text(const uint8_t *p, unsigned precision, unsigned scale, struct cdc_buf *out)
{
    unsigned intg = precision - scale, intg0 = intg / DIG_PER_DEC, intg0x = intg % DIG_PER_DEC;
    unsigned frac0 = scale / DIG_PER_DEC, frac0x = scale % DIG_PER_DEC;
    uint8_t mask = (p[0] & 0x80) ? 0 : 0xFF;
    char s[96]; /* sign, 65 digits, point */
    size_t off = 0, n = 1;
    bool nonzero = false, any_int = false;
    uint32_t g;

    /* integer part: leading partial group, then full groups; leading zeros dropped */
    for (unsigned k = 0; k <= intg0; k++) {
        unsigned digits = k == 0 ? intg0x : DIG_PER_DEC;

        if (digits == 0)
            continue;
        if (!dec_group(p, &off, k == 0 ? dig2bytes[intg0x] : 4, mask, digits, &g))
            return false;
        if (any_int) {
            n += put_digits(s + n, g, DIG_PER_DEC);
        } else if (g != 0) {
            n += put_digits(s + n, g, 0);
            any_int = true;
        }
    }
    nonzero = any_int;
    if (!any_int)
        s[n++] = '0';
    if (scale > 0)
        s[n++] = '.';
    for (unsigned k = 0; k <= frac0; k++) {
        unsigned digits = k < frac0 ? DIG_PER_DEC : frac0x;

        if (digits == 0)
            continue;
        if (!dec_group(p, &off, k < frac0 ? 4 : dig2bytes[frac0x], mask, digits, &g))
            return false;
        nonzero |= g != 0;
        n += put_digits(s + n, g, digits);
    }
    /* a negative zero (never written by the server) prints as zero */
    s[0] = '-';
    if (mask != 0 && nonzero)
        cdc_buf_append(out, s, n);
    else
        cdc_buf_append(out, s + 1, n - 1);
    return true;
}

/* ---- temporal ---- */

size_t
my_frac_bytes(unsigned fsp)
{
    return (fsp + 1) / 2;
}

/* The fraction bytes as microseconds; false if out of range for fsp. */
static bool
frac_usec(const uint8_t *p, unsigned fsp, uint32_t *usec)
{
    uint64_t v = be(p, my_frac_bytes(fsp));

    switch (my_frac_bytes(fsp)) {
    case 0:
        *usec = 0;
        return true;
    case 1:
        *usec = (uint32_t) v * 10000;
        return v < 100;
    case 2:
        *usec = (uint32_t) v * 100;
        return v < 10000;
    default:
        *usec = (uint32_t) v;
        return v < 1000000;
    }
}

bool
my_time_from_packed(int64_t packed, struct my_tm *tm)
{
    uint64_t u = packed < 0 ? (uint64_t) 0 - (uint64_t) packed : (uint64_t) packed;
    uint64_t hms = u >> 24;

    *tm = (struct my_tm){0};
    tm->neg = packed < 0;
    tm->usec = (uint32_t) (u % (1u << 24));
    tm->hour = (uint32_t) (hms >> 12) % (1u << 10);
    tm->minute = (uint32_t) (hms >> 6) % (1u << 6);
    tm->second = (uint32_t) hms % (1u << 6);
    return (hms >> 22) == 0 && tm->minute < 60 && tm->second < 60 && tm->usec < 1000000;
}

bool
my_time2_unpack(const uint8_t *p, unsigned fsp, struct my_tm *tm)
{
    int64_t intpart, frac, packed;

    switch (my_frac_bytes(fsp)) {
    case 0:
        packed = ((int64_t) be(p, 3) - 0x800000) * (INT64_C(1) << 24);
        break;
    case 1:
        intpart = (int64_t) be(p, 3) - 0x800000;
        frac = p[3];
        if (intpart < 0 && frac != 0) { /* the fraction of the next integer up */
            intpart++;
            frac -= 0x100;
        }
        if (frac > 99 || frac < -99)
            return false;
        packed = intpart * (INT64_C(1) << 24) + frac * 10000;
        break;
    case 2:
        intpart = (int64_t) be(p, 3) - 0x800000;
        frac = (int64_t) be(p + 3, 2);
        if (intpart < 0 && frac != 0) {
            intpart++;
            frac -= 0x10000;
        }
        if (frac > 9999 || frac < -9999)
            return false;
        packed = intpart * (INT64_C(1) << 24) + frac * 100;
        break;
    default:
        packed = (int64_t) be(p, 6) - INT64_C(0x800000000000);
        break;
    }
    return my_time_from_packed(packed, tm);
}

bool
my_datetime_from_packed(int64_t packed, struct my_tm *tm)
{
    uint64_t u, ymdhms, ymd, ym, hms;

    *tm = (struct my_tm){0};
    if (packed < 0)
        return false; /* no negative DATETIME */
    u = (uint64_t) packed;
    tm->usec = (uint32_t) (u % (1u << 24));
    ymdhms = u >> 24;
    ymd = ymdhms >> 17;
    ym = ymd >> 5;
    hms = ymdhms % (1u << 17);
    tm->day = (uint32_t) (ymd % (1u << 5));
    tm->month = (uint32_t) (ym % 13);
    tm->year = (uint32_t) (ym / 13);
    tm->second = (uint32_t) (hms % (1u << 6));
    tm->minute = (uint32_t) ((hms >> 6) % (1u << 6));
    tm->hour = (uint32_t) (hms >> 12);
    return ym / 13 <= 9999 && tm->hour < 24 && tm->minute < 60 && tm->second < 60 &&
           tm->usec < 1000000;
}

bool
my_datetime2_unpack(const uint8_t *p, unsigned fsp, struct my_tm *tm)
{
    int64_t intpart = (int64_t) be(p, 5) - INT64_C(0x8000000000);
    uint32_t usec;

    if (!frac_usec(p + 5, fsp, &usec) || intpart < 0)
        return false;
    return my_datetime_from_packed(intpart * (INT64_C(1) << 24) + usec, tm);
}

bool
my_timestamp2_unpack(const uint8_t *p, unsigned fsp, uint32_t *sec, uint32_t *usec)
{
    *sec = (uint32_t) be(p, 4);
    return frac_usec(p + 4, fsp, usec);
}

/* Days since 1970-01-01 to a civil date (H. Hinnant's days_from_civil inverse). */
void
my_tm_from_epoch(int64_t sec, uint32_t usec, struct my_tm *tm)
{
    int64_t days = sec / 86400, rem = sec % 86400, z, era, doe, yoe, doy, mp;

    if (rem < 0) {
        rem += 86400;
        days--;
    }
    z = days + 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *tm = (struct my_tm){0};
    tm->day = (uint32_t) (doy - (153 * mp + 2) / 5 + 1);
    tm->month = (uint32_t) (mp < 10 ? mp + 3 : mp - 9);
    tm->year = (uint32_t) (yoe + era * 400 + (tm->month <= 2));
    tm->hour = (uint32_t) (rem / 3600);
    tm->minute = (uint32_t) (rem / 60 % 60);
    tm->second = (uint32_t) (rem % 60);
    tm->usec = usec;
}

bool
my_tm_is_zero_date(const struct my_tm *tm)
{
    return tm->month == 0 || tm->day == 0;
}

void
my_put_date(struct cdc_buf *out, const struct my_tm *tm)
{
    char s[16];
    size_t n = put_digits(s, tm->year % 10000, 4);

    s[n++] = '-';
    n += put_digits(s + n, tm->month % 100, 2);
    s[n++] = '-';
    n += put_digits(s + n, tm->day % 100, 2);
    cdc_buf_append(out, s, n);
}

/* ":MM:SS[.f]" after the hours. */
static void
put_mmss(struct cdc_buf *out, const struct my_tm *tm, unsigned fsp)
{
    char s[24];
    size_t n = 0;

    s[n++] = ':';
    n += put_digits(s + n, tm->minute % 100, 2);
    s[n++] = ':';
    n += put_digits(s + n, tm->second % 100, 2);
    if (fsp > 0) {
        s[n++] = '.';
        n += put_digits(s + n, (tm->usec % 1000000) / pow10_u32[6 - (fsp > 6 ? 6 : fsp)],
                        fsp > 6 ? 6 : fsp);
    }
    cdc_buf_append(out, s, n);
}

void
my_put_time(struct cdc_buf *out, const struct my_tm *tm, unsigned fsp)
{
    char s[8];
    size_t n = 0;

    if (tm->neg)
        s[n++] = '-';
    n += put_digits(s + n, tm->hour % 10000, 2);
    cdc_buf_append(out, s, n);
    put_mmss(out, tm, fsp);
}

void
my_put_datetime(struct cdc_buf *out, const struct my_tm *tm, unsigned fsp)
{
    char s[4];

    my_put_date(out, tm);
    s[0] = ' ';
    put_digits(s + 1, tm->hour % 100, 2);
    cdc_buf_append(out, s, 3);
    put_mmss(out, tm, fsp);
}

/* ---- floating point ---- */

static bool
put_special(struct cdc_buf *out, double v)
{
    if (isnan(v))
        cdc_buf_puts(out, "NaN");
    else if (isinf(v))
        cdc_buf_puts(out, v < 0 ? "-Infinity" : "Infinity");
    else
        return false;
    return true;
}

void
my_put_double(struct cdc_buf *out, double v)
{
    char s[40];

    if (put_special(out, v))
        return;
    /* 15 significant digits always read back for values that have at most 15; else 16, 17 */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(s, sizeof(s), "%.*g", prec, v);
        if (prec == 17 || strtod(s, NULL) == v)
            break;
    }
    cdc_buf_puts(out, s);
}

void
my_put_float(struct cdc_buf *out, float v)
{
    char s[40];

    if (put_special(out, v))
        return;
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(s, sizeof(s), "%.*g", prec, (double) v);
        if (prec == 9 || strtof(s, NULL) == v)
            break;
    }
    cdc_buf_puts(out, s);
}

/* ---- character sets ---- */

/* An iconv-converted character set. */
static enum my_cs_kind
cs_by_name(const char *name, const char **iconv_name)
{
    *iconv_name = name;
    return name == NULL ? MY_CS_UNKNOWN : MY_CS_ICONV;
}

enum my_cs_kind
my_collation_charset(uint32_t id, const char **iconv_name)
{
    *iconv_name = NULL;
    if (id >= 2048 && id < 3328) { /* MariaDB uca1400 ids: charset in bits 8-10 */
        switch ((id - 2048) >> 8) {
        case 0:
        case 1:
            return MY_CS_UTF8;
        case 2:
            return cs_by_name("UCS-2BE", iconv_name);
        case 3:
            return cs_by_name("UTF-16BE", iconv_name);
        default:
            return cs_by_name("UTF-32BE", iconv_name);
        }
    }
    if (id >= 1024 && id < 2048) /* MariaDB _nopad_ collations: 1024 + the base id */
        id -= 1024;
    if (id == 33 || id == 45 || id == 46 || id == 76 || id == 83 || (id >= 192 && id <= 247) ||
        (id >= 255 && id <= 323) || (id >= 576 && id <= 639))
        return MY_CS_UTF8;
    switch (id) {
    case 63:
        return MY_CS_BINARY;
    case 5:
    case 8:
    case 15:
    case 31:
    case 47:
    case 48:
    case 49:
    case 94:
        return MY_CS_LATIN1;
    case 11:
    case 65:
        return MY_CS_ASCII;
    case 1:
    case 84:
        return cs_by_name("BIG5", iconv_name);
    case 2:
    case 9:
    case 21:
    case 27:
    case 77:
        return cs_by_name("ISO-8859-2", iconv_name);
    case 4:
    case 80:
        return cs_by_name("CP850", iconv_name);
    case 6:
    case 72:
        return cs_by_name("HP-ROMAN8", iconv_name);
    case 7:
    case 74:
        return cs_by_name("KOI8-R", iconv_name);
    case 12:
    case 91:
        return cs_by_name("EUC-JP", iconv_name);
    case 13:
    case 88:
        return cs_by_name("SHIFT_JIS", iconv_name);
    case 14:
    case 23:
    case 50:
    case 51:
    case 52:
        return cs_by_name("CP1251", iconv_name);
    case 16:
    case 71:
        return cs_by_name("ISO-8859-8", iconv_name);
    case 18:
    case 89:
        return cs_by_name("TIS-620", iconv_name);
    case 19:
    case 85:
        return cs_by_name("EUC-KR", iconv_name);
    case 20:
    case 41:
    case 42:
    case 79:
        return cs_by_name("ISO-8859-13", iconv_name);
    case 22:
    case 75:
        return cs_by_name("KOI8-U", iconv_name);
    case 24:
    case 86:
        return cs_by_name("GB2312", iconv_name);
    case 25:
    case 70:
        return cs_by_name("ISO-8859-7", iconv_name);
    case 26:
    case 34:
    case 44:
    case 66:
    case 99:
        return cs_by_name("CP1250", iconv_name);
    case 28:
    case 87:
        return cs_by_name("GBK", iconv_name);
    case 29:
    case 58:
    case 59:
        return cs_by_name("CP1257", iconv_name);
    case 30:
    case 78:
        return cs_by_name("ISO-8859-9", iconv_name);
    case 32:
    case 64:
        return cs_by_name("ARMSCII-8", iconv_name);
    case 35:
    case 90:
    case 159:
        return cs_by_name("UCS-2BE", iconv_name);
    case 36:
    case 68:
        return cs_by_name("CP866", iconv_name);
    case 38:
    case 43:
        return cs_by_name("MAC-CENTRALEUROPE", iconv_name);
    case 39:
    case 53:
        return cs_by_name("MACINTOSH", iconv_name);
    case 40:
    case 81:
        return cs_by_name("CP852", iconv_name);
    case 54:
    case 55:
        return cs_by_name("UTF-16BE", iconv_name);
    case 56:
    case 62:
        return cs_by_name("UTF-16LE", iconv_name);
    case 57:
    case 67:
        return cs_by_name("CP1256", iconv_name);
    case 60:
    case 61:
        return cs_by_name("UTF-32BE", iconv_name);
    case 92:
    case 93:
        return cs_by_name("GEORGIAN-PS", iconv_name);
    case 95:
    case 96:
        return cs_by_name("CP932", iconv_name);
    case 97:
    case 98:
        return cs_by_name("EUC-JP-MS", iconv_name);
    case 248:
    case 249:
    case 250:
        return cs_by_name("GB18030", iconv_name);
    default:
        break;
    }
    if (id >= 640 && id <= 671) /* MariaDB's _mysql561 collations of ucs2, utf16, utf32 */
        return cs_by_name("UCS-2BE", iconv_name);
    if (id >= 672 && id <= 703)
        return cs_by_name("UTF-16BE", iconv_name);
    if (id >= 736 && id <= 767)
        return cs_by_name("UTF-32BE", iconv_name);
    if (id >= 101 && id <= 124)
        return cs_by_name("UTF-16BE", iconv_name);
    if (id >= 128 && id <= 151)
        return cs_by_name("UCS-2BE", iconv_name);
    if (id >= 160 && id <= 183)
        return cs_by_name("UTF-32BE", iconv_name);
    return MY_CS_UNKNOWN;
}

/* Windows-1252 0x80..0x9F as MySQL's latin1 maps them (the five holes to C1 controls). */
static const uint16_t latin1_c1[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

void
my_put_latin1(struct cdc_buf *out, const uint8_t *s, size_t n)
{
    size_t run = 0;

    if (!cdc_buf_reserve(out, n * 3))
        return;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = s[i];
        char e[3];

        if (u < 0x80)
            continue;
        cdc_buf_append(out, s + run, i - run);
        run = i + 1;
        if (u < 0xA0)
            u = latin1_c1[u - 0x80];
        if (u < 0x800) {
            e[0] = (char) (0xC0 | u >> 6);
            e[1] = (char) (0x80 | (u & 0x3F));
            cdc_buf_append(out, e, 2);
        } else {
            e[0] = (char) (0xE0 | u >> 12);
            e[1] = (char) (0x80 | (u >> 6 & 0x3F));
            e[2] = (char) (0x80 | (u & 0x3F));
            cdc_buf_append(out, e, 3);
        }
    }
    cdc_buf_append(out, s + run, n - run);
}
