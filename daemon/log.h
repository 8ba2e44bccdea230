/*
 * Logging for the daemon's roles.  Plain lines on stderr, prefixed with the
 * role ("broker", "zygote"), or records with structured fields in the
 * journal when brigd runs as a systemd service.
 *
 * The target is chosen once, in log_init(), from $BRIG_LOG_TARGET:
 *   journal  the journal's native socket (falls back to stderr on failure)
 *   stderr   plain lines on stderr
 *   auto     (or unset) the journal if stderr is the journal stream that
 *            systemd gave this service ($JOURNAL_STREAM names stderr's
 *            device and inode), else stderr.  A brigd started by hand from
 *            a shell on a systemd machine keeps logging to its terminal.
 *
 * Only the process that called log_init() (or a process exec'ed from it
 * that calls it again, like the zygote) writes to the journal: a forked
 * child, such as a worker that has closed every fd and may reuse the
 * journal socket's number, always writes plain lines to its stderr.
 */
#ifndef BRIG_DAEMON_LOG_H
#define BRIG_DAEMON_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* May be called again (after reading the config) to change role and level. */
void log_init(const char *role, enum log_level level);
void log_set_role(const char *role);
/* True when records go to the journal (for tests and start-up messages). */
bool log_to_journal(void);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

/*
 * A structured field: NAME is a journal field name (upper-case letters,
 * digits and '_', not starting with '_'), the value a string or a number.
 * Build them with LOG_STR / LOG_U64 / LOG_I64 and pass them with
 * LOG_FIELDS(...), e.g.
 *
 *     log_fields(LOG_LEVEL_INFO,
 *                LOG_FIELDS(LOG_U64("JOB_ID", id), LOG_STR("PROFILE", name)),
 *                "job %u ended", id);
 *
 * In the journal the record carries MESSAGE (fmt), PRIORITY,
 * SYSLOG_IDENTIFIER=brigd, BRIG_ROLE and these fields; on stderr only the
 * message is written, so put what a reader needs into it too.  A field
 * with an invalid name or a NULL string value is left out.
 */
enum log_field_type { LOG_FIELD_STR, LOG_FIELD_U64, LOG_FIELD_I64 };

struct log_field {
	const char *name;
	enum log_field_type type;
	union {
		const char *str;
		uint64_t u64;
		int64_t i64;
	} value;
};

#define LOG_STR(n, v) ((struct log_field){ .name = (n), .type = LOG_FIELD_STR, .value.str = (v) })
#define LOG_U64(n, v) ((struct log_field){ .name = (n), .type = LOG_FIELD_U64, .value.u64 = (v) })
#define LOG_I64(n, v) ((struct log_field){ .name = (n), .type = LOG_FIELD_I64, .value.i64 = (v) })
#define LOG_FIELDS(...) \
	((const struct log_field[]){ __VA_ARGS__ }), \
	(sizeof((const struct log_field[]){ __VA_ARGS__ }) / sizeof(struct log_field))

void log_fields(enum log_level level, const struct log_field *fields, size_t field_count,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The journal's MESSAGE_ID of the record that ends every job:
 * `journalctl MESSAGE_ID=...` lists the jobs that brigd ran. */
#define LOG_MESSAGE_ID_JOB_FINISHED "aaba90d11dd74f729683746aadd6cb6c"

/* Log and exit(1).  fatal() appends strerror(errno). */
#define fatal(...) fatal_at(__func__, true, __VA_ARGS__)
#define fatalx(...) fatal_at(__func__, false, __VA_ARGS__)
__attribute__((noreturn, format(printf, 3, 4)))
void fatal_at(const char *func, bool with_errno, const char *fmt, ...);

#endif
