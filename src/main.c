/*
 * main.c - cdc-handler: argument parsing, configuration, signals, and the
 * supervisor that decides what to do with a failure. The only place that
 * exits.
 *
 *   cdc-handler [--config FILE] [-X key.path=value]... [options]
 *   cdc-handler tail [--config FILE] [-X ...] [--from-start]
 *   cdc-handler setup-ddl [--config FILE] [-X ...] [--remove]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "core/log.h"
#include "http/http.h"
#include "http/metrics.h"
#include "core/backoff.h"
#include "core/breaker.h"
#include "core/clock.h"
#include "pipeline/pipeline.h"
#include "sink/nats/jssink.h"
#include "source/pg/pgddl.h"

#define MOD "main"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_CONFIG = 2 };

static volatile sig_atomic_t stop_flag;
static struct cdc_metrics metrics;             /* read by the HTTP thread, updated by everyone */
static struct breaker breakers[METRICS_DEP_N]; /* one per dependency; the main thread's */

static void
on_signal(int sig)
{
    (void) sig;
    stop_flag = 1;
}

static void
install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void
usage(FILE *out)
{
    fprintf(
        out,
        "usage: cdc-handler [options]\n"
        "       cdc-handler tail [options] [--from-start]\n"
        "       cdc-handler setup-ddl [options] [--remove]\n"
        "\n"
        "Streams committed row changes from PostgreSQL to NATS JetStream.\n"
        "\n"
        "  -c, --config FILE          configuration file (YAML); see configs/config.yaml\n"
        "  -X key.path=value          override one configuration key (repeatable)\n"
        "      --dump-config          print the effective configuration (secrets masked), exit\n"
        "      --check-config         validate the configuration, exit 0 or 2\n"
        "      --accept-slot-position start from a slot that is ahead of the checkpoint\n"
        "      --accept-schema-change go on past the incompatible schema change that stopped\n"
        "                             the last run (cdc.schema_evolution.strict_mode)\n"
        "      --max-events N         stop after N events are acknowledged\n"
        "      --exit-when-idle MS    stop after MS ms without changes, once all are acked\n"
        "      --stop-at-lsn LSN      stop after the transaction that ends at or past LSN\n"
        "      --from-start           (tail) print the stream from its first message\n"
        "      --remove               (setup-ddl) remove the DDL event triggers instead\n"
        "  -V, --version              print the version, exit\n"
        "  -h, --help                 this text\n"
        "\n"
        "Exit status: 0 clean stop, 1 failure, 2 bad configuration or usage.\n");
}

struct args {
    const char *config;
    const char **overrides;
    int n_overrides;
    bool dump_config;
    bool check_config;
    bool tail;
    bool from_start;
    bool setup_ddl;     /* the setup-ddl command */
    bool remove;        /* setup-ddl --remove */
    bool accept_schema; /* --accept-schema-change; the pipeline clears it once used */
    struct pipeline_opts popts;
};

static bool
parse_i64(const char *s, int64_t *out)
{
    char *end;

    errno = 0;
    *out = strtoll(s, &end, 10);
    return errno == 0 && end != s && *end == '\0' && *out >= 0;
}

