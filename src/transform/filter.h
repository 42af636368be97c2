/*
 * filter.h - which tables and which operations are published:
 * cdc.table_filters (include patterns), cdc.table_excludes (exclude
 * patterns) and cdc.operations.
 *
 * Pattern syntax. A pattern is "schema.table": one unquoted dot separates the
 * schema part (for MySQL/MariaDB, the database) from the table part; both are
 * required. In each part, outside double quotes, `*` matches any run of
 * characters (empty too) and `?` exactly one character (UTF-8 aware); neither
 * ever crosses the dot, because the parts are matched separately. A part may
 * be double-quoted, in whole or in pieces, as SQL identifiers are: inside
 * quotes every character is literal (`.`, `*`, `?`), and `""` stands for one
 * `"`. So `"my.schema"."orders*"` names the table `orders*` of the schema
 * `my.schema`, and `sales."q*"_*` matches `q*_2024` but not `q1_2024`.
 * Backslash is an ordinary character. Matching is case-sensitive and byte for
 * byte: names are not folded to lower case, quoted or not.
 *
 * Verdicts. A table is included when no include pattern is given or one of
 * them matches, and no exclude pattern matches: exclude wins over include.
 * An operation is published when cdc.operations names it (insert, update,
 * delete, truncate, ddl; all by default). The sources ask once per relation
 * (filter_table_included) and keep the verdict on it; the pipeline asks
 * filter_op_included per change.
 *
 * For PostgreSQL, filter_pub_plan() turns the patterns into the narrowest
 * publication that still holds every included table, including tables
 * created later (see there).
 *
 * Pure: no I/O. A compiled filter is immutable and may be read by any thread.
 */
#ifndef CDC_TRANSFORM_FILTER_H
#define CDC_TRANSFORM_FILTER_H

#include <stdbool.h>

#include "core/err.h"
#include "event/event.h"

struct filter;

/*
 * Check one pattern's syntax. CDC_OK, or CDC_ERR_CONFIG with err->msg saying
 * what is wrong, in words that follow "key: " in a config problem line (e.g.
 * "\"orders\" has no schema part: write schema.table, e.g. public.orders").
 * Any thread.
 */
cdc_rc filter_pattern_check(const char *pattern, struct cdc_err *err);

/* The operation named `name` (insert, update, delete, truncate, ddl; any case). False if none. */
bool filter_op_parse(const char *name, enum cdc_op *out);

/*
 * Compile the patterns and operation names (each borrowed for the call).
 * n_ops == 0 means every operation. *out is set only on success; free it with
 * filter_destroy(). CDC_ERR_CONFIG for a bad pattern or operation (the message
 * names it), CDC_ERR_NOMEM.
 */
cdc_rc filter_create(struct filter **out, const char *const *includes, int n_includes,
                     const char *const *excludes, int n_excludes, const char *const *ops, int n_ops,
                     struct cdc_err *err) CDC_MUST_CHECK;

/* Free f. NULL does nothing. */
void filter_destroy(struct filter *f);

/* Is schema.table published (see the file comment)? */
bool filter_table_included(const struct filter *f, const char *schema, const char *table);

/* Were include patterns given (false: every table is included unless excluded)? */
bool filter_has_includes(const struct filter *f);

/* Were exclude patterns given? */
bool filter_has_excludes(const struct filter *f);

/* Could some table of `schema` be included: no include pattern, or one whose schema part matches.
 */
bool filter_schema_may_match(const struct filter *f, const char *schema);

/* Is the operation published (cdc.operations)? */
bool filter_op_included(const struct filter *f, enum cdc_op op);

/* One object of a publication: a table, or every table of a schema (table NULL). */
struct filter_pub_object {
    char *schema; /* exact name, unquoted */
    char *table;  /* exact name, unquoted; NULL: TABLES IN SCHEMA schema */
};

/*
 * The PostgreSQL publication for the filter.
 * - all_tables: FOR ALL TABLES (no include pattern, or one whose schema part
 *   has a wildcard: PostgreSQL cannot say "every schema matching x");
 * - otherwise objects[]: an exact include pattern gives its table (left out
 *   when an exclude pattern matches it), a pattern whose table part has a
 *   wildcard gives its whole schema (TABLES IN SCHEMA, PostgreSQL 15), so
 *   that tables created later are published too; n == 0: an empty
 *   publication (every include is excluded).
 * `wider` is true when the publication may hold tables that are not
 * included (a table-part glob other than `*`, or excludes that may match
 * inside a published schema or under ALL TABLES): their rows leave the
 * database and are dropped in the daemon. `why` then names the first pattern
 * that made it so. Never narrower than the included tables: no row of an
 * included table is lost, whatever is created later.
 */
struct filter_pub_plan {
    bool all_tables;
    struct filter_pub_object *objects; /* in pattern order, without duplicates */
    int n;
    bool wider;
    char why[200]; /* wider: "pattern \"x\" ..." */
};

/* Fill *out (free with filter_pub_plan_free). CDC_ERR_NOMEM only. */
cdc_rc filter_pub_plan(const struct filter *f, struct filter_pub_plan *out,
                       struct cdc_err *err) CDC_MUST_CHECK;
void filter_pub_plan_free(struct filter_pub_plan *p);

#endif
