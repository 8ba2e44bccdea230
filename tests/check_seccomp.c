/*
 * Unit tests for daemon/sandbox/seccomp.c: each filter is built here, the
 * way the zygote builds it, and loaded in a forked child with no_new_privs
 * that then tries things; the parent judges by the child's wait status, the
 * bytes the violation reporter wrote, and the messages of failed checks.
 *
 * Meant to run as root, so that a refusal seen here comes from the filter
 * and not from missing capabilities; every call is chosen to be harmless
 * should a filter let it through, and each child first moves into its own
 * mount and UTS namespaces and session as a further net.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/sched.h>   /* struct clone_args */
#include <msgpack.h>

#include "msg.h"
#include "sandbox/seccomp.h"
#include "spec.h"

/* x86_64's marker for x32 syscall numbers (__X32_SYSCALL_BIT). */
#define X32_SYSCALL_BIT 0x40000000L

/* ---- running a job under a filter ---- */

struct job_result {
	int status;                 /* from waitpid() */
	uint8_t report[256];        /* what the reporter wrote to the channel */
	size_t report_len;
	char failure[512];          /* the first failed child check, if any */
};

typedef void (*job_fn)(void *arg);

/* Exit codes of a child that never got to run its job. */
enum {
	JOB_OK = 0,
	JOB_CHECK_FAILED = 70,
	JOB_SETUP_FAILED = 71,
};

static int child_failure_fd = -1;

/* In the child: report a failed check to the parent and exit.  Only
 * snprintf and write, which every filter mode allows. */
__attribute__((noreturn, format(printf, 2, 3)))
static void child_fail(int line, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n = snprintf(buf, sizeof(buf), "line %d: ", line);

	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	if (write(child_failure_fd, buf, strlen(buf)) < 0) {
		/* the parent will see the exit code alone */
	}
	_exit(JOB_CHECK_FAILED);
}

#define require(cond)                                                                     \
	do {                                                                              \
		if (!(cond))                                                              \
			child_fail(__LINE__, "%s (errno %d)", #cond, errno);             \
	} while (0)

/* A call that must fail with the given errno. */
#define require_errno(call, expected)                                                     \
	do {                                                                              \
		errno = 0;                                                                \
		long r_ = (long)(call);                                                   \
		if (r_ != -1 || errno != (expected))                                      \
			child_fail(__LINE__, "%s: returned %ld, errno %d, expected errno %d", \
				   #call, r_, errno, (expected));                         \
	} while (0)

static size_t read_all(int fd, void *buf, size_t size)
{
	size_t len = 0;

	for (;;) {
		ssize_t n = read(fd, (uint8_t *)buf + len, size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || (len += (size_t)n) == size)
			return len;
	}
}

/*
 * Build s's filter here, then run job in a child that has no core dumps,
 * its own mount and UTS namespaces (where root could otherwise do harm if a
 * filter failed), no controlling terminal, no_new_privs, the violation
 * reporter on a socketpair, and the filter.  A job that returns exits 0.
 */
static void run_job(const struct spec *s, job_fn job, void *arg, struct job_result *out)
{
	struct sock_fprog prog;
	char err[256] = "";
	int channel[2], failure[2];
	pid_t pid;
	int r;

	memset(out, 0, sizeof(*out));
	r = seccomp_build(s, &prog, err, sizeof(err));
	ck_assert_msg(r == 0, "seccomp_build: %d (%s)", r, err);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, channel), 0);
	ck_assert_int_eq(pipe2(failure, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		close(channel[0]);
		close(failure[0]);
		child_failure_fd = failure[1];
		/* The namespaces are a net for root only: nobody else could do
		 * harm with the calls the tests try. */
		if (setrlimit(RLIMIT_CORE, &no_core) < 0 ||
		    (geteuid() == 0 && (unshare(CLONE_NEWNS | CLONE_NEWUTS) < 0 ||
					mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)) ||
		    setsid() < 0 ||
		    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		    seccomp_install_reporter(channel[1]) < 0 || seccomp_load_prog(&prog) < 0)
			_exit(JOB_SETUP_FAILED);
		job(arg);
		_exit(JOB_OK);
	}
	close(channel[1]);
	close(failure[1]);
	free(prog.filter);
	out->report_len = read_all(channel[0], out->report, sizeof(out->report));
	read_all(failure[0], out->failure, sizeof(out->failure) - 1);
	close(channel[0]);
	close(failure[0]);
	ck_assert_int_eq(waitpid(pid, &out->status, 0), pid);
}

static void describe(const struct job_result *r, char *buf, size_t size)
{
	if (WIFSIGNALED(r->status))
		snprintf(buf, size, "killed by signal %d (%s), %zu report bytes", WTERMSIG(r->status),
			 strsignal(WTERMSIG(r->status)), r->report_len);
	else if (WEXITSTATUS(r->status) == JOB_CHECK_FAILED)
		snprintf(buf, size, "check failed: %s", r->failure);
	else
		snprintf(buf, size, "exit %d, %zu report bytes", WEXITSTATUS(r->status),
			 r->report_len);
}

static void assert_job_ok(const struct job_result *r)
{
	char what[700];

	describe(r, what, sizeof(what));
	ck_assert_msg(WIFEXITED(r->status) && WEXITSTATUS(r->status) == JOB_OK, "job: %s", what);
	ck_assert_msg(r->report_len == 0, "job: %s", what);
}

/* Killed by sig with nothing written to the channel. */
static void assert_job_killed_silently(const struct job_result *r, int sig)
{
	char what[700];

	describe(r, what, sizeof(what));
	ck_assert_msg(WIFSIGNALED(r->status) && WTERMSIG(r->status) == sig,
		      "job: %s (expected signal %d)", what, sig);
	ck_assert_msg(r->report_len == 0, "job: %s", what);
}

/* The reporter's bytes are exactly msg_pack_worker_violation's, and decode. */
static void assert_report_is(const struct job_result *r, int64_t nr)
{
	struct msg_worker_violation expected = { .syscall = nr }, decoded;
	msgpack_sbuffer sb;
	struct msg_in in;
	int type;

	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_worker_violation(&sb, &expected), 0);
	ck_assert_msg(r->report_len == sb.size, "report of syscall %" PRId64 ": %zu bytes, "
		      "expected %zu", nr, r->report_len, sb.size);
	ck_assert_mem_eq(r->report, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);

	type = msg_open(&in, r->report + FRAME_HEADER_SIZE, r->report_len - FRAME_HEADER_SIZE);
	ck_assert_msg(type == MSG_WORKER_VIOLATION, "msg_open: %d (%s)", type, in.error);
	ck_assert_int_eq(msg_decode_worker_violation(&in, &decoded), 0);
	ck_assert_int_eq(decoded.syscall, nr);
	msg_close(&in);
}

