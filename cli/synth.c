/* synth.c: `kf synth --out DIR [--seed N]`: write a FlashInfer-Trace dataset
 * for the definitions bundled in dataset/ (definitions/<op_type>/<name>.json)
 * with the workloads listed in dataset/axes/<name>.tsv (uuid, var-axis
 * values, scalar inputs), and synthetic but realistic inputs:
 *
 *   DIR/definitions/<op_type>/<name>.json
 *   DIR/workloads/<op_type>/<name>.jsonl     one wrapped workload per line
 *   DIR/blob/workloads/<op_type>/<name>/<name>_<hex>.safetensors
 *
 * Inputs whose values must have structure are written as safetensors blobs
 * (sparse indices, block tables and sequence lengths that agree, cu_seqlens,
 * L2-normalised GDN queries and keys, MoE routing logits and bias); scalars
 * as "scalar"; every other tensor stays "random" (the evaluator draws it).
 * Everything derives from the seed through a counter-based stream per
 * (definition, workload, purpose), so the output is identical for a seed
 * whatever the order of generation. See docs/dataset.md. Single-threaded.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "dtype.h"
#include "jsonio.h"
#include "kf_err.h"
#include "model.h"
#include "safetensors.h"
#include "synth.h"
#include "xalloc.h"

#ifndef KF_SOURCE_DIR
#define KF_SOURCE_DIR "."
#endif

#define SYNTH_MAX_ROWS 4096
#define SYNTH_DEFAULT_QK_TOKENS 1024

/* ---- dataset writing ---------------------------------------------------------- */

struct synth {
    const char *out;          /* output root */
    const char *src;          /* bundled dataset root */
    uint64_t seed;
    int64_t max_qk_tokens;    /* GDN prefill: q blobs up to this many tokens (k always) */
    int nworkloads, nblobs;
    uint64_t nbytes;          /* blob bytes written */
    /* per definition */
    const struct kf_definition *def;
    char *blob_dir;           /* DIR/blob/workloads/<op_type>/<name> */
    char *blob_rel;           /* ./blob/workloads/<op_type>/<name> */
    int64_t *shared_keys; char **shared_paths; int nshared;   /* shared q/k blobs */
    int nqk_random;
};

/* One workload under construction. */
struct wl {
    int index;
    const char *uuid;
    int64_t *axv;              /* value per definition axis */
    json_t **in;               /* per definition input: its descriptor, or NULL */
    struct kf_st_writer *st;   /* this workload's own blob (lazily) */
    char *st_rel;              /* its path as written in the workload */
    char *st_abs;
};

static int mkdirs(const char *path)
{
    char *p = xstrdup(path);
    for (char *q = p + 1; *q; q++) {
        if (*q != '/')
            continue;
        *q = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            free(p);
            return KF_EIO;
        }
        *q = '/';
    }
    int rc = mkdir(p, 0777) != 0 && errno != EEXIST ? KF_EIO : 0;
    free(p);
    return rc;
}

static char *blob_name(struct synth *s, const char *purpose, uint64_t index)
{
    struct kf_synth_rng r;
    char *tag = xasprintf("%s/%s", s->def->name, purpose);
    kf_synth_rng_init(&r, s->seed, tag, index);
    free(tag);
    uint64_t a = kf_synth_next(&r), b = kf_synth_next(&r);
    return xasprintf("%s_%016" PRIx64 "%016" PRIx64 ".safetensors", s->def->name, a, b);
}

static int axis_value(const struct wl *w, const struct kf_definition *d, const char *name, int64_t *v)
{
    for (int i = 0; i < d->naxes; i++)
        if (strcmp(d->axes[i].name, name) == 0) {
            *v = w->axv[i];
            return 0;
        }
    return KF_ENOENT;
}

static int64_t ax(const struct wl *w, const struct kf_definition *d, const char *name)
{
    int64_t v = 0;
    if (axis_value(w, d, name, &v) != 0) {
        fprintf(stderr, "kf synth: %s has no axis %s\n", d->name, name);
        abort();   /* the plans below name only axes of their own definition */
    }
    return v;
}

/* Shape of input idx under the workload's axes; returns numel. */
static int64_t input_shape(const struct wl *w, const struct kf_definition *d, int idx,
                           int64_t *dims, int *ndim)
{
    const struct kf_tensor_spec *t = &d->inputs[idx];
    int64_t numel = 1;
    *ndim = t->ndim;
    for (int i = 0; i < t->ndim; i++) {
        dims[i] = ax(w, d, t->shape[i]);
        numel *= dims[i];
    }
    return numel;
}

