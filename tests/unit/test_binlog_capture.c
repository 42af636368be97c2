/*
 * test_binlog_capture.c - the binlog decoders (binlog.c, binlog_table.c,
 * rowdec.c, mytypes.c) and the JSON encoder on REAL events: the MariaDB 10.11
 * capture tests/data/binlog/workload.bin, written by scripts/capture_binlog.sh
 * (its SQL is the source of truth; tests/data/binlog/README.md explains it).
 *
 * Every record is decoded, in order, as the source does: FORMAT_DESCRIPTION
 * first (binlog_fmt_apply), TABLE_MAPs kept by table id (binlog_table_create),
 * every image of every ROWS event through rowdec_decode / rowdec_fixup, and
 * each value rendered with json_put_value(rowdec_col_fmt()). The tests then
 * check the number of events of each type, the DDL and GTID events, and the
 * exact JSON of every column of every row image, derived by hand from the
 * workload's SQL (never copied from what the decoder printed).
 *
 * The capture's records have their CRC32 removed while the header's
 * event-length field still counts it (N + 4). binlog_decode() wants the event
 * exactly as the server sent it (event_size == len), as mysource.c passes it
 * (mysrc_read() leaves the checksum in its buffer after `len`). So each record
 * is copied with its 4 CRC bytes rebuilt (binlog_crc32 of the N bytes,
 * little-endian) and decoded as N + 4 bytes under a format that starts at
 * BINLOG_CHECKSUM_OFF and becomes CRC32 from the FORMAT_DESCRIPTION, with
 * verify_checksum on: the rebuilt checksums must verify.
 *
 * MariaDB's JSON, UUID and INET6 columns look like LONGTEXT and BINARY(16) in
 * a TABLE_MAP; the source marks them from information_schema
 * (mysource.c's mys_logical). The test marks t_misc's j, u and ip the same way.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event/json.h"
#include "source/mysql/binlog.h"
#include "source/mysql/rowdec.h"

#define CAP_RECORDS 113 /* records in the committed capture */
#define MAX_TABLES  16  /* distinct table ids seen */

/* What one record decoded to. */
struct rec {
    uint8_t type;
    char *text;        /* ROWS: the images (see rows_text()); QUERY and ANNOTATE: the SQL */
    char *table;       /* TABLE_MAP and ROWS: the table name */
    uint64_t table_id; /* TABLE_MAP and ROWS */
    uint16_t flags;    /* ROWS: the rows flags */
    enum binlog_query_kind kind; /* QUERY */
    char *db;                    /* QUERY: the default database */
    struct binlog_maria_gtid gtid;
    uint32_t server_id;
};

struct cap {
    struct rec rec[CAP_RECORDS];
    size_t nrec;
    unsigned count[256]; /* events of each type */
    struct binlog_fmt fmt;
};

static struct cap *cap;

static char *
dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);

    assert_non_null(d);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static uint32_t
le32(const uint8_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

/* The whole capture file. */
static uint8_t *
load(size_t *len)
{
    const char *dir = getenv("CDC_TEST_DATA");
    char path[1024];
    uint8_t *buf;
    FILE *fp;
    long sz;

#ifdef CDC_TEST_DATA
    if (dir == NULL)
        dir = CDC_TEST_DATA;
#endif
    assert_non_null(dir);
    snprintf(path, sizeof(path), "%s/binlog/workload.bin", dir);
    fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    sz = ftell(fp);
    assert_true(sz > 0);
    rewind(fp);
    buf = malloc((size_t) sz);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t) sz, fp), (size_t) sz);
    fclose(fp);
    *len = (size_t) sz;
    return buf;
}

/* MariaDB types the binlog does not name, as information_schema would mark them. */
static void
mark_logical(struct binlog_table *t)
{
    if (strcmp(t->table, "t_misc") != 0)
        return;
    for (uint32_t i = 0; i < t->ncols; i++) {
        const char *n = t->cols[i].name;

        assert_non_null(n);
        if (strcmp(n, "j") == 0)
            t->cols[i].logical = BINLOG_LOGICAL_JSON;
        else if (strcmp(n, "u") == 0)
            t->cols[i].logical = BINLOG_LOGICAL_UUID;
        else if (strcmp(n, "ip") == 0)
            t->cols[i].logical = BINLOG_LOGICAL_INET6;
    }
}

/* Append `,name` (or `name` first) to a name list. */
static void
put_name(struct cdc_buf *b, const char *name)
{
    if (b->len > 0)
        cdc_buf_putc(b, ',');
    cdc_buf_puts(b, name);
}

/*
 * One image as text: its columns as a JSON object (missing columns left out,
 * NULL as null), then " absent=[a,b]" / " unchanged=[a,b]" for the columns
 * not in the image, then " zero_dates={"col":"raw"}" when there are some.
 */