/* Returns -1 to continue, or an exit code. */
static int
parse_args(int argc, char **argv, struct args *a)
{
    enum {
        O_DUMP = 256,
        O_CHECK,
        O_ACCEPT,
        O_MAX,
        O_IDLE,
        O_STOPLSN,
        O_FROMSTART,
        O_ACCEPT_SCHEMA,
        O_REMOVE
    };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"dump-config", no_argument, NULL, O_DUMP},
        {"check-config", no_argument, NULL, O_CHECK},
        {"accept-slot-position", no_argument, NULL, O_ACCEPT},
        {"max-events", required_argument, NULL, O_MAX},
        {"exit-when-idle", required_argument, NULL, O_IDLE},
        {"stop-at-lsn", required_argument, NULL, O_STOPLSN},
        {"from-start", no_argument, NULL, O_FROMSTART},
        {"accept-schema-change", no_argument, NULL, O_ACCEPT_SCHEMA},
        {"remove", no_argument, NULL, O_REMOVE},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    if (argc > 1 && (strcmp(argv[1], "tail") == 0 || strcmp(argv[1], "setup-ddl") == 0)) {
        a->tail = strcmp(argv[1], "tail") == 0;
        a->setup_ddl = !a->tail;
        argv++;
        argc--;
    }
    a->overrides = calloc((size_t) argc, sizeof(char *));
    if (a->overrides == NULL)
        return EXIT_FAIL;
    while ((c = getopt_long(argc, argv, "c:X:Vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            a->config = optarg;
            break;
        case 'X':
            a->overrides[a->n_overrides++] = optarg;
            break;
        case O_DUMP:
            a->dump_config = true;
            break;
        case O_CHECK:
            a->check_config = true;
            break;
        case O_ACCEPT:
            a->popts.accept_slot_position = true;
            break;
        case O_MAX:
            if (!parse_i64(optarg, &a->popts.max_events)) {
                fprintf(stderr, "cdc-handler: --max-events: not a number: \"%s\"\n", optarg);
                return EXIT_CONFIG;
            }
            break;
        case O_IDLE:
            if (!parse_i64(optarg, &a->popts.exit_when_idle_ms)) {
                fprintf(stderr, "cdc-handler: --exit-when-idle: not a number: \"%s\"\n", optarg);
                return EXIT_CONFIG;
            }
            break;
        case O_STOPLSN:
            if (!cdc_lsn_parse(optarg, &a->popts.stop_at_lsn)) {
                fprintf(stderr, "cdc-handler: --stop-at-lsn: not an LSN: \"%s\"\n", optarg);
                return EXIT_CONFIG;
            }
            break;
        case O_FROMSTART:
            a->from_start = true;
            break;
        case O_ACCEPT_SCHEMA:
            a->accept_schema = true;
            a->popts.accept_schema_change = &a->accept_schema;
            break;
        case O_REMOVE:
            a->remove = true;
            break;
        case 'V':
            printf("cdc-handler %s\n", CDC_VERSION);
            return EXIT_OK;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        default:
            usage(stderr);
            return EXIT_CONFIG;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cdc-handler: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return EXIT_CONFIG;
    }
    return -1;
}

static void
sleep_ms(int64_t ms)
{
    /* sleep in slices so that a signal ends the wait promptly */
    while (ms > 0 && !stop_flag) {
        int64_t slice = ms < 100 ? ms : 100;
        struct timespec ts = {slice / 1000, (slice % 1000) * 1000000};

        nanosleep(&ts, NULL);
        ms -= slice;
        metrics_heartbeat(&metrics); /* waiting on purpose is not being wedged */
    }
}

static bool
is_transient(cdc_rc rc)
{
    return rc == CDC_ERR_RETRY || rc == CDC_ERR_CLOSED || rc == CDC_ERR_TIMEOUT || rc == CDC_ERR_IO;
}

/* The longest wait of an open circuit breaker before its probe, 0 if none is open. */
static int64_t
breakers_wait_ms(void)
{
    int64_t now = cdc_now_ms(), wait = 0;

    for (int d = 0; d < METRICS_DEP_N; d++) {
        int64_t w = breakers[d].state == BREAKER_OPEN ? breaker_wait_ms(&breakers[d], now) : 0;

        if (w > wait)
            wait = w;
    }
    return wait;
}

/* The longest wait between two looks at a source that lost our changes. */
#define LOST_RECHECK_MAX_MS (5 * 60 * 1000)

/*
 * The supervisor: run the pipeline; on a transient failure log it once, back
 * off (full jitter, 1-2-4-8 s) and run again; on a permanent one stop. While
 * a dependency's circuit breaker is open (cdc.circuit_breaker), the next run
 * waits for its cool-down instead, and is the breaker's probe.
 *
 * A source that lost changes we need (CDC_ERR_LOST: an invalidated slot,
 * purged binlogs) is neither: only an operator can decide (the message says
 * how). Exiting would have a supervisor restart us into the same error in a
 * loop, so the daemon stays up instead, not ready (/ready names the error),
 * and looks again after 1, 2, 4 ... up to 5 minutes (at least half of each:
 * never in a tight loop), until it streams again or is stopped (exit 1).
 * A run with a stop condition (--exit-when-idle, --stop-at-lsn, --max-events)
 * is a tool's, and exits 1 at once instead.
 */
static int
supervise(struct pipeline_opts *po)
{
    const bool tool = po->exit_when_idle_ms > 0 || po->stop_at_lsn != 0 || po->max_events > 0;
    struct backoff bo, lost_bo;
    struct pipeline_result res;
    struct cdc_err err;

    backoff_init(&bo, po->cfg->cdc.retry_backoff_base_ms, po->cfg->cdc.retry_backoff_max_ms,
                 (uint64_t) time(NULL) ^ (uint64_t) getpid());
    backoff_init(&lost_bo, po->cfg->cdc.retry_backoff_base_ms, LOST_RECHECK_MAX_MS,
                 (uint64_t) time(NULL) ^ ((uint64_t) getpid() << 16));
    for (;;) {
        cdc_rc rc;

        cdc_err_clear(&err);
        rc = pipeline_run(po, &res, &err);
        if (rc == CDC_OK)
            return EXIT_OK;
        if (stop_flag) {
            log_error(MOD, "%s", err.msg);
            return rc == CDC_ERR_TIMEOUT ? EXIT_FAIL : EXIT_OK;
        }
        if (rc == CDC_ERR_LOST && !tool) {
            int64_t ceiling = backoff_ceiling_ms(&lost_bo);
            int64_t delay = ceiling / 2 + backoff_next_ms(&lost_bo) / 2;

            log_error(MOD,
                      "%s; only an operator can resolve this: not ready, looking again in %" PRId64
                      " ms (attempt %u)",
                      err.msg, delay, lost_bo.attempt);
            sleep_ms(delay);
            if (stop_flag)
                return EXIT_FAIL;
            continue;
        }
        if (!is_transient(rc)) {
            log_error(MOD, "%s", err.msg);
            return rc == CDC_ERR_CONFIG ? EXIT_CONFIG : EXIT_FAIL;
        }
        backoff_reset(&lost_bo);
        if (res.streamed)
            backoff_reset(&bo);
        for (int d = 0; d < METRICS_DEP_N; d++)
            if (atomic_load(&metrics.connection_up[d]) == 0)
                metrics_inc(&metrics.retries_total[d]);
        int64_t delay = backoff_next_ms(&bo), open_wait = breakers_wait_ms();
        if (open_wait > delay)
            delay = open_wait;
        log_error(MOD, "%s; retrying in %" PRId64 " ms (attempt %u%s)", err.msg, delay, bo.attempt,
                  open_wait > 0 ? ", a circuit breaker is open" : "");
        sleep_ms(delay);
        if (stop_flag)
            return EXIT_OK;
    }
}

static void
print_event(void *c, const char *subject, const char *data, int len, const char *msg_id,
            uint64_t seq)
{
    (void) c;
    (void) msg_id;
    printf("[%" PRIu64 "] %s %.*s\n", seq, subject, len, data);
    fflush(stdout);
}

/* Follow the stream; wait for it (the daemon creates it) and reconnect, until a signal. */
static int
run_tail(const struct cdc_config *cfg, bool from_start)
{
    struct backoff bo;
    struct cdc_err err;

    struct jssink_opts so;

    jssink_opts_init(&so);
    pipeline_nats_opts(&so, cfg);
    backoff_init(&bo, 250, 2000, (uint64_t) getpid());
    while (!stop_flag) {
        cdc_rc rc = jssink_tail(&so, cfg->nats.stream, NULL, from_start, print_event, NULL,
                                &stop_flag, &err);

        if (rc == CDC_OK)
            break;
        if (rc != CDC_ERR_RETRY) {
            log_error(MOD, "tail: %s", err.msg);
            return EXIT_FAIL;
        }
        if (bo.attempt == 0)
            log_info(MOD, "tail: %s; waiting", err.msg);
        sleep_ms(backoff_next_ms(&bo));
    }
    return EXIT_OK;
}

/* setup-ddl: install or remove the PostgreSQL DDL event triggers, once. */
static int
run_setup_ddl(const struct cdc_config *cfg, bool remove)
{
    struct cdc_err err;
    cdc_rc rc = pgddl_setup(cfg, remove, &err);

    if (rc != CDC_OK) {
        log_error(MOD, "setup-ddl: %s", err.msg);
        return rc == CDC_ERR_CONFIG ? EXIT_CONFIG : EXIT_FAIL;
    }
    log_info(MOD, "setup-ddl: DDL event triggers %s in database \"%s\"",
             remove ? "removed" : "installed", cfg->rds.database ? cfg->rds.database : "");
    return EXIT_OK;
}

/*
 * /health, /ready and /metrics on server.port (the design's liveness probe), and
 * /metrics also on monitoring.prometheus.port when that differs. A port that
 * cannot be bound is logged and the daemon runs on without it: the data path
 * matters more than its dashboard.
 */
static void
start_http(const struct cdc_config *cfg, struct http_server **web, struct http_server **prom)
{
    const bool prom_on = cfg->monitoring.prometheus_enabled;
    const bool same = cfg->monitoring.prometheus_port == cfg->server.port;
    struct cdc_err err;

    if (http_start(web, NULL, cfg->server.port, &metrics, cfg->cdc.source_name, &err) != CDC_OK) {
        log_error(MOD, "health endpoints are off: %s", err.msg);
    } else {
        http_set_metrics_enabled(*web, prom_on && same);
        http_set_memory_limit(*web, (uint64_t) cfg->monitoring.memory_limit_bytes);
    }
    if (prom_on && !same &&
        http_start(prom, NULL, cfg->monitoring.prometheus_port, &metrics, cfg->cdc.source_name,
                   &err) != CDC_OK)
        log_error(MOD, "prometheus endpoint is off: %s", err.msg);
    else if (*prom != NULL)
        http_set_memory_limit(*prom, (uint64_t) cfg->monitoring.memory_limit_bytes);
}

int
main(int argc, char **argv)
{
    struct http_server *web = NULL, *prom = NULL;
    struct cdc_config cfg;
    struct args a;
    struct cdc_err err;
    enum cdc_log_level level;
    int code;

    memset(&a, 0, sizeof(a));
    pipeline_opts_init(&a.popts);
    code = parse_args(argc, argv, &a);
    if (code >= 0) {
        free(a.overrides);
        return code;
    }
    cfg_init(&cfg);
    if (cfg_load(&cfg, a.config, a.overrides, a.n_overrides, NULL, stderr, &err) != CDC_OK) {
        /* report the cross-key problems too, so one run lists everything to fix */
        if (a.config == NULL || access(a.config, R_OK) == 0)
            (void) cfg_check(&cfg, stderr, &err);
        code = EXIT_CONFIG;
        goto out;
    }
    (void) cfg_warn_exposed(&cfg, stderr);
    if (a.dump_config) {
        /* the effective values, even when incomplete: that is when people need to see them */
        cfg_dump(&cfg, stdout);
        code = cfg_check(&cfg, stderr, &err) == CDC_OK ? EXIT_OK : EXIT_CONFIG;
        goto out;
    }
    if (cfg_check(&cfg, stderr, &err) != CDC_OK) {
        code = EXIT_CONFIG;
        goto out;
    }
    if (a.check_config) {
        code = EXIT_OK;
        goto out;
    }
    if (!cdc_log_level_parse(cfg.monitoring.log_level, &level))
        level = CDC_LOG_INFO;
    cdc_log_setup(level, cfg.monitoring.log_format == CFG_LOG_TEXT ? CDC_LOG_TEXT : CDC_LOG_JSON);
    install_signals();
    if (a.tail) {
        code = run_tail(&cfg, a.from_start);
        goto out;
    }
    if (a.setup_ddl) {
        code = run_setup_ddl(&cfg, a.remove);
        goto out;
    }
    cdc_log_set_context(cfg.cdc.source_name, cfg.cdc.slot_name);
    log_info(MOD, "cdc-handler %s starting", CDC_VERSION);
    metrics_init(&metrics);
    for (int d = 0; d < METRICS_DEP_N; d++)
        breaker_init(&breakers[d], (unsigned) cfg.cdc.breaker_threshold,
                     cfg.cdc.breaker_cooldown_ms);
    start_http(&cfg, &web, &prom);
    a.popts.breakers = breakers;
    a.popts.cfg = &cfg;
    a.popts.stop = &stop_flag;
    a.popts.metrics = &metrics;
    code = supervise(&a.popts);
    http_stop(prom);
    http_stop(web);
out:
    cfg_free(&cfg);
    free(a.overrides);
    return code;
}
