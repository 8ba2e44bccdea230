/*
 * Privilege separation (issue 5, docs/security.md), against a real brigd:
 * the broker, the process that parses client bytes, runs as the brig user
 * with no capability, no_new_privs and its own seccomp filter; with its
 * exact credentials /etc/shadow cannot be opened; reloads and zygote
 * deaths still work with the root monitor doing the privileged part; the
 * monitor's and the broker's sockets never reach a zygote or a worker; and
 * a broker that dies takes brigd down with it.
 *
 * How the broker is found: it is the monitor's (brigd's own pid's) only
 * child that was not exec'ed with --zygote (tests/harness.c,
 * brigd_find_broker); the monitor also logs "broker started as pid N".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <check.h>

#include "harness.h"
#include "msg.h"

/* ---- /proc/PID/status ---- */

/* The value of "Key:" in /proc/pid/status, whitespace-trimmed; false if absent. */
static bool status_field(pid_t pid, const char *key, char *out, size_t size)
{
	char path[64], line[512];
	size_t klen = strlen(key);
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *v;
		size_t n;

		if (strncmp(line, key, klen) != 0 || line[klen] != ':')
			continue;
		v = line + klen + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		n = strlen(v);
		while (n > 0 && (v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
			v[--n] = '\0';
		snprintf(out, size, "%s", v);
		found = true;
	}
	fclose(f);
	return found;
}

/* "Uid:" and "Gid:" hold four ids (real, effective, saved, fs): all equal to id? */
static bool ids_all(pid_t pid, const char *key, unsigned id)
{
	char value[128];
	unsigned v[4];

	if (!status_field(pid, key, value, sizeof(value)) ||
	    sscanf(value, "%u %u %u %u", &v[0], &v[1], &v[2], &v[3]) != 4)
		return false;
	return v[0] == id && v[1] == id && v[2] == id && v[3] == id;
}

static unsigned long long status_hex(pid_t pid, const char *key)
{
	char value[64];

	E2E_ASSERT(status_field(pid, key, value, sizeof(value)), "no %s in /proc/%d/status", key,
		   (int)pid);
	return strtoull(value, NULL, 16);
}

static long status_long(pid_t pid, const char *key)
{
	char value[64];

	E2E_ASSERT(status_field(pid, key, value, sizeof(value)), "no %s in /proc/%d/status", key,
		   (int)pid);
	return strtol(value, NULL, 10);
}

static const struct passwd *brig_user(void)
{
	const struct passwd *pw = getpwnam("brig");

	ck_assert_msg(pw != NULL, "no user brig (the harness creates it)");
	return pw;
}

/* ---- one job, to see that brigd serves ---- */

static int echo_job(const struct brigd *d, uint32_t job_id, int timeout_ms)
{
	struct raw_msg m;
	int fd = raw_connect(d), type;

	raw_handshake(fd, NULL);
	ck_assert(raw_send_submit(fd, job_id, "echo", "privsep", 7, 0) == 0);
	do {
		type = raw_read_msg(fd, timeout_ms, &m);
	} while (type == MSG_ITEM);
	close(fd);
	if (type != MSG_FINAL || m.final.job_id != job_id)
		return -1;
	return (int)m.final.outcome;
}

/* ------------------------------------------------------------------ */

START_TEST(test_broker_runs_unprivileged)
{
	const struct passwd *pw = brig_user();
	struct brigd d;
	pid_t zygote;
	char groups[128], expect[32];

	brigd_start(&d, NULL);
	zygote = brigd_zygote_pid(&d);
	E2E_ASSERT(zygote > 0, "no zygote under brigd %d", (int)d.pid);
	E2E_ASSERT(d.broker_pid > 0 && d.broker_pid != zygote, "broker %d, zygote %d",
		   (int)d.broker_pid, (int)zygote);

	E2E_ASSERT(ids_all(d.broker_pid, "Uid", pw->pw_uid), "broker %d: Uid is not %u four "
		   "times", (int)d.broker_pid, (unsigned)pw->pw_uid);
	E2E_ASSERT(ids_all(d.broker_pid, "Gid", pw->pw_gid), "broker %d: Gid is not %u four "
		   "times", (int)d.broker_pid, (unsigned)pw->pw_gid);
	E2E_ASSERT(status_field(d.broker_pid, "Groups", groups, sizeof(groups)), "no Groups");
	snprintf(expect, sizeof(expect), "%u", (unsigned)pw->pw_gid);
	E2E_ASSERT(strcmp(groups, expect) == 0, "broker's groups '%s', expected only '%s'",
		   groups, expect);
	E2E_ASSERT(status_hex(d.broker_pid, "CapInh") == 0, "CapInh");
	E2E_ASSERT(status_hex(d.broker_pid, "CapPrm") == 0, "CapPrm");
	E2E_ASSERT(status_hex(d.broker_pid, "CapEff") == 0, "CapEff");
	E2E_ASSERT(status_hex(d.broker_pid, "CapBnd") == 0, "CapBnd %llx",
		   status_hex(d.broker_pid, "CapBnd"));
	E2E_ASSERT(status_hex(d.broker_pid, "CapAmb") == 0, "CapAmb");
	E2E_ASSERT(status_long(d.broker_pid, "NoNewPrivs") == 1, "NoNewPrivs");
	/* valgrind has no seccomp(2): the broker skips its filter there. */
	if (!harness_under_valgrind()) {
		E2E_ASSERT(status_long(d.broker_pid, "Seccomp") == 2, "Seccomp is %ld, not 2 "
			   "(filter)", status_long(d.broker_pid, "Seccomp"));
		E2E_ASSERT(status_long(d.broker_pid, "Seccomp_filters") >= 1, "no seccomp filter");
	}

	/* The other two keep what building sandboxes needs: root, unfiltered. */
	E2E_ASSERT(ids_all(d.pid, "Uid", 0), "the monitor is not root");
	E2E_ASSERT(ids_all(zygote, "Uid", 0), "the zygote is not root");
	E2E_ASSERT(status_long(zygote, "Seccomp") == 0, "the zygote runs under seccomp");

	/* And the broker still does its job. */
	E2E_ASSERT(echo_job(&d, 1, 10000) == BRIG_OUTCOME_OK, "an echo job failed");
	brigd_stop(&d);
}
END_TEST

/*
 * Take pid's exact identity (uids, gids, groups from /proc; setresuid to a
 * non-zero uid empties the capability sets, as the broker's are) and try
 * to open path.  Returns the errno of open(), 0 if it opened.
 */
static int open_as(pid_t pid, const char *path)
{
	char value[512], *save = NULL;
	unsigned uid[4], gid[4];
	gid_t groups[64];
	size_t ngroups = 0;
	int pipefd[2], err = -1, status;
	pid_t child;

	E2E_ASSERT(status_field(pid, "Uid", value, sizeof(value)) &&
		   sscanf(value, "%u %u %u", &uid[0], &uid[1], &uid[2]) == 3, "Uid of %d", (int)pid);
	E2E_ASSERT(status_field(pid, "Gid", value, sizeof(value)) &&
		   sscanf(value, "%u %u %u", &gid[0], &gid[1], &gid[2]) == 3, "Gid of %d", (int)pid);
	E2E_ASSERT(status_field(pid, "Groups", value, sizeof(value)), "Groups of %d", (int)pid);
	for (char *t = strtok_r(value, " ", &save); t && ngroups < 64; t = strtok_r(NULL, " ", &save))
		groups[ngroups++] = (gid_t)strtoul(t, NULL, 10);
	ck_assert(pipe2(pipefd, O_CLOEXEC) == 0);
	child = fork();
	ck_assert(child >= 0);
	if (child == 0) {
		int e;

		if (setgroups(ngroups, groups) < 0 || setresgid(gid[0], gid[1], gid[2]) < 0 ||
		    setresuid(uid[0], uid[1], uid[2]) < 0)
			_exit(2);
		/* The broker has no capability at all: neither may we. */
		if (status_hex(getpid(), "CapEff") != status_hex(pid, "CapEff"))
			_exit(3);
		e = open(path, O_RDONLY | O_CLOEXEC) < 0 ? errno : 0;
		if (write(pipefd[1], &e, sizeof(e)) != sizeof(e))
			_exit(4);
		_exit(0);
	}
	close(pipefd[1]);
	if (read(pipefd[0], &err, sizeof(err)) != sizeof(err))
		err = -1;
	close(pipefd[0]);
	ck_assert(waitpid(child, &status, 0) == child);
	E2E_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		   "could not take the identity of %d (status 0x%x)", (int)pid, (unsigned)status);
	return err;
}

