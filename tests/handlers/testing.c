/*
 * The "testing" plugin: handlers that misbehave on purpose, so that the
 * test suite can check what brigd does when a job crashes, hangs, forks,
 * floods its output or reports the sandbox it finds itself in.  Built for
 * `make check` only and never installed: nothing here belongs in a
 * production handler directory.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "brig/handler.h"

#define MARK_TAG_MAX 15              /* the kernel's comm is 16 bytes with NUL */
#define SLEEP_DEFAULT_MS 60000
#define MARK_SLEEP_MS 60000
#define FAIL_ECHO_MAX 900            /* leaves room in brig_fail's 1024 bytes */
#define STATUS_FILE_MAX (64 * 1024)
#define FD_PROBE_MAX 65536           /* fallback scan when /proc is missing */

/*
 * Parse an ASCII decimal (no sign, no spaces) into *out; empty input gives
 * fallback.  Returns 0, or -1 on anything else or a value above max.
 */
static int parse_unsigned(const uint8_t *input, size_t len, uint64_t fallback, uint64_t max,
			  uint64_t *out)
{
	uint64_t value = 0;

	if (len == 0) {
		*out = fallback;
		return 0;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned digit;

		if (input[i] < '0' || input[i] > '9')
			return -1;
		digit = (unsigned)(input[i] - '0');
		if (value > (max - digit) / 10)
			return -1;
		value = value * 10 + digit;
	}
	*out = value;
	return 0;
}

/* One item of the form {key: value}. */
static int emit_uint(struct brig_ctx *ctx, const char *key, uint64_t value)
{
	msgpack_packer *pk = brig_item_begin(ctx);
	int r = 0;

	if (!pk)
		return -1;
	r |= msgpack_pack_map(pk, 1);
	r |= brig_pack_cstr(pk, key);
	r |= msgpack_pack_uint64(pk, value);
	if (r) {
		brig_fail(ctx, "cannot pack {\"%s\": %" PRIu64 "}", key, value);
		return -1;
	}
	return brig_item_end(ctx);
}

/* Sleep the whole interval even if signals interrupt it. */
static void sleep_ms(uint64_t ms)
{
	struct timespec left = {
		.tv_sec = (time_t)(ms / 1000),
		.tv_nsec = (long)(ms % 1000) * 1000000L,
	};

	while (nanosleep(&left, &left) < 0 && errno == EINTR)
		;
}

/* ---- selfcheck ---- */

/* The /proc/self/status fields that describe a sandbox. */
enum status_field {
	STATUS_CAP_INH,
	STATUS_CAP_PRM,
	STATUS_CAP_EFF,
	STATUS_CAP_BND,
	STATUS_CAP_AMB,
	STATUS_NO_NEW_PRIVS,
	STATUS_SECCOMP,
	STATUS_FIELD_COUNT,
};

static const struct {
	const char *name;
	int base;
} status_fields[STATUS_FIELD_COUNT] = {
	[STATUS_CAP_INH] = { "CapInh", 16 },
	[STATUS_CAP_PRM] = { "CapPrm", 16 },
	[STATUS_CAP_EFF] = { "CapEff", 16 },
	[STATUS_CAP_BND] = { "CapBnd", 16 },
	[STATUS_CAP_AMB] = { "CapAmb", 16 },
	[STATUS_NO_NEW_PRIVS] = { "NoNewPrivs", 10 },
	[STATUS_SECCOMP] = { "Seccomp", 10 },
};

struct open_fd {
	int fd;
	char *target;
};

struct selfcheck {
	bool status_present[STATUS_FIELD_COUNT];
	uint64_t status_value[STATUS_FIELD_COUNT];
	gid_t *groups;
	int group_count;
	struct open_fd *fds;
	size_t fd_count;
	char hostname[256];
	char proc_error[512];
};

