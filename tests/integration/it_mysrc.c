/*
 * it_mysrc.c - the MySQL/MariaDB binlog transport (mysrc.c) against the
 * fixture's MariaDB: events of an insert/update/delete workload arrive in
 * order with exact positions, rotation (FLUSH BINARY LOGS during the
 * workload) loses and repeats nothing, resuming from file+pos and from a GTID
 * position gives exactly the events after that point, a purged binlog is a
 * fatal error naming the position, a second reader with the same server_id
 * gets a message naming rds.server_id, a killed connection is retryable, and
 * the preflight flags binlog_format=STATEMENT, a partial row image, missing
 * grants and a short RDS binlog retention.
 *
 * The events are not decoded here (that is binlog.c's job): the tests look
 * at event types, header positions and the GTIDs of GTID events. Every test
 * starts from the server's position at its beginning, so tests may run in
 * any order and the fixture may be shared.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "itlib.h"
#include "source/mysql/mysrc.h"

#define DB        "mysrc_it"
#define CSUM      4 /* the fixture's binlog_checksum is CRC32 */
#define READ_MS   20000
#define MAX_EVENT 4096

/* What we keep of one event. */
struct rec {
    uint8_t type;
    uint16_t flags;
    uint32_t next_pos;
    size_t len;
    char file[MYSRC_FILE_MAX];
    uint64_t pos;
    bool has_gtid;
    uint64_t seq;
};

static MYSQL *adm; /* the admin connection, database DB */

static int
group_setup(void **state)
{
    MYSQL *c = it_my_connect(NULL);

    (void) state;
    it_my(c, "DROP DATABASE IF EXISTS " DB);
    it_my(c, "CREATE DATABASE " DB);
    mysql_close(c);
    adm = it_my_connect(DB);
    return 0;
}

static int
group_teardown(void **state)
{
    (void) state;
    mysql_close(adm);
    return 0;
}

static struct mysrc *
open_as(uint32_t server_id, const char *user, const char *password)
{
    struct mysrc_opts o;
    struct mysrc *s = NULL;
    struct cdc_err err = {0};

    mysrc_opts_init(&o);
    o.host = it_env("CDC_IT_MY_HOST");
    o.port = atoi(it_env("CDC_IT_MY_PORT"));
    o.user = user;
    o.password = password;
    o.sslmode = MYSRC_SSL_DISABLE;
    o.server_id = server_id;
    o.heartbeat_ms = 300;
    o.read_timeout_s = 10;
    if (mysrc_create(&s, &o, &err) != CDC_OK)
        fail_msg("mysrc_create: %s", err.msg);
    return s;
}

static struct mysrc *
open_src(uint32_t server_id)
{
    return open_as(server_id, it_env("CDC_IT_MY_USER"), it_env("CDC_IT_MY_PASSWORD"));
}

static void
current(struct mysrc *s, struct mysrc_pos *pos, char **gtid)
{
    struct cdc_err err = {0};

    if (mysrc_current_position(s, pos, gtid, &err) != CDC_OK)
        fail_msg("mysrc_current_position: %s", err.msg);
}

/* A letter per event type that carries data; '\0' for bookkeeping events. */
static char
letter(uint8_t type)
{
    switch (type) {
    case 162:
    case 33:
        return 'G';
    case 19:
        return 'T';
    case 23:
    case 30:
        return 'W';
    case 24:
    case 31:
        return 'U';
    case 25:
    case 32:
        return 'D';
    case 16:
        return 'X';
    case 2:
        return 'Q';
    default:
        return '\0';
    }
}

/*
 * Read until `xids` XID events have arrived (heartbeats skipped), keeping up
 * to cap events in v. Returns how many were kept. Fails the test on an error
 * or after READ_MS.
 */
