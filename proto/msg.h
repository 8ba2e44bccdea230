/*
 * The message codec: one struct per message type, one pack and one decode
 * function each.  Field order and types are those of docs/protocol.md.
 *
 * Packing appends one whole frame (header included) to a msgpack_sbuffer.
 * Decoding works on a struct msg_in opened over one frame body: msg_open()
 * checks the bytes structurally (msgpack_check), unpacks them, and checks
 * that the object is an array led by a known type.  Pointers a decoder
 * returns (input bytes, item objects) point into the frame body or into the
 * msg_in's zone and live until msg_close() and until the body is released.
 *
 * Library code: returns 0 or a negative errno, never logs; decoders write a
 * reason naming the message and field into the msg_in's error buffer.
 */
#ifndef BRIG_PROTO_MSG_H
#define BRIG_PROTO_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>

#include "wire.h"

struct strlist {
	char **names;   /* owned; each entry NUL-terminated */
	size_t count;
};
void strlist_free(struct strlist *list);   /* frees contents, not the struct */

/*
 * A list of strings on the wire (descriptors, argv, env).  Packing reads
 * v/count; decoding checks every entry and keeps the array (pointing into
 * the frame) for msg_strv_get.
 */
struct msg_strv {
	const char *const *v;
	size_t count;
	const msgpack_object *array;
};
/* Copy entry i of a decoded list into buf.  0 or -EINVAL/-ENOSPC. */
int msg_strv_get(const struct msg_strv *l, size_t i, char *buf, size_t size);
/*
 * A decoded list as a NULL-terminated char *[] in one malloc'ed block
 * (free() it), for execve and friends.  NULL on ENOMEM.
 */
char **msg_strv_dup(const struct msg_strv *l);

struct msg_usage {
	uint64_t wall_us;
	uint64_t cpu_us;
	uint64_t maxrss_kib;
};

struct msg_hello {
	uint32_t version;
	char client[BRIG_NAME_MAX + 1];
};

struct msg_welcome {
	uint32_t version;
	char server[BRIG_NAME_MAX + 1];
	uint32_t max_frame;
	uint32_t max_input;
	uint32_t max_jobs;          /* jobs in flight per connection */
	struct strlist handlers;    /* decode: owned by caller (strlist_free) */
	struct strlist profiles;
};

struct msg_submit {
	uint32_t job_id;
	char handler[BRIG_NAME_MAX + 1];
	char profile[BRIG_NAME_MAX + 1];   /* "" = the default profile */
	/* true (nil on the wire): the input is the descriptor passed with
	 * this frame, and input/input_len are NULL/0 */
	bool input_fd;
	const uint8_t *input;
	size_t input_len;
	uint32_t timeout_ms;               /* 0 = the profile's default */
	struct msg_strv descriptors;       /* "key=value", narrowing the profile */
};

struct msg_exec {
	uint32_t job_id;
	char profile[BRIG_NAME_MAX + 1];
	struct msg_strv argv;              /* at least one entry */
	struct msg_strv env;
	char cwd[BRIG_PATH_LEN + 1];       /* "" = / */
	bool stdin_fd;                     /* stdin is the passed descriptor (nil) */
	const uint8_t *stdin_data;
	size_t stdin_len;
	uint32_t timeout_ms;
	struct msg_strv descriptors;
};

struct msg_output {
	uint32_t job_id;
	uint32_t seq;                      /* counts with the job's ITEMs */
	uint32_t stream;                   /* enum brig_stream */
	const uint8_t *data;
	size_t len;
};

struct msg_cancel {
	uint32_t job_id;
};

struct msg_item {
	uint32_t job_id;
	uint32_t seq;                      /* 0, 1, 2, ... per job */
	const msgpack_object *item;
};

struct msg_final {
	uint32_t job_id;
	uint32_t outcome;                  /* enum brig_outcome */
	int64_t code;                      /* signal, syscall or exit code */
	char message[BRIG_MESSAGE_MAX + 1];
	struct msg_usage usage;
};

