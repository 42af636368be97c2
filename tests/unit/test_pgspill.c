/*
 * test_pgspill.c - the spill file of a streamed transaction: messages read
 * back in order (small ones, and ones larger than the 64 KiB buffers),
 * subtransaction aborts (a suffix cut; nested savepoints where the parent
 * writes after its child; a child released into a parent that aborts;
 * thousands of subtransactions), Relation messages kept across aborts, the
 * size limit, and files unlinked at once and swept at start.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "source/pg/pgspill.h"

struct fix {
    char dir[512];
    struct pgspill *s;
};

static int
setup(void **state)
{
    struct fix *f = calloc(1, sizeof(*f));
    const char *t = getenv("TMPDIR");
    struct cdc_err err = {0};

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s/test_pgspill.XXXXXX", t != NULL && *t ? t : "/tmp");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    if (pgspill_create(&f->s, f->dir, "slot_a", 700, 0, &err) != CDC_OK)
        return -1;
    *state = f;
    return 0;
}

static int
dir_count(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static int
teardown(void **state)
{
    struct fix *f = *state;

    pgspill_destroy(f->s);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Append message "<text>" of subtransaction subxid at lsn. */
static void
put(struct pgspill *s, uint32_t subxid, cdc_lsn lsn, const char *text)
{
    struct cdc_err err = {0};

    if (pgspill_append(s, subxid, lsn, (const uint8_t *) text, strlen(text), &err) != CDC_OK)
        fail_msg("append: %s", err.msg);
}

static void
put_kept(struct pgspill *s, cdc_lsn lsn, const char *text)
{
    struct cdc_err err = {0};

    if (pgspill_append_kept(s, lsn, (const uint8_t *) text, strlen(text), &err) != CDC_OK)
        fail_msg("append_kept: %s", err.msg);
}

static bool
abort_sub(struct pgspill *s, uint32_t subxid)
{
    struct cdc_err err = {0};
    bool found = false;

    if (pgspill_abort_sub(s, subxid, &found, &err) != CDC_OK)
        fail_msg("abort_sub: %s", err.msg);
    return found;
}

/* Read everything back; the messages joined by spaces must equal want. */
static void
expect(struct pgspill *s, const char *want)
{
    struct cdc_err err = {0};
    struct pgspill_rec rec;
    char got[4096] = "";
    size_t n = 0;
    bool end = false;

    assert_int_equal(pgspill_rewind(s, &err), CDC_OK);
    for (;;) {
        assert_int_equal(pgspill_next(s, &rec, &end, &err), CDC_OK);
        if (end)
            break;
        n += (size_t) snprintf(got + n, sizeof(got) - n, "%s%.*s", n ? " " : "", (int) rec.len,
                               (const char *) rec.msg);
        assert_true(n < sizeof(got));
    }
    assert_string_equal(got, want);
}

static void
test_pgspill_reads_back_in_order_with_lsn_and_subxid(void **state)
{
    struct fix *f = *state;
    struct cdc_err err = {0};
    struct pgspill_rec rec;
    bool end;

    put(f->s, 700, 0x100, "a");
    put(f->s, 701, 0x200, "bb");
    put(f->s, 700, 0x300, "ccc");
    assert_int_equal(pgspill_xid(f->s), 700);
    assert_int_equal(pgspill_bytes(f->s), 3 * 24 + 6);
    assert_int_equal(pgspill_rewind(f->s, &err), CDC_OK);
    assert_int_equal(pgspill_next(f->s, &rec, &end, &err), CDC_OK);
    assert_false(end);
    assert_int_equal(rec.len, 1);
    assert_memory_equal(rec.msg, "a", 1);
    assert_int_equal(rec.lsn, 0x100);
    assert_int_equal(rec.subxid, 700);
    assert_int_equal(pgspill_next(f->s, &rec, &end, &err), CDC_OK);
    assert_int_equal(rec.subxid, 701);
    assert_int_equal(rec.lsn, 0x200);
    assert_memory_equal(rec.msg, "bb", 2);
    assert_int_equal(pgspill_next(f->s, &rec, &end, &err), CDC_OK);
    assert_memory_equal(rec.msg, "ccc", 3);
    assert_int_equal(pgspill_next(f->s, &rec, &end, &err), CDC_OK);
    assert_true(end);
    /* appending after the rewind is a programming error, reported */
    assert_int_equal(pgspill_append(f->s, 700, 0, (const uint8_t *) "x", 1, &err), CDC_ERR_PROTO);
}