static int
read_xids(struct mysrc *s, struct rec *v, int cap, int xids)
{
    int64_t deadline = it_now_ms() + READ_MS;
    struct cdc_err err = {0};
    struct mysrc_event ev;
    int n = 0, seen = 0;

    while (seen < xids) {
        if (it_now_ms() > deadline)
            fail_msg("only %d of %d transactions after %d ms", seen, xids, READ_MS);
        if (mysrc_read(s, &ev, &err) != CDC_OK)
            fail_msg("mysrc_read: %s", err.msg);
        if (ev.kind == MYSRC_HEARTBEAT)
            continue;
        assert_true(ev.len >= 19);
        /* the header's event length counts the checksum that len leaves out */
        assert_int_equal(ev.data[9] | ev.data[10] << 8 | ev.data[11] << 16 |
                             (uint32_t) ev.data[12] << 24,
                         ev.len + CSUM);
        assert_int_equal(ev.data[4], ev.type);
        if (n < cap) {
            struct rec *r = &v[n++];

            r->type = ev.type;
            r->flags = ev.flags;
            r->next_pos = ev.next_pos;
            r->len = ev.len;
            snprintf(r->file, sizeof(r->file), "%s", ev.file);
            r->pos = ev.pos;
            r->has_gtid = ev.has_gtid;
            r->seq = ev.gtid.seq;
        }
        if (ev.type == 16)
            seen++;
    }
    return n;
}

/* Read until mysrc_read() fails (heartbeats keep it returning); fails the test after READ_MS. */
static cdc_rc
read_until_error(struct mysrc *s, struct cdc_err *err)
{
    int64_t deadline = it_now_ms() + READ_MS;
    struct mysrc_event ev;
    cdc_rc rc;

    while ((rc = mysrc_read(s, &ev, err)) == CDC_OK)
        if (it_now_ms() > deadline)
            fail_msg("no error after %d ms", READ_MS);
    return rc;
}

/* The letters of the data events of v[from..n), as a string. */
static void
letters(const struct rec *v, int from, int n, char *out, size_t cap)
{
    size_t o = 0;

    for (int i = from; i < n && o + 1 < cap; i++)
        if (letter(v[i].type) != '\0' && !(v[i].flags & 0x20))
            out[o++] = letter(v[i].type);
    out[o] = '\0';
}

/* The data events of a[af..an) and b[bf..bn) are the same events at the same positions. */
static void
assert_same_events(const struct rec *a, int af, int an, const struct rec *b, int bf, int bn)
{
    int i = af, j = bf;

    for (;;) {
        while (i < an && (letter(a[i].type) == '\0' || a[i].flags & 0x20))
            i++;
        while (j < bn && (letter(b[j].type) == '\0' || b[j].flags & 0x20))
            j++;
        if (i >= an || j >= bn)
            break;
        assert_int_equal(a[i].type, b[j].type);
        assert_int_equal(a[i].next_pos, b[j].next_pos);
        assert_string_equal(a[i].file, b[j].file);
        assert_int_equal(a[i].seq, b[j].seq);
        i++, j++;
    }
    assert_true(i >= an && j >= bn);
}