struct msg_error {
	bool has_job;
	uint32_t job_id;
	uint32_t code;                     /* enum brig_error_code */
	char message[BRIG_MESSAGE_MAX + 1];
};

struct msg_worker_job {
	char handler[BRIG_NAME_MAX + 1];
	bool input_fd;                     /* the input is the passed descriptor (nil) */
	const uint8_t *input;
	size_t input_len;
	struct msg_strv descriptors;
};

struct msg_worker_exec {
	struct msg_strv argv;
	struct msg_strv env;
	char cwd[BRIG_PATH_LEN + 1];
	bool stdin_fd;                     /* stdin is the passed descriptor (nil) */
	const uint8_t *stdin_data;
	size_t stdin_len;
	struct msg_strv descriptors;
};

struct msg_worker_output {
	uint32_t stream;
	const uint8_t *data;
	size_t len;
};

struct msg_worker_exit {
	int64_t wait_status;
};

struct msg_worker_item {
	const msgpack_object *item;
};

struct msg_worker_done {
	uint32_t status;                   /* enum worker_status */
	char message[BRIG_MESSAGE_MAX + 1];
	uint64_t cpu_us;
	uint64_t maxrss_kib;
};

struct msg_worker_violation {
	int64_t syscall;                   /* number on the native architecture */
};

struct msg_zygote_ready {
	struct strlist handlers;
};

struct msg_zygote_spawn {
	uint32_t worker_id;
	uint32_t profile;                  /* index into the config's profiles */
};

struct msg_template_spawn {
	uint32_t worker_id;
	uint32_t uid;                      /* the worker's fresh uid */
};

struct msg_zygote_spawned {
	uint32_t worker_id;
	int64_t pid;
};

struct msg_zygote_spawn_failed {
	uint32_t worker_id;
	int64_t error;                     /* errno */
	char message[BRIG_MESSAGE_MAX + 1];
};

struct msg_zygote_kill {
	uint32_t worker_id;
};

struct msg_zygote_exited {
	uint32_t worker_id;
	int64_t wait_status;               /* as from waitpid() */
	uint64_t cpu_us;
	uint64_t maxrss_kib;
	uint32_t limits;                   /* cgroup limits hit: 1 memory, 2 pids */
};

struct msg_monitor_zygote_start {
	uint32_t request;                  /* echoed in ZYGOTE_STARTED */
};

struct msg_monitor_zygote_started {
	uint32_t request;
	int64_t pid;                       /* > 0: the channel is passed alongside */
	int64_t error;                     /* errno when pid is 0 */
};

struct msg_monitor_zygote_kill {
	int64_t pid;
};

struct msg_monitor_zygote_died {
	int64_t pid;
	int64_t wait_status;               /* as from waitpid() */
};

struct msg_monitor_access {
	uint32_t uid;
	uint32_t gid;
	uint32_t groups[BRIG_GROUPS_MAX];  /* supplementary groups, gid included */
	size_t group_count;
	char path[BRIG_ACCESS_PATH_MAX + 1];   /* absolute */
	uint32_t mode;                     /* R_OK | W_OK | X_OK, or F_OK (0) */
};

struct msg_monitor_access_result {
	int64_t error;                     /* 0: allowed, else an errno */
};

struct msg_monitor_notify {
	uint32_t state;                    /* enum monitor_notify_state */
	char status[BRIG_STATUS_MAX + 1];  /* printable ASCII; "" unless STATUS */
};

/* ---- packing: each appends one complete frame to sb ---- */

