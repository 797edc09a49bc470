/* config.c: settings from one table (see config.h): defaults < file < env <
 * flags, generated --help, effective-config logging. Not thread-safe: call
 * once at start. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "xalloc.h"

#define LINE_MAX_LEN 4096

static struct kf_cfg_opt *find_opt(struct kf_config *cfg, const char *name, size_t len)
{
    for (int i = 0; i < cfg->nopts; i++)
        if (strlen(cfg->opts[i].name) == len && strncmp(cfg->opts[i].name, name, len) == 0)
            return &cfg->opts[i];
    return NULL;
}

static int parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on", NULL};
    static const char *const no[] = {"0", "false", "no", "off", "", NULL};
    for (int i = 0; yes[i]; i++)
        if (strcasecmp(v, yes[i]) == 0)
            return *out = true, 0;
    for (int i = 0; no[i]; i++)
        if (strcasecmp(v, no[i]) == 0)
            return *out = false, 0;
    return -1;
}

/* Apply text value v to opt. where: "flag --x", "env KF_X", "file:3". */
static int apply(struct kf_cfg_opt *o, const char *v, const char *source, const char *where,
                 struct kf_err *err)
{
    char *end;
    switch (o->type) {
    case KF_CFG_STR: {
        char **dst = o->dst;
        free(*dst);
        *dst = xstrdup(v);
        break;
    }
    case KF_CFG_INT: {
        errno = 0;
        long long x = strtoll(v, &end, 0);
        if (errno || end == v || *end)
            return kf_err_set(err, KF_EINVAL, where, "%s: expected an integer, got '%s'",
                              o->name, v);
        if (o->min <= o->max && ((double)x < o->min || (double)x > o->max))
            return kf_err_set(err, KF_EINVAL, where, "%s: %lld is outside [%.0f, %.0f]",
                              o->name, x, o->min, o->max);
        *(int64_t *)o->dst = x;
        break;
    }
    case KF_CFG_DOUBLE: {
        errno = 0;
        double x = strtod(v, &end);
        if (errno || end == v || *end || !isfinite(x))
            return kf_err_set(err, KF_EINVAL, where, "%s: expected a number, got '%s'", o->name,
                              v);
        if (o->min <= o->max && (x < o->min || x > o->max))
            return kf_err_set(err, KF_EINVAL, where, "%s: %g is outside [%g, %g]", o->name, x,
                              o->min, o->max);
        *(double *)o->dst = x;
        break;
    }
    case KF_CFG_BOOL:
        if (parse_bool(v, o->dst))
            return kf_err_set(err, KF_EINVAL, where, "%s: expected true/false, got '%s'",
                              o->name, v);
        break;
    }
    o->source = source;
    return 0;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

static int load_file(struct kf_config *cfg, const char *path, struct kf_err *err)
{
    FILE *f = fopen(path, "r");
    char line[LINE_MAX_LEN], where[160];
    int lineno = 0, rc = 0;
    if (!f)
        return kf_err_set(err, KF_EINVAL, path, "cannot open config file: %s", strerror(errno));
    while (fgets(line, sizeof line, f)) {
        lineno++;
        snprintf(where, sizeof where, "%.140s:%d", path, lineno);
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = kf_err_set(err, KF_EINVAL, where, "expected 'name = value'");
            break;
        }
        *eq = '\0';
        char *k = trim(s), *v = trim(eq + 1);
        size_t vl = strlen(v);
        if (vl >= 2 && ((v[0] == '"' && v[vl - 1] == '"') || (v[0] == '\'' && v[vl - 1] == '\''))) {
            v[vl - 1] = '\0';
            v++;
        }
        struct kf_cfg_opt *o = find_opt(cfg, k, strlen(k));
        if (!o || strcmp(k, "config") == 0) {
            rc = kf_err_set(err, KF_EINVAL, where, "unknown setting '%s'", k);
            break;
        }
        if ((rc = apply(o, v, "file", where, err)))
            break;
    }
    fclose(f);
    return rc;
}