static void
test_mysrc_server_identity_and_tls(void **state)
{
    struct mysrc_opts o;
    struct mysrc_server info;
    struct mysrc *s = NULL;
    struct cdc_err err = {0};

    (void) state;
    mysrc_opts_init(&o);
    o.host = it_env("CDC_IT_MY_HOST");
    o.port = atoi(it_env("CDC_IT_MY_PORT"));
    o.user = it_env("CDC_IT_MY_USER");
    o.password = it_env("CDC_IT_MY_PASSWORD");
    /* the default: TLS required, certificate not checked (the fixture's is self-signed) */
    assert_int_equal(o.sslmode, MYSRC_SSL_REQUIRE);
    assert_int_equal(o.server_id, 4242);
    assert_int_equal(mysrc_create(&s, &o, &err), CDC_OK);
    assert_int_equal(mysrc_server_info(s, &info, &err), CDC_OK);
    assert_true(info.is_mariadb);
    assert_int_equal(info.server_id, 1);
    assert_string_equal(info.binlog_checksum, "CRC32");
    assert_true(info.gtid_mode);
    assert_non_null(strstr(info.version, "MariaDB"));
    mysrc_destroy(s);

    /* verify-full cannot trust a self-signed certificate: a refusal, not a retry */
    o.sslmode = MYSRC_SSL_VERIFY_FULL;
    s = NULL;
    assert_int_equal(mysrc_create(&s, &o, &err), CDC_ERR_FATAL);
    assert_null(s);

    /* a wrong password is fatal and never shown */
    o.sslmode = MYSRC_SSL_DISABLE;
    o.password = "Wrong-Pw-93";
    assert_int_equal(mysrc_create(&s, &o, &err), CDC_ERR_FATAL);
    assert_null(strstr(err.msg, "Wrong-Pw-93"));
    assert_non_null(strstr(err.msg, "Access denied"));

    /* nobody listening: retry */
    o.password = it_env("CDC_IT_MY_PASSWORD");
    o.port = it_free_port();
    assert_int_equal(mysrc_create(&s, &o, &err), CDC_ERR_RETRY);
}

static void
test_mysrc_events_arrive_in_order_with_exact_positions(void **state)
{
    struct rec v[64];
    struct mysrc_pos p0;
    struct cdc_err err = {0};
    struct mysrc *s = open_src(601);
    char l[64];
    uint64_t prev;
    int n;

    (void) state;
    it_my(adm, "CREATE TABLE t_order (id INT PRIMARY KEY, v VARCHAR(20))");
    current(s, &p0, NULL);
    it_my(adm, "INSERT INTO t_order VALUES (1, 'a'), (2, 'b')");
    it_my(adm, "UPDATE t_order SET v = 'c' WHERE id = 1");
    it_my(adm, "DELETE FROM t_order WHERE id = 2");
    assert_int_equal(mysrc_start_file(s, p0.file, p0.pos, &err), CDC_OK);
    n = read_xids(s, v, 64, 3);

    letters(v, 0, n, l, sizeof(l));
    assert_string_equal(l, "GTWXGTUXGTDX");
    /* the artificial ROTATE names the file we asked for */
    assert_int_equal(v[0].type, 4);
    assert_true(v[0].flags & 0x20);
    assert_string_equal(v[0].file, p0.file);
    assert_int_equal(v[0].pos, p0.pos);
    /* then every event starts at or after the end of the one before (the server skips the
     * ANNOTATE_ROWS events a replica did not ask for), the first one exactly at p0 */
    prev = p0.pos;
    for (int i = 0; i < n; i++) {
        /* the artificial ROTATE and the file's FORMAT_DESCRIPTION, sent ahead of the rest */
        if ((v[i].flags & 0x20) || v[i].type == 15)
            continue;
        if (prev == p0.pos)
            assert_int_equal(v[i].next_pos, prev + v[i].len + CSUM);
        assert_true(v[i].next_pos >= prev + v[i].len + CSUM);
        assert_int_equal(v[i].pos, v[i].next_pos);
        assert_string_equal(v[i].file, p0.file);
        prev = v[i].next_pos;
    }
    assert_int_equal(mysrc_position(s)->pos, prev);
    /* ... and the last one ends where the server is now */
    current(s, &p0, NULL);
    assert_int_equal(prev, p0.pos);
    /* GTIDs count up by one per transaction */
    for (int i = 0, g = 0, last = 0; i < n; i++) {
        if (v[i].type != 162)
            continue;
        if (g++ > 0)
            assert_int_equal(v[i].seq, v[last].seq + 1);
        last = i;
    }
    mysrc_destroy(s);
}

