/*
 * config_check.c - validation of a loaded configuration, in one pass: required
 * keys, ranges and enums (again, for configurations built in code), and the
 * rules that need more than one value or a shape (NATS URLs, slot, stream and
 * subject names, the checkpoint encryption key: read, parsed, never echoed).
 *
 * A problem points at where the value came from, as recorded in cfg->origin:
 * "FILE:LINE: key: problem", "<env>: VAR: problem", "<override>: key: problem"
 * or "<default>: key: problem". Secrets are never echoed, and URLs in messages
 * have their credentials masked. Nothing is modified.
 */
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "checkpoint/ckpt.h"
#include "transform/filter.h"
#include "transform/redact.h"
#include "transform/subject.h"

struct cfg_checker {
    const struct cdc_config *cfg;
    FILE *out;    /* may be NULL */
    int problems; /* how many were reported */
};

static void chk_problem(struct cfg_checker *ck, int ki, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Report about key ki; line (if > 0) is more precise than the key's own line. */
static void
chk_problem(struct cfg_checker *ck, int ki, int line, const char *fmt, ...)
{
    const struct cfg_origin *o = &ck->cfg->origin[ki];
    const struct cfg_key *k = &cfg_keys[ki];
    va_list ap;

    ck->problems++;
    if (ck->out == NULL)
        return;
    switch (o->src) {
    case CFG_SRC_FILE:
        fprintf(ck->out, "%s:%d: %s: ", ck->cfg->path ? ck->cfg->path : "<file>",
                line > 0 ? line : o->line, k->path);
        break;
    case CFG_SRC_ENV:
        fprintf(ck->out, "<env>: %s: ", k->env);
        break;
    case CFG_SRC_OVERRIDE:
        fprintf(ck->out, "<override>: %s: ", k->path);
        break;
    case CFG_SRC_DEFAULT:
        fprintf(ck->out, "<default>: %s: ", k->path);
        break;
    }
    va_start(ap, fmt);
    vfprintf(ck->out, fmt, ap);
    va_end(ap);
    fputc('\n', ck->out);
}

/* Quote v for a message: URL credentials masked, at most 60 bytes, no control characters. */
static const char *
chk_quote(const char *v, char *buf, size_t size)
{
    char *r = cfg_redact_urls(v);
    const char *s = r ? r : "";
    size_t i = 0, j = 0;

    buf[j++] = '"';
    for (; s[i] && j + 5 < size && i < 60; i++)
        buf[j++] = iscntrl((unsigned char) s[i]) ? '?' : s[i];
    if (s[i]) {
        memcpy(buf + j, "...", 3);
        j += 3;
    }
    buf[j++] = '"';
    buf[j] = '\0';
    free(r);
    return buf;
}

static int
chk_key(const char *path)
{
    int ki = cfg_key_find(path);

    /* a typo here is a programming error caught by the unit tests */
    return ki < 0 ? 0 : ki;
}

static const char *
chk_str(const struct cdc_config *cfg, int ki)
{
    return *(char *const *) ((const char *) cfg + cfg_keys[ki].off);
}

static void
chk_report_empty(struct cfg_checker *ck, int ki)
{
    const struct cfg_origin *o = &ck->cfg->origin[ki];
    const struct cfg_key *k = &cfg_keys[ki];

    if (o->unset_var[0])
        chk_problem(ck, ki, 0, "is empty (${%s} is %s)", o->unset_var,
                    o->var_was_empty ? "set but empty" : "not set");
    else if (o->src == CFG_SRC_DEFAULT && k->env)
        chk_problem(ck, ki, 0, "is required (set it in the file, with %s or with -X %s=...)",
                    k->env, k->path);
    else if (o->src == CFG_SRC_DEFAULT)
        chk_problem(ck, ki, 0, "is required (set it in the file or with -X %s=...)", k->path);
    else
        chk_problem(ck, ki, 0, "is empty");
}

/* A required string key; returns its value if present, else NULL (after reporting). */
static const char *
chk_required(struct cfg_checker *ck, const char *path)
{
    int ki = chk_key(path);
    const char *v = chk_str(ck->cfg, ki);

    if (v == NULL || *v == '\0') {
        chk_report_empty(ck, ki);
        return NULL;
    }
    return v;
}

static void
chk_int_range(struct cfg_checker *ck, int ki, int64_t v)
{
    const struct cfg_key *k = &cfg_keys[ki];

    if (v >= k->min && v <= k->max)
        return;
    if (k->type == CFG_T_DUR)
        chk_problem(ck, ki, 0, "must be %s, got %lldms",
                    k->min > 0 ? "a positive duration" : "a duration >= 0", (long long) v);
    else if (k->max >= INT32_MAX && k->type == CFG_T_INT)
        chk_problem(ck, ki, 0, "must be an integer >= %lld, got %lld", (long long) k->min,
                    (long long) v);
    else
        chk_problem(ck, ki, 0, "must be an integer between %lld and %lld, got %lld",
                    (long long) k->min, (long long) k->max, (long long) v);
}

static void
chk_enum(struct cfg_checker *ck, int ki, int v)
{
    int n = 0;

    while (cfg_keys[ki].names[n])
        n++;
    if (v < 0 || v >= n)
        chk_problem(ck, ki, 0, "invalid value %d", v);
}

static void
chk_word(struct cfg_checker *ck, int ki)
{
    const char *v = chk_str(ck->cfg, ki);
    char q[80];

    if (v == NULL || *v == '\0') {
        chk_report_empty(ck, ki);
        return;
    }
    for (int i = 0; cfg_keys[ki].names[i]; i++)
        if (strcmp(v, cfg_keys[ki].names[i]) == 0)
            return;
    chk_problem(ck, ki, 0, "invalid value %s", chk_quote(v, q, sizeof(q)));
}

/* Ranges and enums, for configurations that were not (only) loaded by cfg_load(). */
static void
chk_types(struct cfg_checker *ck)
{
    for (int i = 0; i < CFG_NKEYS; i++) {
        const void *f = (const char *) ck->cfg + cfg_keys[i].off;

        switch (cfg_keys[i].type) {
        case CFG_T_INT:
            chk_int_range(ck, i, *(const int *) f);
            break;
        case CFG_T_DUR:
        case CFG_T_I64:
        case CFG_T_SIZE:
            chk_int_range(ck, i, *(const int64_t *) f);
            break;
        case CFG_T_ENUM:
            chk_enum(ck, i, *(const int *) f);
            break;
        case CFG_T_WORD:
            chk_word(ck, i);
            break;
        default:
            break;
        }
    }
}

static bool
chk_is_port(const char *s)
{
    long v = 0;

    if (*s == '\0' || strlen(s) > 5 || strspn(s, "0123456789") != strlen(s))
        return false;
    v = strtol(s, NULL, 10);
    return v >= 1 && v <= 65535;
}

/* nats://..., tls://... or HOST:PORT. */
static bool
chk_is_nats_url(const char *u)
{
    const char *colon;

    if (strpbrk(u, " \t\r\n") != NULL)
        return false;
    if (strncmp(u, "nats://", 7) == 0)
        return u[7] != '\0';
    if (strncmp(u, "tls://", 6) == 0)
        return u[6] != '\0';
    if (strstr(u, "://") != NULL || strchr(u, '/') != NULL)
        return false;
    colon = strrchr(u, ':');
    return colon != NULL && colon != u && chk_is_port(colon + 1);
}

static void
chk_nats_urls(struct cfg_checker *ck)
{
    int ki = chk_key("nats.urls");
    const struct cfg_strlist *l = &ck->cfg->nats.urls;
    char q[80];

    if (l->n == 0) {
        chk_report_empty(ck, ki);
        return;
    }
    for (int i = 0; i < l->n; i++)
        if (!chk_is_nats_url(l->items[i]))
            chk_problem(ck, ki, l->lines ? l->lines[i] : 0,
                        "%s is not a NATS server URL (expected nats://HOST:PORT, "
                        "tls://HOST:PORT or HOST:PORT)",
                        chk_quote(l->items[i], q, sizeof(q)));
}

/* cdc.table_filters, cdc.table_excludes: each item a pattern of transform/filter.h. */
static void
chk_patterns(struct cfg_checker *ck, const char *path, const struct cfg_strlist *l)
{
    int ki = chk_key(path);

    for (int i = 0; i < l->n; i++) {
        struct cdc_err perr = {0};

        if (l->items[i] == NULL || l->items[i][0] == '\0')
            chk_problem(ck, ki, l->lines ? l->lines[i] : 0, "item %d is empty", i + 1);
        else if (filter_pattern_check(l->items[i], &perr) != CDC_OK)
            chk_problem(ck, ki, l->lines ? l->lines[i] : 0, "item %d: %s", i + 1, perr.msg);
    }
}

/* cdc.operations: at least one, each a known operation. */
static void
chk_operations(struct cfg_checker *ck)
{
    const struct cfg_strlist *l = &ck->cfg->cdc.operations;
    int ki = chk_key("cdc.operations");
    char q[80];

    if (l->n == 0)
        chk_problem(ck, ki, 0,
                    "is empty: list the operations to publish (insert, update, delete, truncate, "
                    "ddl)");
    for (int i = 0; i < l->n; i++) {
        enum cdc_op op;

        if (!filter_op_parse(l->items[i], &op))
            chk_problem(ck, ki, l->lines ? l->lines[i] : 0,
                        "unknown operation %s: use insert, update, delete, truncate or ddl",
                        chk_quote(l->items[i] ? l->items[i] : "", q, sizeof(q)));
    }
}

static void
chk_slot_name(struct cfg_checker *ck)
{
    const char *v = chk_required(ck, "cdc.slot_name");
    char q[80];

    if (v == NULL)
        return;
    if (strlen(v) > 63 || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(v))
        chk_problem(ck, chk_key("cdc.slot_name"), 0,
                    "must be 1 to 63 characters among a-z, 0-9 and _, got %s",
                    chk_quote(v, q, sizeof(q)));
}

/* A NATS subject token: not empty, no whitespace, no wildcards, no dots. */
static bool
chk_is_token(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (isspace((unsigned char) s[i]) || iscntrl((unsigned char) s[i]) || s[i] == '*' ||
            s[i] == '>' || s[i] == '.')
            return false;
    return true;
}

static void
chk_subject_prefix(struct cfg_checker *ck)
{
    const char *v = chk_required(ck, "nats.subject_prefix"), *p;
    char q[80];

    if (v == NULL)
        return;
    for (p = v;; p = strchr(p, '.') + 1) {
        const char *dot = strchr(p, '.');

        if (!chk_is_token(p, dot ? (size_t) (dot - p) : strlen(p))) {
            chk_problem(ck, chk_key("nats.subject_prefix"), 0,
                        "must be NATS subject tokens separated by dots, without spaces or "
                        "wildcards, got %s",
                        chk_quote(v, q, sizeof(q)));
            return;
        }
        if (dot == NULL)
            return;
    }
}

static void
chk_stream(struct cfg_checker *ck)
{
    const char *v = chk_required(ck, "nats.stream");
    char q[80];

    if (v != NULL && (!chk_is_token(v, strlen(v)) || strpbrk(v, "/\\") != NULL))
        chk_problem(ck, chk_key("nats.stream"), 0,
                    "must be a stream name without spaces, dots, wildcards or slashes, got %s",
                    chk_quote(v, q, sizeof(q)));
}

static void
chk_source_name(struct cfg_checker *ck)
{
    int ki = chk_key("cdc.source_name");
    const char *v = ck->cfg->cdc.source_name;
    char q[80];

    if (v == NULL || *v == '\0') {
        /* it defaults to rds.database: report only if that is not already reported */
        if (ck->cfg->origin[ki].src != CFG_SRC_DEFAULT)
            chk_report_empty(ck, ki);
        return;
    }
    if (!chk_is_token(v, strlen(v)))
        chk_problem(ck, ki, 0,
                    "must be one NATS subject token (no dots, spaces or wildcards), got %s%s",
                    chk_quote(v, q, sizeof(q)),
                    ck->cfg->origin[ki].src == CFG_SRC_DEFAULT
                        ? " (it defaults to rds.database: set cdc.source_name)"
                        : "");
}

/* The claim-check bucket: an Object Store bucket name ([A-Za-z0-9_-]), or "" for none. */
static void
chk_claim_bucket(struct cfg_checker *ck)
{
    const char *v = ck->cfg->cdc.claim_check_bucket;
    char q[80];

    if (v == NULL || *v == '\0')
        return;
    if (strlen(v) > 64 ||
        strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(v))
        chk_problem(ck, chk_key("cdc.claim_check_bucket"), 0,
                    "must be an object store bucket name (letters, digits, '_' and '-', at most "
                    "64), or \"\" to turn claim checks off, got %s",
                    chk_quote(v, q, sizeof(q)));
}

/* The checkpoint key: one of the key and the key file, and it parses (never echoed). */
static void
chk_ckpt_key(struct cfg_checker *ck)
{
    const char *kt = ck->cfg->cdc.checkpoint_encryption_key;
    const char *kf = ck->cfg->cdc.checkpoint_encryption_key_file;
    unsigned char key[CKPT_KEY_LEN];
    struct cdc_err e;

    if (kt != NULL && *kt != '\0' && kf != NULL && *kf != '\0') {
        chk_problem(ck, chk_key("cdc.checkpoint_encryption_key_file"), 0,
                    "cannot be set together with cdc.checkpoint_encryption_key: set one of them");
        return;
    }
    if (kt != NULL && *kt != '\0' && ckpt_key_parse(kt, strlen(kt), key, &e) != CDC_OK)
        chk_problem(ck, chk_key("cdc.checkpoint_encryption_key"), 0, "%s", e.msg);
    else if (kf != NULL && *kf != '\0' && ckpt_key_read_file(kf, key, &e) != CDC_OK)
        chk_problem(ck, chk_key("cdc.checkpoint_encryption_key_file"), 0, "%s", e.msg);
    OPENSSL_cleanse(key, sizeof(key));
}

static bool
chk_is_set(const char *v)
{
    return v != NULL && *v != '\0';
}

/* IAM auth: TLS and a region. */
static void
chk_rds_auth(struct cfg_checker *ck)
{
    const struct cdc_config *cfg = ck->cfg;

    if (cfg->rds.auth != CFG_AUTH_IAM)
        return;
    if (cfg->rds.ssl_mode == CFG_SSL_DISABLE)
        chk_problem(ck, chk_key("rds.auth"), 0,
                    "iam needs TLS: RDS refuses IAM tokens on a plaintext connection; set "
                    "rds.ssl_mode to verify-full (or require, verify-ca)");
    if (!chk_is_set(cfg->rds.region))
        chk_problem(ck, chk_key("rds.auth"), 0,
                    "iam needs rds.region (AWS_RDS_REGION): the token is signed for a region");
}

/* At most one way to authenticate to NATS. */
static void
chk_nats_auth(struct cfg_checker *ck)
{
    static const char *const methods[] = {"nats.username", "nats.token", "nats.nkey_seed_file",
                                          "nats.credentials_file"};
    const char *first = NULL;

    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        int ki = chk_key(methods[i]);

        if (!chk_is_set(chk_str(ck->cfg, ki)))
            continue;
        if (first == NULL)
            first = methods[i];
        else
            chk_problem(ck, ki, 0,
                        "cannot be combined with %s: choose one NATS authentication method", first);
    }
    if (chk_is_set(ck->cfg->nats.password) && !chk_is_set(ck->cfg->nats.username))
        chk_problem(ck, chk_key("nats.password"), 0, "is set but nats.username is not");
}