static int input_idx(const struct kf_definition *d, const char *name)
{
    int i = kf_definition_input_index(d, name);
    if (i < 0) {
        fprintf(stderr, "kf synth: %s has no input %s\n", d->name, name);
        abort();
    }
    return i;
}

static json_t *st_desc(const char *path, const char *key)
{
    return json_pack("{s:s,s:s,s:s}", "type", "safetensors", "path", path, "tensor_key", key);
}

/* Put a tensor into the workload's own blob; its shape comes from the definition. */
static void wl_blob(struct synth *s, struct wl *w, const char *name, const void *data, size_t nbytes)
{
    const struct kf_definition *d = s->def;
    int idx = input_idx(d, name), ndim;
    int64_t dims[KF_MAX_DIMS];
    input_shape(w, d, idx, dims, &ndim);
    if (!w->st) {
        char *fn = blob_name(s, "blob", (uint64_t)w->index);
        w->st = kf_st_writer_new();
        w->st_rel = xasprintf("%s/%s", s->blob_rel, fn);
        w->st_abs = xasprintf("%s/%s", s->blob_dir, fn);
        free(fn);
    }
    kf_st_writer_add(w->st, name, d->inputs[idx].dtype, ndim, dims, data, nbytes);
    json_decref(w->in[idx]);
    w->in[idx] = st_desc(w->st_rel, name);
}

static void wl_scalar(struct synth *s, struct wl *w, const char *name, double v)
{
    int idx = input_idx(s->def, name);
    json_decref(w->in[idx]);
    w->in[idx] = json_pack("{s:s,s:f}", "type", "scalar", "value", v);
}

static int save_blob(struct synth *s, struct kf_st_writer *st, const char *path, struct kf_err *err)
{
    int rc = kf_st_writer_save(st, path, err);
    if (rc == 0) {
        struct stat sb;
        if (stat(path, &sb) == 0)
            s->nbytes += (uint64_t)sb.st_size;
        s->nblobs++;
    }
    return rc;
}

/* ---- per-definition plans -------------------------------------------------- */

static int plan_moe(struct synth *s, struct wl *w, struct kf_err *err)
{
    const struct kf_definition *d = s->def;
    int64_t T = ax(w, d, "seq_len"), E = ax(w, d, "num_experts");
    struct kf_synth_rng r;
    kf_synth_rng_init(&r, s->seed, d->name, (uint64_t)w->index);
    /* Router logits: a per-expert popularity plus per-token noise, so that
     * some experts are hot, as in real traffic. The bias is the small
     * load-balancing correction DeepSeek-V3 learns per expert. */
    float *pop = xmalloc((size_t)E * sizeof *pop);
    float *logits = xmalloc((size_t)(T * E) * sizeof *logits);
    uint16_t *bias = xmalloc((size_t)E * sizeof *bias);
    for (int64_t e = 0; e < E; e++)
        pop[e] = (float)(0.75 * kf_synth_normal(&r));
    for (int64_t t = 0; t < T; t++)
        for (int64_t e = 0; e < E; e++)
            logits[t * E + e] = pop[e] + (float)(1.5 * kf_synth_normal(&r));
    for (int64_t e = 0; e < E; e++)
        bias[e] = kf_f32_to_bf16((float)(0.05 * kf_synth_normal(&r)));
    wl_blob(s, w, "routing_logits", logits, (size_t)(T * E) * sizeof *logits);
    wl_blob(s, w, "routing_bias", bias, (size_t)E * sizeof *bias);
    wl_scalar(s, w, "routed_scaling_factor", 2.5);
    free(pop);
    free(logits);
    free(bias);
    (void)err;
    return 0;
}

static int plan_dsa_attention(struct synth *s, struct wl *w, struct kf_err *err)
{
    const struct kf_definition *d = s->def;
    int64_t T = ax(w, d, "num_tokens"), P = ax(w, d, "num_pages"), K = ax(w, d, "topk");
    int64_t ps = ax(w, d, "page_size");
    if (P < 2)
        return kf_err_set(err, KF_EINVAL, "axes.num_pages", "needs at least 2 pages");
    struct kf_synth_rng r;
    kf_synth_rng_init(&r, s->seed, d->name, (uint64_t)w->index);
    int32_t *idx = xmalloc((size_t)(T * K) * sizeof *idx);
    for (int64_t t = 0; t < T; t++) {
        /* Each token sees a context of L tokens spread over its own pages; the
         * indexer picked min(L, topk) of them. Half the contexts are shorter
         * than topk, so the valid count varies and -1 padding appears. */
        int64_t L = kf_synth_below(&r, 2) ? kf_synth_range(&r, 1, K - 1)
                                          : kf_synth_range(&r, K, 4 * K);
        if (L > (P - 1) * ps)
            L = (P - 1) * ps;
        int64_t n = L < K ? L : K;
        kf_synth_paged_slots(&r, P, ps, L, n, K, idx + t * K);
    }
    wl_blob(s, w, "sparse_indices", idx, (size_t)(T * K) * sizeof *idx);
    wl_scalar(s, w, "sm_scale", 1.0 / sqrt(192.0));
    free(idx);
    return 0;
}