static void
test_mysrc_rotation_loses_and_repeats_nothing(void **state)
{
    static struct rec v[MAX_EVENT];
    struct mysrc_pos p0, p1;
    struct cdc_err err = {0};
    struct mysrc *s = open_src(602);
    char files[3][MYSRC_FILE_MAX];
    int n, gtids = 0, rotates = 0, last = -1;

    (void) state;
    it_my(adm, "CREATE TABLE t_rot (id INT PRIMARY KEY)");
    current(s, &p0, NULL);
    snprintf(files[0], sizeof(files[0]), "%s", p0.file);
    /* the dump is open while the workload runs and the binlog rotates twice */
    assert_int_equal(mysrc_start_file(s, p0.file, p0.pos, &err), CDC_OK);
    for (int i = 1; i <= 40; i++) {
        it_my(adm, "INSERT INTO t_rot VALUES (%d)", i);
        if (i == 15 || i == 30)
            it_my(adm, "FLUSH BINARY LOGS");
    }
    n = read_xids(s, v, MAX_EVENT, 40);

    for (int i = 0; i < n; i++) {
        if (v[i].type == 4 && !(v[i].flags & 0x20)) {
            /* a real ROTATE: the next file, from its first event */
            assert_true(rotates < 2);
            assert_string_not_equal(v[i].file, files[rotates]);
            assert_true(strcmp(v[i].file, files[rotates]) > 0);
            assert_int_equal(v[i].pos, 4);
            snprintf(files[++rotates], sizeof(files[0]), "%s", v[i].file);
            continue;
        }
        assert_string_equal(v[i].file, files[rotates]);
        if (v[i].type != 162)
            continue;
        /* one GTID per insert, no gap and no repeat, each with its table map, rows and XID */
        if (last >= 0)
            assert_int_equal(v[i].seq, v[last].seq + 1);
        assert_true(i + 3 < n);
        assert_int_equal(letter(v[i + 1].type), 'T');
        assert_int_equal(letter(v[i + 2].type), 'W');
        assert_int_equal(letter(v[i + 3].type), 'X');
        last = i;
        gtids++;
    }
    assert_int_equal(rotates, 2);
    assert_int_equal(gtids, 40);
    /* we stand exactly where the server is */
    current(s, &p1, NULL);
    assert_string_equal(mysrc_position(s)->file, p1.file);
    assert_int_equal(mysrc_position(s)->pos, p1.pos);
    mysrc_destroy(s);
}

static void
test_mysrc_resume_from_file_pos_and_from_gtid(void **state)
{
    static struct rec a[256], b[256], c[256];
    struct mysrc_pos p0, pk;
    struct cdc_err err = {0};
    struct mysrc_gtid g3 = {0};
    struct mysrc *s = open_src(603);
    char *gtid0 = NULL, set[256], la[128], lb[128];
    int na, nb, nc, k = -1, xids = 0;

    (void) state;
    it_my(adm, "CREATE TABLE t_res (id INT PRIMARY KEY, v INT)");
    current(s, &p0, &gtid0);
    for (int i = 1; i <= 6; i++)
        it_my(adm, "INSERT INTO t_res VALUES (%d, %d), (%d, %d)", 2 * i, i, 2 * i + 1, i);
    assert_int_equal(mysrc_start_file(s, p0.file, p0.pos, &err), CDC_OK);
    na = read_xids(s, a, 256, 6);
    for (int i = 0; i < na && k < 0; i++) {
        if (a[i].type == 162) {
            g3.domain_id = 0;
            g3.server_id = 1;
            g3.seq = a[i].seq;
        }
        if (a[i].type == 16 && ++xids == 3)
            k = i + 1; /* the events after the third commit */
    }
    assert_true(k > 0);
    snprintf(pk.file, sizeof(pk.file), "%s", a[k - 1].file);
    pk.pos = a[k - 1].pos;
    assert_int_equal(mysrc_stop(s, &err), CDC_OK);

    /* from the third commit's position: the last three transactions, identical */
    assert_int_equal(mysrc_start_file(s, pk.file, pk.pos, &err), CDC_OK);
    nb = read_xids(s, b, 256, 3);
    letters(a, k, na, la, sizeof(la));
    letters(b, 0, nb, lb, sizeof(lb));
    assert_string_equal(la, "GTWXGTWXGTWX");
    assert_string_equal(lb, la);
    assert_same_events(a, k, na, b, 0, nb);
    assert_int_equal(mysrc_stop(s, &err), CDC_OK);

    /* from the GTID position after the third transaction: the same three */
    snprintf(set, sizeof(set), "%s", gtid0);
    assert_int_equal(mysrc_gtid_set_update(set, sizeof(set), &g3, &err), CDC_OK);
    assert_int_equal(mysrc_start_gtid(s, set, &err), CDC_OK);
    nc = read_xids(s, c, 256, 3);
    letters(c, 0, nc, lb, sizeof(lb));
    assert_string_equal(lb, la);
    assert_same_events(a, k, na, c, 0, nc);
    /* positions are right after a GTID start too */
    assert_string_equal(mysrc_position(s)->file, a[na - 1].file);
    assert_int_equal(mysrc_position(s)->pos, a[na - 1].pos);
    free(gtid0);
    mysrc_destroy(s);
}

