/* test_floor.c: speed-of-light floors (worker/floor.c). For each contest
 * definition (the repo's dataset/definitions, bound to workloads with the
 * contest's own axis values from dataset/axes/ TSVs), bytes and FLOPs
 * against values worked out by hand below, with and without a host view of
 * the data-dependent inputs; the floor at margin 1 below the latencies that
 * docs/kernels.md reports for the reference kernels and examples; the peak
 * table, unknown hardware, margin 0 and bad margins, the generic model, the
 * rank verdict and its messages. With the contest files present
 * (fx_contest_dir), the contest's own definitions give the same floors and
 * the contest's MoE workload line binds.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "bind.h"
#include "dl_fixtures.h"
#include "dtype.h"
#include "floor.h"
#include "jsonio.h"
#include "kf_check.h"
#include "xalloc.h"

#ifndef KF_SOURCE_DIR
#define KF_SOURCE_DIR "."
#endif

#define GDN_DEC "gdn_decode_qk4_v8_d128_k_last"
#define GDN_PRE "gdn_prefill_qk4_v8_d128_k_last"
#define DSA_ATT "dsa_sparse_attention_h16_ckv512_kpe64_topk2048_ps64"
#define DSA_IDX "dsa_topk_indexer_fp8_h64_d128_topk2048_ps64"
#define MOE "moe_fp8_block_scale_ds_routing_topk8_ng8_kg4_e32_h7168_i2048"

static struct kf_definition *load_def_at(const char *path)
{
    struct kf_err err = {0};
    struct kf_definition *d = NULL;
    json_t *j = kf_json_load_file(path, 0, &err);
    ck_assert_msg(j != NULL, "%s: %s", path, err.msg);
    ck_assert_msg(kf_definition_from_json(j, &d, &err) == 0, "%s: %s %s", path, err.path, err.msg);
    json_decref(j);
    return d;
}

static struct kf_definition *load_def(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/dataset/definitions/%s/%s.json", KF_SOURCE_DIR, dir, name);
    return load_def_at(path);
}

/* A workload of d: uuid and axes as in the contest (dataset/axes), every
 * tensor input random except those named in omit (space-separated, only
 * optional ones), scalar inputs int_scalar (integer dtypes) or 0.5. It must
 * pass kf_workload_check. */
static struct kf_workload *mkwl(const struct kf_definition *d, const char *uuid, const char *axes,
                                const char *omit, int64_t int_scalar)
{
    struct kf_err err = {0};
    struct kf_workload *w = NULL;
    json_t *in = json_object(), *j;
    for (int i = 0; i < d->ninputs; i++) {
        const struct kf_tensor_spec *s = &d->inputs[i];
        char pad[128];
        snprintf(pad, sizeof pad, " %s ", s->name);
        if (omit) {
            char o[256];
            snprintf(o, sizeof o, " %s ", omit);
            if (strstr(o, pad))
                continue;
        }
        if (s->is_scalar)
            json_object_set_new(in, s->name,
                                kf_dtype_is_float(s->dtype)
                                    ? json_pack("{s:s, s:f}", "type", "scalar", "value", 0.5)
                                    : json_pack("{s:s, s:I}", "type", "scalar", "value",
                                                (json_int_t)int_scalar));
        else
            json_object_set_new(in, s->name, json_pack("{s:s}", "type", "random"));
    }
    j = json_pack("{s:s, s:o, s:o}", "uuid", uuid, "axes", fx_json(axes), "inputs", in);
    ck_assert_msg(kf_workload_from_json(j, &w, NULL, &err) == 0, "%s %s", err.path, err.msg);
    ck_assert_msg(kf_workload_check(w, d, &err) == 0, "%s %s", err.path, err.msg);
    json_decref(j);
    return w;
}

static struct kf_binding *bind(const struct kf_definition *d, const struct kf_workload *w)
{
    struct kf_err err = {0};
    struct kf_binding *b = NULL;
    ck_assert_msg(kf_bind(d, w, 0, &b, &err) == 0, "%s %s", err.path, err.msg);
    return b;
}

/* Host views for ev_floor_compute_data: ptr[i] per input index. */
struct views { const void *ptr[16]; };

static const void *view(void *ctx, int i)
{
    struct views *v = ctx;
    return i >= 0 && i < 16 ? v->ptr[i] : NULL;
}

static void set_view(struct views *v, const struct kf_definition *d, const char *name,
                     const void *p)
{
    int i = kf_definition_input_index(d, name);
    ck_assert_int_ge(i, 0);
    ck_assert_int_lt(i, 16);
    v->ptr[i] = p;
}

static void floor_ok(const struct kf_definition *d, const struct kf_binding *b,
                     const struct ev_floor_data *data, const char *hw, double margin,
                     struct ev_floor *f)
{
    struct kf_err err = {0};
    ck_assert_msg(ev_floor_compute_data(d, b, data, hw, margin, f, &err) == 0, "%s %s", err.path,
                  err.msg);
}

/* |a - b| within 1e-9 relative (all expected values are exact integers). */
#define ck_near(a, b) ck_assert_msg(fabs((a) - (b)) <= 1e-9 * fabs(b), "%.17g != %.17g", \
                                    (double)(a), (double)(b))

/* ---- peaks ------------------------------------------------------------- */

START_TEST(test_peaks)
{
    const struct ev_gpu_peak *p = ev_gpu_peak_find("NVIDIA_H100");
    ck_assert_ptr_nonnull(p);
    /* one name covers H100 SXM5 (3.35 TB/s), NVL (3.9) and PCIe (2.0): the highest */
    ck_assert(p->hbm_bytes_per_s == 3.9e12);
    ck_assert(p->bf16_flops == 989.4e12 && p->fp8_flops == 1978.9e12);
    ck_assert(p->l2_bytes == 60.0 * 1024 * 1024);
    p = ev_gpu_peak_find("NVIDIA_H200");
    ck_assert(p && p->hbm_bytes_per_s == 4.8e12 && p->fp8_flops == 1978.9e12);
    p = ev_gpu_peak_find("NVIDIA_B200");
    ck_assert(p && p->hbm_bytes_per_s == 8.0e12 && p->bf16_flops == 2250e12 &&
              p->fp8_flops == 4500e12 && p->l2_bytes == 128.0 * 1024 * 1024);
    ck_assert_ptr_null(ev_gpu_peak_find("NVIDIA_A100"));
    ck_assert_ptr_null(ev_gpu_peak_find("nvidia_h100"));
    ck_assert_ptr_null(ev_gpu_peak_find(""));
    ck_assert_ptr_null(ev_gpu_peak_find(NULL));
}
END_TEST

/* ---- GDN decode -------------------------------------------------------- */

