/* trace_build.c: FlashInfer-Trace trace construction. See trace_build.h.
 * Thread-safe.
 */
#include "trace_build.h"

#include <cupti.h>
#include <math.h>
#include <nvrtc.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <cuda.h>

#include "nvrtc_build.h"

static json_t *real_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* Correctness errors may be non-finite (a NaN in the output): flashinfer-bench's
 * models take them as the strings "NaN" / "Infinity", never null. */
static json_t *error_value(double v)
{
    if (isnan(v))
        return json_string("NaN");
    if (isinf(v))
        return json_string("Infinity");
    return json_real(v);
}

json_t *ev_environment_json(const char *hardware, int driver_version)
{
    char drv[32], rt[32], cupti[32];
    uint32_t cv = 0;
    json_t *libs = json_object();
    snprintf(drv, sizeof drv, "%d.%d", driver_version / 1000, (driver_version % 1000) / 10);
    snprintf(rt, sizeof rt, "%d.%d", CUDA_VERSION / 1000, (CUDA_VERSION % 1000) / 10);
    json_object_set_new(libs, "cuda_driver", json_string(drv));
    json_object_set_new(libs, "cuda_runtime", json_string(rt));
    json_object_set_new(libs, "nvrtc", json_string(ev_nvrtc_version()));
    if (cuptiGetVersion(&cv) == CUPTI_SUCCESS) {
        snprintf(cupti, sizeof cupti, "%u", cv);
        json_object_set_new(libs, "cupti_api", json_string(cupti));
    }
    json_object_set_new(libs, "kernelfarm", json_string(KF_VERSION_STRING));
    return json_pack("{s:s, s:o}", "hardware", hardware && *hardware ? hardware : "unknown", "libs",
                     libs);
}

void ev_timestamp(char *buf, size_t n)
{
    struct timeval tv;
    struct tm tm;
    char base[32];
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, n, "%s.%03dZ", base, (int)(tv.tv_usec / 1000));
}

json_t *ev_correctness_json(const struct ev_cmp *c, json_t *extra)
{
    json_t *j = json_object();
    json_object_set_new(j, "max_relative_error", error_value(c->max_rel));
    json_object_set_new(j, "max_absolute_error", error_value(c->max_abs));
    if (!extra)
        extra = json_object();
    json_object_set_new(extra, "matched_ratio", real_or_null(c->matched_ratio));
    json_object_set_new(extra, "elements", json_integer(c->n));
    json_object_set_new(extra, "mismatched", json_integer(c->nfail));
    json_object_set_new(extra, "non_finite", json_integer(c->nonfinite));
    json_object_set_new(j, "extra", extra);
    return j;
}

json_t *ev_performance_json(double latency_ms, double ref_latency_ms, json_t *extra)
{
    json_t *j = json_object();
    double sp = latency_ms > 0 && ref_latency_ms > 0 ? ref_latency_ms / latency_ms : 0;
    json_object_set_new(j, "latency_ms", real_or_null(latency_ms));
    json_object_set_new(j, "reference_latency_ms", real_or_null(ref_latency_ms > 0 ? ref_latency_ms : 0));
    json_object_set_new(j, "speedup_factor", real_or_null(sp));
    if (extra)
        json_object_set_new(j, "extra", extra);
    return j;
}

json_t *ev_trace_new(const struct kf_definition *def, const struct kf_workload *w,
                     const char *solution_name, enum kf_status st, const char *log,
                     json_t *correctness, json_t *performance, json_t *environment,
                     json_t *kfextra)
{
    char ts[40];
    json_t *ev = json_object(), *t = json_object();
    ev_timestamp(ts, sizeof ts);
    json_object_set_new(ev, "status", json_string(kf_status_name(st)));
    json_object_set_new(ev, "log", json_string(log ? log : ""));
    if (!json_is_string(json_object_get(ev, "log")))   /* invalid UTF-8 in a compiler log */
        json_object_set_new(ev, "log", json_string("(log not valid UTF-8)"));
    if (correctness && (st == KF_ST_PASSED || st == KF_ST_INCORRECT_NUMERICAL))
        json_object_set_new(ev, "correctness", correctness);
    else
        json_decref(correctness);
    if (performance && st == KF_ST_PASSED)
        json_object_set_new(ev, "performance", performance);
    else
        json_decref(performance);
    json_object_set_new(ev, "environment",
                        environment ? environment : ev_environment_json("unknown", 0));
    json_object_set_new(ev, "timestamp", json_string(ts));
    if (kfextra)
        json_object_set_new(ev, "kernelfarm", kfextra);
    json_object_set_new(t, "definition", json_string(def->name));
    json_object_set_new(t, "workload", kf_workload_to_json(w));
    json_object_set_new(t, "solution", json_string(solution_name ? solution_name : ""));
    json_object_set_new(t, "evaluation", ev);
    return t;
}
