#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static const char *log_role = "brigd";
static enum log_level log_max = LOG_LEVEL_INFO;

static const char *const level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warning",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

void log_init(const char *role, enum log_level level)
{
	log_role = role;
	log_max = level;
}

void log_set_role(const char *role)
{
	log_role = role;
}

__attribute__((format(printf, 3, 0)))
static void log_vwrite(enum log_level level, const char *prefix, const char *fmt, va_list ap,
		       const char *suffix)
{
	char line[2048];
	int n;

	n = snprintf(line, sizeof(line), "brigd[%d] %s %s: %s", (int)getpid(), log_role,
		     level_names[level], prefix ? prefix : "");
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	n = (int)strlen(line);
	snprintf(line + n, sizeof(line) - (size_t)n, "%s%s\n", suffix ? ": " : "",
		 suffix ? suffix : "");
	/* One write per line so that lines of the roles do not interleave. */
	if (write(STDERR_FILENO, line, strlen(line)) < 0)
		return;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_max)
		return;
	va_start(ap, fmt);
	log_vwrite(level, NULL, fmt, ap, NULL);
	va_end(ap);
}

void fatal_at(const char *func, bool with_errno, const char *fmt, ...)
{
	const char *reason = with_errno ? strerror(errno) : NULL;
	char prefix[128];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "%s: ", func);
	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, prefix, fmt, ap, reason);
	va_end(ap);
	exit(1);
}
