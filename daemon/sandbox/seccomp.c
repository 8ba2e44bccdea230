/*
 * Syscall filtering with libseccomp.  The zygote compiles a profile's
 * filter once (seccomp_build) and hands the raw BPF to every process that
 * loads it (seccomp_load_prog); the job's SIGSYS handler (seccomp_install_reporter)
 * turns a trapped syscall into one WORKER_VIOLATION frame naming it.
 *
 * Two rules hold in both modes:
 *  - the deny-list below wins: s->seccomp_allow can never name a syscall it
 *    refuses, wholly or for some arguments, and s->seccomp_deny removes
 *    whatever it names from the parser allow-list;
 *  - only the native ABI gets through: libseccomp's generated prologue sends
 *    another architecture (i386 through int 0x80 on x86_64) and, on x86_64,
 *    every syscall number with the x32 bit set to the "bad architecture"
 *    action, which we make SCMP_ACT_KILL_PROCESS.  The x32 ABI shares
 *    x86_64's audit arch, so without that check a job could reach a denied
 *    syscall through its x32 number (tests/check_seccomp.c proves both).
 *
 * Library code: returns 0 or -errno, never logs or exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "seccomp.h"
#include "util.h"
#include "wire.h"

/* si_code of a SIGSYS sent by SECCOMP_RET_TRAP; glibc's <signal.h> does not
 * export it, and <asm/siginfo.h> cannot be included next to it. */
#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1
#endif

/* The argument that holds clone()'s flags: CLONE_BACKWARDS2 architectures
 * swap the first two. */
#if defined(__s390__) || defined(__CRIS__)
#define CLONE_FLAGS_ARG 1
#else
#define CLONE_FLAGS_ARG 0
#endif

/*
 * Refused outright, in both modes: everything Docker's default profile
 * leaves out for a process without capabilities, and more.  A job runs
 * without capabilities, so most of these would fail anyway; refusing them
 * here keeps their code in the kernel out of the job's reach, which is
 * where the exploits live.  Names this architecture lacks (vm86, stime,
 * umount on x86_64) resolve to nothing and are skipped.
 */
static const char *const denied_syscalls[] = {
	/* Replacing or extending the kernel. */
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"create_module", "query_module", "get_kernel_syms", "reboot",
	/* Host-wide state that is not namespaced: accounting, swap, quotas,
	 * the kernel log, sysctls, raw port I/O, the controlling tty. */
	"acct", "swapon", "swapoff", "quotactl", "quotactl_fd", "syslog", "_sysctl",
	"iopl", "ioperm", "vhangup", "nfsservctl", "lookup_dcookie",
	/* The host's clock. */
	"settimeofday", "stime", "clock_settime", "clock_settime64", "clock_adjtime",
	"clock_adjtime64", "adjtimex",
	/* Names and mounts: a job's view of the system is built by brig and
	 * must stay as built. */
	"sethostname", "setdomainname", "mount", "umount", "umount2", "pivot_root", "chroot",
	"move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
	/* New namespaces are how unprivileged users reach code paths written
	 * for root (user namespaces above all); clone is handled below. */
	"unshare", "setns",
	/* Other processes: read, write or steer them. */
	"ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "kcmp",
	"pidfd_getfd",
	/* File handles open by inode, bypassing the mount view (the "shocker"
	 * container escape). */
	"open_by_handle_at", "name_to_handle_at",
	/* Large attack surfaces no parser needs: io_uring's operations are not
	 * seen by seccomp at all; userfaultfd turns kernel races into
	 * reliable exploits; keyrings are not namespaced. */
	"bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
	"io_uring_register", "keyctl", "add_key", "request_key", "fanotify_init",
	/* Obsolete interfaces, kept by the kernel for old binaries only. */
	"uselib", "ustat", "sysfs", "vm86", "vm86old", "modify_ldt",
	/* NUMA placement reaches memory policy beyond the job (Docker leaves
	 * these to CAP_SYS_NICE). */
	"mbind", "set_mempolicy", "set_mempolicy_home_node", "get_mempolicy", "move_pages",
	"migrate_pages",
};

