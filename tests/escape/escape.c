/*
 * The escape battery: a statically linked program that brig runs as an exec
 * job (tests/check_escape.c), so that it works in an empty filesystem view.
 * Each check tries one classic way out of a sandbox and prints one line:
 *
 *     CHECK <name> CONTAINED <detail>
 *     CHECK <name> ESCAPED <detail>
 *     CHECK <name> ERROR <detail>        (no verdict: the test fails too)
 *
 * then "DONE <count>", and exits 0.  Lines starting with INFO are notes.
 *
 * Each check runs in a child of its own: a call the seccomp filter traps
 * kills that child with SIGSYS (the filter's kill action), which counts as
 * CONTAINED, and the battery goes on with the next check.  A check that
 * does not answer within CHECK_TIMEOUT_S seconds is an ERROR.
 *
 * Usage:
 *   escape battery tcp=PORT socket=PATH abstract=NAME pid=PID... setuid=PATH
 *                  [comm=NAME] [peer=NAME peerpid=PID] [rw=DIR]... [hide=PATH]...
 *       tcp: a port the test listens on at 127.0.0.1 (TCP and UDP);
 *       socket: brigd's own socket; abstract: an abstract unix socket the
 *       test listens on; pid: a host process running as a uid the job may
 *       get (repeatable: one per uid of a fresh-uid range); comm: their
 *       name (to tell them from job processes with the same numbers);
 *       setuid: a setuid-root copy of this program, reachable in the view;
 *       peer, peerpid: a concurrent job of the same profile ("listen");
 *       rw: a directory the profile grants read-write (not attacked);
 *       hide: a path that must not exist in the job's view.
 *   escape euid                 print "EUID <euid> EGID <egid>"
 *   escape fork-bomb            fork until fork fails, then keep trying
 *   escape memory-bomb [MiB]    allocate and touch memory until malloc
 *                               fails, or until MiB (a safety cap, 3072)
 *   escape kill-all             kill(-1, SIGKILL)
 *   escape sleep MS             sleep, then print "SLEPT <MS>"
 *   escape listen NAME MS       the peer: listen on the abstract sockets
 *                               @NAME (stream) and @NAME.dgram for MS ms,
 *                               counting connections, datagrams and
 *                               signals ("LISTENING pid=<pid> ...", then
 *                               "ACCEPTED <n> SIGNALS <m>")
 *   escape orphan MS            leave a detached process sleeping MS ms
 *                               and exit 0 at once
 *
 * Nothing here may hurt the machine if the program is run outside brig by
 * mistake: as root (or through the setuid copy) it does nothing but "euid",
 * and kill-all, the fork bomb and the signal sweep refuse to run unless /
 * is a tmpfs, as in a brig view (in_brig_view()).  What
 * a check does when it succeeds is undone where that is possible, and the
 * write-like checks never write a byte.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/if_ether.h>
#include <linux/keyctl.h>
#include <linux/magic.h>
#include <linux/netlink.h>
#include <linux/perf_event.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define CHECK_TIMEOUT_S 5
#define DETAIL_MAX 700
#define MAX_LIST 16
#define MEMORY_BOMB_CAP_MIB 3072

/* New syscalls have one number on every architecture but alpha. */
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

struct battery {
	int tcp_port;
	const char *socket_path;
	const char *abstract_name;
	pid_t host_pids[MAX_LIST];      /* host processes, one per uid the job may get */
	size_t host_pid_count;
	const char *host_comm;          /* their name, to tell them from job processes */
	pid_t worker_pid;               /* the battery's parent: brig's worker */
	const char *peer_name;          /* another job's abstract socket, or NULL */
	pid_t peer_pid;                 /* that job's pid, as it sees it */
	const char *setuid_path;
	const char *rw[MAX_LIST];
	size_t rw_count;
	const char *hide[MAX_LIST];
	size_t hide_count;
	char exe_path[PATH_MAX];
	char exe_dir[PATH_MAX];
	char setuid_dir[PATH_MAX];
};

/* ------------------------------------------------------------------ */
/* output                                                               */

/* One whole line with one write(2): no stdio buffer is copied by fork. */
__attribute__((format(printf, 1, 2)))
static void out(const char *fmt, ...)
{
	char line[DETAIL_MAX + 200];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	for (const char *p = line; n > 0;) {
		ssize_t w = write(1, p, (size_t)n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (int)w;
	}
}

/* In a check's child: the pipe its verdict goes to. */
static int verdict_fd = -1;

__attribute__((noreturn, format(printf, 2, 3)))
static void verdict(const char *what, const char *fmt, ...)
{
	char line[DETAIL_MAX + 32];
	va_list ap;
	int n = snprintf(line, sizeof(line), "%s ", what);

	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One line: a detail never breaks the format. */
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	if (write(verdict_fd, line, strlen(line)) < 0)
		_exit(3);
	_exit(0);
}

#define contained(...) verdict("CONTAINED", __VA_ARGS__)
#define escaped(...) verdict("ESCAPED", __VA_ARGS__)
#define inconclusive(...) verdict("ERROR", __VA_ARGS__)

static const char *err_name(int e)
{
	const char *name = strerrorname_np(e);

	return name ? name : "E?";
}

/* A growing "; "-separated note, for checks that try several things. */
struct note {
	char text[DETAIL_MAX];
	size_t len;
};

__attribute__((format(printf, 2, 3)))
static void note_add(struct note *n, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (n->len >= sizeof(n->text) - 1)
		return;
	if (n->len) {
		w = snprintf(n->text + n->len, sizeof(n->text) - n->len, "; ");
		n->len += (size_t)w;
		if (n->len >= sizeof(n->text) - 1)
			return;
	}
	va_start(ap, fmt);
	w = vsnprintf(n->text + n->len, sizeof(n->text) - n->len, fmt, ap);
	va_end(ap);
	if (w > 0)
		n->len += (size_t)w;
	if (n->len >= sizeof(n->text))
		n->len = sizeof(n->text) - 1;
}

/* The usual ending of a check that makes one call that must fail. */
__attribute__((noreturn))
static void expect_failure(long r, int saved_errno, const char *what)
{
	if (r < 0)
		contained("%s failed: %s", what, err_name(saved_errno));
	escaped("%s succeeded (returned %ld)", what, r);
}

#define EXPECT_FAILURE(call, what)                                                        \
	do {                                                                              \
		long r_ = (long)(call);                                                   \
		expect_failure(r_, errno, what);                                          \
	} while (0)

/* ------------------------------------------------------------------ */
/* small helpers                                                        */

static char *read_small_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;

	if (fd < 0)
		return NULL;
	while (len < size - 1) {
		ssize_t n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}

/* The value of "Key:" in /proc/self/status, or NULL. */
static const char *status_field(const char *key, char *value, size_t size)
{
	static char text[8192];
	size_t klen = strlen(key);

	if (!read_small_file("/proc/self/status", text, sizeof(text)))
		return NULL;
	for (char *line = text; line && *line;) {
		char *end = strchr(line, '\n');

		if (end)
			*end = '\0';
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			const char *v = line + klen + 1;

			v += strspn(v, " \t");
			snprintf(value, size, "%s", v);
			return value;
		}
		line = end ? end + 1 : NULL;
	}
	return NULL;
}

static bool path_within(const char *child, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return true;
	return strncmp(child, dir, n) == 0 && (child[n] == '\0' || child[n] == '/');
}

static bool granted_rw(const struct battery *b, const char *path)
{
	for (size_t i = 0; i < b->rw_count; i++)
		if (path_within(path, b->rw[i]))
			return true;
	return false;
}

/*
 * Is / a tmpfs, as in a brig view?  The checks and modes that would hurt a
 * machine they were run on by mistake (kill(-1), a fork bomb, a signal to
 * every pid) refuse to run elsewhere.
 */
static bool in_brig_view(void)
{
	struct statfs sf;

	return statfs("/", &sf) == 0 && sf.f_type == TMPFS_MAGIC;
}

static bool is_pid_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/*
 * A host pid may happen to name a process of the job's own pid namespace
 * (its numbers start at 1): that one is told from the host process by its
 * name, and not attacked.  A process of that name, or no process at all,
 * is attacked as the host process.
 */
static bool pid_collides(const struct battery *b, pid_t pid, struct note *n)
{
	char path[64], comm[64];

	if (!b->host_comm)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	if (!read_small_file(path, comm, sizeof(comm)))
		return false;
	comm[strcspn(comm, "\n")] = '\0';
	if (strcmp(comm, b->host_comm) == 0)
		return false;
	note_add(n, "pid %d names the job's own '%s', not attacked", (int)pid, comm);
	return true;
}

/* A ptrace that worked must not leave the tracee stopped. */
static void ptrace_outcome(long r, int saved_errno, pid_t pid, const char *what)
{
	if (r == 0) {
		waitpid(pid, NULL, __WALL);
		syscall(SYS_ptrace, PTRACE_DETACH, pid, 0, 0);
	}
	expect_failure(r, saved_errno, what);
}

static int unix_connect(const char *path, bool abstract)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd, r;

	if (strlen(path) + 1 >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (abstract) {
		memcpy(sa.sun_path + 1, path, strlen(path));
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(path));
	} else {
		memcpy(sa.sun_path, path, strlen(path) + 1);
		len = (socklen_t)sizeof(sa);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	r = connect(fd, (struct sockaddr *)&sa, len);
	if (r < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	close(fd);
	return 0;
}

/* ------------------------------------------------------------------ */
/* identity                                                             */

static void check_uid_root(const struct battery *b)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	long fsuid = syscall(SYS_setfsuid, -1), fsgid = syscall(SYS_setfsgid, -1);

	(void)b;
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
		inconclusive("getresuid: %s", err_name(errno));
	if (!ru || !eu || !su || !fsuid || !rg || !eg || !sg || !fsgid)
		escaped("uid %u/%u/%u fsuid %ld, gid %u/%u/%u fsgid %ld", ru, eu, su, fsuid, rg,
			eg, sg, fsgid);
	contained("uid %u/%u/%u fsuid %ld, gid %u/%u/%u fsgid %ld", ru, eu, su, fsuid, rg, eg,
		  sg, fsgid);
}

