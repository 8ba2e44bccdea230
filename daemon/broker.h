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

#include <stdint.h>
#include <sys/types.h>

#include "config.h"

/* Where the configuration comes from, for SIGHUP to read it again. */
struct config_source {
	const char *path;               /* NULL: the built-in defaults */
	const char *socket_path;        /* command-line overrides, or NULL */
	const char *handler_dir;        /* already absolute, or NULL */
	int log_level;                  /* -1: the file's */
};

/* What the monitor (daemon/monitor.c) hands the broker it forks. */
struct broker_setup {
	int listen_fd;                  /* bound and listening */
	int monitor_fd;                 /* zygotes and systemd notifications */
	int access_fd;                  /* access checks, one at a time */
	uint64_t watchdog_usec;         /* systemd's watchdog interval, or 0 */
};

/*
 * Runs until SIGTERM/SIGINT; SIGHUP reloads the configuration from src.
 * Takes ownership of cfg and of setup's fds.  Returns the exit code.
 */
int broker_main(struct config *cfg, const struct config_source *src,
		const struct broker_setup *setup);

#endif
