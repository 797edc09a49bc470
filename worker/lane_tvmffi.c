/* lane_tvmffi.c: the tvm-ffi lane, both sides (see lane_tvmffi.h and
 * docs/lanes.md). The judge side compiles and never loads; the runner side
 * loads and calls, and reaches libtvm_ffi.so only through dlsym on the
 * solution's own handle (so it uses the very library the solution linked).
 * Not thread-safe: one lane per process (the tensor allocator it installs
 * for value-returning solutions is process-wide).
 */
#include "lane_tvmffi.h"

#include <dirent.h>
#include <dlfcn.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compile_opts.h"
#include "log.h"
#include "nvrtc_build.h"
#include "sha256.h"
#include "subproc.h"
#include "tvmffi_abi.h"
#include "xalloc.h"

#ifndef KF_SOURCE_DIR
#define KF_SOURCE_DIR "."
#endif

_Static_assert(sizeof(struct ev_ffi_any) == 16, "TVMFFIAny is 16 bytes");
_Static_assert(sizeof(struct ev_ffi_object) == 24, "TVMFFIObject is 24 bytes");
_Static_assert(sizeof(struct ev_dl_tensor) == 48, "DLTensor is 48 bytes");
_Static_assert(offsetof(struct ev_dl_managed, dl_tensor) == 32, "DLManagedTensorVersioned");

#define LOG_CAP (64u << 10)         /* compiler output kept per command */
#define BUILD_TIMEOUT_S 600.0
#define MAX_TU 256

/* ---- the tvm-ffi root ------------------------------------------------------ */

static int root_ok(const char *root)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/include/tvm/ffi/c_api.h", root);
    if (access(p, R_OK) != 0)
        return 0;
    snprintf(p, sizeof p, "%s/lib/libtvm_ffi.so", root);
    return access(p, R_OK) == 0;
}

int ev_tvmffi_root(char *buf, size_t n, struct kf_err *err)
{
    const char *e = getenv("KF_TVM_FFI_ROOT");
    char line[1024] = "";
    if (e && *e) {
        if (strlen(e) >= n || !root_ok(e))
            return kf_err_set(err, KF_ENOENT, "KF_TVM_FFI_ROOT",
                              "%.200s has no include/tvm/ffi/c_api.h or lib/libtvm_ffi.so "
                              "(the apache-tvm-ffi package directory)", e);
        snprintf(buf, n, "%s", e);
        return 0;
    }
    FILE *f = fopen(KF_SOURCE_DIR "/var/tvm-ffi-root", "r");
    if (f) {
        if (!fgets(line, sizeof line, f))
            line[0] = 0;
        fclose(f);
        line[strcspn(line, "\r\n")] = 0;
    }
    if (!line[0] || strlen(line) >= n || !root_ok(line))
        return kf_err_set(err, KF_ENOENT, "tvm-ffi-root",
                          "apache-tvm-ffi not found: run `make deps`, or set KF_TVM_FFI_ROOT "
                          "(kf-worker --tvm-ffi-root) to the package directory");
    snprintf(buf, n, "%s", line);
    return 0;
}

/* ---- judge side: build ----------------------------------------------------- */