int msg_pack_hello(msgpack_sbuffer *sb, const struct msg_hello *m);
int msg_pack_welcome(msgpack_sbuffer *sb, const struct msg_welcome *m);
int msg_pack_submit(msgpack_sbuffer *sb, const struct msg_submit *m);
int msg_pack_cancel(msgpack_sbuffer *sb, const struct msg_cancel *m);
int msg_pack_exec(msgpack_sbuffer *sb, const struct msg_exec *m);
int msg_pack_output(msgpack_sbuffer *sb, const struct msg_output *m);
int msg_pack_worker_exec(msgpack_sbuffer *sb, const struct msg_worker_exec *m);
int msg_pack_worker_output(msgpack_sbuffer *sb, const struct msg_worker_output *m);
int msg_pack_worker_exit(msgpack_sbuffer *sb, const struct msg_worker_exit *m);
int msg_pack_item(msgpack_sbuffer *sb, const struct msg_item *m);
int msg_pack_final(msgpack_sbuffer *sb, const struct msg_final *m);
int msg_pack_error(msgpack_sbuffer *sb, const struct msg_error *m);
int msg_pack_worker_ready(msgpack_sbuffer *sb);
int msg_pack_worker_job(msgpack_sbuffer *sb, const struct msg_worker_job *m);
int msg_pack_worker_item(msgpack_sbuffer *sb, const struct msg_worker_item *m);
int msg_pack_worker_done(msgpack_sbuffer *sb, const struct msg_worker_done *m);
int msg_pack_worker_violation(msgpack_sbuffer *sb, const struct msg_worker_violation *m);
int msg_pack_zygote_ready(msgpack_sbuffer *sb, const struct msg_zygote_ready *m);
int msg_pack_zygote_spawn(msgpack_sbuffer *sb, const struct msg_zygote_spawn *m);
int msg_pack_zygote_spawned(msgpack_sbuffer *sb, const struct msg_zygote_spawned *m);
int msg_pack_template_spawn(msgpack_sbuffer *sb, const struct msg_template_spawn *m);
int msg_pack_zygote_spawn_failed(msgpack_sbuffer *sb, const struct msg_zygote_spawn_failed *m);
int msg_pack_zygote_kill(msgpack_sbuffer *sb, const struct msg_zygote_kill *m);
int msg_pack_zygote_exited(msgpack_sbuffer *sb, const struct msg_zygote_exited *m);
int msg_pack_monitor_zygote_start(msgpack_sbuffer *sb, const struct msg_monitor_zygote_start *m);
int msg_pack_monitor_zygote_started(msgpack_sbuffer *sb,
				    const struct msg_monitor_zygote_started *m);
int msg_pack_monitor_zygote_kill(msgpack_sbuffer *sb, const struct msg_monitor_zygote_kill *m);
int msg_pack_monitor_zygote_died(msgpack_sbuffer *sb, const struct msg_monitor_zygote_died *m);
int msg_pack_monitor_access(msgpack_sbuffer *sb, const struct msg_monitor_access *m);
int msg_pack_monitor_access_result(msgpack_sbuffer *sb,
				   const struct msg_monitor_access_result *m);
int msg_pack_monitor_notify(msgpack_sbuffer *sb, const struct msg_monitor_notify *m);

/*
 * Low-level framing for messages whose payload is packed by someone else
 * (a handler packing an item): msg_begin() appends a header placeholder and
 * the array header with nfields + 1 entries and the type; the caller packs
 * nfields objects with pk; msg_finish() patches the length in, checks that
 * what follows `start` is well-formed msgpack, and returns -EMSGSIZE if the
 * body exceeds max_frame (the sbuffer is then truncated back to start).
 * *start receives the offset of the frame in sb.
 */
int msg_begin(msgpack_sbuffer *sb, msgpack_packer *pk, enum msg_type type, uint32_t nfields,
	      size_t *start);
int msg_finish(msgpack_sbuffer *sb, size_t start, size_t max_frame);

/* ---- decoding ---- */

struct msg_in {
	msgpack_unpacked unpacked;
	const msgpack_object *array;    /* the whole array, type first */
	enum msg_type type;
	bool open;
	char error[256];
};

