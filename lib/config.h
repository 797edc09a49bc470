/* config.h: one table per program describes every setting: name, env var,
 * type, default, bounds and help. kf_config_load applies, in order,
 * defaults < config file (--config FILE or the table's file env var; lines
 * "name = value", '#' comments) < environment < command-line flags
 * (--name value or --name=value; bools also --name / --no-name).
 * --help prints usage generated from the table. Not thread-safe: call once
 * at start, before threads.
 */
#ifndef KF_CONFIG_H
#define KF_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "kf_err.h"

enum kf_cfg_type { KF_CFG_STR, KF_CFG_INT, KF_CFG_BOOL, KF_CFG_DOUBLE };

struct kf_cfg_opt {
    const char *name;       /* flag and file key: "listen-port" */
    const char *env;        /* "KF_PORT", or NULL */
    enum kf_cfg_type type;
    const char *def;        /* default as text, or NULL (empty string / 0) */
    double min, max;        /* bounds for INT/DOUBLE (ignored if min > max) */
    const char *help;
    void *dst;              /* char** (new strings; free with kf_config_free),
                               int64_t*, bool*, double* */
    const char *source;     /* set by kf_config_load: "default", "file", "env", "flag" */
};

struct kf_config {
    const char *prog;                 /* "kf-server" */
    const char *summary;              /* one line for --help */
    struct kf_cfg_opt *opts; int nopts;
};

/* Returns 0; 1 if --help was printed (caller exits 0); or KF_EINVAL with
 * err naming the flag/env/file line. Positional arguments left in argv are
 * moved to the front: *npos receives their count (may be NULL to forbid). */
int kf_config_load(struct kf_config *cfg, int argc, char **argv, int *npos, struct kf_err *err);
void kf_config_usage(const struct kf_config *cfg, FILE *f);
/* Log the effective configuration, one line per setting with its source;
 * settings whose name contains "password", "token" or "secret" are masked. */
void kf_config_log(const struct kf_config *cfg, const char *component);
void kf_config_free(struct kf_config *cfg);

#endif
