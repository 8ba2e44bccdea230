/*
 * Soak and fault injection under load (issue 4, Tests), against a real
 * brigd on a private socket (tests/harness.c).
 *
 * soak: BRIG_SOAK_JOBS echo jobs (default 2000; `make check-soak` runs
 * 100000) over several libbrig connections with many jobs in flight.
 * After a warm-up the broker's descriptors, the processes under the zygote
 * and the broker's VmRSS are recorded; at the end they must be back
 * (RSS within SOAK_RSS_SLACK_KIB), and every job must have had exactly one
 * final, ok, with its own bytes echoed.
 *
 * faults: clients keep echo and sleep jobs running while the test kills
 * the zygote (twice), random workers, and closes random connections, at
 * moments drawn from a seeded generator (BRIG_FAULT_SEED=N reproduces a
 * run; the seed is printed).  Every job of a connection that stayed open
 * gets exactly one final (ok, or broker_error / crashed), a closed
 * connection's jobs get nothing after the close, the processes of a killed
 * zygote are gone within 3 s, no zombie lasts over a second, and at the
 * end a fresh client is served and the broker holds the descriptors it
 * held after warm-up.
 *
 * Needs root (brigd builds sandboxes); skipped (exit 77) otherwise.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>
#include <msgpack.h>

#include "brig/brig.h"
#include "harness.h"

/* Warm workers of the built-in profiles: default 4, parser 4, exec 2. */
#define DEFAULT_POOL_SIZE 10
/* Workers of the default profile run as uids from here up. */
#define WORKER_UID_FIRST 3000000000L
#define MAX_PROCS 4096

#define SOAK_DEFAULT_JOBS 2000
#define SOAK_WARMUP_JOBS 200
#define SOAK_CLIENTS 8
#define SOAK_IN_FLIGHT 32
#define SOAK_RSS_SLACK_KIB 2048

/* ASan keeps freed memory in quarantine (up to 256 MiB): under it the
 * broker's RSS grows without a leak, and only LeakSanitizer can tell. */
#if defined(__SANITIZE_ADDRESS__)
#define SOAK_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SOAK_UNDER_ASAN 1
#endif
#endif
#ifndef SOAK_UNDER_ASAN
#define SOAK_UNDER_ASAN 0
#endif

#define FAULT_CLIENTS 6
#define FAULT_IN_FLIGHT 16
#define FAULT_LOAD_MS 18000
#define FAULT_ZYGOTE_KILLS 2
#define FAULT_WORKER_KILLS 8
#define FAULT_CLIENT_CLOSES 4
#define FAULT_MAX_JOBS 400000
#define FAULT_MAX_CONNS 64
#define SLEEP_JOB_MS "100"

/* ------------------------------------------------------------------ */
/* /proc helpers                                                        */

/* VmRSS of pid in KiB, or -1. */
static long proc_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* Every descendant of pid (not pid itself), breadth first. */
static size_t proc_descendants(pid_t pid, pid_t *out, size_t max)
{
	size_t n = 0, next = 0;
	pid_t queue_pid = pid;

	for (;;) {
		pid_t kids[MAX_PROCS];
		size_t k = proc_children(queue_pid, kids, MAX_PROCS);

		if (k > MAX_PROCS)
			k = MAX_PROCS;
		for (size_t i = 0; i < k && n < max; i++)
			out[n++] = kids[i];
		if (next >= n)
			return n;
		queue_pid = out[next++];
	}
}

static size_t count_descendants(pid_t pid)
{
	static pid_t all[MAX_PROCS];

	return proc_descendants(pid, all, MAX_PROCS);
}

/* Workers of the pool: the zygote's children with a job uid, and the
 * children of its root-owned children (templates). */
static size_t pool_workers(pid_t zygote)
{
	pid_t children[512];
	size_t n = proc_children(zygote, children, 512), count = 0;

	if (n > 512)
		n = 512;
	for (size_t i = 0; i < n; i++) {
		if (proc_real_uid(children[i]) == 0)
			count += proc_children(children[i], NULL, 0);
		else
			count++;
	}
	return count;
}

/*
 * Wait (up to timeout_ms) until the pool is full, and the broker's fd
 * count and the process count under the zygote are the same on two
 * samples 200 ms apart.
 */
