/*
 * The escape battery: tests/escape/escape (a static program) run as exec
 * jobs of a real brigd, under three profiles:
 *  - battery: every default (namespaces, empty view, Landlock, seccomp
 *    deny-list with the kill action, a fresh uid per worker), which makes
 *    its workers forks of one template sharing the profile's namespaces;
 *  - fixed: the same with a fixed uid, so fresh namespaces per worker,
 *    straight from the zygote;
 *  - exec: the built-in profile (host /usr read-only, a private /tmp).
 * Each also holds the directories of the battery and its setuid copy.
 * The job uids are this run's own (see uid_block()), so that a concurrent
 * run on the same host (another make check) shares no uid, and with it no
 * RLIMIT_NPROC count, with this one.
 *
 * The battery prints one line per check (CHECK <name> CONTAINED|ESCAPED|
 * ERROR <detail>) and DONE <count>.  This test fails on any ESCAPED or
 * ERROR and on any check of expected_checks[] that did not report, so a
 * check that silently stops running fails it too.  Around the job, the
 * test holds what the battery attacks and checks from the outside that it
 * was not reached: a TCP and a UDP listener on 127.0.0.1, an abstract unix
 * socket, host processes with every uid a job may get (alive at the end),
 * the host's hostname, brigd itself (serves the next job), and a peer job
 * of the same profile running alongside (it counts every connection,
 * datagram and signal that reaches it: none may).
 *
 * Then kill(-1, SIGKILL) from a job while another job of the same profile
 * runs (it must finish), and a job that leaves a detached process, a fork
 * bomb and a memory bomb (each job ends, nothing of it is left, brigd
 * serves the next one).
 *
 * Needs root (brigd builds sandboxes); skipped (exit 77) otherwise.
 * docs/security.md says what each check means.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <grp.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <check.h>

#include "harness.h"
#include "msg.h"
#include "wire.h"

#define NOBODY_UID 65534                /* also a host process's uid */
#define JOB_GID 65534                   /* every profile's group */
/* Small fresh-uid ranges, so that a host process can hold every uid a job
 * may get (the built-in ranges hold 1024): battery, then exec, then the
 * fixed profile's one uid. */
#define RANGE_UIDS 4
#define UIDS_PER_RUN 16
#define HOST_PROCESSES (2 + 2 * RANGE_UIDS)
#define HOST_PROCESS_NAME "escape-target"
#define BATTERY_TIMEOUT_MS 30000
#define FORK_BOMB_TIMEOUT_MS 3000
#define MEMORY_BOMB_TIMEOUT_MS 20000
#define SLEEPER_MS 2000
#define PEER_MS 2000                    /* the peer job outlives the battery */
/* The default rlimit_as (spec.c): a memory bomb must stop below it. */
#define DEFAULT_RLIMIT_AS_MIB 1024

#if defined(__SANITIZE_ADDRESS__)
#define BRIG_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BRIG_TEST_ASAN 1
#endif
#endif

/*
 * Every check the battery must report, kept here rather than taken from
 * the battery so that a check dropped there fails this test.
 */
static const char *const expected_checks[] = {
	"uid_root", "groups_root", "caps_status", "caps_capget", "no_new_privs", "seccomp_mode",
	"inherited_fds", "read_shadow", "host_paths_hidden", "write_root", "write_etc",
	"write_usr", "write_tmp", "write_dev", "write_proc", "write_proc_root", "write_cwd",
	"write_exec_dir", "write_setuid_dir", "modify_binaries", "proc_self_exe_write",
	"dev_nodes", "tcp_connect_loopback", "udp_send_loopback", "abstract_socket",
	"abstract_socket_peer", "abstract_dgram_peer", "brigd_socket", "brigd_socket_proc", "proc_net_unix", "host_netif", "raw_socket",
	"packet_socket", "netlink_audit", "host_processes", "signal_sweep", "pidfd_signal_peer",
	"kill_host_0", "kill_host_sigkill",
	"pidfd_open_host", "ptrace_attach_host", "ptrace_seize_host", "process_vm_readv_host",
	"ptrace_attach_worker", "process_vm_readv_worker", "worker_memory",
	"worker_channel_proc", "worker_channel_pidfd", "mount_tmpfs", "mount_bind",
	"mount_remount_rw", "mount_proc", "umount_proc", "fsopen", "open_tree", "move_mount",
	"mount_setattr", "unshare_user", "unshare_mount", "unshare_pid", "unshare_net",
	"unshare_uts", "unshare_ipc", "unshare_cgroup", "unshare_time", "clone_newuser",
	"clone_newns", "clone3_newuser", "setns_self", "setns_pid1", "setns_host",
	"chroot_escape", "pivot_root", "name_to_handle_at", "open_by_handle_at",
	"tiocsti_stdin", "tiocsti_dev_tty", "tioclinux", "keyctl", "add_key", "request_key",
	"bpf", "perf_event_open", "userfaultfd", "dev_userfaultfd", "io_uring_setup",
	"kexec_load", "init_module", "finit_module", "delete_module", "iopl", "ioperm",
	"swapon", "acct", "reboot", "clock_settime", "personality_read_implies_exec",
	"personality_addr_no_randomize", "setuid_binary", "syslog_read_all", "syslog_size",
	"dev_kmsg", "proc_kmsg", "sethostname", "setdomainname", "mknod_char", "mknod_block",
	"mknodat_char", "proc_sys_core_pattern", "proc_sysrq_trigger", "sys_write",
};
#define EXPECTED_COUNT (sizeof(expected_checks) / sizeof(expected_checks[0]))

