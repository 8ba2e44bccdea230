#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"
/* One record: the message (at most LOG_LINE_MAX) plus a few dozen short
 * fields.  A datagram this size always fits journald's socket buffer. */
#define LOG_LINE_MAX 2048
#define LOG_RECORD_MAX 8192

static const char *log_role = "brigd";
static enum log_level log_max = LOG_LEVEL_INFO;
/* The journal's socket, and the process that opened it; -1: stderr. */
static int journal_fd = -1;
static pid_t journal_pid;

static const char *const level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warning",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

/* syslog priorities: err, warning, info, debug. */
static const char level_priority[] = {
	[LOG_LEVEL_ERROR] = '3',
	[LOG_LEVEL_WARN] = '4',
	[LOG_LEVEL_INFO] = '6',
	[LOG_LEVEL_DEBUG] = '7',
};

/* systemd's documented test: $JOURNAL_STREAM is "device:inode" of the
 * stream it connected to our stderr; an inherited variable with a stderr
 * redirected elsewhere does not match. */
static bool stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char tail;

	if (!env || sscanf(env, "%llu:%llu%c", &dev, &ino, &tail) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static bool want_journal(void)
{
	const char *target = getenv("BRIG_LOG_TARGET");

	if (target && strcmp(target, "journal") == 0)
		return true;
	if (target && strcmp(target, "stderr") == 0)
		return false;
	return stderr_is_journal();
}

void log_init(const char *role, enum log_level level)
{
	log_role = role;
	log_max = level;
	if (journal_fd >= 0 && journal_pid == getpid())
		return;
	journal_fd = -1;
	/* Opened now, before any sandbox or seccomp filter of this process
	 * could forbid socket(); each record is then one sendmsg(). */
	if (want_journal()) {
		journal_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		journal_pid = getpid();
	}
}

void log_set_role(const char *role)
{
	log_role = role;
}

bool log_to_journal(void)
{
	return journal_fd >= 0 && journal_pid == getpid();
}

/* ---- the journal's native protocol ---- */

struct record {
	char buf[LOG_RECORD_MAX];
	size_t len;
	bool overflow;
};

static bool field_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > 64 || name[0] == '_' || (name[0] >= '0' && name[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'A' && name[i] <= 'Z') || (name[i] >= '0' && name[i] <= '9') ||
		      name[i] == '_'))
			return false;
	return true;
}

static void record_put(struct record *r, const void *data, size_t len)
{
	if (r->overflow || len > sizeof(r->buf) - r->len) {
		r->overflow = true;
		return;
	}
	memcpy(r->buf + r->len, data, len);
	r->len += len;
}

/*
 * NAME=value\n, or, when the value holds a newline (messages quote what
 * workers and clients said), the binary form NAME\n<le64 length>value\n,
 * so that no value can start a field of its own.
 */
static void record_field(struct record *r, const char *name, const char *value, size_t len)
{
	record_put(r, name, strlen(name));
	if (!memchr(value, '\n', len)) {
		record_put(r, "=", 1);
	} else {
		uint8_t le[8];

		for (int i = 0; i < 8; i++)
			le[i] = (uint8_t)((uint64_t)len >> (8 * i));
		record_put(r, "\n", 1);
		record_put(r, le, sizeof(le));
	}
	record_put(r, value, len);
	record_put(r, "\n", 1);
}

static void record_str(struct record *r, const char *name, const char *value)
{
	record_field(r, name, value, strlen(value));
}

static void record_user_fields(struct record *r, const struct log_field *fields, size_t count)
{
	char number[24];

	for (size_t i = 0; i < count; i++) {
		const struct log_field *f = &fields[i];

		if (!field_name_valid(f->name))
			continue;
		switch (f->type) {
		case LOG_FIELD_STR:
			if (f->value.str)
				record_str(r, f->name, f->value.str);
			break;
		case LOG_FIELD_U64:
			snprintf(number, sizeof(number), "%" PRIu64, f->value.u64);
			record_str(r, f->name, number);
			break;
		case LOG_FIELD_I64:
			snprintf(number, sizeof(number), "%" PRId64, f->value.i64);
			record_str(r, f->name, number);
			break;
		default:
			break;
		}
	}
}

static bool journal_send(const struct record *r)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX, .sun_path = JOURNAL_SOCKET };
	struct iovec iov = { .iov_base = (void *)r->buf, .iov_len = r->len };
	struct msghdr mh = {
		.msg_name = &addr,
		.msg_namelen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + sizeof(JOURNAL_SOCKET)),
		.msg_iov = &iov,
		.msg_iovlen = 1,
	};

	if (r->overflow)
		return false;
	/* By address each time, as libsystemd does: a restarted journald
	 * binds a new socket at the same path. */
	return sendmsg(journal_fd, &mh, MSG_NOSIGNAL) >= 0;
}

/* ---- stderr ---- */

static void stderr_write(enum log_level level, const char *message)
{
	char line[LOG_LINE_MAX + 128];
	size_t n;
	int r;

	r = snprintf(line, sizeof(line), "brigd[%d] %s %s: %s", (int)getpid(), log_role,
		     level_names[level], message);
	n = r < 0 ? 0 : (size_t)r >= sizeof(line) - 1 ? sizeof(line) - 2 : (size_t)r;
	/* Messages quote bytes from clients and workers: a control character
	 * must not start a line (or a journal entry) of its own. */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	line[n++] = '\n';
	/* One write per line so that lines of the roles do not interleave. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

/* ---- entry points ---- */

static void log_emit(enum log_level level, const char *message, const struct log_field *fields,
		     size_t field_count, const char *func, int errnum)
{
	if (log_to_journal()) {
		struct record r = { .len = 0 };
		char priority[2] = { level_priority[level], '\0' };

		record_str(&r, "PRIORITY", priority);
		record_str(&r, "SYSLOG_IDENTIFIER", "brigd");
		record_str(&r, "BRIG_ROLE", log_role);
		if (func)
			record_str(&r, "CODE_FUNC", func);
		if (errnum > 0) {
			char number[16];
			snprintf(number, sizeof(number), "%d", errnum);
			record_str(&r, "ERRNO", number);
		}
		record_user_fields(&r, fields, field_count);
		record_str(&r, "MESSAGE", message);
		if (journal_send(&r))
			return;
	}
	stderr_write(level, message);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char message[LOG_LINE_MAX];
	va_list ap;

	if (level > log_max)
		return;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	log_emit(level, message, NULL, 0, NULL, 0);
}

void log_fields(enum log_level level, const struct log_field *fields, size_t field_count,
		const char *fmt, ...)
{
	char message[LOG_LINE_MAX];
	va_list ap;

	if (level > log_max)
		return;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	log_emit(level, message, fields, field_count, NULL, 0);
}

void fatal_at(const char *func, bool with_errno, const char *fmt, ...)
{
	int errnum = with_errno ? errno : 0;
	char message[LOG_LINE_MAX];
	size_t n;
	va_list ap;

	snprintf(message, sizeof(message), "%s: ", func);
	n = strlen(message);
	va_start(ap, fmt);
	vsnprintf(message + n, sizeof(message) - n, fmt, ap);
	va_end(ap);
	if (with_errno) {
		n = strlen(message);
		snprintf(message + n, sizeof(message) - n, ": %s", strerror(errnum));
	}
	log_emit(LOG_LEVEL_ERROR, message, NULL, 0, func, errnum);
	exit(1);
}
