/*
 * pgspill.c - the spill file of one streamed transaction; see pgspill.h.
 *
 * Record layout (native byte order: the file is read back by the process that
 * wrote it, and never outlives it):
 *   u32 len | u32 subxid | u64 lsn | u64 link | len bytes of message
 * Writes go through a 64 KiB buffer at the end of the file; reads through
 * another one.
 *
 * The subtransaction stack. A subtransaction's abort drops everything from
 * its first message on (pgspill.h says why), so we need the offset of the
 * first message of any subtransaction that may still abort. Keeping one entry
 * per subtransaction in memory would grow with their number (a PL/pgSQL loop
 * with an EXCEPTION block makes one per row), so the stack lives in the file:
 * the first record of each entry has in `link` the offset of the first
 * record of the entry below it (PGSPILL_BOTTOM for the lowest), every other
 * record PGSPILL_NOT_FIRST, and only the top entry is kept in memory. A
 * message of a subtransaction already on the stack pops the entries above it
 * (they ended: they can now only be aborted together with it or an
 * ancestor, whose first message is not above it); a message of any other
 * subtransaction pushes an entry. Finding a subtransaction walks the links
 * down from the top with pread(); a message of an xid newer than every xid
 * seen so far is new without a walk (xids are assigned in increasing order),
 * so the common cases cost nothing.
 *
 * Kept records (pgspill_append_kept: Relation messages) are outside the stack
 * (subxid 0, link PGSPILL_KEPT); an abort that cuts the file copies those it
 * cuts to the new end.
 */
#include "source/pg/pgspill.h"

#include "core/buf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PGSPILL_BUF       (64 * 1024)
#define PGSPILL_HDR       24
#define PGSPILL_BOTTOM    UINT64_MAX       /* link of the lowest stack entry */
#define PGSPILL_NOT_FIRST (UINT64_MAX - 1) /* link of a record that opens no entry */
#define PGSPILL_KEPT      (UINT64_MAX - 2) /* link of a record kept across aborts */

struct pgspill_hdr {
    uint32_t len;    /* message bytes after the header */
    uint32_t subxid; /* its subtransaction */
    uint64_t lsn;    /* its WAL position */
    uint64_t link;   /* see the file comment */
};

struct pgspill {
    int fd;
    char path[4096]; /* for messages (the file itself is already unlinked) */
    uint32_t xid;
    uint64_t max_bytes; /* 0: no limit */
    uint64_t size;      /* logical size: on disk plus buffered */
    uint64_t flushed;   /* bytes [0, flushed) are on disk */
    uint8_t *wbuf;      /* PGSPILL_BUF bytes pending at offset `flushed` */
    size_t wlen;
    bool has_top;        /* the stack is not empty */
    uint32_t top_subxid; /* the top entry: its subtransaction ... */
    uint64_t top_off;    /* ... and the offset of its first record */
    bool has_newest;
    uint32_t newest; /* the newest subxid appended so far */
    bool reading;    /* after pgspill_rewind() */
    uint64_t rpos;   /* next record to read */
    uint8_t *rbuf;   /* a window of the file: [roff, roff + rlen) */
    uint64_t roff;
    size_t rlen;
    uint8_t *big; /* a record larger than the window */
    size_t big_cap;
};

/* a follows b in xid order (PostgreSQL's TransactionIdFollows for normal xids) */
static bool
xid_follows(uint32_t a, uint32_t b)
{
    return (int32_t) (a - b) > 0;
}

static const char *
spill_dir(const char *dir)
{
    const char *t;

    if (dir != NULL && dir[0] != '\0')
        return dir;
    t = getenv("TMPDIR");
    return t != NULL && t[0] != '\0' ? t : "/tmp";
}