START_TEST(test_broker_cannot_open_shadow)
{
	struct brigd d;
	int fd;

	/* The test itself (root) can: otherwise the check below proves nothing. */
	fd = open("/etc/shadow", O_RDONLY | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "root cannot open /etc/shadow here: %s", strerror(errno));
	close(fd);

	brigd_start(&d, NULL);
	E2E_ASSERT(open_as(d.broker_pid, "/etc/shadow") == EACCES,
		   "with the broker's credentials /etc/shadow opened (or failed otherwise)");
	/* The same helper with the monitor's (root) credentials does open it. */
	E2E_ASSERT(open_as(d.pid, "/etc/shadow") == 0, "the monitor's credentials cannot open it");
	/* ... and the broker is under its filter (checked in detail above). */
	E2E_ASSERT(harness_under_valgrind() || status_long(d.broker_pid, "Seccomp") == 2,
		   "no seccomp filter");
	brigd_stop(&d);
}
END_TEST

/* ---- invariant 5: the monitor's and broker's sockets stay theirs ---- */

/* Socket inodes among pid's descriptors; returns how many (up to max). */
static size_t socket_inodes(pid_t pid, unsigned long *out, size_t max)
{
	char dir[64];
	struct dirent *e;
	size_t n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	if (!d)
		return 0;
	while ((e = readdir(d)) && n < max) {
		char path[PATH_MAX], target[64];
		ssize_t len;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		len = readlink(path, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		if (sscanf(target, "socket:[%lu]", &out[n]) == 1)
			n++;
	}
	closedir(d);
	return n;
}

/* pid and every descendant of it, up to max. */
static size_t descendants(pid_t pid, pid_t *out, size_t max)
{
	size_t n = 0, next = 0;

	out[n++] = pid;
	while (next < n) {
		pid_t kids[256];
		size_t k = proc_children(out[next++], kids, 256);

		for (size_t i = 0; i < k && i < 256 && n < max; i++)
			out[n++] = kids[i];
	}
	return n;
}

START_TEST(test_daemon_sockets_never_reach_zygote_or_workers)
{
	unsigned long daemon_socks[512], theirs[512];
	pid_t procs[256], zygote;
	size_t nd, np, checked = 0;
	struct brigd d;

	brigd_start(&d, NULL);
	/* A job first, so that the pool's workers exist and the broker holds a
	 * client connection's worth of sockets. */
	E2E_ASSERT(echo_job(&d, 1, 10000) == BRIG_OUTCOME_OK, "an echo job failed");
	zygote = brigd_zygote_pid(&d);
	E2E_ASSERT(zygote > 0, "no zygote");
	nd = socket_inodes(d.pid, daemon_socks, 512);
	/* The monitor holds its two channels to the broker, at least. */
	E2E_ASSERT(nd >= 2, "the monitor holds %zu sockets", nd);
	nd += socket_inodes(d.broker_pid, daemon_socks + nd, 512 - nd);
	np = descendants(zygote, procs, 256);
	E2E_ASSERT(np >= 2, "the zygote has no worker or template (%zu processes)", np);
	for (size_t i = 0; i < np; i++) {
		size_t nt = socket_inodes(procs[i], theirs, 512);

		for (size_t k = 0; k < nt; k++)
			for (size_t j = 0; j < nd; j++)
				E2E_ASSERT(theirs[k] != daemon_socks[j], "process %d (under the zygote) "
					   "holds socket %lu of the monitor or the broker",
					   (int)procs[i], theirs[k]);
		checked++;
	}
	E2E_ASSERT(checked == np, "checked %zu of %zu processes", checked, np);
	brigd_stop(&d);
}
END_TEST

/* ---- the monitor does what the broker may no longer do ---- */

START_TEST(test_zygote_killed_under_privsep)
{
	struct brigd d;
	pid_t zygote, fresh = 0, broker;
	int64_t killed_at, deadline;
	int outcome = -1;

	brigd_start(&d, NULL);
	broker = d.broker_pid;
	zygote = brigd_zygote_pid(&d);
	E2E_ASSERT(zygote > 0, "no zygote");
	ck_assert(kill(zygote, SIGKILL) == 0);
	killed_at = harness_now_ms();
	/* The broker cannot fork or signal a root process: the new zygote comes
	 * from the monitor, and must serve within a second. */
	deadline = killed_at + 1000 * (int64_t)harness_slowdown();
	while (harness_now_ms() < deadline) {
		fresh = brigd_zygote_pid(&d);
		if (fresh > 0 && fresh != zygote && (outcome = echo_job(&d, 2, 1000)) ==
		    BRIG_OUTCOME_OK)
			break;
		harness_sleep_ms(20);
	}
	E2E_ASSERT(outcome == BRIG_OUTCOME_OK, "no job served within 1 s of the zygote's death "
		   "(new zygote %d, outcome %d)", (int)fresh, outcome);
	fprintf(stderr, "privsep: a new zygote served %" PRId64 " ms after the kill\n",
		harness_now_ms() - killed_at);
	E2E_ASSERT(proc_ppid(fresh) == d.pid, "the new zygote's parent is %d, not the monitor",
		   (int)proc_ppid(fresh));
	E2E_ASSERT(brigd_find_broker(&d) == broker, "the broker was replaced");
	E2E_ASSERT(harness_under_valgrind() || status_long(broker, "Seccomp") == 2,
		   "the broker lost its filter");
	brigd_stop(&d);
}
END_TEST

static const char reload_config_a[] =
	"[brigd]\n"
	"log_level = debug\n";
static const char reload_config_b[] =
	"[brigd]\n"
	"log_level = debug\n"
	"[profile extra]\n"
	"pool_size = 1\n";

static bool welcome_has_profile(const struct brigd *d, const char *name)
{
	struct raw_msg m;
	bool found = false;
	int fd = raw_connect(d);

	ck_assert(raw_send_hello(fd, BRIG_PROTOCOL_VERSION) == 0);
	E2E_ASSERT(raw_read_msg(fd, 5000, &m) == MSG_WELCOME, "no WELCOME");
	for (size_t i = 0; i < m.welcome.profiles.count; i++)
		found |= strcmp(m.welcome.profiles.names[i], name) == 0;
	strlist_free(&m.welcome.handlers);
	strlist_free(&m.welcome.profiles);
	close(fd);
	return found;
}

START_TEST(test_reload_under_privsep)
{
	struct brigd d;
	pid_t zygote, fresh = 0, broker;
	int64_t deadline;

	brigd_start(&d, reload_config_a);
	broker = d.broker_pid;
	zygote = brigd_zygote_pid(&d);
	E2E_ASSERT(!welcome_has_profile(&d, "extra"), "profile extra before the reload");
	/* The broker (user brig) reads the file again; the monitor makes the
	 * new zygote.  SIGHUP goes to brigd, the monitor, which passes it on. */
	harness_write_file(d.config_path, reload_config_b, strlen(reload_config_b));
	ck_assert(chmod(d.config_path, 0644) == 0);
	ck_assert(kill(d.pid, SIGHUP) == 0);
	deadline = harness_now_ms() + 5000 * (int64_t)harness_slowdown();
	while (harness_now_ms() < deadline && !welcome_has_profile(&d, "extra"))
		harness_sleep_ms(50);
	E2E_ASSERT(welcome_has_profile(&d, "extra"), "the reload did not take the new file");
	while (harness_now_ms() < deadline) {
		fresh = brigd_zygote_pid(&d);
		if (fresh > 0 && fresh != zygote)
			break;
		harness_sleep_ms(50);
	}
	E2E_ASSERT(fresh > 0 && fresh != zygote, "no new zygote after the reload");
	E2E_ASSERT(echo_job(&d, 3, 10000) == BRIG_OUTCOME_OK, "no job after the reload");
	E2E_ASSERT(brigd_find_broker(&d) == broker, "the broker was replaced by a reload");

	/* A file the broker cannot read is refused, and the running one stays. */
	ck_assert(chmod(d.config_path, 0600) == 0);
	ck_assert(kill(d.pid, SIGHUP) == 0);
	harness_sleep_ms(500 * harness_slowdown());
	E2E_ASSERT(welcome_has_profile(&d, "extra"), "an unreadable file dropped the config");
	E2E_ASSERT(echo_job(&d, 4, 10000) == BRIG_OUTCOME_OK, "no job after a refused reload");
	brigd_stop(&d);
}
END_TEST

/* ---- the monitor ends with the broker ---- */

START_TEST(test_broker_death_stops_brigd)
{
	struct brigd d;
	pid_t zygote;
	struct stat st;

	brigd_start(&d, NULL);
	zygote = brigd_zygote_pid(&d);
	ck_assert(kill(d.broker_pid, SIGKILL) == 0);
	E2E_ASSERT(brigd_wait_exit(&d, 10000 * (int)harness_slowdown()),
		   "brigd is still running 10 s after its broker was killed");
	E2E_ASSERT(WIFEXITED(d.wait_status) && WEXITSTATUS(d.wait_status) == 128 + SIGKILL,
		   "brigd's status 0x%x: expected exit %d (the broker's death by SIGKILL)",
		   (unsigned)d.wait_status, 128 + SIGKILL);
	E2E_ASSERT(proc_start_time(zygote) == 0 || proc_state(zygote) == 'Z',
		   "the zygote %d outlived brigd", (int)zygote);
	E2E_ASSERT(lstat(d.socket_path, &st) < 0 && errno == ENOENT,
		   "the socket file was left behind");
	brigd_cleanup(&d);
}
END_TEST

/* ---- start-up: the user must exist, unless root is asked for ---- */

START_TEST(test_missing_user_refused)
{
	char dir[] = "/tmp/brig-privsep-XXXXXX", conf[128], sock[128], handlers[128];
	const char *build = harness_builddir();
	char brigd[PATH_MAX];
	struct run_result res;
	static const char text[] = "[brigd]\nbroker_user = brig-no-such-user\n";

	ck_assert(mkdtemp(dir) != NULL);
	snprintf(conf, sizeof(conf), "%s/brigd.conf", dir);
	snprintf(sock, sizeof(sock), "%s/brig.sock", dir);
	snprintf(handlers, sizeof(handlers), "%s/handlers/.libs", build);
	snprintf(brigd, sizeof(brigd), "%s/brigd", build);
	harness_write_file(conf, text, strlen(text));
	{
		char *argv[] = { brigd, (char *)"--config", conf, (char *)"--socket", sock,
				 (char *)"--handlers", handlers, NULL };

		harness_run(dir, argv, NULL, 10000, &res);
	}
	ck_assert_msg(res.status != 0, "brigd started without its broker's user");
	ck_assert_msg(strstr(res.err, "'brig-no-such-user' does not exist") &&
		      strstr(res.err, "broker_user = root"),
		      "the refusal does not say what is wrong and what to do: %s", res.err);
	ck_assert_msg(access(sock, F_OK) < 0, "a socket was bound before the refusal");
	run_result_free(&res);
	{
		char command[256];

		snprintf(command, sizeof(command), "rm -rf '%s'", dir);
		ck_assert(system(command) == 0);
	}
}
END_TEST

START_TEST(test_root_broker_on_request)
{
	static const char text[] = "[brigd]\nbroker_user = root\n";
	struct brigd d;

	brigd_start(&d, text);
	/* Development only: root, but still no_new_privs and the filter. */
	E2E_ASSERT(ids_all(d.broker_pid, "Uid", 0), "broker_user = root: broker not root");
	E2E_ASSERT(status_long(d.broker_pid, "NoNewPrivs") == 1, "NoNewPrivs");
	E2E_ASSERT(harness_under_valgrind() || status_long(d.broker_pid, "Seccomp") == 2,
		   "no seccomp filter");
	E2E_ASSERT(echo_job(&d, 1, 10000) == BRIG_OUTCOME_OK, "an echo job failed");
	brigd_stop(&d);
}
END_TEST

static Suite *privsep_suite(void)
{
	Suite *s = suite_create("privsep");
	TCase *tc = tcase_create("privsep");

	tcase_add_checked_fixture(tc, harness_test_setup, harness_test_teardown);
	tcase_add_test(tc, test_broker_runs_unprivileged);
	tcase_add_test(tc, test_broker_cannot_open_shadow);
	tcase_add_test(tc, test_daemon_sockets_never_reach_zygote_or_workers);
	tcase_add_test(tc, test_zygote_killed_under_privsep);
	tcase_add_test(tc, test_reload_under_privsep);
	tcase_add_test(tc, test_broker_death_stops_brigd);
	tcase_add_test(tc, test_missing_user_refused);
	tcase_add_test(tc, test_root_broker_on_request);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (geteuid() != 0) {
		fprintf(stderr, "check_privsep: brigd needs root; skipping\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	sr = srunner_create(privsep_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
