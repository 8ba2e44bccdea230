/*
 * brig wire format: the one header that says what travels on every socket.
 *
 * Every byte on the wire is a frame: a 4-byte big-endian unsigned length,
 * then exactly that many bytes holding exactly one msgpack object.  The
 * object is always an array whose first element is the message type (a
 * positive integer from enum msg_type); the remaining elements are the
 * message's fields in the fixed order documented in docs/protocol.md.
 * Trailing fields are rejected, so adding a field means a new version.
 *
 * The same framing is used between a client and the broker (public), between
 * the broker and a worker (internal, stream) and between the broker and the
 * zygote (internal, one frame per SOCK_SEQPACKET record, with fds passed
 * alongside).  Internal types never appear on the client socket: the broker
 * refuses them there.
 */
#ifndef BRIG_PROTO_WIRE_H
#define BRIG_PROTO_WIRE_H

/*
 * Bump whenever a message gains, loses or changes a field, or a type's
 * meaning changes.  The broker refuses a HELLO with another version.
 */
#define BRIG_PROTOCOL_VERSION 3   /* 3: an input may be nil, a passed fd */

#define FRAME_HEADER_SIZE 4

/* Hard ceilings; the configured limits may only be lower. */
#define BRIG_FRAME_MAX_CEILING (64u * 1024 * 1024)
#define BRIG_DEFAULT_MAX_FRAME (8u * 1024 * 1024)
/* Room in a SUBMIT frame for everything but the input itself. */
#define BRIG_SUBMIT_OVERHEAD 1024
#define BRIG_NAME_MAX 64        /* handler, profile and client names */
#define BRIG_MESSAGE_MAX 1024   /* human-readable message fields */
#define BRIG_LIST_MAX 1024      /* entries in a handler or profile list */
#define BRIG_MSGPACK_MAX_DEPTH 32   /* msgpack-c cannot unpack deeper */
#define BRIG_DESCRIPTORS_MAX 64     /* narrowing descriptors in one request */
#define BRIG_DESCRIPTOR_LEN 512     /* bytes of one "key=value" descriptor */
#define BRIG_ARGV_MAX 256           /* argv and env entries of an exec job */
#define BRIG_ARG_LEN 4096           /* bytes of one argv or env entry */
#define BRIG_PATH_LEN 256           /* an exec job's cwd */
/* Passed descriptors waiting for their frame on one client connection. */
#define BRIG_CLIENT_MAX_FDS 8

enum msg_type {
	/* hello block: client <-> broker, once per connection */
	MSG_HELLO = 0x01,          /* client -> broker */
	MSG_WELCOME = 0x02,        /* broker -> client */

	/* job block: client -> broker */
	MSG_SUBMIT = 0x10,
	MSG_CANCEL = 0x11,
	MSG_EXEC = 0x12,           /* run a program */

	/* result block: broker -> client */
	MSG_ITEM = 0x20,
	MSG_FINAL = 0x21,
	MSG_OUTPUT = 0x22,         /* a chunk of an exec job's stdout/stderr */

	/* control block */
	MSG_ERROR = 0x30,          /* broker -> client */

	/* internal: broker <-> worker (stream socketpair) */
	MSG_WORKER_READY = 0x40,   /* worker -> broker: sandboxed, waiting */
	MSG_WORKER_JOB = 0x41,     /* broker -> worker */
	MSG_WORKER_ITEM = 0x42,    /* worker -> broker */
	MSG_WORKER_DONE = 0x43,    /* worker -> broker: last frame of a job */
	MSG_WORKER_VIOLATION = 0x44, /* worker -> broker: seccomp trapped a syscall */
	MSG_WORKER_EXEC = 0x45,    /* broker -> worker: an exec job */
	MSG_WORKER_OUTPUT = 0x46,  /* worker -> broker: stdout/stderr chunk */
	MSG_WORKER_EXIT = 0x47,    /* worker -> broker: the program's wait status */

	/* internal: broker <-> zygote (seqpacket) */
	MSG_ZYGOTE_READY = 0x50,   /* zygote -> broker: handlers loaded */
	MSG_ZYGOTE_SPAWN = 0x51,   /* broker -> zygote, carries one fd */
	MSG_ZYGOTE_SPAWNED = 0x52, /* zygote -> broker */
	MSG_ZYGOTE_SPAWN_FAILED = 0x53,
	MSG_ZYGOTE_KILL = 0x54,    /* broker -> zygote */
	MSG_ZYGOTE_EXITED = 0x55,  /* zygote -> broker: worker reaped */