static void
image_text(const struct binlog_table *t, const struct rowdec_image *img, struct cdc_buf *out)
{
    struct cdc_buf absent = CDC_BUF_INIT, unchanged = CDC_BUF_INIT;
    bool first = true;
    size_t start = out->len;
    uint32_t nabsent = 0, nunchanged = 0;

    cdc_buf_putc(out, '{');
    for (uint32_t i = 0; i < t->ncols; i++) {
        const struct cdc_value *v = &img->vals[i];

        assert_non_null(t->cols[i].name);
        if (v->state == CDC_VAL_ABSENT) {
            put_name(&absent, t->cols[i].name);
            nabsent++;
            continue;
        }
        if (v->state == CDC_VAL_UNCHANGED) {
            put_name(&unchanged, t->cols[i].name);
            nunchanged++;
            continue;
        }
        if (!first)
            cdc_buf_putc(out, ',');
        first = false;
        json_put_key(out, t->cols[i].name);
        if (v->state == CDC_VAL_NULL)
            cdc_buf_puts(out, "null");
        else if (!json_put_value(out, rowdec_col_fmt(&t->cols[i]), CDC_VF_STRING, v->data, v->len))
            fail_msg("%s.%s: value <%.*s> did not render as its format", t->table, t->cols[i].name,
                     (int) v->len, v->data);
    }
    cdc_buf_putc(out, '}');
    assert_true(cdc_buf_ok(out));
    if (!json_is_valid(out->data + start, out->len - start))
        fail_msg("%s: image is not valid JSON: %s", t->table, out->data + start);
    if (absent.len > 0) {
        cdc_buf_printf(out, " absent=[%s]", absent.data);
    }
    if (unchanged.len > 0) {
        cdc_buf_printf(out, " unchanged=[%s]", unchanged.data);
    }
    if (img->nzeros > 0) {
        cdc_buf_puts(out, " zero_dates={");
        for (uint32_t z = 0; z < img->nzeros; z++) {
            const struct rowdec_zero *zr = &img->zeros[z];

            assert_int_equal(img->vals[zr->col].state, CDC_VAL_NULL);
            if (z > 0)
                cdc_buf_putc(out, ',');
            json_put_key(out, t->cols[zr->col].name);
            json_put_str(out, zr->raw.data, zr->raw.len);
        }
        cdc_buf_putc(out, '}');
    }
    assert_int_equal(img->nmissing, nabsent + nunchanged);
    cdc_buf_free(&absent);
    cdc_buf_free(&unchanged);
}

/* Decode one image at *p, append its text after `mark` ("+ ", "- ", "< ", "> "). */
static void
one_image(struct rowdec *rd, const struct binlog_table *t, const struct binlog_rows *rows,
          bool after, const uint8_t **p, size_t *left, const char *mark, struct cdc_buf *out)
{
    struct cdc_value vals[64];
    struct rowdec_zero zeros[64];
    struct rowdec_image img = {vals, zeros, 0, 0, false};
    struct cdc_buf scratch = CDC_BUF_INIT;
    struct cdc_err err = {0};
    size_t used = 0;

    assert_true(t->ncols <= 64);
    if (rowdec_decode(rd, t, rows, after, *p, *left, &scratch, &img, &used, &err) != CDC_OK)
        fail_msg("rowdec_decode %s: %s", t->table, err.msg);
    assert_true(used > 0 && used <= *left);
    *p += used;
    *left -= used;
    rowdec_fixup(&scratch, t, &img);
    if (out->len > 0)
        cdc_buf_putc(out, '\n');
    cdc_buf_puts(out, mark);
    image_text(t, &img, out);
    cdc_buf_free(&scratch);
}

/* Every image of a ROWS event, one line each. */
static char *
rows_text(struct rowdec *rd, const struct binlog_table *t, const struct binlog_rows *rows)
{
    struct cdc_buf out = CDC_BUF_INIT;
    const uint8_t *p = rows->rows;
    size_t left = rows->rows_len;
    char *s;

    assert_true(left > 0);
    while (left > 0) {
        switch (rows->kind) {
        case BINLOG_ROWS_WRITE:
            one_image(rd, t, rows, true, &p, &left, "+ ", &out);
            break;
        case BINLOG_ROWS_DELETE:
            one_image(rd, t, rows, false, &p, &left, "- ", &out);
            break;
        case BINLOG_ROWS_UPDATE:
            one_image(rd, t, rows, false, &p, &left, "< ", &out);
            assert_true(left > 0);
            one_image(rd, t, rows, true, &p, &left, "> ", &out);
            break;
        }
    }
    assert_true(cdc_buf_ok(&out));
    s = dup_n(out.data, out.len);
    cdc_buf_free(&out);
    return s;
}

static struct binlog_table *
find_table(struct binlog_table **tabs, uint64_t id)
{
    for (int i = 0; i < MAX_TABLES; i++)
        if (tabs[i] != NULL && tabs[i]->table_id == id)
            return tabs[i];
    return NULL;
}

static void
keep_table(struct binlog_table **tabs, struct binlog_table *t)
{
    for (int i = 0; i < MAX_TABLES; i++) {
        if (tabs[i] != NULL && tabs[i]->table_id == t->table_id) {
            binlog_table_destroy(tabs[i]);
            tabs[i] = t;
            return;
        }
    }
    for (int i = 0; i < MAX_TABLES; i++) {
        if (tabs[i] == NULL) {
            tabs[i] = t;
            return;
        }
    }
    fail_msg("more than %d table ids", MAX_TABLES);
}