static void settle(const struct brigd *d, pid_t zygote, int timeout_ms, int *fds, size_t *procs)
{
	int64_t deadline = harness_now_ms() + timeout_ms;
	int last_fds = -2;
	size_t last_procs = (size_t)-1;

	for (;;) {
		int f = proc_fd_count(d->broker_pid);
		size_t p = count_descendants(zygote);

		if (f == last_fds && p == last_procs && pool_workers(zygote) == DEFAULT_POOL_SIZE)
			break;
		if (harness_now_ms() > deadline)
			break;
		last_fds = f;
		last_procs = p;
		harness_sleep_ms(200);
	}
	*fds = last_fds;
	*procs = last_procs;
}

/* Poll until the broker holds want descriptors; returns the last count. */
static int wait_fds(const struct brigd *d, int want, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;
	int n;

	while ((n = proc_fd_count(d->broker_pid)) != want && harness_now_ms() < deadline)
		harness_sleep_ms(50);
	return n;
}

/* Zombies under a parent, with the moment each was first seen. */
struct zombie_watch {
	pid_t pid[512];
	int64_t since[512];
	size_t count;
	int64_t worst_ms;
	pid_t worst_pid;
	const char *worst_what;
};

static void zombie_scan(struct zombie_watch *w, pid_t parent, const char *what)
{
	pid_t pids[512];
	size_t n = parent > 0 ? proc_children(parent, pids, 512) : 0;
	int64_t now = harness_now_ms();

	if (n > 512)
		n = 512;
	for (size_t i = 0; i < n; i++) {
		size_t j;

		if (proc_state(pids[i]) != 'Z')
			continue;
		for (j = 0; j < w->count; j++)
			if (w->pid[j] == pids[i])
				break;
		if (j == w->count) {
			if (w->count == 512) {
				/* Forget the oldest (long reaped, most likely). */
				memmove(&w->pid[0], &w->pid[1], 511 * sizeof(w->pid[0]));
				memmove(&w->since[0], &w->since[1], 511 * sizeof(w->since[0]));
				w->count--;
				j = w->count;
			}
			w->pid[j] = pids[i];
			w->since[j] = now;
			w->count++;
			continue;
		}
		if (now - w->since[j] > w->worst_ms) {
			w->worst_ms = now - w->since[j];
			w->worst_pid = pids[i];
			w->worst_what = what;
		}
	}
}

static void zombie_assert(const struct zombie_watch *w)
{
	E2E_ASSERT(w->worst_ms <= 1000, "%s child %d was a zombie for %" PRId64 " ms",
		   w->worst_what, (int)w->worst_pid, w->worst_ms);
}

/* ------------------------------------------------------------------ */
/* jobs                                                                 */

enum job_kind { KIND_ECHO, KIND_SLEEP };

struct conn {
	struct brig_client *c;
	unsigned slot;
	unsigned in_flight;
	bool closing;                   /* inside brig_close */
	bool closed;
	unsigned server_closed;         /* on_closed calls */
};

struct job {
	uint32_t index;
	uint32_t job_id;
	uint16_t conn;
	uint8_t kind;
	uint8_t finals;
	uint8_t items;
	uint8_t bad_items;              /* wrong id, wrong seq, wrong bytes, after final */
	uint8_t finals_after_close;
	uint8_t finals_in_close;
	int16_t outcome;
	int64_t code;
};

struct load {
	const struct brigd *d;
	struct event_base *base;
	struct job *jobs;
	size_t job_count, job_max;
	struct conn conns[FAULT_MAX_CONNS];
	size_t conn_count;
	unsigned finals;
	bool faults;                    /* echo and sleep mixed */
};

