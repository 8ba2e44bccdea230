/*
 * The monitor role: the process brigd starts as, root for its whole life,
 * and the smallest part of brigd that keeps privilege (privilege
 * separation, docs/security.md).  After start-up it only
 *   - starts zygotes when the broker asks, handing the broker each one's
 *     channel (SCM_RIGHTS), and reaps them, kills them on request and
 *     reports their deaths;
 *   - answers the broker's access checks (could this uid reach this path?)
 *     in a child that takes the client's identity;
 *   - passes the broker's state on to systemd (sd_notify);
 *   - forwards SIGTERM, SIGINT and SIGHUP to the broker, and exits with the
 *     broker's status once it and every zygote are gone.
 * It never reads a client's bytes: the broker is the only peer it has, and
 * it takes a small fixed set of messages from it (MSG_MONITOR_* in
 * proto/wire.h), each field checked; a broken rule ends the broker.
 */
#ifndef BRIG_DAEMON_MONITOR_H
#define BRIG_DAEMON_MONITOR_H

#include <sys/types.h>

#include "broker.h"
#include "config.h"

/* How a zygote is started: brigd's own command line, plus --zygote. */
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

/*
 * Bind (or take from systemd) the socket, fork the broker, which drops to
 * cfg->broker_user, and serve it until it exits.  Takes ownership of cfg.
 * Returns the process exit code: the broker's.
 */
int monitor_main(struct config *cfg, const struct config_source *src,
		 const struct zygote_command *zygote_cmd);

#endif
