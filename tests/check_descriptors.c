/*
 * Sandbox descriptors (issue 3) and lifecycle under faults (issue 4),
 * checked against a real brigd and, wherever possible, from inside a
 * running job: exec jobs run /bin/sh or python3 probes that print what
 * they find, handler jobs run tests/handlers/testing.c's selfcheck, and
 * the test compares that with what the profile says.
 *
 * One brigd per test case (tests/harness.c); within a case the checks are
 * soft (CHECK prints and counts, the case fails at its end), so that one
 * broken descriptor does not hide the state of the others.  Jobs of a case
 * are submitted together where they are independent, to keep the whole
 * program short on a busy machine.
 *
 * Needs root (brigd builds sandboxes, and the confused-deputy checks drop
 * to uid 65534 in a child); skipped (exit 77) otherwise.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <check.h>
#include <msgpack.h>

#include "brig/brig.h"
#include "harness.h"
#include "msg.h"
#include "wire.h"

#define JOB_TIMEOUT_MS 20000
#define OUTPUT_CAP (2u * 1024 * 1024)
/* The built-in profiles' fresh uid ranges (daemon/config.c). */
#define DEFAULT_UID_FIRST 3000000000u
#define EXEC_UID_FIRST 3000002048u
#define RANGE_UIDS 1024u
#define NOBODY_ID 65534
/* A supplementary group of the unprivileged client, named by a profile. */
#define CLIENT_GROUP 4242
#define MIB (1024u * 1024u)

/* A NULL-terminated list of strings, for argv, env and descriptors. */
#define L(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* ------------------------------------------------------------------ */
/* soft checks                                                          */

static unsigned check_failures;

__attribute__((format(printf, 3, 4)))
static void check_failed(int line, const char *expr, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "check_descriptors.c:%d: CHECK FAILED (%s): ", line, expr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	check_failures++;
}

/* Records a failure and goes on; checks_end() fails the test case. */
#define CHECK(expr, ...)                                                   \
	do {                                                               \
		if (!(expr))                                               \
			check_failed(__LINE__, #expr, __VA_ARGS__);        \
	} while (0)

static void checks_end(const char *area)
{
	E2E_ASSERT(check_failures == 0, "%s: %u check(s) failed, each printed above", area,
		   check_failures);
}

/* ------------------------------------------------------------------ */
/* jobs and what libbrig delivers for them                              */

struct job {
	const char *label;
	uint32_t id;
	uint32_t timeout_ms;            /* 0: JOB_TIMEOUT_MS */
	unsigned finals, chunks, items;
	unsigned bad_seq, bad_id, after_final, bad_stream;
	uint32_t next_seq;
	struct brig_status status;
	char message[BRIG_MESSAGE_MAX + 1];
	char *out, *err;                /* NUL-terminated, capped at OUTPUT_CAP */
	size_t out_len, err_len;
	char *item_buf;                 /* the first item, kept */
	msgpack_unpacked item;
	bool has_item;
	void (*on_event)(struct job *j);   /* after each item or output chunk */
	void *user;
};

static void append(char **buf, size_t *len, const void *data, size_t n)
{
	char *grown;

	if (*len + n > OUTPUT_CAP)
		n = OUTPUT_CAP - *len;
	grown = realloc(*buf, *len + n + 1);
	if (!grown)
		abort();
	if (n)
		memcpy(grown + *len, data, n);
	*len += n;
	grown[*len] = '\0';
	*buf = grown;
}

static void note_seq(struct job *j, uint32_t job_id, uint32_t seq)
{
	if (job_id != j->id)
		j->bad_id++;
	if (seq != j->next_seq)
		j->bad_seq++;
	j->next_seq = seq + 1;
	if (j->finals)
		j->after_final++;
}

static void on_output(void *arg, uint32_t job_id, uint32_t seq, int stream, const void *data,
		      size_t len)
{
	struct job *j = arg;

	note_seq(j, job_id, seq);
	if (stream == BRIG_STDOUT)
		append(&j->out, &j->out_len, data, len);
	else if (stream == BRIG_STDERR)
		append(&j->err, &j->err_len, data, len);
	else
		j->bad_stream++;
	j->chunks++;
	if (j->on_event)
		j->on_event(j);
}

static void on_item(void *arg, uint32_t job_id, uint32_t seq, const msgpack_object *item)
{
	struct job *j = arg;

	note_seq(j, job_id, seq);
	if (!j->has_item) {
		msgpack_sbuffer sb;
		msgpack_packer pk;
		size_t size;

		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		if (msgpack_pack_object(&pk, *item) != 0)
			abort();
		size = sb.size;
		j->item_buf = msgpack_sbuffer_release(&sb);
		msgpack_unpacked_init(&j->item);
		if (msgpack_unpack_next(&j->item, j->item_buf, size, NULL) != MSGPACK_UNPACK_SUCCESS)
			abort();
		j->has_item = true;
	}
	j->items++;
	if (j->on_event)
		j->on_event(j);
}

static void on_final(void *arg, uint32_t job_id, const struct brig_status *st)
{
	struct job *j = arg;

	if (job_id != j->id)
		j->bad_id++;
	j->finals++;
	j->status = *st;
	snprintf(j->message, sizeof(j->message), "%s", st->message ? st->message : "");
	j->status.message = j->message;
}

static const char *describe(const struct job *j);

static void job_free(struct job *j)
{
	/* BRIG_DESC_VERBOSE=1: what every job said, to see what the checks saw. */
	if (j->label && getenv("BRIG_DESC_VERBOSE"))
		fprintf(stderr, "job %s\n", describe(j));
	free(j->out);
	free(j->err);
	if (j->has_item) {
		msgpack_unpacked_destroy(&j->item);
		free(j->item_buf);
	}
	memset(j, 0, sizeof(*j));
}

static const char *out_of(const struct job *j)
{
	return j->out ? j->out : "";
}

static const char *err_of(const struct job *j)
{
	return j->err ? j->err : "";
}

/* Everything about a job, for failure messages (one per CHECK). */
static const char *describe(const struct job *j)
{
	static char buf[BRIG_MESSAGE_MAX + 1400];

	snprintf(buf, sizeof(buf), "[%s] job %u: %u final(s), outcome %s code %" PRId64
		 " error_code %u message '%s'; stdout '%.500s' stderr '%.500s'",
		 j->label ? j->label : "?", j->id, j->finals, brig_outcome_string(j->status.outcome),
		 j->status.code, j->status.error_code, j->message, out_of(j), err_of(j));
	return buf;
}

static size_t list_len(const char *const *list)
{
	size_t n = 0;

	while (list && list[n])
		n++;
	return n;
}

static void exec_async(struct brig_client *c, struct job *j, const char *label,
		       const char *profile, const char *const *argv, const char *const *env,
		       const char *cwd, const void *in, size_t in_len, const char *const *desc)
{
	struct brig_exec_job x = {
		.profile = profile, .argv = argv, .argc = list_len(argv), .env = env,
		.envc = list_len(env), .cwd = cwd, .stdin_data = in, .stdin_len = in_len,
		.timeout_ms = j->timeout_ms ? j->timeout_ms : JOB_TIMEOUT_MS,
		.descriptors = desc, .descriptor_count = list_len(desc),
	};
	int r;

	j->label = label;
	r = brig_submit_exec(c, &x, on_output, on_final, j, &j->id);
	CHECK(r == 0, "[%s] brig_submit_exec: %s", label, brig_strerror(r));
}

static void sh_async(struct brig_client *c, struct job *j, const char *label, const char *profile,
		     const char *script, const char *const *desc)
{
	exec_async(c, j, label, profile, L("sh", "-c", script), NULL, NULL, NULL, 0, desc);
}

/* argv: interpreter, flag, code, "argv0"-or-nothing, then args. */
static void script_async(struct brig_client *c, struct job *j, const char *label,
			 const char *profile, const char *const *head, const char *const *args,
			 const char *const *desc)
{
	const char *argv[BRIG_MAX_ARGS + 1];
	size_t n = 0;

	for (size_t i = 0; head[i] && n < BRIG_MAX_ARGS; i++)
		argv[n++] = head[i];
	for (size_t i = 0; args && args[i] && n < BRIG_MAX_ARGS; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	exec_async(c, j, label, profile, argv, NULL, NULL, NULL, 0, desc);
}

/* sh -c SCRIPT sh ARGS... */
static void sh_args_async(struct brig_client *c, struct job *j, const char *label,
			  const char *profile, const char *script, const char *const *args,
			  const char *const *desc)
{
	script_async(c, j, label, profile, L("sh", "-c", script, "sh"), args, desc);
}

/* python3 -c CODE ARGS... (sys.argv[1:] are ARGS) */
static void py_async(struct brig_client *c, struct job *j, const char *label, const char *profile,
		     const char *code, const char *const *args, const char *const *desc)
{
	script_async(c, j, label, profile, L("python3", "-c", code), args, desc);
}

static void call_async(struct brig_client *c, struct job *j, const char *label,
		       const char *handler, const char *profile, const char *input,
		       const char *const *desc)
{
	struct brig_job job = {
		.handler = handler, .profile = profile, .input = input,
		.input_len = input ? strlen(input) : 0,
		.timeout_ms = j->timeout_ms ? j->timeout_ms : JOB_TIMEOUT_MS,
		.descriptors = desc, .descriptor_count = list_len(desc),
	};
	int r;

	j->label = label;
	r = brig_submit(c, &job, on_item, on_final, j, &j->id);
	CHECK(r == 0, "[%s] brig_submit(%s): %s", label, handler, brig_strerror(r));
}

static struct brig_client *connect_client(const struct brigd *d, const char *name)
{
	struct brig_client *c = NULL;
	int r = brig_connect(d->socket_path, name, &c);

	E2E_ASSERT(r == 0 && c, "brig_connect(%s): %s", d->socket_path, brig_strerror(r));
	return c;
}

static void wait_jobs(struct brig_client *c)
{
	int r = brig_wait(c, 0);

	CHECK(r == 0, "brig_wait: %s (%zu jobs pending)", brig_strerror(r), brig_jobs_pending(c));
}

/* Exactly one final with this outcome, and a clean stream before it. */
static bool expect_outcome(const struct job *j, int outcome)
{
	bool ok = j->finals == 1 && j->status.outcome == outcome;

	CHECK(ok, "expected outcome %s: %s", brig_outcome_string(outcome), describe(j));
	CHECK(j->bad_seq == 0 && j->bad_id == 0 && j->after_final == 0 && j->bad_stream == 0,
	      "[%s] %u chunks/items out of sequence, %u with another job's id, %u after the "
	      "final, %u on an unknown stream", j->label, j->bad_seq, j->bad_id, j->after_final,
	      j->bad_stream);
	return ok;
}

static bool expect_exit(const struct job *j, int64_t code)
{
	if (!expect_outcome(j, BRIG_OK))
		return false;
	CHECK(j->status.code == code, "expected exit status %" PRId64 ": %s", code, describe(j));
	return j->status.code == code;
}

static void expect_stdout(const struct job *j, const char *expected)
{
	CHECK(strcmp(out_of(j), expected) == 0, "expected stdout '%s': %s", expected, describe(j));
}

static void expect_rejected(const struct job *j, uint32_t error_code, const char *needle)
{
	CHECK(j->finals == 1 && j->status.outcome == BRIG_REJECTED &&
	      j->status.error_code == error_code && strstr(j->message, needle),
	      "expected a refusal with error code %u naming '%s': %s", error_code, needle,
	      describe(j));
	CHECK(j->chunks == 0 && j->items == 0, "a refused job produced output: %s", describe(j));
}

/* ---- text helpers ---- */

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

static bool in_list(const char *s, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

static size_t count_lines(const char *text)
{
	size_t n = 0;

	for (const char *p = text; *p; p++)
		n += *p == '\n';
	return n;
}

/* The value after "key " on the line starting with it, copied into buf. */
static const char *line_value(const char *text, const char *key, char *buf, size_t size)
{
	size_t n = strlen(key);

	buf[0] = '\0';
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, n) == 0 && p[n] == ' ') {
			const char *v = p + n + 1, *end = strchr(v, '\n');
			size_t len = end ? (size_t)(end - v) : strlen(v);

			if (len >= size)
				len = size - 1;
			memcpy(buf, v, len);
			buf[len] = '\0';
			return buf;
		}
	}
	return NULL;
}

