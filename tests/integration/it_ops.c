/*
 * it_ops.c - insert, update (default and FULL replica identity, with an
 * unchanged TOAST column), delete and truncate, end to end against real
 * servers, with the before/after images and metadata asserted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itlib.h"

#define NAME "it_ops"

static char *big_x; /* the TOASTed value of t_default.big: 5000 'x' */
static char *big_y; /* of t_full.big: 5000 'y' */

static char *
repeat_json(char ch, int n)
{
    char *s = malloc((size_t) n + 3);

    s[0] = '"';
    memset(s + 1, ch, (size_t) n);
    s[n + 1] = '"';
    s[n + 2] = '\0';
    return s;
}

static void
expect_member(const char *json, const char *key, const char *want, const char *what)
{
    char *v = it_json_member(json, key);

    if (want == NULL) {
        if (v != NULL)
            fail_msg("%s: member %s should be absent, got %.200s", what, key, v);
        return;
    }
    if (v == NULL || strcmp(v, want) != 0)
        fail_msg("%s: member %s: got %.300s, want %.300s", what, key, v ? v : "(absent)", want);
    free(v);
}

/* Build the expected object text from alternating key/value pairs. */
static char *
obj(const char *k1, const char *v1, const char *k2, const char *v2, const char *k3, const char *v3)
{
    char *s = NULL;

    if (k3)
        assert_true(asprintf(&s, "{\"%s\":%s,\"%s\":%s,\"%s\":%s}", k1, v1, k2, v2, k3, v3) > 0);
    else if (k2)
        assert_true(asprintf(&s, "{\"%s\":%s,\"%s\":%s}", k1, v1, k2, v2) > 0);
    else
        assert_true(asprintf(&s, "{\"%s\":%s}", k1, v1) > 0);
    return s;
}