/* Killed by SIGSYS after reporting syscall nr. */
static void assert_job_violated(const struct job_result *r, int64_t nr)
{
	char what[700];

	describe(r, what, sizeof(what));
	ck_assert_msg(WIFSIGNALED(r->status) && WTERMSIG(r->status) == SIGSYS,
		      "job: %s (expected SIGSYS for syscall %" PRId64 ")", what, nr);
	assert_report_is(r, nr);
}

static void spec_for(struct spec *s, enum spec_seccomp_mode mode, enum spec_seccomp_action action)
{
	spec_set_defaults(s);
	s->seccomp_mode = mode;
	s->seccomp_action = action;
}

static void add_name(char (*names)[32], size_t *count, const char *name)
{
	snprintf(names[*count], sizeof(names[0]), "%s", name);
	(*count)++;
}

/* A private directory for jobs that make files, removed by the caller. */
static void make_temp_dir(char *path, size_t size)
{
	snprintf(path, size, "/tmp/check_seccomp.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(path));
}

static void remove_temp_dir(const char *path)
{
	char cmd[PATH_MAX + 16];

	umount2(path, MNT_DETACH);   /* only if a mount got through */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	ck_assert_int_eq(system(cmd), 0);
}

/* ---- building ---- */

START_TEST(test_build_every_mode)
{
	static const enum spec_seccomp_mode modes[] = { SPEC_SECCOMP_DENYLIST, SPEC_SECCOMP_ALLOWLIST };
	static const enum spec_seccomp_action actions[] = { SPEC_SECCOMP_KILL, SPEC_SECCOMP_ERRNO };

	for (size_t m = 0; m < 2; m++) {
		for (size_t a = 0; a < 2; a++) {
			struct spec s;
			struct sock_fprog prog = { 0 };
			char err[256] = "";

			spec_for(&s, modes[m], actions[a]);
			ck_assert_int_eq(seccomp_build(&s, &prog, err, sizeof(err)), 0);
			ck_assert_ptr_nonnull(prog.filter);
			ck_assert_uint_gt(prog.len, 0);
			ck_assert_uint_le(prog.len, BPF_MAXINSNS);
			free(prog.filter);
		}
	}
}
END_TEST

static void assert_build_fails(const struct spec *s, const char *message)
{
	struct sock_fprog prog = { 0 };
	char err[256] = "";

	ck_assert_int_eq(seccomp_build(s, &prog, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, message);
	ck_assert_ptr_null(prog.filter);
}

START_TEST(test_unknown_names_are_refused)
{
	struct spec s;

	spec_for(&s, SPEC_SECCOMP_DENYLIST, SPEC_SECCOMP_KILL);
	add_name(s.seccomp_deny, &s.seccomp_deny_count, "getpid");
	add_name(s.seccomp_deny, &s.seccomp_deny_count, "frobnicate");
	assert_build_fails(&s, "seccomp_deny: unknown syscall 'frobnicate'");

	spec_for(&s, SPEC_SECCOMP_ALLOWLIST, SPEC_SECCOMP_KILL);
	add_name(s.seccomp_deny, &s.seccomp_deny_count, "frobnicate");
	assert_build_fails(&s, "seccomp_deny: unknown syscall 'frobnicate'");

	spec_for(&s, SPEC_SECCOMP_ALLOWLIST, SPEC_SECCOMP_ERRNO);
	add_name(s.seccomp_allow, &s.seccomp_allow_count, "openat");
	add_name(s.seccomp_allow, &s.seccomp_allow_count, "open_sesame");
	assert_build_fails(&s, "seccomp_allow: unknown syscall 'open_sesame'");
}
END_TEST

START_TEST(test_allow_cannot_reach_the_deny_list)
{
	static const char *const names[] = { "ptrace", "mount", "io_uring_setup", "clone",
					     "ioctl", "personality", "mknodat", "clone3" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		for (int mode = 0; mode < 2; mode++) {
			struct spec s;
			char message[128];

			spec_for(&s, mode ? SPEC_SECCOMP_ALLOWLIST : SPEC_SECCOMP_DENYLIST,
				 SPEC_SECCOMP_KILL);
			add_name(s.seccomp_allow, &s.seccomp_allow_count, names[i]);
			snprintf(message, sizeof(message), "seccomp_allow: '%s' is on the seccomp "
				 "deny-list and cannot be allowed", names[i]);
			assert_build_fails(&s, message);
		}
	}
}
END_TEST

START_TEST(test_names_absent_here_are_accepted)
{
	struct spec s;
	struct sock_fprog prog = { 0 };
	char err[256] = "";

	/* Syscalls of other architectures: nothing to do on this one, and the
	 * same profile must work everywhere. */
	spec_for(&s, SPEC_SECCOMP_ALLOWLIST, SPEC_SECCOMP_KILL);
	add_name(s.seccomp_deny, &s.seccomp_deny_count, "vm86");
	add_name(s.seccomp_allow, &s.seccomp_allow_count, "socketcall");
	ck_assert_int_eq(seccomp_build(&s, &prog, err, sizeof(err)), 0);
	free(prog.filter);
}
END_TEST

START_TEST(test_bad_arguments)
{
	struct sock_fprog empty = { 0 };
	int fds[2];

	ck_assert_int_eq(seccomp_load_prog(NULL), -EINVAL);
	ck_assert_int_eq(seccomp_load_prog(&empty), -EINVAL);
	ck_assert_int_eq(seccomp_install_reporter(-1), -EBADF);
	ck_assert_int_eq(pipe(fds), 0);
	close(fds[0]);
	close(fds[1]);
	ck_assert_int_eq(seccomp_install_reporter(fds[0]), -EBADF);
}
END_TEST

/* ---- deny-list mode ---- */

struct denied_call {
	const char *name;
	long nr;
	long args[6];
};

#define DENIED(name, ...) { #name, SYS_##name, { __VA_ARGS__ } }

/* Arguments that would fail harmlessly (EFAULT, EBADF, EINVAL) or do no
 * harm if a filter let the call through. */
static const struct denied_call denied_calls[] = {
	DENIED(ptrace, PTRACE_TRACEME),
	DENIED(process_vm_readv, 0, 0, 0, 0, 0, 0),
	DENIED(process_vm_writev, 0, 0, 0, 0, 0, 0),
	DENIED(process_madvise, -1, 0, 0, 0, 0),
	DENIED(kcmp, 0, 0, 0, 0, 0),
	DENIED(pidfd_getfd, -1, -1, 0),
	DENIED(unshare, CLONE_NEWUSER),
	DENIED(unshare, CLONE_NEWNS),
	DENIED(setns, -1, 0),
	DENIED(mount, 0, 0, 0, 0, 0),
	DENIED(umount2, 0, 0),
	DENIED(pivot_root, 0, 0),
	DENIED(chroot, 0),
	DENIED(move_mount, -1, 0, -1, 0, 0),
	DENIED(open_tree, -1, 0, 0),
	DENIED(fsopen, 0, 0),
	DENIED(fsconfig, -1, 0, 0, 0, 0),
	DENIED(fsmount, -1, 0, 0),
	DENIED(fspick, -1, 0, 0),
	DENIED(mount_setattr, -1, 0, 0, 0, 0),
	DENIED(open_by_handle_at, -1, 0, 0),
	DENIED(name_to_handle_at, -1, 0, 0, 0, 0),
	DENIED(bpf, -1, 0, 0),
	DENIED(perf_event_open, 0, 0, -1, -1, 0),
	DENIED(userfaultfd, 0),
	DENIED(io_uring_setup, 0, 0),
	DENIED(io_uring_enter, -1, 0, 0, 0, 0, 0),
	DENIED(io_uring_register, -1, 0, 0, 0),
	DENIED(keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session keyring */, 0),
	DENIED(add_key, 0, 0, 0, 0, 0),
	DENIED(request_key, 0, 0, 0, 0),
	DENIED(fanotify_init, 0, 0),
	DENIED(kexec_load, 0, 0, 0, -1 /* invalid flags */),
	DENIED(kexec_file_load, -1, -1, 0, 0, -1),
	DENIED(init_module, 0, 0, 0),
	DENIED(finit_module, -1, 0, 0),
	DENIED(delete_module, 0, 0),
	DENIED(reboot, 0, 0, 0, 0),              /* bad magic */
	DENIED(acct, (long)"/nonexistent/brig"),
	DENIED(swapon, 0, 0),
	DENIED(swapoff, 0),
	DENIED(quotactl, 0, 0, 0, 0),
	DENIED(quotactl_fd, -1, 0, 0, 0),
	DENIED(syslog, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, 0, 0),
	DENIED(settimeofday, 0, 0),
	DENIED(clock_settime, CLOCK_REALTIME, 0),
	DENIED(clock_adjtime, CLOCK_REALTIME, 0),
	DENIED(adjtimex, 0),
	DENIED(sethostname, 0, 100000),          /* too long */
	DENIED(setdomainname, 0, 100000),
	DENIED(vhangup),                         /* after setsid: no tty */
	DENIED(lookup_dcookie, 0, 0, 0),
	DENIED(uselib, 0),
	DENIED(ustat, 0, 0),
	DENIED(sysfs, 1, 0),
	DENIED(mbind, 0, 0, 0, 0, 0, 0),
	DENIED(set_mempolicy, 0, 0, 0),
	DENIED(get_mempolicy, 0, 0, 0, 0, 0),
	DENIED(move_pages, 0, 0, 0, 0, 0, 0),
	DENIED(migrate_pages, 0, 0, 0, 0),
	DENIED(set_mempolicy_home_node, 0, 0, 0, 0),
#ifdef __x86_64__
	DENIED(iopl, 0),
	DENIED(ioperm, 0, 0, 0),
	DENIED(modify_ldt, 0, 0, 0),
	DENIED(_sysctl, 0),
	DENIED(create_module, 0, 0),
	DENIED(query_module, 0, 0, 0, 0, 0),
	DENIED(get_kernel_syms, 0),
	DENIED(nfsservctl, 0, 0, 0),
#endif
};

static void job_denied_calls_fail(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < sizeof(denied_calls) / sizeof(denied_calls[0]); i++) {
		const struct denied_call *c = &denied_calls[i];
		long r;

		errno = 0;
		r = syscall(c->nr, c->args[0], c->args[1], c->args[2], c->args[3], c->args[4],
			    c->args[5]);
		if (r != -1 || errno != EPERM)
			child_fail(__LINE__, "%s: returned %ld, errno %d, expected EPERM", c->name, r,
				   errno);
	}
}

START_TEST(test_denylist_refuses_with_eperm)
{
	struct spec s;
	struct job_result r;

	spec_for(&s, SPEC_SECCOMP_DENYLIST, SPEC_SECCOMP_ERRNO);
	run_job(&s, job_denied_calls_fail, NULL, &r);
	assert_job_ok(&r);
}
END_TEST

/* raw clone(): like fork() without a stack; a child that got through exits at once. */
static long raw_clone(unsigned long flags)
{
	long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);

	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid((pid_t)pid, NULL, 0);
	return pid;
}

