/*
 * brig-bench: how fast is a sandboxed job through brigd, next to what a
 * service would otherwise do (a fresh bubblewrap sandbox, or plain
 * fork+exec), and next to the floor (the same round trips over AF_UNIX
 * between three processes doing nothing else)?  Everything is measured in
 * one run on one machine; quote the ratios, the machine is noisy.
 *
 * Usage: brig-bench [-n CALLS] [-d SECONDS] [--socket PATH]
 *   The fd-input figure runs CALLS / 25 rounds (at least 5) of digest on a
 *   100 MB memfd, interleaved with the same loop in-process.
 *   Without --socket it starts its own brigd from $BRIG_TOP_BUILDDIR with
 *   the built-in default config and the shipped handlers.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "brig/brig.h"

static pid_t brigd_pid;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct stats {
	double median_us, p90_us, p99_us;
};

static struct stats summarize(uint64_t *samples, size_t n)
{
	struct stats s = { 0 };

	if (n == 0)
		return s;
	qsort(samples, n, sizeof(*samples), compare_u64);
	s.median_us = samples[n / 2] / 1000.0;
	s.p90_us = samples[(n * 90) / 100] / 1000.0;
	s.p99_us = samples[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] / 1000.0;
	return s;
}

static void print_row(const char *what, struct stats s)
{
	printf("  %-44s median %9.1f us   p90 %9.1f us   p99 %9.1f us\n", what, s.median_us,
	       s.p90_us, s.p99_us);
}

/* ---- brig ---- */

struct call_result {
	int outcome;
	size_t items;
};

static void on_item(void *arg, uint32_t job, uint32_t seq, const msgpack_object *item)
{
	(void)job;
	(void)seq;
	(void)item;
	((struct call_result *)arg)->items++;
}

static void on_final(void *arg, uint32_t job, const struct brig_status *st)
{
	(void)job;
	((struct call_result *)arg)->outcome = st->outcome;
}

/* The profile jobs go to (NULL: the server's default). */
static const char *bench_profile;

static int brig_one(struct brig_client *c, const char *handler, const void *in, size_t len)
{
	struct brig_job job = { .handler = handler, .profile = bench_profile, .input = in,
				.input_len = len };
	struct call_result res = { .outcome = -1 };
	uint32_t id;
	int r;

	r = brig_submit(c, &job, on_item, on_final, &res, &id);
	if (r == 0)
		r = brig_wait(c, id);
	if (r < 0) {
		fprintf(stderr, "brig-bench: %s: %s\n", handler, brig_strerror(r));
		exit(1);
	}
	if (res.outcome != BRIG_OK) {
		fprintf(stderr, "brig-bench: %s ended with %s\n", handler,
			brig_outcome_string(res.outcome));
		exit(1);
	}
	return 0;
}

static struct stats bench_brig_latency(const char *sock, const char *handler, const void *in,
				       size_t len, size_t calls)
{
	struct brig_client *c;
	uint64_t *samples = calloc(calls, sizeof(uint64_t));
	struct stats s;
	int r;

	r = brig_connect(sock, "brig-bench", &c);
	if (r < 0) {
		fprintf(stderr, "brig-bench: connect %s: %s\n", sock, brig_strerror(r));
		exit(1);
	}
	for (size_t i = 0; i < calls / 10 + 1; i++)   /* warm up */
		brig_one(c, handler, in, len);
	for (size_t i = 0; i < calls; i++) {
		uint64_t t0 = now_ns();
		brig_one(c, handler, in, len);
		samples[i] = now_ns() - t0;
	}
	brig_close(c);
	s = summarize(samples, calls);
	free(samples);
	return s;
}

/* ---- inputs passed as file descriptors ---- */

