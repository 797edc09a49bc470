/* client.c: `kf submit`, `kf status`, `kf results`: the kf-server client
 * (HTTP and HTTPS through cli/http.c, libcurl), against --url, else KF_URL,
 * else http://127.0.0.1:8080, with an optional bearer token in KF_TOKEN.
 * `kf submit` takes a solution.json or a kernel directory (packed with
 * lib/pack.h, as `kf pack` does). --wait follows the task with one line per
 * change of state or progress on stderr, says when no worker is connected
 * or none serves the task's lane (the task's waiting_for, once), and stops
 * at --timeout seconds. Not thread-safe (command-line program).
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "http.h"
#include "jsonio.h"
#include "kf_err.h"
#include "pack.h"
#include "xalloc.h"

#define MAX_UPLOAD (8u << 20)
#define POLL_MAX_S 10.0

static void print_json(const json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    puts(s);
    free(s);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "kf: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *b = xmalloc(cap);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            b = xrealloc(b, cap);
        }
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (n > MAX_UPLOAD) {
            fprintf(stderr, "kf: %s is larger than the %u byte upload cap\n", path, MAX_UPLOAD);
            free(b);
            if (f != stdin)
                fclose(f);
            return NULL;
        }
        if (!got)
            break;
    }
    if (f != stdin)
        fclose(f);
    *len = n;
    return b;
}

/* ---- tables ----------------------------------------------------------------- */

static const char *str_or(const json_t *v, const char *dflt)
{
    return json_is_string(v) ? json_string_value(v) : dflt;
}

static void fmt_num(char *buf, size_t n, const json_t *v, const char *fmt)
{
    if (json_is_number(v))
        snprintf(buf, n, fmt, json_number_value(v));
    else
        snprintf(buf, n, "-");
}

static void print_task(const json_t *t)
{
    const json_t *pr = json_object_get(t, "progress");
    printf("task        %s\n", str_or(json_object_get(t, "task_id"), "?"));
    printf("status      %s\n", str_or(json_object_get(t, "status"), "?"));
    printf("definition  %s\n", str_or(json_object_get(t, "definition"), "?"));
    printf("solution    %s\n", str_or(json_object_get(t, "solution"), "?"));
    printf("progress    %lld/%lld workloads\n",
           (long long)json_integer_value(json_object_get(pr, "done")),
           (long long)json_integer_value(json_object_get(pr, "total")));
    if (json_is_string(json_object_get(t, "worker")) &&
        json_string_length(json_object_get(t, "worker")))
        printf("worker      %s (attempt %lld)\n", json_string_value(json_object_get(t, "worker")),
               (long long)json_integer_value(json_object_get(t, "attempts")));
    if (json_is_string(json_object_get(t, "error")))
        printf("error       %s\n", json_string_value(json_object_get(t, "error")));
    if (json_is_string(json_object_get(t, "waiting_for")))
        printf("waiting     %s\n", json_string_value(json_object_get(t, "waiting_for")));
    const json_t *traces = json_object_get(t, "traces");
    if (!json_is_array(traces) || !json_array_size(traces))
        return;
    printf("\n%-38s %-20s %12s %12s %9s\n", "workload", "status", "latency ms", "ref ms",
           "speedup");
    size_t i;
    const json_t *tr;
    json_array_foreach(traces, i, tr) {
        const json_t *ev = json_object_get(tr, "evaluation");
        const json_t *perf = json_object_get(ev, "performance");
        char lat[32], ref[32], sp[32];
        fmt_num(lat, sizeof lat, json_object_get(perf, "latency_ms"), "%.4f");
        fmt_num(ref, sizeof ref, json_object_get(perf, "reference_latency_ms"), "%.4f");
        fmt_num(sp, sizeof sp, json_object_get(perf, "speedup_factor"), "%.2fx");
        printf("%-38s %-20s %12s %12s %9s\n",
               str_or(json_object_get(json_object_get(tr, "workload"), "uuid"), "?"),
               str_or(json_object_get(ev, "status"), "?"), lat, ref, sp);
    }
}

