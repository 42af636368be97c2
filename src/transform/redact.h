/*
 * redact.h - the design's sensitive-field filtering (cdc.sensitive_fields).
 *
 * A rule is a plain column name ("password"), which matches that column in
 * every table, or "schema.table.column", which matches exactly. Matching
 * columns are marked `omit` once per relation definition, so the per-row
 * cost is one flag test; the envelope then leaves them out of before, after
 * and metadata.unchanged_columns. This is the design's "drop" action; the
 * transformation issue adds mask, hash and truncate.
 *
 * Pure: no I/O, no allocation.
 */
#ifndef CDC_TRANSFORM_REDACT_H
#define CDC_TRANSFORM_REDACT_H

#include "event/event.h"

/* Set cols[i].omit for every column of rel matched by one of the n rules. Returns how many. */
unsigned redact_mark(struct cdc_relation *rel, const char *const *rules, int n);

#endif
