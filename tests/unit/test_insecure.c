/* test_insecure.c: kf-server's refusal of placeholder secrets
 * (server/insecure.c): every token of deploy/tokens.example, each
 * well-known Redis password (flag or URL), and a password-less Redis on a
 * remote address are refused; real secrets, unix sockets and loopback
 * without a password pass. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "insecure.h"
#include "kf_check.h"
#include "xalloc.h"

#ifndef KF_SOURCE_DIR
#define KF_SOURCE_DIR "."
#endif

static char *one_line_file(const char *line)
{
    char *path = xstrdup("/tmp/kf-tokens-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "# a comment\n%s\n", line);
    fclose(f);
    return path;
}

START_TEST(test_example_tokens_refused)
{
    char *ex = xasprintf("%s/deploy/tokens.example", KF_SOURCE_DIR);
    FILE *f = fopen(ex, "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    int n = 0;
    struct kf_err e;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\n")] = 0;
        char *p = one_line_file(line);
        ck_assert_msg(api_insecure_check(p, "unix:///tmp/x.sock", NULL, &e) == KF_EINVAL,
                      "example token line accepted: %s", line);
        ck_assert_str_eq(e.path, "tokens-file");
        unlink(p);
        free(p);
        n++;
    }
    fclose(f);
    ck_assert_int_ge(n, 3);
    /* the whole example file too */
    ck_assert_int_eq(api_insecure_check(ex, "unix:///tmp/x.sock", NULL, &e), KF_EINVAL);
    free(ex);
    char *good = one_line_file("9f2c4e0b7a1d3c5e8f6a2b4d1c3e5f7a admin - admin");
    ck_assert_int_eq(api_insecure_check(good, "unix:///tmp/x.sock", NULL, &e), 0);
    unlink(good);
    free(good);
}
END_TEST

START_TEST(test_redis_passwords)
{
    struct kf_err e;
    ck_assert_int_eq(api_insecure_check(NULL, "redis://redis:6379", "change-me", &e), KF_EINVAL);
    ck_assert_str_eq(e.path, "redis-password");
    ck_assert_int_eq(api_insecure_check(NULL, "redis://:foobared@10.1.2.3:6379", NULL, &e),
                     KF_EINVAL);
    ck_assert_int_eq(api_insecure_check(NULL, "redis://kf-server:change-me@redis:6379", NULL, &e),
                     KF_EINVAL);
    /* the flag wins over the URL */
    ck_assert_int_eq(api_insecure_check(NULL, "redis://:change-me@redis", "Zx81-long-random", &e),
                     0);
    /* no password: fine on loopback and unix sockets, not across the network */
    ck_assert_int_eq(api_insecure_check(NULL, "redis://127.0.0.1:6379", NULL, &e), 0);
    ck_assert_int_eq(api_insecure_check(NULL, "unix:///run/redis.sock", NULL, &e), 0);
    ck_assert_int_eq(api_insecure_check(NULL, "redis://redis:6379", NULL, &e), KF_EINVAL);
    ck_assert_int_eq(api_insecure_check(NULL, "redis://:s3cr3t-0f-length@redis:6379", NULL, &e),
                     0);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("insecure");
    TCase *tc = tcase_create("checks");
    tcase_add_test(tc, test_example_tokens_refused);
    tcase_add_test(tc, test_redis_passwords);
    suite_add_tcase(s, tc);
    return s;
}

KF_CHECK_MAIN