static void
test_mysrc_purged_binlog_is_lost_and_names_the_position(void **state)
{
    struct mysrc_pos p0, p1;
    struct mysrc_event ev;
    struct cdc_err err = {0};
    struct mysrc *s = open_src(604);
    char *gtid0 = NULL, want[300];
    cdc_rc rc;

    (void) state;
    it_my(adm, "CREATE TABLE t_purge (id INT PRIMARY KEY)");
    current(s, &p0, &gtid0);
    it_my(adm, "INSERT INTO t_purge VALUES (1)");
    it_my(adm, "INSERT INTO t_purge VALUES (2)");
    it_my(adm, "FLUSH BINARY LOGS");
    it_my(adm, "FLUSH BINARY LOGS");
    current(s, &p1, NULL);
    /* MariaDB keeps a binlog until the engine has made its transactions durable (the binlog
     * checkpoint, up to a second with innodb_flush_log_at_trx_commit=0): purge until it is gone */
    for (int64_t deadline = it_now_ms() + READ_MS;;) {
        char *first;
        bool gone;

        it_my(adm, "PURGE BINARY LOGS TO '%s'", p1.file);
        first = it_my_value(adm, "SHOW BINARY LOGS");
        assert_non_null(first);
        gone = strcmp(first, p1.file) == 0;
        free(first);
        if (gone)
            break;
        if (it_now_ms() > deadline)
            fail_msg("could not purge the binlogs before %s", p1.file);
        usleep(100 * 1000);
    }

    assert_int_equal(mysrc_start_file(s, p0.file, p0.pos, &err), CDC_OK);
    rc = read_until_error(s, &err);
    assert_int_equal(rc, CDC_ERR_LOST);
    snprintf(want, sizeof(want), "%s:%llu", p0.file, (unsigned long long) p0.pos);
    assert_non_null(strstr(err.msg, want));
    assert_non_null(strstr(err.msg, "1236"));
    assert_non_null(strstr(err.msg, "binlog retention hours"));
    /* the dump is over */
    assert_int_equal(mysrc_read(s, &ev, &err), CDC_ERR_CLOSED);

    /* the GTID variant: the position is older than every binlog left */
    assert_int_equal(mysrc_start_gtid(s, gtid0, &err), CDC_OK);
    rc = read_until_error(s, &err);
    assert_int_equal(rc, CDC_ERR_LOST);
    assert_non_null(strstr(err.msg, gtid0));
    assert_non_null(strstr(err.msg, "1236"));
    free(gtid0);
    mysrc_destroy(s);
}

