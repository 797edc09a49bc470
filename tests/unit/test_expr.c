/* test_expr.c: the constraint / launch-plan expression language. */
#include <string.h>

#include "expr.h"
#include "kf_check.h"

struct env { const char *names[8]; int64_t vals[8]; };

static int resolve(void *ctx, const struct kf_expr_ref *ref, int64_t *out)
{
    struct env *e = ctx;
    if (ref->kind == KF_REF_SHAPE) {
        if (strcmp(ref->name, "t") != 0)
            return KF_ENOENT;
        *out = ref->index == 0 ? 7 : ref->index == -1 ? 11 : 99;
        return 0;
    }
    if (ref->kind == KF_REF_ITEM)
        return strcmp(ref->name, "cu") == 0 ? KF_EUNSUP : KF_ENOENT;
    for (int i = 0; i < 8 && e->names[i]; i++)
        if (strcmp(e->names[i], ref->name) == 0) {
            *out = e->vals[i];
            return 0;
        }
    return KF_ENOENT;
}

static int64_t ev(const char *src)
{
    struct env e = {{"a", "b", "num_sms", "zero"}, {10, 3, 132, 0}};
    struct kf_expr *x;
    struct kf_err err;
    int64_t v = -12345;
    ck_assert_msg(kf_expr_parse(src, &x, &err) == 0, "parse %s: %s", src, err.msg);
    ck_assert_msg(kf_expr_eval(x, resolve, &e, &v, &err) == 0, "eval %s: %s", src, err.msg);
    ck_assert_str_eq(kf_expr_source(x), src);
    kf_expr_free(x);
    return v;
}

static int eval_rc(const char *src, char *msg, size_t n)
{
    struct env e = {{"a", "b", "zero"}, {10, 3, 0}};
    struct kf_expr *x;
    struct kf_err err;
    int64_t v;
    int rc;
    ck_assert_int_eq(kf_expr_parse(src, &x, &err), 0);
    rc = kf_expr_eval(x, resolve, &e, &v, &err);
    if (msg)
        snprintf(msg, n, "%s", err.msg);
    kf_expr_free(x);
    return rc;
}

START_TEST(test_arith)
{
    ck_assert_int_eq(ev("1 + 2 * 3"), 7);
    ck_assert_int_eq(ev("(1 + 2) * 3"), 9);
    ck_assert_int_eq(ev("a / b"), 3);
    ck_assert_int_eq(ev("a // b"), 3);
    ck_assert_int_eq(ev("-a / b"), -4); /* floor */
    ck_assert_int_eq(ev("-a % b"), 2);  /* Python modulo */
    ck_assert_int_eq(ev("a % -b"), -2);
    /* floor modulo near INT64_MIN: no overflow (UBSan found floordiv * b) */
    ck_assert_int_eq(ev("(-9223372036854775807) % 345001035"), 333325658);
    ck_assert_int_eq(ev("(-9223372036854775807 - 1) % 3"), 1);
    ck_assert_int_eq(ev("(-9223372036854775807) % -3"), -1);
    ck_assert_int_eq(ev("cdiv(a, b)"), 4);
    ck_assert_int_eq(ev("cdiv(-a, b)"), -3);
    ck_assert_int_eq(ev("cdiv(9, 3)"), 3);
    ck_assert_int_eq(ev("min(a, b) + max(a, b)"), 13);
    ck_assert_int_eq(ev("--a"), 10);
    ck_assert_int_eq(ev("cdiv(a * 1000, 64) * 8 * 4"), 5024);
    ck_assert_int_eq(ev("num_sms * 2"), 264);
}
END_TEST

START_TEST(test_logic)
{
    ck_assert_int_eq(ev("a % b == 1"), 1);
    ck_assert_int_eq(ev("a >= b and b > 0"), 1);
    ck_assert_int_eq(ev("a < b or b != 3"), 0);
    ck_assert_int_eq(ev("not a == b"), 1);
    ck_assert_int_eq(ev("!(a == 10) || b <= 3"), 1);
    ck_assert_int_eq(ev("a == 10 && b == 3"), 1);
    ck_assert_int_eq(ev("zero == 0 or a % zero == 0"), 1); /* short circuit */
    ck_assert_int_eq(ev("t.shape[0] == 7"), 1);
    ck_assert_int_eq(ev("t.shape[-1]"), 11);
}
END_TEST

struct walk_acc { int n; char names[4][16]; int kinds[4]; int64_t idx[4]; };
static int walk_fn(void *c, const struct kf_expr_ref *r)
{
    struct walk_acc *a = c;
    if (a->n >= 4)
        return 1;
    snprintf(a->names[a->n], 16, "%s", r->name);
    a->kinds[a->n] = r->kind;
    a->idx[a->n] = r->index;
    a->n++;
    return 0;
}