START_TEST(test_gdn_decode)
{
    struct kf_definition *d = load_def("gdn", GDN_DEC);
    /* contest workload eaf0a285..., batch_size 64 */
    struct kf_workload *w = mkwl(d, "eaf0a285-447c-4432-8e68-d287acc3cb08", "{\"batch_size\":64}",
                                 NULL, 0);
    struct kf_workload *w0 = mkwl(d, "eaf0a285-447c-4432-8e68-d287acc3cb08",
                                  "{\"batch_size\":64}", "state", 0);
    struct kf_binding *b = bind(d, w), *b0 = bind(d, w0);
    struct views v = {{0}};
    struct ev_floor_data data = {w, view, &v}, data0 = {w0, view, &v};
    struct ev_floor f;
    float alog[8], dtb[8];
    uint16_t a[64 * 8];
    /* gates: A_log 0.1 h, dt_bias 0, a 0: g = exp(-exp(0.1 h) ln 2), all
     * well above 0, so every (row, head) state must be read */
    for (int h = 0; h < 8; h++)
        alog[h] = 0.1f * (float)h, dtb[h] = 0;
    for (int i = 0; i < 64 * 8; i++)
        a[i] = kf_f32_to_bf16(0.0f);
    set_view(&v, d, "A_log", alog);
    set_view(&v, d, "dt_bias", dtb);
    set_view(&v, d, "a", a);
    /* B = 64, 4 q/k heads, 8 v heads, D = 128:
     *   q, k       64*4*128*2      =    65536 each
     *   v          64*8*128*2      =   131072
     *   state      64*8*128*128*4  = 33554432
     *   A_log, dt_bias  8*4        =       32 each
     *   a, b       64*8*2          =     1024 each
     *   output     64*8*128*2      =   131072
     *   new_state  64*8*128*128*4  = 33554432
     * total 67504192 (docs/kernels.md: 67.5 MB). FLOPs 6 per state element:
     * 64*8*128*128*6 = 50331648. */
    floor_ok(d, b, &data, "NVIDIA_H200", 1.0, &f);
    ck_assert_str_eq(f.model, "gdn_decode");
    ck_near(f.bytes, 67504192.0);
    ck_near(f.flops, 50331648.0);
    ck_assert_int_eq(f.from_data, 1);
    ck_assert_str_eq(f.bound, "bytes/bandwidth");
    ck_assert_str_eq(f.peak, "bf16");
    /* the written 131072 + 33554432 = 33685504 bytes fit the L2 (60 MiB
     * taken): only the 33818688 read bytes must cross HBM in the call:
     * 7.05 us (14.06 us with the writes) */
    ck_near(f.l2_credit, 33685504.0);
    ck_near(f.mem_ms, 33818688.0 / 4.8e12 * 1e3);
    ck_near(f.compute_ms, 50331648.0 / 989.4e12 * 1e3);
    ck_near(f.floor_ms, f.mem_ms);
    /* H200, docs/kernels.md: reference 19.7 us, example 16.0 us */
    ck_assert(f.floor_ms <= 19.7e-3 && f.floor_ms <= 16.0e-3);
    /* H100: reference 29.57 us, example 27.46 us */
    floor_ok(d, b, &data, "NVIDIA_H100", 1.0, &f);
    ck_assert(f.floor_ms <= 29.57e-3 && f.floor_ms <= 27.46e-3);
    /* margin 0.8 */
    floor_ok(d, b, &data, "NVIDIA_H100", 0.8, &f);
    ck_near(f.floor_ms, 33818688.0 / 3.9e12 * 1e3 * 0.8);
    ck_assert(f.margin == 0.8);
    /* state absent: nothing to read, 2 FLOPs per element (k u^T):
     * 67504192 - 33554432 = 33949760; 64*8*16384*2 = 16777216 */
    floor_ok(d, b0, &data0, "NVIDIA_H100", 1.0, &f);
    ck_near(f.bytes, 33949760.0);
    ck_near(f.flops, 16777216.0);
    /* without the workload the optional state counts as absent, and
     * without the gates every decay may be 0 (the minimum): no state read */
    floor_ok(d, b, NULL, "NVIDIA_H100", 1.0, &f);
    ck_near(f.bytes, 33949760.0);
    ck_assert_int_eq(f.from_data, 0);
    set_view(&v, d, "a", NULL);
    floor_ok(d, b, &data, "NVIDIA_H100", 1.0, &f);
    ck_near(f.bytes, 33949760.0);
    ck_near(f.flops, 16777216.0);
    ck_assert_int_eq(f.from_data, 0);
    /* decays that are 0 in fp32: row 0, every head a = 100 (softplus 100,
     * g <= exp(-100)); row 1 head 3 a = NaN. 512 - 9 = 503 states read:
     * 33949760 + 503*65536 = 66914368 bytes; FLOPs (503*6 + 9*2)*16384 =
     * 49741824 */
    set_view(&v, d, "a", a);
    for (int h = 0; h < 8; h++)
        a[h] = kf_f32_to_bf16(100.0f);
    a[8 + 3] = kf_f32_to_bf16(NAN);
    floor_ok(d, b, &data, "NVIDIA_H100", 1.0, &f);
    ck_near(f.bytes, 66914368.0);
    ck_near(f.flops, 49741824.0);
    ck_assert_int_eq(f.from_data, 1);
    kf_binding_free(b);
    kf_binding_free(b0);
    kf_workload_free(w);
    kf_workload_free(w0);
    /* B = 1 (901e5104...): (67504192 - 64) / 64 + 64 = 1054816 bytes;
     * H100 reference 4.54 us, example 4.67 us */
    w = mkwl(d, "901e5104-dccb-4c3f-ae13-ef4d31a4d456", "{\"batch_size\":1}", NULL, 0);
    b = bind(d, w);
    data.w = w;
    for (int h = 0; h < 8; h++)
        a[h] = kf_f32_to_bf16(0.0f);
    floor_ok(d, b, &data, "NVIDIA_H100", 1.0, &f);
    ck_near(f.bytes, 1054816.0);
    ck_assert(f.floor_ms <= 4.54e-3);
    kf_binding_free(b);
    kf_workload_free(w);
    kf_definition_free(d);
}
END_TEST

/* ---- GDN prefill ------------------------------------------------------- */

