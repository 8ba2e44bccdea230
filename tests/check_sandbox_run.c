/*
 * The in-process form of libbrig (brig/sandbox.h): brig_sandbox_run and
 * brig_sandbox_apply on the real kernel, each test twice: as root (loop
 * index 0) and as uid/gid 65534 (index 1), which the test process (a Check
 * fork) becomes before it touches the API, so that the unprivileged path
 * (a user namespace with one mapped uid) is the one a normal program gets.
 */
/* Before check.h, whose fail() macro would rename the handler SDK's ops member. */
#include "brig/sandbox.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define NOBODY_ID 65534
#define GRANDCHILD_COMM "brig-lib-gchild"

#if defined(__SANITIZE_ADDRESS__)
#define BRIG_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BRIG_TEST_ASAN 1
#endif
#endif

/* ---- fixture: who we are, and a scratch tree of our own ---- */

static char scratch[64];

static void become(int unprivileged)
{
	if (!unprivileged)
		return;
	ck_assert_int_eq(setgroups(0, NULL), 0);
	ck_assert_int_eq(setresgid(NOBODY_ID, NOBODY_ID, NOBODY_ID), 0);
	ck_assert_int_eq(setresuid(NOBODY_ID, NOBODY_ID, NOBODY_ID), 0);
	ck_assert_int_eq((int)geteuid(), NOBODY_ID);
}

static void write_text(const char *dir, const char *name, const char *text)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	harness_write_file(path, text, strlen(text));
}