static void *thread_main(void *arg)
{
	return arg;
}

static void job_fork_and_threads(void *arg)
{
	struct clone_args args = { .exit_signal = SIGCHLD };
	pthread_t thread;
	void *result = NULL;
	int status;
	pid_t pid;

	(void)arg;
	/* clone3 is refused with ENOSYS so that libc falls back to clone... */
	require_errno(syscall(SYS_clone3, &args, sizeof(args)), ENOSYS);
	/* ... which is what fork() and threads then use. */
	pid = fork();
	require(pid >= 0);
	if (pid == 0)
		_exit(7);
	require(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 7);
	require(pthread_create(&thread, NULL, thread_main, &status) == 0);
	require(pthread_join(thread, &result) == 0 && result == &status);
}

static void job_namespaces(void *arg)
{
	static const unsigned long namespace_flags[] = {
		CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID,
		CLONE_NEWNET, CLONE_NEWCGROUP,
	};

	(void)arg;
	for (size_t i = 0; i < sizeof(namespace_flags) / sizeof(namespace_flags[0]); i++)
		require_errno(raw_clone(namespace_flags[i]), EPERM);
	require_errno(raw_clone(CLONE_NEWUSER | CLONE_NEWNET), EPERM);
	require(raw_clone(0) > 0);
}