/* Decode the whole capture into cap. */
static int
setup(void **state)
{
    struct binlog_table *tabs[MAX_TABLES] = {0};
    struct rowdec *rd = NULL;
    struct cdc_err err = {0};
    size_t len, off = 0;
    uint8_t *file = load(&len);

    (void) state;
    cap = calloc(1, sizeof(*cap));
    assert_non_null(cap);
    assert_int_equal(rowdec_create(&rd, &err), CDC_OK);
    binlog_fmt_init(&cap->fmt, BINLOG_CHECKSUM_OFF);
    cap->fmt.verify_checksum = true;
    while (off < len) {
        struct binlog_event ev;
        struct rec *r;
        uint8_t *buf;
        uint32_t n, crc;

        assert_true(len - off >= 4);
        n = le32(file + off);
        off += 4;
        assert_true(n >= BINLOG_HEADER_LEN && len - off >= n);
        if (cap->nrec == CAP_RECORDS)
            fail_msg("more than %d records", CAP_RECORDS);
        r = &cap->rec[cap->nrec];
        /* the event as sent: the record, then its CRC32 rebuilt */
        buf = malloc((size_t) n + BINLOG_CHECKSUM_LEN);
        assert_non_null(buf);
        memcpy(buf, file + off, n);
        crc = binlog_crc32(buf, n);
        for (int i = 0; i < 4; i++)
            buf[n + (uint32_t) i] = (uint8_t) (crc >> (8 * i));
        if (binlog_decode(&cap->fmt, buf, (size_t) n + BINLOG_CHECKSUM_LEN, &ev, &err) != CDC_OK)
            fail_msg("record %zu (type %u): %s", cap->nrec, buf[4], err.msg);
        off += n;
        r->type = ev.h.type;
        r->server_id = ev.h.server_id;
        cap->count[ev.h.type]++;
        switch (ev.h.type) {
        case BINLOG_FORMAT_DESCRIPTION:
            binlog_fmt_apply(&cap->fmt, &ev.u.fde);
            break;
        case BINLOG_QUERY:
            r->kind = ev.u.query.kind;
            r->text = dup_n(ev.u.query.sql, ev.u.query.sql_len);
            r->db = dup_n(ev.u.query.db, ev.u.query.db_len);
            break;
        case BINLOG_MARIA_ANNOTATE_ROWS:
            r->text = dup_n(ev.u.text.data, ev.u.text.len);
            break;
        case BINLOG_MARIA_GTID:
            r->gtid = ev.u.mgtid;
            break;
        case BINLOG_TABLE_MAP: {
            struct binlog_table *t = NULL;

            if (binlog_table_create(&t, &ev.u.table_map, &cap->fmt, &err) != CDC_OK)
                fail_msg("record %zu: TABLE_MAP: %s", cap->nrec, err.msg);
            mark_logical(t);
            r->table = dup_n(t->table, strlen(t->table));
            r->table_id = t->table_id;
            assert_string_equal(t->db, "cdc_test");
            keep_table(tabs, t);
            break;
        }
        default:
            if (binlog_is_rows_event(ev.h.type)) {
                const struct binlog_table *t = find_table(tabs, ev.u.rows.table_id);

                if (t == NULL)
                    fail_msg("record %zu: ROWS for an unknown table id", cap->nrec);
                r->table = dup_n(t->table, strlen(t->table));
                r->table_id = t->table_id;
                r->flags = ev.u.rows.flags;
                r->text = rows_text(rd, t, &ev.u.rows);
            }
            break; /* the other types are not needed */
        }
        free(buf);
        cap->nrec++;
    }
    for (int i = 0; i < MAX_TABLES; i++)
        binlog_table_destroy(tabs[i]);
    rowdec_destroy(rd);
    free(file);
    return 0;
}

static int
teardown(void **state)
{
    (void) state;
    for (size_t i = 0; i < cap->nrec; i++) {
        free(cap->rec[i].text);
        free(cap->rec[i].table);
        free(cap->rec[i].db);
    }
    free(cap);
    return 0;
}

/* ---- helpers for the expectations ---- */

/* Append s n times. */
static void
rep(struct cdc_buf *b, const char *s, int n)
{
    for (int i = 0; i < n; i++)
        cdc_buf_puts(b, s);
}

/* Check that record i is a ROWS event of `type` on `table` whose images read `want`. */
static void
expect_rows(size_t i, uint8_t type, const char *table, const char *want)
{
    const struct rec *r;

    assert_true(i < cap->nrec);
    r = &cap->rec[i];
    if (r->type != type)
        fail_msg("record %zu: type %u (%s), want %u (%s)", i, r->type, binlog_type_name(r->type),
                 type, binlog_type_name(type));
    assert_non_null(r->table);
    assert_string_equal(r->table, table);
    assert_true(r->flags & BINLOG_ROWS_STMT_END);
    if (strcmp(r->text, want) != 0) {
        print_error("got:\n%s\nwant:\n%s\n", r->text, want);
        fail_msg("record %zu (%s): images differ", i, table);
    }
}

/* The TABLE_MAP at record i names `table` and has the id of the ROWS event after it. */
static void
expect_map(size_t i, const char *table)
{
    assert_int_equal(cap->rec[i].type, BINLOG_TABLE_MAP);
    assert_string_equal(cap->rec[i].table, table);
    assert_true(binlog_is_rows_event(cap->rec[i + 1].type));
    assert_true(cap->rec[i].table_id == cap->rec[i + 1].table_id);
}

/* Record i is an ANNOTATE_ROWS whose SQL starts with `prefix`. */
static void
expect_annotate(size_t i, const char *prefix)
{
    assert_int_equal(cap->rec[i].type, BINLOG_MARIA_ANNOTATE_ROWS);
    if (strncmp(cap->rec[i].text, prefix, strlen(prefix)) != 0)
        fail_msg("record %zu: ANNOTATE_ROWS <%s>, want it to start <%s>", i, cap->rec[i].text,
                 prefix);
}

/* ---- the tests ---- */