static const char *cuda_home(void)
{
    const char *h = getenv("CUDA_HOME");
    return h && *h ? h : "/usr/local/cuda";
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

enum tu_kind { TU_NONE, TU_CUDA, TU_CXX, TU_C };

static enum tu_kind tu_kind_of(const char *path)
{
    if (ends_with(path, ".cu"))
        return TU_CUDA;
    if (ends_with(path, ".cpp") || ends_with(path, ".cc") || ends_with(path, ".cxx"))
        return TU_CXX;
    if (ends_with(path, ".c"))
        return TU_C;
    return TU_NONE;
}

/* First line of `prog --version`'s output's last line ("Cuda compilation
 * tools, release 13.0, V13.0.88"; "g++ (Debian 12.2.0-14) 12.2.0"). */
static void tool_version(const char *prog, char *out, size_t n)
{
    char *argv[] = {(char *)prog, "--version", NULL}, *txt = NULL;
    int st = -1;
    struct kf_err e;
    snprintf(out, n, "%s: unknown", prog);
    if (ev_subproc_run(argv, NULL, 30, 4096, &txt, &st, &e) == 0 && st == 0 && txt) {
        char *last = NULL, *save = NULL;
        for (char *l = strtok_r(txt, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
            if (strstr(l, "release") || !last)
                last = l;
        if (last)
            snprintf(out, n, "%s: %s", prog, last);
    }
    free(txt);
}

static const char *toolchain_id(const char *root)
{
    static char id[2048];
    if (!id[0]) {
        char nv[300], gx[300], nvcc[600];
        struct stat st;
        char lib[1100];
        snprintf(nvcc, sizeof nvcc, "%s/bin/nvcc", cuda_home());
        tool_version(nvcc, nv, sizeof nv);
        tool_version("g++", gx, sizeof gx);
        snprintf(lib, sizeof lib, "%s/lib/libtvm_ffi.so", root);
        memset(&st, 0, sizeof st);
        stat(lib, &st);
        snprintf(id, sizeof id, "%s | %s | tvm-ffi %s size %lld mtime %lld", nv, gx, root,
                 (long long)st.st_size, (long long)st.st_mtime);
    }
    return id;
}

static void rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char *c = xasprintf("%s/%s", path, e->d_name);
            rm_tree(c);
            free(c);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int write_file(const char *path, const char *content)
{
    FILE *f;
    char *dir = xstrdup(path), *slash = strrchr(dir, '/');
    if (slash) {
        *slash = 0;
        ev_mkdirs(dir);
    }
    free(dir);
    f = fopen(path, "w");
    if (!f)
        return -1;
    size_t n = strlen(content);
    int ok = fwrite(content, 1, n, f) == n;
    ok &= fclose(f) == 0;
    return ok ? 0 : -1;
}

struct argv_b { char **v; int n, cap; };

static void av_add(struct argv_b *a, const char *s)
{
    if (a->n + 2 > a->cap) {
        a->cap = a->cap ? a->cap * 2 : 32;
        a->v = xrealloc(a->v, (size_t)a->cap * sizeof *a->v);
    }
    a->v[a->n++] = xstrdup(s);
    a->v[a->n] = NULL;
}

static void av_addf(struct argv_b *a, const char *fmt, const char *x)
{
    char *s = xasprintf(fmt, x);
    av_add(a, s);
    free(s);
}

static void av_free(struct argv_b *a)
{
    for (int i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    memset(a, 0, sizeof *a);
}

static void log_append(char **log, size_t *len, const char *s)
{
    size_t n = strlen(s);
    if (*len > 4 * LOG_CAP)
        return;
    *log = xrealloc(*log, *len + n + 2);
    memcpy(*log + *len, s, n);
    *len += n;
    (*log)[*len] = 0;
}

/* Run one command of the build, its command line and output into the log.
 * 0 when it exited 0; KF_EINVAL when it failed (the solution's fault);
 * KF_EIO / KF_ETIMEOUT when it could not run or ran too long. */
static int build_step(struct argv_b *a, const char *dir, char **log, size_t *loglen,
                      struct kf_err *err)
{
    char *out = NULL;
    int st = -1, rc;
    log_append(log, loglen, "$");
    for (int i = 0; i < a->n; i++) {
        log_append(log, loglen, " ");
        log_append(log, loglen, a->v[i]);
    }
    log_append(log, loglen, "\n");
    rc = ev_subproc_run(a->v, dir, BUILD_TIMEOUT_S, LOG_CAP, &out, &st, err);
    if (out)
        log_append(log, loglen, out);
    free(out);
    if (rc == KF_ETIMEOUT)
        return kf_err_set(err, KF_EINVAL, "sources", "%s ran longer than %.0f s", a->v[0],
                          BUILD_TIMEOUT_S);
    if (rc)
        return rc;
    if (st == 127)
        return kf_err_set(err, KF_EIO, NULL, "cannot run %s", a->v[0]);
    if (st != 0)
        return kf_err_set(err, KF_EINVAL, "sources", "%s failed (exit status %d)", a->v[0], st);
    return 0;
}

static int valid_arch(const char *arch)
{
    if (strncmp(arch, "sm_", 3) != 0 || !isdigit((unsigned char)arch[3]))
        return 0;
    const char *p = arch + 3;
    while (isdigit((unsigned char)*p))
        p++;
    return *p == 0 || ((*p == 'a' || *p == 'f') && p[1] == 0);
}

static const char *entry_symbol(const struct kf_solution *sol)
{
    return strstr(sol->spec.entry_point, "::") + 2;
}

static int c_ident(const char *s)
{
    if (!(isalpha((unsigned char)*s) || *s == '_'))
        return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_'))
            return 0;
    return 1;
}

/* The solution's flags for one compiler: nvcc gets all; g++/gcc the host
 * ones. The default -O2 and -std=c++17 give way to the solution's. */
static void add_flags(struct argv_b *a, const struct kf_solution *sol, enum tu_kind k)
{
    const char *opt = "-O2", *std = "-std=c++17";
    for (int i = 0; i < sol->spec.ncompile_options; i++) {
        const char *f = sol->spec.compile_options[i];
        if (strncmp(f, "-O", 2) == 0)
            opt = f;
        else if (strncmp(f, "-std=", 5) == 0)
            std = f;
    }
    av_add(a, opt);
    if (k != TU_C)
        av_add(a, std);
    for (int i = 0; i < sol->spec.ncompile_options; i++) {
        const char *f = sol->spec.compile_options[i];
        enum kf_copt_kind kind;
        const char *why;
        if (strncmp(f, "-O", 2) == 0 || strncmp(f, "-std=", 5) == 0)
            continue;
        if (kf_copt_check(f, KF_COPT_TVMFFI, &kind, &why) != 0)
            continue;   /* checked before: cannot happen */
        if (k == TU_CUDA || kind == KF_COPT_HOST_AND_DEVICE)
            av_add(a, f);
    }
}

static int tv_build(const struct kf_solution *sol, const struct kf_definition *def,
                    const char *arch, const char *cache_dir, char ***artifacts,
                    int *nartifacts, char **log, struct kf_err *err)
{
    char root[1024], hex[65], *sodir = NULL, *so = NULL, *bdir = NULL, *tmpl = NULL;
    char *objs[MAX_TU];
    int nobj = 0, rc = 0;
    size_t loglen = 0;
    struct ev_sha256 h;
    struct stat st;
    struct argv_b a = {0};

    (void)def;
    *artifacts = NULL;
    *nartifacts = 0;
    *log = NULL;
    if (!valid_arch(arch))
        return kf_err_set(err, KF_EINVAL, NULL, "arch '%.40s' is not sm_<digits>[a|f]", arch);
    if (!c_ident(entry_symbol(sol)))
        return kf_err_set(err, KF_EINVAL, "spec.entry_point",
                          "'%.100s' must name a C identifier after '::' (the function exported "
                          "with TVM_FFI_DLL_EXPORT_TYPED_FUNC)", sol->spec.entry_point);
    if ((rc = kf_solution_check_compile_options(sol, err)))
        goto fail_msg;
    for (int i = 0; i < sol->nsources; i++)
        if (tu_kind_of(sol->sources[i].path) != TU_NONE)
            nobj++;
    if (nobj == 0 || nobj > MAX_TU) {
        rc = kf_err_set(err, KF_EINVAL, "sources",
                        nobj ? "more than 256 translation units"
                             : "no .cu, .cpp, .cc, .cxx or .c source to compile");
        goto fail_msg;
    }
    nobj = 0;
    if ((rc = ev_tvmffi_root(root, sizeof root, err)))
        return rc;

    ev_sha256_init(&h);
    ev_sha256_str(&h, "kernelfarm-tvmffi-v1");
    ev_sha256_str(&h, arch);
    ev_sha256_str(&h, toolchain_id(root));
    ev_sha256_str(&h, cuda_home());
    ev_sha256_str(&h, sol->spec.language);
    ev_sha256_str(&h, sol->spec.entry_point);
    for (int i = 0; i < sol->spec.ncompile_options; i++)
        ev_sha256_str(&h, sol->spec.compile_options[i]);
    for (int i = 0; i < sol->nsources; i++) {
        ev_sha256_str(&h, sol->sources[i].path);
        ev_sha256_str(&h, sol->sources[i].content);
    }
    ev_sha256_hex(&h, hex);

    if (cache_dir && *cache_dir) {
        sodir = xasprintf("%s/so", cache_dir);
        ev_mkdirs(sodir);
    } else {
        const char *t = getenv("TMPDIR");
        sodir = xasprintf("%s/kf-so", t && *t ? t : "/tmp");
        ev_mkdirs(sodir);
    }
    so = xasprintf("%s/%s.so", sodir, hex);
    if (stat(so, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
        goto done;

    tmpl = xasprintf("%s/build.XXXXXX", sodir);
    if (!mkdtemp(tmpl)) {
        rc = kf_err_set(err, KF_EIO, NULL, "cannot create a build directory in %s: %s", sodir,
                        strerror(errno));
        goto out;
    }
    bdir = tmpl;
    tmpl = NULL;
    for (int i = 0; i < sol->nsources; i++) {
        char *p = xasprintf("%s/src/%s", bdir, sol->sources[i].path);
        int w = write_file(p, sol->sources[i].content);
        free(p);
        if (w < 0) {
            rc = kf_err_set(err, KF_EIO, NULL, "cannot write %s under %s", sol->sources[i].path,
                            bdir);
            goto out;
        }
    }
    for (int i = 0; i < sol->nsources; i++) {
        enum tu_kind k = tu_kind_of(sol->sources[i].path);
        char nvcc[600], gencode[128], num[40];
        if (k == TU_NONE)
            continue;
        objs[nobj] = xasprintf("%s/obj%d.o", bdir, nobj);
        if (k == TU_CUDA) {
            snprintf(nvcc, sizeof nvcc, "%s/bin/nvcc", cuda_home());
            snprintf(num, sizeof num, "%s", arch + 3);
            snprintf(gencode, sizeof gencode, "-gencode=arch=compute_%s,code=%s", num, arch);
            av_add(&a, nvcc);
            av_add(&a, "-c");
            av_add(&a, "-Xcompiler");
            av_add(&a, "-fPIC");
            av_add(&a, gencode);
        } else {
            av_add(&a, k == TU_C ? "gcc" : "g++");
            av_add(&a, "-c");
            av_add(&a, "-fPIC");
            av_addf(&a, "-I%s/include", cuda_home());
        }
        add_flags(&a, sol, k);
        av_addf(&a, "-I%s/include", root);
        av_addf(&a, "-I%s/src", bdir);
        av_addf(&a, "src/%s", sol->sources[i].path);
        av_add(&a, "-o");
        av_add(&a, objs[nobj]);
        nobj++;
        rc = build_step(&a, bdir, log, &loglen, err);
        av_free(&a);
        if (rc) {
            if (rc == KF_EINVAL)
                snprintf(err->path, sizeof err->path, "sources[%d]", i);
            goto out;
        }
    }
    /* Link: every symbol must resolve now (a missing one is a compile
     * error here, not a crash in the runner). */
    {
        char *tmpso = xasprintf("%s/%s.so", bdir, hex);
        av_add(&a, "g++");
        av_add(&a, "-shared");
        av_add(&a, "-o");
        av_add(&a, tmpso);
        for (int i = 0; i < nobj; i++)
            av_add(&a, objs[i]);
        av_add(&a, "-Wl,--no-undefined");
        av_addf(&a, "-L%s/lib", root);
        av_addf(&a, "-Wl,-rpath,%s/lib", root);
        av_add(&a, "-ltvm_ffi");
        av_add(&a, "-Wl,--as-needed");
        av_addf(&a, "-L%s/lib64", cuda_home());
        av_addf(&a, "-Wl,-rpath,%s/lib64", cuda_home());
        /* Always offered, kept only if used: C++ sources may call the CUDA
         * runtime too (under FIB, torch has loaded it already). */
        av_add(&a, "-lcudart");
        rc = build_step(&a, bdir, log, &loglen, err);
        av_free(&a);
        if (rc == KF_EINVAL)
            kf_err_set(err, KF_EINVAL, "sources",
                       "link failed (unresolved symbols are errors in the tvm-ffi lane)");
        if (!rc && rename(tmpso, so) != 0)
            rc = kf_err_set(err, KF_EIO, NULL, "cannot move the shared object to %s: %s", so,
                            strerror(errno));
        free(tmpso);
        if (rc)
            goto out;
    }
done:
    *artifacts = xcalloc(2, sizeof **artifacts);
    (*artifacts)[0] = so;
    *nartifacts = 1;
    so = NULL;
    rc = 0;
    goto out;
fail_msg:
    /* A refused spec is a compile error whose log is the reason. */
    *log = xasprintf("%s: %s\n", err ? err->path : "", err ? err->msg : "invalid solution");
    return rc;
out:
    av_free(&a);
    for (int i = 0; i < nobj; i++)
        free(objs[i]);
    if (bdir) {
        rm_tree(bdir);
        free(bdir);
    }
    free(tmpl);
    free(so);
    free(sodir);
    return rc;
}

/* ---- runner side ------------------------------------------------------------ */

typedef int (*ev_ffi_set_stream_fn)(int32_t, int32_t, void *, void **);
typedef void (*ev_ffi_err_move_fn)(void **);
typedef int (*ev_ffi_decref_fn)(void *);
typedef int (*ev_ffi_from_dlpack_fn)(struct ev_dl_managed *, int32_t, int32_t, void **);
typedef int (*ev_ffi_set_alloc_fn)(ev_dl_allocator, int, ev_dl_allocator *);

struct tv_tensor {
    struct ev_dl_managed m;      /* ours: the deleter does nothing */
    int64_t shape[KF_MAX_DIMS], strides[KF_MAX_DIMS];
    void *obj;                   /* tvm-ffi Tensor over m, or NULL */
};

struct tv_out {
    const char *name;
    CUdeviceptr ptr;
    size_t nbytes;
    enum kf_dtype dtype;
    int ndim;
    int64_t dims[KF_MAX_DIMS];
};

struct tv_lane {
    void *dl;
    ev_ffi_safe_call fn;
    ev_ffi_set_stream_fn set_stream;
    ev_ffi_err_move_fn err_move;
    ev_ffi_decref_fn decref;
    ev_ffi_from_dlpack_fn from_dlpack;
    int dev_type, dev_id, dps;
    const struct kf_definition *def;
    /* bind */
    struct ev_ffi_any *args; int nargs;
    struct tv_tensor *tensors; int ntensors;
    struct tv_out *outs; int nouts;
    /* the last call's return value (value-returning solutions) */
    struct ev_ffi_any result;
    /* the last failure */
    char errmsg[1024];
    int errstatus, has_err;
};

/* The allocator installed for TVMFFIEnvTensorAlloc (Tensor::FromEnvAlloc), as
 * torch's is under flashinfer-bench: blocks are kept for reuse, so a
 * value-returning solution's per-call allocation costs what a caching
 * allocator's does. Process-wide: one lane per runner. */
#define POOL_MAX 64
static struct {
    int dev_type;
    struct { void *p; size_t size; int used; } b[POOL_MAX];
} g_pool;

static void *pool_get(size_t size)
{
    int free_slot = -1;
    for (int i = 0; i < POOL_MAX; i++) {
        if (g_pool.b[i].p && !g_pool.b[i].used && g_pool.b[i].size == size) {
            g_pool.b[i].used = 1;
            return g_pool.b[i].p;
        }
        if (!g_pool.b[i].p && free_slot < 0)
            free_slot = i;
    }
    if (free_slot < 0)
        return NULL;
    void *p = NULL;
    if (g_pool.dev_type == EV_DL_CUDA) {
        CUdeviceptr d = 0;
        if (cuMemAlloc(&d, size ? size : 1) != CUDA_SUCCESS)
            return NULL;
        p = (void *)(uintptr_t)d;
    } else {
        p = aligned_alloc(256, (size + 255) / 256 * 256 + 256);
    }
    if (!p)
        return NULL;
    g_pool.b[free_slot].p = p;
    g_pool.b[free_slot].size = size;
    g_pool.b[free_slot].used = 1;
    return p;
}

static void pool_put(void *p)
{
    for (int i = 0; i < POOL_MAX; i++)
        if (g_pool.b[i].p == p)
            g_pool.b[i].used = 0;
}

static void pool_drain(int ctx_lost)
{
    for (int i = 0; i < POOL_MAX; i++) {
        if (!g_pool.b[i].p)
            continue;
        if (g_pool.dev_type == EV_DL_CUDA) {
            if (!ctx_lost)
                cuMemFree((CUdeviceptr)(uintptr_t)g_pool.b[i].p);
        } else {
            free(g_pool.b[i].p);
        }
    }
    memset(g_pool.b, 0, sizeof g_pool.b);
}

static void pool_deleter(struct ev_dl_managed *m)
{
    if (!m)
        return;
    pool_put(m->dl_tensor.data);
    free(m);
}

static size_t dl_nbytes(const struct ev_dl_tensor *t)
{
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= (size_t)(t->shape[i] > 0 ? t->shape[i] : 0);
    return (n * t->dtype.bits * (t->dtype.lanes ? t->dtype.lanes : 1) + 7) / 8;
}

static int pool_alloc(struct ev_dl_tensor *proto, struct ev_dl_managed **out, void *ectx,
                      void (*set_error)(void *, const char *, const char *))
{
    struct ev_dl_managed *m;
    int nd = proto->ndim;
    *out = NULL;
    if (nd < 0 || nd > KF_MAX_DIMS || proto->device.device_type != g_pool.dev_type) {
        set_error(ectx, "RuntimeError",
                  "kernelfarm allocator: only tensors of at most 8 dimensions on the device "
                  "the lane runs on");
        return -1;
    }
    m = xcalloc(1, sizeof *m + 2 * (size_t)(nd ? nd : 1) * sizeof(int64_t));
    int64_t *shape = (int64_t *)(m + 1);
    for (int i = 0; i < nd; i++) {
        if (proto->shape[i] < 0) {
            free(m);
            set_error(ectx, "ValueError", "kernelfarm allocator: negative dimension");
            return -1;
        }
        shape[i] = proto->shape[i];
    }
    m->version.major = 1;
    m->version.minor = 0;
    m->deleter = pool_deleter;
    m->dl_tensor.device = proto->device;
    m->dl_tensor.ndim = nd;
    m->dl_tensor.dtype = proto->dtype;
    m->dl_tensor.shape = shape;
    m->dl_tensor.strides = NULL;
    m->dl_tensor.data = pool_get(dl_nbytes(&m->dl_tensor));
    if (!m->dl_tensor.data) {
        free(m);
        set_error(ectx, "RuntimeError", "kernelfarm allocator: out of memory");
        return -1;
    }
    *out = m;
    return 0;
}

static void no_delete(struct ev_dl_managed *m)
{
    (void)m;
}

static struct ev_dl_dtype dl_dtype(enum kf_dtype dt)
{
    struct ev_dl_dtype d = {EV_DL_FLOAT, 32, 1};
    switch (dt) {
    case KF_DT_F32: d.code = EV_DL_FLOAT; d.bits = 32; break;
    case KF_DT_F16: d.code = EV_DL_FLOAT; d.bits = 16; break;
    case KF_DT_BF16: d.code = EV_DL_BFLOAT; d.bits = 16; break;
    case KF_DT_F8E4M3: d.code = EV_DL_FLOAT8_E4M3FN; d.bits = 8; break;
    case KF_DT_F8E5M2: d.code = EV_DL_FLOAT8_E5M2; d.bits = 8; break;
    case KF_DT_F4E2M1: d.code = EV_DL_FLOAT4_E2M1FN; d.bits = 4; break;
    case KF_DT_I64: d.code = EV_DL_INT; d.bits = 64; break;
    case KF_DT_I32: d.code = EV_DL_INT; d.bits = 32; break;
    case KF_DT_I16: d.code = EV_DL_INT; d.bits = 16; break;
    case KF_DT_I8: d.code = EV_DL_INT; d.bits = 8; break;
    case KF_DT_BOOL: d.code = EV_DL_BOOL; d.bits = 8; break;
    default: break;
    }
    return d;
}

/* "bfloat16" for a dtype we know, else "code C bits B lanes L". */
static void dl_dtype_str(struct ev_dl_dtype d, char *buf, size_t n)
{
    for (int t = KF_DT_F32; t < KF_DT_COUNT; t++) {
        struct ev_dl_dtype x = dl_dtype((enum kf_dtype)t);
        if (x.code == d.code && x.bits == d.bits && d.lanes == 1) {
            snprintf(buf, n, "%s", kf_dtype_name((enum kf_dtype)t));
            return;
        }
    }
    snprintf(buf, n, "DLPack code %u bits %u lanes %u", d.code, d.bits, d.lanes);
}

static void shape_str(const int64_t *dims, int nd, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < nd && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)dims[i]);
    if (k < n)
        snprintf(buf + k, n - k, "]");
}

static void set_fail(struct tv_lane *L, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_fail(struct tv_lane *L, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->errmsg, sizeof L->errmsg, fmt, ap);
    va_end(ap);
    L->errstatus = status;
    L->has_err = 1;
}

/* The error the last failed tvm-ffi call raised, as "Kind: message". */
static void take_ffi_error(struct tv_lane *L, const char *what)
{
    void *e = NULL;
    if (L->err_move)
        L->err_move(&e);
    if (e && ((struct ev_ffi_object *)e)->type_index == EV_FFI_ERROR) {
        struct ev_ffi_error_cell *c = EV_FFI_PAYLOAD(e);
        set_fail(L, KF_ST_RUNTIME_ERROR, "%s: %.*s: %.*s", what, (int)(c->kind.size < 100 ? c->kind.size : 100),
                 c->kind.data ? c->kind.data : "", (int)(c->message.size < 800 ? c->message.size : 800),
                 c->message.data ? c->message.data : "");
    } else {
        set_fail(L, KF_ST_RUNTIME_ERROR, "%s failed without an error object", what);
    }
    if (e && L->decref)
        L->decref(e);
}

static void release_any(struct tv_lane *L, struct ev_ffi_any *a)
{
    if (a->type_index >= EV_FFI_STATIC_OBJECT_BEGIN && a->v.v_obj && L->decref)
        L->decref(a->v.v_obj);
    memset(a, 0, sizeof *a);
}

static void tv_unbind(void *lp, int ctx_lost)
{
    struct tv_lane *L = lp;
    if (!L)
        return;
    if (!ctx_lost)
        release_any(L, &L->result);
    for (int i = 0; i < L->ntensors; i++)
        if (L->tensors[i].obj && L->decref)
            L->decref(L->tensors[i].obj);
    free(L->tensors);
    free(L->args);
    free(L->outs);
    L->tensors = NULL;
    L->args = NULL;
    L->outs = NULL;
    L->ntensors = L->nargs = L->nouts = 0;
}

static void tv_close(void *lp, int ctx_lost)
{
    struct tv_lane *L = lp;
    if (!L)
        return;
    tv_unbind(L, ctx_lost);
    pool_drain(ctx_lost);
    /* The library stays mapped: tensors it made may still be referenced
     * by tvm-ffi's own state, and the process ends soon after. */
    free(L);
}

int ev_tvmffi_open_on(int device_type, int device_id, const struct kf_solution *sol,
                      const struct kf_definition *def, char *const *artifacts, int nartifacts,
                      void **lane, struct kf_err *err)
{
    struct tv_lane *L;
    char sym[300];
    ev_ffi_set_alloc_fn set_alloc;
    *lane = NULL;
    if (nartifacts != 1 || !artifacts || !artifacts[0])
        return kf_err_set(err, KF_EIO, NULL, "the tvm-ffi lane needs one shared object");
    L = xcalloc(1, sizeof *L);
    L->dev_type = device_type;
    L->dev_id = device_id;
    L->def = def;
    L->dps = !sol->spec.has_dps || sol->spec.destination_passing_style;
    L->dl = dlopen(artifacts[0], RTLD_NOW | RTLD_LOCAL);
    if (!L->dl) {
        const char *e = dlerror();
        kf_err_set(err, KF_EINVAL, NULL, "cannot load the shared object: %s", e ? e : "?");
        free(L);
        return KF_EINVAL;
    }
    snprintf(sym, sizeof sym, "__tvm_ffi_%s", entry_symbol(sol));
    *(void **)&L->fn = dlsym(L->dl, sym);
    *(void **)&L->set_stream = dlsym(L->dl, "TVMFFIEnvSetStream");
    *(void **)&L->err_move = dlsym(L->dl, "TVMFFIErrorMoveFromRaised");
    *(void **)&L->decref = dlsym(L->dl, "TVMFFIObjectDecRef");
    *(void **)&L->from_dlpack = dlsym(L->dl, "TVMFFITensorFromDLPackVersioned");
    *(void **)&set_alloc = dlsym(L->dl, "TVMFFIEnvSetDLPackManagedTensorAllocator");
    if (!L->fn) {
        kf_err_set(err, KF_EINVAL, "spec.entry_point",
                   "the shared object exports no %s: export the function with "
                   "TVM_FFI_DLL_EXPORT_TYPED_FUNC(%s, ...)", sym, entry_symbol(sol));
        goto fail;
    }
    if (!L->set_stream || !L->err_move || !L->decref || !L->from_dlpack || !set_alloc) {
        kf_err_set(err, KF_EINVAL, NULL,
                   "the shared object does not reach libtvm_ffi (TVMFFIEnvSetStream, "
                   "TVMFFIErrorMoveFromRaised, ...): it must link -ltvm_ffi");
        goto fail;
    }
    g_pool.dev_type = device_type;
    if (set_alloc((ev_dl_allocator)pool_alloc, 1, NULL) != 0) {
        take_ffi_error(L, "TVMFFIEnvSetDLPackManagedTensorAllocator");
        kf_err_set(err, KF_EIO, NULL, "%s", L->errmsg);
        goto fail;
    }
    *lane = L;
    return 0;
fail:
    dlclose(L->dl);
    free(L);
    return err ? err->code : KF_EINVAL;
}

static int tv_open(struct ev_dev *d, const struct kf_solution *sol,
                   const struct kf_definition *def, char *const *artifacts, int nartifacts,
                   void **lane, struct kf_err *err)
{
    return ev_tvmffi_open_on(EV_DL_CUDA, d ? d->ordinal : 0, sol, def, artifacts, nartifacts,
                             lane, err);
}

/* A tvm-ffi Tensor over one of the judge's buffers (a DLTensor pointer if
 * libtvm_ffi cannot make one). */
static int wrap_tensor(struct tv_lane *L, const struct ev_tensor_desc *t, struct tv_tensor *w,
                       struct ev_ffi_any *arg)
{
    struct ev_dl_tensor *dt = &w->m.dl_tensor;
    if (t->ndim < 0 || t->ndim > KF_MAX_DIMS)
        return -1;
    w->m.version.major = 1;
    w->m.version.minor = 0;
    w->m.deleter = no_delete;
    dt->data = (void *)(uintptr_t)t->ptr;
    dt->device.device_type = L->dev_type;
    dt->device.device_id = L->dev_id;
    dt->ndim = t->ndim;
    dt->dtype = dl_dtype(t->dtype);
    for (int i = 0; i < t->ndim; i++)
        w->shape[i] = t->dims[i];
    for (int i = t->ndim - 1; i >= 0; i--)
        w->strides[i] = i == t->ndim - 1 ? 1 : w->strides[i + 1] * (w->shape[i + 1] ? w->shape[i + 1] : 1);
    dt->shape = w->shape;
    dt->strides = w->strides;
    dt->byte_offset = 0;
    if (L->from_dlpack(&w->m, 0, 0, &w->obj) == 0 && w->obj) {
        arg->type_index = EV_FFI_TENSOR;
        arg->v.v_obj = w->obj;
    } else {
        void *e = NULL;
        L->err_move(&e);    /* drop it: the pointer form still works for TensorView */
        if (e)
            L->decref(e);
        w->obj = NULL;
        arg->type_index = EV_FFI_DLTENSOR_PTR;
        arg->v.v_ptr = dt;
    }
    return 0;
}

static int tv_bind(void *lp, const struct ev_call_desc *c, CUresult *cu, struct kf_err *err)
{
    struct tv_lane *L = lp;
    const struct kf_definition *d = c->def;
    int n = d->ninputs + (L->dps ? d->noutputs : 0);
    *cu = CUDA_SUCCESS;
    tv_unbind(L, 0);
    L->args = xcalloc((size_t)n + 1, sizeof *L->args);
    L->tensors = xcalloc((size_t)n + 1, sizeof *L->tensors);
    L->outs = xcalloc((size_t)d->noutputs + 1, sizeof *L->outs);
    L->nargs = n;
    for (int i = 0; i < d->ninputs; i++) {
        const struct ev_tensor_desc *t = &c->in[i];
        struct ev_ffi_any *a = &L->args[i];
        if (t->is_scalar) {
            if (kf_dtype_is_float(t->dtype)) {
                a->type_index = EV_FFI_FLOAT;
                a->v.v_float64 = t->scalar_f;
            } else if (t->dtype == KF_DT_BOOL) {
                a->type_index = EV_FFI_BOOL;
                a->v.v_int64 = t->scalar_i != 0;
            } else {
                a->type_index = EV_FFI_INT;
                a->v.v_int64 = t->scalar_i;
            }
        } else if (!t->ptr) {
            a->type_index = EV_FFI_NONE;
        } else if (wrap_tensor(L, t, &L->tensors[L->ntensors++], a) != 0) {
            return kf_err_set(err, KF_EINVAL, t->name, "input '%s' has %d dimensions", t->name,
                              t->ndim);
        }
    }
    for (int o = 0; o < d->noutputs; o++) {
        const struct ev_tensor_desc *t = &c->out[o];
        struct tv_out *w = &L->outs[o];
        w->name = t->name;
        w->ptr = t->ptr;
        w->nbytes = t->nbytes;
        w->dtype = t->dtype;
        w->ndim = t->ndim;
        memcpy(w->dims, t->dims, sizeof w->dims);
        L->nouts++;
        if (L->dps && wrap_tensor(L, t, &L->tensors[L->ntensors++], &L->args[d->ninputs + o]))
            return kf_err_set(err, KF_EINVAL, t->name, "output '%s' has %d dimensions",
                              t->name, t->ndim);
    }
    return 0;
}

static CUresult tv_run(void *lp, CUstream s)
{
    struct tv_lane *L = lp;
    int rc;
    L->has_err = 0;
    release_any(L, &L->result);
    if (L->set_stream(L->dev_type, L->dev_id, s, NULL) != 0) {
        take_ffi_error(L, "TVMFFIEnvSetStream");
        return CUDA_ERROR_INVALID_VALUE;
    }
    rc = L->fn(NULL, L->args, L->nargs, &L->result);
    if (rc != 0) {
        memset(&L->result, 0, sizeof L->result);
        take_ffi_error(L, "the solution raised");
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (L->dps)
        release_any(L, &L->result);   /* whatever a DPS function returns is ignored, as in FIB */
    return CUDA_SUCCESS;
}

/* Check one returned tensor against output o and copy it. */
static CUresult collect_one(struct tv_lane *L, const struct ev_ffi_any *a, int o, CUstream s)
{
    const struct tv_out *w = &L->outs[o];
    const struct ev_dl_tensor *t;
    struct ev_dl_dtype want = dl_dtype(w->dtype);
    char got_s[80], want_s[80];
    if (a->type_index == EV_FFI_TENSOR && a->v.v_obj) {
        t = EV_FFI_PAYLOAD(a->v.v_obj);
    } else if (a->type_index == EV_FFI_DLTENSOR_PTR && a->v.v_ptr) {
        t = a->v.v_ptr;
    } else {
        set_fail(L, KF_ST_RUNTIME_ERROR,
                 "output '%s': the solution returned a value of tvm-ffi type index %d, not a "
                 "tensor (destination_passing_style is false)", w->name, a->type_index);
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (t->dtype.code != want.code || t->dtype.bits != want.bits || t->dtype.lanes != 1) {
        dl_dtype_str(t->dtype, got_s, sizeof got_s);
        set_fail(L, KF_ST_INCORRECT_DTYPE, "output '%s': returned dtype %s, expected %s", w->name,
                 got_s, kf_dtype_name(w->dtype));
        return CUDA_ERROR_INVALID_VALUE;
    }
    int same = t->ndim == w->ndim;
    for (int i = 0; same && i < w->ndim; i++)
        same = t->shape[i] == w->dims[i];
    if (!same) {
        shape_str(t->shape, t->ndim > KF_MAX_DIMS ? KF_MAX_DIMS : (t->ndim < 0 ? 0 : t->ndim),
                  got_s, sizeof got_s);
        shape_str(w->dims, w->ndim, want_s, sizeof want_s);
        set_fail(L, KF_ST_INCORRECT_SHAPE, "output '%s': returned shape %s%s, expected %s",
                 w->name, got_s, t->ndim > KF_MAX_DIMS ? "..." : "", want_s);
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (t->device.device_type != L->dev_type) {
        set_fail(L, KF_ST_RUNTIME_ERROR, "output '%s': returned on DLPack device type %d, not %d",
                 w->name, t->device.device_type, L->dev_type);
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (t->strides) {
        int64_t expect = 1;
        for (int i = t->ndim - 1; i >= 0; i--) {
            if (t->shape[i] != 1 && t->strides[i] != expect) {
                set_fail(L, KF_ST_RUNTIME_ERROR,
                         "output '%s': the returned tensor is not contiguous", w->name);
                return CUDA_ERROR_INVALID_VALUE;
            }
            expect *= t->shape[i];
        }
    }
    if (dl_nbytes(t) != w->nbytes) {
        set_fail(L, KF_ST_INCORRECT_SHAPE, "output '%s': returned %zu bytes, expected %zu",
                 w->name, dl_nbytes(t), w->nbytes);
        return CUDA_ERROR_INVALID_VALUE;
    }
    uintptr_t src = (uintptr_t)t->data + (uintptr_t)t->byte_offset;
    if (src == (uintptr_t)w->ptr || w->nbytes == 0)
        return CUDA_SUCCESS;
    if (L->dev_type == EV_DL_CUDA)
        return cuMemcpyDtoDAsync(w->ptr, (CUdeviceptr)src, w->nbytes, s);
    memcpy((void *)(uintptr_t)w->ptr, (const void *)src, w->nbytes);
    return CUDA_SUCCESS;
}

static CUresult tv_collect(void *lp, CUstream s)
{
    struct tv_lane *L = lp;
    const struct ev_ffi_any *items = &L->result;
    int64_t n = 1;
    CUresult r = CUDA_SUCCESS;
    if (L->dps || L->has_err)
        return L->has_err ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
    if (L->result.type_index == EV_FFI_ARRAY || L->result.type_index == EV_FFI_LIST) {
        struct ev_ffi_seq_cell *c = EV_FFI_PAYLOAD(L->result.v.v_obj);
        items = c->data;
        n = c->size;
    } else if (L->nouts != 1 && L->result.type_index == EV_FFI_NONE) {
        n = 0;
    }
    if (n != L->nouts) {
        set_fail(L, KF_ST_RUNTIME_ERROR,
                 "the solution returned %lld value%s for %d output%s (destination_passing_style "
                 "false: return a tensor, or a tuple of tensors in definition order)",
                 (long long)n, n == 1 ? "" : "s", L->nouts, L->nouts == 1 ? "" : "s");
        release_any(L, &L->result);
        return CUDA_ERROR_INVALID_VALUE;
    }
    for (int o = 0; o < L->nouts && r == CUDA_SUCCESS; o++)
        r = collect_one(L, &items[o], o, s);
    release_any(L, &L->result);
    return r;
}

static const char *tv_last_error(void *lp, int *status)
{
    struct tv_lane *L = lp;
    if (!L || !L->has_err)
        return NULL;
    if (status)
        *status = L->errstatus;
    return L->errmsg;
}

const struct ev_lane_ops ev_lane_tvmffi = {
    .name = "tvm-ffi",
    .build = tv_build,
    .open = tv_open,
    .bind = tv_bind,
    .run = tv_run,
    .unbind = tv_unbind,
    .close = tv_close,
    .collect = tv_collect,
    .last_error = tv_last_error,
};