static void selfcheck_free(struct selfcheck *s)
{
	for (size_t i = 0; i < s->fd_count; i++)
		free(s->fds[i].target);
	free(s->fds);
	free(s->groups);
}

/* Keep every /proc failure, not just the first: tests print this. */
static void selfcheck_proc_error(struct selfcheck *s, const char *what, int error)
{
	size_t used = strlen(s->proc_error);

	snprintf(s->proc_error + used, sizeof(s->proc_error) - used, "%s%s: %s",
		 used ? "; " : "", what, strerror(error));
}

static int selfcheck_read_status(struct selfcheck *s)
{
	char *text = NULL;
	size_t used = 0;
	int fd, r = -1;

	fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		selfcheck_proc_error(s, "/proc/self/status", errno);
		return 0;
	}
	text = malloc(STATUS_FILE_MAX + 1);
	if (!text)
		goto out;
	for (;;) {
		ssize_t n = read(fd, text + used, STATUS_FILE_MAX - used);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			selfcheck_proc_error(s, "/proc/self/status", errno);
			r = 0;
			goto out;
		}
		if (n == 0 || (used += (size_t)n) == STATUS_FILE_MAX)
			break;
	}
	text[used] = '\0';

	for (char *line = text, *next; line && *line; line = next) {
		char *colon;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		for (size_t i = 0; i < STATUS_FIELD_COUNT; i++) {
			if (strcmp(line, status_fields[i].name) == 0) {
				s->status_value[i] = strtoull(colon + 1, NULL, status_fields[i].base);
				s->status_present[i] = true;
			}
		}
	}
	r = 0;
out:
	free(text);
	close(fd);
	return r;
}

static int open_fd_compare(const void *a, const void *b)
{
	const struct open_fd *x = a, *y = b;

	return (x->fd > y->fd) - (x->fd < y->fd);
}

static int selfcheck_add_fd(struct selfcheck *s, int fd, const char *target)
{
	struct open_fd *grown;

	grown = realloc(s->fds, (s->fd_count + 1) * sizeof(*s->fds));
	if (!grown)
		return -1;
	s->fds = grown;
	s->fds[s->fd_count].fd = fd;
	s->fds[s->fd_count].target = strdup(target);
	if (!s->fds[s->fd_count].target)
		return -1;
	s->fd_count++;
	return 0;
}

/*
 * Without /proc the targets are unknown, but which descriptors are open is
 * what the "workers inherit nothing" invariant is about, so probe for them.
 */
static int selfcheck_probe_fds(struct selfcheck *s)
{
	struct rlimit limit;
	int max = FD_PROBE_MAX;

	if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < (rlim_t)max)
		max = (int)limit.rlim_cur;
	for (int fd = 0; fd < max; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 && selfcheck_add_fd(s, fd, "") < 0)
			return -1;
	}
	return 0;
}

static int selfcheck_list_fds(struct selfcheck *s)
{
	DIR *dir;
	struct dirent *d;
	int r = -1;

	dir = opendir("/proc/self/fd");
	if (!dir) {
		selfcheck_proc_error(s, "/proc/self/fd", errno);
		return selfcheck_probe_fds(s);
	}
	while ((d = readdir(dir))) {
		char target[PATH_MAX];
		char *end;
		long fd;
		ssize_t n;

		if (d->d_name[0] == '.')
			continue;
		fd = strtol(d->d_name, &end, 10);
		/* The directory's own descriptor is ours, not the sandbox's. */
		if (*end || fd < 0 || fd > INT_MAX || fd == dirfd(dir))
			continue;
		n = readlinkat(dirfd(dir), d->d_name, target, sizeof(target) - 1);
		if (n < 0)
			n = 0;
		target[n] = '\0';
		if (selfcheck_add_fd(s, (int)fd, target) < 0)
			goto out;
	}
	r = 0;
out:
	closedir(dir);
	return r;
}