/* The digest handler's loop (handlers/echo.c), for its own time in-process. */
static uint64_t fnv1a64(const uint8_t *p, size_t len)
{
	uint64_t h = 14695981039346656037ull;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

static volatile uint64_t bench_sink;

/*
 * The handler's own time: map the memfd as the worker does (read-only,
 * private, a fresh mapping each time so that its page faults count too)
 * and run the same loop.
 */
static uint64_t digest_in_process(int fd, size_t len)
{
	uint64_t t0 = now_ns();
	void *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);

	if (p == MAP_FAILED) {
		perror("brig-bench: mmap");
		exit(1);
	}
	bench_sink = fnv1a64(p, len);
	munmap(p, len);
	return now_ns() - t0;
}

/* One digest job on fd through brig, submit to FINAL. */
static uint64_t digest_via_brig(struct brig_client *c, int fd)
{
	struct brig_job job = { .handler = "digest" };
	struct call_result res = { .outcome = -1 };
	uint64_t t0 = now_ns();
	uint32_t id;
	int r;

	r = brig_submit_fd(c, &job, fd, on_item, on_final, &res, &id);
	if (r == 0)
		r = brig_wait(c, id);
	if (r < 0 || res.outcome != BRIG_OK) {
		fprintf(stderr, "brig-bench: digest on a memfd: %s\n",
			r < 0 ? brig_strerror(r) : brig_outcome_string(res.outcome));
		exit(1);
	}
	return now_ns() - t0;
}

/*
 * digest on a 100 MB sealed memfd through brig, against its own time.  The
 * three are interleaved call by call, so that the load of this shared
 * machine weighs on each alike; the overhead is the median of the per-round
 * ratios.
 */
static void bench_memfd(const char *sock, size_t calls)
{
	size_t len = 100u * 1000 * 1000;
	uint8_t *data = malloc(len);
	uint64_t *own = calloc(calls, sizeof(uint64_t)), *mapped = calloc(calls, sizeof(uint64_t));
	uint64_t *read_in = calloc(calls, sizeof(uint64_t));
	uint64_t *ratio_mapped = calloc(calls, sizeof(uint64_t)),
		 *ratio_read = calloc(calls, sizeof(uint64_t));
	struct brig_client *c;
	int fd, plain, r;

	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 2654435761u >> 13);
	fd = brig_memfd("brig-bench", data, len);
	plain = memfd_create("brig-bench-unsealed", MFD_CLOEXEC);
	if (fd < 0 || plain < 0 || write(plain, data, len) != (ssize_t)len) {
		fprintf(stderr, "brig-bench: memfd: %s\n", strerror(fd < 0 ? -fd : errno));
		exit(1);
	}
	free(data);
	r = brig_connect(sock, "brig-bench", &c);
	if (r < 0) {
		fprintf(stderr, "brig-bench: connect %s: %s\n", sock, brig_strerror(r));
		exit(1);
	}
	digest_in_process(fd, len);     /* warm up */
	digest_via_brig(c, fd);
	for (size_t i = 0; i < calls; i++) {
		own[i] = digest_in_process(fd, len);
		mapped[i] = digest_via_brig(c, fd);
		read_in[i] = digest_via_brig(c, plain);
		/* per mille, to sort as integers */
		ratio_mapped[i] = mapped[i] * 1000 / own[i];
		ratio_read[i] = read_in[i] * 1000 / own[i];
	}
	brig_close(c);
	printf("fd input (digest: length + FNV-1a over every byte; %zu interleaved rounds):\n",
	       calls);
	print_row("digest 100 MB in-process (mmap, no sandbox)", summarize(own, calls));
	print_row("brig digest, 100 MB sealed memfd (mapped)", summarize(mapped, calls));
	print_row("brig digest, 100 MB unsealed memfd (read)", summarize(read_in, calls));
	qsort(ratio_mapped, calls, sizeof(uint64_t), compare_u64);
	qsort(ratio_read, calls, sizeof(uint64_t), compare_u64);
	printf("  overhead over the handler's own time (median of per-round ratios): "
	       "sealed %+.1f%%, unsealed %+.1f%%\n",
	       ratio_mapped[calls / 2] / 10.0 - 100.0, ratio_read[calls / 2] / 10.0 - 100.0);
	close(fd);
	close(plain);
	free(own);
	free(mapped);
	free(read_in);
	free(ratio_mapped);
	free(ratio_read);
}

