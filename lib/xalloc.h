/* xalloc.h: allocation that aborts on failure.
 *
 * For sizes the program controls. Sizes a user controls (request bodies,
 * tensor sizes from a workload) must be checked against a cap first and turn
 * into KF_ETOOBIG, never reach these unchecked. Thread-safe.
 */
#ifndef KF_XALLOC_H
#define KF_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);          /* xstrdup(NULL) returns NULL */
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
