/*
 * Unit tests for daemon/sandbox/mounts.c, the job's filesystem view.
 *
 * Each test builds a view the way a worker does: in a child with its own
 * mount and pid namespaces (it is pid 1 there, so /proc is the job's),
 * as root.  The child checks the view from inside with EXPECT(), which
 * reports the first failure through a pipe, and the test asserts on the
 * report.  Check's assertions are never used inside the view.  Needs root;
 * skipped (77) otherwise.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/mounts.h"
#include "spec.h"

#define MISSING_PATH "/nonexistent-brig-check-mounts"
#define OLD_ROOT "/.brig-oldroot"
#define MAX_MOUNTS 256

/* Host fixture, made once by the runner (see make_host_fixture). */
static char host_dir[64];
static char host_ro[128], host_rw[128], host_file[128], host_link[128];
static char host_sock[128], host_devlink[128], host_planted[128], host_victim[128];

/* ---- inside the view ---- */

struct report {
	int build_rc;
	char build_err[256];
	int line;                       /* of the failed EXPECT, 0 if none */
	char fail[768];
};

static int report_fd = -1;
static struct report report;

static void send_report(void)
{
	ssize_t n = write(report_fd, &report, sizeof(report));

	(void)n;
}

__attribute__((format(printf, 2, 3), noreturn))
static void view_fail(int line, const char *fmt, ...)
{
	va_list ap;

	report.line = line;
	va_start(ap, fmt);
	vsnprintf(report.fail, sizeof(report.fail), fmt, ap);
	va_end(ap);
	send_report();
	_exit(1);
}

#define EXPECT(cond, ...) do { if (!(cond)) view_fail(__LINE__, __VA_ARGS__); } while (0)

/* The names in dir, sorted, space-separated ("." and ".." left out). */
static void list_dir(const char *dir, char *out, size_t size)
{
	char names[64][NAME_MAX + 1];
	size_t count = 0, n = 0;
	struct dirent *d;
	DIR *dp = opendir(dir);

	EXPECT(dp, "opendir %s: %s", dir, strerror(errno));
	while ((d = readdir(dp)) && count < 64) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		snprintf(names[count++], sizeof(names[0]), "%s", d->d_name);
	}
	closedir(dp);
	qsort(names, count, sizeof(names[0]), (int (*)(const void *, const void *))strcmp);
	out[0] = '\0';
	for (size_t i = 0; i < count; i++)
		n += (size_t)snprintf(out + n, size - n, "%s%s", i ? " " : "", names[i]);
}

#define EXPECT_LISTING(dir, want) do { \
	char got_[1024]; \
	list_dir(dir, got_, sizeof(got_)); \
	EXPECT(strcmp(got_, want) == 0, "%s holds \"%s\", want \"%s\"", dir, got_, want); \
} while (0)