/* Every record decoded (setup fails otherwise); how many of each type. */
static void
test_capture_event_counts(void **state)
{
    unsigned total = 0;

    (void) state;
    assert_int_equal(cap->nrec, CAP_RECORDS);
    /*
     * By hand from the workload: 6 DDL statements (GTID + QUERY each);
     * 18 DML transactions (GTID ... XID): 7 INSERT statements before the
     * updates, 3 UPDATE, 2 DELETE, the 3-statement transaction, 3 MINIMAL,
     * 1 NOBLOB, the INSERT after the DDL. 20 DML statements in all, each one
     * ANNOTATE_ROWS + TABLE_MAP + ROWS: WRITE 7 + 1 + 1 + 1, UPDATE 3 + 1 + 1
     * + 1, DELETE 2 + 1 + 1. Around them: the file's FORMAT_DESCRIPTION,
     * GTID_LIST, two BINLOG_CHECKPOINTs (README: 113 records) and the ROTATE.
     */
    assert_int_equal(cap->count[BINLOG_FORMAT_DESCRIPTION], 1);
    assert_int_equal(cap->count[BINLOG_MARIA_GTID_LIST], 1);
    assert_int_equal(cap->count[BINLOG_MARIA_BINLOG_CHECKPOINT], 2);
    assert_int_equal(cap->count[BINLOG_ROTATE], 1);
    assert_int_equal(cap->count[BINLOG_MARIA_GTID], 6 + 18);
    assert_int_equal(cap->count[BINLOG_QUERY], 6);
    assert_int_equal(cap->count[BINLOG_XID], 18);
    assert_int_equal(cap->count[BINLOG_MARIA_ANNOTATE_ROWS], 20);
    assert_int_equal(cap->count[BINLOG_TABLE_MAP], 20);
    assert_int_equal(cap->count[BINLOG_WRITE_ROWS_V1], 10);
    assert_int_equal(cap->count[BINLOG_UPDATE_ROWS_V1], 6);
    assert_int_equal(cap->count[BINLOG_DELETE_ROWS_V1], 4);
    for (int i = 0; i < 256; i++)
        total += cap->count[i];
    assert_int_equal(total, CAP_RECORDS);
    /* first and last */
    assert_int_equal(cap->rec[0].type, BINLOG_FORMAT_DESCRIPTION);
    assert_int_equal(cap->rec[CAP_RECORDS - 1].type, BINLOG_ROTATE);
    /* the format in force is the capture's: MariaDB with CRC32 checksums */
    assert_true(cap->fmt.have_fde);
    assert_true(cap->fmt.is_mariadb);
    assert_int_equal(cap->fmt.checksum_alg, BINLOG_CHECKSUM_CRC32);
    assert_true(strncmp(cap->fmt.server_version, "10.11.", 6) == 0);
    for (size_t i = 0; i < cap->nrec; i++)
        assert_int_equal(cap->rec[i].server_id, 1);
}

/* The DDL: GTID (standalone) + QUERY of kind DDL in cdc_test. */
static void
test_capture_ddl(void **state)
{
    static const struct {
        size_t rec;
        const char *prefix;
    } ddl[] = {
        {5, "CREATE TABLE t_int"},
        {12, "CREATE TABLE t_num"},
        {19, "CREATE TABLE t_time"},
        {31, "CREATE TABLE t_str"},
        {38, "CREATE TABLE t_misc"},
        {106, "ALTER TABLE t_int ADD COLUMN note VARCHAR(20) AFTER ti"},
    };

    (void) state;
    for (size_t k = 0; k < sizeof(ddl) / sizeof(ddl[0]); k++) {
        const struct rec *q = &cap->rec[ddl[k].rec], *g = &cap->rec[ddl[k].rec - 1];

        assert_int_equal(q->type, BINLOG_QUERY);
        assert_int_equal(q->kind, BINLOG_QUERY_DDL);
        assert_string_equal(q->db, "cdc_test");
        if (strncmp(q->text, ddl[k].prefix, strlen(ddl[k].prefix)) != 0)
            fail_msg("record %zu: <%s>", ddl[k].rec, q->text);
        assert_int_equal(g->type, BINLOG_MARIA_GTID);
        assert_true(g->gtid.flags2 & BINLOG_MGTID_STANDALONE);
        assert_true(g->gtid.flags2 & BINLOG_MGTID_DDL);
    }
}

/* GTIDs: domain 0, consecutive seq_no; DML ones transactional and closed by an XID. */
static void
test_capture_gtids(void **state)
{
    const struct rec *prev = NULL;
    unsigned dml = 0;

    (void) state;
    for (size_t i = 0; i < cap->nrec; i++) {
        const struct rec *g = &cap->rec[i];

        if (g->type != BINLOG_MARIA_GTID)
            continue;
        assert_int_equal(g->gtid.domain_id, 0);
        if (prev != NULL)
            assert_true(g->gtid.seq_no == prev->gtid.seq_no + 1);
        prev = g;
        if (g->gtid.flags2 & BINLOG_MGTID_STANDALONE) {
            assert_int_equal(cap->rec[i + 1].type, BINLOG_QUERY);
            continue;
        }
        dml++;
        assert_true(g->gtid.flags2 & BINLOG_MGTID_TRANSACTIONAL);
        /* ANNOTATE, TABLE_MAP, ROWS groups until the XID */
        i++;
        while (cap->rec[i].type == BINLOG_MARIA_ANNOTATE_ROWS) {
            assert_int_equal(cap->rec[i + 1].type, BINLOG_TABLE_MAP);
            assert_true(binlog_is_rows_event(cap->rec[i + 2].type));
            i += 3;
        }
        assert_int_equal(cap->rec[i].type, BINLOG_XID);
    }
    assert_int_equal(dml, 18);
}

/* INSERT INTO t_int: the extremes of every integer type, signed and unsigned. */
static void
test_capture_int(void **state)
{
    (void) state;
    expect_annotate(7, "INSERT INTO t_int VALUES");
    expect_map(8, "t_int");
    expect_rows(9, BINLOG_WRITE_ROWS_V1, "t_int",
                "+ {\"id\":1,\"ti\":-128,\"tu\":255,\"si\":-32768,\"su\":65535,\"mi\":-8388608,"
                "\"mu\":16777215,\"i\":-2147483648,\"iu\":4294967295,\"bi\":-9223372036854775808,"
                "\"bu\":18446744073709551615}\n"
                "+ {\"id\":2,\"ti\":127,\"tu\":0,\"si\":32767,\"su\":0,\"mi\":8388607,\"mu\":0,"
                "\"i\":2147483647,\"iu\":0,\"bi\":9223372036854775807,\"bu\":0}\n"
                "+ {\"id\":3,\"ti\":-1,\"tu\":1,\"si\":-1,\"su\":1,\"mi\":-1,\"mu\":1,\"i\":-1,"
                "\"iu\":1,\"bi\":-1,\"bu\":1}\n"
                "+ {\"id\":4,\"ti\":null,\"tu\":null,\"si\":null,\"su\":null,\"mi\":null,"
                "\"mu\":null,\"i\":null,\"iu\":null,\"bi\":null,\"bu\":null}");
}

