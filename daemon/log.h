/*
 * Logging for the daemon's roles.  Plain lines on stderr, prefixed with the
 * role ("broker", "zygote"), or the journal when brigd runs under systemd.
 */
#ifndef BRIG_DAEMON_LOG_H
#define BRIG_DAEMON_LOG_H

#include <stdbool.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

void log_init(const char *role, enum log_level level);
void log_set_role(const char *role);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

/* Log and exit(1).  fatal() appends strerror(errno). */
#define fatal(...) fatal_at(__func__, true, __VA_ARGS__)
#define fatalx(...) fatal_at(__func__, false, __VA_ARGS__)
__attribute__((noreturn, format(printf, 3, 4)))
void fatal_at(const char *func, bool with_errno, const char *fmt, ...);

#endif
