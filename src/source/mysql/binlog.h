/*
 * binlog.h - a pure decoder for one MySQL / MariaDB binary log event (binlog
 * format v4), and the owned table description built from a TABLE_MAP event.
 *
 * Input is ONE whole event exactly as the server sent it: the 19-byte common
 * header, the post-header and body, and, when the format in force says so,
 * the trailing 4-byte CRC32 checksum (the decoder drops it, and checks it if
 * asked). The header's event_size must equal the length given. What is in
 * force is a `struct binlog_fmt`: the caller starts it with the checksum
 * algorithm the replication session negotiated (@master_binlog_checksum) and
 * updates it from every FORMAT_DESCRIPTION event with binlog_fmt_apply().
 * A FORMAT_DESCRIPTION event describes its own checksum and needs nothing.
 *
 * Decoded: FORMAT_DESCRIPTION, ROTATE, QUERY, XID, TABLE_MAP (every optional
 * metadata field), WRITE/UPDATE/DELETE_ROWS v1 and v2 (header, bitmaps and
 * the bounds of the row images: rowdec.h decodes the images), HEARTBEAT,
 * MySQL GTID / ANONYMOUS_GTID / PREVIOUS_GTIDS / ROWS_QUERY, MariaDB GTID,
 * GTID_LIST, ANNOTATE_ROWS and BINLOG_CHECKPOINT. Any other event type is
 * returned with only its header and body (the caller skips it), except the
 * compressed ones (MySQL TRANSACTION_PAYLOAD and PARTIAL_UPDATE_ROWS, MariaDB
 * compressed QUERY and ROWS), which carry rows we cannot read: they fail
 * with CDC_ERR_PROTO and the server setting to turn off, never skipped.
 *
 * No I/O, no logging, no allocation, except binlog_table_create() which
 * builds an owned copy of a TABLE_MAP. Every read is bounds-checked; failures
 * are CDC_ERR_PROTO with the event type and the offset in err.
 *
 * Lifetimes: every pointer in a decoded struct binlog_event points INTO the
 * event buffer and is valid only until the caller reuses that buffer. Strings
 * there are NOT NUL-terminated (pointer + length). A struct binlog_table owns
 * all its memory.
 */
#ifndef CDC_SOURCE_MYSQL_BINLOG_H
#define CDC_SOURCE_MYSQL_BINLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

#define BINLOG_HEADER_LEN   19 /* common header of binlog v4 */
#define BINLOG_CHECKSUM_LEN 4  /* CRC32 trailer */

/* Event type codes (MySQL binlog_event.h, MariaDB log_event.h). */
enum binlog_type {
    BINLOG_UNKNOWN = 0,
    BINLOG_START_V3 = 1,
    BINLOG_QUERY = 2,
    BINLOG_STOP = 3,
    BINLOG_ROTATE = 4,
    BINLOG_INTVAR = 5,
    BINLOG_RAND = 13,
    BINLOG_USER_VAR = 14,
    BINLOG_FORMAT_DESCRIPTION = 15,
    BINLOG_XID = 16,
    BINLOG_TABLE_MAP = 19,
    BINLOG_WRITE_ROWS_V1 = 23,
    BINLOG_UPDATE_ROWS_V1 = 24,
    BINLOG_DELETE_ROWS_V1 = 25,
    BINLOG_INCIDENT = 26,
    BINLOG_HEARTBEAT = 27,
    BINLOG_IGNORABLE = 28,
    BINLOG_ROWS_QUERY = 29,
    BINLOG_WRITE_ROWS_V2 = 30,
    BINLOG_UPDATE_ROWS_V2 = 31,
    BINLOG_DELETE_ROWS_V2 = 32,
    BINLOG_GTID = 33, /* MySQL */
    BINLOG_ANONYMOUS_GTID = 34,
    BINLOG_PREVIOUS_GTIDS = 35,
    BINLOG_XA_PREPARE = 38,
    BINLOG_PARTIAL_UPDATE_ROWS = 39,
    BINLOG_TRANSACTION_PAYLOAD = 40,
    BINLOG_HEARTBEAT_V2 = 41,
    BINLOG_MARIA_ANNOTATE_ROWS = 160,
    BINLOG_MARIA_BINLOG_CHECKPOINT = 161,
    BINLOG_MARIA_GTID = 162,
    BINLOG_MARIA_GTID_LIST = 163,
    BINLOG_MARIA_START_ENCRYPTION = 164,
    BINLOG_MARIA_QUERY_COMPRESSED = 165,
    BINLOG_MARIA_WRITE_ROWS_COMPRESSED = 166,
    BINLOG_MARIA_UPDATE_ROWS_COMPRESSED = 167,
    BINLOG_MARIA_DELETE_ROWS_COMPRESSED = 168,
    BINLOG_MARIA_WRITE_ROWS_COMPRESSED_V1 = 169,
    BINLOG_MARIA_UPDATE_ROWS_COMPRESSED_V1 = 170,
    BINLOG_MARIA_DELETE_ROWS_COMPRESSED_V1 = 171,
};