/* A file the daemon will read: it must be readable now (its content is never echoed). */
static void
chk_readable(struct cfg_checker *ck, const char *path)
{
    int ki = chk_key(path);
    const char *v = chk_str(ck->cfg, ki);
    char q[80];
    FILE *f;

    if (!chk_is_set(v))
        return;
    f = fopen(v, "rb");
    if (f == NULL)
        chk_problem(ck, ki, 0, "could not read %s: %s", chk_quote(v, q, sizeof(q)),
                    strerror(errno));
    else
        fclose(f);
}

static void
chk_files(struct cfg_checker *ck)
{
    static const char *const files[] = {"rds.ssl_root_cert",     "nats.nkey_seed_file",
                                        "nats.credentials_file", "nats.tls.ca_file",
                                        "nats.tls.cert_file",    "nats.tls.key_file"};
    const struct cdc_config *cfg = ck->cfg;

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        chk_readable(ck, files[i]);
    if (chk_is_set(cfg->nats.tls_cert_file) != chk_is_set(cfg->nats.tls_key_file))
        chk_problem(ck,
                    chk_key(chk_is_set(cfg->nats.tls_cert_file) ? "nats.tls.cert_file"
                                                                : "nats.tls.key_file"),
                    0, "nats.tls.cert_file and nats.tls.key_file go together (mutual TLS)");
}