/* INSERT INTO t_num: FLOAT, DOUBLE (shortest round-trip text), DECIMAL as exact strings. */
static void
test_capture_num(void **state)
{
    (void) state;
    expect_annotate(14, "INSERT INTO t_num VALUES");
    expect_map(15, "t_num");
    /*
     * -0.0 is a DECIMAL literal; negating a decimal zero clears its sign
     * (my_decimal_neg), so the FLOAT stores +0.0: "0". 3.4e38 as a float
     * prints "3.4e+38" at 6 digits and reads back. DBL_MIN needs 17 digits.
     */
    expect_rows(16, BINLOG_WRITE_ROWS_V1, "t_num",
                "+ {\"id\":1,\"f\":1.5,\"d\":-2.25,\"d1\":\"12345678.90\","
                "\"d2\":\"-12345678901234567890.0123456789\",\"d3\":\"99999\",\"d4\":\"0.9999\"}\n"
                "+ {\"id\":2,\"f\":0,\"d\":1e+300,\"d1\":\"-0.01\",\"d2\":\"0.0000000001\","
                "\"d3\":\"-1\",\"d4\":\"-0.0001\"}\n"
                "+ {\"id\":3,\"f\":3.4e+38,\"d\":2.2250738585072014e-308,\"d1\":\"0.00\","
                "\"d2\":\"0.0000000000\",\"d3\":\"0\",\"d4\":\"0.0000\"}\n"
                "+ {\"id\":4,\"f\":null,\"d\":null,\"d1\":null,\"d2\":null,\"d3\":null,"
                "\"d4\":null}");
}

#define TIME_ROW1                                                                                  \
    "{\"id\":1,\"dt\":\"2024-01-02\",\"t0\":\"12:34:56\",\"t1\":\"12:34:56.7\","                   \
    "\"t3\":\"-12:34:56.789\",\"t6\":\"838:59:59.000000\",\"dtm\":\"2024-01-02T03:04:05\","        \
    "\"dtm6\":\"2024-01-02T03:04:05.123456\",\"ts\":\"2024-01-02T03:04:05Z\","                     \
    "\"ts6\":\"2024-01-02T03:04:05.654321Z\",\"y\":2024}"
#define TIME_ROW2                                                                                  \
    "{\"id\":2,\"dt\":\"1000-01-01\",\"t0\":\"-838:59:59\",\"t1\":\"-00:00:00.5\","                \
    "\"t3\":\"00:00:00.001\",\"t6\":\"-00:00:01.000001\",\"dtm\":\"1000-01-01T00:00:00\","         \
    "\"dtm6\":\"9999-12-31T23:59:59.999999\",\"ts\":\"1970-01-01T00:00:01Z\","                     \
    "\"ts6\":\"2038-01-19T03:14:07.999999Z\",\"y\":1901}"
#define TIME_ROW3                                                                                  \
    "{\"id\":3,\"dt\":\"9999-12-31\",\"t0\":\"00:00:00\",\"t1\":\"00:00:00.0\","                   \
    "\"t3\":\"00:00:00.000\",\"t6\":\"00:00:00.000000\",\"dtm\":\"2000-02-29T12:00:00\","          \
    "\"dtm6\":\"2000-02-29T12:00:00.000001\",\"ts\":null,\"ts6\":null,\"y\":2155}"
#define TIME_ROW4                                                                                  \
    "{\"id\":4,\"dt\":null,\"t0\":null,\"t1\":null,\"t3\":null,\"t6\":null,\"dtm\":null,"          \
    "\"dtm6\":null,\"ts\":null,\"ts6\":null,\"y\":null}"

/* INSERT INTO t_time: temporal types, fractions, negative TIMEs, zero dates. */
static void
test_capture_time(void **state)
{
    (void) state;
    expect_annotate(21, "INSERT INTO t_time VALUES");
    expect_map(22, "t_time");
    expect_rows(23, BINLOG_WRITE_ROWS_V1, "t_time",
                "+ " TIME_ROW1 "\n+ " TIME_ROW2 "\n+ " TIME_ROW3 "\n+ " TIME_ROW4);
    /* sql_mode '': zero dates are null with their raw text; TIMESTAMP 0 is one; YEAR 0 is 0 */
    expect_annotate(26, "INSERT INTO t_time VALUES");
    expect_map(27, "t_time");
    expect_rows(28, BINLOG_WRITE_ROWS_V1, "t_time",
                "+ {\"id\":5,\"dt\":null,\"t0\":\"00:00:00\",\"t1\":null,\"t3\":null,\"t6\":null,"
                "\"dtm\":null,\"dtm6\":null,\"ts\":null,\"ts6\":null,\"y\":0}"
                " zero_dates={\"dt\":\"0000-00-00\",\"dtm\":\"0000-00-00 00:00:00\","
                "\"dtm6\":\"0000-00-00 00:00:00.000000\",\"ts\":\"0000-00-00 00:00:00\","
                "\"ts6\":\"0000-00-00 00:00:00.000000\"}\n"
                "+ {\"id\":6,\"dt\":null,\"t0\":null,\"t1\":null,\"t3\":null,\"t6\":null,"
                "\"dtm\":null,\"dtm6\":null,\"ts\":null,\"ts6\":null,\"y\":null}"
                " zero_dates={\"dt\":\"2024-00-15\",\"dtm\":\"2024-02-00 10:00:00\"}");
}