/* ------------------------------------------------------------------ */
/* what the battery attacks, held by the test                           */

struct targets {
	struct brigd d;
	char escape_dir[PATH_MAX];      /* the build tree's tests/escape */
	char escape_path[PATH_MAX + 16];
	char setuid_dir[64];            /* /tmp/brig-escape-XXXXXX */
	char setuid_path[128];
	int tcp_fd, udp_fd, abstract_fd;
	int port;
	char abstract_name[64];
	uid_t uid_base;                 /* this run's uids: uid_block() */
	pid_t host_pids[HOST_PROCESSES];  /* one per job uid, named HOST_PROCESS_NAME */
	char hostname[256];
};

static void copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC);
	int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
	ssize_t n;

	ck_assert_msg(in >= 0, "open %s: %s (not built?)", from, strerror(errno));
	ck_assert_msg(out >= 0, "create %s: %s", to, strerror(errno));
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ck_assert_msg(write(out, buf, (size_t)n) == n, "write %s: %s", to, strerror(errno));
	ck_assert_msg(n == 0, "read %s: %s", from, strerror(errno));
	close(in);
	/* Owner first: chown clears the setuid bit. */
	ck_assert_msg(fchown(out, 0, JOB_GID) == 0, "chown %s: %s", to, strerror(errno));
	ck_assert_msg(fchmod(out, mode) == 0, "chmod %s: %s", to, strerror(errno));
	close(out);
}

/*
 * The setuid-root copy: only root and the job's group can run it (mode
 * 04750, group 65534), and run setuid it does nothing but print its euid.
 * It exists only while a battery job runs; a failing test ends before its
 * clean-up, so later runs remove what such a run left (after ten minutes,
 * far longer than any run takes).
 */
static void setuid_copy_install(const struct targets *t)
{
	copy_file(t->escape_path, t->setuid_path, 04750);
}

static void setuid_copy_remove(const struct targets *t)
{
	unlink(t->setuid_path);
}

static void remove_stale_setuid_dirs(void)
{
	DIR *tmp = opendir("/tmp");
	struct dirent *e;

	if (!tmp)
		return;
	while ((e = readdir(tmp))) {
		char dir[300], file[340];
		struct stat st;

		if (strncmp(e->d_name, "brig-escape-", 12) != 0)
			continue;
		snprintf(dir, sizeof(dir), "/tmp/%s", e->d_name);
		if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
		    time(NULL) - st.st_mtime < 600)
			continue;
		snprintf(file, sizeof(file), "%s/escape-setuid", dir);
		unlink(file);
		rmdir(dir);
	}
	closedir(tmp);
}

/* TCP and UDP on one port of 127.0.0.1, so that the battery needs one number. */
static void open_listeners(struct targets *t)
{
	for (int attempt = 0; attempt < 20; attempt++) {
		struct sockaddr_in sa = { .sin_family = AF_INET };
		socklen_t len = sizeof(sa);

		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		t->tcp_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		ck_assert_msg(t->tcp_fd >= 0, "socket: %s", strerror(errno));
		ck_assert_msg(bind(t->tcp_fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
			      listen(t->tcp_fd, 16) == 0 &&
			      getsockname(t->tcp_fd, (struct sockaddr *)&sa, &len) == 0,
			      "TCP listener: %s", strerror(errno));
		t->port = ntohs(sa.sin_port);
		t->udp_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		ck_assert_msg(t->udp_fd >= 0, "socket: %s", strerror(errno));
		if (bind(t->udp_fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return;
		close(t->udp_fd);
		close(t->tcp_fd);
	}
	ck_abort_msg("no port of 127.0.0.1 was free for both TCP and UDP");
}

static void open_abstract(struct targets *t)
{
	static unsigned serial;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n;

	snprintf(t->abstract_name, sizeof(t->abstract_name), "brig-escape-%d-%u", (int)getpid(),
		 serial++);
	n = strlen(t->abstract_name);
	memcpy(sa.sun_path + 1, t->abstract_name, n);
	t->abstract_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_msg(t->abstract_fd >= 0, "socket: %s", strerror(errno));
	ck_assert_msg(bind(t->abstract_fd, (struct sockaddr *)&sa,
			   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)) == 0 &&
		      listen(t->abstract_fd, 16) == 0, "abstract socket @%s: %s", t->abstract_name,
		      strerror(errno));
}

/* A host process with a job's uid: what a job must not signal or trace. */
static pid_t start_host_process(uid_t uid)
{
	char path[64], text[4096];
	int64_t deadline;
	pid_t pid = fork();

	ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_NAME, HOST_PROCESS_NAME, 0, 0, 0);
		if (setgroups(0, NULL) < 0 || setresgid(JOB_GID, JOB_GID, JOB_GID) < 0 ||
		    setresuid(uid, uid, uid) < 0)
			_exit(1);
		/* After setresuid, which clears it: dies with the test. */
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		for (;;)
			pause();
	}
	/* Attack it only once it runs as the job's uid. */
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	deadline = harness_now_ms() + 5000;
	for (;;) {
		FILE *f = fopen(path, "re");
		bool ready = false;

		if (f) {
			while (fgets(text, sizeof(text), f))
				if (strncmp(text, "Uid:", 4) == 0)
					ready = strtoul(text + 4, NULL, 10) == uid;
			fclose(f);
		}
		if (ready)
			return pid;
		ck_assert_msg(harness_now_ms() < deadline, "the host process never became uid %u",
			      (unsigned)uid);
		harness_sleep_ms(5);
	}
}