/*
 * Refused for some arguments only (rules in add_conditional_denials):
 * seccomp_allow may not name them either, since allowing them in full
 * would undo the restriction.
 */
static const char *const restricted_syscalls[] = {
	"clone", "clone3", "personality", "ioctl", "mknod", "mknodat",
};

static const unsigned long namespace_clone_flags[] = {
	CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
	CLONE_NEWCGROUP,
};

/*
 * The parser allow-list: what a job needs once it is set up and holds its
 * input in memory.  It opens nothing (no openat: its input is a buffer or
 * an fd it was given), creates no sockets, starts no processes, executes
 * nothing.
 */
enum allow_kind {
	ALLOW_ANY,              /* whatever the arguments */
	ALLOW_NO_EXEC,          /* prot (argument 2) without PROT_EXEC */
	ALLOW_FCNTL_FLAGS,      /* F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_GET_SEALS only */
	ALLOW_IOCTL_TCGETS,     /* isatty() only */
};

static const struct {
	const char *name;
	enum allow_kind kind;
} parser_syscalls[] = {
	/* I/O on the fds it already holds.  glibc's fstat() is newfstatat
	 * with AT_EMPTY_PATH; given a path instead, it only tells metadata of
	 * what the job's mount view already shows. */
	{ "read", ALLOW_ANY }, { "write", ALLOW_ANY }, { "readv", ALLOW_ANY },
	{ "writev", ALLOW_ANY }, { "pread64", ALLOW_ANY }, { "pwrite64", ALLOW_ANY },
	{ "lseek", ALLOW_ANY }, { "close", ALLOW_ANY }, { "fstat", ALLOW_ANY },
	{ "newfstatat", ALLOW_ANY }, { "fcntl", ALLOW_FCNTL_FLAGS },
	{ "sendmsg", ALLOW_ANY }, { "recvmsg", ALLOW_ANY }, { "sendto", ALLOW_ANY },
	{ "recvfrom", ALLOW_ANY },
	/* stdio asks isatty() (TCGETS) before its first write to a character
	 * device, and a worker's stdio is /dev/null: a read-only query. */
	{ "ioctl", ALLOW_IOCTL_TCGETS },
	/* Memory, as glibc's malloc uses it (brk for the main arena, mmap for
	 * big blocks and other arenas, mprotect to grow them, madvise and
	 * mremap to trim and resize).  A parser never needs new executable
	 * memory, so PROT_EXEC is refused: bytes it was tricked into writing
	 * can never become code.  (64-bit x86 processes do not get
	 * READ_IMPLIES_EXEC, and personality() is not allowed here.) */
	{ "brk", ALLOW_ANY }, { "mmap", ALLOW_NO_EXEC }, { "mprotect", ALLOW_NO_EXEC },
	{ "munmap", ALLOW_ANY }, { "mremap", ALLOW_ANY }, { "madvise", ALLOW_ANY },
	/* Threads already running, time, identity, randomness. */
	{ "futex", ALLOW_ANY }, { "sched_yield", ALLOW_ANY },
	{ "clock_gettime", ALLOW_ANY }, { "clock_getres", ALLOW_ANY },
	{ "clock_nanosleep", ALLOW_ANY }, { "nanosleep", ALLOW_ANY },
	{ "gettimeofday", ALLOW_ANY }, { "getpid", ALLOW_ANY }, { "gettid", ALLOW_ANY },
	{ "getuid", ALLOW_ANY }, { "geteuid", ALLOW_ANY }, { "getgid", ALLOW_ANY },
	{ "getegid", ALLOW_ANY }, { "uname", ALLOW_ANY }, { "getrandom", ALLOW_ANY },
	/* brig's worker reports the job's CPU time and peak memory. */
	{ "getrusage", ALLOW_ANY },
	/* Signals: handlers, masks, and raise()/abort() (getpid, gettid,
	 * tgkill), which the violation reporter needs as well.  The pid
	 * namespace and Landlock's signal scope keep tgkill to the job. */
	{ "rt_sigaction", ALLOW_ANY }, { "rt_sigprocmask", ALLOW_ANY },
	{ "rt_sigreturn", ALLOW_ANY }, { "sigaltstack", ALLOW_ANY },
	{ "restart_syscall", ALLOW_ANY }, { "tgkill", ALLOW_ANY }, { "tkill", ALLOW_ANY },
	{ "exit", ALLOW_ANY }, { "exit_group", ALLOW_ANY },
};

