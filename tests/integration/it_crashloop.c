/*
 * it_crashloop.c - the crash loop of issue 3: 20 kill -9s of the daemon at
 * random moments while a 3-table load of at least 50k changes (inserts,
 * updates, deletes, 5 to 35 per transaction) runs, each followed by a
 * restart. The oracle, on the stream afterwards:
 * - every change is there exactly once: for each key, the sequence of
 *   events in the stream equals the sequence of changes the load made to it
 *   (operation and value), so nothing is lost, doubled or reordered per key;
 * - the final state rebuilt from the stream equals the tables' contents.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itlib.h"

#define NAME        "it_crashloop"
#define KILLS       20
#define MIN_CHANGES 50000
#define NTABLES     3
#define MAXID       200000 /* ids per table stay below this */

static const char *const tables[NTABLES] = {"accounts", "orders", "audit_log"};

/* One change, as made by the load or as read from the stream. */
struct change {
    int table;
    int id;
    int ordinal; /* index among the changes of this key */
    char op;     /* 'I', 'U', 'D' */
    int v;       /* the value of column v after the change (0 for a delete) */
};

struct changes {
    struct change *v;
    size_t n, cap;
};

static void
changes_add(struct changes *cs, int table, int id, char op, int v)
{
    if (cs->n == cs->cap) {
        cs->cap = cs->cap ? cs->cap * 2 : 4096;
        cs->v = realloc(cs->v, cs->cap * sizeof(*cs->v));
        assert_non_null(cs->v);
    }
    cs->v[cs->n++] = (struct change){table, id, 0, op, v};
}

/* ---- the load, on its own thread and connection ---- */

struct load {
    PGconn *c;
    struct changes made; /* in commit order */
    char error[512];
};

static uint64_t
rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void *
load_run(void *arg)
{
    struct load *l = arg;
    static int live[NTABLES][MAXID];
    int nlive[NTABLES] = {0}, next_id[NTABLES] = {1, 1, 1}, value = 0;
    uint64_t seed = 0x9E3779B97F4A7C15ULL;
    char *sql = malloc(1 << 16);

    while (l->made.n < MIN_CHANGES) {
        size_t len = 0, first = l->made.n;
        int k = 5 + (int) (rnd(&seed) % 31);
        PGresult *r;

        len += (size_t) sprintf(sql + len, "BEGIN;");
        for (int i = 0; i < k; i++) {
            int t = (int) (rnd(&seed) % NTABLES), roll = (int) (rnd(&seed) % 100), at, id;

            if (nlive[t] < 50 || roll < 45) {
                id = next_id[t]++;
                live[t][nlive[t]++] = id;
                len += (size_t) sprintf(sql + len, "INSERT INTO %s VALUES (%d, %d);", tables[t], id,
                                        ++value);
                changes_add(&l->made, t, id, 'I', value);
            } else if (roll < 85) {
                id = live[t][rnd(&seed) % (uint64_t) nlive[t]];
                len += (size_t) sprintf(sql + len, "UPDATE %s SET v = %d WHERE id = %d;", tables[t],
                                        ++value, id);
                changes_add(&l->made, t, id, 'U', value);
            } else {
                at = (int) (rnd(&seed) % (uint64_t) nlive[t]);
                id = live[t][at];
                live[t][at] = live[t][--nlive[t]];
                len += (size_t) sprintf(sql + len, "DELETE FROM %s WHERE id = %d;", tables[t], id);
                changes_add(&l->made, t, id, 'D', 0);
            }
        }
        sprintf(sql + len, "COMMIT;");
        r = PQexec(l->c, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            snprintf(l->error, sizeof(l->error), "load: %s", PQerrorMessage(l->c));
            PQclear(r);
            l->made.n = first;
            break;
        }
        PQclear(r);
        usleep(5000);
    }
    free(sql);
    return NULL;
}

/* ---- reading the stream back ---- */

static int
table_index(const char *quoted)
{
    for (int t = 0; t < NTABLES; t++)
        if (strlen(quoted) == strlen(tables[t]) + 2 &&
            strncmp(quoted + 1, tables[t], strlen(tables[t])) == 0)
            return t;
    fail_msg("event for an unexpected table %s", quoted);
    return -1;
}

static int
member_int(const char *json, const char *key)
{
    char *m = it_json_member(json, key);
    int v;

    if (m == NULL)
        fail_msg("no \"%s\" in %s", key, json);
    v = atoi(m);
    free(m);
    return v;
}

static void
read_stream_changes(struct changes *seen)
{
    struct it_msgs ms;

    it_read_stream(NAME, &ms);
    for (int i = 0; i < ms.n; i++) {
        const char *d = ms.v[i].data;
        char *table = it_json_member(d, "table"), *op = it_json_member(d, "operation");
        char *after = it_json_member(d, "after"), *before = it_json_member(d, "before");

        assert_non_null(table);
        assert_non_null(op);
        if (strcmp(op, "\"DELETE\"") == 0) {
            assert_non_null(before);
            changes_add(seen, table_index(table), member_int(before, "id"), 'D', 0);
        } else {
            assert_non_null(after);
            changes_add(seen, table_index(table), member_int(after, "id"),
                        strcmp(op, "\"INSERT\"") == 0 ? 'I' : 'U', member_int(after, "v"));
        }
        free(table);
        free(op);
        free(after);
        free(before);
    }
    it_msgs_free(&ms);
}