/*
 * t_str row 1 as inserted, with vc and bl given (they change later).
 * Base64 by hand: 0x01020300 "AQIDAA==", 0x00FF10 "AP8Q", 0xDEADBEEF
 * "3q2+7w==", 0x00 "AA==", 0x0102 "AQI=".
 */
static void
str_row1(struct cdc_buf *b, const char *c, const char *vc, const char *bl, bool blobs)
{
    cdc_buf_printf(b,
                   "{\"id\":1,\"c\":%s,\"vc\":%s,\"c_l1\":\"caf\xC3\xA9\","
                   "\"vc_l1\":\"\xC3\x9Cn\xC3\xAF"
                   "c\xC3\xB6"
                   "d\xC3\xA9\",\"c_big\":\"x\",\"b\":\"AQIDAA==\",\"vb\":\"AP8Q\"",
                   c, vc);
    if (blobs)
        cdc_buf_printf(b,
                       ",\"tb\":\"3q2+7w==\",\"bl\":%s,\"mb\":\"AQI=\",\"lb\":\"\","
                       "\"tt\":\"tiny\",\"tx\":\"text \xE2\x9C\x93\",\"lt\":\"latin1 \xC3\xA9\"}",
                       bl);
    else
        cdc_buf_puts(b, "}");
}

/* t_str row 3 (from `{` to the end of its object). */
static void
str_row3(struct cdc_buf *b)
{
    cdc_buf_puts(b, "{\"id\":3,\"c\":\"trailing\",\"vc\":\"");
    rep(b, "v", 300);
    cdc_buf_puts(b, "\",\"c_l1\":\"\xC3\xBF\",\"vc_l1\":\"a\",\"c_big\":\"");
    rep(b, "\xC3\xA9", 100);
    /* 300 x 0xAB: "q6ur" per 3 bytes; 1000 x 0xCD: 333 x "zc3N" then "zQ==" */
    cdc_buf_puts(b, "\",\"b\":null,\"vb\":\"");
    rep(b, "q6ur", 100);
    cdc_buf_puts(b, "\",\"tb\":null,\"bl\":\"");
    rep(b, "zc3N", 333);
    cdc_buf_puts(b, "zQ==\",\"mb\":null,\"lb\":null,\"tt\":null,\"tx\":\"");
    rep(b, "t", 1000);
    cdc_buf_puts(b, "\",\"lt\":null}");
}

#define STR_ROW2                                                                                   \
    "{\"id\":2,\"c\":\"\",\"vc\":\"\",\"c_l1\":\"\",\"vc_l1\":\"\",\"c_big\":\"\","                \
    "\"b\":\"AAAAAA==\",\"vb\":\"\",\"tb\":\"\",\"bl\":\"\",\"mb\":\"\",\"lb\":\"\",\"tt\":\"\","  \
    "\"tx\":\"\",\"lt\":\"\"}"
#define STR_ROW4                                                                                   \
    "{\"id\":4,\"c\":null,\"vc\":null,\"c_l1\":null,\"vc_l1\":null,\"c_big\":null,\"b\":null,"     \
    "\"vb\":null,\"tb\":null,\"bl\":null,\"mb\":null,\"lb\":null,\"tt\":null,\"tx\":null,"         \
    "\"lt\":null}"

/* INSERT INTO t_str: charsets, 2-byte lengths, BINARY padding, blobs as base64. */
static void
test_capture_str(void **state)
{
    struct cdc_buf want = CDC_BUF_INIT;

    (void) state;
    expect_annotate(33, "INSERT INTO t_str VALUES");
    expect_map(34, "t_str");
    cdc_buf_puts(&want, "+ ");
    str_row1(&want, "\"abc\"", "\"h\xC3\xA9llo w\xC3\xB6rld \xE2\x9C\x93 \xF0\x9F\x98\x80\"",
             "\"AA==\"", true);
    cdc_buf_puts(&want, "\n+ " STR_ROW2 "\n+ ");
    str_row3(&want);
    cdc_buf_puts(&want, "\n+ " STR_ROW4);
    assert_true(cdc_buf_ok(&want));
    expect_rows(35, BINLOG_WRITE_ROWS_V1, "t_str", want.data);
    cdc_buf_free(&want);
}

/* t_misc row 1's GEOMETRY POINT(1 2) and POINT POINT(-1.5 2.5): SRID 0, WKB in base64. */
#define WKB_POINT_1_2    "AQEAAAAAAAAAAADwPwAAAAAAAABA"
#define WKB_POINT_M15_25 "AQEAAAAAAAAAAAD4vwAAAAAAAARA"
/*
 * LINESTRING(0 0, 1 1, 2 0): 01, type 2, 3 points, 57 bytes, 19 groups of 3:
 * AQIA AAAD, 8 x AAAA (up to the first 6 bytes of x = 1.0), APA/ (00 F0 3F),
 * 2 x AAAA, 8D8A (F0 3F 00), 2 x AAAA, QAAA (40 00 00), 2 x AAAA.
 */
#define WKB_LINE "AQIAAAADAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAPA/AAAAAAAA8D8AAAAAAAAAQAAAAAAAAAAA"
#define MISC_ROW1                                                                                  \
    "{\"id\":1,\"e\":\"green\",\"s\":\"a,c\",\"b1\":\"1\",\"b10\":\"1010101010\","                 \
    "\"b64\":\"1000000000000000000000000000000000000000000000000000000000000001\","                \
    "\"j\":{\"a\": 1, \"b\": [true, null, \"x\"]},"                                                \
    "\"g\":{\"srid\":0,\"wkb\":\"" WKB_POINT_1_2 "\"},"                                            \
    "\"p\":{\"srid\":0,\"wkb\":\"" WKB_POINT_M15_25 "\"},"                                         \
    "\"u\":\"123e4567-e89b-12d3-a456-426614174000\",\"ip\":\"2001:db8::1\"}"