/* 0 if every trace PASSED, 1 otherwise (failed task, or any other status). */
static int task_exit_code(const json_t *t)
{
    if (strcmp(str_or(json_object_get(t, "status"), ""), "completed") != 0)
        return 1;
    const json_t *traces = json_object_get(t, "traces");
    size_t i;
    const json_t *tr;
    if (!json_array_size(traces))
        return 1;
    json_array_foreach(traces, i, tr) {
        if (strcmp(str_or(json_object_get(json_object_get(tr, "evaluation"), "status"), ""),
                   "PASSED") != 0)
            return 1;
    }
    return 0;
}

static bool terminal(const json_t *t)
{
    const char *st = str_or(json_object_get(t, "status"), "");
    return strcmp(st, "completed") == 0 || strcmp(st, "failed") == 0;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "05:07:45Z" for the progress lines */
static void utc_clock(char *buf, size_t n)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, n, "%H:%M:%SZ", &tm);
}

/* Warn (once per wait) when the server has no worker to run the task.
 * Returns true when it has none now. */
static bool check_workers(bool *warned, bool json_out)
{
    struct kf_http_resp r;
    if (kf_http_request("GET", "/health", NULL, 0, 10, &r))
        return false;
    json_t *h = json_loadb(r.body, r.len, 0, NULL);
    free(r.body);
    if (!h)
        return false;
    bool none = json_integer_value(json_object_get(h, "healthy_workers")) == 0;
    if (none && !*warned) {
        char clk[16];
        utc_clock(clk, sizeof clk);
        fprintf(stderr, "%s no worker is connected to %s: the task stays pending until a GPU "
                        "worker joins%s\n", clk, kf_http_base(), json_out ? "" : " (kf-worker, "
                        "or make run on a GPU machine)");
        *warned = true;
    }
    json_decref(h);
    return none;
}

/* Follow a task until it finishes or max_s seconds pass (0: no limit),
 * printing one line on stderr per change of status or progress (terminal
 * or not). Returns the finished task (new), or NULL after saying why
 * (*timed_out set when the limit passed). */
static json_t *wait_task(const char *id, double max_s, bool json_out, bool *timed_out)
{
    double t0 = mono_s();
    char last[128] = "";
    bool warned = false, noted = false;
    *timed_out = false;
    for (int failures = 0, first = 1;; first = 0) {
        double left = max_s > 0 ? max_s - (mono_s() - t0) : POLL_MAX_S;
        double poll = left < POLL_MAX_S ? left : POLL_MAX_S;
        if (poll < 0 || first)
            poll = 0;   /* the first answer at once: its state is the first line */
        char path[200];
        snprintf(path, sizeof path, "/tasks/%.100s?timeout=%.3f", id, poll);
        struct kf_http_resp r;
        json_t *t = NULL;
        if (kf_http_request("GET", path, NULL, 0, poll + 15, &r) == 0) {
            t = kf_http_json(&r, r.status == 503);
            bool fatal = r.status >= 400 && r.status != 503;
            free(r.body);
            if (fatal)
                return NULL;
        }
        double el = mono_s() - t0;
        if (t) {
            failures = 0;
            const json_t *pr = json_object_get(t, "progress");
            char now[128];
            snprintf(now, sizeof now, "%s %lld/%lld", str_or(json_object_get(t, "status"), "?"),
                     (long long)json_integer_value(json_object_get(pr, "done")),
                     (long long)json_integer_value(json_object_get(pr, "total")));
            if (strcmp(now, last) != 0) {
                char clk[16];
                utc_clock(clk, sizeof clk);
                fprintf(stderr, "%s task %.12s %s workloads (%.0f s)\n", clk, id, now, el);
                snprintf(last, sizeof last, "%s", now);
            }
            if (terminal(t))
                return t;
            const json_t *why = json_object_get(t, "waiting_for");
            bool none = strcmp(str_or(json_object_get(t, "status"), ""), "pending") == 0 &&
                        check_workers(&warned, json_out);
            if (json_is_string(why) && !noted && !none) {
                /* workers are connected, but none serves the task's lane:
                 * say it once */
                char clk[16];
                utc_clock(clk, sizeof clk);
                fprintf(stderr, "%s task %.12s waits: %s; it stays pending until one joins\n",
                        clk, id, json_string_value(why));
                noted = true;
            }
            json_decref(t);
        } else if (++failures > 30) {
            fprintf(stderr, "kf: giving up after %d failed polls\n", failures);
            return NULL;
        } else if (max_s <= 0 || el + 1 < max_s) {
            sleep(1);
        }
        if (max_s > 0 && mono_s() - t0 >= max_s) {
            fprintf(stderr, "kf: task %s not finished after %g s (--timeout); it goes on: "
                            "kf status %s\n", id, max_s, id);
            *timed_out = true;
            return NULL;
        }
    }
}