/* The size of a spec's syscall name buffers. */
#define SYSCALL_NAME_SIZE sizeof(((struct spec *)NULL)->seccomp_allow[0])

/* The syscall number of name on the native architecture. */
enum resolve_result { RESOLVE_OK, RESOLVE_ABSENT, RESOLVE_UNKNOWN };

static enum resolve_result resolve(const char *name, int *nr)
{
	int n = seccomp_syscall_resolve_name(name);

	if (n == __NR_SCMP_ERROR)
		return RESOLVE_UNKNOWN;
	/* libseccomp knows it, but as a pseudo-syscall this architecture
	 * lacks: there is nothing to allow or deny. */
	if (n < 0)
		return RESOLVE_ABSENT;
	*nr = n;
	return RESOLVE_OK;
}

/* Resolve a name from the spec; a name libseccomp has never heard of is an error. */
static int resolve_spec_name(const char *list, const char *name, int *nr, char *err,
			     size_t err_size)
{
	if (strnlen(name, SYSCALL_NAME_SIZE) == SYSCALL_NAME_SIZE) {
		snprintf(err, err_size, "%s: syscall name too long", list);
		return -EINVAL;
	}
	switch (resolve(name, nr)) {
	case RESOLVE_OK:
		return 1;
	case RESOLVE_ABSENT:
		return 0;
	case RESOLVE_UNKNOWN:
	default:
		snprintf(err, err_size, "%s: unknown syscall '%s'", list, name);
		return -EINVAL;
	}
}

static bool contains(const int *set, size_t count, int nr)
{
	for (size_t i = 0; i < count; i++)
		if (set[i] == nr)
			return true;
	return false;
}

/* Is nr refused by the deny-list, in full or for some arguments? */
static bool on_deny_list(int nr)
{
	int denied;

	for (size_t i = 0; i < ARRAY_SIZE(denied_syscalls); i++)
		if (resolve(denied_syscalls[i], &denied) == RESOLVE_OK && denied == nr)
			return true;
	for (size_t i = 0; i < ARRAY_SIZE(restricted_syscalls); i++)
		if (resolve(restricted_syscalls[i], &denied) == RESOLVE_OK && denied == nr)
			return true;
	return false;
}

/* The action for a refused call.  TRAP, not KILL_PROCESS: the job's SIGSYS
 * handler gets to name the syscall before the job dies. */
static uint32_t deny_action(const struct spec *s)
{
	return s->seccomp_action == SPEC_SECCOMP_ERRNO ? SCMP_ACT_ERRNO(EPERM) : SCMP_ACT_TRAP;
}

/*
 * Deny-list mode: the argument-dependent part.  full[] holds the syscalls
 * already refused whatever their arguments (a seccomp_deny entry may name
 * one of these), whose conditional rules would be redundant.
 */
