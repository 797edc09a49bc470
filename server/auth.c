/* auth.c: bearer tokens, roles, teams (see auth.h). The token table is
 * read-only after api_auth_new: thread-safe. */
#include "auth.h"
#include "keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xalloc.h"

struct token { char *token, *name, *team; unsigned roles; };

struct api_auth {
    bool enabled;
    bool redis_tokens;
    struct token *tokens; int ntokens;
};

static int parse_roles(const char *s, unsigned *out)
{
    unsigned r = 0;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, "read") == 0)
            r |= API_ROLE_READ;
        else if (strcmp(t, "submit") == 0)
            r |= API_ROLE_SUBMIT | API_ROLE_READ;
        else if (strcmp(t, "admin") == 0)
            r |= API_ROLE_ADMIN | API_ROLE_SUBMIT | API_ROLE_READ;
        else
            return -1;
    }
    *out = r;
    return r ? 0 : -1;
}

static int load_tokens(struct api_auth *a, const char *path, struct kf_err *err)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    int lineno = 0;
    if (!f)
        return kf_err_set(err, KF_EINVAL, path, "cannot open tokens file: %s", strerror(errno));
    while (fgets(line, sizeof line, f)) {
        char tok[256], name[64], team[64], roles[128];
        lineno++;
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '#' || *s == '\n' || !*s)
            continue;
        if (sscanf(s, "%255s %63s %63s %127s", tok, name, team, roles) != 4) {
            fclose(f);
            return kf_err_set(err, KF_EINVAL, path, "line %d: expected 'TOKEN NAME TEAM ROLES'",
                              lineno);
        }
        unsigned r;
        if (parse_roles(roles, &r)) {
            fclose(f);
            return kf_err_set(err, KF_EINVAL, path, "line %d: roles must be read,submit,admin",
                              lineno);
        }
        kf_log_add_secret(tok);
        a->tokens = xrealloc(a->tokens, sizeof *a->tokens * (size_t)(a->ntokens + 1));
        a->tokens[a->ntokens++] = (struct token){xstrdup(tok), xstrdup(name),
                                                 xstrdup(strcmp(team, "-") ? team : ""), r};
    }
    fclose(f);
    return 0;
}

int api_auth_new(const char *mode, const char *tokens_file, bool loopback, bool redis_tokens,
                 struct api_auth **out, struct kf_err *err)
{
    struct api_auth *a = xcalloc(1, sizeof *a);
    int rc = 0;
    bool have_file = tokens_file && *tokens_file;
    *out = NULL;
    if (!mode || !*mode || strcmp(mode, "auto") == 0)
        a->enabled = have_file || !loopback;
    else if (strcmp(mode, "on") == 0)
        a->enabled = true;
    else if (strcmp(mode, "off") == 0)
        a->enabled = false;
    else {
        rc = kf_err_set(err, KF_EINVAL, "auth", "auth must be auto, on or off (got '%s')", mode);
        goto out;
    }
    a->redis_tokens = redis_tokens;
    if (have_file && (rc = load_tokens(a, tokens_file, err)))
        goto out;
    if (a->enabled && !have_file && !redis_tokens) {
        rc = kf_err_set(err, KF_EINVAL, "auth",
                        "auth is on (listen address is not loopback or --auth on) but there is "
                        "no --tokens-file and --redis-tokens is off");
        goto out;
    }
out:
    if (rc)
        api_auth_free(a);
    else
        *out = a;
    return rc;
}

void api_auth_free(struct api_auth *a)
{
    if (!a)
        return;
    for (int i = 0; i < a->ntokens; i++) {
        free(a->tokens[i].token);
        free(a->tokens[i].name);
        free(a->tokens[i].team);
    }
    free(a->tokens);
    free(a);
}

bool api_auth_enabled(const struct api_auth *a)
{
    return a && a->enabled;
}

/* Constant-time comparison (token guessing by timing). */
static bool same(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++)
        d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return d == 0;
}

static bool lookup(struct api_ctx *ctx, const char *tok, struct api_principal *who)
{
    struct api_auth *a = ctx->auth;
    for (int i = 0; i < a->ntokens; i++) {
        if (same(a->tokens[i].token, tok)) {
            snprintf(who->name, sizeof who->name, "%s", a->tokens[i].name);
            snprintf(who->team, sizeof who->team, "%s", a->tokens[i].team);
            who->roles = a->tokens[i].roles;
            return true;
        }
    }
    if (!a->redis_tokens || strlen(tok) > 200)
        return false;
    struct kf_err e;
    redisReply *r = kfq_command(api_redis(ctx), &e, "HGET " KFK_TOKENS " %s", tok);
    bool ok = false;
    if (r && r->type == REDIS_REPLY_STRING) {
        char name[64], team[64], roles[128];
        unsigned rl;
        if (sscanf(r->str, "%63s %63s %127s", name, team, roles) == 3 && !parse_roles(roles, &rl)) {
            snprintf(who->name, sizeof who->name, "%s", name);
            snprintf(who->team, sizeof who->team, "%s", strcmp(team, "-") ? team : "");
            who->roles = rl;
            ok = true;
        }
    }
    if (r)
        freeReplyObject(r);
    return ok;
}

int api_auth_check(struct api_ctx *ctx, struct api_req *req, unsigned role, struct api_resp *resp)
{
    struct api_principal *who = &req->who;
    memset(who, 0, sizeof *who);
    if (!ctx->auth || !ctx->auth->enabled) {
        snprintf(who->name, sizeof who->name, "ip:%s", req->client ? req->client : "?");
        who->roles = API_ROLE_READ | API_ROLE_SUBMIT | API_ROLE_ADMIN;
        return 0;
    }
    const char *h = req->authorization;
    if (h && *h) {
        if (strncasecmp(h, "Bearer ", 7) != 0 || !h[7]) {
            api_error(resp, 401, "unauthorized", "Authorization",
                      "expected 'Authorization: Bearer <token>'");
            resp->www_authenticate = true;
            return 1;
        }
        if (!lookup(ctx, h + 7, who)) {
            api_error(resp, 401, "unauthorized", "Authorization", "unknown or revoked token");
            resp->www_authenticate = true;
            return 1;
        }
        who->authenticated = true;
    } else if (role) {
        api_error(resp, 401, "unauthorized", "Authorization", "this route needs a bearer token");
        resp->www_authenticate = true;
        return 1;
    }
    if (role && (who->roles & role) != role) {
        api_error(resp, 403, "forbidden", "", "token '%s' lacks the %s role", who->name,
                  role & API_ROLE_ADMIN ? "admin" : role & API_ROLE_SUBMIT ? "submit" : "read");
        return 1;
    }
    return 0;
}

bool api_can_see(const struct api_principal *who, const char *team)
{
    if (who->roles & API_ROLE_ADMIN)
        return true;
    return strcmp(who->team, team ? team : "") == 0;
}
