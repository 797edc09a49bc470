/* model.h: the FlashInfer-Trace data model: Definition, Workload, Solution
 * and Trace, parsed from jansson values with strict validation, and
 * serialised back (round-trip stable: to_json(from_json(x)) parses to the
 * same object and serialises byte-identically with JSON_SORT_KEYS off).
 *
 * Every rejection fills struct kf_err with the JSON path of the offending
 * field ("inputs.q.dtype", "spec.launch[0].grid[1]", "$" for the root) and a
 * reason. Parsed objects are immutable after parsing: thread-safe to share.
 *
 * Ownership: *_from_json returns a new object (free with the matching
 * *_free, which accepts NULL); *_to_json returns a new reference.
 * Pointers returned by lookups are borrowed from the parent object.
 */
#ifndef KF_MODEL_H
#define KF_MODEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "dtype.h"
#include "expr.h"
#include "kf_err.h"

#define KF_MAX_DIMS 8

/* ---- Definition ---------------------------------------------------------- */

struct kf_axis {
    char *name;
    bool is_const;      /* "type": "const" (value set) or "var" */
    int64_t value;      /* const axes only */
    char *description;  /* may be NULL */
};

struct kf_tensor_spec {
    char *name;
    bool is_scalar;     /* "shape": null -> a scalar passed by value */
    int ndim;           /* 0 with is_scalar false means a 0-d tensor ("shape": []) */
    char **shape;       /* ndim axis names */
    enum kf_dtype dtype;
    bool optional;      /* "optional": true (inputs only) */
    char *description;  /* may be NULL */
};

struct kf_definition {
    char *name;
    char *op_type;
    char *description;          /* may be NULL */
    char **tags; int ntags;
    struct kf_axis *axes; int naxes;             /* in document order */
    char **constraints; int nconstraints;
    struct kf_expr **constraint_exprs;           /* parsed, same order; those over
                                                    const axes only must hold */
    struct kf_tensor_spec *inputs; int ninputs;  /* in document order */
    struct kf_tensor_spec *outputs; int noutputs;
    char *reference;            /* reference source text (may be NULL) */
    json_t *json;               /* the document as parsed, reference elided (owned;
                                   NULL if built in code): key order and unknown
                                   keys for a byte-stable round trip */
};

int kf_definition_from_json(const json_t *j, struct kf_definition **out, struct kf_err *err);
json_t *kf_definition_to_json(const struct kf_definition *d);
void kf_definition_free(struct kf_definition *d);
/* Lookups: NULL if absent. Borrowed. */
const struct kf_axis *kf_definition_axis(const struct kf_definition *d, const char *name);
const struct kf_tensor_spec *kf_definition_input(const struct kf_definition *d, const char *name);
const struct kf_tensor_spec *kf_definition_output(const struct kf_definition *d, const char *name);
int kf_definition_input_index(const struct kf_definition *d, const char *name);   /* -1 if absent */
int kf_definition_output_index(const struct kf_definition *d, const char *name);  /* -1 if absent */

/* ---- Workload ------------------------------------------------------------ */

enum kf_input_kind { KF_IN_RANDOM, KF_IN_SCALAR, KF_IN_SAFETENSORS };

struct kf_workload_input {
    char *name;
    enum kf_input_kind kind;
    /* scalar: the JSON value as given (number or bool); both views kept */
    bool scalar_is_int;
    int64_t scalar_int;
    double scalar_real;
    bool scalar_is_bool;    /* written as true/false (scalar_int 0/1) */
    /* safetensors */
    char *path;         /* as written, relative to the dataset root */
    char *tensor_key;
};

struct kf_workload_axis { char *name; int64_t value; };

struct kf_workload {
    char *uuid;
    struct kf_workload_axis *axes; int naxes;
    struct kf_workload_input *inputs; int ninputs;
    json_t *json;       /* the bare workload object as parsed (owned; may be NULL) */
};

/* Accepts a bare workload object, or a dataset line
 * {"definition", "workload", "solution": null, "evaluation": null}; for the
 * latter *definition_name (if non-NULL) receives a new string (free()). */
int kf_workload_from_json(const json_t *j, struct kf_workload **out, char **definition_name,
                          struct kf_err *err);
json_t *kf_workload_to_json(const struct kf_workload *w);
/* The dataset line {"definition", "solution": null, "workload", "evaluation": null}. */
json_t *kf_workload_line_to_json(const struct kf_workload *w, const char *definition);
void kf_workload_free(struct kf_workload *w);
const struct kf_workload_input *kf_workload_input(const struct kf_workload *w, const char *name);
/* Check a workload against its definition: every var axis bound (and no
 * const/unknown axis), every non-optional input described, scalar inputs
 * only for scalar specs (value type fitting the dtype), shapes and sizes
 * computable. Constraints are not enforced (see kf_bind): */
int kf_workload_check(const struct kf_workload *w, const struct kf_definition *d,
                      struct kf_err *err);
/* Do the definition's constraints that need no tensor data hold for w?
 * KF_EINVAL with path "constraints[i]" if not. The dataset loader and the
 * tools report a failure as a warning. */
int kf_workload_check_constraints(const struct kf_workload *w, const struct kf_definition *d,
                                  struct kf_err *err);

/* ---- Solution ------------------------------------------------------------ */

struct kf_source { char *path; char *content; };