#define MISC_ROW2(e, s, j)                                                                         \
    "{\"id\":2,\"e\":" e ",\"s\":" s ",\"b1\":\"0\",\"b10\":\"0000000000\","                       \
    "\"b64\":\"0000000000000000000000000000000000000000000000000000000000000000\","                \
    "\"j\":" j ",\"g\":{\"srid\":0,\"wkb\":\"" WKB_LINE "\"},\"p\":null,"                          \
    "\"u\":\"00000000-0000-0000-0000-000000000000\",\"ip\":\"::ffff:192.0.2.1\"}"
#define MISC_ROW3                                                                                  \
    "{\"id\":3,\"e\":null,\"s\":\"a,b,c,d\",\"b1\":null,\"b10\":null,\"b64\":null,\"j\":null,"     \
    "\"g\":null,\"p\":null,\"u\":null,\"ip\":null}"

/* INSERT INTO t_misc: ENUM, SET, BIT, JSON, geometry, UUID, INET6. */
static void
test_capture_misc(void **state)
{
    (void) state;
    expect_annotate(40, "INSERT INTO t_misc VALUES");
    expect_map(41, "t_misc");
    expect_rows(42, BINLOG_WRITE_ROWS_V1, "t_misc",
                "+ " MISC_ROW1 "\n+ " MISC_ROW2("\"blue\"", "\"\"", "[]") "\n+ " MISC_ROW3);
    /* the invalid ENUM value '' is index 0: the empty string */
    expect_annotate(45, "INSERT INTO t_misc (id, e) VALUES (4, '')");
    expect_map(46, "t_misc");
    expect_rows(47, BINLOG_WRITE_ROWS_V1, "t_misc",
                "+ {\"id\":4,\"e\":\"\",\"s\":null,\"b1\":null,\"b10\":null,\"b64\":null,"
                "\"j\":null,\"g\":null,\"p\":null,\"u\":null,\"ip\":null}");
}

/* UPDATE and DELETE with FULL images. */
static void
test_capture_update_delete_full(void **state)
{
    struct cdc_buf want = CDC_BUF_INIT;

    (void) state;
    expect_annotate(50, "UPDATE t_int SET i = i + 1, bu = 42 WHERE id IN (1, 3)");
    expect_map(51, "t_int");
    expect_rows(52, BINLOG_UPDATE_ROWS_V1, "t_int",
                "< {\"id\":1,\"ti\":-128,\"tu\":255,\"si\":-32768,\"su\":65535,\"mi\":-8388608,"
                "\"mu\":16777215,\"i\":-2147483648,\"iu\":4294967295,\"bi\":-9223372036854775808,"
                "\"bu\":18446744073709551615}\n"
                "> {\"id\":1,\"ti\":-128,\"tu\":255,\"si\":-32768,\"su\":65535,\"mi\":-8388608,"
                "\"mu\":16777215,\"i\":-2147483647,\"iu\":4294967295,\"bi\":-9223372036854775808,"
                "\"bu\":42}\n"
                "< {\"id\":3,\"ti\":-1,\"tu\":1,\"si\":-1,\"su\":1,\"mi\":-1,\"mu\":1,\"i\":-1,"
                "\"iu\":1,\"bi\":-1,\"bu\":1}\n"
                "> {\"id\":3,\"ti\":-1,\"tu\":1,\"si\":-1,\"su\":1,\"mi\":-1,\"mu\":1,\"i\":0,"
                "\"iu\":1,\"bi\":-1,\"bu\":42}");

    expect_annotate(55, "UPDATE t_str SET vc = 'changed', bl = NULL WHERE id = 1");
    expect_map(56, "t_str");
    cdc_buf_puts(&want, "< ");
    str_row1(&want, "\"abc\"", "\"h\xC3\xA9llo w\xC3\xB6rld \xE2\x9C\x93 \xF0\x9F\x98\x80\"",
             "\"AA==\"", true);
    cdc_buf_puts(&want, "\n> ");
    str_row1(&want, "\"abc\"", "\"changed\"", "null", true);
    assert_true(cdc_buf_ok(&want));
    expect_rows(57, BINLOG_UPDATE_ROWS_V1, "t_str", want.data);

    expect_annotate(60, "UPDATE t_misc SET e = 'red', s = 'd', j = '{\"k\": \"v\"}' WHERE id = 2");
    expect_map(61, "t_misc");
    expect_rows(62, BINLOG_UPDATE_ROWS_V1, "t_misc",
                "< " MISC_ROW2("\"blue\"", "\"\"", "[]") "\n> " MISC_ROW2("\"red\"", "\"d\"",
                                                                          "{\"k\": \"v\"}"));

    expect_annotate(65, "DELETE FROM t_num WHERE id = 2");
    expect_map(66, "t_num");
    expect_rows(67, BINLOG_DELETE_ROWS_V1, "t_num",
                "- {\"id\":2,\"f\":0,\"d\":1e+300,\"d1\":\"-0.01\",\"d2\":\"0.0000000001\","
                "\"d3\":\"-1\",\"d4\":\"-0.0001\"}");

    expect_annotate(70, "DELETE FROM t_time WHERE id IN (3, 4)");
    expect_map(71, "t_time");
    expect_rows(72, BINLOG_DELETE_ROWS_V1, "t_time", "- " TIME_ROW3 "\n- " TIME_ROW4);
    cdc_buf_free(&want);
}

