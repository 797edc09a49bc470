/* reference.c: reference outputs and latency with their caches. See
 * reference.h. Not thread-safe.
 */
#include "reference.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guard.h"
#include "jsonio.h"
#include "log.h"
#include "timing.h"
#include "pack.h"
#include "safetensors.h"
#include "sha256.h"
#include "xalloc.h"

int ev_ref_open(const char *kernels_dir, const struct kf_definition *def, const char *arch,
                const char *cache_dir, struct ev_ref **out, struct kf_err *err)
{
    struct ev_ref *r = xcalloc(1, sizeof *r);
    char *dir = xasprintf("%s/reference/%s", kernels_dir ? kernels_dir : "kernels", def->name);
    json_t *j = NULL;
    char *dump = NULL;
    struct ev_sha256 h;
    int rc;
    *out = NULL;
    if ((rc = kf_pack_dir(dir, &j, err))) {
        kf_err_set(err, rc, dir, "no usable reference kernel for %s: %s", def->name, err ? err->msg : "");
        goto out;
    }
    /* the reference is named after its directory's definition */
    if (!json_object_get(j, "definition"))
        json_object_set_new(j, "definition", json_string(def->name));
    if ((rc = kf_solution_from_json(j, &r->sol, err))) {
        kf_err_prefix(err, dir);
        goto out;
    }
    if ((rc = kf_solution_check(r->sol, def, err))) {
        kf_err_prefix(err, dir);
        goto out;
    }
    dump = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    ev_sha256_init(&h);
    ev_sha256_str(&h, dump);
    ev_sha256_hex(&h, r->version);
    if ((rc = ev_prog_build(&r->prog, r->sol, arch, cache_dir, err))) {
        log_error("reference", "reference kernel failed to compile def=%s log=%s", def->name,
                  r->prog.build.log ? r->prog.build.log : "");
        goto out;
    }
out:
    free(dir);
    free(dump);
    json_decref(j);
    if (rc)
        ev_ref_close(r, 1);
    else
        *out = r;
    return rc;
}

void ev_ref_close(struct ev_ref *r, int skip_cuda)
{
    if (!r)
        return;
    ev_prog_free(&r->prog, skip_cuda);
    kf_solution_free(r->sol);
    free(r);
}

void ev_ref_result_free(struct ev_ref_result *res)
{
    for (int i = 0; i < res->nout; i++)
        free(res->out[i]);
    free(res->out);
    free(res->samples_ms);
    memset(res, 0, sizeof *res);
}

static char *cache_path(const char *cache_dir, const char *sub, const char *hex, const char *ext)
{
    char *dir = xasprintf("%s/%s", cache_dir, sub), *p;
    mkdir(cache_dir, 0755);
    mkdir(dir, 0755);
    p = xasprintf("%s/%s%s", dir, hex, ext);
    free(dir);
    return p;
}

static void out_key(const struct ev_ref *r, const struct kf_definition *def, const struct kf_workload *w,
                    uint64_t seed, char hex[65])
{
    struct ev_sha256 h;
    json_t *wj = kf_workload_to_json(w);
    char *wd = json_dumps(wj, JSON_COMPACT | JSON_SORT_KEYS), sb[32];
    ev_sha256_init(&h);
    ev_sha256_str(&h, "kernelfarm-ref-out-v1");
    ev_sha256_str(&h, def->name);
    ev_sha256_str(&h, wd);
    snprintf(sb, sizeof sb, "%016llx", (unsigned long long)seed);
    ev_sha256_str(&h, sb);
    ev_sha256_str(&h, r->version);
    ev_sha256_hex(&h, hex);
    free(wd);
    json_decref(wj);
}