START_TEST(test_denylist_clone)
{
	struct spec s;
	struct job_result r;

	spec_for(&s, SPEC_SECCOMP_DENYLIST, SPEC_SECCOMP_ERRNO);
	run_job(&s, job_namespaces, NULL, &r);
	assert_job_ok(&r);
	run_job(&s, job_fork_and_threads, NULL, &r);
	assert_job_ok(&r);
	/* In KILL mode too: clone3 stays ENOSYS, it is no violation. */
	spec_for(&s, SPEC_SECCOMP_DENYLIST, SPEC_SECCOMP_KILL);
	run_job(&s, job_fork_and_threads, NULL, &r);
	assert_job_ok(&r);
}
END_TEST

static void job_argument_rules(void *arg)
{
	const char *dir = arg;
	char path[PATH_MAX];
	char c = 'x';
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	require(fd >= 0);
	/* ioctl: TIOCSTI and TIOCLINUX refused, also with junk in the upper
	 * half the kernel ignores; other commands reach the driver. */
	require_errno(ioctl(fd, TIOCSTI, &c), EPERM);
	require_errno(ioctl(fd, TIOCLINUX, &c), EPERM);
	require_errno(syscall(SYS_ioctl, fd, 0x100000000UL | TIOCSTI, &c), EPERM);
	require_errno(ioctl(fd, TCGETS, &c), ENOTTY);

	/* personality: PER_LINUX only; not even the query. */
	require(personality(PER_LINUX) == PER_LINUX);
	require_errno(personality(ADDR_NO_RANDOMIZE), EPERM);
	require_errno(personality(READ_IMPLIES_EXEC), EPERM);
	require_errno(personality(0xffffffff), EPERM);
	require_errno(syscall(SYS_personality, 0x100000000UL), EPERM);

	/* mknod: no devices, but FIFOs and plain files. */
	snprintf(path, sizeof(path), "%s/char", dir);
	require_errno(mknod(path, S_IFCHR | 0600, makedev(1, 3)), EPERM);
	require_errno(mknodat(AT_FDCWD, path, S_IFBLK | 0600, makedev(7, 0)), EPERM);
	require_errno(syscall(SYS_mknod, path, S_IFBLK | 0600, makedev(7, 0)), EPERM);
	snprintf(path, sizeof(path), "%s/fifo", dir);
	require(mkfifo(path, 0600) == 0);
	snprintf(path, sizeof(path), "%s/file", dir);
	require(mknodat(AT_FDCWD, path, S_IFREG | 0600, 0) == 0);

	/* mount, with a real target: refused all the same. */
	require_errno(mount("none", dir, "tmpfs", 0, NULL), EPERM);
	close(fd);
}

