/* client.c: `kf submit`, `kf status`, `kf results`: the kf-server client,
 * against KF_URL (default http://127.0.0.1:8080) with an optional bearer
 * token in KF_TOKEN. A small HTTP/1.1 client over sockets (one request per
 * connection, Content-Length or chunked responses, body capped) keeps the
 * CLI free of extra libraries. Not thread-safe (command-line program).
 */
#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "jsonio.h"
#include "kf_err.h"
#include "pack.h"
#include "xalloc.h"

#define MAX_RESPONSE (256u << 20)
#define MAX_UPLOAD (8u << 20)

struct http_resp {
    int status;
    char *body;
    size_t len;
};

struct url {
    char host[256];
    char port[16];
    char prefix[256];   /* path prefix without trailing '/' */
};

static int parse_url(const char *s, struct url *u)
{
    memset(u, 0, sizeof *u);
    if (strncmp(s, "http://", 7) != 0) {
        fprintf(stderr, "kf: KF_URL must start with http:// (got '%s')\n", s);
        return -1;
    }
    s += 7;
    const char *slash = strchr(s, '/');
    size_t hl = slash ? (size_t)(slash - s) : strlen(s);
    char hp[250];
    if (hl >= sizeof hp)
        return -1;
    memcpy(hp, s, hl);
    hp[hl] = '\0';
    char *colon = strrchr(hp, ':');
    if (hp[0] == '[') {   /* [v6]:port */
        char *rb = strchr(hp, ']');
        if (!rb)
            return -1;
        *rb = '\0';
        snprintf(u->host, sizeof u->host, "%s", hp + 1);
        snprintf(u->port, sizeof u->port, "%s", rb[1] == ':' ? rb + 2 : "80");
    } else if (colon) {
        *colon = '\0';
        snprintf(u->host, sizeof u->host, "%s", hp);
        snprintf(u->port, sizeof u->port, "%s", colon + 1);
    } else {
        snprintf(u->host, sizeof u->host, "%s", hp);
        snprintf(u->port, sizeof u->port, "80");
    }
    if (slash) {
        snprintf(u->prefix, sizeof u->prefix, "%s", slash);
        size_t n = strlen(u->prefix);
        while (n && u->prefix[n - 1] == '/')
            u->prefix[--n] = '\0';
    }
    return 0;
}

