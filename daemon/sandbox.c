#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <seccomp.h>

#include "sandbox.h"
#include "sandbox/landlock.h"
#include "sandbox/mounts.h"
#include "sandbox/seccomp.h"
#include "util.h"

int sandbox_filter_build(const struct spec *s, struct sandbox_filter *out, char *err,
			 size_t err_size)
{
	return seccomp_build(s, &out->prog, err, err_size);
}

int sandbox_filter_build_exec_relay(const struct spec *s, struct sandbox_filter *out, char *err,
				    size_t err_size)
{
	return seccomp_build_flags(s, SECCOMP_BUILD_EXEC_RELAY, &out->prog, err, err_size);
}

void sandbox_filter_free(struct sandbox_filter *filter)
{
	free(filter->prog.filter);
	filter->prog.filter = NULL;
	filter->prog.len = 0;
}

static int last_capability(void)
{
	char buf[16] = { 0 };
	int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return CAP_LAST_CAP;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return CAP_LAST_CAP;
	return atoi(buf);
}

static int setup_fds(int channel_fd)
{
	int null_fd;

	if (channel_fd != WORKER_CHANNEL_FD) {
		if (dup2(channel_fd, WORKER_CHANNEL_FD) < 0)
			return -errno;
		close(channel_fd);
	}
	/* A program an exec job runs must never hold the channel: it could
	 * forge the worker's frames. */
	if (fcntl(WORKER_CHANNEL_FD, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd < 0)
		return -errno;
	for (int fd = 0; fd <= 2; fd++)
		if (dup2(null_fd, fd) < 0)
			return -errno;
	if (null_fd > 2)
		close(null_fd);
	/* Invariant 5: nothing inherited but the job channel. */
	if (syscall(SYS_close_range, WORKER_CHANNEL_FD + 1, ~0U, 0) < 0)
		return -errno;
	return 0;
}

static int reopen_null(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	for (int i = 0; i <= 2; i++)
		if (dup2(fd, i) < 0)
			return -errno;
	if (fd > 2)
		close(fd);
	return 0;
}

static int setup_signals(void)
{
	sigset_t all;

	/* The zygote's handlers and mask must not leak into the job. */
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		signal(sig, SIG_DFL);
	}
	sigemptyset(&all);
	return sigprocmask(SIG_SETMASK, &all, NULL) < 0 ? -errno : 0;
}

static int drop_identity(uid_t uid, gid_t gid, unsigned flags)
{
	struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	int last = last_capability();

	/* Invariant 1: never uid 0 and no capability, whatever the config says. */
	if (uid == 0 || gid == 0)
		return -EPERM;
	/* A user namespace made by an unprivileged caller has setgroups
	 * denied: the caller's supplementary groups stay (docs/security.md). */
	if (!(flags & SANDBOX_KEEP_GROUPS) && setgroups(0, NULL) < 0)
		return -errno;
	if (setresgid(gid, gid, gid) < 0)
		return -errno;
	/* Without CAP_SETPCAP (an unprivileged caller outside any user
	 * namespace of its own) the bounding set and securebits stay; it holds
	 * no capability to lose, and no_new_privs keeps it from gaining one. */
	for (int cap = 0; !(flags & (SANDBOX_UNPRIVILEGED | SANDBOX_BOUNDING_EMPTY)) && cap <= last;
	     cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return -errno;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	if (!(flags & SANDBOX_UNPRIVILEGED) &&
	    prctl(PR_SET_SECUREBITS, SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_SETUID_FIXUP |
		  SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_NOROOT | SECBIT_NOROOT_LOCKED, 0, 0, 0) < 0)
		return -errno;
	if (setresuid(uid, uid, uid) < 0)
		return -errno;
	/* NO_SETUID_FIXUP keeps capabilities across setuid: clear them now. */
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &header, data) < 0)
		return -errno;
	if (getuid() == 0 || geteuid() == 0 || getgid() == 0 || getegid() == 0)
		return -EPERM;
	return 0;
}

