/* nvrtc_build.c: NVRTC compilation of nvrtc-lane solutions with an on-disk
 * cubin cache. See nvrtc_build.h. Thread-safe.
 */
#include "nvrtc_build.h"

#include <errno.h>
#include <fcntl.h>
#include <nvrtc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compile_opts.h"
#include "log.h"
#include "sha256.h"
#include "xalloc.h"

#define MAX_CUBIN (256u << 20)

void ev_arch_name(int major, int minor, char *buf, size_t n)
{
    int a = (major == 9 && minor == 0) || (major == 10 && (minor == 0 || minor == 3)) ||
            (major == 12 && minor == 0);
    snprintf(buf, n, "sm_%d%d%s", major, minor, a ? "a" : "");
}

const char *ev_nvrtc_version(void)
{
    static char v[32];
    int maj = 0, min = 0;
    if (!v[0]) {
        if (nvrtcVersion(&maj, &min) != NVRTC_SUCCESS)
            maj = min = 0;
        snprintf(v, sizeof v, "%d.%d", maj, min);
    }
    return v;
}

static const char *cuda_home(void)
{
    const char *h = getenv("CUDA_HOME");
    return h && *h ? h : "/usr/local/cuda";
}

#define MAX_USER_OPTS 64

/* Options shared by every compile, then the solution's spec.compile_options
 * (allow-listed, lib/compile_opts.h; -Xptxas=X spelled --ptxas-options=X; a
 * -std replaces the default). *n receives the count. Strings static or
 * borrowed from sol (which may be NULL). */
static const char **nvrtc_opts(const char *arch, const struct kf_solution *sol, int *n)
{
    static char inc[600], inc2[600], archopt[64], ptxas[MAX_USER_OPTS][200];
    static const char *opts[8 + MAX_USER_OPTS];
    const char *std = "-std=c++17";
    struct stat st;
    int k = 0, nu = sol ? sol->spec.ncompile_options : 0;
    if (nu > MAX_USER_OPTS)
        nu = MAX_USER_OPTS;
    for (int i = 0; i < nu; i++)
        if (strncmp(sol->spec.compile_options[i], "-std=", 5) == 0)
            std = sol->spec.compile_options[i];
    snprintf(archopt, sizeof archopt, "--gpu-architecture=%s", arch);
    snprintf(inc, sizeof inc, "--include-path=%s/include", cuda_home());
    snprintf(inc2, sizeof inc2, "%s/include/cccl", cuda_home());
    opts[k++] = std;
    opts[k++] = archopt;
    opts[k++] = inc;
    if (stat(inc2, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(inc2, sizeof inc2, "--include-path=%s/include/cccl", cuda_home());
        opts[k++] = inc2;
    }
    for (int i = 0; i < nu; i++) {
        const char *o = sol->spec.compile_options[i];
        if (strncmp(o, "-std=", 5) == 0)
            continue;
        if (strncmp(o, "-Xptxas=", 8) == 0) {
            snprintf(ptxas[i], sizeof ptxas[i], "--ptxas-options=%s", o + 8);
            o = ptxas[i];
        }
        opts[k++] = o;
    }
    *n = k;
    return opts;
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static int compile_tu(const char *name, const char *src, int nh, const char *const *hsrc,
                      const char *const *hnames, const char *arch,
                      const struct kf_solution *sol, void **cubin, size_t *size,
                      char **log_out, struct kf_err *err)
{
    nvrtcProgram prog;
    nvrtcResult r;
    int nopt, rc = 0;
    const char **opts;
    size_t logsz = 0;
    *cubin = NULL;
    *size = 0;
    if (log_out)
        *log_out = NULL;
    r = nvrtcCreateProgram(&prog, src, name, nh, hsrc, hnames);
    if (r != NVRTC_SUCCESS)
        return kf_err_set(err, KF_ECUDA, name, "nvrtcCreateProgram: %s", nvrtcGetErrorString(r));
    opts = nvrtc_opts(arch, sol, &nopt);
    r = nvrtcCompileProgram(prog, nopt, opts);
    if (nvrtcGetProgramLogSize(prog, &logsz) == NVRTC_SUCCESS && logsz > 1 && log_out) {
        *log_out = xmalloc(logsz + 1);
        if (nvrtcGetProgramLog(prog, *log_out) != NVRTC_SUCCESS)
            (*log_out)[0] = 0;
        (*log_out)[logsz] = 0;
    }
    if (r != NVRTC_SUCCESS) {
        rc = kf_err_set(err, KF_EINVAL, name, "NVRTC compile failed: %s", nvrtcGetErrorString(r));
        goto out;
    }
    if (nvrtcGetCUBINSize(prog, size) != NVRTC_SUCCESS || *size == 0 || *size > MAX_CUBIN) {
        rc = kf_err_set(err, KF_ECUDA, name, "no cubin produced for %s", arch);
        goto out;
    }
    *cubin = xmalloc(*size);
    if (nvrtcGetCUBIN(prog, *cubin) != NVRTC_SUCCESS) {
        free(*cubin);
        *cubin = NULL;
        rc = kf_err_set(err, KF_ECUDA, name, "nvrtcGetCUBIN failed");
    }
out:
    nvrtcDestroyProgram(&prog);
    return rc;
}

int ev_nvrtc_compile_src(const char *name, const char *src, const char *arch, void **cubin,
                         size_t *size, char **log_out, struct kf_err *err)
{
    return compile_tu(name, src, 0, NULL, NULL, arch, NULL, cubin, size, log_out, err);
}

void ev_mkdirs(const char *dir)
{
    char *p = xstrdup(dir);
    for (char *s = p + 1; *s; s++) {
        if (*s == '/') {
            *s = 0;
            mkdir(p, 0755);
            *s = '/';
        }
    }
    mkdir(p, 0755);
    free(p);
}

static int cache_read(const char *path, void **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    long n;
    if (!f)
        return -1;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) <= 0 || (size_t)n > MAX_CUBIN ||
        fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return -1;
    }
    *data = xmalloc((size_t)n);
    if (fread(*data, 1, (size_t)n, f) != (size_t)n) {
        free(*data);
        *data = NULL;
        fclose(f);
        return -1;
    }
    fclose(f);
    *size = (size_t)n;
    return 0;
}