static int selfcheck_collect(struct selfcheck *s)
{
	int n = getgroups(0, NULL);

	if (n < 0)
		return -1;
	s->groups = calloc((size_t)n + 1, sizeof(*s->groups));
	if (!s->groups)
		return -1;
	n = getgroups(n, s->groups);
	if (n < 0)
		return -1;
	s->group_count = n;

	if (selfcheck_read_status(s) < 0 || selfcheck_list_fds(s) < 0)
		return -1;
	qsort(s->fds, s->fd_count, sizeof(*s->fds), open_fd_compare);

	if (gethostname(s->hostname, sizeof(s->hostname) - 1) < 0)
		snprintf(s->hostname, sizeof(s->hostname), "?");
	s->hostname[sizeof(s->hostname) - 1] = '\0';
	return 0;
}

static int selfcheck_pack(msgpack_packer *pk, const struct selfcheck *s)
{
	uint32_t keys = 4 + 1 + 1 + 3;   /* ids, groups, fds, pid/ppid/hostname */
	int r = 0;

	for (size_t i = 0; i < STATUS_FIELD_COUNT; i++)
		keys += s->status_present[i];
	if (s->proc_error[0])
		keys++;

	r |= msgpack_pack_map(pk, keys);
	r |= brig_pack_cstr(pk, "uid");
	r |= msgpack_pack_uint64(pk, getuid());
	r |= brig_pack_cstr(pk, "gid");
	r |= msgpack_pack_uint64(pk, getgid());
	r |= brig_pack_cstr(pk, "euid");
	r |= msgpack_pack_uint64(pk, geteuid());
	r |= brig_pack_cstr(pk, "egid");
	r |= msgpack_pack_uint64(pk, getegid());

	r |= brig_pack_cstr(pk, "groups");
	r |= msgpack_pack_array(pk, (size_t)s->group_count);
	for (int i = 0; i < s->group_count; i++)
		r |= msgpack_pack_uint64(pk, s->groups[i]);

	for (size_t i = 0; i < STATUS_FIELD_COUNT; i++) {
		if (!s->status_present[i])
			continue;
		r |= brig_pack_cstr(pk, status_fields[i].name);
		r |= msgpack_pack_uint64(pk, s->status_value[i]);
	}

	r |= brig_pack_cstr(pk, "fds");
	r |= msgpack_pack_array(pk, s->fd_count);
	for (size_t i = 0; i < s->fd_count; i++) {
		r |= msgpack_pack_map(pk, 2);
		r |= brig_pack_cstr(pk, "fd");
		r |= msgpack_pack_int(pk, s->fds[i].fd);
		r |= brig_pack_cstr(pk, "target");
		r |= brig_pack_cstr(pk, s->fds[i].target);
	}

	r |= brig_pack_cstr(pk, "pid");
	r |= msgpack_pack_int64(pk, getpid());
	r |= brig_pack_cstr(pk, "ppid");
	r |= msgpack_pack_int64(pk, getppid());
	r |= brig_pack_cstr(pk, "hostname");
	r |= brig_pack_cstr(pk, s->hostname);

	if (s->proc_error[0]) {
		r |= brig_pack_cstr(pk, "proc_error");
		r |= brig_pack_cstr(pk, s->proc_error);
	}
	return r;
}

static int selfcheck_run(struct brig_ctx *ctx, const uint8_t *input, size_t len)
{
	struct selfcheck s = { 0 };
	msgpack_packer *pk;
	int r = -1;

	/* Everything is gathered before the item starts: no fd opens mid-item. */
	if (selfcheck_collect(&s) < 0) {
		brig_fail(ctx, "selfcheck: %s", strerror(errno));
		goto out;
	}
	pk = brig_item_begin(ctx);
	if (!pk)
		goto out;
	if (selfcheck_pack(pk, &s)) {
		brig_fail(ctx, "selfcheck: cannot pack the result");
		goto out;
	}
	r = brig_item_end(ctx) < 0 ? -1 : 0;
out:
	selfcheck_free(&s);
	return r;
}

