/*
 * test_pgtypes.c - builtin type OIDs to render formats, and the
 * classification of catalog-described types (domains, user-defined arrays).
 * The OIDs were checked against pg_type of a PostgreSQL 15 server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "source/pg/pgtypes.h"

struct want {
    uint32_t oid;
    enum cdc_vfmt fmt;
    enum cdc_vfmt elem;
};

static void
check(const struct want *w, size_t n, bool known)
{
    for (size_t i = 0; i < n; i++) {
        enum cdc_vfmt fmt = CDC_VF_RAW_JSON, elem = CDC_VF_RAW_JSON;

        if (pgtypes_lookup(w[i].oid, &fmt, &elem) != known)
            fail_msg("oid %u: known should be %d", (unsigned) w[i].oid, known);
        if (fmt != w[i].fmt || elem != w[i].elem)
            fail_msg("oid %u: got fmt %d elem %d, want %d %d", (unsigned) w[i].oid, fmt, elem,
                     w[i].fmt, w[i].elem);
    }
}

static void
test_pgtypes_scalars_map_to_their_formats(void **state)
{
    static const struct want w[] = {
        {21, CDC_VF_INT, CDC_VF_STRING},           /* int2 */
        {23, CDC_VF_INT, CDC_VF_STRING},           /* int4 */
        {20, CDC_VF_INT, CDC_VF_STRING},           /* int8 */
        {26, CDC_VF_INT, CDC_VF_STRING},           /* oid */
        {700, CDC_VF_FLOAT, CDC_VF_STRING},        /* float4 */
        {701, CDC_VF_FLOAT, CDC_VF_STRING},        /* float8 */
        {1700, CDC_VF_NUMERIC, CDC_VF_STRING},     /* numeric */
        {16, CDC_VF_BOOL, CDC_VF_STRING},          /* bool */
        {114, CDC_VF_JSON, CDC_VF_STRING},         /* json */
        {3802, CDC_VF_JSON, CDC_VF_STRING},        /* jsonb */
        {1184, CDC_VF_TIMESTAMPTZ, CDC_VF_STRING}, /* timestamptz */
        {1114, CDC_VF_TIMESTAMP, CDC_VF_STRING},   /* timestamp */
        {1082, CDC_VF_DATE, CDC_VF_STRING},        /* date */
        {1083, CDC_VF_TIME, CDC_VF_STRING},        /* time */
        {1266, CDC_VF_TIMETZ, CDC_VF_STRING},      /* timetz */
        {1186, CDC_VF_INTERVAL, CDC_VF_STRING},    /* interval */
        {17, CDC_VF_BYTEA_HEX, CDC_VF_STRING},     /* bytea */
    };

    (void) state;
    check(w, sizeof(w) / sizeof(w[0]), true);
}

static void
test_pgtypes_string_like_builtins_are_strings(void **state)
{
    /* text, varchar, bpchar, uuid, inet, cidr, macaddr, money, xml, name, "char", bit */
    static const struct want w[] = {
        {25, CDC_VF_STRING, CDC_VF_STRING},   {1043, CDC_VF_STRING, CDC_VF_STRING},
        {1042, CDC_VF_STRING, CDC_VF_STRING}, {2950, CDC_VF_STRING, CDC_VF_STRING},
        {869, CDC_VF_STRING, CDC_VF_STRING},  {650, CDC_VF_STRING, CDC_VF_STRING},
        {829, CDC_VF_STRING, CDC_VF_STRING},  {790, CDC_VF_STRING, CDC_VF_STRING},
        {142, CDC_VF_STRING, CDC_VF_STRING},  {19, CDC_VF_STRING, CDC_VF_STRING},
        {18, CDC_VF_STRING, CDC_VF_STRING},   {1560, CDC_VF_STRING, CDC_VF_STRING},
    };

    (void) state;
    check(w, sizeof(w) / sizeof(w[0]), true);
}