/* scratch/data/input.txt (granted), scratch/secret.txt (not), scratch/rw/ */
static void make_scratch(void)
{
	char path[128];

	snprintf(scratch, sizeof(scratch), "/tmp/brig-lib-test.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(scratch));
	chmod(scratch, 0755);
	snprintf(path, sizeof(path), "%s/data", scratch);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	write_text(path, "input.txt", "alpha beta gamma\ndelta epsilon\n");
	write_text(scratch, "secret.txt", "not for the sandbox\n");
	snprintf(path, sizeof(path), "%s/rw", scratch);
	ck_assert_int_eq(mkdir(path, 0755), 0);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void remove_scratch(void)
{
	if (scratch[0])
		nftw(scratch, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	scratch[0] = '\0';
}

static struct brig_spec *new_spec(const char *first, ...)
{
	struct brig_spec *spec;
	va_list ap;

	ck_assert_int_eq(brig_spec_new(&spec), 0);
	va_start(ap, first);
	for (const char *d = first; d; d = va_arg(ap, const char *))
		ck_assert_msg(brig_spec_add(spec, d) == 0, "%s: %s", d, brig_spec_error(spec));
	va_end(ap);
	return spec;
}

static void add_grant(struct brig_spec *spec, const char *key, const char *sub)
{
	char d[256];

	snprintf(d, sizeof(d), "%s=%s%s%s", key, scratch, sub[0] ? "/" : "", sub);
	ck_assert_msg(brig_spec_add(spec, d) == 0, "%s: %s", d, brig_spec_error(spec));
}

/* ---- items: small maps of str -> int ---- */

#define MAX_ITEMS 8
struct items {
	uint32_t count;
	char keys[MAX_ITEMS][32];
	int64_t values[MAX_ITEMS];
	int64_t seen_at_ms[MAX_ITEMS];
	const char *signal_dir;       /* on item 0, create signal_dir/seen */
};

static void collect(void *arg, uint32_t seq, const msgpack_object *item)
{
	struct items *it = arg;

	ck_assert_uint_eq(seq, it->count);
	ck_assert_int_eq(item->type, MSGPACK_OBJECT_MAP);
	ck_assert_uint_eq(item->via.map.size, 1);
	if (it->count < MAX_ITEMS) {
		const msgpack_object_kv *kv = &item->via.map.ptr[0];
		snprintf(it->keys[it->count], sizeof(it->keys[0]), "%.*s",
			 (int)kv->key.via.str.size, kv->key.via.str.ptr);
		it->values[it->count] = kv->val.type == MSGPACK_OBJECT_NEGATIVE_INTEGER ?
					kv->val.via.i64 : (int64_t)kv->val.via.u64;
		it->seen_at_ms[it->count] = harness_now_ms();
	}
	if (seq == 0 && it->signal_dir)
		write_text(it->signal_dir, "seen", "1");
	it->count++;
}

static int emit_int(struct brig_ctx *ctx, const char *key, int64_t value)
{
	msgpack_packer *pk = brig_item_begin(ctx);

	msgpack_pack_map(pk, 1);
	msgpack_pack_str_with_body(pk, key, strlen(key));
	msgpack_pack_int64(pk, value);
	return brig_item_end(ctx);
}

static void expect(const struct brig_sandbox_outcome *o, int outcome)
{
	ck_assert_msg(o->outcome == outcome, "outcome %s (%s), expected %s",
		      brig_outcome_string(o->outcome), o->message, brig_outcome_string(outcome));
}

/* ---- a function that parses a file under a read-only grant ---- */

struct parse_arg {
	char input[128], secret[128], create[128];
};

static int parse_words(struct brig_ctx *ctx, void *varg)
{
	const struct parse_arg *a = varg;
	FILE *f = fopen(a->input, "r");
	char word[64];
	int words = 0, fd;

	if (!f) {
		brig_fail(ctx, "%s: %s", a->input, strerror(errno));
		return 2;
	}
	while (fscanf(f, "%63s", word) == 1)
		words++;
	fclose(f);
	if (emit_int(ctx, "words", words) < 0)
		return 3;
	/* Outside the grant: not in the view at all. */
	fd = open(a->secret, O_RDONLY);
	if (emit_int(ctx, "secret_errno", fd < 0 ? errno : 0) < 0)
		return 3;
	/* Inside it, but read-only. */
	fd = open(a->create, O_WRONLY | O_CREAT, 0644);
	return emit_int(ctx, "create_errno", fd < 0 ? errno : 0) < 0 ? 3 : 0;
}

START_TEST(test_parse_under_read_only_grant)
{
	struct brig_sandbox_outcome out;
	struct parse_arg a;
	struct items it = { 0 };
	struct brig_spec *spec;

	become(_i);
	make_scratch();
	snprintf(a.input, sizeof(a.input), "%s/data/input.txt", scratch);
	snprintf(a.secret, sizeof(a.secret), "%s/secret.txt", scratch);
	snprintf(a.create, sizeof(a.create), "%s/data/new.txt", scratch);
	spec = new_spec("seccomp=denylist", NULL);
	add_grant(spec, "ro", "data");
	ck_assert_int_eq(brig_sandbox_run(spec, parse_words, &a, collect, &it, &out), 0);
	expect(&out, BRIG_OK);
	ck_assert_uint_eq(out.items, 3);
	ck_assert_uint_eq(it.count, 3);
	ck_assert_str_eq(it.keys[0], "words");
	ck_assert_int_eq(it.values[0], 5);
	ck_assert_str_eq(it.keys[1], "secret_errno");
	ck_assert_int_eq(it.values[1], ENOENT);
	ck_assert_str_eq(it.keys[2], "create_errno");
	ck_assert_msg(it.values[2] == EROFS || it.values[2] == EACCES, "create: errno %d",
		      (int)it.values[2]);
	ck_assert_int_eq(access(a.create, F_OK), -1);
	ck_assert_uint_gt(out.wall_us, 0);
	ck_assert_uint_gt(out.maxrss_kib, 0);
	brig_spec_free(spec);
	remove_scratch();
}
END_TEST

/* ---- a function that crashes ---- */

static int crash(struct brig_ctx *ctx, void *arg)
{
	/* arg is NULL: a real fault, not a raised signal. */
	volatile int *nowhere = arg;

	emit_int(ctx, "before", 1);
	*nowhere = 1;
	return 0;
}

static int call_abort(struct brig_ctx *ctx, void *arg)
{
	(void)ctx;
	(void)arg;
	abort();
}

START_TEST(test_crash)
{
	struct brig_sandbox_outcome out;
	struct items it = { 0 };
	struct brig_spec *spec;

	become(_i);
	spec = new_spec(NULL);
	ck_assert_int_eq(brig_sandbox_run(spec, crash, NULL, collect, &it, &out), 0);
	expect(&out, BRIG_CRASHED);
	ck_assert_int_eq(out.code, SIGSEGV);
	ck_assert_uint_eq(it.count, 1);   /* what it emitted before still arrived */
	/* A signal it sends itself counts too (the function is not pid 1). */
	ck_assert_int_eq(brig_sandbox_run(spec, call_abort, NULL, NULL, NULL, &out), 0);
	expect(&out, BRIG_CRASHED);
	ck_assert_int_eq(out.code, SIGABRT);
	brig_spec_free(spec);
}
END_TEST

/* ---- a function that breaks the seccomp filter ---- */

static int call_ptrace(struct brig_ctx *ctx, void *arg)
{
	(void)ctx;
	(void)arg;
	syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0);
	return 0;
}

START_TEST(test_seccomp_violation)
{
	struct brig_sandbox_outcome out;
	struct brig_spec *spec;

	become(_i);
	spec = new_spec("seccomp_action=kill", NULL);
	ck_assert_int_eq(brig_sandbox_run(spec, call_ptrace, NULL, NULL, NULL, &out), 0);
	expect(&out, BRIG_VIOLATION);
	ck_assert_str_eq(out.syscall, "ptrace");
	ck_assert_int_eq(out.code, SYS_ptrace);
	ck_assert_ptr_nonnull(strstr(out.message, "ptrace"));
	brig_spec_free(spec);
}
END_TEST

/* ---- a function that overruns its timeout, with a grandchild ---- */

static int hang_with_grandchild(struct brig_ctx *ctx, void *arg)
{
	pid_t pid = fork();

	(void)arg;
	if (pid == 0) {
		prctl(PR_SET_NAME, GRANDCHILD_COMM, 0, 0, 0);
		for (;;)
			pause();
	}
	if (pid < 0 || emit_int(ctx, "forked", 1) < 0)
		return 1;
	for (;;)
		pause();
}

static void grandchild_running(void *arg, uint32_t seq, const msgpack_object *item)
{
	size_t *found = arg;
	pid_t pids[8];

	(void)seq;
	(void)item;
	/* The grandchild names itself right after fork: give it a moment. */
	for (int tries = 0; tries < 200 && !*found; tries++) {
		*found = proc_find_comm(GRANDCHILD_COMM, pids, 8);
		if (!*found)
			harness_sleep_ms(5);
	}
}

START_TEST(test_timeout_ends_the_tree)
{
	struct brig_sandbox_outcome out;
	struct brig_spec *spec;
	unsigned timeout_ms = 300 * harness_slowdown();
	char d[64];
	size_t found = 0;
	pid_t pids[8];

	become(_i);
	snprintf(d, sizeof(d), "timeout=%u", timeout_ms);
	spec = new_spec(d, NULL);
	ck_assert_int_eq(brig_sandbox_run(spec, hang_with_grandchild, NULL, grandchild_running,
					  &found, &out), 0);
	expect(&out, BRIG_TIMEOUT);
	ck_assert_uint_eq(found, 1);           /* it was there while the job ran */
	ck_assert_uint_ge(out.wall_us, (uint64_t)timeout_ms * 1000);
	/* ... and is gone once the call returned: no wait, no settling. */
	ck_assert_uint_eq(proc_find_comm(GRANDCHILD_COMM, pids, 8), 0);
	brig_spec_free(spec);
}
END_TEST

/* ---- a function that captures variables from the caller ---- */

struct captured {
	int factor;
	char name[16];
	int counter;
};

static int use_captured(struct brig_ctx *ctx, void *arg)
{
	struct captured *c = arg;
	int r = emit_int(ctx, c->name, (int64_t)c->factor * 7);

	c->counter = 999;   /* the child's copy only */
	return r < 0 ? 1 : 0;
}

START_TEST(test_captured_variables)
{
	struct captured c = { .factor = 6, .name = "answer", .counter = 1 };
	struct brig_sandbox_outcome out;
	struct items it = { 0 };
	struct brig_spec *spec;

	become(_i);
	spec = new_spec("seccomp=parser", NULL);
	ck_assert_int_eq(brig_sandbox_run(spec, use_captured, &c, collect, &it, &out), 0);
	expect(&out, BRIG_OK);
	ck_assert_uint_eq(it.count, 1);
	ck_assert_str_eq(it.keys[0], "answer");
	ck_assert_int_eq(it.values[0], 42);
	ck_assert_int_eq(c.counter, 1);
	brig_spec_free(spec);
}
END_TEST

/* ---- items reach the caller while the function still runs ---- */

static int wait_for_caller(struct brig_ctx *ctx, void *arg)
{
	const char *seen = arg;

	if (emit_int(ctx, "first", 1) < 0)
		return 1;
	/* Blocks until the caller's on_item has run for item 0. */
	for (int i = 0; i < 2000; i++) {
		if (access(seen, F_OK) == 0)
			return emit_int(ctx, "caller_saw_first", 1) < 0 ? 1 : 0;
		usleep(5000);
	}
	brig_fail(ctx, "the caller never saw item 0");
	return 1;
}

START_TEST(test_items_streamed)
{
	struct brig_sandbox_outcome out;
	struct items it = { 0 };
	struct brig_spec *spec;
	char rw[128], seen[160];

	become(_i);
	make_scratch();
	snprintf(rw, sizeof(rw), "%s/rw", scratch);
	snprintf(seen, sizeof(seen), "%s/seen", rw);
	it.signal_dir = rw;
	spec = new_spec(NULL);
	add_grant(spec, "ro", "rw");
	ck_assert_int_eq(brig_sandbox_run(spec, wait_for_caller, seen, collect, &it, &out), 0);
	expect(&out, BRIG_OK);
	ck_assert_uint_eq(it.count, 2);
	ck_assert_str_eq(it.keys[1], "caller_saw_first");
	brig_spec_free(spec);
	remove_scratch();
}
END_TEST

/* ---- memory: a cgroup limit as root, rlimit_as for anyone ---- */

static int allocate(struct brig_ctx *ctx, void *arg)
{
	size_t chunk = 16u << 20, total = *(size_t *)arg;

	for (size_t done = 0; done < total; done += chunk) {
		/* volatile: a compiler may drop a malloc whose memory is never read. */
		volatile char *p = malloc(chunk);

		if (!p) {
			brig_fail(ctx, "out of memory after %zu MiB", done >> 20);
			return 12;
		}
		for (size_t i = 0; i < chunk; i += 4096)
			p[i] = 1;
	}
	return 0;
}

START_TEST(test_memory_limit)
{
	struct brig_sandbox_outcome out;
	struct brig_spec *spec;
	size_t total = 512u << 20;

	become(_i);
	if (_i == 0) {
		spec = new_spec("memory_max=64M", "rlimit_as=unlimited", NULL);
		ck_assert_msg(brig_sandbox_run(spec, allocate, &total, NULL, NULL, &out) == 0, "%s",
			      out.message);
		expect(&out, BRIG_MEMORY_LIMIT);
		brig_spec_free(spec);
	}
#if !defined(BRIG_TEST_ASAN)
	/* (ASan's shadow memory and an address-space limit cannot coexist:
	 * the engine leaves rlimit_as out under ASan.) */
	spec = new_spec("rlimit_as=256M", NULL);
	ck_assert_int_eq(brig_sandbox_run(spec, allocate, &total, NULL, NULL, &out), 0);
	expect(&out, BRIG_ERROR);
	ck_assert_int_eq(out.code, 12);
	ck_assert_ptr_nonnull(strstr(out.message, "out of memory"));
	brig_spec_free(spec);
#endif
}
END_TEST

/* ---- refused before anything runs, with the descriptor named ---- */

static int must_not_run(struct brig_ctx *ctx, void *arg)
{
	(void)ctx;
	(void)arg;
	return 0;
}

static void expect_refused(const char *descriptor, int error, const char *named)
{
	struct brig_sandbox_outcome out;
	struct brig_spec *spec = new_spec(descriptor, NULL);
	int r = brig_sandbox_run(spec, must_not_run, NULL, NULL, NULL, &out);

	ck_assert_msg(r == -error, "%s: returned %d (%s), expected %d", descriptor, r, out.message,
		      -error);
	ck_assert_msg(strstr(out.message, named) != NULL, "%s: message '%s' does not name %s",
		      descriptor, out.message, named);
	ck_assert_uint_eq(out.items, 0);
	ck_assert_int_eq(out.outcome, BRIG_REJECTED);
	brig_spec_free(spec);
}

START_TEST(test_refused_descriptors)
{
	become(_i);
	/* For everyone: contradictions, and what only the daemon does. */
	expect_refused("namespaces=net ipc uts mount", EINVAL, "pid");
	{
		struct brig_sandbox_outcome out;
		struct brig_spec *spec = new_spec("connect=443", NULL);

		ck_assert_int_eq(brig_sandbox_run(spec, must_not_run, NULL, NULL, NULL, &out),
				 -EINVAL);
		ck_assert_ptr_nonnull(strstr(out.message, "connect=443"));
		brig_spec_free(spec);
	}
	/* Found only when the view is built, in the child: still an error
	 * naming the path, with nothing of the function run. */
	expect_refused("ro=/nonexistent-brig-lib-path", EPERM, "/nonexistent-brig-lib-path");
	/* Fresh uids need brigd's pool. */
	expect_refused("fresh_uid_range=70000-70010", _i ? EPERM : EOPNOTSUPP, "fresh_uid_range");
	if (_i == 0)
		return;
	/* Unprivileged: each descriptor that needs root, by name. */
	expect_refused("user=1000", EPERM, "user=1000");
	expect_refused("group=100", EPERM, "group=100");
	expect_refused("memory_max=64M", EPERM, "memory_max");
	expect_refused("pids_max=16", EPERM, "pids_max");
}
END_TEST

START_TEST(test_spec_syntax)
{
	struct brig_spec *spec;

	ck_assert_int_eq(brig_spec_new(&spec), 0);
	ck_assert_int_eq(brig_spec_add_text(spec, "# a profile\n\nro = /usr\n"
					    "seccomp = parser\n; comment\nrlimit_as = 64M\n"), 0);
	ck_assert_int_eq(brig_spec_add_text(spec, "ro = /etc\nbogus = 1\n"), -EINVAL);
	ck_assert_str_eq(brig_spec_error(spec), "line 2: bogus: unknown descriptor");
	ck_assert_int_eq(brig_spec_add(spec, "user=0"), -EINVAL);
	ck_assert_ptr_nonnull(strstr(brig_spec_error(spec), "uid 0"));
	ck_assert_int_eq(brig_spec_add(spec, "timeout=soon"), -EINVAL);
	ck_assert_ptr_nonnull(strstr(brig_spec_error(spec), "timeout=soon"));
	ck_assert_int_eq(brig_spec_add(spec, "no equals sign"), -EINVAL);
	ck_assert_int_eq(brig_spec_add(spec, "ro=relative/path"), -EINVAL);
	ck_assert_ptr_nonnull(strstr(brig_spec_error(spec), "ro=relative/path"));
	brig_spec_free(spec);
	brig_spec_free(NULL);
}
END_TEST

/* ---- root: the user namespace descriptor, uid mapped to itself ---- */

static int report_ids(struct brig_ctx *ctx, void *arg)
{
	char map[64] = "";
	int fd = open("/proc/self/uid_map", O_RDONLY), first = -1, lower = -1, count = -1;

	(void)arg;
	if (fd >= 0 && read(fd, map, sizeof(map) - 1) > 0)
		sscanf(map, "%d %d %d", &first, &lower, &count);
	if (fd >= 0)
		close(fd);
	if (emit_int(ctx, "uid", getuid()) < 0 || emit_int(ctx, "map_first", first) < 0 ||
	    emit_int(ctx, "map_count", count) < 0 || emit_int(ctx, "groups", getgroups(0, NULL)) < 0)
		return 1;
	return 0;
}

START_TEST(test_user_namespace)
{
	struct brig_sandbox_outcome out;
	struct items it = { 0 };
	struct brig_spec *spec;

	become(_i);
	spec = new_spec("namespaces=user pid net ipc uts mount cgroup", NULL);
	ck_assert_msg(brig_sandbox_run(spec, report_ids, NULL, collect, &it, &out) == 0, "%s",
		      out.message);
	expect(&out, BRIG_OK);
	ck_assert_uint_eq(it.count, 4);
	ck_assert_int_eq(it.values[0], NOBODY_ID);                     /* never root */
	ck_assert_int_eq(it.values[1], NOBODY_ID);                     /* mapped to itself */
	ck_assert_int_eq(it.values[2], 1);                             /* and nothing else */
	ck_assert_int_eq(it.values[3], 0);
	brig_spec_free(spec);

	/* The same applied to a forked child of our own. */
	spec = new_spec("namespaces=user net mount", NULL);
	{
		char err[512], byte = 0;
		int status, ready[2];
		pid_t pid;

		ck_assert_int_eq(pipe(ready), 0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(ready[0]);
			if (brig_sandbox_apply(spec, err, sizeof(err)) < 0) {
				fprintf(stderr, "apply: %s\n", err);
				_exit(10);
			}
			if (getuid() != NOBODY_ID || getgroups(0, NULL) != 0)
				_exit(11);
			/* No /proc in the view: the map is read from outside. */
			if (open("/proc/self/uid_map", O_RDONLY) >= 0)
				_exit(12);
			if (write(ready[1], "a", 1) != 1)
				_exit(13);
			pause();
			_exit(0);
		}
		close(ready[1]);
		ck_assert_msg(read(ready[0], &byte, 1) == 1, "the child did not apply the spec");
		close(ready[0]);
		{
			char path[64], map[64] = "";
			int fd, first = -1, lower = -1, count = -1;

			snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
			for (int i = 0; i < 400; i++) {
				fd = open(path, O_RDONLY);
				ck_assert_int_ge(fd, 0);
				memset(map, 0, sizeof(map));
				ck_assert_int_gt(read(fd, map, sizeof(map) - 1), 0);
				close(fd);
				if (sscanf(map, "%d %d %d", &first, &lower, &count) == 3)
					break;
				harness_sleep_ms(5);
			}
			ck_assert_int_eq(first, NOBODY_ID);
			ck_assert_int_eq(lower, NOBODY_ID);
			ck_assert_int_eq(count, 1);
		}
		kill(pid, SIGKILL);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
			      "the child failed with exit %d", WEXITSTATUS(status));
	}
	brig_spec_free(spec);
}
END_TEST

/* ---- the whole-program form, in a forked child ---- */

enum apply_failure {
	APPLY_FAILED = 10,
	APPLY_CANNOT_READ,
	APPLY_SECRET_VISIBLE,
	APPLY_PROC_VISIBLE,
	APPLY_HOSTNAME,
	APPLY_UID,
	APPLY_NO_NEW_PRIVS,
	APPLY_SURVIVED_VIOLATION,
};

static void *idle_thread(void *arg)
{
	(void)arg;
	pause();
	return NULL;
}

START_TEST(test_apply_to_self)
{
	char input[128], secret[128], err[512];
	struct brig_spec *spec;
	pthread_t thread;
	int status;
	pid_t pid;

	become(_i);
	make_scratch();
	snprintf(input, sizeof(input), "%s/data/input.txt", scratch);
	snprintf(secret, sizeof(secret), "%s/secret.txt", scratch);

	/* What cannot apply to a running process is refused by name. */
	spec = new_spec(NULL);
	ck_assert_int_eq(brig_sandbox_apply(spec, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "pid"));
	brig_spec_free(spec);

	spec = new_spec("namespaces=net ipc uts mount", "seccomp_action=kill", NULL);
	add_grant(spec, "ro", "data");
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char buf[64] = "", host[64] = "";
		int fd;

		if (brig_sandbox_apply(spec, err, sizeof(err)) < 0) {
			fprintf(stderr, "apply: %s\n", err);
			_exit(APPLY_FAILED);
		}
		fd = open(input, O_RDONLY);
		if (fd < 0 || read(fd, buf, sizeof(buf)) <= 0)
			_exit(APPLY_CANNOT_READ);
		if (access(secret, F_OK) == 0)
			_exit(APPLY_SECRET_VISIBLE);
		if (access("/proc/self", F_OK) == 0)
			_exit(APPLY_PROC_VISIBLE);
		if (gethostname(host, sizeof(host)) < 0 || strcmp(host, "brig") != 0)
			_exit(APPLY_HOSTNAME);
		if (getuid() != NOBODY_ID || geteuid() != NOBODY_ID)
			_exit(APPLY_UID);
		if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
			_exit(APPLY_NO_NEW_PRIVS);
		syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0);
		_exit(APPLY_SURVIVED_VIOLATION);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS,
		      "the applied process ended with %s %d", WIFEXITED(status) ? "exit" : "signal",
		      WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));

	/* A second thread: refused, the process untouched. */
	ck_assert_int_eq(pthread_create(&thread, NULL, idle_thread, NULL), 0);
	ck_assert_int_eq(brig_sandbox_apply(spec, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "thread"));
	ck_assert_int_eq(access(secret, F_OK), 0);
	brig_spec_free(spec);
	remove_scratch();
}
END_TEST

static Suite *sandbox_run_suite(void)
{
	Suite *s = suite_create("sandbox_run");
	TCase *tc = tcase_create("run");

	/* Index 0: as root; 1: as uid 65534. */
	tcase_add_loop_test(tc, test_parse_under_read_only_grant, 0, 2);
	tcase_add_loop_test(tc, test_crash, 0, 2);
	tcase_add_loop_test(tc, test_seccomp_violation, 0, 2);
	tcase_add_loop_test(tc, test_timeout_ends_the_tree, 0, 2);
	tcase_add_loop_test(tc, test_captured_variables, 0, 2);
	tcase_add_loop_test(tc, test_items_streamed, 0, 2);
	tcase_add_loop_test(tc, test_memory_limit, 0, 2);
	tcase_add_loop_test(tc, test_refused_descriptors, 0, 2);
	tcase_add_loop_test(tc, test_user_namespace, 0, 2);
	tcase_add_loop_test(tc, test_apply_to_self, 0, 2);
	tcase_add_test(tc, test_spec_syntax);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (geteuid() != 0) {
		fprintf(stderr, "check_sandbox_run: needs root (it tests both sides)\n");
		return 77;
	}
	sr = srunner_create(sandbox_run_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
