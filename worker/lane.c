/* lane.c: the table of lanes (see lane.h): which lane serves a solution,
 * and lookup by name. Pure; thread-safe.
 */
#include "lane.h"

#include <stdlib.h>
#include <string.h>

#include "lane_tvmffi.h"

extern const struct ev_lane_ops ev_lane_nvrtc;
extern const struct ev_lane_ops ev_lane_python;

static const struct ev_lane_ops *const lanes[] = {
    &ev_lane_nvrtc,
    &ev_lane_tvmffi,
    &ev_lane_python,
    NULL,
};

const struct ev_lane_ops *ev_lane_find(const char *name)
{
    for (int i = 0; name && lanes[i]; i++)
        if (strcmp(lanes[i]->name, name) == 0)
            return lanes[i];
    return NULL;
}

const struct ev_lane_ops *ev_lane_for(const struct kf_solution *sol, const char **why)
{
    const char *lang = sol->spec.language ? sol->spec.language : "";
    const char *binding = sol->spec.binding;
    const char *dummy;
    if (!why)
        why = &dummy;
    *why = NULL;
    if (kf_solution_is_nvrtc(sol))
        return ev_lane_find("nvrtc");
    if (ev_lane_is_python(sol))
        return ev_lane_find("python");
    if ((strcmp(lang, "cuda") == 0 || strcmp(lang, "cpp") == 0) &&
        (!binding || strcmp(binding, "tvm-ffi") == 0))
        return ev_lane_find("tvm-ffi");
    *why = "no lane serves this solution: the lanes are nvrtc (language cuda, binding nvrtc), "
           "tvm-ffi (cuda or cpp, binding tvm-ffi or none), python (python, triton, tilelang, "
           "or cuda/cpp with binding torch)";
    return NULL;
}

void ev_lane_artifacts_free(char **artifacts, int n)
{
    if (!artifacts)
        return;
    for (int i = 0; i < n; i++)
        free(artifacts[i]);
    free(artifacts);
}
