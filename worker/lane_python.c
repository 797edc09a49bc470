/* lane_python.c: the Python lane, judge side (DESIGN.md "Solution lanes"):
 * solutions in Python (language "python", "triton", "tilelang") and CUDA
 * or C++ with binding "torch". Nothing is built here: the runner is the
 * host's python3 running worker/python/kf_pyrunner.py, which imports (or,
 * for the torch binding, compiles with torch.utils.cpp_extension) the
 * solution inside its sandbox and reaches kernelfarm's timing through
 * bin/libkfrunner.so. The runner-side operations of ev_lane_ops are
 * therefore absent. Thread-safe (no state).
 */
#include <stdlib.h>
#include <string.h>

#include "lane.h"

static int py_build(const struct kf_solution *sol, const struct kf_definition *def,
                    const char *arch, const char *cache_dir, char ***artifacts, int *nartifacts,
                    char **log, struct kf_err *err)
{
    (void)def;
    (void)arch;
    (void)cache_dir;
    *artifacts = NULL;
    *nartifacts = 0;
    *log = NULL;
    if (!sol->spec.entry_point || !strstr(sol->spec.entry_point, "::"))
        return kf_err_set(err, KF_EINVAL, "spec.entry_point", "entry_point must be FILE::FUNCTION");
    return 0;
}

const struct ev_lane_ops ev_lane_python = {
    .name = "python",
    .runner = "python",
    .build = py_build,
};