/* An integer expression as written in a launch plan: a JSON integer or a
 * string expression. Both forms are kept so serialisation round-trips. */
struct kf_lexpr {
    char *src;              /* source text ("128" for the integer 128) */
    bool was_int;           /* written as a JSON integer */
    struct kf_expr *expr;   /* parsed */
};

enum kf_arg_kind {
    KF_ARG_INPUT,       /* device pointer to an input tensor (NULL if an absent optional) */
    KF_ARG_OUTPUT,      /* device pointer to an output tensor */
    KF_ARG_SCALAR,      /* a scalar input (shape null), by value in its dtype */
    KF_ARG_WORKSPACE,   /* device pointer to a workspace */
    KF_ARG_INT,         /* int64 by value: an axis, an integer literal or an expression */
    KF_ARG_FLOAT,       /* float (32-bit) by value: a JSON real literal */
};

struct kf_launch_arg {
    enum kf_arg_kind kind;
    char *src;              /* as written ("q", "batch_size", "128", "0.5") */
    int index;              /* input/output/workspace index for pointer kinds and SCALAR */
    struct kf_lexpr value;  /* KF_ARG_INT: the expression (axis name or literal) */
    double fvalue;          /* KF_ARG_FLOAT */
};

struct kf_launch_step {
    char *kernel;                           /* extern "C" __global__ symbol */
    struct kf_lexpr grid[3]; int ngrid;     /* 1..3 */
    struct kf_lexpr block[3]; int nblock;   /* 1..3 */
    struct kf_lexpr shared_mem_bytes;       /* dynamic smem; src NULL if absent (0) */
    struct kf_lexpr cluster[3]; int ncluster; /* 0 if absent */
    struct kf_launch_arg *args; int nargs;
};

struct kf_workspace {
    char *name;
    struct kf_lexpr bytes;
    bool zero;              /* memset 0 before every call */
};

struct kf_solution_spec {
    char *language;         /* "cuda", "triton", "python", "cpp", ... */
    char *binding;          /* "nvrtc", "tvm-ffi", "torch"; NULL if absent */
    char **target_hardware; int ntarget_hardware;
    char *entry_point;      /* "file::symbol" */
    char **dependencies; int ndependencies;
    bool has_dps; bool destination_passing_style;
    char **compile_options; int ncompile_options;    /* kernelfarm: allow-listed
                                                        flags (lib/compile_opts.h);
                                                        NULL if absent */
    struct kf_launch_step *launch; int nlaunch;      /* nvrtc lane only */
    struct kf_workspace *workspace; int nworkspace;  /* nvrtc lane only */
};

struct kf_solution {
    char *name;
    char *definition;
    char *author;
    char *description;      /* may be NULL */
    struct kf_solution_spec spec;
    struct kf_source *sources; int nsources;
    json_t *json;           /* the document as parsed, source contents elided
                               (owned; may be NULL): key order, unknown keys */
};

/* Structural validation of a solution document (fields, types, entry_point
 * naming a file in sources, relative source paths without "..", no
 * duplicates, launch plan syntax). */
int kf_solution_from_json(const json_t *j, struct kf_solution **out, struct kf_err *err);
json_t *kf_solution_to_json(const struct kf_solution *s);
void kf_solution_free(struct kf_solution *s);
/* Semantic check against the definition: names match, launch plan kernels
 * are defined with extern "C" in the sources, every argument resolves to an
 * input/output/axis/workspace/literal, expressions use only axis names and
 * device facts (num_sms, ...), all outputs appear among the arguments.
 * After parsing, a string launch argument's kind is KF_ARG_WORKSPACE (index
 * set) or provisionally KF_ARG_INT (index -1); this check resolves names of
 * inputs/outputs to KF_ARG_INPUT / KF_ARG_SCALAR / KF_ARG_OUTPUT with their
 * index (the one mutation after parsing: call it before sharing s between
 * threads; calling it again is harmless). */
int kf_solution_check(const struct kf_solution *s, const struct kf_definition *d,
                      struct kf_err *err);
/* True for the nvrtc lane (language cuda, binding nvrtc). */
bool kf_solution_is_nvrtc(const struct kf_solution *s);
/* Device facts usable in launch-plan expressions, NULL-terminated. */
extern const char *const kf_device_facts[];

/* ---- Trace --------------------------------------------------------------- */

enum kf_status {
    KF_ST_PASSED = 0, KF_ST_INCORRECT_SHAPE, KF_ST_INCORRECT_NUMERICAL, KF_ST_INCORRECT_DTYPE,
    KF_ST_RUNTIME_ERROR, KF_ST_COMPILE_ERROR, KF_ST_TIMEOUT, KF_ST_COUNT
};
const char *kf_status_name(enum kf_status st);   /* "PASSED", ... */
int kf_status_from_name(const char *name);        /* -1 if unknown */

/* Traces are built and stored as JSON (the worker adds extra fields); this
 * validates one against the FlashInfer-Trace rules: required fields, status
 * name, correctness present only for PASSED/INCORRECT_NUMERICAL, performance
 * only for PASSED, environment.hardware a string, a workload trace (no
 * solution) has evaluation null. */
int kf_trace_validate(const json_t *trace, struct kf_err *err);

/* Detect a document's kind from its fields: "definition", "workload",
 * "solution", "trace"; NULL if none fits. */
const char *kf_model_detect_kind(const json_t *j);

#endif