static void
test_mysrc_duplicate_server_id_names_rds_server_id(void **state)
{
    struct mysrc *s1 = open_src(605), *s2 = open_src(605), *s3 = open_src(606);
    struct mysrc_pos p0;
    struct mysrc_event ev;
    struct cdc_err err = {0};
    cdc_rc rc;

    (void) state;
    current(s1, &p0, NULL);
    assert_int_equal(mysrc_start_file(s1, p0.file, p0.pos, &err), CDC_OK);
    assert_int_equal(mysrc_read(s1, &ev, &err), CDC_OK); /* the dump is running */
    assert_int_equal(mysrc_start_file(s2, p0.file, p0.pos, &err), CDC_OK);
    assert_int_equal(mysrc_read(s2, &ev, &err), CDC_OK);
    /* the server ends the older dump: the newer reader wins, the older one must stop */
    rc = read_until_error(s1, &err);
    assert_int_equal(rc, CDC_ERR_FATAL);
    assert_non_null(strstr(err.msg, "rds.server_id"));
    assert_non_null(strstr(err.msg, "605"));
    /* the newer reader is unharmed, and another id is welcome beside it */
    assert_int_equal(mysrc_start_file(s3, p0.file, p0.pos, &err), CDC_OK);
    assert_int_equal(mysrc_read(s3, &ev, &err), CDC_OK);
    it_my(adm, "CREATE TABLE t_dup (id INT)");
    for (int i = 0; i < 2; i++) {
        struct mysrc *s = i == 0 ? s2 : s3;
        int64_t deadline = it_now_ms() + READ_MS;

        do
            rc = mysrc_read(s, &ev, &err);
        while (rc == CDC_OK && ev.type != 2 && it_now_ms() < deadline);
        assert_int_equal(rc, CDC_OK);
        assert_int_equal(ev.type, 2);
    }
    mysrc_destroy(s1);
    mysrc_destroy(s2);
    mysrc_destroy(s3);
}

static void
test_mysrc_killed_connection_is_retryable(void **state)
{
    struct mysrc *s = open_src(607);
    struct mysrc_pos p0;
    struct mysrc_event ev;
    struct cdc_err err = {0};
    char *id;
    cdc_rc rc;

    (void) state;
    current(s, &p0, NULL);
    assert_int_equal(mysrc_start_file(s, p0.file, p0.pos, &err), CDC_OK);
    assert_int_equal(mysrc_read(s, &ev, &err), CDC_OK);
    id = it_my_value(adm,
                     "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND = "
                     "'Binlog Dump' AND USER = '%s'",
                     it_env("CDC_IT_MY_USER"));
    assert_non_null(id);
    it_my(adm, "KILL CONNECTION %s", id);
    free(id);
    rc = read_until_error(s, &err);
    assert_int_equal(rc, CDC_ERR_RETRY);
    assert_non_null(strstr(err.msg, p0.file));
    mysrc_destroy(s);
}

static const struct mysrc_check *
finding(const struct mysrc_preflight *pf, const char *what, const char *text)
{
    for (int i = 0; i < pf->n; i++)
        if (strcmp(pf->v[i].what, what) == 0 && strstr(pf->v[i].msg, text) != NULL)
            return &pf->v[i];
    return NULL;
}