static void make_input(char *buf, size_t size, uint32_t index)
{
	/* Distinct lengths as well as contents, to catch crossed results. */
	int n = snprintf(buf, size, "soak-%" PRIu32 "-", index);

	for (unsigned i = 0; i < index % 37 && (size_t)n + 1 < size; i++)
		buf[n++] = (char)('a' + (index + i) % 26);
	buf[n] = '\0';
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

static struct load *current_load;

static void on_item(void *arg, uint32_t job_id, uint32_t seq, const msgpack_object *item)
{
	struct job *j = arg;
	bool good = job_id == j->job_id && seq == j->items && j->finals == 0;

	if (j->kind == KIND_ECHO) {
		char input[128];
		const msgpack_object *bin = map_get(item, "input");

		make_input(input, sizeof(input), j->index);
		good = good && seq == 0 && bin && bin->type == MSGPACK_OBJECT_BIN &&
		       bin->via.bin.size == strlen(input) &&
		       memcmp(bin->via.bin.ptr, input, bin->via.bin.size) == 0;
	}
	if (!good && j->bad_items < 255)
		j->bad_items++;
	if (j->items < 255)
		j->items++;
}

static void on_final(void *arg, uint32_t job_id, const struct brig_status *st)
{
	struct job *j = arg;
	struct conn *cn = &current_load->conns[j->conn];

	if (job_id != j->job_id && j->bad_items < 255)
		j->bad_items++;
	if (j->finals < 255)
		j->finals++;
	if (cn->closed)
		j->finals_after_close++;
	else if (cn->closing)
		j->finals_in_close++;
	j->outcome = (int16_t)st->outcome;
	j->code = st->code;
	if (j->finals == 1 && cn->in_flight > 0)
		cn->in_flight--;
	current_load->finals++;
}

static void on_closed(void *arg, int err)
{
	struct conn *cn = arg;

	(void)err;
	cn->server_closed++;
}

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static size_t open_conn(struct load *l, unsigned slot)
{
	struct conn *cn;
	int e;

	E2E_ASSERT(l->conn_count < FAULT_MAX_CONNS, "too many connections");
	cn = &l->conns[l->conn_count];
	memset(cn, 0, sizeof(*cn));
	cn->slot = slot;
	e = brig_connect(l->d->socket_path, "soak", &cn->c);
	E2E_ASSERT(e == 0 && cn->c, "brig_connect: %s", brig_strerror(e));
	e = brig_attach(cn->c, l->base, on_closed, cn);
	E2E_ASSERT(e == 0, "brig_attach: %s", brig_strerror(e));
	return l->conn_count++;
}

static void close_conn(struct load *l, size_t i)
{
	struct conn *cn = &l->conns[i];

	cn->closing = true;
	brig_close(cn->c);
	cn->closing = false;
	cn->closed = true;
	cn->c = NULL;
	cn->in_flight = 0;
}

static void submit_one(struct load *l, size_t ci)
{
	struct conn *cn = &l->conns[ci];
	struct job *j;
	char input[128];
	struct brig_job bj = { .handler = "echo" };
	int e;

	E2E_ASSERT(l->job_count < l->job_max, "job table full (%zu)", l->job_max);
	j = &l->jobs[l->job_count];
	memset(j, 0, sizeof(*j));
	j->index = (uint32_t)l->job_count;
	j->conn = (uint16_t)ci;
	j->outcome = -1;
	j->kind = l->faults && j->index % 3 == 0 ? KIND_SLEEP : KIND_ECHO;
	if (j->kind == KIND_SLEEP) {
		bj.handler = "sleep";
		snprintf(input, sizeof(input), "%s", SLEEP_JOB_MS);
	} else {
		make_input(input, sizeof(input), j->index);
	}
	bj.input = input;
	bj.input_len = strlen(input);
	e = brig_submit(cn->c, &bj, on_item, on_final, j, &j->job_id);
	E2E_ASSERT(e == 0, "brig_submit(%s) #%zu: %s", bj.handler, l->job_count, brig_strerror(e));
	l->job_count++;
	cn->in_flight++;
}

static void load_init(struct load *l, const struct brigd *d, size_t job_max, bool faults)
{
	memset(l, 0, sizeof(*l));
	l->d = d;
	l->faults = faults;
	l->job_max = job_max;
	l->jobs = calloc(job_max, sizeof(*l->jobs));
	ck_assert(l->jobs != NULL);
	l->base = event_base_new();
	ck_assert(l->base != NULL);
	current_load = l;
}

static void load_free(struct load *l)
{
	for (size_t i = 0; i < l->conn_count; i++)
		if (!l->conns[i].closed)
			close_conn(l, i);
	event_base_free(l->base);
	free(l->jobs);
	current_load = NULL;
}

/* Run the loop until every open connection's jobs have ended or the
 * deadline passes, with a wake-up tick so that the loop never blocks long. */
static bool drain(struct load *l, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;
	struct timeval tick = { 0, 50000 };
	struct event *wake = event_new(l->base, -1, EV_PERSIST, wake_cb, NULL);

	ck_assert(wake && event_add(wake, &tick) == 0);
	for (;;) {
		bool pending = false;

		for (size_t i = 0; i < l->conn_count; i++)
			if (!l->conns[i].closed && l->conns[i].in_flight)
				pending = true;
		if (!pending || harness_now_ms() > deadline) {
			event_free(wake);
			return !pending;
		}
		ck_assert(event_base_loop(l->base, EVLOOP_ONCE) == 0);
	}
}

static const char *job_text(const struct load *l, const struct job *j)
{
	static char buf[256];

	snprintf(buf, sizeof(buf), "job #%" PRIu32 " (id %" PRIu32 " on connection %u, %s): "
		 "%u final(s), %u item(s), %u bad item(s), outcome %s code %" PRId64,
		 j->index, j->job_id, j->conn, j->kind == KIND_ECHO ? "echo" : "sleep",
		 j->finals, j->items, j->bad_items,
		 j->outcome >= 0 ? brig_outcome_string(j->outcome) : "none", j->code);
	(void)l;
	return buf;
}

static unsigned env_unsigned(const char *name, unsigned dflt, unsigned long max)
{
	const char *s = getenv(name);
	char *end;
	unsigned long v;

	if (!s || !*s)
		return dflt;
	errno = 0;
	v = strtoul(s, &end, 10);
	/* Also called outside a test (Check's asserts are not usable there). */
	if (errno != 0 || *end != '\0' || v == 0 || v > max) {
		fprintf(stderr, "check_soak: %s=%s: not a number in 1..%lu\n", name, s, max);
		exit(EXIT_FAILURE);
	}
	return (unsigned)v;
}

/* ------------------------------------------------------------------ */
/* 1. soak                                                              */

static unsigned soak_jobs(void)
{
	return env_unsigned("BRIG_SOAK_JOBS", SOAK_DEFAULT_JOBS, 10000000UL);
}

/* Run n echo jobs over the load's connections, SOAK_IN_FLIGHT each. */
static void soak_run(struct load *l, size_t n, int timeout_ms)
{
	size_t target = l->job_count + n;
	int64_t deadline = harness_now_ms() + timeout_ms;

	while (l->job_count < target) {
		for (size_t i = 0; i < l->conn_count && l->job_count < target; i++)
			while (l->conns[i].in_flight < SOAK_IN_FLIGHT && l->job_count < target)
				submit_one(l, i);
		ck_assert(event_base_loop(l->base, EVLOOP_ONCE) == 0);
		for (size_t i = 0; i < l->conn_count; i++)
			E2E_ASSERT(l->conns[i].server_closed == 0, "connection %zu closed under "
				   "load", i);
		E2E_ASSERT(harness_now_ms() < deadline, "only %zu of %zu jobs submitted in %d ms",
			   l->job_count, target, timeout_ms);
	}
	E2E_ASSERT(drain(l, 30000), "jobs still pending 30 s after the last submit (%u finals "
		   "for %zu jobs)", l->finals, l->job_count);
}

static void soak_check_jobs(const struct load *l, size_t from, size_t to)
{
	for (size_t k = from; k < to; k++) {
		const struct job *j = &l->jobs[k];

		E2E_ASSERT(j->finals == 1 && j->outcome == BRIG_OK && j->items == 1 &&
			   j->bad_items == 0, "%s", job_text(l, j));
	}
}

START_TEST(test_soak)
{
	struct brigd d;
	struct load l;
	unsigned jobs = soak_jobs();
	pid_t zygote;
	int fds0, fds1;
	size_t procs0, procs1;
	long rss0, rss1;
	int64_t t0, t1;
	unsigned limit_s = HARNESS_TEST_DEADLINE_S + jobs / 100;

	/* The harness watchdog allows 60 s; a soak needs time per job. */
	alarm(limit_s * harness_slowdown());
	/* Pools grown by the load shrink back quickly (autosizing). */
	brigd_start(&d, "[profile default]\npool_idle_ms = 100\n"
			"[profile parser]\npool_idle_ms = 100\n"
			"[profile exec]\npool_idle_ms = 100\n");
	zygote = brigd_zygote_pid(&d);
	E2E_ASSERT(zygote > 0, "cannot find the zygote");
	load_init(&l, &d, (size_t)jobs + SOAK_WARMUP_JOBS, false);
	for (unsigned i = 0; i < SOAK_CLIENTS; i++)
		open_conn(&l, i);

	soak_run(&l, SOAK_WARMUP_JOBS, 60000);
	soak_check_jobs(&l, 0, l.job_count);
	settle(&d, zygote, 10000, &fds0, &procs0);
	rss0 = proc_rss_kib(d.broker_pid);
	fprintf(stderr, "soak: after %d warm-up jobs: broker fds %d, processes under the "
		"zygote %zu, broker VmRSS %ld KiB\n", SOAK_WARMUP_JOBS, fds0, procs0, rss0);

	t0 = harness_now_ms();
	soak_run(&l, jobs, (int)(limit_s * 1000));
	t1 = harness_now_ms();
	soak_check_jobs(&l, 0, l.job_count);
	fprintf(stderr, "soak: %u jobs in %.1f s over %d connections x %d in flight: %.0f jobs/s\n",
		jobs, (double)(t1 - t0) / 1000.0, SOAK_CLIENTS, SOAK_IN_FLIGHT,
		(double)jobs * 1000.0 / (double)(t1 - t0 > 0 ? t1 - t0 : 1));

	/* The connections stay open: the same as after warm-up. */
	settle(&d, zygote, 10000, &fds1, &procs1);
	{
		int64_t deadline = harness_now_ms() + 10000;

		while ((fds1 != fds0 || procs1 != procs0) && harness_now_ms() < deadline) {
			harness_sleep_ms(200);
			fds1 = proc_fd_count(d.broker_pid);
			procs1 = count_descendants(zygote);
		}
	}
	rss1 = proc_rss_kib(d.broker_pid);
	fprintf(stderr, "soak: at the end: broker fds %d (was %d), processes under the zygote "
		"%zu (was %zu), broker VmRSS %ld KiB (was %ld, %+ld KiB)\n", fds1, fds0, procs1,
		procs0, rss1, rss0, rss1 - rss0);
	E2E_ASSERT(brigd_zygote_pid(&d) == zygote, "the zygote was replaced during the soak");
	E2E_ASSERT(fds1 == fds0, "broker fds: %d after warm-up, %d after %u jobs", fds0, fds1,
		   jobs);
	E2E_ASSERT(procs1 == procs0, "processes under the zygote: %zu after warm-up, %zu after "
		   "%u jobs", procs0, procs1, jobs);
	if (!harness_under_valgrind() && !SOAK_UNDER_ASAN)
		E2E_ASSERT(rss1 - rss0 <= SOAK_RSS_SLACK_KIB, "broker VmRSS grew from %ld to %ld "
			   "KiB over %u jobs", rss0, rss1, jobs);
	load_free(&l);
	brigd_stop(&d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 2. fault injection under load                                        */

enum fault_kind { FAULT_ZYGOTE, FAULT_WORKER, FAULT_CLIENT };

struct fault {
	int64_t at_ms;                  /* from the start of the load */
	enum fault_kind kind;
};

/* A process of a killed zygote, named by pid and start time. */
struct victim {
	pid_t pid;
	unsigned long long start;
	int64_t deadline_ms;            /* gone by then */
};

static void victim_assert_gone(const struct victim *v)
{
	char path[64], comm[64] = "?";
	char state = proc_state(v->pid);
	pid_t ppid = proc_ppid(v->pid);
	long uid = proc_real_uid(v->pid);
	FILE *f;

	if (proc_start_time(v->pid) != v->start)
		return;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)v->pid);
	f = fopen(path, "re");
	if (f) {
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
	if (proc_start_time(v->pid) != v->start)
		return;
	E2E_ASSERT(false, "process %d (%s, uid %ld, state %c, parent %d) of a killed zygote "
		   "still exists 3 s after the kill", (int)v->pid, comm, uid, state ? state : '?',
		   (int)ppid);
}

static uint64_t rng_state;

static uint32_t rng_next(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717ULL) >> 32);
}

