/*
 * Test harness for end-to-end suites; see harness.h.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "frame.h"
#include "harness.h"
#include "msg.h"

#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 10000
#define POLL_INTERVAL_MS 10

/* Plugins of the build tree, relative to $BRIG_TOP_BUILDDIR. */
static const char *const plugin_paths[] = {
	"handlers/.libs/core.so",
	"handlers/.libs/magic.so",
	"handlers/.libs/archive.so",
	"tests/handlers/.libs/testing.so",
};

/* A WELCOME must list at least these before the daemon counts as up. */
static const char *const expected_handlers[] = {
	"echo", "magic", "archive-list", "selfcheck", "crash", "sleep", "mark",
};

/* The daemon started last and not yet stopped: whose log a failure shows. */
static struct brigd *current_daemon;

/*
 * BRIG_VALGRIND=1: the monitor and the broker (a fork of it) run under
 * valgrind memcheck.  Any error, or a definite leak, makes the broker exit
 * with 99, and the monitor exits with the broker's status, which
 * brigd_stop() reports like any other unclean exit; valgrind writes to
 * brigd's log, whose tail a failure prints.
 *
 * The zygote (exec'ed by the monitor) and its workers run natively:
 * valgrind (3.19) implements neither seccomp(2) nor the Landlock syscalls,
 * and a seccomp filter would bind valgrind's own syscalls too.  They never
 * parse client bytes; the broker, which does, is the one that matters.
 * For the same reason the broker loads no seccomp filter under valgrind
 * (it logs so); check_privsep checks the filter only without valgrind.
 */
#define VALGRIND_ERROR_EXIT "99"
#define VALGRIND_SLOWDOWN 4

bool harness_under_valgrind(void)
{
	const char *v = getenv("BRIG_VALGRIND");

	return v && *v && strcmp(v, "0") != 0;
}

unsigned harness_slowdown(void)
{
	return harness_under_valgrind() ? VALGRIND_SLOWDOWN : 1;
}

const char *harness_builddir(void)
{
	const char *dir = getenv("BRIG_TOP_BUILDDIR");

	ck_assert_msg(dir && *dir, "BRIG_TOP_BUILDDIR is not set (run through `make check`)");
	return dir;
}

int64_t harness_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void harness_sleep_ms(unsigned ms)
{
	struct timespec left = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&left, &left) < 0 && errno == EINTR)
		;
}