static int load_cached(const char *path, const struct kf_definition *def, const struct kf_binding *b,
                       struct ev_ref_result *res)
{
    struct kf_safetensors *st = NULL;
    struct kf_err e = {0};
    if (access(path, R_OK) != 0 || kf_st_read(path, 0, &st, &e) != 0)
        return -1;
    res->out = xcalloc((size_t)def->noutputs + 1, sizeof *res->out);
    res->nout = def->noutputs;
    for (int i = 0; i < def->noutputs; i++) {
        const struct kf_st_tensor *t = kf_st_find(st, def->outputs[i].name);
        if (!t || t->nbytes != b->outputs[i].nbytes) {
            kf_st_free(st);
            ev_ref_result_free(res);
            return -1;
        }
        res->out[i] = xmalloc(t->nbytes ? t->nbytes : 1);
        memcpy(res->out[i], kf_st_data(st, t), t->nbytes);
    }
    kf_st_free(st);
    res->cached = 1;
    return 0;
}

static void save_cached(const char *path, const struct kf_definition *def, const struct kf_binding *b,
                        const struct ev_ref_result *res)
{
    struct kf_st_writer *wr = kf_st_writer_new();
    struct kf_err e = {0};
    char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
    for (int i = 0; i < def->noutputs; i++)
        kf_st_writer_add(wr, def->outputs[i].name, def->outputs[i].dtype, b->outputs[i].ndim,
                         b->outputs[i].dims, res->out[i], b->outputs[i].nbytes);
    if (kf_st_writer_save(wr, tmp, &e) == 0 && rename(tmp, path) == 0)
        log_debug("reference", "cached outputs path=%s", path);
    else {
        log_warn("reference", "cannot cache reference outputs path=%s err=%s", path, e.msg);
        unlink(tmp);
    }
    free(tmp);
    kf_st_writer_free(wr);
}

int ev_ref_run(struct ev_ref *r, struct ev_dev *d, struct ev_timer *tm, const struct kf_definition *def,
               const struct kf_workload *w, const struct kf_binding *b, struct ev_tensors *in,
               uint64_t trial_seed, const struct ev_config *cfg, const char *cache_dir,
               struct ev_ref_result *res, struct kf_err *err)
{
    char hex[65], *path = NULL, msg[256];
    struct ev_plan *plan = NULL;
    struct ev_tensors *out = NULL;
    struct ev_call call;
    CUresult cu, r2;
    int rc = 0, viol = 0;
    memset(res, 0, sizeof *res);
    memset(&call, 0, sizeof call);
    if (cache_dir) {
        out_key(r, def, w, trial_seed, hex);
        path = cache_path(cache_dir, "ref", hex, ".safetensors");
        if (!tm && load_cached(path, def, b, res) == 0)
            goto out;
    }
    if ((rc = ev_prog_plan(&r->prog, d, def, b, &plan, err)))
        goto out;
    if ((rc = ev_outputs_make(d, def, b, NULL, &out, err)))
        goto out;
    if ((cu = ev_poison_outputs(d, def, out)) != CUDA_SUCCESS ||
        (cu = ev_guard_snapshot(d, in, out)) != CUDA_SUCCESS) {
        rc = ev_cu_err(err, cu, "reference setup");
        goto out;
    }
    rc = ev_call_make(&call, d, plan, in, out, &cu, err);
    plan = NULL;
    if (rc)
        goto out;
    if ((cu = ev_call_run(&call, d->stream)) != CUDA_SUCCESS || (cu = cuCtxSynchronize()) != CUDA_SUCCESS) {
        rc = ev_cu_err(err, cu, "reference run");
        goto out;
    }
    if ((r2 = ev_guard_check(d, def, in, out, &viol, msg, sizeof msg)) != CUDA_SUCCESS) {
        rc = ev_cu_err(err, r2, "reference guard check");
        goto out;
    }
    if (viol) {
        rc = kf_err_set(err, KF_EIO, "reference", "reference kernel misbehaved: %s", msg);
        goto out;
    }
    if ((rc = ev_tensors_download(d, out, err)))
        goto out;
    res->nout = def->noutputs;
    res->out = xcalloc((size_t)def->noutputs + 1, sizeof *res->out);
    for (int i = 0; i < def->noutputs; i++) {
        res->out[i] = out->buf[i].host;
        out->buf[i].host = NULL;
    }
    if (path)
        save_cached(path, def, b, res);
    if (tm) {
        CUresult re;
        res->samples_ms = xcalloc((size_t)cfg->iterations, sizeof *res->samples_ms);
        if ((rc = ev_timer_measure(tm, d, ev_call_run, &call, cfg->warmup, cfg->iterations,
                                   res->samples_ms, &res->clk, &re, err)))
            goto out;
        res->nsamples = cfg->iterations;
        res->timed = 1;
    }
out:
    ev_call_free(&call, 0);
    ev_plan_free(plan);
    /* Reference outputs never stay on the GPU, not even in freed memory a
     * solution could read: scrub, then free. */
    for (int i = 0; out && i < out->n; i++)
        if (out->present[i] && out->buf[i].nbytes)
            cuMemsetD8Async(out->buf[i].ptr, 0, out->buf[i].nbytes, d->stream);
    if (out)
        cuStreamSynchronize(d->stream);
    ev_tensors_free(out);
    free(path);
    if (rc)
        ev_ref_result_free(res);
    return rc;
}