START_TEST(test_gdn_prefill)
{
    struct kf_definition *d = load_def("gdn", GDN_PRE);
    /* contest workload 9a5d694b...: total_seq_len 8192, 57 sequences */
    struct kf_workload *w = mkwl(d, "9a5d694b-7d4c-4ee6-8315-a13053ab6f92",
                                 "{\"total_seq_len\":8192,\"num_seqs\":57,\"len_cu_seqlens\":58}",
                                 NULL, 0);
    struct kf_binding *b = bind(d, w);
    struct views v = {{0}};
    struct ev_floor_data data = {w, view, &v};
    struct ev_floor f;
    float alog[8] = {0}, dtb[8] = {0};
    uint16_t *a = xcalloc(8192 * 8, sizeof *a);   /* bf16 0: g = 2^-1 */
    int64_t cu[58];
    /* 57 sequences of 143 or 144 tokens cover all 8192 tokens */
    for (int i = 0; i <= 57; i++)
        cu[i] = (int64_t)i * 8192 / 57;
    set_view(&v, d, "A_log", alog);
    set_view(&v, d, "dt_bias", dtb);
    set_view(&v, d, "a", a);
    set_view(&v, d, "cu_seqlens", cu);
    /* T = 8192, N = 57:
     *   q, k        8192*4*128*2   =  8388608 each
     *   v           8192*8*128*2   = 16777216
     *   state       57*8*128*128*4 = 29884416
     *   A_log, dt_bias                    32 each
     *   a, b        8192*8*2       =   131072 each
     *   cu_seqlens  58*8           =      464
     *   output      8192*8*128*2   = 16777216
     *   new_state                    29884416
     * total 110363152 (docs: 110.4 MB). FLOPs: one multiply-add per state
     * element and token: 2*8192*8*128*128 = 2147483648. */
    floor_ok(d, b, &data, "NVIDIA_H100", 1.0, &f);
    ck_assert_str_eq(f.model, "gdn_prefill");
    ck_near(f.bytes, 110363152.0);
    ck_near(f.flops, 2147483648.0);
    ck_assert_str_eq(f.bound, "bytes/bandwidth");
    /* H100 reference 404 us, example 447 us; H200 359 / 430 us */
    ck_assert(f.floor_ms <= 404e-3);
    /* written 16777216 + 29884416 = 46661632 (< 60 MiB of L2): HBM bytes
     * 110363152 - 46661632 = 63701520 */
    floor_ok(d, b, &data, "NVIDIA_H200", 1.0, &f);
    ck_near(f.l2_credit, 46661632.0);
    ck_near(f.floor_ms, 63701520.0 / 4.8e12 * 1e3);
    ck_assert(f.floor_ms <= 359e-3);
    kf_binding_free(b);
    kf_workload_free(w);
    /* 07aa7922...: T = 5709, N = 2:
     *   q, k 5709*1024 = 5846016 each; v 11692032; state 2*524288 = 1048576;
     *   A_log + dt_bias 64; a + b 5709*16*2 = 182688; cu_seqlens 24;
     *   output 11692032; new_state 1048576: total 37356024 (docs: 37.4 MB).
     * H200 reference 1240 us. */
    w = mkwl(d, "07aa7922-1848-48a9-830a-54216b5553b3",
             "{\"total_seq_len\":5709,\"num_seqs\":2,\"len_cu_seqlens\":3}", NULL, 0);
    b = bind(d, w);
    data.w = w;
    cu[0] = 0, cu[1] = 2854, cu[2] = 5709;
    floor_ok(d, b, &data, "NVIDIA_H200", 1.0, &f);
    ck_near(f.bytes, 37356024.0);
    ck_assert(f.floor_ms <= 1240e-3);
    kf_binding_free(b);
    kf_workload_free(w);
    /* Tokens outside every sequence, an empty sequence, a zero decay:
     * total_seq_len 10, 3 sequences, cu_seqlens 0, 4, 4, 7: sequence 0 =
     * tokens 0-3, sequence 1 empty (its new_state is zeros: no read),
     * sequence 2 = tokens 4-6, tokens 7-9 in none (output zeros). Head 5
     * decays to 0 at token 4 (a = 100): 2*8 - 1 = 15 states read.
     *   outputs 10*8*128*2 = 20480 + 3*8*128*128*4 = 1572864: 1593344
     *   cu_seqlens 4*8 = 32; A_log + dt_bias 64
     *   7 covered tokens * (q 1024 + k 1024 + v 2048 + a 16 + b 16) = 28896
     *   states 15*65536 = 983040
     * total 2605376; FLOPs 2*7*8*128*128 = 1835008. */
    w = mkwl(d, "u-small", "{\"total_seq_len\":10,\"num_seqs\":3,\"len_cu_seqlens\":4}",
             NULL, 0);
    b = bind(d, w);
    data.w = w;
    cu[0] = 0, cu[1] = 4, cu[2] = 4, cu[3] = 7;
    a[4 * 8 + 5] = kf_f32_to_bf16(100.0f);
    floor_ok(d, b, &data, "NVIDIA_H100", 1.0, &f);
    ck_near(f.bytes, 2605376.0);
    ck_near(f.flops, 1835008.0);
    ck_assert_int_eq(f.from_data, 1);
    /* state absent: 2605376 - 983040 = 1622336 */
    kf_binding_free(b);
    kf_workload_free(w);
    w = mkwl(d, "u-small", "{\"total_seq_len\":10,\"num_seqs\":3,\"len_cu_seqlens\":4}",
             "state", 0);
    b = bind(d, w);
    data.w = w;
    floor_ok(d, b, &data, "NVIDIA_H100", 1.0, &f);
    ck_near(f.bytes, 1622336.0);
    /* no cu_seqlens on the host: every token may lie outside the sequences:
     * outputs and cu_seqlens, 1593376 */
    set_view(&v, d, "cu_seqlens", NULL);
    floor_ok(d, b, &data, "NVIDIA_H100", 1.0, &f);
    ck_near(f.bytes, 1593376.0);
    ck_assert(f.flops == 0);
    ck_assert_int_eq(f.from_data, 0);
    kf_binding_free(b);
    kf_workload_free(w);
    free(a);
    kf_definition_free(d);
}
END_TEST

/* ---- DSA sparse attention ---------------------------------------------- */

