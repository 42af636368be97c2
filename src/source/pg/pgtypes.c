/*
 * pgtypes.c - the builtin type table behind pgtypes.h.
 *
 * OIDs are stable across PostgreSQL versions for builtin types (they come from
 * pg_type.dat). The table is sorted by OID and searched by bisection; a unit
 * test checks the order and checks the OIDs against a real server's pg_type.
 */
#include "source/pg/pgtypes.h"

#include <stddef.h>

struct pgt_entry {
    uint32_t oid;
    enum cdc_vfmt fmt;
    enum cdc_vfmt elem; /* element format, for arrays */
};

#define S  CDC_VF_STRING
#define AR CDC_VF_ARRAY

/* Sorted by oid. Scalars carry elem = S. */
static const struct pgt_entry pgt_table[] = {
    {16, CDC_VF_BOOL, S},           /* bool */
    {17, CDC_VF_BYTEA_HEX, S},      /* bytea */
    {18, S, S},                     /* "char" */
    {19, S, S},                     /* name */
    {20, CDC_VF_INT, S},            /* int8 */
    {21, CDC_VF_INT, S},            /* int2 */
    {23, CDC_VF_INT, S},            /* int4 */
    {25, S, S},                     /* text */
    {26, CDC_VF_INT, S},            /* oid */
    {114, CDC_VF_JSON, S},          /* json */
    {142, S, S},                    /* xml */
    {143, AR, S},                   /* xml[] */
    {199, AR, CDC_VF_JSON},         /* json[] */
    {650, S, S},                    /* cidr */
    {651, AR, S},                   /* cidr[] */
    {700, CDC_VF_FLOAT, S},         /* float4 */
    {701, CDC_VF_FLOAT, S},         /* float8 */
    {774, S, S},                    /* macaddr8 */
    {775, AR, S},                   /* macaddr8[] */
    {790, S, S},                    /* money */
    {791, AR, S},                   /* money[] */
    {829, S, S},                    /* macaddr */
    {869, S, S},                    /* inet */
    {1000, AR, CDC_VF_BOOL},        /* bool[] */
    {1001, AR, CDC_VF_BYTEA_HEX},   /* bytea[] */
    {1002, AR, S},                  /* "char"[] */
    {1003, AR, S},                  /* name[] */
    {1005, AR, CDC_VF_INT},         /* int2[] */
    {1007, AR, CDC_VF_INT},         /* int4[] */
    {1009, AR, S},                  /* text[] */
    {1014, AR, S},                  /* bpchar[] */
    {1015, AR, S},                  /* varchar[] */
    {1016, AR, CDC_VF_INT},         /* int8[] */
    {1021, AR, CDC_VF_FLOAT},       /* float4[] */
    {1022, AR, CDC_VF_FLOAT},       /* float8[] */
    {1028, AR, CDC_VF_INT},         /* oid[] */
    {1040, AR, S},                  /* macaddr[] */
    {1041, AR, S},                  /* inet[] */
    {1042, S, S},                   /* bpchar */
    {1043, S, S},                   /* varchar */
    {1082, CDC_VF_DATE, S},         /* date */
    {1083, CDC_VF_TIME, S},         /* time */
    {1114, CDC_VF_TIMESTAMP, S},    /* timestamp */
    {1115, AR, CDC_VF_TIMESTAMP},   /* timestamp[] */
    {1182, AR, CDC_VF_DATE},        /* date[] */
    {1183, AR, CDC_VF_TIME},        /* time[] */
    {1184, CDC_VF_TIMESTAMPTZ, S},  /* timestamptz */
    {1185, AR, CDC_VF_TIMESTAMPTZ}, /* timestamptz[] */
    {1186, CDC_VF_INTERVAL, S},     /* interval */
    {1187, AR, CDC_VF_INTERVAL},    /* interval[] */
    {1231, AR, CDC_VF_NUMERIC},     /* numeric[] */
    {1266, CDC_VF_TIMETZ, S},       /* timetz */
    {1270, AR, CDC_VF_TIMETZ},      /* timetz[] */
    {1560, S, S},                   /* bit */
    {1561, AR, S},                  /* bit[] */
    {1562, S, S},                   /* varbit */
    {1563, AR, S},                  /* varbit[] */
    {1700, CDC_VF_NUMERIC, S},      /* numeric */
    {2950, S, S},                   /* uuid */
    {2951, AR, S},                  /* uuid[] */
    {3802, CDC_VF_JSON, S},         /* jsonb */
    {3807, AR, CDC_VF_JSON},        /* jsonb[] */
};

#undef S
#undef AR

static const struct pgt_entry *
pgt_find(uint32_t oid)
{
    size_t lo = 0, hi = sizeof(pgt_table) / sizeof(pgt_table[0]);

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (pgt_table[mid].oid == oid)
            return &pgt_table[mid];
        if (pgt_table[mid].oid < oid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

bool
pgtypes_lookup(uint32_t oid, enum cdc_vfmt *fmt, enum cdc_vfmt *elem_fmt)
{
    const struct pgt_entry *e = pgt_find(oid);

    *fmt = e != NULL ? e->fmt : CDC_VF_STRING;
    *elem_fmt = e != NULL ? e->elem : CDC_VF_STRING;
    return e != NULL;
}

void
pgtypes_classify(uint32_t typelem, char typcategory, uint32_t typbasetype, enum cdc_vfmt *fmt,
                 enum cdc_vfmt *elem_fmt)
{
    enum cdc_vfmt ignored;

    *fmt = CDC_VF_STRING;
    *elem_fmt = CDC_VF_STRING;
    if (typbasetype != 0) {
        (void) pgtypes_lookup(typbasetype, fmt, elem_fmt);
        return;
    }
    if (typcategory == 'A' && typelem != 0) {
        *fmt = CDC_VF_ARRAY;
        (void) pgtypes_lookup(typelem, elem_fmt, &ignored);
        /* an array of arrays does not exist in PostgreSQL; be safe anyway */
        if (*elem_fmt == CDC_VF_ARRAY)
            *elem_fmt = CDC_VF_STRING;
    }
}
