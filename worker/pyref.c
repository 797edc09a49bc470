/* pyref.c: the PyTorch reference, timed in a trusted Python runner. See pyref.h. */
#include "pyref.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvrtc_build.h"
#include "runner_link.h"
#include "sha256.h"
#include "stats.h"
#include "timing.h"
#include "verdict.h"
#include "xalloc.h"

struct ev_pyref {
    const struct ev_request *req;
    const char *hardware;
    struct ev_rl rl;
    char torch[64];
    char arena[160];          /* the arena handle it has open ("" none) */
    int dead;                 /* start-up failed once: do not retry in this judge */
};

struct ev_pyref *ev_pyref_new(const struct ev_request *req, const char *hardware)
{
    struct ev_pyref *p = xcalloc(1, sizeof *p);
    p->req = req;
    p->hardware = hardware;
    p->rl.cmd_fd = p->rl.reply_fd = -1;
    return p;
}

void ev_pyref_free(struct ev_pyref *p)
{
    if (!p)
        return;
    ev_rl_stop(&p->rl, 0);
    free(p);
}

const char *ev_pyref_torch(const struct ev_pyref *p)
{
    return p->torch;
}

static void down(struct ev_pyref *p)
{
    ev_rl_stop(&p->rl, 1);
    p->arena[0] = 0;
}

/* The reference as a solution of the Python lane. */
static json_t *as_solution(const struct kf_definition *def)
{
    return json_pack("{s:s, s:s, s:s, s:{s:s, s:[s], s:s, s:b}, s:[{s:s, s:s}]}", "name",
                     "pytorch_reference", "definition", def->name, "author", "definition",
                     "spec", "language", "python", "target_hardware", "cuda", "entry_point",
                     "reference.py::run", "destination_passing_style", 0, "sources", "path",
                     "reference.py", "content", def->reference ? def->reference : "");
}

static int up(struct ev_pyref *p, struct kf_err *err)
{
    const struct ev_request *req = p->req;
    struct ev_rl_opts o = {0};
    char *argv[3], *env[3];
    json_t *rep = NULL;
    int rc;
    if (p->rl.pid)
        return 0;
    if (p->dead)
        return kf_err_set(err, KF_EIO, "pytorch_reference", "the PyTorch reference runner failed to start earlier");
    if (!req->def->reference || !*req->def->reference) {
        p->dead = 1;
        return kf_err_set(err, KF_EINVAL, "reference", "the definition has no reference code");
    }
    ev_rl_python_opts(&o, req->cache_dir, EV_RL_SCOPE_PYREF, argv, env);
    rc = ev_rl_start(&p->rl, &o, err);
    free(env[0]);
    free(env[1]);
    if (rc == 0)
        rc = ev_rl_call(&p->rl,
                        json_pack("{s:s, s:s, s:i, s:[], s:o, s:o, s:s?, s:s}", "type", "open",
                                  "lane", "python", "device", req->device, "artifacts", "solution",
                                  as_solution(req->def), "definition",
                                  kf_definition_to_json(req->def), "cache_dir", req->cache_dir,
                                  "runner_lib", ev_rl_runner_lib_path()),
                        "ready", -1, &rep, err);
    if (rc) {
        json_decref(rep);
        down(p);
        p->dead = 1;
        return rc;
    }
    snprintf(p->torch, sizeof p->torch, "%s",
             json_string_value(json_object_get(rep, "torch")) ? json_string_value(json_object_get(rep, "torch")) : "unknown");
    json_decref(rep);
    return 0;
}

