/* lane.c: the table of lanes (see lane.h): which lane serves a solution,
 * and lookup by name. Pure; thread-safe.
 */
#include "lane.h"

#include <stdlib.h>
#include <string.h>

#include "lane_tvmffi.h"

static const struct ev_lane_ops *const lanes[] = {
    /* ---- nvrtc slot (the lead's worker/lane_nvrtc.c): &ev_lane_nvrtc, ---- */
    &ev_lane_tvmffi,
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
    const char *lang = sol->spec.language, *binding = sol->spec.binding;
    const struct ev_lane_ops *l = NULL;
    *why = NULL;
    if (binding && strcmp(binding, "nvrtc") == 0)
        l = ev_lane_find("nvrtc");
    else if ((strcmp(lang, "cuda") == 0 || strcmp(lang, "cpp") == 0) &&
             (!binding || strcmp(binding, "tvm-ffi") == 0))
        l = ev_lane_find("tvm-ffi");
    else if (binding && strcmp(binding, "torch") == 0)
        *why = "the torch binding runs in the python lane, which this build does not have";
    else
        *why = "language triton/python/tilelang runs in the python lane, which this build does "
               "not have";
    if (!l && !*why)
        *why = "the lane of this solution is not in this build";
    return l;
}

void ev_lane_artifacts_free(char **artifacts, int n)
{
    if (!artifacts)
        return;
    for (int i = 0; i < n; i++)
        free(artifacts[i]);
    free(artifacts);
}
