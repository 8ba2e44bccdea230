#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "sandbox.h"
#include "util.h"

unsigned long sandbox_clone_flags(const struct profile_config *profile)
{
	(void)profile;
	/* The worker is pid 1 of its own pid namespace: when it exits, the
	 * kernel kills everything the job started (invariant 4). */
	return CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET;
}

/*
 * Refused with EPERM: what a parsing job never needs and what escapes and
 * kernel attacks are made of.  The descriptor engine (issue 3) replaces
 * this with per-profile lists and allow-list mode.
 */
static const char *const denied_syscalls[] = {
	"ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
	"mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
	"fsconfig", "fsmount", "fspick", "mount_setattr",
	"unshare", "setns",
	"bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
	"io_uring_register", "keyctl", "add_key", "request_key",
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"open_by_handle_at", "name_to_handle_at", "acct", "swapon", "swapoff", "reboot",
	"syslog", "iopl", "ioperm", "quotactl", "quotactl_fd", "lookup_dcookie",
	"sethostname", "setdomainname", "settimeofday", "clock_settime", "clock_adjtime",
	"adjtimex", "nfsservctl", "vhangup", "uselib", "_sysctl", "fanotify_init",
	"mknod", "mknodat",
};

int sandbox_filter_build(const struct profile_config *profile, struct sandbox_filter *out)
{
	scmp_filter_ctx ctx;
	int fd = -1, r;
	off_t size;
	void *prog = NULL;

	(void)profile;
	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return -ENOMEM;
	for (size_t i = 0; i < ARRAY_SIZE(denied_syscalls); i++) {
		int nr = seccomp_syscall_resolve_name(denied_syscalls[i]);
		if (nr == __NR_SCMP_ERROR)
			continue;   /* not on this architecture */
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
		if (r < 0)
			goto out;
	}
	/* No new namespaces through clone() either: clone3 is refused so that
	 * libc falls back to clone, whose flags a filter can inspect. */
	{
		static const unsigned long ns_flags[] = {
			CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
			CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWCGROUP,
		};
		for (size_t i = 0; i < ARRAY_SIZE(ns_flags); i++) {
			r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
					     SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
			if (r < 0)
				goto out;
		}
	}
	r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (r < 0)
		goto out;
	/* TIOCSTI would let a job type into a terminal it somehow reached. */
	r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
			     SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCSTI));
	if (r < 0)
		goto out;

	/* libseccomp 2.5 exports BPF only to an fd: go through a memfd. */
	fd = memfd_create("brig-seccomp", MFD_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		goto out;
	size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || size % (off_t)sizeof(struct sock_filter) != 0 ||
	    size / (off_t)sizeof(struct sock_filter) > 0xffff) {
		r = -EINVAL;
		goto out;
	}
	prog = malloc((size_t)size);
	if (!prog) {
		r = -ENOMEM;
		goto out;
	}
	if (pread(fd, prog, (size_t)size, 0) != size) {
		r = -EIO;
		goto out;
	}
	out->prog.len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
	out->prog.filter = TAKE_PTR(prog);
	r = 0;
out:
	free(prog);
	if (fd >= 0)
		close(fd);
	seccomp_release(ctx);
	return r;
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
	/* Keep the channel's close-on-exec: exec jobs get their own stdio. */
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

static int drop_identity(const struct profile_config *profile)
{
	struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	int last = last_capability();

	/* Invariant 1: never uid 0 and no capability, whatever the config says. */
	if (profile->uid == 0 || profile->gid == 0)
		return -EPERM;
	if (setgroups(0, NULL) < 0)
		return -errno;
	if (setresgid(profile->gid, profile->gid, profile->gid) < 0)
		return -errno;
	for (int cap = 0; cap <= last; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return -errno;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	if (prctl(PR_SET_SECUREBITS, SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_SETUID_FIXUP |
		  SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_NOROOT | SECBIT_NOROOT_LOCKED, 0, 0, 0) < 0)
		return -errno;
	if (setresuid(profile->uid, profile->uid, profile->uid) < 0)
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
		[SANDBOX_STEP_MOUNT_NAMESPACE] = "mount namespace",
		[SANDBOX_STEP_PROC] = "mount /proc",
		[SANDBOX_STEP_HOSTNAME] = "hostname",
		[SANDBOX_STEP_RLIMITS] = "rlimits",
		[SANDBOX_STEP_IDENTITY] = "uid/gid/capabilities",
		[SANDBOX_STEP_NO_NEW_PRIVS] = "no_new_privs",
		[SANDBOX_STEP_PARENT_DEATH_SIGNAL] = "parent death signal",
		[SANDBOX_STEP_SECCOMP] = "seccomp filter",
		[SANDBOX_STEP_FORK] = "fork the job process",
	};

	if (step < 0 || step >= SANDBOX_STEP__COUNT)
		return "unknown step";
	return names[step];
}

int sandbox_enter(const struct profile_config *profile, const struct sandbox_filter *filter,
		  int channel_fd, enum sandbox_step *step)
{
	struct rlimit no_core = { 0, 0 };
	int r;

	*step = SANDBOX_STEP_SIGNALS;
	if ((r = setup_signals()) < 0)
		return r;
	*step = SANDBOX_STEP_FDS;
	if ((r = setup_fds(channel_fd)) < 0)
		return r;
	*step = SANDBOX_STEP_MOUNT_NAMESPACE;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -errno;
	*step = SANDBOX_STEP_PROC;
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return -errno;
	*step = SANDBOX_STEP_HOSTNAME;
	if (sethostname("brig", 4) < 0)
		return -errno;
	*step = SANDBOX_STEP_RLIMITS;
	if (setrlimit(RLIMIT_CORE, &no_core) < 0)
		return -errno;
	*step = SANDBOX_STEP_IDENTITY;
	if ((r = drop_identity(profile)) < 0)
		return r;
	*step = SANDBOX_STEP_NO_NEW_PRIVS;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	/* Credentials changed, which cleared any parent-death signal. */
	*step = SANDBOX_STEP_PARENT_DEATH_SIGNAL;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		return -errno;
	*step = SANDBOX_STEP_SECCOMP;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &filter->prog, 0, 0) < 0)
		return -errno;
	return 0;
}