START_TEST(test_denylist_argument_rules)
{
	struct spec s;
	struct job_result r;
	char dir[64];

	make_temp_dir(dir, sizeof(dir));
	spec_for(&s, SPEC_SECCOMP_DENYLIST, SPEC_SECCOMP_ERRNO);
	run_job(&s, job_argument_rules, dir, &r);
	remove_temp_dir(dir);
	assert_job_ok(&r);
}
END_TEST

static void job_ordinary_program(void *arg)
{
	int fds[2];
	char line[64];
	FILE *out;
	char *big;
	ssize_t n;

	(void)arg;
	require(pipe(fds) == 0);
	out = fdopen(fds[1], "w");
	require(out != NULL);
	require(fprintf(out, "pid %d\n", (int)getpid()) > 0);
	require(fclose(out) == 0);
	n = read(fds[0], line, sizeof(line) - 1);
	require(n > 4 && strncmp(line, "pid ", 4) == 0);
	close(fds[0]);
	big = malloc(64 << 20);
	require(big != NULL);
	memset(big, 1, 64 << 20);
	free(big);
}

START_TEST(test_denylist_ordinary_program)
{
	struct spec s;
	struct job_result r;

	spec_for(&s, SPEC_SECCOMP_DENYLIST, SPEC_SECCOMP_KILL);
	run_job(&s, job_ordinary_program, NULL, &r);
	assert_job_ok(&r);
}
END_TEST

static void job_ptrace(void *arg)
{
	(void)arg;
	ptrace(PTRACE_TRACEME, 0, NULL, NULL);
	child_fail(__LINE__, "ptrace returned, errno %d", errno);
}

static void job_personality(void *arg)
{
	(void)arg;
	personality(ADDR_NO_RANDOMIZE);
	child_fail(__LINE__, "personality returned, errno %d", errno);
}

START_TEST(test_denylist_kill_reports)
{
	struct spec s;
	struct job_result r;

	spec_for(&s, SPEC_SECCOMP_DENYLIST, SPEC_SECCOMP_KILL);
	run_job(&s, job_ptrace, NULL, &r);
	assert_job_violated(&r, SYS_ptrace);
	/* An argument rule traps the same way. */
	run_job(&s, job_personality, NULL, &r);
	assert_job_violated(&r, SYS_personality);
}
END_TEST

