/*
 * it_ckpt_file.c - the file checkpoint store under the failures a disk
 * gives (issue 3, section 6):
 * - torn writes: a child process saves records in a loop and is killed with
 *   SIGKILL at a random moment, 200 times; after each kill the file holds a
 *   whole, verified record (old or new), never a broken one, and positions
 *   never go backwards;
 * - a full disk (a 64 KiB tmpfs mounted for the test; CI runs as root): a
 *   save fails with a clear error and leaves the old record intact, and
 *   succeeds once space is freed;
 * - the daemon with its checkpoint on that full disk keeps streaming,
 *   confirms nothing more to PostgreSQL, and catches up once space is freed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkpoint/ckpt.h"
#include "itlib.h"

static struct ckpt_store *
open_store(const char *path)
{
    struct ckpt_store *s = NULL;
    struct cdc_err err;
    char url[600];

    snprintf(url, sizeof(url), "file://%s", path);
    if (ckpt_open(&s, url, NULL, &err) != CDC_OK)
        fail_msg("ckpt_open(%s): %s", url, err.msg);
    return s;
}

static void
fill_record(struct ckpt_record *r, cdc_lsn lsn)
{
    memset(r, 0, sizeof(*r));
    r->version = CKPT_VERSION;
    snprintf(r->source, sizeof(r->source), "torn");
    snprintf(r->engine, sizeof(r->engine), "postgres");
    snprintf(r->slot, sizeof(r->slot), "torn_slot");
    snprintf(r->system_id, sizeof(r->system_id), "7300000000000000001");
    r->timeline = 1;
    snprintf(r->stream, sizeof(r->stream), "TORN");
    r->lsn = lsn;
    r->stream_seq = lsn;
    r->time_us = 1700000000000000;
}

/* Child: save lsn, lsn+1, ... until killed; one byte to `done` after each completed save. */
static void __attribute__((noreturn)) save_forever(const char *path, cdc_lsn lsn, int done)
{
    struct ckpt_store *s = NULL;
    struct ckpt_record r;
    struct cdc_err err;
    char url[600];

    snprintf(url, sizeof(url), "file://%s", path);
    if (ckpt_open(&s, url, NULL, &err) != CDC_OK)
        _exit(3);
    for (;; lsn++) {
        fill_record(&r, lsn);
        if (ckpt_save(s, &r, &err) != CDC_OK)
            _exit(4);
        if (write(done, "x", 1) != 1)
            _exit(5);
    }
}

static void
test_kill9_during_saves_never_leaves_a_torn_record(void **state)
{
    char path[512];
    cdc_lsn last = 0;
    uint64_t seed = (uint64_t) getpid() * 0x9E3779B97F4A7C15ULL | 1;
    char tmp[600];
    int advanced = 0, midsave = 0;

    (void) state;
    snprintf(path, sizeof(path), "%s/torn.ckpt.json", it_env("CDC_IT_TMP"));
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    unlink(path);
    for (int round = 0; round < 200; round++) {
        struct pollfd pfd;
        struct ckpt_store *s;
        struct ckpt_record r;
        struct cdc_err err;
        bool found = false;
        int status, fds[2];
        char byte;
        pid_t pid;

        assert_int_equal(pipe(fds), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            save_forever(path, last + 1, fds[1]);
        }
        close(fds[1]);
        /* once a save has completed (a slow, sanitized child takes a while to start), kill it at
         * a random moment of the saves that follow: 0 to 4 ms */
        pfd = (struct pollfd){.fd = fds[0], .events = POLLIN};
        if (poll(&pfd, 1, 30000) != 1 || read(fds[0], &byte, 1) != 1)
            fail_msg("round %d: the child completed no save in 30 s", round);
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        usleep((useconds_t) (seed % 4000));
        kill(pid, SIGKILL);
        close(fds[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status)); /* it was saving, not failing */

        /* a temp file left behind: the kill landed in the middle of a save */
        if (access(tmp, F_OK) == 0) {
            midsave++;
            unlink(tmp);
        }
        s = open_store(path);
        if (ckpt_load(s, &r, &found, &err) != CDC_OK)
            fail_msg("round %d: the record is broken after kill -9: %s", round, err.msg);
        if (found) {
            if (r.lsn < last)
                fail_msg("round %d: the record went back from %llu to %llu", round,
                         (unsigned long long) last, (unsigned long long) r.lsn);
            advanced += r.lsn > last;
            last = r.lsn;
        }
        ckpt_close(s);
    }
    print_message("200 kill -9s during saves: every record whole; %d kills landed in the middle of "
                  "a save; %d rounds advanced it, to %llu\n",
                  midsave, advanced, (unsigned long long) last);
    /* not vacuous: saves completed in every round, and kills did interrupt saves under way */
    assert_int_equal(advanced, 200);
    assert_true(midsave > 0);
}

/* ---- a full disk ---- */

static char mnt[512];

