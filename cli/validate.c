/* validate.c: `kf validate FILE... [--kind K] [--dataset DIR]`: strict
 * validation of FlashInfer-Trace documents with lib/model.h. Each file is one
 * JSON document, or with a .jsonl name one document per non-empty line. The
 * kind (definition, workload, solution, trace) is detected from the fields or
 * forced with --kind. Workloads, solutions and traces are also checked
 * against their definition when it can be found: among the definitions
 * validated earlier in the same run, then in --dataset DIR, $FIB_DATASET_PATH
 * and the bundled dataset/ (each as DIR/definitions/[<op_type>/]<name>.json).
 *
 * With --url, a definition found nowhere else is fetched from that
 * kf-server (GET /definitions/{name}). A solution whose definition is found
 * nowhere is an error. The sources of an nvrtc-lane solution are compiled
 * with NVRTC (no GPU needed; --arch, default sm_90a); those of a tvm-ffi
 * solution with nvcc when nvcc and the tvm-ffi headers are found
 * (TVM_FFI_INCLUDE, or the tvm_ffi Python package), else a note says they
 * were not compiled. --no-compile skips both.
 *
 * Output: `ok <kind> <name>` on stdout per valid document (name, or uuid for
 * workloads and traces); `error <file>[:<line>]: <json-path>: <reason>` on
 * stderr per invalid one; with --json one JSON object on stdout instead
 * ({ok, errors, documents: [{file, line, kind, name, status, path,
 * message}]}). Exit 0 if all were valid, 1 if not, 2 on usage errors.
 * Single-threaded.
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "bind.h"
#include "commands.h"
#include "http.h"
#include "nvrtc_build.h"
#include "dataset.h"
#include "jsonio.h"
#include "kf_err.h"
#include "model.h"
#include "safetensors.h"
#include "xalloc.h"

#ifndef KF_SOURCE_DIR
#define KF_SOURCE_DIR "."
#endif

#define VALIDATE_MAX_FILE (256u << 20)   /* a .jsonl of traces can be large */
#define VALIDATE_MAX_LINE (64u << 20)
#define VALIDATE_MAX_BLOB ((size_t)4 << 30)

/* Definitions known to this run: name -> parsed definition (NULL = looked up,
 * not found). */
struct def_entry {
    char *name;
    struct kf_definition *def;
};

struct vctx {
    const char *kind;             /* forced kind or NULL */
    const char *roots[3];         /* dataset roots to search, NULL-terminated */
    int nroots;
    struct def_entry *defs; int ndefs, cap;
    int nok, nerr;
    const char *url;              /* kf-server to ask for definitions, or NULL */
    const char *arch;             /* NVRTC target */
    bool compile;                 /* compile solution sources */
    json_t *out;                  /* --json: documents reported so far, else NULL */
};

/* --json: one entry per document */
static void json_report(struct vctx *c, const char *file, int line, const char *kind,
                        const char *name, const char *status, const char *path, const char *msg)
{
    json_t *o = json_pack("{s:s, s:o, s:s?, s:s?, s:s}", "file", file, "line",
                          line > 0 ? json_integer(line) : json_null(), "kind", kind, "name", name,
                          "status", status);
    if (path)
        json_object_set_new(o, "path", json_string(path[0] ? path : "$"));
    if (msg)
        json_object_set_new(o, "message", json_string(msg));
    json_array_append_new(c->out, o);
}