static void on_output(void *arg, uint32_t job, uint32_t seq, int stream, const void *data,
		      size_t len)
{
	(void)job;
	(void)seq;
	(void)stream;
	(void)data;
	(void)len;
	((struct call_result *)arg)->items++;
}

static void exec_one(struct brig_client *c, char *const *argv)
{
	struct brig_exec_job job = { .argv = (const char *const *)argv, .argc = 1 };
	struct call_result res = { .outcome = -1 };
	uint32_t id;
	int r;

	r = brig_submit_exec(c, &job, on_output, on_final, &res, &id);
	if (r == 0)
		r = brig_wait(c, id);
	if (r < 0 || res.outcome != BRIG_OK) {
		fprintf(stderr, "brig-bench: exec %s: %s\n", argv[0],
			r < 0 ? brig_strerror(r) : brig_outcome_string(res.outcome));
		exit(1);
	}
}

static struct stats bench_brig_exec(const char *sock, char *const *argv, size_t calls)
{
	struct brig_client *c;
	uint64_t *samples = calloc(calls, sizeof(uint64_t));
	struct stats s;

	if (brig_connect(sock, "brig-bench", &c) < 0)
		exit(1);
	for (size_t i = 0; i < calls / 10 + 1; i++)
		exec_one(c, argv);
	for (size_t i = 0; i < calls; i++) {
		uint64_t t0 = now_ns();
		exec_one(c, argv);
		samples[i] = now_ns() - t0;
	}
	brig_close(c);
	s = summarize(samples, calls);
	free(samples);
	return s;
}

/* kB from a /proc/PID file's "Key:   N kB" line. */
static long proc_kb(pid_t pid, const char *file, const char *key)
{
	char path[64], line[256];
	size_t n = strlen(key);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, n) == 0 && line[n] == ':') {
			v = atol(line + n + 1);
			break;
		}
	fclose(f);
	return v;
}

/* Broker RSS idle and with many connected clients; a warm worker's private memory. */
/* The first of pid's children whose command line has (or, with
 * want=false, lacks) "--zygote", or 0. */
static pid_t child_with_zygote_flag(pid_t pid, bool want)
{
	char path[96];
	pid_t found = 0;
	int child;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (!found && fscanf(f, "%d", &child) == 1) {
		char cmd[4096];
		size_t n;
		bool has = false;
		FILE *c;

		snprintf(path, sizeof(path), "/proc/%d/cmdline", child);
		c = fopen(path, "re");
		if (!c)
			continue;
		n = fread(cmd, 1, sizeof(cmd) - 1, c);
		fclose(c);
		for (size_t i = 0; i < n; i += strlen(cmd + i) + 1) {
			cmd[n] = '\0';
			if (strcmp(cmd + i, "--zygote") == 0)
				has = true;
		}
		if (has == want)
			found = child;
	}
	fclose(f);
	return found;
}

/*
 * brigd's processes: the monitor (brigd_pid, root), the broker (its child
 * without --zygote: the process that holds the clients) and the zygote,
 * whose templates' children are warm workers.
 */