static void expect_file(int line, const char *path, const char *want)
{
	char buf[256];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		view_fail(line, "open %s: %s", path, strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		view_fail(line, "read %s: %s", path, strerror(errno));
	buf[n] = '\0';
	if (strcmp(buf, want) != 0)
		view_fail(line, "%s holds \"%s\", want \"%s\"", path, buf, want);
}
#define EXPECT_FILE(path, want) expect_file(__LINE__, path, want)

/* errno of creating path, 0 on success. */
static int create_error(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

/* Run argv[0] in a child; its exit status, or the errno of execv + 1000. */
static int run_program(const char *path)
{
	char *const argv[] = { (char *)path, NULL };
	int status;
	pid_t pid = fork();

	EXPECT(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		execv(path, argv);
		_exit(errno < 100 ? 100 + errno : 255);
	}
	EXPECT(waitpid(pid, &status, 0) == pid, "waitpid: %s", strerror(errno));
	EXPECT(WIFEXITED(status), "%s died with status %d", path, status);
	return WEXITSTATUS(status) >= 100 ? 1000 + WEXITSTATUS(status) - 100 : WEXITSTATUS(status);
}

struct mount_line {
	char point[256];
	char options[256];              /* per mount */
	char fstype[32];
	char super[256];                /* per superblock */
};

static size_t read_mountinfo(const char *file, struct mount_line *m, size_t max)
{
	char line[1024];
	size_t n = 0;
	FILE *f = fopen(file, "re");

	EXPECT(f, "open %s: %s", file, strerror(errno));
	while (fgets(line, sizeof(line), f) && n < max) {
		char *sep = strstr(line, " - ");

		EXPECT(sep, "bad mountinfo line %s", line);
		EXPECT(sscanf(line, "%*s %*s %*s %*s %255s %255s", m[n].point, m[n].options) == 2,
		       "bad mountinfo line %s", line);
		EXPECT(sscanf(sep + 3, "%31s %*s %255s", m[n].fstype, m[n].super) == 2,
		       "bad mountinfo line %s", line);
		n++;
	}
	fclose(f);
	return n;
}

/* True if the comma-separated list has opt. */
static bool has_option(const char *list, const char *opt)
{
	size_t n = strlen(opt);

	for (const char *p = list; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (strncmp(p, opt, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

static bool path_is_within(const char *child, const char *path)
{
	size_t n = strlen(path);

	if (strcmp(path, "/") == 0)
		return true;
	return strncmp(child, path, n) == 0 && (child[n] == '\0' || child[n] == '/');
}

static bool is_dev_node(const char *point)
{
	static const char *const nodes[] = { "/dev/null", "/dev/zero", "/dev/full",
					     "/dev/random", "/dev/urandom" };

	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++)
		if (strcmp(point, nodes[i]) == 0)
			return true;
	return false;
}

/* The deepest spec path that point is at or beneath, or NULL. */
static const struct spec_path *spec_path_for(const struct spec *s, const char *point)
{
	const struct spec_path *best = NULL;

	for (size_t i = 0; i < s->path_count; i++)
		if (path_is_within(point, s->paths[i].path) &&
		    (!best || strlen(s->paths[i].path) > strlen(best->path)))
			best = &s->paths[i];
	return best;
}

/*
 * Every mount in the view: where it may be (/, /proc, /dev, a /dev node or
 * at or beneath a spec path, nothing else of the host) and its flags.
 */
static void expect_mount_flags(const struct spec *s)
{
	static struct mount_line m[MAX_MOUNTS];
	size_t n = read_mountinfo("/proc/self/mountinfo", m, MAX_MOUNTS);
	size_t dev_nodes = 0;

	EXPECT(n >= 8, "only %zu mounts", n);
	for (size_t i = 0; i < n; i++) {
		const char *pt = m[i].point, *opt = m[i].options;
		const struct spec_path *p = spec_path_for(s, pt);

		EXPECT(has_option(opt, "nosuid"), "%s is not nosuid (%s)", pt, opt);
		if (is_dev_node(pt)) {
			dev_nodes++;
			EXPECT(has_option(opt, "noexec"), "%s is not noexec (%s)", pt, opt);
			EXPECT(strcmp(m[i].fstype, "devtmpfs") == 0 || strcmp(m[i].fstype, "tmpfs") == 0,
			       "%s is a %s", pt, m[i].fstype);
			continue;
		}
		EXPECT(has_option(opt, "nodev"), "%s is not nodev (%s)", pt, opt);
		if (strcmp(pt, "/") == 0) {
			EXPECT(i == 0 || strcmp(m[i].fstype, "tmpfs") == 0, "/ is a %s", m[i].fstype);
			EXPECT(has_option(opt, "ro") && has_option(opt, "noexec"), "/ is %s", opt);
		} else if (strcmp(pt, "/proc") == 0) {
			EXPECT(strcmp(m[i].fstype, "proc") == 0, "/proc is a %s", m[i].fstype);
			EXPECT(has_option(opt, "noexec"), "/proc is %s", opt);
			EXPECT(has_option(m[i].super, "hidepid=invisible") ||
			       has_option(m[i].super, "hidepid=2"), "/proc has %s", m[i].super);
		} else if (strcmp(pt, "/dev") == 0) {
			EXPECT(strcmp(m[i].fstype, "tmpfs") == 0, "/dev is a %s", m[i].fstype);
			EXPECT(has_option(opt, "ro") && has_option(opt, "noexec"), "/dev is %s", opt);
		} else {
			EXPECT(p, "%s (%s) is mounted but not in the spec", pt, m[i].fstype);
			EXPECT(has_option(opt, (p->access & SPEC_ACCESS_EXEC) ? "rw" : "noexec") ||
			       (p->access & SPEC_ACCESS_EXEC),
			       "%s should be noexec: %s", pt, opt);
			if (p->kind == SPEC_PATH_TMPFS && strcmp(pt, p->path) == 0)
				EXPECT(has_option(opt, "rw"), "tmpfs %s is %s", pt, opt);
			if (p->kind == SPEC_PATH_BIND && !(p->access & SPEC_ACCESS_WRITE))
				EXPECT(has_option(opt, "ro"), "%s should be ro: %s", pt, opt);
		}
	}
	EXPECT(dev_nodes == 5, "%zu /dev node mounts, want 5", dev_nodes);
}

/* The set of open fds as a string, e.g. "0 1 2 5" (opendir's own included). */
static void list_fds(char *out, size_t size)
{
	list_dir("/proc/self/fd", out, size);
}

/* ---- running a view ---- */

struct view_run {
	const struct spec *spec;
	void (*outer_setup)(const void *arg);   /* in the new mount namespace, before build */
	void (*inner_setup)(const void *arg);   /* in the job process, before build */
	void (*check)(const void *arg);         /* in the job process, after a good build */
	void (*check_failed)(const void *arg);  /* in the job process, after a failed one */
	const void *arg;
};

static void view_child(const struct view_run *run, int fd)
{
	/* As the orchestrator leaves a worker: fds 0-2, the channel at 3. */
	if (fd != 3 && dup3(fd, 3, O_CLOEXEC) < 0)
		_exit(95);
	if (close_range(4, ~0u, 0) < 0)
		_exit(96);
	report_fd = 3;
	memset(&report, 0, sizeof(report));
	if (run->inner_setup)
		run->inner_setup(run->arg);
	report.build_rc = mounts_build_view(run->spec, report.build_err, sizeof(report.build_err));
	if (report.build_rc == 0 && run->check)
		run->check(run->arg);
	if (report.build_rc != 0 && run->check_failed)
		run->check_failed(run->arg);
	send_report();
	_exit(0);
}

/* Build the view in a fresh worker-like child; the report lands in out. */
static void run_view(const struct view_run *run, struct report *out)
{
	int fds[2], status;
	ssize_t got = 0, n;
	pid_t pid;

	ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		pid_t job;

		close(fds[0]);
		/* The orchestrator clones with these (and more); the view needs
		 * only a mount namespace, and a pid namespace for /proc. */
		if (unshare(CLONE_NEWNS | CLONE_NEWPID) < 0)
			_exit(90);
		if (run->outer_setup)
			run->outer_setup(run->arg);
		job = fork();
		if (job < 0)
			_exit(91);
		if (job == 0)
			view_child(run, fds[1]);
		close(fds[1]);
		if (waitpid(job, &status, 0) != job)
			_exit(92);
		_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	}
	close(fds[1]);
	memset(out, 0, sizeof(*out));
	while (got < (ssize_t)sizeof(*out) &&
	       (n = read(fds[0], (char *)out + got, sizeof(*out) - (size_t)got)) > 0)
		got += n;
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(got == (ssize_t)sizeof(*out), "the view child sent no report (status %d)",
		      status);
}

/* Build, expect success and every EXPECT to hold. */
static void expect_view(const struct view_run *run)
{
	struct report r;

	run_view(run, &r);
	ck_assert_msg(r.build_rc == 0, "mounts_build_view: %d (%s)", r.build_rc, r.build_err);
	ck_assert_msg(r.line == 0, "line %d: %s", r.line, r.fail);
}

/* Build, expect failure with rc and an err that contains want. */
static void expect_build_error(const struct spec *s, int rc, const char *want)
{
	struct view_run run = { .spec = s };
	struct report r;

	run_view(&run, &r);
	ck_assert_msg(r.build_rc == rc, "mounts_build_view: %d (%s), want %d", r.build_rc,
		      r.build_err, rc);
	ck_assert_msg(strstr(r.build_err, want), "err \"%s\" does not say \"%s\"", r.build_err,
		      want);
}

/* ---- specs ---- */

static void add_path(struct spec *s, enum spec_path_kind kind, const char *path,
		     uint32_t access, uint64_t tmpfs_size, bool optional)
{
	struct spec_path *p;

	ck_assert_uint_lt(s->path_count, SPEC_MAX_PATHS);
	p = &s->paths[s->path_count++];
	p->kind = kind;
	snprintf(p->path, sizeof(p->path), "%s", path);
	p->access = access;
	p->tmpfs_size = tmpfs_size;
	p->optional = optional;
}

#define RO SPEC_ACCESS_READ
#define RW (SPEC_ACCESS_READ | SPEC_ACCESS_WRITE)
#define RX (SPEC_ACCESS_READ | SPEC_ACCESS_EXEC)

static void add_bind(struct spec *s, const char *path, uint32_t access)
{
	add_path(s, SPEC_PATH_BIND, path, access, 0, false);
}

static void add_tmpfs(struct spec *s, const char *path, uint64_t size)
{
	add_path(s, SPEC_PATH_TMPFS, path, RW, size, false);
}

/* /usr and the library directories, which may be symlinks into /usr. */
static void add_system(struct spec *s, uint32_t access)
{
	add_bind(s, "/usr", access);
	add_path(s, SPEC_PATH_BIND, "/lib", access, 0, true);
	add_path(s, SPEC_PATH_BIND, "/lib64", access, 0, true);
	add_path(s, SPEC_PATH_BIND, "/lib32", access, 0, true);
	add_path(s, SPEC_PATH_BIND, "/libx32", access, 0, true);
}

static void new_spec(struct spec *s)
{
	spec_set_defaults(s);
}

/* ---- the view's shape ---- */

static void check_root_holds_only_the_spec(const void *arg)
{
	char cwd[64];
	const char *host_base = strrchr(host_dir, '/') + 1;

	(void)arg;
	EXPECT_LISTING("/", "dev proc tmp usr");
	EXPECT_LISTING("/tmp", host_base);
	EXPECT_LISTING(host_dir, "ro");
	EXPECT(access(OLD_ROOT, F_OK) < 0 && errno == ENOENT, "%s is still there", OLD_ROOT);
	EXPECT(access(MISSING_PATH, F_OK) < 0 && errno == ENOENT, "missing path appeared");
	EXPECT(getcwd(cwd, sizeof(cwd)) && strcmp(cwd, "/") == 0, "cwd is %s", cwd);
	EXPECT(mkdir("/new", 0755) < 0 && errno == EROFS, "mkdir in / did not fail EROFS: %s",
	       strerror(errno));
	EXPECT(mkdir("/tmp/new", 0755) < 0 && errno == EROFS, "mkdir in /tmp: %s",
	       strerror(errno));
}

START_TEST(test_root_holds_only_the_spec)
{
	struct spec s;
	struct view_run run = { .spec = &s, .check = check_root_holds_only_the_spec };

	new_spec(&s);
	add_bind(&s, "/usr", RX);
	add_bind(&s, host_ro, RO);
	add_path(&s, SPEC_PATH_BIND, MISSING_PATH, RO, 0, true);
	expect_view(&run);
}
END_TEST

static void check_mount_flags(const void *arg)
{
	expect_mount_flags(arg);
}

static struct spec *every_kind_spec(struct spec *s)
{
	new_spec(s);
	add_system(s, RX);
	add_bind(s, host_ro, RO);
	add_bind(s, host_rw, RW);
	add_bind(s, host_file, RO);
	add_tmpfs(s, "/scratch", 1 << 20);
	add_path(s, SPEC_PATH_TMPFS, "/exec-scratch", RW | SPEC_ACCESS_EXEC, 1 << 20, false);
	return s;
}

START_TEST(test_every_mount_nosuid_nodev)
{
	struct spec s;
	struct view_run run = { .spec = every_kind_spec(&s), .check = check_mount_flags,
				.arg = &s };

	expect_view(&run);
}
END_TEST

/* ---- binds ---- */

static void check_ro_bind(const void *arg)
{
	char path[256];

	(void)arg;
	snprintf(path, sizeof(path), "%s/hello.txt", host_ro);
	EXPECT_FILE(path, "hello\n");
	EXPECT(create_error(path) == EROFS, "overwriting %s: %s", path,
	       strerror(create_error(path)));
	EXPECT(unlink(path) < 0 && errno == EROFS, "unlink %s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/new.txt", host_ro);
	EXPECT(create_error(path) == EROFS, "creating %s: %s", path,
	       strerror(create_error(path)));
}

START_TEST(test_ro_bind_is_read_only)
{
	struct spec s;
	struct view_run run = { .spec = &s, .check = check_ro_bind };

	new_spec(&s);
	add_bind(&s, host_ro, RO);
	expect_view(&run);
}
END_TEST

static void check_rw_bind(const void *arg)
{
	char path[256];
	int fd;

	(void)arg;
	snprintf(path, sizeof(path), "%s/written.txt", host_rw);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	EXPECT(fd >= 0, "create %s: %s", path, strerror(errno));
	EXPECT(write(fd, "from the view\n", 14) == 14, "write %s: %s", path, strerror(errno));
	close(fd);
}

START_TEST(test_rw_bind_writes_reach_the_host)
{
	struct spec s;
	struct view_run run = { .spec = &s, .check = check_rw_bind };
	char path[256], buf[64] = "";
	FILE *f;

	new_spec(&s);
	add_bind(&s, host_rw, RW);
	expect_view(&run);
	snprintf(path, sizeof(path), "%s/written.txt", host_rw);
	f = fopen(path, "re");
	ck_assert_msg(f, "%s is not on the host", path);
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	unlink(path);
	ck_assert_str_eq(buf, "from the view\n");
}
END_TEST

static void check_file_bind(const void *arg)
{
	struct stat st;

	(void)arg;
	EXPECT_LISTING(host_dir, "file.txt");
	EXPECT(lstat(host_file, &st) == 0 && S_ISREG(st.st_mode), "%s is not a file", host_file);
	EXPECT_FILE(host_file, "file\n");
	EXPECT(create_error(host_file) == EROFS, "overwriting %s: %s", host_file,
	       strerror(create_error(host_file)));
}

START_TEST(test_file_is_bound_as_a_file)
{
	struct spec s;
	struct view_run run = { .spec = &s, .check = check_file_bind };

	new_spec(&s);
	add_bind(&s, host_file, RO);
	expect_view(&run);
}
END_TEST

static void check_symlink_source(const void *arg)
{
	struct stat st;
	char path[256];

	(void)arg;
	EXPECT(lstat(host_link, &st) == 0 && S_ISDIR(st.st_mode),
	       "%s is not a directory in the view", host_link);
	snprintf(path, sizeof(path), "%s/hello.txt", host_link);
	EXPECT_FILE(path, "hello\n");
	/* The link's target itself is not in the view. */
	EXPECT(access(host_ro, F_OK) < 0 && errno == ENOENT, "%s is in the view", host_ro);
}

START_TEST(test_symlink_source_is_resolved_on_the_host)
{
	struct spec s;
	struct view_run run = { .spec = &s, .check = check_symlink_source };

	new_spec(&s);
	add_bind(&s, host_link, RO);
	expect_view(&run);
}
END_TEST

/* A host submount beneath a bound directory, made in the worker's namespace. */
static void mount_host_submount(const void *arg)
{
	char path[256];

	(void)arg;
	snprintf(path, sizeof(path), "%s/sub", host_ro);
	/* Private first: on a host with shared mounts this would leak. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", path, "tmpfs", 0, "size=64k") < 0)
		_exit(93);
	snprintf(path, sizeof(path), "%s/sub/inside", host_ro);
	if (mknod(path, S_IFREG | 0644, 0) < 0)
		_exit(94);
}

static void check_submount_restricted(const void *arg)
{
	char path[256];
	static struct mount_line m[MAX_MOUNTS];
	size_t n = read_mountinfo("/proc/self/mountinfo", m, MAX_MOUNTS);
	bool found = false;

	snprintf(path, sizeof(path), "%s/sub", host_ro);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(m[i].point, path) != 0)
			continue;
		found = true;
		EXPECT(has_option(m[i].options, "ro") && has_option(m[i].options, "nosuid") &&
		       has_option(m[i].options, "nodev") && has_option(m[i].options, "noexec"),
		       "submount %s is %s", path, m[i].options);
	}
	if (arg) {
		/* Recursive bind (mount_setattr): the submount is there, restricted. */
		EXPECT(found, "submount %s is missing", path);
		snprintf(path, sizeof(path), "%s/sub/inside", host_ro);
		EXPECT(create_error(path) == EROFS, "writing %s: %s", path,
		       strerror(create_error(path)));
	} else {
		/* Fallback: no recursive bind, the submount is left out. */
		EXPECT(!found, "submount %s is there without mount_setattr", path);
		EXPECT_LISTING(path, "");
	}
}

/*
 * Old kernels have no mount_setattr: fake one with a filter that answers
 * ENOSYS, so the remount fallback is tested on this kernel too.
 */
static void hide_mount_setattr(const void *arg)
{
	struct sock_filter insns[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mount_setattr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(insns) / sizeof(insns[0]), .filter = insns };

	(void)arg;
	EXPECT(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0,
	       "seccomp: %s", strerror(errno));
	EXPECT(syscall(SYS_mount_setattr, -1, "", 0, NULL, 0) < 0 && errno == ENOSYS,
	       "mount_setattr is still there");
}

static void check_submount_recursive(const void *arg)
{
	const struct spec *s = arg;

	check_submount_restricted(s);
	expect_mount_flags(s);
}

static void check_submount_fallback(const void *arg)
{
	const struct spec *s = arg;

	check_submount_restricted(NULL);
	expect_mount_flags(s);
	check_ro_bind(NULL);
}

START_TEST(test_recursive_bind_restricts_submounts)
{
	struct spec s;
	struct view_run run = { .spec = &s, .outer_setup = mount_host_submount,
				.check = check_submount_recursive, .arg = &s };

	new_spec(&s);
	add_bind(&s, host_ro, RO);
	expect_view(&run);
}
END_TEST

START_TEST(test_fallback_without_mount_setattr)
{
	struct spec s;
	struct view_run run = { .spec = every_kind_spec(&s), .outer_setup = mount_host_submount,
				.inner_setup = hide_mount_setattr,
				.check = check_submount_fallback, .arg = &s };

	expect_view(&run);
}
END_TEST

/* ---- exec ---- */

static void check_noexec(const void *arg)
{
	int rc = run_program("/usr/bin/true");

	(void)arg;
	EXPECT(rc == 1000 + EACCES, "/usr/bin/true from a bind without exec: %d, want %d",
	       rc, 1000 + EACCES);
}

START_TEST(test_bind_without_exec_is_noexec)
{
	struct spec s;
	struct view_run run = { .spec = &s, .check = check_noexec };

	new_spec(&s);
	add_system(&s, RO);
	expect_view(&run);
}
END_TEST

static void check_exec(const void *arg)
{
	int rc = run_program("/usr/bin/true");

	(void)arg;
	EXPECT(rc == 0, "/usr/bin/true from an exec bind: %d", rc);
}

START_TEST(test_bind_with_exec_runs_programs)
{
	struct spec s;
	struct view_run run = { .spec = &s, .check = check_exec };

	new_spec(&s);
	add_system(&s, RX);
	expect_view(&run);
}
END_TEST

/* ---- tmpfs ---- */

static void check_tmpfs(const void *arg)
{
	static char block[64 * 1024];
	struct stat st;
	ssize_t n = 0;
	int fd;

	(void)arg;
	EXPECT(stat("/a/b/scratch", &st) == 0 && (st.st_mode & 07777) == 01777,
	       "/a/b/scratch mode %o", st.st_mode & 07777);
	EXPECT_LISTING("/", "a dev proc");
	EXPECT(mkdir("/a/new", 0755) < 0 && errno == EROFS, "parents are writable");
	fd = open("/a/b/scratch/file", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	EXPECT(fd >= 0, "create on tmpfs: %s", strerror(errno));
	EXPECT(write(fd, "x", 1) == 1, "write on tmpfs: %s", strerror(errno));
	for (int i = 0; i < 16 && n >= 0; i++)
		n = write(fd, block, sizeof(block));
	EXPECT(n < 0 && errno == ENOSPC, "1 MiB into a 256 KiB tmpfs: %zd, %s", n,
	       strerror(errno));
	close(fd);
	/* Also usable by the unprivileged job. */
	EXPECT(setresgid(65534, 65534, 65534) == 0 && setresuid(65534, 65534, 65534) == 0,
	       "drop to nobody: %s", strerror(errno));
	EXPECT(create_error("/a/b/scratch/job") == 0, "nobody cannot write the tmpfs: %s",
	       strerror(create_error("/a/b/scratch/job")));
}

START_TEST(test_tmpfs_is_writable_and_bounded)
{
	struct spec s;
	struct view_run run = { .spec = &s, .check = check_tmpfs };

	new_spec(&s);
	add_tmpfs(&s, "/a/b/scratch", 256 * 1024);
	expect_view(&run);
}
END_TEST

static void check_bind_inside_tmpfs(const void *arg)
{
	char path[256];

	(void)arg;
	EXPECT_LISTING("/tmp", strrchr(host_dir, '/') + 1);
	EXPECT_LISTING(host_dir, "ro");
	snprintf(path, sizeof(path), "%s/hello.txt", host_ro);
	EXPECT_FILE(path, "hello\n");
	EXPECT(create_error("/tmp/mine") == 0, "/tmp is not writable: %s",
	       strerror(create_error("/tmp/mine")));
	expect_mount_flags(arg);
}

START_TEST(test_bind_inside_tmpfs)
{
	struct spec s;
	struct view_run run = { .spec = &s, .check = check_bind_inside_tmpfs, .arg = &s };

	new_spec(&s);
	/* Given out of order: the parent must still be mounted first. */
	add_bind(&s, host_ro, RO);
	add_tmpfs(&s, "/tmp", 1 << 20);
	expect_view(&run);
	/* The mount point was made on the tmpfs, not on the host. */
	ck_assert_int_eq(access("/tmp/mine", F_OK), -1);
}
END_TEST

static void set_strict_umask(const void *arg)
{
	(void)arg;
	umask(077);
}

static void check_job_can_reach_binds(const void *arg)
{
	char path[256];

	(void)arg;
	EXPECT(setresgid(65534, 65534, 65534) == 0 && setresuid(65534, 65534, 65534) == 0,
	       "drop to nobody: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/hello.txt", host_ro);
	EXPECT_FILE(path, "hello\n");
	EXPECT(access("/usr/bin/true", X_OK) == 0, "nobody cannot reach /usr/bin/true: %s",
	       strerror(errno));
	EXPECT(run_program("/usr/bin/true") == 0, "nobody cannot run /usr/bin/true");
}

START_TEST(test_unprivileged_job_reaches_binds_whatever_the_umask)
{
	struct spec s;
	struct view_run run = { .spec = &s, .inner_setup = set_strict_umask,
				.check = check_job_can_reach_binds };

	new_spec(&s);
	add_system(&s, RX);
	add_bind(&s, host_ro, RO);
	expect_view(&run);
}
END_TEST

/* ---- /proc, /dev ---- */

static void check_proc(const void *arg)
{
	pid_t host_pid = *(const pid_t *)arg;
	char path[64], target[64] = "";

	EXPECT(getpid() == 1, "the job is pid %d", getpid());
	EXPECT(access("/proc/1/status", R_OK) == 0, "/proc/1: %s", strerror(errno));
	snprintf(path, sizeof(path), "/proc/%d", host_pid);
	EXPECT(access(path, F_OK) < 0 && errno == ENOENT, "%s (the host's) is visible", path);
	EXPECT(readlink("/proc/1/root", target, sizeof(target) - 1) > 0 &&
	       strcmp(target, "/") == 0, "/proc/1/root is %s", target);
	EXPECT(readlink("/proc/self", target, sizeof(target) - 1) > 0, "/proc/self");
}

START_TEST(test_proc_is_the_job_pid_namespace)
{
	struct spec s;
	pid_t me = getpid();
	struct view_run run = { .spec = &s, .check = check_proc, .arg = &me };

	new_spec(&s);
	expect_view(&run);
}
END_TEST

static void check_dev(const void *arg)
{
	unsigned char buf[32];
	char target[64] = "";
	int fd;

	(void)arg;
	EXPECT_LISTING("/dev", "fd full null random stderr stdin stdout urandom zero");
	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	EXPECT(fd >= 0 && write(fd, "x", 1) == 1, "write /dev/null: %s", strerror(errno));
	close(fd);
	fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	memset(buf, 0xff, sizeof(buf));
	EXPECT(fd >= 0 && read(fd, buf, sizeof(buf)) == sizeof(buf) && buf[0] == 0 &&
	       buf[31] == 0, "read /dev/zero: %s", strerror(errno));
	close(fd);
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	EXPECT(fd >= 0 && read(fd, buf, sizeof(buf)) == sizeof(buf), "read /dev/urandom: %s",
	       strerror(errno));
	close(fd);
	fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
	EXPECT(fd >= 0 && write(fd, "x", 1) < 0 && errno == ENOSPC, "write /dev/full: %s",
	       strerror(errno));
	close(fd);
	EXPECT(access("/dev/sda", F_OK) < 0 && errno == ENOENT, "/dev/sda exists");
	EXPECT(access("/dev/vda", F_OK) < 0 && errno == ENOENT, "/dev/vda exists");
	EXPECT(readlink("/dev/fd", target, sizeof(target) - 1) > 0 &&
	       strcmp(target, "/proc/self/fd") == 0, "/dev/fd -> %s", target);
	EXPECT(access("/dev/stdin", F_OK) == 0, "/dev/stdin: %s", strerror(errno));
	EXPECT(create_error("/dev/new") == EROFS, "creating in /dev: %s",
	       strerror(create_error("/dev/new")));
	EXPECT(mknod("/dev/sda", S_IFBLK | 0600, makedev(8, 0)) < 0 && errno == EROFS,
	       "mknod in /dev: %s", strerror(errno));
}

START_TEST(test_dev_holds_only_the_safe_nodes)
{
	struct spec s;
	struct view_run run = { .spec = &s, .check = check_dev };

	new_spec(&s);
	expect_view(&run);
}
END_TEST

/* ---- the host ---- */

static void check_host_unreachable(const void *arg)
{
	struct stat root, parent;
	char cwd[64] = "";

	(void)arg;
	EXPECT(access("/etc/shadow", F_OK) < 0 && errno == ENOENT, "/etc/shadow is visible");
	EXPECT(access("/etc", F_OK) < 0 && errno == ENOENT, "/etc is visible");
	EXPECT(stat("/", &root) == 0 && stat("/..", &parent) == 0 &&
	       root.st_dev == parent.st_dev && root.st_ino == parent.st_ino, "/.. is not /");
	EXPECT(chdir("/usr/../..") == 0 && getcwd(cwd, sizeof(cwd)) && strcmp(cwd, "/") == 0,
	       ".. from / went to %s", cwd);
	EXPECT(chroot("/") == 0 && chdir("..") == 0 && getcwd(cwd, sizeof(cwd)) &&
	       strcmp(cwd, "/") == 0, "chroot and .. went to %s", cwd);
	EXPECT(access("/etc/shadow", F_OK) < 0, "/etc/shadow after chroot dance");
	expect_mount_flags(arg);
}

START_TEST(test_host_root_is_unreachable)
{
	struct spec s;
	struct view_run run = { .spec = &s, .check = check_host_unreachable, .arg = &s };

	new_spec(&s);
	add_bind(&s, "/usr", RX);
	expect_view(&run);
}
END_TEST

static char fds_before[1024];

static void note_fds(const void *arg)
{
	(void)arg;
	list_fds(fds_before, sizeof(fds_before));
}

static void check_fds(const void *arg)
{
	char after[1024];
	char target[256] = "";

	(void)arg;
	list_fds(after, sizeof(after));
	EXPECT(strcmp(fds_before, after) == 0, "fds before \"%s\", after \"%s\"", fds_before,
	       after);
	/* fd 3, the report pipe, stands for the job channel; 0-2 are the
	 * caller's to choose (a worker's are /dev/null). */
	EXPECT(strcmp(after, "0 1 2 3 4") == 0, "open fds: %s", after);
	EXPECT(readlink("/proc/self/fd/3", target, sizeof(target) - 1) > 0 &&
	       strncmp(target, "pipe:", 5) == 0, "fd 3 -> %s", target);
}

START_TEST(test_no_fd_left_behind)
{
	struct spec s;
	struct view_run run = { .spec = every_kind_spec(&s), .inner_setup = note_fds,
				.check = check_fds };

	expect_view(&run);
}
END_TEST

/* A copy of the test's own mount table. */
static char *slurp(const char *path)
{
	static char buf[64 * 1024];
	size_t n;
	FILE *f = fopen(path, "re");

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strdup(buf);
}

START_TEST(test_mounts_do_not_leak_to_the_host)
{
	struct spec s;
	struct view_run run = { .spec = every_kind_spec(&s) };
	char *before, *after;

	/*
	 * Stand-in host: this test process's own mount namespace, cut off from
	 * the real host, then made shared.  The worker's copies join its peer
	 * groups, so any mount it failed to make private would show up here.
	 */
	ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_SHARED, NULL), 0);
	before = slurp("/proc/self/mountinfo");
	expect_view(&run);
	after = slurp("/proc/self/mountinfo");
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	ck_assert_int_eq(access("/tmp/.brig-oldroot", F_OK), -1);
}
END_TEST

/* ---- bad specs ---- */

START_TEST(test_missing_path_fails_naming_it)
{
	struct spec s;

	new_spec(&s);
	add_bind(&s, "/usr", RX);
	add_bind(&s, MISSING_PATH, RO);
	expect_build_error(&s, -ENOENT, "ro=" MISSING_PATH ": No such file or directory");
}
END_TEST

static char mountinfo_before[64 * 1024];

static void read_text(const char *path, char *buf, size_t size)
{
	size_t n;
	FILE *f = fopen(path, "re");

	EXPECT(f, "open %s: %s", path, strerror(errno));
	n = fread(buf, 1, size - 1, f);
	fclose(f);
	buf[n] = '\0';
}

static void note_mountinfo(const void *arg)
{
	(void)arg;
	read_text("/proc/self/mountinfo", mountinfo_before, sizeof(mountinfo_before));
}

static void check_mountinfo_unchanged(const void *arg)
{
	static char after[sizeof(mountinfo_before)];
	char cwd[256];

	(void)arg;
	read_text("/proc/self/mountinfo", after, sizeof(after));
	EXPECT(strcmp(mountinfo_before, after) == 0, "a failed build changed the mounts");
	EXPECT(getcwd(cwd, sizeof(cwd)), "getcwd: %s", strerror(errno));
}

START_TEST(test_failed_build_touches_nothing)
{
	struct spec s;
	struct view_run run = { .spec = &s, .inner_setup = note_mountinfo,
				.check_failed = check_mountinfo_unchanged };
	struct report r;

	new_spec(&s);
	add_bind(&s, "/usr", RX);
	add_tmpfs(&s, "/scratch", 1 << 20);
	add_bind(&s, MISSING_PATH, RW);
	run_view(&run, &r);
	ck_assert_int_eq(r.build_rc, -ENOENT);
	ck_assert_str_eq(r.build_err, "rw=" MISSING_PATH ": No such file or directory");
	ck_assert_msg(r.line == 0, "line %d: %s", r.line, r.fail);
}
END_TEST

START_TEST(test_optional_missing_path_is_skipped)
{
	struct spec s;
	struct view_run run = { .spec = &s, .check = check_root_holds_only_the_spec };

	new_spec(&s);
	add_bind(&s, "/usr", RX);
	add_bind(&s, host_ro, RO);
	add_path(&s, SPEC_PATH_BIND, MISSING_PATH "/deeper", RO, 0, true);
	add_path(&s, SPEC_PATH_BIND, "/etc/passwd/not-a-dir", RO, 0, true);
	expect_view(&run);
}
END_TEST

START_TEST(test_socket_is_refused)
{
	struct spec s;

	new_spec(&s);
	add_bind(&s, host_sock, RO);
	expect_build_error(&s, -EINVAL, "not a regular file or directory");
}
END_TEST

START_TEST(test_symlink_to_device_is_refused)
{
	struct spec s;

	new_spec(&s);
	add_bind(&s, host_devlink, RW);
	expect_build_error(&s, -EINVAL, "not a regular file or directory");
}
END_TEST

START_TEST(test_nothing_is_created_inside_a_bind)
{
	const char *const binds[] = { host_rw, host_ro };
	struct spec s;
	char path[256];

	/* Not even in a writable one: a mount point there would be a new
	 * directory on the host. */
	for (size_t i = 0; i < 2; i++) {
		new_spec(&s);
		add_bind(&s, binds[i], i ? RO : RW);
		snprintf(path, sizeof(path), "%s/newdir/deeper", binds[i]);
		add_tmpfs(&s, path, 1 << 20);
		expect_build_error(&s, -ENOENT, "does not exist inside a bind");
		snprintf(path, sizeof(path), "%s/newdir", binds[i]);
		ck_assert_int_eq(access(path, F_OK), -1);
	}
}
END_TEST

START_TEST(test_symlink_mount_point_is_refused)
{
	static const char *const leaves[] = { "evil", "evildir/sub" };
	struct spec s;
	char path[256];

	for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
		new_spec(&s);
		add_bind(&s, host_planted, RW);
		snprintf(path, sizeof(path), "%s/%s", host_planted, leaves[i]);
		add_tmpfs(&s, path, 1 << 20);
		expect_build_error(&s, -ELOOP, "is a symlink");
	}
	/* Nothing was made where the links point. */
	snprintf(path, sizeof(path), "%s/sub", host_victim);
	ck_assert_int_eq(access(path, F_OK), -1);
}
END_TEST

START_TEST(test_bad_paths_are_refused)
{
	static const struct {
		const char *path;
		enum spec_path_kind kind;
		uint64_t size;
		const char *want;
	} cases[] = {
		{ "/proc/sys", SPEC_PATH_BIND, 0, "built by brig" },
		{ "/dev/sda", SPEC_PATH_BIND, 0, "built by brig" },
		{ OLD_ROOT, SPEC_PATH_TMPFS, 4096, "reserved" },
		{ OLD_ROOT "/etc", SPEC_PATH_BIND, 0, "reserved" },
		{ "/usr/../etc", SPEC_PATH_BIND, 0, "not normalised" },
		{ "/usr//lib", SPEC_PATH_BIND, 0, "not normalised" },
		{ "relative", SPEC_PATH_BIND, 0, "absolute" },
		{ "/", SPEC_PATH_BIND, 0, "absolute path below /" },
		{ "/scratch", SPEC_PATH_TMPFS, 0, "needs a size" },
	};
	struct spec s;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		new_spec(&s);
		add_path(&s, cases[i].kind, cases[i].path, RO, cases[i].size, false);
		expect_build_error(&s, -EINVAL, cases[i].want);
	}
}
END_TEST