static int dial(const struct url *u, int timeout_s)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(u->host, u->port, &hints, &res);
    if (rc) {
        fprintf(stderr, "kf: cannot resolve %s: %s\n", u->host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0)
            continue;
        struct timeval tv = {.tv_sec = timeout_s, .tv_usec = 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        fprintf(stderr, "kf: cannot connect to %s:%s: %s (is kf-server running? set KF_URL)\n",
                u->host, u->port, strerror(errno));
    return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Decode a chunked body in place; returns the new length or -1. */
static long dechunk(char *b, size_t n)
{
    size_t in = 0, out = 0;
    for (;;) {
        char *end;
        if (in >= n)
            return -1;
        unsigned long sz = strtoul(b + in, &end, 16);
        char *crlf = strstr(end, "\r\n");
        if (!crlf)
            return -1;
        in = (size_t)(crlf - b) + 2;
        if (sz == 0)
            return (long)out;
        if (in + sz > n)
            return -1;
        memmove(b + out, b + in, sz);
        out += sz;
        in += sz + 2;
    }
}

/* One request. path includes the query. Returns 0 with *r filled (free
 * r->body), or -1 after printing why. */
static int http_do(const char *method, const char *path, const char *body, size_t body_len,
                   int timeout_s, struct http_resp *r)
{
    const char *env = getenv("KF_URL");
    const char *tok = getenv("KF_TOKEN");
    struct url u;
    memset(r, 0, sizeof *r);
    if (parse_url(env && *env ? env : "http://127.0.0.1:8080", &u))
        return -1;
    int fd = dial(&u, timeout_s);
    if (fd < 0)
        return -1;
    char *head = xasprintf("%s %s%s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: kf/" KF_CLI_VERSION
                           "\r\nAccept: application/json\r\nConnection: close\r\n%s%s%s"
                           "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                           method, u.prefix, path, u.host, u.port, tok && *tok ? "Authorization: Bearer " : "",
                           tok && *tok ? tok : "", tok && *tok ? "\r\n" : "", body_len);
    int rc = write_all(fd, head, strlen(head));
    free(head);
    if (!rc && body_len)
        rc = write_all(fd, body, body_len);
    size_t cap = 65536, len = 0;
    char *buf = xmalloc(cap + 1);
    while (!rc) {
        if (len == cap) {
            if (cap >= MAX_RESPONSE) {
                fprintf(stderr, "kf: response larger than %u bytes\n", MAX_RESPONSE);
                rc = -1;
                break;
            }
            cap *= 2;
            buf = xrealloc(buf, cap + 1);
        }
        ssize_t n = recv(fd, buf + len, cap - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "kf: reading the response: %s\n",
                    errno == EAGAIN ? "timed out" : strerror(errno));
            rc = -1;
            break;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (rc) {
        if (len == 0 && errno == EPIPE)
            fprintf(stderr, "kf: the server closed the connection\n");
        free(buf);
        return -1;
    }
    buf[len] = '\0';
    char *hend = strstr(buf, "\r\n\r\n");
    if (strncmp(buf, "HTTP/1.", 7) != 0 || !hend) {
        fprintf(stderr, "kf: malformed HTTP response\n");
        free(buf);
        return -1;
    }
    r->status = atoi(buf + 9);
    *hend = '\0';
    bool chunked = false;
    for (char *save = NULL, *l = strtok_r(buf, "\r\n", &save); l; l = strtok_r(NULL, "\r\n", &save))
        if (strncasecmp(l, "Transfer-Encoding:", 18) == 0 && strstr(l + 18, "chunked"))
            chunked = true;
    size_t blen = len - (size_t)(hend + 4 - buf);
    r->body = xmalloc(blen + 1);
    memcpy(r->body, hend + 4, blen);
    r->body[blen] = '\0';
    r->len = blen;
    free(buf);
    if (chunked) {
        long n = dechunk(r->body, r->len);
        if (n < 0) {
            fprintf(stderr, "kf: malformed chunked response\n");
            free(r->body);
            return -1;
        }
        r->len = (size_t)n;
        r->body[n] = '\0';
    }
    return 0;
}

/* Parse a JSON response; on an HTTP error print it. Returns new or NULL. */
static json_t *json_response(const struct http_resp *r, bool quiet_errors)
{
    json_t *j = json_loadb(r->body, r->len, 0, NULL);
    if (r->status >= 400) {
        const json_t *e = json_object_get(j, "error");
        if (!quiet_errors) {
            if (e)
                fprintf(stderr, "kf: HTTP %d %s%s%s: %s\n", r->status,
                        json_string_value(json_object_get(e, "code")),
                        json_string_length(json_object_get(e, "path")) ? " at " : "",
                        json_string_value(json_object_get(e, "path")),
                        json_string_value(json_object_get(e, "message")));
            else
                fprintf(stderr, "kf: HTTP %d: %.300s\n", r->status, r->body);
        }
        json_decref(j);
        return NULL;
    }
    if (!j)
        fprintf(stderr, "kf: the server sent invalid JSON\n");
    return j;
}

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

/* Long-poll until done; progress line on stderr when it is a terminal. */
static json_t *wait_task(const char *id, double max_s)
{
    struct timespec t0, t1;
    bool tty = isatty(2);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int failures = 0;;) {
        char path[160];
        snprintf(path, sizeof path, "/tasks/%s?timeout=10", id);
        struct http_resp r;
        json_t *t = NULL;
        if (http_do("GET", path, NULL, 0, 40, &r) == 0) {
            t = json_response(&r, r.status == 503);
            if (r.status == 404 || (r.status >= 400 && r.status != 503)) {
                free(r.body);
                return NULL;
            }
            free(r.body);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double el = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        if (!t) {
            if (++failures > 30) {
                fprintf(stderr, "kf: giving up after %d failed polls\n", failures);
                return NULL;
            }
            sleep(1);
            continue;
        }
        failures = 0;
        const json_t *pr = json_object_get(t, "progress");
        if (tty)
            fprintf(stderr, "\r\033[K[%s] %lld/%lld workloads  %.0fs",
                    str_or(json_object_get(t, "status"), "?"),
                    (long long)json_integer_value(json_object_get(pr, "done")),
                    (long long)json_integer_value(json_object_get(pr, "total")), el);
        if (terminal(t)) {
            if (tty)
                fputc('\n', stderr);
            return t;
        }
        json_decref(t);
        if (max_s > 0 && el >= max_s) {
            if (tty)
                fputc('\n', stderr);
            fprintf(stderr, "kf: still not finished after %.0f s\n", max_s);
            return NULL;
        }
    }
}

/* ---- commands --------------------------------------------------------------- */

static void usage_submit(FILE *f)
{
    fprintf(f, "usage: kf submit FILE|DIR [--wait] [--timeout S] [--workloads UUID,...] "
               "[--rerun] [--json]\n"
               "Upload a solution.json to kf-server (KF_URL, default http://127.0.0.1:8080; "
               "token from KF_TOKEN).\n"
               "A directory is packed first, as kf pack does (a kernel directory with spec.json,\n"
               "or a starter-kit directory with config.toml).\n"
               "  --wait         follow the task to the end (progress on stderr); exit 0 only "
               "if every workload PASSED\n"
               "  --timeout S    give up waiting after S seconds (default: no limit)\n"
               "  --workloads L  evaluate only these workload uuids (comma-separated)\n"
               "  --rerun        evaluate again even if this content was already evaluated\n"
               "  --json         print the server's JSON\n");
}

int kf_cmd_submit(int argc, char **argv)
{
    const char *file = NULL, *wl = NULL;
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
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            timeout = atof(argv[++i]);
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
    size_t len;
    char *body = NULL;
    struct stat sb;
    if (stat(file, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        struct kf_err perr = {0};
        json_t *doc = NULL;
        if (kf_pack_dir(file, &doc, &perr) != 0) {
            fprintf(stderr, "kf submit: %s: %s: %s\n", file, perr.path[0] ? perr.path : "$",
                    perr.msg);
            return 1;
        }
        body = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(doc);
        len = body ? strlen(body) : 0;
    } else {
        body = read_file(file, &len);
    }
    if (!body)
        return 1;
    char path[4096];
    snprintf(path, sizeof path, "/solutions%s%s%s%s", wl || rerun ? "?" : "",
             wl ? "workloads=" : "", wl ? wl : "", rerun ? (wl ? "&rerun=1" : "rerun=1") : "");
    struct http_resp r;
    int rc = http_do("POST", path, body, len, 60, &r);
    free(body);
    if (rc)
        return 1;
    json_t *j = json_response(&r, false);
    free(r.body);
    if (!j)
        return 1;
    const char *id = str_or(json_object_get(j, "task_id"), "");
    if (!wait) {
        if (js)
            print_json(j);
        else
            printf("%s task %s: solution %s (kf status %s)\n",
                   json_is_true(json_object_get(j, "existing")) ? "existing" : "queued", id,
                   str_or(json_object_get(j, "solution"), "?"), id);
        json_decref(j);
        return 0;
    }
    if (!js)
        fprintf(stderr, "task %s: solution %s\n", id, str_or(json_object_get(j, "solution"), "?"));
    char idc[80];
    snprintf(idc, sizeof idc, "%s", id);
    json_decref(j);
    json_t *t = wait_task(idc, timeout);
    if (!t)
        return 1;
    if (js)
        print_json(t);
    else
        print_task(t);
    rc = task_exit_code(t);
    json_decref(t);
    return rc;
}

int kf_cmd_status(int argc, char **argv)
{
    const char *id = NULL;
    bool js = false, wait = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: kf status TASK_ID [--wait] [--json]\n"
                   "Show a task: status, progress and per-workload results.\n");
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            js = true;
        } else if (strcmp(argv[i], "--wait") == 0) {
            wait = true;
        } else if (argv[i][0] != '-' && !id) {
            id = argv[i];
        } else {
            fprintf(stderr, "usage: kf status TASK_ID [--wait] [--json]\n");
            return 2;
        }
    }
    if (!id) {
        fprintf(stderr, "usage: kf status TASK_ID [--wait] [--json]\n");
        return 2;
    }
    json_t *t = NULL;
    if (wait) {
        t = wait_task(id, 0);
    } else {
        char path[200];
        struct http_resp r;
        snprintf(path, sizeof path, "/tasks/%.100s", id);
        if (http_do("GET", path, NULL, 0, 30, &r))
            return 1;
        t = json_response(&r, false);
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
    const char *def = NULL, *hw = NULL;
    bool js = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: kf results [--definition D] [--hardware H] [--json]\n"
                   "Show the leaderboard: per definition and GPU, solutions that passed every "
                   "workload, ranked by mean speedup.\n");
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            js = true;
        } else if (strcmp(argv[i], "--definition") == 0 && i + 1 < argc) {
            def = argv[++i];
        } else if (strcmp(argv[i], "--hardware") == 0 && i + 1 < argc) {
            hw = argv[++i];
        } else {
            fprintf(stderr, "usage: kf results [--definition D] [--hardware H] [--json]\n");
            return 2;
        }
    }
    char path[700], d[300] = "", h[300] = "";
    if (def)
        url_escape(d, sizeof d, def);
    if (hw)
        url_escape(h, sizeof h, hw);
    snprintf(path, sizeof path, "/results%s%s%s%s%s", def || hw ? "?" : "",
             def ? "definition=" : "", d, hw ? (def ? "&hardware=" : "hardware=") : "", h);
    struct http_resp r;
    if (http_do("GET", path, NULL, 0, 30, &r))
        return 1;
    json_t *j = json_response(&r, false);
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
            printf("  %s\n  %4s  %-44s %-16s %9s %12s %9s\n",
                   str_or(json_object_get(b, "hardware"), "?"), "rank", "solution", "author",
                   "speedup", "latency ms", "passed");
            json_array_foreach(json_object_get(b, "ranking"), m, e) {
                char sp[32], lat[32], pw[32];
                fmt_num(sp, sizeof sp, json_object_get(e, "mean_speedup"), "%.2fx");
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