cdc_rc
pgspill_create(struct pgspill **out, const char *dir, const char *tag, uint32_t xid,
               uint64_t max_bytes, struct cdc_err *err)
{
    struct pgspill *s = calloc(1, sizeof(*s));
    int n;

    if (s == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory for a spill file");
    s->fd = -1;
    n = snprintf(s->path, sizeof(s->path), "%s/" PGSPILL_PREFIX "%s.XXXXXX", spill_dir(dir),
                 tag != NULL ? tag : "");
    if (n < 0 || (size_t) n >= sizeof(s->path)) {
        free(s);
        return cdc_err_set(err, CDC_ERR_CONFIG, "spill directory name is too long");
    }
    s->wbuf = malloc(PGSPILL_BUF);
    if (s->wbuf == NULL) {
        free(s);
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory for a spill file");
    }
    s->fd = mkostemp(s->path, O_CLOEXEC);
    if (s->fd < 0) {
        cdc_err_set(err, CDC_ERR_IO, "could not create spill file \"%s\": %s", s->path,
                    strerror(errno));
        free(s->wbuf);
        free(s);
        return CDC_ERR_IO;
    }
    /* from now on the file lives only as long as the descriptor */
    (void) unlink(s->path);
    s->xid = xid;
    s->max_bytes = max_bytes;
    *out = s;
    return CDC_OK;
}

void
pgspill_destroy(struct pgspill *s)
{
    if (s == NULL)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s->wbuf);
    free(s->rbuf);
    free(s->big);
    free(s);
}

uint32_t
pgspill_xid(const struct pgspill *s)
{
    return s->xid;
}

uint64_t
pgspill_bytes(const struct pgspill *s)
{
    return s->size;
}

static cdc_rc
spill_pwrite(struct pgspill *s, const void *p, size_t n, uint64_t off, struct cdc_err *err)
{
    const uint8_t *b = p;

    while (n > 0) {
        ssize_t w = pwrite(s->fd, b, n, (off_t) off);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return cdc_err_set(err, CDC_ERR_IO, "could not write spill file \"%s\": %s", s->path,
                               w < 0 ? strerror(errno) : "no progress");
        b += w;
        n -= (size_t) w;
        off += (uint64_t) w;
    }
    return CDC_OK;
}

/* pread exactly n bytes at off; a short file is a damaged one. */
static cdc_rc
spill_pread(struct pgspill *s, void *p, size_t n, uint64_t off, struct cdc_err *err)
{
    uint8_t *b = p;

    while (n > 0) {
        ssize_t r = pread(s->fd, b, n, (off_t) off);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return cdc_err_set(err, CDC_ERR_IO, "could not read spill file \"%s\": %s", s->path,
                               strerror(errno));
        if (r == 0)
            return cdc_err_set(err, CDC_ERR_PROTO,
                               "spill file \"%s\" ends at offset %llu, inside a record", s->path,
                               (unsigned long long) off);
        b += r;
        n -= (size_t) r;
        off += (uint64_t) r;
    }
    return CDC_OK;
}

static cdc_rc
spill_flush(struct pgspill *s, struct cdc_err *err)
{
    cdc_rc rc;

    if (s->wlen == 0)
        return CDC_OK;
    rc = spill_pwrite(s, s->wbuf, s->wlen, s->flushed, err);
    if (rc != CDC_OK)
        return rc;
    s->flushed += s->wlen;
    s->wlen = 0;
    return CDC_OK;
}

/* Append n bytes at the end, through the write buffer. */
static cdc_rc
spill_put(struct pgspill *s, const void *p, size_t n, struct cdc_err *err)
{
    cdc_rc rc;

    if (s->wlen + n > PGSPILL_BUF) {
        rc = spill_flush(s, err);
        if (rc != CDC_OK)
            return rc;
    }
    if (n > PGSPILL_BUF) {
        rc = spill_pwrite(s, p, n, s->flushed, err);
        if (rc == CDC_OK)
            s->flushed += n;
    } else {
        memcpy(s->wbuf + s->wlen, p, n);
        s->wlen += n;
        rc = CDC_OK;
    }
    if (rc == CDC_OK)
        s->size += n;
    return rc;
}

