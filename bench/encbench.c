/*
 * encbench.c - the encoder's cost per event with and without sensitive-field
 * rules: env_encode() of one UPDATE (before and after, 8 columns like
 * bench/run.sh's rows) in a loop, in nanoseconds per event, per case:
 * no rules, rules that match no column of the table, one masked column, one
 * hashed column, one truncated column, and PII detection on the table.
 *
 *   encbench [EVENTS [CASE]]   (default 2000000 events, every case; prints "case ns/event")
 *
 * CASE (0 = no rules, 1..5 as listed above) runs one case alone, for instruction
 * counts: `valgrind --tool=callgrind bench/encbench 20000 3`.
 *
 * Deterministic input, no I/O in the loop; compare figures within one run.
 * Built with -DENCBENCH_NO_REDACT it runs the no-rule case alone, so it also
 * builds against a tree without transform/redact.c (to compare before/after).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "transform/envelope.h"
#ifndef ENCBENCH_NO_REDACT
#include "transform/redact.h"
#endif

#define NCOLS 8

static struct cdc_column cols[NCOLS];
static struct cdc_relation rel;

static void
make_rel(void)
{
    static const char *const names[NCOLS] = {"id",     "customer", "email",      "amount",
                                             "status", "note",     "created_at", "qty"};
    static const enum cdc_vfmt fmts[NCOLS] = {CDC_VF_INT,         CDC_VF_STRING, CDC_VF_STRING,
                                              CDC_VF_NUMERIC,     CDC_VF_STRING, CDC_VF_STRING,
                                              CDC_VF_TIMESTAMPTZ, CDC_VF_INT};

    memset(cols, 0, sizeof(cols));
    for (int i = 0; i < NCOLS; i++) {
        cols[i].name = names[i];
        cols[i].type_mod = -1;
        cols[i].fmt = fmts[i];
        cols[i].elem_fmt = CDC_VF_STRING;
    }
    cols[0].is_key = true;
    rel.id = 1;
    rel.schema = "public";
    rel.table = "orders";
    rel.replident = 'f';
    rel.ncols = NCOLS;
    rel.cols = cols;
}

#define V(s)                                                                                       \
    {                                                                                              \
        s, sizeof(s) - 1, CDC_VAL_PRESENT                                                          \
    }

static struct cdc_value vals[NCOLS] = {
    V("1234567"),
    V("Customer Number 1234567"),
    V("customer1234567@example.com"),
    V("1234.50"),
    V("shipped"),
    V("a note of some length, as free text columns tend to have, about forty bytes"),
    V("2024-01-02 03:04:05.123456+00"),
    V("42"),
};

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int only = -1; /* the CASE argument, -1: all */
static int seq;       /* the index of the case being run */

static void
run(const char *name, long n)
{
    struct cdc_tuple t = {NCOLS, vals};
    struct cdc_change ch;
    struct cdc_buf b = CDC_BUF_INIT;
    struct env_ctx ctx;
    struct cdc_err err;
    size_t bytes = 0;
    double t0;

    if (only >= 0 && seq++ != only)
        return;
    memset(&ch, 0, sizeof(ch));
    ch.op = CDC_OP_UPDATE;
    ch.rel = &rel;
    ch.before = &t;
    ch.after = &t;
    ch.commit_time_us = 1704164645000000;
    env_ctx_init(&ctx, "orders");
    t0 = now_s();
    for (long i = 0; i < n; i++) {
        cdc_buf_reset(&b);
        ch.commit_lsn = (cdc_lsn) i;
        if (env_encode(&ctx, &ch, &b, &err) != CDC_OK) {
            fprintf(stderr, "encode: %s\n", err.msg);
            exit(1);
        }
        bytes += b.len;
    }
    printf("%-24s %7.1f ns/event  (%zu bytes/event)\n", name, (now_s() - t0) * 1e9 / (double) n,
           bytes / (size_t) n);
    cdc_buf_free(&b);
}

#ifndef ENCBENCH_NO_REDACT
static void
run_rules(const char *name, long n, const char *const *items, int nitems)
{
    static const char key[] = "encbench-key-0123456789";
    struct redact_opts o = {items, nitems, key, sizeof(key) - 1, "k1", NULL};
    struct redact_set *s = NULL;
    struct cdc_err err;

    if (redact_set_create(&s, &o, &err) != CDC_OK) {
        fprintf(stderr, "rules: %s\n", err.msg);
        exit(1);
    }
    make_rel();
    (void) redact_apply(s, &rel);
    run(name, n);
    make_rel();
    redact_set_destroy(s);
}
#endif

int
main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 2000000;

    only = argc > 2 ? atoi(argv[2]) : -1;
    make_rel();
    run("no rules", n);
#ifndef ENCBENCH_NO_REDACT
    run_rules("rules, none matching", n,
              (const char *const[]){"password", "ssn=mask", "other.t.email=hash"}, 3);
    run_rules("mask email", n, (const char *const[]){"email=mask"}, 1);
    run_rules("hash email", n, (const char *const[]){"email=hash"}, 1);
    run_rules("truncate:8 email", n, (const char *const[]){"email=truncate:8"}, 1);
    run_rules("detect (4 text cols)", n, (const char *const[]){"public.orders=detect"}, 1);
    if (only < 0)
        run("no rules (again)", n);
#endif
    return 0;
}
