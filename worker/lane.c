/* lane.c: the table of solution lanes. See lane.h. */
#include "lane.h"

#include <stdlib.h>
#include <string.h>

extern const struct ev_lane_ops ev_lane_nvrtc;
extern const struct ev_lane_ops ev_lane_python;

static const struct ev_lane_ops *const lanes[] = {
    &ev_lane_nvrtc,
    &ev_lane_python,
    NULL,
};

const struct ev_lane_ops *ev_lane_find(const char *name)
{
    for (int i = 0; name && lanes[i]; i++)
        if (!strcmp(lanes[i]->name, name))
            return lanes[i];
    return NULL;
}

const struct ev_lane_ops *ev_lane_for(const struct kf_solution *sol, const char **why)
{
    if (kf_solution_is_nvrtc(sol))
        return ev_lane_find("nvrtc");
    if (ev_lane_is_python(sol))
        return ev_lane_find("python");
    if (why)
        *why = "no lane of this worker serves this solution: this build runs the nvrtc lane "
               "(spec.language \"cuda\", spec.binding \"nvrtc\") and the Python lane "
               "(python, triton, tilelang, or cuda with binding \"torch\")";
    return NULL;
}

void ev_lane_artifacts_free(char **artifacts, int n)
{
    for (int i = 0; artifacts && i < n; i++)
        free(artifacts[i]);
    free(artifacts);
}