static cdc_rc
read_hdr(struct pgspill *s, uint64_t off, struct pgspill_hdr *h, struct cdc_err *err)
{
    uint8_t b[PGSPILL_HDR];
    cdc_rc rc = spill_pread(s, b, sizeof(b), off, err);

    if (rc != CDC_OK)
        return rc;
    memcpy(&h->len, b, 4);
    memcpy(&h->subxid, b + 4, 4);
    memcpy(&h->lsn, b + 8, 8);
    memcpy(&h->link, b + 16, 8);
    return CDC_OK;
}

/*
 * Walk the stack down from the top for subxid: *found, and then *off (its
 * first record) and *below (the link of that record). Flushes first.
 */
static cdc_rc
stack_find(struct pgspill *s, uint32_t subxid, bool *found, uint64_t *off, uint64_t *below,
           struct cdc_err *err)
{
    struct pgspill_hdr h;
    uint64_t at = s->top_off;
    cdc_rc rc;

    *found = false;
    if (!s->has_top)
        return CDC_OK;
    rc = spill_flush(s, err);
    if (rc != CDC_OK)
        return rc;
    for (;;) {
        rc = read_hdr(s, at, &h, err);
        if (rc != CDC_OK)
            return rc;
        if (h.subxid == subxid) {
            *found = true;
            *off = at;
            *below = h.link;
            return CDC_OK;
        }
        if (h.link == PGSPILL_BOTTOM)
            return CDC_OK;
        if (h.link >= at)
            return cdc_err_set(err, CDC_ERR_PROTO, "spill file \"%s\": bad link at offset %llu",
                               s->path, (unsigned long long) at);
        at = h.link;
    }
}

/* Make the entry of subxid whose first record is at off the top. */
static void
stack_set_top(struct pgspill *s, uint64_t off, uint32_t subxid)
{
    s->has_top = true;
    s->top_off = off;
    s->top_subxid = subxid;
}

/* The link for a new record of subxid, moving the stack as the file comment says. */
static cdc_rc
stack_on_append(struct pgspill *s, uint32_t subxid, uint64_t *link, struct cdc_err *err)
{
    uint64_t off = 0, below = 0;
    bool found = false;
    cdc_rc rc;

    *link = PGSPILL_NOT_FIRST;
    if (s->has_top && subxid == s->top_subxid)
        return CDC_OK;
    if (s->has_top && !(s->has_newest && xid_follows(subxid, s->newest))) {
        rc = stack_find(s, subxid, &found, &off, &below, err);
        if (rc != CDC_OK)
            return rc;
    }
    if (found) {
        stack_set_top(s, off, subxid); /* the entries above it ended */
        return CDC_OK;
    }
    *link = s->has_top ? s->top_off : PGSPILL_BOTTOM;
    stack_set_top(s, s->size, subxid);
    return CDC_OK;
}

/* Whether a record of len bytes may be appended. */
static cdc_rc
spill_room(const struct pgspill *s, size_t len, struct cdc_err *err)
{
    if (s->reading)
        return cdc_err_set(err, CDC_ERR_PROTO, "spill file \"%s\" is being read back", s->path);
    if (len > UINT32_MAX - PGSPILL_HDR)
        return cdc_err_set(err, CDC_ERR_PROTO, "a message of %zu bytes is too large to spill", len);
    if (s->max_bytes > 0 && s->size + PGSPILL_HDR + len > s->max_bytes)
        return cdc_err_set(err, CDC_ERR_FATAL,
                           "streamed transaction %u needs more than cdc.spill_max_bytes (%llu "
                           "bytes) of spill file: raise it (0: no limit)",
                           s->xid, (unsigned long long) s->max_bytes);
    return CDC_OK;
}

static cdc_rc
spill_record(struct pgspill *s, uint32_t subxid, cdc_lsn lsn, uint64_t link, const uint8_t *msg,
             size_t len, struct cdc_err *err)
{
    uint8_t h[PGSPILL_HDR];
    uint32_t len32 = (uint32_t) len;
    cdc_rc rc;

    memcpy(h, &len32, 4);
    memcpy(h + 4, &subxid, 4);
    memcpy(h + 8, &lsn, 8);
    memcpy(h + 16, &link, 8);
    rc = spill_put(s, h, sizeof(h), err);
    if (rc == CDC_OK)
        rc = spill_put(s, msg, len, err);
    return rc;
}

