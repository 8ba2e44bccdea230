#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#include <event2/event.h>
#include <seccomp.h>

#include "broker.h"
#include "chan.h"
#include "input_fd.h"
#include "log.h"
#include "msg.h"
#include "peer.h"
#include "privsep.h"
#include "util.h"
#include "worker.h"

/* Workers being started at once per profile: bounds the zygote's backlog. */
#define MAX_SPAWNING_PER_PROFILE 16
#define SPAWN_RETRY_USEC 500000
#define ZYGOTE_RESTART_USEC 100000
/* A connection must say HELLO this soon, and a closing one must drain. */
#define CLIENT_HELLO_TIMEOUT_SEC 10
#define CLIENT_LINGER_SEC 5


struct broker;
struct client;
struct worker;

enum job_state { JOB_QUEUED, JOB_RUNNING };

struct job {
	LIST_ENTRY(job) client_link;
	TAILQ_ENTRY(job) queue_link;
	struct broker *broker;
	struct client *client;          /* NULL once the client has gone */
	struct worker *worker;          /* while running */
	enum job_state state;
	uint32_t id;                    /* the client's job id */
	size_t profile;                 /* index into the current configuration */
	/* What the job needs of its profile, copied: a reload may replace it. */
	char profile_name[BRIG_NAME_MAX + 1];
	uid_t client_uid;               /* for the log, after the client is gone */
	gid_t client_gid;
	pid_t client_pid;
	uint64_t max_output;
	uint64_t memory_max;
	uint64_t pids_max;
	char handler[BRIG_NAME_MAX + 1];  /* or the program, for exec jobs */
	bool exec;                      /* an exec job (program) */
	uint8_t *input;                 /* the worker's frame, until handed over */
	size_t input_len;
	int input_fd;                   /* passed by the client, until handed over; or -1 */
	bool exited;                    /* exec: the program's wait status came */
	int64_t exit_status;
	uint64_t submitted_usec;
	struct event *deadline;
	uint32_t timeout_ms;
	uint32_t seq;
	uint64_t output_bytes;
	/* Set when the broker ends the job (timeout, cancel, limit). */
	int forced_outcome;             /* -1: none */
	char forced_message[BRIG_MESSAGE_MAX + 1];
	int64_t violation;              /* syscall the sandbox trapped, or -1 */
	bool narrowed;                  /* the request added descriptors */
	bool done;                      /* the worker sent WORKER_DONE */
	uint32_t done_status;
	char done_message[BRIG_MESSAGE_MAX + 1];
	uint64_t done_cpu_us;           /* the worker's own count at DONE */
	uint64_t done_maxrss_kib;
};

/* KEPT: between two jobs of its owner (worker_reuse), for no one else. */
enum worker_state { WORKER_SPAWNING, WORKER_IDLE, WORKER_BUSY, WORKER_KEPT };

struct worker {
	LIST_ENTRY(worker) link;
	TAILQ_ENTRY(worker) idle_link;
	struct broker *broker;
	uint32_t id;
	size_t profile;
	enum worker_state state;
	struct peer *peer;              /* NULL once the channel closed */
	struct chan *zygote;            /* the zygote that made it (see reload) */
	bool retired;                   /* made under a configuration since replaced */
	pid_t pid;                      /* 0 until the zygote says */
	struct job *job;
	bool kill_sent;
	/* The zygote reaped it; its channel may still hold its last frames. */
	bool exited;
	int wait_status;
	uint64_t cpu_us;
	uint64_t maxrss_kib;
	uint32_t limits;                /* cgroup limits it hit (zygote.c) */
	bool counted_busy;              /* in its profile's busy count */
	/* worker_reuse: its profile's at its start (the worker goes by it,
	 * whatever a reload says since), the one client it may serve, and
	 * how often it did. */
	unsigned reuse;
	uint64_t cpu_base;              /* CPU of its earlier jobs (reused) */
	struct client *owner;
	LIST_ENTRY(worker) owner_link;  /* in owner->kept while KEPT */
	unsigned jobs_served;
	uint64_t kept_since;
	struct event *drain_timer;
};

struct profile_state {
	TAILQ_HEAD(, job) queue;
	TAILQ_HEAD(worker_idle_list, worker) idle;
	unsigned queued;
	unsigned idle_count;
	unsigned spawning;
	uint64_t retry_after_usec;      /* back off after workers fail to start */
	/* Autosizing: workers with a job, and the peak of recent demand. */
	unsigned busy;
	unsigned peak;
	uint64_t peak_usec;
};

struct client {
	LIST_ENTRY(client) link;
	struct broker *broker;
	struct peer *peer;
	struct event *timer;            /* hello deadline, then linger deadline */
	uint64_t serial;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	gid_t groups[64];               /* primary and supplementary (SO_PEERGROUPS) */
	size_t group_count;
	bool groups_incomplete;         /* more than fit: no path checks for it */
	bool greeted;
	bool closing;
	uint64_t partial_since;         /* a frame began arriving then; 0: none */
	char name[BRIG_NAME_MAX + 1];
	LIST_HEAD(, job) jobs;
	unsigned job_count;
	LIST_HEAD(, worker) kept;       /* its workers between jobs (worker_reuse) */
};

/* A zygote replaced by a reload, kept until its last busy worker is done. */
struct retired_zygote {
	LIST_ENTRY(retired_zygote) link;
	struct broker *broker;
	struct chan *chan;
	pid_t pid;
};

struct broker {
	struct config *cfg;             /* owned; replaced by a reload */
	const struct config_source *source;
	LIST_HEAD(, retired_zygote) retired;
	struct event *retire_ev;        /* look for retired zygotes with no worker left */
	struct monitor_link *monitor;   /* the root monitor (daemon/monitor.c) */
	uint64_t watchdog_usec;         /* systemd's, passed on by the monitor */
	struct event_base *base;
	int listen_fd;
	struct event *listen_ev;
	struct event *signal_evs[4];
	struct event *retry_ev;
	struct event *pool_timer;       /* lets grown pools shrink (autosizing) */
	struct event *shutdown_timer;
	struct event *status_timer;     /* STATUS= and WATCHDOG=1 to systemd */
	char last_status[256];
	bool shutdown_deadline_passed;
	struct chan *zygote;
	pid_t zygote_pid;
	bool zygote_ready;
	/* A zygote asked of the monitor and not yet there; a reload meanwhile
	 * makes it stale (it may have read the old configuration). */
	bool zygote_starting;
	bool zygote_stale;
	uint32_t zygote_request;
	unsigned zygote_failures;       /* deaths before READY, for back-off */
	struct strlist handlers;
	LIST_HEAD(, client) clients;
	unsigned client_count;
	uint64_t next_client_serial;
	LIST_HEAD(, worker) workers;
	uint32_t next_worker_id;
	unsigned queued_total;
	uint64_t jobs_finished;
	struct profile_state profiles[BRIG_MAX_PROFILES];
	msgpack_sbuffer sb;
	bool stopping;
	bool notified_ready;
};

static void pool_refill(struct broker *b, size_t profile);
static void pool_dispatch(struct broker *b, size_t profile);
static void zygote_start(struct broker *b);
static void worker_finalize(struct worker *w);
static void broker_shutdown_progress(struct broker *b);
static void worker_exited(struct broker *b, const struct msg_zygote_exited *m);
static void broker_reload(struct broker *b);

/* ------------------------------------------------------------------ */
/* clients: sending                                                     */

/* Flush what is queued, then close; a client that never drains is cut. */
static void client_close_soon(struct client *c)
{
	if (c->closing)
		return;
	c->closing = true;
	peer_close_after_flush(c->peer);
	event_add(c->timer, &(struct timeval){ CLIENT_LINGER_SEC, 0 });
}

static void client_send_packed(struct client *c)
{
	struct broker *b = c->broker;
	int r;

	if (c->closing) {
		msgpack_sbuffer_clear(&b->sb);
		return;
	}
	r = peer_send(c->peer, b->sb.data, b->sb.size);
	msgpack_sbuffer_clear(&b->sb);
	/* Invariant 6: a client that does not read its results cannot make
	 * us buffer without bound; it is dropped once over its backlog. */
	if (r < 0 || peer_output_pending(c->peer) > b->cfg->max_client_backlog) {
		log_warn("client %" PRIu64 " (uid %u pid %d) dropped: %s", c->serial,
			 (unsigned)c->uid, (int)c->pid,
			 r < 0 ? "cannot queue output" : "not reading its results");
		client_close_soon(c);
	}
}

__attribute__((format(printf, 5, 6)))
static void client_error(struct client *c, bool has_job, uint32_t job_id, uint32_t code,
			 const char *fmt, ...)
{
	struct msg_error m = { .has_job = has_job, .job_id = job_id, .code = code };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m.message, sizeof(m.message), fmt, ap);
	va_end(ap);
	log_info("client %" PRIu64 " (uid %u pid %d): %s error: %s", c->serial, (unsigned)c->uid,
		 (int)c->pid, brig_error_code_name((int)code), m.message);
	if (msg_pack_error(&c->broker->sb, &m) < 0) {
		msgpack_sbuffer_clear(&c->broker->sb);
		return;
	}
	client_send_packed(c);
}

/* A client that broke the protocol gets one clear error, then is closed. */
__attribute__((format(printf, 2, 3)))
static void client_reject(struct client *c, const char *fmt, ...)
{
	struct msg_error m = { .code = BRIG_ERROR_PROTOCOL };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m.message, sizeof(m.message), fmt, ap);
	va_end(ap);
	log_warn("client %" PRIu64 " (uid %u pid %d) broke the protocol: %s", c->serial,
		 (unsigned)c->uid, (int)c->pid, m.message);
	if (!c->closing && msg_pack_error(&c->broker->sb, &m) == 0)
		client_send_packed(c);
	msgpack_sbuffer_clear(&c->broker->sb);
	client_close_soon(c);
}

/* ------------------------------------------------------------------ */
/* jobs                                                                 */

static struct job *client_find_job(struct client *c, uint32_t id)
{
	struct job *j;

	LIST_FOREACH(j, &c->jobs, client_link)
		if (j->id == id)
			return j;
	return NULL;
}

static void job_free(struct job *j)
{
	if (j->deadline)
		event_free(j->deadline);
	free(j->input);
	if (j->input_fd >= 0)
		close(j->input_fd);
	free(j);
}

