/*
 * rowdec.h - decode one row image of a ROWS event into a struct cdc_tuple's
 * values, driven by the table's column types and metadata (struct
 * binlog_table from the TABLE_MAP).
 *
 * A row image is: a NULL bitmap with one bit per column PRESENT in the image
 * (the event's columns-present bitmap; binlog_row_image=MINIMAL or NOBLOB
 * leave columns out), then the value of every present non-NULL column, in
 * column order, in its storage ("pack") format. rowdec_decode() reads one
 * image and says how many bytes it used, so the caller walks an event:
 *
 *     p = rows->rows; left = rows->rows_len;
 *     while (left > 0) {
 *         rowdec_decode(rd, t, rows, false, p, left, &scratch, &before, &n, err);  // UPDATE,
 *         p += n; left -= n;                                                        // DELETE
 *         rowdec_decode(rd, t, rows, true, p, left, &scratch, &after, &n, err);    // UPDATE,
 *         p += n; left -= n;                                                        // WRITE
 *         rowdec_fixup(&scratch, t, &before); rowdec_fixup(&scratch, t, &after);
 *     }
 *
 * Values are text in the forms enum cdc_vfmt expects, written to a
 * caller-owned scratch cdc_buf. While images are being decoded the buffer may
 * move, so value pointers are stored as OFFSETS into it; rowdec_fixup() turns
 * them into pointers once no more is appended for the images in question.
 * The JSON rendering of each column is rowdec_col_fmt(). Text columns are
 * converted to UTF-8 from their charset (iconv for the multi-byte ones other
 * than utf8mb3/utf8mb4; the converters are cached in struct rowdec).
 *
 * Zero dates ('0000-00-00', or any date with a zero month or day) become
 * CDC_VAL_NULL, and the image lists them in `zeros` with their raw text, for
 * the envelope's metadata.
 *
 * No I/O, no logging. A struct rowdec belongs to one thread.
 */
#ifndef CDC_SOURCE_MYSQL_ROWDEC_H
#define CDC_SOURCE_MYSQL_ROWDEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "event/event.h"
#include "source/mysql/binlog.h"

struct rowdec;

/* A column whose date was zero: its value is CDC_VAL_NULL, raw is the text the server shows. */
struct rowdec_zero {
    uint32_t col;         /* column index */
    struct cdc_value raw; /* "0000-00-00 00:00:00", "2024-00-00", ...; offsets until fixup */
};

/*
 * One decoded image. The caller provides vals and zeros, each with room for
 * the table's ncols entries. Columns missing from the image are
 * CDC_VAL_UNCHANGED in an after image (the envelope lists them in
 * metadata.unchanged_columns) and CDC_VAL_ABSENT in a before image.
 */
struct rowdec_image {
    struct cdc_value *vals;    /* in: ncols slots; out: one value per column */
    struct rowdec_zero *zeros; /* in: ncols slots; out: nzeros entries */
    uint32_t nzeros;           /* out */
    uint32_t nmissing;         /* out: columns not in the image */
    bool fixed;                /* out: rowdec_fixup() ran */
};

/* Make a decoder context (iconv cache). CDC_ERR_NOMEM on failure. */
cdc_rc rowdec_create(struct rowdec **out, struct cdc_err *err) CDC_MUST_CHECK;

/* Free it; NULL does nothing. */
void rowdec_destroy(struct rowdec *rd);

/*
 * How values of this column render (enum cdc_vfmt), for the cdc_column the
 * caller builds. Depends on the column's type, charset, ENUM/SET values and
 * `logical`; stable for a given struct binlog_column.
 */
enum cdc_vfmt rowdec_col_fmt(const struct binlog_column *col);

/*
 * Decode the image at p[0..len): the after image (`after`: WRITE, and the
 * second image of an UPDATE, columns from rows->cols_after) or the before
 * image (DELETE, the first of an UPDATE, rows->cols). Text goes to the end
 * of scratch (existing content is kept); *consumed is the image's size.
 *
 * CDC_ERR_PROTO (err names the table, column and type) for a truncated or
 * malformed image, a column count different from the table's, an image with
 * no column present (it would take no bytes), or a value the
 * metadata cannot explain (ENUM index beyond its values, bad DECIMAL digits,
 * out-of-range temporal fields, malformed binary JSON): the caller
 * dead-letters the event. CDC_ERR_NOMEM if scratch cannot grow.
 */
cdc_rc rowdec_decode(struct rowdec *rd, const struct binlog_table *t,
                     const struct binlog_rows *rows, bool after, const uint8_t *p, size_t len,
                     struct cdc_buf *scratch, struct rowdec_image *img, size_t *consumed,
                     struct cdc_err *err) CDC_MUST_CHECK;

/*
 * Turn the offsets of img (ncols values and its zeros) into pointers into
 * scratch->data. Call it after the last rowdec_decode() into this scratch
 * whose values you will use; the pointers then stay valid until scratch is
 * appended to, reset or freed. Calling it twice does nothing the second time.
 */
void rowdec_fixup(const struct cdc_buf *scratch, const struct binlog_table *t,
                  struct rowdec_image *img);

#endif
