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

#include <sys/types.h>

#include "config.h"

/* How the zygote is started again: brigd's own command line, plus --zygote. */
struct zygote_command {
	char *const *argv;      /* NULL-terminated; "--zygote" "3" appended */
	int argc;
	/*
	 * brigd's own binary, resolved at start-up (readlink /proc/self/exe):
	 * under valgrind /proc/self/exe is valgrind itself, while readlink
	 * tells the program it runs.  If the file is replaced (an upgrade),
	 * a new zygote would run the new binary: brigd warns, and wants a
	 * restart after upgrades.
	 */
	const char *exe;
	dev_t exe_dev;
	ino_t exe_ino;
};

/* Where the configuration comes from, for SIGHUP to read it again. */
struct config_source {
	const char *path;               /* NULL: the built-in defaults */
	const char *socket_path;        /* command-line overrides, or NULL */
	const char *handler_dir;        /* already absolute, or NULL */
	int log_level;                  /* -1: the file's */
};

/*
 * Runs until SIGTERM/SIGINT; SIGHUP reloads the configuration from src.
 * Takes ownership of cfg.  Returns the process exit code.
 */
int broker_main(struct config *cfg, const struct config_source *src,
		const struct zygote_command *zygote_cmd);

#endif
