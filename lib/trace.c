/* trace.c: FlashInfer-Trace Trace validation, status names and document
 * kind detection (see model.h).
 *
 * Follows flashinfer-bench's Trace/Evaluation models: definition (non-empty),
 * workload (a Workload), solution (string or null), evaluation (null or
 * {status, environment{hardware, libs}, timestamp, log, correctness,
 * performance}); correctness present exactly for PASSED and
 * INCORRECT_NUMERICAL, performance exactly for PASSED; error metrics
 * non-negative numbers or "NaN"/"Infinity" (pydantic's inf_nan strings);
 * latencies and speedup non-negative. Extra keys are allowed anywhere (the
 * worker adds statistics, seeds, lane). Thread-safe.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jpath.h"
#include "model.h"

static const char *const status_names[KF_ST_COUNT] = {
    "PASSED", "INCORRECT_SHAPE", "INCORRECT_NUMERICAL", "INCORRECT_DTYPE",
    "RUNTIME_ERROR", "COMPILE_ERROR", "TIMEOUT",
};

const char *kf_status_name(enum kf_status st)
{
    if ((int)st < 0 || st >= KF_ST_COUNT)
        return "UNKNOWN";
    return status_names[st];
}

int kf_status_from_name(const char *name)
{
    for (int i = 0; name && i < KF_ST_COUNT; i++)
        if (strcmp(status_names[i], name) == 0)
            return i;
    return -1;
}

/* A non-negative number; with allow_nan_str also the strings "NaN" and
 * "Infinity". Absent is fine (pydantic default 0). */
static int nonneg(const json_t *o, const char *key, bool allow_nan_str, struct kf_err *err)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (json_is_number(v)) {
        if (json_number_value(v) < 0)
            return kf_err_set(err, KF_EINVAL, key, "must not be negative");
        return 0;
    }
    if (allow_nan_str && json_is_string(v) &&
        (strcmp(json_string_value(v), "NaN") == 0 || strcmp(json_string_value(v), "Infinity") == 0))
        return 0;
    return kf_err_set(err, KF_EINVAL, key, allow_nan_str ? "must be a non-negative number or \"NaN\""
                                                         : "must be a non-negative number");
}

static int check_environment(const json_t *ev, struct kf_err *err)
{
    json_t *env = json_object_get(ev, "environment"), *libs, *v;
    const char *k;
    char *hw = NULL;
    int rc;
    if (!env)
        return kf_err_set(err, KF_EINVAL, "environment", "required field missing");
    if (!json_is_object(env))
        return kf_err_set(err, KF_EINVAL, "environment", "must be an object");
    if ((rc = jp_str(env, "hardware", JP_REQUIRED | JP_NONEMPTY, &hw, err))) {
        kf_err_prefix(err, "environment");
        return rc;
    }
    free(hw);
    libs = json_object_get(env, "libs");
    if (libs) {
        if (!json_is_object(libs))
            return kf_err_set(err, KF_EINVAL, "environment.libs",
                              "must be an object of library -> version");
        json_object_foreach(libs, k, v) {
            if (!json_is_string(v)) {
                kf_err_set(err, KF_EINVAL, k, "version must be a string");
                kf_err_prefix(err, "environment.libs");
                return KF_EINVAL;
            }
        }
    }
    return 0;
}

