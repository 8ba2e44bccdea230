/*
 * libbrig, in-process form: run one function of your own program in a
 * sandbox built from brig's descriptors, and get what it emits back as
 * msgpack, without a brigd.  The descriptors, their validation and their
 * canonical order are the daemon's own (one engine, linked into both).
 *
 *     struct brig_spec *spec;
 *     struct brig_sandbox_outcome out;
 *
 *     brig_spec_new(&spec);
 *     brig_spec_add(spec, "ro=/usr/share/zoneinfo");
 *     brig_spec_add(spec, "seccomp=parser");
 *     brig_sandbox_run(spec, parse, &request, on_item, &results, &out);
 *     if (out.outcome != BRIG_OK) ... out.message says why
 *     brig_spec_free(spec);
 *
 * The function runs in a forked child: it sees the caller's memory as it
 * was at the call (a copy: what it writes stays in the child) and emits
 * items with the handler SDK's brig_item_begin()/brig_item_end() (or
 * brig_emit()), each reaching on_item in the caller as it is produced.
 *
 * Errors: 0 or a negative errno; where a message helps, it names the
 * descriptor at fault (brig_spec_error(), outcome->message).  See
 * libbrig(3).
 */
#ifndef BRIG_SANDBOX_H
#define BRIG_SANDBOX_H

#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>

#include <brig/brig.h>
#include <brig/handler.h>

#ifdef __cplusplus
extern "C" {
#endif

struct brig_spec;

/*
 * A new spec holding the defaults (owned by the caller: brig_spec_free).
 * As root they are those of brigd's built-in profile: uid and gid 65534,
 * namespaces pid net ipc uts mount cgroup (an empty filesystem view),
 * the seccomp deny-list with kill, rlimit_as=1G, rlimit_fsize=64M,
 * rlimit_nofile=64, rlimit_nproc=128, no cgroup limits, a 30 s timeout.
 * As any other uid the same, except that the job keeps the caller's uid
 * and gid and runs in a user namespace of its own (namespaces gains user).
 * 0 or -ENOMEM.
 */
int brig_spec_new(struct brig_spec **out);
void brig_spec_free(struct brig_spec *spec);

/*
 * Add one descriptor, "key=value", in the syntax of brigd.conf(5) and of
 * a request: user, group, namespaces, ro, rw, exec, tmpfs, connect, bind,
 * landlock, seccomp, seccomp_action, seccomp_allow, seccomp_deny,
 * rlimit_{as,cpu,fsize,nofile,nproc}, memory_max, pids_max; and timeout
 * (milliseconds, 0 for none), which only the in-process form has.  A later
 * descriptor of the same key replaces a scalar (user, seccomp, ...) and
 * adds to a list (ro, connect, seccomp_deny, ...).  0, or -EINVAL with
 * brig_spec_error() naming the descriptor.
 */
int brig_spec_add(struct brig_spec *spec, const char *descriptor);

/*
 * Add every descriptor of a profile-like text: one "key = value" per line;
 * blank lines and lines starting with '#' or ';' are skipped.  Stops at
 * the first bad line: -EINVAL, brig_spec_error() says which ("line 3:
 * ...").  Descriptors before it stay added.
 */
int brig_spec_add_text(struct brig_spec *spec, const char *text);

/* The message of spec's last failed call ("" if none); valid until the next. */
const char *brig_spec_error(const struct brig_spec *spec);

/*
 * The function run in the sandbox.  ctx emits items (brig_item_begin,
 * brig_item_end, brig_emit) and records an error message (brig_fail);
 * arg is the caller's, as it was when brig_sandbox_run was called.
 * Return 0 for success, anything else for an error (outcome BRIG_ERROR,
 * code = the value returned).
 */
typedef int (*brig_sandbox_fn)(struct brig_ctx *ctx, void *arg);

/* One emitted item, in order (seq counts from 0); item is valid during the call only. */
typedef void (*brig_sandbox_item_fn)(void *arg, uint32_t seq, const msgpack_object *item);

/*
 * Emit one item: data[0..len) must be exactly one msgpack object of at most
 * 8 MiB.  0, or -1 if it is not, or the caller is gone (then stop).
 */
int brig_emit(struct brig_ctx *ctx, const void *data, size_t len);

struct brig_sandbox_outcome {
	int outcome;              /* enum brig_job_outcome, as for a daemon job */
	/*
	 * BRIG_ERROR: what the function returned.  BRIG_CRASHED: the signal
	 * that killed it (0 if it exited on its own).  BRIG_VIOLATION: the
	 * refused syscall's number (-1 if not reported).
	 */
	int64_t code;
	char syscall[32];         /* BRIG_VIOLATION: the syscall's name, or "" */
	char message[1025];       /* why it ended, as a daemon job's FINAL says */
	uint32_t items;           /* items delivered to on_item */
	uint64_t wall_us;         /* from fork to reaped */
	uint64_t cpu_us;          /* user + system, the whole process tree */
	uint64_t maxrss_kib;
};

/*
 * Fork, lock the child into spec's sandbox in the canonical order, run
 * fn(ctx, arg) there and deliver each item it emits to on_item (may be
 * NULL) as it arrives.  Returns when the child and everything it started
 * are gone (its pid namespace is ended), with *outcome filled in:
 * BRIG_OK, BRIG_ERROR, BRIG_CRASHED, BRIG_TIMEOUT (spec's timeout passed),
 * BRIG_CPU_LIMIT, BRIG_MEMORY_LIMIT, BRIG_PIDS_LIMIT, BRIG_OUTPUT_LIMIT
 * (an item over 8 MiB), BRIG_VIOLATION (with the syscall's name).
 *
 * Returns 0 when fn was run (whatever its outcome), or before anything
 * runs: -EINVAL for contradictory descriptors, -EPERM for a descriptor
 * this caller cannot have applied (another uid or cgroup limits without
 * root), -EOPNOTSUPP for one the kernel or the library form cannot enforce
 * (fresh_uid_range: only brigd keeps a pool of fresh uids), or
 * another -errno if the sandbox could not be set up; outcome->message
 * names the descriptor or the step, and outcome->outcome is then
 * BRIG_REJECTED.  Waits only for its own child (the
 * caller must not ignore SIGCHLD nor reap children it did not start); may
 * be called from several threads at once.
 */
int brig_sandbox_run(const struct brig_spec *spec, brig_sandbox_fn fn, void *arg,
		     brig_sandbox_item_fn on_item, void *item_arg,
		     struct brig_sandbox_outcome *outcome);

/*
 * The whole-program form: lock the calling process itself into spec's
 * sandbox, in the same canonical order, for good.  For a program that has
 * finished starting up, or a child it has just forked.  The process must
 * be single-threaded.  Not applied to an existing process: the pid
 * namespace (only children could enter it; refused, drop it from
 * namespaces), and a timeout (refused).  Open fds, signal handlers and
 * the parent-death signal are left as they are; a seccomp violation kills
 * the process with SIGSYS.  0, or a negative errno as for
 * brig_sandbox_run with err (may be NULL) naming the descriptor or step;
 * after a failure past validation the process is half-locked and should
 * exit.
 */
int brig_sandbox_apply(const struct brig_spec *spec, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif

#endif
