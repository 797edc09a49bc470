/* http.h: the kf-server client's HTTP layer, on libcurl (HTTP and HTTPS,
 * proxies from the usual environment variables, system CA certificates).
 * The server's base URL comes from --url, else KF_URL, else
 * http://127.0.0.1:8080; a path prefix in it is kept (https://host/kf).
 * The bearer token comes from KF_TOKEN; KF_CA_BUNDLE names a PEM file of CA
 * certificates to trust instead of the system's. Not thread-safe (command-line
 * program: one global curl initialisation).
 */
#ifndef KF_CLI_HTTP_H
#define KF_CLI_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct kf_http_resp {
    long status;
    char *body;      /* NUL-terminated (owned; free()) */
    size_t len;
};

/* The base URL in effect: url_flag if non-NULL, else KF_URL, else the
 * default. Returns 0, or -1 after printing why (not http:// or https://). */
int kf_http_set_base(const char *url_flag);
const char *kf_http_base(void);

/* One request: path (with query) appended to the base URL; body may be
 * NULL. timeout_s bounds the whole transfer (> 0). Returns 0 with *r
 * filled (any HTTP status), or -1 after printing the transport error
 * (cannot connect, TLS, timeout). */
int kf_http_request(const char *method, const char *path, const char *body, size_t body_len,
                    double timeout_s, struct kf_http_resp *r);

/* The JSON body of a 2xx answer (new reference); for an error status prints
 * the server's {"error"} (unless quiet) and returns NULL. */
json_t *kf_http_json(const struct kf_http_resp *r, bool quiet);

#endif
