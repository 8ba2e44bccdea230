#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define UNDER_VALGRIND() (RUNNING_ON_VALGRIND != 0)
#endif
#endif
#ifndef UNDER_VALGRIND
#define UNDER_VALGRIND() false
#endif
/* gcc says __SANITIZE_ADDRESS__, clang __has_feature(address_sanitizer). */
#if defined(__SANITIZE_ADDRESS__)
#define BRIG_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BRIG_ASAN 1
#endif
#endif

#include "chan.h"
#include "log.h"
#include "msg.h"
#include "privsep.h"
#include "util.h"

/* ---- giving up root ---- */

static int drop_capabilities(char *err, size_t err_size)
{
	struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &header, data) < 0) {
		snprintf(err, err_size, "capset: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

int privsep_drop(const struct broker_identity *id, pid_t monitor_pid, char *err,
		 size_t err_size)
{
	if (!id->keep_root) {
		/* While we still hold CAP_SETPCAP: no capability can come back by
		 * any route (file capabilities, a setuid binary) once this is empty. */
		for (unsigned long cap = 0; cap < 64; cap++) {
			if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0)
				continue;
			if (errno == EINVAL)
				break;   /* past the kernel's last capability */
			snprintf(err, err_size, "dropping capability %lu from the bounding set: %s",
				 cap, strerror(errno));
			return -errno;
		}
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
			snprintf(err, err_size, "clearing ambient capabilities: %s", strerror(errno));
			return -errno;
		}
		/* The broker keeps no supplementary group of root's: only its own. */
		if (setgroups(1, &id->gid) < 0) {
			snprintf(err, err_size, "setgroups(%u): %s", (unsigned)id->gid, strerror(errno));
			return -errno;
		}
		if (setresgid(id->gid, id->gid, id->gid) < 0) {
			snprintf(err, err_size, "setresgid(%u): %s", (unsigned)id->gid, strerror(errno));
			return -errno;
		}
		if (setresuid(id->uid, id->uid, id->uid) < 0) {
			snprintf(err, err_size, "setresuid(%u): %s", (unsigned)id->uid, strerror(errno));
			return -errno;
		}
		/* setresuid() emptied the permitted and effective sets; the
		 * inheritable one survives it. */
		if (drop_capabilities(err, err_size) < 0)
			return -errno;
		if (setresuid(0, 0, 0) == 0 || errno != EPERM) {
			snprintf(err, err_size, "the broker could become root again");
			return -EPERM;
		}
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		snprintf(err, err_size, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return -errno;
	}
	/* After the uid change, which clears it: the broker dies with the
	 * monitor, and the check closes the window before prctl. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) {
		snprintf(err, err_size, "PR_SET_PDEATHSIG: %s", strerror(errno));
		return -errno;
	}
	if (getppid() != monitor_pid) {
		snprintf(err, err_size, "the monitor is already gone");
		return -ESRCH;
	}
	return 0;
}

/* ---- the broker's seccomp filter ---- */

/*
 * Everything the broker does after start-up: the libevent loop (epoll,
 * signals through a socketpair or eventfd), its sockets (accept, the
 * frames of clients, workers, zygotes and the monitor, SCM_RIGHTS), worker
 * channels (socketpair), the journal (sendmsg on a socket opened before the
 * filter), memory, clocks, and reading the configuration again on SIGHUP
 * (openat, read, stat; user and group names in the policy go through NSS,
 * which may read files or ask a local socket).  Nothing that creates a
 * process, changes an identity, mounts, traces, loads or execs.
 */
static const char *const broker_syscalls[] = {
	/* the event loop */
	"epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
	"epoll_pwait2", "poll", "ppoll", "select", "pselect6", "eventfd2", "pipe", "pipe2",
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
	/* sockets and fds */
	"accept", "accept4", "recvmsg", "sendmsg", "recvfrom", "sendto", "recvmmsg", "sendmmsg",
	"getsockopt", "setsockopt", "socketpair", "connect", "shutdown", "getsockname",
	"getpeername", "read", "readv", "pread64", "write", "writev", "pwrite64", "close",
	"dup", "dup2", "dup3", "fcntl", "lseek",
	/* the configuration, on reload */
	"open", "openat", "stat", "lstat", "fstat", "newfstatat", "statx", "access",
	"faccessat", "faccessat2", "readlink", "readlinkat", "getdents64", "getcwd", "fstatfs",
	"statfs",
	/* memory */
	"brk", "mmap", "munmap", "mremap", "madvise", "mprotect",
	/* clocks and time */
	"clock_gettime", "clock_getres", "gettimeofday", "time", "nanosleep", "clock_nanosleep",
	/* the process itself */
	"getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid", "getgroups",
	"getresuid", "getresgid", "getrlimit", "prlimit64", "getrusage", "getrandom", "uname",
	"sched_yield", "futex", "restart_syscall", "exit", "exit_group", "tgkill", "wait4",
	"sysinfo", "rseq", "set_robust_list",
#if defined(BRIG_ASAN)
	/* AddressSanitizer's LeakSanitizer stops the world with a tracer
	 * thread at exit: only in --enable-asan builds. */
	"clone", "clone3", "ptrace", "prctl", "sched_getaffinity", "set_tid_address", "getdents",
#endif
};

static void broker_sigsys(int sig, siginfo_t *info, void *context)
{
	char line[128] = "brigd broker: its seccomp filter refused syscall ";
	char digits[16];
	size_t len = strlen(line), n = 0;
	int nr = info->si_syscall;
	struct sigaction dfl = { .sa_handler = SIG_DFL };

	(void)context;
	/* Async-signal-safe: no stdio, no malloc; the number is enough to look
	 * up (ausyscall NUMBER, or scmp_sys_resolver NUMBER). */
	if (nr < 0)
		nr = -nr;
	do
		digits[n++] = (char)('0' + nr % 10);
	while ((nr /= 10) && n < sizeof(digits));
	while (n > 0 && len < sizeof(line) - 2)
		line[len++] = digits[--n];
	line[len++] = '\n';
	if (write(STDERR_FILENO, line, len) < 0) {
		/* nothing more to do */
	}
	/* Die of the signal, so that the monitor's log names it. */
	sigaction(sig, &dfl, NULL);
	raise(sig);
}

int privsep_load_filter(char *err, size_t err_size)
{
	struct sigaction sa = { .sa_sigaction = broker_sigsys, .sa_flags = SA_SIGINFO };
	scmp_filter_ctx ctx;
	int r;

	/* valgrind implements no seccomp(2), and a filter would bind its own
	 * syscalls too (make check-valgrind runs the broker under it). */
	if (UNDER_VALGRIND()) {
		snprintf(err, err_size, "running under valgrind, which has no seccomp(2)");
		return 1;
	}
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0) {
		snprintf(err, err_size, "sigaction(SIGSYS): %s", strerror(errno));
		return -errno;
	}
	/* Another architecture's syscalls (i386 on x86_64) are killed outright. */
	ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx) {
		snprintf(err, err_size, "seccomp_init failed");
		return -ENOMEM;
	}
	r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(broker_syscalls); i++) {
		int nr = seccomp_syscall_resolve_name(broker_syscalls[i]);

		if (nr == __NR_SCMP_ERROR)
			continue;   /* not on this architecture */
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (r < 0)
			snprintf(err, err_size, "allowing %s: %s", broker_syscalls[i], strerror(-r));
	}
	/* Sockets: AF_UNIX only (the journal, NSS's local services).  int
	 * arguments: only their low 32 bits count (as in sandbox/seccomp.c). */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				     SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffu, AF_UNIX));
	/* ioctl: stdio's isatty() and FIONREAD, nothing that drives a device. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				     SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TCGETS));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				     SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, FIONREAD));
	if (r == 0)
		r = seccomp_load(ctx);
	if (r < 0 && !err[0])
		snprintf(err, err_size, "loading the filter: %s", strerror(-r));
	seccomp_release(ctx);
	return r;
}

/* ---- the channels to the monitor ---- */

