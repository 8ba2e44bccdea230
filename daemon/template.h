/*
 * The template role: one per profile that can use it, the shape that makes
 * brig fast.  Forked by the zygote into the profile's namespaces, it is
 * pid 1 of the profile's pid namespace, builds the filesystem view once,
 * and keeps only CAP_SETUID, CAP_SETGID and CAP_SETPCAP.  A worker is then
 * a single fork of it that takes a fresh uid, drops those too, enters its
 * own Landlock domain and loads the profile's prebuilt seccomp filter.
 *
 * A worker's whole process tree is ended by killing every process of its
 * (fresh, unique) uid: kill(-1, SIGKILL) from a child that has taken that
 * uid, which the kernel performs without letting a fork slip through.
 *
 * Used only for profiles whose workers share nothing they could leak to
 * each other: fresh uids, a read-only view (no rw binds, no tmpfs),
 * Landlock scopes (ABI >= 6) so that abstract sockets and signals stay
 * within a worker, and SysV/POSIX IPC refused by seccomp.  Other profiles
 * get a fresh set of namespaces per worker straight from the zygote.
 */
#ifndef BRIG_DAEMON_TEMPLATE_H
#define BRIG_DAEMON_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "plugins.h"
#include "sandbox.h"

/* Whether profile p can be served by a template on this kernel. */
bool template_suits(const struct profile_config *p, int landlock_abi);

/*
 * Entry of the template role, in the child of clone(profile namespaces).
 * zygote_fd is its SOCK_SEQPACKET channel to the zygote.  Never returns.
 */
__attribute__((noreturn))
void template_main(const struct config *cfg, const struct profile_config *profile,
		   const struct sandbox_filter *filter, const struct plugin_set *plugins,
		   int zygote_fd);

#endif