static int add_conditional_denials(scmp_filter_ctx ctx, uint32_t action, const int *full,
				   size_t full_count)
{
	int nr, r;

	/* clone(): refused with any CLONE_NEW* flag, one rule per flag
	 * because a rule compares an argument once.  Plain fork() and
	 * threads still work.  (CLONE_NEWTIME has no clone() bit: 0x80 is
	 * part of the exit signal there, and clone3 is refused below.) */
	if (resolve("clone", &nr) == RESOLVE_OK && !contains(full, full_count, nr)) {
		for (size_t i = 0; i < ARRAY_SIZE(namespace_clone_flags); i++) {
			struct scmp_arg_cmp cmp = SCMP_CMP(CLONE_FLAGS_ARG, SCMP_CMP_MASKED_EQ,
							   namespace_clone_flags[i],
							   namespace_clone_flags[i]);

			if ((r = seccomp_rule_add_array(ctx, action, nr, 1, &cmp)) < 0)
				return r;
		}
	}

	/* clone3() passes its flags in memory, where a filter cannot look: it
	 * fails with ENOSYS, whatever the deny action, so that glibc (2.34+
	 * tries clone3 first for threads and posix_spawn) falls back to
	 * clone(), whose flags the rules above check. */
	if (resolve("clone3", &nr) == RESOLVE_OK &&
	    (r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0)) < 0)
		return r;

	/* personality(): only PER_LINUX.  ADDR_NO_RANDOMIZE would turn ASLR
	 * off for whatever the job executes next, READ_IMPLIES_EXEC would
	 * make every readable mapping executable.  The query value
	 * 0xffffffff is refused too: letting it through would take a second
	 * comparison of the same argument, which libseccomp cannot put in
	 * one rule, or an action that logs every call. */
	if (resolve("personality", &nr) == RESOLVE_OK && !contains(full, full_count, nr)) {
		struct scmp_arg_cmp cmp = { .arg = 0, .op = SCMP_CMP_NE, .datum_a = 0 /* PER_LINUX */ };

		if ((r = seccomp_rule_add_array(ctx, action, nr, 1, &cmp)) < 0)
			return r;
	}

	/* ioctl(): TIOCSTI pushes bytes into a terminal's input, TIOCLINUX's
	 * paste does the same on a console: a job that reached a tty would
	 * type commands into the shell behind it.  The kernel reads the
	 * command as 32 bits, so only those are compared. */
	if (resolve("ioctl", &nr) == RESOLVE_OK && !contains(full, full_count, nr)) {
		static const unsigned long commands[] = { TIOCSTI, TIOCLINUX };

		for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
			struct scmp_arg_cmp cmp = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu,
							  commands[i]);

			if ((r = seccomp_rule_add_array(ctx, action, nr, 1, &cmp)) < 0)
				return r;
		}
	}

	/* mknod()/mknodat(): no device nodes, the way into raw disks and
	 * kernel memory; FIFOs, sockets and plain files are fine. */
	{
		static const struct { const char *name; unsigned arg; } calls[] = {
			{ "mknod", 1 }, { "mknodat", 2 },
		};
		static const unsigned long types[] = { S_IFCHR, S_IFBLK };

		for (size_t i = 0; i < ARRAY_SIZE(calls); i++) {
			if (resolve(calls[i].name, &nr) != RESOLVE_OK || contains(full, full_count, nr))
				continue;
			for (size_t j = 0; j < ARRAY_SIZE(types); j++) {
				struct scmp_arg_cmp cmp = SCMP_CMP(calls[i].arg, SCMP_CMP_MASKED_EQ,
								   S_IFMT, types[j]);

				if ((r = seccomp_rule_add_array(ctx, action, nr, 1, &cmp)) < 0)
					return r;
			}
		}
	}
	return 0;
}

