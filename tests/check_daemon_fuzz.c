/*
 * A stateful fuzz of a live brigd: rounds of connections that send random
 * sequences of valid and invalid frames (good and bad HELLOs, SUBMITs of
 * echo and sleep jobs with colliding ids, cancels of jobs that exist and
 * that do not, half frames, huge and zero declared lengths, random bytes,
 * mutated frames, internal message types, EXECs, narrowing descriptors) and
 * disconnect at random points, jobs still running.
 *
 * Afterwards brigd must still be up, answer a well-behaved client's echo,
 * and be back to its baseline: as many descriptors in the broker and as
 * many warm workers under the zygote as before the storm (invariants 3, 4
 * and 6).  Bounded: ROUNDS x ROUND_BUDGET_MS of traffic at most.
 *
 * The PRNG seed is printed first and in every failure; rerun one with
 * BRIG_FUZZ_SEED=<seed>.  Needs root (brigd builds sandboxes).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <check.h>

#include "frame.h"
#include "harness.h"
#include "msg.h"
#include "wire.h"

#define ROUNDS 5
#define CONNECTIONS_PER_ROUND 10
#define STEPS_PER_ROUND 2000
#define ROUND_BUDGET_MS 3000             /* each round stops after this much traffic */
#define JOB_IDS 8                       /* ids 1..8: plenty of collisions */
#define SETTLE_TIMEOUT_MS 20000

static uint64_t seed;
static uint64_t rng_state;

