/*
 * Test harness for end-to-end suites: a real brigd on a private socket.
 *
 * brigd_start() makes a temporary directory (mkdtemp under /tmp) holding
 * the socket, the config file, brigd's log (its stderr) and a handler
 * directory of symlinks to the plugins of the build tree, starts brigd
 * there and waits until a HELLO gets a WELCOME that lists the handlers.
 * brigd_stop() sends SIGTERM and insists on exit status 0.
 *
 * brigd runs as a child of the test process with a parent-death signal, so
 * a test that fails (Check's fork mode _exits the test process) or times
 * out never leaves a daemon behind.  E2E_ASSERT() prints the tail of the
 * running brigd's log before failing, which is usually where the reason is.
 *
 * Everything here is for tests: it asserts (through Check) on any setup
 * failure instead of returning errors that every test would have to check.
 */
#ifndef BRIG_TESTS_HARNESS_H
#define BRIG_TESTS_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <check.h>

#include "msg.h"

/* Fail the test like ck_assert_msg, after printing the daemon's log tail. */
#define E2E_ASSERT(expr, fmt, ...)                                                       \
	do {                                                                                 \
		if (!(expr)) {                                                               \
			harness_report_failure();                                            \
			ck_abort_msg("Assertion '%s' failed: " fmt, #expr, ##__VA_ARGS__);  \
		}                                                                            \
	} while (0)

#define HARNESS_LOG_TAIL_LINES 60

struct brigd {
	char dir[64];                   /* private temporary directory */
	char socket_path[108];
	char config_path[128];          /* "" with --default-config */
	char log_path[128];
	char handler_dir[128];
	pid_t pid;                      /* the monitor (brigd itself); 0 once reaped */
	pid_t broker_pid;               /* its broker child, found at start */
	int wait_status;                /* as from waitpid(), once reaped */
};

/*
 * BRIG_VALGRIND=1 (and not "0"): brigd_start() runs the broker under
 * valgrind memcheck (tests/valgrind.supp; the zygote and workers run
 * natively, see harness.c); an error or a definite leak makes brigd exit 99.  harness_slowdown() is then the
 * factor by which the harness stretches its own time limits (else 1); a
 * test with timing assumptions may scale by it or skip.
 */
bool harness_under_valgrind(void);
unsigned harness_slowdown(void);

/* $BRIG_TOP_BUILDDIR (asserts that it is set). */
const char *harness_builddir(void);
int64_t harness_now_ms(void);
void harness_sleep_ms(unsigned ms);

/*
 * Start brigd.  config is the whole text of a config file, or NULL for
 * --default-config; the socket and the handler directory are always given
 * on the command line, so a config needs neither.  Waits (up to 10 s) for
 * the socket to answer a HELLO with a WELCOME listing the handlers.
 */
void brigd_start(struct brigd *d, const char *config);
/* SIGTERM, then waitpid: asserts exit status 0 within 10 s (else SIGKILL
 * and fail).  Removes the temporary directory. */
void brigd_stop(struct brigd *d);
/* Wait up to timeout_ms for brigd to exit; true if it did (status in
 * d->wait_status).  Does not signal it. */
bool brigd_wait_exit(struct brigd *d, int timeout_ms);
/* Remove the temporary directory (after the daemon has exited). */
void brigd_cleanup(struct brigd *d);
/*
 * brigd's processes (docs/security.md): the monitor (d->pid) forks the
 * broker and execs zygotes (brigd ... --zygote 3).  The zygote is the
 * monitor's only child in its pid namespace with --zygote in its command
 * line (0 if there is not exactly one, e.g. during a reload); the broker
 * its oldest child in that namespace without.
 */
pid_t brigd_zygote_pid(const struct brigd *d);
pid_t brigd_find_broker(const struct brigd *d);
/* Print the last lines of the daemon's log to stderr. */
void brigd_print_log_tail(const struct brigd *d, unsigned lines);
/*
 * E2E_ASSERT's hook: prints the log tail of the daemon started last and
 * removes its directory (the test process is about to _exit; brigd follows
 * on its parent-death signal).  BRIG_E2E_KEEP=1 keeps every directory.
 */
void harness_report_failure(void);

/*
 * Checked fixture for every e2e test case: a watchdog that fails the test
 * after HARNESS_TEST_DEADLINE_S seconds with the daemon's log, instead of
 * leaving it to Check's timeout, which kills the test without a word.
 */
#define HARNESS_TEST_DEADLINE_S 60
void harness_test_setup(void);
void harness_test_teardown(void);

/* ---- processes, through /proc ---- */

/* Pids whose comm is exactly comm; returns how many (may exceed max). */
size_t proc_find_comm(const char *comm, pid_t *out, size_t max);
/* Children of every thread of pid; returns how many (may exceed max). */
size_t proc_children(pid_t pid, pid_t *out, size_t max);
/* Open descriptors of pid, or -1 if it is gone. */
int proc_fd_count(pid_t pid);
/* The real uid of pid (from /proc/PID/status), or -1. */
long proc_real_uid(pid_t pid);
/*
 * The zygote's child count once it has held still for half a second (and
 * equals expected, unless that is (size_t)-1), or the last count at the
 * deadline.
 */
size_t harness_settled_children(const struct brigd *d, size_t expected, int timeout_ms);
/* Poll pid's fd count until it equals expected; the last count seen. */
int harness_settled_fd_count(pid_t pid, int expected, int timeout_ms);
/* Field 3 of /proc/PID/stat ('R', 'S', 'Z', ...), or 0 if pid is gone. */
char proc_state(pid_t pid);
/* Field 4 of /proc/PID/stat, or 0 if pid is gone. */
pid_t proc_ppid(pid_t pid);
/* Field 22 of /proc/PID/stat (start time in ticks), or 0 if pid is gone:
 * with the pid it names a process even across pid reuse. */
unsigned long long proc_start_time(pid_t pid);

/* ---- a raw client socket, for bytes libbrig would never send ---- */

/* Connect to the daemon's socket (blocking).  Returns the fd (asserts). */
int raw_connect(const struct brigd *d);
/* Send all bytes.  0 or -errno. */
int raw_send(int fd, const void *data, size_t len);
/*
 * Read one frame within timeout_ms.  Returns 0 with *body (malloc'ed) and
 * *len, -ECONNRESET at end of file (or on a reset), -ETIMEDOUT, -EMSGSIZE
 * for a header over BRIG_FRAME_MAX_CEILING, or -errno.
 */
int raw_read_frame(int fd, int timeout_ms, uint8_t **body, size_t *len);

/* What raw_read_msg() decoded: the result messages a client receives. */
struct raw_msg {
	int type;                       /* MSG_* */
	struct msg_error error;         /* MSG_ERROR */
	struct msg_final final;         /* MSG_FINAL */
	uint32_t item_job_id;           /* MSG_ITEM */
	uint32_t item_seq;
	struct msg_welcome welcome;     /* MSG_WELCOME: lists owned (strlist_free) */
};

/* Read and decode one message.  Returns its type, or a negative errno as
 * raw_read_frame(), or -EBADMSG if it does not decode. */
int raw_read_msg(int fd, int timeout_ms, struct raw_msg *m);
/* Send a HELLO of the given version. */
int raw_send_hello(int fd, uint32_t version);
/* HELLO (current version), then assert a WELCOME; its lists are freed. */
void raw_handshake(int fd, struct msg_welcome *welcome_out);
int raw_send_submit(int fd, uint32_t job_id, const char *handler, const void *input,
		    size_t input_len, uint32_t timeout_ms);
int raw_send_cancel(int fd, uint32_t job_id);
/* Read and discard frames until the peer closes: 0, or -ETIMEDOUT. */
int raw_wait_eof(int fd, int timeout_ms);

/* ---- running programs ---- */

struct run_result {
	int status;                     /* exit status, or 128 + signal */
	char *out;                      /* stdout, NUL-terminated (free) */
	char *err;                      /* stderr, NUL-terminated (free) */
};

/*
 * Run argv[0] (searched in PATH) with stdin from stdin_path (NULL:
 * /dev/null), capturing stdout and stderr into files of scratch_dir.
 * Kills it and fails the test after timeout_ms.
 */
void harness_run(const char *scratch_dir, char *const argv[], const char *stdin_path,
		 int timeout_ms, struct run_result *res);
void run_result_free(struct run_result *res);

/* Write len bytes to path (asserts). */
void harness_write_file(const char *path, const void *data, size_t len);

#endif