static void vusage(FILE *f)
{
    fprintf(f,
            "usage: kf validate [--kind definition|workload|solution|trace] [--dataset DIR] [--url URL]\n"
            "                   [--arch ARCH] [--no-compile] [--json] FILE...\n"
            "       kf validate --dataset DIR [--json]\n\n"
            "Validate FlashInfer-Trace documents. A .jsonl file is validated line by line.\n"
            "The kind is detected from the document's fields unless --kind is given.\n"
            "Workloads, solutions and traces are also checked against their definition\n"
            "when it is found: definitions given earlier on the same command line, then\n"
            "DIR/definitions/ for --dataset DIR, $FIB_DATASET_PATH and the bundled dataset/.\n\n"
            "Prints `ok <kind> <name>` per valid document and exits 0; otherwise prints\n"
            "`error <file>[:<line>]: <json-path>: <reason>` per invalid one and exits 1.\n"
            "A solution whose definition is found nowhere is an error.\n\n"
            "  --url URL      also look definitions up on this kf-server (GET /definitions/NAME)\n"
            "  --arch ARCH    NVRTC target for nvrtc-lane solutions (default sm_90a)\n"
            "  --no-compile   do not compile solution sources (NVRTC for the nvrtc lane; nvcc\n"
            "                 for tvm-ffi, only when nvcc and the tvm-ffi headers are found)\n"
            "  --json         one JSON object on stdout: {ok, errors, documents: [...]}\n\n"
            "With --dataset DIR and no FILE, checks the whole dataset instead: it must load\n"
            "(every workload checked against its definition), and every safetensors input\n"
            "must exist and hold its tensor with the dtype and shape the definition gives\n"
            "for that workload's axes. Prints `ok dataset <definition> <n> workloads`.\n");
}