static void
test_mysrc_preflight_flags_settings_grants_and_retention(void **state)
{
    struct mysrc *s = open_src(608), *weak;
    struct mysrc_preflight pf;
    struct cdc_err err = {0};
    const struct mysrc_check *f;

    (void) state;
    /* the fixture is set up as documented: nothing to say */
    assert_int_equal(mysrc_preflight(s, 3600, &pf, &err), CDC_OK);
    for (int i = 0; i < pf.n; i++)
        print_message("unexpected finding: %s: %s\n", pf.v[i].what, pf.v[i].msg);
    assert_int_equal(pf.n, 0);
    assert_false(pf.is_rds);

    it_my(adm, "SET GLOBAL binlog_format = 'STATEMENT'");
    it_my(adm, "SET GLOBAL binlog_row_image = 'MINIMAL'");
    it_my(adm, "SET GLOBAL binlog_row_metadata = 'MINIMAL'");
    assert_int_equal(mysrc_preflight(s, 3600, &pf, &err), CDC_OK);
    it_my(adm, "SET GLOBAL binlog_format = 'ROW'");
    it_my(adm, "SET GLOBAL binlog_row_image = 'FULL'");
    it_my(adm, "SET GLOBAL binlog_row_metadata = 'FULL'");
    assert_int_equal(pf.n, 3);
    assert_non_null(f = finding(&pf, "binlog_format", "binlog_format is STATEMENT"));
    assert_int_equal(f->severity, MYSRC_SEV_ERROR);
    assert_non_null(strstr(f->msg, "binlog_format=ROW"));
    assert_non_null(f = finding(&pf, "binlog_row_image", "MINIMAL"));
    assert_int_equal(f->severity, MYSRC_SEV_WARN);
    assert_non_null(strstr(f->msg, "binlog_row_image=FULL"));
    assert_non_null(f = finding(&pf, "binlog_row_metadata", "MINIMAL"));
    assert_int_equal(f->severity, MYSRC_SEV_WARN);

    /* an account without replication grants */
    it_my(adm, "DROP USER IF EXISTS 'cdc_weak'@'%%'");
    it_my(adm, "CREATE USER 'cdc_weak'@'%%' IDENTIFIED BY 'weak_pw'");
    it_my(adm, "GRANT SELECT ON " DB ".* TO 'cdc_weak'@'%%'");
    weak = open_as(609, "cdc_weak", "weak_pw");
    assert_int_equal(mysrc_preflight(weak, 3600, &pf, &err), CDC_OK);
    assert_int_equal(pf.n, 2);
    assert_non_null(f = finding(&pf, "grants", "REPLICATION SLAVE"));
    assert_int_equal(f->severity, MYSRC_SEV_ERROR);
    assert_non_null(strstr(f->msg, "GRANT REPLICATION SLAVE ON *.*"));
    assert_non_null(f = finding(&pf, "grants", "BINLOG MONITOR"));
    assert_int_equal(f->severity, MYSRC_SEV_WARN);
    mysrc_destroy(weak);

    /* an RDS-like server: binlog retention hours NULL, then too short, then enough */
    it_my(adm, "CREATE OR REPLACE PROCEDURE mysql.rds_show_configuration() SELECT 'binlog "
               "retention hours' AS name, NULL AS value, 'desc' AS description");
    it_my(adm, "GRANT EXECUTE ON PROCEDURE mysql.rds_show_configuration TO '%s'@'%%'",
          it_env("CDC_IT_MY_USER"));
    assert_int_equal(mysrc_preflight(s, 7200, &pf, &err), CDC_OK);
    assert_true(pf.is_rds);
    assert_int_equal(pf.retention_hours, -1);
    assert_int_equal(pf.n, 1);
    assert_non_null(f = finding(&pf, "retention", "is NULL"));
    assert_non_null(strstr(f->msg, "mysql.rds_set_configuration('binlog retention hours', 2)"));
    it_my(adm, "CREATE OR REPLACE PROCEDURE mysql.rds_show_configuration() SELECT 'binlog "
               "retention hours' AS name, '1' AS value, 'desc' AS description");
    assert_int_equal(mysrc_preflight(s, 7200, &pf, &err), CDC_OK);
    assert_int_equal(pf.retention_hours, 1);
    assert_int_equal(pf.n, 1);
    assert_non_null(f = finding(&pf, "retention", "is 1, shorter than the tolerable downtime"));
    assert_int_equal(mysrc_preflight(s, 3600, &pf, &err), CDC_OK);
    assert_int_equal(pf.n, 0);
    it_my(adm, "DROP PROCEDURE mysql.rds_show_configuration");
    mysrc_destroy(s);
}