START_TEST(test_dsa_attention)
{
    struct kf_definition *d = load_def("dsa_paged", DSA_ATT);
    /* contest workload 385742b2...: 8 tokens, 8462 pages */
    struct kf_workload *w = mkwl(d, "385742b2717e4f02b918c7349dde23d8",
                                 "{\"num_tokens\":8,\"num_pages\":8462}", NULL, 0);
    struct kf_binding *b = bind(d, w);
    struct views v = {{0}};
    struct ev_floor_data data = {w, view, &v};
    struct ev_floor f;
    int32_t *idx = xmalloc(8 * 2048 * sizeof *idx);
    /* Without the indices every token may select nothing: the outputs
     * (output 8*16*512*2 = 131072, lse 8*16*4 = 512) and one index per
     * token (8*4 = 32): 131616 bytes, no FLOPs. */
    floor_ok(d, b, NULL, "NVIDIA_H100", 1.0, &f);
    ck_assert_str_eq(f.model, "dsa_sparse_attention");
    ck_near(f.bytes, 131616.0);
    ck_assert(f.flops == 0);
    ck_assert_int_eq(f.from_data, 0);
    /* All 2048 entries of every token valid and distinct (docs' largest
     * case): 16384 slots * (512 + 64) * 2 = 18874368 of ckv/kpe rows,
     * q 8*16*576*2 = 147456, indices 8*2048*4 = 65536, outputs 131584:
     * 19218944 (docs: 19.22 MB). FLOPs 2*16*(512+64+512)*16384 = 570425344. */
    for (int i = 0; i < 8 * 2048; i++)
        idx[i] = 1000 + i;
    set_view(&v, d, "sparse_indices", idx);
    floor_ok(d, b, &data, "NVIDIA_H100", 1.0, &f);
    ck_near(f.bytes, 19218944.0);
    ck_near(f.flops, 570425344.0);
    ck_assert_int_eq(f.from_data, 1);
    ck_assert_str_eq(f.peak, "bf16");
    /* H100 reference 41.9 us, example 24.4 us; H200 34.5 / 16.8 us */
    ck_assert(f.floor_ms <= 24.4e-3);
    floor_ok(d, b, &data, "NVIDIA_H200", 1.0, &f);
    ck_assert(f.floor_ms <= 16.8e-3);
    /* Every token selecting the same 2048 slots: the rows move once:
     * 2048*1152 = 2359296 + q 147456 + indices 65536 + outputs 131584 =
     * 2703872; FLOPs unchanged (each token still attends to 2048). */
    for (int t = 0; t < 8; t++)
        for (int j = 0; j < 2048; j++)
            idx[t * 2048 + j] = 5000 + j;
    floor_ok(d, b, &data, "NVIDIA_H100", 1.0, &f);
    ck_near(f.bytes, 2703872.0);
    ck_near(f.flops, 570425344.0);
    /* Padding, duplicates and slots outside the pool (8462*64 = 541568):
     *   token 0: 5, 6, 7, 5, -1...        last valid at 3: 5 entries read
     *   token 1: 6, 100, 541568, -1...    last valid at 1: 3 entries read
     *   tokens 2-7: all -1                1 entry read each
     * distinct slots {5, 6, 7, 100}: 4*1152 = 4608; q of tokens 0, 1:
     * 2*16*576*2 = 36864; indices (5+3+6)*4 = 56; outputs 131584:
     * 173112. FLOPs: distinct slots per token 3 + 2 = 5:
     * 2*16*1088*5 = 174080. */
    for (int i = 0; i < 8 * 2048; i++)
        idx[i] = -1;
    idx[0] = 5, idx[1] = 6, idx[2] = 7, idx[3] = 5;
    idx[2048] = 6, idx[2049] = 100, idx[2050] = 541568;
    floor_ok(d, b, &data, "NVIDIA_H100", 1.0, &f);
    ck_near(f.bytes, 173112.0);
    ck_near(f.flops, 174080.0);
    /* no host view: the minimum again */
    set_view(&v, d, "sparse_indices", NULL);
    floor_ok(d, b, &data, "NVIDIA_H100", 1.0, &f);
    ck_near(f.bytes, 131616.0);
    ck_assert_int_eq(f.from_data, 0);
    free(idx);
    kf_binding_free(b);
    kf_workload_free(w);
    kf_definition_free(d);
}
END_TEST

/* ---- DSA top-k indexer ------------------------------------------------- */

START_TEST(test_dsa_indexer)
{
    struct kf_definition *d = load_def("dsa_paged", DSA_IDX);
    /* contest workload 5db1b172...: 30 rows, 91 pages at most, 11923 pages */
    struct kf_workload *w = mkwl(d, "5db1b172-eda8-4714-9981-a069dc33d7e9",
                                 "{\"batch_size\":30,\"max_num_pages\":91,\"num_pages\":11923}",
                                 NULL, 0);
    struct kf_binding *b = bind(d, w);
    struct views v = {{0}};
    struct ev_floor_data data = {w, view, &v};
    struct ev_floor f;
    int32_t sl[30], *bt = xmalloc(30 * 91 * sizeof *bt);
    /* Without seq_lens / block_table: every row may be empty: seq_lens
     * 30*4 = 120 and the output 30*2048*4 = 245760: 245880. */
    floor_ok(d, b, NULL, "NVIDIA_H100", 1.0, &f);
    ck_assert_str_eq(f.model, "dsa_topk_indexer");
    ck_near(f.bytes, 245880.0);
    ck_assert(f.flops == 0);
    /* Every row full (docs' largest case): 91*64 = 5824 tokens on 91
     * pages of its own (pages 1 + 91 r + j):
     *   keys 30*5824 tokens * (128 + 4) = 23063040
     *   block table 30*91*4 = 10920; q + weights 30*64*(128 + 4) = 253440
     *   seq_lens 120; output 245760
     * total 23573280 (docs: 23.57 MB). FLOPs 2*64*128*174720 = 2862612480. */
    for (int r = 0; r < 30; r++) {
        sl[r] = 5824;
        for (int j = 0; j < 91; j++)
            bt[r * 91 + j] = 1 + 91 * r + j;
    }
    set_view(&v, d, "seq_lens", sl);
    set_view(&v, d, "block_table", bt);
    floor_ok(d, b, &data, "NVIDIA_H100", 1.0, &f);
    ck_near(f.bytes, 23573280.0);
    ck_near(f.flops, 2862612480.0);
    ck_assert_str_eq(f.peak, "fp8");
    ck_assert_str_eq(f.bound, "bytes/bandwidth");
    /* H100 reference 35.9 us, example 37.6 us; H200 28.9 / 24.0 us */
    ck_assert(f.floor_ms <= 35.9e-3);
    floor_ok(d, b, &data, "NVIDIA_H200", 1.0, &f);
    ck_assert(f.floor_ms <= 24.0e-3);
    /* Only the block table missing: the minimum */
    set_view(&v, d, "block_table", NULL);
    floor_ok(d, b, &data, "NVIDIA_H100", 1.0, &f);
    ck_near(f.bytes, 245880.0);
    free(bt);
    kf_binding_free(b);
    kf_workload_free(w);
    /* Rows of at most topk = 2048 tokens select all their tokens: only
     * their block-table entries are read, nothing is scored. Batch 4,
     * max_num_pages 2, 11923 pages: rows of 100, 70, 0 and 1000 (clamped to
     * 128) tokens: table entries (2+2+0+2)*4 = 24, seq_lens 16, output
     * 4*2048*4 = 32768: 32808 bytes, no FLOPs. */
    w = mkwl(d, "82a8a885-ad69-4b9e-a1a9-dd9c0715db91",
             "{\"batch_size\":4,\"max_num_pages\":2,\"num_pages\":11923}", NULL, 0);
    b = bind(d, w);
    data.w = w;
    {
        int32_t sl4[4] = {100, 70, 0, 1000}, bt4[8] = {3, 4, 4, 9, 0, 0, 20, 99999};
        set_view(&v, d, "seq_lens", sl4);
        set_view(&v, d, "block_table", bt4);
        floor_ok(d, b, &data, "NVIDIA_H100", 1.0, &f);
        ck_near(f.bytes, 32808.0);
        ck_assert(f.flops == 0);
        ck_assert_int_eq(f.from_data, 1);
    }
    kf_binding_free(b);
    kf_workload_free(w);
    /* Scored rows, shared pages, a clamped row, a page outside the pool;
     * batch 4, max_num_pages 34 (2176 tokens), 11923 pages:
     *   row 0: 2100 tokens on pages 100..132 (page 132: 52 tokens)
     *   row 1: 2049 tokens on the same pages (page 132: 1 token): shared
     *   row 2: 2048 tokens on pages 300..331: all selected, not scored
     *   row 3: 99999 -> 2176 tokens on pages 200..232 and 99999 (outside)
     * distinct tokens 2100 + 0 + 33*64 = 4212: 4212*132 = 555984; table
     * entries (33+33+32+34)*4 = 528; q + weights of rows 0, 1, 3:
     * 3*8448 = 25344; seq_lens 16; output 32768: 614640 bytes. FLOPs:
     * (row, token) pairs 2100 + 2049 + 2112 = 6261: 16384*6261 = 102580224. */
    w = mkwl(d, "82a8a885-ad69-4b9e-a1a9-dd9c0715db91",
             "{\"batch_size\":4,\"max_num_pages\":34,\"num_pages\":11923}", NULL, 0);
    b = bind(d, w);
    data.w = w;
    {
        int32_t sl4[4] = {2100, 2049, 2048, 99999}, bt4[4 * 34] = {0};
        for (int j = 0; j < 34; j++) {
            bt4[0 * 34 + j] = bt4[1 * 34 + j] = 100 + j;
            bt4[2 * 34 + j] = 300 + j;
            bt4[3 * 34 + j] = j < 33 ? 200 + j : 99999;
        }
        set_view(&v, d, "seq_lens", sl4);
        set_view(&v, d, "block_table", bt4);
        floor_ok(d, b, &data, "NVIDIA_H100", 1.0, &f);
        ck_near(f.bytes, 614640.0);
        ck_near(f.flops, 102580224.0);
    }
    kf_binding_free(b);
    kf_workload_free(w);
    kf_definition_free(d);
}
END_TEST

