/* launch.c: build, marshal and launch nvrtc-lane launch plans. See launch.h.
 * Not thread-safe while building; a loaded plan may be enqueued from one
 * thread at a time.
 */
#include "launch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xalloc.h"

static int eval_lexpr(const struct kf_lexpr *e, struct kf_bind_env *env, int64_t *out,
                      const char *path, struct kf_err *err)
{
    int rc;
    if (!e->expr)
        return kf_err_set(err, KF_EINVAL, path, "missing expression");
    rc = kf_expr_eval(e->expr, kf_bind_env_resolve, env, out, err);
    if (rc) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
        return kf_err_set(err, rc, path, "cannot evaluate '%s': %s", e->src ? e->src : "?", msg);
    }
    return 0;
}

static int dims(const struct kf_lexpr *e, int n, unsigned out[3], const int64_t maxv[3],
                struct kf_bind_env *env, const char *what, int step, bool *empty, struct kf_err *err)
{
    char path[96];
    out[0] = out[1] = out[2] = 1;
    for (int i = 0; i < n && i < 3; i++) {
        int64_t v;
        snprintf(path, sizeof path, "spec.launch[%d].%s[%d]", step, what, i);
        if (eval_lexpr(&e[i], env, &v, path, err))
            return err ? err->code : KF_EINVAL;
        if (v < 0 || v > maxv[i])
            return kf_err_set(err, KF_EINVAL, path, "%s = %lld is outside [0, %lld]", e[i].src,
                              (long long)v, (long long)maxv[i]);
        if (v == 0) {
            if (empty)
                *empty = true;
            else
                return kf_err_set(err, KF_EINVAL, path, "%s dimension is 0", what);
        }
        out[i] = (unsigned)v;
    }
    return 0;
}

static void put(unsigned char buf[8], const void *v, unsigned n)
{
    memset(buf, 0, 8);
    memcpy(buf, v, n);
}

int ev_plan_build(const struct kf_solution *sol, const struct kf_definition *def,
                  const struct kf_binding *b, const char *const *fact_names,
                  const int64_t *fact_values, const struct ev_limits *lim, struct ev_plan **out,
                  struct kf_err *err)
{
    struct kf_bind_env env = {b, fact_names, fact_values};
    struct ev_plan *p = xcalloc(1, sizeof *p);
    const struct kf_solution_spec *sp = &sol->spec;
    static const int64_t gmax[3] = {2147483647LL, 65535, 65535};
    static const int64_t bmax[3] = {1024, 1024, 64};
    char path[96];
    int rc = 0;

