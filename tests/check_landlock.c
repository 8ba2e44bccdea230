/*
 * Unit tests for daemon/sandbox/landlock.c: what a restricted process can
 * and cannot reach, on the host filesystem and network (no mount view, no
 * namespaces: Landlock alone must hold).
 *
 * Landlock is per process and irreversible, so every restriction happens
 * in a child forked by the test; the test process stays unrestricted to
 * hold temporary files, listeners and the other side of each check.  A
 * child reports its first failed expectation through a pipe and exits 1.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "sandbox/landlock.h"
#include "spec.h"

#define NOBODY_ID 65534

/* ---- fixture: a scratch tree under /tmp, one per test ---- */

static int abi;                 /* landlock_abi_version(), read once in main */
static char base[64];           /* /tmp/brig-landlock-XXXXXX */
static char ro_dir[128];        /* granted read-only; holds data = "hello" */
static char rw_dir[128];        /* granted read-write; holds existing */
static char other_dir[128];     /* never granted; holds secret */
static char lone_file[128];     /* a file granted on its own */

static void path_join(char *out, size_t size, const char *dir, const char *name)
{
	int n = snprintf(out, size, "%s/%s", dir, name);

	ck_assert(n > 0 && (size_t)n < size);
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	ck_assert_msg(fd >= 0, "create %s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void setup(void)
{
	char path[160];

	strcpy(base, "/tmp/brig-landlock-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(base));
	path_join(ro_dir, sizeof(ro_dir), base, "ro");
	path_join(rw_dir, sizeof(rw_dir), base, "rw");
	path_join(other_dir, sizeof(other_dir), base, "other");
	path_join(lone_file, sizeof(lone_file), base, "lone");
	ck_assert_int_eq(mkdir(ro_dir, 0755), 0);
	ck_assert_int_eq(mkdir(rw_dir, 0755), 0);
	ck_assert_int_eq(mkdir(other_dir, 0755), 0);
	path_join(path, sizeof(path), ro_dir, "data");
	write_file(path, "hello");
	path_join(path, sizeof(path), rw_dir, "existing");
	write_file(path, "existing");
	path_join(path, sizeof(path), other_dir, "secret");
	write_file(path, "secret");
	write_file(lone_file, "lone");
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void teardown(void)
{
	nftw(base, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- restricted children ---- */

static int report_fd = -1;      /* in a child: where its failure goes */

__attribute__((format(printf, 2, 3), noreturn))
static void child_fail(int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	n = snprintf(msg, sizeof(msg), "line %d: ", line);
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	(void)!write(report_fd, msg, strlen(msg));
	_exit(1);
}

#define CHILD_ASSERT(cond) do { \
	if (!(cond)) \
		child_fail(__LINE__, "%s (errno %s)", #cond, strerrorname_np(errno)); \
} while (0)

/* expr must fail (return -1) with exactly errno e. */
#define CHILD_DENIED(expr, e) do { \
	long r_; \
	errno = 0; \
	r_ = (long)(expr); \
	if (r_ != -1 || errno != (e)) \
		child_fail(__LINE__, "%s: expected %s, got %ld (errno %s)", #expr, \
			   strerrorname_np(e), r_, strerrorname_np(errno)); \
} while (0)

/* Run body in a forked child; fail the test with the child's message. */
static void run_in_child(void (*body)(void *), void *arg)
{
	char msg[1024];
	size_t len = 0;
	ssize_t n;
	int fds[2], status;
	pid_t pid;

	ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		report_fd = fds[1];
		body(arg);
		_exit(0);
	}
	close(fds[1]);
	while ((n = read(fds[0], msg + len, sizeof(msg) - 1 - len)) > 0)
		len += (size_t)n;
	msg[len] = '\0';
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "restricted child: %s (wait status 0x%x)", len ? msg : "no report", status);
}

static void child_restrict(const struct spec *s)
{
	char err[256] = "";
	int r;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(__LINE__, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	r = landlock_restrict(s, err, sizeof(err));
	if (r < 0)
		child_fail(__LINE__, "landlock_restrict: %s (%s)", strerror(-r), err);
}

static void grant(struct spec *s, const char *path, uint32_t access)
{
	struct spec_path *p;

	ck_assert_uint_lt(s->path_count, SPEC_MAX_PATHS);
	p = &s->paths[s->path_count++];
	p->kind = SPEC_PATH_BIND;
	ck_assert_uint_lt(strlen(path), sizeof(p->path));
	strcpy(p->path, path);
	p->access = access;
}

static void child_path(char *out, size_t size, const char *dir, const char *name)
{
	int n = snprintf(out, size, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= size)
		child_fail(__LINE__, "path too long: %s/%s", dir, name);
}

static bool child_can_read(const char *path)
{
	char buf[16];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool ok;

	if (fd < 0)
		return false;
	ok = read(fd, buf, sizeof(buf)) >= 0;
	close(fd);
	return ok;
}

/* ---- TCP and unix helpers (the test process's side) ---- */

static int tcp_listener(uint16_t *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 8), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* A port nothing listens on right now (racy, good enough for a test). */
static uint16_t free_tcp_port(void)
{
	uint16_t port;

	close(tcp_listener(&port));
	return port;
}

static int tcp_connect(uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int r;

	if (fd < 0)
		return -1;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	if (r < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
	} else {
		close(fd);
	}
	return r;
}

static int tcp_bind(uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int r;

	if (fd < 0)
		return -1;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r = bind(fd, (struct sockaddr *)&sin, sizeof(sin));
	if (r < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
	} else {
		close(fd);
	}
	return r;
}

static socklen_t abstract_address(struct sockaddr_un *sun, const char *name)
{
	size_t n = strlen(name);

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path + 1, name, n);   /* sun_path[0] == '\0': abstract */
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static int abstract_listener(const char *name)
{
	struct sockaddr_un sun;
	socklen_t len = abstract_address(&sun, name);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sun, len) < 0 || listen(fd, 4) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int abstract_connect(const char *name)
{
	struct sockaddr_un sun;
	socklen_t len = abstract_address(&sun, name);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int r;

	if (fd < 0)
		return -1;
	r = connect(fd, (struct sockaddr *)&sun, len);
	if (r < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
	} else {
		close(fd);
	}
	return r;
}

/* ---- tests ---- */

START_TEST(test_abi_version)
{
	ck_assert_int_ge(landlock_abi_version(), 1);
	ck_assert_int_eq(landlock_abi_version(), abi);
}
END_TEST

static void read_grant_child(void *arg)
{
	struct spec s;
	char path[160], buf[8] = "";
	int fd;

	(void)arg;
	spec_set_defaults(&s);
	grant(&s, ro_dir, SPEC_ACCESS_READ);
	child_restrict(&s);

	child_path(path, sizeof(path), ro_dir, "data");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	CHILD_ASSERT(fd >= 0);
	CHILD_ASSERT(read(fd, buf, sizeof(buf) - 1) == 5 && strcmp(buf, "hello") == 0);
	close(fd);
	fd = open(ro_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHILD_ASSERT(fd >= 0);
	close(fd);

	CHILD_DENIED(open(path, O_WRONLY | O_CLOEXEC), EACCES);
	CHILD_DENIED(unlink(path), EACCES);
	if (abi >= 3)
		CHILD_DENIED(truncate(path, 0), EACCES);
	child_path(path, sizeof(path), ro_dir, "new");
	CHILD_DENIED(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644), EACCES);
	CHILD_DENIED(mkdir(path, 0755), EACCES);

	/* Nothing outside the grant, not even its parent or a world-readable
	 * system file. */
	child_path(path, sizeof(path), other_dir, "secret");
	CHILD_DENIED(open(path, O_RDONLY | O_CLOEXEC), EACCES);
	CHILD_DENIED(open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC), EACCES);
	CHILD_DENIED(open("/etc/passwd", O_RDONLY | O_CLOEXEC), EACCES);
}

START_TEST(test_read_grant)
{
	run_in_child(read_grant_child, NULL);
}
END_TEST

static void write_grant_child(void *arg)
{
	struct spec s;
	char path[160], path2[160];
	int fd;

	(void)arg;
	spec_set_defaults(&s);
	grant(&s, rw_dir, SPEC_ACCESS_READ | SPEC_ACCESS_WRITE);
	grant(&s, ro_dir, SPEC_ACCESS_READ);
	child_restrict(&s);

	child_path(path, sizeof(path), rw_dir, "existing");
	CHILD_ASSERT(child_can_read(path));
	child_path(path, sizeof(path), rw_dir, "new");
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHILD_ASSERT(fd >= 0);
	CHILD_ASSERT(write(fd, "abc", 3) == 3);
	CHILD_ASSERT(ftruncate(fd, 1) == 0);
	close(fd);
	CHILD_ASSERT(truncate(path, 0) == 0);

	/* Entries of every kind but devices; moves within the grant. */
	child_path(path2, sizeof(path2), rw_dir, "sub");
	CHILD_ASSERT(mkdir(path2, 0755) == 0);
	child_path(path2, sizeof(path2), rw_dir, "sub/moved");
	CHILD_ASSERT(rename(path, path2) == 0);
	CHILD_ASSERT(unlink(path2) == 0);
	child_path(path2, sizeof(path2), rw_dir, "sub");
	CHILD_ASSERT(rmdir(path2) == 0);
	child_path(path, sizeof(path), rw_dir, "link");
	CHILD_ASSERT(symlink("existing", path) == 0);
	CHILD_ASSERT(unlink(path) == 0);
	child_path(path, sizeof(path), rw_dir, "fifo");
	CHILD_ASSERT(mkfifo(path, 0600) == 0);
	CHILD_ASSERT(unlink(path) == 0);
	/* The child is root (CAP_MKNOD): only Landlock stands in the way. */
	child_path(path, sizeof(path), rw_dir, "null");
	if (geteuid() == 0)
		CHILD_DENIED(mknod(path, S_IFCHR | 0666, makedev(1, 3)), EACCES);

	/* Out of the writable grant into a read-only one: refused. */
	child_path(path, sizeof(path), rw_dir, "existing");
	child_path(path2, sizeof(path2), ro_dir, "existing");
	CHILD_DENIED(rename(path, path2), EACCES);
	CHILD_DENIED(link(path, path2), EACCES);
}

START_TEST(test_write_grant)
{
	run_in_child(write_grant_child, NULL);
}
END_TEST

static void file_grant_child(void *arg)
{
	struct spec s;
	char path[160];
	int fd;

	(void)arg;
	spec_set_defaults(&s);
	/* Directory rights on a file would be EINVAL: landlock.c must cut
	 * them down to the file rights. */
	grant(&s, lone_file, SPEC_ACCESS_READ | SPEC_ACCESS_WRITE | SPEC_ACCESS_EXEC);
	child_restrict(&s);

	CHILD_ASSERT(child_can_read(lone_file));
	fd = open(lone_file, O_WRONLY | O_TRUNC | O_CLOEXEC);
	CHILD_ASSERT(fd >= 0);
	CHILD_ASSERT(write(fd, "x", 1) == 1);
	close(fd);
	child_path(path, sizeof(path), other_dir, "secret");
	CHILD_DENIED(open(path, O_RDONLY | O_CLOEXEC), EACCES);
	child_path(path, sizeof(path), base, "sibling");
	CHILD_DENIED(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644), EACCES);
}

START_TEST(test_file_grant)
{
	run_in_child(file_grant_child, NULL);
}
END_TEST

static void missing_path_child(void *arg)
{
	struct spec s;
	char path[160];

	(void)arg;
	spec_set_defaults(&s);
	child_path(path, sizeof(path), base, "does-not-exist");
	grant(&s, path, SPEC_ACCESS_READ | SPEC_ACCESS_WRITE);
	grant(&s, ro_dir, SPEC_ACCESS_READ);
	child_restrict(&s);
	child_path(path, sizeof(path), ro_dir, "data");
	CHILD_ASSERT(child_can_read(path));
}

START_TEST(test_missing_path_is_skipped)
{
	run_in_child(missing_path_child, NULL);
}
END_TEST

/* What a dynamically linked /usr/bin/true needs; on merged-/usr systems
 * the others are symlinks into /usr and missing ones are skipped. */
static void grant_system(struct spec *s, uint32_t access)
{
	grant(s, "/usr", access);
	grant(s, "/lib", access);
	grant(s, "/lib64", access);
	grant(s, "/bin", access);
	grant(s, "/etc/ld.so.cache", SPEC_ACCESS_READ);
}

/* Fork, exec path, return its exit status: 126 if exec was refused with
 * EACCES, 127 if it failed otherwise. */
static int child_run(const char *path)
{
	char *const argv[] = { (char *)path, NULL };
	char *const envp[] = { NULL };
	int status;
	pid_t pid = fork();

	if (pid < 0)
		child_fail(__LINE__, "fork: %s", strerror(errno));
	if (pid == 0) {
		execve(path, argv, envp);
		_exit(errno == EACCES ? 126 : 127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		child_fail(__LINE__, "%s did not exit (wait status 0x%x)", path, status);
	return WEXITSTATUS(status);
}

static void exec_denied_child(void *arg)
{
	char *const argv[] = { "true", NULL };
	char *const envp[] = { NULL };
	struct spec s;

	(void)arg;
	spec_set_defaults(&s);
	grant_system(&s, SPEC_ACCESS_READ);
	child_restrict(&s);

	CHILD_ASSERT(child_can_read("/usr/bin/true"));
	CHILD_DENIED(execve("/usr/bin/true", argv, envp), EACCES);
}

START_TEST(test_exec_needs_exec_grant)
{
	run_in_child(exec_denied_child, NULL);
}
END_TEST

static void exec_allowed_child(void *arg)
{
	const char *copy = arg;
	struct spec s;

	spec_set_defaults(&s);
	grant_system(&s, SPEC_ACCESS_READ | SPEC_ACCESS_EXEC);
	grant(&s, rw_dir, SPEC_ACCESS_READ | SPEC_ACCESS_WRITE);
	child_restrict(&s);

	CHILD_ASSERT(child_run("/usr/bin/true") == 0);
	CHILD_ASSERT(child_run("/bin/true") == 0);   /* through the /bin symlink */
	/* A writable grant is not an executable one: a job cannot drop a
	 * binary and run it. */
	CHILD_ASSERT(child_run(copy) == 126);
}

START_TEST(test_exec_with_exec_grant)
{
	char copy[160], buf[4096];
	int in, out;
	ssize_t n;

	path_join(copy, sizeof(copy), rw_dir, "true");
	in = open("/usr/bin/true", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(in, 0);
	out = open(copy, O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
	ck_assert_int_ge(out, 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ck_assert_int_eq(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
	run_in_child(exec_allowed_child, copy);
}
END_TEST

static void implicit_grants_child(void *arg)
{
	struct termios tio;
	struct spec s;
	char buf[16];
	int fd;

	(void)arg;
	spec_set_defaults(&s);
	child_restrict(&s);

	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	CHILD_ASSERT(fd >= 0);
	CHILD_ASSERT(write(fd, "x", 1) == 1);
	/* IOCTL_DEV is handled and granted nowhere (ABI >= 5): even the
	 * harmless isatty() probe is refused, with EACCES for ENOTTY. */
	if (abi >= 5)
		CHILD_DENIED(tcgetattr(fd, &tio), EACCES);
	close(fd);
	fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	CHILD_ASSERT(fd >= 0 && read(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf));
	close(fd);
	fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
	CHILD_ASSERT(fd >= 0);
	CHILD_DENIED(write(fd, "x", 1), ENOSPC);
	close(fd);
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	CHILD_ASSERT(fd >= 0 && read(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf));
	close(fd);
	CHILD_ASSERT(child_can_read("/dev/random"));
	CHILD_DENIED(open("/dev/urandom", O_WRONLY | O_CLOEXEC), EACCES);
	CHILD_DENIED(open("/dev", O_RDONLY | O_DIRECTORY | O_CLOEXEC), EACCES);

	CHILD_ASSERT(child_can_read("/proc/self/status"));
	fd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHILD_ASSERT(fd >= 0);
	close(fd);
	/* /proc is read-only to the job. */
	CHILD_DENIED(open("/proc/self/comm", O_WRONLY | O_CLOEXEC), EACCES);
	CHILD_DENIED(open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC), EACCES);
}

START_TEST(test_implicit_grants)
{
	run_in_child(implicit_grants_child, NULL);
}
END_TEST

struct ports {
	uint16_t granted;       /* connect allowed, a listener is there */
	uint16_t refused;       /* connect not allowed, a listener is there */
	uint16_t bindable;      /* bind allowed, free */
	uint16_t unbindable;    /* bind not allowed, free */
};

static void tcp_child(void *arg)
{
	const struct ports *p = arg;
	int fd;
	struct spec s;

	spec_set_defaults(&s);
	s.namespaces &= ~(uint32_t)SPEC_NS_NET;
	s.connect_ports[s.connect_count++] = p->granted;
	s.bind_ports[s.bind_count++] = p->bindable;
	child_restrict(&s);

	CHILD_ASSERT(tcp_connect(p->granted) == 0);
	CHILD_DENIED(tcp_connect(p->refused), EACCES);
	CHILD_ASSERT(tcp_bind(p->bindable) == 0);
	CHILD_DENIED(tcp_bind(p->unbindable), EACCES);
	/* An ephemeral port is a port like any other: not granted. */
	CHILD_DENIED(tcp_bind(0), EACCES);

	/* Landlock restricts TCP only (as of ABI 7): UDP still flows, which
	 * is why a job without port grants belongs in a network namespace.
	 * Should this start failing, the kernel grew UDP rules; update
	 * landlock.c to handle them. */
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CHILD_ASSERT(fd >= 0);
	{
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(p->refused) };

		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		CHILD_ASSERT(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	}
	close(fd);
}

START_TEST(test_tcp_ports)
{
	struct ports p;
	int granted_fd, refused_fd;

	if (abi < 4) {
		fprintf(stderr, "check_landlock: ABI %d < 4, TCP rules not tested\n", abi);
		return;
	}
	granted_fd = tcp_listener(&p.granted);
	refused_fd = tcp_listener(&p.refused);
	p.bindable = free_tcp_port();
	do
		p.unbindable = free_tcp_port();
	while (p.unbindable == p.bindable);
	run_in_child(tcp_child, &p);
	close(granted_fd);
	close(refused_fd);
}
END_TEST

static void abstract_unix_child(void *arg)
{
	const char *outside = arg;
	char inside[64];
	struct spec s;
	int fd;

	spec_set_defaults(&s);
	CHILD_ASSERT(abstract_connect(outside) == 0);   /* reachable before */
	child_restrict(&s);

	CHILD_DENIED(abstract_connect(outside), EPERM);
	/* Within its own domain a job may still use abstract sockets. */
	snprintf(inside, sizeof(inside), "brig-check-landlock-inside-%d", (int)getpid());
	fd = abstract_listener(inside);
	CHILD_ASSERT(fd >= 0);
	CHILD_ASSERT(abstract_connect(inside) == 0);
	close(fd);
}

START_TEST(test_abstract_unix_scoped)
{
	char name[64];
	int fd;

	if (abi < 6) {
		fprintf(stderr, "check_landlock: ABI %d < 6, scopes not tested\n", abi);
		return;
	}
	snprintf(name, sizeof(name), "brig-check-landlock-%d", (int)getpid());
	fd = abstract_listener(name);
	ck_assert_int_ge(fd, 0);
	run_in_child(abstract_unix_child, name);
	close(fd);
}
END_TEST

static void signal_child(void *arg)
{
	struct spec s;
	pid_t parent = getppid(), grandchild;
	int status;

	(void)arg;
	spec_set_defaults(&s);
	child_restrict(&s);

	/* Root, same uid, and still refused: the scope, not DAC, decides. */
	CHILD_DENIED(kill(parent, 0), EPERM);
	CHILD_DENIED(kill(parent, SIGUSR1), EPERM);
	CHILD_ASSERT(kill(getpid(), 0) == 0);
	/* Its own children share its domain and stay within reach.  SIGKILL:
	 * Check's SIGTERM handler, inherited, would signal the group. */
	grandchild = fork();
	CHILD_ASSERT(grandchild >= 0);
	if (grandchild == 0) {
		for (;;)
			pause();
	}
	CHILD_ASSERT(kill(grandchild, SIGKILL) == 0);
	CHILD_ASSERT(waitpid(grandchild, &status, 0) == grandchild);
	CHILD_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

START_TEST(test_signal_scoped)
{
	if (abi < 6) {
		fprintf(stderr, "check_landlock: ABI %d < 6, scopes not tested\n", abi);
		return;
	}
	/* Should the scope fail, SIGUSR1 must not kill the test. */
	signal(SIGUSR1, SIG_IGN);
	run_in_child(signal_child, NULL);
}
END_TEST

static void stacking_child(void *arg)
{
	const struct ports *p = arg;
	struct spec s;
	char path[160];

	spec_set_defaults(&s);
	s.namespaces &= ~(uint32_t)SPEC_NS_NET;
	grant(&s, rw_dir, SPEC_ACCESS_READ | SPEC_ACCESS_WRITE);
	grant(&s, ro_dir, SPEC_ACCESS_READ);
	s.connect_ports[s.connect_count++] = p->granted;
	child_restrict(&s);

	/* The second layer narrows rw to read-only, then tries to widen ro
	 * to read-write, to grant a new directory and a new port. */
	spec_set_defaults(&s);
	s.namespaces &= ~(uint32_t)SPEC_NS_NET;
	grant(&s, rw_dir, SPEC_ACCESS_READ);
	grant(&s, ro_dir, SPEC_ACCESS_READ | SPEC_ACCESS_WRITE);
	grant(&s, other_dir, SPEC_ACCESS_READ);
	s.connect_ports[s.connect_count++] = p->granted;
	s.connect_ports[s.connect_count++] = p->refused;
	child_restrict(&s);

	child_path(path, sizeof(path), rw_dir, "existing");
	CHILD_ASSERT(child_can_read(path));
	CHILD_DENIED(open(path, O_WRONLY | O_CLOEXEC), EACCES);
	child_path(path, sizeof(path), ro_dir, "data");
	CHILD_ASSERT(child_can_read(path));
	CHILD_DENIED(open(path, O_WRONLY | O_CLOEXEC), EACCES);
	child_path(path, sizeof(path), other_dir, "secret");
	CHILD_DENIED(open(path, O_RDONLY | O_CLOEXEC), EACCES);
	if (abi >= 4) {
		CHILD_ASSERT(tcp_connect(p->granted) == 0);
		CHILD_DENIED(tcp_connect(p->refused), EACCES);
	}
}

START_TEST(test_layers_stack)
{
	struct ports p = { 0 };
	int granted_fd, refused_fd;

	granted_fd = tcp_listener(&p.granted);
	refused_fd = tcp_listener(&p.refused);
	run_in_child(stacking_child, &p);
	close(granted_fd);
	close(refused_fd);
}
END_TEST

static void become_nobody(void)
{
	if (setgroups(0, NULL) < 0 || setresgid(NOBODY_ID, NOBODY_ID, NOBODY_ID) < 0 ||
	    setresuid(NOBODY_ID, NOBODY_ID, NOBODY_ID) < 0)
		child_fail(__LINE__, "become nobody: %s", strerror(errno));
}

static void no_new_privs_child(void *arg)
{
	struct spec s;
	char err[256] = "";
	int r;

	(void)arg;
	spec_set_defaults(&s);
	/* Without CAP_SYS_ADMIN, the kernel wants no_new_privs first: a
	 * setuid program run later could otherwise be confused by a domain
	 * its owner never asked for. */
	become_nobody();
	r = landlock_restrict(&s, err, sizeof(err));
	if (r != -EPERM)
		child_fail(__LINE__, "expected -EPERM, got %d (%s)", r, err);
	CHILD_ASSERT(strstr(err, "no_new_privs") != NULL);
	/* Nothing was half-applied. */
	CHILD_ASSERT(child_can_read("/etc/passwd"));
}

START_TEST(test_needs_no_new_privs)
{
	if (geteuid() != 0) {
		fprintf(stderr, "check_landlock: not root, no_new_privs test skipped\n");
		return;
	}
	run_in_child(no_new_privs_child, NULL);
}
END_TEST

static void unreachable_path_child(void *arg)
{
	struct spec s;
	char err[256] = "", path[160];
	int r;

	(void)arg;
	spec_set_defaults(&s);
	grant(&s, ro_dir, SPEC_ACCESS_READ);
	become_nobody();
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(__LINE__, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	/* mkdtemp made base 0700 root: nobody cannot even look the grant up. */
	r = landlock_restrict(&s, err, sizeof(err));
	if (r != -EACCES)
		child_fail(__LINE__, "expected -EACCES, got %d (%s)", r, err);
	snprintf(path, sizeof(path), "ro=%s", ro_dir);
	if (strstr(err, path) == NULL)
		child_fail(__LINE__, "error does not name the grant: %s", err);
}

START_TEST(test_unreachable_path_is_an_error)
{
	if (geteuid() != 0) {
		fprintf(stderr, "check_landlock: not root, unreachable path test skipped\n");
		return;
	}
	run_in_child(unreachable_path_child, NULL);
}
END_TEST

static Suite *landlock_suite(void)
{
	Suite *s = suite_create("landlock");
	TCase *tc;

	tc = tcase_create("abi");
	tcase_add_test(tc, test_abi_version);
	suite_add_tcase(s, tc);

	tc = tcase_create("filesystem");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_read_grant);
	tcase_add_test(tc, test_write_grant);
	tcase_add_test(tc, test_file_grant);
	tcase_add_test(tc, test_missing_path_is_skipped);
	tcase_add_test(tc, test_exec_needs_exec_grant);
	tcase_add_test(tc, test_exec_with_exec_grant);
	tcase_add_test(tc, test_implicit_grants);
	suite_add_tcase(s, tc);

	tc = tcase_create("network");
	tcase_add_test(tc, test_tcp_ports);
	suite_add_tcase(s, tc);

	tc = tcase_create("scopes");
	tcase_add_test(tc, test_abstract_unix_scoped);
	tcase_add_test(tc, test_signal_scoped);
	suite_add_tcase(s, tc);

	tc = tcase_create("layers");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_layers_stack);
	tcase_add_test(tc, test_needs_no_new_privs);
	tcase_add_test(tc, test_unreachable_path_is_an_error);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	abi = landlock_abi_version();
	if (abi < 1) {
		fprintf(stderr, "check_landlock: this kernel has no Landlock, skipping\n");
		return 77;   /* automake: skipped */
	}
	fprintf(stderr, "check_landlock: Landlock ABI %d\n", abi);
	sr = srunner_create(landlock_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