/* ---- fixture ---- */

static void write_host_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

static void make_host_fixture(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char path[256];
	int fd;

	snprintf(host_dir, sizeof(host_dir), "/tmp/brig-check-mounts-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(host_dir));
	ck_assert_int_eq(chmod(host_dir, 0755), 0);
	snprintf(host_ro, sizeof(host_ro), "%s/ro", host_dir);
	snprintf(host_rw, sizeof(host_rw), "%s/rw", host_dir);
	snprintf(host_file, sizeof(host_file), "%s/file.txt", host_dir);
	snprintf(host_link, sizeof(host_link), "%s/link", host_dir);
	snprintf(host_sock, sizeof(host_sock), "%s/sock", host_dir);
	snprintf(host_devlink, sizeof(host_devlink), "%s/devlink", host_dir);
	snprintf(host_planted, sizeof(host_planted), "%s/planted", host_dir);
	snprintf(host_victim, sizeof(host_victim), "%s/victim", host_dir);

	ck_assert_int_eq(mkdir(host_ro, 0755), 0);
	snprintf(path, sizeof(path), "%s/hello.txt", host_ro);
	write_host_file(path, "hello\n");
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_int_eq(chmod(host_ro, 0755), 0);
	snprintf(path, sizeof(path), "%s/sub", host_ro);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	ck_assert_int_eq(mkdir(host_rw, 0755), 0);
	write_host_file(host_file, "file\n");
	/* Absolute: it must be resolved in the host's root, not the view's. */
	ck_assert_int_eq(symlink(host_ro, host_link), 0);
	ck_assert_int_eq(symlink("/dev/null", host_devlink), 0);
	ck_assert_int_eq(mkdir(host_victim, 0755), 0);
	ck_assert_int_eq(mkdir(host_planted, 0755), 0);
	snprintf(path, sizeof(path), "%s/evil", host_planted);
	ck_assert_int_eq(symlink(host_victim, path), 0);
	snprintf(path, sizeof(path), "%s/evildir", host_planted);
	ck_assert_int_eq(symlink(host_victim, path), 0);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_uint_lt(strlen(host_sock), sizeof(addr.sun_path));
	memcpy(addr.sun_path, host_sock, strlen(host_sock) + 1);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(fd);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

static void remove_host_fixture(void)
{
	if (host_dir[0])
		nftw(host_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static Suite *mounts_suite(void)
{
	Suite *s = suite_create("mounts");
	TCase *tc;

	tc = tcase_create("view");
	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, make_host_fixture, remove_host_fixture);
	tcase_add_test(tc, test_root_holds_only_the_spec);
	tcase_add_test(tc, test_every_mount_nosuid_nodev);
	tcase_add_test(tc, test_ro_bind_is_read_only);
	tcase_add_test(tc, test_rw_bind_writes_reach_the_host);
	tcase_add_test(tc, test_file_is_bound_as_a_file);
	tcase_add_test(tc, test_symlink_source_is_resolved_on_the_host);
	tcase_add_test(tc, test_recursive_bind_restricts_submounts);
	tcase_add_test(tc, test_fallback_without_mount_setattr);
	tcase_add_test(tc, test_bind_without_exec_is_noexec);
	tcase_add_test(tc, test_bind_with_exec_runs_programs);
	tcase_add_test(tc, test_tmpfs_is_writable_and_bounded);
	tcase_add_test(tc, test_bind_inside_tmpfs);
	tcase_add_test(tc, test_unprivileged_job_reaches_binds_whatever_the_umask);
	tcase_add_test(tc, test_proc_is_the_job_pid_namespace);
	tcase_add_test(tc, test_dev_holds_only_the_safe_nodes);
	tcase_add_test(tc, test_host_root_is_unreachable);
	tcase_add_test(tc, test_no_fd_left_behind);
	tcase_add_test(tc, test_mounts_do_not_leak_to_the_host);
	suite_add_tcase(s, tc);

	tc = tcase_create("refused");
	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, make_host_fixture, remove_host_fixture);
	tcase_add_test(tc, test_missing_path_fails_naming_it);
	tcase_add_test(tc, test_failed_build_touches_nothing);
	tcase_add_test(tc, test_optional_missing_path_is_skipped);
	tcase_add_test(tc, test_socket_is_refused);
	tcase_add_test(tc, test_symlink_to_device_is_refused);
	tcase_add_test(tc, test_nothing_is_created_inside_a_bind);
	tcase_add_test(tc, test_symlink_mount_point_is_refused);
	tcase_add_test(tc, test_bad_paths_are_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (geteuid() != 0) {
		fprintf(stderr, "check_mounts: needs root (mount namespaces), skipped\n");
		return 77;
	}
	sr = srunner_create(mounts_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