/* Column type codes in TABLE_MAP (MySQL enum_field_types). */
enum binlog_coltype {
    MYT_DECIMAL = 0, /* pre-5.0 DECIMAL: not written by any supported server */
    MYT_TINY = 1,
    MYT_SHORT = 2,
    MYT_LONG = 3,
    MYT_FLOAT = 4,
    MYT_DOUBLE = 5,
    MYT_NULL = 6,
    MYT_TIMESTAMP = 7,
    MYT_LONGLONG = 8,
    MYT_INT24 = 9,
    MYT_DATE = 10,
    MYT_TIME = 11,
    MYT_DATETIME = 12,
    MYT_YEAR = 13,
    MYT_NEWDATE = 14,
    MYT_VARCHAR = 15,
    MYT_BIT = 16,
    MYT_TIMESTAMP2 = 17,
    MYT_DATETIME2 = 18,
    MYT_TIME2 = 19,
    MYT_JSON = 245,
    MYT_NEWDECIMAL = 246,
    MYT_ENUM = 247,
    MYT_SET = 248,
    MYT_TINY_BLOB = 249,
    MYT_MEDIUM_BLOB = 250,
    MYT_LONG_BLOB = 251,
    MYT_BLOB = 252,
    MYT_VAR_STRING = 253,
    MYT_STRING = 254,
    MYT_GEOMETRY = 255,
};

/* Checksum algorithms (FORMAT_DESCRIPTION's last byte). */
enum binlog_checksum {
    BINLOG_CHECKSUM_OFF = 0,
    BINLOG_CHECKSUM_CRC32 = 1,
    BINLOG_CHECKSUM_UNDEF = 255, /* server too old to say: no checksum */
};

/* TABLE_MAP optional metadata field types (MySQL rows_event.h). */
enum binlog_optmeta {
    BINLOG_OM_SIGNEDNESS = 1,
    BINLOG_OM_DEFAULT_CHARSET = 2,
    BINLOG_OM_COLUMN_CHARSET = 3,
    BINLOG_OM_COLUMN_NAME = 4,
    BINLOG_OM_SET_STR_VALUE = 5,
    BINLOG_OM_ENUM_STR_VALUE = 6,
    BINLOG_OM_GEOMETRY_TYPE = 7,
    BINLOG_OM_SIMPLE_PRIMARY_KEY = 8,
    BINLOG_OM_PRIMARY_KEY_WITH_PREFIX = 9,
    BINLOG_OM_ENUM_AND_SET_DEFAULT_CHARSET = 10,
    BINLOG_OM_ENUM_AND_SET_COLUMN_CHARSET = 11,
    BINLOG_OM_COLUMN_VISIBILITY = 12,
};

/* MariaDB GTID flags2 bits. */
#define BINLOG_MGTID_STANDALONE      0x01 /* no BEGIN/XID: a DDL or non-transactional statement */
#define BINLOG_MGTID_GROUP_COMMIT_ID 0x02
#define BINLOG_MGTID_TRANSACTIONAL   0x04
#define BINLOG_MGTID_ALLOW_PARALLEL  0x08
#define BINLOG_MGTID_WAITED          0x10
#define BINLOG_MGTID_DDL             0x20
#define BINLOG_MGTID_PREPARED_XA     0x40
#define BINLOG_MGTID_COMPLETED_XA    0x80

/* ROWS event flags. */
#define BINLOG_ROWS_STMT_END 0x0001 /* last ROWS event of the statement */

/* The format in force: set up by the caller, updated by each FORMAT_DESCRIPTION. */
struct binlog_fmt {
    uint8_t checksum_alg;         /* enum binlog_checksum of the events that follow */
    bool verify_checksum;         /* check each event's CRC32 (CDC_ERR_PROTO on mismatch) */
    bool have_fde;                /* a FORMAT_DESCRIPTION was applied */
    bool is_mariadb;              /* server_version says MariaDB (charset rules differ) */
    uint16_t binlog_version;      /* 4 */
    char server_version[51];      /* NUL-terminated */
    uint8_t n_post_header;        /* entries in post_header_len */
    uint8_t post_header_len[255]; /* [type - 1]: post-header length of each event type */
};

