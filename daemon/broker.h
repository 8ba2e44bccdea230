/*
 * The broker role: the process on the socket.  It authenticates clients
 * (SO_PEERCRED), checks and queues their jobs, keeps a warm pool of
 * sandboxed workers per profile (asking the zygote for more), hands each
 * job to a ready worker, relays the worker's items to the client as they
 * come, enforces deadlines and output limits, and sends exactly one final
 * status per job.
 */
#ifndef BRIG_DAEMON_BROKER_H
#define BRIG_DAEMON_BROKER_H

#include "config.h"

/* How the zygote is started again: brigd's own command line, plus --zygote. */
struct zygote_command {
	char *const *argv;      /* NULL-terminated; "--zygote" "3" appended */
	int argc;
};

/* Runs until SIGTERM/SIGINT.  Returns the process exit code. */
int broker_main(struct config *cfg, const struct zygote_command *zygote_cmd);

#endif
