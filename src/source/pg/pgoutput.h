/*
 * pgoutput.h - a pure decoder for one PostgreSQL pgoutput logical replication
 * message, protocol version 1 (PostgreSQL 15): Begin, Commit, Origin,
 * Relation, Type, Insert, Update, Delete, Truncate and Message; and version 2
 * (PostgreSQL 14+, `streaming 'on'`), which adds Stream Start, Stream Stop,
 * Stream Commit and Stream Abort, and an xid after the type byte of Relation,
 * Type, Insert, Update, Delete, Truncate and Message when they are sent
 * between a Stream Start and its Stream Stop (pgo_decode_v2()).
 *
 * Input is the payload of one XLogData ('w') CopyData message, after its
 * 25-byte header (pgsrc strips it). pgo_decode() reads it through a
 * bounds-checked cursor and validates the WHOLE message up front (every
 * length, string terminator, tuple kind and the absence of trailing bytes),
 * so the iterators below cannot fail afterwards.
 *
 * It does no I/O and allocates nothing. It does not know relations: matching
 * a tuple's column count with its relation is the caller's job (pgdecode.c).
 *
 * Lifetimes: every pointer in a decoded struct pgo_msg (strings, tuple bytes,
 * column lists, message content) points INTO the message buffer and is valid
 * only until that buffer is reused or freed. Strings are NUL-terminated in the
 * buffer itself. Whoever keeps a name (the relation cache) copies it.
 */
#ifndef CDC_SOURCE_PG_PGOUTPUT_H
#define CDC_SOURCE_PG_PGOUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/lsn.h"

/* Message types of protocol version 1 (the first byte of each message). */
enum pgo_msg_type {
    PGO_MSG_BEGIN = 'B',
    PGO_MSG_COMMIT = 'C',
    PGO_MSG_ORIGIN = 'O',
    PGO_MSG_RELATION = 'R',
    PGO_MSG_TYPE = 'Y',
    PGO_MSG_INSERT = 'I',
    PGO_MSG_UPDATE = 'U',
    PGO_MSG_DELETE = 'D',
    PGO_MSG_TRUNCATE = 'T',
    PGO_MSG_MESSAGE = 'M',
    /* protocol version 2: streamed (in-progress) transactions */
    PGO_MSG_STREAM_START = 'S',
    PGO_MSG_STREAM_STOP = 'E',
    PGO_MSG_STREAM_COMMIT = 'c',
    PGO_MSG_STREAM_ABORT = 'A',
};

/* Kinds of one column value in TupleData. */
enum pgo_datum_kind {
    PGO_DATUM_NULL = 'n',      /* SQL NULL */
    PGO_DATUM_UNCHANGED = 'u', /* unchanged TOASTed value, not sent */
    PGO_DATUM_TEXT = 't',      /* text form: int32 length + bytes */
    PGO_DATUM_BINARY = 'b',    /* binary form (only with the "binary" option) */
};

#define PGO_COL_FLAG_KEY          0x01 /* Relation column flag: part of the replica identity */
#define PGO_TRUNCATE_CASCADE      0x01 /* Truncate option bits */
#define PGO_TRUNCATE_RESTART_ID   0x02
#define PGO_MESSAGE_TRANSACTIONAL 0x01 /* Message flag bit */

/* Microseconds from the Unix epoch to the PostgreSQL epoch (2000-01-01 UTC). */
#define PGO_EPOCH_OFFSET_US INT64_C(946684800000000)

/* Raw, already validated TupleData: ncols values in `len` bytes at `data`. */
struct pgo_tupledata {
    uint16_t ncols;      /* number of column values */
    const uint8_t *data; /* first value's kind byte, in the message buffer */
    size_t len;          /* bytes of all values */
};

/* One column value of a tuple. */
struct pgo_datum {
    char kind;        /* enum pgo_datum_kind */
    const char *data; /* TEXT/BINARY: the bytes (not NUL-terminated); NULL otherwise */
    uint32_t len;     /* TEXT/BINARY: byte count; 0 otherwise */
};

/* Iterates the values of a struct pgo_tupledata. */
struct pgo_tuple_iter {
    const uint8_t *p; /* next value */
    uint16_t left;    /* values not yet returned */
};

/* One column of a Relation message. */
struct pgo_column {
    uint8_t flags;     /* PGO_COL_FLAG_KEY */
    const char *name;  /* NUL-terminated, in the message buffer */
    uint32_t type_oid; /* pg_type OID */
    int32_t typmod;    /* atttypmod, -1 if none */
};

/* Iterates the columns of a Relation message. */
struct pgo_column_iter {
    const uint8_t *p; /* next column */
    uint16_t left;    /* columns not yet returned */
};

struct pgo_begin {
    cdc_lsn final_lsn;      /* LSN of the transaction's commit record */
    int64_t commit_time_us; /* commit time, microseconds since the Unix epoch */
    uint32_t xid;
};

struct pgo_commit {
    uint8_t flags;          /* unused in proto 1, always 0 */
    cdc_lsn commit_lsn;     /* LSN of the commit record (= Begin's final_lsn) */
    cdc_lsn end_lsn;        /* end of the commit record: where streaming resumes */
    int64_t commit_time_us; /* microseconds since the Unix epoch */
};

struct pgo_origin {
    cdc_lsn origin_lsn; /* commit LSN on the origin server */
    const char *name;   /* origin name */
};