/* Detach from everything and send the one final status (if anyone listens). */
static void job_finish(struct job *j, int outcome, int64_t code, const char *message,
		       uint64_t cpu_us, uint64_t maxrss_kib)
{
	struct broker *b = j->broker;
	struct msg_final m = {
		.job_id = j->id, .outcome = (uint32_t)outcome, .code = code,
		.usage = { .wall_us = now_usec() - j->submitted_usec, .cpu_us = cpu_us,
			   .maxrss_kib = maxrss_kib },
	};

	snprintf(m.message, sizeof(m.message), "%s", message ? message : "");
	if (j->state == JOB_QUEUED) {
		TAILQ_REMOVE(&b->profiles[j->profile].queue, j, queue_link);
		b->profiles[j->profile].queued--;
		b->queued_total--;
	}
	if (j->worker)
		j->worker->job = NULL;
	b->jobs_finished++;
	/* One structured record per job (journal fields under systemd). */
	log_fields(LOG_LEVEL_INFO,
		   LOG_FIELDS(LOG_STR("MESSAGE_ID", LOG_MESSAGE_ID_JOB_FINISHED),
			      LOG_U64("JOB_ID", j->id),
			      LOG_U64("CLIENT_UID", j->client ? j->client->uid : j->client_uid),
			      LOG_U64("CLIENT_GID", j->client ? j->client->gid : j->client_gid),
			      LOG_I64("CLIENT_PID", j->client ? j->client->pid : j->client_pid),
			      LOG_STR("PROFILE", j->profile_name),
			      LOG_STR("HANDLER", j->handler),
			      LOG_STR("OUTCOME", brig_outcome_name(outcome)),
			      LOG_I64("CODE", code),
			      LOG_U64("DURATION_USEC", m.usage.wall_us),
			      LOG_U64("CPU_USEC", cpu_us),
			      LOG_U64("MAXRSS_KIB", maxrss_kib)),
		   "job %u uid %u gid %u pid %d%s handler %s profile %s: %s%s%s (wall %.3f ms, "
		   "cpu %.3f ms, maxrss %" PRIu64 " KiB)",
		   j->id, (unsigned)j->client_uid, (unsigned)j->client_gid, (int)j->client_pid,
		   j->client ? "" : " (client gone)", j->handler, j->profile_name,
		   brig_outcome_name(outcome), m.message[0] ? ": " : "", m.message,
		   m.usage.wall_us / 1000.0, cpu_us / 1000.0, maxrss_kib);
	if (j->client) {
		struct client *c = j->client;

		LIST_REMOVE(j, client_link);
		c->job_count--;
		if (msg_pack_final(&b->sb, &m) == 0)
			client_send_packed(c);
		msgpack_sbuffer_clear(&b->sb);
	}
	job_free(j);
	broker_shutdown_progress(b);
}

static void worker_kill(struct worker *w)
{
	struct broker *b = w->broker;

	if (w->kill_sent || !w->zygote)
		return;
	w->kill_sent = true;
	if (msg_pack_zygote_kill(&b->sb, &(struct msg_zygote_kill){ w->id }) == 0)
		chan_send(w->zygote, b->sb.data, b->sb.size, -1);
	msgpack_sbuffer_clear(&b->sb);
}

/*
 * End a job on the broker's initiative.  A queued job ends now; a running
 * one ends when the zygote reports its worker reaped, so that the final
 * status is only sent once every process of the job is gone (invariant 4).
 */
__attribute__((format(printf, 3, 4)))
static void job_abort(struct job *j, int outcome, const char *fmt, ...)
{
	va_list ap;

	if (j->forced_outcome >= 0)
		return;
	j->forced_outcome = outcome;
	va_start(ap, fmt);
	vsnprintf(j->forced_message, sizeof(j->forced_message), fmt, ap);
	va_end(ap);
	if (j->state == JOB_QUEUED) {
		job_finish(j, outcome, 0, j->forced_message, 0, 0);
		return;
	}
	if (j->worker)
		worker_kill(j->worker);
}

static void job_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;

	(void)fd;
	(void)what;
	if (j->done) {
		/* Finished in time, but its worker is still not reaped at the
		 * deadline (it lingers after DONE: broken or compromised):
		 * ended, so that the job's FINAL comes. */
		if (j->worker && !j->worker->kill_sent)
			worker_kill(j->worker);
		return;
	}
	job_abort(j, BRIG_OUTCOME_TIMEOUT, "no result within %u ms%s", j->timeout_ms,
		  j->state == JOB_QUEUED ? " (still waiting for a worker)" : "");
}

static void job_start(struct job *j, struct worker *w)
{
	struct broker *b = j->broker;
	int r;

	TAILQ_REMOVE(&b->profiles[j->profile].queue, j, queue_link);
	b->profiles[j->profile].queued--;
	b->queued_total--;
	j->state = JOB_RUNNING;
	j->worker = w;
	w->job = j;
	if (w->state == WORKER_KEPT)
		LIST_REMOVE(w, owner_link);
	w->state = WORKER_BUSY;
	w->counted_busy = true;
	b->profiles[j->profile].busy++;
	log_debug("job %u (client %" PRIu64 ") to worker %u", j->id, j->client ? j->client->serial : 0,
		  w->id);
	/* The worker's frame was packed and checked when the job was accepted. */
	if (j->input_fd >= 0)
		r = peer_send_fd(w->peer, j->input, j->input_len, j->input_fd);
	else
		r = peer_send(w->peer, j->input, j->input_len);
	free(j->input);
	j->input = NULL;
	/* The peer sends its own copy: ours goes now (invariant 4). */
	if (j->input_fd >= 0) {
		close(j->input_fd);
		j->input_fd = -1;
	}
	if (r < 0)
		job_abort(j, BRIG_OUTCOME_BROKER_ERROR, "cannot hand the job to a worker: %s",
			  strerror(-r));
}

/* ------------------------------------------------------------------ */
/* workers                                                              */

static struct worker *worker_find(struct broker *b, uint32_t id)
{
	struct worker *w;

	LIST_FOREACH(w, &b->workers, link)
		if (w->id == id)
			return w;
	return NULL;
}

static void worker_close_channel(struct worker *w)
{
	if (w->state == WORKER_KEPT) {
		/* Its client must not pick a worker with no channel, and one
		 * that lives on without it is ended. */
		LIST_REMOVE(w, owner_link);
		w->owner = NULL;
		w->state = WORKER_BUSY;   /* not yet reaped */
		worker_kill(w);
	}
	if (w->state == WORKER_IDLE) {
		TAILQ_REMOVE(&w->broker->profiles[w->profile].idle, w, idle_link);
		w->broker->profiles[w->profile].idle_count--;
		w->state = WORKER_BUSY;   /* no longer available, not yet reaped */
	}
	peer_free(w->peer);
	w->peer = NULL;
}

static void worker_free(struct worker *w)
{
	struct profile_state *ps = &w->broker->profiles[w->profile];

	if (w->state == WORKER_KEPT)
		LIST_REMOVE(w, owner_link);
	if (w->retired) {
		/* Counted nowhere any more. */
	} else if (w->counted_busy) {
		ps->busy--;
	} else if (w->state == WORKER_IDLE) {
		TAILQ_REMOVE(&ps->idle, w, idle_link);
		ps->idle_count--;
	} else if (w->state == WORKER_SPAWNING) {
		ps->spawning--;
	}
	if (w->job)
		w->job->worker = NULL;
	LIST_REMOVE(w, link);
	peer_free(w->peer);
	if (w->drain_timer)
		event_free(w->drain_timer);
	free(w);
}

