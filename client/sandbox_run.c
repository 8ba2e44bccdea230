/*
 * libbrig's in-process form (brig/sandbox.h): the descriptor engine of
 * brigd (daemon/spec.c, daemon/sandbox.c, daemon/sandbox/) applied to a
 * forked child of the caller, or to the caller itself.
 *
 * brig_sandbox_run makes this tree:
 *
 *   caller --fork--> supervisor --fork--> job pid 1 --fork--> function
 *
 * The supervisor unshares the namespaces (the caller may be threaded and
 * must keep its own), waits until the caller has written the user
 * namespace's uid maps, forks the job, and then only waits for it.  The
 * job's pid 1 builds the sandbox (all but seccomp) and forks the process
 * that loads the filter and runs the function, as a daemon worker does.
 * When pid 1 is reaped the kernel has ended every process of its
 * namespace, so the supervisor's exit means the whole tree is gone.  Each
 * waiting process dies the way the one it waited for died (same exit
 * code or signal; pid 1 exits 128 + signal, as it cannot signal itself),
 * so the caller's wait4() gives the function's status and the tree's
 * rusage.  On
 * timeout the caller sends the supervisor SIGTERM and it kills the job;
 * the job's pid is never used by the caller, so it can never be a
 * recycled one.
 *
 * The job talks to the caller over a socketpair with the worker frames of
 * proto/ (WORKER_ITEM, WORKER_DONE, WORKER_VIOLATION from the engine's
 * SIGSYS reporter, WORKER_EXIT carrying the function's return value).
 * Those bytes come from sandboxed code: each frame is size-checked before
 * it is read and fully decoded; anything else kills the job.
 *
 * Library code: no logging, no exit (but in the children).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <seccomp.h>

#include "brig/sandbox.h"
#include "frame.h"
#include "msg.h"
#include "sandbox.h"
#include "sandbox/cgroup.h"
#include "sandbox/landlock.h"
#include "spec.h"
#include "util.h"

#define DEFAULT_TIMEOUT_MS 30000
#define ITEM_FRAME_MAX BRIG_DEFAULT_MAX_FRAME
/* After SIGTERM the supervisor kills the job at once; this is for a stuck one. */
#define SUPERVISOR_GRACE_MS 5000
#define EXIT_SETUP 80           /* + enum sandbox_step: the job's sandbox failed */

struct brig_spec {
	struct spec spec;
	uint32_t timeout_ms;
	bool timeout_set;
	char error[BRIG_MESSAGE_MAX + 1];
};

int brig_spec_new(struct brig_spec **out)
{
	struct brig_spec *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	spec_set_defaults(&b->spec);
	/* Cgroup limits need root and a hierarchy: only when asked for. */
	b->spec.memory_max = 0;
	b->spec.pids_max = 0;
	b->timeout_ms = DEFAULT_TIMEOUT_MS;
	if (geteuid() != 0) {
		/* What an unprivileged caller can have: its own ids, its own user
		 * namespace to hold the other namespaces. */
		b->spec.uid = geteuid();
		b->spec.gid = getegid();
		b->spec.namespaces |= SPEC_NS_USER;
	}
	*out = b;
	return 0;
}

void brig_spec_free(struct brig_spec *spec)
{
	free(spec);
}

const char *brig_spec_error(const struct brig_spec *spec)
{
	return spec ? spec->error : "";
}

__attribute__((format(printf, 3, 4)))
static int spec_fail(struct brig_spec *spec, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(spec->error, sizeof(spec->error), fmt, ap);
	va_end(ap);
	return r;
}

