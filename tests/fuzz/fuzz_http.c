/* fuzz_http.c: libFuzzer target: an HTTP request as kf-server's front door
 * sees it. The input is a raw request ("METHOD /path?query HTTP/1.1",
 * header lines, blank line, body); the harness splits it the way
 * libmicrohttpd hands it over (method, path, query pairs, headers, body)
 * and runs kf-server's own code on it: routing, auth (a context with auth
 * off and one with tokens), the admin origin check, query and body parsing
 * and every handler up to Redis, which is unreachable here (503). The
 * libmicrohttpd parser itself is not part of the target. */
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "board.h"
#include "fuzz_common.h"
#include "metrics.h"
#include "router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct api_ctx ctx_off, ctx_on;
static struct kf_dataset *ds;

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fputs(text, f);
    fclose(f);
}

static void setup_ctx(struct api_ctx *ctx, const char *mode, const char *tokens)
{
    struct kf_err e;
    api_ctx_init(ctx, ds);
    ctx->max_body = 1 << 20;
    ctx->max_batch = 100;
    ctx->max_workloads = 100;
    ctx->max_response = 1 << 20;
    ctx->redis_url = "unix:///nonexistent/kf-fuzz.sock";
    if (api_auth_new(mode, tokens, true, false, &ctx->auth, &e))
        abort();
    ctx->board = api_board_new(1000);
    ctx->metrics = api_metrics_new();
    if (kfq_connect(ctx->redis_url, NULL, true, &ctx->redis_override, &e))
        abort();
}

static void init(void)
{
    char dir[] = "/tmp/kf-fuzz-http-XXXXXX", p[512], cmd[1024];
    struct kf_err e;
    if (!mkdtemp(dir))
        abort();
    snprintf(cmd, sizeof cmd, "mkdir -p %s/ds/definitions/gdn %s/ds/workloads/gdn && cp %s %s/ds/"
             "definitions/gdn/", dir, dir, FUZZ_DEF_PATH, dir);
    if (system(cmd))
        abort();
    snprintf(p, sizeof p, "%s/ds/workloads/gdn/gdn_decode_qk4_v8_d128_k_last.jsonl", dir);
    write_text(p, "{\"definition\":\"gdn_decode_qk4_v8_d128_k_last\",\"workload\":{\"uuid\":\"w1\","
                  "\"axes\":{\"batch_size\":2},\"inputs\":{\"q\":{\"type\":\"random\"},"
                  "\"k\":{\"type\":\"random\"},\"v\":{\"type\":\"random\"},"
                  "\"state\":{\"type\":\"random\"},\"A_log\":{\"type\":\"random\"},"
                  "\"a\":{\"type\":\"random\"},\"dt_bias\":{\"type\":\"random\"},"
                  "\"b\":{\"type\":\"random\"},\"scale\":{\"type\":\"scalar\",\"value\":0.088}}},"
                  "\"solution\":null,\"evaluation\":null}\n");
    snprintf(p, sizeof p, "%s/ds", dir);
    kf_log_set_level(KF_LOG_OFF);
    if (kf_dataset_load(p, &ds, &e)) {
        fprintf(stderr, "fuzz_http: dataset: %s: %s\n", e.path, e.msg);
        abort();
    }
    snprintf(p, sizeof p, "%s/tokens", dir);
    write_text(p, "tok-a alice team-a submit\ntok-adm admin - admin\n");
    setup_ctx(&ctx_off, "off", NULL);
    setup_ctx(&ctx_on, "on", p);
    signal(SIGTERM, SIG_IGN);   /* POST /shutdown signals its own process */
}

/* Next line of [*p, end) without its CR LF; NULL at the end. */
static char *next_line(char **p, char *end)
{
    if (*p >= end)
        return NULL;
    char *s = *p, *nl = memchr(s, '\n', (size_t)(end - s));
    char *e = nl ? nl : end;
    *p = nl ? nl + 1 : end;
    if (e > s && e[-1] == '\r')
        e--;
    *e = '\0';
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    struct api_req req;
    struct api_resp resp;
    if (!ready) {
        init();
        ready = true;
    }
    if (size < 1 || size > (1u << 20))
        return 0;
    struct api_ctx *ctx = data[0] & 1 ? &ctx_on : &ctx_off;
    char *buf = malloc(size + 1);
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';
    char *p = buf, *end = buf + size - 1;
    memset(&req, 0, sizeof req);
    memset(&resp, 0, sizeof resp);
    char *line = next_line(&p, end);
    char *method = line ? strtok(line, " ") : NULL;
    char *target = method ? strtok(NULL, " ") : NULL;
    if (!method || !target)
        goto out;
    req.method = method;
    char *q = strchr(target, '?');
    if (q) {
        *q++ = '\0';
        for (char *save = NULL, *kv = strtok_r(q, "&", &save); kv && req.nquery < API_MAX_QUERY;
             kv = strtok_r(NULL, "&", &save)) {
            char *eq = strchr(kv, '=');
            if (eq)
                *eq++ = '\0';
            req.query[req.nquery++] = (struct api_kv){kv, eq ? eq : ""};
        }
    }
    req.path = target;
    while ((line = next_line(&p, end)) && *line) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ')
            v++;
        if (strcasecmp(line, "Authorization") == 0)
            req.authorization = v;
        else if (strcasecmp(line, "Origin") == 0)
            req.origin = v;
        else if (strcasecmp(line, "Host") == 0)
            req.host = v;
        else if (strcasecmp(line, "Content-Type") == 0)
            req.content_type = v;
        else if (strcasecmp(line, "Sec-Fetch-Site") == 0)
            req.sec_fetch_site = v;
    }
    req.body = p < end ? p : NULL;
    req.body_len = p < end ? (size_t)(end - p) : 0;
    req.client = "127.0.0.1";
    api_dispatch(ctx, &req, &resp);
    api_resp_clear(&resp);
    atomic_store(&ctx->draining, false);   /* POST /drain: the next input starts fresh */
out:
    free(buf);
    return 0;
}