static bool host_process_alive(pid_t pid)
{
	return waitpid(pid, NULL, WNOHANG) == 0 && kill(pid, 0) == 0;
}

/*
 * This run's block of uids, far from the built-in ranges (which start at
 * BRIG_FRESH_UID_BASE, 3000000000) and from any real user.
 */
static uid_t uid_block(void)
{
	return 3000100000u + (uid_t)(getpid() % 50000) * UIDS_PER_RUN;
}

static void targets_start(struct targets *t)
{
	static char config[4 * PATH_MAX + 1024];

	memset(t, 0, sizeof(*t));
	snprintf(t->escape_dir, sizeof(t->escape_dir), "%s/tests/escape", harness_builddir());
	snprintf(t->escape_path, sizeof(t->escape_path), "%s/escape", t->escape_dir);
	ck_assert_msg(access(t->escape_path, X_OK) == 0, "%s: %s (not built?)", t->escape_path,
		      strerror(errno));

	/* The setuid copy lives apart from the build tree, in a directory only
	 * root and the job's group can enter; the copy itself exists only
	 * while a battery runs (setuid_copy_install). */
	remove_stale_setuid_dirs();
	snprintf(t->setuid_dir, sizeof(t->setuid_dir), "/tmp/brig-escape-XXXXXX");
	ck_assert_msg(mkdtemp(t->setuid_dir) != NULL, "mkdtemp: %s", strerror(errno));
	ck_assert(chown(t->setuid_dir, 0, JOB_GID) == 0 && chmod(t->setuid_dir, 0750) == 0);
	snprintf(t->setuid_path, sizeof(t->setuid_path), "%s/escape-setuid", t->setuid_dir);

	open_listeners(t);
	open_abstract(t);
	t->uid_base = uid_block();
	t->host_pids[0] = start_host_process(NOBODY_UID);
	for (unsigned i = 0; i < 2 * RANGE_UIDS + 1; i++)
		t->host_pids[1 + i] = start_host_process(t->uid_base + i);
	ck_assert(gethostname(t->hostname, sizeof(t->hostname)) == 0);

	/*
	 * Each profile: its defaults plus the two directories holding the
	 * programs.  The built-in ones keep few warm workers: fewer processes
	 * for the bombs to share a limit with.
	 */
	snprintf(config, sizeof(config),
		 "[profile default]\npool_size = 1\n"
		 "[profile parser]\npool_size = 0\n"
		 "[profile exec]\npool_size = 1\nfresh_uid_range = %u-%u\nexec = %s\nexec = %s\n"
		 "[profile battery]\nfresh_uid_range = %u-%u\nexec = %s\nexec = %s\n"
		 "exec_jobs = yes\npool_size = 2\ntimeout_ms = %d\n"
		 "[profile fixed]\nuser = %u\nexec = %s\nexec = %s\n"
		 "exec_jobs = yes\npool_size = 2\ntimeout_ms = %d\n",
		 t->uid_base + RANGE_UIDS, t->uid_base + 2 * RANGE_UIDS - 1, t->escape_dir,
		 t->setuid_dir, t->uid_base, t->uid_base + RANGE_UIDS - 1, t->escape_dir,
		 t->setuid_dir, BATTERY_TIMEOUT_MS, t->uid_base + 2 * RANGE_UIDS, t->escape_dir,
		 t->setuid_dir, BATTERY_TIMEOUT_MS);
	brigd_start(&t->d, config);
}