    p->def = def;
    if (sp->nlaunch <= 0) {
        rc = kf_err_set(err, KF_EINVAL, "spec.launch", "the nvrtc lane needs a launch plan");
        goto out;
    }
    p->nws = sp->nworkspace;
    p->ws_bytes = xcalloc((size_t)p->nws + 1, sizeof *p->ws_bytes);
    p->ws_zero = xcalloc((size_t)p->nws + 1, sizeof *p->ws_zero);
    for (int i = 0; i < p->nws; i++) {
        int64_t v;
        snprintf(path, sizeof path, "spec.workspace[%d].bytes", i);
        if ((rc = eval_lexpr(&sp->workspace[i].bytes, &env, &v, path, err)))
            goto out;
        if (v < 0 || (lim->max_workspace > 0 && v > lim->max_workspace)) {
            rc = kf_err_set(err, KF_ETOOBIG, path, "workspace of %lld bytes (limit %lld)",
                            (long long)v, (long long)lim->max_workspace);
            goto out;
        }
        p->ws_bytes[i] = (size_t)(v > 0 ? v : 1);
        p->ws_zero[i] = sp->workspace[i].zero;
    }
    p->nsteps = sp->nlaunch;
    p->steps = xcalloc((size_t)p->nsteps, sizeof *p->steps);
    for (int s = 0; s < p->nsteps; s++) {
        const struct kf_launch_step *ls = &sp->launch[s];
        struct ev_step *st = &p->steps[s];
        int64_t threads, smem = 0;
        st->kernel = ls->kernel;
        if ((rc = dims(ls->grid, ls->ngrid, st->grid, gmax, &env, "grid", s, &st->skip, err)) ||
            (rc = dims(ls->block, ls->nblock, st->block, bmax, &env, "block", s, NULL, err)))
            goto out;
        threads = (int64_t)st->block[0] * st->block[1] * st->block[2];
        if (threads > lim->max_threads_block) {
            snprintf(path, sizeof path, "spec.launch[%d].block", s);
            rc = kf_err_set(err, KF_EINVAL, path, "%lld threads per block (limit %lld)",
                            (long long)threads, (long long)lim->max_threads_block);
            goto out;
        }
        if (ls->shared_mem_bytes.src) {
            snprintf(path, sizeof path, "spec.launch[%d].shared_mem_bytes", s);
            if ((rc = eval_lexpr(&ls->shared_mem_bytes, &env, &smem, path, err)))
                goto out;
            if (smem < 0 || smem > lim->max_smem) {
                rc = kf_err_set(err, KF_EINVAL, path, "%lld bytes of dynamic shared memory (limit %lld)",
                                (long long)smem, (long long)lim->max_smem);
                goto out;
            }
        }
        st->smem = (unsigned)smem;
        if (ls->ncluster > 0) {
            static const int64_t cmax[3] = {16, 16, 16};
            st->has_cluster = true;
            if ((rc = dims(ls->cluster, ls->ncluster, st->cluster, cmax, &env, "cluster", s, NULL,
                           err)))
                goto out;
            for (int i = 0; i < 3; i++)
                if (!st->skip && st->grid[i] % st->cluster[i]) {
                    snprintf(path, sizeof path, "spec.launch[%d].cluster[%d]", s, i);
                    rc = kf_err_set(err, KF_EINVAL, path, "grid %u is not a multiple of cluster %u",
                                    st->grid[i], st->cluster[i]);
                    goto out;
                }
        }
        st->nargs = ls->nargs;
        st->args = xcalloc((size_t)ls->nargs + 1, sizeof *st->args);
        for (int a = 0; a < ls->nargs; a++) {
            const struct kf_launch_arg *la = &ls->args[a];
            struct ev_arg *ea = &st->args[a];
            ea->kind = la->kind;
            ea->index = la->index;
            snprintf(path, sizeof path, "spec.launch[%d].args[%d]", s, a);
            switch (la->kind) {
            case KF_ARG_INPUT:
            case KF_ARG_SCALAR:
                if (la->index < 0 || la->index >= def->ninputs) {
                    rc = kf_err_set(err, KF_EINVAL, path, "input index out of range");
                    goto out;
                }
                break;
            case KF_ARG_OUTPUT:
                if (la->index < 0 || la->index >= def->noutputs) {
                    rc = kf_err_set(err, KF_EINVAL, path, "output index out of range");
                    goto out;
                }
                break;
            case KF_ARG_WORKSPACE:
                if (la->index < 0 || la->index >= p->nws) {
                    rc = kf_err_set(err, KF_EINVAL, path, "workspace index out of range");
                    goto out;
                }
                break;
            case KF_ARG_INT: {
                int64_t v;
                if ((rc = eval_lexpr(&la->value, &env, &v, path, err)))
                    goto out;
                put(ea->val, &v, 8);
                ea->size = 8;
                break;
            }
            case KF_ARG_FLOAT: {
                float f = (float)la->fvalue;
                put(ea->val, &f, 4);
                ea->size = 4;
                break;
            }
            }
        }
    }
out:
    if (rc) {
        ev_plan_free(p);
        p = NULL;
    }
    *out = p;
    return rc;
}

void ev_plan_free(struct ev_plan *p)
{
    if (!p)
        return;
    for (int s = 0; s < p->nsteps; s++)
        free(p->steps[s].args);
    free(p->steps);
    free(p->ws_bytes);
    free(p->ws_zero);
    free(p);
}

unsigned ev_arg_marshal(const struct ev_plan *p, const struct ev_arg *a, const struct ev_bufs *bufs,
                        unsigned char buf[8])
{
    memset(buf, 0, 8);
    switch (a->kind) {
    case KF_ARG_INPUT:
        memcpy(buf, &bufs->in[a->index], sizeof(CUdeviceptr));
        return sizeof(CUdeviceptr);
    case KF_ARG_OUTPUT:
        memcpy(buf, &bufs->out[a->index], sizeof(CUdeviceptr));
        return sizeof(CUdeviceptr);
    case KF_ARG_WORKSPACE:
        memcpy(buf, &bufs->ws[a->index], sizeof(CUdeviceptr));
        return sizeof(CUdeviceptr);
    case KF_ARG_INT:
    case KF_ARG_FLOAT:
        memcpy(buf, a->val, 8);
        return a->size;
    case KF_ARG_SCALAR: {
        enum kf_dtype dt = p->def->inputs[a->index].dtype;
        double f = bufs->scalar_f[a->index];
        int64_t i = bufs->scalar_i[a->index];
        switch (dt) {
        case KF_DT_F32: { float v = (float)f; memcpy(buf, &v, 4); return 4; }
        case KF_DT_F16:
        case KF_DT_BF16:
        case KF_DT_F8E4M3:
        case KF_DT_F8E5M2:
        case KF_DT_F4E2M1:
            kf_dtype_store(dt, buf, 0, f);
            return kf_dtype_bits(dt) <= 8 ? 1 : 2;
        case KF_DT_I64: memcpy(buf, &i, 8); return 8;
        case KF_DT_I32: { int32_t v = (int32_t)i; memcpy(buf, &v, 4); return 4; }
        case KF_DT_I16: { int16_t v = (int16_t)i; memcpy(buf, &v, 2); return 2; }
        case KF_DT_I8: { int8_t v = (int8_t)i; memcpy(buf, &v, 1); return 1; }
        case KF_DT_BOOL: buf[0] = i != 0; return 1;
        default: return 0;
        }
    }
    }
    return 0;
}

