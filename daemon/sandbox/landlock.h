/*
 * Capability grants enforced with Landlock: everything not granted is
 * denied, on top of what the mount view already hides.
 */
#ifndef BRIG_SANDBOX_LANDLOCK_H
#define BRIG_SANDBOX_LANDLOCK_H

#include <stddef.h>

#include "spec.h"

/* The kernel's Landlock ABI version, or 0 when Landlock is unavailable. */
int landlock_abi_version(void);

/*
 * Restrict the calling process (no_new_privs already set) with one
 * Landlock layer built for the newest ABI the kernel offers:
 *  - filesystem: handled = every access right of that ABI; allowed only
 *    beneath spec paths, per their access (READ: read file + read dir;
 *    WRITE: + write file, truncate, make/remove entries, refer within;
 *    EXEC: + execute), plus read/write on /dev/{null,zero,full} and read
 *    on /dev/{random,urandom}, read on /proc (the job's own);
 *    ioctl on devices (ABI >= 5) only on those /dev nodes;
 *  - network (ABI >= 4): TCP connect only to s->connect_ports, bind only
 *    to s->bind_ports;
 *  - scopes (ABI >= 6): abstract unix sockets and signals scoped to the
 *    domain (a job cannot reach an abstract socket outside, nor signal
 *    a process outside its own Landlock domain);
 * Paths are looked up in the current (job's) root, after pivot_root; a
 * listed path that does not exist is skipped.
 * Returns 0, -EOPNOTSUPP when the kernel has no Landlock (the caller
 * decides with s->landlock_required), or -errno with err set.
 */
int landlock_restrict(const struct spec *s, char *err, size_t err_size);

/*
 * The same, handling only some families: a request's narrowing layer
 * handles the filesystem only if it names paths, TCP only if it names
 * ports, so that it takes away nothing it does not mention.
 */
enum landlock_family {
	LANDLOCK_FAMILY_FS = 1u << 0,
	LANDLOCK_FAMILY_NET = 1u << 1,
	LANDLOCK_FAMILY_SCOPE = 1u << 2,
	LANDLOCK_FAMILY_ALL = 7u,
};
int landlock_restrict_families(const struct spec *s, unsigned families, char *err,
			       size_t err_size);

#endif