/* A worker broke the rules: it is killed and its job fails, nothing else. */
__attribute__((format(printf, 2, 3)))
static void worker_misbehaved(struct worker *w, const char *fmt, ...)
{
	char reason[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	log_warn("worker %u (pid %d) killed: %s", w->id, (int)w->pid, reason);
	if (w->job)
		job_abort(w->job, BRIG_OUTCOME_CRASHED, "the worker broke the protocol: %s", reason);
	worker_kill(w);
	worker_close_channel(w);
}

static void worker_relay_item(struct worker *w, struct msg_in *in)
{
	struct job *j = w->job;
	struct broker *b = w->broker;
	struct msg_worker_item item;
	size_t before;

	if (msg_decode_worker_item(in, &item) < 0) {
		worker_misbehaved(w, "%s", in->error);
		return;
	}
	if (j->forced_outcome >= 0)
		return;   /* the job is ending; drop what is still in flight */
	if (msg_pack_item(&b->sb, &(struct msg_item){ j->id, j->seq, item.item }) < 0) {
		msgpack_sbuffer_clear(&b->sb);
		job_abort(j, BRIG_OUTCOME_OUTPUT_LIMIT, "an item exceeds the maximum frame size");
		return;
	}
	before = b->sb.size;
	if (before - FRAME_HEADER_SIZE > b->cfg->max_frame) {
		msgpack_sbuffer_clear(&b->sb);
		job_abort(j, BRIG_OUTCOME_OUTPUT_LIMIT, "an item exceeds the maximum frame size");
		return;
	}
	if (j->output_bytes + before > j->max_output) {
		msgpack_sbuffer_clear(&b->sb);
		job_abort(j, BRIG_OUTCOME_OUTPUT_LIMIT,
			  "output exceeds the profile's limit of %" PRIu64 " bytes after %u items",
			  j->max_output, j->seq);
		return;
	}
	j->output_bytes += before;
	j->seq++;
	if (j->client)
		client_send_packed(j->client);
	else
		msgpack_sbuffer_clear(&b->sb);
}

static void worker_relay_output(struct worker *w, const struct msg_worker_output *o)
{
	struct job *j = w->job;
	struct broker *b = w->broker;

	if (j->forced_outcome >= 0)
		return;
	if (j->output_bytes + o->len > j->max_output) {
		job_abort(j, BRIG_OUTCOME_OUTPUT_LIMIT,
			  "output exceeds the profile's limit of %" PRIu64 " bytes", j->max_output);
		return;
	}
	if (msg_pack_output(&b->sb, &(struct msg_output){ j->id, j->seq, o->stream, o->data,
							  o->len }) < 0 ||
	    b->sb.size - FRAME_HEADER_SIZE > b->cfg->max_frame) {
		msgpack_sbuffer_clear(&b->sb);
		job_abort(j, BRIG_OUTCOME_OUTPUT_LIMIT, "an output chunk exceeds the frame size");
		return;
	}
	j->output_bytes += o->len;
	j->seq++;
	if (j->client)
		client_send_packed(j->client);
	else
		msgpack_sbuffer_clear(&b->sb);
}

/*
 * worker_reuse.  A job may run on a worker its client used before when
 * the profile allows it and the job is a handler job that adds no
 * descriptor (a narrowed worker stays narrowed, so the worker then ends:
 * worker.c applies the same rule).
 */
static bool job_reuses(const struct job *j)
{
	return j->broker->cfg->profiles[j->profile].worker_reuse > 1 && !j->exec && !j->narrowed;
}

/* A kept worker no longer wanted: ended, and forgotten once reaped. */
static void worker_drop_kept(struct worker *w)
{
	LIST_REMOVE(w, owner_link);
	w->state = WORKER_BUSY;   /* no job: ends when the zygote reports it */
	w->owner = NULL;
	worker_kill(w);
}

/*
 * On a reusable job's DONE: the job ends now, without waiting for the
 * worker to be reaped, and the worker waits for its client's next job.
 * Sound because such a worker cannot fork or start a thread
 * (RLIMIT_NPROC 1 on its own uid, worker.c): nothing the job started is
 * left but the worker, which serves this client only.  The last job a
 * worker may take, and any job that went wrong, take the usual way.
 * Returns whether the job was finished here.
 */
static bool worker_keep(struct worker *w)
{
	struct broker *b = w->broker;
	struct job *j = w->job;
	struct client *c = j->client;
	struct profile_state *ps = &b->profiles[w->profile];
	uint64_t cpu_base;
	int outcome;

	/* Whether the worker goes on waiting for a job: worker.c's rule, with
	 * the worker_reuse it started with. */
	if (j->exec || j->narrowed || w->reuse <= 1 || w->jobs_served + 1 >= w->reuse)
		return false;
	if (j->done_status == WORKER_STATUS_OK)
		outcome = BRIG_OUTCOME_OK;
	else if (j->done_status == WORKER_STATUS_ERROR)
		outcome = BRIG_OUTCOME_ERROR;
	else
		return false;
	/* It would, but no one may have it: ended, and the job with it. */
	if (w->retired || !c || c->closing || b->stopping || j->forced_outcome >= 0) {
		worker_kill(w);
		return false;
	}
	w->jobs_served++;
	w->owner = c;
	w->kept_since = now_usec();
	w->job = NULL;
	j->worker = NULL;
	if (w->counted_busy) {
		ps->busy--;
		w->counted_busy = false;
	}
	w->state = WORKER_KEPT;
	LIST_INSERT_HEAD(&c->kept, w, owner_link);
	/* No reap, no rusage: the usage is the worker's own count (its CPU
	 * since its last job, its peak memory so far). */
	cpu_base = w->cpu_base;
	w->cpu_base = j->done_cpu_us;
	job_finish(j, outcome, 0, outcome == BRIG_OUTCOME_OK ? "" : j->done_message,
		   j->done_cpu_us > cpu_base ? j->done_cpu_us - cpu_base : 0, j->done_maxrss_kib);
	/* A job of the same client may be waiting already. */
	if (w->state == WORKER_KEPT) {
		struct job *q;

		TAILQ_FOREACH(q, &ps->queue, queue_link)
			if (q->client == c && job_reuses(q)) {
				job_start(q, w);
				break;
			}
	}
	return true;
}

static int worker_on_frame(struct peer *p, const uint8_t *body, size_t len, void *arg)
{
	struct worker *w = arg;
	struct msg_in in;
	int type;

	(void)p;
	/* Invariant 3: a worker may be compromised; its bytes are untrusted. */
	type = msg_open(&in, body, len);
	if (type < 0) {
		worker_misbehaved(w, "malformed frame: %s", in.error);
		msg_close(&in);
		return -1;
	}
	switch (type) {
	case MSG_WORKER_READY:
		if (w->state != WORKER_SPAWNING || msg_decode_worker_ready(&in) < 0) {
			worker_misbehaved(w, "unexpected READY");
			break;
		}
		w->broker->profiles[w->profile].spawning--;
		w->state = WORKER_IDLE;
		TAILQ_INSERT_TAIL(&w->broker->profiles[w->profile].idle, w, idle_link);
		w->broker->profiles[w->profile].idle_count++;
		msg_close(&in);
		pool_dispatch(w->broker, w->profile);
		return 0;
	case MSG_WORKER_ITEM:
		if (w->state != WORKER_BUSY || !w->job || w->job->done || w->job->exec) {
			worker_misbehaved(w, "ITEM outside a handler job");
			break;
		}
		worker_relay_item(w, &in);
		break;
	case MSG_WORKER_DONE: {
		struct msg_worker_done done;

		if (w->state != WORKER_BUSY || !w->job || w->job->done) {
			worker_misbehaved(w, "DONE outside a job");
			break;
		}
		if (msg_decode_worker_done(&in, &done) < 0) {
			worker_misbehaved(w, "%s", in.error);
			break;
		}
		w->job->done = true;
		w->job->done_status = done.status;
		snprintf(w->job->done_message, sizeof(w->job->done_message), "%s", done.message);
		w->job->done_cpu_us = done.cpu_us;
		w->job->done_maxrss_kib = done.maxrss_kib;
		if (worker_keep(w)) {
			msg_close(&in);
			return 0;
		}
		break;
	}
	case MSG_WORKER_OUTPUT: {
		struct msg_worker_output o;

		if (w->state != WORKER_BUSY || !w->job || w->job->done || !w->job->exec) {
			worker_misbehaved(w, "OUTPUT outside an exec job");
			break;
		}
		if (msg_decode_worker_output(&in, w->broker->cfg->max_frame, &o) < 0) {
			worker_misbehaved(w, "%s", in.error);
			break;
		}
		worker_relay_output(w, &o);
		break;
	}
	case MSG_WORKER_EXIT: {
		struct msg_worker_exit e;

		if (w->state != WORKER_BUSY || !w->job || w->job->done || !w->job->exec ||
		    w->job->exited) {
			worker_misbehaved(w, "EXIT outside an exec job");
			break;
		}
		if (msg_decode_worker_exit(&in, &e) < 0) {
			worker_misbehaved(w, "%s", in.error);
			break;
		}
		w->job->exited = true;
		w->job->exit_status = e.wait_status;
		break;
	}
	case MSG_WORKER_VIOLATION: {
		struct msg_worker_violation v;

		if (w->state != WORKER_BUSY || !w->job || w->job->done) {
			worker_misbehaved(w, "VIOLATION outside a job");
			break;
		}
		if (msg_decode_worker_violation(&in, &v) < 0 || v.syscall < 0 || v.syscall > 4095) {
			worker_misbehaved(w, "%s", in.error[0] ? in.error : "bad syscall number");
			break;
		}
		/* Only believed together with a death by SIGSYS (see finalize). */
		w->job->violation = v.syscall;
		break;
	}
	default:
		/* Workers may only send results. */
		worker_misbehaved(w, "message type %s is not allowed from a worker",
				  msg_type_name(type));
		break;
	}
	msg_close(&in);
	if (!w->peer) {
		if (w->exited)
			worker_finalize(w);
		return -1;
	}
	return 0;
}

static void worker_on_close(struct peer *p, int err, void *arg)
{
	struct worker *w = arg;

	(void)p;
	if (err == -EMSGSIZE || err == -EBADMSG)
		worker_misbehaved(w, "frame header %s", err == -EMSGSIZE ? "over the size limit" :
									   "declares an empty frame");
	else if (err == -EPROTO)
		/* The broker takes no descriptor from a worker: the kernel
		 * dropped it (MSG_CTRUNC), and the peer said so. */
		worker_misbehaved(w, "it passed a file descriptor");
	else
		/* Normal at the end of a job: the exit report from the zygote decides. */
		worker_close_channel(w);
	if (w->exited)
		worker_finalize(w);
}

static void worker_spawn(struct broker *b, size_t profile)
{
	struct worker *w;
	int pair[2];
	int r;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
		log_error("cannot create a worker channel: %s", strerror(errno));
		b->profiles[profile].retry_after_usec = now_usec() + SPAWN_RETRY_USEC;
		return;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		goto fail;
	w->broker = b;
	w->id = ++b->next_worker_id;
	w->profile = profile;
	w->reuse = b->cfg->profiles[profile].worker_reuse;
	w->zygote = b->zygote;
	w->state = WORKER_SPAWNING;
	evutil_make_socket_nonblocking(pair[0]);
	w->peer = peer_new(b->base, pair[0], b->cfg->max_frame, worker_on_frame, worker_on_close, w);
	if (!w->peer)
		goto fail;
	pair[0] = -1;
	r = msg_pack_zygote_spawn(&b->sb, &(struct msg_zygote_spawn){ w->id, (uint32_t)profile });
	if (r == 0)
		r = chan_send(b->zygote, b->sb.data, b->sb.size, pair[1]);
	msgpack_sbuffer_clear(&b->sb);
	close(pair[1]);
	if (r < 0) {
		log_error("cannot ask the zygote for a worker: %s", strerror(-r));
		peer_free(w->peer);
		free(w);
		return;
	}
	LIST_INSERT_HEAD(&b->workers, w, link);
	b->profiles[profile].spawning++;
	return;
fail:
	log_error("cannot set up a worker: out of memory");
	if (pair[0] >= 0)
		close(pair[0]);
	close(pair[1]);
	free(w);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;

	(void)fd;
	(void)what;
	for (size_t i = 0; i < b->cfg->profile_count; i++)
		pool_refill(b, i);
}

/*
 * Pool autosizing.  The idle workers a profile keeps warm follow the peak
 * of its recent demand (jobs on a worker plus jobs queued), bounded by
 * pool_size and pool_max; once no new peak has come for pool_idle_ms, the
 * peak halves (and again after each further pool_idle_ms), so a pool grown
 * by a burst shrinks back to pool_size when the load is gone.
 */
static unsigned pool_target(const struct broker *b, size_t profile)
{
	const struct profile_config *p = &b->cfg->profiles[profile];
	unsigned target = b->profiles[profile].peak;

	if (target < p->pool_size)
		target = p->pool_size;
	return target > p->pool_max ? p->pool_max : target;
}

static void pool_timer_arm(struct broker *b)
{
	uint32_t tick_ms = 1000;
	bool grown = false;
	struct timeval tv;

	for (size_t i = 0; i < b->cfg->profile_count; i++) {
		if (b->profiles[i].peak <= b->cfg->profiles[i].pool_size)
			continue;
		grown = true;
		if (b->cfg->profiles[i].pool_idle_ms < tick_ms)
			tick_ms = b->cfg->profiles[i].pool_idle_ms;
	}
	if (!grown || evtimer_pending(b->pool_timer, NULL))
		return;
	tv.tv_sec = tick_ms / 1000;
	tv.tv_usec = (suseconds_t)(tick_ms % 1000) * 1000;
	evtimer_add(b->pool_timer, &tv);
}

static void pool_note_demand(struct broker *b, size_t profile)
{
	struct profile_state *ps = &b->profiles[profile];
	unsigned demand = ps->busy + ps->queued;

	/* Counted up to pool_max only, so that shrinking starts from there. */
	if (demand > b->cfg->profiles[profile].pool_max)
		demand = b->cfg->profiles[profile].pool_max;
	if (demand >= ps->peak && demand > 0) {
		ps->peak = demand;
		ps->peak_usec = now_usec();
		pool_timer_arm(b);
	}
}

static void pool_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;
	uint64_t now = now_usec();

	(void)fd;
	(void)what;
	for (size_t i = 0; i < b->cfg->profile_count; i++) {
		struct profile_state *ps = &b->profiles[i];
		unsigned demand = ps->busy + ps->queued, before = pool_target(b, i);

		if (ps->peak <= b->cfg->profiles[i].pool_size ||
		    now - ps->peak_usec < (uint64_t)b->cfg->profiles[i].pool_idle_ms * 1000)
			continue;
		if (demand > b->cfg->profiles[i].pool_max)
			demand = b->cfg->profiles[i].pool_max;
		ps->peak = ps->peak / 2 > demand ? ps->peak / 2 : demand;
		ps->peak_usec = now;
		if (pool_target(b, i) != before)
			log_debug("profile %s: idle, pool target %u -> %u", b->cfg->profiles[i].name,
				  before, pool_target(b, i));
		pool_dispatch(b, i);
	}
	pool_timer_arm(b);
}

static void pool_refill(struct broker *b, size_t profile)
{
	struct profile_state *ps = &b->profiles[profile];
	unsigned want;
	uint64_t now;

	if (!b->zygote_ready || b->stopping)
		return;
	pool_note_demand(b, profile);
	want = pool_target(b, profile) + ps->queued;
	now = now_usec();
	if (ps->retry_after_usec > now) {
		struct timeval tv = { 0, (suseconds_t)(ps->retry_after_usec - now) };
		if (tv.tv_usec >= 1000000) {
			tv.tv_sec = tv.tv_usec / 1000000;
			tv.tv_usec %= 1000000;
		}
		event_add(b->retry_ev, &tv);
		return;
	}
	while (ps->spawning + ps->idle_count < want && ps->spawning < MAX_SPAWNING_PER_PROFILE) {
		unsigned before = ps->spawning;
		worker_spawn(b, profile);
		if (ps->spawning == before)
			break;
	}
}