static uint64_t line_u64(const char *text, const char *key)
{
	char buf[64];

	return line_value(text, key, buf, sizeof(buf)) ? strtoull(buf, NULL, 10) : UINT64_MAX;
}

/* ---- msgpack items ---- */

static const msgpack_object *map_get(const msgpack_object *o, const char *key)
{
	size_t len = strlen(key);

	if (!o || o->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object_kv *kv = &o->via.map.ptr[i];

		if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == len &&
		    memcmp(kv->key.via.str.ptr, key, len) == 0)
			return &kv->val;
	}
	return NULL;
}

/* item[key] as an unsigned number, or UINT64_MAX if absent. */
static uint64_t item_u64(const struct job *j, const char *key)
{
	const msgpack_object *v = j->has_item ? map_get(&j->item.data, key) : NULL;

	return v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? v->via.u64 : UINT64_MAX;
}

static const char *item_text(const struct job *j)
{
	static char buf[2048];

	if (!j->has_item)
		return "(no item)";
	msgpack_object_print_buffer(buf, sizeof(buf), j->item.data);
	return buf;
}

/* ---- host side ---- */

/*
 * A fresh_uid_range of this test process's own: other brigd instances on
 * the machine (other test programs) use the built-in ranges, and a check
 * that no process of a job's uid is left must not see theirs.
 */
#define PRIVATE_UIDS 64u

static uid_t private_uid_first(void)
{
	return 3500000000u + (uid_t)(getpid() % 100000) * PRIVATE_UIDS;
}

static const char *private_exec_range(void)
{
	static char buf[128];

	snprintf(buf, sizeof(buf), "[profile exec]\nfresh_uid_range = %u-%u\n",
		 (unsigned)private_uid_first(), (unsigned)(private_uid_first() + PRIVATE_UIDS - 1));
	return buf;
}

/* "/NAME" for every entry of the host directory dir, NULL-terminated;
 * free with free_list(). */
static char **host_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **list;
	size_t n = 0;

	ck_assert_msg(d != NULL, "opendir %s: %s", dir, strerror(errno));
	list = calloc(BRIG_MAX_ARGS, sizeof(*list));
	ck_assert(list != NULL);
	while ((e = readdir(d)) && n < BRIG_MAX_ARGS - 8) {
		char path[PATH_MAX];

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, e->d_name);
		list[n] = strdup(path);
		ck_assert(list[n] != NULL);
		n++;
	}
	closedir(d);
	return list;
}

static void free_list(char **list)
{
	for (size_t i = 0; list && list[i]; i++)
		free(list[i]);
	free(list);
}

static bool host_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* A private scratch directory under /tmp that jobs may traverse. */
static void make_scratch(char *dir, size_t size)
{
	snprintf(dir, size, "/tmp/brig-desc-XXXXXX");
	ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
	ck_assert(chmod(dir, 0755) == 0);
}

static void remove_scratch(const char *dir)
{
	char *argv[] = { (char *)"rm", (char *)"-rf", (char *)dir, NULL };
	int status;
	pid_t pid;

	if (getenv("BRIG_E2E_KEEP"))
		return;
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	waitpid(pid, &status, 0);
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = calloc(1, 65536);
	ck_assert(buf != NULL);
	n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* uid of a process from /proc/PID/status, or (uid_t)-1 if it is gone. */
static uid_t proc_uid(pid_t pid)
{
	char path[64], *text, *p;
	uid_t uid = (uid_t)-1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	text = read_text(path);
	if (!text)
		return uid;
	p = strstr(text, "\nUid:");
	if (p)
		uid = (uid_t)strtoul(p + 5, NULL, 10);
	free(text);
	return uid;
}

struct proc_id {
	pid_t pid;
	unsigned long long start;
};

/* Every descendant of root (pid and start time), depth first. */
static size_t collect_tree(pid_t root, struct proc_id *out, size_t n, size_t max)
{
	pid_t kids[256];
	size_t k = proc_children(root, kids, 256);

	for (size_t i = 0; i < k && i < 256; i++) {
		if (n < max) {
			out[n].pid = kids[i];
			out[n].start = proc_start_time(kids[i]);
			n++;
		}
		n = collect_tree(kids[i], out, n, max);
	}
	return n;
}

/* Is ancestor among pid's ancestors?  Asked per process, so that a worker
 * forked after any snapshot is still recognised. */
static bool descends_from(pid_t pid, pid_t ancestor)
{
	for (int depth = 0; pid > 1 && depth < 64; depth++) {
		pid = proc_ppid(pid);
		if (pid == ancestor)
			return true;
	}
	return false;
}

/* Processes running as uid, except descendants of except_root (if > 0). */
static size_t uid_processes(uid_t uid, pid_t except_root, pid_t *first)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t n = 0;

	ck_assert(d != NULL);
	while ((e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (*end || pid <= 0 || proc_uid((pid_t)pid) != uid ||
		    (except_root > 0 && descends_from((pid_t)pid, except_root)))
			continue;
		if (n == 0 && first)
			*first = (pid_t)pid;
		n++;
	}
	closedir(d);
	return n;
}

/* Wait up to ms for every process with uid to be gone; how many remain. */
static size_t wait_uid_gone(uid_t uid, int ms, pid_t *first)
{
	int64_t deadline = harness_now_ms() + ms;
	size_t n;

	while ((n = uid_processes(uid, 0, first)) > 0 && harness_now_ms() < deadline)
		harness_sleep_ms(20);
	return n;
}

static bool log_contains(const struct brigd *d, const char *needle)
{
	char *text = read_text(d->log_path);
	bool found = text && strstr(text, needle);

	free(text);
	return found;
}

/* The config text, printf-style, in a static buffer. */
__attribute__((format(printf, 1, 2)))
static const char *config_text(const char *fmt, ...)
{
	static char buf[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	ck_assert(n > 0 && (size_t)n < sizeof(buf));
	return buf;
}

/* What the built-in exec profile grants, for profiles of the tests. */
#define EXEC_GRANTS                                                               \
	"exec_jobs = yes\n"                                                       \
	"exec = /usr\nexec = ?/bin\nexec = ?/sbin\nexec = ?/lib\nexec = ?/lib64\n" \
	"ro = ?/etc/ld.so.cache\n"

/* Pools the test cases do not use stay empty: the machine has two cores. */
#define QUIET_POOLS "[profile parser]\npool_size = 0\n"

/*
 * `brigd --check-config` on text: when refused is true, it must exit
 * non-zero with a message holding every needle; else exit 0.
 */
static void check_config(const char *scratch, const char *label, const char *text,
			 bool refused, const char *const *needles)
{
	static unsigned serial;
	char path[PATH_MAX], brigd_path[PATH_MAX];
	struct run_result res;

	snprintf(path, sizeof(path), "%s/check-%u.conf", scratch, serial++);
	harness_write_file(path, text, strlen(text));
	snprintf(brigd_path, sizeof(brigd_path), "%s/brigd", harness_builddir());
	{
		char *argv[] = { brigd_path, (char *)"--check-config", (char *)"--config", path,
				 NULL };

		harness_run(scratch, argv, NULL, 10000, &res);
	}
	if (refused) {
		CHECK(res.status != 0 && res.status < 128, "[%s] brigd --check-config accepted "
		      "(or crashed on) a config it must refuse: status %d, stdout '%s', stderr '%s'",
		      label, res.status, res.out, res.err);
		for (size_t i = 0; needles && needles[i]; i++)
			CHECK(strstr(res.err, needles[i]), "[%s] the refusal does not name '%s': %s",
			      label, needles[i], res.err);
	} else {
		CHECK(res.status == 0, "[%s] brigd --check-config refused a valid config: status %d, "
		      "%s", label, res.status, res.err);
	}
	run_result_free(&res);
}

/* ------------------------------------------------------------------ */
/* 1. exec jobs                                                         */

START_TEST(test_exec_jobs)
{
	struct brigd d;
	struct brig_client *c;
	struct job io = { 0 }, segv = { 0 }, missing = { 0 }, missing_path = { 0 }, args = { 0 };
	struct job env = { 0 }, env_path = { 0 }, env_none = { 0 }, cwd = { 0 }, cwd_bad = { 0 };
	struct job refused = { 0 }, no_stdin = { 0 }, big_in = { 0 }, big_out = { 0 };
	struct job fds = { 0 }, background = { 0 }, timeout = { 0 };
	const size_t big_len = MIB;
	char *big = malloc(big_len);
	char expected[64];

	ck_assert(big != NULL);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (char)('a' + i % 23);
	brigd_start(&d, NULL);
	c = connect_client(&d, "desc-exec");

	exec_async(c, &io, "stdio", "", L("sh", "-c",
		   "printf 'out:'; cat; printf 'err-text' >&2; exit 7"), NULL, NULL, "in-bytes\n", 9,
		   NULL);
	sh_async(c, &segv, "segv", "", "kill -SEGV $$", NULL);
	exec_async(c, &missing, "missing", "", L("/nonexistent/brig-no-such-program"), NULL, NULL,
		   NULL, 0, NULL);
	exec_async(c, &missing_path, "missing-in-path", "", L("brig-no-such-program"), NULL, NULL,
		   NULL, 0, NULL);
	exec_async(c, &args, "argv", "", L("printf", "<%s>\n", "two words", "  lead", "tab\there",
		   ""), NULL, NULL, NULL, 0, NULL);
	exec_async(c, &env, "env", "", L("env"), L("BRIG_A=one two", "BRIG_EMPTY="), NULL, NULL, 0,
		   NULL);
	exec_async(c, &env_path, "env-path", "", L("env"), L("PATH=/usr/bin"), NULL, NULL, 0, NULL);
	exec_async(c, &env_none, "env-none", "", L("env"), NULL, NULL, NULL, 0, NULL);
	exec_async(c, &cwd, "cwd", "", L("pwd"), NULL, "/tmp", NULL, 0, NULL);
	exec_async(c, &cwd_bad, "cwd-missing", "", L("pwd"), NULL, "/nonexistent-brig-dir", NULL,
		   0, NULL);
	exec_async(c, &refused, "default-profile", "default", L("true"), NULL, NULL, NULL, 0, NULL);
	/* Without stdin bytes the program must read EOF at once, not hang. */
	no_stdin.timeout_ms = 5000;
	exec_async(c, &no_stdin, "no-stdin", "", L("cat"), NULL, NULL, NULL, 0, NULL);
	exec_async(c, &big_in, "big-stdin", "", L("wc", "-c"), NULL, NULL, big, big_len, NULL);
	sh_async(c, &big_out, "big-stdout", "", "head -c 1000000 /dev/zero | tr '\\0' x", NULL);
	/* Exactly stdin, stdout and stderr (3 is ls's own directory). */
	exec_async(c, &fds, "open-fds", "", L("ls", "/proc/self/fd"), NULL, NULL, NULL, 0, NULL);
	/* A child holding the pipes open does not hold the job. */
	sh_async(c, &background, "background-child", "", "(sleep 5; echo late) & echo early", NULL);
	timeout.timeout_ms = 500;
	exec_async(c, &timeout, "timeout", "", L("sleep", "10"), NULL, NULL, NULL, 0, NULL);
	wait_jobs(c);

	expect_exit(&io, 7);
	expect_stdout(&io, "out:in-bytes\n");
	CHECK(strcmp(err_of(&io), "err-text") == 0, "stderr must arrive on stream 2: %s",
	      describe(&io));
	CHECK(strcmp(io.message, "program exited with status 7") == 0, "%s", describe(&io));

	if (expect_outcome(&segv, BRIG_CRASHED))
		CHECK(segv.status.code == SIGSEGV, "expected code %d: %s", SIGSEGV, describe(&segv));

	expect_exit(&missing, 127);
	CHECK(strstr(err_of(&missing), "cannot run"), "%s", describe(&missing));
	expect_exit(&missing_path, 127);

	expect_exit(&args, 0);
	expect_stdout(&args, "<two words>\n<  lead>\n<tab\there>\n<>\n");

	/* The program gets exactly the environment sent, plus the default PATH. */
	expect_exit(&env, 0);
	CHECK(count_lines(out_of(&env)) == 3 && has_line(out_of(&env), "BRIG_A=one two") &&
	      has_line(out_of(&env), "BRIG_EMPTY=") &&
	      has_line(out_of(&env), "PATH=/usr/local/bin:/usr/bin:/bin"),
	      "environment must be exactly the one sent plus PATH: %s", describe(&env));
	expect_exit(&env_path, 0);
	expect_stdout(&env_path, "PATH=/usr/bin\n");
	expect_exit(&env_none, 0);
	expect_stdout(&env_none, "PATH=/usr/local/bin:/usr/bin:/bin\n");

	expect_exit(&cwd, 0);
	expect_stdout(&cwd, "/tmp\n");
	expect_exit(&cwd_bad, 127);
	CHECK(strstr(err_of(&cwd_bad), "/nonexistent-brig-dir"), "%s", describe(&cwd_bad));

	expect_rejected(&refused, BRIG_ERROR_DENIED, "exec_jobs");

	expect_exit(&no_stdin, 0);
	expect_stdout(&no_stdin, "");

	expect_exit(&big_in, 0);
	snprintf(expected, sizeof(expected), "%zu\n", big_len);
	expect_stdout(&big_in, expected);

	expect_exit(&big_out, 0);
	CHECK(big_out.out_len == 1000000 && strspn(out_of(&big_out), "x") == 1000000,
	      "expected 1000000 x on stdout, got %zu bytes in %u chunks", big_out.out_len,
	      big_out.chunks);

	expect_exit(&fds, 0);
	expect_stdout(&fds, "0\n1\n2\n3\n");
	expect_exit(&background, 0);
	expect_stdout(&background, "early\n");
	CHECK(background.status.wall_us < 3000000, "a background child held the job: %s",
	      describe(&background));
	expect_outcome(&timeout, BRIG_TIMEOUT);

	job_free(&fds);
	job_free(&background);
	job_free(&timeout);
	job_free(&io);
	job_free(&segv);
	job_free(&missing);
	job_free(&missing_path);
	job_free(&args);
	job_free(&env);
	job_free(&env_path);
	job_free(&env_none);
	job_free(&cwd);
	job_free(&cwd_bad);
	job_free(&refused);
	job_free(&no_stdin);
	job_free(&big_in);
	job_free(&big_out);
	free(big);
	brig_close(c);
	checks_end("exec jobs");
	brigd_stop(&d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 2. filesystem view                                                   */

/* Prints "NAME ok" or "NAME ERRNO" for each probe. */
#define PY_PROBE                                                                      \
	"import errno, os, sys\n"                                                     \
	"def probe(name, f):\n"                                                       \
	"    try:\n"                                                                  \
	"        f()\n"                                                               \
	"        print(name, 'ok', flush=True)\n"                                     \
	"    except OSError as e:\n"                                                  \
	"        print(name, errno.errorcode.get(e.errno, str(e.errno)), flush=True)\n" \
	"def create(path):\n"                                                         \
	"    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))\n" \
	"def write(path, data):\n"                                                    \
	"    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o755)\n"       \
	"    os.write(fd, data)\n"                                                    \
	"    os.close(fd)\n"

/* Every path of the built-in exec profile's view, and where mounts are. */
static const char *const exec_view_top[] = {
	"/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc", "/tmp", "/proc", "/dev", NULL,
};
static const char *const exec_view_mounts[] = {
	"/", "/proc", "/dev", "/dev/null", "/dev/zero", "/dev/full", "/dev/random",
	"/dev/urandom", "/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc/ld.so.cache", "/tmp",
	NULL,
};
static const char *const dev_allowed[] = {
	"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/fd",
	"/dev/stdin", "/dev/stdout", "/dev/stderr", NULL,
};

/* Each "visible PATH" line of the job must name a path of allowed. */
static void check_visible_within(const struct job *j, const char *const *allowed)
{
	char *copy = strdup(out_of(j)), *save = NULL;

	ck_assert(copy != NULL);
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "visible ", 8) == 0)
			CHECK(in_list(line + 8, allowed), "[%s] the job sees %s, which the profile "
			      "does not grant", j->label, line + 8);
	}
	free(copy);
}

/* Every mount point of the job's /proc/self/mountinfo must be one of allowed. */
static void check_mounts_within(const struct job *j, const char *const *allowed)
{
	char *copy = strdup(out_of(j)), *save = NULL;
	bool tmp_is_tmpfs = false;

	ck_assert(copy != NULL);
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char point[PATH_MAX], fstype[64] = "";
		const char *sep = strstr(line, " - ");

		if (sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1) {
			CHECK(false, "[%s] unreadable mountinfo line '%s'", j->label, line);
			continue;
		}
		if (sep)
			sscanf(sep + 3, "%63s", fstype);
		CHECK(in_list(point, allowed), "[%s] the job's view has a mount at %s (%s)",
		      j->label, point, fstype);
		if (strcmp(point, "/tmp") == 0 && strcmp(fstype, "tmpfs") == 0)
			tmp_is_tmpfs = true;
	}
	CHECK(tmp_is_tmpfs, "[%s] /tmp is not a tmpfs in the job's view: %s", j->label, describe(j));
	free(copy);
}