void harness_write_file(const char *path, const void *data, size_t len)
{
	const char *p = data;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		ck_assert_msg(n > 0, "write %s: %s", path, strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	ck_assert_msg(close(fd) == 0, "close %s: %s", path, strerror(errno));
}

/* Reads a whole small file; NULL if it cannot be opened. */
static char *read_file(const char *path, size_t *len_out)
{
	size_t cap = 4096, len = 0;
	char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	buf = malloc(cap + 1);
	ck_assert(buf != NULL);
	for (;;) {
		ssize_t n;

		if (len == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
			ck_assert(buf != NULL);
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if (len_out)
		*len_out = len;
	return buf;
}

/* ---- the daemon ---- */

void brigd_print_log_tail(const struct brigd *d, unsigned lines)
{
	size_t len = 0;
	char *text = read_file(d->log_path, &len);
	const char *start;
	unsigned seen = 0;

	if (!text) {
		fprintf(stderr, "--- brigd log %s: cannot read: %s\n", d->log_path, strerror(errno));
		return;
	}
	start = text + len;
	while (start > text) {
		if (start[-1] == '\n' && start != text + len && ++seen > lines)
			break;
		start--;
	}
	fprintf(stderr, "--- last %u lines of %s ---\n%s%s--- end of brigd log ---\n", lines,
		d->log_path, start, len && text[len - 1] != '\n' ? "\n" : "");
	free(text);
}

static void remove_tree(const char *path);

void harness_report_failure(void)
{
	if (!current_daemon || !current_daemon->log_path[0])
		return;
	brigd_print_log_tail(current_daemon, HARNESS_LOG_TAIL_LINES);
	if (getenv("BRIG_E2E_KEEP"))
		fprintf(stderr, "harness: kept %s\n", current_daemon->dir);
	else
		remove_tree(current_daemon->dir);
	current_daemon = NULL;
}

/*
 * Not async-signal-safe, knowingly: the test is stuck and about to be
 * killed anyway; the log tail is worth the small risk of a deadlock, which
 * Check's own timeout would still end.
 */
static void watchdog_fired(int sig)
{
	(void)sig;
	harness_report_failure();
	ck_abort_msg("the test did not finish within %u s (a blocking wait on brigd that "
		     "never ended?)", HARNESS_TEST_DEADLINE_S * harness_slowdown());
}

void harness_test_setup(void)
{
	struct sigaction sa = { .sa_handler = watchdog_fired };

	sigemptyset(&sa.sa_mask);
	ck_assert(sigaction(SIGALRM, &sa, NULL) == 0);
	alarm(HARNESS_TEST_DEADLINE_S * harness_slowdown());
}

void harness_test_teardown(void)
{
	alarm(0);
}

static void make_handler_dir(struct brigd *d)
{
	const char *builddir = harness_builddir();

	snprintf(d->handler_dir, sizeof(d->handler_dir), "%s/handlers", d->dir);
	ck_assert_msg(mkdir(d->handler_dir, 0755) == 0, "mkdir %s: %s", d->handler_dir,
		      strerror(errno));
	for (size_t i = 0; i < sizeof(plugin_paths) / sizeof(plugin_paths[0]); i++) {
		char target[PATH_MAX], link[PATH_MAX];
		const char *base = strrchr(plugin_paths[i], '/') + 1;

		snprintf(target, sizeof(target), "%s/%s", builddir, plugin_paths[i]);
		ck_assert_msg(access(target, R_OK) == 0, "plugin %s: %s (not built yet?)", target,
			      strerror(errno));
		snprintf(link, sizeof(link), "%s/%s", d->handler_dir, base);
		ck_assert_msg(symlink(target, link) == 0, "symlink %s: %s", link, strerror(errno));
	}
}

static bool welcome_lists_handlers(const struct msg_welcome *w)
{
	for (size_t i = 0; i < sizeof(expected_handlers) / sizeof(expected_handlers[0]); i++) {
		bool found = false;

		for (size_t j = 0; j < w->handlers.count && !found; j++)
			found = strcmp(w->handlers.names[j], expected_handlers[i]) == 0;
		if (!found)
			return false;
	}
	return true;
}

/* One attempt: connect, HELLO, WELCOME listing the handlers. */
static bool daemon_answers(const struct brigd *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct raw_msg m;
	bool ok = false;
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
	memcpy(sa.sun_path, d->socket_path, strlen(d->socket_path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto out;
	if (raw_send_hello(fd, BRIG_PROTOCOL_VERSION) < 0)
		goto out;
	if (raw_read_msg(fd, 2000, &m) != MSG_WELCOME)
		goto out;
	ok = welcome_lists_handlers(&m.welcome);
	strlist_free(&m.welcome.handlers);
	strlist_free(&m.welcome.profiles);
out:
	close(fd);
	return ok;
}

static void exec_brigd(const struct brigd *d, int log_fd)
{
	char brigd_path[PATH_MAX];
	char suppressions[PATH_MAX + 32];
	char *argv[32];
	int argc = 0, null_fd;

	/* Dies with the test process, whichever way that ends. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) < 0)
		_exit(126);
	null_fd = open("/dev/null", O_RDONLY);
	if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
		_exit(126);
	/* Nothing of the test process (sockets, Check's pipes) leaks in. */
	syscall(SYS_close_range, 3, ~0U, 0);
	snprintf(brigd_path, sizeof(brigd_path), "%s/brigd", harness_builddir());
	if (harness_under_valgrind()) {
		const char *srcdir = getenv("BRIG_TOP_SRCDIR");

		snprintf(suppressions, sizeof(suppressions), "--suppressions=%s/tests/valgrind.supp",
			 srcdir && *srcdir ? srcdir : ".");
		argv[argc++] = (char *)"valgrind";
		argv[argc++] = (char *)"--quiet";
		argv[argc++] = (char *)"--error-exitcode=" VALGRIND_ERROR_EXIT;
		argv[argc++] = (char *)"--leak-check=full";
		argv[argc++] = (char *)"--show-leak-kinds=definite";
		argv[argc++] = (char *)"--errors-for-leak-kinds=definite";
		argv[argc++] = (char *)"--trace-children=no";
		/* The broker is a fork of the monitor: its errors must count. */
		argv[argc++] = (char *)"--child-silent-after-fork=no";
		argv[argc++] = (char *)"--num-callers=30";
		argv[argc++] = suppressions;
	}
	argv[argc++] = brigd_path;
	if (d->config_path[0]) {
		argv[argc++] = (char *)"--config";
		argv[argc++] = (char *)d->config_path;
	} else {
		argv[argc++] = (char *)"--default-config";
	}
	argv[argc++] = (char *)"--socket";
	argv[argc++] = (char *)d->socket_path;
	argv[argc++] = (char *)"--handlers";
	argv[argc++] = (char *)d->handler_dir;
	argv[argc] = NULL;
	execvp(argv[0], argv);
	fprintf(stderr, "harness: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/*
 * The broker drops to the system user "brig" (brigd refuses to start
 * without it): create it the way an installation does, from the
 * sysusers.d file of the source tree (idempotent).
 */
static void ensure_brig_user(void)
{
	char conf[PATH_MAX], command[PATH_MAX + 64];
	const char *src = getenv("BRIG_TOP_SRCDIR");

	if (getpwnam("brig"))
		return;
	snprintf(conf, sizeof(conf), "%s/systemd/sysusers.d/brig.conf", src ? src : ".");
	snprintf(command, sizeof(command), "systemd-sysusers '%s' >/dev/null 2>&1", conf);
	if (system(command) != 0 || !getpwnam("brig"))
		ck_abort_msg("there is no user 'brig' for brigd's broker, and systemd-sysusers %s "
			     "could not create it; run tests/debian-deps.sh", conf);
}

void brigd_start(struct brigd *d, const char *config)
{
	int64_t deadline;
	int log_fd;
	pid_t parent = getpid();

	ensure_brig_user();
	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), "/tmp/brig-e2e-XXXXXX");
	ck_assert_msg(mkdtemp(d->dir) != NULL, "mkdtemp: %s", strerror(errno));
	/* Workers (uid 65534) never touch it, but a readable dir eases debugging. */
	chmod(d->dir, 0755);
	snprintf(d->socket_path, sizeof(d->socket_path), "%s/brig.sock", d->dir);
	snprintf(d->log_path, sizeof(d->log_path), "%s/brigd.log", d->dir);
	if (config) {
		snprintf(d->config_path, sizeof(d->config_path), "%s/brigd.conf", d->dir);
		harness_write_file(d->config_path, config, strlen(config));
	}
	make_handler_dir(d);

	log_fd = open(d->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	ck_assert_msg(log_fd >= 0, "open %s: %s", d->log_path, strerror(errno));
	d->pid = fork();
	ck_assert_msg(d->pid >= 0, "fork: %s", strerror(errno));
	if (d->pid == 0) {
		if (getppid() != parent)
			_exit(126);
		exec_brigd(d, log_fd);
	}
	close(log_fd);
	current_daemon = d;

	deadline = harness_now_ms() + (int64_t)START_TIMEOUT_MS * harness_slowdown();
	for (;;) {
		int status;
		pid_t r = waitpid(d->pid, &status, WNOHANG);

		if (r == d->pid) {
			d->pid = 0;
			d->wait_status = status;
			harness_report_failure();
			ck_abort_msg("brigd exited during start-up (%s %d); log in %s",
				     WIFEXITED(status) ? "status" : "signal",
				     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
				     d->log_path);
		}
		if (daemon_answers(d)) {
			d->broker_pid = brigd_find_broker(d);
			E2E_ASSERT(d->broker_pid > 0, "brigd %d answers, but no broker among its "
				   "children", (int)d->pid);
			return;
		}
		if (harness_now_ms() > deadline) {
			harness_report_failure();
			kill(d->pid, SIGKILL);
			ck_abort_msg("brigd did not answer a HELLO with a WELCOME listing the test "
				     "handlers within %u ms (socket %s)",
				     START_TIMEOUT_MS * harness_slowdown(), d->socket_path);
		}
		harness_sleep_ms(POLL_INTERVAL_MS);
	}
}

bool brigd_wait_exit(struct brigd *d, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;

	if (d->pid == 0)
		return true;
	for (;;) {
		int status;
		pid_t r = waitpid(d->pid, &status, WNOHANG);

		if (r == d->pid) {
			d->pid = 0;
			d->wait_status = status;
			return true;
		}
		ck_assert_msg(r == 0, "waitpid(brigd %d): %s", (int)d->pid, strerror(errno));
		if (harness_now_ms() > deadline)
			return false;
		harness_sleep_ms(POLL_INTERVAL_MS);
	}
}

static void remove_tree(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *e;

	if (!dir) {
		unlink(path);
		return;
	}
	while ((e = readdir(dir))) {
		char child[PATH_MAX];
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
		if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
			remove_tree(child);
		else
			unlink(child);
	}
	closedir(dir);
	rmdir(path);
}

void brigd_cleanup(struct brigd *d)
{
	if (d->dir[0] && !getenv("BRIG_E2E_KEEP"))
		remove_tree(d->dir);
	if (current_daemon == d)
		current_daemon = NULL;
}

void brigd_stop(struct brigd *d)
{
	int status;

	if (d->pid > 0) {
		pid_t pid = d->pid;

		ck_assert_msg(kill(pid, SIGTERM) == 0, "kill(brigd %d, SIGTERM): %s", (int)pid,
			      strerror(errno));
		if (!brigd_wait_exit(d, STOP_TIMEOUT_MS * (int)harness_slowdown())) {
			harness_report_failure();
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			d->pid = 0;
			ck_abort_msg("brigd (pid %d) did not exit within %u ms of SIGTERM", (int)pid,
				     STOP_TIMEOUT_MS * harness_slowdown());
		}
	}
	status = d->wait_status;
	E2E_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		   "brigd did not stop cleanly on SIGTERM: %s %d",
		   WIFEXITED(status) ? "exit status" : "killed by signal",
		   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	brigd_cleanup(d);
}

/* ---- processes ---- */

static bool parse_pid(const char *s, pid_t *out)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)s[0]))
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v <= 0 || v > INT32_MAX)
		return false;
	*out = (pid_t)v;
	return true;
}

size_t proc_find_comm(const char *comm, pid_t *out, size_t max)
{
	DIR *dir = opendir("/proc");
	struct dirent *e;
	size_t found = 0;

	ck_assert_msg(dir != NULL, "opendir /proc: %s", strerror(errno));
	while ((e = readdir(dir))) {
		char path[64], name[64];
		pid_t pid;
		ssize_t n;
		int fd;

		if (!parse_pid(e->d_name, &pid))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;   /* gone meanwhile */
		n = read(fd, name, sizeof(name) - 1);
		close(fd);
		if (n <= 0)
			continue;
		name[n] = '\0';
		if (name[n - 1] == '\n')
			name[n - 1] = '\0';
		if (strcmp(name, comm) != 0)
			continue;
		if (found < max)
			out[found] = pid;
		found++;
	}
	closedir(dir);
	return found;
}

size_t proc_children(pid_t pid, pid_t *out, size_t max)
{
	char path[64];
	DIR *dir;
	struct dirent *e;
	size_t found = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return 0;
	while ((e = readdir(dir))) {
		char children_path[128];
		char *text, *p;
		pid_t tid;

		if (!parse_pid(e->d_name, &tid))
			continue;
		snprintf(children_path, sizeof(children_path), "/proc/%d/task/%d/children",
			 (int)pid, (int)tid);
		text = read_file(children_path, NULL);
		if (!text)
			continue;
		for (p = strtok(text, " \n"); p; p = strtok(NULL, " \n")) {
			pid_t child;

			if (!parse_pid(p, &child))
				continue;
			if (found < max)
				out[found] = child;
			found++;
		}
		free(text);
	}
	closedir(dir);
	return found;
}

int proc_fd_count(pid_t pid)
{
	char path[64];
	DIR *dir;
	struct dirent *e;
	int count = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.')
			count++;
	closedir(dir);
	return count;
}

/* The fields after "pid (comm)": comm may hold spaces and parentheses. */
static char *proc_stat_fields(pid_t pid)
{
	char path[64];
	char *text, *close_paren;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	text = read_file(path, NULL);
	if (!text)
		return NULL;
	close_paren = strrchr(text, ')');
	if (!close_paren || close_paren[1] != ' ') {
		free(text);
		return NULL;
	}
	memmove(text, close_paren + 2, strlen(close_paren + 2) + 1);
	return text;
}

char proc_state(pid_t pid)
{
	char *fields = proc_stat_fields(pid);
	char state;

	if (!fields)
		return 0;
	state = fields[0];
	free(fields);
	return state;
}

pid_t proc_ppid(pid_t pid)
{
	char *fields = proc_stat_fields(pid);
	int ppid = 0;

	if (!fields)
		return 0;
	if (sscanf(fields, "%*c %d", &ppid) != 1)
		ppid = 0;
	free(fields);
	return (pid_t)ppid;
}

unsigned long long proc_start_time(pid_t pid)
{
	char *fields = proc_stat_fields(pid);
	unsigned long long start = 0;
	char *p, *save = NULL;
	int field = 3;

	if (!fields)
		return 0;
	for (p = strtok_r(fields, " ", &save); p; p = strtok_r(NULL, " ", &save), field++) {
		if (field == 22) {
			start = strtoull(p, NULL, 10);
			break;
		}
	}
	free(fields);
	return start;
}

static bool same_pid_namespace(pid_t a, pid_t b)
{
	char path[64], ns_a[64], ns_b[64];
	ssize_t na, nb;

	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)a);
	na = readlink(path, ns_a, sizeof(ns_a));
	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)b);
	nb = readlink(path, ns_b, sizeof(ns_b));
	return na > 0 && na == nb && memcmp(ns_a, ns_b, (size_t)na) == 0;
}

