/*
 * libbrig: the C client of the brig sandbox broker.
 *
 * A connection (struct brig_client) carries any number of jobs at once.
 * A handler job (brig_submit) streams items (one msgpack object each) to
 * its item callback as the handler produces them; an exec job
 * (brig_submit_exec) streams the program's stdout and stderr to its output
 * callback in chunks.  Either ends with exactly one call of its final
 * callback.  Use it blocking:
 *
 *     struct brig_client *c;
 *     if (brig_connect(NULL, "myservice", &c) < 0) ...
 *     brig_submit(c, &job, on_item, on_final, arg, &id);
 *     brig_wait(c, 0);            // until every job has ended
 *     brig_close(c);
 *
 * or attach it to your libevent loop (brig_attach) and never block, or make
 * one blocking call for one job (brig_call, brig_exec).
 *
 * Descriptors ("key=value" strings, docs/protocol.md) narrow the sandbox
 * of the profile a job names; they can never widen it.
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
	BRIG_ETOOBIG,             /* input or request over the server's limit */
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

/* Which stream an exec job's output chunk came from. */
enum brig_output_stream {
	BRIG_STDOUT = 1,
	BRIG_STDERR = 2,
};

struct brig_status {
	int outcome;                /* enum brig_job_outcome */
	/*
	 * BRIG_OK: 0 for a handler job, the program's exit status (0..255)
	 * for an exec job.  BRIG_CRASHED: the signal that killed it (0 if
	 * unknown).  BRIG_VIOLATION: the refused syscall's number.
	 */
	int64_t code;
	uint32_t error_code;        /* wire error code when REJECTED */
	const char *message;        /* valid during the callback only */
	uint64_t wall_us;
	uint64_t cpu_us;
	uint64_t maxrss_kib;
};

/* Limits of a request, checked by libbrig before anything is sent. */
#define BRIG_MAX_DESCRIPTORS 64      /* entries */
#define BRIG_MAX_DESCRIPTOR_LEN 512  /* bytes of one "key=value" */
#define BRIG_MAX_ARGS 256            /* argv entries, and env entries */
#define BRIG_MAX_ARG_LEN 4096        /* bytes of one argv or env entry */
#define BRIG_MAX_CWD_LEN 256

struct brig_job {
	const char *handler;        /* required */
	const char *profile;        /* NULL or "" = the server's default */
	const void *input;
	size_t input_len;
	uint32_t timeout_ms;        /* 0 = the profile's default */
	/* "key=value" descriptors that narrow the profile, e.g. "rlimit_as=64M" */
	const char *const *descriptors;
	size_t descriptor_count;
};

/* A program to run in the sandbox; everything is copied by the submit. */
struct brig_exec_job {
	const char *profile;        /* NULL or "" = the server's "exec" profile */
	const char *const *argv;    /* required: argc >= 1, argv[0] the program (not "") */
	size_t argc;
	const char *const *env;     /* "NAME=value" each; the program gets only these */
	size_t envc;
	const char *cwd;            /* NULL or "" = "/" */
	const void *stdin_data;     /* the program's whole standard input */
	size_t stdin_len;
	uint32_t timeout_ms;        /* 0 = the profile's default */
	const char *const *descriptors;
	size_t descriptor_count;
};

/* item is valid during the callback only. */
typedef void (*brig_item_fn)(void *arg, uint32_t job_id, uint32_t seq,
			     const msgpack_object *item);
typedef void (*brig_final_fn)(void *arg, uint32_t job_id, const struct brig_status *status);
/*
 * A chunk of an exec job's output, in the order the program wrote it per
 * stream; stream is enum brig_output_stream.  seq counts up per job.  data
 * is valid during the callback only; len may be 0.
 */
typedef void (*brig_output_fn)(void *arg, uint32_t job_id, uint32_t seq, int stream,
			       const void *data, size_t len);

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
/*
 * Run a program: like brig_submit, with output chunks going to on_output
 * (may be NULL to discard them).  -EINVAL for an empty argv or anything
 * over the BRIG_MAX_* limits, -BRIG_ETOOBIG for stdin over
 * brig_server_max_input or a request over the server's frame size.
 */
int brig_submit_exec(struct brig_client *c, const struct brig_exec_job *job,
		     brig_output_fn on_output, brig_final_fn on_final, void *arg,
		     uint32_t *job_id);
/*
 * Inputs passed as file descriptors instead of bytes (no copy through the
 * socket; docs/protocol.md).  input_fd (stdin_fd) is duplicated for
 * sending: the caller keeps and closes its own.  job->input (stdin_data)
 * must be NULL and its length 0.  brigd accepts a regular file or a memfd
 * open for reading, of at most its profile's max_input_fd bytes (256 MiB by
 * default), and for stdin also a pipe; it refuses directories, sockets,
 * O_PATH descriptors and devices (the job's ERROR says why: final callback
 * with BRIG_REJECTED).  A call job's handler gets the whole file from
 * offset 0; a memfd sealed against shrinking and writing (brig_memfd) is
 * mapped by the worker, anything else read.  An exec job's program gets
 * the descriptor itself as its stdin (a file open for writing must be
 * sealed with F_SEAL_WRITE).  -EBADF for a negative descriptor.
 */
int brig_submit_fd(struct brig_client *c, const struct brig_job *job, int input_fd,
		   brig_item_fn on_item, brig_final_fn on_final, void *arg, uint32_t *job_id);
int brig_submit_exec_fd(struct brig_client *c, const struct brig_exec_job *job, int stdin_fd,
			brig_output_fn on_output, brig_final_fn on_final, void *arg,
			uint32_t *job_id);
/*
 * A memfd holding a copy of data, sealed against shrinking, growing and
 * writing (F_SEAL_SEAL too), close-on-exec: the descriptor to pass for a
 * large input.  Returns the descriptor (the caller's to close) or -errno.
 */
int brig_memfd(const char *name, const void *data, size_t len);
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
/* The same for one exec job: output chunks go to on_output (may be NULL). */
int brig_exec(const char *socket_path, const struct brig_exec_job *job, brig_output_fn on_output,
	      void *arg, struct brig_status *status, char *message_buf, size_t message_size);

/* brig_call and brig_exec with the input (stdin) passed as a descriptor. */
int brig_call_fd(const char *socket_path, const struct brig_job *job, int input_fd,
		 brig_item_fn on_item, void *arg, struct brig_status *status, char *message_buf,
		 size_t message_size);
int brig_exec_fd(const char *socket_path, const struct brig_exec_job *job, int stdin_fd,
		 brig_output_fn on_output, void *arg, struct brig_status *status,
		 char *message_buf, size_t message_size);

const char *brig_strerror(int err);
/* "ok", "error", "crashed", "timeout", ... "rejected". */
const char *brig_outcome_string(int outcome);

#ifdef __cplusplus
}
#endif

#endif