#define FUZZ_ASSERT(expr, fmt, ...) \
	E2E_ASSERT(expr, "[BRIG_FUZZ_SEED=%" PRIu64 "] " fmt, seed, ##__VA_ARGS__)

/* xorshift64*: small, seedable, good enough to pick actions. */
static uint64_t rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static uint32_t rng_below(uint32_t n)
{
	return (uint32_t)(rng_next() % n);
}

static bool rng_chance(unsigned percent)
{
	return rng_below(100) < percent;
}

struct connection {
	int fd;                          /* -1: closed */
	bool greeted;
};

struct stats {
	unsigned connections;
	unsigned actions;
	unsigned closed_by_us;
	unsigned closed_by_brigd;
	uint64_t bytes_read;
};

static void connection_close(struct connection *c, struct stats *st)
{
	if (c->fd >= 0) {
		close(c->fd);
		st->closed_by_us++;
	}
	c->fd = -1;
}

/*
 * Send without blocking: a peer that stopped reading (brigd is closing this
 * connection) or went away ends the connection on our side too.  A partial
 * send leaves half a frame behind, which is one more thing to fuzz.
 */
static void send_bytes(struct connection *c, const void *data, size_t len, struct stats *st)
{
	ssize_t n;

	if (c->fd < 0 || len == 0)
		return;
	n = send(c->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0 || (size_t)n < len)
		connection_close(c, st);
}

static void send_sbuffer(struct connection *c, msgpack_sbuffer *sb, int packed, struct stats *st)
{
	FUZZ_ASSERT(packed == 0, "a packer refused a frame the test built: %s", strerror(-packed));
	send_bytes(c, sb->data, sb->size, st);
	msgpack_sbuffer_clear(sb);
}

/* Read and discard whatever brigd sent; notice when it closed on us. */
static void drain(struct connection *conns, size_t n, struct stats *st)
{
	char buf[65536];

	for (size_t i = 0; i < n; i++) {
		for (;;) {
			ssize_t r;

			if (conns[i].fd < 0)
				break;
			r = recv(conns[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (r > 0) {
				st->bytes_read += (uint64_t)r;
				continue;
			}
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			close(conns[i].fd);
			conns[i].fd = -1;
			st->closed_by_brigd++;
		}
	}
}

static const char *const handlers[] = { "echo", "sleep", "echo", "fail", "nope", "" };
static const char *const profiles[] = { "", "", "", "default", "nope", "parser" };
static const char *const descriptors[] = {
	"net=none", "rlimit_as=268435456", "read=/usr", "write=/", "bogus", "=", "rlimit_nofile=0",
	"namespaces=user", "seccomp_deny=ptrace", "timeout=1",
};

static void pack_submit(msgpack_sbuffer *sb, struct connection *c, struct stats *st)
{
	char input[256];
	const char *chosen[4];
	struct msg_submit m = { .job_id = 1 + rng_below(JOB_IDS) };
	size_t len = 0;

	snprintf(m.handler, sizeof(m.handler), "%s", handlers[rng_below(6)]);
	snprintf(m.profile, sizeof(m.profile), "%s", profiles[rng_below(6)]);
	if (strcmp(m.handler, "sleep") == 0) {
		/* short sleeps; some outlive their timeout */
		len = (size_t)snprintf(input, sizeof(input), "%u", 10 + rng_below(300));
		m.timeout_ms = rng_chance(30) ? 1 + rng_below(100) : 0;
	} else {
		len = rng_below(sizeof(input));
		for (size_t i = 0; i < len; i++)
			input[i] = (char)rng_next();
		m.timeout_ms = rng_chance(5) ? UINT32_MAX : 0;
	}
	m.input = (const uint8_t *)input;
	m.input_len = len;
	if (rng_chance(20)) {
		m.descriptors.count = 1 + rng_below(4);
		for (size_t i = 0; i < m.descriptors.count; i++)
			chosen[i] = descriptors[rng_below(sizeof(descriptors) / sizeof(descriptors[0]))];
		m.descriptors.v = chosen;
	}
	send_sbuffer(c, sb, msg_pack_submit(sb, &m), st);
}

static void pack_exec(msgpack_sbuffer *sb, struct connection *c, struct stats *st)
{
	static const char *const argv_echo[] = { "/bin/echo", "fuzz" };
	static const char *const argv_sleep[] = { "/bin/sleep", "0.2" };
	struct msg_exec m = { .job_id = 1 + rng_below(JOB_IDS) };
	bool sleep_job = rng_chance(50);

	snprintf(m.profile, sizeof(m.profile), "%s", rng_chance(50) ? "exec" : "");
	m.argv.v = sleep_job ? argv_sleep : argv_echo;
	m.argv.count = 2;
	send_sbuffer(c, sb, msg_pack_exec(sb, &m), st);
}

/* A frame of a type only brigd's own processes exchange. */
static void pack_internal(msgpack_sbuffer *sb, struct connection *c, struct stats *st)
{
	msgpack_object item = { .type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = 1 };
	int r;

	switch (rng_below(4)) {
	case 0:
		r = msg_pack_worker_item(sb, &(struct msg_worker_item){ &item });
		break;
	case 1:
		r = msg_pack_worker_done(sb, &(struct msg_worker_done){ 0, "", 0, 0 });
		break;
	case 2:
		r = msg_pack_zygote_spawn(sb, &(struct msg_zygote_spawn){ 1, 0 });
		break;
	default:
		r = msg_pack_final(sb, &(struct msg_final){ .job_id = 1 });
		break;
	}
	send_sbuffer(c, sb, r, st);
}

/* One random action on connection c. */
static void act(struct connection *c, msgpack_sbuffer *sb, struct stats *st)
{
	uint8_t bytes[128];
	uint32_t action = rng_below(100);

	st->actions++;
	if (!c->greeted && rng_chance(85)) {
		/* mostly well-behaved openings, so that the deeper states are reached */
		send_sbuffer(c, sb, msg_pack_hello(sb, &(struct msg_hello){
			rng_chance(95) ? BRIG_PROTOCOL_VERSION : rng_below(5), "fuzz" }), st);
		c->greeted = true;
		return;
	}
	if (action < 30) {
		pack_submit(sb, c, st);
	} else if (action < 38) {
		send_sbuffer(c, sb, msg_pack_cancel(sb, &(struct msg_cancel){
			rng_chance(80) ? 1 + rng_below(JOB_IDS) : (uint32_t)rng_next() }), st);
	} else if (action < 42) {
		pack_exec(sb, c, st);
	} else if (action < 46) {
		/* a second HELLO, or one with another version */
		send_sbuffer(c, sb, msg_pack_hello(sb, &(struct msg_hello){ rng_below(4), "again" }), st);
	} else if (action < 52) {
		/* half a frame, then gone */
		pack_submit(sb, c, st);
		if (c->fd >= 0) {
			msgpack_sbuffer tmp;

			msgpack_sbuffer_init(&tmp);
			msg_pack_submit(&tmp, &(struct msg_submit){ .job_id = 1, .handler = "echo",
								    .profile = "" });
			send_bytes(c, tmp.data, 1 + rng_below((uint32_t)tmp.size - 1), st);
			msgpack_sbuffer_destroy(&tmp);
		}
		connection_close(c, st);
	} else if (action < 56) {
		/* a declared length past any max_frame */
		static const uint32_t huge[] = { 0xffffffffu, BRIG_FRAME_MAX_CEILING + 1,
						 BRIG_DEFAULT_MAX_FRAME + 1, 100u * 1024 * 1024 };

		frame_put_header(bytes, huge[rng_below(4)]);
		send_bytes(c, bytes, FRAME_HEADER_SIZE + rng_below(8), st);
	} else if (action < 59) {
		frame_put_header(bytes, 0);
		send_bytes(c, bytes, FRAME_HEADER_SIZE, st);
	} else if (action < 66) {
		size_t len = 1 + rng_below(sizeof(bytes));

		for (size_t i = 0; i < len; i++)
			bytes[i] = (uint8_t)rng_next();
		/* a small header, so that the bytes are read as a body */
		if (rng_chance(70))
			frame_put_header(bytes, (uint32_t)(len > 4 ? len - 4 : 1));
		send_bytes(c, bytes, len, st);
	} else if (action < 74) {
		/* a valid SUBMIT with a few bytes flipped */
		pack_submit(sb, c, st);
		if (c->fd >= 0) {
			msgpack_sbuffer tmp;

			msgpack_sbuffer_init(&tmp);
			msg_pack_submit(&tmp, &(struct msg_submit){ .job_id = 2, .handler = "echo",
								    .profile = "", .input = bytes,
								    .input_len = 16 });
			for (unsigned i = 0, flips = 1 + rng_below(3); i < flips; i++)
				tmp.data[FRAME_HEADER_SIZE + rng_below((uint32_t)tmp.size - FRAME_HEADER_SIZE)] ^=
					(char)(1u << rng_below(8));
			send_bytes(c, tmp.data, tmp.size, st);
			msgpack_sbuffer_destroy(&tmp);
		}
	} else if (action < 78) {
		pack_internal(sb, c, st);
	} else if (action < 83) {
		connection_close(c, st);
	} else {
		/* burst: several submits and cancels back to back */
		for (unsigned i = 0, n = 2 + rng_below(6); i < n && c->fd >= 0; i++) {
			if (rng_chance(70))
				pack_submit(sb, c, st);
			else
				send_sbuffer(c, sb, msg_pack_cancel(sb, &(struct msg_cancel){
					1 + rng_below(JOB_IDS) }), st);
		}
	}
}

/* HELLO, then an echo whose one item must be {"input": bin "still here"}. */
static void well_behaved_echo(const struct brigd *d)
{
	static const char input[] = "still here";
	bool item_ok = false, final_ok = false;
	int64_t deadline = harness_now_ms() + 10000 * (int64_t)harness_slowdown();
	int fd = raw_connect(d), r;

	raw_handshake(fd, NULL);
	r = raw_send_submit(fd, 42, "echo", input, sizeof(input) - 1, 0);
	FUZZ_ASSERT(r == 0, "SUBMIT after the fuzz: %s", strerror(-r));
	while (!final_ok && harness_now_ms() < deadline) {
		struct msg_in in;
		uint8_t *body;
		size_t len;
		int type;

		r = raw_read_frame(fd, 10000, &body, &len);
		FUZZ_ASSERT(r == 0, "reading the echo after the fuzz: %s", strerror(-r));
		type = msg_open(&in, body, len);
		if (type == MSG_ITEM) {
			struct msg_item item;
			const msgpack_object *o;

			FUZZ_ASSERT(msg_decode_item(&in, &item) == 0, "bad ITEM: %s", in.error);
			o = item.item;
			item_ok = item.job_id == 42 && o->type == MSGPACK_OBJECT_MAP &&
				  o->via.map.size == 1 &&
				  o->via.map.ptr[0].val.type == MSGPACK_OBJECT_BIN &&
				  o->via.map.ptr[0].val.via.bin.size == sizeof(input) - 1 &&
				  memcmp(o->via.map.ptr[0].val.via.bin.ptr, input, sizeof(input) - 1) == 0;
		} else if (type == MSG_FINAL) {
			struct msg_final final;

			FUZZ_ASSERT(msg_decode_final(&in, &final) == 0, "bad FINAL: %s", in.error);
			FUZZ_ASSERT(final.job_id == 42 && final.outcome == BRIG_OUTCOME_OK,
				    "echo after the fuzz: outcome %s (%s)",
				    brig_outcome_name((int)final.outcome), final.message);
			final_ok = true;
		} else {
			FUZZ_ASSERT(false, "echo after the fuzz: unexpected frame type %d (%s)", type,
				    in.error);
		}
		msg_close(&in);
		free(body);
	}
	FUZZ_ASSERT(final_ok && item_ok, "echo after the fuzz: item %s, final %s",
		    item_ok ? "ok" : "wrong or missing", final_ok ? "ok" : "missing");
	close(fd);
}

START_TEST(test_daemon_fuzz)
{
	struct connection conns[CONNECTIONS_PER_ROUND];
	struct stats st = { 0 };
	struct brigd d;
	msgpack_sbuffer sb;
	const char *env = getenv("BRIG_FUZZ_SEED");
	int64_t start, round_start;
	size_t children, children_after;
	int fds, fds_after, status;
	unsigned rounds_done = 0;
	int settle_ms = SETTLE_TIMEOUT_MS * (int)harness_slowdown();

	seed = env && *env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
	rng_state = seed ? seed : 1;
	fprintf(stderr, "check_daemon_fuzz: BRIG_FUZZ_SEED=%" PRIu64 "\n", seed);

	/* The built-in profiles, with pools that shrink back soon after the
	 * fuzz grew them (autosizing), so the counts can be compared. */
	brigd_start(&d, "[profile default]\npool_idle_ms = 100\n"
			"[profile parser]\npool_idle_ms = 100\n"
			"[profile exec]\npool_idle_ms = 100\n");
	children = harness_settled_children(&d, (size_t)-1, settle_ms);
	FUZZ_ASSERT(children > 0, "no warm workers after start-up");
	fds = proc_fd_count(d.broker_pid);
	msgpack_sbuffer_init(&sb);

	start = harness_now_ms();
	for (unsigned round = 0; round < ROUNDS; round++) {
		round_start = harness_now_ms();
		for (size_t i = 0; i < CONNECTIONS_PER_ROUND; i++) {
			conns[i].fd = raw_connect(&d);
			conns[i].greeted = false;
			st.connections++;
		}
		for (unsigned step = 0; step < STEPS_PER_ROUND; step++) {
			struct connection *c = &conns[rng_below(CONNECTIONS_PER_ROUND)];

			if (harness_now_ms() - round_start >= ROUND_BUDGET_MS)
				break;
			if (c->fd < 0) {
				/* gone (ours or brigd's doing): a new connection takes its place */
				c->fd = raw_connect(&d);
				c->greeted = false;
				st.connections++;
			}
			act(c, &sb, &st);
			drain(conns, CONNECTIONS_PER_ROUND, &st);
			if (rng_chance(5))
				harness_sleep_ms(rng_below(20));
		}
		/* Leave with jobs running: brigd must clean up after every one. */
		for (size_t i = 0; i < CONNECTIONS_PER_ROUND; i++)
			connection_close(&conns[i], &st);
		FUZZ_ASSERT(waitpid(d.pid, &status, WNOHANG) == 0, "brigd exited during round %u",
			    round);
		rounds_done++;
	}
	msgpack_sbuffer_destroy(&sb);
	fprintf(stderr, "check_daemon_fuzz: %u rounds, %u connections, %u actions, %u closed by "
		"us, %u by brigd, %" PRIu64 " bytes read, %" PRId64 " ms\n", rounds_done,
		st.connections, st.actions, st.closed_by_us, st.closed_by_brigd, st.bytes_read,
		harness_now_ms() - start);
	FUZZ_ASSERT(st.connections >= 50, "only %u connections in the time budget", st.connections);

	FUZZ_ASSERT(waitpid(d.pid, &status, WNOHANG) == 0, "brigd exited");
	well_behaved_echo(&d);
	children_after = harness_settled_children(&d, children, settle_ms);
	FUZZ_ASSERT(children_after == children, "the zygote has %zu children after the fuzz, %zu "
		    "before (leaked or missing workers)", children_after, children);
	fds_after = harness_settled_fd_count(d.broker_pid, fds, settle_ms);
	FUZZ_ASSERT(fds_after == fds, "brigd holds %d descriptors after the fuzz, %d before",
		    fds_after, fds);
	brigd_stop(&d);
}
END_TEST

static Suite *daemon_fuzz_suite(void)
{
	Suite *s = suite_create("daemon_fuzz");
	TCase *tc = tcase_create("live");

	tcase_add_checked_fixture(tc, harness_test_setup, harness_test_teardown);
	tcase_set_timeout(tc, HARNESS_TEST_DEADLINE_S + 10);
	tcase_add_test(tc, test_daemon_fuzz);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (geteuid() != 0) {
		fprintf(stderr, "check_daemon_fuzz: needs root (brigd builds sandboxes); skipped\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	sr = srunner_create(daemon_fuzz_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