static void
test_pgspill_large_and_many_messages_cross_the_buffers(void **state)
{
    struct fix *f = *state;
    struct cdc_err err = {0};
    struct pgspill_rec rec;
    size_t big = 200 * 1024;
    uint8_t *b = malloc(big);
    bool end;

    assert_non_null(b);
    for (size_t i = 0; i < big; i++)
        b[i] = (uint8_t) (i * 7);
    /* 5000 records of 100 bytes span several 64 KiB buffers; one of 200 KiB in the middle */
    for (uint32_t i = 0; i < 5000; i++) {
        uint8_t m[100];

        memset(m, (int) (i & 0xff), sizeof(m));
        memcpy(m, &i, sizeof(i));
        assert_int_equal(pgspill_append(f->s, 700, i, m, sizeof(m), &err), CDC_OK);
        if (i == 2500)
            assert_int_equal(pgspill_append(f->s, 700, 99999, b, big, &err), CDC_OK);
    }
    assert_int_equal(pgspill_rewind(f->s, &err), CDC_OK);
    for (uint32_t i = 0; i < 5000; i++) {
        uint32_t j;

        assert_int_equal(pgspill_next(f->s, &rec, &end, &err), CDC_OK);
        assert_false(end);
        assert_int_equal(rec.len, 100);
        memcpy(&j, rec.msg, sizeof(j));
        assert_int_equal(j, i);
        assert_int_equal(rec.msg[99], i & 0xff);
        assert_int_equal(rec.lsn, i);
        if (i == 2500) {
            assert_int_equal(pgspill_next(f->s, &rec, &end, &err), CDC_OK);
            assert_int_equal(rec.len, big);
            assert_int_equal(rec.lsn, 99999);
            assert_memory_equal(rec.msg, b, big);
        }
    }
    assert_int_equal(pgspill_next(f->s, &rec, &end, &err), CDC_OK);
    assert_true(end);
    free(b);
}

/* BEGIN; r1; SAVEPOINT s; r2 r3; ROLLBACK TO s; r4 (s begun again: a new xid) */
static void
test_pgspill_subtransaction_abort_cuts_its_suffix(void **state)
{
    struct fix *f = *state;

    put(f->s, 700, 1, "r1");
    put(f->s, 701, 2, "r2");
    put(f->s, 701, 3, "r3");
    assert_true(abort_sub(f->s, 701));
    put(f->s, 702, 4, "r4");
    assert_int_equal(pgspill_bytes(f->s), 2 * 26);
    expect(f->s, "r1 r4");
}

/*
 * SAVEPOINT a; SAVEPOINT b; r2 (b); RELEASE b; r3 (a: its xid 701 was given
 * before b's 702, its first row comes after); ROLLBACK TO a: the server sends
 * Stream Abort for b, then for a.
 */
static void
test_pgspill_parent_writing_after_its_child_aborts_both(void **state)
{
    struct fix *f = *state;

    put(f->s, 700, 1, "r1");
    put(f->s, 702, 2, "r2");
    put(f->s, 701, 3, "r3");
    assert_true(abort_sub(f->s, 702));
    assert_false(abort_sub(f->s, 701)); /* already cut with b */
    put(f->s, 703, 4, "r4");
    expect(f->s, "r1 r4");
}

/*
 * SAVEPOINT a; r2 (a); SAVEPOINT b; r3 (b); RELEASE b; r4 (a again: b is
 * popped); ROLLBACK TO a: Stream Abort of b (no longer on the stack), then of a.
 */
static void
test_pgspill_child_released_into_aborted_parent(void **state)
{
    struct fix *f = *state;

    put(f->s, 700, 1, "r1");
    put(f->s, 701, 2, "r2");
    put(f->s, 702, 3, "r3");
    put(f->s, 701, 4, "r4");
    assert_false(abort_sub(f->s, 702));
    assert_true(abort_sub(f->s, 701));
    put(f->s, 700, 5, "r5");
    expect(f->s, "r1 r5");
}

/* The other order of the same aborts: the parent first, the child is then gone. */
static void
test_pgspill_parent_aborted_before_child_message(void **state)
{
    struct fix *f = *state;

    put(f->s, 700, 1, "r1");
    put(f->s, 701, 2, "r2");
    put(f->s, 702, 3, "r3");
    assert_true(abort_sub(f->s, 701));
    assert_false(abort_sub(f->s, 702));
    expect(f->s, "r1");
}

static void
test_pgspill_abort_of_unknown_subtransaction_changes_nothing(void **state)
{
    struct fix *f = *state;

    assert_false(abort_sub(f->s, 705)); /* empty file */
    put(f->s, 700, 1, "r1");
    put(f->s, 701, 2, "r2");
    assert_false(abort_sub(f->s, 705));
    expect(f->s, "r1 r2");
}

/* A Relation message sent in a subtransaction that aborts is still needed afterwards. */
static void
test_pgspill_kept_messages_survive_aborts(void **state)
{
    struct fix *f = *state;

    put(f->s, 700, 1, "r1");
    put(f->s, 701, 2, "r2");
    put_kept(f->s, 0, "REL");
    put(f->s, 701, 3, "r3");
    put(f->s, 702, 4, "r4"); /* a child of 701 */
    assert_true(abort_sub(f->s, 702));
    assert_true(abort_sub(f->s, 701));
    put(f->s, 703, 5, "r5");
    put(f->s, 703, 6, "r6");
    assert_true(abort_sub(f->s, 703));
    put(f->s, 700, 7, "r7");
    expect(f->s, "r1 REL r7");
}