static int fault_cmp(const void *a, const void *b)
{
	const struct fault *x = a, *y = b;

	return x->at_ms < y->at_ms ? -1 : x->at_ms > y->at_ms;
}

/* The current zygote, waiting up to timeout_ms for the broker to have one. */
static pid_t wait_zygote(const struct brigd *d, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;
	pid_t z;

	while ((z = brigd_zygote_pid(d)) <= 0 || proc_state(z) == 'Z') {
		if (harness_now_ms() > deadline)
			return 0;
		harness_sleep_ms(10);
	}
	return z;
}

START_TEST(test_faults)
{
	struct brigd d;
	static struct load l;
	static struct victim victims[MAX_PROCS];
	static struct zombie_watch zw_broker, zw_zygote;
	struct fault faults[FAULT_ZYGOTE_KILLS + FAULT_WORKER_KILLS + FAULT_CLIENT_CLOSES];
	size_t fault_count = 0, next_fault = 0, victim_count = 0, slot_conn[FAULT_CLIENTS];
	unsigned seed = env_unsigned("BRIG_FAULT_SEED", 0, 0xffffffffUL);
	unsigned zygote_kills = 0, worker_kills = 0, client_closes = 0;
	unsigned outcomes[BRIG_BROKER_ERROR + 1] = { 0 }, cancelled_in_close = 0;
	pid_t zygote;
	int fds0, fds1;
	size_t procs0, procs1;
	int64_t start, now;
	struct timeval tick = { 0, 20000 };
	struct event *wake;

	if (seed == 0)
		seed = (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);
	fprintf(stderr, "faults: seed %u (BRIG_FAULT_SEED=%u reproduces the schedule)\n", seed,
		seed);
	rng_state = 0x9e3779b97f4a7c15ULL ^ seed;
	memset(&zw_broker, 0, sizeof(zw_broker));
	memset(&zw_zygote, 0, sizeof(zw_zygote));

	for (unsigned i = 0; i < FAULT_ZYGOTE_KILLS + FAULT_WORKER_KILLS + FAULT_CLIENT_CLOSES;
	     i++) {
		faults[fault_count].kind = i < FAULT_ZYGOTE_KILLS ? FAULT_ZYGOTE :
			i < FAULT_ZYGOTE_KILLS + FAULT_WORKER_KILLS ? FAULT_WORKER : FAULT_CLIENT;
		faults[fault_count++].at_ms = 1000 + rng_next() % (FAULT_LOAD_MS - 3000);
	}
	qsort(faults, fault_count, sizeof(faults[0]), fault_cmp);

	/* Pools grown by the load shrink back quickly (autosizing). */
	brigd_start(&d, "[profile default]\npool_idle_ms = 100\n"
			"[profile parser]\npool_idle_ms = 100\n"
			"[profile exec]\npool_idle_ms = 100\n");
	zygote = brigd_zygote_pid(&d);
	E2E_ASSERT(zygote > 0, "cannot find the zygote");
	load_init(&l, &d, FAULT_MAX_JOBS, false);
	for (unsigned i = 0; i < FAULT_CLIENTS; i++)
		slot_conn[i] = open_conn(&l, i);

	/* Warm-up: echo only, then the figures to come back to. */
	soak_run(&l, SOAK_WARMUP_JOBS, 30000);
	soak_check_jobs(&l, 0, l.job_count);
	settle(&d, zygote, 10000, &fds0, &procs0);
	fprintf(stderr, "faults: after warm-up: broker fds %d, processes under the zygote %zu\n",
		fds0, procs0);

	l.faults = true;
	wake = event_new(l.base, -1, EV_PERSIST, wake_cb, NULL);
	ck_assert(wake && event_add(wake, &tick) == 0);
	start = harness_now_ms();
	while ((now = harness_now_ms()) - start < FAULT_LOAD_MS) {
		for (unsigned s = 0; s < FAULT_CLIENTS; s++)
			while (l.conns[slot_conn[s]].in_flight < FAULT_IN_FLIGHT)
				submit_one(&l, slot_conn[s]);
		ck_assert(event_base_loop(l.base, EVLOOP_ONCE) == 0);
		for (size_t i = 0; i < l.conn_count; i++)
			E2E_ASSERT(l.conns[i].server_closed == 0, "the server closed connection %zu",
				   i);

		zombie_scan(&zw_broker, d.pid, "monitor");
		zombie_scan(&zw_zygote, brigd_zygote_pid(&d), "zygote");
		for (size_t v = 0; v < victim_count; v++) {
			if (victims[v].deadline_ms == 0 || now < victims[v].deadline_ms)
				continue;
			victim_assert_gone(&victims[v]);
			victims[v].deadline_ms = 0;
		}

		if (next_fault == fault_count || now - start < faults[next_fault].at_ms)
			continue;
		switch (faults[next_fault++].kind) {
		case FAULT_ZYGOTE: {
			static pid_t desc[MAX_PROCS];
			pid_t z = wait_zygote(&d, 5000);
			size_t n;

			E2E_ASSERT(z > 0, "the broker has no zygote 5 s after the last kill");
			n = proc_descendants(z, desc, MAX_PROCS);
			for (size_t i = 0; i <= n && victim_count < MAX_PROCS; i++) {
				pid_t p = i == n ? z : desc[i];

				victims[victim_count].pid = p;
				victims[victim_count].start = proc_start_time(p);
				victims[victim_count].deadline_ms = harness_now_ms() + 3000;
				/* Already gone (a worker that just ended): nothing to watch. */
				if (victims[victim_count].start != 0)
					victim_count++;
			}
			E2E_ASSERT(kill(z, SIGKILL) == 0, "kill(zygote %d): %s", (int)z,
				   strerror(errno));
			fprintf(stderr, "faults: %.1f s: SIGKILL zygote %d (%zu processes under "
				"it)\n", (double)(now - start) / 1000.0, (int)z, n);
			zygote_kills++;
			break;
		}
		case FAULT_WORKER: {
			static pid_t desc[MAX_PROCS], workers[MAX_PROCS];
			pid_t z = wait_zygote(&d, 2000);
			size_t n = z > 0 ? proc_descendants(z, desc, MAX_PROCS) : 0, w = 0;

			for (size_t i = 0; i < n; i++)
				if (proc_real_uid(desc[i]) >= WORKER_UID_FIRST)
					workers[w++] = desc[i];
			if (w == 0) {
				fprintf(stderr, "faults: %.1f s: no worker to kill\n",
					(double)(now - start) / 1000.0);
				break;
			}
			{
				pid_t p = workers[rng_next() % w];

				fprintf(stderr, "faults: %.1f s: SIGKILL worker %d (of %zu)\n",
					(double)(now - start) / 1000.0, (int)p, w);
				if (kill(p, SIGKILL) == 0)
					worker_kills++;
			}
			break;
		}
		case FAULT_CLIENT: {
			unsigned s = rng_next() % FAULT_CLIENTS;
			size_t old = slot_conn[s];

			fprintf(stderr, "faults: %.1f s: closing connection %zu with %u jobs in "
				"flight\n", (double)(now - start) / 1000.0, old,
				l.conns[old].in_flight);
			close_conn(&l, old);
			slot_conn[s] = open_conn(&l, s);
			client_closes++;
			break;
		}
		default:
			ck_abort_msg("bad fault kind");
		}
	}
	event_free(wake);
	fprintf(stderr, "faults: %zu jobs submitted in %.1f s; %u zygote kills, %u worker kills, "
		"%u connections closed\n", l.job_count - SOAK_WARMUP_JOBS,
		(double)(harness_now_ms() - start) / 1000.0, zygote_kills, worker_kills,
		client_closes);

	E2E_ASSERT(drain(&l, 20000), "jobs of open connections still pending 20 s after the "
		   "load stopped");
	for (size_t k = 0; k < l.job_count; k++) {
		const struct job *j = &l.jobs[k];
		const struct conn *cn = &l.conns[j->conn];

		E2E_ASSERT(j->finals_after_close == 0 && j->bad_items == 0, "%s; %u final(s) after "
			   "its connection closed", job_text(&l, j), j->finals_after_close);
		if (cn->closed) {
			/* libbrig ends the jobs of a closed connection itself. */
			E2E_ASSERT(j->finals == 1 && (j->finals_in_close == 0 ||
						      j->outcome == BRIG_CANCELLED),
				   "closed connection: %s", job_text(&l, j));
			cancelled_in_close += j->finals_in_close;
			if (j->finals_in_close)
				continue;
		} else {
			E2E_ASSERT(j->finals == 1, "%s", job_text(&l, j));
		}
		E2E_ASSERT(j->outcome == BRIG_OK || j->outcome == BRIG_BROKER_ERROR ||
			   j->outcome == BRIG_CRASHED, "%s", job_text(&l, j));
		E2E_ASSERT(j->outcome != BRIG_OK ||
			   j->items == (j->kind == KIND_ECHO ? 1 : 2), "%s", job_text(&l, j));
		outcomes[j->outcome]++;
	}
	fprintf(stderr, "faults: finals: %u ok, %u broker_error, %u crashed, %u cancelled by "
		"brig_close\n", outcomes[BRIG_OK], outcomes[BRIG_BROKER_ERROR],
		outcomes[BRIG_CRASHED], cancelled_in_close);

	/* Every process of a killed zygote: gone 3 s after the kill. */
	for (size_t v = 0; v < victim_count; v++) {
		if (victims[v].deadline_ms == 0)
			continue;
		while (harness_now_ms() < victims[v].deadline_ms &&
		       proc_start_time(victims[v].pid) == victims[v].start)
			harness_sleep_ms(20);
		victim_assert_gone(&victims[v]);
	}

	/* The same number of connections is open as after warm-up (the
	 * closed ones were replaced): the broker must hold as many fds. */
	zygote = wait_zygote(&d, 5000);
	E2E_ASSERT(zygote > 0, "no zygote at the end");
	settle(&d, zygote, 10000, &fds1, &procs1);
	fds1 = wait_fds(&d, fds0, 10000);
	fprintf(stderr, "faults: at the end, %d connections open: broker fds %d (was %d), "
		"processes under the zygote %zu (was %zu)\n", FAULT_CLIENTS, fds1, fds0, procs1,
		procs0);
	E2E_ASSERT(fds1 == fds0, "broker fds: %d after warm-up, %d after the faults", fds0, fds1);

	load_free(&l);
	{
		static const char input[] = "after the faults";
		struct brig_job job = { .handler = "echo", .input = input,
					.input_len = sizeof(input) - 1 };
		struct brig_status st = { .outcome = -1 };
		char message[BRIG_MESSAGE_MAX + 1] = "";
		int r = brig_call(d.socket_path, &job, NULL, NULL, &st, message, sizeof(message));

		E2E_ASSERT(r == 0 && st.outcome == BRIG_OK, "a fresh client's echo: %s, outcome "
			   "%s: %s", brig_strerror(r), brig_outcome_string(st.outcome), message);
	}

	/* And one fewer per connection once they are all closed. */
	fds1 = wait_fds(&d, fds0 - FAULT_CLIENTS, 10000);
	E2E_ASSERT(fds1 == fds0 - FAULT_CLIENTS, "broker fds: %d with %d connections open, %d "
		   "after closing them all", fds0, FAULT_CLIENTS, fds1);
	for (int64_t end = harness_now_ms() + 1500; harness_now_ms() < end;) {
		zombie_scan(&zw_broker, d.pid, "monitor");
		zombie_scan(&zw_zygote, zygote, "zygote");
		harness_sleep_ms(20);
	}
	fprintf(stderr, "faults: all connections closed: broker fds %d; longest zombie %" PRId64
		" ms\n", fds1,
		zw_broker.worst_ms > zw_zygote.worst_ms ? zw_broker.worst_ms : zw_zygote.worst_ms);
	zombie_assert(&zw_broker);
	zombie_assert(&zw_zygote);
	E2E_ASSERT(proc_children(d.pid, NULL, 0) == 2, "the monitor has %zu children; only the "
		   "broker and the zygote expected", proc_children(d.pid, NULL, 0));
	E2E_ASSERT(proc_children(d.broker_pid, NULL, 0) == 0, "the broker has children");
	brigd_stop(&d);
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *soak_suite(void)
{
	Suite *s = suite_create("soak");
	TCase *tc = tcase_create("soak");

	tcase_add_checked_fixture(tc, harness_test_setup, harness_test_teardown);
	/* Check's own limit stays above the watchdog test_soak sets. */
	tcase_set_timeout(tc, (double)(HARNESS_TEST_DEADLINE_S + soak_jobs() / 100 + 60) *
			  harness_slowdown());
	tcase_add_test(tc, test_soak);
	suite_add_tcase(s, tc);

	tc = tcase_create("faults");
	tcase_add_checked_fixture(tc, harness_test_setup, harness_test_teardown);
	tcase_add_test(tc, test_faults);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (geteuid() != 0) {
		fprintf(stderr, "check_soak: brigd needs root; skipping\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	sr = srunner_create(soak_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
