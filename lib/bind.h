/* bind.h: axis binding. Const axes from the definition plus var axes from
 * the workload give every tensor's shape, element count and byte size.
 * A binding is immutable once made: thread-safe to share.
 */
#ifndef KF_BIND_H
#define KF_BIND_H

#include "model.h"

struct kf_shape {
    int ndim;                      /* 0 for scalars and 0-d tensors */
    int64_t dims[KF_MAX_DIMS];
    int64_t numel;                 /* 1 for scalars and 0-d */
    size_t nbytes;
};

struct kf_binding {
    const struct kf_definition *def;   /* borrowed */
    int64_t *axis_values;              /* def->naxes, in definition order */
    struct kf_shape *inputs;           /* def->ninputs */
    struct kf_shape *outputs;          /* def->noutputs */
};

/* Bind. Errors: a var axis missing from the workload (path "axes.<name>"),
 * a negative value, a tensor over max_tensor_bytes (KF_ETOOBIG; 0 = no cap).
 * Workload-dependent constraints are NOT enforced here: flashinfer-bench
 * does not enforce them and the contest's own DSA indexer workloads violate
 * "topk <= max_num_pages * page_size". Report them with
 * kf_binding_check_constraints (all constraints, tensor data through
 * data_fn) or kf_workload_check_constraints. Constraints over const axes
 * alone are enforced when the definition is parsed. */
int kf_bind(const struct kf_definition *d, const struct kf_workload *w, size_t max_tensor_bytes,
            struct kf_binding **out, struct kf_err *err);
void kf_binding_free(struct kf_binding *b);
/* 0 and *out, or KF_ENOENT. */
int kf_binding_axis(const struct kf_binding *b, const char *name, int64_t *out);

/* Host view of one input for data-dependent constraints; NULL data = absent. */
typedef const void *(*kf_input_data_fn)(void *ctx, int input_index);
/* Check every constraint, resolving name[i].item() through data_fn (may be
 * NULL: constraints needing data are then skipped, as are those on absent
 * optional inputs). KF_EINVAL with path "constraints[i]" on the first one
 * that does not hold. */
int kf_binding_check_constraints(const struct kf_binding *b, kf_input_data_fn data_fn, void *ctx,
                                 struct kf_err *err);

/* An expression resolver over the binding's axes plus extra named facts
 * (e.g. device facts), for launch plans and workspace sizes. */
struct kf_bind_env {
    const struct kf_binding *b;
    const char *const *fact_names;   /* NULL-terminated, may be NULL */
    const int64_t *fact_values;
};
int kf_bind_env_resolve(void *env /* struct kf_bind_env* */, const struct kf_expr_ref *ref,
                        int64_t *out);

#endif