/*
 * A PL/pgSQL loop with an EXCEPTION block: one subtransaction per row, each a
 * child of the top transaction; every third one rolls back. Then the whole
 * lot is rolled back to a savepoint taken before the loop.
 */
static void
test_pgspill_thousands_of_subtransactions(void **state)
{
    struct fix *f = *state;
    struct cdc_err err = {0};
    struct pgspill_rec rec;
    bool end;
    char m[16];

    put(f->s, 700, 1, "top");
    for (uint32_t i = 1; i <= 3000; i++) {
        snprintf(m, sizeof(m), "%u", i);
        put(f->s, 800 + i, i, m);
        if (i % 3 == 0)
            assert_true(abort_sub(f->s, 800 + i));
    }
    assert_int_equal(pgspill_rewind(f->s, &err), CDC_OK);
    assert_int_equal(pgspill_next(f->s, &rec, &end, &err), CDC_OK);
    assert_memory_equal(rec.msg, "top", 3);
    for (uint32_t i = 1; i <= 3000; i++) {
        if (i % 3 == 0)
            continue;
        assert_int_equal(pgspill_next(f->s, &rec, &end, &err), CDC_OK);
        assert_false(end);
        snprintf(m, sizeof(m), "%u", i);
        assert_int_equal(rec.len, strlen(m));
        assert_memory_equal(rec.msg, m, rec.len);
    }
    assert_int_equal(pgspill_next(f->s, &rec, &end, &err), CDC_OK);
    assert_true(end);
}

static void
test_pgspill_savepoint_around_a_loop_of_subtransactions(void **state)
{
    struct fix *f = *state;
    char m[16];

    put(f->s, 700, 1, "r1");
    /* SAVEPOINT p (xid 750 given when the first child writes); then the loop's children */
    for (uint32_t i = 1; i <= 2000; i++) {
        snprintf(m, sizeof(m), "c%u", i);
        put(f->s, 800 + i, i, m);
    }
    put(f->s, 750, 3000, "p"); /* p itself writes after its children */
    /* ROLLBACK TO p: Stream Abort for each released child (xid order), then p */
    for (uint32_t i = 1; i <= 2000; i++)
        (void) abort_sub(f->s, 800 + i);
    (void) abort_sub(f->s, 750);
    put(f->s, 700, 4000, "r2");
    expect(f->s, "r1 r2");
}

static void
test_pgspill_size_limit_is_a_fatal_error_naming_the_setting(void **state)
{
    struct fix *f = *state;
    struct cdc_err err = {0};
    struct pgspill *s;
    uint8_t m[100] = {0};

    assert_int_equal(pgspill_create(&s, f->dir, "slot_a", 900, 3 * (24 + 100), &err), CDC_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pgspill_append(s, 900, 0, m, sizeof(m), &err), CDC_OK);
    assert_int_equal(pgspill_append(s, 900, 0, m, 1, &err), CDC_ERR_FATAL);
    assert_non_null(strstr(err.msg, "cdc.spill_max_bytes"));
    assert_non_null(strstr(err.msg, "900"));
    pgspill_destroy(s);
}

static void
test_pgspill_files_are_unlinked_at_once_and_swept(void **state)
{
    struct fix *f = *state;
    struct cdc_err err = {0};
    struct pgspill *other = NULL;
    char path[700];
    int removed = -1;
    FILE *fp;

    put(f->s, 700, 1, "r1");
    assert_int_equal(dir_count(f->dir), 0);
    /* what a crash between mkostemp and unlink would leave, and other files */
    snprintf(path, sizeof(path), "%s/" PGSPILL_PREFIX "slot_a.AbC123", f->dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    snprintf(path, sizeof(path), "%s/" PGSPILL_PREFIX "slot_b.AbC123", f->dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(pgspill_sweep(f->dir, "slot_a", &removed, &err), CDC_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(dir_count(f->dir), 1); /* another slot's file stays */
    unlink(path);
    snprintf(path, sizeof(path), "%s/missing", f->dir);
    assert_int_equal(pgspill_sweep(path, "slot_a", NULL, &err), CDC_ERR_IO);
    assert_int_equal(pgspill_create(&other, path, "x", 1, 0, &err), CDC_ERR_IO);
    assert_non_null(strstr(err.msg, "could not create spill file"));
    assert_null(other);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pgspill_reads_back_in_order_with_lsn_and_subxid, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pgspill_large_and_many_messages_cross_the_buffers,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pgspill_subtransaction_abort_cuts_its_suffix, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pgspill_parent_writing_after_its_child_aborts_both,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pgspill_child_released_into_aborted_parent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pgspill_parent_aborted_before_child_message, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_pgspill_abort_of_unknown_subtransaction_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pgspill_kept_messages_survive_aborts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pgspill_thousands_of_subtransactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pgspill_savepoint_around_a_loop_of_subtransactions,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pgspill_size_limit_is_a_fatal_error_naming_the_setting,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pgspill_files_are_unlinked_at_once_and_swept, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
