/* floor.c: speed-of-light floors per definition. See floor.h; the models and
 * the peak table are documented in docs/evaluator.md ("Speed-of-light
 * floors"). Pure; thread-safe.
 *
 * Conventions of every model below (the L2 credit for written bytes is
 * applied once, in ev_floor_compute_data):
 *   - An input counts only if it is a tensor (scalars travel by value) and is
 *     given: an optional input counts when the workload names it (without
 *     the workload: absent, the minimum).
 *   - Outputs are poisoned before every call and compared after it, so every
 *     output byte must be written once.
 *   - A byte read once from HBM is counted once: rows shared by several
 *     tokens (DSA), pages shared by several sequences (indexer) and an
 *     expert's weights (MoE) count once, since a perfect kernel keeps them
 *     in L2 or shared memory.
 *   - FLOPs: a multiply-add is 2 FLOPs; only arithmetic every method needs
 *     is counted, charged at the fastest rate that could plausibly do it
 *     (tensor cores, even for the fp32 GDN state: tf32 or split-bf16 MMA),
 *     so the compute term stays a lower bound.
 */
#include "floor.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* Sources (vendor datasheets, dense rates = half the "with sparsity" ones):
 * H100: SXM5 3.35 TB/s, NVL 3.9 TB/s, PCIe 2.0 TB/s; BF16 989.4 / FP8 1978.9
 *   TFLOP/s (SXM5; NVL 835 / 1671, PCIe 756 / 1513); FP32 66.9 (SXM5).
 * H200: SXM and NVL 4.8 TB/s; compute as H100 SXM5 (NVL lower).
 * B200 (HGX): 8 TB/s (7.7 on some HGX boards); BF16 2250, FP8 4500, FP32 80.
 * L2: 50 MiB on H100/H200 boards (the GH100 die has 60: taken), about 126
 * MiB on B200 (128 taken). Each value is the highest for the name. */
#define MIB (1024.0 * 1024.0)
static const struct ev_gpu_peak peaks[] = {
    {"NVIDIA_H100", 3.9e12, 989.4e12, 1978.9e12, 66.9e12, 60 * MIB},
    {"NVIDIA_H200", 4.8e12, 989.4e12, 1978.9e12, 66.9e12, 60 * MIB},
    {"NVIDIA_B200", 8.0e12, 2250e12, 4500e12, 80e12, 128 * MIB},
};

const struct ev_gpu_peak *ev_gpu_peak_find(const char *hardware)
{
    if (!hardware)
        return NULL;
    for (size_t i = 0; i < sizeof peaks / sizeof peaks[0]; i++)
        if (!strcmp(peaks[i].hardware, hardware))
            return &peaks[i];
    return NULL;
}

enum peak_kind { PK_NONE, PK_BF16, PK_FP8 };

struct fctx {
    const struct kf_definition *def;
    const struct kf_binding *b;
    const struct ev_floor_data *data;   /* may be NULL */
    double bytes, flops;
    enum peak_kind pk;
    int from_data;
};

/* Slot bitmaps and stamps are sized by num_pages * page_size; past this the
 * data terms are skipped (their minimum is used). */
#define FL_MAX_SLOTS ((int64_t)1 << 30)

static int axis(const struct fctx *c, const char *name, int64_t *v)
{
    return kf_binding_axis(c->b, name, v) == 0 && *v >= 0 ? 0 : -1;
}

/* Is input i a tensor the call receives? */
static int given(const struct fctx *c, int i)
{
    const struct kf_tensor_spec *s = &c->def->inputs[i];
    if (s->is_scalar)
        return 0;
    if (!s->optional)
        return 1;
    return c->data && c->data->w && kf_workload_input(c->data->w, s->name) != NULL;
}

/* Bytes of every given input plus every output (GDN decode starts here). */
static double all_io(struct fctx *c)
{
    double sum = 0;
    for (int i = 0; i < c->def->ninputs; i++)
        if (given(c, i))
            sum += (double)c->b->inputs[i].nbytes;
    for (int i = 0; i < c->def->noutputs; i++)
        sum += (double)c->b->outputs[i].nbytes;
    return sum;
}

static double out_bytes(const struct fctx *c)
{
    double sum = 0;
    for (int i = 0; i < c->def->noutputs; i++)
        sum += (double)c->b->outputs[i].nbytes;
    return sum;
}