static int plan_dsa_indexer(struct synth *s, struct wl *w, struct kf_err *err)
{
    const struct kf_definition *d = s->def;
    int64_t B = ax(w, d, "batch_size"), M = ax(w, d, "max_num_pages"), P = ax(w, d, "num_pages");
    int64_t ps = ax(w, d, "page_size");
    if (B * M > P - 1)
        return kf_err_set(err, KF_EINVAL, "axes.num_pages",
                          "%" PRId64 " pages cannot hold %" PRId64 " x %" PRId64, P, B, M);
    struct kf_synth_rng r;
    kf_synth_rng_init(&r, s->seed, d->name, (uint64_t)w->index);
    int32_t *lens = xmalloc((size_t)B * sizeof *lens);
    int32_t *table = xmalloc((size_t)(B * M) * sizeof *table);
    kf_synth_block_table(&r, B, M, P, ps, lens, table);
    wl_blob(s, w, "seq_lens", lens, (size_t)B * sizeof *lens);
    wl_blob(s, w, "block_table", table, (size_t)(B * M) * sizeof *table);
    free(lens);
    free(table);
    return 0;
}

static void unit_qk(struct synth *s, struct wl *w, struct kf_synth_rng *r, uint16_t **q,
                    uint16_t **k, size_t *nbytes)
{
    int iq = input_idx(s->def, "q"), ik = input_idx(s->def, "k"), ndim;
    int64_t dims[KF_MAX_DIMS];
    int64_t nq = input_shape(w, s->def, iq, dims, &ndim), dim = dims[ndim - 1];
    int64_t nk = input_shape(w, s->def, ik, dims, &ndim);
    *q = xmalloc((size_t)nq * 2);
    *k = xmalloc((size_t)nk * 2);
    kf_synth_unit_bf16(r, nq / dim, dim, *q);
    kf_synth_unit_bf16(r, nk / dim, dim, *k);
    nbytes[0] = (size_t)nq * 2;
    nbytes[1] = (size_t)nk * 2;
}

static int plan_gdn_decode(struct synth *s, struct wl *w, struct kf_err *err)
{
    struct kf_synth_rng r;
    uint16_t *q, *k;
    size_t nb[2];
    kf_synth_rng_init(&r, s->seed, s->def->name, (uint64_t)w->index);
    unit_qk(s, w, &r, &q, &k, nb);
    wl_blob(s, w, "q", q, nb[0]);
    wl_blob(s, w, "k", k, nb[1]);
    wl_scalar(s, w, "scale", 1.0 / sqrt((double)ax(w, s->def, "head_size")));
    free(q);
    free(k);
    (void)err;
    return 0;
}