static void pool_dispatch(struct broker *b, size_t profile)
{
	struct profile_state *ps = &b->profiles[profile];

	while (!TAILQ_EMPTY(&ps->queue) && !TAILQ_EMPTY(&ps->idle)) {
		struct job *j = TAILQ_FIRST(&ps->queue);
		struct worker *w = TAILQ_FIRST(&ps->idle);

		TAILQ_REMOVE(&ps->idle, w, idle_link);
		ps->idle_count--;
		job_start(j, w);
	}
	/* Workers started for a burst are not kept beyond the pool's target
	 * (pool_max at most) once the queue is empty: memory and fds stay
	 * bounded, and the target falls back to pool_size when idle. */
	pool_note_demand(b, profile);
	while (TAILQ_EMPTY(&ps->queue) && ps->idle_count > pool_target(b, profile)) {
		struct worker *w = TAILQ_LAST(&ps->idle, worker_idle_list);

		TAILQ_REMOVE(&ps->idle, w, idle_link);
		ps->idle_count--;
		w->state = WORKER_BUSY;   /* no job: ends when the zygote reports it */
		worker_kill(w);
	}
	pool_refill(b, profile);
}

/*
 * The worker is reaped and its channel drained: now, and only now, its job
 * may end, so that every process of the job is gone when FINAL is sent.
 */
static void worker_finalize(struct worker *w)
{
	struct broker *b = w->broker;
	struct job *j = w->job;
	int status = w->wait_status;
	size_t profile = w->profile;
	bool retired;

	/* A worker that died before it was ready, for whatever reason, makes
	 * the pool wait before the next: no spawn storm. */
	if (!w->retired && w->state == WORKER_SPAWNING) {
		log_error("profile %s: a worker died before it was ready (%s); retrying in %d ms",
			  b->cfg->profiles[profile].name,
			  worker_failed_sandbox(status) ? "its sandbox could not be set up" :
							  "see the zygote's log",
			  SPAWN_RETRY_USEC / 1000);
		b->profiles[profile].retry_after_usec = now_usec() + SPAWN_RETRY_USEC;
	}
	/* A reused worker's last job: only its own share of the CPU. */
	w->cpu_us = w->cpu_us > w->cpu_base ? w->cpu_us - w->cpu_base : 0;
	if (j) {
		char message[BRIG_MESSAGE_MAX + 1];

		/* A limit hit explains the end of a job that did not succeed (an exec
		 * job succeeds only with exit status 0). */
		bool succeeded = j->done && j->done_status == WORKER_STATUS_OK &&
				 (!j->exec || (j->exited && WIFEXITED((int)j->exit_status) &&
					       WEXITSTATUS((int)j->exit_status) == 0));

		if (j->forced_outcome >= 0) {
			job_finish(j, j->forced_outcome, 0, j->forced_message, w->cpu_us, w->maxrss_kib);
		} else if (!succeeded && (worker_exit_signal(status) == SIGXCPU ||
					  (j->exec && j->exited && WIFSIGNALED((int)j->exit_status) &&
					   WTERMSIG((int)j->exit_status) == SIGXCPU))) {
			job_finish(j, BRIG_OUTCOME_CPU_LIMIT, SIGXCPU, "the job used up its CPU time "
				   "(rlimit_cpu)", w->cpu_us, w->maxrss_kib);
		} else if (!succeeded && (w->limits & 1u)) {
			snprintf(message, sizeof(message), "the job exceeded its memory limit of %" PRIu64
				 " bytes", j->memory_max);
			job_finish(j, BRIG_OUTCOME_MEMORY_LIMIT, 0, message, w->cpu_us, w->maxrss_kib);
		} else if (!succeeded && (w->limits & 2u)) {
			snprintf(message, sizeof(message), "the job reached its limit of %" PRIu64
				 " processes", j->pids_max);
			job_finish(j, BRIG_OUTCOME_PIDS_LIMIT, 0, message, w->cpu_us, w->maxrss_kib);
		} else if (j->done && j->done_status == WORKER_STATUS_OK && j->exec && j->exited &&
			   WIFSIGNALED((int)j->exit_status)) {
			int sig = WTERMSIG((int)j->exit_status);
			const char *name = NULL;

			snprintf(message, sizeof(message), "program killed by signal %d (%s)", sig,
				 strsignal(sig));
			/* The worker traced the program and saw the SIGSYS's syscall
			 * (worker_traces_exec); else it is not known. */
			if (sig == SIGSYS && j->violation >= 0)
				name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, (int)j->violation);
			if (sig == SIGSYS && name)
				snprintf(message, sizeof(message), "the sandbox refused syscall %s (%" PRId64
					 ") of the program", name, j->violation);
			else if (sig == SIGSYS)
				snprintf(message, sizeof(message), "the sandbox refused a syscall of the "
					 "program (it died of SIGSYS)");
			free((void *)name);
			job_finish(j, sig == SIGSYS ? BRIG_OUTCOME_VIOLATION : BRIG_OUTCOME_CRASHED,
				   sig == SIGSYS ? j->violation : sig, message, w->cpu_us,
				   w->maxrss_kib);
		} else if (j->done && j->done_status == WORKER_STATUS_OK && j->exec && j->exited) {
			int code = WIFEXITED((int)j->exit_status) ? WEXITSTATUS((int)j->exit_status) : -1;
			snprintf(message, sizeof(message), "program exited with status %d", code);
			job_finish(j, BRIG_OUTCOME_OK, code, message, w->cpu_us, w->maxrss_kib);
		} else if (j->done && j->done_status == WORKER_STATUS_OK) {
			job_finish(j, BRIG_OUTCOME_OK, 0, "", w->cpu_us, w->maxrss_kib);
		} else if (j->done && j->done_status == WORKER_STATUS_ERROR) {
			job_finish(j, BRIG_OUTCOME_ERROR, 0, j->done_message, w->cpu_us, w->maxrss_kib);
		} else if (j->done) {
			job_finish(j, BRIG_OUTCOME_BROKER_ERROR, 0, j->done_message, w->cpu_us,
				   w->maxrss_kib);
		} else if (worker_exit_signal(status) == SIGSYS) {
			const char *name = NULL;

			if (j->violation >= 0)
				name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, (int)j->violation);
			if (name)
				snprintf(message, sizeof(message), "the sandbox refused syscall %s (%" PRId64
					 ")", name, j->violation);
			else
				snprintf(message, sizeof(message), "the sandbox refused a syscall%s",
					 j->violation >= 0 ? "" : " (not reported)");
			free((void *)name);
			job_finish(j, BRIG_OUTCOME_VIOLATION, j->violation, message, w->cpu_us,
				   w->maxrss_kib);
		} else if (worker_exit_signal(status)) {
			int sig = worker_exit_signal(status);
			snprintf(message, sizeof(message), "handler killed by signal %d (%s)", sig,
				 strsignal(sig));
			job_finish(j, BRIG_OUTCOME_CRASHED, sig, message, w->cpu_us, w->maxrss_kib);
		} else {
			snprintf(message, sizeof(message),
				 "worker exited with status %d before finishing the job",
				 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
			job_finish(j, BRIG_OUTCOME_CRASHED, 0, message, w->cpu_us, w->maxrss_kib);
		}
	}
	retired = w->retired;
	w->job = NULL;   /* ended above (job_finish frees it) */
	worker_free(w);
	if (!retired)
		pool_dispatch(b, profile);
	else
		event_active(b->retire_ev, EV_TIMEOUT, 0);   /* not from inside its callbacks */
}

static void worker_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	/* Every process of the job is gone, so EOF should have come; a channel
	 * that stays open past this is not waited for. */
	log_warn("worker %u: channel still open after exit; closing it", w->id);
	worker_close_channel(w);
	worker_finalize(w);
}

static void worker_exited(struct broker *b, const struct msg_zygote_exited *m)
{
	struct worker *w = worker_find(b, m->worker_id);

	if (!w) {
		/* A warm worker let go of by a reload, or a bug: not worth more. */
		log_debug("zygote reported unknown worker %u", m->worker_id);
		return;
	}
	log_debug("worker %u exited (status 0x%x, channel %s)", w->id, (unsigned)m->wait_status,
		  w->peer ? "open" : "closed");
	w->exited = true;
	w->wait_status = (int)m->wait_status;
	w->cpu_us = m->cpu_us;
	w->maxrss_kib = m->maxrss_kib;
	w->limits = m->limits;
	if (!w->peer) {
		worker_finalize(w);
		return;
	}
	/* Its last frames (DONE) may still be in the channel, which reaches us
	 * by another socket than this report: read to EOF first. */
	w->drain_timer = evtimer_new(b->base, worker_drain_timeout, w);
	if (!w->drain_timer) {
		worker_close_channel(w);
		worker_finalize(w);
		return;
	}
	event_add(w->drain_timer, &(struct timeval){ 2, 0 });
}

/* ------------------------------------------------------------------ */
/* client requests                                                      */

static void client_on_hello(struct client *c, struct msg_in *in)
{
	struct broker *b = c->broker;
	struct msg_hello hello;
	struct msg_welcome welcome = {
		.version = BRIG_PROTOCOL_VERSION,
		.max_frame = b->cfg->max_frame,
		.max_input = b->cfg->max_input,
		.max_jobs = b->cfg->max_jobs_per_client,
	};
	char *profile_names[BRIG_MAX_PROFILES];

	if (msg_decode_hello(in, &hello) < 0) {
		client_reject(c, "%s", in->error);
		return;
	}
	if (hello.version != BRIG_PROTOCOL_VERSION) {
		client_error(c, false, 0, BRIG_ERROR_VERSION,
			     "protocol version %u is not supported; this brigd speaks %d",
			     hello.version, BRIG_PROTOCOL_VERSION);
		client_close_soon(c);
		return;
	}
	snprintf(c->name, sizeof(c->name), "%s", hello.client);
	c->greeted = true;
	event_del(c->timer);
	snprintf(welcome.server, sizeof(welcome.server), "brigd %s", PACKAGE_VERSION);
	welcome.handlers = b->handlers;
	for (size_t i = 0; i < b->cfg->profile_count; i++)
		profile_names[i] = b->cfg->profiles[i].name;
	welcome.profiles.names = profile_names;
	welcome.profiles.count = b->cfg->profile_count;
	log_info("client %" PRIu64 " (uid %u gid %u pid %d) says hello as '%s'", c->serial,
		 (unsigned)c->uid, (unsigned)c->gid, (int)c->pid, c->name);
	if (msg_pack_welcome(&b->sb, &welcome) == 0)
		client_send_packed(c);
	msgpack_sbuffer_clear(&b->sb);
}

static bool handler_known(const struct broker *b, const char *name)
{
	for (size_t i = 0; i < b->handlers.count; i++)
		if (strcmp(b->handlers.names[i], name) == 0)
			return true;
	return false;
}

/*
 * Could the client itself open path with this access?  Asked of the root
 * monitor, which checks in a child that takes on the client's uid and
 * groups, so that brigd never grants a path the client could not reach
 * (invariant 2, no confused deputy).  0 if it could, else -errno
 * (-ETIMEDOUT: the check took too long).
 */
static int client_can_access(const struct client *c, const char *path, uint32_t access)
{
	int mode = 0;

	if (access & SPEC_ACCESS_READ)
		mode |= R_OK;
	if (access & SPEC_ACCESS_WRITE)
		mode |= W_OK;
	if (access & SPEC_ACCESS_EXEC)
		mode |= X_OK;
	if (c->uid == 0)
		return 0;
	return monitor_check_access(c->broker->monitor, c->uid, c->gid, c->groups, c->group_count,
				    path, mode);
}

/*
 * Check a request's descriptors against its profile: each may only
 * narrow, and each path must be one the client could reach itself.
 * Returns 0, or sends the ERROR naming the descriptor and returns -1.
 */