START_TEST(test_walk)
{
    struct kf_expr *x;
    struct kf_err err;
    struct walk_acc acc;
    memset(&acc, 0, sizeof acc);
    ck_assert_int_eq(kf_expr_parse("total == cu[-1].item() and q.shape[2] > n", &x, &err), 0);
    ck_assert_int_eq(kf_expr_walk_refs(x, walk_fn, &acc), 0);
    ck_assert_int_eq(acc.n, 4);
    ck_assert_str_eq(acc.names[0], "total");
    ck_assert_int_eq(acc.kinds[0], KF_REF_NAME);
    ck_assert_str_eq(acc.names[1], "cu");
    ck_assert_int_eq(acc.kinds[1], KF_REF_ITEM);
    ck_assert_int_eq(acc.idx[1], -1);
    ck_assert_str_eq(acc.names[2], "q");
    ck_assert_int_eq(acc.kinds[2], KF_REF_SHAPE);
    ck_assert_int_eq(acc.idx[2], 2);
    ck_assert_str_eq(acc.names[3], "n");
    kf_expr_free(x);
    /* x[3] without .item() is also an element reference */
    ck_assert_int_eq(kf_expr_parse("x[3]", &x, &err), 0);
    memset(&acc, 0, sizeof acc);
    kf_expr_walk_refs(x, walk_fn, &acc);
    ck_assert_int_eq(acc.kinds[0], KF_REF_ITEM);
    kf_expr_free(x);
}
END_TEST

START_TEST(test_parse_errors)
{
    static const char *const bad[] = {
        "", "   ", "1 +", "(1", "1)", "a ==", "foo(1, 2)", "cdiv(1)", "1 2", "a.size[0]",
        "a[x]", "a.shape[", "1 < 2 < 3", "a $ b", "3.5", "and", "a = b", "x[1].itm()",
        "99999999999999999999", "a.shape[0].item()x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct kf_expr *x = (struct kf_expr *)1;
        struct kf_err err;
        kf_err_clear(&err);
        ck_assert_msg(kf_expr_parse(bad[i], &x, &err) == KF_EINVAL, "accepted '%s'", bad[i]);
        ck_assert_ptr_null(x);
        ck_assert_msg(err.msg[0] != '\0', "no message for '%s'", bad[i]);
    }
    {
        struct kf_expr *x;
        struct kf_err err;
        ck_assert_int_eq(kf_expr_parse("a + $", &x, &err), KF_EINVAL);
        ck_assert_msg(strstr(err.msg, "column 5") != NULL, "%s", err.msg);
    }
}
END_TEST

START_TEST(test_deep_nesting)
{
    char buf[2100];
    struct kf_expr *x;
    struct kf_err err;
    memset(buf, '(', 1000);
    buf[1000] = '1';
    memset(buf + 1001, ')', 1000);
    buf[2001] = '\0';
    ck_assert_int_eq(kf_expr_parse(buf, &x, &err), KF_EINVAL);
    memset(buf, '-', 2000);
    buf[2000] = '1';
    buf[2001] = '\0';
    ck_assert_int_eq(kf_expr_parse(buf, &x, &err), KF_EINVAL);
}
END_TEST

START_TEST(test_eval_errors)
{
    char msg[256];
    ck_assert_int_eq(eval_rc("a / zero", msg, sizeof msg), KF_EINVAL);
    ck_assert(strstr(msg, "division by zero") != NULL);
    ck_assert_int_eq(eval_rc("a % zero", NULL, 0), KF_EINVAL);
    ck_assert_int_eq(eval_rc("cdiv(a, zero)", NULL, 0), KF_EINVAL);
    ck_assert_int_eq(eval_rc("9223372036854775807 + 1", msg, sizeof msg), KF_EINVAL);
    ck_assert(strstr(msg, "overflow") != NULL);
    ck_assert_int_eq(eval_rc("3037000500 * 3037000500", NULL, 0), KF_EINVAL);
    ck_assert_int_eq(eval_rc("nope + 1", msg, sizeof msg), KF_ENOENT);
    ck_assert(strstr(msg, "nope") != NULL);
    ck_assert_int_eq(eval_rc("cu[-1].item()", NULL, 0), KF_EUNSUP);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("expr");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_arith);
    tcase_add_test(tc, test_logic);
    tcase_add_test(tc, test_walk);
    tcase_add_test(tc, test_parse_errors);
    tcase_add_test(tc, test_deep_nesting);
    tcase_add_test(tc, test_eval_errors);
    suite_add_tcase(s, tc);
    return s;
}

KF_CHECK_MAIN