/* Index of input name of dtype dt with ndim dims, or -1. */
static int input(const struct fctx *c, const char *name, enum kf_dtype dt, int ndim)
{
    int i = kf_definition_input_index(c->def, name);
    if (i < 0 || c->def->inputs[i].dtype != dt || c->def->inputs[i].is_scalar ||
        c->b->inputs[i].ndim != ndim)
        return -1;
    return i;
}

/* Host view of input i, or NULL (no data, absent, not on the host). */
static const void *host(const struct fctx *c, int i)
{
    if (i < 0 || !c->data || !c->data->data_fn || !given(c, i))
        return NULL;
    return c->data->data_fn(c->data->ctx, i);
}

/* ---- GDN ------------------------------------------------------------------
 * Per token and value head h the state decays by g = exp(-exp(A_log[h]) *
 * softplus(a + dt_bias[h])), then takes a rank-1 update from k, v, b, and
 * the output reads it with q. Must move:
 *   - q, k, v, a, b of every token a sequence covers (decode: every row;
 *     prefill: tokens inside [cu_seqlens[n], cu_seqlens[n+1]) of some n),
 *     A_log and dt_bias, cu_seqlens (prefill), output and new_state;
 *   - the initial state of (sequence, head) when the workload gives a state,
 *     the sequence is not empty, and g of its first token is not zero:
 *     g == 0 (fp32 underflow: g < 1e-30 is taken as zero, as is a NaN)
 *     makes g * S independent of S. Absent means zeros: nothing to read.
 * Without host views of these inputs (a, A_log, dt_bias; prefill also
 * cu_seqlens) the minimum: no state read, and for prefill no token covered.
 * FLOPs, per value head and state element (D x D, D = head_size):
 *   decode: S k and S q (one multiply-add each) and the update
 *     S' = g S + k u^T (at least one multiply-add): 6 per element when the
 *     state is read, 2 (the rank-1 write k u^T) when not;
 *   prefill: every covered token adds its rank-1 term to its sequence's
 *     state, at least one multiply-add per element and token (chunked forms
 *     do this as K^T V products): 2 * covered tokens * HV * D * D.
 * Charged at the bf16 tensor-core rate (the fp32 state can run as tf32 or
 * split-bf16 MMA; the higher rate keeps the bound low). Memory-bound by far. */
struct gdn_gate {
    const void *a, *alog, *dtb;
    enum kf_dtype ta, talog, tdtb;
    int64_t hv;
};

static int gdn_gate_init(const struct fctx *c, struct gdn_gate *g, int64_t rows, int64_t hv)
{
    int ia = kf_definition_input_index(c->def, "a"), il = kf_definition_input_index(c->def, "A_log"),
        id = kf_definition_input_index(c->def, "dt_bias");
    g->a = host(c, ia);
    g->alog = host(c, il);
    g->dtb = host(c, id);
    if (!g->a || !g->alog || !g->dtb || c->b->inputs[ia].numel != rows * hv ||
        c->b->inputs[il].numel != hv || c->b->inputs[id].numel != hv)
        return -1;
    g->ta = c->def->inputs[ia].dtype;
    g->talog = c->def->inputs[il].dtype;
    g->tdtb = c->def->inputs[id].dtype;
    g->hv = hv;
    return 0;
}

/* May a kernel skip the state of head h at token (or batch row) t? */
static int gdn_decay_zero(const struct gdn_gate *g, int64_t t, int64_t h)
{
    double x = kf_dtype_load(g->ta, g->a, (size_t)(t * g->hv + h)) +
               kf_dtype_load(g->tdtb, g->dtb, (size_t)h);
    double sp = x > 20.0 ? x : log1p(exp(x));
    double v = exp(-exp(kf_dtype_load(g->talog, g->alog, (size_t)h)) * sp);
    return !(v >= 1e-30);
}