const char *sandbox_step_name(int step)
{
	static const char *const names[] = {
		[SANDBOX_STEP_SIGNALS] = "signals",
		[SANDBOX_STEP_FDS] = "close fds",
		[SANDBOX_STEP_MOUNTS] = "filesystem view",
		[SANDBOX_STEP_HOSTNAME] = "hostname",
		[SANDBOX_STEP_RLIMITS] = "rlimits",
		[SANDBOX_STEP_IDENTITY] = "uid/gid/capabilities",
		[SANDBOX_STEP_NO_NEW_PRIVS] = "no_new_privs",
		[SANDBOX_STEP_PARENT_DEATH_SIGNAL] = "parent death signal",
		[SANDBOX_STEP_LANDLOCK] = "landlock",
		[SANDBOX_STEP_SECCOMP] = "seccomp filter",
		[SANDBOX_STEP_FORK] = "fork the job process",
		[SANDBOX_STEP_CGROUP] = "enter its cgroup",
		[SANDBOX_STEP_NAMESPACES] = "namespaces",
	};

	if (step < 0 || step >= SANDBOX_STEP__COUNT)
		return "unknown step";
	return names[step];
}

/* Address-space limits and ASan's shadow memory cannot coexist. */
#if defined(__SANITIZE_ADDRESS__)
#define BRIG_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BRIG_ASAN 1
#endif
#endif

int sandbox_apply_rlimits(const struct spec *s)
{
	static const int resources[SPEC_RLIMIT__COUNT] = {
		[SPEC_RLIMIT_AS] = RLIMIT_AS,
		[SPEC_RLIMIT_CPU] = RLIMIT_CPU,
		[SPEC_RLIMIT_FSIZE] = RLIMIT_FSIZE,
		[SPEC_RLIMIT_NOFILE] = RLIMIT_NOFILE,
		[SPEC_RLIMIT_NPROC] = RLIMIT_NPROC,
	};
	struct rlimit no_core = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &no_core) < 0)
		return -errno;
	for (int i = 0; i < SPEC_RLIMIT__COUNT; i++) {
		struct rlimit current, wanted;

		if (s->rlimits[i] == SPEC_UNLIMITED)
			continue;
#ifdef BRIG_ASAN
		if (i == SPEC_RLIMIT_AS)
			continue;
#endif
		if (getrlimit(resources[i], &current) < 0)
			return -errno;
		wanted.rlim_cur = wanted.rlim_max = (rlim_t)s->rlimits[i];
		/* CPU: SIGXCPU at the soft limit, which says why the job died;
		 * SIGKILL one second later if it ignores that. */
		if (i == SPEC_RLIMIT_CPU)
			wanted.rlim_max = wanted.rlim_cur + 1;
		/* Never raise a limit: a request only narrows. */
		if (current.rlim_max != RLIM_INFINITY && wanted.rlim_max > current.rlim_max)
			wanted.rlim_cur = wanted.rlim_max = current.rlim_max;
		if (setrlimit(resources[i], &wanted) < 0)
			return -errno;
	}
	return 0;
}

/*
 * A request's narrowing layer, applied by the worker to itself.  Every
 * step is one an unprivileged process may take on itself, and each can
 * only take rights away: Landlock layers intersect, setrlimit cannot
 * raise a hard limit, seccomp filters stack.
 */
int sandbox_apply_layer(const struct spec *profile, const struct spec *layer, char *err,
			size_t err_size)
{
	unsigned families = 0;
	int r;

	if (layer->path_count)
		families |= LANDLOCK_FAMILY_FS;
	if (layer->connect_count || layer->bind_count) {
		/* Before ABI 4 Landlock cannot narrow TCP: refuse, never skip. */
		if (landlock_abi_version() < 4) {
			snprintf(err, err_size, "connect/bind: this kernel's Landlock cannot narrow "
				 "TCP ports");
			return -EOPNOTSUPP;
		}
		families |= LANDLOCK_FAMILY_NET;
	}
	if (families) {
		r = landlock_restrict_families(layer, families, err, err_size);
		/* A narrowing that cannot be enforced is refused, never skipped. */
		if (r < 0)
			return r;
	}
	r = sandbox_apply_rlimits(layer);
	if (r < 0) {
		snprintf(err, err_size, "rlimits: %s", strerror(-r));
		return r;
	}
	if (layer->seccomp_deny_count) {
		uint32_t action = profile->seccomp_action == SPEC_SECCOMP_KILL ? SCMP_ACT_TRAP :
										SCMP_ACT_ERRNO(EPERM);
		scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);

		if (!ctx) {
			snprintf(err, err_size, "seccomp_deny: out of memory");
			return -ENOMEM;
		}
		r = 0;
		for (size_t i = 0; r == 0 && i < layer->seccomp_deny_count; i++) {
			int nr = seccomp_syscall_resolve_name(layer->seccomp_deny[i]);
			if (nr == __NR_SCMP_ERROR) {
				snprintf(err, err_size, "seccomp_deny: unknown syscall '%s'",
					 layer->seccomp_deny[i]);
				r = -EINVAL;
			} else {
				r = seccomp_rule_add(ctx, action, nr, 0);
			}
		}
		if (r == 0)
			r = seccomp_load(ctx);
		seccomp_release(ctx);
		if (r < 0) {
			if (!err[0])
				snprintf(err, err_size, "seccomp_deny: %s", strerror(-r));
			return r;
		}
	}
	return 0;
}

