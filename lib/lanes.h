/* lanes.h: the lanes that run solutions (docs/runner.md), seen from the
 * farm: the one rule that says which lane serves a solution (kf-server
 * stores it with each task at submit; kf-worker's worker/lane.c picks the
 * lane's code by it), and sets of lanes ("nvrtc,python": a worker's
 * `lanes` setting, its heartbeat, the lanes a claim may take).
 *
 * A set is a bit mask over kf_lanes[] (bit i: kf_lanes[i]). Pure and
 * thread-safe: no state.
 */
#ifndef KF_LANES_H
#define KF_LANES_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "kf_err.h"

struct kf_solution;

#define KF_LANE_NVRTC  "nvrtc"
#define KF_LANE_TVMFFI "tvm-ffi"
#define KF_LANE_PYTHON "python"
#define KF_NLANES 3
/* Every lane, in kf_lanes[] order, as a set and as a list. */
#define KF_LANES_ALL_SET ((1u << KF_NLANES) - 1u)
#define KF_LANES_ALL "nvrtc,tvm-ffi,python"
/* Room for any list kf_lanes_format writes. */
#define KF_LANES_BUF 32

/* "nvrtc", "tvm-ffi", "python", then NULL. */
extern const char *const kf_lanes[KF_NLANES + 1];

/* The lane of a (language, binding) pair; binding NULL when absent:
 *   nvrtc   language cuda with binding nvrtc;
 *   python  language python, triton or tilelang (any binding), or cuda/cpp
 *           with binding torch;
 *   tvm-ffi language cuda or cpp with binding absent or tvm-ffi;
 * NULL for anything else (no solution kf_solution_from_json accepts).
 * The string is static. */
const char *kf_lane_of(const char *language, const char *binding);
/* kf_lane_of(s->spec.language, s->spec.binding). */
const char *kf_solution_lane(const struct kf_solution *s);
/* The same from a solution document's spec (borrowed JSON); NULL when
 * spec.language is missing or no lane serves it. */
const char *kf_solution_doc_lane(const json_t *solution);

/* Index of a lane name in kf_lanes[], or -1. */
int kf_lane_index(const char *name);
/* Parse a comma-separated list of lane names ("nvrtc, python"; blanks
 * around names are ignored) into *set. KF_EINVAL (err names the entry) for
 * an unknown name or an empty list; what names which setting it is (the
 * error's path, e.g. "lanes"). */
int kf_lanes_parse(const char *list, const char *what, unsigned *set, struct kf_err *err);
/* The set as a list in kf_lanes[] order ("nvrtc,python"; "" when empty)
 * into buf (n >= KF_LANES_BUF always fits); returns buf. */
char *kf_lanes_format(unsigned set, char *buf, size_t n);
/* Is the lane (a name) in the set? False for an unknown name. */
bool kf_lanes_has(unsigned set, const char *lane);

#endif