static int m_gdn_decode(struct fctx *c)
{
    int64_t bs, hv, d, reads = 0;
    int st = kf_definition_input_index(c->def, "state");
    struct gdn_gate gg;
    if (axis(c, "batch_size", &bs) || axis(c, "num_v_heads", &hv) || axis(c, "head_size", &d) ||
        st < 0)
        return -1;
    c->bytes = all_io(c);
    c->pk = PK_BF16;
    if (given(c, st)) {
        c->bytes -= (double)c->b->inputs[st].nbytes;
        if (gdn_gate_init(c, &gg, bs, hv) == 0) {
            for (int64_t r = 0; r < bs; r++)
                for (int64_t h = 0; h < hv; h++)
                    reads += !gdn_decay_zero(&gg, r, h);
            c->from_data = 1;
        }
    } else {
        c->from_data = c->data && c->data->w;
    }
    c->bytes += (double)reads * (double)d * (double)d * 4.0;
    c->flops = ((double)reads * 6.0 + (double)(bs * hv - reads) * 2.0) * (double)d * (double)d;
    return 0;
}

static int m_gdn_prefill(struct fctx *c)
{
    int64_t t, n, hv, d, covered = 0, reads = 0;
    int st = kf_definition_input_index(c->def, "state"), icu, tok[5],
        il = kf_definition_input_index(c->def, "A_log"),
        id = kf_definition_input_index(c->def, "dt_bias");
    static const char *const per_token[5] = {"q", "k", "v", "a", "b"};
    const int64_t *cu;
    double row = 0;
    struct gdn_gate gg;
    if (axis(c, "total_seq_len", &t) || axis(c, "num_seqs", &n) || axis(c, "num_v_heads", &hv) ||
        axis(c, "head_size", &d) || st < 0 || il < 0 || id < 0 ||
        (icu = input(c, "cu_seqlens", KF_DT_I64, 1)) < 0 ||
        c->b->inputs[icu].numel != n + 1)
        return -1;
    for (int i = 0; i < 5; i++) {
        if ((tok[i] = kf_definition_input_index(c->def, per_token[i])) < 0 ||
            c->def->inputs[tok[i]].is_scalar || c->b->inputs[tok[i]].ndim < 1 ||
            c->b->inputs[tok[i]].dims[0] != t)
            return -1;
        row += t > 0 ? (double)c->b->inputs[tok[i]].nbytes / (double)t : 0;
    }
    c->pk = PK_BF16;
    c->bytes = out_bytes(c) + (double)c->b->inputs[icu].nbytes;
    c->flops = 0;
    if (!(cu = host(c, icu)))
        return 0;
    {
        uint8_t *in_seq = xcalloc((size_t)t + 1, 1);
        int gates = given(c, st) && gdn_gate_init(c, &gg, t, hv) == 0;
        for (int64_t s = 0; s < n; s++) {
            int64_t lo = cu[s] < 0 ? 0 : cu[s] > t ? t : cu[s];
            int64_t hi = cu[s + 1] < lo ? lo : cu[s + 1] > t ? t : cu[s + 1];
            for (int64_t i = lo; i < hi; i++)
                if (!in_seq[i]) {
                    in_seq[i] = 1;
                    covered++;
                }
            if (gates && hi > lo)
                for (int64_t h = 0; h < hv; h++)
                    reads += !gdn_decay_zero(&gg, lo, h);
        }
        free(in_seq);
    }
    if (covered)
        c->bytes += (double)covered * row + (double)c->b->inputs[il].nbytes +
                    (double)c->b->inputs[id].nbytes;
    c->bytes += (double)reads * (double)d * (double)d * 4.0;
    c->flops = 2.0 * (double)covered * (double)hv * (double)d * (double)d;
    c->from_data = 1;
    return 0;
}

/* ---- DSA sparse attention -------------------------------------------------
 * Each token attends to the cache slots its row of sparse_indices names
 * (page * page_size + offset; -1 or anything outside the pool is no slot).
 * Must move:
 *   - each distinct selected slot's ckv row (head_dim_ckv bf16) and kpe row
 *     (head_dim_kpe bf16), once even if several tokens select it;
 *   - q_nope and q_pe of every token with at least one slot (a token without
 *     one outputs zeros and lse -inf without reading q);
 *   - of sparse_indices, each token's entries up to its last valid one plus
 *     the entry after it (the end mark), at least one entry per token:
 *     4 * min(topk, valid + 1);
 *   - output and lse (written).
 * FLOPs: per token, head and distinct selected slot, q . k over
 * head_dim_ckv + head_dim_kpe and p * v over head_dim_ckv:
 * 2 * heads * (2 * ckv + kpe); bf16 tensor cores.
 * Without sparse_indices on the host: every token may select nothing, so
 * only one index per token and the outputs remain. */
