/*
 * Inputs passed as file descriptors (SCM_RIGHTS), end to end through a
 * real brigd: a call job's input as a regular file, a sealed memfd (mapped
 * by the worker) or an unsealed one (read), an exec job's stdin as a file
 * or a pipe; and every descriptor brigd must refuse (a directory, a socket,
 * O_PATH, a device, write-only, too large), the protocol rules (the
 * descriptor rides with its frame's bytes; a bounded number may wait;
 * unclaimed ones are closed), and no descriptor left behind in the broker.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <check.h>

#include "brig/brig.h"
#include "frame.h"
#include "harness.h"
#include "msg.h"

struct result {
	bool got_final;
	int outcome;
	uint32_t error_code;
	char message[BRIG_MESSAGE_MAX + 1];
	unsigned items;
	bool digest;
	uint64_t length, hash;
	char out[65536];
	size_t out_len;
};

static uint64_t fnv1a64(const uint8_t *p, size_t len)
{
	uint64_t h = 14695981039346656037ull;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

static const msgpack_object *map_get(const msgpack_object *o, const char *key)
{
	size_t len = strlen(key);

	if (o->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object_kv *kv = &o->via.map.ptr[i];

		if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == len &&
		    memcmp(kv->key.via.str.ptr, key, len) == 0)
			return &kv->val;
	}
	return NULL;
}

static void on_item(void *arg, uint32_t job_id, uint32_t seq, const msgpack_object *item)
{
	struct result *r = arg;
	const msgpack_object *len = map_get(item, "length"), *hash = map_get(item, "fnv1a64");
	const msgpack_object *input = map_get(item, "input");

	(void)job_id;
	(void)seq;
	r->items++;
	if (len && hash && len->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
	    hash->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		r->digest = true;
		r->length = len->via.u64;
		r->hash = hash->via.u64;
	}
	if (input && input->type == MSGPACK_OBJECT_BIN && input->via.bin.size < sizeof(r->out)) {
		memcpy(r->out, input->via.bin.ptr, input->via.bin.size);
		r->out_len = input->via.bin.size;
	}
}

static void on_output(void *arg, uint32_t job_id, uint32_t seq, int stream, const void *data,
		      size_t len)
{
	struct result *r = arg;

	(void)job_id;
	(void)seq;
	(void)stream;
	if (r->out_len + len < sizeof(r->out)) {
		memcpy(r->out + r->out_len, data, len);
		r->out_len += len;
		r->out[r->out_len] = '\0';
	}
}

static void on_final(void *arg, uint32_t job_id, const struct brig_status *st)
{
	struct result *r = arg;

	(void)job_id;
	r->got_final = true;
	r->outcome = st->outcome;
	r->error_code = st->error_code;
	snprintf(r->message, sizeof(r->message), "%s", st->message ? st->message : "");
}

/* A call job on input_fd through libbrig; the result is in *res. */
static void call_fd(const struct brigd *d, const char *handler, const char *profile, int input_fd,
		    struct result *res)
{
	struct brig_job job = { .handler = handler, .profile = profile, .timeout_ms = 60000 };
	struct brig_client *c;
	uint32_t id;
	int r;

	memset(res, 0, sizeof(*res));
	res->outcome = -1;
	r = brig_connect(d->socket_path, "check_input_fd", &c);
	E2E_ASSERT(r == 0, "connect: %s", brig_strerror(r));
	r = brig_submit_fd(c, &job, input_fd, on_item, on_final, res, &id);
	E2E_ASSERT(r == 0, "brig_submit_fd: %s", brig_strerror(r));
	r = brig_wait(c, id);
	E2E_ASSERT(r == 0 && res->got_final, "wait: %s", brig_strerror(r));
	brig_close(c);
}

static void exec_fd(const struct brigd *d, const char *const *argv, size_t argc, int stdin_fd,
		    struct result *res)
{
	struct brig_exec_job job = { .argv = argv, .argc = argc, .timeout_ms = 60000 };
	struct brig_status st;
	char message[BRIG_MESSAGE_MAX + 1] = "";
	int r;