static int job_check_descriptors(struct client *c, uint32_t job_id,
				 const struct profile_config *profile, const struct msg_strv *list)
{
	struct spec layer;

	spec_layer_init(&layer);
	for (size_t i = 0; i < list->count; i++) {
		char text[BRIG_DESCRIPTOR_TEXT_MAX];
		char err[512];
		size_t paths_before = layer.path_count;
		int r;

		if (msg_strv_get(list, i, text, sizeof(text)) < 0) {
			client_error(c, true, job_id, BRIG_ERROR_BAD_REQUEST, "descriptor %zu is too long",
				     i);
			return -1;
		}
		r = spec_narrow(&profile->spec, text, &layer, err, sizeof(err));
		if (r < 0) {
			client_error(c, true, job_id, r == -EPERM ? BRIG_ERROR_DENIED :
							  BRIG_ERROR_BAD_REQUEST, "%s", err);
			return -1;
		}
		for (size_t k = paths_before; k < layer.path_count; k++) {
			/* A path inside the job's private tmpfs is no host path. */
			if (layer.paths[k].kind == SPEC_PATH_TMPFS)
				continue;
			int access_r;

			/* Checked with fewer groups than the client has, a path a
			 * group is denied (mode, ACL) would pass: no check at all. */
			if (c->groups_incomplete && c->uid != 0) {
				client_error(c, true, job_id, BRIG_ERROR_DENIED,
					     "%s: uid %u is in more supplementary groups than brig can "
					     "check a path with (63), so brig grants it no path", text,
					     (unsigned)c->uid);
				return -1;
			}
			access_r = client_can_access(c, layer.paths[k].path, layer.paths[k].access);
			if (access_r == -ETIMEDOUT) {
				client_error(c, true, job_id, BRIG_ERROR_DENIED,
					     "%s: checking whether uid %u can access this path took too "
					     "long (a slow or hung filesystem?), so brig will not grant it",
					     text, (unsigned)c->uid);
				return -1;
			}
			if (access_r < 0) {
				client_error(c, true, job_id, BRIG_ERROR_DENIED,
					     "%s: uid %u cannot access this path itself, so brig will "
					     "not grant it", text, (unsigned)c->uid);
				return -1;
			}
		}
	}
	return 0;
}

/*
 * What SUBMIT and EXEC share: refusals in a fixed order, then a queued job
 * holding the worker's frame.  Returns the job, or NULL after an ERROR.
 */
static struct job *job_accept(struct client *c, uint32_t job_id, const char *profile_name,
			      const char *handler, uint32_t timeout_ms,
			      const struct msg_strv *descriptors)
{
	struct broker *b = c->broker;
	const struct profile_config *profile;
	struct job *j;
	int profile_index;
	char why[256];

	if (client_find_job(c, job_id)) {
		client_error(c, true, job_id, BRIG_ERROR_DUPLICATE_JOB,
			     "job id %u is already in flight on this connection", job_id);
		return NULL;
	}
	if (b->stopping) {
		client_error(c, true, job_id, BRIG_ERROR_SHUTTING_DOWN, "brigd is shutting down");
		return NULL;
	}
	if (handler && !handler_known(b, handler)) {
		client_error(c, true, job_id, BRIG_ERROR_UNKNOWN_HANDLER, "no handler named '%s'",
			     handler);
		return NULL;
	}
	profile_index = profile_name[0] ? config_find_profile(b->cfg, profile_name) :
					  (int)b->cfg->default_profile;
	if (profile_index < 0) {
		client_error(c, true, job_id, BRIG_ERROR_UNKNOWN_PROFILE, "no profile named '%s'",
			     profile_name);
		return NULL;
	}
	profile = &b->cfg->profiles[profile_index];
	/* Invariant 2: a client runs only what the policy grants it. */
	if (!config_profile_allows(profile, c->uid, c->groups, c->group_count, handler, why,
				   sizeof(why))) {
		client_error(c, true, job_id, BRIG_ERROR_DENIED, "%s", why);
		return NULL;
	}
	if (!handler && !profile->allow_exec) {
		client_error(c, true, job_id, BRIG_ERROR_DENIED,
			     "profile '%s' does not run programs (exec_jobs = no)", profile->name);
		return NULL;
	}
	if (timeout_ms > profile->max_timeout_ms) {
		client_error(c, true, job_id, BRIG_ERROR_BAD_REQUEST,
			     "timeout of %u ms exceeds profile %s's maximum of %u ms", timeout_ms,
			     profile->name, profile->max_timeout_ms);
		return NULL;
	}
	/* Invariant 6: bounded jobs per client and bounded queue overall. */
	if (c->job_count >= b->cfg->max_jobs_per_client) {
		client_error(c, true, job_id, BRIG_ERROR_BUSY,
			     "this connection already has %u jobs in flight (the limit)",
			     c->job_count);
		return NULL;
	}
	if (b->queued_total >= b->cfg->max_queued_jobs) {
		client_error(c, true, job_id, BRIG_ERROR_BUSY,
			     "%u jobs are waiting for a worker (the limit); try again later",
			     b->queued_total);
		return NULL;
	}
	if (job_check_descriptors(c, job_id, profile, descriptors) < 0)
		return NULL;
	j = calloc(1, sizeof(*j));
	if (!j) {
		client_error(c, true, job_id, BRIG_ERROR_BUSY, "out of memory");
		return NULL;
	}
	j->broker = b;
	j->id = job_id;
	j->input_fd = -1;
	j->profile = (size_t)profile_index;
	j->forced_outcome = -1;
	j->violation = -1;
	j->state = JOB_QUEUED;
	j->submitted_usec = now_usec();
	j->timeout_ms = timeout_ms ? timeout_ms : profile->timeout_ms;
	j->exec = handler == NULL;
	j->narrowed = descriptors && descriptors->count > 0;
	snprintf(j->profile_name, sizeof(j->profile_name), "%s", profile->name);
	j->client_uid = c->uid;
	j->client_gid = c->gid;
	j->client_pid = c->pid;
	j->max_output = profile->max_output;
	j->memory_max = profile->spec.memory_max;
	j->pids_max = profile->spec.pids_max;
	return j;
}

/* Queue an accepted job whose worker frame is in b->sb. */
static void job_enqueue(struct client *c, struct job *j)
{
	struct broker *b = c->broker;
	struct timeval tv;

	j->input = malloc(b->sb.size);
	j->deadline = evtimer_new(b->base, job_deadline_cb, j);
	if (!j->input || !j->deadline) {
		msgpack_sbuffer_clear(&b->sb);
		client_error(c, true, j->id, BRIG_ERROR_BUSY, "out of memory");
		job_free(j);
		return;
	}
	memcpy(j->input, b->sb.data, b->sb.size);
	j->input_len = b->sb.size;
	msgpack_sbuffer_clear(&b->sb);
	j->client = c;
	/* The deadline counts from now, not from the loop's cached time. */
	event_base_update_cache_time(b->base);
	tv.tv_sec = j->timeout_ms / 1000;
	tv.tv_usec = (suseconds_t)(j->timeout_ms % 1000) * 1000;
	evtimer_add(j->deadline, &tv);
	LIST_INSERT_HEAD(&c->jobs, j, client_link);
	c->job_count++;
	TAILQ_INSERT_TAIL(&b->profiles[j->profile].queue, j, queue_link);
	b->profiles[j->profile].queued++;
	b->queued_total++;
	if (job_reuses(j)) {
		struct worker *w;

		LIST_FOREACH(w, &c->kept, owner_link)
			if (w->profile == j->profile && w->peer && !w->exited && !w->kill_sent) {
				job_start(j, w);
				return;
			}
	}
	pool_dispatch(b, j->profile);
}

/*
 * A job whose input (or stdin) is nil takes the descriptor that arrived
 * with its frame (peer.h) and checks what it is.  Returns 0, or -1 after
 * an ERROR naming the job (the job is then freed).
 */
static int job_take_input_fd(struct client *c, struct job *j, const char *field)
{
	const struct profile_config *profile = &c->broker->cfg->profiles[j->profile];
	char why[256];
	int fd = peer_take_fd(c->peer), r;

	if (fd < 0) {
		client_error(c, true, j->id, BRIG_ERROR_BAD_REQUEST,
			     "%s is nil (a passed file descriptor), but no descriptor arrived with "
			     "this frame", field);
		goto fail;
	}
	if (profile->max_input_fd == 0) {
		client_error(c, true, j->id, BRIG_ERROR_DENIED,
			     "profile '%s' takes no passed descriptors (max_input_fd = 0)",
			     profile->name);
		goto fail;
	}
	/* Invariant 2: only a file the client opened itself, read-only for
	 * what a program gets, and never a directory, socket or O_PATH. */
	r = input_fd_check(fd, j->exec, profile->max_input_fd, why, sizeof(why));
	if (r < 0) {
		client_error(c, true, j->id, r == -EFBIG ? BRIG_ERROR_BAD_REQUEST : BRIG_ERROR_DENIED,
			     "%s: %s", field, why);
		goto fail;
	}
	j->input_fd = fd;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	job_free(j);
	return -1;
}

static void client_on_submit(struct client *c, struct msg_in *in)
{
	struct broker *b = c->broker;
	struct msg_submit m;
	struct job *j;

	if (msg_decode_submit(in, b->cfg->max_input, &m) < 0) {
		client_reject(c, "%s", in->error);
		return;
	}
	j = job_accept(c, m.job_id, m.profile, m.handler, m.timeout_ms, &m.descriptors);
	if (!j)
		return;
	if (m.input_fd && job_take_input_fd(c, j, "SUBMIT input") < 0)
		return;
	snprintf(j->handler, sizeof(j->handler), "%s", m.handler);
	{
		/* The descriptors go on verbatim: they were checked above. */
		char *texts[BRIG_DESCRIPTORS_MAX];
		char storage[BRIG_DESCRIPTORS_MAX][BRIG_DESCRIPTOR_TEXT_MAX];
		struct msg_worker_job wj = {
			.input_fd = m.input_fd, .input = m.input, .input_len = m.input_len,
		};

		for (size_t i = 0; i < m.descriptors.count; i++) {
			msg_strv_get(&m.descriptors, i, storage[i], sizeof(storage[i]));
			texts[i] = storage[i];
		}
		wj.descriptors.v = (const char *const *)texts;
		wj.descriptors.count = m.descriptors.count;
		snprintf(wj.handler, sizeof(wj.handler), "%s", m.handler);
		if (msg_pack_worker_job(&b->sb, &wj) < 0) {
			msgpack_sbuffer_clear(&b->sb);
			client_error(c, true, m.job_id, BRIG_ERROR_TOO_LARGE, "job does not fit a frame");
			job_free(j);
			return;
		}
	}
	job_enqueue(c, j);
}

static void client_on_exec(struct client *c, struct msg_in *in)
{
	struct broker *b = c->broker;
	struct msg_exec m;
	struct msg_worker_exec we;
	char **argv = NULL, **env = NULL, **desc = NULL;
	struct job *j;

	if (msg_decode_exec(in, b->cfg->max_input, &m) < 0) {
		client_reject(c, "%s", in->error);
		return;
	}
	j = job_accept(c, m.job_id, m.profile[0] ? m.profile : "exec", NULL, m.timeout_ms,
		       &m.descriptors);
	if (!j)
		return;
	if (m.stdin_fd && job_take_input_fd(c, j, "EXEC stdin") < 0)
		return;
	argv = msg_strv_dup(&m.argv);
	env = msg_strv_dup(&m.env);
	desc = msg_strv_dup(&m.descriptors);
	snprintf(j->handler, sizeof(j->handler), "%s", argv ? argv[0] : "?");
	memset(&we, 0, sizeof(we));
	we.argv.v = (const char *const *)argv;
	we.argv.count = m.argv.count;
	we.env.v = (const char *const *)env;
	we.env.count = m.env.count;
	we.descriptors.v = (const char *const *)desc;
	we.descriptors.count = m.descriptors.count;
	snprintf(we.cwd, sizeof(we.cwd), "%s", m.cwd);
	we.stdin_fd = m.stdin_fd;
	we.stdin_data = m.stdin_data;
	we.stdin_len = m.stdin_len;
	if (!argv || !env || !desc || msg_pack_worker_exec(&b->sb, &we) < 0) {
		msgpack_sbuffer_clear(&b->sb);
		client_error(c, true, m.job_id, BRIG_ERROR_TOO_LARGE, "job does not fit a frame");
		job_free(j);
	} else {
		job_enqueue(c, j);
	}
	free(argv);
	free(env);
	free(desc);
}

