/*
 * libbrig: the client side of the brig protocol (see brig/brig.h).
 *
 * A connection lives in two phases.  The handshake (HELLO, then exactly one
 * WELCOME or ERROR) is done with plain non-blocking reads and writes under
 * one deadline, because nothing else can happen on the socket before it and
 * a caller of brig_connect() expects to block.  After it, the socket belongs
 * to a proto/peer on an event_base: our own one in blocking mode (driven by
 * brig_wait), or the caller's after brig_attach.  The peer is only created
 * when the first of those two calls decides which base it runs on; frames
 * submitted before that wait in `unsent`.
 *
 * Re-entrancy: user callbacks may call brig_submit, brig_cancel and
 * brig_close.  Every path that can run a user callback counts itself in
 * `busy`; brig_close from inside one shuts the connection down at once but
 * leaves freeing the struct to the outermost of those paths, so that no
 * frame of ours on the stack touches freed memory.
 *
 * Library code: never logs, never exits; returns 0 or a negative code.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1   /* secure_getenv, MSG_NOSIGNAL */
#endif

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <msgpack.h>

#include "brig/brig.h"
#include "proto/frame.h"
#include "proto/msg.h"
#include "proto/peer.h"
#include "proto/wire.h"

/* brig.h promises the wire's outcome numbering (two enums, hence the casts). */
#define SAME_OUTCOME(name) \
	_Static_assert((int)BRIG_##name == (int)BRIG_OUTCOME_##name, "outcome " #name)
SAME_OUTCOME(OK);
SAME_OUTCOME(ERROR);
SAME_OUTCOME(CRASHED);
SAME_OUTCOME(TIMEOUT);
SAME_OUTCOME(CPU_LIMIT);
SAME_OUTCOME(MEMORY_LIMIT);
SAME_OUTCOME(PIDS_LIMIT);
SAME_OUTCOME(OUTPUT_LIMIT);
SAME_OUTCOME(VIOLATION);
SAME_OUTCOME(CANCELLED);
SAME_OUTCOME(BROKER_ERROR);
_Static_assert((int)BRIG_REJECTED > (int)BRIG_OUTCOME__MAX, "REJECTED must not collide with the wire");
_Static_assert((int)BRIG_STDOUT == (int)BRIG_STREAM_STDOUT, "stream stdout");
_Static_assert((int)BRIG_STDERR == (int)BRIG_STREAM_STDERR, "stream stderr");
/* brig.h's request limits are the wire's. */
_Static_assert(BRIG_MAX_DESCRIPTORS == BRIG_DESCRIPTORS_MAX, "descriptor count");
_Static_assert(BRIG_MAX_DESCRIPTOR_LEN == BRIG_DESCRIPTOR_LEN, "descriptor length");
_Static_assert(BRIG_MAX_ARGS == BRIG_ARGV_MAX, "argv count");
_Static_assert(BRIG_MAX_ARG_LEN == BRIG_ARG_LEN, "argv entry length");
_Static_assert(BRIG_MAX_CWD_LEN == BRIG_PATH_LEN, "cwd length");

#define HANDSHAKE_TIMEOUT_MS 10000
#define CLIENT_NAME_DEFAULT "libbrig"

/*
 * The only frames the handshake may receive are a WELCOME or an ERROR.  The
 * largest WELCOME is two full name lists (a name costs at most its bytes
 * plus a 2-byte str header) and a few scalars, so anything longer is not a
 * frame we could accept: refuse it before allocating instead of trusting a
 * length of up to BRIG_FRAME_MAX_CEILING from whatever listens on the path.
 */
#define HANDSHAKE_FRAME_MAX \
	(2u * (BRIG_LIST_MAX * (BRIG_NAME_MAX + 2u) + 5u) + 4u * BRIG_NAME_MAX + BRIG_MESSAGE_MAX + 64u)

/* Job ids come out sequentially, so their low bits spread them evenly. */
#define JOB_BUCKETS 256u

struct job {
	uint32_t id;
	bool cancel_sent;
	bool exec;                      /* gets OUTPUT, never ITEM; else the reverse */
	brig_item_fn on_item;
	brig_output_fn on_output;
	brig_final_fn on_final;
	void *arg;
	struct job *bucket_next;
	struct job *prev, *next;        /* submission order, for failing them in order */
};

/* Descriptors of frames submitted before the peer exists, at most. */
#define UNSENT_FDS_MAX 16

struct brig_client {
	int fd;                         /* ours until a peer takes it */
	struct peer *peer;
	struct event_base *base;        /* the base the peer runs on */
	struct event_base *own_base;    /* blocking mode; created by brig_wait */
	bool attached;
	void (*on_closed)(void *arg, int err);
	void *closed_arg;
	msgpack_sbuffer unsent;         /* frames submitted before the peer exists */
	struct {
		size_t offset;          /* in unsent: the frame's first byte */
		int fd;                 /* our copy, passed with that byte */
	} unsent_fds[UNSENT_FDS_MAX];
	size_t unsent_fd_count;

	uint32_t max_frame;             /* what the server accepts from us */
	uint32_t max_input;
	uint32_t max_jobs;
	struct strlist handlers;
	struct strlist profiles;

	struct job *buckets[JOB_BUCKETS];
	struct job *first, *last;
	size_t jobs_pending;
	uint32_t last_id;

	int error;                      /* 0 while usable, else why not */
	unsigned busy;                  /* our frames that may run user callbacks */
	bool close_requested;
	bool final_is_synthetic;        /* the final being delivered did not come from brigd */
};

/* ---- time and blocking I/O for the handshake ---- */

static int64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for events on fd until deadline.  POLLERR/POLLHUP count as ready:
 * the read or write that follows reports what happened. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		int64_t left = deadline - monotonic_ms();
		int n;

		if (left <= 0)
			return -BRIG_ETIMEDOUT;
		n = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

static int write_all(int fd, const char *buf, size_t len, int64_t deadline)
{
	while (len > 0) {
		/* MSG_NOSIGNAL: a library must not kill its host with SIGPIPE. */
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		int r;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			r = wait_fd(fd, POLLOUT, deadline);
			if (r < 0)
				return r;
			continue;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_exact(int fd, void *buf, size_t len, int64_t deadline)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = recv(fd, p, len, 0);
		int r;

		if (n == 0)
			return -BRIG_ECLOSED;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			r = wait_fd(fd, POLLIN, deadline);
			if (r < 0)
				return r;
			continue;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads exactly one frame, so that nothing after it is taken off the socket
 * before the peer owns it.  *body is malloc'ed. */
static int read_frame(int fd, size_t max_frame, int64_t deadline, uint8_t **body, size_t *len)
{
	uint8_t header[FRAME_HEADER_SIZE];
	uint32_t body_len;
	uint8_t *buf;
	int r;

	r = read_exact(fd, header, sizeof(header), deadline);
	if (r < 0)
		return r;
	if (frame_parse_header(header, max_frame, &body_len) < 0)
		return -BRIG_EPROTO;
	buf = malloc(body_len);
	if (!buf)
		return -ENOMEM;
	r = read_exact(fd, buf, body_len, deadline);
	if (r < 0) {
		free(buf);
		return r;
	}
	*body = buf;
	*len = body_len;
	return 0;
}

static int connect_unix(const char *path, int64_t deadline, int *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t path_len = strlen(path);
	int fd, r;

	if (path_len == 0)
		return -EINVAL;
	if (path_len >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, path_len + 1);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	for (;;) {
		int64_t left;
		int so_error = 0;
		socklen_t so_len = sizeof(so_error);

		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		if (errno == EAGAIN) {
			/* A Unix socket says EAGAIN when the listen backlog is
			 * full; unlike EINPROGRESS there is nothing to poll for,
			 * so try again shortly until the deadline. */
			left = deadline - monotonic_ms();
			if (left <= 0) {
				r = -BRIG_ETIMEDOUT;
				goto fail;
			}
			poll(NULL, 0, left < 10 ? (int)left : 10);
			continue;
		}
		if (errno != EINPROGRESS && errno != EINTR) {
			r = -errno;
			goto fail;
		}
		r = wait_fd(fd, POLLOUT, deadline);
		if (r < 0)
			goto fail;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &so_len) < 0) {
			r = -errno;
			goto fail;
		}
		if (so_error != 0) {
			r = -so_error;
			goto fail;
		}
		break;
	}
	*out = fd;
	return 0;
fail:
	close(fd);
	return r;
}

/* ---- the job table ---- */

static struct job *job_find(const struct brig_client *c, uint32_t id)
{
	struct job *j;

	for (j = c->buckets[id % JOB_BUCKETS]; j; j = j->bucket_next)
		if (j->id == id)
			return j;
	return NULL;
}

static void job_insert(struct brig_client *c, struct job *j)
{
	struct job **bucket = &c->buckets[j->id % JOB_BUCKETS];

	j->bucket_next = *bucket;
	*bucket = j;
	j->prev = c->last;
	j->next = NULL;
	if (c->last)
		c->last->next = j;
	else
		c->first = j;
	c->last = j;
	c->jobs_pending++;
}

/* Taken out before its final callback runs, so that the callback sees the
 * job as ended and may submit, cancel or close freely. */
static void job_remove(struct brig_client *c, struct job *j)
{
	struct job **pp;

	for (pp = &c->buckets[j->id % JOB_BUCKETS]; *pp; pp = &(*pp)->bucket_next) {
		if (*pp == j) {
			*pp = j->bucket_next;
			break;
		}
	}
	if (j->prev)
		j->prev->next = j->next;
	else
		c->first = j->next;
	if (j->next)
		j->next->prev = j->prev;
	else
		c->last = j->prev;
	c->jobs_pending--;
}

static uint32_t job_next_id(struct brig_client *c)
{
	uint32_t id = c->last_id;

	/* Terminates: far fewer than 2^32 - 1 jobs can be in flight. */
	do {
		id++;
		if (id == 0)
			id = 1;
	} while (job_find(c, id));
	c->last_id = id;
	return id;
}

static void job_deliver_final(struct brig_client *c, struct job *j, const struct brig_status *st,
			      bool synthetic)
{
	job_remove(c, j);
	c->final_is_synthetic = synthetic;
	if (j->on_final)
		j->on_final(j->arg, j->id, st);
	c->final_is_synthetic = false;
	free(j);
}

/* Ends every pending job, oldest first.  Callbacks cannot add jobs (the
 * connection is already marked unusable), so the loop terminates. */
static void jobs_fail_all(struct brig_client *c, int outcome, const char *message)
{
	struct brig_status st = { .outcome = outcome, .message = message };

	while (c->first)
		job_deliver_final(c, c->first, &st, true);
}

/* ---- sending ---- */

static int client_send(struct brig_client *c, const char *frames, size_t len)
{
	/* Behind anything still unsent, to keep the order of frames. */
	if (c->peer && c->unsent.size == 0)
		return peer_send(c->peer, frames, len);
	if (msgpack_sbuffer_write(&c->unsent, frames, len) < 0)
		return -ENOMEM;
	return 0;
}

/* The same for a frame whose first byte carries fd (the caller keeps fd). */
static int client_send_fd(struct brig_client *c, const char *frames, size_t len, int fd)
{
	int copy;

	if (c->peer && c->unsent.size == 0)
		return peer_send_fd(c->peer, frames, len, fd);
	if (c->unsent_fd_count == UNSENT_FDS_MAX)
		return -BRIG_EBUSY;
	copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (copy < 0)
		return -errno;
	c->unsent_fds[c->unsent_fd_count].offset = c->unsent.size;
	if (msgpack_sbuffer_write(&c->unsent, frames, len) < 0) {
		close(copy);
		return -ENOMEM;
	}
	c->unsent_fds[c->unsent_fd_count++].fd = copy;
	return 0;
}

static void unsent_fds_close(struct brig_client *c)
{
	for (size_t i = 0; i < c->unsent_fd_count; i++)
		close(c->unsent_fds[i].fd);
	c->unsent_fd_count = 0;
}

/* ---- tearing down ---- */

static void client_destroy(struct brig_client *c)
{
	struct job *j, *next;

	peer_free(c->peer);
	if (c->fd >= 0)
		close(c->fd);
	/* Normally empty: every path here failed the jobs first.  Walked with
	 * a saved next pointer rather than job_remove(), which leaves the
	 * static analyzer unsure that c->first moved on. */
	for (j = c->first; j; j = next) {
		next = j->next;
		free(j);
	}
	c->first = c->last = NULL;
	if (c->own_base)
		event_base_free(c->own_base);
	strlist_free(&c->handlers);
	strlist_free(&c->profiles);
	msgpack_sbuffer_destroy(&c->unsent);
	unsent_fds_close(c);
	free(c);
}

/*
 * The connection cannot go on: drop the socket, end every job with
 * BROKER_ERROR, then tell an attached owner.  Called only from the peer's
 * callbacks (which may free the peer) with busy held.
 */
static void client_fail(struct brig_client *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void client_fail(struct brig_client *c, int err, const char *fmt, ...)
{
	char why[BRIG_MESSAGE_MAX + 512];
	int n;
	va_list ap;

	if (c->error)
		return;
	c->error = err;
	peer_free(c->peer);
	c->peer = NULL;

	n = snprintf(why, sizeof(why), "connection to brigd lost: ");
	va_start(ap, fmt);
	vsnprintf(why + n, sizeof(why) - (size_t)n, fmt, ap);
	va_end(ap);
	jobs_fail_all(c, BRIG_BROKER_ERROR, why);

	if (c->attached && c->on_closed && !c->close_requested)
		c->on_closed(c->closed_arg, err);
}

/* ---- receiving ---- */

static int error_code_to_errc(uint32_t code)
{
	switch (code) {
	case BRIG_ERROR_VERSION:
		return -BRIG_EVERSION;
	case BRIG_ERROR_BUSY:
	case BRIG_ERROR_SHUTTING_DOWN:
		return -BRIG_EBUSY;
	default:
		return -BRIG_EREFUSED;
	}
}

/* Each handler returns 0, or a negative error that ends the connection
 * with *why saying what went wrong. */
static int handle_item(struct brig_client *c, struct msg_in *in, char *why, size_t why_size)
{
	struct msg_item m;
	struct job *j;

	if (msg_decode_item(in, &m) < 0) {
		snprintf(why, why_size, "malformed ITEM: %s", in->error);
		return -BRIG_EPROTO;
	}
	j = job_find(c, m.job_id);
	if (!j) {
		/* Only FINAL or ERROR ends a job here, and brigd sends
		 * nothing for a job after either. */
		snprintf(why, why_size, "ITEM for job %" PRIu32 " which is not in flight", m.job_id);
		return -BRIG_EPROTO;
	}
	if (j->exec) {
		snprintf(why, why_size, "ITEM for job %" PRIu32 ", which runs a program", m.job_id);
		return -BRIG_EPROTO;
	}
	if (j->on_item)
		j->on_item(j->arg, m.job_id, m.seq, m.item);
	/* j may be gone now (the callback may have closed the connection). */
	return 0;
}

static int handle_output(struct brig_client *c, struct msg_in *in, char *why, size_t why_size)
{
	struct msg_output m;
	struct job *j;

	/* The peer already bounds the frame; the chunk cannot exceed it. */
	if (msg_decode_output(in, BRIG_FRAME_MAX_CEILING, &m) < 0) {
		snprintf(why, why_size, "malformed OUTPUT: %s", in->error);
		return -BRIG_EPROTO;
	}
	j = job_find(c, m.job_id);
	if (!j) {
		snprintf(why, why_size, "OUTPUT for job %" PRIu32 " which is not in flight",
			 m.job_id);
		return -BRIG_EPROTO;
	}
	if (!j->exec) {
		snprintf(why, why_size, "OUTPUT for job %" PRIu32 ", which runs a handler", m.job_id);
		return -BRIG_EPROTO;
	}
	if (j->on_output)
		j->on_output(j->arg, m.job_id, m.seq, (int)m.stream, m.data, m.len);
	/* j may be gone now, as after an item. */
	return 0;
}

static int handle_final(struct brig_client *c, struct msg_in *in, char *why, size_t why_size)
{
	struct msg_final m;
	struct brig_status st;
	struct job *j;

	if (msg_decode_final(in, &m) < 0) {
		snprintf(why, why_size, "malformed FINAL: %s", in->error);
		return -BRIG_EPROTO;
	}
	/* A new outcome would come with a new protocol version; do not let
	 * one pass as BRIG_REJECTED or anything else it is not. */
	if (m.outcome > BRIG_OUTCOME__MAX) {
		snprintf(why, why_size, "FINAL with unknown outcome %" PRIu32, m.outcome);
		return -BRIG_EPROTO;
	}
	j = job_find(c, m.job_id);
	if (!j) {
		snprintf(why, why_size, "FINAL for job %" PRIu32 " which is not in flight", m.job_id);
		return -BRIG_EPROTO;
	}
	st = (struct brig_status){
		.outcome = (int)m.outcome,
		.code = m.code,
		.message = m.message,
		.wall_us = m.usage.wall_us,
		.cpu_us = m.usage.cpu_us,
		.maxrss_kib = m.usage.maxrss_kib,
	};
	job_deliver_final(c, j, &st, false);
	return 0;
}

static int handle_error(struct brig_client *c, struct msg_in *in, char *why, size_t why_size)
{
	struct msg_error m;
	struct brig_status st;
	struct job *j;

	if (msg_decode_error(in, &m) < 0) {
		snprintf(why, why_size, "malformed ERROR: %s", in->error);
		return -BRIG_EPROTO;
	}
	if (!m.has_job) {
		/* About the connection itself; brigd may close it next, and
		 * whatever caused it leaves our state in doubt: stop here. */
		snprintf(why, why_size, "brigd reported an error: %s", m.message);
		return error_code_to_errc(m.code);
	}
	j = job_find(c, m.job_id);
	if (!j) {
		/* A CANCEL that crossed the job's FINAL (or its rejection)
		 * on the wire: the job has already ended here. */
		return 0;
	}
	/* A rejected job gets no FINAL from brigd: this is its end. */
	st = (struct brig_status){
		.outcome = BRIG_REJECTED,
		.error_code = m.code,
		.message = m.message,
	};
	job_deliver_final(c, j, &st, false);
	return 0;
}

static int client_on_frame(struct peer *p, const uint8_t *body, size_t len, void *arg)
{
	struct brig_client *c = arg;
	char why[BRIG_MESSAGE_MAX + 256] = "";
	struct msg_in in;
	int type, r;

	(void)p;
	c->busy++;
	type = msg_open(&in, body, len);
	if (type < 0) {
		snprintf(why, sizeof(why), "malformed frame: %s", in.error);
		r = type == -ENOMEM ? -ENOMEM : -BRIG_EPROTO;
	} else {
		switch (type) {
		case MSG_ITEM:
			r = handle_item(c, &in, why, sizeof(why));
			break;
		case MSG_OUTPUT:
			r = handle_output(c, &in, why, sizeof(why));
			break;
		case MSG_FINAL:
			r = handle_final(c, &in, why, sizeof(why));
			break;
		case MSG_ERROR:
			r = handle_error(c, &in, why, sizeof(why));
			break;
		default:
			snprintf(why, sizeof(why), "unexpected %s message", msg_type_name(type));
			r = -BRIG_EPROTO;
			break;
		}
	}
	msg_close(&in);
	if (r < 0)
		client_fail(c, r, "%s", why);
	c->busy--;

	r = c->peer ? 0 : -1;   /* the peer is freed once the connection is done */
	if (c->close_requested && c->busy == 0)
		client_destroy(c);
	return r;
}

static void client_on_close(struct peer *p, int err, void *arg)
{
	struct brig_client *c = arg;

	(void)p;
	c->busy++;
	switch (err) {
	case 0:
		client_fail(c, -BRIG_ECLOSED, "brigd closed the connection");
		break;
	case -EMSGSIZE:
		client_fail(c, -BRIG_EPROTO, "brigd sent a frame longer than %u bytes",
			    BRIG_FRAME_MAX_CEILING);
		break;
	case -EBADMSG:
		client_fail(c, -BRIG_EPROTO, "brigd sent an empty frame");
		break;
	case -ECONNRESET:
	case -EPIPE:
		client_fail(c, -BRIG_ECLOSED, "%s", brig_strerror(err));
		break;
	default:
		client_fail(c, err < 0 ? err : -EIO, "%s", brig_strerror(err < 0 ? err : -EIO));
		break;
	}
	c->busy--;
	if (c->close_requested && c->busy == 0)
		client_destroy(c);
}

/* Give the socket to a peer on base. */
static int client_start_peer(struct brig_client *c, struct event_base *base)
{
	c->peer = peer_new(base, c->fd, BRIG_FRAME_MAX_CEILING, client_on_frame, client_on_close, c);
	if (!c->peer)
		return -ENOMEM;
	c->fd = -1;
	c->base = base;
	return 0;
}

/*
 * Hand what was submitted before the peer existed to it, each passed
 * descriptor with the first byte of its frame.  Without descriptors a
 * failure loses nothing (the frames stay in unsent for the next try); the
 * peer only fails to queue when out of memory or closed, and then the
 * connection is lost anyway.
 */
static int client_flush_unsent(struct brig_client *c)
{
	size_t pos = 0;
	int r;

	if (c->unsent.size == 0)
		return 0;
	for (size_t i = 0; i <= c->unsent_fd_count; i++) {
		size_t end = i < c->unsent_fd_count ? c->unsent_fds[i].offset : c->unsent.size;

		if (end > pos) {
			/* before the first descriptor, or the frames of descriptor i - 1 */
			if (i == 0)
				r = peer_send(c->peer, c->unsent.data + pos, end - pos);
			else
				r = peer_send_fd(c->peer, c->unsent.data + pos, end - pos,
						 c->unsent_fds[i - 1].fd);
			if (r < 0)
				return r;
		}
		pos = end;
	}
	unsent_fds_close(c);
	msgpack_sbuffer_destroy(&c->unsent);
	msgpack_sbuffer_init(&c->unsent);
	return 0;
}

/* ---- connecting ---- */

static int handshake(struct brig_client *c, const char *client_name, int64_t deadline)
{
	struct msg_hello hello = { .version = BRIG_PROTOCOL_VERSION };
	struct msg_welcome welcome;
	struct msg_error error;
	struct msg_in in;
	msgpack_sbuffer sb;
	uint8_t *body = NULL;
	size_t len = 0;
	int r, wr, type;

	memcpy(hello.client, client_name, strlen(client_name) + 1);
	msgpack_sbuffer_init(&sb);
	r = msg_pack_hello(&sb, &hello);
	if (r < 0) {
		msgpack_sbuffer_destroy(&sb);
		return r;
	}
	wr = write_all(c->fd, sb.data, sb.size, deadline);
	msgpack_sbuffer_destroy(&sb);
	/* A server that refuses us at once (too many connections) may have
	 * closed before our HELLO went out; its ERROR is still waiting to be
	 * read and says more than EPIPE would. */
	if (wr < 0 && wr != -EPIPE && wr != -ECONNRESET)
		return wr;

	r = read_frame(c->fd, HANDSHAKE_FRAME_MAX, deadline, &body, &len);
	if (r < 0)
		return wr < 0 ? -BRIG_ECLOSED : r;

	type = msg_open(&in, body, len);
	switch (type) {
	case MSG_WELCOME:
		memset(&welcome, 0, sizeof(welcome));
		r = msg_decode_welcome(&in, &welcome);
		if (r < 0) {
			r = r == -ENOMEM ? -ENOMEM : -BRIG_EPROTO;
			break;      /* the decoder freed what it had */
		}
		if (welcome.version != BRIG_PROTOCOL_VERSION)
			r = -BRIG_EVERSION;
		else if (welcome.max_frame == 0 || welcome.max_frame > BRIG_FRAME_MAX_CEILING)
			r = -BRIG_EPROTO;
		if (r < 0) {
			strlist_free(&welcome.handlers);
			strlist_free(&welcome.profiles);
			break;
		}
		c->max_frame = welcome.max_frame;
		c->max_input = welcome.max_input;
		c->max_jobs = welcome.max_jobs;
		c->handlers = welcome.handlers;
		c->profiles = welcome.profiles;
		break;
	case MSG_ERROR:
		r = msg_decode_error(&in, &error) < 0 ? -BRIG_EPROTO : error_code_to_errc(error.code);
		break;
	default:
		/* Not a frame, or not a frame that may open a connection. */
		r = type == -ENOMEM ? -ENOMEM : -BRIG_EPROTO;
		break;
	}
	msg_close(&in);
	free(body);
	return r;
}

int brig_connect(const char *socket_path, const char *client_name, struct brig_client **out)
{
	int64_t deadline = monotonic_ms() + HANDSHAKE_TIMEOUT_MS;
	struct brig_client *c;
	int r;

	if (!out)
		return -EINVAL;
	if (!client_name || !*client_name)
		client_name = CLIENT_NAME_DEFAULT;
	if (strlen(client_name) > BRIG_NAME_MAX)
		return -EINVAL;
	if (!socket_path) {
		/* secure_getenv: a set-uid program that uses libbrig must not
		 * be pointed at a socket of its caller's choosing. */
		socket_path = secure_getenv("BRIG_SOCKET");
		if (!socket_path || !*socket_path)
			socket_path = BRIG_DEFAULT_SOCKET;
	}

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fd = -1;
	msgpack_sbuffer_init(&c->unsent);

	r = connect_unix(socket_path, deadline, &c->fd);
	if (r < 0)
		goto fail;
	r = handshake(c, client_name, deadline);
	if (r < 0)
		goto fail;
	*out = c;
	return 0;
fail:
	client_destroy(c);
	return r;
}

void brig_close(struct brig_client *c)
{
	if (!c || c->close_requested)
		return;
	c->close_requested = true;
	c->busy++;
	if (!c->error)
		c->error = -BRIG_ECLOSED;
	/* Safe from inside one of the peer's callbacks too: client_on_frame
	 * then tells the peer that it is gone. */
	peer_free(c->peer);
	c->peer = NULL;
	/* Disconnecting is what kills the jobs server-side; each still gets
	 * the one final callback the API promises. */
	jobs_fail_all(c, BRIG_CANCELLED, "connection closed by the client");
	c->busy--;
	if (c->busy == 0)
		client_destroy(c);
}

/* ---- what the server announced ---- */

uint32_t brig_server_max_input(const struct brig_client *c)
{
	return c ? c->max_input : 0;
}

size_t brig_server_handler_count(const struct brig_client *c)
{
	return c ? c->handlers.count : 0;
}

const char *brig_server_handler(const struct brig_client *c, size_t i)
{
	return c && i < c->handlers.count ? c->handlers.names[i] : NULL;
}

size_t brig_server_profile_count(const struct brig_client *c)
{
	return c ? c->profiles.count : 0;
}

const char *brig_server_profile(const struct brig_client *c, size_t i)
{
	return c && i < c->profiles.count ? c->profiles.names[i] : NULL;
}

/* ---- jobs ---- */

static int copy_name(char *dst, size_t size, const char *name)
{
	size_t len = name ? strlen(name) : 0;

	if (len >= size)
		return -EINVAL;
	if (len)
		memcpy(dst, name, len);
	dst[len] = '\0';
	return 0;
}

/*
 * A list of strings for the wire: at most max_count entries, each a
 * string of at most max_len bytes.  need_equals: each must read
 * "NAME=..." with a non-empty NAME (env, descriptors).
 */
static int check_strings(const char *const *v, size_t count, size_t max_count, size_t max_len,
			 bool need_equals)
{
	size_t i, len;
	const char *eq;

	if (count > max_count || (count > 0 && !v))
		return -EINVAL;
	for (i = 0; i < count; i++) {
		if (!v[i])
			return -EINVAL;
		len = strnlen(v[i], max_len + 1);
		if (len > max_len)
			return -EINVAL;
		eq = need_equals ? memchr(v[i], '=', len) : NULL;
		if (need_equals && (!eq || eq == v[i]))
			return -EINVAL;
	}
	return 0;
}

/*
 * Send one packed job frame (sb) and start tracking the job.  The checks
 * that can fail come before anything is sent, so that a refused job
 * leaves no trace.
 */
static int job_start(struct brig_client *c, msgpack_sbuffer *sb, uint32_t id, bool exec,
		     int pass_fd, brig_item_fn on_item, brig_output_fn on_output,
		     brig_final_fn on_final, void *arg, uint32_t *job_id)
{
	struct job *j;
	int r;

	if (sb->size - FRAME_HEADER_SIZE > c->max_frame)
		return -BRIG_ETOOBIG;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	if (pass_fd >= 0)
		r = client_send_fd(c, sb->data, sb->size, pass_fd);
	else
		r = client_send(c, sb->data, sb->size);
	if (r < 0) {
		free(j);
		return r;
	}
	j->id = id;
	j->exec = exec;
	j->on_item = on_item;
	j->on_output = on_output;
	j->on_final = on_final;
	j->arg = arg;
	job_insert(c, j);
	if (job_id)
		*job_id = id;
	return 0;
}

/* A handler job with the input as bytes (input_fd -1) or as a descriptor. */
static int submit_call(struct brig_client *c, const struct brig_job *job, int input_fd,
		       brig_item_fn on_item, brig_final_fn on_final, void *arg, uint32_t *job_id)
{
	struct msg_submit m = { 0 };
	msgpack_sbuffer sb;
	int r;

	if (!c || !job || !job->handler || !*job->handler || (!job->input && job->input_len))
		return -EINVAL;
	if (input_fd >= 0 && (job->input || job->input_len))
		return -EINVAL;
	if (c->error)
		return -BRIG_ECLOSED;
	if (copy_name(m.handler, sizeof(m.handler), job->handler) < 0 ||
	    copy_name(m.profile, sizeof(m.profile), job->profile) < 0 ||
	    check_strings(job->descriptors, job->descriptor_count, BRIG_DESCRIPTORS_MAX,
			  BRIG_DESCRIPTOR_LEN, true) < 0)
		return -EINVAL;
	/* Refused here rather than by brigd: it would cost a round trip and
	 * sending up to max_frame bytes only to hear "too large". */
	if (job->input_len > c->max_input)
		return -BRIG_ETOOBIG;
	if (c->max_jobs && c->jobs_pending >= c->max_jobs)
		return -BRIG_EBUSY;

	m.job_id = job_next_id(c);
	m.input_fd = input_fd >= 0;
	m.input = job->input;
	m.input_len = job->input_len;
	m.timeout_ms = job->timeout_ms;
	m.descriptors.v = job->descriptors;
	m.descriptors.count = job->descriptor_count;

	msgpack_sbuffer_init(&sb);
	r = msg_pack_submit(&sb, &m);
	if (r == 0)
		r = job_start(c, &sb, m.job_id, false, input_fd, on_item, NULL, on_final, arg,
			      job_id);
	msgpack_sbuffer_destroy(&sb);
	return r;
}

int brig_submit(struct brig_client *c, const struct brig_job *job, brig_item_fn on_item,
		brig_final_fn on_final, void *arg, uint32_t *job_id)
{
	return submit_call(c, job, -1, on_item, on_final, arg, job_id);
}

int brig_submit_fd(struct brig_client *c, const struct brig_job *job, int input_fd,
		   brig_item_fn on_item, brig_final_fn on_final, void *arg, uint32_t *job_id)
{
	if (input_fd < 0)
		return -EBADF;
	return submit_call(c, job, input_fd, on_item, on_final, arg, job_id);
}

/* An exec job with stdin as bytes (stdin_fd -1) or as a descriptor. */
static int submit_exec(struct brig_client *c, const struct brig_exec_job *job, int stdin_fd,
		       brig_output_fn on_output, brig_final_fn on_final, void *arg,
		       uint32_t *job_id)
{
	struct msg_exec m = { 0 };
	msgpack_sbuffer sb;
	int r;

	if (!c || !job || !job->argv || job->argc == 0 || !job->argv[0] || !*job->argv[0] ||
	    (!job->stdin_data && job->stdin_len))
		return -EINVAL;
	if (stdin_fd >= 0 && (job->stdin_data || job->stdin_len))
		return -EINVAL;
	if (c->error)
		return -BRIG_ECLOSED;
	/* The same limits brigd's decoder applies, so that a mistake is an
	 * -EINVAL here and not an ERROR that costs a round trip. */
	if (copy_name(m.profile, sizeof(m.profile), job->profile) < 0 ||
	    copy_name(m.cwd, sizeof(m.cwd), job->cwd) < 0 ||
	    check_strings(job->argv, job->argc, BRIG_ARGV_MAX, BRIG_ARG_LEN, false) < 0 ||
	    check_strings(job->env, job->envc, BRIG_ARGV_MAX, BRIG_ARG_LEN, true) < 0 ||
	    check_strings(job->descriptors, job->descriptor_count, BRIG_DESCRIPTORS_MAX,
			  BRIG_DESCRIPTOR_LEN, true) < 0)
		return -EINVAL;
	if (job->stdin_len > c->max_input)
		return -BRIG_ETOOBIG;
	if (c->max_jobs && c->jobs_pending >= c->max_jobs)
		return -BRIG_EBUSY;

	m.job_id = job_next_id(c);
	m.argv.v = job->argv;
	m.argv.count = job->argc;
	m.env.v = job->env;
	m.env.count = job->envc;
	m.stdin_fd = stdin_fd >= 0;
	m.stdin_data = job->stdin_data;
	m.stdin_len = job->stdin_len;
	m.timeout_ms = job->timeout_ms;
	m.descriptors.v = job->descriptors;
	m.descriptors.count = job->descriptor_count;

	msgpack_sbuffer_init(&sb);
	r = msg_pack_exec(&sb, &m);
	if (r == 0)
		r = job_start(c, &sb, m.job_id, true, stdin_fd, NULL, on_output, on_final, arg,
			      job_id);
	msgpack_sbuffer_destroy(&sb);
	return r;
}

int brig_submit_exec(struct brig_client *c, const struct brig_exec_job *job,
		     brig_output_fn on_output, brig_final_fn on_final, void *arg,
		     uint32_t *job_id)
{
	return submit_exec(c, job, -1, on_output, on_final, arg, job_id);
}

int brig_submit_exec_fd(struct brig_client *c, const struct brig_exec_job *job, int stdin_fd,
			brig_output_fn on_output, brig_final_fn on_final, void *arg,
			uint32_t *job_id)
{
	if (stdin_fd < 0)
		return -EBADF;
	return submit_exec(c, job, stdin_fd, on_output, on_final, arg, job_id);
}

int brig_memfd(const char *name, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t left = len;
	int fd, r;

	if (!data && len)
		return -EINVAL;
	fd = memfd_create(name ? name : "brig-input", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (len > 0 && ftruncate(fd, (off_t)len) < 0)
		goto fail;
	while (left > 0) {
		ssize_t n = pwrite(fd, p, left, (off_t)(len - left));

		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			errno = EIO;
		if (n <= 0)
			goto fail;
		p += n;
		left -= (size_t)n;
	}
	/* Sealed: brigd's worker maps it instead of copying it. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		goto fail;
	return fd;
fail:
	r = -errno;
	close(fd);
	return r;
}

int brig_cancel(struct brig_client *c, uint32_t job_id)
{
	struct msg_cancel m = { .job_id = job_id };
	msgpack_sbuffer sb;
	struct job *j;
	int r;

	if (!c)
		return -EINVAL;
	if (c->error)
		return -BRIG_ECLOSED;
	j = job_find(c, job_id);
	if (!j)
		return -ENOENT;
	if (j->cancel_sent)
		return 0;
	msgpack_sbuffer_init(&sb);
	r = msg_pack_cancel(&sb, &m);
	if (r >= 0)
		r = client_send(c, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	if (r < 0)
		return r;
	j->cancel_sent = true;
	return 0;
}

size_t brig_jobs_pending(const struct brig_client *c)
{
	return c ? c->jobs_pending : 0;
}

/* ---- blocking mode ---- */

/*
 * libevent writes with writev(), which raises SIGPIPE when brigd has gone
 * away.  Like libcurl, block it while our loop runs and swallow one that we
 * caused, unless the process had one pending or blocked already.
 */
struct sigpipe_guard {
	sigset_t old_mask;
	bool active;
};

static void sigpipe_block(struct sigpipe_guard *g)
{
	sigset_t pipe_set, pending;

	g->active = false;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	if (pthread_sigmask(SIG_BLOCK, &pipe_set, &g->old_mask) != 0)
		return;
	if (sigismember(&g->old_mask, SIGPIPE) ||
	    (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE))) {
		pthread_sigmask(SIG_SETMASK, &g->old_mask, NULL);
		return;
	}
	g->active = true;
}

static void sigpipe_restore(struct sigpipe_guard *g)
{
	sigset_t pipe_set;
	struct timespec zero = { 0, 0 };
	int saved = errno;

	if (!g->active)
		return;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	while (sigtimedwait(&pipe_set, NULL, &zero) == SIGPIPE)
		;
	pthread_sigmask(SIG_SETMASK, &g->old_mask, NULL);
	errno = saved;
}

/*
 * brig_wait without its last step: c is still valid when this returns, even
 * if a callback called brig_close (c->close_requested; the caller decides).
 */
static int wait_loop(struct brig_client *c, uint32_t job_id)
{
	struct sigpipe_guard guard;
	int r;

	if (!c)
		return -EINVAL;
	if (c->attached)
		return -BRIG_EATTACHED;
	/* From inside one of our callbacks: libevent cannot run a base's
	 * loop inside itself. */
	if (c->busy)
		return -EDEADLK;
	if (c->error)
		return c->error;
	if (!c->peer) {
		if (!c->own_base) {
			c->own_base = event_base_new();
			if (!c->own_base)
				return -ENOMEM;
		}
		r = client_start_peer(c, c->own_base);
		if (r < 0)
			return r;
	}
	r = client_flush_unsent(c);
	if (r < 0)
		return r;

	sigpipe_block(&guard);
	c->busy++;
	for (;;) {
		if (c->error) {
			r = c->error;
			break;
		}
		if (job_id ? !job_find(c, job_id) : c->jobs_pending == 0) {
			r = 0;
			break;
		}
		if (event_base_loop(c->own_base, EVLOOP_ONCE) < 0) {
			r = -EIO;
			break;
		}
	}
	c->busy--;
	sigpipe_restore(&guard);
	return r;
}

int brig_wait(struct brig_client *c, uint32_t job_id)
{
	int r = wait_loop(c, job_id);

	if (c && c->close_requested && c->busy == 0) {
		/* A callback called brig_close. */
		client_destroy(c);
		return -BRIG_ECLOSED;
	}
	return r;
}

/* ---- event mode ---- */

int brig_attach(struct brig_client *c, struct event_base *base,
		void (*on_closed)(void *arg, int err), void *arg)
{
	int fd, r;

	if (!c || !base)
		return -EINVAL;
	if (c->error)
		return -BRIG_ECLOSED;
	if (c->busy)
		return -EBUSY;
	if (c->peer && c->base != base) {
		/*
		 * Moving from our own base after brig_wait: a new peer would
		 * lose whatever the old one has buffered, so only move while
		 * nothing can be in transit.
		 */
		if (c->jobs_pending || peer_output_pending(c->peer))
			return -EBUSY;
		fd = fcntl(peer_fd(c->peer), F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			return -errno;
		peer_free(c->peer);
		c->peer = NULL;
		c->fd = fd;
	}
	if (!c->peer) {
		r = client_start_peer(c, base);
		if (r < 0)
			return r;
	}
	r = client_flush_unsent(c);
	if (r < 0)
		return r;
	if (c->own_base && c->own_base != base) {
		event_base_free(c->own_base);
		c->own_base = NULL;
	}
	c->attached = true;
	c->on_closed = on_closed;
	c->closed_arg = arg;
	return 0;
}

/* ---- one blocking call ---- */

struct call_state {
	struct brig_client *c;
	brig_item_fn on_item;
	brig_output_fn on_output;
	void *arg;
	struct brig_status status;
	char *message_buf;
	size_t message_size;
	bool done;
	bool synthetic;
};

static void call_on_item(void *arg, uint32_t job_id, uint32_t seq, const msgpack_object *item)
{
	struct call_state *s = arg;

	if (s->on_item)
		s->on_item(s->arg, job_id, seq, item);
}

static void call_on_output(void *arg, uint32_t job_id, uint32_t seq, int stream,
			   const void *data, size_t len)
{
	struct call_state *s = arg;

	if (s->on_output)
		s->on_output(s->arg, job_id, seq, stream, data, len);
}

static void call_on_final(void *arg, uint32_t job_id, const struct brig_status *status)
{
	struct call_state *s = arg;

	(void)job_id;
	s->done = true;
	s->synthetic = s->c->final_is_synthetic;
	s->status = *status;
	s->status.message = NULL;
	if (s->message_buf) {
		snprintf(s->message_buf, s->message_size, "%s", status->message ? status->message : "");
		s->status.message = s->message_buf;
	}
}

/* Submit one job on a fresh connection (call or exec), wait for it, close. */
static int call_run(const char *socket_path, const struct brig_job *job,
		    const struct brig_exec_job *exec_job, int input_fd, struct call_state *s,
		    struct brig_status *status)
{
	int r;

	r = brig_connect(socket_path, NULL, &s->c);
	if (r < 0)
		return r;
	if (job)
		r = submit_call(s->c, job, input_fd, call_on_item, call_on_final, s, NULL);
	else
		r = submit_exec(s->c, exec_job, input_fd, call_on_output, call_on_final, s, NULL);
	if (r < 0)
		goto out;
	/* wait_loop, not brig_wait: no callback here can reach s->c to close it,
	 * so s->c is still ours to close below (and the analyzer can tell). */
	r = wait_loop(s->c, 0);
	/* The job's FINAL arrived even if the connection closed right after. */
	if (s->done && !s->synthetic)
		r = 0;
	if (s->done && status)
		*status = s->status;
out:
	brig_close(s->c);
	return r;
}

int brig_call(const char *socket_path, const struct brig_job *job, brig_item_fn on_item,
	      void *arg, struct brig_status *status, char *message_buf, size_t message_size)
{
	struct call_state s = {
		.on_item = on_item,
		.arg = arg,
		.message_buf = message_size ? message_buf : NULL,
		.message_size = message_size,
	};

	if (!job)
		return -EINVAL;
	return call_run(socket_path, job, NULL, -1, &s, status);
}

int brig_call_fd(const char *socket_path, const struct brig_job *job, int input_fd,
		 brig_item_fn on_item, void *arg, struct brig_status *status, char *message_buf,
		 size_t message_size)
{
	struct call_state s = {
		.on_item = on_item,
		.arg = arg,
		.message_buf = message_size ? message_buf : NULL,
		.message_size = message_size,
	};

	if (!job)
		return -EINVAL;
	if (input_fd < 0)
		return -EBADF;
	return call_run(socket_path, job, NULL, input_fd, &s, status);
}

int brig_exec(const char *socket_path, const struct brig_exec_job *job, brig_output_fn on_output,
	      void *arg, struct brig_status *status, char *message_buf, size_t message_size)
{
	struct call_state s = {
		.on_output = on_output,
		.arg = arg,
		.message_buf = message_size ? message_buf : NULL,
		.message_size = message_size,
	};

	/* Checked before connecting: an empty argv is the caller's bug. */
	if (!job || !job->argv || job->argc == 0)
		return -EINVAL;
	return call_run(socket_path, NULL, job, -1, &s, status);
}

int brig_exec_fd(const char *socket_path, const struct brig_exec_job *job, int stdin_fd,
		 brig_output_fn on_output, void *arg, struct brig_status *status,
		 char *message_buf, size_t message_size)
{
	struct call_state s = {
		.on_output = on_output,
		.arg = arg,
		.message_buf = message_size ? message_buf : NULL,
		.message_size = message_size,
	};

	if (!job || !job->argv || job->argc == 0)
		return -EINVAL;
	if (stdin_fd < 0)
		return -EBADF;
	return call_run(socket_path, NULL, job, stdin_fd, &s, status);
}

/* ---- strings ---- */

const char *brig_strerror(int err)
{
	static _Thread_local char buf[128];
	int num = err < 0 ? -err : err;

	switch (num) {
	case 0:
		return "success";
	case BRIG_EPROTO:
		return "malformed message from brigd";
	case BRIG_EVERSION:
		return "protocol version mismatch with brigd";
	case BRIG_EREFUSED:
		return "request refused by brigd";
	case BRIG_EBUSY:
		return "brigd is busy";
	case BRIG_ETOOBIG:
		return "input or request larger than brigd accepts";
	case BRIG_ECLOSED:
		return "connection to brigd closed";
	case BRIG_EATTACHED:
		return "connection is attached to an event loop";
	case BRIG_ETIMEDOUT:
		return "timed out talking to brigd";
	default:
		break;
	}
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
	return strerror_r(num, buf, sizeof(buf));     /* GNU: may return a static string */
#else
	if (strerror_r(num, buf, sizeof(buf)) != 0)
		snprintf(buf, sizeof(buf), "unknown error %d", num);
	return buf;
#endif
}

const char *brig_outcome_string(int outcome)
{
	static const char *const names[] = {
		[BRIG_OK] = "ok",
		[BRIG_ERROR] = "error",
		[BRIG_CRASHED] = "crashed",
		[BRIG_TIMEOUT] = "timeout",
		[BRIG_CPU_LIMIT] = "cpu_limit",
		[BRIG_MEMORY_LIMIT] = "memory_limit",
		[BRIG_PIDS_LIMIT] = "pids_limit",
		[BRIG_OUTPUT_LIMIT] = "output_limit",
		[BRIG_VIOLATION] = "violation",
		[BRIG_CANCELLED] = "cancelled",
		[BRIG_BROKER_ERROR] = "broker_error",
	};

	if (outcome == BRIG_REJECTED)
		return "rejected";
	if (outcome >= 0 && (size_t)outcome < sizeof(names) / sizeof(names[0]) && names[outcome])
		return names[outcome];
	return "unknown";
}