static void
expect_event(const struct it_msg *m, const char *table, const char *op, const char *before,
             const char *after, const char *unchanged)
{
    char what[128], type[32], opq[32], *meta;

    snprintf(what, sizeof(what), "event %llu (%s %s)", (unsigned long long) m->seq, op, table);
    snprintf(type, sizeof(type), "\"cdc.%s\"", op);
    for (char *p = type; *p; p++)
        *p = (char) (*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    snprintf(opq, sizeof(opq), "\"%s\"", op);
    expect_member(m->data, "event_type", type, what);
    expect_member(m->data, "operation", opq, what);
    expect_member(m->data, "schema", "\"public\"", what);
    {
        char tq[64];

        snprintf(tq, sizeof(tq), "\"%s\"", table);
        expect_member(m->data, "table", tq, what);
    }
    expect_member(m->data, "before", before, what);
    expect_member(m->data, "after", after, what);
    meta = it_json_member(m->data, "metadata");
    assert_non_null(meta);
    expect_member(meta, "unchanged_columns", unchanged, what);
    free(meta);
    /* the Nats-Msg-Id is the event id */
    {
        char *id = it_json_member(m->data, "event_id");
        char want[300];

        snprintf(want, sizeof(want), "\"%s\"", m->msg_id);
        assert_string_equal(id, want);
        free(id);
    }
}

static void
test_row_operations_produce_exact_before_and_after(void **state)
{
    const char *extra[] = {"--exit-when-idle", "1500", NULL};
    struct it_msgs ms;
    PGconn *c;
    pid_t pid;
    char *e1, *e2, *e3;

    (void) state;
    big_x = repeat_json('x', 5000);
    big_y = repeat_json('y', 5000);
    c = it_fresh_db(NAME);
    it_sql(c, "CREATE TABLE t_default (id int PRIMARY KEY, name text, big text)");
    it_sql(c, "ALTER TABLE t_default ALTER COLUMN big SET STORAGE EXTERNAL");
    it_sql(c, "CREATE TABLE t_full (id int PRIMARY KEY, name text, big text)");
    it_sql(c, "ALTER TABLE t_full ALTER COLUMN big SET STORAGE EXTERNAL");
    it_sql(c, "ALTER TABLE t_full REPLICA IDENTITY FULL");
    pid = it_daemon_start(NAME, NAME, extra);
    it_wait_slot_active(c, NAME);
    it_sql(c, "INSERT INTO t_default VALUES (1, 'a', repeat('x', 5000))");
    it_sql(c, "UPDATE t_default SET name = 'b' WHERE id = 1");
    it_sql(c, "UPDATE t_default SET id = 2 WHERE id = 1");
    it_sql(c, "DELETE FROM t_default WHERE id = 2");
    it_sql(c, "INSERT INTO t_full VALUES (1, 'a', repeat('y', 5000))");
    it_sql(c, "UPDATE t_full SET name = 'b' WHERE id = 1");
    it_sql(c, "DELETE FROM t_full WHERE id = 1");
    it_sql(c, "BEGIN; INSERT INTO t_default VALUES (10, 'p', NULL), (11, 'q', ''), (12, NULL, "
              "'r'); COMMIT");
    it_sql(c, "TRUNCATE t_default, t_full");
    assert_int_equal(it_daemon_wait(pid, 60000), 0);

    it_read_stream(NAME, &ms);
    assert_int_equal(ms.n, 12);

    e1 = obj("id", "1", "name", "\"a\"", "big", big_x);
    expect_event(&ms.v[0], "t_default", "INSERT", NULL, e1, NULL);
    free(e1);
    /* default identity, key unchanged: no before; the TOASTed column was not sent */
    e1 = obj("id", "1", "name", "\"b\"", NULL, NULL);
    expect_event(&ms.v[1], "t_default", "UPDATE", NULL, e1, "[\"big\"]");
    free(e1);
    /* key changed: before holds the old key only */
    e1 = obj("id", "1", NULL, NULL, NULL, NULL);
    e2 = obj("id", "2", "name", "\"b\"", NULL, NULL);
    expect_event(&ms.v[2], "t_default", "UPDATE", e1, e2, "[\"big\"]");
    free(e1);
    free(e2);
    e1 = obj("id", "2", NULL, NULL, NULL, NULL);
    expect_event(&ms.v[3], "t_default", "DELETE", e1, NULL, NULL);
    free(e1);
    e1 = obj("id", "1", "name", "\"a\"", "big", big_y);
    expect_event(&ms.v[4], "t_full", "INSERT", NULL, e1, NULL);
    /* FULL identity: the whole old row, and the unchanged TOAST value filled from it */
    e2 = obj("id", "1", "name", "\"b\"", "big", big_y);
    expect_event(&ms.v[5], "t_full", "UPDATE", e1, e2, NULL);
    expect_event(&ms.v[6], "t_full", "DELETE", e2, NULL, NULL);
    free(e1);
    free(e2);
    e1 = obj("id", "10", "name", "\"p\"", "big", "null");
    e2 = obj("id", "11", "name", "\"q\"", "big", "\"\"");
    e3 = obj("id", "12", "name", "null", "big", "\"r\"");
    expect_event(&ms.v[7], "t_default", "INSERT", NULL, e1, NULL);
    expect_event(&ms.v[8], "t_default", "INSERT", NULL, e2, NULL);
    expect_event(&ms.v[9], "t_default", "INSERT", NULL, e3, NULL);
    free(e1);
    free(e2);
    free(e3);
    expect_event(&ms.v[10], "t_default", "TRUNCATE", NULL, NULL, NULL);
    expect_event(&ms.v[11], "t_full", "TRUNCATE", NULL, NULL, NULL);

    /* one transaction, three events: same commit_lsn and txid, sequence 0, 1, 2 */
    {
        char *m0 = it_json_member(ms.v[7].data, "metadata");
        char *c0 = it_json_member(m0, "commit_lsn"), *x0 = it_json_member(m0, "txid");

        for (int i = 0; i < 3; i++) {
            char *m = it_json_member(ms.v[7 + i].data, "metadata"), seqs[8];

            snprintf(seqs, sizeof(seqs), "%d", i);
            expect_member(m, "commit_lsn", c0, "multi-row transaction");
            expect_member(m, "txid", x0, "multi-row transaction");
            expect_member(m, "sequence", seqs, "multi-row transaction");
            free(m);
        }
        free(m0);
        free(c0);
        free(x0);
    }
    /* every event id distinct */
    for (int i = 0; i < ms.n; i++)
        for (int j = i + 1; j < ms.n; j++)
            assert_string_not_equal(ms.v[i].msg_id, ms.v[j].msg_id);
    it_msgs_free(&ms);
    free(big_x);
    free(big_y);
    PQfinish(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_row_operations_produce_exact_before_and_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