static int m_dsa_attention(struct fctx *c)
{
    int64_t t, h, dc, dp, ps, k, np;
    int ix;
    const int32_t *idx;
    if (axis(c, "num_tokens", &t) || axis(c, "num_qo_heads", &h) ||
        axis(c, "head_dim_ckv", &dc) || axis(c, "head_dim_kpe", &dp) ||
        axis(c, "page_size", &ps) || axis(c, "topk", &k) || axis(c, "num_pages", &np) ||
        (ix = input(c, "sparse_indices", KF_DT_I32, 2)) < 0)
        return -1;
    c->pk = PK_BF16;
    c->bytes = out_bytes(c) + 4.0 * (double)t;
    c->flops = 0;
    idx = host(c, ix);
    if (!idx || c->b->inputs[ix].dims[0] != t || c->b->inputs[ix].dims[1] != k || k < 1 ||
        (ps > 0 && np > FL_MAX_SLOTS / ps))
        return 0;
    {
        int64_t slots = np * ps, distinct = 0, pairs = 0, index_entries = 0, qtokens = 0;
        uint8_t *seen = xcalloc((size_t)slots ? (size_t)slots : 1, 1);
        uint32_t *stamp = xcalloc((size_t)slots ? (size_t)slots : 1, sizeof *stamp);
        for (int64_t i = 0; i < t; i++) {
            int64_t last = -1, mine = 0;
            for (int64_t j = 0; j < k; j++) {
                int64_t s = idx[i * k + j];
                if (s < 0 || s >= slots)
                    continue;
                last = j;
                if (!seen[s]) {
                    seen[s] = 1;
                    distinct++;
                }
                if (stamp[s] != (uint32_t)(i + 1)) {
                    stamp[s] = (uint32_t)(i + 1);
                    mine++;
                }
            }
            index_entries += last + 2 < k ? last + 2 : k;
            pairs += mine;
            qtokens += mine > 0;
        }
        free(seen);
        free(stamp);
        c->bytes = out_bytes(c) + 4.0 * (double)index_entries +
                   (double)distinct * (double)(dc + dp) * 2.0 +
                   (double)qtokens * (double)h * (double)(dc + dp) * 2.0;
        c->flops = 2.0 * (double)h * (double)(2 * dc + dp) * (double)pairs;
        c->from_data = 1;
    }
    return 0;
}

/* ---- DSA top-k indexer ----------------------------------------------------
 * Row b scores its seq_lens[b] cached tokens (clamped to the block table's
 * max_num_pages * page_size), found on pages block_table[b][0..ceil(n/64)).
 * A row of at most topk tokens selects them all (the order inside a row is
 * not significant): its ids follow from the block table, no score needed.
 * Must move:
 *   - seq_lens (all of it) and the written topk_indices;
 *   - of every row: its block-table entries in use (4 bytes a page);
 *   - of every row of more than topk tokens: q_index_fp8 (heads x dim
 *     bytes), weights (heads x 4) and each distinct cached token once (a
 *     page shared by rows: once): its fp8 key (index_head_dim bytes) and its
 *     fp32 scale (4 bytes); a partly filled last page counts only its used
 *     tokens.
 * FLOPs: 2 * heads * index_head_dim per (scored row, distinct token), on
 * fp8 tensor cores.
 * Without seq_lens and block_table on the host: every sequence may be empty,
 * so only seq_lens and the output remain. */
