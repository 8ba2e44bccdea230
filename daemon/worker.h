/*
 * The worker role: one job, then exit.  Runs in the child of the zygote's
 * clone(), locks itself into the sandbox, announces itself ready to the
 * broker, and waits, already sandboxed, for its job.
 */
#ifndef BRIG_DAEMON_WORKER_H
#define BRIG_DAEMON_WORKER_H

#include <stdbool.h>
#include <sys/wait.h>

#include "config.h"
#include "plugins.h"
#include "sandbox.h"

/* Exit codes the zygote reports; the broker turns them into statuses. */
enum {
	WORKER_EXIT_OK = 0,
	WORKER_EXIT_CHANNEL = 71,     /* the broker went away or broke the rules */
	/* Could not lock itself down, so ran nothing: 80 + enum sandbox_step. */
	WORKER_EXIT_SANDBOX = 80,
	WORKER_EXIT_SANDBOX_END = WORKER_EXIT_SANDBOX + SANDBOX_STEP__COUNT,
	/* The job process died of signal N: the namespace's init exits 128 + N. */
	WORKER_EXIT_SIGNAL = 128,
};

/* Decode the wait status of a worker's init into a signal (0: none). */
static inline int worker_exit_signal(int wait_status)
{
	if (WIFSIGNALED(wait_status))
		return WTERMSIG(wait_status);
	if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) > WORKER_EXIT_SIGNAL)
		return WEXITSTATUS(wait_status) - WORKER_EXIT_SIGNAL;
	return 0;
}

static inline bool worker_failed_sandbox(int wait_status)
{
	return WIFEXITED(wait_status) && WEXITSTATUS(wait_status) >= WORKER_EXIT_SANDBOX &&
	       WEXITSTATUS(wait_status) < WORKER_EXIT_SANDBOX_END;
}

/*
 * Whether a profile's workers trace the programs of exec jobs, to name
 * the syscall of a violation: exec jobs, a deny-list filter that kills.
 * Its filter is then built with SECCOMP_BUILD_EXEC_RELAY (ptrace left to
 * the worker; every job takes it back before running anything).
 */
static inline bool worker_traces_exec(const struct profile_config *p)
{
	return p->allow_exec && p->spec.seccomp_mode == SPEC_SECCOMP_DENYLIST &&
	       p->spec.seccomp_action == SPEC_SECCOMP_KILL;
}

__attribute__((noreturn))
void worker_main(const struct config *cfg, const struct profile_config *profile, uid_t uid,
		 const struct sandbox_filter *filter, const struct plugin_set *plugins,
		 int channel_fd);

/* The same for a worker forked by its profile's template (template.h). */
__attribute__((noreturn))
void worker_main_from_template(const struct config *cfg, const struct profile_config *profile,
			       uid_t uid, const struct sandbox_filter *filter,
			       const struct plugin_set *plugins, int channel_fd);

#endif