/* ---- MoE --------------------------------------------------------------- */

/* One token's logits: -8 everywhere, then the 8 experts in e (spanning
 * exactly 4 groups, so the 4 kept groups and the 8 experts are clear
 * winners) at 6, 5.9, ..., 5.3. */
static void moe_token(float *row, const int *e)
{
    for (int x = 0; x < 256; x++)
        row[x] = -8.0f;
    for (int k = 0; k < 8; k++)
        row[e[k]] = 6.0f - 0.1f * (float)k;
}

/* Per local expert: gemm1 4096*7168 = 29360128, its scales 32*56*4 = 7168,
 * gemm2 7168*2048 = 14680064, its scales 56*16*4 = 3584: 44050944 bytes.
 * Per token routed here: hidden_states 7168 + its scales 56*4: 7392.
 * Per (token, local expert): 2*4096*7168 + 2*7168*2048 = 88080384 FLOPs. */
#define MOE_EXPERT_BYTES 44050944.0
#define MOE_TOKEN_BYTES 7392.0
#define MOE_PAIR_FLOPS 88080384.0

START_TEST(test_moe_small)
{
    struct kf_definition *d = load_def("moe", MOE);
    /* contest workload b8f4f012...: seq_len 7, local_expert_offset 192
     * (local experts 192..223: group 6) */
    struct kf_workload *w = mkwl(d, "b8f4f012-a32e-4356-b4e1-7665b3d598af", "{\"seq_len\":7}",
                                 NULL, 192);
    struct kf_binding *b = bind(d, w);
    struct views v = {{0}};
    struct ev_floor_data data = {w, view, &v};
    struct ev_floor f;
    float logits[7 * 256];
    uint16_t bias[256] = {0};   /* bf16 0.0 */
    static const int t0[8] = {192, 193, 0, 1, 32, 33, 64, 65};     /* 2 local */
    static const int t1[8] = {193, 200, 96, 97, 128, 129, 160, 161};   /* 2 local */
    static const int t2[8] = {0, 1, 32, 33, 64, 65, 96, 97};       /* none local */
    static const int t5[8] = {194, 195, 196, 197, 0, 32, 64, 65};  /* 4 local */
    /* Without the routing inputs: every token may go to other ranks:
     * logits 7*256*4 = 7168, bias 512, output 7*7168*2 = 100352: 108032. */
    floor_ok(d, b, NULL, "NVIDIA_H100", 1.0, &f);
    ck_assert_str_eq(f.model, "moe_fp8_block_scale");
    ck_near(f.bytes, 108032.0);
    ck_assert(f.flops == 0);
    moe_token(logits + 0 * 256, t0);
    moe_token(logits + 1 * 256, t1);
    moe_token(logits + 2 * 256, t2);
    /* token 3: groups 6 and 7 tie for the 4th place (same logits): skipped */
    moe_token(logits + 3 * 256, t2);
    logits[3 * 256 + 96] = logits[3 * 256 + 97] = -8.0f;
    logits[3 * 256 + 192] = logits[3 * 256 + 224] = 3.0f;
    logits[3 * 256 + 193] = logits[3 * 256 + 225] = 2.0f;
    /* token 4: a NaN logit: skipped */
    moe_token(logits + 4 * 256, t0);
    logits[4 * 256 + 7] = NAN;
    moe_token(logits + 5 * 256, t5);
    /* token 6: as token 3, but group 6 ahead of group 7 by 1e-5 in a logit
     * (a group-score gap of about 4.5e-7): a near tie, skipped (taken at
     * face value it would route to 192, 193) */
    moe_token(logits + 6 * 256, t2);
    logits[6 * 256 + 96] = logits[6 * 256 + 97] = -8.0f;
    logits[6 * 256 + 192] = 3.0f + 1e-5f;
    logits[6 * 256 + 224] = 3.0f;
    logits[6 * 256 + 193] = logits[6 * 256 + 225] = 2.0f;
    set_view(&v, d, "routing_logits", logits);
    set_view(&v, d, "routing_bias", bias);
    /* active experts {192, 193, 200, 194, 195, 196, 197} = 7; tokens routed
     * here 0, 1, 5 = 3; pairs 2 + 2 + 4 = 8:
     * 108032 + 7*44050944 + 3*7392 = 308486816 bytes, 8*88080384 =
     * 704643072 FLOPs. */
    floor_ok(d, b, &data, "NVIDIA_H100", 1.0, &f);
    ck_near(f.bytes, 108032.0 + 7 * MOE_EXPERT_BYTES + 3 * MOE_TOKEN_BYTES);
    ck_near(f.bytes, 308486816.0);
    ck_near(f.flops, 8 * MOE_PAIR_FLOPS);
    ck_assert_int_eq(f.from_data, 1);
    ck_assert_str_eq(f.peak, "fp8");
    /* docs/kernels.md, seq_len 7: reference 418 us, example 265 us (H100) */
    ck_assert(f.floor_ms <= 265e-3);
    /* The bias steers the choice: +20 and +19 on local experts 220, 221
     * make group 6 the best group of every token, and the two the best
     * experts (all sb values below are sigmoid(logit) + bias):
     *   token 0: 220, 221, 192, 193 + 0, 1, 32, 33 (9th: 64)   4 local
     *   token 1: 220, 221, 193, 200 + 96, 97, 128, 129          4 local
     *   token 2: 220, 221 + 0, 1, 32, 33, 64, 65 (group 3 out)  2 local
     *   token 3: groups 6 and 7 no longer tie: 220, 221 + 6     2 local
     *   token 4: NaN: skipped
     *   token 5: 220, 221, 194..197 + 0, 32 (64, 65 out)        6 local
     *   token 6: as token 3                                     2 local
     * active {192..197, 200, 220, 221} = 9, tokens 6, pairs 20:
     * 108032 + 9*44050944 + 6*7392 = 396610880 bytes. */
    bias[220] = kf_f32_to_bf16(20.0f);
    bias[221] = kf_f32_to_bf16(19.0f);
    floor_ok(d, b, &data, "NVIDIA_H100", 1.0, &f);
    ck_near(f.bytes, 396610880.0);
    ck_near(f.bytes, 108032.0 + 9 * MOE_EXPERT_BYTES + 6 * MOE_TOKEN_BYTES);
    ck_near(f.flops, 20 * MOE_PAIR_FLOPS);
    kf_binding_free(b);
    kf_workload_free(w);
    /* the offset comes from the workload: without it, the minimum */
    data.w = NULL;
    w = mkwl(d, "b8f4f012-a32e-4356-b4e1-7665b3d598af", "{\"seq_len\":7}", NULL, 192);
    b = bind(d, w);
    floor_ok(d, b, &data, "NVIDIA_H100", 1.0, &f);
    ck_near(f.bytes, 108032.0);
    ck_assert_int_eq(f.from_data, 0);
    kf_binding_free(b);
    kf_workload_free(w);
    kf_definition_free(d);
}
END_TEST