static void report_error(struct vctx *c, const char *file, int line, const char *path,
                         const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void report_error(struct vctx *c, const char *file, int line, const char *path,
                         const char *fmt, ...)
{
    va_list ap;
    c->nerr++;
    if (c->out) {
        char msg[2048];
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        json_report(c, file, line, NULL, NULL, "error", path ? path : "", msg);
        return;
    }
    fflush(stdout);   /* keep ok/error lines in order when both go to one place */
    if (line > 0)
        fprintf(stderr, "error %s:%d: %s: ", file, line, path && path[0] ? path : "$");
    else
        fprintf(stderr, "error %s: %s: ", file, path && path[0] ? path : "$");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void report_kf_err(struct vctx *c, const char *file, int line, const struct kf_err *e)
{
    report_error(c, file, line, e->path, "%s", e->msg[0] ? e->msg : kf_strerror(e->code));
}

static void report_ok(struct vctx *c, const char *file, int line, const char *kind,
                      const char *name)
{
    c->nok++;
    if (c->out) {
        json_report(c, file, line, kind, name, "ok", NULL, NULL);
        return;
    }
    printf("ok %s %s\n", kind, name && name[0] ? name : "-");
}

static struct def_entry *def_slot(struct vctx *c, const char *name)
{
    for (int i = 0; i < c->ndefs; i++)
        if (strcmp(c->defs[i].name, name) == 0)
            return &c->defs[i];
    return NULL;
}

/* Remember a definition (steals d); replaces a negative entry. */
static void def_remember(struct vctx *c, const char *name, struct kf_definition *d)
{
    struct def_entry *e = def_slot(c, name);
    if (e) {
        kf_definition_free(e->def);
        e->def = d;
        return;
    }
    if (c->ndefs == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 8;
        c->defs = xrealloc(c->defs, (size_t)c->cap * sizeof *c->defs);
    }
    c->defs[c->ndefs].name = xstrdup(name);
    c->defs[c->ndefs].def = d;
    c->ndefs++;
}

static int has_json_suffix(const char *s)
{
    size_t n = strlen(s);
    return n > 5 && strcmp(s + n - 5, ".json") == 0;
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Parse a definition file; NULL (with a warning) if it is not one. */
static struct kf_definition *def_load(const char *path, const char *name)
{
    struct kf_err err = {0};
    struct kf_definition *d = NULL;
    json_t *j = kf_json_load_file(path, 0, &err);
    if (!j || kf_definition_from_json(j, &d, &err) != 0) {
        fprintf(stderr, "warning %s: %s: %s (not used to check documents of %s)\n", path,
                err.path[0] ? err.path : "$", err.msg, name);
        d = NULL;
    } else if (strcmp(d->name, name) != 0) {
        kf_definition_free(d);
        d = NULL;
    }
    json_decref(j);
    return d;
}

/* The name field of a JSON file, if it has one (new string) or NULL. */
static char *json_name_of(const char *path)
{
    struct kf_err err = {0};
    json_t *j = kf_json_load_file(path, 0, &err);
    const char *n = json_string_value(json_object_get(j, "name"));
    char *out = n ? xstrdup(n) : NULL;
    json_decref(j);
    return out;
}

/* Search root/definitions/[<op_type>/]<name>.json, then any definition file
 * under root/definitions/ whose "name" is name. */
static struct kf_definition *def_search_root(const char *root, const char *name)
{
    struct kf_definition *d = NULL;
    char *base = xasprintf("%s/definitions", root);
    char *p = xasprintf("%s/%s.json", base, name);
    if (is_file(p))
        d = def_load(p, name);
    free(p);
    for (int pass = 0; pass < 2 && !d; pass++) {
        DIR *dir = opendir(base);
        struct dirent *de;
        while (dir && !d && (de = readdir(dir)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            char *sub = xasprintf("%s/%s", base, de->d_name);
            if (pass == 0) {   /* by file name */
                p = xasprintf("%s/%s.json", sub, name);
                if (is_file(p))
                    d = def_load(p, name);
                free(p);
            } else {           /* by content, for files not named after their definition */
                DIR *d2 = opendir(sub);
                struct dirent *e2;
                if (!d2 && has_json_suffix(de->d_name)) {
                    char *n = json_name_of(sub);
                    if (n && strcmp(n, name) == 0)
                        d = def_load(sub, name);
                    free(n);
                }
                while (d2 && !d && (e2 = readdir(d2)) != NULL) {
                    if (e2->d_name[0] == '.' || !has_json_suffix(e2->d_name))
                        continue;
                    p = xasprintf("%s/%s", sub, e2->d_name);
                    char *n = json_name_of(p);
                    if (n && strcmp(n, name) == 0)
                        d = def_load(p, name);
                    free(n);
                    free(p);
                }
                if (d2)
                    closedir(d2);
            }
            free(sub);
        }
        if (dir)
            closedir(dir);
    }
    free(base);
    return d;
}

/* GET /definitions/{name} from the --url server; NULL if absent there. */
static struct kf_definition *def_from_server(const char *name)
{
    char path[400];
    struct kf_http_resp r;
    struct kf_definition *d = NULL;
    struct kf_err err = {0};
    size_t o = (size_t)snprintf(path, sizeof path, "/definitions/");
    for (const char *p = name; *p && o + 4 < sizeof path; p++) {
        unsigned char ch = (unsigned char)*p;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.')
            path[o++] = (char)ch;
        else
            o += (size_t)snprintf(path + o, sizeof path - o, "%%%02X", ch);
    }
    path[o] = '\0';
    if (kf_http_request("GET", path, NULL, 0, 30, &r))
        return NULL;
    json_t *j = r.status == 200 ? kf_http_json(&r, true) : NULL;
    if (r.status != 200 && r.status != 404)
        kf_http_json(&r, false);   /* prints the server's error */
    free(r.body);
    if (j && kf_definition_from_json(j, &d, &err) != 0) {
        fprintf(stderr, "kf validate: %s%s: the server's definition %s is invalid: %s\n",
                kf_http_base(), path, name, err.msg);
        d = NULL;
    }
    json_decref(j);
    return d;
}

/* The definition called name, or NULL (borrowed from the context). */
static const struct kf_definition *def_find(struct vctx *c, const char *name)
{
    struct def_entry *e = def_slot(c, name);
    if (e)
        return e->def;
    struct kf_definition *d = NULL;
    for (int i = 0; i < c->nroots && !d; i++)
        d = def_search_root(c->roots[i], name);
    if (!d && c->url)
        d = def_from_server(name);
    def_remember(c, name, d);
    return d;
}

/* Where definitions were looked for, for the error message. */
static void where_searched(const struct vctx *c, char *buf, size_t n)
{
    size_t o = 0;
    for (int i = 0; i < c->nroots && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%s/definitions", i ? ", " : "", c->roots[i]);
    if (c->url && o < n)
        snprintf(buf + o, n - o, ", %s/definitions", kf_http_base());
}

/* Run a command line (argv[0] searched in PATH unless absolute); its
 * output goes into *log (new). Returns the exit status, -1 if it could not
 * run. */
static int run_tool(char *const argv[], char **log)
{
    char *cmd = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&cmd, &len);
    for (int i = 0; argv[i]; i++) {
        fputs(i ? " '" : "'", m);
        for (const char *p = argv[i]; *p; p++)
            *p == '\'' ? fputs("'\\''", m) : fputc(*p, m);
        fputc('\'', m);
    }
    fputs(" 2>&1", m);
    fclose(m);
    FILE *p = popen(cmd, "r");
    free(cmd);
    if (!p)
        return -1;
    char *out = NULL;
    size_t olen = 0;
    FILE *o = open_memstream(&out, &olen);
    char buf[4096];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, p)) > 0)
        fwrite(buf, 1, got, o);
    fclose(o);
    int st = pclose(p);
    *log = out;
    return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* tvm-ffi headers: $TVM_FFI_INCLUDE, else the tvm_ffi Python package. */
static char *tvm_ffi_include(void)
{
    const char *e = getenv("TVM_FFI_INCLUDE");
    if (e && *e)
        return xstrdup(e);
    char *out = NULL;
    char *const argv[] = {"python3", "-c",
                          "import tvm_ffi.libinfo as l; print(l.find_include_path())", NULL};
    if (run_tool(argv, &out) != 0) {
        free(out);
        return NULL;
    }
    size_t n = strlen(out);
    while (n && (out[n - 1] == '\n' || out[n - 1] == ' '))
        out[--n] = '\0';
    char *hdr = xasprintf("%s/tvm/ffi/c_api.h", out);
    struct stat st;
    bool ok = stat(hdr, &st) == 0;
    free(hdr);
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

/* Compile a solution's sources as its lane would; 0 if they compile or
 * cannot be compiled here (then a note), else an error is reported. */
static int compile_solution(struct vctx *c, const char *file, int line,
                            const struct kf_solution *s)
{
    const char *binding = s->spec.binding ? s->spec.binding : "";
    if (strcmp(binding, "nvrtc") == 0) {
        struct ev_build b = {0};
        struct kf_err err = {0};
        int rc = ev_nvrtc_build(s, c->arch, NULL, &b, &err);
        if (rc) {
            report_error(c, file, line, "sources", "NVRTC %s (%s) cannot compile it: %s%s%s",
                         ev_nvrtc_version(), c->arch, err.msg, b.log && b.log[0] ? "\n" : "",
                         b.log ? b.log : "");
        }
        ev_build_free(&b);
        return rc ? -1 : 0;
    }
    if (strcmp(binding, "tvm-ffi") != 0)
        return 0;
    const char *cuda = getenv("CUDA_HOME");
    char *nvcc = xasprintf("%s/bin/nvcc", cuda && *cuda ? cuda : "/usr/local/cuda");
    char *inc = tvm_ffi_include();
    struct stat st;
    int rc = 0;
    if (stat(nvcc, &st) != 0 || !inc) {
        if (!c->out)
            fprintf(stderr, "note %s: tvm-ffi sources not compiled: %s not found\n", file,
                    !inc ? "the tvm-ffi headers (TVM_FFI_INCLUDE or the tvm_ffi package) are"
                         : "nvcc is");
        goto out;
    }
    char dir[] = "/tmp/kf-validate-XXXXXX";
    if (!mkdtemp(dir)) {
        report_error(c, file, line, "sources", "cannot make a temporary directory");
        rc = -1;
        goto out;
    }
    for (int i = 0; i < s->nsources && !rc; i++) {
        char *p = xasprintf("%s/%s", dir, s->sources[i].path);
        for (char *q = strchr(p + strlen(dir) + 1, '/'); q; q = strchr(q + 1, '/')) {
            *q = '\0';
            mkdir(p, 0700);
            *q = '/';
        }
        FILE *f = fopen(p, "w");
        if (f) {
            fputs(s->sources[i].content, f);
            fclose(f);
        }
        free(p);
    }
    for (int i = 0; i < s->nsources && !rc; i++) {
        const char *sp = s->sources[i].path;
        size_t n = strlen(sp);
        if (n < 3 || strcmp(sp + n - 3, ".cu") != 0)
            continue;
        char *src = xasprintf("%s/%s", dir, sp), *incf = xasprintf("-I%s", inc);
        char *incd = xasprintf("-I%s", dir), *out = NULL;
        char *const argv[] = {nvcc, "-std=c++17", "-c", incf, incd, src, "-o", "/dev/null", NULL};
        int st2 = run_tool(argv, &out);
        if (st2 != 0)
            report_error(c, file, line, "sources", "nvcc cannot compile %s:\n%s", sp,
                         out ? out : "");
        rc = st2 ? -1 : 0;
        free(out);
        free(src);
        free(incf);
        free(incd);
    }
    char *rm[] = {"rm", "-rf", dir, NULL};
    char *junk = NULL;
    run_tool(rm, &junk);
    free(junk);
out:
    free(nvcc);
    free(inc);
    return rc;
}

static void note_unchecked(const char *file, int line, const char *what, const char *def)
{
    fflush(stdout);
    if (line > 0)
        fprintf(stderr, "note %s:%d: definition %s not found; %s checked on its own\n", file,
                line, def, what);
    else
        fprintf(stderr, "note %s: definition %s not found; %s checked on its own\n", file, def,
                what);
}

static void validate_definition(struct vctx *c, const char *file, int line, const json_t *j)
{
    struct kf_err err = {0};
    struct kf_definition *d = NULL;
    if (kf_definition_from_json(j, &d, &err) != 0) {
        report_kf_err(c, file, line, &err);
        return;
    }
    report_ok(c, file, line, "definition", d->name);
    char *name = xstrdup(d->name);
    def_remember(c, name, d);   /* later documents in this run check against it */
    free(name);
}

static const void *no_data(void *ctx, int input_index)
{
    (void)ctx;
    (void)input_index;
    return NULL;
}

/* Constraints document valid inputs; flashinfer-bench does not enforce them
 * (the contest's own DSA indexer workloads break one), so a violation is a
 * warning, not an error. Constraints that need tensor data are skipped. */
static void warn_constraints(const char *file, int line, const struct kf_workload *w,
                             const struct kf_definition *d)
{
    struct kf_binding *b = NULL;
    struct kf_err err = {0};
    if (kf_bind(d, w, 0, &b, &err) == 0 && kf_binding_check_constraints(b, no_data, NULL, &err) != 0) {
        fflush(stdout);
        if (line > 0)
            fprintf(stderr, "warning %s:%d: %s: %s\n", file, line, err.path[0] ? err.path : "$", err.msg);
        else
            fprintf(stderr, "warning %s: %s: %s\n", file, err.path[0] ? err.path : "$", err.msg);
    }
    kf_binding_free(b);
}

static void validate_workload(struct vctx *c, const char *file, int line, const json_t *j)
{
    struct kf_err err = {0};
    struct kf_workload *w = NULL;
    char *defname = NULL;
    if (kf_workload_from_json(j, &w, &defname, &err) != 0) {
        report_kf_err(c, file, line, &err);
        goto out;
    }
    if (defname) {
        const struct kf_definition *d = def_find(c, defname);
        if (d && kf_workload_check(w, d, &err) != 0) {
            kf_err_prefix(&err, "workload");
            report_kf_err(c, file, line, &err);
            goto out;
        }
        if (d)
            warn_constraints(file, line, w, d);
        else
            note_unchecked(file, line, "workload", defname);
    }
    report_ok(c, file, line, "workload", w->uuid);
out:
    free(defname);
    kf_workload_free(w);
}

static void validate_solution(struct vctx *c, const char *file, int line, const json_t *j)
{
    struct kf_err err = {0};
    struct kf_solution *s = NULL;
    if (kf_solution_from_json(j, &s, &err) != 0) {
        report_kf_err(c, file, line, &err);
        goto out;
    }
    const struct kf_definition *d = def_find(c, s->definition);
    if (!d) {
        char where[1024];
        where_searched(c, where, sizeof where);
        report_error(c, file, line, "definition", "definition '%s' not found (looked in %s%s)",
                     s->definition, where, c->url ? "" : "; --url asks a kf-server");
        goto out;
    }
    if (kf_solution_check(s, d, &err) != 0) {
        report_kf_err(c, file, line, &err);
        goto out;
    }
    if (c->compile && compile_solution(c, file, line, s) != 0)
        goto out;
    report_ok(c, file, line, "solution", s->name);
out:
    kf_solution_free(s);
}

static void validate_trace(struct vctx *c, const char *file, int line, const json_t *j)
{
    struct kf_err err = {0};
    struct kf_workload *w = NULL;
    if (kf_trace_validate(j, &err) != 0) {
        report_kf_err(c, file, line, &err);
        return;
    }
    const json_t *jw = json_object_get(j, "workload");
    const char *defname = json_string_value(json_object_get(j, "definition"));
    const char *uuid = json_string_value(json_object_get(jw, "uuid"));
    if (defname && jw) {
        const struct kf_definition *d = def_find(c, defname);
        if (d) {
            if (kf_workload_from_json(jw, &w, NULL, &err) != 0 || kf_workload_check(w, d, &err) != 0) {
                kf_err_prefix(&err, "workload");
                report_kf_err(c, file, line, &err);
                kf_workload_free(w);
                return;
            }
            kf_workload_free(w);
        }
    }
    report_ok(c, file, line, "trace", uuid);
}

static void validate_doc(struct vctx *c, const char *file, int line, const json_t *j)
{
    const char *kind = c->kind ? c->kind : kf_model_detect_kind(j);
    if (!kind) {
        report_error(c, file, line, "$",
                     "cannot tell the kind of document (definition, workload, solution or trace);"
                     " use --kind");
        return;
    }
    if (strcmp(kind, "definition") == 0)
        validate_definition(c, file, line, j);
    else if (strcmp(kind, "workload") == 0)
        validate_workload(c, file, line, j);
    else if (strcmp(kind, "solution") == 0)
        validate_solution(c, file, line, j);
    else if (strcmp(kind, "trace") == 0)
        validate_trace(c, file, line, j);
    else
        report_error(c, file, line, "$", "unknown kind '%s'", kind);
}

static int has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

static void validate_jsonl(struct vctx *c, const char *file)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        report_error(c, file, 0, "$", "cannot open: %s", strerror(errno));
        return;
    }
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0, ndocs = 0;
    while ((n = getline(&buf, &cap, f)) >= 0) {
        lineno++;
        size_t len = (size_t)n;
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
                           buf[len - 1] == '\t'))
            len--;
        size_t start = 0;
        while (start < len && (buf[start] == ' ' || buf[start] == '\t'))
            start++;
        if (start == len)
            continue;   /* blank lines are allowed between records */
        ndocs++;
        if (len > VALIDATE_MAX_LINE) {
            report_error(c, file, lineno, "$", "line longer than %u bytes", VALIDATE_MAX_LINE);
            continue;
        }
        struct kf_err err = {0};
        json_t *j = kf_json_loadb(buf + start, len - start, &err);
        if (!j) {
            report_kf_err(c, file, lineno, &err);
            continue;
        }
        validate_doc(c, file, lineno, j);
        json_decref(j);
    }
    if (ferror(f))
        report_error(c, file, 0, "$", "read error: %s", strerror(errno));
    else if (ndocs == 0)
        report_error(c, file, 0, "$", "no JSON lines in the file");
    free(buf);
    fclose(f);
}