static void check_groups_root(const struct battery *b)
{
	gid_t groups[NGROUPS_MAX];
	int n = getgroups(NGROUPS_MAX, groups);

	(void)b;
	if (n < 0)
		inconclusive("getgroups: %s", err_name(errno));
	for (int i = 0; i < n; i++)
		if (groups[i] == 0)
			escaped("supplementary group 0 among %d groups", n);
	contained("%d supplementary groups, none is 0", n);
}

static void check_caps_status(const struct battery *b)
{
	static const char *const keys[] = { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb" };
	struct note n = { .len = 0 };
	bool any = false;

	(void)b;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char value[64];

		if (!status_field(keys[i], value, sizeof(value)))
			inconclusive("/proc/self/status has no %s", keys[i]);
		note_add(&n, "%s %s", keys[i], value);
		if (strtoull(value, NULL, 16) != 0)
			any = true;
	}
	if (any)
		escaped("%s", n.text);
	contained("%s", n.text);
}

static void check_caps_capget(const struct battery *b)
{
	struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	(void)b;
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &header, data) < 0)
		inconclusive("capget: %s", err_name(errno));
	if (data[0].effective || data[1].effective || data[0].permitted || data[1].permitted ||
	    data[0].inheritable || data[1].inheritable)
		escaped("capget: effective %08x%08x permitted %08x%08x inheritable %08x%08x",
			data[1].effective, data[0].effective, data[1].permitted, data[0].permitted,
			data[1].inheritable, data[0].inheritable);
	contained("capget: no effective, permitted or inheritable capability");
}

static void check_no_new_privs(const struct battery *b)
{
	char value[32];
	int nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);

	(void)b;
	if (!status_field("NoNewPrivs", value, sizeof(value)))
		inconclusive("/proc/self/status has no NoNewPrivs");
	if (strcmp(value, "1") != 0 || nnp != 1)
		escaped("NoNewPrivs %s, PR_GET_NO_NEW_PRIVS %d", value, nnp);
	contained("NoNewPrivs 1, PR_GET_NO_NEW_PRIVS 1");
}

static void check_seccomp_mode(const struct battery *b)
{
	char mode[32], filters[32] = "?";
	int get = prctl(PR_GET_SECCOMP, 0, 0, 0, 0);

	(void)b;
	if (!status_field("Seccomp", mode, sizeof(mode)))
		inconclusive("/proc/self/status has no Seccomp");
	status_field("Seccomp_filters", filters, sizeof(filters));
	if (strcmp(mode, "2") != 0 || get != 2 || atoi(filters) < 1)
		escaped("Seccomp %s, Seccomp_filters %s, PR_GET_SECCOMP %d", mode, filters, get);
	contained("Seccomp 2 (filter), %s filter(s)", filters);
}

/* Run in the check's child: fds 0-2 and the verdict pipe are its own. */
static void check_inherited_fds(const struct battery *b)
{
	DIR *dir = opendir("/proc/self/fd");
	struct note n = { .len = 0 };
	struct dirent *e;
	bool extra = false;

	(void)b;
	if (!dir)
		inconclusive("opendir /proc/self/fd: %s", err_name(errno));
	while ((e = readdir(dir))) {
		char path[64], target[256];
		ssize_t len;
		int fd;

		if (!is_pid_name(e->d_name))
			continue;
		fd = atoi(e->d_name);
		if (fd <= 2 || fd == dirfd(dir) || fd == verdict_fd)
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		len = readlink(path, target, sizeof(target) - 1);
		target[len > 0 ? len : 0] = '\0';
		note_add(&n, "fd %d -> %s", fd, target);
		extra = true;
	}
	closedir(dir);
	if (extra)
		escaped("inherited: %s", n.text);
	contained("only fds 0, 1 and 2 were inherited");
}

/* ------------------------------------------------------------------ */
/* the filesystem                                                       */

static void check_read_shadow(const struct battery *b)
{
	char paths[6][PATH_MAX];
	struct note n = { .len = 0 };
	size_t count = 0;

	snprintf(paths[count++], PATH_MAX, "/etc/shadow");
	snprintf(paths[count++], PATH_MAX, "/proc/self/root/etc/shadow");
	snprintf(paths[count++], PATH_MAX, "/proc/1/root/etc/shadow");
	snprintf(paths[count++], PATH_MAX, "/proc/%d/root/etc/shadow", (int)b->worker_pid);
	snprintf(paths[count++], PATH_MAX, "../../../../../../etc/shadow");
	snprintf(paths[count++], PATH_MAX, "/proc/1/cwd/../../../etc/shadow");
	for (size_t i = 0; i < count; i++) {
		int fd = open(paths[i], O_RDONLY | O_CLOEXEC);

		if (fd >= 0) {
			char c;
			ssize_t r = read(fd, &c, 1);
			close(fd);
			escaped("opened %s (read %zd byte)", paths[i], r);
		}
		note_add(&n, "%s: %s", paths[i], err_name(errno));
	}
	contained("%s", n.text);
}

static void check_host_paths_hidden(const struct battery *b)
{
	static const char *const paths[] = {
		"/root", "/home", "/var", "/run", "/boot", "/srv", "/sys", "/etc/passwd",
		"/etc/shadow", "/etc/hostname", "/proc/1/root/etc",
	};
	struct note n = { .len = 0 };
	char dir[PATH_MAX];
	struct stat st;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (lstat(paths[i], &st) == 0)
			note_add(&n, "%s exists", paths[i]);
	for (size_t i = 0; i < b->hide_count; i++)
		if (lstat(b->hide[i], &st) == 0)
			note_add(&n, "%s exists", b->hide[i]);
	/* brigd's private directory (its socket, log and config) */
	snprintf(dir, sizeof(dir), "%s", b->socket_path);
	if (strrchr(dir, '/') && strrchr(dir, '/') != dir)
		*strrchr(dir, '/') = '\0';
	if (lstat(dir, &st) == 0)
		note_add(&n, "brigd's directory %s exists", dir);
	if (n.len)
		escaped("host paths in the view: %s", n.text);
	contained("none of %zu host paths is in the view",
		  sizeof(paths) / sizeof(paths[0]) + b->hide_count + 1);
}

/*
 * Try to create a file, a directory, a symlink and a fifo in dir.  A
 * directory the profile grants read-write (rw=) is left alone, unless
 * always: the binds of the battery's own binaries are read-only even where
 * they lie beneath such a directory (the exec profile's /tmp).
 */
static void try_write_in(const struct battery *b, const char *dir, bool always)
{
	char path[PATH_MAX];
	struct note n = { .len = 0 };
	struct stat st;
	int fd;

	if (!always && granted_rw(b, dir))
		contained("not attempted: %s is granted read-write by the profile", dir);
	if (stat(dir, &st) < 0)
		contained("%s: %s", dir, err_name(errno));

	snprintf(path, sizeof(path), "%s/brig-escape-file-%d", dir, (int)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0) {
		close(fd);
		unlink(path);
		escaped("created the file %s", path);
	}
	note_add(&n, "file: %s", err_name(errno));
	snprintf(path, sizeof(path), "%s/brig-escape-dir-%d", dir, (int)getpid());
	if (mkdir(path, 0700) == 0) {
		rmdir(path);
		escaped("created the directory %s", path);
	}
	note_add(&n, "mkdir: %s", err_name(errno));
	snprintf(path, sizeof(path), "%s/brig-escape-link-%d", dir, (int)getpid());
	if (symlink("/", path) == 0) {
		unlink(path);
		escaped("created the symlink %s", path);
	}
	note_add(&n, "symlink: %s", err_name(errno));
	snprintf(path, sizeof(path), "%s/brig-escape-fifo-%d", dir, (int)getpid());
	if (mknod(path, S_IFIFO | 0600, 0) == 0) {
		unlink(path);
		escaped("created the fifo %s", path);
	}
	note_add(&n, "fifo: %s", err_name(errno));
	contained("%s: %s", dir, n.text);
}

static void check_write_root(const struct battery *b) { try_write_in(b, "/", false); }
static void check_write_etc(const struct battery *b) { try_write_in(b, "/etc", false); }
static void check_write_usr(const struct battery *b) { try_write_in(b, "/usr", false); }
static void check_write_tmp(const struct battery *b) { try_write_in(b, "/tmp", false); }
static void check_write_dev(const struct battery *b) { try_write_in(b, "/dev", false); }
static void check_write_proc(const struct battery *b) { try_write_in(b, "/proc", false); }
static void check_write_proc_root(const struct battery *b) { try_write_in(b, "/proc/1/root", false); }
static void check_write_exec_dir(const struct battery *b) { try_write_in(b, b->exe_dir, true); }
static void check_write_setuid_dir(const struct battery *b) { try_write_in(b, b->setuid_dir, true); }

static void check_write_cwd(const struct battery *b)
{
	char cwd[PATH_MAX];

	if (!getcwd(cwd, sizeof(cwd)))
		inconclusive("getcwd: %s", err_name(errno));
	try_write_in(b, cwd, false);
}

/* Change the binaries brig runs (ours, the setuid copy), without a byte. */
static void check_modify_binaries(const struct battery *b)
{
	struct note n = { .len = 0 };
	char moved[PATH_MAX];
	struct stat st;
	int fd;

	fd = open(b->setuid_path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		escaped("opened %s for writing", b->setuid_path);
	}
	note_add(&n, "open setuid copy for writing: %s", err_name(errno));
	fd = open(b->exe_path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		escaped("opened %s for writing", b->exe_path);
	}
	note_add(&n, "open own binary for writing: %s", err_name(errno));
	if (utimensat(AT_FDCWD, b->setuid_path, NULL, 0) == 0)
		escaped("changed the times of %s", b->setuid_path);
	note_add(&n, "utimensat: %s", err_name(errno));
	if (stat(b->setuid_path, &st) == 0 && chmod(b->setuid_path, st.st_mode & 07777) == 0)
		escaped("chmod %s succeeded (mode left as it was)", b->setuid_path);
	note_add(&n, "chmod: %s", err_name(errno));
	snprintf(moved, sizeof(moved), "%s.moved", b->setuid_path);
	if (rename(b->setuid_path, moved) == 0) {
		rename(moved, b->setuid_path);
		escaped("renamed %s (and back)", b->setuid_path);
	}
	note_add(&n, "rename: %s", err_name(errno));
	contained("%s", n.text);
}