static int build_denylist(const struct spec *s, unsigned flags, scmp_filter_ctx ctx, char *err,
			  size_t err_size)
{
	int full[ARRAY_SIZE(denied_syscalls) + SPEC_MAX_SYSCALLS];
	size_t full_count = 0;
	uint32_t action = deny_action(s);
	int clone3 = -1, ptrace_nr = -1, nr, r;

	(void)resolve("clone3", &clone3);
	if (flags & SECCOMP_BUILD_EXEC_RELAY)
		(void)resolve("ptrace", &ptrace_nr);
	for (size_t i = 0; i < ARRAY_SIZE(denied_syscalls); i++)
		if (resolve(denied_syscalls[i], &nr) == RESOLVE_OK && nr != ptrace_nr &&
		    !contains(full, full_count, nr))
			full[full_count++] = nr;
	for (size_t i = 0; i < s->seccomp_deny_count; i++) {
		r = resolve_spec_name("seccomp_deny", s->seccomp_deny[i], &nr, err, err_size);
		if (r < 0)
			return r;
		/* clone3 stays ENOSYS (see add_conditional_denials): refused
		 * either way, and libc must still fall back to clone.  A relay's
		 * ptrace is taken back by the job's own layer instead. */
		if (r > 0 && nr != clone3 && nr != ptrace_nr && !contains(full, full_count, nr))
			full[full_count++] = nr;
	}
	/* Everything not denied is allowed already, and the deny-list cannot
	 * be undone.  A name in both spec lists is denied: seccomp_deny wins,
	 * as in parser mode, so that a request can always narrow. */
	for (size_t i = 0; i < s->seccomp_allow_count; i++) {
		r = resolve_spec_name("seccomp_allow", s->seccomp_allow[i], &nr, err, err_size);
		if (r < 0)
			return r;
		if (r > 0 && on_deny_list(nr)) {
			snprintf(err, err_size, "seccomp_allow: '%s' is on the seccomp deny-list and "
				 "cannot be allowed", s->seccomp_allow[i]);
			return -EINVAL;
		}
	}

	for (size_t i = 0; i < full_count; i++)
		if ((r = seccomp_rule_add(ctx, action, full[i], 0)) < 0)
			return r;
	return add_conditional_denials(ctx, action, full, full_count);
}

struct allowed_syscall {
	int nr;
	enum allow_kind kind;
};

static int add_allow_rules(scmp_filter_ctx ctx, const struct allowed_syscall *a)
{
	int r = 0;

	switch (a->kind) {
	case ALLOW_ANY:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, a->nr, 0);
	case ALLOW_NO_EXEC:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, a->nr, 1,
					SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	case ALLOW_FCNTL_FLAGS: {
		/* Not F_DUPFD (new fds), F_SETOWN/F_SETSIG (signals to others)
		 * or the lock and lease commands.  F_GET_SEALS only reads: the
		 * worker asks it of a passed input before mapping it. */
		static const unsigned long commands[] = { F_GETFD, F_SETFD, F_GETFL, F_SETFL,
							  F_GET_SEALS };

		for (size_t i = 0; i < ARRAY_SIZE(commands) && r == 0; i++)
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, a->nr, 1,
					     SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, commands[i]));
		return r;
	}
	case ALLOW_IOCTL_TCGETS:
		/* The kernel reads the command as 32 bits: compare those. */
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, a->nr, 1,
					SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TCGETS));
	default:
		return -EINVAL;
	}
}

static int build_allowlist(const struct spec *s, scmp_filter_ctx ctx, char *err, size_t err_size)
{
	struct allowed_syscall allowed[ARRAY_SIZE(parser_syscalls) + SPEC_MAX_SYSCALLS];
	size_t count = 0;
	int nr, r;

	for (size_t i = 0; i < ARRAY_SIZE(parser_syscalls); i++)
		if (resolve(parser_syscalls[i].name, &nr) == RESOLVE_OK)
			allowed[count++] = (struct allowed_syscall){ nr, parser_syscalls[i].kind };

	for (size_t i = 0; i < s->seccomp_allow_count; i++) {
		size_t j;

		r = resolve_spec_name("seccomp_allow", s->seccomp_allow[i], &nr, err, err_size);
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		/* The parser list can be widened, but never into what the
		 * deny-list refuses: no profile gets ptrace or mount by adding
		 * a name. */
		if (on_deny_list(nr)) {
			snprintf(err, err_size, "seccomp_allow: '%s' is on the seccomp deny-list and "
				 "cannot be allowed", s->seccomp_allow[i]);
			return -EINVAL;
		}
		/* Naming a syscall the list allows for some arguments (mmap,
		 * mprotect, fcntl) allows it for all: a profile that needs a JIT
		 * says mprotect. */
		for (j = 0; j < count; j++)
			if (allowed[j].nr == nr)
				break;
		allowed[j] = (struct allowed_syscall){ nr, ALLOW_ANY };
		if (j == count)
			count++;
	}

	/* seccomp_deny wins over both lists. */
	for (size_t i = 0; i < s->seccomp_deny_count; i++) {
		r = resolve_spec_name("seccomp_deny", s->seccomp_deny[i], &nr, err, err_size);
		if (r < 0)
			return r;
		for (size_t j = 0; r > 0 && j < count;) {
			if (allowed[j].nr == nr)
				allowed[j] = allowed[--count];
			else
				j++;
		}
	}

	for (size_t i = 0; i < count; i++)
		if ((r = add_allow_rules(ctx, &allowed[i])) < 0)
			return r;
	return 0;
}