int kf_config_load(struct kf_config *cfg, int argc, char **argv, int *npos, struct kf_err *err)
{
    const char *file = NULL;
    struct kf_cfg_opt *file_opt = find_opt(cfg, "config", 6);
    int rc = 0, np = 0;
    char where[160];

    /* 1. defaults */
    for (int i = 0; i < cfg->nopts; i++) {
        struct kf_cfg_opt *o = &cfg->opts[i];
        if (o->type == KF_CFG_STR)
            *(char **)o->dst = NULL;
        if ((rc = apply(o, o->def ? o->def : (o->type == KF_CFG_STR ? "" : "0"), "default",
                        "default", err)))
            return rc;
    }
    /* --help and --config first: the file sits below env and flags */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            kf_config_usage(cfg, stdout);
            return 1;
        }
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            file = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            file = argv[i] + 9;
    }
    const char *file_src = "flag";
    if (!file && file_opt && file_opt->env && getenv(file_opt->env) && *getenv(file_opt->env)) {
        file = getenv(file_opt->env);
        file_src = "env";
    }
    /* 2. file */
    if (file) {
        if (file_opt && (rc = apply(file_opt, file, file_src, "--config", err)))
            return rc;
        if ((rc = load_file(cfg, file, err)))
            return rc;
    }
    /* 3. environment */
    for (int i = 0; i < cfg->nopts; i++) {
        struct kf_cfg_opt *o = &cfg->opts[i];
        const char *v = o->env ? getenv(o->env) : NULL;
        if (!v || o == file_opt)
            continue;
        snprintf(where, sizeof where, "env %s", o->env);
        if ((rc = apply(o, v, "env", where, err)))
            return rc;
    }
    /* 4. flags; positional arguments are moved to the front */
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            for (int k = i + 1; k < argc; k++)
                argv[np++] = argv[k];
            break;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            argv[np++] = a;
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        struct kf_cfg_opt *o = find_opt(cfg, name, len);
        snprintf(where, sizeof where, "--%.*s", (int)(len > 100 ? 100 : len), name);
        if (!o && !eq && len > 3 && strncmp(name, "no-", 3) == 0) {
            o = find_opt(cfg, name + 3, len - 3);
            if (o && o->type == KF_CFG_BOOL) {
                *(bool *)o->dst = false;
                o->source = "flag";
                continue;
            }
            o = NULL;
        }
        if (!o)
            return kf_err_set(err, KF_EINVAL, where, "unknown option %s (see --help)", where);
        const char *v;
        if (eq) {
            v = eq + 1;
        } else if (o->type == KF_CFG_BOOL) {
            v = "true";
            /* "--flag true|false"; any other next word stays positional */
            if (i + 1 < argc &&
                (strcasecmp(argv[i + 1], "true") == 0 || strcasecmp(argv[i + 1], "false") == 0))
                v = argv[++i];
        } else if (i + 1 < argc) {
            v = argv[++i];
        } else {
            return kf_err_set(err, KF_EINVAL, where, "option %s needs a value", where);
        }
        if (o == file_opt)
            continue;   /* already applied */
        if ((rc = apply(o, v, "flag", where, err)))
            return rc;
    }
    if (npos)
        *npos = np;
    else if (np > 0)
        return kf_err_set(err, KF_EINVAL, argv[0], "unexpected argument '%s'", argv[0]);
    return 0;
}

void kf_config_usage(const struct kf_config *cfg, FILE *f)
{
    fprintf(f, "usage: %s [options]\n", cfg->prog);
    if (cfg->summary)
        fprintf(f, "%s\n", cfg->summary);
    fprintf(f, "\nSettings (defaults < --config file < environment < flags):\n");
    for (int i = 0; i < cfg->nopts; i++) {
        const struct kf_cfg_opt *o = &cfg->opts[i];
        const char *meta = o->type == KF_CFG_STR ? " STR"
                         : o->type == KF_CFG_INT ? " N"
                         : o->type == KF_CFG_DOUBLE ? " X" : "";
        char head[128];
        snprintf(head, sizeof head, "  --%s%s", o->name, meta);
        fprintf(f, "%-30s %s", head, o->help ? o->help : "");
        if (o->def && *o->def)
            fprintf(f, " [default: %s]", o->def);
        if ((o->type == KF_CFG_INT || o->type == KF_CFG_DOUBLE) && o->min <= o->max)
            fprintf(f, " [%g..%g]", o->min, o->max);
        if (o->env)
            fprintf(f, " (env %s)", o->env);
        fputc('\n', f);
    }
    fprintf(f, "  %-28s show this help\n", "--help");
}

static bool secret_name(const char *n)
{
    return strstr(n, "password") || strstr(n, "token") || strstr(n, "secret");
}

void kf_config_log(const struct kf_config *cfg, const char *component)
{
    for (int i = 0; i < cfg->nopts; i++) {
        const struct kf_cfg_opt *o = &cfg->opts[i];
        char val[256];
        switch (o->type) {
        case KF_CFG_STR: {
            const char *s = *(char **)o->dst;
            snprintf(val, sizeof val, "\"%s\"",
                     secret_name(o->name) && s && *s && !strstr(o->name, "file") ? "***"
                                                                               : (s ? s : ""));
            break;
        }
        case KF_CFG_INT:
            snprintf(val, sizeof val, "%lld", (long long)*(int64_t *)o->dst);
            break;
        case KF_CFG_DOUBLE:
            snprintf(val, sizeof val, "%g", *(double *)o->dst);
            break;
        case KF_CFG_BOOL:
            snprintf(val, sizeof val, "%s", *(bool *)o->dst ? "true" : "false");
            break;
        }
        log_info(component, "config %s=%s source=%s", o->name, val,
                 o->source ? o->source : "default");
    }
}

void kf_config_free(struct kf_config *cfg)
{
    if (!cfg)
        return;
    for (int i = 0; i < cfg->nopts; i++) {
        if (cfg->opts[i].type == KF_CFG_STR && cfg->opts[i].dst) {
            char **p = cfg->opts[i].dst;
            free(*p);
            *p = NULL;
        }
    }
}