	/* internal: zygote <-> template (seqpacket); the template answers with
	 * ZYGOTE_SPAWNED / ZYGOTE_SPAWN_FAILED / ZYGOTE_EXITED, which the zygote
	 * passes on, and takes ZYGOTE_KILL */
	MSG_TEMPLATE_SPAWN = 0x58, /* zygote -> template, carries one fd */

	/* internal: broker <-> monitor (seqpacket; docs/security.md, privilege
	 * separation).  The monitor is root and the broker is not: the monitor
	 * takes only these, checks every field, and ends the broker on a
	 * broken rule. */
	MSG_MONITOR_ZYGOTE_START = 0x60,   /* broker -> monitor */
	MSG_MONITOR_ZYGOTE_STARTED = 0x61, /* monitor -> broker, carries the zygote's channel */
	MSG_MONITOR_ZYGOTE_KILL = 0x62,    /* broker -> monitor */
	MSG_MONITOR_ZYGOTE_DIED = 0x63,    /* monitor -> broker: zygote reaped */
	MSG_MONITOR_ACCESS = 0x64,         /* broker -> monitor: could this uid reach a path? */
	MSG_MONITOR_ACCESS_RESULT = 0x65,  /* monitor -> broker */
	MSG_MONITOR_NOTIFY = 0x66,         /* broker -> monitor: a state for systemd */
};

/* How a job ended: FINAL's outcome field. */
enum brig_outcome {
	BRIG_OUTCOME_OK = 0,
	BRIG_OUTCOME_ERROR = 1,        /* the handler reported an error */
	BRIG_OUTCOME_CRASHED = 2,      /* worker died; code = signal, or 0 */
	BRIG_OUTCOME_TIMEOUT = 3,      /* wall-clock deadline passed */
	BRIG_OUTCOME_CPU_LIMIT = 4,
	BRIG_OUTCOME_MEMORY_LIMIT = 5,
	BRIG_OUTCOME_PIDS_LIMIT = 6,
	BRIG_OUTCOME_OUTPUT_LIMIT = 7,
	BRIG_OUTCOME_VIOLATION = 8,    /* sandbox refused something; code = syscall */
	BRIG_OUTCOME_CANCELLED = 9,
	BRIG_OUTCOME_BROKER_ERROR = 10,
	BRIG_OUTCOME__MAX = 10,
};

/* ERROR's code field. */
enum brig_error_code {
	BRIG_ERROR_PROTOCOL = 1,        /* malformed frame or message */
	BRIG_ERROR_VERSION = 2,         /* HELLO with an unsupported version */
	BRIG_ERROR_UNKNOWN_HANDLER = 3,
	BRIG_ERROR_UNKNOWN_PROFILE = 4,
	BRIG_ERROR_DUPLICATE_JOB = 5,   /* job id already in flight */
	BRIG_ERROR_BUSY = 6,            /* a queue or quota is full */
	BRIG_ERROR_TOO_LARGE = 7,       /* frame or input over the limit */
	BRIG_ERROR_DENIED = 8,          /* policy refuses this client */
	BRIG_ERROR_UNKNOWN_JOB = 9,     /* CANCEL of a job id not in flight */
	BRIG_ERROR_INTERNAL = 10,
	BRIG_ERROR_SHUTTING_DOWN = 11,
	BRIG_ERROR_BAD_REQUEST = 12,    /* well-formed but invalid field value */
	BRIG_ERROR__MAX = 12,
};

/* OUTPUT's stream field. */
enum brig_stream {
	BRIG_STREAM_STDOUT = 1,
	BRIG_STREAM_STDERR = 2,
};

/* MONITOR_NOTIFY's state field: what the monitor tells systemd (sd_notify). */
enum monitor_notify_state {
	MONITOR_NOTIFY_READY = 1,       /* READY=1 */
	MONITOR_NOTIFY_RELOADING = 2,   /* RELOADING=1 */
	MONITOR_NOTIFY_STOPPING = 3,    /* STOPPING=1 */
	MONITOR_NOTIFY_WATCHDOG = 4,    /* WATCHDOG=1 */
	MONITOR_NOTIFY_STATUS = 5,      /* STATUS=<status> */
	MONITOR_NOTIFY__MAX = 5,
};
#define BRIG_STATUS_MAX 255          /* MONITOR_NOTIFY's status text */
#define BRIG_GROUPS_MAX 64           /* MONITOR_ACCESS's groups */
#define BRIG_ACCESS_PATH_MAX 4095    /* MONITOR_ACCESS's path */

/* WORKER_DONE's status field. */
enum worker_status {
	WORKER_STATUS_OK = 0,
	WORKER_STATUS_ERROR = 1,        /* handler failed, message says why */
	WORKER_STATUS_NO_HANDLER = 2,
};

#endif
