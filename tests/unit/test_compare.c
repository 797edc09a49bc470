/* test_compare.c: correctness maths of worker/compare.c on host buffers:
 * the element test with atol/rtol, NaN/Inf handling, matched ratio, merge,
 * and the DSA top-k index-set evaluator (valid, unique, tie-tolerant). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"
#include "dtype.h"
#include "evaluators.h"
#include "kf_check.h"

START_TEST(test_exact_and_tolerance)
{
    float ref[4] = {1.0f, -2.0f, 100.0f, 0.0f}, out[4] = {1.0f, -2.0f, 100.5f, 0.005f};
    struct ev_cmp c;
    ev_compare(KF_DT_F32, out, ref, 4, 1e-2, 1e-2, &c);
    /* 100.5 vs 100: |d| = 0.5 <= rtol*|y| = 1.0 -> passes; 0.005 <= atol */
    ck_assert_int_eq(c.nfail, 0);
    ck_assert(ev_cmp_pass(&c, 1.0));
    ck_assert(fabs(c.max_abs - 0.5) < 1e-9);
    out[0] = 1.5f;   /* 0.5 > atol and > rtol*1 */
    ev_compare(KF_DT_F32, out, ref, 4, 1e-2, 1e-2, &c);
    ck_assert_int_eq(c.nfail, 1);
    ck_assert_int_eq(c.first_fail, 0);
    ck_assert(!ev_cmp_pass(&c, 1.0));
    ck_assert(ev_cmp_pass(&c, 0.75));   /* matched 3 of 4 */
    ck_assert(fabs(c.matched_ratio - 0.75) < 1e-12);
}
END_TEST

START_TEST(test_nonfinite)
{
    float ref[3] = {1.0f, -INFINITY, NAN}, out[3] = {1.0f, -INFINITY, NAN};
    struct ev_cmp c;
    ev_compare(KF_DT_F32, out, ref, 3, 1e-2, 1e-2, &c);
    ck_assert_int_eq(c.nfail, 0);
    ck_assert_int_eq(c.nonfinite, 0);
    out[0] = NAN;   /* NaN where the reference is finite: always fails */
    ev_compare(KF_DT_F32, out, ref, 3, 1e-2, 1e-2, &c);
    ck_assert_int_eq(c.nonfinite, 1);
    ck_assert(!ev_cmp_pass(&c, 0.1));   /* even with a lax ratio */
    out[0] = 1.0f;
    out[1] = INFINITY;   /* wrong sign of the -inf lse row */
    ev_compare(KF_DT_F32, out, ref, 3, 1e-2, 1e-2, &c);
    ck_assert_int_eq(c.nonfinite, 1);
    out[1] = -1e30f;    /* finite where -inf is expected */
    ev_compare(KF_DT_F32, out, ref, 3, 1e30, 1e30, &c);
    ck_assert_int_eq(c.nonfinite, 1);
    ck_assert(isfinite(c.max_abs));
}
END_TEST

START_TEST(test_bf16_poison)
{
    uint16_t ref[8], out[8];
    struct ev_cmp c;
    for (int i = 0; i < 8; i++)
        ref[i] = kf_f32_to_bf16((float)i * 0.25f);
    memset(out, 0xFF, sizeof out);   /* the evaluator's poison: NaN */
    ev_compare(KF_DT_BF16, out, ref, 8, 1, 1, &c);
    ck_assert_int_eq(c.nonfinite, 8);
    ck_assert(!ev_cmp_pass(&c, 0.0));
    memcpy(out, ref, sizeof out);
    ev_compare(KF_DT_BF16, out, ref, 8, 0, 0, &c);
    ck_assert(ev_cmp_pass(&c, 1.0));
}
END_TEST

START_TEST(test_int_and_merge)
{
    int32_t ref[4] = {1, 2, 3, -1}, out[4] = {1, 2, 4, 0x5A5A5A5A};
    struct ev_cmp a, b;
    ev_compare(KF_DT_I32, out, ref, 4, 1e-2, 1e-2, &a);
    ck_assert_int_eq(a.nfail, 2);
    ev_compare(KF_DT_I32, ref, ref, 4, 1e-2, 1e-2, &b);
    ck_assert_int_eq(b.nfail, 0);
    ev_cmp_merge(&b, &a);
    ck_assert_int_eq(b.n, 8);
    ck_assert_int_eq(b.nfail, 2);
    ck_assert(fabs(b.matched_ratio - 0.75) < 1e-12);
}
END_TEST

