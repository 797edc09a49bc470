/* evconfig.h: the eval config with flashinfer-bench's layering:
 * defaults < per op_type < per definition < request. A config file is JSON:
 *   {"default": {...}, "op_type": {"moe": {...}}, "definition": {"<name>": {...}}}
 * each {...} with any of warmup (warmup_runs), iterations, trials
 * (num_trials), rtol, atol, required_matched_ratio, workload_timeout_s
 * (timeout_seconds), check_only, floor_margin (the speed-of-light floor's
 * margin in [0, 1], 0 = off; not settable by a request).
 * deploy/eval-contest.json reproduces the contest's settings. Pure;
 * thread-safe.
 */
#ifndef EV_EVCONFIG_H
#define EV_EVCONFIG_H

#include <jansson.h>

#include "engine.h"

/* flashinfer-bench defaults: warmup 10, iterations 50, trials 3, rtol = atol
 * = 1e-2, required_matched_ratio 1.0; workload timeout 300 s; kernelfarm's
 * floor_margin 0.8. */
void ev_config_defaults(struct ev_config *c);
/* Apply one layer (an object; NULL is a no-op). Unknown keys and values out
 * of bounds are errors naming path.key. */
int ev_config_apply(struct ev_config *c, const json_t *layer, const char *path, struct kf_err *err);
/* defaults < file.default < file.op_type[def->op_type] < file.definition[def->name]
 * < request. file and request may be NULL. A request that names floor_margin
 * is refused (KF_EPERM, path config.floor_margin). */
int ev_config_resolve(const json_t *file, const struct kf_definition *def, const json_t *request,
                      struct ev_config *out, struct kf_err *err);
/* The config as a JSON object (new reference), for traces and logs. */
json_t *ev_config_to_json(const struct ev_config *c);

#endif