static int plan_gdn_prefill(struct synth *s, struct wl *w, struct kf_err *err)
{
    const struct kf_definition *d = s->def;
    int64_t T = ax(w, d, "total_seq_len"), N = ax(w, d, "num_seqs");
    int64_t len = ax(w, d, "len_cu_seqlens");
    if (N < 1 || N > T || len != N + 1)
        return kf_err_set(err, KF_EINVAL, "axes",
                          "cannot split %" PRId64 " tokens into %" PRId64 " sequences"
                          " with %" PRId64 " boundaries", T, N, len);
    struct kf_synth_rng r;
    kf_synth_rng_init(&r, s->seed, d->name, (uint64_t)w->index);
    int64_t *cu = xmalloc((size_t)(N + 1) * sizeof *cu);
    kf_synth_cu_seqlens(&r, T, N, cu);
    wl_blob(s, w, "cu_seqlens", cu, (size_t)(N + 1) * sizeof *cu);
    free(cu);
    wl_scalar(s, w, "scale", 1.0 / sqrt((double)ax(w, d, "head_size")));

    /* Keys must have unit norm or the recurrence blows up (random N(0,1)
     * keys of width 128 overflow float32 within a few hundred tokens); the
     * query only scales the output. Above max_qk_tokens only k is written
     * and q stays random, which keeps the dataset to tens of MB. */
    bool with_q = s->max_qk_tokens < 0 || T <= s->max_qk_tokens;
    int iq = input_idx(d, "q"), ik = input_idx(d, "k"), ndim;
    if (!with_q)
        s->nqk_random++;
    /* q and k depend only on the token count: workloads of equal length share
     * one blob, which keeps the dataset small. */
    for (int i = 0; i < s->nshared; i++)
        if (s->shared_keys[i] == T) {
            if (with_q) {
                json_decref(w->in[iq]);
                w->in[iq] = st_desc(s->shared_paths[i], "q");
            }
            json_decref(w->in[ik]);
            w->in[ik] = st_desc(s->shared_paths[i], "k");
            return 0;
        }
    uint16_t *q, *k;
    size_t nb[2];
    struct kf_synth_rng rq;
    kf_synth_rng_init(&rq, s->seed, "gdn_prefill_qk", (uint64_t)T);
    unit_qk(s, w, &rq, &q, &k, nb);
    int64_t dims[KF_MAX_DIMS];
    struct kf_st_writer *st = kf_st_writer_new();
    if (with_q) {
        input_shape(w, d, iq, dims, &ndim);
        kf_st_writer_add(st, "q", d->inputs[iq].dtype, ndim, dims, q, nb[0]);
    }
    input_shape(w, d, ik, dims, &ndim);
    kf_st_writer_add(st, "k", d->inputs[ik].dtype, ndim, dims, k, nb[1]);
    free(q);
    free(k);
    char *fn = blob_name(s, with_q ? "qk" : "k", (uint64_t)T);
    char *abs = xasprintf("%s/%s", s->blob_dir, fn);
    char *rel = xasprintf("%s/%s", s->blob_rel, fn);
    free(fn);
    int rc = save_blob(s, st, abs, err);
    kf_st_writer_free(st);
    free(abs);
    if (rc != 0) {
        free(rel);
        return rc;
    }
    s->shared_keys = xrealloc(s->shared_keys, (size_t)(s->nshared + 1) * sizeof *s->shared_keys);
    s->shared_paths = xrealloc(s->shared_paths, (size_t)(s->nshared + 1) * sizeof *s->shared_paths);
    s->shared_keys[s->nshared] = T;
    s->shared_paths[s->nshared++] = rel;
    if (with_q) {
        json_decref(w->in[iq]);
        w->in[iq] = st_desc(rel, "q");
    }
    json_decref(w->in[ik]);
    w->in[ik] = st_desc(rel, "k");
    return 0;
}

struct plan {
    const char *prefix;   /* definition names starting with this */
    int (*fill)(struct synth *s, struct wl *w, struct kf_err *err);
};

static const struct plan plans[] = {
    {"moe_fp8_block_scale_ds_routing", plan_moe},
    {"dsa_sparse_attention_", plan_dsa_attention},
    {"dsa_topk_indexer_", plan_dsa_indexer},
    {"gdn_decode_", plan_gdn_decode},
    {"gdn_prefill_", plan_gdn_prefill},
};

/* ---- the axes table ---------------------------------------------------------- */

struct table {
    char **cols; int ncols;
    char ***rows; int nrows;   /* rows[i][c] */
};

static void table_free(struct table *t)
{
    for (int i = 0; i < t->ncols; i++)
        free(t->cols[i]);
    free(t->cols);
    for (int r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++)
            free(t->rows[r][c]);
        free(t->rows[r]);
    }
    free(t->rows);
    memset(t, 0, sizeof *t);
}

static int split_tabs(char *line, char ***out)
{
    int n = 1;
    for (char *p = line; *p; p++)
        n += *p == '\t';
    char **f = xcalloc((size_t)n, sizeof *f);
    int i = 0;
    for (char *tok = line;; i++) {
        char *tab = strchr(tok, '\t');
        if (tab)
            *tab = '\0';
        f[i] = xstrdup(tok);
        if (!tab)
            break;
        tok = tab + 1;
    }
    *out = f;
    return n;
}

static int table_read(const char *path, struct table *t, struct kf_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return kf_err_set(err, KF_ENOENT, path, "cannot open: %s", strerror(errno));
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0, rc = 0;
    while ((n = getline(&buf, &cap, f)) >= 0) {
        lineno++;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
            buf[--n] = '\0';
        if (n == 0 || buf[0] == '#')
            continue;
        char **fields;
        int nf = split_tabs(buf, &fields);
        if (!t->cols) {
            t->cols = fields;
            t->ncols = nf;
            continue;
        }
        if (nf != t->ncols || t->nrows >= SYNTH_MAX_ROWS) {
            for (int i = 0; i < nf; i++)
                free(fields[i]);
            free(fields);
            rc = kf_err_set(err, KF_EINVAL, path, "line %d: %s", lineno,
                            nf != t->ncols ? "wrong number of columns" : "too many rows");
            goto out;
        }
        t->rows = xrealloc(t->rows, (size_t)(t->nrows + 1) * sizeof *t->rows);
        t->rows[t->nrows++] = fields;
    }
    if (!t->cols || strcmp(t->cols[0], "uuid") != 0)
        rc = kf_err_set(err, KF_EINVAL, path, "the first column must be uuid");
out:
    free(buf);
    fclose(f);
    if (rc)
        table_free(t);
    return rc;
}