static void
test_pgtypes_arrays_carry_their_element_format(void **state)
{
    static const struct want w[] = {
        {1005, CDC_VF_ARRAY, CDC_VF_INT},         /* int2[] */
        {1007, CDC_VF_ARRAY, CDC_VF_INT},         /* int4[] */
        {1016, CDC_VF_ARRAY, CDC_VF_INT},         /* int8[] */
        {1028, CDC_VF_ARRAY, CDC_VF_INT},         /* oid[] */
        {1021, CDC_VF_ARRAY, CDC_VF_FLOAT},       /* float4[] */
        {1022, CDC_VF_ARRAY, CDC_VF_FLOAT},       /* float8[] */
        {1231, CDC_VF_ARRAY, CDC_VF_NUMERIC},     /* numeric[] */
        {1000, CDC_VF_ARRAY, CDC_VF_BOOL},        /* bool[] */
        {199, CDC_VF_ARRAY, CDC_VF_JSON},         /* json[] */
        {3807, CDC_VF_ARRAY, CDC_VF_JSON},        /* jsonb[] */
        {1185, CDC_VF_ARRAY, CDC_VF_TIMESTAMPTZ}, /* timestamptz[] */
        {1115, CDC_VF_ARRAY, CDC_VF_TIMESTAMP},   /* timestamp[] */
        {1182, CDC_VF_ARRAY, CDC_VF_DATE},        /* date[] */
        {1183, CDC_VF_ARRAY, CDC_VF_TIME},        /* time[] */
        {1270, CDC_VF_ARRAY, CDC_VF_TIMETZ},      /* timetz[] */
        {1187, CDC_VF_ARRAY, CDC_VF_INTERVAL},    /* interval[] */
        {1001, CDC_VF_ARRAY, CDC_VF_BYTEA_HEX},   /* bytea[] */
        {1009, CDC_VF_ARRAY, CDC_VF_STRING},      /* text[] */
        {1015, CDC_VF_ARRAY, CDC_VF_STRING},      /* varchar[] */
        {1014, CDC_VF_ARRAY, CDC_VF_STRING},      /* bpchar[] */
        {2951, CDC_VF_ARRAY, CDC_VF_STRING},      /* uuid[] */
        {1041, CDC_VF_ARRAY, CDC_VF_STRING},      /* inet[] */
        {651, CDC_VF_ARRAY, CDC_VF_STRING},       /* cidr[] */
        {1040, CDC_VF_ARRAY, CDC_VF_STRING},      /* macaddr[] */
        {791, CDC_VF_ARRAY, CDC_VF_STRING},       /* money[] */
        {143, CDC_VF_ARRAY, CDC_VF_STRING},       /* xml[] */
    };

    (void) state;
    check(w, sizeof(w) / sizeof(w[0]), true);
}

static void
test_pgtypes_unknown_oids_are_strings_and_not_known(void **state)
{
    /* 0, point (600), tsvector (3614), a user-defined enum, the largest OID */
    static const struct want w[] = {
        {0, CDC_VF_STRING, CDC_VF_STRING},          {600, CDC_VF_STRING, CDC_VF_STRING},
        {3614, CDC_VF_STRING, CDC_VF_STRING},       {16390, CDC_VF_STRING, CDC_VF_STRING},
        {UINT32_MAX, CDC_VF_STRING, CDC_VF_STRING},
    };

    (void) state;
    check(w, sizeof(w) / sizeof(w[0]), false);
}

static void
test_pgtypes_classify_domains_arrays_and_others(void **state)
{
    enum cdc_vfmt fmt, elem;

    (void) state;
    /* CREATE DOMAIN positive AS int4: typbasetype 23, typcategory 'N' */
    pgtypes_classify(0, 'N', 23, &fmt, &elem);
    assert_int_equal(fmt, CDC_VF_INT);
    assert_int_equal(elem, CDC_VF_STRING);
    /* a domain over int4[]: renders as the base array */
    pgtypes_classify(0, 'A', 1007, &fmt, &elem);
    assert_int_equal(fmt, CDC_VF_ARRAY);
    assert_int_equal(elem, CDC_VF_INT);
    /* the array type of an enum: typelem = the enum, typcategory 'A' */
    pgtypes_classify(16390, 'A', 0, &fmt, &elem);
    assert_int_equal(fmt, CDC_VF_ARRAY);
    assert_int_equal(elem, CDC_VF_STRING);
    /* a user-defined array type whose element is a builtin (date) */
    pgtypes_classify(1082, 'A', 0, &fmt, &elem);
    assert_int_equal(fmt, CDC_VF_ARRAY);
    assert_int_equal(elem, CDC_VF_DATE);
    /* an element that is itself an array type cannot nest: elements render as strings */
    pgtypes_classify(1007, 'A', 0, &fmt, &elem);
    assert_int_equal(fmt, CDC_VF_ARRAY);
    assert_int_equal(elem, CDC_VF_STRING);
    /* an enum ('E'), a composite ('C'), a category 'A' without element */
    pgtypes_classify(0, 'E', 0, &fmt, &elem);
    assert_int_equal(fmt, CDC_VF_STRING);
    pgtypes_classify(0, 'C', 0, &fmt, &elem);
    assert_int_equal(fmt, CDC_VF_STRING);
    pgtypes_classify(0, 'A', 0, &fmt, &elem);
    assert_int_equal(fmt, CDC_VF_STRING);
    assert_int_equal(elem, CDC_VF_STRING);
    /* a domain over an unknown type */
    pgtypes_classify(0, 'S', 16400, &fmt, &elem);
    assert_int_equal(fmt, CDC_VF_STRING);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pgtypes_scalars_map_to_their_formats),
        cmocka_unit_test(test_pgtypes_string_like_builtins_are_strings),
        cmocka_unit_test(test_pgtypes_arrays_carry_their_element_format),
        cmocka_unit_test(test_pgtypes_unknown_oids_are_strings_and_not_known),
        cmocka_unit_test(test_pgtypes_classify_domains_arrays_and_others),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