/* Not a benchmark gate: how fast raw events come off the wire, printed for the record. */
static void
test_mysrc_reads_a_bulk_insert_quickly(void **state)
{
    struct mysrc *s = open_src(610);
    struct mysrc_pos p0;
    struct mysrc_event ev;
    struct cdc_err err = {0};
    int64_t t0;
    long events = 0, rows_events = 0;
    size_t bytes = 0;
    double secs;

    (void) state;
    it_my(adm, "CREATE TABLE t_bulk (id INT PRIMARY KEY, v VARCHAR(100))");
    current(s, &p0, NULL);
    it_my(adm, "INSERT INTO t_bulk SELECT seq, REPEAT('x', 40) FROM seq_1_to_200000");
    t0 = it_now_ms();
    assert_int_equal(mysrc_start_file(s, p0.file, p0.pos, &err), CDC_OK);
    do {
        if (mysrc_read(s, &ev, &err) != CDC_OK)
            fail_msg("mysrc_read: %s", err.msg);
        events++;
        bytes += ev.len;
        rows_events += letter(ev.type) == 'W';
    } while (ev.type != 16);
    secs = (double) (it_now_ms() - t0) / 1000.0;
    print_message("200000 rows in %ld events (%ld rows events, %.1f MB) in %.3f s: %.0f events/s, "
                  "%.0f rows/s, %.0f MB/s\n",
                  events, rows_events, (double) bytes / 1e6, secs, (double) events / secs,
                  200000.0 / secs, (double) bytes / 1e6 / secs);
    assert_true(rows_events > 1);
    mysrc_destroy(s);
}

static void
test_mysrc_gtid_set_update(void **state)
{
    struct mysrc_gtid g = {.domain_id = 1, .server_id = 7, .seq = 42};
    struct cdc_err err = {0};
    char set[64] = "";
    char small[8] = "";

    (void) state;
    assert_int_equal(mysrc_gtid_set_update(set, sizeof(set), &g, &err), CDC_OK);
    assert_string_equal(set, "1-7-42");
    g.domain_id = 0, g.server_id = 1, g.seq = 9;
    assert_int_equal(mysrc_gtid_set_update(set, sizeof(set), &g, &err), CDC_OK);
    assert_string_equal(set, "0-1-9,1-7-42");
    g.domain_id = 1, g.server_id = 2, g.seq = 43;
    assert_int_equal(mysrc_gtid_set_update(set, sizeof(set), &g, &err), CDC_OK);
    assert_string_equal(set, "0-1-9,1-2-43");
    g.domain_id = 5, g.seq = 1;
    assert_int_equal(mysrc_gtid_set_update(set, sizeof(set), &g, &err), CDC_OK);
    assert_string_equal(set, "0-1-9,1-2-43,5-2-1");
    assert_int_equal(mysrc_gtid_set_update(small, sizeof(small), &g, &err), CDC_OK);
    assert_string_equal(small, "5-2-1");
    g.seq = 123456;
    assert_int_equal(mysrc_gtid_set_update(small, sizeof(small), &g, &err), CDC_ERR_CONFIG);
    assert_string_equal(small, "5-2-1");
    snprintf(set, sizeof(set), "0-1-x");
    assert_int_equal(mysrc_gtid_set_update(set, sizeof(set), &g, &err), CDC_ERR_CONFIG);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mysrc_gtid_set_update),
        cmocka_unit_test(test_mysrc_server_identity_and_tls),
        cmocka_unit_test(test_mysrc_events_arrive_in_order_with_exact_positions),
        cmocka_unit_test(test_mysrc_rotation_loses_and_repeats_nothing),
        cmocka_unit_test(test_mysrc_resume_from_file_pos_and_from_gtid),
        cmocka_unit_test(test_mysrc_duplicate_server_id_names_rds_server_id),
        cmocka_unit_test(test_mysrc_killed_connection_is_retryable),
        cmocka_unit_test(test_mysrc_preflight_flags_settings_grants_and_retention),
        cmocka_unit_test(test_mysrc_reads_a_bulk_insert_quickly),
        cmocka_unit_test(test_mysrc_purged_binlog_is_lost_and_names_the_position),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