/* What the battery attacked from inside must be untouched outside. */
static void targets_check_untouched(struct targets *t)
{
	char name[256] = "", datagram[64];
	int fd;

	fd = accept4(t->tcp_fd, NULL, NULL, SOCK_CLOEXEC);
	E2E_ASSERT(fd < 0 && (errno == EAGAIN || errno == EWOULDBLOCK),
		   "the TCP listener on 127.0.0.1:%d accepted a connection from a job", t->port);
	E2E_ASSERT(recv(t->udp_fd, datagram, sizeof(datagram), MSG_DONTWAIT) < 0,
		   "the UDP socket on 127.0.0.1:%d received a datagram from a job", t->port);
	fd = accept4(t->abstract_fd, NULL, NULL, SOCK_CLOEXEC);
	E2E_ASSERT(fd < 0 && (errno == EAGAIN || errno == EWOULDBLOCK),
		   "the abstract socket @%s accepted a connection from a job", t->abstract_name);
	for (size_t i = 0; i < HOST_PROCESSES; i++)
		E2E_ASSERT(host_process_alive(t->host_pids[i]), "the host process %d (a job's uid) "
			   "did not survive the jobs", (int)t->host_pids[i]);
	E2E_ASSERT(gethostname(name, sizeof(name)) == 0 && strcmp(name, t->hostname) == 0,
		   "the host's hostname changed from '%s' to '%s'", t->hostname, name);
}

static void targets_stop(struct targets *t)
{
	brigd_stop(&t->d);
	for (size_t i = 0; i < HOST_PROCESSES; i++) {
		kill(t->host_pids[i], SIGKILL);
		waitpid(t->host_pids[i], NULL, 0);
	}
	close(t->tcp_fd);
	close(t->udp_fd);
	close(t->abstract_fd);
	unlink(t->setuid_path);
	rmdir(t->setuid_dir);
}

/* ------------------------------------------------------------------ */
/* exec jobs over the raw protocol                                      */

struct job {
	uint32_t id;
	bool ended;
	bool refused;                   /* an ERROR instead of a FINAL */
	struct msg_final final;
	struct msg_error error;
	unsigned order;                 /* 1 for the first job to end, ... */
	int64_t ended_ms;
	char *out;                      /* stdout, NUL-terminated */
	size_t out_len;
	char *err;
	size_t err_len;
};

static void append(char **buf, size_t *len, const uint8_t *data, size_t n)
{
	*buf = realloc(*buf, *len + n + 1);
	ck_assert(*buf != NULL);
	memcpy(*buf + *len, data, n);
	*len += n;
	(*buf)[*len] = '\0';
}

static void job_init(struct job *j, uint32_t id)
{
	memset(j, 0, sizeof(*j));
	j->id = id;
	j->out = calloc(1, 1);
	j->err = calloc(1, 1);
	ck_assert(j->out && j->err);
}

static void job_free(struct job *j)
{
	free(j->out);
	free(j->err);
	j->out = j->err = NULL;
}

