/* http.c: the kf-server client's HTTP layer on libcurl (see http.h).
 * Not thread-safe. */
#include "http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "xalloc.h"

#define MAX_RESPONSE ((size_t)256 << 20)

static char *base_url;

int kf_http_set_base(const char *url_flag)
{
    const char *env = getenv("KF_URL");
    const char *u = url_flag && *url_flag ? url_flag : env && *env ? env : "http://127.0.0.1:8080";
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) {
        fprintf(stderr, "kf: the server URL must start with http:// or https:// (got '%s'%s)\n",
                u, url_flag ? "" : " from KF_URL");
        return -1;
    }
    free(base_url);
    base_url = xstrdup(u);
    size_t n = strlen(base_url);
    while (n && base_url[n - 1] == '/')
        base_url[--n] = '\0';
    return 0;
}

const char *kf_http_base(void)
{
    if (!base_url && kf_http_set_base(NULL))
        return "http://127.0.0.1:8080";
    return base_url;
}

struct buf {
    char *p;
    size_t len, cap;
    bool too_big;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct buf *b = ud;
    size_t n = size * nmemb;
    if (b->len + n > MAX_RESPONSE) {
        b->too_big = true;
        return 0;
    }
    if (b->len + n + 1 > b->cap) {
        while (b->len + n + 1 > b->cap)
            b->cap = b->cap ? b->cap * 2 : 65536;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, ptr, n);
    b->len += n;
    b->p[b->len] = '\0';
    return n;
}

int kf_http_request(const char *method, const char *path, const char *body, size_t body_len,
                    double timeout_s, struct kf_http_resp *r)
{
    static bool inited;
    struct buf b = {0};
    struct curl_slist *hdr = NULL;
    char *url = xasprintf("%s%s", kf_http_base(), path);
    char errbuf[CURL_ERROR_SIZE] = "";
    int rc = -1;
    memset(r, 0, sizeof *r);
    if (!inited) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        inited = true;
    }
    CURL *c = curl_easy_init();
    if (!c) {
        fprintf(stderr, "kf: cannot initialise libcurl\n");
        goto out;
    }
    const char *tok = getenv("KF_TOKEN");
    char *auth = tok && *tok ? xasprintf("Authorization: Bearer %s", tok) : NULL;
    hdr = curl_slist_append(hdr, "Accept: application/json");
    if (body)
        hdr = curl_slist_append(hdr, "Content-Type: application/json");
    if (auth)
        hdr = curl_slist_append(hdr, auth);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "kf/" KF_CLI_VERSION);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_s * 1000 + 0.5));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout_s < 10 ? timeout_s * 1000 : 10000));
    const char *ca = getenv("KF_CA_BUNDLE");
    if (ca && *ca)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    CURLcode cc = curl_easy_perform(c);
    free(auth);
    if (cc != CURLE_OK) {
        if (b.too_big)
            fprintf(stderr, "kf: %s %s: the answer is larger than %zu bytes\n", method, url,
                    MAX_RESPONSE);
        else if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST)
            fprintf(stderr, "kf: cannot connect to %s: %s (is kf-server running? set --url or "
                            "KF_URL)\n", kf_http_base(), errbuf[0] ? errbuf : curl_easy_strerror(cc));
        else
            fprintf(stderr, "kf: %s %s: %s\n", method, url,
                    errbuf[0] ? errbuf : curl_easy_strerror(cc));
        free(b.p);
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    r->body = b.p ? b.p : xstrdup("");
    r->len = b.len;
    rc = 0;
out:
    curl_slist_free_all(hdr);
    if (c)
        curl_easy_cleanup(c);
    free(url);
    return rc;
}

json_t *kf_http_json(const struct kf_http_resp *r, bool quiet)
{
    json_t *j = json_loadb(r->body, r->len, 0, NULL);
    if (r->status >= 400 || r->status < 200) {
        const json_t *e = json_object_get(j, "error");
        if (!quiet) {
            if (e)
                fprintf(stderr, "kf: HTTP %ld %s%s%s: %s\n", r->status,
                        json_string_value(json_object_get(e, "code")),
                        json_string_length(json_object_get(e, "path")) ? " at " : "",
                        json_string_value(json_object_get(e, "path")),
                        json_string_value(json_object_get(e, "message")));
            else
                fprintf(stderr, "kf: HTTP %ld: %.300s\n", r->status, r->body);
        }
        json_decref(j);
        return NULL;
    }
    if (!j)
        fprintf(stderr, "kf: the server sent invalid JSON\n");
    return j;
}
