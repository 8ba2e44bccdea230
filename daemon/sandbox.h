/*
 * The sandbox a worker is locked into before any job reaches it.
 *
 * Issue 2's minimum: fresh pid, mount, ipc, uts and network namespaces; a
 * /proc of its own; an unprivileged uid/gid with no supplementary groups;
 * every capability dropped (bounding and ambient sets too); no_new_privs;
 * core dumps off; a seccomp deny-list compiled once in the zygote; every fd
 * closed but the job channel.
 */
#ifndef BRIG_DAEMON_SANDBOX_H
#define BRIG_DAEMON_SANDBOX_H

#include <linux/filter.h>

#include "config.h"

/* The worker's job channel always sits at this fd. */
#define WORKER_CHANNEL_FD 3

struct sandbox_filter {
	struct sock_fprog prog;   /* owned: prog.filter is malloc'ed */
};

/* clone() flags that give a worker its namespaces. */
unsigned long sandbox_clone_flags(const struct profile_config *profile);

/* Compile the profile's seccomp filter (in the zygote, once). 0 or -errno. */
int sandbox_filter_build(const struct profile_config *profile, struct sandbox_filter *out);
void sandbox_filter_free(struct sandbox_filter *filter);

/* What sandbox_enter() was doing when it failed. */
enum sandbox_step {
	SANDBOX_STEP_SIGNALS,
	SANDBOX_STEP_FDS,
	SANDBOX_STEP_MOUNT_NAMESPACE,
	SANDBOX_STEP_PROC,
	SANDBOX_STEP_HOSTNAME,
	SANDBOX_STEP_RLIMITS,
	SANDBOX_STEP_IDENTITY,
	SANDBOX_STEP_NO_NEW_PRIVS,
	SANDBOX_STEP_PARENT_DEATH_SIGNAL,
	SANDBOX_STEP_SECCOMP,
	SANDBOX_STEP_FORK,
	SANDBOX_STEP__COUNT,
};
const char *sandbox_step_name(int step);

/*
 * Lock the calling process (a fresh child of clone(sandbox_clone_flags),
 * still root) into the sandbox.  channel_fd ends up at WORKER_CHANNEL_FD.
 * Returns 0, or -errno with *step saying what failed; the caller must
 * then exit without running anything.
 */
int sandbox_enter(const struct profile_config *profile, const struct sandbox_filter *filter,
		  int channel_fd, enum sandbox_step *step);

#endif
