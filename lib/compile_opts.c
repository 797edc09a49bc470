/* compile_opts.c: the spec.compile_options allow-list (see compile_opts.h).
 * Every flag is matched exactly or by a strict grammar, so nothing a user
 * writes can add a path, a plugin, an output file or a shell word to a
 * compiler command line.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile_opts.h"

#define MAX_FLAG_LEN 160

static bool is_ident(const char *s, size_t n)
{
    if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
            return false;
    return true;
}

static bool is_define_value(const char *s)
{
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '.' || *s == '+' || *s == '-'))
            return false;
    return true;
}

static bool bool_suffix(const char *flag, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(flag, prefix, n) == 0 &&
           (strcmp(flag + n, "true") == 0 || strcmp(flag + n, "false") == 0);
}

static bool ptxas_arg(const char *a)
{
    return strcmp(a, "-v") == 0 || (a[0] == '-' && a[1] == 'O' && a[2] >= '0' && a[2] <= '3' &&
                                    a[3] == 0);
}

int kf_copt_check(const char *f, enum kf_copt_lane lane, enum kf_copt_kind *kind,
                  const char **why)
{
    static const char *const device_exact[] = {
        "-use_fast_math", "--use_fast_math", "-lineinfo", "--generate-line-info", NULL,
    };
    *kind = KF_COPT_DEVICE;
    if (!f || !*f) {
        *why = "an empty flag";
        return KF_EINVAL;
    }
    if (strlen(f) > MAX_FLAG_LEN) {
        *why = "longer than 160 characters";
        return KF_EINVAL;
    }
    for (int i = 0; device_exact[i]; i++)
        if (strcmp(f, device_exact[i]) == 0)
            return 0;
    if (f[0] == '-' && f[1] == 'O' && f[2] >= '0' && f[2] <= '3' && f[3] == 0) {
        *kind = KF_COPT_HOST_AND_DEVICE;
        if (lane == KF_COPT_NVRTC) {
            *why = "not for the nvrtc lane (NVRTC has no -O level; device code is always "
                   "optimised)";
            return KF_EINVAL;
        }
        return 0;
    }
    if (strcmp(f, "--extended-lambda") == 0 || strcmp(f, "--expt-extended-lambda") == 0 ||
        strcmp(f, "--expt-relaxed-constexpr") == 0) {
        if (lane == KF_COPT_NVRTC) {
            *why = "not for the nvrtc lane (NVRTC does not accept it)";
            return KF_EINVAL;
        }
        return 0;
    }
    if (strncmp(f, "-D", 2) == 0) {
        const char *eq = strchr(f + 2, '=');
        size_t n = eq ? (size_t)(eq - (f + 2)) : strlen(f + 2);
        *kind = KF_COPT_HOST_AND_DEVICE;
        if (!is_ident(f + 2, n)) {
            *why = "-D needs a C identifier: -DNAME or -DNAME=VALUE";
            return KF_EINVAL;
        }
        if (eq && !is_define_value(eq + 1)) {
            *why = "a -D value may hold only letters, digits and _ . + -";
            return KF_EINVAL;
        }
        return 0;
    }
    if (strncmp(f, "--maxrregcount=", 15) == 0 || strncmp(f, "-maxrregcount=", 14) == 0) {
        const char *v = strchr(f, '=') + 1;
        char *end;
        long n = strtol(v, &end, 10);
        if (!isdigit((unsigned char)*v) || *end || n < 16 || n > 255) {
            *why = "--maxrregcount needs an integer from 16 to 255";
            return KF_EINVAL;
        }
        return 0;
    }
    if (strcmp(f, "-std=c++17") == 0 || strcmp(f, "-std=c++20") == 0) {
        *kind = KF_COPT_HOST_AND_DEVICE;
        return 0;
    }
    if ((strncmp(f, "-Xptxas=", 8) == 0 && ptxas_arg(f + 8)) ||
        (strncmp(f, "--ptxas-options=", 16) == 0 && ptxas_arg(f + 16)))
        return 0;
    if (bool_suffix(f, "-ftz=") || bool_suffix(f, "-prec-div=") ||
        bool_suffix(f, "-prec-sqrt=") || bool_suffix(f, "-fmad="))
        return 0;
    *why = "not on the allow-list (-O0..-O3, -use_fast_math, -lineinfo, -DNAME[=VALUE], "
           "--maxrregcount=N, -std=c++17|20, -Xptxas=-v, -ftz/-prec-div/-prec-sqrt/-fmad=true|"
           "false, --expt-relaxed-constexpr, --extended-lambda)";
    return KF_EINVAL;
}

int kf_solution_check_compile_options(const struct kf_solution *s, struct kf_err *err)
{
    const struct kf_solution_spec *sp = &s->spec;
    enum kf_copt_lane lane = KF_COPT_TVMFFI;
    char path[64];
    if (sp->ncompile_options == 0)
        return 0;
    if (kf_solution_is_nvrtc(s)) {
        lane = KF_COPT_NVRTC;
    } else if (strcmp(sp->language, "cuda") != 0 && strcmp(sp->language, "cpp") != 0) {
        return kf_err_set(err, KF_EINVAL, "spec.compile_options",
                          "only the nvrtc and tvm-ffi lanes (language cuda/cpp) take compiler "
                          "flags, not language '%s'", sp->language);
    } else if (sp->binding && strcmp(sp->binding, "tvm-ffi") != 0) {
        return kf_err_set(err, KF_EINVAL, "spec.compile_options",
                          "only the nvrtc and tvm-ffi lanes take compiler flags, not binding "
                          "'%s'", sp->binding);
    }
    for (int i = 0; i < sp->ncompile_options; i++) {
        enum kf_copt_kind kind;
        const char *why = NULL;
        if (kf_copt_check(sp->compile_options[i], lane, &kind, &why) != 0) {
            snprintf(path, sizeof path, "spec.compile_options[%d]", i);
            return kf_err_set(err, KF_EINVAL, path, "'%.80s': %s", sp->compile_options[i], why);
        }
    }
    return 0;
}
