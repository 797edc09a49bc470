/* test_lanes.c: the lane rule of lib/lanes.h (which lane serves a
 * solution), the same rule as the worker's lane table (worker/lane.c's
 * ev_lane_for) for every language and binding a solution may have, and
 * lane lists (a worker's `lanes` setting). */
#include <string.h>

#include "kf_check.h"
#include "lane.h"
#include "lanes.h"
#include "model.h"

START_TEST(test_rule)
{
    ck_assert_str_eq(kf_lane_of("cuda", "nvrtc"), "nvrtc");
    ck_assert_str_eq(kf_lane_of("cuda", NULL), "tvm-ffi");
    ck_assert_str_eq(kf_lane_of("cuda", "tvm-ffi"), "tvm-ffi");
    ck_assert_str_eq(kf_lane_of("cpp", NULL), "tvm-ffi");
    ck_assert_str_eq(kf_lane_of("cpp", "tvm-ffi"), "tvm-ffi");
    ck_assert_str_eq(kf_lane_of("cuda", "torch"), "python");
    ck_assert_str_eq(kf_lane_of("cpp", "torch"), "python");
    ck_assert_str_eq(kf_lane_of("triton", NULL), "python");
    ck_assert_str_eq(kf_lane_of("python", NULL), "python");
    ck_assert_str_eq(kf_lane_of("tilelang", "tvm-ffi"), "python");
    ck_assert_ptr_null(kf_lane_of("cpp", "nvrtc"));
    ck_assert_ptr_null(kf_lane_of("rust", NULL));
    ck_assert_ptr_null(kf_lane_of(NULL, "nvrtc"));
    ck_assert_ptr_null(kf_lane_of("cuda", "pybind"));
    ck_assert_ptr_null(kf_solution_lane(NULL));
}
END_TEST

/* Every language x binding: a solution the parser accepts has exactly the
 * lane the worker's table picks, and the same from its document. */
START_TEST(test_one_rule)
{
    static const char *const langs[] = {"python", "triton", "cpp", "cuda", "tilelang"};
    static const char *const binds[] = {NULL, "tvm-ffi", "torch", "nvrtc"};
    int accepted = 0;
    for (size_t i = 0; i < sizeof langs / sizeof langs[0]; i++) {
        for (size_t k = 0; k < sizeof binds / sizeof binds[0]; k++) {
            json_t *doc = json_pack(
                "{s:s, s:s, s:s, s:{s:s, s:[s], s:s}, s:[{s:s, s:s}]}", "name", "x",
                "definition", "d", "author", "a", "spec", "language", langs[i],
                "target_hardware", "NVIDIA_H100", "entry_point", "k.cu::run", "sources", "path",
                "k.cu", "content", "extern \"C\" __global__ void run() {}");
            if (binds[k])
                json_object_set_new(json_object_get(doc, "spec"), "binding",
                                    json_string(binds[k]));
            if (binds[k] && strcmp(binds[k], "nvrtc") == 0)
                json_object_set_new(json_object_get(doc, "spec"), "launch",
                                    json_pack("[{s:s, s:[i], s:[i], s:[]}]", "kernel", "run",
                                              "grid", 1, "block", 32, "args"));
            struct kf_solution *s = NULL;
            struct kf_err err;
            if (kf_solution_from_json(doc, &s, &err) != 0)
                fprintf(stderr, "%s/%s refused: %s: %s\n", langs[i], binds[k] ? binds[k] : "-",
                        err.path, err.msg);
            else {
                accepted++;
                const char *why = NULL;
                const struct ev_lane_ops *l = ev_lane_for(s, &why);
                const char *lane = kf_solution_lane(s);
                ck_assert_msg(lane && l, "%s/%s: no lane (%s)", langs[i],
                              binds[k] ? binds[k] : "-", why ? why : "");
                ck_assert_str_eq(l->name, lane);
                ck_assert_str_eq(kf_solution_doc_lane(doc), lane);
                kf_solution_free(s);
            }
            json_decref(doc);
        }
    }
    ck_assert_int_eq(accepted, 5 * 4 - 4);   /* nvrtc needs language cuda */
    /* a null binding is an absent one */
    json_t *doc = json_pack("{s:{s:s, s:n}}", "spec", "language", "cuda", "binding");
    ck_assert_str_eq(kf_solution_doc_lane(doc), "tvm-ffi");
    json_decref(doc);
    doc = json_pack("{s:s}", "name", "no spec");
    ck_assert_ptr_null(kf_solution_doc_lane(doc));
    json_decref(doc);
}
END_TEST

START_TEST(test_lists)
{
    unsigned set = 0;
    char buf[KF_LANES_BUF];
    struct kf_err err;
    ck_assert_int_eq(kf_lanes_parse("nvrtc", "lanes", &set, &err), 0);
    ck_assert_uint_eq(set, 1u);
    ck_assert_int_eq(kf_lanes_parse(" python , nvrtc,", "lanes", &set, &err), 0);
    ck_assert_str_eq(kf_lanes_format(set, buf, sizeof buf), "nvrtc,python");
    ck_assert(kf_lanes_has(set, "python"));
    ck_assert(!kf_lanes_has(set, "tvm-ffi"));
    ck_assert(!kf_lanes_has(set, "bogus"));
    ck_assert_int_eq(kf_lanes_parse(KF_LANES_ALL, "lanes", &set, &err), 0);
    ck_assert_uint_eq(set, KF_LANES_ALL_SET);
    ck_assert_str_eq(kf_lanes_format(set, buf, sizeof buf), KF_LANES_ALL);
    ck_assert_str_eq(kf_lanes_format(0, buf, sizeof buf), "");
    ck_assert_int_eq(kf_lanes_parse("nvrtc,cuda", "lanes", &set, &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "lanes");
    ck_assert_msg(strstr(err.msg, "entry 2: 'cuda' is not a lane"), "%s", err.msg);
    ck_assert_int_eq(kf_lanes_parse(" , ", "lanes", &set, &err), KF_EINVAL);
    ck_assert_msg(strstr(err.msg, "no lane named"), "%s", err.msg);
    ck_assert_int_eq(kf_lanes_parse(NULL, "lanes", &set, &err), KF_EINVAL);
    ck_assert_int_eq(kf_lane_index("tvm-ffi"), 1);
    ck_assert_int_eq(kf_lane_index(NULL), -1);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("lanes");
    TCase *tc = tcase_create("lanes");
    tcase_add_test(tc, test_rule);
    tcase_add_test(tc, test_one_rule);
    tcase_add_test(tc, test_lists);
    suite_add_tcase(s, tc);
    return s;
}

KF_CHECK_MAIN