START_TEST(test_moe_largest)
{
    struct kf_definition *d = load_def("moe", MOE);
    /* contest workload 5e8dc11c...: seq_len 14107, local_expert_offset 32
     * (local experts 32..63: group 1) */
    struct kf_workload *w = mkwl(d, "5e8dc11c-f2a9-42d5-8dce-9419cbf34d5d",
                                 "{\"seq_len\":14107}", NULL, 32);
    struct kf_binding *b = bind(d, w);
    struct views v = {{0}};
    struct ev_floor_data data = {w, view, &v};
    struct ev_floor f;
    float *logits = xmalloc((size_t)14107 * 256 * sizeof *logits);
    uint16_t bias[256] = {0};
    /* As docs/kernels.md's largest case: 12601 (token, local expert) pairs
     * on all 32 local experts. Tokens 0..12600 each use local expert
     * 32 + i % 32 and 7 experts of groups 0, 2, 3; the rest only groups 0,
     * 2, 3, 4. */
    for (int i = 0; i < 14107; i++) {
        int e[8] = {32 + i % 32, 0, 1, 64, 65, 66, 96, 97};
        if (i >= 12601)
            e[0] = 128;
        moe_token(logits + (size_t)i * 256, e);
    }
    set_view(&v, d, "routing_logits", logits);
    set_view(&v, d, "routing_bias", bias);
    /* bytes: logits 14107*256*4 = 14445568, bias 512, output
     * 14107*7168*2 = 202237952; 32 experts * 44050944 = 1409630208;
     * 12601 tokens * 7392 = 93146592: total 1719460832.
     * FLOPs 12601 * 88080384 = 1109900918784 (docs: 1.110 TFLOP). */
    floor_ok(d, b, &data, "NVIDIA_H100", 1.0, &f);
    ck_near(f.bytes, 1719460832.0);
    ck_near(f.flops, 1109900918784.0);
    /* compute-bound: 1.1099e12 / 1978.9e12 = 0.561 ms (docs: 0.561 ms) */
    ck_assert_str_eq(f.bound, "FLOPs/peak");
    ck_near(f.floor_ms, 1109900918784.0 / 1978.9e12 * 1e3);
    /* H100 reference 6.187 ms, example 4.111 ms; H200 6.71 / 4.27 ms */
    ck_assert(f.floor_ms <= 4.111);
    floor_ok(d, b, &data, "NVIDIA_H200", 1.0, &f);
    ck_assert(f.floor_ms <= 4.27);
    /* without data: 14445568 + 512 + 202237952 = 216684032 */
    floor_ok(d, b, NULL, "NVIDIA_H100", 1.0, &f);
    ck_near(f.bytes, 216684032.0);
    free(logits);
    kf_binding_free(b);
    kf_workload_free(w);
    kf_definition_free(d);
}
END_TEST

/* ---- generic, margins, hardware ----------------------------------------- */

START_TEST(test_generic)
{
    struct kf_definition *d;
    struct kf_workload *w;
    struct kf_binding *b;
    struct kf_err err = {0};
    struct ev_floor f;
    json_t *j = fx_json(TOY_DEF), *k = fx_json(TOY_WL);
    ck_assert_int_eq(kf_definition_from_json(j, &d, &err), 0);
    ck_assert_int_eq(kf_workload_from_json(k, &w, NULL, &err), 0);
    b = bind(d, w);
    /* toy_add_h4 has no model: only its output out [6, 4] f32 = 96 bytes
     * (inputs may be read in part: not counted), which fit the L2: floor 0 */
    floor_ok(d, b, NULL, "NVIDIA_B200", 1.0, &f);
    ck_assert_str_eq(f.model, "generic_io");
    ck_near(f.bytes, 96.0);
    ck_near(f.l2_credit, 96.0);
    ck_assert(f.flops == 0 && f.compute_ms == 0 && f.floor_ms == 0);
    ck_assert_str_eq(f.peak, "none");
    kf_binding_free(b);
    /* n = 6000000: out is 96000000 bytes; 60 MiB = 62914560 of them may
     * stay in an H100's L2, 33085440 must reach HBM; a B200's 128 MiB L2
     * holds all of them */
    {
        struct kf_workload *big;
        json_t *bj = fx_json(TOY_WL);
        json_object_set_new(json_object_get(bj, "axes"), "n", json_integer(6000000));
        ck_assert_int_eq(kf_workload_from_json(bj, &big, NULL, &err), 0);
        b = bind(d, big);
        floor_ok(d, b, NULL, "NVIDIA_H100", 1.0, &f);
        ck_near(f.bytes, 96000000.0);
        ck_near(f.l2_credit, 62914560.0);
        ck_near(f.floor_ms, 33085440.0 / 3.9e12 * 1e3);
        floor_ok(d, b, NULL, "NVIDIA_B200", 1.0, &f);
        ck_assert(f.floor_ms == 0);
        kf_binding_free(b);
        kf_workload_free(big);
        json_decref(bj);
    }
    kf_definition_free(d);
    /* a definition with a contest name but not its axes: generic too */
    json_object_set_new(j, "name", json_string(GDN_DEC));
    ck_assert_int_eq(kf_definition_from_json(j, &d, &err), 0);
    b = bind(d, w);
    floor_ok(d, b, NULL, "NVIDIA_H100", 1.0, &f);
    ck_assert_str_eq(f.model, "generic_io");
    ck_near(f.bytes, 96.0);
    kf_binding_free(b);
    kf_definition_free(d);
    kf_workload_free(w);
    json_decref(j);
    json_decref(k);
}
END_TEST

