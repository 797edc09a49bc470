/* program.c: loaded programs and bound calls. See program.h. Not thread-safe. */
#include "program.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xalloc.h"

int ev_prog_build(struct ev_prog *p, const struct kf_solution *sol, const char *arch,
                  const char *cache_dir, struct kf_err *err)
{
    memset(p, 0, sizeof *p);
    p->sol = sol;
    return ev_nvrtc_build(sol, arch, cache_dir, &p->build, err);
}

int ev_prog_load(struct ev_prog *p, struct kf_err *err)
{
    p->mods = xcalloc((size_t)p->build.ncubins + 1, sizeof *p->mods);
    p->nmods = 0;
    for (int i = 0; i < p->build.ncubins; i++) {
        CUresult r = cuModuleLoadData(&p->mods[i], p->build.cubins[i].data);
        if (r != CUDA_SUCCESS)
            return kf_err_set(err, KF_ECUDA, p->build.cubins[i].tu, "cannot load module %s: %s",
                              p->build.cubins[i].tu, ev_cu_str(r));
        p->nmods++;
    }
    return 0;
}

void ev_prog_unload(struct ev_prog *p, int skip_cuda)
{
    for (int i = 0; i < p->nmods && !skip_cuda; i++)
        cuModuleUnload(p->mods[i]);
    free(p->mods);
    p->mods = NULL;
    p->nmods = 0;
}

void ev_prog_free(struct ev_prog *p, int skip_cuda)
{
    ev_prog_unload(p, skip_cuda);
    ev_build_free(&p->build);
}

int ev_prog_plan(struct ev_prog *p, struct ev_dev *d, const struct kf_definition *def,
                 const struct kf_binding *b, struct ev_plan **out, struct kf_err *err)
{
    int64_t vals[64];
    const char *const *fact_names = kf_device_facts;
    struct ev_limits lim = {d->max_threads_block > 0 ? d->max_threads_block : 1024,
                            d->max_smem_optin > 0 ? d->max_smem_optin : 48 * 1024,
                            (int64_t)8 << 30};
    int rc, n = 0;
    for (; fact_names[n] && n < 63; n++)
        if (ev_dev_fact(d, fact_names[n], &vals[n]))
            vals[n] = 0;
    if ((rc = ev_plan_build(p->sol, def, b, fact_names, vals, &lim, out, err)))
        return rc;
    if ((rc = ev_plan_load(*out, p->mods, p->nmods, err))) {
        ev_plan_free(*out);
        *out = NULL;
    }
    return rc;
}

int ev_call_make(struct ev_call *c, struct ev_dev *d, struct ev_plan *plan, struct ev_tensors *in,
                 struct ev_tensors *out, CUresult *cu, struct kf_err *err)
{
    CUresult r;
    memset(c, 0, sizeof *c);
    *cu = CUDA_SUCCESS;
    c->plan = plan;
    c->bufs.in = xcalloc((size_t)in->n + 1, sizeof *c->bufs.in);
    c->bufs.out = xcalloc((size_t)out->n + 1, sizeof *c->bufs.out);
    c->bufs.ws = xcalloc((size_t)plan->nws + 1, sizeof *c->bufs.ws);
    c->bufs.scalar_f = in->scalar_f;
    c->bufs.scalar_i = in->scalar_i;
    for (int i = 0; i < in->n; i++)
        c->bufs.in[i] = in->present[i] ? in->buf[i].ptr : 0;
    for (int i = 0; i < out->n; i++)
        c->bufs.out[i] = out->buf[i].ptr;
    for (int i = 0; i < plan->nws; i++) {
        if ((r = cuMemAlloc(&c->bufs.ws[i], plan->ws_bytes[i])) != CUDA_SUCCESS) {
            c->bufs.ws[i] = 0;
            *cu = r;
            return kf_err_set(err, KF_ECUDA, "spec.workspace", "cannot allocate workspace %d (%zu bytes): %s",
                              i, plan->ws_bytes[i], ev_cu_str(r));
        }
    }
    c->failed_step = 0;
    if ((r = ev_plan_graph(plan, &c->bufs, d->stream, &c->exec, &c->failed_step)) != CUDA_SUCCESS) {
        *cu = r;
        if (c->failed_step >= 0 && c->failed_step < plan->nsteps)
            return kf_err_set(err, KF_ECUDA, "spec.launch", "launch of step %d (%s) failed: %s",
                              c->failed_step, plan->steps[c->failed_step].kernel, ev_cu_str(r));
        return kf_err_set(err, KF_ECUDA, "spec.launch", "graph capture failed: %s", ev_cu_str(r));
    }
    return 0;
}

CUresult ev_call_run(void *call, CUstream s)
{
    struct ev_call *c = call;
    return cuGraphLaunch(c->exec, s);
}

void ev_call_free(struct ev_call *c, int skip_cuda)
{
    if (!skip_cuda) {
        if (c->exec)
            cuGraphExecDestroy(c->exec);
        for (int i = 0; c->plan && c->bufs.ws && i < c->plan->nws; i++)
            if (c->bufs.ws[i])
                cuMemFree(c->bufs.ws[i]);
    }
    free(c->bufs.in);
    free(c->bufs.out);
    free(c->bufs.ws);
    ev_plan_free(c->plan);
    memset(c, 0, sizeof *c);
}