static void bench_memory(const char *sock)
{
	enum { CLIENTS = 1000 };
	struct brig_client **cs = calloc(CLIENTS, sizeof(*cs));
	long idle, loaded, worker_private = -1;
	size_t connected = 0;
	pid_t broker, zygote, worker = 0;

	if (brigd_pid <= 0) {
		printf("memory: skipped (--socket given, brigd's pid unknown)\n");
		return;
	}
	broker = child_with_zygote_flag(brigd_pid, false);
	zygote = child_with_zygote_flag(brigd_pid, true);
	if (!broker || !zygote) {
		printf("memory: skipped (cannot find brigd's broker and zygote)\n");
		return;
	}
	idle = proc_kb(broker, "status", "VmRSS");
	for (size_t i = 0; i < CLIENTS; i++)
		if (brig_connect(sock, "brig-bench", &cs[i]) == 0)
			connected++;
	loaded = proc_kb(broker, "status", "VmRSS");
	for (size_t i = 0; i < CLIENTS; i++)
		if (cs[i])
			brig_close(cs[i]);
	free(cs);
	/* A warm worker: a child of a template (a child of the zygote). */
	{
		char path[96];
		int template;
		FILE *g;

		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)zygote, (int)zygote);
		g = fopen(path, "re");
		while (g && !worker && fscanf(g, "%d", &template) == 1) {
			FILE *h;

			snprintf(path, sizeof(path), "/proc/%d/task/%d/children", template, template);
			h = fopen(path, "re");
			if (h) {
				int grand;

				if (fscanf(h, "%d", &grand) == 1)
					worker = grand;
				fclose(h);
			}
		}
		if (g)
			fclose(g);
	}
	if (worker) {
		long clean = proc_kb(worker, "smaps_rollup", "Private_Clean");
		long dirty = proc_kb(worker, "smaps_rollup", "Private_Dirty");
		if (clean >= 0 && dirty >= 0)
			worker_private = clean + dirty;
	}
	printf("memory:\n  broker RSS idle %ld KiB, with %zu clients connected %ld KiB "
	       "(monitor %ld KiB, zygote %ld KiB)\n", idle, connected, loaded,
	       proc_kb(brigd_pid, "status", "VmRSS"), proc_kb(zygote, "status", "VmRSS"));
	printf("  private memory of one warm worker (smaps_rollup Private_*): %ld KiB\n",
	       worker_private);
}

/* clients processes, each with its own connection, for `seconds`. */
static double bench_brig_throughput(const char *sock, int clients, double seconds)
{
	uint64_t *counts = mmap(NULL, sizeof(uint64_t) * (size_t)clients, PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint64_t total = 0, t0, elapsed;
	static const char input[64] = "0123456789abcdef0123456789abcdef0123456789abcdef012345678";

	pid_t *pids = calloc((size_t)clients, sizeof(pid_t));

	t0 = now_ns();
	for (int i = 0; i < clients; i++) {
		pid_t pid = fork();
		pids[i] = pid;
		if (pid == 0) {
			struct brig_client *c;
			uint64_t end = t0 + (uint64_t)(seconds * 1e9);
			if (brig_connect(sock, "brig-bench", &c) < 0)
				_exit(1);
			while (now_ns() < end) {
				brig_one(c, "echo", input, sizeof(input));
				counts[i]++;
			}
			brig_close(c);
			_exit(0);
		}
	}
	for (int i = 0; i < clients; i++)
		if (pids[i] > 0)
			waitpid(pids[i], NULL, 0);
	free(pids);
	elapsed = now_ns() - t0;
	for (int i = 0; i < clients; i++)
		total += counts[i];
	munmap(counts, sizeof(uint64_t) * (size_t)clients);
	return (double)total / (elapsed / 1e9);
}

/* ---- the floor: A <-> B <-> C, 64 bytes each way ---- */

static void relay_loop(int up, int down)
{
	char buf[64];

	for (;;) {
		if (read(up, buf, sizeof(buf)) != sizeof(buf))
			_exit(0);
		if (down >= 0) {
			if (write(down, buf, sizeof(buf)) != sizeof(buf) ||
			    read(down, buf, sizeof(buf)) != sizeof(buf))
				_exit(0);
		}
		if (write(up, buf, sizeof(buf)) != sizeof(buf))
			_exit(0);
	}
}

static struct stats bench_floor(size_t calls)
{
	int ab[2], bc[2];
	uint64_t *samples = calloc(calls, sizeof(uint64_t));
	char buf[64] = { 0 };
	struct stats s;
	pid_t b, c;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, ab) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, bc) < 0)
		exit(1);
	c = fork();
	if (c == 0) {
		close(ab[0]);
		close(ab[1]);
		close(bc[0]);
		relay_loop(bc[1], -1);
	}
	b = fork();
	if (b == 0) {
		close(ab[0]);
		close(bc[1]);
		relay_loop(ab[1], bc[0]);
	}
	close(ab[1]);
	close(bc[0]);
	close(bc[1]);
	for (size_t i = 0; i < calls + calls / 10; i++) {
		uint64_t t0 = now_ns();
		if (write(ab[0], buf, sizeof(buf)) != sizeof(buf) ||
		    read(ab[0], buf, sizeof(buf)) != sizeof(buf))
			exit(1);
		if (i >= calls / 10)
			samples[i - calls / 10] = now_ns() - t0;
	}
	close(ab[0]);
	waitpid(b, NULL, 0);
	waitpid(c, NULL, 0);
	s = summarize(samples, calls);
	free(samples);
	return s;
}