static char *cache_file(struct ev_pyref *p, const struct kf_workload *wk)
{
    const struct ev_request *req = p->req;
    struct ev_sha256 h;
    char hex[65], num[64];
    if (!req->cache_dir)
        return NULL;
    ev_sha256_init(&h);
    ev_sha256_str(&h, "kernelfarm-pyref-v1");
    ev_sha256_str(&h, req->def->name);
    ev_sha256_str(&h, req->def->reference ? req->def->reference : "");
    ev_sha256_str(&h, wk->uuid);
    ev_sha256_str(&h, p->hardware);
    ev_sha256_str(&h, p->torch);
    ev_sha256_str(&h, ev_l2_flush_mode());
    snprintf(num, sizeof num, "%d/%d", req->cfg.warmup, req->cfg.iterations);
    ev_sha256_str(&h, num);
    ev_sha256_hex(&h, hex);
    return xasprintf("%s/pyref/%s.json", req->cache_dir, hex);
}

int ev_pyref_cached(struct ev_pyref *p, const struct kf_workload *wk, double *ms, struct kf_err *err)
{
    char *path;
    json_t *j;
    int rc = KF_ENOENT;
    if (!p->req->cache_dir)
        return KF_ENOENT;
    if ((rc = up(p, err)))
        return rc;
    path = cache_file(p, wk);
    j = json_load_file(path, 0, NULL);
    free(path);
    rc = KF_ENOENT;
    if (json_is_number(json_object_get(j, "latency_ms")) &&
        json_number_value(json_object_get(j, "latency_ms")) > 0) {
        *ms = json_number_value(json_object_get(j, "latency_ms"));
        rc = 0;
    }
    json_decref(j);
    return rc;
}

int ev_pyref_time(struct ev_pyref *p, const struct kf_workload *wk, const char *arena_hex,
                  size_t arena_bytes, const json_t *bind_msg, double *median_ms,
                  struct kf_err *err)
{
    const struct ev_config *cfg = &p->req->cfg;
    json_t *rep = NULL;
    double *smp;
    struct ev_clock clk;
    struct ev_stats s;
    char why[256], *path;
    int rc;
    if ((rc = up(p, err)))
        return rc;
    if (strcmp(p->arena, arena_hex)) {
        rc = ev_rl_call(&p->rl,
                        json_pack("{s:s, s:s, s:I}", "type", "arena", "handle", arena_hex, "bytes",
                                  (json_int_t)arena_bytes),
                        "ok", -1, &rep, err);
        json_decref(rep);
        if (rc)
            goto fail;
        snprintf(p->arena, sizeof p->arena, "%s", arena_hex);
    }
    rc = ev_rl_call(&p->rl, json_deep_copy(bind_msg), "ok", -1, &rep, err);
    json_decref(rep);
    if (rc)
        goto fail;
    rc = ev_rl_call(&p->rl,
                    json_pack("{s:s, s:i, s:i}", "type", "time", "warmup", cfg->warmup,
                              "iterations", cfg->iterations),
                    "timed", -1, &rep, err);
    if (rc) {
        json_decref(rep);
        goto fail;
    }
    smp = xcalloc((size_t)cfg->iterations, sizeof *smp);
    rc = ev_timed_reply_parse(rep, cfg->iterations, smp, &clk, why, sizeof why);
    json_decref(rep);
    if (rc) {
        free(smp);
        rc = kf_err_set(err, KF_EIO, "pytorch_reference", "bad timed reply: %s", why);
        goto fail;
    }
    ev_stats_compute(smp, cfg->iterations, &s);
    free(smp);
    *median_ms = s.median;
    if ((path = cache_file(p, wk))) {
        char *dir = xasprintf("%s/pyref", p->req->cache_dir);
        json_t *j = json_pack("{s:f, s:s, s:s, s:s}", "latency_ms", s.median, "torch", p->torch,
                              "hardware", p->hardware, "workload", wk->uuid);
        char *txt = json_dumps(j, JSON_COMPACT);
        ev_mkdirs(dir);
        ev_file_write_atomic(path, txt, strlen(txt));
        free(txt);
        json_decref(j);
        free(dir);
        free(path);
    }
    return 0;
fail:
    down(p);
    return rc;
}