/* A tiny indexer problem: B=1, H=2, D=4, page_size 2, 3 pages, topk 3. */
#define H 2
#define D 4
#define PS 2
#define NP 3
static uint8_t q8[H * D], kc[NP * PS * (D + 4)];
static float w[H] = {1.0f, 0.5f};
static int32_t seq_lens[1] = {5}, bt[3] = {2, 0, 1};

static void setup_topk(struct ev_topk_in *in)
{
    for (int i = 0; i < H * D; i++)
        q8[i] = kf_f32_to_e4m3(i % 3 == 0 ? 1.0f : 0.5f);
    for (int p = 0; p < NP; p++) {
        uint8_t *pg = kc + p * PS * (D + 4);
        for (int o = 0; o < PS; o++) {
            float scale = 1.0f;
            for (int d = 0; d < D; d++)   /* distinct scores per token */
                pg[o * D + d] = kf_f32_to_e4m3((float)(p * PS + o + 1) * (d == 0 ? 1.0f : 0.25f));
            memcpy(pg + PS * D + o * 4, &scale, 4);
        }
    }
    memset(in, 0, sizeof *in);
    in->q_fp8 = q8;
    in->kcache = kc;
    in->weights = w;
    in->seq_lens = seq_lens;
    in->block_table = bt;
    in->batch = 1;
    in->heads = H;
    in->dim = D;
    in->page_size = PS;
    in->max_pages = 3;
    in->num_pages = NP;
    in->topk = 3;
}

START_TEST(test_topk_set)
{
    struct ev_topk_in in;
    struct ev_cmp c;
    char msg[256];
    setup_topk(&in);
    /* tokens t=0..4 live at global ids: t0,t1 -> page 2 (4,5); t2,t3 -> page 0
     * (0,1); t4 -> page 1 (2). Scores grow with page*PS+o+1 of the page:
     * page 2 ids 5,4 score highest (6, 5), then page 1 id 2 (3); top-3 = {5, 4, 2} */
    int32_t good[3] = {5, 4, 2}, perm[3] = {4, 2, 5};
    ck_assert_int_eq(ev_topk_check(&in, good, 1e-3, 1e-3, &c, msg, sizeof msg), 0);
    ck_assert_int_eq(ev_topk_check(&in, perm, 1e-3, 1e-3, &c, msg, sizeof msg), 0);
    ck_assert(fabs(c.matched_ratio - 1.0) < 1e-12);
}
END_TEST

START_TEST(test_topk_bad)
{
    struct ev_topk_in in;
    struct ev_cmp c;
    char msg[256];
    int32_t dup[3] = {5, 5, 4}, foreign[3] = {5, 4, 2}, low[3] = {5, 4, 0}, pad[3] = {5, 4, -1};
    setup_topk(&in);
    ck_assert_int_eq(ev_topk_check(&in, dup, 1e-3, 1e-3, &c, msg, sizeof msg), 1);
    ck_assert_ptr_nonnull(strstr(msg, "twice"));
    seq_lens[0] = 4;   /* id 2 (t=4) is no longer in the sequence */
    ck_assert_int_eq(ev_topk_check(&in, foreign, 1e-3, 1e-3, &c, msg, sizeof msg), 1);
    ck_assert_ptr_nonnull(strstr(msg, "not a token"));
    seq_lens[0] = 5;
    ck_assert_int_eq(ev_topk_check(&in, low, 1e-3, 1e-3, &c, msg, sizeof msg), 1);
    ck_assert_ptr_nonnull(strstr(msg, "below"));
    ck_assert(c.max_abs > 0);
    ck_assert_int_eq(ev_topk_check(&in, pad, 1e-3, 1e-3, &c, msg, sizeof msg), 1);
    ck_assert_ptr_nonnull(strstr(msg, "expected 3"));
    /* a huge tolerance accepts any valid unique token (ties) */
    ck_assert_int_eq(ev_topk_check(&in, low, 1e9, 0, &c, msg, sizeof msg), 0);
}
END_TEST

START_TEST(test_topk_short_sequence)
{
    struct ev_topk_in in;
    struct ev_cmp c;
    char msg[256];
    int32_t row[3] = {4, -1, -1}, bad[3] = {4, 5, -1};
    setup_topk(&in);
    seq_lens[0] = 1;   /* one token: one index, then padding */
    ck_assert_int_eq(ev_topk_check(&in, row, 1e-3, 1e-3, &c, msg, sizeof msg), 0);
    ck_assert_int_eq(ev_topk_check(&in, bad, 1e-3, 1e-3, &c, msg, sizeof msg), 1);
    seq_lens[0] = 5;
}
END_TEST

/* A bigger random problem against a brute-force top-k: the true answer (in
 * any order) passes, a swapped-in low-score token fails; rows in parallel. */