int ev_file_write_atomic(const char *path, const void *data, size_t size)
{
    char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (f) {
        int ok = fwrite(data, 1, size, f) == size;
        ok &= fclose(f) == 0;
        if (ok && rename(tmp, path) == 0) {
            free(tmp);
            return 0;
        }
    }
    unlink(tmp);
    log_warn("nvrtc", "cannot write cache file path=%s err=%s", path, strerror(errno));
    free(tmp);
    return KF_EIO;
}

int ev_nvrtc_build(const struct kf_solution *sol, const char *arch, const char *cache_dir,
                   struct ev_build *out, struct kf_err *err)
{
    int nh = 0, rc = 0, nopt;
    const char **hsrc = NULL, **hnames = NULL, **opts;
    struct ev_sha256 common;
    size_t loglen = 0;
    char *dir = NULL;

    memset(out, 0, sizeof *out);
    out->log = xstrdup("");
    out->cached = 1;
    if (sol->spec.ncompile_options > MAX_USER_OPTS)
        return kf_err_set(err, KF_EINVAL, "spec.compile_options", "at most %d flags",
                          MAX_USER_OPTS);
    for (int i = 0; i < sol->spec.ncompile_options; i++) {
        enum kf_copt_kind kind;
        const char *why = NULL;
        if (kf_copt_check(sol->spec.compile_options[i], KF_COPT_NVRTC, &kind, &why) != 0) {
            char path[64];
            snprintf(path, sizeof path, "spec.compile_options[%d]", i);
            return kf_err_set(err, KF_EINVAL, path, "'%.80s': %s",
                              sol->spec.compile_options[i], why);
        }
    }
    hsrc = xcalloc((size_t)sol->nsources + 1, sizeof *hsrc);
    hnames = xcalloc((size_t)sol->nsources + 1, sizeof *hnames);
    out->cubins = xcalloc((size_t)sol->nsources + 1, sizeof *out->cubins);

    /* The key covers every source (a header change rebuilds every TU), the
     * entry point, arch, options and the compiler version. */
    ev_sha256_init(&common);
    ev_sha256_str(&common, "kernelfarm-nvrtc-v1");
    ev_sha256_str(&common, arch);
    ev_sha256_str(&common, ev_nvrtc_version());
    opts = nvrtc_opts(arch, sol, &nopt);
    for (int i = 0; i < nopt; i++)
        ev_sha256_str(&common, opts[i]);
    ev_sha256_str(&common, sol->spec.entry_point);
    for (int i = 0; i < sol->nsources; i++) {
        ev_sha256_str(&common, sol->sources[i].path);
        ev_sha256_str(&common, sol->sources[i].content);
        if (!ends_with(sol->sources[i].path, ".cu")) {
            hsrc[nh] = sol->sources[i].content;
            hnames[nh] = sol->sources[i].path;
            nh++;
        }
    }
    if (cache_dir) {
        dir = xasprintf("%s/cubin", cache_dir);
        ev_mkdirs(dir);
    }
    for (int i = 0; i < sol->nsources; i++) {
        const struct kf_source *s = &sol->sources[i];
        struct ev_cubin *cb;
        char hex[65], *path = NULL, *tlog = NULL;
        struct ev_sha256 h;
        if (!ends_with(s->path, ".cu"))
            continue;
        cb = &out->cubins[out->ncubins++];
        cb->tu = xstrdup(s->path);
        h = common;
        ev_sha256_str(&h, s->path);
        ev_sha256_hex(&h, hex);
        if (dir) {
            path = xasprintf("%s/%s.cubin", dir, hex);
            if (cache_read(path, &cb->data, &cb->size) == 0) {
                cb->path = path;
                continue;
            }
        }
        out->cached = 0;
        rc = compile_tu(s->path, s->content, nh, hsrc, hnames, arch, sol, &cb->data, &cb->size,
                        &tlog, err);
        if (tlog && *tlog) {
            size_t tl = strlen(tlog), pl = strlen(s->path);
            out->log = xrealloc(out->log, loglen + pl + tl + 4);
            loglen += (size_t)sprintf(out->log + loglen, "%s:\n%s\n", s->path, tlog);
        }
        free(tlog);
        if (rc == 0 && path && ev_file_write_atomic(path, cb->data, cb->size) == 0)
            cb->path = path;
        else
            free(path);
        if (rc)
            break;
    }
    if (rc == 0 && out->ncubins == 0)
        rc = kf_err_set(err, KF_EINVAL, "sources", "no .cu translation unit among the sources");
    free(hsrc);
    free(hnames);
    free(dir);
    return rc;
}

void ev_build_free(struct ev_build *b)
{
    if (!b)
        return;
    for (int i = 0; i < b->ncubins; i++) {
        free(b->cubins[i].tu);
        free(b->cubins[i].path);
        free(b->cubins[i].data);
    }
    free(b->cubins);
    free(b->log);
    memset(b, 0, sizeof *b);
}