START_TEST(test_margin_and_hardware)
{
    struct kf_definition *d = load_def("gdn", GDN_DEC);
    struct kf_workload *w = mkwl(d, "eaf0a285-447c-4432-8e68-d287acc3cb08", "{\"batch_size\":64}",
                                 NULL, 0);
    struct kf_binding *b = bind(d, w);
    struct kf_err err = {0};
    struct ev_floor f;
    char why[256];
    /* margin 0: disabled, the rest still filled; any time is ranked */
    ck_assert_int_eq(ev_floor_compute(d, b, "NVIDIA_H100", 0.0, &f, &err), 0);
    ck_assert(f.floor_ms == 0 && f.mem_ms > 0 && f.bytes > 0);
    ck_assert_int_eq(ev_floor_verdict(1e-6, 5e-5, 1.0, &f, why, sizeof why), 0);
    ck_assert_str_eq(why, "");
    /* margins outside [0, 1] */
    ck_assert_int_eq(ev_floor_compute(d, b, "NVIDIA_H100", 1.5, &f, &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "floor_margin");
    ck_assert_int_eq(ev_floor_compute(d, b, "NVIDIA_H100", -0.1, &f, &err), KF_EINVAL);
    ck_assert_int_eq(ev_floor_compute(d, b, "NVIDIA_H100", NAN, &f, &err), KF_EINVAL);
    /* unknown hardware: KF_ENOENT, bytes and model still there, no floor */
    ck_assert_int_eq(ev_floor_compute(d, b, "NVIDIA_A100", 0.8, &f, &err), KF_ENOENT);
    ck_assert_str_eq(err.path, "hardware");
    ck_assert_ptr_nonnull(strstr(err.msg, "NVIDIA_A100"));
    ck_assert_str_eq(f.model, "gdn_decode");
    ck_assert(f.bytes > 0 && f.floor_ms == 0 && f.mem_ms == 0);
    ck_assert_ptr_null(f.hardware);
    {
        json_t *j = ev_floor_to_json(&f);
        ck_assert(json_is_null(json_object_get(j, "hardware")));
        ck_assert(json_real_value(json_object_get(j, "floor_ms")) == 0);
        json_decref(j);
    }
    ck_assert_int_eq(ev_floor_compute(d, b, NULL, 0.8, &f, &err), KF_ENOENT);
    /* NULL arguments and a binding of another definition */
    ck_assert_int_eq(ev_floor_compute(NULL, b, "NVIDIA_H100", 0.8, &f, &err), KF_EINVAL);
    ck_assert_int_eq(ev_floor_compute(d, NULL, "NVIDIA_H100", 0.8, &f, &err), KF_EINVAL);
    ck_assert_int_eq(ev_floor_compute(d, b, "NVIDIA_H100", 0.8, NULL, &err), KF_EINVAL);
    {
        struct kf_definition *other = load_def("gdn", GDN_PRE);
        ck_assert_int_eq(ev_floor_compute(other, b, "NVIDIA_H100", 0.8, &f, &err), KF_EINVAL);
        kf_definition_free(other);
    }
    /* the JSON form */
    ck_assert_int_eq(ev_floor_compute(d, b, "NVIDIA_H200", 0.8, &f, &err), 0);
    {
        json_t *j = ev_floor_to_json(&f);
        ck_assert_str_eq(json_string_value(json_object_get(j, "model")), "gdn_decode");
        ck_assert_str_eq(json_string_value(json_object_get(j, "hardware")), "NVIDIA_H200");
        ck_assert_str_eq(json_string_value(json_object_get(j, "bound")), "bytes/bandwidth");
        ck_assert(json_real_value(json_object_get(j, "floor_ms")) == f.floor_ms);
        ck_assert(json_real_value(json_object_get(j, "margin")) == 0.8);
        ck_assert(json_real_value(json_object_get(j, "l2_credit")) == 33685504.0);
        ck_assert(json_is_false(json_object_get(j, "from_data")));
        json_decref(j);
    }
    kf_binding_free(b);
    kf_workload_free(w);
    kf_definition_free(d);
}
END_TEST

/* ---- verdict ------------------------------------------------------------ */

START_TEST(test_verdict)
{
    struct ev_floor f;
    char why[512], tiny[24];
    memset(&f, 0, sizeof f);
    f.floor_ms = 0.01;
    f.margin = 0.8;
    f.hardware = "NVIDIA_H100";
    f.bound = "bytes/bandwidth";
    /* ranked: above the floor, GPU time within the wall time */
    ck_assert_int_eq(ev_floor_verdict(0.02, 1.0, 2.5, &f, why, sizeof why), 0);
    ck_assert_str_eq(why, "");
    /* exactly at the floor is possible */
    ck_assert_int_eq(ev_floor_verdict(0.01, 0.5, 2.5, &f, why, sizeof why), 0);
    /* below the floor */
    ck_assert_int_eq(ev_floor_verdict(0.0012, 0.06, 2.5, &f, why, sizeof why), 1);
    ck_assert_str_eq(why, "median 0.0012 ms is below the speed-of-light floor 0.0100 ms "
                          "(bytes/bandwidth on NVIDIA_H100, margin 0.8)");
    /* GPU time above the judge's wall time */
    ck_assert_int_eq(ev_floor_verdict(0.25, 12.5, 10.0, &f, why, sizeof why), 1);
    ck_assert_str_eq(why, "GPU time 12.5000 ms of the timed calls is above the judge's wall "
                          "time 10.0000 ms of them");
    /* both, one after the other; a tiny median keeps 3 digits */
    f.bound = "FLOPs/peak";
    ck_assert_int_eq(ev_floor_verdict(0.00004, 12.5, 10.0, &f, why, sizeof why), 1);
    ck_assert_str_eq(why, "median 4e-05 ms is below the speed-of-light floor 0.0100 ms "
                          "(FLOPs/peak on NVIDIA_H100, margin 0.8); GPU time 12.5000 ms of "
                          "the timed calls is above the judge's wall time 10.0000 ms of them");
    /* no floor for this GPU (NULL) or disabled (0): only the wall check */
    ck_assert_int_eq(ev_floor_verdict(0.00004, 0.002, 10.0, NULL, why, sizeof why), 0);
    ck_assert_int_eq(ev_floor_verdict(0.00004, 12.5, 10.0, NULL, why, sizeof why), 1);
    ck_assert_ptr_null(strstr(why, "floor"));
    f.floor_ms = 0;
    ck_assert_int_eq(ev_floor_verdict(0.00004, 0.002, 10.0, &f, why, sizeof why), 0);
    f.floor_ms = 0.01;
    /* wall time not measured (0, negative, NaN): no wall check */
    ck_assert_int_eq(ev_floor_verdict(0.02, 12.5, 0, &f, why, sizeof why), 0);
    ck_assert_int_eq(ev_floor_verdict(0.02, 12.5, -1, &f, why, sizeof why), 0);
    ck_assert_int_eq(ev_floor_verdict(0.02, 12.5, NAN, &f, why, sizeof why), 0);
    /* impossible times */
    ck_assert_int_eq(ev_floor_verdict(NAN, 1.0, 2.0, &f, why, sizeof why), 1);
    ck_assert_ptr_nonnull(strstr(why, "not a positive finite time"));
    ck_assert_int_eq(ev_floor_verdict(0.0, 1.0, 2.0, NULL, why, sizeof why), 1);
    ck_assert_int_eq(ev_floor_verdict(0.5, INFINITY, 2.0, NULL, why, sizeof why), 1);
    ck_assert_int_eq(ev_floor_verdict(0.5, -1.0, 2.0, NULL, why, sizeof why), 1);
    /* a short buffer is cut, never overrun; no buffer at all is fine */
    ck_assert_int_eq(ev_floor_verdict(0.00004, 12.5, 10.0, &f, tiny, sizeof tiny), 1);
    ck_assert_uint_eq(strlen(tiny), sizeof tiny - 1);
    ck_assert_int_eq(ev_floor_verdict(0.00004, 12.5, 10.0, &f, NULL, 0), 1);
}
END_TEST

/* ---- the contest's own files -------------------------------------------- */

/* The contest's definitions (byte-for-byte upstream) give the floors the
 * repo's copies give, on the same workloads. */
START_TEST(test_contest_definitions)
{
    static const char *names[][3] = {
        {"gdn", GDN_DEC, "{\"batch_size\":64}"},
        {"gdn", GDN_PRE, "{\"total_seq_len\":8192,\"num_seqs\":57,\"len_cu_seqlens\":58}"},
        {"dsa_paged", DSA_ATT, "{\"num_tokens\":8,\"num_pages\":8462}"},
        {"dsa_paged", DSA_IDX, "{\"batch_size\":30,\"max_num_pages\":91,\"num_pages\":11923}"},
        {"moe", MOE, "{\"seq_len\":14107}"},
    };
    const char *root = fx_contest_dir("contest definitions");
    ck_assert_ptr_nonnull(root);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[1200];
        struct kf_definition *mine = load_def(names[i][0], names[i][1]), *theirs;
        struct kf_workload *w1, *w2;
        struct kf_binding *b1, *b2;
        struct ev_floor f1, f2;
        struct ev_floor_data d1, d2;
        snprintf(path, sizeof path, "%s/definitions/%s.json", root, names[i][1]);
        theirs = load_def_at(path);
        w1 = mkwl(mine, "u", names[i][2], NULL, 32);
        w2 = mkwl(theirs, "u", names[i][2], NULL, 32);
        b1 = bind(mine, w1);
        b2 = bind(theirs, w2);
        d1 = (struct ev_floor_data){w1, NULL, NULL};
        d2 = (struct ev_floor_data){w2, NULL, NULL};
        floor_ok(mine, b1, &d1, "NVIDIA_H100", 0.8, &f1);
        floor_ok(theirs, b2, &d2, "NVIDIA_H100", 0.8, &f2);
        ck_assert_str_ne(f2.model, "generic_io");
        ck_assert_str_eq(f1.model, f2.model);
        ck_assert(f1.bytes == f2.bytes && f1.flops == f2.flops && f1.floor_ms == f2.floor_ms);
        kf_binding_free(b1);
        kf_binding_free(b2);
        kf_workload_free(w1);
        kf_workload_free(w2);
        kf_definition_free(mine);
        kf_definition_free(theirs);
    }
}
END_TEST