static int m_dsa_indexer(struct fctx *c)
{
    int64_t bs, hi, di, ps, mp, np, k;
    int isl, ibt;
    const int32_t *sl, *bt;
    if (axis(c, "batch_size", &bs) || axis(c, "num_index_heads", &hi) ||
        axis(c, "index_head_dim", &di) || axis(c, "page_size", &ps) ||
        axis(c, "max_num_pages", &mp) || axis(c, "num_pages", &np) || axis(c, "topk", &k) ||
        (isl = input(c, "seq_lens", KF_DT_I32, 1)) < 0 ||
        (ibt = input(c, "block_table", KF_DT_I32, 2)) < 0)
        return -1;
    c->pk = PK_FP8;
    c->bytes = out_bytes(c) + (double)c->b->inputs[isl].nbytes;
    c->flops = 0;
    sl = host(c, isl);
    bt = host(c, ibt);
    if (!sl || !bt || c->b->inputs[isl].dims[0] != bs || c->b->inputs[ibt].dims[0] != bs ||
        c->b->inputs[ibt].dims[1] != mp || ps < 1 || np > FL_MAX_SLOTS / ps)
        return 0;
    {
        int64_t slots = np * ps, distinct = 0, pairs = 0, pages_read = 0, rows = 0;
        uint8_t *seen = xcalloc((size_t)slots ? (size_t)slots : 1, 1);
        uint32_t *stamp = xcalloc((size_t)slots ? (size_t)slots : 1, sizeof *stamp);
        for (int64_t r = 0; r < bs; r++) {
            int64_t n = sl[r] < 0 ? 0 : sl[r], npg, mine = 0;
            if (n > mp * ps)
                n = mp * ps;
            npg = (n + ps - 1) / ps;
            pages_read += npg;
            if (n <= k)
                continue;   /* every token selected: no scores */
            rows++;
            for (int64_t j = 0; j < npg; j++) {
                int64_t pg = bt[r * mp + j], used = n - j * ps < ps ? n - j * ps : ps;
                if (pg < 0 || pg >= np)
                    continue;
                for (int64_t s = pg * ps; s < pg * ps + used; s++) {
                    if (!seen[s]) {
                        seen[s] = 1;
                        distinct++;
                    }
                    if (stamp[s] != (uint32_t)(r + 1)) {
                        stamp[s] = (uint32_t)(r + 1);
                        mine++;
                    }
                }
            }
            pairs += mine;
        }
        free(seen);
        free(stamp);
        c->bytes = out_bytes(c) + (double)c->b->inputs[isl].nbytes + 4.0 * (double)pages_read +
                   (double)rows * (double)hi * ((double)di + 4.0) +
                   (double)distinct * ((double)di + 4.0);
        c->flops = 2.0 * (double)hi * (double)di * (double)pairs;
        c->from_data = 1;
    }
    return 0;
}

/* ---- MoE, fp8 block scale, DeepSeek routing -------------------------------
 * Which of the 32 local experts a token uses depends on routing_logits and
 * routing_bias. Must move:
 *   - routing_logits and routing_bias (every token's routing needs its whole
 *     row) and the output (written);
 *   - each local expert routed at least one token: its gemm1 and gemm2
 *     weights and their scales, once (its slice of the tensors);
 *   - each token routed to at least one local expert: its hidden_states row
 *     and its hidden_states_scale column.
 * FLOPs: per (token, local expert) pair GEMM1 2 * gemm1_out * hidden and
 * GEMM2 2 * hidden * intermediate (88.1 MFLOP); fp8 tensor cores.
 * With the routing inputs and local_expert_offset (from the workload) known,
 * the routing is replayed on the host as in the definition's reference
 * (sigmoid, + bias, best 4 of 8 groups by the sum of their two best, best 8
 * experts of those); a token whose choice is a near tie (a gap under 1e-5
 * at the 4th/5th group or the 8th/9th expert) or not finite counts as
 * routed nowhere, so rounding differences cannot raise the floor.
 * Without them: every token may be routed to other ranks, leaving routing
 * and output only. */
#define MOE_NGROUP 8
#define MOE_TOPK_GROUP 4
#define MOE_TOPK 8
#define MOE_TIE 1e-5

static int moe_near(double a, double b)
{
    return fabs(a - b) <= MOE_TIE * (1.0 + fabs(a));
}

/* Route one token: sets hit[e] for the chosen experts. 0, or -1 when the
 * choice is ambiguous. bias (as float) and sb have e entries. */