/* ---- commands --------------------------------------------------------------- */

static void usage_submit(FILE *f)
{
    fprintf(f, "usage: kf submit (SOLUTION.json | KERNEL_DIR) [--wait] [--timeout S] "
               "[--workloads UUID,...]\n"
               "                 [--rerun] [--url URL] [--json]\n"
               "Upload a solution to kf-server. A directory (a kernel directory with spec.json,\n"
               "or a starter-kit directory) is packed first, as `kf pack DIR` does.\n"
               "  --wait         follow the task to the end: one line per change on stderr; "
               "exit 0 only if every workload PASSED\n"
               "  --timeout S    stop waiting after S seconds (exit 3; the task goes on)\n"
               "  --workloads L  evaluate only these workload uuids (comma-separated)\n"
               "  --rerun        evaluate again even if this content was already evaluated\n"
               "  --url URL      the server (default $KF_URL, else http://127.0.0.1:8080; "
               "https:// works)\n"
               "  --json         print the server's JSON on stdout\n"
               "The bearer token comes from KF_TOKEN.\n");
}

/* The upload body: the file as is, or a directory packed. */
static char *submission_body(const char *path, size_t *len)
{
    struct stat st;
    if (strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        struct kf_err err = {0};
        json_t *doc = NULL;
        if (kf_pack_dir(path, &doc, &err) != 0) {
            fprintf(stderr, "kf submit: cannot pack %s: %s%s%s\n", path,
                    err.path[0] ? err.path : "", err.path[0] ? ": " : "", err.msg);
            return NULL;
        }
        char *s = kf_json_dumps(doc);
        json_decref(doc);
        *len = strlen(s);
        return s;
    }
    return read_file(path, len);
}