START_TEST(test_filesystem_view)
{
	static const char sensitive_script[] =
		"for p in /etc/shadow /etc/passwd /etc/hostname /root /home /var /boot /run /srv "
		"/opt /mnt; do\n"
		"  if test -e \"$p\" || test -L \"$p\"; then echo \"visible $p\"; fi\n"
		"done\n"
		"if cat /etc/shadow >/dev/null 2>&1; then echo 'shadow readable'; fi\n"
		"echo done\n";
	static const char visible_script[] =
		"for p in \"$@\"; do\n"
		"  if test -e \"$p\" || test -L \"$p\"; then echo \"visible $p\"; fi\n"
		"done\n"
		"for n in null zero full random urandom; do test -c /dev/$n && echo \"char $n\"; done\n"
		"echo done\n";
	static const char readonly_code[] = PY_PROBE
		"probe('usr', lambda: create('/usr/brig-probe'))\n"
		"probe('usr-bin', lambda: create('/usr/bin/brig-probe'))\n"
		"probe('root', lambda: os.mkdir('/brig-probe'))\n"
		"probe('etc', lambda: create('/etc/brig-probe'))\n"
		"probe('dev', lambda: create('/dev/brig-probe'))\n"
		"probe('proc', lambda: create('/proc/brig-probe'))\n";
	static const char tmp_code[] =
		"import errno, os, sys\n"
		"st = os.statvfs('/tmp')\n"
		"print('size', st.f_blocks * st.f_frsize)\n"
		"total, err, i = 0, 'none', 0\n"
		"chunk = b'\\1' * (1 << 20)\n"
		"while err == 'none' and i < 40:\n"
		"    fd = os.open('/tmp/%s-%d' % (sys.argv[1], i), os.O_WRONLY | os.O_CREAT, 0o600)\n"
		"    try:\n"
		"        for k in range(8):\n"
		"            total += os.write(fd, chunk)\n"
		"    except OSError as e:\n"
		"        err = errno.errorcode.get(e.errno, str(e.errno))\n"
		"    os.close(fd)\n"
		"    i += 1\n"
		"print('written', total)\n"
		"print('error', err)\n";
	static const char grants_code[] = PY_PROBE
		"rw, ro = sys.argv[1], sys.argv[2]\n"
		"print('uid', os.getuid())\n"
		"probe('rw-write', lambda: write(rw + '/from-job', b'written by the job\\n'))\n"
		"probe('rw-mkdir', lambda: os.mkdir(rw + '/dir-from-job'))\n"
		"print('ro-read', open(ro + '/readme').read().strip())\n"
		"probe('ro-write', lambda: create(ro + '/new'))\n"
		"probe('ro-modify', lambda: open(ro + '/readme', 'a').close())\n"
		"probe('usr-write', lambda: create('/usr/brig-probe'))\n";
	static const char noexec_code[] = PY_PROBE
		"import subprocess\n"
		"data = open('/usr/bin/true', 'rb').read()\n"
		"for d in sys.argv[1:]:\n"
		"    write(d + '/true-copy', data)\n"
		"    os.chmod(d + '/true-copy', 0o755)\n"
		"    probe('exec ' + d, lambda: subprocess.run([d + '/true-copy'], check=True))\n"
		"probe('exec /usr/bin/true', lambda: subprocess.run(['/usr/bin/true'], check=True))\n";
	static const char proc_code[] =
		"import os, sys\n"
		"pids = sorted(int(n) for n in os.listdir('/proc') if n.isdigit())\n"
		"print('count', len(pids))\n"
		"print('max', max(pids))\n"
		"print('self', os.readlink('/proc/self'))\n"
		"for a in sys.argv[1:]:\n"
		"    print('host', a, os.path.exists('/proc/' + a))\n";
	struct brigd d;
	struct brig_client *c;
	struct job sensitive = { 0 }, top = { 0 }, etc = { 0 }, mounts = { 0 }, readonly = { 0 };
	struct job tmp = { 0 }, grants = { 0 }, noexec = { 0 }, proc = { 0 }, dev = { 0 };
	struct job tmp_noexec = { 0 };
	char scratch[64], rw[128], ro[128], path[256], tag[64];
	char broker_pid[16], zygote_pid[16], test_pid[16], value[256];
	char **root_entries = host_entries("/"), **etc_entries = host_entries("/etc");
	char **dev_entries = host_entries("/dev");
	const char *text;
	struct stat st;
	uint64_t written, job_uid;

	make_scratch(scratch, sizeof(scratch));
	snprintf(rw, sizeof(rw), "%s/rw", scratch);
	snprintf(ro, sizeof(ro), "%s/ro", scratch);
	ck_assert(mkdir(rw, 0777) == 0 && chmod(rw, 0777) == 0);
	ck_assert(mkdir(ro, 0755) == 0);
	snprintf(path, sizeof(path), "%s/readme", ro);
	harness_write_file(path, "read-only content\n", 18);
	snprintf(tag, sizeof(tag), "brig-desc-fill-%d", (int)getpid());

	brigd_start(&d, config_text(QUIET_POOLS "[profile files]\npool_size = 1\n" EXEC_GRANTS
				    "rw = %s\nro = %s\n", rw, ro));
	c = connect_client(&d, "desc-fs");
	snprintf(broker_pid, sizeof(broker_pid), "%d", (int)d.pid);
	snprintf(zygote_pid, sizeof(zygote_pid), "%d", (int)brigd_zygote_pid(&d));
	snprintf(test_pid, sizeof(test_pid), "%d", (int)getpid());

	sh_async(c, &sensitive, "sensitive", "", sensitive_script, NULL);
	sh_args_async(c, &top, "root-entries", "", visible_script,
		      (const char *const *)root_entries, NULL);
	sh_args_async(c, &etc, "etc-entries", "", visible_script, (const char *const *)etc_entries,
		      NULL);
	exec_async(c, &mounts, "mountinfo", "", L("cat", "/proc/self/mountinfo"), NULL, NULL, NULL,
		   0, NULL);
	py_async(c, &readonly, "read-only", "", readonly_code, NULL, NULL);
	py_async(c, &tmp, "tmp", "", tmp_code, L(tag), NULL);
	py_async(c, &grants, "rw-ro", "files", grants_code, L(rw, ro), NULL);
	py_async(c, &noexec, "noexec", "files", noexec_code, L(rw), NULL);
	py_async(c, &tmp_noexec, "noexec-tmp", "", noexec_code, L("/tmp"), NULL);
	py_async(c, &proc, "proc", "", proc_code, L(broker_pid, zygote_pid, test_pid), NULL);
	sh_args_async(c, &dev, "dev-entries", "", visible_script, (const char *const *)dev_entries,
		      NULL);
	wait_jobs(c);

	/* Nothing of the host's secrets or homes is in the view. */
	expect_exit(&sensitive, 0);
	expect_stdout(&sensitive, "done\n");

	/* / holds only what the profile grants, plus /proc and /dev. */
	expect_exit(&top, 0);
	check_visible_within(&top, exec_view_top);
	CHECK(has_line(out_of(&top), "visible /usr") && has_line(out_of(&top), "visible /tmp") &&
	      has_line(out_of(&top), "visible /proc") && has_line(out_of(&top), "visible /dev"),
	      "the granted entries must be there: %s", describe(&top));
	expect_exit(&etc, 0);
	check_visible_within(&etc, L("/etc/ld.so.cache"));
	expect_exit(&mounts, 0);
	check_mounts_within(&mounts, exec_view_mounts);

	/* /usr is a read-only bind; /, /etc, /dev, /proc refuse new files. */
	expect_exit(&readonly, 0);
	CHECK(has_line(out_of(&readonly), "usr EROFS") &&
	      has_line(out_of(&readonly), "usr-bin EROFS"), "/usr must be read-only (EROFS): %s",
	      describe(&readonly));
	for (size_t i = 0; i < 4; i++) {
		static const char *const names[] = { "root", "etc", "dev", "proc" };

		CHECK(line_value(out_of(&readonly), names[i], value, sizeof(value)) &&
		      strcmp(value, "ok") != 0, "[read-only] creating under %s must fail: %s",
		      names[i], describe(&readonly));
	}

	/* /tmp: a private, writable tmpfs of 64 MiB. */
	expect_exit(&tmp, 0);
	CHECK(line_u64(out_of(&tmp), "size") == 64ull * MIB, "/tmp must be 64 MiB: %s",
	      describe(&tmp));
	text = out_of(&tmp);
	written = line_u64(text, "written");
	CHECK(line_value(text, "error", value, sizeof(value)) && strcmp(value, "ENOSPC") == 0 &&
	      written >= 56ull * MIB && written <= 64ull * MIB,
	      "filling /tmp must end in ENOSPC near 64 MiB: %s", describe(&tmp));
	snprintf(path, sizeof(path), "/tmp/%s-0", tag);
	CHECK(!host_exists(path), "the job's /tmp is the host's: %s exists", path);

	/* rw: the file appears on the host; ro: readable, not writable. */
	expect_exit(&grants, 0);
	text = out_of(&grants);
	job_uid = line_u64(text, "uid");
	CHECK(has_line(text, "rw-write ok") && has_line(text, "rw-mkdir ok"),
	      "the rw grant must be writable: %s", describe(&grants));
	snprintf(path, sizeof(path), "%s/from-job", rw);
	{
		char *written_text = read_text(path);

		CHECK(written_text && strcmp(written_text, "written by the job\n") == 0,
		      "%s on the host holds '%s'", path, written_text ? written_text : "(missing)");
		CHECK(stat(path, &st) == 0 && st.st_uid == job_uid && job_uid >= DEFAULT_UID_FIRST,
		      "%s must be owned by the job's uid %" PRIu64, path, job_uid);
		free(written_text);
	}
	CHECK(has_line(text, "ro-read read-only content"), "the ro grant must be readable: %s",
	      describe(&grants));
	CHECK(line_value(text, "ro-write", value, sizeof(value)) && strcmp(value, "ok") != 0 &&
	      line_value(text, "ro-modify", value, sizeof(value)) && strcmp(value, "ok") != 0,
	      "the ro grant must not be writable: %s", describe(&grants));
	snprintf(path, sizeof(path), "%s/new", ro);
	CHECK(!host_exists(path), "the job created %s through a ro grant", path);
	CHECK(has_line(text, "usr-write EROFS"), "%s", describe(&grants));

	/* noexec: a copied binary does not run from a rw grant (or /tmp). */
	expect_exit(&noexec, 0);
	snprintf(value, sizeof(value), "exec %s EACCES", rw);
	CHECK(has_line(out_of(&noexec), value), "a binary in the rw grant must not run: %s",
	      describe(&noexec));
	CHECK(has_line(out_of(&noexec), "exec /usr/bin/true ok"),
	      "exec of /usr/bin/true must work under the exec grant: %s", describe(&noexec));
	expect_exit(&tmp_noexec, 0);
	CHECK(has_line(out_of(&tmp_noexec), "exec /tmp EACCES"), "a binary in /tmp must not run: "
	      "%s", describe(&tmp_noexec));
	snprintf(path, sizeof(path), "%s/true-copy", rw);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0111) && st.st_size > 0,
	      "the job's copy %s must exist and be executable on the host", path);

	/* /proc: the job's pid namespace only. */
	expect_exit(&proc, 0);
	text = out_of(&proc);
	CHECK(line_u64(text, "count") >= 1 && line_u64(text, "count") <= 8 &&
	      line_u64(text, "max") <= 64, "/proc must show only the job's few processes: %s",
	      describe(&proc));
	CHECK(line_u64(text, "self") <= 64, "/proc/self is not a pid of the job's namespace: %s",
	      describe(&proc));
	{
		const char *const hosts[] = { broker_pid, zygote_pid, test_pid };

		for (size_t i = 0; i < 3; i++) {
			char line[64];

			if (atoi(hosts[i]) <= 64)
				continue;   /* could be a pid of the job's namespace too */
			snprintf(line, sizeof(line), "host %s False", hosts[i]);
			CHECK(has_line(text, line), "the job sees host pid %s in /proc: %s", hosts[i],
			      describe(&proc));
		}
	}

	/* /dev: null zero full random urandom (+ fd, stdin, stdout, stderr). */
	expect_exit(&dev, 0);
	check_visible_within(&dev, dev_allowed);
	CHECK(has_line(out_of(&dev), "char null") && has_line(out_of(&dev), "char zero") &&
	      has_line(out_of(&dev), "char full") && has_line(out_of(&dev), "char random") &&
	      has_line(out_of(&dev), "char urandom"), "the five devices must be there: %s",
	      describe(&dev));

	job_free(&sensitive);
	job_free(&top);
	job_free(&etc);
	job_free(&mounts);
	job_free(&readonly);
	job_free(&tmp);
	job_free(&grants);
	job_free(&noexec);
	job_free(&tmp_noexec);
	job_free(&proc);
	job_free(&dev);
	free_list(root_entries);
	free_list(etc_entries);
	free_list(dev_entries);
	brig_close(c);
	remove_scratch(scratch);
	checks_end("filesystem view");
	brigd_stop(&d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 3. identity                                                          */

static void check_selfcheck_identity(const struct job *j, uint64_t first, uint64_t count)
{
	uint64_t uid = item_u64(j, "uid");

	if (!expect_outcome(j, BRIG_OK))
		return;
	CHECK(uid >= first && uid < first + count && item_u64(j, "euid") == uid,
	      "[%s] uid must come from %" PRIu64 "..%" PRIu64 ": %s", j->label, first,
	      first + count - 1, item_text(j));
	CHECK(item_u64(j, "gid") == NOBODY_ID && item_u64(j, "egid") == NOBODY_ID,
	      "[%s] gid must be %d: %s", j->label, NOBODY_ID, item_text(j));
	CHECK(item_u64(j, "CapEff") == 0 && item_u64(j, "CapPrm") == 0 &&
	      item_u64(j, "CapInh") == 0 && item_u64(j, "CapBnd") == 0 &&
	      item_u64(j, "CapAmb") == 0, "[%s] capabilities left: %s", j->label, item_text(j));
	CHECK(item_u64(j, "NoNewPrivs") == 1 && item_u64(j, "Seccomp") == 2,
	      "[%s] no_new_privs and seccomp filter mode expected: %s", j->label, item_text(j));
}

/*
 * namespaces = user: the worker gets a user namespace of its own in which
 * only its uid and gid exist (each mapped to itself: root is not mapped),
 * and it is as confined as without one: no capability there either,
 * no_new_privs, the seccomp filter (no further unshare).
 */
START_TEST(test_user_namespace)
{
	static const char script[] =
		"echo \"uid $(id -u)\"; cat /proc/self/uid_map /proc/self/gid_map; "
		"echo \"ns=$(readlink /proc/self/ns/user)\"; grep -E '^(CapEff|CapBnd):' "
		"/proc/self/status; unshare -U true 2>/dev/null; echo \"unshare=$?\"";
	struct brigd d;
	struct brig_client *c;
	struct job j = { 0 };
	char host_ns[64] = "", expected[160], uid_line[64];
	ssize_t n;
	unsigned long uid = 0;

	n = readlink("/proc/self/ns/user", host_ns, sizeof(host_ns) - 1);
	ck_assert(n > 0);
	host_ns[n] = '\0';
	brigd_start(&d, config_text(QUIET_POOLS "[profile exec]\npool_size = 0\n"
				    "[profile userns]\npool_size = 1\n" EXEC_GRANTS
				    "namespaces = user pid net ipc uts mount cgroup\n"
				    "fresh_uid_range = %u-%u\n", (unsigned)private_uid_first(),
				    (unsigned)(private_uid_first() + PRIVATE_UIDS - 1)));
	c = connect_client(&d, "desc-userns");
	sh_async(c, &j, "userns", "userns", script, NULL);
	wait_jobs(c);
	expect_exit(&j, 0);
	CHECK(line_value(out_of(&j), "uid", uid_line, sizeof(uid_line)) &&
	      (uid = strtoul(uid_line, NULL, 10)) >= private_uid_first() &&
	      uid < private_uid_first() + PRIVATE_UIDS, "job uid not from the range: %s",
	      describe(&j));
	snprintf(expected, sizeof(expected), "%10lu %10lu %10u\n%10u %10u %10u\n", uid, uid, 1u,
		 65534u, 65534u, 1u);
	CHECK(strstr(out_of(&j), expected), "uid_map and gid_map must map the job's ids to "
	      "themselves and nothing else (%s): %s", expected, describe(&j));
	CHECK(strstr(out_of(&j), "ns=user:[") && !strstr(out_of(&j), host_ns),
	      "the job shares brigd's user namespace %s: %s", host_ns, describe(&j));
	CHECK(strstr(out_of(&j), "CapEff:\t0000000000000000") &&
	      strstr(out_of(&j), "CapBnd:\t0000000000000000"),
	      "capabilities inside the job's user namespace: %s", describe(&j));
	CHECK(has_line(out_of(&j), "unshare=159"), "unshare -U must die of SIGSYS: %s",
	      describe(&j));
	job_free(&j);
	brig_close(c);
	checks_end("user namespace");
	brigd_stop(&d);
}
END_TEST

START_TEST(test_identity)
{
	static const char id_script[] = "id -u; id -g; sleep 0.3";
	struct brigd d;
	struct brig_client *c;
	struct job sc[2] = { { 0 } }, ex[2] = { { 0 } }, nobody = { 0 };
	char scratch[64];
	uint64_t ex_uid[2];

	make_scratch(scratch, sizeof(scratch));
	brigd_start(&d, QUIET_POOLS "[profile nobody]\npool_size = 1\nuser = 65534\n" EXEC_GRANTS);
	c = connect_client(&d, "desc-identity");
	call_async(c, &sc[0], "selfcheck-1", "selfcheck", "", NULL, NULL);
	call_async(c, &sc[1], "selfcheck-2", "selfcheck", "", NULL, NULL);
	sh_async(c, &ex[0], "exec-1", "", id_script, NULL);
	sh_async(c, &ex[1], "exec-2", "", id_script, NULL);
	sh_async(c, &nobody, "nobody", "nobody", "id -u; id -g", NULL);
	wait_jobs(c);

	/* Two concurrent jobs, two fresh uids of the profile's range. */
	check_selfcheck_identity(&sc[0], DEFAULT_UID_FIRST, RANGE_UIDS);
	check_selfcheck_identity(&sc[1], DEFAULT_UID_FIRST, RANGE_UIDS);
	CHECK(item_u64(&sc[0], "uid") != item_u64(&sc[1], "uid"),
	      "two concurrent jobs share uid %" PRIu64, item_u64(&sc[0], "uid"));
	for (size_t i = 0; i < 2; i++) {
		expect_exit(&ex[i], 0);
		ex_uid[i] = strtoull(out_of(&ex[i]), NULL, 10);
		CHECK(ex_uid[i] >= EXEC_UID_FIRST && ex_uid[i] < EXEC_UID_FIRST + RANGE_UIDS &&
		      strstr(out_of(&ex[i]), "\n65534\n"), "exec job uid must come from the exec "
		      "range, gid 65534: %s", describe(&ex[i]));
	}
	CHECK(ex_uid[0] != ex_uid[1], "two concurrent exec jobs share uid %" PRIu64, ex_uid[0]);

	/* A fixed user. */
	expect_exit(&nobody, 0);
	expect_stdout(&nobody, "65534\n65534\n");

	/* uid 0 is refused at start-up, by number or by name. */
	check_config(scratch, "user = 0", "[profile bad]\nuser = 0\n", true, L("user"));
	check_config(scratch, "user = root", "[profile bad]\nuser = root\n", true, L("user"));
	check_config(scratch, "group = 0", "[profile bad]\ngroup = 0\n", true, L("group"));
	check_config(scratch, "user = 65534", "[profile good]\nuser = 65534\n", false, NULL);
	/* Fresh uids keep jobs apart only if no two profiles share one. */
	check_config(scratch, "overlapping ranges",
		     "[profile one]\nfresh_uid_range = 3600000000-3600000010\n"
		     "[profile two]\nfresh_uid_range = 3600000005-3600000020\n", true,
		     L("profile one", "profile two"));
	check_config(scratch, "user in a range",
		     "[profile one]\nfresh_uid_range = 3600000000-3600000010\n"
		     "[profile two]\nuser = 3600000003\n", true, L("profile one", "profile two"));
	/* Pool bounds (autosizing) are checked at load as well. */
	check_config(scratch, "pool_max below pool_size",
		     "[profile small]\npool_size = 4\npool_max = 2\n", true,
		     L("profile small", "pool_max", "pool_size"));
	check_config(scratch, "pool_idle_ms 0", "[profile p]\npool_idle_ms = 0\n", true,
		     L("pool_idle_ms"));
	check_config(scratch, "pool_max above the cap", "[profile p]\npool_max = 100000\n", true,
		     L("pool_max"));
	check_config(scratch, "pool bounds", "[profile p]\npool_size = 2\npool_max = 8\n"
		     "pool_idle_ms = 5000\n", false, NULL);
	check_config(scratch, "worker_reuse with exec_jobs",
		     "[profile r]\nworker_reuse = 10\nexec_jobs = yes\n", true,
		     L("profile r", "worker_reuse", "exec_jobs"));
	check_config(scratch, "worker_reuse 0", "[profile r]\nworker_reuse = 0\n", true,
		     L("worker_reuse"));
	check_config(scratch, "worker_reuse", "[profile r]\nworker_reuse = 100\n", false, NULL);

	for (size_t i = 0; i < 2; i++) {
		job_free(&sc[i]);
		job_free(&ex[i]);
	}
	job_free(&nobody);
	brig_close(c);
	remove_scratch(scratch);
	checks_end("identity");
	brigd_stop(&d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 4. namespaces and network                                            */

/* A TCP listener on 127.0.0.1 (port 0: any); its fd, the port in *port. */
static int tcp_listener(int *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_msg(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 16) == 0 &&
		      getsockname(fd, (struct sockaddr *)&sa, &len) == 0, "listener: %s",
		      strerror(errno));
	*port = ntohs(sa.sin_port);
	return fd;
}

/* A port of 127.0.0.1 that was free a moment ago. */
static int free_port(void)
{
	int port, fd = tcp_listener(&port);

	close(fd);
	return port;
}

/* Connections waiting on a listener, accepted and closed. */
static unsigned drain_accepts(int fd)
{
	unsigned n = 0;
	int conn;

	while ((conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		close(conn);
		n++;
	}
	return n;
}

START_TEST(test_network)
{
	static const char net_code[] =
		"import errno, os, socket, sys\n"
		"def name(e):\n"
		"    return errno.errorcode.get(e.errno, str(e.errno)) if e.errno else type(e).__name__\n"
		"def attempt(kind, port):\n"
		"    s = socket.socket()\n"
		"    s.settimeout(3)\n"
		"    try:\n"
		"        if kind == 'connect':\n"
		"            s.connect(('127.0.0.1', port))\n"
		"        else:\n"
		"            s.bind(('127.0.0.1', port))\n"
		"        return 'ok'\n"
		"    except OSError as e:\n"
		"        return name(e)\n"
		"    finally:\n"
		"        s.close()\n"
		"ifaces = [l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]]\n"
		"print('ifaces', ' '.join(sorted(ifaces)))\n"
		"print('hostname', socket.gethostname())\n"
		"for a in sys.argv[1:]:\n"
		"    kind, port = a.split(':')\n"
		"    print(kind, port, attempt(kind, int(port)))\n";
	struct brigd d;
	struct brig_client *c;
	struct job isolated = { 0 }, granted = { 0 }, narrowed = { 0 }, widened = { 0 };
	char scratch[64], line[128], arg[4][32], desc_a[32], desc_b[32];
	int port_a, port_b, port_c, port_d;
	int fd_a = tcp_listener(&port_a), fd_b = tcp_listener(&port_b);
	unsigned accepted;

	port_c = free_port();
	do
		port_d = free_port();
	while (port_d == port_c);
	snprintf(arg[0], sizeof(arg[0]), "connect:%d", port_a);
	snprintf(arg[1], sizeof(arg[1]), "connect:%d", port_b);
	snprintf(arg[2], sizeof(arg[2]), "bind:%d", port_c);
	snprintf(arg[3], sizeof(arg[3]), "bind:%d", port_d);
	make_scratch(scratch, sizeof(scratch));

	brigd_start(&d, config_text(QUIET_POOLS "[profile net]\npool_size = 1\n" EXEC_GRANTS
				    "namespaces = pid ipc uts mount cgroup\nconnect = %d\n"
				    "bind = %d\n", port_a, port_c));
	c = connect_client(&d, "desc-net");

	/* The exec profile: a network namespace of its own with only lo. */
	py_async(c, &isolated, "no-network", "", net_code, L(arg[0], arg[1]), NULL);
	wait_jobs(c);
	expect_exit(&isolated, 0);
	CHECK(has_line(out_of(&isolated), "ifaces lo"), "the job must see only lo: %s",
	      describe(&isolated));
	CHECK(has_line(out_of(&isolated), "hostname brig"), "hostname: %s", describe(&isolated));
	snprintf(line, sizeof(line), "connect %d ok", port_a);
	CHECK(!has_line(out_of(&isolated), line) && strstr(out_of(&isolated), "connect "),
	      "a job without network reached 127.0.0.1:%d: %s", port_a, describe(&isolated));
	accepted = drain_accepts(fd_a) + drain_accepts(fd_b);
	CHECK(accepted == 0, "the host listeners got %u connection(s) from a job without network",
	      accepted);

	/* The host network, with Landlock allowing exactly the granted ports. */
	py_async(c, &granted, "granted-ports", "net", net_code, L(arg[0], arg[1], arg[2], arg[3]),
		 NULL);
	/* A request naming a port may use only that one, even if the profile grants more. */
	snprintf(desc_a, sizeof(desc_a), "connect=%d", port_a);
	py_async(c, &narrowed, "narrowed-ports", "net", net_code, L(arg[0], arg[2]), L(desc_a));
	snprintf(desc_b, sizeof(desc_b), "connect=%d", port_b);
	py_async(c, &widened, "widened-port", "net", net_code, L(arg[1]), L(desc_b));
	wait_jobs(c);

	expect_exit(&granted, 0);
	snprintf(line, sizeof(line), "connect %d ok", port_a);
	CHECK(has_line(out_of(&granted), line), "connect to the granted port: %s",
	      describe(&granted));
	snprintf(line, sizeof(line), "connect %d EACCES", port_b);
	CHECK(has_line(out_of(&granted), line), "connect to a port not granted: %s",
	      describe(&granted));
	snprintf(line, sizeof(line), "bind %d ok", port_c);
	CHECK(has_line(out_of(&granted), line), "bind to the granted port: %s", describe(&granted));
	snprintf(line, sizeof(line), "bind %d EACCES", port_d);
	CHECK(has_line(out_of(&granted), line), "bind to a port not granted: %s",
	      describe(&granted));

	expect_exit(&narrowed, 0);
	snprintf(line, sizeof(line), "connect %d ok", port_a);
	CHECK(has_line(out_of(&narrowed), line), "connect to the requested port: %s",
	      describe(&narrowed));
	snprintf(line, sizeof(line), "bind %d EACCES", port_c);
	CHECK(has_line(out_of(&narrowed), line), "a request naming ports must confine bind too: %s",
	      describe(&narrowed));
	snprintf(line, sizeof(line), "connect=%d", port_b);
	expect_rejected(&widened, BRIG_ERROR_DENIED, line);

	accepted = drain_accepts(fd_a);
	CHECK(accepted == 2, "the granted listener should have 2 connections, has %u", accepted);
	accepted = drain_accepts(fd_b);
	CHECK(accepted == 0, "the listener on a port not granted got %u connection(s)", accepted);

	/* A port grant with no network is a contradiction, refused at start-up. */
	check_config(scratch, "connect without network",
		     "[profile bad]\nnamespaces = pid net ipc uts mount\nconnect = 80\n", true,
		     L("connect", "net"));
	check_config(scratch, "bind without network", "[profile bad]\nbind = 8080\n", true,
		     L("bind", "net"));

	job_free(&isolated);
	job_free(&granted);
	job_free(&narrowed);
	job_free(&widened);
	close(fd_a);
	close(fd_b);
	brig_close(c);
	remove_scratch(scratch);
	checks_end("network");
	brigd_stop(&d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 5. seccomp                                                           */

START_TEST(test_seccomp)
{
	static const char mkdir_script[] =
		"mkdir /tmp/brig-d 2>&1; echo \"status=$?\"; if test -d /tmp/brig-d; then echo made; fi";
	struct brigd d;
	struct brig_client *c;
	struct job kill_exec = { 0 }, errno_exec = { 0 }, parser = { 0 }, deny_handler = { 0 };
	struct job after_handler = { 0 }, deny_exec = { 0 }, after_exec = { 0 };
	struct job deny_errno = { 0 }, unknown = { 0 }, parser_deny = { 0 };
	struct job exec_ptrace = { 0 }, handler_ptrace = { 0 }, few_fds_ptrace = { 0 };
	struct job deny_ptrace = { 0 }, forged = { 0 };
	/* A SIGSYS the program sends itself, claiming mount (165) was trapped. */
	static const char forge[] =
		"import ctypes, os, struct\n"
		"libc = ctypes.CDLL(None, use_errno=True)\n"
		"info = ctypes.create_string_buffer(128)\n"
		"struct.pack_into('iii', info, 0, 31, 0, 1)\n"
		"struct.pack_into('PiI', info, 16, 0, 165, 0xc000003e)\n"
		"libc.syscall(129, os.getpid(), 31, info)\n"
		"print('still alive', flush=True)\n";
	char expected[128];

	brigd_start(&d, "[profile errno]\npool_size = 1\nseccomp_action = errno\n" EXEC_GRANTS
		    "tmpfs = /tmp\n");
	c = connect_client(&d, "desc-seccomp");

	/* kill: the program dies of SIGSYS, the job ends as a violation. */
	exec_async(c, &kill_exec, "unshare-kill", "", L("unshare", "-U", "true"), NULL, NULL, NULL,
		   0, NULL);
	/* errno: the call fails with EPERM and the program goes on. */
	sh_async(c, &errno_exec, "unshare-errno", "errno", "unshare -U true; echo \"status=$?\"",
		 NULL);
	/* The parser allow-list kills a handler that reads its groups. */
	call_async(c, &parser, "parser-selfcheck", "selfcheck", "parser", NULL, NULL);
	/* A request's seccomp_deny, for that job only. */
	call_async(c, &deny_handler, "deny-getgroups", "selfcheck", "", NULL,
		   L("seccomp_deny=getgroups"));
	sh_async(c, &deny_exec, "deny-mkdir", "", mkdir_script, L("seccomp_deny=mkdir mkdirat"));
	sh_async(c, &deny_errno, "deny-mkdir-errno", "errno", mkdir_script,
		 L("seccomp_deny = mkdir, mkdirat"));
	exec_async(c, &unknown, "unknown-syscall", "", L("true"), NULL, NULL, NULL, 0,
		   L("seccomp_deny=brig_no_such_call"));
	call_async(c, &parser_deny, "parser-deny", "selfcheck", "parser", NULL,
		   L("seccomp_deny=mkdir"));
	/* Workers of exec profiles trace their programs, so they hold ptrace
	 * themselves: neither a program nor a handler job may. */
	exec_async(c, &exec_ptrace, "strace", "", L("strace", "-f", "true"), NULL, NULL, NULL, 0,
		   NULL);
	call_async(c, &handler_ptrace, "handler-ptrace", "ptrace", "exec", NULL, NULL);
	/* Whatever a request's descriptors do to the worker (few fds: no
	 * signalfd for tracing), the program never gets ptrace. */
	exec_async(c, &few_fds_ptrace, "strace-few-fds", "", L("strace", "-f", "true"), NULL, NULL,
		   NULL, 0, L("rlimit_nofile=10"));
	/* A request that denies ptrace itself does not break the tracing. */
	exec_async(c, &deny_ptrace, "deny-ptrace", "", L("true"), NULL, NULL, NULL, 0,
		   L("seccomp_deny=ptrace"));
	exec_async(c, &forged, "forged-sigsys", "", L("python3", "-c", forge), NULL, NULL, NULL, 0,
		   NULL);
	wait_jobs(c);
	/* The next jobs, on the same profiles, are not affected. */
	call_async(c, &after_handler, "after-deny-getgroups", "selfcheck", "", NULL, NULL);
	sh_async(c, &after_exec, "after-deny-mkdir", "", mkdir_script, NULL);
	wait_jobs(c);

	/* The worker traces the program and names the syscall it died of. */
	snprintf(expected, sizeof(expected), "unshare (%d)", SYS_unshare);
	if (expect_outcome(&kill_exec, BRIG_VIOLATION))
		CHECK(kill_exec.status.code == SYS_unshare && strstr(kill_exec.message, expected),
		      "an exec job's violation must name the syscall: %s", describe(&kill_exec));

	expect_exit(&errno_exec, 0);
	expect_stdout(&errno_exec, "status=1\n");
	CHECK(strstr(err_of(&errno_exec), "Operation not permitted"), "%s", describe(&errno_exec));

	snprintf(expected, sizeof(expected), "getgroups (%d)", SYS_getgroups);
	if (expect_outcome(&parser, BRIG_VIOLATION))
		CHECK(parser.status.code == SYS_getgroups && strstr(parser.message, expected),
		      "a violation must name the syscall: %s", describe(&parser));
	if (expect_outcome(&deny_handler, BRIG_VIOLATION))
		CHECK(deny_handler.status.code == SYS_getgroups &&
		      strstr(deny_handler.message, expected),
		      "a violation must name the syscall: %s", describe(&deny_handler));
	expect_outcome(&after_handler, BRIG_OK);

	/* sh reports the mkdir child's SIGSYS as 128 + 31. */
	expect_exit(&deny_exec, 0);
	snprintf(expected, sizeof(expected), "status=%d\n", 128 + SIGSYS);
	CHECK(strstr(out_of(&deny_exec), expected) && !strstr(out_of(&deny_exec), "made"),
	      "seccomp_deny=mkdir must kill mkdir: %s", describe(&deny_exec));
	expect_exit(&after_exec, 0);
	expect_stdout(&after_exec, "status=0\nmade\n");
	expect_exit(&deny_errno, 0);
	CHECK(strstr(out_of(&deny_errno), "Operation not permitted") &&
	      strstr(out_of(&deny_errno), "status=1\n") && !strstr(out_of(&deny_errno), "made"),
	      "under errno, a denied mkdir fails with EPERM: %s", describe(&deny_errno));

	snprintf(expected, sizeof(expected), "ptrace (%d)", SYS_ptrace);
	if (expect_outcome(&exec_ptrace, BRIG_VIOLATION))
		CHECK(exec_ptrace.status.code == SYS_ptrace && strstr(exec_ptrace.message, expected),
		      "strace in an exec job: %s", describe(&exec_ptrace));
	if (expect_outcome(&handler_ptrace, BRIG_VIOLATION))
		CHECK(handler_ptrace.status.code == SYS_ptrace &&
		      strstr(handler_ptrace.message, expected),
		      "a handler job in the exec profile: %s", describe(&handler_ptrace));

	expect_outcome(&few_fds_ptrace, BRIG_VIOLATION);
	expect_exit(&deny_ptrace, 0);
	/* It dies of its own SIGSYS, but no syscall was trapped: no name. */
	if (expect_outcome(&forged, BRIG_VIOLATION))
		CHECK(forged.status.code != 165 && !strstr(forged.message, "mount"),
		      "a forged SIGSYS named a syscall: %s", describe(&forged));

	expect_rejected(&unknown, BRIG_ERROR_BAD_REQUEST, "brig_no_such_call");
	expect_rejected(&parser_deny, BRIG_ERROR_DENIED, "seccomp_deny");

	job_free(&kill_exec);
	job_free(&errno_exec);
	job_free(&parser);
	job_free(&deny_handler);
	job_free(&after_handler);
	job_free(&deny_exec);
	job_free(&after_exec);
	job_free(&deny_errno);
	job_free(&unknown);
	job_free(&exec_ptrace);
	job_free(&handler_ptrace);
	job_free(&few_fds_ptrace);
	job_free(&deny_ptrace);
	job_free(&forged);
	job_free(&parser_deny);
	brig_close(c);
	checks_end("seccomp");
	brigd_stop(&d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 6. rlimits                                                           */

START_TEST(test_rlimits)
{
	static const char nofile_code[] =
		"import errno, os, resource\n"
		"print('limit', *resource.getrlimit(resource.RLIMIT_NOFILE))\n"
		"last, err = -1, 'none'\n"
		"try:\n"
		"    while True:\n"
		"        last = os.open('/dev/null', os.O_RDONLY)\n"
		"except OSError as e:\n"
		"    err = errno.errorcode.get(e.errno, str(e.errno))\n"
		"print('last', last)\n"
		"print('error', err)\n";
	/* Python ignores SIGXFSZ, so the write fails with EFBIG. */
	static const char fsize_code[] =
		"import errno, os\n"
		"fd = os.open('/tmp/big', os.O_WRONLY | os.O_CREAT, 0o600)\n"
		"err = 'none'\n"
		"try:\n"
		"    for i in range(32):\n"
		"        os.write(fd, b'\\1' * 65536)\n"
		"except OSError as e:\n"
		"    err = errno.errorcode.get(e.errno, str(e.errno))\n"
		"print('size', os.fstat(fd).st_size)\n"
		"print('error', err)\n";
	struct brigd d;
	struct brig_client *c;
	struct job nofile = { 0 }, ulimit_n = { 0 }, profile_n = { 0 }, fsize = { 0 };
	struct job above = { 0 }, junk = { 0 }, as_above = { 0 };
	char value[64];

	brigd_start(&d, QUIET_POOLS);
	c = connect_client(&d, "desc-rlimits");
	py_async(c, &nofile, "nofile-16", "", nofile_code, NULL, L("rlimit_nofile=16"));
	sh_async(c, &ulimit_n, "ulimit-n", "", "ulimit -n", L("rlimit_nofile=16"));
	sh_async(c, &profile_n, "ulimit-n-profile", "", "ulimit -n", NULL);
	py_async(c, &fsize, "fsize-1M", "", fsize_code, NULL, L("rlimit_fsize=1M"));
	exec_async(c, &above, "nofile-above", "", L("true"), NULL, NULL, NULL, 0,
		   L("rlimit_nofile=65"));
	exec_async(c, &as_above, "as-above", "", L("true"), NULL, NULL, NULL, 0,
		   L("rlimit_as=2G"));
	exec_async(c, &junk, "nofile-junk", "", L("true"), NULL, NULL, NULL, 0,
		   L("rlimit_nofile=lots"));
	wait_jobs(c);

	expect_exit(&nofile, 0);
	CHECK(has_line(out_of(&nofile), "limit 16 16") && has_line(out_of(&nofile), "last 15") &&
	      line_value(out_of(&nofile), "error", value, sizeof(value)) &&
	      strcmp(value, "EMFILE") == 0, "with rlimit_nofile=16 fd 15 is the last: %s",
	      describe(&nofile));
	expect_exit(&ulimit_n, 0);
	expect_stdout(&ulimit_n, "16\n");
	expect_exit(&profile_n, 0);
	expect_stdout(&profile_n, "64\n");

	expect_exit(&fsize, 0);
	CHECK(line_u64(out_of(&fsize), "size") == MIB &&
	      line_value(out_of(&fsize), "error", value, sizeof(value)) &&
	      strcmp(value, "EFBIG") == 0, "rlimit_fsize=1M stops a file at 1 MiB: %s",
	      describe(&fsize));

	expect_rejected(&above, BRIG_ERROR_DENIED, "rlimit_nofile");
	expect_rejected(&as_above, BRIG_ERROR_DENIED, "rlimit_as");
	expect_rejected(&junk, BRIG_ERROR_BAD_REQUEST, "rlimit_nofile");

	job_free(&nofile);
	job_free(&ulimit_n);
	job_free(&profile_n);
	job_free(&fsize);
	job_free(&above);
	job_free(&as_above);
	job_free(&junk);
	brig_close(c);
	checks_end("rlimits");
	brigd_stop(&d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 7. cgroup limits                                                     */

START_TEST(test_cgroup_limits)
{
	/* 50 MB chunks whose pages are touched, until the cgroup says no. */
	static const char memory_bomb[] =
		"import os\n"
		"print(os.getuid(), flush=True)\n"
		"chunks = []\n"
		"while True:\n"
		"    chunks.append(b'\\1' * (50 << 20))\n";
	static const char fork_bomb[] =
		"id -u\n"
		"i=0\n"
		"while [ $i -lt 200 ]; do sleep 30 & i=$((i + 1)); done\n"
		"wait\n";
	struct brigd d;
	struct brig_client *c;
	struct job memory = { 0 }, pids = { 0 }, after = { 0 };
	uid_t uid;
	pid_t left = 0;
	size_t n;

	brigd_start(&d, config_text(QUIET_POOLS "%s", private_exec_range()));
	/* tests/check-cgroup2.sh runs this case on a pure v2 host and says so. */
	if (getenv("BRIG_EXPECT_CGROUP")) {
		char expect[32];

		snprintf(expect, sizeof(expect), "cgroup v%s: worker limits",
			 getenv("BRIG_EXPECT_CGROUP"));
		ck_assert_msg(log_contains(&d, expect), "BRIG_EXPECT_CGROUP: brigd's log has no "
			      "\"%s\"", expect);
	}
	if (log_contains(&d, "cgroups unavailable")) {
		fprintf(stderr, "check_descriptors: cgroups unavailable on this host (see brigd's "
			"log); memory_limit and pids_limit are not checked\n");
		brigd_stop(&d);
		return;
	}
	c = connect_client(&d, "desc-cgroups");
	py_async(c, &memory, "memory-bomb", "", memory_bomb, NULL, NULL);
	sh_async(c, &pids, "fork-bomb", "", fork_bomb, NULL);
	wait_jobs(c);

	expect_outcome(&memory, BRIG_MEMORY_LIMIT);
	expect_outcome(&pids, BRIG_PIDS_LIMIT);
	/* Nothing of either job is left (FINAL comes after the last reap). */
	uid = (uid_t)strtoul(out_of(&memory), NULL, 10);
	CHECK(uid >= private_uid_first() && uid < private_uid_first() + PRIVATE_UIDS,
	      "memory bomb: uid not from the profile's range: %s", describe(&memory));
	n = wait_uid_gone(uid, 2000, &left);
	CHECK(n == 0, "%zu process(es) of the memory bomb's uid %u remain (pid %d)", n,
	      (unsigned)uid, (int)left);
	uid = (uid_t)strtoul(out_of(&pids), NULL, 10);
	CHECK(uid >= private_uid_first() && uid < private_uid_first() + PRIVATE_UIDS,
	      "fork bomb: uid not from the profile's range: %s", describe(&pids));
	n = wait_uid_gone(uid, 2000, &left);
	CHECK(n == 0, "%zu process(es) of the fork bomb's uid %u remain (pid %d)", n,
	      (unsigned)uid, (int)left);

	/* The daemon goes on serving. */
	sh_async(c, &after, "after-bombs", "", "echo alive", NULL);
	wait_jobs(c);
	expect_exit(&after, 0);
	expect_stdout(&after, "alive\n");

	job_free(&memory);
	job_free(&pids);
	job_free(&after);
	brig_close(c);
	checks_end("cgroup limits");
	brigd_stop(&d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 8. narrowing, confused deputy and policy, as an unprivileged client */

struct unprivileged_run {
	const struct brigd *d;
	const char *const *legit;       /* descriptors of a legitimate narrowing */
};

/* Drops to uid/gid 65534 with the given groups, runs body, exits with the
 * number of failed checks.  Returns that, or 200+ if the child failed. */
static int run_unprivileged(const struct unprivileged_run *run, const gid_t *groups,
			    size_t group_count,
			    void (*body)(const struct unprivileged_run *run, struct brig_client *c))
{
	int status;
	pid_t pid = fork();

	ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		struct brig_client *c = NULL;
		int r;

		if (setgroups(group_count, groups) < 0 ||
		    setresgid(NOBODY_ID, NOBODY_ID, NOBODY_ID) < 0 ||
		    setresuid(NOBODY_ID, NOBODY_ID, NOBODY_ID) < 0) {
			fprintf(stderr, "cannot become uid %d: %s\n", NOBODY_ID, strerror(errno));
			_exit(201);
		}
		check_failures = 0;
		r = brig_connect(run->d->socket_path, "desc-unprivileged", &c);
		if (r < 0) {
			fprintf(stderr, "unprivileged brig_connect: %s\n", brig_strerror(r));
			_exit(202);
		}
		body(run, c);
		brig_close(c);
		_exit(check_failures > 100 ? 100 : (int)check_failures);
	}
	while (waitpid(pid, &status, 0) < 0)
		ck_assert(errno == EINTR);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 300 + WTERMSIG(status);
}

/* max_clients_per_uid = 4: with one connection open, three more are
 * welcomed and the next is refused as busy; root is not counted. */
static void unprivileged_connection_cap(const struct unprivileged_run *run, struct brig_client *c)
{
	struct brig_client *more[4] = { 0 };
	int r[4];

	(void)c;
	for (int i = 0; i < 4; i++)
		r[i] = brig_connect(run->d->socket_path, "desc-cap", &more[i]);
	for (int i = 0; i < 3; i++)
		CHECK(r[i] == 0, "connection %d of uid %d refused: %s", i + 2, NOBODY_ID,
		      brig_strerror(r[i]));
	CHECK(r[3] == -BRIG_EBUSY, "connection 5 of uid %d with max_clients_per_uid = 4: got %d "
	      "(%s), expected busy", NOBODY_ID, r[3], r[3] < 0 ? brig_strerror(r[3]) : "accepted");
	for (int i = 0; i < 4; i++)
		if (r[i] == 0)
			brig_close(more[i]);
}

static void unprivileged_with_group(const struct unprivileged_run *run, struct brig_client *c)
{
	struct job shadow = { 0 }, passwd = { 0 }, uid0 = { 0 }, outside = { 0 }, port = { 0 };
	struct job tmpfs = { 0 }, rw_usr = { 0 }, ns = { 0 }, action = { 0 }, legit = { 0 };
	struct job rootonly = { 0 }, grp = { 0 }, magic = { 0 }, echo = { 0 };

	/* The profile grants /etc, but this client cannot read /etc/shadow. */
	sh_async(c, &shadow, "ro=/etc/shadow", "etc", "cat /etc/shadow", L("ro=/etc/shadow"));
	/* A path it can read is fine (and then is all the job may read, with /usr). */
	sh_async(c, &passwd, "ro=/etc/passwd", "etc", "head -n 1 /etc/passwd; cat /etc/group",
		 run->legit);
	sh_async(c, &uid0, "user=0", "", "true", L("user=0"));
	sh_async(c, &outside, "ro=/home", "", "true", L("ro=/home"));
	sh_async(c, &port, "connect=8080", "", "true", L("connect=8080"));
	sh_async(c, &tmpfs, "tmpfs=/x", "", "true", L("tmpfs=/x"));
	sh_async(c, &rw_usr, "rw=/usr", "", "true", L("rw=/usr"));
	sh_async(c, &ns, "namespaces", "", "true", L("namespaces=pid"));
	sh_async(c, &action, "seccomp_action", "", "true", L("seccomp_action=errno"));
	sh_async(c, &legit, "legitimate narrowing", "",
		 "ls /usr/share >/dev/null && echo share-listed\n"
		 "if touch /tmp/brig-narrow 2>/dev/null; then echo tmp-writable; "
		 "else echo tmp-denied; fi", run->legit + 1);
	call_async(c, &rootonly, "allow_users=root", "echo", "rootonly", "x", NULL);
	call_async(c, &grp, "allow_groups", "echo", "grp", "x", NULL);
	call_async(c, &magic, "handlers=echo: magic", "magic", "echoonly", "x", NULL);
	call_async(c, &echo, "handlers=echo: echo", "echo", "echoonly", "x", NULL);
	wait_jobs(c);

	expect_rejected(&shadow, BRIG_ERROR_DENIED, "ro=/etc/shadow");
	CHECK(strstr(shadow.message, "cannot access"), "the refusal must say the client cannot "
	      "reach the path itself: %s", describe(&shadow));
	expect_exit(&passwd, 1);   /* /etc/group was not named */
	CHECK(strncmp(out_of(&passwd), "root:", 5) == 0 && strstr(err_of(&passwd), "/etc/group"),
	      "a request naming ro=/etc/passwd reads it and nothing else of /etc: %s",
	      describe(&passwd));
	expect_rejected(&uid0, BRIG_ERROR_DENIED, "user=0");
	expect_rejected(&outside, BRIG_ERROR_DENIED, "ro=/home");
	expect_rejected(&port, BRIG_ERROR_DENIED, "connect=8080");
	expect_rejected(&tmpfs, BRIG_ERROR_DENIED, "tmpfs=/x");
	expect_rejected(&rw_usr, BRIG_ERROR_DENIED, "rw=/usr");
	expect_rejected(&ns, BRIG_ERROR_DENIED, "namespaces");
	expect_rejected(&action, BRIG_ERROR_DENIED, "seccomp_action");
	expect_exit(&legit, 0);
	expect_stdout(&legit, "share-listed\ntmp-denied\n");
	expect_rejected(&rootonly, BRIG_ERROR_DENIED, "rootonly");
	expect_outcome(&grp, BRIG_OK);
	expect_rejected(&magic, BRIG_ERROR_DENIED, "magic");
	expect_outcome(&echo, BRIG_OK);

	job_free(&shadow);
	job_free(&passwd);
	job_free(&uid0);
	job_free(&outside);
	job_free(&port);
	job_free(&tmpfs);
	job_free(&rw_usr);
	job_free(&ns);
	job_free(&action);
	job_free(&legit);
	job_free(&rootonly);
	job_free(&grp);
	job_free(&magic);
	job_free(&echo);
}

static void unprivileged_without_group(const struct unprivileged_run *run, struct brig_client *c)
{
	struct job grp = { 0 };

	(void)run;
	call_async(c, &grp, "allow_groups, not a member", "echo", "grp", "x", NULL);
	wait_jobs(c);
	expect_rejected(&grp, BRIG_ERROR_DENIED, "grp");
	job_free(&grp);
}

/* In more supplementary groups than SO_PEERGROUPS hands brigd (63): a
 * path checked with fewer groups could pass where a group is denied, so
 * such a client gets no path at all, and says so; other jobs still run. */
static void unprivileged_many_groups(const struct unprivileged_run *run, struct brig_client *c)
{
	struct job path = { 0 }, plain = { 0 };

	sh_async(c, &path, "ro with 70 groups", "", "true", run->legit + 1);
	sh_async(c, &plain, "no path with 70 groups", "", "echo ok", NULL);
	wait_jobs(c);
	expect_rejected(&path, BRIG_ERROR_DENIED, "supplementary groups");
	expect_exit(&plain, 0);
	job_free(&path);
	job_free(&plain);
}

START_TEST(test_unprivileged_client)
{
	static const char *const optional[] = { "/bin", "/sbin", "/lib", "/lib64" };
	struct brigd d;
	struct brig_client *c;
	struct job root_shadow = { 0 };
	const char *legit[12], *root_desc[12];
	size_t n = 0, k = 0;
	int failures;
	gid_t group = CLIENT_GROUP;
	struct unprivileged_run run = { .d = &d, .legit = legit };

	/* legit[0] for the /etc profile only; legit + 1 for the exec profile. */
	legit[n++] = "ro=/etc/passwd";
	legit[n++] = "ro=/usr/share";
	legit[n++] = "exec=/usr";
	for (size_t i = 0; i < sizeof(optional) / sizeof(optional[0]); i++) {
		static char descs[4][32];

		if (!host_exists(optional[i]))
			continue;
		snprintf(descs[i], sizeof(descs[i]), "exec=%s", optional[i]);
		legit[n++] = descs[i];
	}
	if (host_exists("/etc/ld.so.cache"))
		legit[n++] = "ro=/etc/ld.so.cache";
	legit[n] = NULL;

	brigd_start(&d, config_text(
		"[brigd]\nsocket_mode = 0666\nmax_clients_per_uid = 4\n" QUIET_POOLS
		"[profile default]\npool_size = 1\n"
		"[profile exec]\npool_size = 1\n"
		"[profile etc]\npool_size = 1\n" EXEC_GRANTS "ro = /etc\n"
		"[profile rootonly]\npool_size = 0\nallow_users = root\n"
		"[profile grp]\npool_size = 0\nallow_users = root\nallow_groups = %d\n"
		"[profile echoonly]\npool_size = 0\nhandlers = echo\n", CLIENT_GROUP));

	failures = run_unprivileged(&run, &group, 1, unprivileged_with_group);
	CHECK(failures == 0, "the unprivileged client (uid %d, groups %d) saw %d failed check(s), "
	      "printed above", NOBODY_ID, CLIENT_GROUP, failures);
	{
		gid_t many[70];

		for (size_t i = 0; i < 70; i++)
			many[i] = (gid_t)(20000 + i);
		failures = run_unprivileged(&run, many, 70, unprivileged_many_groups);
		CHECK(failures == 0, "the client in 70 groups saw %d failed check(s), printed "
		      "above", failures);
	}
	failures = run_unprivileged(&run, NULL, 0, unprivileged_without_group);
	CHECK(failures == 0, "the unprivileged client without groups saw %d failed check(s), "
	      "printed above", failures);
	failures = run_unprivileged(&run, NULL, 0, unprivileged_connection_cap);
	CHECK(failures == 0, "max_clients_per_uid: %d failed check(s), printed above", failures);

	/* root may name /etc/shadow; the job itself still cannot read it. */
	c = connect_client(&d, "desc-root");
	root_desc[k++] = "ro=/etc/shadow";
	for (size_t i = 2; legit[i]; i++)
		root_desc[k++] = legit[i];
	root_desc[k] = NULL;
	sh_async(c, &root_shadow, "root: ro=/etc/shadow", "etc",
		 "cat /etc/shadow >/dev/null 2>&1 && echo read || echo unreadable", root_desc);
	wait_jobs(c);
	expect_exit(&root_shadow, 0);
	expect_stdout(&root_shadow, "unreadable\n");
	job_free(&root_shadow);
	brig_close(c);
	checks_end("unprivileged client");
	brigd_stop(&d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 9. reload                                                            */

#define TREE_MAX 256

struct reload_state {
	struct brigd *d;
	const char *new_config;
	int64_t reload_ms;
	pid_t old_zygote;
	struct proc_id old_tree[TREE_MAX];   /* the old zygote's descendants */
	size_t old_count;
};

/* At the sleep job's first item: rewrite the config and SIGHUP. */
static void reload_at_first_item(struct job *j)
{
	struct reload_state *rs = j->user;

	if (j->items != 1)
		return;
	rs->old_zygote = brigd_zygote_pid(rs->d);
	rs->old_count = collect_tree(rs->old_zygote, rs->old_tree, 0, TREE_MAX);
	harness_write_file(rs->d->config_path, rs->new_config, strlen(rs->new_config));
	CHECK(kill(rs->d->pid, SIGHUP) == 0, "kill(SIGHUP): %s", strerror(errno));
	rs->reload_ms = harness_now_ms();
}

/* WELCOME lists profile (on a fresh connection). */
static bool welcome_lists(const struct brigd *d, const char *profile)
{
	struct brig_client *c = connect_client(d, "desc-welcome");
	bool found = false;

	for (size_t i = 0; i < brig_server_profile_count(c) && !found; i++)
		found = strcmp(brig_server_profile(c, i), profile) == 0;
	brig_close(c);
	return found;
}

START_TEST(test_reload)
{
	static const char first[] = QUIET_POOLS "[profile default]\npool_size = 1\n";
	static const char second[] = QUIET_POOLS "[profile default]\npool_size = 1\n"
				     "[profile added]\npool_size = 1\n";
	static const char broken[] = QUIET_POOLS "[profile default]\npool_size = 1\n"
				     "[profile added]\npool_size = 1\n"
				     "[profile broken]\nno_such_key = 1\n";
	struct brigd d;
	struct brig_client *c;
	struct job slow = { 0 }, added = { 0 }, added_again = { 0 };
	struct reload_state rs = { .d = &d, .new_config = second };
	int64_t deadline;
	bool listed = false;
	size_t alive = 0;

	brigd_start(&d, first);
	CHECK(!welcome_lists(&d, "added"), "profile 'added' is there before the reload");
	c = connect_client(&d, "desc-reload");
	slow.on_event = reload_at_first_item;
	slow.user = &rs;
	call_async(c, &slow, "sleep across the reload", "sleep", "", "1500", NULL);
	wait_jobs(c);

	/* The running job finished in its old worker. */
	CHECK(rs.reload_ms > 0, "the sleep job never started: %s", describe(&slow));
	expect_outcome(&slow, BRIG_OK);
	CHECK(slow.items == 2, "the job must say sleeping and slept: %s", describe(&slow));

	deadline = harness_now_ms() + 5000;
	while (!(listed = welcome_lists(&d, "added")) && harness_now_ms() < deadline)
		harness_sleep_ms(50);
	CHECK(listed, "WELCOME does not list the profile added by the reload");

	/* The retired zygote, its templates and workers go once its last job is done. */
	deadline = harness_now_ms() + 3000;
	do {
		alive = proc_start_time(rs.old_zygote) != 0;
		for (size_t i = 0; i < rs.old_count && i < TREE_MAX; i++)
			alive += proc_start_time(rs.old_tree[i].pid) == rs.old_tree[i].start;
		if (alive == 0)
			break;
		harness_sleep_ms(20);
	} while (harness_now_ms() < deadline);
	CHECK(alive == 0 && rs.old_zygote > 0, "%zu process(es) of the retired zygote %d (of %zu) "
	      "remain 3 s after its last job ended", alive, (int)rs.old_zygote, rs.old_count + 1);
	CHECK(brigd_zygote_pid(&d) > 0 && brigd_zygote_pid(&d) != rs.old_zygote,
	      "brigd must have exactly one child, a new zygote (old %d)", (int)rs.old_zygote);
	/* The connection from before the reload serves the new profile. */
	call_async(c, &added, "new profile", "echo", "added", "hello", NULL);
	wait_jobs(c);
	expect_outcome(&added, BRIG_OK);

	/* A broken file is refused; the running configuration stays. */
	harness_write_file(d.config_path, broken, strlen(broken));
	CHECK(kill(d.pid, SIGHUP) == 0, "kill(SIGHUP): %s", strerror(errno));
	deadline = harness_now_ms() + 5000;
	while (!log_contains(&d, "reload refused") && harness_now_ms() < deadline)
		harness_sleep_ms(50);
	CHECK(log_contains(&d, "reload refused"), "no 'reload refused' in brigd's log");
	call_async(c, &added_again, "new profile after a refused reload", "echo", "added", "again",
		   NULL);
	wait_jobs(c);
	expect_outcome(&added_again, BRIG_OK);
	CHECK(welcome_lists(&d, "added") && !welcome_lists(&d, "broken"),
	      "after a refused reload WELCOME must list the previous profiles");

	job_free(&slow);
	job_free(&added);
	job_free(&added_again);
	brig_close(c);
	checks_end("reload");
	brigd_stop(&d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 10. zygote death                                                     */

struct zygote_kill {
	struct brigd *d;
	struct job *handler_job, *exec_job;
	pid_t zygote;
	struct proc_id tree[TREE_MAX];   /* the old zygote's descendants */
	size_t tree_count;
	int64_t kill_ms;
};

/* Once both jobs run: note the zygote's processes, then SIGKILL it. */
static void kill_zygote_when_running(struct job *j)
{
	struct zygote_kill *zk = j->user;

	if (zk->kill_ms || zk->handler_job->items < 1 || !strchr(out_of(zk->exec_job), '\n'))
		return;
	zk->zygote = brigd_zygote_pid(zk->d);
	CHECK(zk->zygote > 0, "no zygote under brigd %d", (int)zk->d->pid);
	if (zk->zygote <= 0)
		return;
	zk->tree_count = collect_tree(zk->zygote, zk->tree, 0, TREE_MAX);
	CHECK(kill(zk->zygote, SIGKILL) == 0, "kill(zygote): %s", strerror(errno));
	zk->kill_ms = harness_now_ms();
}

START_TEST(test_zygote_death)
{
	struct brigd d;
	struct brig_client *c;
	struct job handler_job = { 0 }, exec_job = { 0 };
	struct zygote_kill zk = { .d = &d, .handler_job = &handler_job, .exec_job = &exec_job };
	static const char input[] = "after the zygote";
	int64_t served_ms = 0, deadline;
	size_t alive = 0, attempts = 0;
	pid_t new_zygote, stray = 0;
	size_t strays;
	uid_t job_uid;

	brigd_start(&d, config_text(QUIET_POOLS "%s", private_exec_range()));
	c = connect_client(&d, "desc-zygote");
	handler_job.on_event = exec_job.on_event = kill_zygote_when_running;
	handler_job.user = exec_job.user = &zk;
	/* A handler job (a worker forked from its profile's template) and an
	 * exec job (a worker in namespaces of its own) run when it dies. */
	call_async(c, &handler_job, "sleep", "sleep", "", "5000", NULL);
	sh_async(c, &exec_job, "exec sleep", "", "id -u; exec sleep 30", NULL);
	wait_jobs(c);
	brig_close(c);

	E2E_ASSERT(zk.kill_ms > 0, "the jobs never ran together: %s", describe(&handler_job));
	expect_outcome(&handler_job, BRIG_BROKER_ERROR);
	expect_outcome(&exec_job, BRIG_BROKER_ERROR);

	/* A new job is served within a second of the kill. */
	deadline = zk.kill_ms + 5000;
	while (harness_now_ms() < deadline) {
		struct brig_job job = { .handler = "echo", .input = input,
					.input_len = sizeof(input) - 1, .timeout_ms = 5000 };
		struct brig_status st = { .outcome = -1 };
		int r = brig_call(d.socket_path, &job, NULL, NULL, &st, NULL, 0);

		attempts++;
		if (r == 0 && st.outcome == BRIG_OK) {
			served_ms = harness_now_ms();
			break;
		}
		harness_sleep_ms(10);
	}
	CHECK(served_ms > 0, "no echo job succeeded within 5 s of the zygote's death (%zu tries)",
	      attempts);
	fprintf(stderr, "check_descriptors: zygote killed; first job served after %" PRId64
		" ms (%zu tries)\n", served_ms - zk.kill_ms, attempts);
	CHECK(served_ms - zk.kill_ms <= 1000 * (int64_t)harness_slowdown(),
	      "the first job after the zygote's death was served after %" PRId64 " ms (%zu tries); "
	      "at most 1000 ms expected", served_ms - zk.kill_ms, attempts);

	/* Within 2 s of the kill, nothing of the old zygote is left. */
	deadline = zk.kill_ms + 2000;
	do {
		alive = 0;
		for (size_t i = 0; i < zk.tree_count && i < TREE_MAX; i++)
			alive += proc_start_time(zk.tree[i].pid) == zk.tree[i].start;
		if (alive == 0)
			break;
		harness_sleep_ms(20);
	} while (harness_now_ms() < deadline);
	CHECK(alive == 0, "%zu of the old zygote's %zu processes outlived it by 2 s", alive,
	      zk.tree_count);
	CHECK(zk.tree_count >= 3, "the old zygote had only %zu descendants (templates, workers)",
	      zk.tree_count);
	/* No process with the exec job's uid, but the new zygote's workers. */
	job_uid = (uid_t)strtoul(out_of(&exec_job), NULL, 10);
	CHECK(job_uid >= private_uid_first() && job_uid < private_uid_first() + PRIVATE_UIDS,
	      "the exec job's uid is not from the profile's range: %s", describe(&exec_job));
	new_zygote = brigd_zygote_pid(&d);
	/* The new zygote hands out the range again from its start. */
	strays = uid_processes(job_uid, new_zygote, &stray);
	CHECK(strays == 0, "%zu process(es) with the killed job's uid %u remain (pid %d)", strays,
	      (unsigned)job_uid, (int)stray);
	CHECK(new_zygote > 0 && new_zygote != zk.zygote, "no new zygote (%d, old %d)",
	      (int)new_zygote, (int)zk.zygote);

	job_free(&handler_job);
	job_free(&exec_job);
	checks_end("zygote death");
	brigd_stop(&d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 11. queue and client caps                                            */

START_TEST(test_queue_and_client_caps)
{
	struct brigd d;
	struct brig_client *c1, *c2, *c3 = NULL;
	struct job jobs[5] = { { 0 } };
	unsigned busy = 0, ok = 0;
	struct raw_msg m;
	int fd, type, r = -1;
	int64_t deadline;

	brigd_start(&d, "[brigd]\nmax_queued_jobs = 2\nmax_clients = 2\n" QUIET_POOLS
		    "[profile default]\npool_size = 0\n[profile exec]\npool_size = 0\n"
		    "[profile q]\npool_size = 1\n");
	c1 = connect_client(&d, "desc-queue");
	for (size_t i = 0; i < 5; i++)
		call_async(c1, &jobs[i], "queued sleep", "sleep", "q", "300", NULL);
	wait_jobs(c1);
	for (size_t i = 0; i < 5; i++) {
		if (jobs[i].status.outcome == BRIG_REJECTED &&
		    jobs[i].status.error_code == BRIG_ERROR_BUSY)
			busy++;
		else if (expect_outcome(&jobs[i], BRIG_OK))
			ok++;
		job_free(&jobs[i]);
	}
	CHECK(busy >= 1 && ok >= 2 && busy + ok == 5, "5 jobs at once with a queue of 2 and one "
	      "warm worker: %u busy, %u ok", busy, ok);

	/* Two clients are connected; a third one is turned away. */
	c2 = connect_client(&d, "desc-queue-2");
	fd = raw_connect(&d);
	raw_send_hello(fd, BRIG_PROTOCOL_VERSION);
	type = raw_read_msg(fd, 5000, &m);
	CHECK(type == MSG_ERROR && m.error.code == BRIG_ERROR_BUSY && !m.error.has_job,
	      "a third connection must get ERROR busy, got %d (%s) code %u '%s'", type,
	      type < 0 ? strerror(-type) : msg_type_name(type), m.error.code, m.error.message);
	if (type == MSG_WELCOME) {
		strlist_free(&m.welcome.handlers);
		strlist_free(&m.welcome.profiles);
	}
	CHECK(raw_wait_eof(fd, 5000) == 0, "the third connection must be closed");
	close(fd);

	/* Once one leaves, there is room again. */
	brig_close(c2);
	deadline = harness_now_ms() + 3000;
	while (harness_now_ms() < deadline) {
		r = brig_connect(d.socket_path, "desc-queue-3", &c3);
		if (r == 0)
			break;
		harness_sleep_ms(50);
	}
	CHECK(r == 0, "no room for a client after one left: %s", brig_strerror(r));
	if (c3)
		brig_close(c3);
	brig_close(c1);
	checks_end("queue and client caps");
	brigd_stop(&d);
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *descriptors_suite(void)
{
	Suite *s = suite_create("descriptors");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{ "exec_jobs", test_exec_jobs },
		{ "filesystem_view", test_filesystem_view },
		{ "identity", test_identity },
		{ "user_namespace", test_user_namespace },
		{ "network", test_network },
		{ "seccomp", test_seccomp },
		{ "rlimits", test_rlimits },
		{ "cgroup_limits", test_cgroup_limits },
		{ "unprivileged_client", test_unprivileged_client },
		{ "reload", test_reload },
		{ "zygote_death", test_zygote_death },
		{ "queue_and_client_caps", test_queue_and_client_caps },
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
		fprintf(stderr, "check_descriptors: brigd needs root; skipping\n");
		return 77;
	}
	/* A write to a daemon that went away must fail, not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	sr = srunner_create(descriptors_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