int ev_plan_load(struct ev_plan *p, CUmodule *mods, int nmods, struct kf_err *err)
{
    char path[96];
    for (int s = 0; s < p->nsteps; s++) {
        struct ev_step *st = &p->steps[s];
        CUresult r = CUDA_ERROR_NOT_FOUND;
        st->fn = NULL;
        for (int m = 0; m < nmods && !st->fn; m++)
            if (cuModuleGetFunction(&st->fn, mods[m], st->kernel) != CUDA_SUCCESS)
                st->fn = NULL;
        snprintf(path, sizeof path, "spec.launch[%d].kernel", s);
        if (!st->fn)
            return kf_err_set(err, KF_ENOENT, path,
                              "kernel '%s' not found in the compiled sources (is it extern \"C\" "
                              "__global__?)", st->kernel);
        if (st->smem > 48 * 1024 &&
            (r = cuFuncSetAttribute(st->fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                    (int)st->smem)) != CUDA_SUCCESS) {
            const char *s1 = NULL;
            if (ev_cu.loaded)
                cuGetErrorString(r, &s1);
            return kf_err_set(err, KF_EINVAL, path, "cannot allow %u bytes of dynamic shared memory: %s",
                              st->smem, s1 ? s1 : "?");
        }
    }
    return 0;
}

CUresult ev_plan_enqueue(const struct ev_plan *p, const struct ev_bufs *bufs, CUstream s,
                         int *failed_step)
{
    CUresult r;
    for (int i = 0; i < p->nws; i++)
        if (p->ws_zero[i] && (r = cuMemsetD8Async(bufs->ws[i], 0, p->ws_bytes[i], s)) != CUDA_SUCCESS) {
            if (failed_step)
                *failed_step = -1;
            return r;
        }
    for (int k = 0; k < p->nsteps; k++) {
        const struct ev_step *st = &p->steps[k];
        unsigned char store[64][8];
        void *params[64];
        CUlaunchConfig cfg;
        CUlaunchAttribute attr;
        if (st->skip)
            continue;
        if (st->nargs > 64) {
            r = CUDA_ERROR_INVALID_VALUE;
            goto fail;
        }
        for (int a = 0; a < st->nargs; a++) {
            ev_arg_marshal(p, &st->args[a], bufs, store[a]);
            params[a] = store[a];
        }
        memset(&cfg, 0, sizeof cfg);
        cfg.gridDimX = st->grid[0]; cfg.gridDimY = st->grid[1]; cfg.gridDimZ = st->grid[2];
        cfg.blockDimX = st->block[0]; cfg.blockDimY = st->block[1]; cfg.blockDimZ = st->block[2];
        cfg.sharedMemBytes = st->smem;
        cfg.hStream = s;
        if (st->has_cluster) {
            memset(&attr, 0, sizeof attr);
            attr.id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
            attr.value.clusterDim.x = st->cluster[0];
            attr.value.clusterDim.y = st->cluster[1];
            attr.value.clusterDim.z = st->cluster[2];
            cfg.attrs = &attr;
            cfg.numAttrs = 1;
        }
        if ((r = cuLaunchKernelEx(&cfg, st->fn, params, NULL)) != CUDA_SUCCESS)
            goto fail;
        continue;
    fail:
        if (failed_step)
            *failed_step = k;
        return r;
    }
    return CUDA_SUCCESS;
}

CUresult ev_plan_graph(const struct ev_plan *p, const struct ev_bufs *bufs, CUstream s,
                       CUgraphExec *exec, int *failed_step)
{
    CUgraph g = NULL;
    CUresult r, r2;
    *exec = NULL;
    if ((r = cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_RELAXED)) != CUDA_SUCCESS)
        return r;
    r = ev_plan_enqueue(p, bufs, s, failed_step);
    r2 = cuStreamEndCapture(s, &g);
    if (r == CUDA_SUCCESS)
        r = r2;
    if (r == CUDA_SUCCESS)
        r = cuGraphInstantiate(exec, g, 0);
    if (g)
        cuGraphDestroy(g);
    return r;
}