	memset(res, 0, sizeof(*res));
	res->outcome = -1;
	r = brig_exec_fd(d->socket_path, &job, stdin_fd, on_output, res, &st, message,
			 sizeof(message));
	E2E_ASSERT(r == 0, "brig_exec_fd(%s): %s", argv[0], brig_strerror(r));
	res->got_final = true;
	res->outcome = st.outcome;
	res->error_code = st.error_code;
	snprintf(res->message, sizeof(res->message), "%s", message);
}

static void assert_digest(const struct result *res, const void *data, size_t len,
			  const char *what)
{
	E2E_ASSERT(res->outcome == BRIG_OK, "%s: outcome %s: %s", what,
		   brig_outcome_string(res->outcome), res->message);
	E2E_ASSERT(res->items == 1 && res->digest, "%s: %u items, digest %d", what, res->items,
		   res->digest);
	E2E_ASSERT(res->length == len, "%s: the worker saw %llu bytes, not %zu", what,
		   (unsigned long long)res->length, len);
	E2E_ASSERT(res->hash == fnv1a64(data, len), "%s: the worker saw other bytes", what);
}

static void assert_refused(const struct result *res, uint32_t code, const char *needle,
			   const char *what)
{
	E2E_ASSERT(res->outcome == BRIG_REJECTED && res->error_code == code,
		   "%s: expected a refusal with code %u, got outcome %s code %u: %s", what, code,
		   brig_outcome_string(res->outcome), res->error_code, res->message);
	E2E_ASSERT(strstr(res->message, needle) != NULL, "%s: the message \"%s\" lacks \"%s\"",
		   what, res->message, needle);
}

static uint8_t *pattern(size_t len, unsigned seed)
{
	uint8_t *p = malloc(len ? len : 1);

	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)((i + seed) * 2654435761u >> 13);
	return p;
}

/* A file under dir with len pattern bytes, opened with flags. */
static int make_file(const char *dir, const char *name, const uint8_t *data, size_t len,
		     int flags)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	harness_write_file(path, data, len);
	fd = open(path, flags | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	return fd;
}

/* Does any descriptor of pid point at path? */
static bool proc_has_fd_to(pid_t pid, const char *path)
{
	char dir[64], link[PATH_MAX + 64], target[PATH_MAX];
	struct dirent *e;
	bool found = false;
	DIR *dp;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	dp = opendir(dir);
	if (!dp)
		return false;
	while ((e = readdir(dp)) && !found) {
		ssize_t n;

		snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		found = strcmp(target, path) == 0;
	}
	closedir(dp);
	return found;
}

static int settle_fds(const struct brigd *d)
{
	int last = -1, now;

	/* The pool refills after every job; wait until the count holds still. */
	for (int i = 0; i < 100; i++) {
		harness_sleep_ms(100);
		now = proc_fd_count(d->pid);
		if (now == last)
			return now;
		last = now;
	}
	return last;
}

/* ------------------------------------------------------------------ */