static void client_on_cancel(struct client *c, struct msg_in *in)
{
	struct msg_cancel m;
	struct job *j;

	if (msg_decode_cancel(in, &m) < 0) {
		client_reject(c, "%s", in->error);
		return;
	}
	j = client_find_job(c, m.job_id);
	if (!j) {
		client_error(c, true, m.job_id, BRIG_ERROR_UNKNOWN_JOB,
			     "job %u is not in flight on this connection", m.job_id);
		return;
	}
	if (j->done)
		return;   /* it already finished; its final status is on its way */
	job_abort(j, BRIG_OUTCOME_CANCELLED, "cancelled by the client");
}

struct client_handler {
	int type;
	bool needs_greeting;   /* false: only before HELLO; true: only after */
	void (*handle)(struct client *c, struct msg_in *in);
};

/* Everything a client may send, and when. */
static const struct client_handler client_handlers[] = {
	{ MSG_HELLO, false, client_on_hello },
	{ MSG_SUBMIT, true, client_on_submit },
	{ MSG_EXEC, true, client_on_exec },
	{ MSG_CANCEL, true, client_on_cancel },
};

static void client_free(struct client *c)
{
	struct broker *b = c->broker;
	struct job *j;

	/* Its kept workers serve no one else: they end with it. */
	while (!LIST_EMPTY(&c->kept))
		worker_drop_kept(LIST_FIRST(&c->kept));
	/* Invariant 4: a client that goes away takes its jobs with it. */
	while ((j = LIST_FIRST(&c->jobs))) {
		LIST_REMOVE(j, client_link);
		j->client = NULL;
		if (j->state == JOB_QUEUED) {
			job_finish(j, BRIG_OUTCOME_CANCELLED, 0, NULL, 0, 0);
		} else {
			j->forced_outcome = BRIG_OUTCOME_CANCELLED;
			if (j->worker)
				worker_kill(j->worker);
		}
	}
	LIST_REMOVE(c, link);
	b->client_count--;
	event_free(c->timer);
	if (peer_unclaimed_fds(c->peer) > 0)
		log_info("client %" PRIu64 " (uid %u pid %d) passed %" PRIu64 " file descriptors "
			 "no frame claimed (closed)", c->serial, (unsigned)c->uid, (int)c->pid,
			 peer_unclaimed_fds(c->peer));
	peer_free(c->peer);
	log_info("client %" PRIu64 " (uid %u pid %d) disconnected", c->serial, (unsigned)c->uid,
		 (int)c->pid);
	free(c);
	if (b->listen_ev && !b->stopping && !event_pending(b->listen_ev, EV_READ, NULL))
		event_add(b->listen_ev, NULL);
	broker_shutdown_progress(b);
}

static int client_on_frame(struct peer *p, const uint8_t *body, size_t len, void *arg)
{
	struct client *c = arg;
	struct msg_in in;
	int type;

	(void)p;
	if (c->closing)
		return -1;
	c->partial_since = 0;   /* a whole frame: the client makes progress */
	/* Invariant 3: the frame is size-checked (peer) and shape-checked here
	 * before any field is used. */
	type = msg_open(&in, body, len);
	if (type < 0) {
		client_reject(c, "malformed frame: %s", in.error);
	} else {
		size_t i;

		for (i = 0; i < ARRAY_SIZE(client_handlers); i++)
			if (client_handlers[i].type == type)
				break;
		if (i == ARRAY_SIZE(client_handlers))
			client_reject(c, "message type %s (0x%02x) is not accepted from clients",
				      msg_type_name(type), type);
		else if (client_handlers[i].needs_greeting != c->greeted)
			client_reject(c, c->greeted ? "HELLO was already received" :
						      "the first message must be HELLO");
		else
			client_handlers[i].handle(c, &in);
	}
	msg_close(&in);
	return c->closing ? -1 : 0;
}

static void client_on_close(struct peer *p, int err, void *arg)
{
	struct client *c = arg;

	(void)p;
	if (err == -EMSGSIZE && !c->closing) {
		client_error(c, false, 0, BRIG_ERROR_TOO_LARGE,
			     "frame exceeds the maximum frame size of %u bytes", c->broker->cfg->max_frame);
		client_close_soon(c);
		return;
	}
	if (err == -EBADMSG && !c->closing) {
		client_reject(c, "a frame of length 0 is not allowed");
		return;
	}
	if (err == -ETOOMANYREFS && !c->closing) {
		client_reject(c, "more than %d passed file descriptors wait for their frame",
			      BRIG_CLIENT_MAX_FDS);
		return;
	}
	if (err == -EPROTO && !c->closing) {
		client_reject(c, "passed file descriptors were truncated (MSG_CTRUNC): at most %d "
				 "may wait for their frame", BRIG_CLIENT_MAX_FDS);
		return;
	}
	client_free(c);
}

static void client_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	(void)fd;
	(void)what;
	if (!c->closing)
		log_info("client %" PRIu64 " (uid %u pid %d) sent no HELLO within %d s; closing",
			 c->serial, (unsigned)c->uid, (int)c->pid, CLIENT_HELLO_TIMEOUT_SEC);
	client_free(c);
}

static void broker_accept(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;

	(void)what;
	for (;;) {
		struct ucred cred;
		socklen_t len = sizeof(cred);
		struct client *c;
		int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (cfd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("accept: %s", strerror(errno));
			if (errno == EMFILE || errno == ENFILE)
				event_del(b->listen_ev);   /* re-armed when a client leaves */
			return;
		}
		if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
			log_warn("SO_PEERCRED: %s", strerror(errno));
			close(cfd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(cfd);
			continue;
		}
		c->broker = b;
		c->serial = ++b->next_client_serial;
		c->uid = cred.uid;
		c->gid = cred.gid;
		c->pid = cred.pid;
		{
			/* The groups the kernel says the client had when it connected:
			 * policy by group uses these, never anything the client says. */
			socklen_t glen = sizeof(c->groups) - sizeof(gid_t);

			c->groups[0] = cred.gid;
			c->group_count = 1;
			if (getsockopt(cfd, SOL_SOCKET, SO_PEERGROUPS, c->groups + 1, &glen) == 0)
				c->group_count += glen / sizeof(gid_t);
			else
				c->groups_incomplete = true;   /* ERANGE: in more than 63 */
		}
		LIST_INIT(&c->jobs);
		LIST_INIT(&c->kept);
		c->peer = peer_new(b->base, cfd, b->cfg->max_frame, client_on_frame, client_on_close, c);
		if (c->peer)
			peer_accept_fds(c->peer, BRIG_CLIENT_MAX_FDS);
		c->timer = evtimer_new(b->base, client_timer_cb, c);
		if (!c->peer || !c->timer) {
			if (c->timer)
				event_free(c->timer);
			if (c->peer)
				peer_free(c->peer);
			else
				close(cfd);
			free(c);
			continue;
		}
		event_add(c->timer, &(struct timeval){ CLIENT_HELLO_TIMEOUT_SEC, 0 });
		LIST_INSERT_HEAD(&b->clients, c, link);
		b->client_count++;
		log_debug("client %" PRIu64 " connected: uid %u gid %u pid %d", c->serial,
			  (unsigned)c->uid, (unsigned)c->gid, (int)c->pid);
		if (b->client_count > b->cfg->max_clients) {
			client_error(c, false, 0, BRIG_ERROR_BUSY, "too many clients connected (%u)",
				     b->cfg->max_clients);
			client_close_soon(c);
		} else {
			/* Invariant 6: one uid cannot take every connection (and the
			 * frame buffers that come with them). */
			struct client *other;
			unsigned same_uid = 0;

			LIST_FOREACH(other, &b->clients, link)
				if (other->uid == c->uid && !other->closing)
					same_uid++;
			/* root is bounded by max_clients alone */
			if (c->uid != 0 && same_uid > b->cfg->max_clients_per_uid) {
				client_error(c, false, 0, BRIG_ERROR_BUSY,
					     "uid %u already has %u connections (the limit)",
					     (unsigned)c->uid, b->cfg->max_clients_per_uid);
				client_close_soon(c);
			}
		}
		if (b->client_count >= b->cfg->max_clients + 16)
			event_del(b->listen_ev);
	}
}

/* ------------------------------------------------------------------ */
/* the zygote                                                           */

static void broker_notify_status(struct broker *b)
{
	unsigned idle = 0, spawning = 0;
	char status[256];

	for (size_t i = 0; i < b->cfg->profile_count; i++) {
		idle += b->profiles[i].idle_count;
		spawning += b->profiles[i].spawning;
	}
	snprintf(status, sizeof(status), "%u clients, %u idle workers, %u starting, %u queued "
		 "jobs, %" PRIu64 " jobs served", b->client_count, idle, spawning, b->queued_total,
		 b->jobs_finished);
	if (strcmp(status, b->last_status) == 0)
		return;
	snprintf(b->last_status, sizeof(b->last_status), "%s", status);
	monitor_notify(b->monitor, MONITOR_NOTIFY_STATUS, status);
}

/* Once a second (or faster for the watchdog): STATUS if it changed, and
 * WATCHDOG=1, which only a live event loop can send. */
static void broker_status_tick(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;
	uint64_t now = now_usec();
	struct client *c;

	(void)fd;
	(void)what;
	broker_notify_status(b);
	LIST_FOREACH(c, &b->clients, link) {
		if (c->closing || peer_input_pending(c->peer) == 0) {
			c->partial_since = 0;
		} else if (!c->partial_since) {
			c->partial_since = now;
		} else if (now - c->partial_since > (uint64_t)b->cfg->frame_timeout_ms * 1000) {
			/* Invariant 6: a frame must arrive whole soon once begun, or a
			 * client could pin max_frame of memory a byte at a time. */
			client_reject(c, "a frame has been arriving for more than %u ms "
				      "(frame_timeout_ms)", b->cfg->frame_timeout_ms);
		}
		/* A kept worker idle for its profile's pool_idle_ms is let go. */
		for (struct worker *w = LIST_FIRST(&c->kept), *next; w; w = next) {
			next = LIST_NEXT(w, owner_link);
			if (now - w->kept_since >
			    (uint64_t)b->cfg->profiles[w->profile].pool_idle_ms * 1000)
				worker_drop_kept(w);
		}
	}
	if (b->watchdog_usec)
		monitor_notify(b->monitor, MONITOR_NOTIFY_WATCHDOG, NULL);
}

