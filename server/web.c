/* web.c: GET / (the web board, server/web/index.html) and GET /openapi.json
 * (schemas/openapi.json). Both files are embedded into the binary at build
 * time with the assembler's .incbin (paths relative to the repository root,
 * where make runs; the Makefile makes web.o depend on them), so kf-server
 * serves them with no files beside it. Thread-safe (constant data). */
#include <string.h>

#include "api.h"
#include "xalloc.h"

__asm__(".section .rodata\n"
        ".balign 16\n"
        "kf_web_index:\n"
        ".incbin \"server/web/index.html\"\n"
        "kf_web_index_end:\n"
        ".byte 0\n"
        ".balign 16\n"
        "kf_web_openapi:\n"
        ".incbin \"schemas/openapi.json\"\n"
        "kf_web_openapi_end:\n"
        ".byte 0\n"
        ".previous\n");
extern const char kf_web_index[], kf_web_index_end[];
extern const char kf_web_openapi[], kf_web_openapi_end[];

static void serve(struct api_resp *resp, const char *ctype, const char *begin, const char *end)
{
    size_t n = (size_t)(end - begin);
    api_text(resp, 200, ctype, xstrndup(begin, n), n);
}

void api_index(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    (void)ctx;
    (void)req;
    serve(resp, "text/html; charset=utf-8", kf_web_index, kf_web_index_end);
}

void api_openapi(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    (void)ctx;
    (void)req;
    serve(resp, "application/json", kf_web_openapi, kf_web_openapi_end);
}