struct monitor_link {
	struct chan *chan;
	int access_fd;
	const struct monitor_link_ops *ops;
	void *arg;
	msgpack_sbuffer sb;
	uint8_t buf[CHAN_RECORD_MAX];
};

static int link_on_record(struct chan *ch, const uint8_t *body, size_t len, int passed_fd,
			  void *arg)
{
	struct monitor_link *l = arg;
	struct msg_in in;
	int type;

	(void)ch;
	/* The monitor is the more privileged peer: a broken rule is a bug,
	 * and the broker stops rather than guess. */
	type = msg_open(&in, body, len);
	switch (type) {
	case MSG_MONITOR_ZYGOTE_STARTED: {
		struct msg_monitor_zygote_started m;

		if (msg_decode_monitor_zygote_started(&in, &m) < 0)
			fatalx("bad ZYGOTE_STARTED from the monitor: %s", in.error);
		if ((m.pid > 0) != (passed_fd >= 0))
			fatalx("ZYGOTE_STARTED from the monitor %s a channel",
			       passed_fd >= 0 ? "with" : "without");
		msg_close(&in);
		l->ops->zygote_started(l->arg, m.request, (pid_t)m.pid, passed_fd,
				       m.error > 0 && m.error < 4096 ? (int)m.error : EIO);
		return 0;
	}
	case MSG_MONITOR_ZYGOTE_DIED: {
		struct msg_monitor_zygote_died m;

		if (passed_fd >= 0 || msg_decode_monitor_zygote_died(&in, &m) < 0)
			fatalx("bad ZYGOTE_DIED from the monitor: %s", in.error);
		msg_close(&in);
		l->ops->zygote_died(l->arg, (pid_t)m.pid, (int)m.wait_status);
		return 0;
	}
	default:
		fatalx("unexpected message from the monitor: %s (%s)", msg_type_name(type),
		       type < 0 ? in.error : "not allowed here");
	}
}