static int zygote_on_record(struct chan *ch, const uint8_t *body, size_t len, int passed_fd,
			    void *arg)
{
	struct broker *b = arg;
	struct msg_in in;
	int type;

	(void)ch;
	if (passed_fd >= 0)
		fatalx("the zygote passed a file descriptor");
	type = msg_open(&in, body, len);
	/* The zygote is brigd's own, more privileged, process: a broken rule
	 * means a bug, and the broker stops rather than guess. */
	switch (type) {
	case MSG_ZYGOTE_READY: {
		struct msg_zygote_ready m;

		if (b->zygote_ready || msg_decode_zygote_ready(&in, &m) < 0)
			fatalx("bad READY from the zygote: %s", in.error);
		strlist_free(&b->handlers);
		b->handlers = m.handlers;
		b->zygote_ready = true;
		b->zygote_failures = 0;
		log_info("zygote ready with %zu handlers", b->handlers.count);
		for (size_t i = 0; i < b->cfg->profile_count; i++)
			pool_dispatch(b, i);
		if (!b->notified_ready) {
			b->notified_ready = true;
			if (b->listen_ev && event_add(b->listen_ev, NULL) < 0)
				fatalx("cannot watch the listening socket");
			monitor_notify(b->monitor, MONITOR_NOTIFY_READY, NULL);
		}
		broker_notify_status(b);
		break;
	}
	case MSG_ZYGOTE_SPAWNED: {
		struct msg_zygote_spawned m;
		struct worker *w;

		if (msg_decode_zygote_spawned(&in, &m) < 0)
			fatalx("bad SPAWNED from the zygote: %s", in.error);
		w = worker_find(b, m.worker_id);
		if (w)
			w->pid = (pid_t)m.pid;
		break;
	}
	case MSG_ZYGOTE_SPAWN_FAILED: {
		struct msg_zygote_spawn_failed m;
		struct worker *w;

		if (msg_decode_zygote_spawn_failed(&in, &m) < 0)
			fatalx("bad SPAWN_FAILED from the zygote: %s", in.error);
		w = worker_find(b, m.worker_id);
		if (w) {
			size_t profile = w->profile;
			log_error("profile %s: worker failed to start: %s", b->cfg->profiles[profile].name,
				  m.message);
			b->profiles[profile].retry_after_usec = now_usec() + SPAWN_RETRY_USEC;
			worker_free(w);
			pool_refill(b, profile);
		}
		break;
	}
	case MSG_ZYGOTE_EXITED: {
		struct msg_zygote_exited m;

		if (msg_decode_zygote_exited(&in, &m) < 0)
			fatalx("bad EXITED from the zygote: %s", in.error);
		worker_exited(b, &m);
		break;
	}
	default:
		fatalx("unexpected message from the zygote: %s (%s)", msg_type_name(type),
		       type < 0 ? in.error : "not allowed here");
	}
	msg_close(&in);
	return 0;
}

static void zygote_restart_cb(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;

	(void)fd;
	(void)what;
	/* A reload may have started one meanwhile. */
	if (!b->zygote && !b->stopping)
		zygote_start(b);
}

/* A zygote that keeps dying before it is ready (a broken plugin, a missing
 * directory) is retried ever more slowly, up to 5 s. */
static void zygote_restart_later(struct broker *b, const char *why)
{
	/* zygote_failures already counts this one. */
	unsigned doublings = b->zygote_failures > 1 ? b->zygote_failures - 1 : 0;
	uint64_t delay = (uint64_t)ZYGOTE_RESTART_USEC << (doublings < 6 ? doublings : 6);
	struct timeval tv;

	if (b->stopping)
		return;
	if (delay > 5000000)
		delay = 5000000;
	tv.tv_sec = (time_t)(delay / 1000000);
	tv.tv_usec = (suseconds_t)(delay % 1000000);
	log_error("zygote lost (%s); starting a new one in %" PRIu64 " ms", why, delay / 1000);
	event_base_once(b->base, -1, EV_TIMEOUT, zygote_restart_cb, b, &tv);
}

/* The zygote is gone: every worker went with it (parent-death signal). */
static void zygote_lost(struct broker *b, const char *why)
{
	struct worker *w, *next;
	bool was_ready = b->zygote_ready;
	struct chan *lost = b->zygote;

	if (!b->zygote)
		return;
	chan_free(b->zygote);
	b->zygote = NULL;
	b->zygote_ready = false;
	/* Only the monitor may signal it; it checks that the pid is a zygote. */
	if (b->zygote_pid > 0)
		monitor_kill_zygote(b->monitor, b->zygote_pid);
	for (w = LIST_FIRST(&b->workers); w; w = next) {
		struct job *j = w->job;

		next = LIST_NEXT(w, link);
		/* Workers of a retired zygote live on under it. */
		if (w->zygote != lost)
			continue;

		if (j) {
			/* A job the client gave up on was already cancelled. */
			if (j->forced_outcome >= 0)
				job_finish(j, j->forced_outcome, 0, j->forced_message, 0, 0);
			else
				job_finish(j, BRIG_OUTCOME_BROKER_ERROR, 0,
					   "the zygote died while the job ran", 0, 0);
			w->job = NULL;   /* freed by job_finish */
		}
		worker_free(w);
	}
	if (!was_ready)
		b->zygote_failures++;
	zygote_restart_later(b, why);
}

static void zygote_on_close(struct chan *ch, int err, void *arg)
{
	(void)ch;
	zygote_lost(arg, err < 0 ? strerror(-err) : "channel closed");
}

/* Ask the monitor for a zygote; it arrives in broker_zygote_started. */
static void zygote_start(struct broker *b)
{
	int r;

	if (b->zygote_starting)
		return;
	b->zygote_request++;
	r = monitor_start_zygote(b->monitor, b->zygote_request);
	if (r < 0)
		fatalx("cannot ask the monitor for a zygote: %s", strerror(-r));
	b->zygote_starting = true;
}

static void broker_zygote_started(void *arg, uint32_t request, pid_t pid, int fd, int error)
{
	struct broker *b = arg;

	if (request != b->zygote_request || !b->zygote_starting)
		fatalx("the monitor started zygote %u, which was not asked for", request);
	b->zygote_starting = false;
	if (pid <= 0) {
		b->zygote_failures++;
		zygote_restart_later(b, strerror(error));
		return;
	}
	if (b->zygote_stale && !b->stopping) {
		/* Asked for before a reload: it may run the old configuration. */
		b->zygote_stale = false;
		close(fd);
		zygote_start(b);
		return;
	}
	if (b->stopping || b->zygote) {
		/* Not wanted any more: closing the channel ends it. */
		close(fd);
		return;
	}
	b->zygote_pid = pid;
	b->zygote = chan_new(b->base, fd, zygote_on_record, zygote_on_close, b);
	if (!b->zygote)
		fatalx("cannot watch the zygote channel");
	log_debug("zygote started as pid %d", (int)pid);
}

/* The monitor reaped a zygote: the current one, or one retired by a reload. */
static void broker_zygote_died(void *arg, pid_t pid, int status)
{
	struct broker *b = arg;

	if (pid != b->zygote_pid)
		return;   /* retired: its channel's close did the work */
	b->zygote_pid = 0;
	zygote_lost(b, WIFSIGNALED(status) ? "zygote killed by a signal" : "zygote exited");
}

static const struct monitor_link_ops broker_monitor_ops = {
	.zygote_started = broker_zygote_started,
	.zygote_died = broker_zygote_died,
};

/* ------------------------------------------------------------------ */
/* the process                                                          */

/*
 * Shutting down, step by step: no new clients or jobs; clients without
 * jobs are closed; running jobs may finish until shutdown_timeout_ms, then
 * they are killed and get FINAL broker_error; the loop ends when the last
 * client is gone (or a short grace after the deadline, whatever happens).
 */
static void broker_shutdown_progress(struct broker *b)
{
	struct client *c;

	if (!b->stopping)
		return;
	LIST_FOREACH(c, &b->clients, link)
		if (c->job_count == 0)
			client_close_soon(c);
	if (b->client_count == 0)
		event_base_loopbreak(b->base);
}

static void broker_shutdown_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;
	struct client *c;
	struct job *j, *next;

	(void)fd;
	(void)what;
	if (b->shutdown_deadline_passed) {
		log_warn("clients still connected at shutdown; closing them");
		event_base_loopbreak(b->base);
		return;
	}
	b->shutdown_deadline_passed = true;
	LIST_FOREACH(c, &b->clients, link) {
		for (j = LIST_FIRST(&c->jobs); j; j = next) {
			next = LIST_NEXT(j, client_link);
			job_abort(j, BRIG_OUTCOME_BROKER_ERROR, "brigd is shutting down");
		}
	}
	event_add(b->shutdown_timer, &(struct timeval){ CLIENT_LINGER_SEC, 0 });
	broker_shutdown_progress(b);
}

static void broker_begin_shutdown(struct broker *b, int sig)
{
	if (b->stopping) {
		/* Asked again: do not wait for running jobs any longer. */
		event_active(b->shutdown_timer, EV_TIMEOUT, 0);
		return;
	}
	log_info("stopping on signal %d: %u clients connected", sig, b->client_count);
	monitor_notify(b->monitor, MONITOR_NOTIFY_STOPPING, NULL);
	b->stopping = true;
	/* Close the socket now, so that new clients fail at once. */
	event_free(b->listen_ev);
	b->listen_ev = NULL;
	close(b->listen_fd);   /* the monitor removes the socket file at exit */
	b->listen_fd = -1;
	event_add(b->shutdown_timer, &(struct timeval){
		b->cfg->shutdown_timeout_ms / 1000, (b->cfg->shutdown_timeout_ms % 1000) * 1000 });
	broker_shutdown_progress(b);
}

static bool retired_in_use(struct retired_zygote *r)
{
	struct worker *w;

	LIST_FOREACH(w, &r->broker->workers, link)
		if (w->zygote == r->chan)
			return true;
	return false;
}

/* Its last worker is gone: close the channel, and the zygote exits. */
static void retired_finish(struct retired_zygote *r)
{
	LIST_REMOVE(r, link);
	chan_free(r->chan);
	log_info("the zygote of the previous configuration (pid %d) is done", (int)r->pid);
	free(r);
}

static int retired_on_record(struct chan *ch, const uint8_t *body, size_t len, int passed_fd,
			     void *arg)
{
	struct retired_zygote *r = arg;
	struct broker *b = r->broker;
	struct msg_in in;
	int type;

	(void)ch;
	if (passed_fd >= 0)
		close(passed_fd);
	type = msg_open(&in, body, len);
	if (type == MSG_ZYGOTE_EXITED) {
		struct msg_zygote_exited m;

		if (msg_decode_zygote_exited(&in, &m) == 0 && worker_find(b, m.worker_id))
			worker_exited(b, &m);
	}
	/* SPAWNED and SPAWN_FAILED of workers already let go of: nothing. */
	msg_close(&in);
	return 0;
}

static void retire_check_cb(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;
	struct retired_zygote *rz, *next;

	(void)fd;
	(void)what;
	for (rz = LIST_FIRST(&b->retired); rz; rz = next) {
		next = LIST_NEXT(rz, link);
		if (!retired_in_use(rz))
			retired_finish(rz);
	}
}

static void retired_on_close(struct chan *ch, int err, void *arg)
{
	struct retired_zygote *r = arg;
	struct worker *w, *next;

	(void)ch;
	(void)err;
	for (w = LIST_FIRST(&r->broker->workers); w; w = next) {
		next = LIST_NEXT(w, link);
		if (w->zygote != r->chan)
			continue;
		if (w->job)
			job_finish(w->job, w->job->forced_outcome >= 0 ? w->job->forced_outcome :
					   BRIG_OUTCOME_BROKER_ERROR, 0,
				   w->job->forced_outcome >= 0 ? w->job->forced_message :
					   "the zygote of the previous configuration died", 0, 0);
		w->job = NULL;   /* freed by job_finish */
		worker_free(w);
	}
	retired_finish(r);
}