struct pgo_relation {
    uint32_t relid;
    const char *nspname; /* "" for pg_catalog, as PostgreSQL sends it */
    const char *relname;
    char replident;      /* 'd' default, 'n' nothing, 'f' full, 'i' index */
    uint16_t ncols;      /* columns that follow */
    const uint8_t *cols; /* first column, for pgo_column_iter_init() */
};

struct pgo_type {
    uint32_t oid;
    const char *nspname;
    const char *name;
};

/* Insert, Update and Delete. */
struct pgo_change {
    uint32_t relid;
    char old_kind;               /* 0: no old tuple; 'K': key columns only; 'O': full old row */
    struct pgo_tupledata oldtup; /* valid when old_kind != 0 */
    bool has_new;                /* Insert, Update: true; Delete: false */
    struct pgo_tupledata newtup; /* valid when has_new */
};

struct pgo_truncate {
    uint32_t nrels;
    uint8_t options;       /* PGO_TRUNCATE_CASCADE | PGO_TRUNCATE_RESTART_ID */
    const uint8_t *relids; /* nrels big-endian int32 OIDs: use pgo_truncate_relid() */
};

struct pgo_message {
    uint8_t flags;          /* PGO_MESSAGE_TRANSACTIONAL */
    cdc_lsn lsn;            /* LSN of the logical decoding message */
    const char *prefix;     /* NUL-terminated */
    const uint8_t *content; /* content bytes (may contain NULs) */
    uint32_t content_len;
};

/* Stream Start: the chunk of a streamed transaction that follows (until Stream Stop). */
struct pgo_stream_start {
    uint32_t xid;       /* the top-level transaction */
    bool first_segment; /* the first chunk of this transaction in this session */
};

/* Stream Commit: a streamed transaction committed. */
struct pgo_stream_commit {
    uint32_t xid;           /* the top-level transaction */
    uint8_t flags;          /* unused, 0 */
    cdc_lsn commit_lsn;     /* LSN of the commit record */
    cdc_lsn end_lsn;        /* end of the commit record: where streaming resumes */
    int64_t commit_time_us; /* microseconds since the Unix epoch */
};

/* Stream Abort: a streamed transaction, or one of its subtransactions, aborted. */
struct pgo_stream_abort {
    uint32_t xid;    /* the top-level transaction */
    uint32_t subxid; /* the aborted subtransaction; == xid when the whole transaction aborted */
};

/* One decoded message: `type` says which member of `u` is valid. */
struct pgo_msg {
    char type;    /* enum pgo_msg_type */
    uint32_t xid; /* pgo_decode_v2() in a stream: the xid of the (sub)transaction of a Relation,
                     Type, Insert, Update, Delete, Truncate or Message; 0 otherwise */
    union {
        struct pgo_begin begin;
        struct pgo_commit commit;
        struct pgo_origin origin;
        struct pgo_relation relation;
        struct pgo_type type;
        struct pgo_change change; /* Insert, Update, Delete */
        struct pgo_truncate truncate;
        struct pgo_message message;
        struct pgo_stream_start stream_start;
        struct pgo_stream_commit stream_commit;
        struct pgo_stream_abort stream_abort;
    } u;
};

/*
 * Decode and fully validate one pgoutput message of len bytes into *out.
 * Returns CDC_OK, or CDC_ERR_PROTO for any malformed input (empty, truncated
 * at any field, unknown message type, bad tuple kind, negative length,
 * unterminated string, trailing bytes, or a message of a later protocol
 * version), with err->msg naming the message type and byte offset, e.g.
 * "pgoutput: truncated Insert message at offset 17: need 4 bytes, have 2".
 * *out is meaningful only on CDC_OK; its pointers borrow msg (see the file
 * comment). Pure and reentrant: any thread.
 */
cdc_rc pgo_decode(const uint8_t *msg, size_t len, struct pgo_msg *out,
                  struct cdc_err *err) CDC_MUST_CHECK;

/*
 * pgo_decode() for protocol version 2: it also accepts the four Stream
 * messages, and in_stream says that the message was sent between a Stream
 * Start and its Stream Stop, where Relation, Type, Insert, Update, Delete,
 * Truncate and Message carry the xid of their (sub)transaction after the type
 * byte (out->xid). Messages of later versions (two-phase) are refused as by
 * pgo_decode(). Pure and reentrant.
 */
cdc_rc pgo_decode_v2(const uint8_t *msg, size_t len, bool in_stream, struct pgo_msg *out,
                     struct cdc_err *err) CDC_MUST_CHECK;

/* "Insert", "Begin", ... or "unknown" for a message type byte. */
const char *pgo_msg_type_name(char type);

/* Start iterating the values of a tuple decoded by pgo_decode(). */
void pgo_tuple_iter_init(struct pgo_tuple_iter *it, const struct pgo_tupledata *t);

/*
 * Next value into *out; false when none is left. Cannot fail: pgo_decode()
 * has validated the bytes. out->data borrows the message buffer.
 */
bool pgo_tuple_next(struct pgo_tuple_iter *it, struct pgo_datum *out);

/* Start iterating the columns of a Relation decoded by pgo_decode(). */
void pgo_column_iter_init(struct pgo_column_iter *it, const struct pgo_relation *rel);

/* Next column into *out; false when none is left. out->name borrows the buffer. */
bool pgo_column_next(struct pgo_column_iter *it, struct pgo_column *out);

/* The i-th relid (i < t->nrels) of a Truncate decoded by pgo_decode(). */
uint32_t pgo_truncate_relid(const struct pgo_truncate *t, uint32_t i);

#endif
