/*
 * pgddl.c - install or remove the DDL event triggers; see pgddl.h.
 */
#include "source/pg/pgddl.h"

#include <string.h>

#include "aws/awscreds.h"
#include "source/pg/pgsrc.h"

/* One implicit transaction: all of it or nothing. The triggers come last, after their functions. */
static const char pgddl_install_sql[] =
    "CREATE SCHEMA IF NOT EXISTS cdc_handler;\n"
    "DROP EVENT TRIGGER IF EXISTS cdc_handler_ddl_end;\n"
    "DROP EVENT TRIGGER IF EXISTS cdc_handler_sql_drop;\n"
    "CREATE OR REPLACE FUNCTION cdc_handler.ddl_dropped() RETURNS event_trigger\n"
    "LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $cdc$\n"
    "BEGIN\n"
    "  PERFORM set_config('cdc_handler.dropped', coalesce((SELECT json_agg(json_build_object(\n"
    "    'type', object_type, 'identity', object_identity, 'schema', schema_name))::text\n"
    "    FROM pg_event_trigger_dropped_objects() WHERE original), ''), true);\n"
    "END $cdc$;\n"
    "CREATE OR REPLACE FUNCTION cdc_handler.ddl_end() RETURNS event_trigger\n"
    "LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $cdc$\n"
    "DECLARE\n"
    "  objs json;\n"
    "  dropped text := nullif(current_setting('cdc_handler.dropped', true), '');\n"
    "BEGIN\n"
    "  SELECT json_agg(json_build_object('type', object_type, 'identity', object_identity,\n"
    "    'schema', schema_name)) INTO objs FROM pg_event_trigger_ddl_commands();\n"
    "  PERFORM set_config('cdc_handler.dropped', '', true);\n"
    "  PERFORM pg_logical_emit_message(true, 'cdc_handler.ddl', json_build_object(\n"
    "    'command', current_query(), 'tag', tg_tag, 'objects', coalesce(objs, '[]'::json),\n"
    "    'dropped', coalesce(dropped::json, '[]'::json))::text);\n"
    "END $cdc$;\n"
    "CREATE EVENT TRIGGER cdc_handler_sql_drop ON sql_drop\n"
    "  EXECUTE PROCEDURE cdc_handler.ddl_dropped();\n"
    "CREATE EVENT TRIGGER cdc_handler_ddl_end ON ddl_command_end\n"
    "  EXECUTE PROCEDURE cdc_handler.ddl_end();\n";

/* The triggers first: the removal itself is not published. */
static const char pgddl_remove_sql[] = "DROP EVENT TRIGGER IF EXISTS cdc_handler_ddl_end;\n"
                                       "DROP EVENT TRIGGER IF EXISTS cdc_handler_sql_drop;\n"
                                       "DROP FUNCTION IF EXISTS cdc_handler.ddl_end();\n"
                                       "DROP FUNCTION IF EXISTS cdc_handler.ddl_dropped();\n"
                                       "DROP SCHEMA IF EXISTS cdc_handler;\n";

cdc_rc
pgddl_setup(const struct cdc_config *cfg, bool remove, struct cdc_err *err)
{
    const char *what = remove ? "remove the DDL event triggers" : "install the DDL event triggers";
    struct pgsrc_opts po;
    char state[6];
    cdc_rc rc;

    if (cfg->rds.engine != CFG_ENGINE_POSTGRES)
        return cdc_err_set(
            err, CDC_ERR_CONFIG,
            "setup-ddl is for PostgreSQL: MySQL and MariaDB write DDL to the binlog, "
            "which the daemon publishes already");
    pgsrc_opts_init(&po);
    po.host = cfg->rds.endpoint;
    po.port = cfg->rds.port;
    po.user = cfg->rds.username;
    po.password = cfg->rds.password;
    po.dbname = cfg->rds.database;
    po.sslmode = cfg->rds.ssl_mode;
    po.sslrootcert = cfg->rds.ssl_root_cert;
    po.application_name = "cdc-handler setup-ddl";
    if (cfg->rds.auth == CFG_AUTH_IAM) {
        po.password = NULL;
        po.password_fn = awscreds_rds_password;
        po.password_closure = cfg->rds.region;
    }
    rc = pgsrc_exec_script(&po, what, remove ? pgddl_remove_sql : pgddl_install_sql, state, err);
    if (rc != CDC_OK && strcmp(state, "42501") == 0)
        return cdc_err_set(err, CDC_ERR_FATAL,
                           "could not %s in database \"%s\": role \"%s\" lacks the rights: event "
                           "triggers can only be created and dropped by a superuser (on Amazon "
                           "RDS and Aurora: a member of rds_superuser, such as the master user); "
                           "run setup-ddl as such a role, e.g. -X rds.username=... -X "
                           "rds.password=...",
                           what, cfg->rds.database ? cfg->rds.database : "",
                           cfg->rds.username ? cfg->rds.username : "");
    return rc;
}
