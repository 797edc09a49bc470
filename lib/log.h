/* log.h: level-checked logging, one line per event:
 *   2026-11-22T03:58:18.123Z info server: listening addr=127.0.0.1:8080
 * Writes to stderr (or a file set with kf_log_open). Thread-safe: each line is
 * written with one write(2).
 */
#ifndef KF_LOG_H
#define KF_LOG_H

enum kf_log_level { KF_LOG_DEBUG = 0, KF_LOG_INFO, KF_LOG_WARN, KF_LOG_ERROR, KF_LOG_OFF };

extern enum kf_log_level kf_log_level;

/* "debug", "info", "warn", "error", "off" -> level; -1 if unknown. */
int kf_log_level_parse(const char *s);
void kf_log_set_level(enum kf_log_level lvl);
/* Redirect to a file (append). Returns 0 or KF_EIO. */
int kf_log_open(const char *path);

/* Secrets masked by value: every later log line shows "***" wherever one
 * of them appears (passwords, tokens). Values under 4 characters are not
 * registered. Up to 64; call at start, before the threads that log. */
void kf_log_add_secret(const char *value);
/* The password of a URL "scheme://[user]:password@host...", if any. */
void kf_log_add_url_secret(const char *url);

void kf_log_write(enum kf_log_level lvl, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define KF_LOG_(lvl, comp, ...) \
    do { if ((lvl) >= kf_log_level) kf_log_write((lvl), (comp), __VA_ARGS__); } while (0)
#define log_debug(comp, ...) KF_LOG_(KF_LOG_DEBUG, comp, __VA_ARGS__)
#define log_info(comp, ...)  KF_LOG_(KF_LOG_INFO, comp, __VA_ARGS__)
#define log_warn(comp, ...)  KF_LOG_(KF_LOG_WARN, comp, __VA_ARGS__)
#define log_error(comp, ...) KF_LOG_(KF_LOG_ERROR, comp, __VA_ARGS__)

#endif