static int parse_i64(const char *s, int64_t *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return KF_EINVAL;
    *v = x;
    return 0;
}

/* Move err's JSON path into its message and make `where` (a file, a row)
 * its path, for "error <where>: <json-path>: <reason>". */
static void err_at(struct kf_err *e, const char *where)
{
    char msg[sizeof e->msg];
    size_t n = 0;
    if (e->path[0]) {
        size_t lp = strnlen(e->path, sizeof e->path);
        n = lp < sizeof msg - 3 ? lp : sizeof msg - 3;
        memcpy(msg, e->path, n);
        msg[n++] = ':';
        msg[n++] = ' ';
    }
    size_t lm = strnlen(e->msg, sizeof e->msg);
    if (lm > sizeof msg - 1 - n)
        lm = sizeof msg - 1 - n;
    memcpy(msg + n, e->msg, lm);
    msg[n + lm] = '\0';
    memcpy(e->msg, msg, sizeof msg);
    size_t lw = strlen(where);
    if (lw > sizeof e->path - 1)
        lw = sizeof e->path - 1;
    memcpy(e->path, where, lw);
    e->path[lw] = '\0';
}

/* ---- one definition ---------------------------------------------------------- */

static int write_json_file(const json_t *j, const char *path, struct kf_err *err)
{
    char *tmp = xasprintf("%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    int rc = 0;
    if (!f || json_dumpf(j, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0 || fputc('\n', f) == EOF)
        rc = kf_err_set(err, KF_EIO, path, "cannot write: %s", strerror(errno));
    if (f && fclose(f) != 0 && rc == 0)
        rc = kf_err_set(err, KF_EIO, path, "cannot write: %s", strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = kf_err_set(err, KF_EIO, path, "cannot rename: %s", strerror(errno));
    if (rc)
        unlink(tmp);
    free(tmp);
    return rc;
}

/* Remove blobs of an earlier run (other seed) from this definition's blob dir. */
static void clean_blob_dir(const char *dir, const char *name)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = strlen(name);
    while (d && (de = readdir(d)) != NULL) {
        const char *fn = de->d_name;
        size_t len = strlen(fn);
        if (strncmp(fn, name, n) == 0 && fn[n] == '_' && len > 12 &&
            strcmp(fn + len - 12, ".safetensors") == 0) {
            char *p = xasprintf("%s/%s", dir, fn);
            unlink(p);
            free(p);
        }
    }
    if (d)
        closedir(d);
}

static int synth_workload(struct synth *s, const struct plan *plan, const struct table *t, int row,
                          FILE *out, struct kf_err *err)
{
    const struct kf_definition *d = s->def;
    struct wl w = {0};
    json_t *line = NULL, *axes = json_object(), *inputs = json_object();
    int rc = 0;
    char path[64];

    w.index = row;
    w.uuid = t->rows[row][0];
    w.axv = xcalloc((size_t)d->naxes, sizeof *w.axv);
    w.in = xcalloc((size_t)(d->ninputs ? d->ninputs : 1), sizeof *w.in);
    for (int i = 0; i < d->naxes; i++)
        w.axv[i] = d->axes[i].is_const ? d->axes[i].value : -1;

    for (int c = 1; c < t->ncols; c++) {
        const char *col = t->cols[c], *val = t->rows[row][c];
        int ai = -1, ii = kf_definition_input_index(d, col);
        for (int i = 0; i < d->naxes; i++)
            if (strcmp(d->axes[i].name, col) == 0)
                ai = i;
        snprintf(path, sizeof path, "column %.50s", col);
        if (ai >= 0 && !d->axes[ai].is_const) {
            if (parse_i64(val, &w.axv[ai]) != 0 || w.axv[ai] < 0) {
                rc = kf_err_set(err, KF_EINVAL, path, "%s: not a non-negative integer: '%s'", col, val);
                goto out;
            }
            json_object_set_new(axes, col, json_integer(w.axv[ai]));
        } else if (ii >= 0 && d->inputs[ii].is_scalar) {
            enum kf_dtype dt = d->inputs[ii].dtype;
            int64_t iv;
            char *end;
            if (dt == KF_DT_BOOL) {
                bool b = strcmp(val, "true") == 0 || strcmp(val, "1") == 0;
                w.in[ii] = json_pack("{s:s,s:b}", "type", "scalar", "value", b);
            } else if (!kf_dtype_is_float(dt) && parse_i64(val, &iv) == 0) {
                w.in[ii] = json_pack("{s:s,s:I}", "type", "scalar", "value", (json_int_t)iv);
            } else {
                double x = strtod(val, &end);
                if (end == val || *end || !kf_dtype_is_float(dt)) {
                    rc = kf_err_set(err, KF_EINVAL, path, "%s: bad %s scalar '%s'", col,
                                    kf_dtype_name(dt), val);
                    goto out;
                }
                w.in[ii] = json_pack("{s:s,s:f}", "type", "scalar", "value", x);
            }
        } else {
            rc = kf_err_set(err, KF_EINVAL, path,
                            "column %s is neither a var axis nor a scalar input of %s", col, d->name);
            goto out;
        }
    }
    for (int i = 0; i < d->naxes; i++)
        if (w.axv[i] < 0) {
            snprintf(path, sizeof path, "axes.%.50s", d->axes[i].name);
            rc = kf_err_set(err, KF_EINVAL, path, "no value for var axis %s", d->axes[i].name);
            goto out;
        }

    if (plan && (rc = plan->fill(s, &w, err)) != 0)
        goto out;

    for (int i = 0; i < d->ninputs; i++) {
        if (!w.in[i] && d->inputs[i].is_scalar) {
            rc = kf_err_set(err, KF_EINVAL, d->inputs[i].name,
                            "scalar input has no value (add a column to the axes table)");
            goto out;
        }
        json_object_set_new(inputs, d->inputs[i].name,
                            w.in[i] ? json_incref(w.in[i]) : json_pack("{s:s}", "type", "random"));
    }
    if (w.st && (rc = save_blob(s, w.st, w.st_abs, err)) != 0)
        goto out;

    line = json_pack("{s:s,s:{s:s,s:O,s:O},s:n,s:n}", "definition", d->name, "workload", "uuid",
                     w.uuid, "axes", axes, "inputs", inputs, "solution", "evaluation");
    char *text = kf_json_dumps(line);
    if (fprintf(out, "%s\n", text) < 0)
        rc = kf_err_set(err, KF_EIO, NULL, "cannot write the workloads file");
    free(text);
    s->nworkloads++;
out:
    json_decref(line);
    json_decref(axes);
    json_decref(inputs);
    for (int i = 0; i < d->ninputs; i++)
        json_decref(w.in[i]);
    free(w.in);
    free(w.axv);
    kf_st_writer_free(w.st);
    free(w.st_rel);
    free(w.st_abs);
    return rc;
}

static int synth_definition(struct synth *s, const char *def_path, struct kf_err *err)
{
    struct kf_definition *d = NULL;
    struct table t = {0};
    json_t *j = NULL;
    FILE *out = NULL;
    char *dir = NULL, *path = NULL, *axes_path = NULL, *wl_path = NULL, *tmp = NULL;
    int rc, nw0 = s->nworkloads, nb0 = s->nblobs;
    uint64_t bytes0 = s->nbytes;

    if (!(j = kf_json_load_file(def_path, 0, err))) {
        rc = err->code ? err->code : KF_EINVAL;
        goto out;
    }
    if ((rc = kf_definition_from_json(j, &d, err)) != 0) {
        err_at(err, def_path);
        goto out;
    }
    s->def = d;
    const struct plan *plan = NULL;
    for (size_t i = 0; i < sizeof plans / sizeof plans[0]; i++)
        if (strncmp(d->name, plans[i].prefix, strlen(plans[i].prefix)) == 0)
            plan = &plans[i];

    axes_path = xasprintf("%s/axes/%s.tsv", s->src, d->name);
    if ((rc = table_read(axes_path, &t, err)) != 0)
        goto out;
    printf("synth %s: %d workloads%s\n", d->name, t.nrows, plan ? "" : " (no input plan: all random)");
    fflush(stdout);

    dir = xasprintf("%s/definitions/%s", s->out, d->op_type);
    path = xasprintf("%s/%s.json", dir, d->name);
    if (mkdirs(dir) != 0 || (rc = write_json_file(j, path, err)) != 0) {
        rc = rc ? rc : kf_err_set(err, KF_EIO, dir, "cannot create: %s", strerror(errno));
        goto out;
    }
    free(dir);
    dir = xasprintf("%s/workloads/%s", s->out, d->op_type);
    s->blob_dir = xasprintf("%s/blob/workloads/%s/%s", s->out, d->op_type, d->name);
    s->blob_rel = xasprintf("./blob/workloads/%s/%s", d->op_type, d->name);
    if (mkdirs(dir) != 0 || mkdirs(s->blob_dir) != 0) {
        rc = kf_err_set(err, KF_EIO, s->blob_dir, "cannot create: %s", strerror(errno));
        goto out;
    }
    clean_blob_dir(s->blob_dir, d->name);
    wl_path = xasprintf("%s/%s.jsonl", dir, d->name);
    tmp = xasprintf("%s.tmp", wl_path);
    if (!(out = fopen(tmp, "w"))) {
        rc = kf_err_set(err, KF_EIO, tmp, "cannot create: %s", strerror(errno));
        goto out;
    }
    for (int r = 0; r < t.nrows; r++) {
        if ((rc = synth_workload(s, plan, &t, r, out, err)) != 0) {
            char *where = xasprintf("%s: workload %s", axes_path, t.rows[r][0]);
            err_at(err, where);
            free(where);
            goto out;
        }
        if ((r + 1) % 25 == 0 && r + 1 < t.nrows) {
            printf("  %d/%d workloads, %.1f MB\n", r + 1, t.nrows,
                   (double)(s->nbytes - bytes0) / 1e6);
            fflush(stdout);
        }
    }
    if (fclose(out) != 0) {
        out = NULL;
        rc = kf_err_set(err, KF_EIO, wl_path, "cannot write: %s", strerror(errno));
        goto out;
    }
    out = NULL;
    if (rename(tmp, wl_path) != 0) {
        rc = kf_err_set(err, KF_EIO, wl_path, "cannot rename: %s", strerror(errno));
        goto out;
    }
    printf("  wrote %s: %d workloads, %d blobs, %.1f MB", wl_path, s->nworkloads - nw0,
           s->nblobs - nb0, (double)(s->nbytes - bytes0) / 1e6);
    if (s->nqk_random)
        printf(" (q random, k a blob, in %d workloads over %" PRId64 " tokens)", s->nqk_random,
               s->max_qk_tokens);
    printf("\n");
out:
    if (out) {
        fclose(out);
        unlink(tmp);
    }
    for (int i = 0; i < s->nshared; i++)
        free(s->shared_paths[i]);
    free(s->shared_paths);
    free(s->shared_keys);
    s->shared_paths = NULL;
    s->shared_keys = NULL;
    s->nshared = 0;
    s->nqk_random = 0;
    free(s->blob_dir);
    free(s->blob_rel);
    s->blob_dir = s->blob_rel = NULL;
    s->def = NULL;
    table_free(&t);
    kf_definition_free(d);
    json_decref(j);
    free(dir);
    free(path);
    free(axes_path);
    free(wl_path);
    free(tmp);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* All <src>/definitions/<op_type>/<name>.json, sorted. */
static int list_definitions(const char *src, char ***out, int *n, struct kf_err *err)
{
    char *base = xasprintf("%s/definitions", src);
    DIR *d = opendir(base);
    struct dirent *de;
    char **v = NULL;
    int count = 0;
    if (!d) {
        kf_err_set(err, KF_ENOENT, base, "cannot open: %s", strerror(errno));
        free(base);
        return KF_ENOENT;
    }
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *sub = xasprintf("%s/%s", base, de->d_name);
        DIR *d2 = opendir(sub);
        struct dirent *e2;
        while (d2 && (e2 = readdir(d2)) != NULL) {
            size_t len = strlen(e2->d_name);
            if (e2->d_name[0] == '.' || len < 6 || strcmp(e2->d_name + len - 5, ".json") != 0)
                continue;
            v = xrealloc(v, (size_t)(count + 1) * sizeof *v);
            v[count++] = xasprintf("%s/%s", sub, e2->d_name);
        }
        if (d2)
            closedir(d2);
        free(sub);
    }
    closedir(d);
    free(base);
    qsort(v, (size_t)count, sizeof *v, cmp_str);
    *out = v;
    *n = count;
    return 0;
}

static void synth_usage(FILE *f)
{
    fprintf(f,
            "usage: kf synth --out DIR [--seed N] [--from SRC] [--only NAME] [--max-qk-tokens N] [--json]\n\n"
            "Write a FlashInfer-Trace dataset for the bundled contest definitions:\n"
            "DIR/definitions/, DIR/workloads/ (the contest's workload uuids and axis values)\n"
            "and DIR/blob/ (safetensors inputs with realistic structure). The same seed\n"
            "gives the same bytes.\n\n"
            "  --out DIR            output root (created)\n"
            "  --seed N             random seed (default 1)\n"
            "  --from SRC           bundled dataset: SRC/definitions/ and SRC/axes/<name>.tsv\n"
            "                       (default %s/dataset)\n"
            "  --only NAME          only the definition NAME (repeatable)\n"
            "  --max-qk-tokens N    GDN prefill: unit-norm q as a blob only up to N tokens;\n"
            "                       longer workloads get a unit-norm k blob and a random q\n"
            "                       (default %d; -1 = q blobs for all)\n",
            KF_SOURCE_DIR, SYNTH_DEFAULT_QK_TOKENS);
}

int kf_cmd_synth(int argc, char **argv)
{
    struct synth s = {.seed = 1, .max_qk_tokens = SYNTH_DEFAULT_QK_TOKENS,
                      .src = KF_SOURCE_DIR "/dataset"};
    struct kf_err err = {0};
    const char **only = xcalloc((size_t)argc, sizeof *only);
    char **defs = NULL;
    int nonly = 0, ndefs = 0, rc = 2, ndone = 0, saved_stdout = -1;
    bool js = false;

    if (kf_cli_wants_help(argc, argv)) {
        synth_usage(stdout);
        rc = 0;
        goto out;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t n;
        if (strcmp(a, "--json") == 0) {
            js = true;
            continue;
        }
        if (strcmp(a, "--out") == 0 && v) {
            s.out = v;
        } else if (strcmp(a, "--from") == 0 && v) {
            s.src = v;
        } else if (strcmp(a, "--only") == 0 && v) {
            only[nonly++] = v;
        } else if (strcmp(a, "--seed") == 0 && v) {
            char *end;
            errno = 0;
            s.seed = strtoull(v, &end, 0);
            if (errno || *end || end == v) {
                fprintf(stderr, "kf synth: bad --seed '%s'\n", v);
                goto out;
            }
        } else if (strcmp(a, "--max-qk-tokens") == 0 && v) {
            if (parse_i64(v, &n) != 0 || n < -1) {
                fprintf(stderr, "kf synth: bad --max-qk-tokens '%s'\n", v);
                goto out;
            }
            s.max_qk_tokens = n;
        } else {
            fprintf(stderr, "kf synth: unknown or incomplete option '%s'\n", a);
            synth_usage(stderr);
            goto out;
        }
        i++;
    }
    if (!s.out) {
        fprintf(stderr, "kf synth: --out DIR is required\n");
        synth_usage(stderr);
        goto out;
    }
    rc = 1;
    if (js) {
        /* progress lines go to stderr; stdout gets the JSON summary only */
        fflush(stdout);
        saved_stdout = dup(1);
        dup2(2, 1);
    }
    if (mkdirs(s.out) != 0) {
        fprintf(stderr, "error %s: cannot create: %s\n", s.out, strerror(errno));
        goto out;
    }
    if (list_definitions(s.src, &defs, &ndefs, &err) != 0) {
        fprintf(stderr, "error %s: %s\n", err.path, err.msg);
        goto out;
    }
    printf("synth: %d definitions from %s into %s, seed %" PRIu64 "\n", ndefs, s.src, s.out,
           s.seed);
    for (int i = 0; i < ndefs; i++) {
        if (nonly) {
            const char *base = strrchr(defs[i], '/') + 1;
            bool want = false;
            for (int k = 0; k < nonly; k++)
                want |= strncmp(base, only[k], strlen(only[k])) == 0 &&
                        strcmp(base + strlen(only[k]), ".json") == 0;
            if (!want)
                continue;
        }
        kf_err_clear(&err);
        if (synth_definition(&s, defs[i], &err) != 0) {
            fprintf(stderr, "error %s: %s\n", err.path[0] ? err.path : defs[i], err.msg);
            goto out;
        }
        ndone++;
    }
    if (nonly && ndone != nonly) {
        fprintf(stderr, "error: --only matched %d of %d definitions\n", ndone, nonly);
        goto out;
    }
    printf("synth: wrote %s: %d definitions, %d workloads, %d blobs, %.1f MB\n", s.out, ndone,
           s.nworkloads, s.nblobs, (double)s.nbytes / 1e6);
    rc = 0;
    if (js) {
        fflush(stdout);
        dup2(saved_stdout, 1);
        close(saved_stdout);
        saved_stdout = -1;
        json_t *o = json_pack("{s:s, s:I, s:i, s:i, s:i, s:I}", "out", s.out, "seed",
                              (json_int_t)s.seed, "definitions", ndone, "workloads",
                              s.nworkloads, "blobs", s.nblobs, "bytes", (json_int_t)s.nbytes);
        char *t = json_dumps(o, JSON_PRESERVE_ORDER);
        puts(t);
        free(t);
        json_decref(o);
    }
out:
    if (saved_stdout >= 0) {
        fflush(stdout);
        dup2(saved_stdout, 1);
        close(saved_stdout);
    }
    for (int i = 0; i < ndefs; i++)
        free(defs[i]);
    free(defs);
    free(only);
    return rc;
}
