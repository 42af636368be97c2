/*
 * mytypes.h - MySQL / MariaDB storage formats to text: DECIMAL (decimal2bin),
 * the packed temporal formats (DATE, TIME, DATETIME, TIMESTAMP and their
 * fractional "2" forms, my_time.cc), floating point, and collation ids to
 * character sets. Pure functions, no I/O, used by rowdec.c and myjson.c.
 *
 * Text forms are the ones the JSON encoder expects (enum cdc_vfmt):
 * DECIMAL "-1234.5678", DATE "2024-01-02", TIME "-838:59:59.000000",
 * DATETIME "2024-01-02 03:04:05.5", TIMESTAMP "2024-01-02 03:04:05+00"
 * (UTC). Fractions print exactly `fsp` digits, as the server prints them.
 */
#ifndef CDC_SOURCE_MYSQL_MYTYPES_H
#define CDC_SOURCE_MYSQL_MYTYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* A broken-down date and time, as stored (no validation implied). */
struct my_tm {
    bool neg;        /* TIME only */
    uint32_t year;   /* 0-9999 */
    uint32_t month;  /* 0-12 (0 in a zero date) */
    uint32_t day;    /* 0-31 */
    uint32_t hour;   /* 0-23; TIME: 0-1023 */
    uint32_t minute; /* 0-59 */
    uint32_t second; /* 0-59 */
    uint32_t usec;   /* 0-999999 */
};

/* Bytes of a DECIMAL(precision, scale) value in binary form. */
size_t my_decimal_bin_size(unsigned precision, unsigned scale);

/*
 * Append the text of a binary DECIMAL(precision, scale) at p
 * (my_decimal_bin_size() bytes): "-0.0500", "12", "0.5". A digit group out of
 * range (not a valid decimal) returns false and appends nothing.
 */
bool my_decimal_to_text(const uint8_t *p, unsigned precision, unsigned scale, struct cdc_buf *out);

/* Bytes of the fractional part of TIME2/DATETIME2/TIMESTAMP2 with fsp digits. */
size_t my_frac_bytes(unsigned fsp);

/*
 * Unpack TIME2 (3 + my_frac_bytes(fsp) bytes, big-endian), DATETIME2 (5 + ...)
 * and TIMESTAMP2 (4 + ..., seconds since the epoch in *sec). False if the
 * stored value is out of range (a corrupt value).
 */
bool my_time2_unpack(const uint8_t *p, unsigned fsp, struct my_tm *tm);
bool my_datetime2_unpack(const uint8_t *p, unsigned fsp, struct my_tm *tm);
bool my_timestamp2_unpack(const uint8_t *p, unsigned fsp, uint32_t *sec, uint32_t *usec);

/* The in-memory "packed" forms (JSON opaque values): (int part << 24) + microseconds. */
bool my_time_from_packed(int64_t packed, struct my_tm *tm);
bool my_datetime_from_packed(int64_t packed, struct my_tm *tm);

/* UTC broken-down time of seconds since the epoch. */
void my_tm_from_epoch(int64_t sec, uint32_t usec, struct my_tm *tm);

/* Is month or day zero (a zero date, or a date with zero parts)? */
bool my_tm_is_zero_date(const struct my_tm *tm);

/* Append "YYYY-MM-DD". */
void my_put_date(struct cdc_buf *out, const struct my_tm *tm);
/* Append "[-]HH:MM:SS[.f]" (hours keep 3 digits above 99), fsp fraction digits. */
void my_put_time(struct cdc_buf *out, const struct my_tm *tm, unsigned fsp);
/* Append "YYYY-MM-DD HH:MM:SS[.f]". */
void my_put_datetime(struct cdc_buf *out, const struct my_tm *tm, unsigned fsp);

/* Shortest text that reads back as the same value; "NaN", "Infinity", "-Infinity". */
void my_put_double(struct cdc_buf *out, double v);
void my_put_float(struct cdc_buf *out, float v);

enum my_cs_kind {
    MY_CS_UNKNOWN = 0, /* id not known: bytes pass through (the JSON encoder repairs UTF-8) */
    MY_CS_UTF8,        /* utf8mb3 / utf8mb4: copied (validated by the JSON encoder) */
    MY_CS_BINARY,      /* binary (63): not text */
    MY_CS_LATIN1,      /* MySQL's latin1, which is Windows-1252: converted by a table */
    MY_CS_ASCII,       /* copied */
    MY_CS_ICONV,       /* converted with iconv from `iconv_name` */
};

/* The character set of a collation id; *iconv_name is set for MY_CS_ICONV. */
enum my_cs_kind my_collation_charset(uint32_t collation, const char **iconv_name);

/* Append latin1 (Windows-1252 as MySQL defines it) bytes converted to UTF-8. */
void my_put_latin1(struct cdc_buf *out, const uint8_t *s, size_t n);

#endif
