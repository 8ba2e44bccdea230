/*
 * The sandbox a worker is locked into before any job reaches it: the
 * descriptor engine's orchestrator.  It applies a spec (spec.h) in one
 * canonical order, whatever order the descriptors were written in:
 *
 *   namespaces (clone flags, by the zygote)
 *   -> signals reset -> fds (only the job channel survives)
 *   -> filesystem view (sandbox/mounts.c) -> hostname -> rlimits
 *   -> groups, gid, capabilities (bounding, ambient), uid
 *   -> no_new_privs -> parent-death signal
 *   -> Landlock (sandbox/landlock.c) -> seccomp (sandbox/seccomp.c)
 *
 * Each later step relies on the earlier ones: the view is built while we
 * are still root; Landlock and seccomp come last so that nothing of the
 * set-up needs to be allowed by them.
 */
#ifndef BRIG_DAEMON_SANDBOX_H
#define BRIG_DAEMON_SANDBOX_H

#include <linux/filter.h>
#include <stdbool.h>
#include <sys/types.h>

#include "spec.h"

/* The worker's job channel always sits at this fd. */
#define WORKER_CHANNEL_FD 3

/* A profile's compiled seccomp filter (built once, in the zygote). */
struct sandbox_filter {
	struct sock_fprog prog;   /* owned: prog.filter is malloc'ed */
};

/* What sandbox_enter() was doing when it failed. */
enum sandbox_step {
	SANDBOX_STEP_SIGNALS,
	SANDBOX_STEP_FDS,
	SANDBOX_STEP_MOUNTS,
	SANDBOX_STEP_HOSTNAME,
	SANDBOX_STEP_RLIMITS,
	SANDBOX_STEP_IDENTITY,
	SANDBOX_STEP_NO_NEW_PRIVS,
	SANDBOX_STEP_PARENT_DEATH_SIGNAL,
	SANDBOX_STEP_LANDLOCK,
	SANDBOX_STEP_SECCOMP,
	SANDBOX_STEP_FORK,
	SANDBOX_STEP_CGROUP,
	SANDBOX_STEP_NAMESPACES,        /* unshare and uid maps (sandbox_apply_self) */
	SANDBOX_STEP__COUNT,
};
const char *sandbox_step_name(int step);

/* Compile the spec's seccomp filter.  0 or -errno with err set. */
int sandbox_filter_build(const struct spec *s, struct sandbox_filter *out, char *err,
			 size_t err_size);
/* The same, for a worker that relays exec jobs (see worker_traces_exec). */
int sandbox_filter_build_exec_relay(const struct spec *s, struct sandbox_filter *out, char *err,
				    size_t err_size);
void sandbox_filter_free(struct sandbox_filter *filter);

/*
 * Lock the calling process (a fresh child of clone(spec_clone_flags(s)),
 * still root) into the sandbox, running as uid (s->uid, or the fresh uid
 * the zygote picked).  channel_fd ends up at WORKER_CHANNEL_FD.  Returns
 * 0, or -errno with *step saying what failed; the caller must then exit
 * without running anything.
 */
int sandbox_enter(const struct spec *s, uid_t uid, const struct sandbox_filter *filter,
		  int channel_fd, enum sandbox_step *step);

/*
 * How the in-process form (libbrig) differs from a worker of the root
 * daemon; 0 is the daemon's way.
 */
enum sandbox_flags {
	SANDBOX_KEEP_GROUPS = 1u << 0,  /* setgroups is denied (unprivileged user namespace) */
	SANDBOX_UNPRIVILEGED = 1u << 1, /* no CAP_SETPCAP: bounding set, securebits stay */
	SANDBOX_NO_PARENT_DEATH_SIGNAL = 1u << 2,
	SANDBOX_BOUNDING_EMPTY = 1u << 3, /* a template emptied the bounding set already */
	SANDBOX_NO_REPORTER = 1u << 3,  /* a violation just kills with SIGSYS */
};

/* sandbox_enter() with flags, and err saying more where a mechanism can. */
int sandbox_enter_flags(const struct spec *s, uid_t uid, const struct sandbox_filter *filter,
			int channel_fd, unsigned flags, enum sandbox_step *step, char *err,
			size_t err_size);

/*
 * Map uid and gid, each to itself, into the user namespace of pid (from
 * outside it); deny_setgroups first when the writer lacks CAP_SETGID.
 * 0 or -errno with err set.
 */
int sandbox_write_id_maps(pid_t pid, uid_t uid, gid_t gid, bool deny_setgroups, char *err,
			  size_t err_size);

/*
 * Before unshare(CLONE_NEWUSER) as root: become uid (and s->gid, no
 * groups), the only ids the namespace maps.  0 (also when nothing is to
 * do) or -errno.
 */
int sandbox_user_ns_identity(const struct spec *s, uid_t uid);

/*
 * The whole-program form: lock the calling (single-threaded) process into
 * s for good, in the canonical order from the namespaces on (unshare, uid
 * maps written by a forked helper, view, hostname, rlimits, identity,
 * no_new_privs, Landlock, seccomp), leaving fds, signal handlers and the
 * parent-death signal alone.  s must have passed
 * spec_validate_for(SPEC_TARGET_SELF).  0 or -errno with *step and err.
 */
int sandbox_apply_self(const struct spec *s, uid_t uid, const struct sandbox_filter *filter,
		       unsigned flags, enum sandbox_step *step, char *err, size_t err_size);

/*
 * filter may be NULL in sandbox_enter(): everything but seccomp is applied,
 * and the caller loads the filter later with sandbox_load_seccomp(), in the
 * process that will run the job (a worker's pid 1 must still fork).
 */
int sandbox_load_seccomp(const struct spec *s, const struct sandbox_filter *filter);

/*
 * The template's part (see template.h): namespaces' contents (view,
 * hostname), then uid 0 with only CAP_SETUID, CAP_SETGID, CAP_SETPCAP,
 * no_new_privs.  channel_fd ends at WORKER_CHANNEL_FD.
 */
int sandbox_enter_template(const struct spec *s, int channel_fd, enum sandbox_step *step);

/*
 * A worker forked by its template: signals, fds (channel_fd replaces the
 * template's channel at WORKER_CHANNEL_FD), then rlimits, uid, no
 * capabilities, Landlock, seccomp, as in sandbox_enter().
 */
/*
 * In a template, once its own signal set-up is done: remember which
 * signals are not at their default disposition, so that each worker
 * resets those only (a sigaction call per signal adds up per worker).
 */
void sandbox_template_signals_settled(void);

int sandbox_enter_from_template(const struct spec *s, uid_t uid,
				const struct sandbox_filter *filter, int channel_fd,
				enum sandbox_step *step);

/*
 * Rlimits of s, for a worker applying a request's lower limits to itself.
 * A limit may only go down (setrlimit enforces it for an unprivileged
 * process).  0 or -errno.
 */
int sandbox_apply_rlimits(const struct spec *s);

/*
 * A request's narrowing layer (spec_narrow output), applied by a worker
 * to itself when its job arrives.  0 or -errno with err set.
 */
int sandbox_apply_layer(const struct spec *profile, const struct spec *layer, char *err,
			size_t err_size);

#endif