/* ---- dying in various ways ---- */

static int crash_run(struct brig_ctx *ctx, const uint8_t *input, size_t len)
{
	/* volatile: the compiler may neither assume NULL nor drop the store. */
	int *volatile target = NULL;

	*(volatile int *)target = 1;
	/* Only reached if page zero is mapped; a test still wants a SIGSEGV. */
	raise(SIGSEGV);
	brig_fail(ctx, "crash: survived SIGSEGV (is it blocked or handled?)");
	return -1;
}

static int abort_run(struct brig_ctx *ctx, const uint8_t *input, size_t len)
{
	abort();
}

static int exit_run(struct brig_ctx *ctx, const uint8_t *input, size_t len)
{
	uint64_t status;

	if (parse_unsigned(input, len, 0, 255, &status) < 0) {
		brig_fail(ctx, "exit: input must be an exit status 0-255 in decimal");
		return -1;
	}
	/* Without a result, and without running any exit handler. */
	_exit((int)status);
}

static int fail_run(struct brig_ctx *ctx, const uint8_t *input, size_t len)
{
	int shown = len > FAIL_ECHO_MAX ? FAIL_ECHO_MAX : (int)len;

	brig_fail(ctx, "requested failure: %.*s", shown, input ? (const char *)input : "");
	return -1;
}

/* ptrace(PTRACE_TRACEME): the seccomp filter must trap it in every
 * profile, also where the worker itself may trace (exec profiles). */
static int ptrace_run(struct brig_ctx *ctx, const uint8_t *input, size_t len)
{
	long r;

	(void)input;
	(void)len;
	r = ptrace(PTRACE_TRACEME, 0, NULL, NULL);
	brig_fail(ctx, "ptrace(PTRACE_TRACEME) returned %ld (%s): the filter let it through", r,
		  r < 0 ? strerror(errno) : "ok");
	return -1;
}

/* Succeed, with SIGALRM due in 200 ms: the worker dies after its DONE
 * (with worker_reuse, while it waits for its client's next job). */
static int linger_run(struct brig_ctx *ctx, const uint8_t *input, size_t len)
{
	msgpack_packer *pk;

	(void)input;
	(void)len;
	ualarm(200000, 0);
	pk = brig_item_begin(ctx);
	if (!pk)
		return -1;
	msgpack_pack_nil(pk);
	return brig_item_end(ctx);
}

/* ---- taking time and space ---- */

static int sleep_run(struct brig_ctx *ctx, const uint8_t *input, size_t len)
{
	uint64_t ms;

	/* A day is longer than any test; more is a typo. */
	if (parse_unsigned(input, len, SLEEP_DEFAULT_MS, 86400000, &ms) < 0) {
		brig_fail(ctx, "sleep: input must be milliseconds in decimal, at most 86400000");
		return -1;
	}
	if (emit_uint(ctx, "sleeping", ms) < 0)
		return -1;
	sleep_ms(ms);
	return emit_uint(ctx, "slept", ms) < 0 ? -1 : 0;
}

static int spam_run(struct brig_ctx *ctx, const uint8_t *input, size_t len)
{
	uint64_t count;

	if (parse_unsigned(input, len, 0, UINT64_MAX, &count) < 0 || len == 0) {
		brig_fail(ctx, "spam: input must be an item count in decimal");
		return -1;
	}
	/* Stops at the first refused item: that is the output limit at work. */
	for (uint64_t i = 0; i < count; i++) {
		if (emit_uint(ctx, "i", i) < 0)
			return -1;
	}
	return 0;
}

/* ---- leaving processes behind ---- */