static int
mount_small_tmpfs(void **state)
{
    (void) state;
    snprintf(mnt, sizeof(mnt), "%s/fulldisk", it_env("CDC_IT_TMP"));
    mkdir(mnt, 0755);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=64k,mode=0755") != 0) {
        fprintf(stderr,
                "it_ckpt_file: cannot mount a tmpfs on %s (%s): the full-disk tests need "
                "root (CI runs as root)\n",
                mnt, strerror(errno));
        return -1;
    }
    return 0;
}

static int
unmount_small_tmpfs(void **state)
{
    (void) state;
    umount2(mnt, MNT_DETACH);
    rmdir(mnt);
    return 0;
}

/* Fill the file system with `path` until writes fail with ENOSPC. */
static void
fill_disk(const char *path)
{
    static const char block[1024];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    assert_true(fd >= 0);
    while (write(fd, block, sizeof(block)) > 0)
        ;
    assert_int_equal(errno, ENOSPC);
    /* a few bytes may still fit at the end: take them too */
    while (write(fd, block, 1) > 0)
        ;
    close(fd);
}

static void
test_full_disk_fails_the_save_and_keeps_the_old_record(void **state)
{
    char path[600], filler[600];
    struct ckpt_store *s;
    struct ckpt_record r, got;
    struct cdc_err err;
    bool found = false;
    cdc_rc rc;

    (void) state;
    snprintf(path, sizeof(path), "%s/ckpt.json", mnt);
    snprintf(filler, sizeof(filler), "%s/filler", mnt);
    s = open_store(path);
    fill_record(&r, 0x1000);
    assert_int_equal(ckpt_save(s, &r, &err), CDC_OK);

    fill_disk(filler);
    fill_record(&r, 0x2000);
    rc = ckpt_save(s, &r, &err);
    assert_int_not_equal(rc, CDC_OK);
    assert_int_not_equal(rc, CDC_ERR_FATAL); /* the pipeline retries: the disk may be freed */
    print_message("save on a full disk: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "No space left on device"));
    assert_non_null(strstr(err.msg, path));
    assert_int_equal(ckpt_load(s, &got, &found, &err), CDC_OK);
    assert_true(found);
    assert_int_equal(got.lsn, 0x1000);

    unlink(filler);
    assert_int_equal(ckpt_save(s, &r, &err), CDC_OK);
    assert_int_equal(ckpt_load(s, &got, &found, &err), CDC_OK);
    assert_int_equal(got.lsn, 0x2000);
    ckpt_close(s);
    unlink(path);
}

static void
test_daemon_on_a_full_disk_holds_confirmation_then_recovers(void **state)
{
    char url[700], filler[600];
    const char *extra[] = {"-X", url, NULL};
    cdc_lsn before, held, after = 0;
    char *v, *log;
    PGconn *c;
    pid_t pid;

    (void) state;
    snprintf(url, sizeof(url), "cdc.checkpoint_storage=file://%s/daemon.ckpt.json", mnt);
    snprintf(filler, sizeof(filler), "%s/filler", mnt);
    c = it_fresh_db("it_fulldisk");
    it_sql(c, "CREATE TABLE t (id int PRIMARY KEY)");
    pid = it_daemon_start("it_fulldisk", "it_fulldisk", extra);
    it_wait_slot_active(c, "it_fulldisk");
    v = it_sql_value(c, "SELECT pg_current_wal_lsn()");
    assert_true(cdc_lsn_parse(v, &before));
    free(v);
    it_sql(c, "INSERT INTO t SELECT generate_series(1, 10)");
    assert_int_equal(it_wait_stream_count("it_fulldisk", 10, 20000), 10);
    for (int i = 0; i < 100 && it_slot_confirmed(c, "it_fulldisk") <= before; i++)
        usleep(100000);
    assert_true(it_slot_confirmed(c, "it_fulldisk") > before);

    fill_disk(filler);
    usleep(700000); /* a save under way finishes */
    held = it_slot_confirmed(c, "it_fulldisk");
    it_sql(c, "INSERT INTO t SELECT generate_series(11, 20)");
    assert_int_equal(it_wait_stream_count("it_fulldisk", 20, 20000), 20);
    usleep(1500000);
    assert_int_equal(it_slot_confirmed(c, "it_fulldisk"), held);
    assert_int_equal(waitpid(pid, NULL, WNOHANG), 0); /* still running */

    unlink(filler);
    for (int i = 0; i < 100 && (after = it_slot_confirmed(c, "it_fulldisk")) <= held; i++)
        usleep(100000);
    if (after <= held)
        fail_msg("the slot stayed at " CDC_LSN_FMT " after space was freed", CDC_LSN_ARGS(held));
    kill(pid, SIGTERM);
    assert_int_equal(it_daemon_wait(pid, 30000), 0);
    log = it_slurp(it_daemon_log("it_fulldisk"));
    assert_non_null(strstr(log, "No space left on device"));
    free(log);
    PQfinish(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9_during_saves_never_leaves_a_torn_record),
        cmocka_unit_test_setup_teardown(test_full_disk_fails_the_save_and_keeps_the_old_record,
                                        mount_small_tmpfs, unmount_small_tmpfs),
        cmocka_unit_test_setup_teardown(test_daemon_on_a_full_disk_holds_confirmation_then_recovers,
                                        mount_small_tmpfs, unmount_small_tmpfs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