static void check_proc_self_exe_write(const struct battery *b)
{
	int fd = open("/proc/self/exe", O_WRONLY | O_CLOEXEC);
	int e = errno;

	(void)b;
	if (fd >= 0) {
		close(fd);
		escaped("opened /proc/self/exe for writing");
	}
	fd = open("/proc/self/exe", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		escaped("opened /proc/self/exe read-write");
	}
	contained("O_WRONLY: %s, O_RDWR: %s", err_name(e), err_name(errno));
}

static void check_dev_nodes(const struct battery *b)
{
	static const char *const expected[] = {
		".", "..", "null", "zero", "full", "random", "urandom", "fd", "stdin", "stdout",
		"stderr",
	};
	/* What a container's /dev usually holds, and what an escape wants. */
	static const char *const probes[] = {
		"tty", "console", "ptmx", "pts", "shm", "mqueue", "kmsg", "mem", "kmem", "port",
		"sda", "vda", "nvme0", "nvme0n1", "loop0", "loop-control", "mapper", "kvm", "fuse",
		"net", "vsock", "vhost-net", "dri", "hwrng", "autofs", "btrfs-control", "cpu",
		"snapshot", "watchdog", "rtc0", "tty0", "ttyS0", "bpf", "userfaultfd", "log",
	};
	DIR *dir = opendir("/dev");
	struct note n = { .len = 0 };
	struct dirent *e;
	unsigned count = 0;

	(void)b;
	if (!dir) {
		/* Listing refused (Landlock grants no directory read here): look
		 * the usual names up one by one instead. */
		int listing = errno;
		struct stat st;

		for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
			char path[64];

			snprintf(path, sizeof(path), "/dev/%s", probes[i]);
			if (lstat(path, &st) == 0)
				note_add(&n, "%s", path);
		}
		if (n.len)
			escaped("unexpected entries in /dev: %s", n.text);
		contained("listing /dev: %s; none of %zu device names exists", err_name(listing),
			  sizeof(probes) / sizeof(probes[0]));
	}
	while ((e = readdir(dir))) {
		bool known = false;

		for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
			known = known || strcmp(e->d_name, expected[i]) == 0;
		if (!known)
			note_add(&n, "/dev/%s", e->d_name);
		count++;
	}
	closedir(dir);
	if (n.len)
		escaped("unexpected entries in /dev: %s", n.text);
	contained("/dev holds only null, zero, full, random, urandom and the fd links (%u "
		  "entries)", count);
}

/* ------------------------------------------------------------------ */
/* sockets                                                              */

static void check_tcp_connect(const struct battery *b)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)b->tcp_port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int err = 0;
	socklen_t len = sizeof(err);

	if (fd < 0)
		contained("socket(AF_INET): %s", err_name(errno));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		escaped("connected to 127.0.0.1:%d", b->tcp_port);
	if (errno != EINPROGRESS)
		contained("connect 127.0.0.1:%d: %s", b->tcp_port, err_name(errno));
	{
		struct pollfd p = { .fd = fd, .events = POLLOUT };

		if (poll(&p, 1, 2000) <= 0)
			contained("connect 127.0.0.1:%d: no answer in 2 s", b->tcp_port);
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		inconclusive("SO_ERROR: %s", err_name(errno));
	if (err == 0)
		escaped("connected to 127.0.0.1:%d", b->tcp_port);
	contained("connect 127.0.0.1:%d: %s", b->tcp_port, err_name(err));
}

static void check_udp_send(const struct battery *b)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)b->tcp_port) };
	static const char message[] = "brig-escape-udp";
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		contained("socket(AF_INET, SOCK_DGRAM): %s", err_name(errno));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (sendto(fd, message, sizeof(message) - 1, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		contained("sendto 127.0.0.1:%d: %s", b->tcp_port, err_name(errno));
	escaped("sent a datagram to 127.0.0.1:%d", b->tcp_port);
}

static void check_abstract_socket(const struct battery *b)
{
	if (unix_connect(b->abstract_name, true) == 0)
		escaped("connected to the abstract socket @%s", b->abstract_name);
	contained("connect @%s: %s", b->abstract_name, err_name(errno));
}

static void check_brigd_socket(const struct battery *b)
{
	if (unix_connect(b->socket_path, false) == 0)
		escaped("connected to brigd's socket %s", b->socket_path);
	contained("connect %s: %s", b->socket_path, err_name(errno));
}

/* brigd's socket through every root and cwd that /proc offers. */
static void check_brigd_socket_proc(const struct battery *b)
{
	static const char *const links[] = { "root", "cwd" };
	struct note n = { .len = 0 };
	DIR *dir = opendir("/proc");
	struct dirent *e;
	unsigned tried = 0;

	if (!dir)
		contained("no /proc: %s", err_name(errno));
	while ((e = readdir(dir))) {
		if (!is_pid_name(e->d_name) && strcmp(e->d_name, "self") != 0 &&
		    strcmp(e->d_name, "thread-self") != 0)
			continue;
		for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
			char path[PATH_MAX];

			snprintf(path, sizeof(path), "/proc/%s/%s%s", e->d_name, links[i],
				 b->socket_path);
			tried++;
			if (unix_connect(path, false) == 0)
				escaped("connected to brigd's socket as %s", path);
			if (tried <= 6)
				note_add(&n, "%s: %s", path, err_name(errno));
		}
	}
	closedir(dir);
	contained("%u paths tried: %s", tried, n.text);
}

static void check_proc_net_unix(const struct battery *b)
{
	static char text[1 << 16];
	char abstract[128];

	if (!read_small_file("/proc/net/unix", text, sizeof(text)))
		contained("/proc/net/unix: %s", err_name(errno));
	snprintf(abstract, sizeof(abstract), "@%s", b->abstract_name);
	if (strstr(text, b->socket_path))
		escaped("/proc/net/unix lists brigd's socket %s", b->socket_path);
	if (strstr(text, abstract))
		escaped("/proc/net/unix lists the host's abstract socket %s", abstract);
	/* Another job's names show only where the two share a network
	 * namespace (workers of one template): a leak of names, not a way in. */
	snprintf(abstract, sizeof(abstract), "@%s", b->peer_name ? b->peer_name : "");
	contained("/proc/net/unix lists neither brigd's socket nor @%s%s", b->abstract_name,
		  b->peer_name && strstr(text, abstract) ?
			  " (it does list the peer job's socket: one network namespace)" : "");
}

static void check_host_netif(const struct battery *b)
{
	static char text[16384];
	struct note n = { .len = 0 };
	struct ifreq ifr;
	const char *lo_state = "lo absent";
	bool other = false;
	int fd;

	(void)b;
	if (!read_small_file("/proc/net/dev", text, sizeof(text)))
		contained("/proc/net/dev: %s", err_name(errno));
	/* Two header lines, then "  name: counters". */
	for (char *line = strchr(text, '\n'), *next; line && (next = strchr(line + 1, '\n'));
	     line = next) {
		char name[IFNAMSIZ + 1];
		char *colon;
		size_t len;

		line++;
		colon = memchr(line, ':', (size_t)(next - line));
		if (!colon)
			continue;
		line += strspn(line, " ");
		len = (size_t)(colon - line);
		if (len == 0 || len > IFNAMSIZ)
			continue;
		memcpy(name, line, len);
		name[len] = '\0';
		note_add(&n, "%s", name);
		if (strcmp(name, "lo") != 0)
			other = true;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0)
		lo_state = (ifr.ifr_flags & IFF_UP) ? "lo is up" : "lo is down";
	if (other)
		escaped("interfaces: %s (%s)", n.text, lo_state);
	contained("interfaces: %s (%s)", n.len ? n.text : "none", lo_state);
}

static void check_abstract_socket_peer(const struct battery *b)
{
	if (!b->peer_name)
		contained("not attempted: no peer job was given");
	if (unix_connect(b->peer_name, true) == 0)
		escaped("connected to another job's abstract socket @%s", b->peer_name);
	contained("connect to another job's @%s: %s", b->peer_name, err_name(errno));
}

/* The peer's datagram socket (@NAME.dgram): sendto, not connect. */
static void check_abstract_dgram_peer(const struct battery *b)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char name[sizeof(sa.sun_path)];
	int fd, n;

	if (!b->peer_name)
		contained("not attempted: no peer job was given");
	n = snprintf(name, sizeof(name) - 1, "%s.dgram", b->peer_name);
	memcpy(sa.sun_path + 1, name, (size_t)n);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		contained("socket(AF_UNIX, SOCK_DGRAM): %s", err_name(errno));
	if (sendto(fd, "x", 1, 0, (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n)) == 1)
		escaped("sent a datagram to another job's @%s", name);
	contained("sendto another job's @%s: %s", name, err_name(errno));
}

static void check_raw_socket(const struct battery *b)
{
	int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
	int e4 = errno;

	(void)b;
	if (fd >= 0)
		escaped("opened a raw IPv4 socket");
	fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
	if (fd >= 0)
		escaped("opened a raw IPv6 socket");
	contained("raw IPv4: %s, raw IPv6: %s", err_name(e4), err_name(errno));
}

static void check_packet_socket(const struct battery *b)
{
	(void)b;
	EXPECT_FAILURE(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL)),
		       "socket(AF_PACKET, SOCK_RAW)");
}