static int check_evaluation(const json_t *ev, struct kf_err *err)
{
    json_t *corr, *perf, *prof;
    char *status = NULL, *ts = NULL;
    int st, rc;

    if (!json_is_object(ev))
        return kf_err_set(err, KF_EINVAL, "", "must be an object or null");
    if ((rc = jp_str(ev, "status", JP_REQUIRED, &status, err)))
        return rc;
    st = kf_status_from_name(status);
    if (st < 0) {
        rc = kf_err_set(err, KF_EINVAL, "status", "unknown status '%s'", status);
        free(status);
        return rc;
    }
    free(status);
    if ((rc = check_environment(ev, err)))
        return rc;
    if ((rc = jp_str(ev, "timestamp", JP_REQUIRED | JP_NONEMPTY, &ts, err)))
        return rc;
    free(ts);
    if ((rc = jp_str(ev, "log", 0, &ts, err)))
        return rc;
    free(ts);
    corr = json_object_get(ev, "correctness");
    if (corr && json_is_null(corr))
        corr = NULL;
    perf = json_object_get(ev, "performance");
    if (perf && json_is_null(perf))
        perf = NULL;
    if ((st == KF_ST_PASSED || st == KF_ST_INCORRECT_NUMERICAL) && !corr)
        return kf_err_set(err, KF_EINVAL, "correctness", "required when status is %s",
                          kf_status_name(st));
    if (st != KF_ST_PASSED && st != KF_ST_INCORRECT_NUMERICAL && corr)
        return kf_err_set(err, KF_EINVAL, "correctness", "must be null when status is %s",
                          kf_status_name(st));
    if (st == KF_ST_PASSED && !perf)
        return kf_err_set(err, KF_EINVAL, "performance", "required when status is PASSED");
    if (st != KF_ST_PASSED && perf)
        return kf_err_set(err, KF_EINVAL, "performance", "must be null when status is %s",
                          kf_status_name(st));
    if (corr) {
        json_t *extra = json_object_get(corr, "extra");
        if (!json_is_object(corr))
            return kf_err_set(err, KF_EINVAL, "correctness", "must be an object");
        if ((rc = nonneg(corr, "max_relative_error", true, err)) ||
            (rc = nonneg(corr, "max_absolute_error", true, err))) {
            kf_err_prefix(err, "correctness");
            return rc;
        }
        if (extra && !json_is_null(extra) && !json_is_object(extra))
            return kf_err_set(err, KF_EINVAL, "correctness.extra", "must be an object or null");
    }
    if (perf) {
        if (!json_is_object(perf))
            return kf_err_set(err, KF_EINVAL, "performance", "must be an object");
        if ((rc = nonneg(perf, "latency_ms", false, err)) ||
            (rc = nonneg(perf, "reference_latency_ms", false, err)) ||
            (rc = nonneg(perf, "speedup_factor", false, err))) {
            kf_err_prefix(err, "performance");
            return rc;
        }
        prof = json_object_get(perf, "profile");
        if (prof && !json_is_null(prof) && !json_is_array(prof))
            return kf_err_set(err, KF_EINVAL, "performance.profile", "must be a list or null");
    }
    return 0;
}

int kf_trace_validate(const json_t *trace, struct kf_err *err)
{
    json_t *wl, *sol, *ev;
    struct kf_workload *w = NULL;
    char *def = NULL;
    int rc;

    if (!json_is_object(trace))
        return kf_err_set(err, KF_EINVAL, "$", "a trace must be a JSON object");
    if ((rc = jp_str(trace, "definition", JP_REQUIRED | JP_NONEMPTY, &def, err)))
        return rc;
    free(def);
    wl = json_object_get(trace, "workload");
    if (!wl)
        return kf_err_set(err, KF_EINVAL, "workload", "required field missing");
    if (!json_is_object(wl) || json_object_get(wl, "workload"))
        return kf_err_set(err, KF_EINVAL, "workload", "must be a workload object");
    if ((rc = kf_workload_from_json(wl, &w, NULL, err))) {
        kf_err_prefix(err, "workload");
        return rc;
    }
    kf_workload_free(w);
    sol = json_object_get(trace, "solution");
    if (sol && !json_is_null(sol) && (!json_is_string(sol) || !json_string_length(sol)))
        return kf_err_set(err, KF_EINVAL, "solution", "must be a solution name or null");
    ev = json_object_get(trace, "evaluation");
    if (ev && json_is_null(ev))
        ev = NULL;
    if ((!sol || json_is_null(sol)) && ev)
        return kf_err_set(err, KF_EINVAL, "evaluation",
                          "must be null in a workload trace (solution null)");
    if (ev && (rc = check_evaluation(ev, err))) {
        kf_err_prefix(err, "evaluation");
        return rc;
    }
    return 0;
}

const char *kf_model_detect_kind(const json_t *j)
{
    json_t *sol, *ev;
    if (!json_is_object(j))
        return NULL;
    if (json_object_get(j, "workload")) {
        sol = json_object_get(j, "solution");
        ev = json_object_get(j, "evaluation");
        if ((sol && !json_is_null(sol)) || (ev && !json_is_null(ev)))
            return "trace";
        return "workload";
    }
    if (json_object_get(j, "uuid") && json_object_get(j, "inputs") && json_object_get(j, "axes"))
        return "workload";
    if (json_object_get(j, "spec") || json_object_get(j, "sources") || json_object_get(j, "author"))
        return "solution";
    if (json_object_get(j, "axes") || json_object_get(j, "op_type") ||
        json_object_get(j, "reference"))
        return "definition";
    return NULL;
}
