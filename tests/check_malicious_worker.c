/*
 * A compromised worker: handlers of the testing plugin that write straight
 * to their job channel (fd 3) what no honest worker sends, while honest jobs
 * run beside them on the same connection and on another one.
 *
 * For each misbehaviour the broker must fail that one job (FINAL crashed,
 * "the worker broke the protocol: ...", or output_limit for a flood), let
 * every other job finish normally with its own results, keep serving, and
 * be back to its warm pool and its file descriptors afterwards.  A forged
 * frame naming another job (a client ITEM or FINAL for job 7) must never
 * reach job 7.  Needs root (brigd builds sandboxes); skipped otherwise.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include <check.h>

#include "harness.h"
#include "msg.h"
#include "wire.h"

/* A small max_output, so that the flood is stopped after 16 items. */
/* Pools grown by the concurrent jobs shrink back quickly (autosizing),
 * so that the fd and process counts return to their baseline. */
static const char config_text[] =
	"[profile default]\n"
	"max_output = 1048576\n"
	"pool_idle_ms = 100\n"
	"[profile parser]\n"
	"pool_idle_ms = 100\n"
	"[profile exec]\n"
	"pool_idle_ms = 100\n";

#define FORGED_JOB_ID 7u
#define JOB_TIMEOUT_MS 20000
#define SETTLE_TIMEOUT_MS 15000

struct tracked_job {
	int fd;
	uint32_t id;
	const char *handler;
	char input[32];
	bool echo;                      /* check that the item is {"input": input} */
	unsigned items;
	unsigned bad_items;             /* items that are not what echo returns */
	unsigned finals;
	struct msg_final final;
	bool rejected;
	struct msg_error error;
};

/* Is o the map {"input": bin(expected)}? */
static bool echo_item_ok(const msgpack_object *o, const char *expected)
{
	const msgpack_object_kv *kv;
	size_t len = strlen(expected);

	if (o->type != MSGPACK_OBJECT_MAP || o->via.map.size != 1)
		return false;
	kv = &o->via.map.ptr[0];
	return kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == 5 &&
	       memcmp(kv->key.via.str.ptr, "input", 5) == 0 && kv->val.type == MSGPACK_OBJECT_BIN &&
	       kv->val.via.bin.size == len &&
	       (len == 0 || memcmp(kv->val.via.bin.ptr, expected, len) == 0);
}

static struct tracked_job *find_job(struct tracked_job *jobs, size_t n, int fd, uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (jobs[i].fd == fd && jobs[i].id == id)
			return &jobs[i];
	return NULL;
}

static bool all_done(const struct tracked_job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (jobs[i].finals == 0 && !jobs[i].rejected)
			return false;
	return true;
}

/* Read one frame from fd and file it under its job. */
static void read_one(int fd, struct tracked_job *jobs, size_t n)
{
	struct tracked_job *j;
	struct msg_in in;
	uint8_t *body;
	size_t len;
	int r, type;

	r = raw_read_frame(fd, 5000, &body, &len);
	E2E_ASSERT(r == 0, "reading from brigd: %s", strerror(-r));
	type = msg_open(&in, body, len);
	switch (type) {
	case MSG_ITEM: {
		struct msg_item item;

		E2E_ASSERT(msg_decode_item(&in, &item) == 0, "bad ITEM: %s", in.error);
		j = find_job(jobs, n, fd, item.job_id);
		E2E_ASSERT(j != NULL, "ITEM for job %u, which this connection never submitted",
			   item.job_id);
		E2E_ASSERT(j->finals == 0, "ITEM for job %u after its FINAL", item.job_id);
		if (j->echo && (item.seq != j->items || !echo_item_ok(item.item, j->input)))
			j->bad_items++;
		j->items++;
		break;
	}
	case MSG_FINAL: {
		struct msg_final final;

		E2E_ASSERT(msg_decode_final(&in, &final) == 0, "bad FINAL: %s", in.error);
		j = find_job(jobs, n, fd, final.job_id);
		E2E_ASSERT(j != NULL, "FINAL for job %u, which this connection never submitted",
			   final.job_id);
		j->finals++;
		j->final = final;
		break;
	}
	case MSG_ERROR: {
		struct msg_error error;

		E2E_ASSERT(msg_decode_error(&in, &error) == 0, "bad ERROR: %s", in.error);
		E2E_ASSERT(error.has_job, "connection ERROR: %s", error.message);
		j = find_job(jobs, n, fd, error.job_id);
		E2E_ASSERT(j != NULL, "ERROR for job %u, never submitted", error.job_id);
		j->rejected = true;
		j->error = error;
		break;
	}
	default:
		E2E_ASSERT(false, "unexpected frame from brigd: type %d (%s)", type, in.error);
	}
	msg_close(&in);
	free(body);
}