/* nats.subject_template: tokens known, N in range, covered by the stream's "{prefix}.>". */
static void
chk_subject_template(struct cfg_checker *ck)
{
    const struct cdc_config *cfg = ck->cfg;
    struct subj_tmpl t;
    struct cdc_err e;

    if (!chk_is_set(cfg->nats.subject_prefix))
        return; /* reported as required already */
    if (subj_tmpl_compile(&t, cfg->nats.subject_template, cfg->nats.subject_prefix, &e) != CDC_OK)
        chk_problem(ck, chk_key("nats.subject_template"), 0, "%s", e.msg);
}

/* cdc.metadata: names not empty (values may be). */
static void
chk_metadata(struct cfg_checker *ck)
{
    const struct cfg_strmap *m = &ck->cfg->cdc.metadata;

    for (int i = 0; i < m->n; i++)
        if (m->keys[i] == NULL || m->keys[i][0] == '\0')
            chk_problem(ck, chk_key("cdc.metadata"), m->lines ? m->lines[i] : 0,
                        "entry %d has an empty name", i + 1);
}

/* A hash rule needs the key and its id; report at the first hash rule's line. */
static void
chk_hash_key(struct cfg_checker *ck, int item, int line)
{
    const struct cdc_config *cfg = ck->cfg;
    int ki = chk_key("cdc.sensitive_fields");

    if (item > 0 && !chk_is_set(cfg->cdc.sensitive_hash_key))
        chk_problem(ck, ki, line,
                    "item %d: hash needs a key: set cdc.sensitive_hash_key (or SENSITIVE_HASH_KEY, "
                    "SENSITIVE_HASH_KEY_FILE)",
                    item);
    if (item > 0 && !chk_is_set(cfg->cdc.sensitive_hash_key_id))
        chk_problem(ck, ki, line,
                    "item %d: hash needs a key id: set cdc.sensitive_hash_key_id (or "
                    "SENSITIVE_HASH_KEY_ID)",
                    item);
    /* the key is never echoed, not even its length */
    if (chk_is_set(cfg->cdc.sensitive_hash_key) &&
        strlen(cfg->cdc.sensitive_hash_key) < REDACT_KEY_MIN)
        chk_problem(ck, chk_key("cdc.sensitive_hash_key"), 0, "must be at least %d bytes",
                    REDACT_KEY_MIN);
}