/* libseccomp 2.5 exports BPF only to an fd: go through a memfd. */
static int export_filter(scmp_filter_ctx ctx, struct sock_fprog *out)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ struct sock_filter *prog = NULL;
	off_t size;
	int r;

	fd = memfd_create("brig-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if ((r = seccomp_export_bpf(ctx, fd)) < 0)
		return r;
	size = lseek(fd, 0, SEEK_END);
	if (size < 0)
		return -errno;
	/* The kernel takes at most BPF_MAXINSNS instructions. */
	if (size == 0 || size % (off_t)sizeof(struct sock_filter) != 0 ||
	    size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS)
		return -E2BIG;
	prog = malloc((size_t)size);
	if (!prog)
		return -ENOMEM;
	if (pread(fd, prog, (size_t)size, 0) != size)
		return -EIO;
	out->len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
	out->filter = TAKE_PTR(prog);
	return 0;
}

int seccomp_build(const struct spec *s, struct sock_fprog *out, char *err, size_t err_size)
{
	return seccomp_build_flags(s, 0, out, err, err_size);
}

int seccomp_build_flags(const struct spec *s, unsigned flags, struct sock_fprog *out, char *err,
			size_t err_size)
{
	scmp_filter_ctx ctx;
	bool allowlist = s->seccomp_mode == SPEC_SECCOMP_ALLOWLIST;
	int r;

	if (s->seccomp_allow_count > SPEC_MAX_SYSCALLS || s->seccomp_deny_count > SPEC_MAX_SYSCALLS)
		return -EINVAL;
	ctx = seccomp_init(allowlist ? deny_action(s) : SCMP_ACT_ALLOW);
	if (!ctx)
		return -ENOMEM;
	/* Other ABIs die at once, before any rule is looked at (see the top
	 * of this file).  The job's reporter cannot name such a call: the
	 * broker sees a job killed by SIGSYS and no violation frame. */
	if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)) < 0)
		goto out;
	/* A binary search over syscall numbers instead of a linear scan: in
	 * deny-list mode every allowed call would otherwise walk past every
	 * denied one. */
	if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)) < 0)
		goto out;
	r = allowlist ? build_allowlist(s, ctx, err, err_size) :
			build_denylist(s, flags, ctx, err, err_size);
	if (r < 0)
		goto out;
	r = export_filter(ctx, out);
out:
	seccomp_release(ctx);
	return r;
}

/*
 * The layer that takes ptrace back from a job whose worker's filter was
 * built with SECCOMP_BUILD_EXEC_RELAY: one syscall, trapped like every
 * denied one.  Other architectures never get here (the base filter kills
 * them first).
 */
