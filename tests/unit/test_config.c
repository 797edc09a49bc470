/* test_config.c: lib/config.c layering (defaults < file < env < flags),
 * bounds, bools, positional arguments, --help, errors. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "kf_check.h"

static char *s_url, *s_cfgfile, *s_name;
static int64_t i_port;
static double d_rate;
static bool b_auth;

static struct kf_cfg_opt opts_tmpl[] = {
    {"config", "KFT_CONFIG", KF_CFG_STR, NULL, 0, -1, "config file", &s_cfgfile, NULL},
    {"redis-url", "KFT_REDIS_URL", KF_CFG_STR, "redis://127.0.0.1:6379", 0, -1, "redis", &s_url, NULL},
    {"port", "KFT_PORT", KF_CFG_INT, "8080", 1, 65535, "port", &i_port, NULL},
    {"rate", "KFT_RATE", KF_CFG_DOUBLE, "1.5", 0, 100, "rate", &d_rate, NULL},
    {"auth", "KFT_AUTH", KF_CFG_BOOL, "false", 0, -1, "auth", &b_auth, NULL},
    {"name", NULL, KF_CFG_STR, NULL, 0, -1, "name", &s_name, NULL},
};
static struct kf_cfg_opt opts[6];
static struct kf_config cfg = {"kft", "test program", opts, 6};

static void reset(void)
{
    memcpy(opts, opts_tmpl, sizeof opts);
    unsetenv("KFT_CONFIG");
    unsetenv("KFT_REDIS_URL");
    unsetenv("KFT_PORT");
    unsetenv("KFT_RATE");
    unsetenv("KFT_AUTH");
}

static int load(int argc, char **argv, int *npos, struct kf_err *e)
{
    return kf_config_load(&cfg, argc, argv, npos, e);
}

START_TEST(test_defaults)
{
    reset();
    char *argv[] = {"kft", NULL};
    struct kf_err e;
    ck_assert_int_eq(load(1, argv, NULL, &e), 0);
    ck_assert_str_eq(s_url, "redis://127.0.0.1:6379");
    ck_assert_int_eq(i_port, 8080);
    ck_assert(d_rate == 1.5);
    ck_assert(!b_auth);
    ck_assert_str_eq(s_name, "");
    ck_assert_str_eq(opts[2].source, "default");
    kf_config_log(&cfg, "test");
    kf_config_free(&cfg);
    ck_assert_ptr_null(s_url);
}
END_TEST

START_TEST(test_layering)
{
    reset();
    char path[] = "/tmp/kft-config-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *text = "# comment\nport = 9000\nrate = 2.5\nname = \"from file\"\nauth = yes\n";
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    setenv("KFT_CONFIG", path, 1);
    setenv("KFT_PORT", "9001", 1);
    char *argv[] = {"kft", "--rate=3", "pos1", "--no-auth", "pos2", NULL};
    int npos = -1;
    struct kf_err e;
    ck_assert_int_eq(load(5, argv, &npos, &e), 0);
    ck_assert_int_eq(i_port, 9001);           /* env beats file */
    ck_assert(d_rate == 3.0);                 /* flag beats file */
    ck_assert_str_eq(s_name, "from file");    /* file beats default */
    ck_assert(!b_auth);                       /* --no-auth beats file */
    ck_assert_str_eq(opts[2].source, "env");
    ck_assert_str_eq(opts[3].source, "flag");
    ck_assert_str_eq(opts[5].source, "file");
    ck_assert_int_eq(npos, 2);
    ck_assert_str_eq(argv[0], "pos1");
    ck_assert_str_eq(argv[1], "pos2");
    kf_config_free(&cfg);
    unlink(path);
}
END_TEST

START_TEST(test_errors)
{
    struct kf_err e;
    reset();
    char *a1[] = {"kft", "--port", "70000", NULL};
    ck_assert_int_eq(load(3, a1, NULL, &e), KF_EINVAL);
    ck_assert_str_eq(e.path, "--port");
    kf_config_free(&cfg);
    reset();
    char *a2[] = {"kft", "--bogus", NULL};
    ck_assert_int_eq(load(2, a2, NULL, &e), KF_EINVAL);
    kf_config_free(&cfg);
    reset();
    char *a3[] = {"kft", "--port", NULL};
    ck_assert_int_eq(load(2, a3, NULL, &e), KF_EINVAL);
    kf_config_free(&cfg);
    reset();
    setenv("KFT_RATE", "abc", 1);
    char *a4[] = {"kft", NULL};
    ck_assert_int_eq(load(1, a4, NULL, &e), KF_EINVAL);
    ck_assert_str_eq(e.path, "env KFT_RATE");
    kf_config_free(&cfg);
    reset();
    char *a5[] = {"kft", "stray", NULL};
    ck_assert_int_eq(load(2, a5, NULL, &e), KF_EINVAL);  /* positional forbidden */
    kf_config_free(&cfg);
    reset();
    char *a6[] = {"kft", "--config", "/nonexistent/kft.conf", NULL};
    ck_assert_int_eq(load(3, a6, NULL, &e), KF_EINVAL);
    kf_config_free(&cfg);
    reset();
    char path[] = "/tmp/kft-config-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "port = 1\nnope = 2\n", 18), 18);
    close(fd);
    char *a7[] = {"kft", "--config", path, NULL};
    ck_assert_int_eq(load(3, a7, NULL, &e), KF_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.path, ":2"));
    kf_config_free(&cfg);
    unlink(path);
}
END_TEST

START_TEST(test_help_and_bool_forms)
{
    struct kf_err e;
    reset();
    char *a1[] = {"kft", "--help", NULL};
    ck_assert_int_eq(load(2, a1, NULL, &e), 1);
    kf_config_free(&cfg);
    reset();
    char *a2[] = {"kft", "--auth", "file.json", NULL};
    int npos;
    ck_assert_int_eq(load(3, a2, &npos, &e), 0);
    ck_assert(b_auth);
    ck_assert_int_eq(npos, 1);
    ck_assert_str_eq(a2[0], "file.json");
    kf_config_free(&cfg);
    reset();
    char *a3[] = {"kft", "--auth", "false", "--redis-url=unix:///x", NULL};
    ck_assert_int_eq(load(4, a3, NULL, &e), 0);
    ck_assert(!b_auth);
    ck_assert_str_eq(s_url, "unix:///x");
    kf_config_free(&cfg);
    FILE *f = tmpfile();
    kf_config_usage(&cfg, f);
    long n = ftell(f);
    ck_assert_int_gt(n, 100);
    rewind(f);
    char buf[4096] = {0};
    ck_assert_int_gt((int)fread(buf, 1, sizeof buf - 1, f), 0);
    ck_assert_ptr_nonnull(strstr(buf, "--redis-url"));
    ck_assert_ptr_nonnull(strstr(buf, "KFT_PORT"));
    fclose(f);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_layering);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_help_and_bool_forms);
    suite_add_tcase(s, tc);
    return s;
}

KF_CHECK_MAIN