/* Every cdc.sensitive_fields item parses as a rule (transform/redact.h). */
static void
chk_sensitive(struct cfg_checker *ck)
{
    const struct cdc_config *cfg = ck->cfg;
    const struct cfg_strlist *l = &cfg->cdc.sensitive_fields;
    int ki = chk_key("cdc.sensitive_fields"), hash_item = 0, hash_line = 0;
    const char *id = cfg->cdc.sensitive_hash_key_id;
    char q[80];

    for (int i = 0; i < l->n; i++) {
        int line = l->lines ? l->lines[i] : 0;
        struct redact_spec sp;
        struct cdc_err err;

        if (l->items[i] == NULL || l->items[i][0] == '\0')
            chk_problem(ck, ki, line, "item %d is empty", i + 1);
        else if (redact_parse_item(l->items[i], &sp, &err) != CDC_OK)
            chk_problem(ck, ki, line, "item %d: %s", i + 1, err.msg);
        else if (sp.action == REDACT_A_HASH && hash_item == 0) {
            hash_item = i + 1;
            hash_line = line;
        }
    }
    chk_hash_key(ck, hash_item, hash_line);
    if (chk_is_set(id) && !redact_key_id_is_valid(id))
        chk_problem(ck, chk_key("cdc.sensitive_hash_key_id"), 0,
                    "must be 1 to %d characters among A-Z, a-z, 0-9, _, . and -, got %s",
                    REDACT_KEY_ID_MAX, chk_quote(id, q, sizeof(q)));
}

