/* lane_nvrtc.c: the nvrtc lane (DESIGN.md "Solution lanes"): device code
 * compiled by NVRTC on the judge's side (cached cubins), loaded as modules
 * in the runner, called through the solution's launch plan replayed as a
 * CUDA graph. No submitted code runs on the host. Not thread-safe.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lane.h"
#include "program.h"
#include "xalloc.h"

#define MAX_CUBIN_FILE ((long)256 << 20)

struct nv_lane {
    struct ev_dev *dev;             /* borrowed */
    const struct kf_definition *def;
    struct ev_prog prog;
    struct ev_call call;
    struct ev_tensors in, out;      /* views of the judge's buffers (nothing owned on the device) */
    int bound;
};

static int nv_build(const struct kf_solution *sol, const struct kf_definition *def,
                    const char *arch, const char *cache_dir, char ***artifacts, int *nartifacts,
                    char **log, struct kf_err *err)
{
    struct ev_build b;
    int rc;
    (void)def;
    *artifacts = NULL;
    *nartifacts = 0;
    *log = NULL;
    if (!cache_dir)
        return kf_err_set(err, KF_EINVAL, "cache", "the nvrtc lane needs a cache directory for its cubins");
    rc = ev_nvrtc_build(sol, arch, cache_dir, &b, err);
    if (rc) {
        *log = b.log ? xstrdup(b.log) : NULL;
        ev_build_free(&b);
        return rc == KF_EINVAL ? KF_EINVAL : rc;
    }
    *artifacts = xcalloc((size_t)b.ncubins + 1, sizeof **artifacts);
    for (int i = 0; i < b.ncubins; i++) {
        if (!b.cubins[i].path) {
            ev_lane_artifacts_free(*artifacts, *nartifacts);
            *artifacts = NULL;
            *nartifacts = 0;
            ev_build_free(&b);
            return kf_err_set(err, KF_EIO, "cache", "cannot write the cubin of %s into the cache",
                              sol->sources[0].path);
        }
        (*artifacts)[(*nartifacts)++] = xstrdup(b.cubins[i].path);
    }
    if (b.log && *b.log)
        *log = xstrdup(b.log);
    ev_build_free(&b);
    return 0;
}

static int read_file(const char *path, void **data, size_t *size, struct kf_err *err)
{
    FILE *f = fopen(path, "rb");
    long n;
    if (!f)
        return kf_err_set(err, KF_EINVAL, path, "cannot open artifact %s", path);
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) <= 0 || n > MAX_CUBIN_FILE ||
        fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return kf_err_set(err, KF_EINVAL, path, "artifact %s is empty or too large", path);
    }
    *data = xmalloc((size_t)n);
    if (fread(*data, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(*data);
        *data = NULL;
        return kf_err_set(err, KF_EINVAL, path, "cannot read artifact %s", path);
    }
    fclose(f);
    *size = (size_t)n;
    return 0;
}

static void nv_close(void *lane, int ctx_lost);

static int nv_open(struct ev_dev *d, const struct kf_solution *sol, const struct kf_definition *def,
                   char *const *artifacts, int nartifacts, void **lane, struct kf_err *err)
{
    struct nv_lane *L = xcalloc(1, sizeof *L);
    int rc = 0;
    L->dev = d;
    L->def = def;
    L->prog.sol = sol;
    L->prog.build.cubins = xcalloc((size_t)nartifacts + 1, sizeof *L->prog.build.cubins);
    for (int i = 0; i < nartifacts && !rc; i++) {
        struct ev_cubin *c = &L->prog.build.cubins[L->prog.build.ncubins++];
        c->tu = xstrdup(artifacts[i]);
        rc = read_file(artifacts[i], &c->data, &c->size, err);
    }
    if (!rc && (rc = ev_prog_load(&L->prog, err)) != 0)
        rc = KF_EINVAL;   /* a cubin that does not load is the solution's */
    if (rc) {
        nv_close(L, 0);
        L = NULL;
    }
    *lane = L;
    return rc;
}

static void views_free(struct ev_tensors *t)
{
    free(t->buf);
    free(t->present);
    free(t->scalar_f);
    free(t->scalar_i);
    memset(t, 0, sizeof *t);
}

static void views_make(struct ev_tensors *t, const struct ev_tensor_desc *d, int n)
{
    t->n = n;
    t->hooked = -1;
    t->buf = xcalloc((size_t)n + 1, sizeof *t->buf);
    t->present = xcalloc((size_t)n + 1, sizeof *t->present);
    t->scalar_f = xcalloc((size_t)n + 1, sizeof *t->scalar_f);
    t->scalar_i = xcalloc((size_t)n + 1, sizeof *t->scalar_i);
    for (int i = 0; i < n; i++) {
        t->buf[i].ptr = d[i].ptr;
        t->buf[i].nbytes = d[i].nbytes;
        t->present[i] = d[i].ptr != 0;
        t->scalar_f[i] = d[i].scalar_f;
        t->scalar_i[i] = d[i].scalar_i;
    }
}

static void nv_unbind(void *lane, int ctx_lost)
{
    struct nv_lane *L = lane;
    if (!L || !L->bound)
        return;
    ev_call_free(&L->call, ctx_lost);
    views_free(&L->in);
    views_free(&L->out);
    L->bound = 0;
}

static int nv_bind(void *lane, const struct ev_call_desc *c, CUresult *cu, struct kf_err *err)
{
    struct nv_lane *L = lane;
    struct ev_plan *plan = NULL;
    int rc;
    *cu = CUDA_SUCCESS;
    nv_unbind(L, 0);
    views_make(&L->in, c->in, c->def->ninputs);
    views_make(&L->out, c->out, c->def->noutputs);
    L->bound = 1;
    if ((rc = ev_prog_plan(&L->prog, L->dev, c->def, c->b, &plan, err)))
        return rc;
    return ev_call_make(&L->call, L->dev, plan, &L->in, &L->out, cu, err);
}

static CUresult nv_run(void *lane, CUstream s)
{
    struct nv_lane *L = lane;
    return ev_call_run(&L->call, s);
}

static void nv_close(void *lane, int ctx_lost)
{
    struct nv_lane *L = lane;
    if (!L)
        return;
    nv_unbind(L, ctx_lost);
    ev_prog_free(&L->prog, ctx_lost);
    free(L);
}

const struct ev_lane_ops ev_lane_nvrtc = {
    .name = "nvrtc",
    .build = nv_build,
    .open = nv_open,
    .bind = nv_bind,
    .run = nv_run,
    .unbind = nv_unbind,
    .close = nv_close,
};