static uint64_t rng = 88172645463325252ULL;
static uint64_t xr(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static double gauss(void)
{
    double s = 0;
    for (int i = 0; i < 12; i++)
        s += (double)(xr() >> 11) / 9007199254740992.0;
    return s - 6;
}
static int cmp_sd(const void *a, const void *b)
{
    const double *x = a, *y = b;
    return x[0] < y[0] ? 1 : x[0] > y[0] ? -1 : 0;
}

START_TEST(test_topk_random_bruteforce)
{
    enum { B = 6, HH = 8, DD = 32, P = 16, NPG = 40, MP = 10, K = 50 };
    static uint8_t q[B * HH * DD], kcache[NPG * P * (DD + 4)];
    static float wts[B * HH];
    static int32_t sl[B], btab[B * MP], out[B * K];
    struct ev_topk_in in = {q, kcache, wts, sl, btab, B, HH, DD, P, MP, NPG, K};
    struct ev_cmp c;
    char msg[256];
    int32_t worst = -1;
    for (size_t i = 0; i < sizeof q; i++)
        q[i] = kf_f32_to_e4m3((float)gauss());
    for (int p = 0; p < NPG; p++)
        for (int o = 0; o < P; o++) {
            float sc = 0.01f + 0.02f * (float)(xr() % 1000) / 1000.0f;
            for (int d = 0; d < DD; d++)
                kcache[p * P * (DD + 4) + o * DD + d] = kf_f32_to_e4m3((float)gauss());
            memcpy(kcache + p * P * (DD + 4) + P * DD + o * 4, &sc, 4);
        }
    for (int i = 0; i < B * HH; i++)
        wts[i] = (float)gauss();
    for (int b = 0; b < B; b++) {
        int perm[NPG];
        for (int i = 0; i < NPG; i++)
            perm[i] = i;
        for (int i = NPG - 1; i > 0; i--) {
            int j = (int)(xr() % (uint64_t)(i + 1)), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        for (int m = 0; m < MP; m++)
            btab[b * MP + m] = perm[m];
        /* row 0: fewer tokens than K; row 3: many */
        sl[b] = b == 0 ? 20 : b == 3 ? MP * P - 7 : (int)(xr() % (MP * P)) + 1;
    }
    /* brute force */
    for (int b = 0; b < B; b++) {
        double (*s)[2] = malloc(sizeof(double[2]) * (size_t)sl[b]);
        int want = sl[b] < K ? sl[b] : K;
        for (int t = 0; t < sl[b]; t++) {
            int page = btab[b * MP + t / P], off = t % P;
            float scale;
            double tot = 0;
            memcpy(&scale, kcache + page * P * (DD + 4) + P * DD + off * 4, 4);
            for (int h = 0; h < HH; h++) {
                double dot = 0;
                for (int d = 0; d < DD; d++)
                    dot += (double)kf_e4m3_to_f32(q[(b * HH + h) * DD + d]) *
                           (double)(kf_e4m3_to_f32(kcache[page * P * (DD + 4) + off * DD + d]) * scale);
                if (dot > 0)
                    tot += dot * wts[b * HH + h];
            }
            s[t][0] = tot;
            s[t][1] = page * P + off;
        }
        qsort(s, (size_t)sl[b], sizeof s[0], cmp_sd);
        for (int j = 0; j < K; j++)   /* reversed order: order must not matter */
            out[b * K + j] = j < want ? (int32_t)s[want - 1 - j][1] : -1;
        if (b == 3)
            worst = (int32_t)s[sl[b] - 1][1];
        free(s);
    }
    ck_assert_msg(ev_topk_check(&in, out, 1e-6, 1e-6, &c, msg, sizeof msg) == 0, "%s", msg);
    ck_assert(fabs(c.matched_ratio - 1.0) < 1e-12);
    ck_assert_int_gt(sl[3], K);
    out[3 * K] = worst;   /* the worst token of row 3 instead of one of its best */
    ck_assert_int_eq(ev_topk_check(&in, out, 1e-6, 1e-6, &c, msg, sizeof msg), 1);
    ck_assert_msg(strstr(msg, "row 3") != NULL, "%s", msg);
}
END_TEST

static void cmp_eq(const struct ev_cmp *a, const struct ev_cmp *b)
{
    ck_assert(a->max_abs == b->max_abs);
    ck_assert(a->max_rel == b->max_rel);
    ck_assert_int_eq(a->n, b->n);
    ck_assert_int_eq(a->nfail, b->nfail);
    ck_assert_int_eq(a->nonfinite, b->nonfinite);
    ck_assert_int_eq(a->first_fail, b->first_fail);
    ck_assert(a->matched_ratio == b->matched_ratio);
}

/* Large outputs are compared on several threads: the result is the one of a
 * single pass, for any thread count, first failure and NaN/Inf included, and
 * for packed fp4 with an odd element count. */
START_TEST(test_threads_same_result)
{
    int64_t n = 3000001;
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    unsigned char *p = malloc((size_t)n / 2 + 1), *q = malloc((size_t)n / 2 + 1);
    struct ev_cmp one, many, dflt;
    uint64_t r = 88172645463325252ull;
    for (int64_t i = 0; i < n; i++) {
        r ^= r << 13; r ^= r >> 7; r ^= r << 17;
        y[i] = (float)((double)(r % 2000000) / 1000000.0 - 1.0);
        x[i] = y[i] + (float)((double)(r % 7) * 1e-4);
    }
    x[1234567] = y[1234567] + 0.5f;       /* mismatches in the middle ... */
    x[2999990] = y[2999990] - 0.75f;      /* ... and in the last chunk */
    x[1700000] = NAN;                     /* an unmatched non-finite */
    y[2000000] = x[2000000] = INFINITY;   /* a matched Inf */
    for (int t = 2; t <= 9; t += 7) {
        ev_compare_threads(KF_DT_F32, x, y, n, 1e-2, 1e-2, &one, 1);
        ev_compare_threads(KF_DT_F32, x, y, n, 1e-2, 1e-2, &many, t);
        cmp_eq(&one, &many);
    }
    ev_compare(KF_DT_F32, x, y, n, 1e-2, 1e-2, &dflt);
    cmp_eq(&one, &dflt);
    ck_assert_int_eq(one.first_fail, 1234567);
    ck_assert_int_eq(one.nfail, 3);
    ck_assert_int_eq(one.nonfinite, 1);
    for (int64_t i = 0; i < n / 2 + 1; i++) {
        r ^= r << 13; r ^= r >> 7; r ^= r << 17;
        p[i] = q[i] = (unsigned char)r;
    }
    p[n / 2] ^= 0x0F;   /* the last (odd) element differs */
    ev_compare_threads(KF_DT_F4E2M1, p, q, n, 0, 0, &one, 1);
    ev_compare_threads(KF_DT_F4E2M1, p, q, n, 0, 0, &many, 5);
    cmp_eq(&one, &many);
    ck_assert_int_ge(one.first_fail, n - 1);
    free(x);
    free(y);
    free(p);
    free(q);
}
END_TEST

/* The per-definition table: the contest's DSA definitions get their
 * evaluators and hooks, every other definition the default row. */
START_TEST(test_definition_rules)
{
    struct kf_definition d;
    const struct ev_def_rules *r;
    memset(&d, 0, sizeof d);
    d.name = "dsa_topk_indexer_fp8_h64_d128_topk2048_ps64";
    r = ev_def_rules_for(&d);
    ck_assert_int_eq(r->evaluator, EV_EVAL_TOPK_SET);
    ck_assert_str_eq(r->set_output, "topk_indices");
    ck_assert_str_eq(r->hook_input, "k_index_cache_fp8");
    ck_assert_str_eq(ev_evaluator_name(ev_evaluator_for(&d)), "topk_index_set");
    d.name = "dsa_sparse_attention_h16_ckv512_kpe64_topk2048_ps64";
    r = ev_def_rules_for(&d);
    ck_assert_int_eq(r->evaluator, EV_EVAL_DSA_ATTN);
    ck_assert_str_eq(r->note_output, "lse");
    ck_assert_ptr_null(r->hook_input);
    d.name = "gdn_decode_qk4_v8_d128_k_last";
    r = ev_def_rules_for(&d);
    ck_assert_int_eq(r->evaluator, EV_EVAL_DEFAULT);
    ck_assert_ptr_null(r->set_output);
    ck_assert_ptr_null(r->hook_input);
    ck_assert_str_eq(ev_evaluator_name(ev_evaluator_for(&d)), "elementwise");
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("compare");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_exact_and_tolerance);
    tcase_add_test(tc, test_nonfinite);
    tcase_add_test(tc, test_bf16_poison);
    tcase_add_test(tc, test_int_and_merge);
    tcase_add_test(tc, test_topk_set);
    tcase_add_test(tc, test_topk_bad);
    tcase_add_test(tc, test_topk_short_sequence);
    tcase_add_test(tc, test_topk_random_bruteforce);
    tcase_add_test(tc, test_definition_rules);
    tcase_add_test(tc, test_threads_same_result);
    suite_add_tcase(s, tc);
    return s;
}

KF_CHECK_MAIN