/*
 * Open a frame body: structural check, unpack, array-with-type check.
 * Returns the (positive) message type, or -EBADMSG with in->error set.
 * Unknown types are refused here.  Call msg_close() in every case.
 */
int msg_open(struct msg_in *in, const uint8_t *body, size_t len);
void msg_close(struct msg_in *in);

/* Name of a type for logs and errors ("SUBMIT"), "unknown" otherwise. */
const char *msg_type_name(int type);
const char *brig_outcome_name(int outcome);     /* "ok", "timeout", ... */
const char *brig_error_code_name(int code);     /* "busy", ... */

/*
 * Each decoder checks that in->type matches and decodes the fields.
 * Returns 0, or -EBADMSG with in->error naming the field.
 * limit arguments bound bin fields (the configured max input).
 */
int msg_decode_hello(struct msg_in *in, struct msg_hello *m);
int msg_decode_welcome(struct msg_in *in, struct msg_welcome *m);  /* m->*: strlist_free */
int msg_decode_submit(struct msg_in *in, size_t input_limit, struct msg_submit *m);
int msg_decode_cancel(struct msg_in *in, struct msg_cancel *m);
int msg_decode_exec(struct msg_in *in, size_t input_limit, struct msg_exec *m);
int msg_decode_output(struct msg_in *in, size_t data_limit, struct msg_output *m);
int msg_decode_worker_exec(struct msg_in *in, size_t input_limit, struct msg_worker_exec *m);
int msg_decode_worker_output(struct msg_in *in, size_t data_limit, struct msg_worker_output *m);
int msg_decode_worker_exit(struct msg_in *in, struct msg_worker_exit *m);
int msg_decode_item(struct msg_in *in, struct msg_item *m);
int msg_decode_final(struct msg_in *in, struct msg_final *m);
int msg_decode_error(struct msg_in *in, struct msg_error *m);
int msg_decode_worker_ready(struct msg_in *in);
int msg_decode_worker_job(struct msg_in *in, size_t input_limit, struct msg_worker_job *m);
int msg_decode_worker_item(struct msg_in *in, struct msg_worker_item *m);
int msg_decode_worker_done(struct msg_in *in, struct msg_worker_done *m);
int msg_decode_worker_violation(struct msg_in *in, struct msg_worker_violation *m);
int msg_decode_zygote_ready(struct msg_in *in, struct msg_zygote_ready *m);
int msg_decode_zygote_spawn(struct msg_in *in, struct msg_zygote_spawn *m);
int msg_decode_zygote_spawned(struct msg_in *in, struct msg_zygote_spawned *m);
int msg_decode_template_spawn(struct msg_in *in, struct msg_template_spawn *m);
int msg_decode_zygote_spawn_failed(struct msg_in *in, struct msg_zygote_spawn_failed *m);
int msg_decode_zygote_kill(struct msg_in *in, struct msg_zygote_kill *m);
int msg_decode_zygote_exited(struct msg_in *in, struct msg_zygote_exited *m);
/*
 * The monitor's messages.  Decoders of what the broker sends check values,
 * not only types: a pid > 1, an absolute path, mode bits within
 * R_OK | W_OK | X_OK, a known notify state, a printable status.
 */
int msg_decode_monitor_zygote_start(struct msg_in *in, struct msg_monitor_zygote_start *m);
int msg_decode_monitor_zygote_started(struct msg_in *in, struct msg_monitor_zygote_started *m);
int msg_decode_monitor_zygote_kill(struct msg_in *in, struct msg_monitor_zygote_kill *m);
int msg_decode_monitor_zygote_died(struct msg_in *in, struct msg_monitor_zygote_died *m);
int msg_decode_monitor_access(struct msg_in *in, struct msg_monitor_access *m);
int msg_decode_monitor_access_result(struct msg_in *in, struct msg_monitor_access_result *m);
int msg_decode_monitor_notify(struct msg_in *in, struct msg_monitor_notify *m);

#endif
