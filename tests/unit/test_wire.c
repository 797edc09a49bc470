/* test_wire.c: the evaluator wire protocol (worker/wire.c): round trips,
 * frames split across reads, and every kind of bad frame rejected. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kf_check.h"
#include "wire.h"

static int fds[2];

static void setup(void)
{
    ck_assert_int_eq(pipe(fds), 0);
}

static void teardown(void)
{
    close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
}

static void nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void close_writer(void)
{
    close(fds[1]);
    fds[1] = -1;
}

/* Read one result from the pipe with a reader capped at max. */
static int read_one(size_t max, json_t **m, struct kf_err *e)
{
    struct wk_reader r;
    int rc;
    wk_reader_init(&r, max);
    rc = wk_reader_read(&r, fds[0], m, e);
    wk_reader_free(&r);
    return rc;
}

START_TEST(test_roundtrip)
{
    struct wk_reader r;
    json_t *m;
    json_t *a = json_pack("{s:s, s:i}", "type", "hello", "first", 2);
    json_t *b = json_pack("{s:s, s:s}", "type", "trace", "text", "h\xc3\xa9llo \"q\"\n");
    ck_assert_int_eq(wk_frame_write(fds[1], a, NULL), 0);
    ck_assert_int_eq(wk_frame_write(fds[1], b, NULL), 0);
    close_writer();
    wk_reader_init(&r, 0);
    ck_assert_int_eq(wk_reader_read(&r, fds[0], &m, NULL), WK_READ_MSG);
    ck_assert(json_equal(m, a));
    json_decref(m);
    ck_assert_int_eq(wk_reader_read(&r, fds[0], &m, NULL), WK_READ_MSG);
    ck_assert(json_equal(m, b));
    json_decref(m);
    ck_assert_int_eq(wk_reader_read(&r, fds[0], &m, NULL), WK_READ_EOF);
    ck_assert_ptr_null(m);
    wk_reader_free(&r);
    json_decref(a);
    json_decref(b);
}
END_TEST

START_TEST(test_split_across_reads)
{
    /* A frame dribbled in byte by byte: AGAIN until the last byte. */
    const char body[] = "{\"type\":\"done\",\"count\":3}";
    unsigned char frame[4 + sizeof body - 1];
    size_t len = sizeof body - 1, i;
    struct wk_reader r;
    json_t *m = NULL;
    frame[0] = 0; frame[1] = 0; frame[2] = 0; frame[3] = (unsigned char)len;
    memcpy(frame + 4, body, len);
    nonblock(fds[0]);
    wk_reader_init(&r, 0);
    for (i = 0; i + 1 < sizeof frame; i++) {
        ck_assert_int_eq(write(fds[1], frame + i, 1), 1);
        ck_assert_int_eq(wk_reader_read(&r, fds[0], &m, NULL), WK_READ_AGAIN);
    }
    ck_assert_int_eq(write(fds[1], frame + i, 1), 1);
    ck_assert_int_eq(wk_reader_read(&r, fds[0], &m, NULL), WK_READ_MSG);
    ck_assert_int_eq(json_integer_value(json_object_get(m, "count")), 3);
    json_decref(m);
    ck_assert_int_eq(wk_reader_read(&r, fds[0], &m, NULL), WK_READ_AGAIN);
    wk_reader_free(&r);
}
END_TEST

START_TEST(test_zero_length)
{
    struct kf_err e;
    json_t *m;
    ck_assert_int_eq(write(fds[1], "\0\0\0\0", 4), 4);
    ck_assert_int_eq(read_one(0, &m, &e), KF_ETOOBIG);
    ck_assert_ptr_null(m);
}
END_TEST

START_TEST(test_over_cap)
{
    struct kf_err e;
    json_t *m;
    /* The length alone is rejected: nothing is allocated for 4 GiB. */
    ck_assert_int_eq(write(fds[1], "\xff\xff\xff\xff", 4), 4);
    ck_assert_int_eq(read_one(0, &m, &e), KF_ETOOBIG);
    ck_assert(strstr(e.msg, "4294967295") != NULL);
}
END_TEST

START_TEST(test_over_small_cap)
{
    struct kf_err e;
    json_t *m, *big = json_pack("{s:s}", "type", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    ck_assert_int_eq(wk_frame_write(fds[1], big, NULL), 0);
    ck_assert_int_eq(read_one(32, &m, &e), KF_ETOOBIG);
    json_decref(big);
}
END_TEST

START_TEST(test_writer_cap)
{
    size_t n = WK_FRAME_MAX + 16;
    char *s = malloc(n + 1);
    json_t *j;
    struct kf_err e;
    memset(s, 'a', n);
    s[n] = '\0';
    j = json_pack("{s:s}", "log", s);
    ck_assert_int_eq(wk_frame_write(fds[1], j, &e), KF_ETOOBIG);
    json_decref(j);
    free(s);
}
END_TEST

static void bad_body(const char *body, int want)
{
    struct kf_err e;
    json_t *m;
    ck_assert_int_eq(wk_frame_write_raw(fds[1], body, strlen(body), NULL), 0);
    ck_assert_int_eq(read_one(0, &m, &e), want);
    ck_assert_ptr_null(m);
}

START_TEST(test_not_json) { bad_body("garbage\x01\x02", KF_EINVAL); }
END_TEST
START_TEST(test_not_object) { bad_body("[1,2,3]", KF_EINVAL); }
END_TEST
START_TEST(test_trailing_bytes) { bad_body("{\"type\":\"done\"} {}", KF_EINVAL); }
END_TEST
START_TEST(test_duplicate_keys) { bad_body("{\"type\":\"done\",\"type\":\"trace\"}", KF_EINVAL); }
END_TEST

START_TEST(test_truncated_body)
{
    struct kf_err e;
    json_t *m;
    ck_assert_int_eq(write(fds[1], "\0\0\0\x10{\"ty", 8), 8);
    close_writer();
    ck_assert_int_eq(read_one(0, &m, &e), KF_EINVAL);
    ck_assert(strstr(e.msg, "truncated") != NULL);
}
END_TEST

START_TEST(test_truncated_header)
{
    struct kf_err e;
    json_t *m;
    ck_assert_int_eq(write(fds[1], "\0\0", 2), 2);
    close_writer();
    ck_assert_int_eq(read_one(0, &m, &e), KF_EINVAL);
}
END_TEST

START_TEST(test_write_to_closed_pipe)
{
    json_t *j = json_pack("{s:s}", "type", "done");
    struct kf_err e;
    signal(SIGPIPE, SIG_IGN);
    close(fds[0]);
    fds[0] = open("/dev/null", O_RDONLY);   /* for teardown */
    ck_assert_int_eq(wk_frame_write(fds[1], j, &e), KF_EIO);
    json_decref(j);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("wire");
    TCase *tc = tcase_create("frames");
    tcase_set_timeout(tc, 20);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_split_across_reads);
    tcase_add_test(tc, test_zero_length);
    tcase_add_test(tc, test_over_cap);
    tcase_add_test(tc, test_over_small_cap);
    tcase_add_test(tc, test_writer_cap);
    tcase_add_test(tc, test_not_json);
    tcase_add_test(tc, test_not_object);
    tcase_add_test(tc, test_trailing_bytes);
    tcase_add_test(tc, test_duplicate_keys);
    tcase_add_test(tc, test_truncated_body);
    tcase_add_test(tc, test_truncated_header);
    tcase_add_test(tc, test_write_to_closed_pipe);
    suite_add_tcase(s, tc);
    return s;
}

KF_CHECK_MAIN