/* ---- baselines: a fresh process per job ---- */

/* Run argv with input on stdin, read stdout to EOF. */
static void spawn_one(char *const argv[], const void *in, size_t len)
{
	int to[2], from[2], status;
	char buf[65536];
	pid_t pid;

	if (pipe2(to, O_CLOEXEC) < 0 || pipe2(from, O_CLOEXEC) < 0)
		exit(1);
	pid = fork();
	if (pid == 0) {
		dup2(to[0], 0);
		dup2(from[1], 1);
		execv(argv[0], argv);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	if (len && write(to[1], in, len) < 0)
		exit(1);
	close(to[1]);
	while (read(from[0], buf, sizeof(buf)) > 0)
		;
	close(from[0]);
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "brig-bench: %s failed (status %d)\n", argv[0], status);
		exit(1);
	}
}

static struct stats bench_spawn(char *const argv[], const void *in, size_t len, size_t calls)
{
	uint64_t *samples = calloc(calls, sizeof(uint64_t));
	struct stats s;

	for (size_t i = 0; i < calls / 10 + 1; i++)
		spawn_one(argv, in, len);
	for (size_t i = 0; i < calls; i++) {
		uint64_t t0 = now_ns();
		spawn_one(argv, in, len);
		samples[i] = now_ns() - t0;
	}
	s = summarize(samples, calls);
	free(samples);
	return s;
}

/* ---- a private brigd ---- */

static char workdir[] = "/tmp/brig-bench.XXXXXX";

static void brigd_stop(void)
{
	char cmd[256];

	if (brigd_pid > 0) {
		kill(brigd_pid, SIGTERM);
		waitpid(brigd_pid, NULL, 0);
		brigd_pid = 0;
		snprintf(cmd, sizeof(cmd), "rm -rf %s", workdir);
		if (system(cmd) != 0)
			fprintf(stderr, "brig-bench: could not remove %s\n", workdir);
	}
}