static void job_getpid_denied(void *arg)
{
	(void)arg;
	require_errno(syscall(SYS_getpid), EPERM);
	require(syscall(SYS_getuid) >= 0);
}

START_TEST(test_denylist_spec_additions)
{
	struct spec s;
	struct job_result r;

	spec_for(&s, SPEC_SECCOMP_DENYLIST, SPEC_SECCOMP_ERRNO);
	add_name(s.seccomp_deny, &s.seccomp_deny_count, "getpid");
	add_name(s.seccomp_deny, &s.seccomp_deny_count, "ptrace");     /* already there */
	add_name(s.seccomp_allow, &s.seccomp_allow_count, "getuid");   /* allowed anyway */
	add_name(s.seccomp_allow, &s.seccomp_allow_count, "getpid");   /* deny wins */
	run_job(&s, job_getpid_denied, NULL, &r);
	assert_job_ok(&r);
}
END_TEST

/* ---- parser (allow-list) mode ---- */

static void job_parser_work(void *arg)
{
	struct stat st;
	struct timespec ts;
	char *small[256];
	char *big;
	uint32_t random_bytes;

	(void)arg;
	require(fstat(2, &st) == 0);
	require(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
	require(getrandom(&random_bytes, sizeof(random_bytes), 0) == sizeof(random_bytes));
	require(getpid() > 0 && getuid() == geteuid());

	/* glibc's malloc: brk for small blocks, mmap for big ones, mremap
	 * to grow those, munmap to give them back. */
	for (size_t i = 0; i < 256; i++) {
		small[i] = malloc(1000 + i);
		require(small[i] != NULL);
		memset(small[i], (int)i, 1000 + i);
	}
	for (size_t i = 0; i < 256; i++)
		free(small[i]);
	big = malloc(64 << 20);
	require(big != NULL);
	memset(big, 1, 64 << 20);
	big = realloc(big, 128 << 20);
	require(big != NULL);
	memset(big + (64 << 20), 2, 64 << 20);
	free(big);
	big = calloc(1, 32 << 20);
	require(big != NULL && big[12345] == 0);
	free(big);
}

START_TEST(test_parser_memory_and_basics)
{
	struct spec s;
	struct job_result r;

	spec_for(&s, SPEC_SECCOMP_ALLOWLIST, SPEC_SECCOMP_KILL);
	run_job(&s, job_parser_work, NULL, &r);
	assert_job_ok(&r);
}
END_TEST

/* Read and write on fds made before the filter, as a worker's channel is. */
struct io_fds {
	int pair[2];
};

static void job_parser_io(void *arg)
{
	struct io_fds *io = arg;
	char buf[16] = "";
	struct iovec iov[2] = { { "he", 2 }, { "llo", 3 } };
	int flags;

	require(write(io->pair[0], "ping", 4) == 4);
	require(read(io->pair[1], buf, sizeof(buf)) == 4 && memcmp(buf, "ping", 4) == 0);
	require(writev(io->pair[0], iov, 2) == 5);
	require(recv(io->pair[1], buf, sizeof(buf), 0) == 5 && memcmp(buf, "hello", 5) == 0);
	require(send(io->pair[1], "pong", 4, MSG_NOSIGNAL) == 4);
	require(read(io->pair[0], buf, sizeof(buf)) == 4 && memcmp(buf, "pong", 4) == 0);
	flags = fcntl(io->pair[0], F_GETFL);
	require(flags >= 0);
	require(fcntl(io->pair[0], F_SETFL, flags | O_NONBLOCK) == 0);
	require_errno(read(io->pair[0], buf, sizeof(buf)), EAGAIN);
	require(fcntl(io->pair[0], F_GETFD) == FD_CLOEXEC);
	/* isatty() (TCGETS) answers; nothing else of ioctl does. */
	require(!isatty(io->pair[0]) && errno == ENOTTY);
	require(close(io->pair[1]) == 0);
}

START_TEST(test_parser_io)
{
	struct spec s;
	struct job_result r;
	struct io_fds io;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, io.pair), 0);
	spec_for(&s, SPEC_SECCOMP_ALLOWLIST, SPEC_SECCOMP_KILL);
	run_job(&s, job_parser_io, &io, &r);
	assert_job_ok(&r);
	close(io.pair[0]);
	close(io.pair[1]);
}
END_TEST

static void job_abort(void *arg)
{
	(void)arg;
	abort();
}

START_TEST(test_parser_abort)
{
	struct spec s;
	struct job_result r;

	/* abort() needs rt_sigprocmask, getpid, gettid and tgkill. */
	spec_for(&s, SPEC_SECCOMP_ALLOWLIST, SPEC_SECCOMP_KILL);
	run_job(&s, job_abort, NULL, &r);
	assert_job_killed_silently(&r, SIGABRT);
}
END_TEST