static void validate_file(struct vctx *c, const char *file)
{
    if (has_suffix(file, ".jsonl")) {
        validate_jsonl(c, file);
        return;
    }
    struct kf_err err = {0};
    json_t *j = kf_json_load_file(file, VALIDATE_MAX_FILE, &err);
    if (!j) {
        /* kf_json_load_file names the file in err.path; the location is in msg. */
        report_error(c, file, 0, "$", "%s", err.msg[0] ? err.msg : "cannot read");
        return;
    }
    validate_doc(c, file, 0, j);
    json_decref(j);
}

/* Check every safetensors input of one workload against its bound shape.
 * *cache holds the last blob read (workloads often share one). */
static void check_blobs(struct vctx *c, const struct kf_dataset *ds, const struct kf_dataset_def *dd,
                        int wi, char **cache_path, struct kf_safetensors **cache)
{
    const struct kf_workload *w = dd->workloads[wi];
    const char *file = dd->workloads_path ? dd->workloads_path : dd->path;
    struct kf_binding *b = NULL;
    struct kf_err err = {0};
    int line = wi + 1;   /* workloads are kept in file order, one per line */

    if (kf_bind(dd->def, w, 0, &b, &err) != 0) {
        kf_err_prefix(&err, "workload");
        report_kf_err(c, file, line, &err);
        return;
    }
    for (int i = 0; i < w->ninputs; i++) {
        const struct kf_workload_input *in = &w->inputs[i];
        char jp[160];
        if (in->kind != KF_IN_SAFETENSORS)
            continue;
        int idx = kf_definition_input_index(dd->def, in->name);
        char *abs = kf_dataset_blob_path(ds, in->path);
        snprintf(jp, sizeof jp, "workload.inputs.%.100s", in->name);
        if (!abs) {
            report_error(c, file, line, jp, "blob path '%s' leaves the dataset", in->path);
            continue;
        }
        if (!*cache_path || strcmp(*cache_path, abs) != 0) {
            kf_st_free(*cache);
            *cache = NULL;
            free(*cache_path);
            *cache_path = NULL;
            kf_err_clear(&err);
            if (kf_st_read(abs, VALIDATE_MAX_BLOB, cache, &err) != 0) {
                report_error(c, file, line, jp, "%s: %s", in->path, err.msg);
                free(abs);
                continue;
            }
            *cache_path = xstrdup(abs);
        }
        free(abs);
        const struct kf_st_tensor *t = kf_st_find(*cache, in->tensor_key);
        if (!t) {
            snprintf(jp, sizeof jp, "workload.inputs.%.100s.tensor_key", in->name);
            report_error(c, file, line, jp, "no tensor '%s' in %s", in->tensor_key, in->path);
            continue;
        }
        kf_err_clear(&err);
        if (idx >= 0 && kf_st_check(t, dd->def->inputs[idx].dtype, &b->inputs[idx], &err) != 0) {
            report_error(c, file, line, jp, "%s: %s", in->path, err.msg);
            continue;
        }
    }
    kf_binding_free(b);
}