static void send_exec(int fd, uint32_t id, const char *profile, char *const *argv,
		      uint32_t timeout_ms)
{
	static const char *const no_strings[1] = { NULL };
	struct msg_exec m = { .job_id = id, .timeout_ms = timeout_ms };
	msgpack_sbuffer sb;
	size_t argc = 0;
	int r;

	while (argv[argc])
		argc++;
	snprintf(m.profile, sizeof(m.profile), "%s", profile);
	m.argv.v = (const char *const *)argv;
	m.argv.count = argc;
	m.env.v = no_strings;
	m.descriptors.v = no_strings;
	msgpack_sbuffer_init(&sb);
	r = msg_pack_exec(&sb, &m);
	E2E_ASSERT(r == 0, "packing EXEC: %s", strerror(-r));
	r = raw_send(fd, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	E2E_ASSERT(r == 0, "sending EXEC: %s", strerror(-r));
}

static struct job *find_job(struct job *jobs, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (jobs[i].id == id)
			return &jobs[i];
	E2E_ASSERT(false, "a message for job %u, which was never submitted", id);
	return NULL;
}

/* Read and file one frame before deadline; returns the number of jobs ended. */
static unsigned read_one(int fd, struct job *jobs, size_t n, int64_t deadline, int timeout_ms)
{
	int64_t left = deadline - harness_now_ms();
	unsigned ended = 0;
	struct msg_in in;
	uint8_t *body;
	size_t len;
	int r, type;

	for (size_t i = 0; i < n; i++)
		ended += jobs[i].ended;
	E2E_ASSERT(left > 0, "%u of %zu jobs did not end within %d ms", (unsigned)(n - ended), n,
		   timeout_ms);
	r = raw_read_frame(fd, (int)left, &body, &len);
	E2E_ASSERT(r == 0, "reading from brigd: %s", strerror(-r));
	type = msg_open(&in, body, len);
	if (type == MSG_OUTPUT) {
		struct msg_output o;
		struct job *j;

		E2E_ASSERT(msg_decode_output(&in, BRIG_FRAME_MAX_CEILING, &o) == 0, "bad OUTPUT: %s",
			   in.error);
		j = find_job(jobs, n, o.job_id);
		if (o.stream == BRIG_STREAM_STDOUT)
			append(&j->out, &j->out_len, o.data, o.len);
		else
			append(&j->err, &j->err_len, o.data, o.len);
	} else if (type == MSG_FINAL) {
		struct msg_final f;
		struct job *j;

		E2E_ASSERT(msg_decode_final(&in, &f) == 0, "bad FINAL: %s", in.error);
		j = find_job(jobs, n, f.job_id);
		E2E_ASSERT(!j->ended, "a second end for job %u", j->id);
		j->final = f;
		j->ended = true;
		j->order = ++ended;
		j->ended_ms = harness_now_ms();
	} else if (type == MSG_ERROR) {
		struct msg_error e;
		struct job *j;

		E2E_ASSERT(msg_decode_error(&in, &e) == 0, "bad ERROR: %s", in.error);
		E2E_ASSERT(e.has_job, "brigd refused the connection: %s", e.message);
		j = find_job(jobs, n, e.job_id);
		j->error = e;
		j->refused = true;
		j->ended = true;
		j->order = ++ended;
	} else if (type == MSG_ITEM) {
		/* an echo job's item: nothing to keep */
	} else {
		E2E_ASSERT(false, "unexpected message %d (%s) from brigd", type,
			   type < 0 ? in.error : msg_type_name(type));
	}
	msg_close(&in);
	free(body);
	return ended;
}

/* Read until every job has its FINAL (or ERROR), within timeout_ms. */
static void collect(int fd, struct job *jobs, size_t n, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;
	unsigned ended = 0;

	for (size_t i = 0; i < n; i++)
		ended += jobs[i].ended;
	while (ended < n)
		ended = read_one(fd, jobs, n, deadline, timeout_ms);
}

/* Read until job j has written text to its stdout (and has not ended). */
static void await_output(int fd, struct job *jobs, size_t n, struct job *j, const char *text,
			 int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;

	while (!strstr(j->out, text)) {
		E2E_ASSERT(!j->ended, "job %u ended before it wrote '%s': stdout '%s'", j->id, text,
			   j->out);
		read_one(fd, jobs, n, deadline, timeout_ms);
	}
}

static const char *job_describe(const struct job *j)
{
	static char buf[BRIG_MESSAGE_MAX * 2];

	if (j->refused)
		snprintf(buf, sizeof(buf), "job %u refused: %s (%s)", j->id,
			 brig_error_code_name((int)j->error.code), j->error.message);
	else
		snprintf(buf, sizeof(buf), "job %u: outcome %s code %" PRId64 " '%s', stderr '%.300s'",
			 j->id, brig_outcome_name((int)j->final.outcome), j->final.code,
			 j->final.message, j->err);
	return buf;
}

/* An echo job through SUBMIT: brigd is alive and serves jobs. */
static void expect_echo(int fd, uint32_t id)
{
	struct job j;

	job_init(&j, id);
	E2E_ASSERT(raw_send_submit(fd, id, "echo", "ping", 4, 0) == 0, "sending SUBMIT");
	collect(fd, &j, 1, 10000);
	E2E_ASSERT(!j.refused && j.final.outcome == BRIG_OUTCOME_OK,
		   "brigd does not serve jobs any more: %s", job_describe(&j));
	job_free(&j);
}

/* ------------------------------------------------------------------ */
/* the battery                                                          */

struct verdicts {
	bool seen[EXPECTED_COUNT];
	char failures[8192];            /* "name: VERDICT detail" lines */
	size_t failures_len;
	unsigned checks, contained;
	int done;                       /* DONE's count, or -1 */
};

__attribute__((format(printf, 2, 3)))
static void add_failure(struct verdicts *v, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (v->failures_len >= sizeof(v->failures) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(v->failures + v->failures_len, sizeof(v->failures) - v->failures_len, fmt,
		      ap);
	va_end(ap);
	if (n > 0)
		v->failures_len += (size_t)n;
	if (v->failures_len >= sizeof(v->failures))
		v->failures_len = sizeof(v->failures) - 1;
}

static void parse_battery(const char *output, struct verdicts *v)
{
	char *text = strdup(output), *save = NULL;

	ck_assert(text != NULL);
	memset(v, 0, sizeof(*v));
	v->done = -1;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[64], verdict[16];
		int consumed = 0;
		size_t i;

		if (sscanf(line, "DONE %d", &v->done) == 1)
			continue;
		if (sscanf(line, "CHECK %63s %15s %n", name, verdict, &consumed) < 2)
			continue;
		v->checks++;
		for (i = 0; i < EXPECTED_COUNT; i++)
			if (strcmp(expected_checks[i], name) == 0)
				break;
		if (i < EXPECTED_COUNT) {
			if (v->seen[i])
				add_failure(v, "  %s: reported twice\n", name);
			v->seen[i] = true;
		}
		if (strcmp(verdict, "CONTAINED") == 0)
			v->contained++;
		else
			add_failure(v, "  %s: %s %s\n", name, verdict, line + consumed);
	}
	for (size_t i = 0; i < EXPECTED_COUNT; i++)
		if (!v->seen[i])
			add_failure(v, "  %s: missing (the check did not run)\n", expected_checks[i]);
	free(text);
}

static void run_battery(const char *profile, const char *const *extra)
{
	struct targets t;
	struct verdicts v;
	struct job jobs[2];
	struct job *peer = &jobs[0], *battery = &jobs[1];
	char args[8 + HOST_PROCESSES][PATH_MAX + 32];
	char peer_name[64], peer_ms[16];
	char *argv[48];
	char *listener[] = { NULL, (char *)"listen", peer_name, peer_ms, NULL };
	const char *line;
	size_t argc = 0;
	int64_t start;
	int fd;

	targets_start(&t);
	/* The peer: a job of the same profile that the battery must not reach. */
	snprintf(peer_name, sizeof(peer_name), "brig-escape-peer-%d", (int)getpid());
	snprintf(peer_ms, sizeof(peer_ms), "%d", PEER_MS);
	listener[0] = t.escape_path;
	argv[argc++] = t.escape_path;
	argv[argc++] = (char *)"battery";
	snprintf(args[0], sizeof(args[0]), "tcp=%d", t.port);
	snprintf(args[1], sizeof(args[1]), "socket=%s", t.d.socket_path);
	snprintf(args[2], sizeof(args[2]), "abstract=%s", t.abstract_name);
	snprintf(args[3], sizeof(args[3]), "comm=%s", HOST_PROCESS_NAME);
	snprintf(args[4], sizeof(args[4]), "setuid=%s", t.setuid_path);
	for (size_t i = 0; i < HOST_PROCESSES; i++)
		snprintf(args[5 + i], sizeof(args[5 + i]), "pid=%d", (int)t.host_pids[i]);
	for (size_t i = 0; i < 5 + HOST_PROCESSES; i++)
		argv[argc++] = args[i];
	for (size_t i = 0; extra[i]; i++)
		argv[argc++] = (char *)extra[i];

	fd = raw_connect(&t.d);
	raw_handshake(fd, NULL);
	job_init(peer, 1);
	job_init(battery, 2);
	send_exec(fd, 1, profile, listener, PEER_MS + 10000);
	await_output(fd, jobs, 2, peer, "LISTENING pid=", 10000);
	line = strstr(peer->out, "LISTENING pid=");
	snprintf(args[5 + HOST_PROCESSES], sizeof(args[0]), "peer=%s", peer_name);
	snprintf(args[6 + HOST_PROCESSES], sizeof(args[0]), "peerpid=%d",
		 atoi(line + strlen("LISTENING pid=")));
	argv[argc++] = args[5 + HOST_PROCESSES];
	argv[argc++] = args[6 + HOST_PROCESSES];
	argv[argc] = NULL;

	setuid_copy_install(&t);
	start = harness_now_ms();
	send_exec(fd, 2, profile, argv, BATTERY_TIMEOUT_MS);
	collect(fd, jobs, 2, BATTERY_TIMEOUT_MS + 5000);
	setuid_copy_remove(&t);
	fprintf(stderr, "=== escape battery under profile '%s' (%" PRId64 " ms) ===\n%s%s"
		"=== end of battery ===\npeer job: %s, stdout '%s'\n", profile,
		battery->ended_ms - start, battery->out, battery->err_len ? battery->err : "",
		job_describe(peer), peer->out);

	E2E_ASSERT(!battery->refused && battery->final.outcome == BRIG_OUTCOME_OK &&
		   battery->final.code == 0, "the battery did not run to its end: %s",
		   job_describe(battery));
	/* The peer outlived the battery and nothing of it reached the peer. */
	E2E_ASSERT(battery->order == 1, "the peer job (%d ms) ended before the battery: its "
		   "checks had no peer", PEER_MS);
	E2E_ASSERT(!peer->refused && peer->final.outcome == BRIG_OUTCOME_OK &&
		   strstr(peer->out, "ACCEPTED 0 SIGNALS 0"), "the battery reached the peer job "
		   "of the same profile: %s, stdout '%s'", job_describe(peer), peer->out);
	parse_battery(battery->out, &v);
	E2E_ASSERT(v.failures_len == 0, "profile '%s': %u of %u checks contained; failures:\n%s",
		   profile, v.contained, v.checks, v.failures);
	E2E_ASSERT(v.done == (int)v.checks && v.checks == EXPECTED_COUNT,
		   "profile '%s': DONE %d, %u CHECK lines, %zu expected", profile, v.done, v.checks,
		   EXPECTED_COUNT);
	job_free(peer);
	job_free(battery);

	targets_check_untouched(&t);
	expect_echo(fd, 3);
	close(fd);
	targets_stop(&t);
}

static const char *const empty_view[] = {
	"hide=/usr", "hide=/bin", "hide=/sbin", "hide=/lib", "hide=/lib64", "hide=/etc", NULL,
};

/* Every default: an empty view, a fresh uid, workers forked from a template. */
START_TEST(test_battery_default)
{
	run_battery("battery", empty_view);
}
END_TEST

/* The same with a fixed uid: fresh namespaces per worker. */
START_TEST(test_battery_fixed_uid)
{
	run_battery("fixed", empty_view);
}
END_TEST

/* The built-in exec profile: host /usr read-only, a private /tmp. */
START_TEST(test_battery_exec_profile)
{
	static const char *const extra[] = { "rw=/tmp", NULL };

	run_battery("exec", extra);
}
END_TEST

/*
 * kill(-1, SIGKILL) from a job reaches only its own processes: the host
 * processes of every job uid and another job of the same profile, running
 * at the same time, all survive.  Under a template the two jobs share a pid
 * namespace (fresh uids and Landlock's signal scope keep them apart); with a
 * fixed uid they share the uid (their pid namespaces keep them apart).
 */
static void run_kill_all(const char *profile)
{
	struct targets t;
	struct job jobs[2];
	char ms[16];
	char *sleeper[] = { NULL, (char *)"sleep", ms, NULL };
	char *killer[] = { NULL, (char *)"kill-all", NULL };
	int fd;

	targets_start(&t);
	snprintf(ms, sizeof(ms), "%d", SLEEPER_MS);
	sleeper[0] = killer[0] = t.escape_path;
	fd = raw_connect(&t.d);
	raw_handshake(fd, NULL);
	job_init(&jobs[0], 10);
	job_init(&jobs[1], 11);
	send_exec(fd, 10, profile, sleeper, 20000);
	send_exec(fd, 11, profile, killer, 20000);
	collect(fd, jobs, 2, 25000);
	fprintf(stderr, "[%s] kill-all: %s; stdout '%s'\n", profile, job_describe(&jobs[1]),
		jobs[1].out);
	fprintf(stderr, "[%s] sleeper: %s; stdout '%s'\n", profile, job_describe(&jobs[0]),
		jobs[0].out);

	E2E_ASSERT(!jobs[1].refused && !strstr(jobs[1].out, "refused"),
		   "the kill-all job did not try: %s, stdout '%s'", job_describe(&jobs[1]),
		   jobs[1].out);
	E2E_ASSERT(jobs[1].order == 1, "the sleeper (%d ms) ended before the kill-all job: "
		   "nothing was tested", SLEEPER_MS);
	E2E_ASSERT(!jobs[0].refused && jobs[0].final.outcome == BRIG_OUTCOME_OK &&
		   jobs[0].final.code == 0 && strstr(jobs[0].out, "SLEPT"),
		   "another job of profile %s did not survive kill(-1, SIGKILL): %s", profile,
		   job_describe(&jobs[0]));
	job_free(&jobs[0]);
	job_free(&jobs[1]);
	targets_check_untouched(&t);
	expect_echo(fd, 12);
	close(fd);
	targets_stop(&t);
}

START_TEST(test_kill_all_default)
{
	run_kill_all("battery");
}
END_TEST

START_TEST(test_kill_all_fixed_uid)
{
	run_kill_all("fixed");
}
END_TEST

/* Is pid daemon_pid or one of its descendants? */
static bool descends_from(pid_t pid, pid_t daemon_pid)
{
	for (int depth = 0; pid > 1 && depth < 64; depth++) {
		if (pid == daemon_pid)
			return true;
		pid = proc_ppid(pid);
	}
	return false;
}

/*
 * No process of a job outlives its FINAL (invariant 4).  Only this test's
 * brigd counts: other brigd instances (a concurrent make check) run the
 * same program.  A job's processes cannot leave its pid namespace, whose
 * processes all descend from the broker.
 */
static void expect_no_job_process(const struct targets *t, const char *what)
{
	int64_t deadline = harness_now_ms() + 1000;
	char report[512] = "";
	pid_t found[256], ours[8];
	size_t left, len = 0;

	/* The grace only absorbs /proc catching up with the reaping. */
	for (;;) {
		size_t n = proc_find_comm("escape", found, 256);

		left = 0;
		for (size_t i = 0; i < n && i < 256; i++)
			if (descends_from(found[i], t->d.pid) && left++ < 8)
				ours[left - 1] = found[i];
		if (left == 0 || harness_now_ms() > deadline)
			break;
		harness_sleep_ms(10);
	}
	for (size_t i = 0; i < left && i < 8 && len < sizeof(report) - 64; i++)
		len += (size_t)snprintf(report + len, sizeof(report) - len,
					" pid %d state %c ppid %d;", (int)ours[i],
					proc_state(ours[i]) ? proc_state(ours[i]) : '?',
					(int)proc_ppid(ours[i]));
	E2E_ASSERT(left == 0, "%zu processes of the %s job outlived its FINAL:%s", left, what,
		   report);
}

/*
 * A job that leaves a detached process behind, a fork bomb and a memory
 * bomb: each job ends (a limit stops it, or the job's timeout), leaves
 * nothing behind, and brigd serves the next job.
 */
static void run_bombs(const char *profile)
{
	struct targets t;
	struct job j;
	char cap[16], what[64];
	char *fork_bomb[] = { NULL, (char *)"fork-bomb", NULL };
	char *memory_bomb[] = { NULL, (char *)"memory-bomb", cap, NULL };
	char *orphan[] = { NULL, (char *)"orphan", (char *)"30000", NULL };
	unsigned long mib = 0;
	const char *line;
	int fd;

	targets_start(&t);
	fork_bomb[0] = memory_bomb[0] = orphan[0] = t.escape_path;
	fd = raw_connect(&t.d);
	raw_handshake(fd, NULL);

	/* A job that ends well but leaves a detached process behind. */
	job_init(&j, 19);
	send_exec(fd, 19, profile, orphan, 10000);
	collect(fd, &j, 1, 15000);
	fprintf(stderr, "[%s] orphan: %s; stdout '%s'\n", profile, job_describe(&j), j.out);
	E2E_ASSERT(!j.refused && j.final.outcome == BRIG_OUTCOME_OK && strstr(j.out, "ORPHAN"),
		   "the orphan job: %s", job_describe(&j));
	job_free(&j);
	snprintf(what, sizeof(what), "%s orphan", profile);
	expect_no_job_process(&t, what);

	job_init(&j, 20);
	send_exec(fd, 20, profile, fork_bomb, FORK_BOMB_TIMEOUT_MS);
	collect(fd, &j, 1, FORK_BOMB_TIMEOUT_MS + 10000);
	fprintf(stderr, "[%s] fork bomb: %s; stdout '%s'\n", profile, job_describe(&j), j.out);
	E2E_ASSERT(!j.refused && j.final.outcome != BRIG_OUTCOME_OK,
		   "the fork bomb job ended well?  %s", job_describe(&j));
	E2E_ASSERT(strstr(j.out, "fork failed after") || j.final.outcome == BRIG_OUTCOME_PIDS_LIMIT,
		   "no process limit stopped the fork bomb within %d ms: %s, stdout '%s'",
		   FORK_BOMB_TIMEOUT_MS, job_describe(&j), j.out);
	job_free(&j);
	snprintf(what, sizeof(what), "%s fork bomb", profile);
	expect_no_job_process(&t, what);
	expect_echo(fd, 21);

	/* The safety cap keeps an unbounded job from taking the machine down. */
	snprintf(cap, sizeof(cap), "%d", 3 * DEFAULT_RLIMIT_AS_MIB);
	job_init(&j, 22);
	send_exec(fd, 22, profile, memory_bomb, MEMORY_BOMB_TIMEOUT_MS);
	collect(fd, &j, 1, MEMORY_BOMB_TIMEOUT_MS + 10000);
	fprintf(stderr, "[%s] memory bomb: %s; stdout '%s'\n", profile, job_describe(&j), j.out);
	E2E_ASSERT(!j.refused, "%s", job_describe(&j));
	line = strstr(j.out, "MEMORY-BOMB malloc failed after ");
	if (line)
		mib = strtoul(line + strlen("MEMORY-BOMB malloc failed after "), NULL, 10);
	if (strstr(j.out, "reached the safety cap")) {
#ifdef BRIG_TEST_ASAN
		/* sandbox.c leaves RLIMIT_AS out when brigd is built with ASan
		 * (the shadow memory needs the address space): only a cgroup
		 * memory limit could stop this job, and there was none. */
		fprintf(stderr, "[%s] memory bomb: NOT CONTAINED in this ASan build (no RLIMIT_AS, "
			"no cgroup limit); stopped by the battery's safety cap\n", profile);
#else
		E2E_ASSERT(false, "no limit stopped the memory bomb: %s", j.out);
#endif
	} else if (j.final.outcome == BRIG_OUTCOME_OK) {
		E2E_ASSERT(line && mib <= DEFAULT_RLIMIT_AS_MIB,
			   "the memory bomb ended without being stopped below %d MiB: %s",
			   DEFAULT_RLIMIT_AS_MIB, j.out);
	} else {
		/* Killed (the cgroup's memory limit, the OOM killer) or timed out. */
		E2E_ASSERT(j.final.outcome != BRIG_OUTCOME_BROKER_ERROR, "%s", job_describe(&j));
	}
	job_free(&j);
	snprintf(what, sizeof(what), "%s memory bomb", profile);
	expect_no_job_process(&t, what);

	expect_echo(fd, 23);
	targets_check_untouched(&t);
	close(fd);
	targets_stop(&t);
}

START_TEST(test_bombs_default)
{
	run_bombs("battery");
}
END_TEST

START_TEST(test_bombs_fixed_uid)
{
	run_bombs("fixed");
}
END_TEST

static Suite *escape_suite(void)
{
	Suite *s = suite_create("escape");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{ "battery_default", test_battery_default },
		{ "battery_fixed_uid", test_battery_fixed_uid },
		{ "battery_exec_profile", test_battery_exec_profile },
		{ "kill_all_default", test_kill_all_default },
		{ "kill_all_fixed_uid", test_kill_all_fixed_uid },
		{ "bombs_default", test_bombs_default },
		{ "bombs_fixed_uid", test_bombs_fixed_uid },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);

		tcase_add_checked_fixture(tc, harness_test_setup, harness_test_teardown);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (geteuid() != 0) {
		fprintf(stderr, "check_escape: brigd needs root; skipping\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	sr = srunner_create(escape_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