/* The view and the hostname: what lives in the namespaces themselves. */
static int enter_view(const struct spec *s, enum sandbox_step *step, char *err,
		      size_t err_size)
{
	int r;

	if (s->namespaces & SPEC_NS_MOUNT) {
		/* An empty root with only the granted paths, /proc and /dev. */
		*step = SANDBOX_STEP_MOUNTS;
		if ((r = mounts_build_view(s, err, err_size)) < 0)
			return r;
	}
	if (s->namespaces & SPEC_NS_UTS) {
		*step = SANDBOX_STEP_HOSTNAME;
		if (sethostname("brig", 4) < 0)
			return -errno;
	}
	return 0;
}

/* The namespace-wide part: what a template does once for all its workers. */
static int enter_shared(const struct spec *s, int channel_fd, enum sandbox_step *step,
			char *err, size_t err_size)
{
	int r;

	*step = SANDBOX_STEP_SIGNALS;
	if ((r = setup_signals()) < 0)
		return r;
	*step = SANDBOX_STEP_FDS;
	if ((r = setup_fds(channel_fd)) < 0)
		return r;
	if ((r = enter_view(s, step, err, err_size)) < 0)
		return r;
	/* stdin/out/err pointed at the host's /dev/null, now out of reach:
	 * take the view's own. */
	if ((s->namespaces & SPEC_NS_MOUNT) && (r = reopen_null()) < 0)
		return r;
	return 0;
}

/* The per-worker part, from rlimits on. */
static int enter_own(const struct spec *s, uid_t uid, const struct sandbox_filter *filter,
		     unsigned flags, enum sandbox_step *step, char *err, size_t err_size)
{
	int r;

	*step = SANDBOX_STEP_RLIMITS;
	if ((r = sandbox_apply_rlimits(s)) < 0)
		return r;
	*step = SANDBOX_STEP_IDENTITY;
	if ((r = drop_identity(uid, s->gid, flags)) < 0)
		return r;
	*step = SANDBOX_STEP_NO_NEW_PRIVS;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	/* Credentials changed, which cleared any parent-death signal. */
	*step = SANDBOX_STEP_PARENT_DEATH_SIGNAL;
	if (!(flags & SANDBOX_NO_PARENT_DEATH_SIGNAL) && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		return -errno;
	/* Each worker its own Landlock domain: its scopes keep its signals and
	 * abstract sockets away from every other worker. */
	*step = SANDBOX_STEP_LANDLOCK;
	r = landlock_restrict(s, err, err_size);
	/* Without Landlock in the kernel, the mount view still confines the
	 * job; a profile that must have it says landlock = required. */
	if (r < 0 && !(r == -EOPNOTSUPP && !s->landlock_required))
		return r;
	if (!filter)
		return 0;
	*step = SANDBOX_STEP_SECCOMP;
	if (flags & SANDBOX_NO_REPORTER)
		return seccomp_load_prog(&filter->prog);
	return sandbox_load_seccomp(s, filter);
}

int sandbox_load_seccomp(const struct spec *s, const struct sandbox_filter *filter)
{
	int r;

	if (s->seccomp_action == SPEC_SECCOMP_KILL &&
	    (r = seccomp_install_reporter(WORKER_CHANNEL_FD)) < 0)
		return r;
	return seccomp_load_prog(&filter->prog);
}

int sandbox_enter(const struct spec *s, uid_t uid, const struct sandbox_filter *filter,
		  int channel_fd, enum sandbox_step *step)
{
	char err[256];

	return sandbox_enter_flags(s, uid, filter, channel_fd, 0, step, err, sizeof(err));
}

int sandbox_enter_flags(const struct spec *s, uid_t uid, const struct sandbox_filter *filter,
			int channel_fd, unsigned flags, enum sandbox_step *step, char *err,
			size_t err_size)
{
	int r;

	err[0] = '\0';
	r = enter_shared(s, channel_fd, step, err, err_size);
	return r < 0 ? r : enter_own(s, uid, filter, flags, step, err, err_size);
}

int sandbox_write_id_maps(pid_t pid, uid_t uid, gid_t gid, bool deny_setgroups, char *err,
			  size_t err_size)
{
	static const char *const files[] = { "setgroups", "uid_map", "gid_map" };
	char text[3][64];

	snprintf(text[0], sizeof(text[0]), "deny");
	snprintf(text[1], sizeof(text[1]), "%u %u 1", (unsigned)uid, (unsigned)uid);
	snprintf(text[2], sizeof(text[2]), "%u %u 1", (unsigned)gid, (unsigned)gid);
	/* One id each, mapped to itself: inside, the job is who it is outside
	 * (never root there either); every other id shows as the overflow id. */
	for (size_t i = deny_setgroups ? 0 : 1; i < ARRAY_SIZE(files); i++) {
		char path[64];
		size_t len = strlen(text[i]);
		ssize_t n;
		int fd;

		snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, files[i]);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			snprintf(err, err_size, "namespaces: user: open %s: %s", path, strerror(errno));
			return -errno;
		}
		n = write(fd, text[i], len);
		if (n != (ssize_t)len) {
			int e = n < 0 ? errno : EIO;
			close(fd);
			snprintf(err, err_size, "namespaces: user: write '%s' to %s: %s", text[i], path,
				 strerror(e));
			return -e;
		}
		close(fd);
	}
	return 0;
}

