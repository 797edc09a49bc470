/* lane.c: the table of lanes (see lane.h): which lane serves a solution,
 * and lookup by name. Pure; thread-safe.
 */
#include "lane.h"

#include <stdlib.h>
#include <string.h>

#include "lane_tvmffi.h"
#include "lanes.h"

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
    const char *dummy;
    const struct ev_lane_ops *l;
    if (!why)
        why = &dummy;
    *why = NULL;
    if ((l = ev_lane_find(kf_solution_lane(sol))) != NULL)
        return l;
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