/* Ask the audit subsystem for its status (AUDIT_GET). */
static void check_netlink_audit(const struct battery *b)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct {
		struct nlmsghdr h;
		char pad[16];
	} req = { .h = { .nlmsg_len = NLMSG_LENGTH(0), .nlmsg_type = AUDIT_GET,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK, .nlmsg_seq = 1 } };
	char reply[8192];
	struct timeval tv = { .tv_sec = 1 };
	ssize_t len;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);

	(void)b;
	if (fd < 0)
		contained("socket(NETLINK_AUDIT): %s", err_name(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (sendto(fd, &req, req.h.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		contained("AUDIT_GET: send: %s", err_name(errno));
	for (;;) {
		struct nlmsghdr *h = (struct nlmsghdr *)reply;

		len = recv(fd, reply, sizeof(reply), 0);
		if (len < 0)
			contained("AUDIT_GET: %s", err_name(errno));
		if (!NLMSG_OK(h, (size_t)len))
			inconclusive("AUDIT_GET: a malformed reply of %zd bytes", len);
		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *ne = NLMSG_DATA(h);

			if (ne->error == 0)
				continue;   /* the ACK; the status would follow */
			contained("AUDIT_GET refused: %s", err_name(-ne->error));
		}
		if (h->nlmsg_type == AUDIT_GET)
			escaped("read the audit status (AUDIT_GET answered)");
	}
}

/* ------------------------------------------------------------------ */
/* other processes                                                      */

/*
 * Each host check tries every host pid, noting each failure; the first
 * success is the verdict.
 */
#define FOR_EACH_HOST_PID(b, pid, n)                                                     \
	for (size_t i_ = 0; i_ < (b)->host_pid_count; i_++)                               \
		for (pid_t pid = (b)->host_pids[i_]; pid && !pid_collides((b), pid, (n)); pid = 0)

static void check_kill_host_0(const struct battery *b)
{
	struct note n = { .len = 0 };

	FOR_EACH_HOST_PID(b, pid, &n) {
		if (kill(pid, 0) == 0)
			escaped("kill(%d, 0) succeeded: the host process is reachable", (int)pid);
		note_add(&n, "kill(%d, 0): %s", (int)pid, err_name(errno));
	}
	contained("%s", n.text);
}

static void check_kill_host_sigkill(const struct battery *b)
{
	struct note n = { .len = 0 };

	FOR_EACH_HOST_PID(b, pid, &n) {
		if (kill(pid, SIGKILL) == 0)
			escaped("kill(%d, SIGKILL) succeeded", (int)pid);
		note_add(&n, "kill(%d, SIGKILL): %s", (int)pid, err_name(errno));
	}
	contained("%s", n.text);
}

static void check_pidfd_open_host(const struct battery *b)
{
	struct note n = { .len = 0 };

	FOR_EACH_HOST_PID(b, pid, &n) {
		long fd = syscall(SYS_pidfd_open, pid, 0);

		if (fd >= 0)
			escaped("pidfd_open(%d) succeeded", (int)pid);
		note_add(&n, "pidfd_open(%d): %s", (int)pid, err_name(errno));
	}
	contained("%s", n.text);
}

static void check_ptrace_attach_host(const struct battery *b)
{
	struct note n = { .len = 0 };

	FOR_EACH_HOST_PID(b, pid, &n) {
		long r = syscall(SYS_ptrace, PTRACE_ATTACH, pid, 0, 0);

		if (r == 0)
			ptrace_outcome(r, 0, pid, "ptrace(PTRACE_ATTACH, a host process)");
		note_add(&n, "PTRACE_ATTACH %d: %s", (int)pid, err_name(errno));
	}
	contained("%s", n.text);
}

static void check_ptrace_seize_host(const struct battery *b)
{
	struct note n = { .len = 0 };

	FOR_EACH_HOST_PID(b, pid, &n) {
		if (syscall(SYS_ptrace, PTRACE_SEIZE, pid, 0, 0) == 0) {
			syscall(SYS_ptrace, PTRACE_DETACH, pid, 0, 0);
			escaped("ptrace(PTRACE_SEIZE, %d) succeeded", (int)pid);
		}
		note_add(&n, "PTRACE_SEIZE %d: %s", (int)pid, err_name(errno));
	}
	contained("%s", n.text);
}

/*
 * SIGUSR1 to every pid of the job's pid namespace but its own processes:
 * under a template, the other workers (other uids) live there too.  The
 * peer job counts what reaches it; here, a kill() that works on anything
 * but pid 1 (the namespace's init, which drops signals without a handler)
 * is the escape.
 */
static void check_signal_sweep(const struct battery *b)
{
	struct note n = { .len = 0 };
	pid_t self = getpid(), parent = getppid();
	int last = 4096, refused = 0;

	if (!in_brig_view())
		inconclusive("not attempted: / is not a tmpfs, so this may not be a brig view");
	if (b->peer_pid > 0 && b->peer_pid + 64 > last)
		last = b->peer_pid + 64;
	for (pid_t pid = 1; pid <= last; pid++) {
		if (pid == self || pid == parent || pid == b->worker_pid)
			continue;
		if (kill(pid, SIGUSR1) == 0) {
			if (pid != 1)
				escaped("kill(%d, SIGUSR1) reached a process that is not the job's", (int)pid);
			note_add(&n, "pid 1 (the namespace's init) took it");
		} else if (errno == EPERM) {
			refused++;
		}
	}
	contained("SIGUSR1 to pids 1-%d: %d exist and refused it (EPERM), the others do not "
		  "exist%s%s", last, refused, n.len ? "; " : "", n.text);
}

/* pidfd_open needs no permission; sending through the pidfd does. */
static void check_pidfd_signal_peer(const struct battery *b)
{
	int pidfd;

	if (b->peer_pid <= 0)
		contained("not attempted: no peer job was given");
	if (b->peer_pid == getpid() || b->peer_pid == getppid() || b->peer_pid == b->worker_pid ||
	    b->peer_pid == 1)
		contained("the peer's pid %d is one of the job's own here: not the same pid "
			  "namespace", (int)b->peer_pid);
	pidfd = (int)syscall(SYS_pidfd_open, b->peer_pid, 0);
	if (pidfd < 0)
		contained("pidfd_open(the peer %d): %s", (int)b->peer_pid, err_name(errno));
	if (syscall(SYS_pidfd_send_signal, pidfd, SIGUSR1, NULL, 0) == 0)
		escaped("pidfd_send_signal(SIGUSR1) to pid %d worked", (int)b->peer_pid);
	contained("pidfd_open(%d) worked, pidfd_send_signal: %s", (int)b->peer_pid,
		  err_name(errno));
}

static long vm_read(pid_t pid)
{
	static char local_buf[64];
	struct iovec local = { .iov_base = local_buf, .iov_len = sizeof(local_buf) };
	/* Any mapped address will do: a fixed one near the usual stack. */
	struct iovec remote = { .iov_base = (void *)0x400000, .iov_len = sizeof(local_buf) };

	return syscall(SYS_process_vm_readv, pid, &local, 1, &remote, 1, 0);
}

static void check_process_vm_readv_host(const struct battery *b)
{
	struct note n = { .len = 0 };

	FOR_EACH_HOST_PID(b, pid, &n) {
		if (vm_read(pid) >= 0)
			escaped("process_vm_readv(%d) read the host process's memory", (int)pid);
		note_add(&n, "process_vm_readv(%d): %s", (int)pid, err_name(errno));
	}
	contained("%s", n.text);
}

/* The worker (our parent) holds the job channel to the broker. */
static void check_ptrace_attach_worker(const struct battery *b)
{
	long r = syscall(SYS_ptrace, PTRACE_ATTACH, b->worker_pid, 0, 0);

	ptrace_outcome(r, errno, b->worker_pid, "ptrace(PTRACE_ATTACH, the worker)");
}

static void check_process_vm_readv_worker(const struct battery *b)
{
	EXPECT_FAILURE(vm_read(b->worker_pid), "process_vm_readv(the worker)");
}

static void check_worker_memory(const struct battery *b)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)b->worker_pid);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd >= 0)
		escaped("opened the worker's memory %s read-write", path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		escaped("opened the worker's memory %s", path);
	contained("%s: %s", path, err_name(errno));
}

static void check_worker_channel_proc(const struct battery *b)
{
	struct note n = { .len = 0 };
	pid_t ppid = b->worker_pid;

	for (int fd = 0; fd < 16; fd++) {
		char path[64];
		int got;

		snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)ppid, fd);
		got = open(path, O_RDWR | O_CLOEXEC);
		if (got >= 0)
			escaped("opened the worker's fd %d through %s", fd, path);
		if (fd <= 3)
			note_add(&n, "%s: %s", path, err_name(errno));
	}
	contained("%s", n.text);
}

static void check_worker_channel_pidfd(const struct battery *b)
{
	int pidfd = (int)syscall(SYS_pidfd_open, b->worker_pid, 0);

	if (pidfd < 0)
		contained("pidfd_open(the worker): %s", err_name(errno));
	EXPECT_FAILURE(syscall(SYS_pidfd_getfd, pidfd, 3, 0), "pidfd_getfd(the worker, fd 3)");
}

static void check_host_processes(const struct battery *b)
{
	struct note n = { .len = 0 };
	char nspid[64] = "";
	DIR *dir = opendir("/proc");
	struct dirent *e;
	unsigned count = 0;
	bool host_visible = false;

	if (!dir)
		contained("no /proc: %s", err_name(errno));
	while ((e = readdir(dir))) {
		char path[300], comm[32] = "?";

		if (!is_pid_name(e->d_name))
			continue;
		count++;
		for (size_t i = 0; i < b->host_pid_count; i++)
			if (atoi(e->d_name) == (int)b->host_pids[i])
				host_visible = true;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		if (read_small_file(path, comm, sizeof(comm)))
			comm[strcspn(comm, "\n")] = '\0';
		note_add(&n, "%s %s", e->d_name, comm);
	}
	closedir(dir);
	status_field("NSpid", nspid, sizeof(nspid));
	/* A /proc of an outer pid namespace shows our pid at every level. */
	if (strchr(nspid, '\t') || strchr(nspid, ' '))
		escaped("/proc belongs to an outer pid namespace (NSpid %s)", nspid);
	if (count > 32)
		escaped("/proc lists %u processes: %s", count, n.text);
	contained("%u processes, host pids %s, NSpid %s: %s", count,
		  host_visible ? "collide with one of them" : "not listed", nspid, n.text);
}