static void wait_for_jobs(int *fds, size_t nfds, struct tracked_job *jobs, size_t n)
{
	int64_t deadline = harness_now_ms() + (int64_t)JOB_TIMEOUT_MS * harness_slowdown();

	while (!all_done(jobs, n)) {
		struct pollfd pfds[8];
		int r;

		E2E_ASSERT(harness_now_ms() < deadline, "jobs still running after %u ms",
			   JOB_TIMEOUT_MS * harness_slowdown());
		for (size_t i = 0; i < nfds; i++)
			pfds[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
		r = poll(pfds, (nfds_t)nfds, 200);
		if (r < 0 && errno == EINTR)
			continue;
		E2E_ASSERT(r >= 0, "poll: %s", strerror(errno));
		for (size_t i = 0; i < nfds; i++)
			if (pfds[i].revents & (POLLIN | POLLHUP | POLLERR))
				read_one(fds[i], jobs, n);
	}
}

static void submit(struct tracked_job *j)
{
	int r = raw_send_submit(j->fd, j->id, j->handler, j->input, strlen(j->input), 0);

	E2E_ASSERT(r == 0, "SUBMIT %s: %s", j->handler, strerror(-r));
}

/* One misbehaving job beside honest ones; see the file comment. */
static void run_malicious(const char *handler, const char *input, uint32_t outcome,
			  const char *message_part)
{
	struct brigd d;
	struct tracked_job jobs[12];
	size_t n = 0, children;
	int fds[2], fd_baseline, status;
	int settle_ms = SETTLE_TIMEOUT_MS * (int)harness_slowdown();

	brigd_start(&d, config_text);
	children = harness_settled_children(&d, (size_t)-1, settle_ms);
	E2E_ASSERT(children > 0, "no warm workers after start-up");
	fd_baseline = proc_fd_count(d.broker_pid);

	fds[0] = raw_connect(&d);
	fds[1] = raw_connect(&d);
	raw_handshake(fds[0], NULL);
	raw_handshake(fds[1], NULL);

	memset(jobs, 0, sizeof(jobs));
	/* Connection A: the bad job first, then honest ones, one of them the
	 * job a forged frame names. */
	jobs[n++] = (struct tracked_job){ .fd = fds[0], .id = 1, .handler = handler };
	snprintf(jobs[0].input, sizeof(jobs[0].input), "%s", input);
	for (uint32_t id = 2; id <= 4; id++) {
		jobs[n] = (struct tracked_job){ .fd = fds[0], .id = id, .handler = "echo", .echo = true };
		snprintf(jobs[n].input, sizeof(jobs[n].input), "A-%u", id);
		n++;
	}
	jobs[n] = (struct tracked_job){ .fd = fds[0], .id = FORGED_JOB_ID, .handler = "echo",
					.echo = true };
	snprintf(jobs[n].input, sizeof(jobs[n].input), "A-%u", FORGED_JOB_ID);
	n++;
	/* Connection B: the same ids, honest only. */
	for (uint32_t id = 1; id <= 4; id++) {
		jobs[n] = (struct tracked_job){ .fd = fds[1], .id = id, .handler = "echo", .echo = true };
		snprintf(jobs[n].input, sizeof(jobs[n].input), "B-%u", id);
		n++;
	}
	jobs[n] = (struct tracked_job){ .fd = fds[1], .id = FORGED_JOB_ID, .handler = "echo",
					.echo = true };
	snprintf(jobs[n].input, sizeof(jobs[n].input), "B-%u", FORGED_JOB_ID);
	n++;
	for (size_t i = 0; i < n; i++)
		submit(&jobs[i]);
	wait_for_jobs(fds, 2, jobs, n);

	/* The bad job failed, as expected, with the reason. */
	E2E_ASSERT(!jobs[0].rejected, "%s was refused: %s", handler, jobs[0].error.message);
	E2E_ASSERT(jobs[0].finals == 1, "%s: %u FINALs", handler, jobs[0].finals);
	E2E_ASSERT(jobs[0].final.outcome == outcome, "%s %s: outcome %s (%s), expected %s", handler,
		   input, brig_outcome_name((int)jobs[0].final.outcome), jobs[0].final.message,
		   brig_outcome_name((int)outcome));
	E2E_ASSERT(strstr(jobs[0].final.message, message_part) != NULL,
		   "%s %s: message '%s' does not say '%s'", handler, input, jobs[0].final.message,
		   message_part);
	/* Every other job, including the one a forged frame named, is intact. */
	for (size_t i = 1; i < n; i++) {
		struct tracked_job *j = &jobs[i];

		E2E_ASSERT(!j->rejected, "echo %s refused: %s", j->input, j->error.message);
		E2E_ASSERT(j->finals == 1 && j->final.outcome == BRIG_OUTCOME_OK,
			   "echo %s beside %s: outcome %s (%s)", j->input, handler,
			   brig_outcome_name((int)j->final.outcome), j->final.message);
		E2E_ASSERT(j->items == 1 && j->bad_items == 0,
			   "echo %s beside %s: %u items, %u of them not its own", j->input, handler,
			   j->items, j->bad_items);
	}
	close(fds[0]);
	close(fds[1]);

	/* brigd is up, serves a new client, and is back to where it started. */
	E2E_ASSERT(waitpid(d.pid, &status, WNOHANG) == 0, "brigd exited");
	{
		struct tracked_job after = { .id = 1, .handler = "echo", .echo = true,
					     .input = "after" };

		after.fd = raw_connect(&d);
		raw_handshake(after.fd, NULL);
		submit(&after);
		wait_for_jobs(&after.fd, 1, &after, 1);
		E2E_ASSERT(after.finals == 1 && after.final.outcome == BRIG_OUTCOME_OK &&
			   after.items == 1 && after.bad_items == 0,
			   "echo after %s: outcome %s (%s)", handler,
			   brig_outcome_name((int)after.final.outcome), after.final.message);
		close(after.fd);
	}
	E2E_ASSERT(harness_settled_children(&d, children, settle_ms) == children,
		   "the zygote has %zu children after %s, %zu before",
		   harness_settled_children(&d, children, 0),
		   handler, children);
	E2E_ASSERT(harness_settled_fd_count(d.broker_pid, fd_baseline, settle_ms) == fd_baseline,
		   "brigd holds %d fds after %s, %d before", proc_fd_count(d.broker_pid), handler,
		   fd_baseline);
	brigd_stop(&d);
}

#define BROKE "the worker broke the protocol"

START_TEST(test_garbage)
{
	run_malicious("garbage", "12345", BRIG_OUTCOME_CRASHED, BROKE ": malformed frame");
}
END_TEST

START_TEST(test_oversize)
{
	run_malicious("oversize", "", BRIG_OUTCOME_CRASHED, BROKE ": frame header over the size limit");
}
END_TEST

START_TEST(test_ready_mid_job)
{
	run_malicious("wrongtype", "ready", BRIG_OUTCOME_CRASHED, BROKE ": unexpected READY");
}
END_TEST

START_TEST(test_zygote_message)
{
	run_malicious("wrongtype", "zygote", BRIG_OUTCOME_CRASHED,
		      BROKE ": message type ZYGOTE_SPAWNED is not allowed from a worker");
}
END_TEST

START_TEST(test_forged_item_for_other_job)
{
	run_malicious("wrongtype", "item", BRIG_OUTCOME_CRASHED,
		      BROKE ": message type ITEM is not allowed from a worker");
}
END_TEST

START_TEST(test_forged_final_for_other_job)
{
	run_malicious("wrongtype", "final", BRIG_OUTCOME_CRASHED,
		      BROKE ": message type FINAL is not allowed from a worker");
}
END_TEST

START_TEST(test_client_message)
{
	run_malicious("wrongtype", "hello", BRIG_OUTCOME_CRASHED,
		      BROKE ": message type HELLO is not allowed from a worker");
}
END_TEST

/* A worker may pass no descriptor to the broker. */
START_TEST(test_passed_fd)
{
	run_malicious("passfd", "", BRIG_OUTCOME_CRASHED, BROKE ": it passed a file descriptor");
}
END_TEST

START_TEST(test_flood)
{
	run_malicious("flood", "", BRIG_OUTCOME_OUTPUT_LIMIT, "output exceeds the profile's limit");
}
END_TEST

static Suite *malicious_worker_suite(void)
{
	Suite *s = suite_create("malicious_worker");
	TCase *tc = tcase_create("protocol");

	tcase_add_checked_fixture(tc, harness_test_setup, harness_test_teardown);
	tcase_set_timeout(tc, HARNESS_TEST_DEADLINE_S + 10);
	tcase_add_test(tc, test_garbage);
	tcase_add_test(tc, test_oversize);
	tcase_add_test(tc, test_ready_mid_job);
	tcase_add_test(tc, test_zygote_message);
	tcase_add_test(tc, test_forged_item_for_other_job);
	tcase_add_test(tc, test_forged_final_for_other_job);
	tcase_add_test(tc, test_client_message);
	tcase_add_test(tc, test_passed_fd);
	tcase_add_test(tc, test_flood);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (geteuid() != 0) {
		fprintf(stderr, "check_malicious_worker: needs root (brigd builds sandboxes); skipped\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	sr = srunner_create(malicious_worker_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