struct binlog_header {
    uint32_t timestamp;  /* seconds since the epoch, when the statement started */
    uint8_t type;        /* enum binlog_type */
    uint32_t server_id;  /* originating server */
    uint32_t event_size; /* header + body + checksum */
    uint32_t log_pos;    /* position of the NEXT event in the binlog file (0 for fake events) */
    uint16_t flags;      /* LOG_EVENT_*_F */
};

struct binlog_fde {
    uint16_t binlog_version;
    char server_version[51]; /* NUL-terminated copy */
    uint32_t create_timestamp;
    uint8_t header_len;             /* common header length, 19 */
    uint8_t checksum_alg;           /* enum binlog_checksum */
    const uint8_t *post_header_len; /* n_post_header bytes, [type - 1] */
    uint8_t n_post_header;
    bool is_mariadb;
};

struct binlog_rotate {
    uint64_t position; /* first event position in the next file */
    const char *file;  /* next binlog file name, not NUL-terminated */
    size_t file_len;
};

enum binlog_query_kind {
    BINLOG_QUERY_BEGIN = 0, /* BEGIN / START TRANSACTION (XA START too) */
    BINLOG_QUERY_COMMIT,    /* COMMIT (non-transactional engines, XA COMMIT) */
    BINLOG_QUERY_ROLLBACK,  /* ROLLBACK, XA ROLLBACK */
    BINLOG_QUERY_TXCTL,     /* other transaction control: SAVEPOINT, ROLLBACK TO, XA END, ... */
    BINLOG_QUERY_DDL,       /* anything else: DDL, GRANT, TRUNCATE, ... */
};

struct binlog_query {
    uint32_t thread_id;
    uint32_t exec_time;
    uint16_t error_code;
    const char *db; /* default database ("" if none), not NUL-terminated */
    size_t db_len;
    const char *sql; /* statement text, not NUL-terminated */
    size_t sql_len;
    const uint8_t *status_vars; /* raw status variables */
    size_t status_vars_len;
    enum binlog_query_kind kind;
    /* from the status variables, when present */
    bool has_flags2;
    uint32_t flags2;
    bool has_sql_mode;
    uint64_t sql_mode;
    bool has_charset;
    uint16_t charset_client, collation_connection, collation_server;
    const char *time_zone; /* NULL if absent */
    size_t time_zone_len;
};

struct binlog_xid {
    uint64_t xid;
};

/* A TABLE_MAP event as sent: pointers into the event; see binlog_table_create(). */
struct binlog_table_map {
    uint64_t table_id;
    uint16_t flags;
    const char *db; /* not NUL-terminated in this view */
    size_t db_len;
    const char *table;
    size_t table_len;
    uint32_t ncols;
    const uint8_t *types; /* ncols type codes */
    const uint8_t *meta;  /* type metadata block */
    size_t meta_len;
    const uint8_t *null_bits; /* (ncols + 7) / 8 bytes, bit i set = column i nullable */
    const uint8_t *opt;       /* optional metadata TLVs (may be empty) */
    size_t opt_len;
};

enum binlog_rows_kind {
    BINLOG_ROWS_WRITE = 0,
    BINLOG_ROWS_UPDATE,
    BINLOG_ROWS_DELETE,
};

/*
 * A ROWS event. Row images follow each other in rows[0..rows_len): WRITE and
 * DELETE carry one image per row, UPDATE a before image then an after image.
 * Decode them with rowdec_decode() until rows_len bytes are consumed.
 */
struct binlog_rows {
    enum binlog_rows_kind kind;
    uint8_t version; /* 1 or 2 */
    uint64_t table_id;
    uint16_t flags;       /* BINLOG_ROWS_STMT_END, ... */
    const uint8_t *extra; /* v2 extra row info (after its 2-byte length), else NULL */
    size_t extra_len;
    uint32_t ncols;            /* columns of the table */
    const uint8_t *cols;       /* columns present in the first image (before for UPDATE/DELETE) */
    const uint8_t *cols_after; /* UPDATE: present in the after image; else == cols */
    const uint8_t *rows;
    size_t rows_len;
};