static const char *brigd_start(void)
{
	static char sock[512];
	const char *top = getenv("BRIG_TOP_BUILDDIR");
	char path[512], link[1024], brigd[1024], conf[600];
	static const char *const plugins[] = { "core", "magic", "archive" };
	FILE *f;

	if (!top)
		top = ".";
	if (!mkdtemp(workdir))
		exit(1);
	snprintf(path, sizeof(path), "%s/handlers", workdir);
	mkdir(path, 0755);
	for (size_t i = 0; i < 3; i++) {
		char target[2048];
		snprintf(target, sizeof(target), "%s/handlers/.libs/%s.so", top, plugins[i]);
		if (!realpath(target, link)) {
			fprintf(stderr, "brig-bench: %s: %s (build first)\n", target, strerror(errno));
			exit(1);
		}
		snprintf(target, sizeof(target), "%s/%s.so", path, plugins[i]);
		if (symlink(link, target) < 0)
			exit(1);
	}
	snprintf(sock, sizeof(sock), "%s/brig.sock", workdir);
	snprintf(brigd, sizeof(brigd), "%s/brigd", top);
	/* The built-in configuration, plus a profile "reuse": the default
	 * profile's sandbox with worker_reuse (the built-in ones are as they
	 * are when no section names them). */
	snprintf(conf, sizeof(conf), "%s/brigd.conf", workdir);
	f = fopen(conf, "w");
	if (!f || fputs("[profile reuse]\nworker_reuse = 1000\npool_size = 8\n"
			"[profile cold]\npool_size = 0\npool_max = 0\n", f) < 0 ||
	    fclose(f) != 0)
		exit(1);
	brigd_pid = fork();
	if (brigd_pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 2);
		execl(brigd, "brigd", "--config", conf, "--socket", sock, "--handlers", path,
		      "--log-level", "warning", (char *)NULL);
		_exit(127);
	}
	atexit(brigd_stop);
	for (int i = 0; i < 200; i++) {
		struct brig_client *c;
		if (brig_connect(sock, "brig-bench", &c) == 0) {
			brig_close(c);
			usleep(200000);   /* let the first pool fill */
			return sock;
		}
		usleep(50000);
	}
	fprintf(stderr, "brig-bench: brigd did not come up\n");
	exit(1);
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "calls", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	static char *bwrap_cat[] = {
		"/usr/bin/bwrap", "--unshare-all", "--die-with-parent", "--new-session",
		"--cap-drop", "ALL", "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib64", "/lib64",
		"--symlink", "usr/lib", "/lib", "--symlink", "usr/bin", "/bin", "/bin/cat", NULL,
	};
	static char *plain_cat[] = { "/bin/cat", NULL };
	const char *sock = NULL;
	bool own_brigd = false;
	size_t calls = 1000;
	double seconds = 3;
	char input[64];
	struct stats floor_s, echo_s, bwrap_s, fork_s, magic_s, true_s, bwrap_true_s, fork_true_s;
	static char *brig_true[] = { "/bin/true", NULL };
	static char *bwrap_true[] = {
		"/usr/bin/bwrap", "--unshare-all", "--die-with-parent", "--new-session",
		"--cap-drop", "ALL", "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib64", "/lib64",
		"--symlink", "usr/lib", "/lib", "--symlink", "usr/bin", "/bin", "/bin/true", NULL,
	};
	static char *plain_true[] = { "/bin/true", NULL };
	uint8_t *megabyte;
	int opt;

	while ((opt = getopt_long(argc, argv, "s:n:d:", options, NULL)) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'n':
			calls = strtoul(optarg, NULL, 10);
			break;
		case 'd':
			seconds = atof(optarg);
			break;
		default:
			fprintf(stderr, "usage: brig-bench [-n CALLS] [-d SECONDS] [--socket PATH]\n");
			return 64;
		}
	}
	if (calls < 10)
		calls = 10;
	{
		struct rlimit nofile;
		if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
			nofile.rlim_cur = nofile.rlim_max;
			setrlimit(RLIMIT_NOFILE, &nofile);
		}
	}
	memset(input, 'x', sizeof(input));
	if (!sock) {
		sock = brigd_start();
		own_brigd = true;
	}

	printf("brig-bench: %zu calls per latency figure, %.1f s per throughput figure\n", calls,
	       seconds);
	printf("latency (one client, sequential):\n");
	floor_s = bench_floor(calls);
	print_row("floor: 2 AF_UNIX round trips, 3 processes", floor_s);
	echo_s = bench_brig_latency(sock, "echo", input, sizeof(input), calls);
	print_row("brig echo 64 B", echo_s);
	if (access(bwrap_cat[0], X_OK) == 0) {
		bwrap_s = bench_spawn(bwrap_cat, input, sizeof(input), calls / 5 ? calls / 5 : 1);
		print_row("bubblewrap --unshare-all cat 64 B", bwrap_s);
	} else {
		bwrap_s.median_us = 0;
		printf("  bubblewrap not installed: skipped\n");
	}
	fork_s = bench_spawn(plain_cat, input, sizeof(input), calls);
	print_row("fork+exec cat 64 B (no sandbox)", fork_s);
	printf("ratios (median): brig/floor %.1fx", echo_s.median_us / floor_s.median_us);
	if (bwrap_s.median_us > 0)
		printf(", bubblewrap/brig %.1fx", bwrap_s.median_us / echo_s.median_us);
	printf(", fork+exec/brig %.2fx\n", fork_s.median_us / echo_s.median_us);

	/* magic on 1 MB: an ELF header, then bytes libmagic must look through. */
	megabyte = calloc(1, 1 << 20);
	memcpy(megabyte, "\x7f" "ELF\x02\x01\x01", 7);
	for (size_t i = 64; i < (1u << 20); i++)
		megabyte[i] = (uint8_t)(i * 2654435761u >> 24);
	magic_s = bench_brig_latency(sock, "magic", megabyte, 1u << 20, calls / 5 ? calls / 5 : 1);
	print_row("brig magic 1 MB", magic_s);
	free(megabyte);
	true_s = bench_brig_exec(sock, brig_true, calls / 5 ? calls / 5 : 1);
	print_row("brig exec /bin/true", true_s);
	if (access(bwrap_true[0], X_OK) == 0) {
		bwrap_true_s = bench_spawn(bwrap_true, NULL, 0, calls / 5 ? calls / 5 : 1);
		print_row("bubblewrap --unshare-all /bin/true", bwrap_true_s);
		printf("  ratio bubblewrap/brig for /bin/true: %.1fx\n",
		       bwrap_true_s.median_us / true_s.median_us);
	}
	fork_true_s = bench_spawn(plain_true, NULL, 0, calls);
	print_row("fork+exec /bin/true (no sandbox)", fork_true_s);
	bench_memfd(sock, calls / 25 > 5 ? calls / 25 : 5);

	printf("throughput (echo 64 B, single-use workers, one connection per client):\n");
	for (int clients = 1; clients <= 64; clients *= 2) {
		if (clients == 4 || clients == 16 || clients == 32)
			continue;
		printf("  %2d clients: %8.0f jobs/s\n", clients,
		       bench_brig_throughput(sock, clients, seconds));
	}
	if (own_brigd) {
		struct stats reuse_s, cold_s;

		/* Cold: no warm worker ever (pool_size = pool_max = 0), so every
		 * job waits for its worker to be forked and sandboxed. */
		bench_profile = "cold";
		cold_s = bench_brig_latency(sock, "echo", input, sizeof(input),
					    calls / 5 ? calls / 5 : 1);
		print_row("brig echo 64 B, cold (no warm worker)", cold_s);
		if (bwrap_s.median_us > 0)
			printf("  ratio bubblewrap/brig cold %.1fx\n",
			       bwrap_s.median_us / cold_s.median_us);

		/* Opt-in reuse: one client's jobs on one worker, up to 1000 each. */
		bench_profile = "reuse";
		printf("worker reuse (profile with worker_reuse = 1000, same sandbox):\n");
		reuse_s = bench_brig_latency(sock, "echo", input, sizeof(input), calls);
		print_row("brig echo 64 B, reused worker", reuse_s);
		printf("  ratio brig reused/floor %.1fx\n", reuse_s.median_us / floor_s.median_us);
		for (int clients = 1; clients <= 8; clients *= 8)
			printf("  %2d clients: %8.0f jobs/s\n", clients,
			       bench_brig_throughput(sock, clients, seconds));
		bench_profile = NULL;
	}
	bench_memory(sock);
	return 0;
}
