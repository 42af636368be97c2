/*
 * pgwire_build.h - building pgoutput messages by hand for the decoder tests
 * (test_pgoutput.c, test_pgstream.c): big-endian integers, C strings and 't'
 * column values, as the PostgreSQL protocol documentation lays them out.
 * Include after <cmocka.h>.
 */
#ifndef CDC_TEST_PGWIRE_BUILD_H
#define CDC_TEST_PGWIRE_BUILD_H

#include <stdint.h>
#include <string.h>

/* A message under construction, big-endian as on the wire. */
struct mb {
    uint8_t b[512];
    size_t n;
};

static inline void
p8(struct mb *m, uint8_t v)
{
    assert_true(m->n < sizeof(m->b));
    m->b[m->n++] = v;
}

static inline void
p16(struct mb *m, uint16_t v)
{
    p8(m, (uint8_t) (v >> 8));
    p8(m, (uint8_t) v);
}

static inline void
p32(struct mb *m, uint32_t v)
{
    p16(m, (uint16_t) (v >> 16));
    p16(m, (uint16_t) v);
}

static inline void
p64(struct mb *m, uint64_t v)
{
    p32(m, (uint32_t) (v >> 32));
    p32(m, (uint32_t) v);
}

/* A C string with its terminating NUL. */
static inline void
pstr(struct mb *m, const char *s)
{
    for (size_t i = 0; i <= strlen(s); i++)
        p8(m, (uint8_t) s[i]);
}

/* A 't' value: kind, int32 length, bytes. */
static inline void
ptext(struct mb *m, const char *s)
{
    p8(m, 't');
    p32(m, (uint32_t) strlen(s));
    for (size_t i = 0; i < strlen(s); i++)
        p8(m, (uint8_t) s[i]);
}

#endif
