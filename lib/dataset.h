/* dataset.h: a FlashInfer-Trace dataset directory:
 *   definitions/<op_type>/<name>.json
 *   workloads/<op_type>/<name>.jsonl     (one wrapped workload per line)
 *   blob/...                             (safetensors inputs)
 *   solutions/ (any depth, .json), traces/<op_type>/<name>.jsonl  (optional)
 * Errors name the file (and line for jsonl) in err->path as "file:line" and
 * the field's JSON path in err->msg. A loaded dataset is read-only:
 * thread-safe to share.
 */
#ifndef KF_DATASET_H
#define KF_DATASET_H

#include "model.h"

struct kf_dataset_def {
    struct kf_definition *def;
    char *path;                           /* definition file */
    struct kf_workload **workloads; int nworkloads;
    char *workloads_path;                 /* NULL if no workloads file */
    int nviolations;                      /* workloads that break a constraint (kept) */
};

struct kf_dataset {
    char *root;                           /* absolute */
    struct kf_dataset_def *defs; int ndefs;   /* sorted by name */
    struct kf_solution **solutions; int nsolutions;
};

/* Load root (NULL: $FIB_DATASET_PATH). Every workload is checked against
 * its definition (kf_workload_check); a workload that only violates a
 * definition constraint is kept with a logged warning (flashinfer-bench does
 * not enforce constraints; the contest's DSA indexer workloads break one).
 * Returns 0 or a code with err set. */
int kf_dataset_load(const char *root, struct kf_dataset **out, struct kf_err *err);
void kf_dataset_free(struct kf_dataset *ds);
const struct kf_dataset_def *kf_dataset_find(const struct kf_dataset *ds, const char *def_name);
/* Find a workload by uuid across definitions; *def_out (optional) gets its
 * definition entry. */
const struct kf_workload *kf_dataset_workload(const struct kf_dataset *ds, const char *uuid,
                                              const struct kf_dataset_def **def_out);
/* Absolute path of a blob path as written in a workload (new; free()).
 * NULL if it escapes the dataset root. */
char *kf_dataset_blob_path(const struct kf_dataset *ds, const char *rel);

#endif
