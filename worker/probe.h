/* probe.h: learn which GPU kf-worker serves without touching CUDA in the
 * supervisor: a short-lived child initialises the driver, names device N
 * and exits. The answer is the evaluation.environment used for traces the
 * supervisor writes itself (TIMEOUT, crashes) until the engine's first
 * trace brings its own. Not thread-safe (forks).
 */
#ifndef KF_PROBE_H
#define KF_PROBE_H

#include <jansson.h>

#include "kf_err.h"

/* On 0, *env_out is a new object {"hardware": "NVIDIA_H100", "libs": {...}}
 * and *name_out (if non-NULL) a new string with the device name (free()).
 * KF_ECUDA when there is no driver or no such device, KF_ETIMEOUT when the
 * probe hangs longer than timeout_s. */
int wk_probe_gpu(int device, double timeout_s, json_t **env_out, char **name_out,
                 struct kf_err *err);

#endif