static void validate_dataset(struct vctx *c, const char *root)
{
    struct kf_dataset *ds = NULL;
    struct kf_err err = {0};
    if (kf_dataset_load(root, &ds, &err) != 0) {
        /* the loader names "file[:line]" in path and "<json path>: <reason>" in msg */
        fflush(stdout);
        report_error(c, err.path[0] ? err.path : root, 0, "", "%s", err.msg);
        return;
    }
    char *cache_path = NULL;
    struct kf_safetensors *cache = NULL;
    for (int i = 0; i < ds->ndefs; i++) {
        const struct kf_dataset_def *dd = &ds->defs[i];
        int before = c->nerr;
        for (int k = 0; k < dd->nworkloads; k++)
            check_blobs(c, ds, dd, k, &cache_path, &cache);
        if (c->nerr == before) {
            if (c->out)
                json_report(c, dd->workloads_path ? dd->workloads_path : dd->path, 0, "dataset",
                            dd->def->name, "ok", NULL, NULL);
            else
                printf("ok dataset %s %d workloads\n", dd->def->name, dd->nworkloads);
            c->nok++;
        }
    }
    if (!c->out)
        printf("dataset %s: %d definitions, %d solutions\n", ds->root, ds->ndefs,
               ds->nsolutions);
    kf_st_free(cache);
    free(cache_path);
    kf_dataset_free(ds);
}