/* ------------------------------------------------------------------ */
/* mounts and namespaces                                                */

static void check_mount_tmpfs(const struct battery *b)
{
	(void)b;
	EXPECT_FAILURE(mount("tmpfs", "/", "tmpfs", 0, "size=64k"), "mount tmpfs on /");
}

static void check_mount_bind(const struct battery *b)
{
	(void)b;
	EXPECT_FAILURE(mount("/", "/dev", NULL, MS_BIND | MS_REC, NULL), "bind-mount / on /dev");
}

static void check_mount_remount_rw(const struct battery *b)
{
	(void)b;
	EXPECT_FAILURE(mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND, NULL), "remount / read-write");
}

static void check_mount_proc(const struct battery *b)
{
	(void)b;
	EXPECT_FAILURE(mount("proc", "/dev", "proc", 0, NULL), "mount a new proc on /dev");
}

static void check_umount_proc(const struct battery *b)
{
	(void)b;
	EXPECT_FAILURE(umount2("/proc", MNT_DETACH), "umount2(/proc, MNT_DETACH)");
}

static void check_fsopen(const struct battery *b)
{
	(void)b;
	EXPECT_FAILURE(syscall(SYS_fsopen, "tmpfs", 0), "fsopen(tmpfs)");
}

static void check_open_tree(const struct battery *b)
{
	(void)b;
	EXPECT_FAILURE(syscall(SYS_open_tree, AT_FDCWD, "/", OPEN_TREE_CLONE | AT_RECURSIVE),
		       "open_tree(/, OPEN_TREE_CLONE)");
}

static void check_move_mount(const struct battery *b)
{
	(void)b;
	EXPECT_FAILURE(syscall(SYS_move_mount, AT_FDCWD, "/proc", AT_FDCWD, "/dev", 0),
		       "move_mount(/proc, /dev)");
}

static void check_mount_setattr(const struct battery *b)
{
	struct {
		uint64_t attr_set, attr_clr, propagation, userns_fd;
	} attr = { .attr_clr = 0x1 /* MOUNT_ATTR_RDONLY */ };

	(void)b;
	EXPECT_FAILURE(syscall(SYS_mount_setattr, AT_FDCWD, "/", 0, &attr, sizeof(attr)),
		       "mount_setattr(/, clear read-only)");
}

static void try_unshare(int flag, const char *name)
{
	char what[64];

	snprintf(what, sizeof(what), "unshare(%s)", name);
	EXPECT_FAILURE(unshare(flag), what);
}

static void check_unshare_user(const struct battery *b) { (void)b; try_unshare(CLONE_NEWUSER, "CLONE_NEWUSER"); }
static void check_unshare_mount(const struct battery *b) { (void)b; try_unshare(CLONE_NEWNS, "CLONE_NEWNS"); }
static void check_unshare_pid(const struct battery *b) { (void)b; try_unshare(CLONE_NEWPID, "CLONE_NEWPID"); }
static void check_unshare_net(const struct battery *b) { (void)b; try_unshare(CLONE_NEWNET, "CLONE_NEWNET"); }
static void check_unshare_uts(const struct battery *b) { (void)b; try_unshare(CLONE_NEWUTS, "CLONE_NEWUTS"); }
static void check_unshare_ipc(const struct battery *b) { (void)b; try_unshare(CLONE_NEWIPC, "CLONE_NEWIPC"); }
static void check_unshare_cgroup(const struct battery *b) { (void)b; try_unshare(CLONE_NEWCGROUP, "CLONE_NEWCGROUP"); }
static void check_unshare_time(const struct battery *b) { (void)b; try_unshare(CLONE_NEWTIME, "CLONE_NEWTIME"); }

static void try_clone(unsigned long flag, const char *name)
{
	char what[64];
	long pid;

	snprintf(what, sizeof(what), "clone(%s)", name);
	pid = syscall(SYS_clone, flag | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid((pid_t)pid, NULL, 0);
	expect_failure(pid, errno, what);
}

static void check_clone_newuser(const struct battery *b) { (void)b; try_clone(CLONE_NEWUSER, "CLONE_NEWUSER"); }
static void check_clone_newns(const struct battery *b) { (void)b; try_clone(CLONE_NEWNS, "CLONE_NEWNS"); }

static void check_clone3_newuser(const struct battery *b)
{
	uint64_t args[11] = { 0 };   /* struct clone_args, CLONE_ARGS_SIZE_VER2 */
	long pid;

	(void)b;
	args[0] = CLONE_NEWUSER;     /* flags */
	args[4] = SIGCHLD;           /* exit_signal */
	pid = syscall(SYS_clone3, args, sizeof(args));
	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid((pid_t)pid, NULL, 0);
	expect_failure(pid, errno, "clone3(CLONE_NEWUSER)");
}

/* setns() into every namespace of base (/proc/PID/ns); notes failures. */
static void try_setns_all(const char *base, struct note *n)
{
	static const char *const names[] = { "mnt", "pid", "net", "uts", "ipc", "user", "cgroup",
					     "time" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char path[128];
		int fd;

		snprintf(path, sizeof(path), "%s/%s", base, names[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			note_add(n, "open %s/%s: %s", base, names[i], err_name(errno));
			continue;
		}
		if (setns(fd, 0) == 0)
			escaped("setns(%s) succeeded", path);
		note_add(n, "setns %s/%s: %s", base, names[i], err_name(errno));
		close(fd);
	}
}

static void check_setns_self(const struct battery *b)
{
	struct note n = { .len = 0 };

	(void)b;
	try_setns_all("/proc/self/ns", &n);
	contained("%s", n.text);
}

static void check_setns_pid1(const struct battery *b)
{
	struct note n = { .len = 0 };

	(void)b;
	try_setns_all("/proc/1/ns", &n);
	contained("%s", n.text);
}

static void check_setns_host(const struct battery *b)
{
	struct note n = { .len = 0 };

	FOR_EACH_HOST_PID(b, pid, &n) {
		char base[64];

		snprintf(base, sizeof(base), "/proc/%d/ns", (int)pid);
		try_setns_all(base, &n);
	}
	contained("%s", n.text);
}

/* The classic: chroot into a subdirectory, climb out of it with "..". */
static void check_chroot_escape(const struct battery *b)
{
	struct stat st;

	if (chroot("/proc") < 0)
		contained("chroot(/proc): %s", err_name(errno));
	for (int i = 0; i < 64; i++)
		if (chdir("..") < 0)
			break;
	if (chroot(".") < 0)
		escaped("chroot(/proc) succeeded (then chroot(.): %s)", err_name(errno));
	if (stat("/etc/shadow", &st) == 0 || stat(b->socket_path, &st) == 0)
		escaped("chroot + chdir(..) reached the host's root");
	escaped("chroot succeeded (the host's root was not reached)");
}

static void check_pivot_root(const struct battery *b)
{
	(void)b;
	EXPECT_FAILURE(syscall(SYS_pivot_root, "/", "/"), "pivot_root(/, /)");
}

/* ------------------------------------------------------------------ */
/* file handles ("shocker")                                             */

struct handle8 {
	unsigned int handle_bytes;
	int handle_type;
	unsigned char f_handle[8];
};

static void check_name_to_handle_at(const struct battery *b)
{
	struct handle8 h = { .handle_bytes = 8 };
	int mount_id;

	(void)b;
	EXPECT_FAILURE(syscall(SYS_name_to_handle_at, AT_FDCWD, "/proc", &h, &mount_id, 0),
		       "name_to_handle_at(/proc)");
}

static void check_open_by_handle_at(const struct battery *b)
{
	/* The root directory of an ext4 file system: inode 2, generation 0;
	 * the mount is the cwd's (AT_FDCWD needs no fd Landlock could deny). */
	struct handle8 h = { .handle_bytes = 8, .handle_type = 1, .f_handle = { 2 } };

	(void)b;
	EXPECT_FAILURE(syscall(SYS_open_by_handle_at, AT_FDCWD, &h, O_RDONLY),
		       "open_by_handle_at(cwd's mount, inode 2)");
}

/* ------------------------------------------------------------------ */
/* terminals                                                            */

static void check_tiocsti_stdin(const struct battery *b)
{
	char c = '\0';

	(void)b;
	EXPECT_FAILURE(ioctl(0, TIOCSTI, &c), "ioctl(stdin, TIOCSTI)");
}

static void check_tiocsti_dev_tty(const struct battery *b)
{
	char c = '\0';
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

	(void)b;
	if (fd < 0)
		contained("open /dev/tty: %s", err_name(errno));
	EXPECT_FAILURE(ioctl(fd, TIOCSTI, &c), "ioctl(/dev/tty, TIOCSTI)");
}

static void check_tioclinux(const struct battery *b)
{
	char subcode = 3;   /* TIOCL_SELLOADLUT: harmless even where it works */

	(void)b;
	EXPECT_FAILURE(ioctl(0, TIOCLINUX, &subcode), "ioctl(stdin, TIOCLINUX)");
}

/* ------------------------------------------------------------------ */
/* kernel interfaces that must stay out of reach                        */

static void check_keyctl(const struct battery *b)
{
	(void)b;
	EXPECT_FAILURE(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0),
		       "keyctl(KEYCTL_GET_KEYRING_ID)");
}

static void check_add_key(const struct battery *b)
{
	(void)b;
	EXPECT_FAILURE(syscall(SYS_add_key, "user", "brig-escape", "x", 1,
			       KEY_SPEC_PROCESS_KEYRING), "add_key(user)");
}

static void check_request_key(const struct battery *b)
{
	(void)b;
	EXPECT_FAILURE(syscall(SYS_request_key, "user", "brig-escape", NULL, 0),
		       "request_key(user)");
}

static void check_bpf(const struct battery *b)
{
	union bpf_attr attr;

	(void)b;
	memset(&attr, 0, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_ARRAY;
	attr.key_size = 4;
	attr.value_size = 4;
	attr.max_entries = 1;
	EXPECT_FAILURE(syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr)),
		       "bpf(BPF_MAP_CREATE)");
}

