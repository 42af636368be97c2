/*
 * pgtypes.h - how PostgreSQL types render: builtin type OIDs to enum cdc_vfmt.
 *
 * Numbers, booleans, JSON, dates and times, bytea and the arrays of all
 * builtin types have their own formats; everything else (text, varchar, uuid,
 * inet, money, enums, domains, user-defined and unknown types) is a string.
 * pgtypes_classify() extends this to types learned from the catalog
 * (user-defined arrays and domains) without any lookup of its own.
 *
 * Pure functions over constant tables: any thread, no allocation.
 */
#ifndef CDC_SOURCE_PG_PGTYPES_H
#define CDC_SOURCE_PG_PGTYPES_H

#include <stdbool.h>
#include <stdint.h>

#include "event/event.h"

/* A few builtin OIDs the rest of the source refers to by name. */
#define PGT_OID_BOOL        16
#define PGT_OID_BYTEA       17
#define PGT_OID_INT8        20
#define PGT_OID_INT2        21
#define PGT_OID_INT4        23
#define PGT_OID_TEXT        25
#define PGT_OID_OID         26
#define PGT_OID_JSON        114
#define PGT_OID_FLOAT4      700
#define PGT_OID_FLOAT8      701
#define PGT_OID_VARCHAR     1043
#define PGT_OID_DATE        1082
#define PGT_OID_TIME        1083
#define PGT_OID_TIMESTAMP   1114
#define PGT_OID_TIMESTAMPTZ 1184
#define PGT_OID_INTERVAL    1186
#define PGT_OID_TIMETZ      1266
#define PGT_OID_NUMERIC     1700
#define PGT_OID_UUID        2950
#define PGT_OID_JSONB       3802
#define PGT_OID_INT4_ARRAY  1007
#define PGT_OID_TEXT_ARRAY  1009

/*
 * Look up a builtin type OID. Returns true and sets *fmt (and *elem_fmt, which
 * is meaningful for CDC_VF_ARRAY only and CDC_VF_STRING otherwise) when the
 * OID is a builtin type this table knows, false (with both set to
 * CDC_VF_STRING) for any other OID: such types render as strings unless the
 * caller learns more with pgtypes_classify().
 */
bool pgtypes_lookup(uint32_t oid, enum cdc_vfmt *fmt, enum cdc_vfmt *elem_fmt);

/*
 * Classify a type that pgtypes_lookup() does not know, from its pg_type row:
 * typelem (the element type of an array, 0 if none), typcategory ('A' for
 * arrays) and typbasetype (the base type of a domain, 0 if none).
 * A domain renders like its base type, an array ('A' with a typelem) is
 * CDC_VF_ARRAY with the element's format (a domain element: its base type
 * cannot be known here, so a string), anything else is CDC_VF_STRING.
 * The base type and the element are looked up with pgtypes_lookup() only.
 */
void pgtypes_classify(uint32_t typelem, char typcategory, uint32_t typbasetype, enum cdc_vfmt *fmt,
                      enum cdc_vfmt *elem_fmt);

#endif