int kf_cmd_validate(int argc, char **argv)
{
    struct vctx c = {.arch = "sm_90a", .compile = true};
    const char *dataset = NULL;
    char **files = xcalloc((size_t)argc, sizeof *files);
    int nfiles = 0, rc = 2;
    bool js = false;

    if (kf_cli_wants_help(argc, argv)) {
        vusage(stdout);
        rc = 0;
        goto out;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--kind") == 0 && i + 1 < argc) {
            c.kind = argv[++i];
        } else if (strncmp(a, "--kind=", 7) == 0) {
            c.kind = a + 7;
        } else if (strcmp(a, "--dataset") == 0 && i + 1 < argc) {
            dataset = argv[++i];
        } else if (strncmp(a, "--dataset=", 10) == 0) {
            dataset = a + 10;
        } else if (strcmp(a, "--url") == 0 && i + 1 < argc) {
            c.url = argv[++i];
        } else if (strncmp(a, "--url=", 6) == 0) {
            c.url = a + 6;
        } else if (strcmp(a, "--arch") == 0 && i + 1 < argc) {
            c.arch = argv[++i];
        } else if (strcmp(a, "--no-compile") == 0) {
            c.compile = false;
        } else if (strcmp(a, "--json") == 0) {
            js = true;
        } else if (strcmp(a, "--") == 0) {
            while (++i < argc)
                files[nfiles++] = argv[i];
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "kf validate: unknown option '%s'\n", a);
            vusage(stderr);
            goto out;
        } else {
            files[nfiles++] = argv[i];
        }
    }
    if (c.kind && strcmp(c.kind, "definition") != 0 && strcmp(c.kind, "workload") != 0 &&
        strcmp(c.kind, "solution") != 0 && strcmp(c.kind, "trace") != 0) {
        fprintf(stderr, "kf validate: --kind must be definition, workload, solution or trace\n");
        goto out;
    }
    if (c.url && kf_http_set_base(c.url))
        goto out;
    if (js)
        c.out = json_array();
    if (nfiles == 0 && dataset) {
        validate_dataset(&c, dataset);
        rc = c.nerr ? 1 : 0;
        goto out;
    }
    if (nfiles == 0) {
        vusage(stderr);
        goto out;
    }
    if (dataset)
        c.roots[c.nroots++] = dataset;
    const char *env = getenv("FIB_DATASET_PATH");
    if (env && env[0])
        c.roots[c.nroots++] = env;
    c.roots[c.nroots++] = KF_SOURCE_DIR "/dataset";

    for (int i = 0; i < nfiles; i++)
        validate_file(&c, files[i]);
    rc = c.nerr ? 1 : 0;
out:
    if (c.out) {
        json_t *o = json_pack("{s:i, s:i, s:O}", "ok", c.nok, "errors", c.nerr, "documents",
                              c.out);
        char *t = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(t);
        free(t);
        json_decref(o);
        json_decref(c.out);
    }
    for (int i = 0; i < c.ndefs; i++) {
        free(c.defs[i].name);
        kf_definition_free(c.defs[i].def);
    }
    free(c.defs);
    free(files);
    return rc;
}