cdc_rc
pgspill_append_kept(struct pgspill *s, cdc_lsn lsn, const uint8_t *msg, size_t len,
                    struct cdc_err *err)
{
    cdc_rc rc = spill_room(s, len, err);

    if (rc != CDC_OK)
        return rc;
    return spill_record(s, 0, lsn, PGSPILL_KEPT, msg, len, err);
}

cdc_rc
pgspill_append(struct pgspill *s, uint32_t subxid, cdc_lsn lsn, const uint8_t *msg, size_t len,
               struct cdc_err *err)
{
    uint64_t link;
    cdc_rc rc = spill_room(s, len, err);

    if (rc != CDC_OK)
        return rc;
    rc = stack_on_append(s, subxid, &link, err);
    if (rc != CDC_OK)
        return rc;
    rc = spill_record(s, subxid, lsn, link, msg, len, err);
    if (rc == CDC_OK && (!s->has_newest || xid_follows(subxid, s->newest))) {
        s->has_newest = true;
        s->newest = subxid;
    }
    return rc;
}

/* Cut the file back to `size` bytes. */
static cdc_rc
spill_truncate(struct pgspill *s, uint64_t size, struct cdc_err *err)
{
    if (size >= s->flushed) {
        s->wlen = (size_t) (size - s->flushed);
    } else {
        s->wlen = 0;
        if (ftruncate(s->fd, (off_t) size) != 0)
            return cdc_err_set(err, CDC_ERR_IO, "could not truncate spill file \"%s\": %s", s->path,
                               strerror(errno));
        s->flushed = size;
    }
    s->size = size;
    return CDC_OK;
}

/* Copy the kept records (headers included) in [off, size) into *kept. The file is flushed. */
static cdc_rc
collect_kept(struct pgspill *s, uint64_t off, struct cdc_buf *kept, struct cdc_err *err)
{
    struct pgspill_hdr h;
    cdc_rc rc;

    while (off < s->size) {
        rc = read_hdr(s, off, &h, err);
        if (rc != CDC_OK)
            return rc;
        if (h.link == PGSPILL_KEPT) {
            if (!cdc_buf_reserve(kept, PGSPILL_HDR + (size_t) h.len))
                return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory for a spill file");
            rc = spill_pread(s, kept->data + kept->len, PGSPILL_HDR + (size_t) h.len, off, err);
            if (rc != CDC_OK)
                return rc;
            kept->len += PGSPILL_HDR + (size_t) h.len;
        }
        off += PGSPILL_HDR + (uint64_t) h.len;
    }
    return CDC_OK;
}

/* Cut at off (the first record of an aborted entry whose link is below), keeping kept records. */
static cdc_rc
cut(struct pgspill *s, uint64_t off, uint64_t below, struct cdc_err *err)
{
    struct cdc_buf kept = CDC_BUF_INIT;
    struct pgspill_hdr h;
    cdc_rc rc;

    rc = collect_kept(s, off, &kept, err);
    if (rc == CDC_OK)
        rc = spill_truncate(s, off, err);
    if (rc == CDC_OK && kept.len > 0)
        rc = spill_put(s, kept.data, kept.len, err);
    cdc_buf_free(&kept);
    if (rc != CDC_OK)
        return rc;
    if (below == PGSPILL_BOTTOM) {
        s->has_top = false;
        return CDC_OK;
    }
    rc = read_hdr(s, below, &h, err);
    if (rc != CDC_OK)
        return rc;
    stack_set_top(s, below, h.subxid);
    return CDC_OK;
}