static void link_on_close(struct chan *ch, int err, void *arg)
{
	(void)ch;
	(void)arg;
	/* The monitor only closes by exiting; the parent-death signal is on
	 * its way.  Nothing can be done without it. */
	fatalx("the monitor is gone (%s)", err < 0 ? strerror(-err) : "channel closed");
}

struct monitor_link *monitor_link_new(struct event_base *base, int channel_fd, int access_fd,
				      const struct monitor_link_ops *ops, void *arg)
{
	struct monitor_link *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->ops = ops;
	l->arg = arg;
	l->access_fd = access_fd;
	msgpack_sbuffer_init(&l->sb);
	l->chan = chan_new(base, channel_fd, link_on_record, link_on_close, l);
	if (!l->chan) {
		msgpack_sbuffer_destroy(&l->sb);
		free(l);
		return NULL;
	}
	return l;
}

void monitor_link_free(struct monitor_link *l)
{
	if (!l)
		return;
	chan_free(l->chan);
	if (l->access_fd >= 0)
		close(l->access_fd);
	msgpack_sbuffer_destroy(&l->sb);
	free(l);
}

static int link_send(struct monitor_link *l, int packed)
{
	int r = packed;

	if (r == 0)
		r = chan_send(l->chan, l->sb.data, l->sb.size, -1);
	msgpack_sbuffer_clear(&l->sb);
	return r;
}

int monitor_start_zygote(struct monitor_link *l, uint32_t request)
{
	return link_send(l, msg_pack_monitor_zygote_start(
		&l->sb, &(struct msg_monitor_zygote_start){ request }));
}

int monitor_kill_zygote(struct monitor_link *l, pid_t pid)
{
	return link_send(l, msg_pack_monitor_zygote_kill(
		&l->sb, &(struct msg_monitor_zygote_kill){ pid }));
}

void monitor_notify(struct monitor_link *l, enum monitor_notify_state state, const char *status)
{
	struct msg_monitor_notify m = { .state = (uint32_t)state };
	size_t n = 0;

	/* Only what the monitor accepts: printable ASCII, cut to fit. */
	for (const char *p = status ? status : ""; *p && n < BRIG_STATUS_MAX; p++)
		m.status[n++] = (*p >= 0x20 && *p <= 0x7e) ? *p : '?';
	m.status[n] = '\0';
	if (link_send(l, msg_pack_monitor_notify(&l->sb, &m)) < 0)
		log_warn("cannot tell the monitor the state for systemd");
}

int monitor_check_access(struct monitor_link *l, uid_t uid, gid_t gid, const gid_t *groups,
			 size_t group_count, const char *path, int mode)
{
	struct msg_monitor_access m = { .uid = uid, .gid = gid, .mode = (uint32_t)mode };
	struct msg_monitor_access_result result;
	struct msg_in in;
	size_t len, nfds;
	int fds[1], r, type;

	if (strlen(path) > BRIG_ACCESS_PATH_MAX || path[0] != '/')
		return -ENAMETOOLONG;
	/* The broker holds at most 64 (a client in more gets no path checks:
	 * fewer groups can mean more access, with group-deny modes or ACLs). */
	if (group_count > BRIG_GROUPS_MAX)
		return -E2BIG;
	for (size_t i = 0; i < group_count; i++)
		m.groups[i] = groups[i];
	m.group_count = group_count;
	snprintf(m.path, sizeof(m.path), "%s", path);
	r = msg_pack_monitor_access(&l->sb, &m);
	if (r == 0)
		r = chan_send_blocking(l->access_fd, l->sb.data, l->sb.size, -1);
	msgpack_sbuffer_clear(&l->sb);
	if (r < 0)
		fatalx("cannot ask the monitor for an access check: %s", strerror(-r));
	r = chan_recv_blocking(l->access_fd, l->buf, sizeof(l->buf), &len, fds, 1, &nfds);
	if (r < 0)
		fatalx("no answer from the monitor to an access check: %s", strerror(-r));
	if (nfds > 0)
		fatalx("the monitor passed a file descriptor with an access check");
	type = msg_open(&in, l->buf + FRAME_HEADER_SIZE, len - FRAME_HEADER_SIZE);
	if (type != MSG_MONITOR_ACCESS_RESULT || msg_decode_monitor_access_result(&in, &result) < 0)
		fatalx("bad answer from the monitor to an access check: %s",
		       in.error[0] ? in.error : msg_type_name(type));
	msg_close(&in);
	if (result.error == 0)
		return 0;
	return result.error > 0 && result.error < 4096 ? -(int)result.error : -EACCES;
}