START_TEST(test_call_regular_file)
{
	struct brigd d;
	struct result res;
	size_t len = 3u << 20;
	uint8_t *data = pattern(len, 1);
	int fd;

	brigd_start(&d, NULL);
	fd = make_file(d.dir, "input.bin", data, len, O_RDONLY);
	/* The whole file, from offset 0, wherever the client's position is. */
	ck_assert_int_eq(lseek(fd, 12345, SEEK_SET), 12345);
	call_fd(&d, "digest", NULL, fd, &res);
	assert_digest(&res, data, len, "digest of a 3 MiB regular file");
	E2E_ASSERT(lseek(fd, 0, SEEK_CUR) == 12345, "the job moved the client's file position");
	close(fd);

	/* echo returns exactly the bytes; an empty file is an empty input. */
	fd = make_file(d.dir, "small.txt", (const uint8_t *)"hello, fd", 9, O_RDONLY);
	call_fd(&d, "echo", NULL, fd, &res);
	E2E_ASSERT(res.outcome == BRIG_OK && res.out_len == 9 && memcmp(res.out, "hello, fd", 9) == 0,
		   "echo of a passed file: outcome %s, %zu bytes: %s",
		   brig_outcome_string(res.outcome), res.out_len, res.message);
	close(fd);
	fd = make_file(d.dir, "empty", (const uint8_t *)"", 0, O_RDONLY);
	call_fd(&d, "digest", NULL, fd, &res);
	assert_digest(&res, "", 0, "digest of an empty file");
	close(fd);

	/* One connection: three jobs queued before libbrig's peer exists, each
	 * with its own descriptor, then two more once it does, mixed with bytes. */
	{
		struct brig_job job = { .handler = "digest", .timeout_ms = 60000 };
		struct brig_job bytes = { .handler = "digest", .input = data, .input_len = 1000 };
		struct result many[6];
		struct brig_client *c;
		int fds[5];
		int r;

		for (size_t i = 0; i < 5; i++) {
			char name[32];

			snprintf(name, sizeof(name), "many-%zu", i);
			fds[i] = make_file(d.dir, name, data, 1000 * (i + 1), O_RDONLY);
		}
		memset(many, 0, sizeof(many));
		r = brig_connect(d.socket_path, "check_input_fd", &c);
		E2E_ASSERT(r == 0, "connect: %s", brig_strerror(r));
		for (size_t i = 0; i < 3; i++)
			E2E_ASSERT(brig_submit_fd(c, &job, fds[i], on_item, on_final, &many[i], NULL) == 0,
				   "submit %zu", i);
		E2E_ASSERT(brig_wait(c, 0) == 0, "wait for the first three");
		E2E_ASSERT(brig_submit(c, &bytes, on_item, on_final, &many[3], NULL) == 0, "bytes");
		for (size_t i = 3; i < 5; i++)
			E2E_ASSERT(brig_submit_fd(c, &job, fds[i], on_item, on_final, &many[i + 1],
						  NULL) == 0, "submit %zu", i);
		E2E_ASSERT(brig_wait(c, 0) == 0, "wait for the other three");
		brig_close(c);
		for (size_t i = 0; i < 6; i++) {
			size_t want = i < 3 ? 1000 * (i + 1) : i == 3 ? 1000 : 1000 * i;

			assert_digest(&many[i], data, want, "several jobs on one connection");
		}
		for (size_t i = 0; i < 5; i++)
			close(fds[i]);
	}
	free(data);
	brigd_stop(&d);
}
END_TEST

START_TEST(test_call_memfd)
{
	struct brigd d;
	struct result res;
	size_t len = 64u << 20;
	uint8_t *data = pattern(len, 2);
	int fd;

	brigd_start(&d, NULL);
	/* Sealed: mapped by the worker.  Also under the parser allow-list,
	 * which must let it ask for the seals and map the input. */
	fd = brig_memfd("check-input", data, len);
	E2E_ASSERT(fd >= 0, "brig_memfd: %s", brig_strerror(fd));
	E2E_ASSERT((fcntl(fd, F_GET_SEALS) & (F_SEAL_SHRINK | F_SEAL_WRITE)) ==
			   (F_SEAL_SHRINK | F_SEAL_WRITE), "brig_memfd did not seal");
	call_fd(&d, "digest", NULL, fd, &res);
	assert_digest(&res, data, len, "digest of a sealed 64 MiB memfd");
	call_fd(&d, "digest", "parser", fd, &res);
	assert_digest(&res, data, len, "digest of a sealed memfd, parser profile");
	close(fd);

	/* Unsealed: the client could truncate it under a mapping, so the
	 * worker reads it instead; the result is the same. */
	fd = memfd_create("check-unsealed", MFD_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, 5u << 20), (ssize_t)(5u << 20));
	call_fd(&d, "digest", NULL, fd, &res);
	assert_digest(&res, data, 5u << 20, "digest of an unsealed 5 MiB memfd");
	call_fd(&d, "digest", "parser", fd, &res);
	assert_digest(&res, data, 5u << 20, "digest of an unsealed memfd, parser profile");
	close(fd);

	/* Sealed against shrinking only: still read, not mapped. */
	fd = memfd_create("check-shrink", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, 1u << 20), (ssize_t)(1u << 20));
	ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
	call_fd(&d, "digest", NULL, fd, &res);
	assert_digest(&res, data, 1u << 20, "digest of a memfd sealed against shrinking only");
	close(fd);
	free(data);
	brigd_stop(&d);
}
END_TEST