cdc_rc
pgspill_abort_sub(struct pgspill *s, uint32_t subxid, bool *found, struct cdc_err *err)
{
    uint64_t off = 0, below = 0;
    cdc_rc rc;

    if (s->reading)
        return cdc_err_set(err, CDC_ERR_PROTO, "spill file \"%s\" is being read back", s->path);
    rc = stack_find(s, subxid, found, &off, &below, err);
    if (rc != CDC_OK || !*found)
        return rc;
    return cut(s, off, below, err);
}

cdc_rc
pgspill_rewind(struct pgspill *s, struct cdc_err *err)
{
    cdc_rc rc = spill_flush(s, err);

    if (rc != CDC_OK)
        return rc;
    if (s->rbuf == NULL && (s->rbuf = malloc(PGSPILL_BUF)) == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory for a spill file");
    s->reading = true;
    s->rpos = 0;
    s->roff = 0;
    s->rlen = 0;
    return CDC_OK;
}

/* Make [off, off + n) readable in the window (n <= PGSPILL_BUF); its address in *p. */
static cdc_rc
window(struct pgspill *s, uint64_t off, size_t n, const uint8_t **p, struct cdc_err *err)
{
    size_t want;
    cdc_rc rc;

    if (off < s->roff || off + n > s->roff + s->rlen) {
        want = s->size - off < PGSPILL_BUF ? (size_t) (s->size - off) : PGSPILL_BUF;
        if (want < n)
            return cdc_err_set(err, CDC_ERR_PROTO,
                               "spill file \"%s\" ends at offset %llu, inside a record", s->path,
                               (unsigned long long) s->size);
        rc = spill_pread(s, s->rbuf, want, off, err);
        if (rc != CDC_OK)
            return rc;
        s->roff = off;
        s->rlen = want;
    }
    *p = s->rbuf + (off - s->roff);
    return CDC_OK;
}

cdc_rc
pgspill_next(struct pgspill *s, struct pgspill_rec *rec, bool *end, struct cdc_err *err)
{
    const uint8_t *p;
    uint32_t len;
    cdc_rc rc;

    *end = false;
    if (!s->reading)
        return cdc_err_set(err, CDC_ERR_PROTO, "spill file \"%s\" was not rewound", s->path);
    if (s->rpos >= s->size) {
        *end = true;
        return CDC_OK;
    }
    rc = window(s, s->rpos, PGSPILL_HDR, &p, err);
    if (rc != CDC_OK)
        return rc;
    memcpy(&len, p, 4);
    memcpy(&rec->subxid, p + 4, 4);
    memcpy(&rec->lsn, p + 8, 8);
    rec->len = len;
    if ((size_t) len + PGSPILL_HDR <= PGSPILL_BUF) {
        rc = window(s, s->rpos, PGSPILL_HDR + (size_t) len, &p, err);
        rec->msg = p + PGSPILL_HDR;
    } else {
        if (len > s->big_cap) {
            uint8_t *nb = realloc(s->big, len);

            if (nb == NULL)
                return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory for a %u-byte message", len);
            s->big = nb;
            s->big_cap = len;
        }
        rc = spill_pread(s, s->big, len, s->rpos + PGSPILL_HDR, err);
        rec->msg = s->big;
    }
    if (rc != CDC_OK)
        return rc;
    s->rpos += PGSPILL_HDR + (uint64_t) len;
    return CDC_OK;
}

cdc_rc
pgspill_sweep(const char *dir, const char *tag, int *removed, struct cdc_err *err)
{
    const char *d = spill_dir(dir);
    char prefix[256], path[4096];
    struct dirent *e;
    DIR *dh;
    int n = 0;

    snprintf(prefix, sizeof(prefix), PGSPILL_PREFIX "%s.", tag != NULL ? tag : "");
    dh = opendir(d);
    if (dh == NULL)
        return cdc_err_set(err, CDC_ERR_IO, "could not open spill directory \"%s\": %s", d,
                           strerror(errno));
    while ((e = readdir(dh)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", d, e->d_name);
        if (unlink(path) == 0)
            n++;
    }
    closedir(dh);
    if (removed != NULL)
        *removed = n;
    return CDC_OK;
}