/*
 * brigd --zygote 3 is exec'ed; the broker is a fork with brigd's argv.
 * A template or worker orphaned by a dying zygote is briefly the monitor's
 * child too (it is the subreaper), with the zygote's command line: but it
 * lives in a pid namespace of its own.
 */
static bool proc_is_zygote(pid_t pid, pid_t monitor)
{
	char path[64], buf[4096];
	ssize_t n;
	int fd;

	if (!same_pid_namespace(pid, monitor))
		return false;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	for (ssize_t i = 0; i + 8 <= n; i++)
		if (memcmp(buf + i, "--zygote", 8) == 0 && (i + 8 == n || buf[i + 8] == '\0'))
			return true;
	return false;
}

/* The monitor's children that are zygotes. */
static size_t monitor_zygotes(const struct brigd *d, pid_t *out, size_t max)
{
	pid_t children[64];
	size_t n, found = 0;

	if (d->pid <= 0)
		return 0;
	n = proc_children(d->pid, children, 64);
	for (size_t i = 0; i < n && i < 64; i++) {
		if (!proc_is_zygote(children[i], d->pid))
			continue;
		if (found < max)
			out[found] = children[i];
		found++;
	}
	return found;
}

pid_t brigd_zygote_pid(const struct brigd *d)
{
	pid_t zygote;

	return monitor_zygotes(d, &zygote, 1) == 1 ? zygote : 0;
}