/* One transaction, three statements over two tables: one GTID, one XID. */
static void
test_capture_multi_statement(void **state)
{
    (void) state;
    assert_int_equal(cap->rec[74].type, BINLOG_MARIA_GTID);
    expect_annotate(75, "INSERT INTO t_int (id, i) VALUES (10, 10), (11, 11)");
    expect_map(76, "t_int");
    expect_rows(77, BINLOG_WRITE_ROWS_V1, "t_int",
                "+ {\"id\":10,\"ti\":null,\"tu\":null,\"si\":null,\"su\":null,\"mi\":null,"
                "\"mu\":null,\"i\":10,\"iu\":null,\"bi\":null,\"bu\":null}\n"
                "+ {\"id\":11,\"ti\":null,\"tu\":null,\"si\":null,\"su\":null,\"mi\":null,"
                "\"mu\":null,\"i\":11,\"iu\":null,\"bi\":null,\"bu\":null}");
    expect_annotate(78, "UPDATE t_num SET d1 = 1.01 WHERE id = 1");
    expect_map(79, "t_num");
    expect_rows(80, BINLOG_UPDATE_ROWS_V1, "t_num",
                "< {\"id\":1,\"f\":1.5,\"d\":-2.25,\"d1\":\"12345678.90\","
                "\"d2\":\"-12345678901234567890.0123456789\",\"d3\":\"99999\",\"d4\":\"0.9999\"}\n"
                "> {\"id\":1,\"f\":1.5,\"d\":-2.25,\"d1\":\"1.01\","
                "\"d2\":\"-12345678901234567890.0123456789\",\"d3\":\"99999\",\"d4\":\"0.9999\"}");
    expect_annotate(81, "DELETE FROM t_int WHERE id = 11");
    expect_map(82, "t_int");
    expect_rows(83, BINLOG_DELETE_ROWS_V1, "t_int",
                "- {\"id\":11,\"ti\":null,\"tu\":null,\"si\":null,\"su\":null,\"mi\":null,"
                "\"mu\":null,\"i\":11,\"iu\":null,\"bi\":null,\"bu\":null}");
    assert_int_equal(cap->rec[84].type, BINLOG_XID);
}

/* binlog_row_image MINIMAL and NOBLOB: the column bitmaps say what is in each image. */
static void
test_capture_partial_images(void **state)
{
    struct cdc_buf want = CDC_BUF_INIT;

    (void) state;
    expect_annotate(86, "UPDATE t_str SET tx = 'minimal' WHERE id = 3");
    expect_map(87, "t_str");
    expect_rows(88, BINLOG_UPDATE_ROWS_V1, "t_str",
                "< {\"id\":3} absent=[c,vc,c_l1,vc_l1,c_big,b,vb,tb,bl,mb,lb,tt,tx,lt]\n"
                "> {\"tx\":\"minimal\"} unchanged=[id,c,vc,c_l1,vc_l1,c_big,b,vb,tb,bl,mb,lb,tt,"
                "lt]");

    expect_annotate(91, "DELETE FROM t_misc WHERE id = 4");
    expect_map(92, "t_misc");
    expect_rows(93, BINLOG_DELETE_ROWS_V1, "t_misc",
                "- {\"id\":4} absent=[e,s,b1,b10,b64,j,g,p,u,ip]");

    expect_annotate(96, "INSERT INTO t_int (id, ti) VALUES (20, 7)");
    expect_map(97, "t_int");
    expect_rows(98, BINLOG_WRITE_ROWS_V1, "t_int",
                "+ {\"id\":20,\"ti\":7} unchanged=[tu,si,su,mi,mu,i,iu,bi,bu]");

    /* NOBLOB: every column but the BLOB/TEXT ones, in both images */
    expect_annotate(101, "UPDATE t_str SET c = 'noblob' WHERE id = 1");
    expect_map(102, "t_str");
    cdc_buf_puts(&want, "< ");
    str_row1(&want, "\"abc\"", "\"changed\"", NULL, false);
    cdc_buf_puts(&want, " absent=[tb,bl,mb,lb,tt,tx,lt]\n> ");
    str_row1(&want, "\"noblob\"", "\"changed\"", NULL, false);
    cdc_buf_puts(&want, " unchanged=[tb,bl,mb,lb,tt,tx,lt]");
    assert_true(cdc_buf_ok(&want));
    expect_rows(103, BINLOG_UPDATE_ROWS_V1, "t_str", want.data);
    cdc_buf_free(&want);
}

/* After ALTER TABLE: a new table id and layout (note added after ti, mu dropped). */
static void
test_capture_after_ddl(void **state)
{
    (void) state;
    expect_annotate(108, "INSERT INTO t_int (id, note) VALUES (30, 'after ddl')");
    expect_map(109, "t_int");
    assert_true(cap->rec[109].table_id != cap->rec[8].table_id);
    expect_rows(110, BINLOG_WRITE_ROWS_V1, "t_int",
                "+ {\"id\":30,\"ti\":null,\"note\":\"after ddl\",\"tu\":null,\"si\":null,"
                "\"su\":null,\"mi\":null,\"i\":null,\"iu\":null,\"bi\":null,\"bu\":null}");
    assert_int_equal(cap->rec[111].type, BINLOG_XID);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capture_event_counts),
        cmocka_unit_test(test_capture_ddl),
        cmocka_unit_test(test_capture_gtids),
        cmocka_unit_test(test_capture_int),
        cmocka_unit_test(test_capture_num),
        cmocka_unit_test(test_capture_time),
        cmocka_unit_test(test_capture_str),
        cmocka_unit_test(test_capture_misc),
        cmocka_unit_test(test_capture_update_delete_full),
        cmocka_unit_test(test_capture_multi_statement),
        cmocka_unit_test(test_capture_partial_images),
        cmocka_unit_test(test_capture_after_ddl),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