int sandbox_user_ns_identity(const struct spec *s, uid_t uid)
{
	/* Root's uid is not mapped into the job's user namespace (only the
	 * job's uid is, to itself), and an unmapped uid can create no file:
	 * the view could not be built.  So root becomes the job's uid first,
	 * and gets its capabilities back inside the namespace only. */
	if (!(s->namespaces & SPEC_NS_USER) || geteuid() != 0)
		return 0;
	if (uid == 0 || s->gid == 0)
		return -EPERM;
	if (setgroups(0, NULL) < 0 || setresgid(s->gid, s->gid, s->gid) < 0 ||
	    setresuid(uid, uid, uid) < 0)
		return -errno;
	return 0;
}

/* The parent's ids cannot be mapped from inside: a helper left outside does it. */
static int unshare_with_maps(const struct spec *s, uid_t uid, bool deny_setgroups, char *err,
			     size_t err_size)
{
	int go[2], done[2], status = 0, dumpable;
	pid_t parent = getpid(), helper;
	char byte = 0;
	int r = 0;

	if (!(s->namespaces & SPEC_NS_USER))
		return unshare((int)spec_clone_flags(s)) < 0 ? -errno : 0;
	if (pipe2(go, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(done, O_CLOEXEC) < 0) {
		r = -errno;
		close(go[0]);
		close(go[1]);
		return r;
	}
	helper = fork();
	if (helper < 0) {
		r = -errno;
		goto out;
	}
	if (helper == 0) {
		char helper_err[256];
		int code = 1;

		close(go[1]);
		close(done[0]);
		if (read(go[0], &byte, 1) == 1 && byte == 'u')
			code = sandbox_write_id_maps(parent, uid, s->gid, deny_setgroups, helper_err,
						     sizeof(helper_err)) < 0 ? 2 : 0;
		if (code == 2 && write(done[1], helper_err, strlen(helper_err)) < 0)
			code = 3;
		_exit(code);
	}
	close(go[0]);
	go[0] = -1;
	close(done[1]);
	done[1] = -1;
	/* /proc/PID/uid_map of a process that is not dumpable (it changed
	 * uid, e.g. from root) belongs to root: the helper could not write
	 * it.  Dumpable for the moment it takes, then back. */
	if ((r = sandbox_user_ns_identity(s, uid)) < 0)
		snprintf(err, err_size, "namespaces: user: cannot take uid %u: %s", (unsigned)uid,
			 strerror(-r));
	dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	if (dumpable == 0)
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	if (r == 0 && unshare((int)spec_clone_flags(s)) < 0) {
		r = -errno;
		snprintf(err, err_size, "namespaces: unshare: %s", strerror(errno));
	}
	byte = r < 0 ? 'x' : 'u';
	if (write(go[1], &byte, 1) != 1 && r == 0)
		r = -EPIPE;
	close(go[1]);
	go[1] = -1;
	while (waitpid(helper, &status, 0) < 0 && errno == EINTR)
		;
	if (dumpable == 0)
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (r == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		ssize_t n = read(done[0], err, err_size > 0 ? err_size - 1 : 0);
		if (n > 0)
			err[n] = '\0';
		else
			snprintf(err, err_size, "namespaces: user: the uid map could not be written");
		r = -EPERM;
	}
out:
	for (int i = 0; i < 2; i++) {
		if (go[i] >= 0)
			close(go[i]);
		if (done[i] >= 0)
			close(done[i]);
	}
	return r;
}

int sandbox_apply_self(const struct spec *s, uid_t uid, const struct sandbox_filter *filter,
		       unsigned flags, enum sandbox_step *step, char *err, size_t err_size)
{
	int r;

	err[0] = '\0';
	*step = SANDBOX_STEP_NAMESPACES;
	if ((r = unshare_with_maps(s, uid, flags & SANDBOX_KEEP_GROUPS, err, err_size)) < 0)
		return r;
	if ((r = enter_view(s, step, err, err_size)) < 0)
		return r;
	return enter_own(s, uid, filter, flags | SANDBOX_NO_PARENT_DEATH_SIGNAL | SANDBOX_NO_REPORTER,
			 step, err, err_size);
}

/*
 * A template keeps uid 0 but only the capabilities that let it hand each
 * worker a fresh uid: CAP_SETUID, CAP_SETGID, and CAP_SETPCAP to empty
 * the worker's bounding set.  No job code ever runs in it.
 */
int sandbox_enter_template(const struct spec *s, int channel_fd, enum sandbox_step *step)
{
	struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	const uint32_t keep = (1u << CAP_SETUID) | (1u << CAP_SETGID) | (1u << CAP_SETPCAP);
	int last = last_capability();
	char err[256];
	int r;

	r = enter_shared(s, channel_fd, step, err, sizeof(err));
	if (r < 0)
		return r;
	*step = SANDBOX_STEP_IDENTITY;
	if (setgroups(0, NULL) < 0)
		return -errno;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = keep;
	if (syscall(SYS_capset, &header, data) < 0)
		return -errno;
	/* The whole bounding set, the three kept ones too (it bounds what an
	 * execve could grant, not what we hold): each worker inherits it
	 * empty and need not drop the ~40 capabilities one by one.  SETPCAP,
	 * which dropping needs, last. */
	for (int cap = 0; cap <= last; cap++)
		if (cap != CAP_SETPCAP && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return -errno;
	if (prctl(PR_CAPBSET_DROP, CAP_SETPCAP, 0, 0, 0) < 0)
		return -errno;
	*step = SANDBOX_STEP_NO_NEW_PRIVS;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	*step = SANDBOX_STEP_PARENT_DEATH_SIGNAL;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

/* Signals not at their default disposition in the template (bit sig). */
static uint64_t template_signals;
static bool template_signals_known;

void sandbox_template_signals_settled(void)
{
	template_signals = 0;
	for (int sig = 1; sig < NSIG && sig < 64; sig++) {
		struct sigaction sa;

		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (sigaction(sig, NULL, &sa) < 0 || sa.sa_handler != SIG_DFL)
			template_signals |= 1ull << sig;
	}
	template_signals_known = NSIG <= 65;
}

int sandbox_enter_from_template(const struct spec *s, uid_t uid,
				const struct sandbox_filter *filter, int channel_fd,
				enum sandbox_step *step)
{
	char err[256];
	sigset_t none;
	int r;

	*step = SANDBOX_STEP_SIGNALS;
	sigemptyset(&none);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP &&
		    (!template_signals_known || sig >= 64 || (template_signals & (1ull << sig))))
			signal(sig, SIG_DFL);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		return -errno;
	/* The job channel replaces the template's own channel at fd 3. */
	*step = SANDBOX_STEP_FDS;
	if ((r = setup_fds(channel_fd)) < 0)
		return r;
	return enter_own(s, uid, filter, SANDBOX_BOUNDING_EMPTY, step, err, sizeof(err));
}
