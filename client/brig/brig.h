/*
 * libbrig: the C client of the brig sandbox broker.
 *
 * A connection (struct brig_client) carries any number of jobs at once.
 * Each job streams items (one msgpack object each) to its item callback as
 * the handler produces them, then ends with exactly one call of its final
 * callback.  Use it blocking:
 *
 *     struct brig_client *c;
 *     if (brig_connect(NULL, "myservice", &c) < 0) ...
 *     brig_submit(c, &job, on_item, on_final, arg, &id);
 *     brig_wait(c, 0);            // until every job has ended
 *     brig_close(c);
 *
 * or attach it to your libevent loop (brig_attach) and never block, or make
 * one blocking call for one job (brig_call).
 *
 * Errors: functions return 0 (or a positive value where stated) or a
 * negative code: -errno for system errors, or -BRIG_E* below.
 * brig_strerror() turns either into a message.  Not thread-safe: use one
 * connection per thread.
 */
#ifndef BRIG_BRIG_H
#define BRIG_BRIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;
struct brig_client;

#define BRIG_DEFAULT_SOCKET "/run/brig/brig.sock"

/* Library errors, returned negated; disjoint from errno values. */
enum brig_errc {
	BRIG_EPROTO = 10000,      /* the server sent something malformed */
	BRIG_EVERSION,            /* protocol version mismatch */
	BRIG_EREFUSED,            /* the server refused the request (ERROR) */
	BRIG_EBUSY,               /* the server is busy (queue or quota full) */
	BRIG_ETOOBIG,             /* input over the server's limit */
	BRIG_ECLOSED,             /* connection closed */
	BRIG_EATTACHED,           /* brig_wait on an attached connection */
	BRIG_ETIMEDOUT,           /* connect/handshake timeout */
};

/* How a job ended: same numbering as the wire (docs/protocol.md). */
enum brig_job_outcome {
	BRIG_OK = 0,
	BRIG_ERROR = 1,
	BRIG_CRASHED = 2,
	BRIG_TIMEOUT = 3,
	BRIG_CPU_LIMIT = 4,
	BRIG_MEMORY_LIMIT = 5,
	BRIG_PIDS_LIMIT = 6,
	BRIG_OUTPUT_LIMIT = 7,
	BRIG_VIOLATION = 8,
	BRIG_CANCELLED = 9,
	BRIG_BROKER_ERROR = 10,
	/* Not a wire outcome: the server refused the job (an ERROR message
	 * naming it) before it ran; error_code says why. */
	BRIG_REJECTED = 100,
};

struct brig_status {
	int outcome;                /* enum brig_job_outcome */
	int64_t code;               /* signal, syscall or exit code; see docs */
	uint32_t error_code;        /* wire error code when REJECTED */
	const char *message;        /* valid during the callback only */
	uint64_t wall_us;
	uint64_t cpu_us;
	uint64_t maxrss_kib;
};

struct brig_job {
	const char *handler;        /* required */
	const char *profile;        /* NULL or "" = the server's default */
	const void *input;
	size_t input_len;
	uint32_t timeout_ms;        /* 0 = the profile's default */
};

/* item is valid during the callback only. */
typedef void (*brig_item_fn)(void *arg, uint32_t job_id, uint32_t seq,
			     const msgpack_object *item);
typedef void (*brig_final_fn)(void *arg, uint32_t job_id, const struct brig_status *status);

/*
 * Connect to socket_path (NULL: $BRIG_SOCKET, else BRIG_DEFAULT_SOCKET),
 * say hello as client_name and wait for the welcome (blocking, bounded by
 * a 10 s timeout).  *out is owned by the caller (brig_close).
 */
int brig_connect(const char *socket_path, const char *client_name, struct brig_client **out);
/* Kills the connection's unfinished jobs server-side (by disconnecting). */
void brig_close(struct brig_client *c);

/* What the server announced.  Valid until brig_close. */
uint32_t brig_server_max_input(const struct brig_client *c);
size_t brig_server_handler_count(const struct brig_client *c);
const char *brig_server_handler(const struct brig_client *c, size_t i);
size_t brig_server_profile_count(const struct brig_client *c);
const char *brig_server_profile(const struct brig_client *c, size_t i);

/*
 * Submit a job; the input is copied.  *job_id (may be NULL) receives the
 * id that the callbacks will carry.  Callbacks run from brig_wait or from
 * the attached event loop, never from inside brig_submit.
 */
int brig_submit(struct brig_client *c, const struct brig_job *job, brig_item_fn on_item,
		brig_final_fn on_final, void *arg, uint32_t *job_id);
/* Ask the server to cancel; the job still ends with its final callback. */
int brig_cancel(struct brig_client *c, uint32_t job_id);
/* Jobs submitted whose final callback has not run yet. */
size_t brig_jobs_pending(const struct brig_client *c);

/*
 * Blocking mode: run until job_id has ended (0: until every job has), or
 * the connection fails.  Returns 0 or a negative error; on a connection
 * failure every pending job gets a final callback first (BROKER_ERROR).
 */
int brig_wait(struct brig_client *c, uint32_t job_id);

/*
 * Event mode: drive the connection from base from now on.  Callbacks run
 * from base's loop.  on_closed (may be NULL) is called once if the
 * connection fails or the server closes it, after pending jobs got their
 * final callbacks.
 */
int brig_attach(struct brig_client *c, struct event_base *base,
		void (*on_closed)(void *arg, int err), void *arg);

/*
 * One job, blocking: connect, submit, wait, close.  Items go to on_item
 * (may be NULL); *status receives the final status, whose message is
 * copied into message_buf (may be NULL).  Returns 0 when the job ran (see
 * status->outcome for how it ended) or a negative error.
 */
int brig_call(const char *socket_path, const struct brig_job *job, brig_item_fn on_item,
	      void *arg, struct brig_status *status, char *message_buf, size_t message_size);

const char *brig_strerror(int err);
/* "ok", "error", "crashed", "timeout", ... "rejected". */
const char *brig_outcome_string(int outcome);

#ifdef __cplusplus
}
#endif

#endif