static void job_open(void *arg)
{
	(void)arg;
	open("/dev/null", O_RDONLY | O_CLOEXEC);
	child_fail(__LINE__, "open returned, errno %d", errno);
}

static void job_mmap_exec(void *arg)
{
	(void)arg;
	mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	child_fail(__LINE__, "mmap returned, errno %d", errno);
}

START_TEST(test_parser_kill_reports)
{
	struct spec s;
	struct job_result r;

	spec_for(&s, SPEC_SECCOMP_ALLOWLIST, SPEC_SECCOMP_KILL);
	run_job(&s, job_open, NULL, &r);
	assert_job_violated(&r, SYS_openat);
	run_job(&s, job_mmap_exec, NULL, &r);
	assert_job_violated(&r, SYS_mmap);
}
END_TEST

static void job_parser_refusals(void *arg)
{
	char *page;

	(void)arg;
	require_errno(open("/dev/null", O_RDONLY | O_CLOEXEC), EPERM);
	require_errno(socket(AF_UNIX, SOCK_STREAM, 0), EPERM);
	require_errno(syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0), EPERM);
	require_errno(syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0), EPERM);
	require_errno(syscall(SYS_execve, "/bin/true", NULL, NULL), EPERM);
	require_errno(fcntl(2, F_DUPFD_CLOEXEC, 10), EPERM);
	require_errno(ioctl(2, FIONREAD, &(int){ 0 }), EPERM);
	/* No new executable memory, by mmap or by mprotect. */
	require(mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) ==
		MAP_FAILED && errno == EPERM);
	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	require(page != MAP_FAILED);
	require_errno(mprotect(page, 4096, PROT_READ | PROT_EXEC), EPERM);
	require(mprotect(page, 4096, PROT_READ) == 0);
	require(munmap(page, 4096) == 0);
}

START_TEST(test_parser_errno_refuses)
{
	struct spec s;
	struct job_result r;

	spec_for(&s, SPEC_SECCOMP_ALLOWLIST, SPEC_SECCOMP_ERRNO);
	run_job(&s, job_parser_refusals, NULL, &r);
	assert_job_ok(&r);
}
END_TEST

static void job_open_allowed(void *arg)
{
	char *page;
	int fd;

	(void)arg;
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	require(fd >= 0);
	require(close(fd) == 0);
	require_errno(write(1, "x", 1), EPERM);
	/* Naming mprotect lifts its PROT_EXEC rule (a JIT); mmap keeps it. */
	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	require(page != MAP_FAILED);
	require(mprotect(page, 4096, PROT_READ | PROT_EXEC) == 0);
	require(mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) ==
		MAP_FAILED && errno == EPERM);
}

START_TEST(test_parser_spec_additions)
{
	struct spec s;
	struct job_result r;

	spec_for(&s, SPEC_SECCOMP_ALLOWLIST, SPEC_SECCOMP_ERRNO);
	add_name(s.seccomp_allow, &s.seccomp_allow_count, "openat");
	add_name(s.seccomp_allow, &s.seccomp_allow_count, "mprotect");
	add_name(s.seccomp_allow, &s.seccomp_allow_count, "openat");   /* twice is fine */
	add_name(s.seccomp_deny, &s.seccomp_deny_count, "write");      /* deny wins */
	run_job(&s, job_open_allowed, NULL, &r);
	assert_job_ok(&r);
}
END_TEST

/* ---- the violation frame ---- */

/* Forge the SIGSYS a seccomp trap sends (allowed towards oneself) so that
 * every integer encoding is produced, whatever numbers the kernel has. */
static void job_forged_trap(void *arg)
{
	siginfo_t info;

	memset(&info, 0, sizeof(info));
	info.si_signo = SIGSYS;
	info.si_code = 1;   /* SYS_SECCOMP */
	info.si_syscall = *(const int *)arg;
	syscall(SYS_rt_tgsigqueueinfo, getpid(), syscall(SYS_gettid), SIGSYS, &info);
	child_fail(__LINE__, "still alive after SIGSYS, errno %d", errno);
}

START_TEST(test_report_encodes_like_msgpack)
{
	static const int numbers[] = {
		0, 1, 127, 128, 255, 256, 65535, 65536, 0x3fffffff, INT32_MAX,
		-1, -32, -33, -128, -129, -32768, -32769, INT32_MIN,
	};
	struct spec s;
	struct job_result r;

	spec_for(&s, SPEC_SECCOMP_DENYLIST, SPEC_SECCOMP_KILL);
	for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
		int nr = numbers[i];

		run_job(&s, job_forged_trap, &nr, &r);
		assert_job_violated(&r, nr);
	}
}
END_TEST

