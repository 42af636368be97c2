/*
 * pgddl.h - `cdc-handler setup-ddl`: install (or remove) the PostgreSQL event
 * triggers that turn DDL into logical decoding messages, so that DDL reaches
 * the stream in transaction order as cdc.ddl events (pgdecode.h,
 * PGD_DDL_PREFIX).
 *
 * Installed in rds.database, in schema "cdc_handler":
 *   function cdc_handler.ddl_dropped() + event trigger cdc_handler_sql_drop
 *     (sql_drop): remembers the dropped objects for the statement;
 *   function cdc_handler.ddl_end() + event trigger cdc_handler_ddl_end
 *     (ddl_command_end): pg_logical_emit_message(true, 'cdc_handler.ddl',
 *     {"command": current_query(), "tag": TG_TAG, "objects": [{"type",
 *     "identity", "schema"}...], "dropped": [...]}).
 * The functions are SECURITY DEFINER (owned by the installing role), so DDL
 * run by a role that may not call pg_logical_emit_message still works.
 * Installing again replaces everything; removing drops all of it (the schema
 * only when it is empty). Creating an event trigger needs a superuser (on
 * Amazon RDS / Aurora: a member of rds_superuser).
 */
#ifndef CDC_SOURCE_PG_PGDDL_H
#define CDC_SOURCE_PG_PGDDL_H

#include <stdbool.h>

#include "config/config.h"
#include "core/err.h"

/*
 * Install (remove == false) or remove the DDL triggers in cfg's database,
 * connecting as cfg's rds.username. CDC_ERR_FATAL with an actionable message
 * when the role lacks the rights (SQLSTATE 42501) or the server refuses
 * otherwise, CDC_ERR_RETRY when it cannot be reached, CDC_ERR_CONFIG for
 * the engine not being PostgreSQL.
 */
cdc_rc pgddl_setup(const struct cdc_config *cfg, bool remove, struct cdc_err *err) CDC_MUST_CHECK;

#endif