static int moe_route(const float *logit, const float *bias, int64_t e, float *sb, uint8_t *hit)
{
    int64_t per = e / MOE_NGROUP;
    double gs[MOE_NGROUP];
    int gorder[MOE_NGROUP];
    for (int64_t x = 0; x < e; x++) {
        float a = 1.0f / (1.0f + expf(-logit[x]));
        sb[x] = a + bias[x];
        if (!isfinite(sb[x]))
            return -1;
    }
    for (int g = 0; g < MOE_NGROUP; g++) {
        double b1 = -INFINITY, b2 = -INFINITY;
        for (int64_t x = g * per; x < (g + 1) * per; x++) {
            if (sb[x] > b1) {
                b2 = b1;
                b1 = sb[x];
            } else if (sb[x] > b2) {
                b2 = sb[x];
            }
        }
        gs[g] = b1 + b2;
        gorder[g] = g;
    }
    for (int i = 1; i < MOE_NGROUP; i++)   /* insertion sort, descending */
        for (int j = i; j > 0 && gs[gorder[j]] > gs[gorder[j - 1]]; j--) {
            int tmp = gorder[j];
            gorder[j] = gorder[j - 1];
            gorder[j - 1] = tmp;
        }
    if (moe_near(gs[gorder[MOE_TOPK_GROUP - 1]], gs[gorder[MOE_TOPK_GROUP]]))
        return -1;
    /* Best MOE_TOPK + 1 of the kept groups' experts: one pass, kept sorted
     * (descending) by insertion. */
    {
        int64_t pick[MOE_TOPK + 1];
        int npick = 0;
        memset(hit, 0, (size_t)e);
        for (int gi = 0; gi < MOE_TOPK_GROUP; gi++) {
            int g = gorder[gi];
            for (int64_t x = g * per; x < (g + 1) * per; x++) {
                int at = npick < MOE_TOPK + 1 ? npick : MOE_TOPK + 1;
                if (at == MOE_TOPK + 1 && !(sb[x] > sb[pick[MOE_TOPK]]))
                    continue;
                if (at == MOE_TOPK + 1)
                    at = MOE_TOPK;   /* drop the last */
                else
                    npick++;
                while (at > 0 && sb[x] > sb[pick[at - 1]]) {
                    pick[at] = pick[at - 1];
                    at--;
                }
                pick[at] = x;
            }
        }
        if (npick == MOE_TOPK + 1 && moe_near(sb[pick[MOE_TOPK - 1]], sb[pick[MOE_TOPK]]))
            return -1;
        for (int i = 0; i < npick && i < MOE_TOPK; i++)
            hit[pick[i]] = 1;
    }
    return 0;
}

static int m_moe(struct fctx *c)
{
    int64_t t, e, el, hd, in, g1;
    int il, ib, ih, ihs, iw1, iw1s, iw2, iw2s;
    const float *logits;
    const uint16_t *bias;
    const struct kf_workload_input *off;
    if (axis(c, "seq_len", &t) || axis(c, "num_experts", &e) ||
        axis(c, "num_local_experts", &el) || axis(c, "hidden_size", &hd) ||
        axis(c, "intermediate_size", &in) || axis(c, "gemm1_out_size", &g1) ||
        (il = input(c, "routing_logits", KF_DT_F32, 2)) < 0 ||
        (ib = input(c, "routing_bias", KF_DT_BF16, 1)) < 0 ||
        (ih = input(c, "hidden_states", KF_DT_F8E4M3, 2)) < 0 ||
        (ihs = input(c, "hidden_states_scale", KF_DT_F32, 2)) < 0 ||
        (iw1 = input(c, "gemm1_weights", KF_DT_F8E4M3, 3)) < 0 ||
        (iw1s = input(c, "gemm1_weights_scale", KF_DT_F32, 3)) < 0 ||
        (iw2 = input(c, "gemm2_weights", KF_DT_F8E4M3, 3)) < 0 ||
        (iw2s = input(c, "gemm2_weights_scale", KF_DT_F32, 3)) < 0)
        return -1;
    c->pk = PK_FP8;
    c->bytes = out_bytes(c) + (double)c->b->inputs[il].nbytes + (double)c->b->inputs[ib].nbytes;
    c->flops = 0;
    logits = host(c, il);
    bias = host(c, ib);
    off = c->data && c->data->w ? kf_workload_input(c->data->w, "local_expert_offset") : NULL;
    if (!logits || !bias || !off || off->kind != KF_IN_SCALAR || !off->scalar_is_int ||
        e < MOE_TOPK + 1 || e % MOE_NGROUP || el < 1 || c->b->inputs[il].dims[0] != t ||
        c->b->inputs[il].dims[1] != e || c->b->inputs[ib].dims[0] != e)
        return 0;
    {
        float *sb = xmalloc((size_t)e * sizeof *sb), *fbias = xmalloc((size_t)e * sizeof *fbias);
        uint8_t *hit = xmalloc((size_t)e), *active = xcalloc((size_t)el, 1);
        int64_t tokens = 0, pairs = 0, nactive = 0;
        double per_expert, per_token;
        for (int64_t x = 0; x < e; x++)
            fbias[x] = kf_bf16_to_f32(bias[x]);
        for (int64_t i = 0; i < t; i++) {
            int64_t mine = 0;
            if (moe_route(logits + i * e, fbias, e, sb, hit))
                continue;
            for (int64_t x = 0; x < el; x++) {
                int64_t g = off->scalar_int + x;
                if (g >= 0 && g < e && hit[g]) {
                    mine++;
                    if (!active[x]) {
                        active[x] = 1;
                        nactive++;
                    }
                }
            }
            tokens += mine > 0;
            pairs += mine;
        }
        free(sb);
        free(fbias);
        free(hit);
        free(active);
        per_expert = ((double)c->b->inputs[iw1].nbytes + (double)c->b->inputs[iw1s].nbytes +
                      (double)c->b->inputs[iw2].nbytes + (double)c->b->inputs[iw2s].nbytes) /
                     (double)el;
        per_token = t > 0 ? ((double)c->b->inputs[ih].nbytes + (double)c->b->inputs[ihs].nbytes) /
                                (double)t
                          : 0;
        c->bytes += (double)nactive * per_expert + (double)tokens * per_token;
        c->flops = (double)pairs * (2.0 * (double)g1 * (double)hd + 2.0 * (double)hd * (double)in);
        c->from_data = 1;
    }
    return 0;
}

