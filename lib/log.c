/* log.c: line logger (see log.h). Thread-safe. */
#include "log.h"
#include "kf_err.h"

#include <stdbool.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum kf_log_level kf_log_level = KF_LOG_INFO;
static int log_fd = 2;

#define MAX_SECRETS 64
static char *secrets[MAX_SECRETS];
static _Atomic int nsecrets;
static pthread_mutex_t secrets_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

int kf_log_level_parse(const char *s)
{
    for (int i = 0; i <= KF_LOG_OFF; i++)
        if (s && strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

void kf_log_set_level(enum kf_log_level lvl)
{
    kf_log_level = lvl;
}

int kf_log_open(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return KF_EIO;
    log_fd = fd;
    return 0;
}

void kf_log_add_secret(const char *value)
{
    if (!value || strlen(value) < 4)
        return;
    pthread_mutex_lock(&secrets_mu);
    int n = atomic_load(&nsecrets);
    bool dup = false;
    for (int i = 0; i < n && !dup; i++)
        dup = strcmp(secrets[i], value) == 0;
    if (!dup && n < MAX_SECRETS) {
        secrets[n] = strdup(value);
        if (secrets[n])
            atomic_store(&nsecrets, n + 1);
    }
    pthread_mutex_unlock(&secrets_mu);
}

void kf_log_add_url_secret(const char *url)
{
    const char *p = url ? strstr(url, "://") : NULL;
    if (!p)
        return;
    p += 3;
    size_t hostlen = strcspn(p, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < hostlen; i++)
        if (p[i] == '@')
            at = p + i;
    if (!at)
        return;
    const char *colon = memchr(p, ':', (size_t)(at - p));
    const char *pw = colon ? colon + 1 : p;
    char buf[512];
    size_t n = (size_t)(at - pw);
    if (n == 0 || n >= sizeof buf)
        return;
    memcpy(buf, pw, n);
    buf[n] = '\0';
    kf_log_add_secret(buf);
}

/* Replace every registered secret in line[0..*n) by "***" (in place; the
 * line only gets shorter since secrets are at least 4 characters). */
static void mask_secrets(char *line, size_t *n)
{
    int ns = atomic_load(&nsecrets);
    for (int i = 0; i < ns; i++) {
        const char *sec = secrets[i];
        size_t sl = strlen(sec);
        char *p = line;
        while ((p = memmem(p, *n - (size_t)(p - line), sec, sl)) != NULL) {
            memcpy(p, "***", 3);
            memmove(p + 3, p + sl, *n - (size_t)(p - line) - sl);
            *n -= sl - 3;
            p += 3;
        }
    }
}

void kf_log_write(enum kf_log_level lvl, const char *component, const char *fmt, ...)
{
    char line[2048];
    struct timeval tv;
    struct tm tm;
    size_t n;
    va_list ap;
    int k;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    k = snprintf(line + n, sizeof line - n, ".%03dZ %s %s: ", (int)(tv.tv_usec / 1000),
                 level_names[lvl < KF_LOG_OFF ? lvl : KF_LOG_ERROR], component);
    n += k > 0 ? (size_t)k : 0;
    va_start(ap, fmt);
    k = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    va_end(ap);
    if (k < 0)
        k = 0;
    n = n + (size_t)k < sizeof line - 1 ? n + (size_t)k : sizeof line - 2;
    mask_secrets(line, &n);
    line[n++] = '\n';
    (void)!write(log_fd, line, n);
}