static void trim(char *s)
{
	size_t n = strlen(s), lead = strspn(s, " \t\r");

	while (n > lead && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	memmove(s, s + lead, n - lead + 1);
}

int brig_spec_add(struct brig_spec *spec, const char *descriptor)
{
	char key[32], value[BRIG_DESCRIPTOR_TEXT_MAX];
	const char *eq;
	int r;

	if (!spec || !descriptor)
		return -EINVAL;
	spec->error[0] = '\0';
	eq = strchr(descriptor, '=');
	if (!eq || (size_t)(eq - descriptor) >= sizeof(key) ||
	    strlen(eq + 1) >= sizeof(value))
		return spec_fail(spec, -EINVAL, "'%.64s': expected key=value", descriptor);
	memcpy(key, descriptor, (size_t)(eq - descriptor));
	key[eq - descriptor] = '\0';
	snprintf(value, sizeof(value), "%s", eq + 1);
	trim(key);
	trim(value);
	if (!key[0])
		return spec_fail(spec, -EINVAL, "'%.64s': expected key=value", descriptor);
	if (strcmp(key, "timeout") == 0) {
		uint64_t ms;

		if (spec_parse_size(value, &ms) < 0 || ms > UINT32_MAX)
			return spec_fail(spec, -EINVAL, "timeout=%s: expected milliseconds "
					 "(0: none)", value);
		spec->timeout_ms = (uint32_t)ms;
		spec->timeout_set = true;
		return 0;
	}
	r = spec_set_descriptor(&spec->spec, key, value, spec->error, sizeof(spec->error));
	if (r == -ENOENT)
		return spec_fail(spec, -EINVAL, "%s: unknown descriptor", key);
	return r < 0 ? -EINVAL : 0;
}

int brig_spec_add_text(struct brig_spec *spec, const char *text)
{
	unsigned line_no = 0;

	if (!spec || !text)
		return -EINVAL;
	spec->error[0] = '\0';
	while (*text) {
		size_t len = strcspn(text, "\n");
		char line[BRIG_DESCRIPTOR_TEXT_MAX + 64];
		int r;

		line_no++;
		if (len >= sizeof(line))
			return spec_fail(spec, -EINVAL, "line %u: too long", line_no);
		memcpy(line, text, len);
		line[len] = '\0';
		text += len + (text[len] == '\n');
		trim(line);
		if (!line[0] || line[0] == '#' || line[0] == ';')
			continue;
		r = brig_spec_add(spec, line);
		if (r < 0) {
			char why[sizeof(spec->error)];

			snprintf(why, sizeof(why), "%s", spec->error);
			return spec_fail(spec, r, "line %u: %s", line_no, why);
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* what this caller can have applied                                   */

static bool single_threaded(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int tasks = 0;

	if (!d)
		return false;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			tasks++;
	closedir(d);
	return tasks == 1;
}

/*
 * The spec as it will be applied, checked for the caller's situation:
 * refused with the descriptor's name, never quietly skipped.  *flags
 * receives the engine's way for this caller (sandbox.h).
 */
static int prepare(const struct brig_spec *b, enum spec_target target, struct spec *s,
		   unsigned *flags, char *err, size_t err_size)
{
	bool root = geteuid() == 0;
	int r;

	*s = b->spec;
	*flags = 0;
	/* Documented: without a user namespace of its own an unprivileged
	 * process can enter no other, so it gets one with them. */
	if (!root && s->namespaces)
		s->namespaces |= SPEC_NS_USER;
	if ((r = spec_validate_for(s, target, err, err_size)) < 0)
		return r;
	/* A fresh uid is one no other live job holds: only brigd, which keeps
	 * the pool for all its workers, can promise that. */
	if (s->fresh_uid) {
		snprintf(err, err_size, "fresh_uid_range: only brigd hands out fresh uids (it "
			 "keeps the pool); name the job's uid with user=");
		return root ? -EOPNOTSUPP : -EPERM;
	}
	if (!root) {
		if (s->uid != geteuid()) {
			snprintf(err, err_size, "user=%u: needs root (an unprivileged caller's job "
				 "keeps its own uid, %u)", (unsigned)s->uid, (unsigned)geteuid());
			return -EPERM;
		}
		if (s->gid != getegid()) {
			snprintf(err, err_size, "group=%u: needs root (an unprivileged caller's job "
				 "keeps its own gid, %u)", (unsigned)s->gid, (unsigned)getegid());
			return -EPERM;
		}
		if (s->memory_max || s->pids_max) {
			snprintf(err, err_size, "%s: cgroup limits need root (bound memory with "
				 "rlimit_as and processes with rlimit_nproc instead)",
				 s->memory_max ? "memory_max" : "pids_max");
			return -EPERM;
		}
		*flags |= SANDBOX_KEEP_GROUPS;
		if (!(s->namespaces & SPEC_NS_USER))
			*flags |= SANDBOX_UNPRIVILEGED;
	}
	if (s->landlock_required && landlock_abi_version() < 1) {
		snprintf(err, err_size, "landlock=required: this kernel has no Landlock");
		return -EOPNOTSUPP;
	}
	if (target == SPEC_TARGET_SELF) {
		if (b->timeout_set && b->timeout_ms) {
			snprintf(err, err_size, "timeout=%u: a process cannot be given a deadline by "
				 "itself; use brig_sandbox_run", (unsigned)b->timeout_ms);
			return -EINVAL;
		}
		if (s->memory_max || s->pids_max) {
			snprintf(err, err_size, "%s: brig_sandbox_apply places no process in a "
				 "cgroup; use brig_sandbox_run", s->memory_max ? "memory_max" :
				 "pids_max");
			return -EOPNOTSUPP;
		}
		if (!single_threaded()) {
			snprintf(err, err_size, "brig_sandbox_apply: the process has more than one "
				 "thread (namespaces, Landlock and seccomp would hold for one only)");
			return -EINVAL;
		}
	}
	return 0;
}

int brig_sandbox_apply(const struct brig_spec *spec, char *err, size_t err_size)
{
	char message[BRIG_MESSAGE_MAX + 1] = "";
	struct sandbox_filter filter = { 0 };
	enum sandbox_step step;
	unsigned flags;
	struct spec *s;
	int r;

	if (!spec)
		return -EINVAL;
	s = malloc(sizeof(*s));
	if (!s)
		return -ENOMEM;
	r = prepare(spec, SPEC_TARGET_SELF, s, &flags, message, sizeof(message));
	if (r == 0)
		r = sandbox_filter_build(s, &filter, message, sizeof(message));
	if (r == 0) {
		r = sandbox_apply_self(s, s->uid, &filter, flags, &step, message, sizeof(message));
		if (r < 0 && !message[0])
			snprintf(message, sizeof(message), "%s: %s", sandbox_step_name((int)step),
				 strerror(-r));
		else if (r < 0) {
			char why[sizeof(message)];
			snprintf(why, sizeof(why), "%s", message);
			snprintf(message, sizeof(message), "%s: %.900s", sandbox_step_name((int)step),
				 why);
		}
	}
	sandbox_filter_free(&filter);
	free(s);
	if (r < 0 && err && err_size)
		snprintf(err, err_size, "%s", message);
	return r;
}

/* ------------------------------------------------------------------ */
/* the job: the emitter and its frames                                  */

struct job_emitter {
	int fd;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t start;
	bool open, broken;
	char error[BRIG_MESSAGE_MAX + 1];
};

static int send_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static msgpack_packer *emitter_item_begin(void *impl)
{
	struct job_emitter *em = impl;

	/* A begin without an end discards the unfinished item. */
	msgpack_sbuffer_clear(&em->sb);
	em->open = msg_begin(&em->sb, &em->pk, MSG_WORKER_ITEM, 1, &em->start) == 0;
	return &em->pk;
}

static int emitter_item_end(void *impl)
{
	struct job_emitter *em = impl;
	int r;

	if (!em->open || em->broken)
		return -1;
	em->open = false;
	r = msg_finish(&em->sb, em->start, ITEM_FRAME_MAX);
	if (r < 0) {
		snprintf(em->error, sizeof(em->error), "the function emitted an item that %s",
			 r == -EMSGSIZE ? "exceeds 8 MiB" : "is not exactly one msgpack object");
		return -1;
	}
	r = send_all(em->fd, em->sb.data, em->sb.size);
	msgpack_sbuffer_clear(&em->sb);
	if (r < 0) {
		em->broken = true;
		return -1;
	}
	return 0;
}

static void emitter_fail(void *impl, const char *message)
{
	struct job_emitter *em = impl;

	snprintf(em->error, sizeof(em->error), "%s", message);
}

static const struct brig_ctx_ops emitter_ops = {
	.item_begin = emitter_item_begin,
	.item_end = emitter_item_end,
	.fail = emitter_fail,
};

int brig_emit(struct brig_ctx *ctx, const void *data, size_t len)
{
	msgpack_packer *pk;

	if (!ctx || (!data && len))
		return -1;
	pk = brig_item_begin(ctx);
	/* The bytes go in as they are; item_end checks they are one object. */
	if (!pk || (len && pk->callback(pk->data, data, len) != 0))
		return -1;
	return brig_item_end(ctx);
}

static void send_done(struct job_emitter *em, uint32_t status, const char *message)
{
	struct msg_worker_done done = { .status = status };

	snprintf(done.message, sizeof(done.message), "%s", message);
	msgpack_sbuffer_clear(&em->sb);
	if (msg_pack_worker_done(&em->sb, &done) == 0)
		(void)send_all(em->fd, em->sb.data, em->sb.size);
}

struct run {
	const struct spec *s;
	unsigned flags;
	const struct sandbox_filter *filter;
	int channel;                 /* the job's end */
	int cgroup_fds[CGROUP_MAX_FDS];
	size_t cgroup_count;
	brig_sandbox_fn fn;
	void *arg;
};

__attribute__((noreturn))
static void setup_failed(struct job_emitter *em, enum sandbox_step step, int r, const char *err)
{
	char message[BRIG_MESSAGE_MAX + 1];

	snprintf(message, sizeof(message), "the sandbox could not be set up: %s: %s",
		 sandbox_step_name((int)step), err[0] ? err : strerror(-r));
	send_done(em, WORKER_STATUS_NO_HANDLER, message);
	_exit(EXIT_SETUP + (int)step);
}

/* Die as the process we waited for died: the caller's wait status is the job's. */
__attribute__((noreturn))
static void die_like(int status)
{
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		struct sigaction dfl = { .sa_handler = SIG_DFL };
		sigset_t set;

		sigaction(sig, &dfl, NULL);
		sigemptyset(&set);
		sigaddset(&set, sig);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		kill(getpid(), sig);
		/* Still here: pid 1 of a pid namespace, which ignores its own
		 * signals.  Exit the way a shell reports death by a signal. */
		_exit(128 + sig);
	}
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 127);
}

/* The function's process: seccomp, then fn; never returns. */
__attribute__((noreturn))
static void function_main(const struct run *run, struct job_emitter *em)
{
	struct brig_ctx ctx = { .ops = &emitter_ops, .impl = em };
	int r;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		setup_failed(em, SANDBOX_STEP_PARENT_DEATH_SIGNAL, -errno, "");
	if ((r = sandbox_load_seccomp(run->s, run->filter)) < 0)
		setup_failed(em, SANDBOX_STEP_SECCOMP, r, "");
	r = run->fn(&ctx, run->arg);
	if (r != 0) {
		struct msg_worker_exit value = { .wait_status = r };

		msgpack_sbuffer_clear(&em->sb);
		if (msg_pack_worker_exit(&em->sb, &value) == 0)
			(void)send_all(em->fd, em->sb.data, em->sb.size);
		if (!em->error[0])
			snprintf(em->error, sizeof(em->error), "the function returned %d", r);
	}
	send_done(em, r == 0 ? WORKER_STATUS_OK : WORKER_STATUS_ERROR, r == 0 ? "" : em->error);
	_exit(r == 0 ? 0 : 1);
}

/*
 * pid 1 of the job's namespaces: the sandbox but seccomp, then one fork
 * for the function, as a daemon worker does (worker.c): the kernel drops
 * the signals pid 1 sends itself, so abort() or raise() would not work
 * in it.  It only waits, non-dumpable so that the function (same uid)
 * cannot borrow its unfiltered system calls through ptrace.
 */
__attribute__((noreturn))
static void job_main(const struct run *run)
{
	struct job_emitter em = { .fd = WORKER_CHANNEL_FD };
	enum sandbox_step step = SANDBOX_STEP_SIGNALS;
	char err[512] = "";
	pid_t function;
	int r, status;

	msgpack_sbuffer_init(&em.sb);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) {
		em.fd = run->channel;
		setup_failed(&em, SANDBOX_STEP_PARENT_DEATH_SIGNAL, -errno, "");
	}
	/* Into the cgroup before anything of the job runs. */
	if (cgroup_enter(run->cgroup_fds, run->cgroup_count) < 0) {
		em.fd = run->channel;
		setup_failed(&em, SANDBOX_STEP_CGROUP, -EPERM, "cannot enter its cgroup");
	}
	r = sandbox_enter_flags(run->s, run->s->uid, NULL, run->channel, run->flags, &step, err,
				sizeof(err));
	if (r < 0) {
		/* The channel is at fd 3 once the fds step is done. */
		em.fd = step > SANDBOX_STEP_FDS ? WORKER_CHANNEL_FD : run->channel;
		setup_failed(&em, step, r, err);
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		setup_failed(&em, SANDBOX_STEP_FORK, -errno, "");
	function = fork();
	if (function < 0)
		setup_failed(&em, SANDBOX_STEP_FORK, -errno, "");
	if (function == 0)
		function_main(run, &em);
	close(WORKER_CHANNEL_FD);
	while (waitpid(function, &status, 0) < 0)
		if (errno != EINTR)
			_exit(EXIT_SETUP + SANDBOX_STEP_FORK);
	die_like(status);
}

static volatile sig_atomic_t supervisor_stop;

static void supervisor_on_term(int sig)
{
	(void)sig;
	supervisor_stop = 1;
}

/* The supervisor could not make the job: say so as pid 1 would. */
__attribute__((noreturn))
static void supervisor_failed(const struct run *run, enum sandbox_step step, int error)
{
	struct job_emitter em = { .fd = run->channel };

	msgpack_sbuffer_init(&em.sb);
	setup_failed(&em, step, -error, "");
}

__attribute__((noreturn))
static void supervisor_main(const struct run *run)
{
	struct sigaction term = { .sa_handler = supervisor_on_term };
	struct rlimit no_core = { 0, 0 };
	pid_t job;
	sigset_t none;
	char byte;
	int status, dumpable;

	/* SIGTERM from the caller means: end the job now.  No SA_RESTART, so
	 * that it interrupts waitpid. */
	sigaction(SIGTERM, &term, NULL);
	signal(SIGCHLD, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setrlimit(RLIMIT_CORE, &no_core);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		supervisor_failed(run, SANDBOX_STEP_PARENT_DEATH_SIGNAL, errno);
	if (sandbox_user_ns_identity(run->s, run->s->uid) < 0 ||
	    unshare((int)spec_clone_flags(run->s)) < 0) {
		uint8_t reply[2] = { 'x', (uint8_t)errno };
		(void)send_all(run->channel, reply, sizeof(reply));
		_exit(EXIT_SETUP + SANDBOX_STEP_NAMESPACES);
	}
	/* The caller writes the uid maps from outside, then says go.  A
	 * process that is not dumpable (its uid changed) has its /proc files
	 * owned by root: dumpable for that moment, then back. */
	dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	if (dumpable == 0 && (run->s->namespaces & SPEC_NS_USER))
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	byte = 'u';
	if (send_all(run->channel, &byte, 1) < 0 || read(run->channel, &byte, 1) != 1 ||
	    byte != 'g')
		_exit(EXIT_SETUP + SANDBOX_STEP_NAMESPACES);
	if (dumpable == 0)
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	job = fork();
	if (job < 0)
		supervisor_failed(run, SANDBOX_STEP_FORK, errno);
	if (job == 0)
		job_main(run);
	close(run->channel);
	for (size_t i = 0; i < run->cgroup_count; i++)
		close(run->cgroup_fds[i]);
	for (;;) {
		if (supervisor_stop)
			kill(job, SIGKILL);   /* pid 1: its whole namespace with it */
		if (waitpid(job, &status, 0) == job)
			break;
		if (errno != EINTR)
			_exit(EXIT_SETUP + SANDBOX_STEP_FORK);
	}
	die_like(status);
}

/* ------------------------------------------------------------------ */
/* the caller's side                                                    */

struct reader {
	uint8_t header[FRAME_HEADER_SIZE];
	size_t header_have;
	uint8_t *body;
	uint32_t body_len, body_have;
};

struct result {
	brig_sandbox_item_fn on_item;
	void *item_arg;
	struct brig_sandbox_outcome *outcome;
	bool done, exit_seen, violation_seen, broken, too_big;
	uint32_t done_status;
	int64_t fn_value, violation;
	char done_message[BRIG_MESSAGE_MAX + 1];
};

/* One frame from the job: every field checked (it is sandboxed code). */
static int handle_frame(struct result *res, const uint8_t *body, size_t len)
{
	struct msg_in in;
	int type = msg_open(&in, body, len);
	int r = -EBADMSG;

	if (type < 0) {
		snprintf(res->done_message, sizeof(res->done_message), "malformed frame: %s",
			 in.error);
		msg_close(&in);
		return -EBADMSG;
	}
	if (res->done) {
		snprintf(res->done_message, sizeof(res->done_message), "%s after DONE",
			 msg_type_name(type));
		msg_close(&in);
		return -EBADMSG;
	}
	switch (type) {
	case MSG_WORKER_ITEM: {
		struct msg_worker_item m;

		if ((r = msg_decode_worker_item(&in, &m)) == 0) {
			if (res->on_item)
				res->on_item(res->item_arg, res->outcome->items, m.item);
			res->outcome->items++;
		}
		break;
	}
	case MSG_WORKER_DONE: {
		struct msg_worker_done m;

		if ((r = msg_decode_worker_done(&in, &m)) == 0) {
			res->done = true;
			res->done_status = m.status;
			snprintf(res->done_message, sizeof(res->done_message), "%s", m.message);
		}
		break;
	}
	case MSG_WORKER_VIOLATION: {
		struct msg_worker_violation m;

		if ((r = msg_decode_worker_violation(&in, &m)) == 0) {
			res->violation_seen = true;
			res->violation = m.syscall;
		}
		break;
	}
	case MSG_WORKER_EXIT: {
		struct msg_worker_exit m;

		if (!res->exit_seen && (r = msg_decode_worker_exit(&in, &m)) == 0) {
			res->exit_seen = true;
			res->fn_value = m.wait_status;
		}
		break;
	}
	default:
		break;
	}
	if (r < 0)
		snprintf(res->done_message, sizeof(res->done_message), "unexpected %s: %s",
			 msg_type_name(type), in.error[0] ? in.error : "not allowed here");
	msg_close(&in);
	return r;
}

/* Read what is there.  1 on EOF, 0, or -errno / -EBADMSG / -EMSGSIZE. */
static int read_frames(int fd, struct reader *rd, struct result *res)
{
	for (;;) {
		ssize_t n;
		int r;

		if (rd->header_have < FRAME_HEADER_SIZE) {
			n = read(fd, rd->header + rd->header_have, FRAME_HEADER_SIZE - rd->header_have);
		} else {
			n = read(fd, rd->body + rd->body_have, rd->body_len - rd->body_have);
		}
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		if (n == 0)
			return 1;
		if (rd->header_have < FRAME_HEADER_SIZE) {
			rd->header_have += (size_t)n;
			if (rd->header_have < FRAME_HEADER_SIZE)
				continue;
			/* The length is checked before anything is allocated. */
			r = frame_parse_header(rd->header, ITEM_FRAME_MAX, &rd->body_len);
			if (r < 0)
				return r;
			rd->body = malloc(rd->body_len);
			if (!rd->body)
				return -ENOMEM;
			rd->body_have = 0;
			continue;
		}
		rd->body_have += (uint32_t)n;
		if (rd->body_have < rd->body_len)
			continue;
		r = handle_frame(res, rd->body, rd->body_len);
		free(rd->body);
		rd->body = NULL;
		rd->header_have = 0;
		if (r < 0)
			return r;
	}
}

/* The supervisor's first words: 'u' (namespaces made) or 'x' + errno. */
static int read_handshake(int fd, uint64_t deadline_us, char *err, size_t err_size)
{
	uint8_t reply[2] = { 0, 0 };
	size_t have = 0;

	while (have < 1 || (reply[0] == 'x' && have < 2)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = now_usec();
		int timeout = deadline_us ? (now >= deadline_us ? 0 :
					     (int)((deadline_us - now) / 1000 + 1)) : -1;
		ssize_t n;

		if (poll(&p, 1, timeout) == 0)
			return -ETIMEDOUT;
		n = read(fd, reply + have, sizeof(reply) - have);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			snprintf(err, err_size, "namespaces: the sandbox's first process died");
			return -ECHILD;
		}
		have += (size_t)n;
	}
	if (reply[0] == 'x') {
		snprintf(err, err_size, "namespaces: unshare: %s%s", strerror(reply[1]),
			 reply[1] == EPERM || reply[1] == ENOSPC ?
			 " (are user namespaces allowed here? see user.max_user_namespaces)" : "");
		return -(int)reply[1];
	}
	return reply[0] == 'u' ? 0 : -EPROTO;
}

static void set_outcome(struct brig_sandbox_outcome *o, int outcome, int64_t code,
			const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void set_outcome(struct brig_sandbox_outcome *o, int outcome, int64_t code,
			const char *fmt, ...)
{
	va_list ap;

	o->outcome = outcome;
	o->code = code;
	va_start(ap, fmt);
	vsnprintf(o->message, sizeof(o->message), fmt, ap);
	va_end(ap);
}

/* How the job ended, in the terms of a daemon job's FINAL (broker.c). */
static void decide(const struct run *run, struct result *res, int status, bool timed_out,
		   uint32_t timeout_ms, unsigned limits)
{
	struct brig_sandbox_outcome *o = res->outcome;
	int sig = WIFSIGNALED(status) ? WTERMSIG(status) :
		  WIFEXITED(status) && WEXITSTATUS(status) > 128 ? WEXITSTATUS(status) - 128 : 0;
	bool succeeded = res->done && res->done_status == WORKER_STATUS_OK && WIFEXITED(status) &&
			 WEXITSTATUS(status) == 0;

	if (timed_out) {
		set_outcome(o, BRIG_TIMEOUT, 0, "the function ran past its timeout of %u ms",
			    (unsigned)timeout_ms);
	} else if (res->too_big) {
		set_outcome(o, BRIG_OUTPUT_LIMIT, 0, "the function emitted an item over 8 MiB");
	} else if (res->broken) {
		set_outcome(o, BRIG_CRASHED, 0, "the sandboxed function broke the protocol: %s",
			    res->done_message);
	} else if (!succeeded && sig == SIGXCPU) {
		set_outcome(o, BRIG_CPU_LIMIT, SIGXCPU, "the function used up its CPU time "
			    "(rlimit_cpu)");
	} else if (!succeeded && (limits & CGROUP_HIT_MEMORY)) {
		set_outcome(o, BRIG_MEMORY_LIMIT, 0, "the function exceeded its memory limit of %"
			    PRIu64 " bytes", run->s->memory_max);
	} else if (!succeeded && (limits & CGROUP_HIT_PIDS)) {
		set_outcome(o, BRIG_PIDS_LIMIT, 0, "the function reached its limit of %" PRIu64
			    " processes", run->s->pids_max);
	} else if (succeeded) {
		set_outcome(o, BRIG_OK, 0, "%s", "");
	} else if (res->done && res->done_status == WORKER_STATUS_ERROR) {
		set_outcome(o, BRIG_ERROR, res->exit_seen ? res->fn_value : 1, "%s",
			    res->done_message);
	} else if (sig == SIGSYS) {
		char *name = NULL;

		if (res->violation_seen)
			name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, (int)res->violation);
		if (name) {
			snprintf(o->syscall, sizeof(o->syscall), "%s", name);
			set_outcome(o, BRIG_VIOLATION, res->violation, "the sandbox refused syscall %s "
				    "(%" PRId64 ")", name, res->violation);
		} else {
			set_outcome(o, BRIG_VIOLATION, res->violation_seen ? res->violation : -1,
				    "the sandbox refused a syscall%s",
				    res->violation_seen ? "" : " (not reported)");
		}
		free(name);
	} else if (sig) {
		set_outcome(o, BRIG_CRASHED, sig, "the function was killed by signal %d (%s)", sig,
			    strsignal(sig));
	} else {
		set_outcome(o, BRIG_CRASHED, 0, "the function's process exited with status %d "
			    "before finishing", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	}
}

static int pidfd_of(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

int brig_sandbox_run(const struct brig_spec *spec, brig_sandbox_fn fn, void *arg,
		     brig_sandbox_item_fn on_item, void *item_arg,
		     struct brig_sandbox_outcome *outcome)
{
	struct result res = { .on_item = on_item, .item_arg = item_arg, .outcome = outcome };
	struct sandbox_filter filter = { 0 };
	struct cgroup_setup cg;
	struct reader rd = { 0 };
	struct run run = { .fn = fn, .arg = arg, .filter = &filter };
	struct spec *s = NULL;
	struct rusage usage;
	uint64_t start = 0, deadline = 0, kill_deadline = 0;
	bool timed_out = false, have_cgroup = false;
	unsigned limits = 0;
	int pair[2] = { -1, -1 }, pidfd = -1, status = 0, r;
	pid_t supervisor = -1;

	if (!spec || !fn || !outcome)
		return -EINVAL;
	memset(outcome, 0, sizeof(*outcome));
	s = malloc(sizeof(*s));
	if (!s)
		return -ENOMEM;
	run.s = s;
	r = prepare(spec, SPEC_TARGET_CHILD, s, &run.flags, outcome->message,
		    sizeof(outcome->message));
	if (r < 0)
		goto out;
	if ((r = sandbox_filter_build(s, &filter, outcome->message, sizeof(outcome->message))) < 0)
		goto out;
	if (s->memory_max || s->pids_max) {
		char instance[64];

		/* Named after this process (brigd's stale-cgroup sweep leaves a live
		 * pid's alone) and thread, so that concurrent calls do not meet. */
		snprintf(instance, sizeof(instance), "%d-lib%ld", (int)getpid(),
			 (long)syscall(SYS_gettid));
		r = cgroup_setup(&cg, instance, NULL, 0, outcome->message, sizeof(outcome->message));
		if (r == 0 && cg.version == 0)
			r = -EOPNOTSUPP;
		if (r < 0) {
			if (r == -EOPNOTSUPP)
				snprintf(outcome->message, sizeof(outcome->message), "%s: no usable "
					 "cgroup hierarchy with the memory and pids controllers",
					 s->memory_max ? "memory_max" : "pids_max");
			cgroup_teardown(&cg);
			goto out;
		}
		have_cgroup = true;
		r = cgroup_worker_create(&cg, 1, s, run.cgroup_fds, outcome->message,
					 sizeof(outcome->message));
		if (r < 0)
			goto out;
		run.cgroup_count = (size_t)r;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
		r = -errno;
		goto out;
	}
	run.channel = pair[1];
	start = now_usec();
	if (spec->timeout_ms)
		deadline = start + (uint64_t)spec->timeout_ms * 1000;
	supervisor = fork();
	if (supervisor < 0) {
		r = -errno;
		snprintf(outcome->message, sizeof(outcome->message), "fork: %s", strerror(errno));
		goto out;
	}
	if (supervisor == 0) {
		close(pair[0]);
		supervisor_main(&run);
	}
	close(pair[1]);
	pair[1] = -1;
	for (size_t i = 0; i < run.cgroup_count; i++)
		close(run.cgroup_fds[i]);
	run.cgroup_count = 0;

	/* The namespaces exist: map the job's ids into its user namespace. */
	r = read_handshake(pair[0], deadline, outcome->message, sizeof(outcome->message));
	if (r == 0 && (s->namespaces & SPEC_NS_USER))
		r = sandbox_write_id_maps(supervisor, s->uid, s->gid, geteuid() != 0,
					  outcome->message, sizeof(outcome->message));
	if (r == 0 && send_all(pair[0], "g", 1) < 0)
		r = -ECHILD;
	if (r == -ETIMEDOUT) {
		r = 0;
		timed_out = true;
		kill(supervisor, SIGKILL);   /* nothing of the job has run */
	} else if (r < 0) {
		kill(supervisor, SIGKILL);
		while (wait4(supervisor, &status, 0, &usage) < 0 && errno == EINTR)
			;
		supervisor = -1;
		goto out;
	}
	if (fcntl(pair[0], F_SETFL, O_NONBLOCK) < 0) {
		r = -errno;
		goto out;
	}
	pidfd = pidfd_of(supervisor);

	/* Items as they come, until the channel closes and the supervisor is
	 * reaped (the job's whole namespace is gone by then), or the deadline. */
	for (;;) {
		struct pollfd p[2] = { { .fd = pair[0], .events = POLLIN },
				       { .fd = pidfd, .events = POLLIN } };
		uint64_t now = now_usec(), until = kill_deadline ? kill_deadline : deadline;
		int timeout = until ? (now >= until ? 0 : (int)((until - now) / 1000 + 1)) : -1;
		pid_t w;

		if (pidfd < 0 && (timeout < 0 || timeout > 20))
			timeout = 20;   /* no pidfd (old kernel): look now and then */
		if (poll(p, 2, timeout) < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		if (pair[0] >= 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			int rr = read_frames(pair[0], &rd, &res);

			if (rr != 0) {
				if (rr < 0 && !kill_deadline) {
					/* A job that breaks the rules is ended. */
					if (rr == -EMSGSIZE)
						res.too_big = true;
					else
						res.broken = true;
					if (rr != -EBADMSG && rr != -EMSGSIZE)
						snprintf(res.done_message, sizeof(res.done_message),
							 "channel: %s", strerror(-rr));
					kill(supervisor, SIGTERM);
					kill_deadline = now_usec() + SUPERVISOR_GRACE_MS * 1000ull;
				}
				close(pair[0]);
				pair[0] = -1;
			}
		}
		w = wait4(supervisor, &status, WNOHANG, &usage);
		if (w == supervisor) {
			supervisor = -1;
			break;
		}
		if (w < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		now = now_usec();
		if (kill_deadline && now >= kill_deadline) {
			kill(supervisor, SIGKILL);
			kill_deadline = 0;
			deadline = 0;
		} else if (!kill_deadline && deadline && now >= deadline && !timed_out) {
			timed_out = true;
			kill(supervisor, SIGTERM);
			kill_deadline = now + SUPERVISOR_GRACE_MS * 1000ull;
		}
	}
	if (supervisor < 0 && r == 0) {
		/* Frames still in the socket (the job wrote them before dying). */
		if (pair[0] >= 0 && !res.broken && !res.too_big) {
			int rr = read_frames(pair[0], &rd, &res);
			if (rr == -EMSGSIZE)
				res.too_big = true;
			else if (rr < 0)
				res.broken = true;
		}
		outcome->wall_us = now_usec() - start;
		outcome->cpu_us = timeval_usec(usage.ru_utime.tv_sec, usage.ru_utime.tv_usec) +
				  timeval_usec(usage.ru_stime.tv_sec, usage.ru_stime.tv_usec);
		outcome->maxrss_kib = (uint64_t)usage.ru_maxrss;
		if (have_cgroup)
			limits = cgroup_worker_finish(&cg, 1);
		if (res.done && res.done_status == WORKER_STATUS_NO_HANDLER && !timed_out &&
		    !res.broken && !res.too_big) {
			/* Nothing of the function ran (every set-up failure says so
			 * with this DONE): an error, not an outcome. */
			snprintf(outcome->message, sizeof(outcome->message), "%s", res.done_message);
			r = -EPERM;
		} else {
			decide(&run, &res, status, timed_out, spec->timeout_ms, limits);
		}
	}
out:
	if (supervisor > 0) {
		/* Only on a failure of our own: never leave the tree behind. */
		kill(supervisor, SIGKILL);
		while (waitpid(supervisor, &status, 0) < 0 && errno == EINTR)
			;
	}
	for (size_t i = 0; i < run.cgroup_count; i++)
		close(run.cgroup_fds[i]);
	if (have_cgroup)
		cgroup_teardown(&cg);
	if (pidfd >= 0)
		close(pidfd);
	for (int i = 0; i < 2; i++)
		if (pair[i] >= 0)
			close(pair[i]);
	free(rd.body);
	sandbox_filter_free(&filter);
	free(s);
	/* A caller that looks only at the outcome must not read "ok". */
	if (r < 0)
		outcome->outcome = BRIG_REJECTED;
	return r;
}
