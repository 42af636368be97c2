/*
 * source.c - choosing the source by engine, and dispatching to it; see source.h.
 */
#include "source/source.h"

#include <stdlib.h>

#include "transform/filter.h"

cdc_rc
src_create(struct source **out, const struct cdc_config *cfg, struct cdc_err *err)
{
    struct source *s = calloc(1, sizeof(*s));
    cdc_rc rc;

    if (s == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    s->cfg = cfg;
    switch (cfg->rds.engine) {
    case CFG_ENGINE_POSTGRES:
        rc = pgsource_init(s, err);
        break;
    default:
        rc = mysource_init(s, err);
        break;
    }
    if (rc != CDC_OK) {
        free(s);
        return rc;
    }
    *out = s;
    return CDC_OK;
}

void
src_destroy(struct source *s)
{
    if (s == NULL)
        return;
    s->ops->destroy(s);
    free(s);
}

void
src_set_relation_hook(struct source *s, src_relation_fn fn, void *closure)
{
    s->on_relation = fn;
    s->relation_closure = closure;
}

cdc_rc
src_prepare(struct source *s, const struct ckpt_record *ckpt, const char *ckpt_desc,
            bool accept_position, struct ckpt_record *rec, struct src_start *start,
            struct cdc_err *err)
{
    start->note[0] = '\0';
    start->warn = false;
    return s->ops->prepare(s, ckpt, ckpt_desc, accept_position, rec, start, err);
}

cdc_rc
src_start(struct source *s, cdc_lsn pos, struct cdc_err *err)
{
    return s->ops->start(s, pos, err);
}

cdc_rc
src_next(struct source *s, int timeout_ms, struct src_out *out, struct cdc_err *err)
{
    return s->ops->next(s, timeout_ms, out, err);
}

void
src_confirm(struct source *s, cdc_lsn pos)
{
    s->ops->confirm(s, pos);
}

void
src_describe_position(struct source *s, struct ckpt_record *rec)
{
    if (s->ops->describe_position != NULL)
        s->ops->describe_position(s, rec);
}

cdc_rc
src_health(struct source *s, struct src_health *out, struct cdc_err *err)
{
    out->retained_bytes = -1;
    out->wal_status = -1;
    out->safe_wal_bytes = -1;
    return s->ops->health != NULL ? s->ops->health(s, out, err) : CDC_OK;
}

cdc_rc
src_heartbeat(struct source *s, cdc_lsn *lsn, struct cdc_err *err)
{
    if (lsn != NULL)
        *lsn = 0;
    return s->ops->heartbeat != NULL ? s->ops->heartbeat(s, lsn, err) : CDC_OK;
}

cdc_lsn
src_received(struct source *s)
{
    return s->ops->received(s);
}

int64_t
src_lag_ms(struct source *s, int64_t now_us)
{
    return s->ops->lag_ms != NULL ? s->ops->lag_ms(s, now_us) : -1;
}

void
src_stop(struct source *s)
{
    s->ops->stop(s);
}

cdc_rc
src_filter_create(const struct cdc_config *cfg, struct filter **out, struct cdc_err *err)
{
    const struct cfg_strlist *inc = &cfg->cdc.table_filters, *exc = &cfg->cdc.table_excludes;

    return filter_create(out, (const char *const *) inc->items, inc->n,
                         (const char *const *) exc->items, exc->n, NULL, 0, err);
}
