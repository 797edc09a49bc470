/* insecure.c: placeholder secrets refused at start (see insecure.h). */
#include "insecure.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Passwords seen in examples, docs and defaults (Redis's own "foobared"). */
static const char *const weak_passwords[] = {"change-me", "changeme", "change_me", "foobared",
                                             "password", "redis", "secret", "kernelfarm", NULL};

static bool weak_password(const char *p)
{
    for (int i = 0; weak_passwords[i]; i++)
        if (strcmp(p, weak_passwords[i]) == 0)
            return true;
    return false;
}

/* The URL's password (redis://[user]:pw@host) into buf; "" if none. Also
 * whether the address is loopback or a unix socket. */
static void url_parts(const char *url, char *buf, size_t n, bool *local)
{
    buf[0] = '\0';
    *local = true;
    if (!url || !*url || url[0] == '/' || strncmp(url, "unix://", 7) == 0)
        return;
    if (strncmp(url, "redis://", 8) != 0)
        return;
    const char *p = url + 8, *at = strrchr(p, '@'), *host = p;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        snprintf(buf, n, "%.*s", (int)(at - pw), pw);
        host = at + 1;
    }
    *local = strncmp(host, "127.", 4) == 0 || strncmp(host, "localhost", 9) == 0 ||
             strncmp(host, "[::1]", 5) == 0 || *host == ':' || *host == '/' || !*host;
}

int api_insecure_check(const char *tokens_file, const char *redis_url, const char *password,
                       struct kf_err *err)
{
    if (tokens_file && *tokens_file) {
        FILE *f = fopen(tokens_file, "r");
        char line[1024], tok[256];
        int lineno = 0;
        while (f && fgets(line, sizeof line, f)) {
            lineno++;
            if (sscanf(line, " %255s", tok) != 1 || tok[0] == '#')
                continue;
            if (strncmp(tok, "change-me", 9) == 0) {
                fclose(f);
                return kf_err_set(err, KF_EINVAL, "tokens-file",
                                  "%s line %d holds an example token (deploy/tokens.example): "
                                  "replace it with a long random one (openssl rand -hex 32)",
                                  tokens_file, lineno);
            }
        }
        if (f)
            fclose(f);
    }
    char urlpw[256];
    bool local;
    url_parts(redis_url, urlpw, sizeof urlpw, &local);
    const char *pw = password && *password ? password : urlpw;
    if (*pw && weak_password(pw))
        return kf_err_set(err, KF_EINVAL, "redis-password",
                          "the Redis password is a well-known default ('%s'): set "
                          "KF_REDIS_PASSWORD to a long random one", pw);
    if (!*pw && !local)
        return kf_err_set(err, KF_EINVAL, "redis-password",
                          "Redis at %s is reached over the network without a password", redis_url);
    return 0;
}