START_TEST(test_exec_stdin_fd)
{
	static const char *const wc[] = { "wc", "-c" };
	struct brigd d;
	struct result res;
	uint8_t *data = pattern(200000, 3);
	int fd, pipefd[2];

	brigd_start(&d, NULL);
	fd = make_file(d.dir, "stdin.bin", data, 200000, O_RDONLY);
	exec_fd(&d, wc, 2, fd, &res);
	E2E_ASSERT(res.outcome == BRIG_OK && strcmp(res.out, "200000\n") == 0,
		   "wc -c < file: outcome %s, output \"%s\": %s", brig_outcome_string(res.outcome),
		   res.out, res.message);
	close(fd);

	/* A pipe: the program reads what the client writes. */
	ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
	ck_assert_int_eq(write(pipefd[1], "hello\n", 6), 6);
	close(pipefd[1]);
	exec_fd(&d, wc, 2, pipefd[0], &res);
	E2E_ASSERT(res.outcome == BRIG_OK && strcmp(res.out, "6\n") == 0,
		   "wc -c < pipe: outcome %s, output \"%s\": %s", brig_outcome_string(res.outcome),
		   res.out, res.message);
	close(pipefd[0]);

	/* A sealed memfd is open read-write, but cannot be written. */
	fd = brig_memfd("check-stdin", data, 1000);
	ck_assert_int_ge(fd, 0);
	exec_fd(&d, wc, 2, fd, &res);
	E2E_ASSERT(res.outcome == BRIG_OK && strcmp(res.out, "1000\n") == 0,
		   "wc -c < sealed memfd: outcome %s, output \"%s\": %s",
		   brig_outcome_string(res.outcome), res.out, res.message);
	close(fd);

	/* A file open for writing would let the program change it. */
	fd = make_file(d.dir, "rw.bin", data, 100, O_RDWR);
	exec_fd(&d, wc, 2, fd, &res);
	assert_refused(&res, BRIG_ERROR_DENIED, "open for writing", "stdin opened O_RDWR");
	close(fd);
	/* So would a memfd sealed against writes only: the program could
	 * still truncate it under the client's own mapping, or seal it. */
	fd = memfd_create("check-stdin-write-seal", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, 100), 100);
	ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), 0);
	exec_fd(&d, wc, 2, fd, &res);
	assert_refused(&res, BRIG_ERROR_DENIED, "F_SEAL_GROW", "stdin memfd sealed F_SEAL_WRITE only");
	close(fd);
	free(data);
	brigd_stop(&d);
}
END_TEST

/*
 * The attack a directory descriptor would allow: a job resolving paths
 * beneath it (openat, or /proc/self/fd/0/...) reaches files outside its
 * view with the client's directory as the root.  brigd must refuse the
 * descriptor before any job runs, so the secret never shows.
 */