static char *lat_path(const struct ev_ref *r, const char *cache_dir, const struct kf_definition *def,
                      const struct kf_workload *w, const char *hardware, const struct ev_config *cfg)
{
    struct ev_sha256 h;
    char hex[65], buf[64];
    ev_sha256_init(&h);
    ev_sha256_str(&h, "kernelfarm-ref-latency-v3");   /* v3: the L2 flush mode is part of the key */
    ev_sha256_str(&h, ev_l2_flush_mode());
    ev_sha256_str(&h, def->name);
    ev_sha256_str(&h, w->uuid);
    ev_sha256_str(&h, hardware);
    ev_sha256_str(&h, r->version);
    snprintf(buf, sizeof buf, "%d/%d/%d", cfg->warmup, cfg->iterations, cfg->trials);
    ev_sha256_str(&h, buf);
    ev_sha256_hex(&h, hex);
    return cache_path(cache_dir, "reflat", hex, ".json");
}

int ev_ref_latency_get(const struct ev_ref *r, const char *cache_dir, const struct kf_definition *def,
                       const struct kf_workload *w, const char *hardware, const struct ev_config *cfg,
                       double *ms)
{
    char *p;
    json_t *j;
    int rc = KF_ENOENT;
    if (!cache_dir)
        return KF_ENOENT;
    p = lat_path(r, cache_dir, def, w, hardware, cfg);
    if (access(p, R_OK) == 0 && (j = kf_json_load_file(p, 1 << 16, NULL))) {
        json_t *v = json_object_get(j, "latency_ms");
        if (json_is_number(v) && json_number_value(v) > 0) {
            *ms = json_number_value(v);
            rc = 0;
        }
        json_decref(j);
    }
    free(p);
    return rc;
}

void ev_ref_latency_put(const struct ev_ref *r, const char *cache_dir, const struct kf_definition *def,
                        const struct kf_workload *w, const char *hardware, const struct ev_config *cfg,
                        double ms)
{
    char *p, *tmp;
    json_t *j;
    if (!cache_dir || !(ms > 0))
        return;
    p = lat_path(r, cache_dir, def, w, hardware, cfg);
    tmp = xasprintf("%s.tmp.%d", p, (int)getpid());
    j = json_pack("{s:s, s:s, s:s, s:f}", "definition", def->name, "workload", w->uuid, "hardware",
                  hardware, "latency_ms", ms);
    if (json_dump_file(j, tmp, JSON_COMPACT) == 0)
        rename(tmp, p);
    else
        unlink(tmp);
    json_decref(j);
    free(tmp);
    free(p);
}