static int parse_seconds(const char *opt, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v <= 0) {
        fprintf(stderr, "kf: %s wants a number of seconds > 0 (got '%s')\n", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

int kf_cmd_submit(int argc, char **argv)
{
    const char *file = NULL, *wl = NULL, *url = NULL;
    bool wait = false, rerun = false, js = false;
    double timeout = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage_submit(stdout);
            return 0;
        } else if (strcmp(argv[i], "--wait") == 0) {
            wait = true;
        } else if (strcmp(argv[i], "--rerun") == 0) {
            rerun = true;
        } else if (strcmp(argv[i], "--json") == 0) {
            js = true;
        } else if (strcmp(argv[i], "--workloads") == 0 && i + 1 < argc) {
            wl = argv[++i];
        } else if (strncmp(argv[i], "--workloads=", 12) == 0) {
            wl = argv[i] + 12;
        } else if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
            url = argv[++i];
        } else if (strncmp(argv[i], "--url=", 6) == 0) {
            url = argv[i] + 6;
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            if (parse_seconds("--timeout", argv[++i], &timeout))
                return 2;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "kf submit: unknown option %s\n", argv[i]);
            usage_submit(stderr);
            return 2;
        } else if (!file) {
            file = argv[i];
        } else {
            usage_submit(stderr);
            return 2;
        }
    }
    if (!file) {
        usage_submit(stderr);
        return 2;
    }
    if (kf_http_set_base(url))
        return 2;
    size_t len;
    char *body = submission_body(file, &len);
    if (!body)
        return 1;
    char path[4096];
    snprintf(path, sizeof path, "/solutions%s%s%s%s", wl || rerun ? "?" : "",
             wl ? "workloads=" : "", wl ? wl : "", rerun ? (wl ? "&rerun=1" : "rerun=1") : "");
    struct kf_http_resp r;
    int rc = kf_http_request("POST", path, body, len, 60, &r);
    free(body);
    if (rc)
        return 1;
    json_t *j = kf_http_json(&r, false);
    free(r.body);
    if (!j)
        return 1;
    const char *id = str_or(json_object_get(j, "task_id"), "");
    bool existing = json_is_true(json_object_get(j, "existing"));
    if (!wait) {
        if (js)
            print_json(j);
        else
            printf("task %s: solution %s, %s%s (kf status %s)\n", id,
                   str_or(json_object_get(j, "solution"), "?"),
                   str_or(json_object_get(j, "status"), "?"),
                   existing ? ", the existing task for this content (--rerun for a new one)" : "",
                   id);
        json_decref(j);
        return 0;
    }
    fprintf(stderr, "task %s: solution %s%s\n", id, str_or(json_object_get(j, "solution"), "?"),
            existing ? " (the existing task for this content)" : "");
    char idc[80];
    snprintf(idc, sizeof idc, "%s", id);
    json_decref(j);
    bool timed_out;
    json_t *t = wait_task(idc, timeout, js, &timed_out);
    if (!t)
        return timed_out ? 3 : 1;
    if (js)
        print_json(t);
    else
        print_task(t);
    rc = task_exit_code(t);
    json_decref(t);
    return rc;
}

static void usage_status(FILE *f)
{
    fprintf(f, "usage: kf status TASK_ID [--wait] [--timeout S] [--url URL] [--json]\n"
               "Show a task: status, progress and per-workload results.\n"
               "  --wait       follow it to the end (one line per change on stderr)\n"
               "  --timeout S  stop waiting after S seconds (exit 3)\n"
               "  --url URL    the server (default $KF_URL, else http://127.0.0.1:8080)\n"
               "  --json       print the task's JSON\n");
}

int kf_cmd_status(int argc, char **argv)
{
    const char *id = NULL, *url = NULL;
    bool js = false, wait = false;
    double timeout = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage_status(stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            js = true;
        } else if (strcmp(argv[i], "--wait") == 0) {
            wait = true;
        } else if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
            url = argv[++i];
        } else if (strncmp(argv[i], "--url=", 6) == 0) {
            url = argv[i] + 6;
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            if (parse_seconds("--timeout", argv[++i], &timeout))
                return 2;
        } else if (argv[i][0] != '-' && !id) {
            id = argv[i];
        } else {
            usage_status(stderr);
            return 2;
        }
    }
    if (!id) {
        usage_status(stderr);
        return 2;
    }
    if (kf_http_set_base(url))
        return 2;
    json_t *t = NULL;
    if (wait) {
        bool timed_out;
        t = wait_task(id, timeout, js, &timed_out);
        if (!t)
            return timed_out ? 3 : 1;
    } else {
        char path[200];
        struct kf_http_resp r;
        snprintf(path, sizeof path, "/tasks/%.100s", id);
        if (kf_http_request("GET", path, NULL, 0, 30, &r))
            return 1;
        t = kf_http_json(&r, false);
        free(r.body);
    }
    if (!t)
        return 1;
    if (js)
        print_json(t);
    else
        print_task(t);
    json_decref(t);
    return 0;
}

