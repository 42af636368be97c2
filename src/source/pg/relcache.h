/*
 * relcache.h - the relation cache of the PostgreSQL source: relid -> struct
 * cdc_relation, built from pgoutput Relation messages.
 *
 * pgoutput sends a Relation message before the first change of a relation in
 * a session and again whenever its definition changes; the cache keeps the
 * latest one. Each entry owns copies of its names (the message buffer is
 * reused), and each column gets its render format from pgtypes_lookup().
 *
 * Lifetimes: a pointer returned by relcache_get() is valid until the same
 * relid is put again or the cache is destroyed. Not thread-safe: one owner.
 */
#ifndef CDC_SOURCE_PG_RELCACHE_H
#define CDC_SOURCE_PG_RELCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "event/event.h"
#include "source/pg/pgoutput.h"

struct relcache; /* opaque */

/* Create an empty cache into *out. CDC_ERR_NOMEM on allocation failure. */
cdc_rc relcache_create(struct relcache **out, struct cdc_err *err) CDC_MUST_CHECK;

/* Free the cache and every relation in it. NULL is fine. */
void relcache_destroy(struct relcache *rc);

/*
 * Insert or replace the relation described by a decoded Relation message.
 * The previous entry of the same relid (if any) is freed, so pointers to it
 * die. On failure (CDC_ERR_NOMEM) the cache is unchanged.
 */
cdc_rc relcache_put(struct relcache *rc, const struct pgo_relation *r,
                    struct cdc_err *err) CDC_MUST_CHECK;

/* The relation with this relid, or NULL if no Relation message named it. */
const struct cdc_relation *relcache_get(const struct relcache *rc, uint32_t relid);

/* Number of relations cached. */
size_t relcache_count(const struct relcache *rc);

#endif