static void job_plain_sigsys(void *arg)
{
	(void)arg;
	kill(getpid(), SIGSYS);
	child_fail(__LINE__, "still alive after SIGSYS");
}

START_TEST(test_report_only_for_traps)
{
	struct spec s;
	struct job_result r;

	spec_for(&s, SPEC_SECCOMP_DENYLIST, SPEC_SECCOMP_KILL);
	run_job(&s, job_plain_sigsys, NULL, &r);
	assert_job_killed_silently(&r, SIGSYS);
}
END_TEST

static void job_invalid_syscall(void *arg)
{
	(void)arg;
	syscall(-1L);
	child_fail(__LINE__, "syscall(-1) returned, errno %d", errno);
}

START_TEST(test_report_negative_number)
{
	struct spec s;
	struct job_result r;

	/* The kernel's own "no syscall" number reaches the filter, and the
	 * parser list does not allow it. */
	spec_for(&s, SPEC_SECCOMP_ALLOWLIST, SPEC_SECCOMP_KILL);
	run_job(&s, job_invalid_syscall, NULL, &r);
	assert_job_violated(&r, -1);
}
END_TEST

/* ---- other ABIs ---- */

#ifdef __x86_64__
static void job_x32_getpid(void *arg)
{
	(void)arg;
	syscall(X32_SYSCALL_BIT | SYS_getpid);
	child_fail(__LINE__, "x32 getpid returned, errno %d", errno);
}

/* getpid through the i386 entry point: 20 is its i386 number. */
static long i386_getpid(void)
{
	long ret;

	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory", "r8", "r9", "r10", "r11");
	return ret;
}

static void job_i386_getpid(void *arg)
{
	(void)arg;
	i386_getpid();
	child_fail(__LINE__, "i386 getpid returned");
}

static bool i386_available(void)
{
	int status;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(i386_getpid() == getpid() ? 0 : 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

START_TEST(test_other_abis_are_killed)
{
	static const enum spec_seccomp_mode modes[] = { SPEC_SECCOMP_DENYLIST, SPEC_SECCOMP_ALLOWLIST };
	bool i386 = i386_available();

	for (size_t m = 0; m < 2; m++) {
		struct spec s;
		struct job_result r;

		/* ERRNO mode: the kill comes from the architecture check, not
		 * from a rule, and the reporter never hears of it. */
		spec_for(&s, modes[m], SPEC_SECCOMP_ERRNO);
		run_job(&s, job_x32_getpid, NULL, &r);
		assert_job_killed_silently(&r, SIGSYS);
		if (i386) {
			run_job(&s, job_i386_getpid, NULL, &r);
			assert_job_killed_silently(&r, SIGSYS);
		}
	}
	if (!i386)
		fprintf(stderr, "check_seccomp: no i386 emulation in this kernel, int 0x80 untested\n");
}
END_TEST
#endif

static Suite *seccomp_suite(void)
{
	Suite *s = suite_create("seccomp");
	TCase *tc;

	tc = tcase_create("build");
	tcase_add_test(tc, test_build_every_mode);
	tcase_add_test(tc, test_unknown_names_are_refused);
	tcase_add_test(tc, test_allow_cannot_reach_the_deny_list);
	tcase_add_test(tc, test_names_absent_here_are_accepted);
	tcase_add_test(tc, test_bad_arguments);
	suite_add_tcase(s, tc);

	tc = tcase_create("denylist");
	tcase_add_test(tc, test_denylist_refuses_with_eperm);
	tcase_add_test(tc, test_denylist_clone);
	tcase_add_test(tc, test_denylist_argument_rules);
	tcase_add_test(tc, test_denylist_ordinary_program);
	tcase_add_test(tc, test_denylist_kill_reports);
	tcase_add_test(tc, test_denylist_spec_additions);
	suite_add_tcase(s, tc);

	tc = tcase_create("parser");
	tcase_add_test(tc, test_parser_memory_and_basics);
	tcase_add_test(tc, test_parser_io);
	tcase_add_test(tc, test_parser_abort);
	tcase_add_test(tc, test_parser_kill_reports);
	tcase_add_test(tc, test_parser_errno_refuses);
	tcase_add_test(tc, test_parser_spec_additions);
	suite_add_tcase(s, tc);

	tc = tcase_create("report");
	tcase_add_test(tc, test_report_encodes_like_msgpack);
	tcase_add_test(tc, test_report_only_for_traps);
	tcase_add_test(tc, test_report_negative_number);
	suite_add_tcase(s, tc);

#ifdef __x86_64__
	tc = tcase_create("abi");
	tcase_add_test(tc, test_other_abis_are_killed);
	suite_add_tcase(s, tc);
#endif
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(seccomp_suite());
	int failed;

	/* Tests fork and judge their children; they also need a fork of
	 * their own so that one crash does not end the run. */
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