static bool mark_tag_valid(const uint8_t *input, size_t len)
{
	if (len == 0 || len > MARK_TAG_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = input[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

/*
 * Rename this process and a forked child to the tag, and leave the child
 * behind: tests then look for any process with that comm after the job has
 * been killed, cancelled or abandoned.  The child gets no parent-death
 * signal on purpose; cleaning it up is brigd's job, not the handler's.
 */
static int mark_run(struct brig_ctx *ctx, const uint8_t *input, size_t len)
{
	char tag[MARK_TAG_MAX + 1];
	msgpack_packer *pk;
	pid_t child;
	int r = 0;

	if (!mark_tag_valid(input, len)) {
		brig_fail(ctx, "mark: tag must be 1-%d characters of [A-Za-z0-9_-]", MARK_TAG_MAX);
		return -1;
	}
	memcpy(tag, input, len);
	tag[len] = '\0';

	if (prctl(PR_SET_NAME, tag, 0, 0, 0) < 0) {
		brig_fail(ctx, "mark: PR_SET_NAME: %s", strerror(errno));
		return -1;
	}
	child = fork();
	if (child < 0) {
		brig_fail(ctx, "mark: fork: %s", strerror(errno));
		return -1;
	}
	if (child == 0) {
		/* Async-signal-safe calls only, and never return into the worker. */
		prctl(PR_SET_NAME, tag, 0, 0, 0);
		for (;;)
			pause();
	}

	pk = brig_item_begin(ctx);
	if (!pk)
		return -1;
	r |= msgpack_pack_map(pk, 1);
	r |= brig_pack_cstr(pk, "marked");
	r |= brig_pack_cstr(pk, tag);
	if (r) {
		brig_fail(ctx, "mark: cannot pack the result");
		return -1;
	}
	if (brig_item_end(ctx) < 0)
		return -1;
	sleep_ms(MARK_SLEEP_MS);
	return 0;
}

/* ---- breaking the worker protocol (issue 7: a compromised worker) ---- */

/*
 * These write straight to the job channel, bypassing the SDK, as code that
 * has taken over a worker could: the broker must fail this job, and only
 * this job.  Each then waits, so that what ends the job is the broker's
 * reaction, not the handler returning.
 */
#define JOB_CHANNEL_FD 3                 /* daemon/sandbox.h: WORKER_CHANNEL_FD */
#define MALICIOUS_WAIT_MS 10000
#define GARBAGE_BODY_LEN 60
#define OVERSIZE_DECLARED (100u * 1024 * 1024)
#define FLOOD_ITEM_LEN 65536

static int channel_write(const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 0) {
		/* MSG_NOSIGNAL: a closed channel is an error here, not SIGPIPE. */
		ssize_t n = send(JOB_CHANNEL_FD, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * A compromised handler that claims to be done: a well-formed WORKER_DONE
 * (status ok), then the job channel closed, then 5 s of sleep.  With
 * worker_reuse the broker keeps such a worker for the client, whose next
 * job must not be handed to a worker without a channel.
 */
static int fakedone_run(struct brig_ctx *ctx, const uint8_t *input, size_t len)
{
	/* [0x43, 0, "", 0, 0] */
	static const uint8_t frame[] = { 0, 0, 0, 6, 0x95, 0x43, 0x00, 0xa0, 0x00, 0x00 };

	(void)ctx;
	(void)input;
	(void)len;
	if (channel_write(frame, sizeof(frame)) == 0)
		close(JOB_CHANNEL_FD);
	sleep(5);
	_exit(0);
}

/* Wait for the broker to kill us; if it does not, say so in the result. */
static int malicious_wait(struct brig_ctx *ctx, const char *what)
{
	sleep_ms(MALICIOUS_WAIT_MS);
	brig_fail(ctx, "%s: the broker let the worker live after it", what);
	return -1;
}

/*
 * A header announcing 60 bytes, then 60 pseudo-random bytes (seeded by the
 * input, decimal) whose first is 0xc1, a format byte msgpack never uses:
 * whatever the seed, the frame is malformed.
 */
static int garbage_run(struct brig_ctx *ctx, const uint8_t *input, size_t len)
{
	uint8_t frame[4 + GARBAGE_BODY_LEN];
	uint64_t seed;

	if (parse_unsigned(input, len, 1, UINT64_MAX, &seed) < 0) {
		brig_fail(ctx, "garbage: input must be a seed in decimal");
		return -1;
	}
	put_be32(frame, GARBAGE_BODY_LEN);
	for (size_t i = 4; i < sizeof(frame); i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		frame[i] = (uint8_t)(seed >> 56);
	}
	frame[4] = 0xc1;
	if (channel_write(frame, sizeof(frame)) < 0)
		return -1;
	return malicious_wait(ctx, "garbage");
}

/*
 * A well-formed WORKER_ITEM (the item 1) with a descriptor (its own stdin,
 * /dev/null) passed alongside: the broker takes no descriptor from a
 * worker, so the kernel drops it (MSG_CTRUNC) and the broker must kill
 * the worker rather than relay the item.
 */
static int passfd_run(struct brig_ctx *ctx, const uint8_t *input, size_t len)
{
	static const uint8_t frame[] = { 0, 0, 0, 3, 0x92, 0x42, 0x01 };
	struct iovec iov = { .iov_base = (void *)frame, .iov_len = sizeof(frame) };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = control.buf, .msg_controllen = sizeof(control.buf) };
	struct cmsghdr *cmsg;
	int fd = STDIN_FILENO;

	(void)input;
	(void)len;
	memset(&control, 0, sizeof(control));
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	if (sendmsg(JOB_CHANNEL_FD, &msg, MSG_NOSIGNAL) != (ssize_t)sizeof(frame))
		return -1;
	return malicious_wait(ctx, "passfd");
}

/* A header declaring 100 MB, past any max_frame, and a few bytes of it. */
static int oversize_run(struct brig_ctx *ctx, const uint8_t *input, size_t len)
{
	uint8_t frame[4 + 16] = { 0 };

	put_be32(frame, OVERSIZE_DECLARED);
	frame[4] = 0x92;
	frame[5] = 0x42;
	frame[6] = 0xc6;   /* bin 32 ... that never comes */
	if (channel_write(frame, sizeof(frame)) < 0)
		return -1;
	return malicious_wait(ctx, "oversize");
}

/*
 * A well-formed frame of a type a worker must not send, or not now:
 *   ready   WORKER_READY in the middle of a job
 *   zygote  ZYGOTE_SPAWNED [worker 1, pid 1], as if it were the zygote
 *   item    a client ITEM for job 7, as if it could address other jobs
 *   final   a client FINAL "ok" for job 7
 *   hello   a client HELLO
 */
static int wrongtype_run(struct brig_ctx *ctx, const uint8_t *input, size_t len)
{
	static const struct {
		const char *name;
		uint8_t body[16];
		size_t len;
	} frames[] = {
		{ "ready", { 0x91, 0x40 }, 2 },
		{ "zygote", { 0x93, 0x52, 0x01, 0x01 }, 4 },
		{ "item", { 0x94, 0x20, 0x07, 0x00, 0xa1, 'x' }, 6 },
		{ "final", { 0x96, 0x21, 0x07, 0x00, 0x00, 0xa0, 0x93, 0x00, 0x00, 0x00 }, 10 },
		{ "hello", { 0x93, 0x01, 0x02, 0xa1, 'w' }, 5 },
	};
	char which[16] = "ready";
	uint8_t frame[4 + 16];

	if (len >= sizeof(which)) {
		brig_fail(ctx, "wrongtype: unknown frame name");
		return -1;
	}
	if (len > 0) {
		memcpy(which, input, len);
		which[len] = '\0';
	}
	for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
		if (strcmp(which, frames[i].name) != 0)
			continue;
		put_be32(frame, (uint32_t)frames[i].len);
		memcpy(frame + 4, frames[i].body, frames[i].len);
		if (channel_write(frame, 4 + frames[i].len) < 0)
			return -1;
		return malicious_wait(ctx, "wrongtype");
	}
	brig_fail(ctx, "wrongtype: input must be ready, zygote, item, final or hello");
	return -1;
}

/*
 * WORKER_ITEM frames of 64 KiB, forever, as fast as the channel takes them:
 * the broker must stop it at the profile's max_output.
 */
static int flood_run(struct brig_ctx *ctx, const uint8_t *input, size_t len)
{
	uint8_t *frame;
	size_t body_len = 1 + 1 + 5 + FLOOD_ITEM_LEN;   /* fixarray, type, bin 32 head, data */

	frame = calloc(1, 4 + body_len);
	if (!frame) {
		brig_fail(ctx, "flood: out of memory");
		return -1;
	}
	put_be32(frame, (uint32_t)body_len);
	frame[4] = 0x92;
	frame[5] = 0x42;
	frame[6] = 0xc6;
	put_be32(frame + 7, FLOOD_ITEM_LEN);
	memset(frame + 11, 'F', FLOOD_ITEM_LEN);
	/* Stops only when the channel is gone (the broker closed it). */
	while (channel_write(frame, 4 + body_len) == 0)
		;
	free(frame);
	return malicious_wait(ctx, "flood");
}

static const struct brig_handler testing_handlers[] = {
	{
		.name = "selfcheck",
		.description = "report ids, capabilities, no_new_privs, seccomp and open fds "
			       "as seen from inside the sandbox",
		.run = selfcheck_run,
	},
	{
		.name = "crash",
		.description = "die of a real SIGSEGV",
		.run = crash_run,
	},
	{
		.name = "abort",
		.description = "die of abort()",
		.run = abort_run,
	},
	{
		.name = "exit",
		.description = "_exit(input) without sending a result",
		.run = exit_run,
	},
	{
		.name = "fail",
		.description = "fail with \"requested failure: <input>\"",
		.run = fail_run,
	},
	{
		.name = "linger",
		.description = "emit nil and succeed, with SIGALRM due 200 ms later",
		.run = linger_run,
	},
	{
		.name = "ptrace",
		.description = "call ptrace(PTRACE_TRACEME), which the sandbox must refuse",
		.run = ptrace_run,
	},
	{
		.name = "sleep",
		.description = "emit {sleeping: ms}, sleep input ms (default 60000), emit {slept: ms}",
		.run = sleep_run,
	},
	{
		.name = "spam",
		.description = "emit input items {i: k} as fast as possible",
		.run = spam_run,
	},
	{
		.name = "mark",
		.description = "set comm to input, fork a child with that comm that never exits, "
			       "emit {marked: tag}, sleep 60 s",
		.run = mark_run,
	},
	{
		.name = "garbage",
		.description = "write a malformed frame (random bytes, seeded by input) to the "
			       "job channel, then wait to be killed",
		.run = garbage_run,
	},
	{
		.name = "oversize",
		.description = "write a frame header declaring 100 MB to the job channel, then "
			       "wait to be killed",
		.run = oversize_run,
	},
	{
		.name = "wrongtype",
		.description = "write a well-formed frame a worker must not send (input: ready, "
			       "zygote, item, final, hello), then wait to be killed",
		.run = wrongtype_run,
	},
	{
		.name = "passfd",
		.description = "write a WORKER_ITEM to the job channel with a file descriptor "
			       "passed alongside, then wait to be killed",
		.run = passfd_run,
	},
	{
		.name = "fakedone",
		.description = "send a DONE of its own, close the job channel, sleep 5 s",
		.run = fakedone_run,
	},
	{
		.name = "flood",
		.description = "write 64 KiB items to the job channel until it closes",
		.run = flood_run,
	},
};

const struct brig_plugin brig_plugin_v1 = {
	.abi = BRIG_HANDLER_ABI,
	.handlers = testing_handlers,
	.count = sizeof(testing_handlers) / sizeof(testing_handlers[0]),
	.init = NULL,
};