START_TEST(test_refused_descriptors)
{
	static const char *const reach[] = {
		"/bin/sh", "-c", "cat /proc/self/fd/0/secret; cat /proc/self/fd/0/../secret-dir/secret",
	};
	struct brigd d;
	struct result res;
	char dir_path[PATH_MAX], secret[PATH_MAX + 16];
	int fd, pair[2];

	brigd_start(&d, NULL);
	snprintf(dir_path, sizeof(dir_path), "%s/secret-dir", d.dir);
	ck_assert_int_eq(mkdir(dir_path, 0700), 0);
	snprintf(secret, sizeof(secret), "%s/secret", dir_path);
	harness_write_file(secret, "TOP-SECRET-MARKER\n", 18);

	fd = open(dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	exec_fd(&d, reach, 3, fd, &res);
	E2E_ASSERT(strstr(res.out, "TOP-SECRET") == NULL,
		   "a job read a file through a passed directory descriptor: %s", res.out);
	assert_refused(&res, BRIG_ERROR_DENIED, "a directory", "exec stdin a directory");
	call_fd(&d, "digest", NULL, fd, &res);
	assert_refused(&res, BRIG_ERROR_DENIED, "a directory", "call input a directory");
	close(fd);

	/* O_PATH: no reading, but it names a place. */
	fd = open(secret, O_PATH | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	call_fd(&d, "digest", NULL, fd, &res);
	assert_refused(&res, BRIG_ERROR_DENIED, "O_PATH", "O_PATH descriptor");
	close(fd);
	fd = open(dir_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	exec_fd(&d, reach, 3, fd, &res);
	E2E_ASSERT(strstr(res.out, "TOP-SECRET") == NULL,
		   "a job read a file through a passed O_PATH directory: %s", res.out);
	assert_refused(&res, BRIG_ERROR_DENIED, "O_PATH", "O_PATH directory");
	close(fd);

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
	call_fd(&d, "digest", NULL, pair[0], &res);
	assert_refused(&res, BRIG_ERROR_DENIED, "a socket", "socket");
	exec_fd(&d, reach, 3, pair[0], &res);
	assert_refused(&res, BRIG_ERROR_DENIED, "a socket", "socket as stdin");
	close(pair[0]);
	close(pair[1]);

	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	call_fd(&d, "digest", NULL, fd, &res);
	assert_refused(&res, BRIG_ERROR_DENIED, "a character device", "/dev/null");
	close(fd);

	/* A namespace, a /proc or /sys file: "regular" files that are handles
	 * on the host, never inputs. */
	{
		static const char *const pseudo[] = { "/proc/self/ns/net", "/proc/self/status",
						      "/sys/kernel/mm/transparent_hugepage/enabled" };
		static const char *const ls0[] = { "readlink", "/proc/self/fd/0" };

		for (size_t i = 0; i < sizeof(pseudo) / sizeof(pseudo[0]); i++) {
			fd = open(pseudo[i], O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			call_fd(&d, "digest", NULL, fd, &res);
			assert_refused(&res, BRIG_ERROR_DENIED, "pseudo filesystem", pseudo[i]);
			exec_fd(&d, ls0, 2, fd, &res);
			E2E_ASSERT(strstr(res.out, "net:[") == NULL,
				   "a job holds the host's namespace %s: %s", pseudo[i], res.out);
			assert_refused(&res, BRIG_ERROR_DENIED, "pseudo filesystem", pseudo[i]);
			close(fd);
		}
	}

	fd = open(secret, O_WRONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	call_fd(&d, "digest", NULL, fd, &res);
	assert_refused(&res, BRIG_ERROR_DENIED, "not open for reading", "write-only file");
	close(fd);

	/* A pipe is a stdin, not a call input. */
	ck_assert_int_eq(pipe2(pair, O_CLOEXEC), 0);
	call_fd(&d, "digest", NULL, pair[0], &res);
	assert_refused(&res, BRIG_ERROR_DENIED, "a pipe", "pipe as call input");
	close(pair[0]);
	close(pair[1]);

	E2E_ASSERT(!proc_has_fd_to(d.broker_pid, dir_path) &&
		   !proc_has_fd_to(d.broker_pid, secret),
		   "the broker still holds a refused descriptor");
	brigd_stop(&d);
}
END_TEST

START_TEST(test_size_limit)
{
	struct brigd d;
	struct result res;
	uint8_t *data = pattern((1u << 20) + 1, 4);
	int fd;

	brigd_start(&d, "[profile default]\nmax_input_fd = 1048576\n"
			"[profile parser]\nmax_input_fd = 0\n");
	fd = make_file(d.dir, "limit.bin", data, 1u << 20, O_RDONLY);
	call_fd(&d, "digest", NULL, fd, &res);
	assert_digest(&res, data, 1u << 20, "digest of exactly max_input_fd bytes");
	close(fd);
	fd = make_file(d.dir, "over.bin", data, (1u << 20) + 1, O_RDONLY);
	call_fd(&d, "digest", NULL, fd, &res);
	assert_refused(&res, BRIG_ERROR_BAD_REQUEST, "holds 1048577 bytes", "one byte too many");
	call_fd(&d, "digest", "parser", fd, &res);
	assert_refused(&res, BRIG_ERROR_DENIED, "max_input_fd = 0", "a profile without fd inputs");
	close(fd);
	free(data);
	brigd_stop(&d);
}
END_TEST

/* ---- raw protocol ---- */

/* Send bytes with fds attached to their first byte (nfds may be 0). */
static void send_with_fds(int sock, const void *data, size_t len, const int *fds, size_t nfds)
{
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	union {
		char buf[CMSG_SPACE(sizeof(int) * 64)];
		struct cmsghdr align;
	} control;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	ck_assert_uint_le(nfds, 64);
	if (nfds > 0) {
		struct cmsghdr *cmsg;

		memset(&control, 0, sizeof(control));
		msg.msg_control = control.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nfds);
	}
	ck_assert_int_eq(sendmsg(sock, &msg, MSG_NOSIGNAL), (ssize_t)len);
}

static void pack_submit(msgpack_sbuffer *sb, uint32_t id, const char *handler, bool input_fd,
			const char *bytes)
{
	struct msg_submit m = { .job_id = id, .input_fd = input_fd };

	snprintf(m.handler, sizeof(m.handler), "%s", handler);
	if (!input_fd && bytes) {
		m.input = (const uint8_t *)bytes;
		m.input_len = strlen(bytes);
	}
	msgpack_sbuffer_clear(sb);
	ck_assert_int_eq(msg_pack_submit(sb, &m), 0);
}

/* Read until job id's FINAL (ok) or its ERROR; returns the type. */
static int read_job_end(int sock, uint32_t id, struct raw_msg *m)
{
	for (;;) {
		int type = raw_read_msg(sock, 20000, m);

		E2E_ASSERT(type > 0, "reading job %u's end: %d", id, type);
		if (type == MSG_FINAL && m->final.job_id == id)
			return type;
		if (type == MSG_ERROR && m->error.has_job && m->error.job_id == id)
			return type;
		E2E_ASSERT(type == MSG_ITEM, "unexpected message %d", type);
	}
}

START_TEST(test_raw_fd_rides_with_its_frame)
{
	struct brigd d;
	struct raw_msg m;
	msgpack_sbuffer sb;
	int sock, fd, baseline;
	char path[PATH_MAX];

	brigd_start(&d, NULL);
	snprintf(path, sizeof(path), "%s/raw.txt", d.dir);
	harness_write_file(path, "raw bytes", 9);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	msgpack_sbuffer_init(&sb);
	sock = raw_connect(&d);
	raw_handshake(sock, NULL);
	baseline = settle_fds(&d);

	/* nil input, no descriptor: a clear error, the connection stays. */
	pack_submit(&sb, 1, "echo", true, NULL);
	ck_assert_int_eq(raw_send(sock, sb.data, sb.size), 0);
	E2E_ASSERT(read_job_end(sock, 1, &m) == MSG_ERROR &&
			   m.error.code == BRIG_ERROR_BAD_REQUEST &&
			   strstr(m.error.message, "no descriptor arrived with this frame"),
		   "nil input without a descriptor: code %u: %s", m.error.code, m.error.message);

	/* The descriptor rides with another frame's bytes (a CANCEL of no
	 * job): it belongs to that frame, which does not claim it, so it is
	 * closed; the SUBMIT after it has none. */
	{
		msgpack_sbuffer cancel;

		msgpack_sbuffer_init(&cancel);
		ck_assert_int_eq(msg_pack_cancel(&cancel, &(struct msg_cancel){ 99 }), 0);
		send_with_fds(sock, cancel.data, cancel.size, &fd, 1);
		msgpack_sbuffer_destroy(&cancel);
	}
	E2E_ASSERT(raw_read_msg(sock, 20000, &m) == MSG_ERROR && m.error.code == BRIG_ERROR_UNKNOWN_JOB,
		   "CANCEL 99: code %u", m.error.code);
	pack_submit(&sb, 2, "echo", true, NULL);
	ck_assert_int_eq(raw_send(sock, sb.data, sb.size), 0);
	E2E_ASSERT(read_job_end(sock, 2, &m) == MSG_ERROR &&
			   m.error.code == BRIG_ERROR_BAD_REQUEST,
		   "a SUBMIT after a frame that carried the descriptor: code %u: %s", m.error.code,
		   m.error.message);

	/* Descriptors with frames that take bytes: closed, counted, no harm. */
	for (uint32_t id = 10; id < 15; id++) {
		pack_submit(&sb, id, "echo", false, "bytes");
		send_with_fds(sock, sb.data, sb.size, &fd, 1);
		E2E_ASSERT(read_job_end(sock, id, &m) == MSG_FINAL && m.final.outcome == BRIG_OK,
			   "job %u with an unclaimed descriptor: outcome %u", id, m.final.outcome);
	}

	/* And the rule kept: the descriptor with the first byte of its frame,
	 * even when the frame's bytes arrive in two writes. */
	pack_submit(&sb, 3, "echo", true, NULL);
	send_with_fds(sock, sb.data, 3, &fd, 1);
	harness_sleep_ms(50);
	ck_assert_int_eq(raw_send(sock, sb.data + 3, sb.size - 3), 0);
	E2E_ASSERT(read_job_end(sock, 3, &m) == MSG_FINAL && m.final.outcome == BRIG_OK,
		   "SUBMIT with its descriptor: outcome %u: %s", m.final.outcome, m.final.message);

	/* Two jobs in one write, the descriptor with the second frame. */
	{
		msgpack_sbuffer both;
		size_t first;

		msgpack_sbuffer_init(&both);
		pack_submit(&sb, 4, "echo", false, "first");
		msgpack_sbuffer_write(&both, sb.data, sb.size);
		first = sb.size;
		pack_submit(&sb, 5, "echo", true, NULL);
		msgpack_sbuffer_write(&both, sb.data, sb.size);
		send_with_fds(sock, both.data, first, NULL, 0);
		send_with_fds(sock, both.data + first, both.size - first, &fd, 1);
		/* the two run at once: their FINALs come in either order */
		for (unsigned finals = 0; finals < 2;) {
			int type = raw_read_msg(sock, 20000, &m);

			E2E_ASSERT(type == MSG_ITEM || type == MSG_FINAL, "jobs 4 and 5: message %d",
				   type);
			if (type == MSG_FINAL) {
				E2E_ASSERT((m.final.job_id == 4 || m.final.job_id == 5) &&
						   m.final.outcome == BRIG_OK,
					   "job %u: outcome %u: %s", m.final.job_id, m.final.outcome,
					   m.final.message);
				finals++;
			}
		}
		msgpack_sbuffer_destroy(&both);
	}

	/* Invariant 4: not one of the descriptors stays in the broker. */
	E2E_ASSERT(harness_settled_fd_count(d.pid, baseline, 10000) == baseline,
		   "the broker holds %d descriptors, %d before", proc_fd_count(d.pid), baseline);
	E2E_ASSERT(!proc_has_fd_to(d.pid, path), "the broker still holds the passed file");
	close(sock);
	close(fd);
	msgpack_sbuffer_destroy(&sb);
	brigd_stop(&d);
}
END_TEST

START_TEST(test_raw_too_many_fds)
{
	struct brigd d;
	struct raw_msg m;
	msgpack_sbuffer sb;
	int sock, fds[20], baseline, type;
	char path[PATH_MAX];

	brigd_start(&d, NULL);
	snprintf(path, sizeof(path), "%s/many.txt", d.dir);
	harness_write_file(path, "x", 1);
	for (size_t i = 0; i < 20; i++) {
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		ck_assert_int_ge(fds[i], 0);
	}
	msgpack_sbuffer_init(&sb);
	sock = raw_connect(&d);
	raw_handshake(sock, NULL);
	close(sock);
	baseline = settle_fds(&d);

	/* One descriptor per write, all within one frame that never ends:
	 * the ninth is one more than may wait. */
	sock = raw_connect(&d);
	raw_handshake(sock, NULL);
	pack_submit(&sb, 1, "echo", false, "a frame long enough to split into many writes");
	for (size_t i = 0; i < BRIG_CLIENT_MAX_FDS + 1; i++)
		send_with_fds(sock, sb.data + i, 1, &fds[i], 1);
	type = raw_read_msg(sock, 20000, &m);
	E2E_ASSERT(type == MSG_ERROR && m.error.code == BRIG_ERROR_PROTOCOL &&
			   strstr(m.error.message, "file descriptors wait for their frame"),
		   "%d descriptors for one frame: type %d code %u: %s", BRIG_CLIENT_MAX_FDS + 1,
		   type, m.error.code, m.error.message);
	E2E_ASSERT(raw_wait_eof(sock, 10000) == 0, "the connection stays open");
	close(sock);

	/* Twenty in one message: more than the broker takes at once. */
	sock = raw_connect(&d);
	raw_handshake(sock, NULL);
	pack_submit(&sb, 2, "echo", true, NULL);
	send_with_fds(sock, sb.data, sb.size, fds, 20);
	type = raw_read_msg(sock, 20000, &m);
	E2E_ASSERT(type == MSG_ERROR && m.error.code == BRIG_ERROR_PROTOCOL &&
			   strstr(m.error.message, "truncated"),
		   "20 descriptors in one message: type %d code %u: %s", type, m.error.code,
		   m.error.message);
	E2E_ASSERT(raw_wait_eof(sock, 10000) == 0, "the connection stays open");
	close(sock);

	/* A client that goes away with descriptors queued leaves none. */
	sock = raw_connect(&d);
	raw_handshake(sock, NULL);
	for (size_t i = 0; i < 4; i++)
		send_with_fds(sock, sb.data + i, 1, &fds[i], 1);
	harness_sleep_ms(100);
	close(sock);

	E2E_ASSERT(harness_settled_fd_count(d.pid, baseline, 10000) == baseline,
		   "the broker holds %d descriptors, %d before", proc_fd_count(d.pid), baseline);
	E2E_ASSERT(!proc_has_fd_to(d.pid, path), "the broker still holds a passed descriptor");
	for (size_t i = 0; i < 20; i++)
		close(fds[i]);
	msgpack_sbuffer_destroy(&sb);
	brigd_stop(&d);
}
END_TEST

/* ---- the CLI ---- */

START_TEST(test_cli_passes_files)
{
	struct brigd d;
	struct run_result run;
	char brig[PATH_MAX], file[PATH_MAX], expect[128];
	size_t len = 10u << 20;    /* more than max_input: only a descriptor can carry it */
	uint8_t *data = pattern(len, 5);

	brigd_start(&d, NULL);
	snprintf(brig, sizeof(brig), "%s/brig", harness_builddir());
	snprintf(file, sizeof(file), "%s/big.bin", d.dir);
	harness_write_file(file, data, len);
	snprintf(expect, sizeof(expect), "{\"length\":%zu,\"fnv1a64\":%llu}\n", len,
		 (unsigned long long)fnv1a64(data, len));
	{
		char *argv[] = { brig, "call", "--socket", d.socket_path, "digest", file, NULL };

		harness_run(d.dir, argv, NULL, 30000, &run);
		E2E_ASSERT(run.status == 0 && strncmp(run.out, expect, strlen(expect)) == 0,
			   "brig call digest FILE (10 MiB): exit %d; stdout:\n%s\nstderr:\n%s",
			   run.status, run.out, run.err);
		run_result_free(&run);
	}
	{
		/* Standard input that is a regular file goes as a descriptor too. */
		char *argv[] = { brig, "call", "--socket", d.socket_path, "digest", NULL };

		harness_run(d.dir, argv, file, 30000, &run);
		E2E_ASSERT(run.status == 0 && strncmp(run.out, expect, strlen(expect)) == 0,
			   "brig call digest < FILE: exit %d; stdout:\n%s\nstderr:\n%s", run.status,
			   run.out, run.err);
		run_result_free(&run);
	}
	{
		/* --copy sends the bytes, which do not fit a frame. */
		char *argv[] = { brig, "call", "--copy", "--socket", d.socket_path, "digest", file,
				 NULL };

		harness_run(d.dir, argv, NULL, 30000, &run);
		E2E_ASSERT(run.status == 66 && strstr(run.err, "exceeds the server's limit"),
			   "brig call --copy of 10 MiB: exit %d; stderr:\n%s", run.status, run.err);
		run_result_free(&run);
	}
	{
		char *argv[] = { brig, "exec", "--socket", d.socket_path, "--stdin", file, "--",
				 "wc", "-c", NULL };

		harness_run(d.dir, argv, NULL, 30000, &run);
		snprintf(expect, sizeof(expect), "%zu\n", len);
		E2E_ASSERT(run.status == 0 && strcmp(run.out, expect) == 0,
			   "brig exec --stdin FILE wc -c: exit %d; stdout:\n%s\nstderr:\n%s",
			   run.status, run.out, run.err);
		run_result_free(&run);
	}
	free(data);
	brigd_stop(&d);
}
END_TEST

static Suite *input_fd_suite(void)
{
	Suite *s = suite_create("input_fd");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{ "regular_file", test_call_regular_file },
		{ "memfd", test_call_memfd },
		{ "exec_stdin", test_exec_stdin_fd },
		{ "refused", test_refused_descriptors },
		{ "size_limit", test_size_limit },
		{ "raw_frame_rule", test_raw_fd_rides_with_its_frame },
		{ "raw_too_many", test_raw_too_many_fds },
		{ "cli", test_cli_passes_files },
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
		fprintf(stderr, "check_input_fd: brigd needs root; skipping\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	sr = srunner_create(input_fd_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