/* The contest's MoE workload line for seq_len 14107 binds, and its scalar
 * local_expert_offset (32) is what the data path reads. */
START_TEST(test_contest_moe_line)
{
    const char *root = fx_contest_dir("contest MoE workloads");
    char path[1200], line[1 << 16];
    struct kf_definition *d = load_def("moe", MOE);
    struct kf_workload *w = NULL;
    FILE *fp;
    ck_assert_ptr_nonnull(root);
    snprintf(path, sizeof path, "%s/workloads/%s.jsonl", root, MOE);
    fp = fopen(path, "r");
    ck_assert_ptr_nonnull(fp);
    while (!w && fgets(line, sizeof line, fp)) {
        struct kf_err err = {0};
        json_t *j;
        if (!strstr(line, "5e8dc11c-f2a9-42d5-8dce-9419cbf34d5d"))
            continue;
        j = kf_json_loadb(line, strlen(line), &err);
        ck_assert_ptr_nonnull(j);
        ck_assert_int_eq(kf_workload_from_json(j, &w, NULL, &err), 0);
        json_decref(j);
    }
    fclose(fp);
    ck_assert_ptr_nonnull(w);
    {
        struct kf_binding *b = bind(d, w);
        struct views v = {{0}};
        struct ev_floor_data data = {w, view, &v};
        struct ev_floor f;
        float *logits = xmalloc((size_t)14107 * 256 * sizeof *logits);
        uint16_t bias[256] = {0};
        /* every token on local expert 32 + i % 32 only (+ 7 remote) */
        for (int i = 0; i < 14107; i++) {
            int e[8] = {32 + i % 32, 0, 1, 64, 65, 66, 96, 97};
            moe_token(logits + (size_t)i * 256, e);
        }
        set_view(&v, d, "routing_logits", logits);
        set_view(&v, d, "routing_bias", bias);
        floor_ok(d, b, &data, "NVIDIA_H100", 1.0, &f);
        /* 216684032 + 32 experts + 14107 tokens; 14107 pairs */
        ck_near(f.bytes, 216684032.0 + 32 * MOE_EXPERT_BYTES + 14107 * MOE_TOKEN_BYTES);
        ck_near(f.flops, 14107 * MOE_PAIR_FLOPS);
        free(logits);
        kf_binding_free(b);
    }
    kf_workload_free(w);
    kf_definition_free(d);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("floor");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_peaks);
    tcase_add_test(tc, test_gdn_decode);
    tcase_add_test(tc, test_gdn_prefill);
    tcase_add_test(tc, test_dsa_attention);
    tcase_add_test(tc, test_dsa_indexer);
    tcase_add_test(tc, test_moe_small);
    tcase_add_test(tc, test_moe_largest);
    tcase_add_test(tc, test_generic);
    tcase_add_test(tc, test_margin_and_hardware);
    tcase_add_test(tc, test_verdict);
    if (fx_contest_dir("contest definitions and MoE workload lines")) {
        tcase_add_test(tc, test_contest_definitions);
        tcase_add_test(tc, test_contest_moe_line);
    }
    suite_add_tcase(s, tc);
    return s;
}

KF_CHECK_MAIN
