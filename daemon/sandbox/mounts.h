/*
 * The job's filesystem view (mount namespace): pivot_root into an empty
 * tmpfs root that holds only what the spec lists.
 */
#ifndef BRIG_SANDBOX_MOUNTS_H
#define BRIG_SANDBOX_MOUNTS_H

#include <stddef.h>

#include "spec.h"

/*
 * Called as root in a fresh mount namespace (and, for /proc, a fresh pid
 * namespace), before credentials are dropped.  Builds:
 *   /            tmpfs, mode 0755, read-only once built (remounted MS_RDONLY)
 *   each spec path: SPEC_PATH_BIND = bind of the same host path, read-only
 *                 unless WRITE is granted, noexec unless EXEC is granted;
 *                 SPEC_PATH_TMPFS = empty tmpfs of tmpfs_size bytes
 *                 (writable, noexec unless EXEC); parents are created in
 *                 the new root as needed; optional host paths that do not
 *                 exist are skipped;
 *   /proc        (only with a pid namespace: without one, no /proc at all)
 *                a new procfs (the job's pid namespace), nosuid,nodev,noexec,
 *                hidepid=invisible where supported;
 *   /dev         tmpfs holding only null, zero, full, random, urandom
 *                (bind-mounted from the host's nodes), plus fd -> /proc/self/fd,
 *                stdin/stdout/stderr symlinks;
 * every mount nosuid and nodev (except the /dev node binds, which keep
 * their device nature but are nosuid,noexec); then pivot_root and detach
 * the old root so no host path remains reachable; chdir("/").
 * Mount propagation is made private first so nothing leaks back to the
 * host.  Returns 0 or -errno with err naming the path and the step.
 */
int mounts_build_view(const struct spec *s, char *err, size_t err_size);

#endif
