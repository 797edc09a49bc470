/* lanes.c: which lane serves a solution, and sets of lanes (see lanes.h).
 * Pure; thread-safe. */
#include "lanes.h"

#include <stdio.h>
#include <string.h>

#include "model.h"

const char *const kf_lanes[KF_NLANES + 1] = {KF_LANE_NVRTC, KF_LANE_TVMFFI, KF_LANE_PYTHON,
                                             NULL};

static bool eq(const char *a, const char *b)
{
    return a && strcmp(a, b) == 0;
}

const char *kf_lane_of(const char *language, const char *binding)
{
    if (!language)
        return NULL;
    bool cuda = eq(language, "cuda"), cpp = eq(language, "cpp");
    if (cuda && eq(binding, "nvrtc"))
        return KF_LANE_NVRTC;
    if (eq(language, "python") || eq(language, "triton") || eq(language, "tilelang") ||
        ((cuda || cpp) && eq(binding, "torch")))
        return KF_LANE_PYTHON;
    if ((cuda || cpp) && (!binding || eq(binding, "tvm-ffi")))
        return KF_LANE_TVMFFI;
    return NULL;
}

const char *kf_solution_lane(const struct kf_solution *s)
{
    return s ? kf_lane_of(s->spec.language, s->spec.binding) : NULL;
}

const char *kf_solution_doc_lane(const json_t *solution)
{
    const json_t *spec = json_object_get(solution, "spec");
    const json_t *b = json_object_get(spec, "binding");
    /* a null binding is an absent one, as kf_solution_from_json reads it */
    return kf_lane_of(json_string_value(json_object_get(spec, "language")),
                      json_is_string(b) ? json_string_value(b) : NULL);
}

int kf_lane_index(const char *name)
{
    for (int i = 0; name && kf_lanes[i]; i++)
        if (strcmp(kf_lanes[i], name) == 0)
            return i;
    return -1;
}

int kf_lanes_parse(const char *list, const char *what, unsigned *set, struct kf_err *err)
{
    char name[64];
    unsigned s = 0;
    int entry = 0;
    *set = 0;
    if (!list)
        list = "";
    for (const char *p = list;; entry++) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len) {
            snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1),
                     p);
            int i = len < sizeof name ? kf_lane_index(name) : -1;
            if (i < 0)
                return kf_err_set(err, KF_EINVAL, what,
                                  "entry %d: '%.*s' is not a lane (the lanes are %s)", entry + 1,
                                  (int)(len > 40 ? 40 : len), p, KF_LANES_ALL);
            s |= 1u << i;
        }
        if (!end)
            break;
        p = end + 1;
    }
    if (!s)
        return kf_err_set(err, KF_EINVAL, what, "no lane named: give one or more of %s",
                          KF_LANES_ALL);
    *set = s;
    return 0;
}

char *kf_lanes_format(unsigned set, char *buf, size_t n)
{
    size_t len = 0;
    if (!n)
        return buf;
    buf[0] = '\0';
    for (int i = 0; kf_lanes[i]; i++) {
        if (!(set & (1u << i)))
            continue;
        int w = snprintf(buf + len, n - len, "%s%s", len ? "," : "", kf_lanes[i]);
        if (w < 0 || (size_t)w >= n - len)
            break;
        len += (size_t)w;
    }
    return buf;
}

bool kf_lanes_has(unsigned set, const char *lane)
{
    int i = kf_lane_index(lane);
    return i >= 0 && (set & (1u << i));
}