int seccomp_load_no_ptrace(void)
{
	static struct sock_filter insns[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ptrace, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	static const struct sock_fprog prog = { .len = ARRAY_SIZE(insns), .filter = insns };

	return seccomp_load_prog(&prog);
}

/*
 * The violation reporter.  The channel is a global because a signal
 * handler has no other way to find it; it is written once, before the
 * handler is installed.
 */
static volatile sig_atomic_t reporter_channel_fd = -1;

static void put_be(uint8_t *p, uint32_t value, size_t bytes)
{
	for (size_t i = 0; i < bytes; i++)
		p[i] = (uint8_t)(value >> (8 * (bytes - 1 - i)));
}

/*
 * An int the way msgpack-c's msgpack_pack_int64() writes it (the smallest
 * form, unsigned for non-negative values), so that the frame is
 * byte-for-byte what msg_pack_worker_violation() produces.  Returns the
 * length (at most 5).
 */
static size_t pack_int(uint8_t *p, int32_t value)
{
	uint32_t bits = (uint32_t)value;

	if (value >= -32 && value < 128) {
		p[0] = (uint8_t)bits;                   /* positive or negative fixint */
		return 1;
	}
	if (value >= 0) {
		if (value < 0x100) {
			p[0] = 0xcc;
			put_be(p + 1, bits, 1);
			return 2;
		}
		if (value < 0x10000) {
			p[0] = 0xcd;
			put_be(p + 1, bits, 2);
			return 3;
		}
		p[0] = 0xce;
		put_be(p + 1, bits, 4);
		return 5;
	}
	if (value >= -128) {
		p[0] = 0xd0;
		put_be(p + 1, bits, 1);
		return 2;
	}
	if (value >= -32768) {
		p[0] = 0xd1;
		put_be(p + 1, bits, 2);
		return 3;
	}
	p[0] = 0xd2;
	put_be(p + 1, bits, 4);
	return 5;
}

/* Frame: 4-byte big-endian body length, then [MSG_WORKER_VIOLATION, nr]. */
static size_t pack_violation(uint8_t frame[FRAME_HEADER_SIZE + 7], int32_t syscall_nr)
{
	uint8_t *body = frame + FRAME_HEADER_SIZE;
	size_t len = 0;

	body[len++] = 0x92;                             /* fixarray of 2 */
	body[len++] = MSG_WORKER_VIOLATION;             /* a positive fixint */
	len += pack_int(body + len, syscall_nr);
	put_be(frame, (uint32_t)len, FRAME_HEADER_SIZE);
	return FRAME_HEADER_SIZE + len;
}

/* Everything here is async-signal-safe: no allocation, no stdio, no locks. */
static void report_violation(int sig, siginfo_t *info, void *context)
{
	uint8_t frame[FRAME_HEADER_SIZE + 7];
	int fd = reporter_channel_fd;
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t sys;

	(void)sig;
	(void)context;
	/* Only a trap from the filter names a syscall; a SIGSYS that someone
	 * sent just kills, as it would have without us. */
	if (info && info->si_code == SYS_SECCOMP && fd >= 0) {
		size_t len = pack_violation(frame, info->si_syscall);
		const uint8_t *p = frame;

		/* A lost report only loses the syscall's name: the job dies of
		 * SIGSYS all the same.  A closed channel raises SIGPIPE, which
		 * the handler's mask holds back until SIGSYS has done its work. */
		while (len > 0) {
			ssize_t n = write(fd, p, len);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			p += n;
			len -= (size_t)n;
		}
	}

	/* Die of SIGSYS, so that the parent's wait status says why.  Should a
	 * profile deny one of these calls, it traps while SIGSYS is blocked
	 * in here, and the kernel then kills us with SIGSYS all the same. */
	sigaction(SIGSYS, &dfl, NULL);
	sigemptyset(&sys);
	sigaddset(&sys, SIGSYS);
	sigprocmask(SIG_UNBLOCK, &sys, NULL);
	syscall(SYS_tgkill, syscall(SYS_getpid), syscall(SYS_gettid), SIGSYS);
	/* Still here: pid 1 of a pid namespace ignores its own default-action
	 * signals.  Exit the way a shell reports death by SIGSYS. */
	_exit(128 + SIGSYS);
}

int seccomp_install_reporter(int channel_fd)
{
	struct sigaction sa = { .sa_sigaction = report_violation, .sa_flags = SA_SIGINFO };

	if (channel_fd < 0)
		return -EBADF;
	if (fcntl(channel_fd, F_GETFD) < 0)
		return -errno;
	reporter_channel_fd = channel_fd;
	/* Block every other signal while reporting: no job handler may run in
	 * the middle, and a SIGPIPE from the write must not win the race to
	 * kill us. */
	sigfillset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return -errno;
	return 0;
}

int seccomp_load_prog(const struct sock_fprog *prog)
{
	if (!prog || !prog->filter || prog->len == 0)
		return -EINVAL;
	/* Without no_new_privs (or CAP_SYS_ADMIN) the kernel says EACCES. */
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog, 0, 0) < 0)
		return -errno;
	return 0;
}