static void check_perf_event_open(const struct battery *b)
{
	struct perf_event_attr attr;

	(void)b;
	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_CPU_CLOCK;
	attr.exclude_kernel = 1;
	attr.exclude_hv = 1;
	EXPECT_FAILURE(syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0),
		       "perf_event_open(own CPU clock)");
}

static void check_userfaultfd(const struct battery *b)
{
	(void)b;
	EXPECT_FAILURE(syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY),
		       "userfaultfd(UFFD_USER_MODE_ONLY)");
}

static void check_dev_userfaultfd(const struct battery *b)
{
	(void)b;
	EXPECT_FAILURE(open("/dev/userfaultfd", O_RDWR | O_CLOEXEC), "open /dev/userfaultfd");
}

static void check_io_uring_setup(const struct battery *b)
{
	unsigned char params[256];   /* struct io_uring_params, zeroed */

	(void)b;
	memset(params, 0, sizeof(params));
	EXPECT_FAILURE(syscall(SYS_io_uring_setup, 1, params), "io_uring_setup(1)");
}

static void check_kexec_load(const struct battery *b)
{
	(void)b;
	/* An architecture no kernel has: even with CAP_SYS_BOOT, EINVAL. */
	EXPECT_FAILURE(syscall(SYS_kexec_load, 0, 0, NULL, 0x7e570000UL),
		       "kexec_load(bogus architecture)");
}

static void check_init_module(const struct battery *b)
{
	(void)b;
	EXPECT_FAILURE(syscall(SYS_init_module, NULL, 0, ""), "init_module(empty)");
}

static void check_finit_module(const struct battery *b)
{
	(void)b;
	EXPECT_FAILURE(syscall(SYS_finit_module, -1, "", 0), "finit_module(-1)");
}

static void check_delete_module(const struct battery *b)
{
	(void)b;
	EXPECT_FAILURE(syscall(SYS_delete_module, "brig_escape_no_such_module", O_NONBLOCK),
		       "delete_module");
}

#if defined(__x86_64__) || defined(__i386__)
static void check_iopl(const struct battery *b)
{
	(void)b;
	EXPECT_FAILURE(syscall(SYS_iopl, 3), "iopl(3)");
}

static void check_ioperm(const struct battery *b)
{
	(void)b;
	EXPECT_FAILURE(syscall(SYS_ioperm, 0x80, 1, 1), "ioperm(0x80)");
}
#else
static void check_iopl(const struct battery *b) { (void)b; contained("no iopl on this architecture"); }
static void check_ioperm(const struct battery *b) { (void)b; contained("no ioperm on this architecture"); }
#endif

static void check_swapon(const struct battery *b)
{
	(void)b;
	EXPECT_FAILURE(syscall(SYS_swapon, "/brig-escape-no-such-file", 0), "swapon");
}

static void check_acct(const struct battery *b)
{
	(void)b;
	EXPECT_FAILURE(syscall(SYS_acct, "/brig-escape-no-such-file"), "acct");
}

static void check_reboot(const struct battery *b)
{
	(void)b;
	/* Wrong magic numbers: never a reboot, even with CAP_SYS_BOOT. */
	EXPECT_FAILURE(syscall(SYS_reboot, 0x12345678, 0x12345678, 0, NULL), "reboot(bad magic)");
}

static void check_clock_settime(const struct battery *b)
{
	struct timespec now;

	(void)b;
	clock_gettime(CLOCK_REALTIME, &now);
	/* The time it already is: harmless even where it works. */
	EXPECT_FAILURE(syscall(SYS_clock_settime, CLOCK_REALTIME, &now), "clock_settime");
}

static void check_syslog_read_all(const struct battery *b)
{
	static char buf[4096];

	(void)b;
	EXPECT_FAILURE(klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, sizeof(buf)),
		       "syslog(SYSLOG_ACTION_READ_ALL)");
}

static void check_syslog_size(const struct battery *b)
{
	(void)b;
	EXPECT_FAILURE(klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0),
		       "syslog(SYSLOG_ACTION_SIZE_BUFFER)");
}

static void check_dev_kmsg(const struct battery *b)
{
	(void)b;
	EXPECT_FAILURE(open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC), "open /dev/kmsg");
}

static void check_proc_kmsg(const struct battery *b)
{
	int fd;

	(void)b;
	/* Opened, never read: reading would take messages from the host's
	 * syslog daemon. */
	fd = open("/proc/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		escaped("opened /proc/kmsg");
	}
	contained("open /proc/kmsg: %s", err_name(errno));
}

static void check_sethostname(const struct battery *b)
{
	char old[HOST_NAME_MAX + 1] = "";

	(void)b;
	gethostname(old, sizeof(old));
	if (sethostname("brig-escape", 11) == 0) {
		/* Put it back, in case this namespace is the host's. */
		sethostname(old, strlen(old));
		escaped("sethostname succeeded (name '%s' restored)", old);
	}
	contained("sethostname: %s (hostname '%s')", err_name(errno), old);
}

static void check_setdomainname(const struct battery *b)
{
	char old[256] = "";

	(void)b;
	getdomainname(old, sizeof(old));
	if (setdomainname("brig-escape", 11) == 0) {
		setdomainname(old, strlen(old));
		escaped("setdomainname succeeded (name '%s' restored)", old);
	}
	contained("setdomainname: %s", err_name(errno));
}

#ifdef SYS_mknod
#define MKNOD_NR SYS_mknod
#else
#define MKNOD_NR SYS_mknodat   /* no mknod(2) here: both checks use mknodat */
#endif

/* Straight to the syscall: glibc's mknod() is mknodat() underneath. */
static void try_mknod(bool at, const char *path, mode_t type, dev_t dev, const char *what)
{
	long r = at || MKNOD_NR == SYS_mknodat ?
			 syscall(SYS_mknodat, AT_FDCWD, path, type | 0600, dev) :
			 syscall(MKNOD_NR, path, type | 0600, dev);
	int e = errno;

	if (r == 0)
		unlink(path);
	expect_failure(r, e, what);
}

static void check_mknod_char(const struct battery *b)
{
	(void)b;
	try_mknod(false, "/dev/brig-escape-mem", S_IFCHR, makedev(1, 1), "mknod(/dev/mem's 1:1)");
}

static void check_mknod_block(const struct battery *b)
{
	(void)b;
	try_mknod(false, "brig-escape-sda", S_IFBLK, makedev(8, 0), "mknod(block 8:0)");
}

static void check_mknodat_char(const struct battery *b)
{
	(void)b;
	try_mknod(true, "brig-escape-kmem", S_IFCHR, makedev(1, 2),
		  "mknodat(char 1:2)");
}

static void try_open_write(const char *path)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	/* Opened, never written. */
	if (fd >= 0) {
		close(fd);
		escaped("opened %s for writing", path);
	}
	contained("open %s for writing: %s", path, err_name(errno));
}

static void check_proc_sys_core_pattern(const struct battery *b)
{
	(void)b;
	try_open_write("/proc/sys/kernel/core_pattern");
}

static void check_proc_sysrq_trigger(const struct battery *b)
{
	(void)b;
	try_open_write("/proc/sysrq-trigger");
}

static void check_sys_write(const struct battery *b)
{
	static const char *const files[] = {
		"/sys/kernel/uevent_helper", "/sys/fs/cgroup/cgroup.procs",
		"/sys/fs/cgroup/release_agent", "/sys/power/state",
	};
	struct note n = { .len = 0 };

	(void)b;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		int fd = open(files[i], O_WRONLY | O_CLOEXEC);

		if (fd >= 0) {
			close(fd);
			escaped("opened %s for writing", files[i]);
		}
		note_add(&n, "%s: %s", files[i], err_name(errno));
	}
	if (mkdir("/sys/fs/cgroup/brig-escape", 0700) == 0) {
		rmdir("/sys/fs/cgroup/brig-escape");
		escaped("created a cgroup under /sys/fs/cgroup");
	}
	note_add(&n, "mkdir /sys/fs/cgroup/brig-escape: %s", err_name(errno));
	contained("%s", n.text);
}

static void check_personality_read_implies_exec(const struct battery *b)
{
	char maps[1 << 16], start[32];
	void *p;
	int r = personality(PER_LINUX | READ_IMPLIES_EXEC);

	(void)b;
	if (r < 0)
		contained("personality(READ_IMPLIES_EXEC): %s", err_name(errno));
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		escaped("personality(READ_IMPLIES_EXEC) accepted (mmap then failed: %s)",
			err_name(errno));
	snprintf(start, sizeof(start), "\n%lx-", (unsigned long)p);
	if (read_small_file("/proc/self/maps", maps, sizeof(maps))) {
		const char *line = strstr(maps, start);

		if (line && strchr(line + 1, ' ') && strchr(line + 1, ' ')[3] == 'x')
			escaped("personality(READ_IMPLIES_EXEC) accepted: a PROT_READ mapping is "
				"executable");
	}
	escaped("personality(READ_IMPLIES_EXEC) accepted");
}

static void check_personality_addr_no_randomize(const struct battery *b)
{
	(void)b;
	EXPECT_FAILURE(personality(PER_LINUX | ADDR_NO_RANDOMIZE),
		       "personality(ADDR_NO_RANDOMIZE)");
}

/* ------------------------------------------------------------------ */
/* a setuid-root binary                                                 */