/* ---- generic --------------------------------------------------------------
 * Any other definition: only the outputs, which must all be written. Inputs
 * are not counted: without a model nothing says how much of them a correct
 * kernel reads (paged caches and index-selected tensors are read in part). */
static int m_generic(struct fctx *c)
{
    c->bytes = out_bytes(c);
    c->flops = 0;
    c->pk = PK_NONE;
    return 0;
}

static const struct {
    const char *definition;
    const char *model;
    int (*fn)(struct fctx *c);
} models[] = {
    {"gdn_decode_qk4_v8_d128_k_last", "gdn_decode", m_gdn_decode},
    {"gdn_prefill_qk4_v8_d128_k_last", "gdn_prefill", m_gdn_prefill},
    {"dsa_sparse_attention_h16_ckv512_kpe64_topk2048_ps64", "dsa_sparse_attention",
     m_dsa_attention},
    {"dsa_topk_indexer_fp8_h64_d128_topk2048_ps64", "dsa_topk_indexer", m_dsa_indexer},
    {"moe_fp8_block_scale_ds_routing_topk8_ng8_kg4_e32_h7168_i2048", "moe_fp8_block_scale",
     m_moe},
};

int ev_floor_compute_data(const struct kf_definition *def, const struct kf_binding *b,
                          const struct ev_floor_data *data, const char *hardware, double margin,
                          struct ev_floor *out, struct kf_err *err)
{
    struct fctx c;
    const struct ev_gpu_peak *pk;
    double rate = 0;
    if (!out)
        return kf_err_set(err, KF_EINVAL, NULL, "floor: no output record");
    memset(out, 0, sizeof *out);
    if (!def || !b || b->def != def)
        return kf_err_set(err, KF_EINVAL, NULL, "floor: no definition or binding of it");
    if (!(margin >= 0 && margin <= 1))
        return kf_err_set(err, KF_EINVAL, "floor_margin", "floor margin %g is outside [0, 1]",
                          margin);
    memset(&c, 0, sizeof c);
    c.def = def;
    c.b = b;
    c.data = data;
    out->model = "generic_io";
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
        if (!strcmp(def->name, models[i].definition)) {
            if (models[i].fn(&c) == 0) {
                out->model = models[i].model;
            } else {   /* not the shape the model expects: generic */
                c.bytes = c.flops = 0;
                c.from_data = 0;
            }
            break;
        }
    if (!strcmp(out->model, "generic_io"))
        m_generic(&c);
    out->bytes = c.bytes;
    out->flops = c.flops;
    out->margin = margin;
    out->from_data = c.from_data;
    out->peak = c.pk == PK_BF16 ? "bf16" : c.pk == PK_FP8 ? "fp8" : "none";
    out->bound = "bytes/bandwidth";
    if (!(pk = ev_gpu_peak_find(hardware)))
        return kf_err_set(err, KF_ENOENT, "hardware", "no peak rates for hardware %s",
                          hardware ? hardware : "(none)");
    out->hardware = pk->hardware;
    rate = c.pk == PK_BF16 ? pk->bf16_flops : c.pk == PK_FP8 ? pk->fp8_flops : 0;
    out->l2_credit = fmin(out_bytes(&c), pk->l2_bytes);
    if (out->l2_credit > c.bytes)
        out->l2_credit = c.bytes;
    out->mem_ms = (c.bytes - out->l2_credit) / pk->hbm_bytes_per_s * 1e3;
    out->compute_ms = rate > 0 ? c.flops / rate * 1e3 : 0;
    if (out->compute_ms > out->mem_ms)
        out->bound = "FLOPs/peak";
    out->floor_ms = fmax(out->mem_ms, out->compute_ms) * margin;
    return 0;
}

