/* hostlanes.c: the lanes this host can serve (see hostlanes.h). */
#include "hostlanes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lane_tvmffi.h"
#include "lanes.h"
#include "subproc.h"

/* The python lane's check: both imports, then the versions on one line. */
#define PY_CHECK "import torch, triton; print('torch %s, triton %s' % (torch.__version__, " \
                 "triton.__version__))"

/* The last non-empty line of s (at most n-1 bytes of it) into buf. */
static void last_line(const char *s, char *buf, size_t n)
{
    const char *end = s + strlen(s);
    while (end > s && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
        end--;
    const char *start = end;
    while (start > s && start[-1] != '\n')
        start--;
    snprintf(buf, n, "%.*s", (int)(end - start), start);
}

static int probe_tvmffi(char *why, size_t n)
{
    const char *home = getenv("CUDA_HOME");
    char nvcc[600], root[1024];
    struct stat st;
    struct kf_err err;
    snprintf(nvcc, sizeof nvcc, "%s/bin/nvcc", home && *home ? home : "/usr/local/cuda");
    if (stat(nvcc, &st) != 0 || !S_ISREG(st.st_mode) || access(nvcc, X_OK) != 0) {
        snprintf(why, n, "no nvcc at %.500s (set CUDA_HOME)", nvcc);
        return -1;
    }
    if (ev_tvmffi_root(root, sizeof root, &err) != 0) {
        snprintf(why, n, "%.590s", err.msg);
        return -1;
    }
    snprintf(why, n, "%.590s", root);
    return 0;
}

static int probe_python(const char *python, double timeout_s, char *out, size_t n)
{
    char *argv[] = {(char *)python, "-c", PY_CHECK, NULL};
    char *log = NULL, line[400];
    int status = -1, rc;
    struct kf_err err;
    rc = ev_subproc_run(argv, NULL, timeout_s, 16384, &log, &status, &err);
    if (rc == KF_ETIMEOUT)
        snprintf(out, n, "%.200s did not import torch and triton within %g s (probe-timeout)",
                 python, timeout_s);
    else if (rc != 0 || status == -1)
        snprintf(out, n, "cannot run %.200s: %.300s", python, rc ? err.msg : "not started");
    else {
        last_line(log ? log : "", line, sizeof line);
        if (status == 0)
            snprintf(out, n, "%s", line);
        else
            snprintf(out, n, "%.150s cannot import torch and triton (exit %d): %.300s", python,
                     status, line[0] ? line : "no output");
    }
    free(log);
    return rc == 0 && status == 0 ? 0 : -1;
}

void wk_host_lanes_probe(const char *python, double timeout_s, struct wk_host_lanes *out)
{
    memset(out, 0, sizeof *out);
    if (!python || !*python) {
        python = getenv("KF_PYTHON");
        if (!python || !*python)
            python = "python3";
    }
    out->set = 1u << kf_lane_index(KF_LANE_NVRTC);
    if (probe_tvmffi(out->tvmffi, sizeof out->tvmffi) == 0)
        out->set |= 1u << kf_lane_index(KF_LANE_TVMFFI);
    if (probe_python(python, timeout_s, out->python, sizeof out->python) == 0)
        out->set |= 1u << kf_lane_index(KF_LANE_PYTHON);
}

int wk_host_lanes_select(const struct wk_host_lanes *h, const char *want, unsigned *set,
                         struct kf_err *err)
{
    unsigned w;
    int rc;
    *set = 0;
    if (!want || !*want) {
        *set = h->set;
        return 0;
    }
    if ((rc = kf_lanes_parse(want, "lanes", &w, err)) != 0)
        return rc;
    for (int i = 0; kf_lanes[i]; i++) {
        if (!(w & (1u << i)) || (h->set & (1u << i)))
            continue;
        const char *why = strcmp(kf_lanes[i], KF_LANE_TVMFFI) == 0 ? h->tvmffi : h->python;
        return kf_err_set(err, KF_EINVAL, "lanes",
                          "this host cannot serve lane %s: %.200s", kf_lanes[i], why);
    }
    *set = w;
    return 0;
}