static void check_setuid_binary(const struct battery *b)
{
	char output[128] = "";
	struct statvfs sv;
	struct stat st;
	unsigned euid = 0, egid = 0;
	size_t len = 0;
	int pipefd[2], status;
	pid_t pid;

	if (stat(b->setuid_path, &st) < 0)
		inconclusive("stat %s: %s (the setuid copy must be in the view)", b->setuid_path,
			     err_name(errno));
	if (!(st.st_mode & S_ISUID) || st.st_uid != 0)
		inconclusive("%s is not setuid root (mode %o, owner %u): nothing to test",
			     b->setuid_path, (unsigned)st.st_mode, (unsigned)st.st_uid);
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		inconclusive("pipe: %s", err_name(errno));
	pid = fork();
	if (pid < 0)
		inconclusive("fork: %s", err_name(errno));
	if (pid == 0) {
		char *argv[] = { (char *)"escape-setuid", (char *)"euid", NULL };

		dup2(pipefd[1], 1);
		execv(b->setuid_path, argv);
		dprintf(1, "EXEC-FAILED %s\n", err_name(errno));
		_exit(127);
	}
	close(pipefd[1]);
	for (;;) {
		ssize_t n = read(pipefd[0], output + len, sizeof(output) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof(output) - 1)
			break;
	}
	output[len] = '\0';
	output[strcspn(output, "\n")] = '\0';
	waitpid(pid, &status, 0);
	if (sscanf(output, "EUID %u EGID %u", &euid, &egid) != 2)
		contained("running %s: %s", b->setuid_path, output[0] ? output : "no output");
	if (euid == 0)
		escaped("%s ran with euid 0", b->setuid_path);
	contained("%s (setuid root, mode %o) ran with euid %u egid %u%s", b->setuid_path,
		  (unsigned)(st.st_mode & 07777), euid, egid,
		  statvfs(b->setuid_path, &sv) == 0 && (sv.f_flag & ST_NOSUID) ?
			  " (nosuid mount)" : "");
}

/* ------------------------------------------------------------------ */
/* the battery                                                          */

struct check {
	const char *name;
	void (*run)(const struct battery *b);
};

static const struct check checks[] = {
	/* identity: invariant 1 */
	{ "uid_root", check_uid_root },
	{ "groups_root", check_groups_root },
	{ "caps_status", check_caps_status },
	{ "caps_capget", check_caps_capget },
	{ "no_new_privs", check_no_new_privs },
	{ "seccomp_mode", check_seccomp_mode },
	/* what the job inherits: invariant 5 */
	{ "inherited_fds", check_inherited_fds },
	/* the filesystem view and Landlock */
	{ "read_shadow", check_read_shadow },
	{ "host_paths_hidden", check_host_paths_hidden },
	{ "write_root", check_write_root },
	{ "write_etc", check_write_etc },
	{ "write_usr", check_write_usr },
	{ "write_tmp", check_write_tmp },
	{ "write_dev", check_write_dev },
	{ "write_proc", check_write_proc },
	{ "write_proc_root", check_write_proc_root },
	{ "write_cwd", check_write_cwd },
	{ "write_exec_dir", check_write_exec_dir },
	{ "write_setuid_dir", check_write_setuid_dir },
	{ "modify_binaries", check_modify_binaries },
	{ "proc_self_exe_write", check_proc_self_exe_write },
	{ "dev_nodes", check_dev_nodes },
	/* the network */
	{ "tcp_connect_loopback", check_tcp_connect },
	{ "udp_send_loopback", check_udp_send },
	{ "abstract_socket", check_abstract_socket },
	{ "abstract_socket_peer", check_abstract_socket_peer },
	{ "abstract_dgram_peer", check_abstract_dgram_peer },
	{ "brigd_socket", check_brigd_socket },
	{ "brigd_socket_proc", check_brigd_socket_proc },
	{ "proc_net_unix", check_proc_net_unix },
	{ "host_netif", check_host_netif },
	{ "raw_socket", check_raw_socket },
	{ "packet_socket", check_packet_socket },
	{ "netlink_audit", check_netlink_audit },
	/* other processes */
	{ "host_processes", check_host_processes },
	{ "signal_sweep", check_signal_sweep },
	{ "pidfd_signal_peer", check_pidfd_signal_peer },
	{ "kill_host_0", check_kill_host_0 },
	{ "kill_host_sigkill", check_kill_host_sigkill },
	{ "pidfd_open_host", check_pidfd_open_host },
	{ "ptrace_attach_host", check_ptrace_attach_host },
	{ "ptrace_seize_host", check_ptrace_seize_host },
	{ "process_vm_readv_host", check_process_vm_readv_host },
	{ "ptrace_attach_worker", check_ptrace_attach_worker },
	{ "process_vm_readv_worker", check_process_vm_readv_worker },
	{ "worker_memory", check_worker_memory },
	{ "worker_channel_proc", check_worker_channel_proc },
	{ "worker_channel_pidfd", check_worker_channel_pidfd },
	/* mounts and namespaces */
	{ "mount_tmpfs", check_mount_tmpfs },
	{ "mount_bind", check_mount_bind },
	{ "mount_remount_rw", check_mount_remount_rw },
	{ "mount_proc", check_mount_proc },
	{ "umount_proc", check_umount_proc },
	{ "fsopen", check_fsopen },
	{ "open_tree", check_open_tree },
	{ "move_mount", check_move_mount },
	{ "mount_setattr", check_mount_setattr },
	{ "unshare_user", check_unshare_user },
	{ "unshare_mount", check_unshare_mount },
	{ "unshare_pid", check_unshare_pid },
	{ "unshare_net", check_unshare_net },
	{ "unshare_uts", check_unshare_uts },
	{ "unshare_ipc", check_unshare_ipc },
	{ "unshare_cgroup", check_unshare_cgroup },
	{ "unshare_time", check_unshare_time },
	{ "clone_newuser", check_clone_newuser },
	{ "clone_newns", check_clone_newns },
	{ "clone3_newuser", check_clone3_newuser },
	{ "setns_self", check_setns_self },
	{ "setns_pid1", check_setns_pid1 },
	{ "setns_host", check_setns_host },
	{ "chroot_escape", check_chroot_escape },
	{ "pivot_root", check_pivot_root },
	{ "name_to_handle_at", check_name_to_handle_at },
	{ "open_by_handle_at", check_open_by_handle_at },
	/* terminals */
	{ "tiocsti_stdin", check_tiocsti_stdin },
	{ "tiocsti_dev_tty", check_tiocsti_dev_tty },
	{ "tioclinux", check_tioclinux },
	/* kernel attack surface */
	{ "keyctl", check_keyctl },
	{ "add_key", check_add_key },
	{ "request_key", check_request_key },
	{ "bpf", check_bpf },
	{ "perf_event_open", check_perf_event_open },
	{ "userfaultfd", check_userfaultfd },
	{ "dev_userfaultfd", check_dev_userfaultfd },
	{ "io_uring_setup", check_io_uring_setup },
	{ "kexec_load", check_kexec_load },
	{ "init_module", check_init_module },
	{ "finit_module", check_finit_module },
	{ "delete_module", check_delete_module },
	{ "iopl", check_iopl },
	{ "ioperm", check_ioperm },
	{ "swapon", check_swapon },
	{ "acct", check_acct },
	{ "reboot", check_reboot },
	{ "clock_settime", check_clock_settime },
	{ "personality_read_implies_exec", check_personality_read_implies_exec },
	{ "personality_addr_no_randomize", check_personality_addr_no_randomize },
	/* privilege through a file */
	{ "setuid_binary", check_setuid_binary },
	/* host-wide state */
	{ "syslog_read_all", check_syslog_read_all },
	{ "syslog_size", check_syslog_size },
	{ "dev_kmsg", check_dev_kmsg },
	{ "proc_kmsg", check_proc_kmsg },
	{ "sethostname", check_sethostname },
	{ "setdomainname", check_setdomainname },
	{ "mknod_char", check_mknod_char },
	{ "mknod_block", check_mknod_block },
	{ "mknodat_char", check_mknodat_char },
	{ "proc_sys_core_pattern", check_proc_sys_core_pattern },
	{ "proc_sysrq_trigger", check_proc_sysrq_trigger },
	{ "sys_write", check_sys_write },
};

