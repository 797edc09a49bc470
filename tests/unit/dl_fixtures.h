/* dl_fixtures.h: shared fixtures for the data-layer unit tests: a small
 * definition / workload / nvrtc-lane solution / trace covering every
 * feature (var and const axes, scalar and 0-d tensors, an optional input,
 * constraints over axes, shapes and tensor data), JSON helpers, and where
 * the shared contest files live. Header-only, static functions.
 */
#ifndef KF_DL_FIXTURES_H
#define KF_DL_FIXTURES_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "jsonio.h"

#define TOY_DEF                                                                                  \
    "{\"name\":\"toy_add_h4\",\"description\":\"toy\",\"op_type\":\"toy\",\"tags\":[\"t:1\"],"   \
    "\"axes\":{\"n\":{\"type\":\"var\",\"description\":\"rows\"},"                               \
    "\"h\":{\"type\":\"const\",\"value\":4},\"len\":{\"type\":\"var\"},"                         \
    "\"total\":{\"type\":\"var\"}},"                                                            \
    "\"constraints\":[\"n % 2 == 0\",\"x.shape[-1] == h\",\"total == cu[-1].item()\"],"          \
    "\"inputs\":{\"x\":{\"shape\":[\"n\",\"h\"],\"dtype\":\"float32\"},"                         \
    "\"y\":{\"shape\":[\"n\",\"h\"],\"dtype\":\"bfloat16\",\"optional\":true},"                  \
    "\"cu\":{\"shape\":[\"len\"],\"dtype\":\"int32\"},"                                          \
    "\"alpha\":{\"shape\":null,\"dtype\":\"float32\"},"                                          \
    "\"z0\":{\"shape\":[],\"dtype\":\"float8_e4m3fn\"}},"                                       \
    "\"outputs\":{\"out\":{\"shape\":[\"n\",\"h\"],\"dtype\":\"float32\"}},"                     \
    "\"reference\":\"import torch\\n\\ndef run(x, y, cu, alpha, z0):\\n    return x\"}"

#define TOY_WL                                                                                   \
    "{\"uuid\":\"u-1\",\"axes\":{\"n\":6,\"len\":3,\"total\":9},"                                \
    "\"inputs\":{\"x\":{\"type\":\"random\"},"                                                   \
    "\"cu\":{\"type\":\"safetensors\",\"path\":\"./blob/toy/a.safetensors\","                    \
    "\"tensor_key\":\"cu\"},\"alpha\":{\"type\":\"scalar\",\"value\":0.5},"                      \
    "\"z0\":{\"type\":\"random\"}}}"

#define TOY_WL_LINE                                                                              \
    "{\"definition\":\"toy_add_h4\",\"solution\":null,\"workload\":" TOY_WL ",\"evaluation\":null}"

#define TOY_SRC                                                                                  \
    "#include <cuda_bf16.h>\\nextern \\\"C\\\" __global__ void __launch_bounds__(128) "          \
    "toy_kernel(const float* x, const void* y, float alpha, float* out, long long n) {}\\n"      \
    "extern \\\"C\\\" {\\n__global__ void toy_tail(float* out, void* tmp) {}\\n}\\n"

#define TOY_SOL                                                                                  \
    "{\"name\":\"toy_sol\",\"definition\":\"toy_add_h4\",\"author\":\"me\","                      \
    "\"spec\":{\"language\":\"cuda\",\"binding\":\"nvrtc\",\"target_hardware\":[\"cuda\"],"      \
    "\"entry_point\":\"k.cu::toy_kernel\",\"destination_passing_style\":true,"                  \
    "\"launch\":[{\"kernel\":\"toy_kernel\",\"grid\":[\"cdiv(n * h, 128)\",1],\"block\":[128],"   \
    "\"shared_mem_bytes\":0,\"args\":[\"x\",\"y\",\"alpha\",\"out\",\"n\",3,0.5,\"n * h\"]},"    \
    "{\"kernel\":\"toy_tail\",\"grid\":[\"num_sms\"],\"block\":[32,4],\"cluster\":[1],"          \
    "\"args\":[\"out\",\"tmp\"]}],"                                                             \
    "\"workspace\":[{\"name\":\"tmp\",\"bytes\":\"n * 4\",\"zero\":true}]},"                     \
    "\"sources\":[{\"path\":\"k.cu\",\"content\":\"" TOY_SRC "\"},"                              \
    "{\"path\":\"inc/util.cuh\",\"content\":\"// util\"}]}"

#define TOY_TRACE                                                                                \
    "{\"definition\":\"toy_add_h4\",\"workload\":" TOY_WL ",\"solution\":\"toy_sol\","           \
    "\"evaluation\":{\"status\":\"PASSED\",\"log\":\"\",\"environment\":{\"hardware\":"          \
    "\"NVIDIA_H100\",\"libs\":{\"cuda\":\"13.0\"}},\"timestamp\":\"2026-11-22T04:00:00Z\","       \
    "\"correctness\":{\"max_relative_error\":0.001,\"max_absolute_error\":\"NaN\",\"extra\":null},"\
    "\"performance\":{\"latency_ms\":0.5,\"reference_latency_ms\":1.0,\"speedup_factor\":2.0},"   \
    "\"stats\":{\"n\":3}}}"

static inline json_t *fx_json(const char *s)
{
    struct kf_err err;
    json_t *j = kf_json_loadb(s, strlen(s), &err);
    if (!j) {
        fprintf(stderr, "fixture JSON: %s\n", err.msg);
        abort();
    }
    return j;
}

/* The shared contest data directory, or NULL (with a loud NOT RUN line)
 * if it is absent. */
static inline const char *fx_contest_dir(const char *what)
{
    static char buf[1024];
    const char *p = getenv("KF_CONTEST_DATA");
    struct stat sb;
    snprintf(buf, sizeof buf, "%s", p && *p ? p : KF_SOURCE_DIR "/../shared/datasets/mlsys26");
    if (stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        printf("NOT RUN: contest files not found at %s (%s)\n", buf, what);
        return NULL;
    }
    return buf;
}

#endif