struct binlog_maria_gtid {
    uint64_t seq_no;
    uint32_t domain_id; /* server_id is the header's */
    uint8_t flags2;     /* BINLOG_MGTID_* */
    bool has_commit_id;
    uint64_t commit_id;
    bool has_xid; /* XA: format id, gtrid and bqual */
    uint32_t xa_format_id;
    const uint8_t *xa_data; /* gtrid then bqual */
    uint8_t xa_gtrid_len, xa_bqual_len;
};

struct binlog_maria_gtid_entry {
    uint32_t domain_id;
    uint32_t server_id;
    uint64_t seq_no;
};

struct binlog_maria_gtid_list {
    uint32_t count;     /* entries */
    uint8_t flags;      /* top 4 bits of the count word */
    const uint8_t *raw; /* count * 16 bytes; read with binlog_gtid_list_get() */
};

struct binlog_mysql_gtid {
    uint8_t flags;   /* 1: may commit in parallel (FLAG_MAY_HAVE_SBR clear) */
    uint8_t sid[16]; /* source UUID; all zero for ANONYMOUS_GTID */
    int64_t gno;     /* transaction number */
    bool has_logical_ts;
    int64_t last_committed, sequence_number;
    bool has_commit_ts;
    uint64_t immediate_commit_ts_us, original_commit_ts_us; /* microseconds since the epoch */
};

struct binlog_prev_gtids {
    uint64_t n_sids;
    const uint8_t *raw; /* validated: n_sids * (uuid 16, n_intervals 8, n * (start 8, end 8)) */
    size_t raw_len;
};

/* A text body: HEARTBEAT (the current file name), ANNOTATE_ROWS and ROWS_QUERY (the SQL). */
struct binlog_text {
    const char *data;
    size_t len;
};

struct binlog_event {
    struct binlog_header h;
    const uint8_t *body; /* after the common header, checksum excluded */
    size_t body_len;
    union {
        struct binlog_fde fde;
        struct binlog_rotate rotate;
        struct binlog_query query;
        struct binlog_xid xid;
        struct binlog_table_map table_map;
        struct binlog_rows rows;
        struct binlog_maria_gtid mgtid;
        struct binlog_maria_gtid_list mgtid_list;
        struct binlog_mysql_gtid gtid;
        struct binlog_prev_gtids prev_gtids;
        struct binlog_text text; /* HEARTBEAT, ANNOTATE_ROWS, ROWS_QUERY, BINLOG_CHECKPOINT */
    } u;
};

/*
 * Start a format for a new replication session: no FORMAT_DESCRIPTION seen
 * yet, events carry a checksum iff checksum_alg is BINLOG_CHECKSUM_CRC32, and
 * v4 default post-header lengths. verify_checksum starts false.
 */
void binlog_fmt_init(struct binlog_fmt *fmt, uint8_t checksum_alg);

/* Make a decoded FORMAT_DESCRIPTION the format in force (copies what it needs). */
void binlog_fmt_apply(struct binlog_fmt *fmt, const struct binlog_fde *fde);

/*
 * Decode one event, buf[0..len) as sent (see the file comment). On CDC_OK
 * *ev is filled and points into buf. CDC_ERR_PROTO for a malformed or
 * truncated event, a bad checksum, or a compressed event we cannot read.
 * Pure; any thread.
 */
cdc_rc binlog_decode(const struct binlog_fmt *fmt, const uint8_t *buf, size_t len,
                     struct binlog_event *ev, struct cdc_err *err) CDC_MUST_CHECK;

/* "QUERY", "TABLE_MAP", ... or "UNKNOWN"; a static string. */
const char *binlog_type_name(uint8_t type);

/* True for the ROWS events of either version. */
bool binlog_is_rows_event(uint8_t type);

/* CRC32 (ISO-HDLC, zlib's) of buf[0..len), as binlog checksums use. */
uint32_t binlog_crc32(const uint8_t *buf, size_t len);

/* Entry i (< list->count) of a decoded GTID_LIST. */
void binlog_gtid_list_get(const struct binlog_maria_gtid_list *list, uint32_t i,
                          struct binlog_maria_gtid_entry *out);

/*
 * Append a PREVIOUS_GTIDS set as MySQL prints it: "uuid:1-5:7,uuid2:1-3"
 * (lower-case UUIDs; an interval [s, e) prints as "s" when e == s + 1, else
 * "s-(e-1)"). An empty set appends nothing. Cannot fail: the event was checked
 * by binlog_decode(); check cdc_buf_ok() for memory.
 */