static void url_escape(char *out, size_t n, const char *s)
{
    size_t o = 0;
    for (; *s && o + 4 < n; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.')
            out[o++] = (char)ch;
        else
            o += (size_t)snprintf(out + o, n - o, "%%%02X", ch);
    }
    out[o] = '\0';
}

int kf_cmd_results(int argc, char **argv)
{
    const char *def = NULL, *hw = NULL, *url = NULL;
    bool js = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: kf results [--definition D] [--hardware H] [--url URL] [--json]\n"
                   "Show the leaderboard: per definition and GPU, solutions that passed every "
                   "workload, ranked by mean speedup.\n");
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            js = true;
        } else if (strcmp(argv[i], "--definition") == 0 && i + 1 < argc) {
            def = argv[++i];
        } else if (strcmp(argv[i], "--hardware") == 0 && i + 1 < argc) {
            hw = argv[++i];
        } else if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
            url = argv[++i];
        } else if (strncmp(argv[i], "--url=", 6) == 0) {
            url = argv[i] + 6;
        } else {
            fprintf(stderr, "usage: kf results [--definition D] [--hardware H] [--url URL] "
                            "[--json]\n");
            return 2;
        }
    }
    if (kf_http_set_base(url))
        return 2;
    char path[700], d[300] = "", h[300] = "";
    if (def)
        url_escape(d, sizeof d, def);
    if (hw)
        url_escape(h, sizeof h, hw);
    snprintf(path, sizeof path, "/results%s%s%s%s%s", def || hw ? "?" : "",
             def ? "definition=" : "", d, hw ? (def ? "&hardware=" : "hardware=") : "", h);
    struct kf_http_resp r;
    if (kf_http_request("GET", path, NULL, 0, 30, &r))
        return 1;
    json_t *j = kf_http_json(&r, false);
    free(r.body);
    if (!j)
        return 1;
    if (js) {
        print_json(j);
        json_decref(j);
        return 0;
    }
    size_t i, k, m;
    const json_t *dd, *b, *e;
    json_array_foreach(json_object_get(j, "definitions"), i, dd) {
        printf("%s%s (%lld workloads)\n", i ? "\n" : "",
               str_or(json_object_get(dd, "definition"), "?"),
               (long long)json_integer_value(json_object_get(dd, "num_workloads")));
        const json_t *boards = json_object_get(dd, "boards");
        if (!json_array_size(boards))
            printf("  no solution has passed every workload yet\n");
        json_array_foreach(boards, k, b) {
            bool pt = strcmp(str_or(json_object_get(b, "score"), ""), "pytorch") == 0;
            printf("  %s (ranked by mean speedup vs the %s reference)\n"
                   "  %4s  %-44s %-16s %9s %12s %9s\n",
                   str_or(json_object_get(b, "hardware"), "?"), pt ? "PyTorch" : "native",
                   "rank", "solution", "author", "speedup", "latency ms", "passed");
            json_array_foreach(json_object_get(b, "ranking"), m, e) {
                char sp[32], lat[32], pw[32];
                fmt_num(sp, sizeof sp,
                        json_object_get(e, pt ? "mean_speedup_pytorch" : "mean_speedup"), "%.2fx");
                fmt_num(lat, sizeof lat, json_object_get(e, "mean_latency_ms"), "%.4f");
                snprintf(pw, sizeof pw, "%lld/%lld",
                         (long long)json_integer_value(json_object_get(e, "workloads_passed")),
                         (long long)json_integer_value(json_object_get(e, "workloads_total")));
                printf("  %4lld  %-44s %-16s %9s %12s %9s\n",
                       (long long)json_integer_value(json_object_get(e, "rank")),
                       str_or(json_object_get(e, "solution"), "?"),
                       str_or(json_object_get(e, "author"), ""), sp, lat, pw);
            }
        }
    }
    json_decref(j);
    return 0;
}
