/*
 * The broker's side of privilege separation (docs/security.md): how the
 * broker gives up root (privsep_drop, privsep_load_filter) and how it asks
 * the root monitor (daemon/monitor.c) for what it may no longer do itself:
 * start and kill zygotes, check a client's access to a path, and tell
 * systemd its state.
 *
 * Two seqpacket channels lead to the monitor: one for zygotes and
 * notifications, driven by the broker's event loop, and one for access
 * checks, which are synchronous (the broker waits for the answer, as it
 * waited for its own forked child before privilege separation).
 */
#ifndef BRIG_DAEMON_PRIVSEP_H
#define BRIG_DAEMON_PRIVSEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <event2/event.h>

#include "wire.h"

/* Who the broker becomes. */
struct broker_identity {
	char user[BRIG_NAME_MAX + 1];
	uid_t uid;
	gid_t gid;
	bool keep_root;         /* broker_user = root: development only */
};

/*
 * In the freshly forked broker, still root: drop supplementary groups,
 * take id's gid and uid, empty every capability set (bounding and ambient
 * included), set no_new_privs, and die with the monitor (parent-death
 * signal).  0, or -errno with err naming the step.
 */
int privsep_drop(const struct broker_identity *id, pid_t monitor_pid, char *err,
		 size_t err_size);

/*
 * Load the broker's seccomp allow-list.  A syscall outside it kills the
 * broker with SIGSYS, after one line on stderr that names its number.
 * 0; 1 with err saying why when it cannot apply (under valgrind, which
 * has no seccomp); or -errno with err set.
 */
int privsep_load_filter(char *err, size_t err_size);

struct monitor_link;

struct monitor_link_ops {
	/* MONITOR_ZYGOTE_STARTED: fd (owned by the callee) is the zygote's
	 * channel when pid > 0; else error says why it did not start. */
	void (*zygote_started)(void *arg, uint32_t request, pid_t pid, int fd, int error);
	/* MONITOR_ZYGOTE_DIED: the monitor reaped a zygote. */
	void (*zygote_died)(void *arg, pid_t pid, int wait_status);
};

/*
 * Takes ownership of both fds.  The monitor is the more privileged peer:
 * if it breaks a rule or goes away, the broker exits (fatal).
 */
struct monitor_link *monitor_link_new(struct event_base *base, int channel_fd, int access_fd,
				      const struct monitor_link_ops *ops, void *arg);
void monitor_link_free(struct monitor_link *l);

int monitor_start_zygote(struct monitor_link *l, uint32_t request);
/* Only a live zygote of this monitor is killed; any other pid is ignored. */
int monitor_kill_zygote(struct monitor_link *l, pid_t pid);
void monitor_notify(struct monitor_link *l, enum monitor_notify_state state, const char *status);

/*
 * Could uid (gid, groups) itself reach path with mode (R_OK | W_OK | X_OK)?
 * Asked of the monitor, which checks in a child that takes that identity.
 * 0: yes; -EACCES (or another -errno): no.  Blocks until the answer.
 */
int monitor_check_access(struct monitor_link *l, uid_t uid, gid_t gid, const gid_t *groups,
			 size_t group_count, const char *path, int mode);

#endif