cdc_rc
cfg_check(const struct cdc_config *cfg, FILE *errout, struct cdc_err *err)
{
    struct cfg_checker ck = {cfg, errout, 0};

    (void) chk_required(&ck, "rds.endpoint");
    (void) chk_required(&ck, "rds.database");
    (void) chk_required(&ck, "rds.username");
    (void) chk_required(&ck, "cdc.checkpoint_storage");
    (void) chk_required(&ck, "cdc.publication");
    chk_ckpt_key(&ck);
    chk_types(&ck);
    chk_nats_urls(&ck);
    chk_stream(&ck);
    chk_subject_prefix(&ck);
    chk_subject_template(&ck);
    chk_slot_name(&ck);
    chk_source_name(&ck);
    chk_claim_bucket(&ck);
    if (cfg->cdc.retry_backoff_max_ms < cfg->cdc.retry_backoff_base_ms)
        chk_problem(&ck, chk_key("cdc.retry_backoff_max"), 0,
                    "must be at least cdc.retry_backoff_base (%lld ms), got %lld ms",
                    (long long) cfg->cdc.retry_backoff_base_ms,
                    (long long) cfg->cdc.retry_backoff_max_ms);
    chk_patterns(&ck, "cdc.table_filters", &cfg->cdc.table_filters);
    chk_patterns(&ck, "cdc.table_excludes", &cfg->cdc.table_excludes);
    chk_operations(&ck);
    chk_sensitive(&ck);
    chk_metadata(&ck);
    chk_rds_auth(&ck);
    chk_nats_auth(&ck);
    chk_files(&ck);
    if (ck.problems > 0)
        return cdc_err_set(err, CDC_ERR_CONFIG, "%d problem%s in the configuration", ck.problems,
                           ck.problems == 1 ? "" : "s");
    return CDC_OK;
}