/*
 * The broker: the monitor's oldest child in its pid namespace that is not a
 * zygote.  Others come and go (an access check's child, a zygote between
 * fork and exec); the broker was forked first and lives as long as brigd.
 */
pid_t brigd_find_broker(const struct brigd *d)
{
	pid_t children[64], broker = 0;
	unsigned long long oldest = 0;
	size_t n;

	if (d->pid <= 0)
		return 0;
	n = proc_children(d->pid, children, 64);
	for (size_t i = 0; i < n && i < 64; i++) {
		unsigned long long start;

		if (!same_pid_namespace(children[i], d->pid) || proc_is_zygote(children[i], d->pid))
			continue;
		start = proc_start_time(children[i]);
		if (start && (!broker || start < oldest)) {
			broker = children[i];
			oldest = start;
		}
	}
	return broker;
}

/* ---- raw client socket ---- */

int raw_connect(const struct brigd *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
	memcpy(sa.sun_path, d->socket_path, strlen(d->socket_path) + 1);
	E2E_ASSERT(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect %s: %s",
		   d->socket_path, strerror(errno));
	return fd;
}

int raw_send(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read exactly len bytes before deadline. */
static int read_exact(int fd, void *buf, size_t len, int64_t deadline)
{
	uint8_t *p = buf;

	while (len > 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - harness_now_ms();
		ssize_t n;
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		n = recv(fd, p, len, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return errno == ECONNRESET ? -ECONNRESET : -errno;
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int raw_read_frame(int fd, int timeout_ms, uint8_t **body, size_t *len)
{
	int64_t deadline = harness_now_ms() + timeout_ms;
	uint8_t header[FRAME_HEADER_SIZE];
	uint32_t body_len;
	uint8_t *buf;
	int r;

	r = read_exact(fd, header, sizeof(header), deadline);
	if (r < 0)
		return r;
	r = frame_parse_header(header, BRIG_FRAME_MAX_CEILING, &body_len);
	if (r < 0)
		return r;
	buf = malloc(body_len);
	ck_assert(buf != NULL);
	r = read_exact(fd, buf, body_len, deadline);
	if (r < 0) {
		free(buf);
		return r;
	}
	*body = buf;
	*len = body_len;
	return 0;
}

int raw_read_msg(int fd, int timeout_ms, struct raw_msg *m)
{
	struct msg_in in;
	struct msg_item item;
	uint8_t *body;
	size_t len;
	int r, type;

	memset(m, 0, sizeof(*m));
	r = raw_read_frame(fd, timeout_ms, &body, &len);
	if (r < 0)
		return r;
	type = msg_open(&in, body, len);
	switch (type) {
	case MSG_ERROR:
		r = msg_decode_error(&in, &m->error);
		break;
	case MSG_FINAL:
		r = msg_decode_final(&in, &m->final);
		break;
	case MSG_ITEM:
		r = msg_decode_item(&in, &item);
		m->item_job_id = item.job_id;
		m->item_seq = item.seq;
		break;
	case MSG_WELCOME:
		r = msg_decode_welcome(&in, &m->welcome);
		break;
	default:
		r = -EBADMSG;
		break;
	}
	if (r < 0)
		fprintf(stderr, "harness: undecodable frame from brigd (type %d): %s\n", type,
			in.error);
	msg_close(&in);
	free(body);
	if (r < 0)
		return -EBADMSG;
	m->type = type;
	return type;
}

static int send_sbuffer(int fd, msgpack_sbuffer *sb, int packed)
{
	int r = packed < 0 ? packed : raw_send(fd, sb->data, sb->size);

	msgpack_sbuffer_destroy(sb);
	return r;
}

int raw_send_hello(int fd, uint32_t version)
{
	struct msg_hello hello = { .version = version };
	msgpack_sbuffer sb;

	snprintf(hello.client, sizeof(hello.client), "brig-e2e-raw");
	msgpack_sbuffer_init(&sb);
	return send_sbuffer(fd, &sb, msg_pack_hello(&sb, &hello));
}

void raw_handshake(int fd, struct msg_welcome *welcome_out)
{
	struct raw_msg m;
	int r;

	r = raw_send_hello(fd, BRIG_PROTOCOL_VERSION);
	E2E_ASSERT(r == 0, "sending HELLO: %s", strerror(-r));
	r = raw_read_msg(fd, 5000, &m);
	E2E_ASSERT(r == MSG_WELCOME, "expected WELCOME after HELLO, got %d (%s)", r,
		   r < 0 ? strerror(-r) : msg_type_name(r));
	if (welcome_out) {
		*welcome_out = m.welcome;
		welcome_out->handlers = (struct strlist){ 0 };
		welcome_out->profiles = (struct strlist){ 0 };
	}
	strlist_free(&m.welcome.handlers);
	strlist_free(&m.welcome.profiles);
}

int raw_send_submit(int fd, uint32_t job_id, const char *handler, const void *input,
		    size_t input_len, uint32_t timeout_ms)
{
	struct msg_submit m = {
		.job_id = job_id, .input = input, .input_len = input_len, .timeout_ms = timeout_ms,
	};
	msgpack_sbuffer sb;

	snprintf(m.handler, sizeof(m.handler), "%s", handler);
	msgpack_sbuffer_init(&sb);
	return send_sbuffer(fd, &sb, msg_pack_submit(&sb, &m));
}

int raw_send_cancel(int fd, uint32_t job_id)
{
	msgpack_sbuffer sb;

	msgpack_sbuffer_init(&sb);
	return send_sbuffer(fd, &sb, msg_pack_cancel(&sb, &(struct msg_cancel){ job_id }));
}

int raw_wait_eof(int fd, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;
	char buf[4096];

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - harness_now_ms();
		ssize_t n;

		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 0;
	}
}

/* ---- running programs ---- */

void harness_run(const char *scratch_dir, char *const argv[], const char *stdin_path,
		 int timeout_ms, struct run_result *res)
{
	static unsigned serial;
	char out_path[PATH_MAX], err_path[PATH_MAX];
	int64_t deadline = harness_now_ms() + timeout_ms;
	int status;
	pid_t pid;

	serial++;
	snprintf(out_path, sizeof(out_path), "%s/run%u.out", scratch_dir, serial);
	snprintf(err_path, sizeof(err_path), "%s/run%u.err", scratch_dir, serial);
	pid = fork();
	ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int in = open(stdin_path ? stdin_path : "/dev/null", O_RDONLY);
		int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
		    dup2(err, 2) < 0)
			_exit(126);
		syscall(SYS_close_range, 3, ~0U, 0);
		execvp(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			break;
		ck_assert_msg(r == 0, "waitpid: %s", strerror(errno));
		if (harness_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			E2E_ASSERT(false, "%s did not finish within %d ms", argv[0], timeout_ms);
		}
		harness_sleep_ms(POLL_INTERVAL_MS);
	}
	res->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	res->out = read_file(out_path, NULL);
	res->err = read_file(err_path, NULL);
	ck_assert(res->out && res->err);
}

void run_result_free(struct run_result *res)
{
	free(res->out);
	free(res->err);
	res->out = res->err = NULL;
}

long proc_real_uid(pid_t pid)
{
	char path[64], line[256];
	long uid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Uid: %ld", &uid) == 1)
			break;
	fclose(f);
	return uid;
}

size_t harness_settled_children(const struct brigd *d, size_t expected, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms, stable_since = harness_now_ms();
	pid_t pids[512];
	size_t last = (size_t)-1;

	for (;;) {
		pid_t zygote = brigd_zygote_pid(d);
		size_t n = zygote ? proc_children(zygote, pids, 512) : 0;

		if (n != last) {
			last = n;
			stable_since = harness_now_ms();
		}
		if ((expected == (size_t)-1 || n == expected) && n > 0 &&
		    harness_now_ms() - stable_since >= 500)
			return n;
		if (harness_now_ms() > deadline)
			return n;
		harness_sleep_ms(50);
	}
}

int harness_settled_fd_count(pid_t pid, int expected, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;
	int n;

	while ((n = proc_fd_count(pid)) != expected && harness_now_ms() < deadline)
		harness_sleep_ms(20);
	return n;
}
