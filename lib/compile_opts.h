/* compile_opts.h: the allow-list of spec.compile_options, kernelfarm's
 * extension of the FlashInfer-Trace BuildSpec (custom compiler flags, the
 * starter kit FAQ's wish). Each list element is one flag, one argv word:
 *
 *   -O0 .. -O3                        tvm-ffi lane only (nvcc and g++ -O)
 *   -use_fast_math, --use_fast_math   both lanes (device code)
 *   -lineinfo, --generate-line-info   both lanes
 *   -DNAME, -DNAME=VALUE              both lanes; NAME a C identifier, VALUE
 *                                     letters, digits and _ . + - only
 *   --maxrregcount=N, -maxrregcount=N both lanes; 16 <= N <= 255
 *   -std=c++17, -std=c++20            both lanes
 *   -Xptxas=-v, --ptxas-options=-v    both lanes (also -O0..-O3 for ptxas)
 *   -ftz=, -prec-div=, -prec-sqrt=, -fmad=  true|false; both lanes
 *   --expt-relaxed-constexpr, --extended-lambda, --expt-extended-lambda
 *                                     tvm-ffi lane only (NVRTC refuses them)
 *
 * Anything else is refused with the flag named. Pure; thread-safe.
 */
#ifndef KF_COMPILE_OPTS_H
#define KF_COMPILE_OPTS_H

#include <stdbool.h>

#include "kf_err.h"
#include "model.h"

enum kf_copt_lane { KF_COPT_NVRTC, KF_COPT_TVMFFI };

/* What a flag is for, once allowed. */
enum kf_copt_kind {
    KF_COPT_HOST_AND_DEVICE,  /* -O, -D, -std: nvcc and the host compiler */
    KF_COPT_DEVICE,           /* nvcc / NVRTC only (not passed to g++) */
};

/* 0 and *kind, or KF_EINVAL with *why (static text) saying what is wrong. */
int kf_copt_check(const char *flag, enum kf_copt_lane lane, enum kf_copt_kind *kind,
                  const char **why);

/* Check every spec.compile_options element for the solution's lane (nvrtc
 * for binding nvrtc; tvm-ffi for language cuda/cpp otherwise; the Python
 * lanes take none). KF_EINVAL with path "spec.compile_options[i]". */
int kf_solution_check_compile_options(const struct kf_solution *s, struct kf_err *err);

#endif