void binlog_prev_gtids_format(const struct binlog_prev_gtids *pg, struct cdc_buf *out);

/* Append a 16-byte UUID as 8-4-4-4-12 lower-case hex. */
void binlog_put_uuid(struct cdc_buf *out, const uint8_t uuid[16]);

/* ---- the table description from a TABLE_MAP ---- */

/* What the schema knows and the binlog does not say (MariaDB types stored as others). */
enum binlog_logical {
    BINLOG_LOGICAL_NONE = 0,
    BINLOG_LOGICAL_JSON,  /* MariaDB JSON: a LONGTEXT holding JSON text, embedded as JSON */
    BINLOG_LOGICAL_UUID,  /* MariaDB UUID: BINARY(16), rendered 8-4-4-4-12 */
    BINLOG_LOGICAL_INET6, /* MariaDB INET6: BINARY(16), rendered as an IPv6 address */
    BINLOG_LOGICAL_INET4, /* MariaDB INET4: BINARY(4), rendered a.b.c.d */
};

struct binlog_str {
    const char *s; /* NUL-terminated */
    uint32_t len;
};

/*
 * One column. `length` by type: CHAR/VARCHAR/VAR_STRING: maximum bytes;
 * ENUM/SET: pack length (1-2 / 1-8 bytes); BLOB/TEXT/JSON/GEOMETRY: bytes of
 * the length prefix (1-4); FLOAT/DOUBLE: 4/8; BIT: number of bits;
 * NEWDECIMAL: 0 (see precision/scale); TIME2/DATETIME2/TIMESTAMP2: 0 (see fsp).
 */
struct binlog_column {
    uint8_t type;      /* enum binlog_coltype as in the TABLE_MAP */
    uint8_t real_type; /* STRING's real type (STRING, ENUM or SET); = type otherwise */
    uint32_t length;   /* see above */
    uint8_t precision; /* NEWDECIMAL */
    uint8_t scale;     /* NEWDECIMAL */
    uint8_t fsp;       /* TIME2, DATETIME2, TIMESTAMP2: fractional digits 0-6 */
    bool nullable;
    bool is_unsigned;   /* from SIGNEDNESS; false without it */
    uint32_t collation; /* character and ENUM/SET columns: collation id, 0 = unknown */
    const char *name;   /* COLUMN_NAME, NULL if not sent */
    uint32_t n_elems;   /* ENUM/SET: values from ENUM_STR_VALUE / SET_STR_VALUE, 0 if not sent */
    const struct binlog_str *elems;
    uint32_t geometry_type;      /* GEOMETRY_TYPE (0 = GEOMETRY, 1 = POINT, ...) */
    bool is_pk;                  /* in SIMPLE_PRIMARY_KEY / PRIMARY_KEY_WITH_PREFIX */
    uint32_t pk_prefix;          /* key prefix length, 0 = whole column */
    bool visible;                /* COLUMN_VISIBILITY; true without it */
    enum binlog_logical logical; /* 0 from the binlog; the caller may set it from the schema */
};

/* An owned copy of a TABLE_MAP. */
struct binlog_table {
    uint64_t table_id;
    uint16_t flags;
    char *db;    /* NUL-terminated */
    char *table; /* NUL-terminated */
    uint32_t ncols;
    struct binlog_column *cols;
    bool has_signedness; /* which optional metadata fields were sent */
    bool has_charsets;
    bool has_names;
    bool has_enum_values;
    bool has_set_values;
    bool has_pk;
    bool has_visibility;
};

/*
 * Build the owned description of a decoded TABLE_MAP: column types and
 * metadata unpacked, optional metadata applied to the columns it describes
 * (MariaDB counts GEOMETRY among the character columns, MySQL does not:
 * fmt->is_mariadb chooses). Unknown column types and out-of-range metadata
 * (DECIMAL precision > 65, fsp > 6, ...) are CDC_ERR_PROTO naming the
 * column; unknown optional metadata fields are skipped.
 * On CDC_OK *out is the caller's; free it with binlog_table_destroy().
 * CDC_ERR_NOMEM if allocation fails. Any thread.
 */
cdc_rc binlog_table_create(struct binlog_table **out, const struct binlog_table_map *tm,
                           const struct binlog_fmt *fmt, struct cdc_err *err) CDC_MUST_CHECK;

/* Free a table; NULL does nothing. */
void binlog_table_destroy(struct binlog_table *t);

#endif