/* Run one check in a child; print its line.  Returns 1 (a line printed). */
static int run_check(const struct battery *b, const struct check *c)
{
	char result[DETAIL_MAX + 64];
	size_t len = 0;
	int pipefd[2], status = 0;
	bool timed_out = false;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		out("CHECK %s ERROR pipe: %s", c->name, err_name(errno));
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		out("CHECK %s ERROR fork: %s", c->name, err_name(errno));
		close(pipefd[0]);
		close(pipefd[1]);
		return 1;
	}
	if (pid == 0) {
		close(pipefd[0]);
		verdict_fd = pipefd[1];
		alarm(CHECK_TIMEOUT_S);
		c->run(b);
		inconclusive("the check ended without a verdict");
	}
	close(pipefd[1]);
	/* Read until EOF; a grandchild holding the pipe cannot stall us. */
	for (;;) {
		struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
		int r = poll(&p, 1, (CHECK_TIMEOUT_S + 2) * 1000);
		ssize_t n;

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			timed_out = true;
			kill(pid, SIGKILL);
			break;
		}
		n = read(pipefd[0], result + len, sizeof(result) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof(result) - 1)
			break;
	}
	close(pipefd[0]);
	result[len] = '\0';
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		out("CHECK %s CONTAINED killed by SIGSYS: the seccomp filter trapped the call",
		    c->name);
	else if (len > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		out("CHECK %s %s", c->name, result);
	else if (timed_out || (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM))
		out("CHECK %s ERROR no verdict within %d s", c->name, CHECK_TIMEOUT_S);
	else if (WIFSIGNALED(status))
		out("CHECK %s ERROR killed by signal %d (%s) before a verdict", c->name,
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		out("CHECK %s ERROR exited with status %d without a verdict", c->name,
		    WEXITSTATUS(status));
	return 1;
}

static int usage(void)
{
	out("usage: escape battery tcp=PORT socket=PATH abstract=NAME pid=PID setuid=PATH "
	    "[comm=NAME] [rw=DIR]... [hide=PATH]...");
	out("       escape euid | fork-bomb | memory-bomb [MiB] | kill-all | sleep MS | "
	    "listen NAME MS | orphan MS");
	return 2;
}

static int parse_battery_args(int argc, char **argv, struct battery *b)
{
	for (int i = 2; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		const char *key = argv[i], *value;

		if (!eq)
			return -1;
		*eq = '\0';
		value = eq + 1;
		if (strcmp(key, "tcp") == 0)
			b->tcp_port = atoi(value);
		else if (strcmp(key, "socket") == 0)
			b->socket_path = value;
		else if (strcmp(key, "abstract") == 0)
			b->abstract_name = value;
		else if (strcmp(key, "pid") == 0 && b->host_pid_count < MAX_LIST)
			b->host_pids[b->host_pid_count++] = (pid_t)atoi(value);
		else if (strcmp(key, "comm") == 0)
			b->host_comm = value;
		else if (strcmp(key, "peer") == 0)
			b->peer_name = value;
		else if (strcmp(key, "peerpid") == 0)
			b->peer_pid = (pid_t)atoi(value);
		else if (strcmp(key, "setuid") == 0)
			b->setuid_path = value;
		else if (strcmp(key, "rw") == 0 && b->rw_count < MAX_LIST)
			b->rw[b->rw_count++] = value;
		else if (strcmp(key, "hide") == 0 && b->hide_count < MAX_LIST)
			b->hide[b->hide_count++] = value;
		else
			return -1;
	}
	if (b->tcp_port <= 0 || b->tcp_port > 65535 || !b->socket_path || !b->abstract_name ||
	    b->host_pid_count == 0 || !b->setuid_path || b->setuid_path[0] != '/')
		return -1;
	for (size_t i = 0; i < b->host_pid_count; i++)
		if (b->host_pids[i] <= 0)
			return -1;
	return 0;
}

static int run_battery(int argc, char **argv)
{
	static struct battery b;
	int count = 0, abi;
	ssize_t n;

	if (parse_battery_args(argc, argv, &b) < 0)
		return usage();
	b.worker_pid = getppid();
	n = readlink("/proc/self/exe", b.exe_path, sizeof(b.exe_path) - 1);
	if (n <= 0) {
		out("ABORT readlink /proc/self/exe: %s", err_name(errno));
		return 1;
	}
	b.exe_path[n] = '\0';
	snprintf(b.exe_dir, sizeof(b.exe_dir), "%s", b.exe_path);
	*strrchr(b.exe_dir, '/') = '\0';
	snprintf(b.setuid_dir, sizeof(b.setuid_dir), "%s", b.setuid_path);
	*strrchr(b.setuid_dir, '/') = '\0';
	if (!b.exe_dir[0])
		snprintf(b.exe_dir, sizeof(b.exe_dir), "/");
	if (!b.setuid_dir[0])
		snprintf(b.setuid_dir, sizeof(b.setuid_dir), "/");

	abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0, 1 /* VERSION */);
	out("INFO escape battery: pid %d uid %u gid %u, Landlock ABI %d%s", (int)getpid(),
	    getuid(), getgid(), abi, abi < 0 ? " (unavailable)" : "");
	out("INFO binary %s, setuid copy %s, %zu host processes", b.exe_path, b.setuid_path,
	    b.host_pid_count);
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++)
		count += run_check(&b, &checks[i]);
	out("DONE %d", count);
	return 0;
}

/* ------------------------------------------------------------------ */
/* the other modes                                                      */

__attribute__((noreturn))
static void run_fork_bomb(void)
{
	pid_t original = getpid();
	unsigned long forks = 0;
	bool reported = false;

	out("FORK-BOMB start");
	for (;;) {
		pid_t pid = fork();

		if (pid == 0) {
			forks = 0;
			reported = true;    /* only the original reports */
			continue;
		}
		if (pid > 0) {
			forks++;
			continue;
		}
		if (!reported && getpid() == original) {
			out("FORK-BOMB fork failed after %lu forks by the first process: %s", forks,
			    err_name(errno));
			reported = true;
		}
		/* Keep the processes, keep trying, without melting the CPU. */
		usleep(10000);
	}
}

static int run_memory_bomb(int argc, char **argv)
{
	unsigned long cap_mib = argc > 2 ? strtoul(argv[2], NULL, 10) : MEMORY_BOMB_CAP_MIB;
	const size_t chunk = 1 << 20;
	/* Chained and touched through volatile pointers: a compiler may drop
	 * memory that is written and never read (clang does), and then the
	 * bomb would allocate nothing. */
	static void *volatile chain;
	unsigned long mib = 0;

	if (cap_mib == 0)
		cap_mib = MEMORY_BOMB_CAP_MIB;
	out("MEMORY-BOMB start (safety cap %lu MiB)", cap_mib);
	for (; mib < cap_mib; mib++) {
		volatile char *p = malloc(chunk);

		if (!p) {
			out("MEMORY-BOMB malloc failed after %lu MiB", mib);
			return 0;
		}
		for (size_t i = 0; i < chunk; i += 4096)
			p[i] = (char)0xa5;
		*(void *volatile *)p = chain;
		chain = (void *)p;
	}
	out("MEMORY-BOMB reached the safety cap of %lu MiB: no limit stopped it", cap_mib);
	return 0;
}

static int run_kill_all(void)
{
	if (!in_brig_view()) {
		out("KILL-ALL refused: / is not a tmpfs, so this is not a brig job's view");
		return 2;
	}
	out("KILL-ALL kill(-1, SIGKILL)");
	if (kill(-1, SIGKILL) < 0)
		out("KILL-ALL failed: %s", err_name(errno));
	else
		out("KILL-ALL sent");
	return 0;
}

/* Leave a detached child behind and exit at once, as a daemon would. */
static int run_orphan(int argc, char **argv)
{
	unsigned long ms = argc > 2 ? strtoul(argv[2], NULL, 10) : 30000;
	int pipefd[2];
	pid_t child;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return 1;
	child = fork();
	if (child == 0) {
		struct timespec ts = { .tv_sec = (time_t)(ms / 1000),
				       .tv_nsec = (long)(ms % 1000) * 1000000L };

		setsid();
		/* Off the job's stdout and stderr, so nothing waits for us. */
		for (int fd = 0; fd <= 2; fd++)
			dup2(open("/dev/null", O_RDWR | O_CLOEXEC), fd);
		if (fork() != 0)
			_exit(0);
		if (write(pipefd[1], "x", 1) < 0)
			_exit(1);
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(pipefd[1]);
	{
		char c;
		/* Exit only once the grandchild is running on its own. */
		if (read(pipefd[0], &c, 1) != 1)
			return 1;
	}
	waitpid(child, NULL, 0);
	out("ORPHAN left a process sleeping %lu ms", ms);
	return 0;
}

static volatile sig_atomic_t signals_received;

static void count_signal(int sig)
{
	(void)sig;
	signals_received++;
}

/* The peer job: what other jobs of the profile must not reach. */
static int run_listen(int argc, char **argv)
{
	static const int counted[] = { SIGUSR1, SIGUSR2, SIGHUP, SIGINT, SIGTERM, SIGQUIT,
				       SIGPIPE, SIGALRM };
	struct sigaction sa = { .sa_handler = count_signal };
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	const char *name = argc > 2 ? argv[2] : "";
	unsigned long ms = argc > 3 ? strtoul(argv[3], NULL, 10) : 2000;
	struct sockaddr_un dgram_addr = { .sun_family = AF_UNIX };
	struct timespec start, now;
	unsigned accepted = 0;
	size_t len = strlen(name);
	int fd, dgram;

	if (len == 0 || len + 7 >= sizeof(addr.sun_path))
		return usage();
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(counted) / sizeof(counted[0]); i++)
		sigaction(counted[i], &sa, NULL);
	memcpy(addr.sun_path + 1, name, len);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr,
			   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len)) < 0 ||
	    listen(fd, 16) < 0) {
		out("LISTEN failed: %s", err_name(errno));
		return 1;
	}
	memcpy(dgram_addr.sun_path + 1, name, len);
	memcpy(dgram_addr.sun_path + 1 + len, ".dgram", 6);
	dgram = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (dgram < 0 || bind(dgram, (struct sockaddr *)&dgram_addr,
			      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 7 + len)) < 0) {
		out("LISTEN failed (datagram): %s", err_name(errno));
		return 1;
	}
	out("LISTENING pid=%d name=@%s", (int)getpid(), name);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = dgram, .events = POLLIN } };
		long elapsed;

		clock_gettime(CLOCK_MONOTONIC, &now);
		elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (elapsed >= (long)ms)
			break;
		if (poll(p, 2, (int)((long)ms - elapsed)) > 0) {
			char buf[64];
			int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

			if (c >= 0) {
				accepted++;
				close(c);
			}
			while (recv(dgram, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
				accepted++;
		}
	}
	out("ACCEPTED %u SIGNALS %d", accepted, (int)signals_received);
	return 0;
}

static int run_sleep(int argc, char **argv)
{
	unsigned long ms = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000;
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	out("SLEPT %lu", ms);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	if (strcmp(mode, "euid") == 0) {
		out("EUID %u EGID %u", geteuid(), getegid());
		return 0;
	}
	/*
	 * Through the setuid copy, or as root: nothing else.  Inside brig this
	 * means the job runs as root, which the battery reports (uid_root)
	 * without trying anything that could reach the host.
	 */
	if (geteuid() != getuid() || getegid() != getgid() || getuid() == 0 || geteuid() == 0) {
		if (strcmp(mode, "battery") == 0) {
			out("CHECK uid_root ESCAPED running as uid %u euid %u: no other check is "
			    "tried", getuid(), geteuid());
			out("DONE 1");
			return 0;
		}
		out("escape: refusing to run '%s' with uid %u euid %u", mode, getuid(), geteuid());
		return 2;
	}
	if (strcmp(mode, "battery") == 0)
		return run_battery(argc, argv);
	if (strcmp(mode, "fork-bomb") == 0) {
		if (!in_brig_view()) {
			out("FORK-BOMB refused: / is not a tmpfs, so this is not a brig job's view");
			return 2;
		}
		run_fork_bomb();
	}
	if (strcmp(mode, "memory-bomb") == 0)
		return run_memory_bomb(argc, argv);
	if (strcmp(mode, "kill-all") == 0)
		return run_kill_all();
	if (strcmp(mode, "sleep") == 0)
		return run_sleep(argc, argv);
	if (strcmp(mode, "listen") == 0)
		return run_listen(argc, argv);
	if (strcmp(mode, "orphan") == 0)
		return run_orphan(argc, argv);
	return usage();
}
