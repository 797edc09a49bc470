/* selftest.c: the worker self-test (see selftest.h). */
#include "selftest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evconfig.h"
#include "log.h"
#include "pack.h"
#include "xalloc.h"

int wk_selftest_pick(const struct kf_dataset_def *dd)
{
    int best = -1;
    double best_size = 0;
    for (int i = 0; i < dd->nworkloads; i++) {
        double size = 1;
        for (int a = 0; a < dd->workloads[i]->naxes; a++)
            size *= (double)(dd->workloads[i]->axes[a].value > 0
                                 ? dd->workloads[i]->axes[a].value : 1);
        if (best < 0 || size < best_size) {
            best = i;
            best_size = size;
        }
    }
    return best;
}

/* One definition: 0 if its reference passed, else KF_EINVAL with why. */
static int one(struct wk_super *sup, const struct kf_dataset *ds, const struct kf_dataset_def *dd,
               const char *kernels_dir, const char *cache_dir, int device,
               const json_t *eval_config, const struct wk_hooks *hooks, char *why, size_t n)
{
    const char *name = dd->def->name;
    char *dir = xasprintf("%s/reference/%s", kernels_dir, name);
    json_t *doc = NULL, *traces = NULL;
    struct kf_solution *sol = NULL;
    struct kf_err e;
    struct ev_request req;
    int rc = KF_EINVAL, wi;
    const struct kf_workload *wl[1];

    kf_err_clear(&e);
    if (kf_pack_dir(dir, &doc, &e) < 0 || kf_solution_from_json(doc, &sol, &e) < 0) {
        snprintf(why, n, "%s: reference kernel %s: %s%s%s", name, dir, e.path,
                 e.path[0] ? ": " : "", e.msg);
        goto out;
    }
    wi = wk_selftest_pick(dd);
    if (wi < 0) {
        rc = 1;   /* nothing to run it on */
        goto out;
    }
    wl[0] = dd->workloads[wi];
    memset(&req, 0, sizeof req);
    req.ds = ds;
    req.def = dd->def;
    req.sol = sol;
    req.workloads = wl;
    req.nworkloads = 1;
    req.cache_dir = cache_dir;
    req.kernels_dir = kernels_dir;
    req.device = device;
    req.seed = 0x5e1f7e57u;
    if (ev_config_resolve(eval_config, dd->def, NULL, &req.cfg, &e) < 0) {
        snprintf(why, n, "%s: eval config: %s: %s", name, e.path, e.msg);
        goto out;
    }
    req.cfg.trials = 1;
    req.cfg.warmup = 1;
    req.cfg.iterations = 3;
    req.cfg.check_only = 0;
    req.cfg.workload_timeout_s = sup->lim.workload_s;
    struct wk_hooks h = {NULL, hooks ? hooks->on_tick : NULL, hooks ? hooks->tick_s : 0,
                         hooks ? hooks->ctx : NULL};
    int r = wk_run_task(sup, "self-test", &req, &h, &traces, &e);
    if (r == WK_ABANDONED) {
        snprintf(why, n, "%s: stopped before the self-test finished", name);
        goto out;
    }
    if (r != 0) {
        snprintf(why, n, "%s: the evaluation engine failed: %s", name, e.msg);
        goto out;
    }
    const json_t *ev = json_object_get(json_array_get(traces, 0), "evaluation");
    const char *st = json_string_value(json_object_get(ev, "status"));
    if (!st || strcmp(st, "PASSED") != 0) {
        const char *log = json_string_value(json_object_get(ev, "log"));
        snprintf(why, n, "%s: the reference on workload %s gave %s: %.400s", name,
                 wl[0]->uuid, st ? st : "no trace", log ? log : "");
        goto out;
    }
    rc = 0;
out:
    json_decref(traces);
    kf_solution_free(sol);
    json_decref(doc);
    free(dir);
    return rc;
}

int wk_self_test(struct wk_super *sup, const struct kf_dataset *ds, const char *kernels_dir,
                 const char *cache_dir, int device, const json_t *eval_config,
                 const struct wk_hooks *hooks, struct wk_selftest *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < ds->ndefs; i++) {
        char why[1024] = "";
        const char *name = ds->defs[i].def->name;
        out->ndefs++;
        int rc = one(sup, ds, &ds->defs[i], kernels_dir, cache_dir, device, eval_config, hooks,
                     why, sizeof why);
        if (rc == 0) {
            out->passed++;
            log_info("worker", "self-test definition=%s status=PASSED", name);
        } else if (rc == 1) {
            out->skipped++;
            log_warn("worker", "self-test definition=%s skipped: no workloads", name);
        } else {
            log_error("worker", "self-test definition=%s failed: %s", name, why);
            if (!out->why[0])
                snprintf(out->why, sizeof out->why, "%s", why);
        }
    }
    if (out->ndefs == 0)
        snprintf(out->why, sizeof out->why, "the dataset has no definitions");
    return out->why[0] ? KF_EINVAL : 0;
}