/* Number each key's changes in order, then sort by (table, id, ordinal). */
static int
change_cmp(const void *a, const void *b)
{
    const struct change *x = a, *y = b;

    if (x->table != y->table)
        return x->table - y->table;
    if (x->id != y->id)
        return x->id - y->id;
    return x->ordinal - y->ordinal;
}

static void
order_by_key(struct changes *cs)
{
    int *counts = calloc((size_t) NTABLES * MAXID, sizeof(int));

    assert_non_null(counts);
    for (size_t i = 0; i < cs->n; i++)
        cs->v[i].ordinal = counts[cs->v[i].table * MAXID + cs->v[i].id]++;
    free(counts);
    qsort(cs->v, cs->n, sizeof(*cs->v), change_cmp);
}

/* The final state per the stream (already ordered by key) equals the table's rows. */
static void
check_final_state(PGconn *c, const struct changes *seen)
{
    int *state = calloc((size_t) NTABLES * MAXID, sizeof(int)); /* -1 absent, else v */
    int rows = 0;

    assert_non_null(state);
    for (size_t i = 0; i < (size_t) NTABLES * MAXID; i++)
        state[i] = -1;
    for (size_t i = 0; i < seen->n; i++)
        state[seen->v[i].table * MAXID + seen->v[i].id] = seen->v[i].op == 'D' ? -1 : seen->v[i].v;
    for (int t = 0; t < NTABLES; t++) {
        PGresult *r = PQexec(c, t == 0   ? "SELECT id, v FROM accounts"
                                : t == 1 ? "SELECT id, v FROM orders"
                                         : "SELECT id, v FROM audit_log");
        int in_stream = 0;

        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        for (int i = 0; i < PQntuples(r); i++) {
            int id = atoi(PQgetvalue(r, i, 0)), v = atoi(PQgetvalue(r, i, 1));

            if (state[t * MAXID + id] != v)
                fail_msg("%s id %d: the table has v=%d, the stream says %d", tables[t], id, v,
                         state[t * MAXID + id]);
        }
        for (int id = 0; id < MAXID; id++)
            in_stream += state[t * MAXID + id] >= 0;
        /* and no row the stream says exists is missing from the table */
        assert_int_equal(in_stream, PQntuples(r));
        rows += PQntuples(r);
        PQclear(r);
    }
    print_message("final state: %d rows in 3 tables, equal to the state rebuilt from the stream\n",
                  rows);
    free(state);
}

static int
count_in(const char *text, const char *needle)
{
    int n = 0;

    for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void
test_twenty_kills_during_a_three_table_load(void **state)
{
    const char *idle[] = {"--exit-when-idle", "3000", NULL};
    struct changes seen = {0};
    struct load l;
    pthread_t th;
    uint64_t seed = (uint64_t) getpid() * 2654435761u;
    size_t mismatch = 0;
    PGconn *c;
    pid_t pid;

    (void) state;
    memset(&l, 0, sizeof(l));
    c = it_fresh_db(NAME);
    for (int t = 0; t < NTABLES; t++)
        it_sql(c, "CREATE TABLE %s (id int PRIMARY KEY, v int NOT NULL)", tables[t]);
    pid = it_daemon_start(NAME, NAME, NULL);
    it_wait_slot_active(c, NAME);
    l.c = it_pg_connect(NAME);
    assert_int_equal(pthread_create(&th, NULL, load_run, &l), 0);

    for (int k = 0; k < KILLS; k++) {
        usleep((useconds_t) (250000 + rnd(&seed) % 1000000)); /* 0.25 to 1.25 s */
        kill(pid, SIGKILL);
        assert_int_equal(it_daemon_wait(pid, 10000), -1);
        pid = it_daemon_start(NAME, NAME, k == KILLS - 1 ? idle : NULL);
    }
    pthread_join(th, NULL);
    if (l.error[0] != '\0')
        fail_msg("%s", l.error);
    print_message("%d kill -9s done; the load made %zu changes\n", KILLS, l.made.n);
    assert_int_equal(it_daemon_wait(pid, 300000), 0);
    {
        char *log = it_slurp(it_daemon_log(NAME));
        int streams = count_in(log, "streaming from");

        print_message("the daemon streamed %d times; %d restarts read the stream back\n", streams,
                      count_in(log, "will not be published again"));
        /* most kills hit a streaming daemon, not one still starting */
        assert_true(streams >= KILLS / 2);
        free(log);
    }

    read_stream_changes(&seen);
    print_message("the stream holds %zu events for %zu changes\n", seen.n, l.made.n);
    order_by_key(&l.made);
    order_by_key(&seen);
    for (size_t i = 0; i < l.made.n && i < seen.n; i++) {
        const struct change *a = &l.made.v[i], *b = &seen.v[i];

        if (a->table != b->table || a->id != b->id || a->ordinal != b->ordinal || a->op != b->op ||
            a->v != b->v) {
            if (mismatch++ < 5)
                print_message("first difference at %zu: made %s id %d #%d %c v=%d, stream %s id "
                              "%d #%d %c v=%d\n",
                              i, tables[a->table], a->id, a->ordinal, a->op, a->v, tables[b->table],
                              b->id, b->ordinal, b->op, b->v);
        }
    }
    assert_int_equal(mismatch, 0);
    assert_int_equal(seen.n, l.made.n);
    check_final_state(c, &seen);
    free(seen.v);
    free(l.made.v);
    PQfinish(l.c);
    PQfinish(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_twenty_kills_during_a_three_table_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
