/*
 * The worker role: one job, then exit.  Runs in the child of the zygote's
 * clone(), locks itself into the sandbox, announces itself ready to the
 * broker, and waits, already sandboxed, for its job.
 */
#ifndef BRIG_DAEMON_WORKER_H
#define BRIG_DAEMON_WORKER_H

#include "config.h"
#include "plugins.h"
#include "sandbox.h"

/* Exit codes the zygote reports; the broker turns them into statuses. */
enum {
	WORKER_EXIT_OK = 0,
	WORKER_EXIT_SANDBOX = 70,     /* could not lock itself down: ran nothing */
	WORKER_EXIT_CHANNEL = 71,     /* the broker went away or broke the rules */
};

__attribute__((noreturn))
void worker_main(const struct config *cfg, const struct profile_config *profile,
		 const struct sandbox_filter *filter, const struct plugin_set *plugins,
		 int channel_fd);

#endif
