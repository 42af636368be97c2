/*
 * redact.h - the design's sensitive-field filtering (cdc.sensitive_fields)
 * and PII detection.
 *
 * A rule is one list item, written `PATTERN` or `PATTERN=ACTION`:
 * - PATTERN is a plain column name ("password"), which matches that column in
 *   every table, or "schema.table.column", which matches exactly; a qualified
 *   rule wins over a plain one, otherwise the first matching rule wins;
 * - ACTION is drop (the default: the column is left out of the event), mask
 *   ("****"), hash ("hmac:<key_id>:<64 hex digits>", HMAC-SHA256 of the
 *   value's source text form) or truncate:N (the first N characters);
 * - "schema.table=detect" marks a table for PII detection: its text columns
 *   without a rule of their own are masked when a value holds an e-mail
 *   address, a card number (Luhn-checked) or a US SSN.
 * The config module turns the YAML mapping forms into these strings.
 *
 * Rules are matched once per relation definition (redact_apply(), from the
 * sources' relation hook), which points each matched column at its rule
 * (cdc_column.redact) or sets cdc_column.omit for drop. Per value, a column
 * without a rule costs the encoder one flag test; a hashed value costs two
 * SHA-256 passes over it and no allocation.
 *
 * Pure: no I/O, no allocation per row. The PII counters are the one side
 * effect (relaxed atomics owned by the caller). Rendering rules are
 * documented in docs/EVENTS.md ("Sensitive fields").
 */
#ifndef CDC_TRANSFORM_REDACT_H
#define CDC_TRANSFORM_REDACT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "event/event.h"

/* What a masked value (and a detected PII value) renders as, with its quotes. */
#define REDACT_MASKED "\"****\""
/* Longest key id; ids are [A-Za-z0-9_.-]. */
#define REDACT_KEY_ID_MAX 32
/* Largest N of truncate:N. */
#define REDACT_TRUNCATE_MAX 1000000
/* Shortest HMAC key accepted, in bytes. */
#define REDACT_KEY_MIN 16

enum redact_action {
    REDACT_A_DROP = 0, /* left out of before, after and metadata */
    REDACT_A_MASK,     /* "****" */
    REDACT_A_HASH,     /* "hmac:<key_id>:<hex>" */
    REDACT_A_TRUNCATE, /* the first n characters */
    REDACT_A_DETECT,   /* a table rule: mask text values that look like PII */
};

/* What PII detection found; the label of cdc_pii_redactions_total. */
enum redact_pii { REDACT_PII_EMAIL = 0, REDACT_PII_CARD, REDACT_PII_SSN, REDACT_PII_N };

/* One parsed list item; pattern points into the item's text. */
struct redact_spec {
    const char *pattern; /* "password", "schema.table.column" or (detect) "schema.table" */
    size_t pattern_len;
    enum redact_action action;
    uint32_t n; /* REDACT_A_TRUNCATE: characters kept */
};

/*
 * Parse one item of cdc.sensitive_fields. Returns CDC_OK or CDC_ERR_CONFIG
 * with the problem in err (e.g. `unknown action "hide" (expected ...)`,
 * `truncate needs a length: truncate:N`). Does not check that a hash key
 * exists (the config checker does). Pure; any thread.
 */
cdc_rc redact_parse_item(const char *item, struct redact_spec *out, struct cdc_err *err);

/* Is id usable as a key id: 1..REDACT_KEY_ID_MAX characters among A-Z a-z 0-9 _ . - ? */
bool redact_key_id_is_valid(const char *id);

/* The rules in force, with the HMAC key (an opaque handle). */
struct redact_set;

struct redact_opts {
    const char *const *items;   /* the cdc.sensitive_fields items */
    int n;                      /* how many */
    const char *key;            /* HMAC key bytes; NULL when no rule hashes */
    size_t key_len;             /* bytes of key */
    const char *key_id;         /* written in every hash; needed with key */
    _Atomic uint64_t *pii_hits; /* [REDACT_PII_N] counters bumped per detected value; may be NULL */
};

/*
 * Build a rule set. Copies the items and key id; keeps only the HMAC states
 * derived from the key, never the key itself. CDC_ERR_CONFIG when an item does
 * not parse, a hash rule has no key or key id, or the key is shorter than
 * REDACT_KEY_MIN (the message never holds the key); CDC_ERR_NOMEM. *out is
 * written only on success. Main thread, before the sources start.
 */
cdc_rc redact_set_create(struct redact_set **out, const struct redact_opts *o,
                         struct cdc_err *err) CDC_MUST_CHECK;

/* Wipe and free s. NULL does nothing. Only after every relation marked with it is gone. */
void redact_set_destroy(struct redact_set *s);

/*
 * Mark rel's columns: cols[i].omit for drop, cols[i].redact for the other
 * actions (pointing into s, so s must outlive rel's columns), both cleared for
 * columns without a rule. s may be NULL (no rules). Returns how many columns
 * have a rule (detection included). Called from the sources' relation hook.
 */
unsigned redact_apply(const struct redact_set *s, struct cdc_relation *rel);

/*
 * Append the JSON value of v for column c, which has a rule (c->redact not
 * NULL): null for NULL, else as the rule says (docs/EVENTS.md). v is PRESENT
 * or NULL. No allocation beyond growing b; check cdc_buf_ok() afterwards.
 * Thread: the encoder's; the PII counters are atomic.
 */
void redact_put_value(struct cdc_buf *b, const struct cdc_column *c, const struct cdc_value *v);

/*
 * Does s[0..len) contain an e-mail address, a 13-19 digit card number
 * (spaces or dashes between digits allowed) that passes the Luhn check, or a
 * US SSN (ddd-dd-dddd, area not 000, 666 or 9xx, group not 00, serial not
 * 0000)? On a hit, *kind says which (the first found, in that order). Pure.
 */
bool redact_pii_find(const char *s, size_t len, enum redact_pii *kind);

/* Label values of cdc_pii_redactions_total: "email", "card", "ssn". */
const char *redact_pii_name(enum redact_pii k);

#endif
