/*
 * claim.c - the claim-check event; see claim.h.
 */
#include "transform/claim.h"

#include <string.h>

#include "event/json.h"

static void
put_str_member(struct cdc_buf *b, const char *key, const char *v, bool comma)
{
    if (comma)
        cdc_buf_putc(b, ',');
    json_put_key(b, key);
    if (v == NULL) {
        cdc_buf_puts(b, "null");
        return;
    }
    json_put_str(b, v, strlen(v));
}

void
claim_encode(struct cdc_buf *b, const struct cdc_change *ch, const char *event_id,
             const char *source, const char *bucket, uint64_t size, const char *digest)
{
    static const char *const types[] = {"cdc.insert", "cdc.update", "cdc.delete", "cdc.truncate",
                                        "cdc.ddl"};
    static const char *const ops[] = {"INSERT", "UPDATE", "DELETE", "TRUNCATE", "DDL"};
    unsigned op = (unsigned) ch->op <= CDC_OP_DDL ? (unsigned) ch->op : CDC_OP_DDL;

    cdc_buf_putc(b, '{');
    put_str_member(b, "event_id", event_id, false);
    put_str_member(b, "event_type", types[op], true);
    put_str_member(b, "source", source ? source : "", true);
    put_str_member(b, "schema", ch->rel ? ch->rel->schema : NULL, true);
    put_str_member(b, "table", ch->rel ? ch->rel->table : NULL, true);
    put_str_member(b, "operation", ops[op], true);
    cdc_buf_puts(b, ",\"claim_check\":{");
    put_str_member(b, "bucket", bucket, false);
    put_str_member(b, "name", event_id, true);
    cdc_buf_puts(b, ",\"size\":");
    cdc_buf_put_u64(b, size);
    put_str_member(b, "digest", digest, true);
    cdc_buf_puts(b, "}}");
}
