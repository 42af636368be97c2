/*
 * redact.c - marking sensitive columns; see redact.h.
 */
#include "transform/redact.h"

#include <string.h>

/* Does "schema.table.column" name exactly this column? */
static bool
qualified_match(const char *rule, const struct cdc_relation *rel, const char *col)
{
    size_t sl = strlen(rel->schema), tl = strlen(rel->table);

    return strncmp(rule, rel->schema, sl) == 0 && rule[sl] == '.' &&
           strncmp(rule + sl + 1, rel->table, tl) == 0 && rule[sl + 1 + tl] == '.' &&
           strcmp(rule + sl + tl + 2, col) == 0;
}

static bool
rule_matches(const char *rule, const struct cdc_relation *rel, const char *col)
{
    if (strchr(rule, '.') == NULL)
        return strcmp(rule, col) == 0;
    return qualified_match(rule, rel, col);
}

unsigned
redact_mark(struct cdc_relation *rel, const char *const *rules, int n)
{
    unsigned marked = 0;

    for (uint32_t i = 0; i < rel->ncols; i++) {
        struct cdc_column *c = &rel->cols[i];

        c->omit = false;
        for (int r = 0; r < n && !c->omit; r++)
            c->omit = rule_matches(rules[r], rel, c->name);
        marked += c->omit;
    }
    return marked;
}