int ev_floor_compute(const struct kf_definition *def, const struct kf_binding *b,
                     const char *hardware, double margin, struct ev_floor *out,
                     struct kf_err *err)
{
    return ev_floor_compute_data(def, b, NULL, hardware, margin, out, err);
}

/* Milliseconds with 4 decimals, or 3 significant digits below 0.001. */
static const char *ms(double v, char *buf, size_t n)
{
    if (v != 0 && fabs(v) < 1e-3)
        snprintf(buf, n, "%.3g", v);
    else
        snprintf(buf, n, "%.4f", v);
    return buf;
}

/* Append one reason to why ("; " between reasons). */
static void add_reason(char *why, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add_reason(char *why, size_t n, const char *fmt, ...)
{
    size_t len;
    va_list ap;
    if (!why || !n)
        return;
    len = strlen(why);
    if (len && len + 2 < n) {
        memcpy(why + len, "; ", 3);
        len += 2;
    }
    va_start(ap, fmt);
    vsnprintf(why + len, n - len, fmt, ap);
    va_end(ap);
}

int ev_floor_verdict(double median_ms, double sum_samples_ms, double judge_wall_ms,
                     const struct ev_floor *f, char *why, size_t n)
{
    char a[32], b[32];
    int unranked = 0;
    if (why && n)
        why[0] = 0;
    if (!isfinite(median_ms) || median_ms <= 0 || !isfinite(sum_samples_ms) ||
        sum_samples_ms <= 0) {
        add_reason(why, n, "median %s ms or GPU time %s ms is not a positive finite time",
                   ms(median_ms, a, sizeof a), ms(sum_samples_ms, b, sizeof b));
        return 1;
    }
    if (f && f->floor_ms > 0 && median_ms < f->floor_ms) {
        add_reason(why, n,
                   "median %s ms is below the speed-of-light floor %s ms (%s on %s, margin %g)",
                   ms(median_ms, a, sizeof a), ms(f->floor_ms, b, sizeof b),
                   f->bound ? f->bound : "bytes/bandwidth", f->hardware ? f->hardware : "?",
                   f->margin);
        unranked = 1;
    }
    if (isfinite(judge_wall_ms) && judge_wall_ms > 0 && sum_samples_ms > judge_wall_ms) {
        add_reason(why, n,
                   "GPU time %s ms of the timed calls is above the judge's wall time %s ms "
                   "of them",
                   ms(sum_samples_ms, a, sizeof a), ms(judge_wall_ms, b, sizeof b));
        unranked = 1;
    }
    return unranked;
}

json_t *ev_floor_to_json(const struct ev_floor *f)
{
    return json_pack("{s:s, s:s?, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:s, s:s, s:b}", "model",
                     f->model ? f->model : "generic_io", "hardware", f->hardware, "bytes",
                     f->bytes, "flops", f->flops, "l2_credit", f->l2_credit, "mem_ms",
                     f->mem_ms, "compute_ms",
                     f->compute_ms, "floor_ms", f->floor_ms, "margin", f->margin, "bound",
                     f->bound ? f->bound : "bytes/bandwidth", "peak", f->peak ? f->peak : "none",
                     "from_data", f->from_data);
}