/*
 * SIGHUP: read the configuration again.  A bad one is refused and the
 * running one stays.  A good one takes over at once, without dropping a
 * connection: warm workers of the old one are ended, queued jobs move to
 * the profile of the same name, running jobs finish in their old workers,
 * whose zygote is retired until the last of them is done; a new zygote
 * serves the new configuration.
 */
static void broker_reload(struct broker *b)
{
	const struct config_source *src = b->source;
	struct config *cfg = NULL, *old;
	char err[PATH_MAX + 256] = "";
	struct worker *w, *next;
	TAILQ_HEAD(, job) queued = TAILQ_HEAD_INITIALIZER(queued);
	struct job *j;
	int r;

	monitor_notify(b->monitor, MONITOR_NOTIFY_RELOADING, NULL);
	if (src->path) {
		r = config_load(src->path, &cfg, err, sizeof(err));
	} else {
		cfg = calloc(1, sizeof(*cfg));
		r = cfg ? 0 : -ENOMEM;
		if (cfg)
			config_set_defaults(cfg);
	}
	if (r == 0 && src->socket_path)
		snprintf(cfg->socket_path, sizeof(cfg->socket_path), "%s", src->socket_path);
	if (r == 0 && src->handler_dir)
		snprintf(cfg->handler_dir, sizeof(cfg->handler_dir), "%s", src->handler_dir);
	if (r == 0 && src->log_level >= 0)
		cfg->log_level = src->log_level;
	/* The zygote (root) reads it, not us: the monitor checks as root. */
	if (r == 0 && (r = monitor_check_access(b->monitor, 0, 0, NULL, 0, cfg->handler_dir,
						R_OK | X_OK)) < 0)
		snprintf(err, sizeof(err), "handler directory %s: %s", cfg->handler_dir,
			 strerror(-r));
	if (r < 0) {
		log_error("reload refused: %s; the running configuration stays",
			  err[0] ? err : strerror(-r));
		free(cfg);
		monitor_notify(b->monitor, MONITOR_NOTIFY_READY, NULL);
		return;
	}
	if (strcmp(cfg->socket_path, b->cfg->socket_path) != 0 ||
	    cfg->socket_mode != b->cfg->socket_mode)
		log_warn("reload: the socket's path and mode change only with a restart");

	/* Retire the zygote: its busy workers finish their jobs under it. */
	if (b->zygote) {
		struct retired_zygote *rz = calloc(1, sizeof(*rz));

		if (!rz)
			fatal("calloc");
		rz->broker = b;
		rz->chan = b->zygote;
		rz->pid = b->zygote_pid;
		chan_set_callbacks(rz->chan, retired_on_record, retired_on_close, rz);
		LIST_INSERT_HEAD(&b->retired, rz, link);
		b->zygote = NULL;
		b->zygote_pid = 0;
		b->zygote_ready = false;
	}
	for (w = LIST_FIRST(&b->workers); w; w = next) {
		next = LIST_NEXT(w, link);
		if (w->retired)
			continue;
		if (w->state == WORKER_BUSY && w->job) {
			w->retired = true;   /* its profile index means nothing now */
			continue;
		}
		/* Warm under the old sandbox: not for jobs of the new one. */
		worker_kill(w);
		worker_free(w);
	}
	for (size_t i = 0; i < BRIG_MAX_PROFILES; i++) {
		struct profile_state *ps = &b->profiles[i];

		while ((j = TAILQ_FIRST(&ps->queue))) {
			TAILQ_REMOVE(&ps->queue, j, queue_link);
			TAILQ_INSERT_TAIL(&queued, j, queue_link);
		}
		memset(ps, 0, sizeof(*ps));
		TAILQ_INIT(&ps->queue);
		TAILQ_INIT(&ps->idle);
	}
	b->queued_total = 0;
	old = b->cfg;
	b->cfg = cfg;
	free(old);
	log_init("broker", (enum log_level)cfg->log_level);
	while ((j = TAILQ_FIRST(&queued))) {
		int index = config_find_profile(cfg, j->profile_name);

		TAILQ_REMOVE(&queued, j, queue_link);
		if (index < 0) {
			j->state = JOB_RUNNING;   /* in no queue: job_finish must not unlink it */
			job_finish(j, BRIG_OUTCOME_BROKER_ERROR, 0,
				   "its profile was removed by a configuration reload", 0, 0);
			continue;
		}
		j->profile = (size_t)index;
		TAILQ_INSERT_TAIL(&b->profiles[index].queue, j, queue_link);
		b->profiles[index].queued++;
		b->queued_total++;
	}
	event_active(b->retire_ev, EV_TIMEOUT, 0);
	/* A zygote still on its way may have read the old file: not used. */
	if (b->zygote_starting)
		b->zygote_stale = true;
	zygote_start(b);
	log_info("configuration reloaded: %zu profile(s)", cfg->profile_count);
	monitor_notify(b->monitor, MONITOR_NOTIFY_READY, NULL);
}

static void broker_signal(evutil_socket_t sig, short what, void *arg)
{
	struct broker *b = arg;

	(void)what;
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		broker_begin_shutdown(b, (int)sig);
		break;
	case SIGHUP:
		if (!b->stopping)
			broker_reload(b);
		break;
	default:
		break;
	}
}

/*
 * Close the zygotes' channels: each kills its workers, reaps them (each only
 * once its pid namespace is empty) and exits.  The monitor reaps the
 * zygotes (and kills one that lingers) once we have exited.
 */
static void broker_stop_zygote(struct broker *b)
{
	struct worker *w;

	if (b->zygote) {
		chan_free(b->zygote);
		b->zygote = NULL;
	}
	while (!LIST_EMPTY(&b->retired)) {
		struct retired_zygote *rz = LIST_FIRST(&b->retired);
		LIST_REMOVE(rz, link);
		chan_free(rz->chan);
		free(rz);
	}
	/* First free the workers (detaching their jobs), then end the jobs:
	 * job_finish never runs with a worker half gone. */
	{
		struct job *ending[256];
		struct worker *next;
		size_t n = 0;

		/* next is read before worker_free: the analyzer cannot tell that
		 * LIST_REMOVE moves the head on. */
		for (w = LIST_FIRST(&b->workers); w; w = next) {
			struct job *j = w->job;

			next = LIST_NEXT(w, link);
			w->job = NULL;
			if (j) {
				j->worker = NULL;
				if (n < ARRAY_SIZE(ending))
					ending[n++] = j;
				else
					job_finish(j, BRIG_OUTCOME_BROKER_ERROR, 0,
						   "brigd is shutting down", 0, 0);
			}
			worker_free(w);
		}
		for (size_t i = 0; i < n; i++)
			job_finish(ending[i], BRIG_OUTCOME_BROKER_ERROR, 0, "brigd is shutting down",
				   0, 0);
	}
}

int broker_main(struct config *cfg, const struct config_source *src,
		const struct broker_setup *setup)
{
	static const int signals[] = { SIGTERM, SIGINT, SIGHUP };
	struct broker *b;
	struct client *c;
	int exit_code = 0;

	b = calloc(1, sizeof(*b));
	if (!b)
		fatal("calloc");
	b->cfg = cfg;
	b->source = src;
	LIST_INIT(&b->retired);
	b->watchdog_usec = setup->watchdog_usec;
	LIST_INIT(&b->clients);
	LIST_INIT(&b->workers);
	for (size_t i = 0; i < BRIG_MAX_PROFILES; i++) {
		TAILQ_INIT(&b->profiles[i].queue);
		TAILQ_INIT(&b->profiles[i].idle);
	}
	msgpack_sbuffer_init(&b->sb);
	signal(SIGPIPE, SIG_IGN);
	{
		/* The monitor raised the soft limit to the hard one for us. */
		struct rlimit nofile;

		if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 &&
		    nofile.rlim_cur < (rlim_t)cfg->max_clients + 64)
			log_warn("max_clients is %u but only %llu fds are allowed (RLIMIT_NOFILE)",
				 cfg->max_clients, (unsigned long long)nofile.rlim_cur);
	}

	/* Privileges are dropped (daemon/monitor.c); from here on, only the
	 * syscalls of the broker's allow-list. */
	{
		char err[256] = "";
		int r = privsep_load_filter(err, sizeof(err));

		if (r < 0)
			fatalx("cannot load the broker's seccomp filter: %s", err);
		if (r > 0)
			log_warn("the broker's seccomp filter is not loaded: %s", err);
	}
	b->base = event_base_new();
	if (!b->base)
		fatalx("event_base_new failed");
	b->monitor = monitor_link_new(b->base, setup->monitor_fd, setup->access_fd,
				      &broker_monitor_ops, b);
	if (!b->monitor)
		fatalx("cannot watch the monitor's channel");
	b->listen_fd = setup->listen_fd;
	b->listen_ev = event_new(b->base, b->listen_fd, EV_READ | EV_PERSIST, broker_accept, b);
	b->retry_ev = evtimer_new(b->base, retry_cb, b);
	b->pool_timer = evtimer_new(b->base, pool_timer_cb, b);
	b->shutdown_timer = evtimer_new(b->base, broker_shutdown_deadline, b);
	b->retire_ev = evtimer_new(b->base, retire_check_cb, b);
	b->status_timer = event_new(b->base, -1, EV_PERSIST, broker_status_tick, b);
	/* Connections wait in the socket's backlog until the zygote is ready
	 * (the first READY adds listen_ev), so that the handler list they are
	 * checked against is known; with socket activation the connection that
	 * started us is among them. */
	if (!b->listen_ev || !b->retry_ev || !b->pool_timer || !b->shutdown_timer || !b->status_timer || !b->retire_ev)
		fatalx("cannot watch the listening socket");
	{
		struct timeval tick = { 1, 0 };

		if (b->watchdog_usec && b->watchdog_usec / 2 < 1000000) {
			tick.tv_sec = 0;
			tick.tv_usec = (suseconds_t)(b->watchdog_usec / 2);
		}
		event_add(b->status_timer, &tick);
	}
	for (size_t i = 0; i < ARRAY_SIZE(signals); i++) {
		b->signal_evs[i] = evsignal_new(b->base, signals[i], broker_signal, b);
		if (!b->signal_evs[i] || evsignal_add(b->signal_evs[i], NULL) < 0)
			fatalx("cannot watch signal %d", signals[i]);
	}
	zygote_start(b);

	event_base_dispatch(b->base);

	/* The loop has ended: no client is left unless the grace ran out. */
	b->stopping = true;
	if (b->listen_ev)
		event_free(b->listen_ev);
	b->listen_ev = NULL;
	if (b->listen_fd >= 0)
		close(b->listen_fd);
	while ((c = LIST_FIRST(&b->clients)))
		client_free(c);
	broker_stop_zygote(b);
	for (size_t i = 0; i < ARRAY_SIZE(signals); i++)
		event_free(b->signal_evs[i]);
	event_free(b->retry_ev);
	event_free(b->pool_timer);
	event_free(b->shutdown_timer);
	event_free(b->status_timer);
	event_free(b->retire_ev);
	strlist_free(&b->handlers);
	monitor_link_free(b->monitor);
	free(b->cfg);
	msgpack_sbuffer_destroy(&b->sb);
	event_base_free(b->base);
	free(b);
	log_info("stopped");
	return exit_code;
}
