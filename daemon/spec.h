/*
 * The descriptor engine's compiled form: a spec is everything a worker is
 * locked down with, already checked.  Profiles (brigd.conf) compile into a
 * spec once; a request may then narrow a copy of it (spec_narrow), never
 * widen it.  The mechanisms in daemon/sandbox/ each apply one part of a
 * spec, in the canonical order fixed by sandbox_enter():
 *
 *   namespaces (clone flags) -> fds -> filesystem view (mounts.c)
 *   -> hostname -> rlimits (rlimits.c) -> uid/gid, capabilities (creds)
 *   -> no_new_privs -> Landlock (landlock.c) -> seccomp (seccomp.c)
 *
 * whatever order the descriptors were written in.
 *
 * Library code: no logging, no exit; errors are -errno plus a message that
 * names the descriptor(s) at fault.
 */
#ifndef BRIG_DAEMON_SPEC_H
#define BRIG_DAEMON_SPEC_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SPEC_MAX_PATHS 64          /* filesystem grants and mounts */
#define SPEC_MAX_PORTS 32
#define SPEC_MAX_SYSCALLS 128      /* per-profile seccomp additions */
#define SPEC_PATH_MAX 256
#define BRIG_DESCRIPTOR_TEXT_MAX 513   /* one "key=value" request descriptor + NUL */

/* Namespaces a worker is created in (clone flags are derived from these). */
enum spec_namespace {
	SPEC_NS_USER = 1u << 0,
	SPEC_NS_PID = 1u << 1,
	SPEC_NS_NET = 1u << 2,
	SPEC_NS_IPC = 1u << 3,
	SPEC_NS_UTS = 1u << 4,
	SPEC_NS_MOUNT = 1u << 5,
	SPEC_NS_CGROUP = 1u << 6,
};
#define SPEC_NS_DEFAULT (SPEC_NS_PID | SPEC_NS_NET | SPEC_NS_IPC | SPEC_NS_UTS | \
			 SPEC_NS_MOUNT | SPEC_NS_CGROUP)

/* What a path grant allows (capability descriptors). */
enum spec_access {
	SPEC_ACCESS_READ = 1u << 0,     /* read files, list directories */
	SPEC_ACCESS_WRITE = 1u << 1,    /* create, write, truncate, remove */
	SPEC_ACCESS_EXEC = 1u << 2,     /* execute files */
};

/*
 * One path in the job's filesystem view.  A grant of READ is a read-only
 * bind of the host path at the same place; WRITE makes it read-write; EXEC
 * drops noexec.  TMPFS is an empty private tmpfs (size bytes) at path.
 * Landlock enforces the same access on the same paths.
 */
enum spec_path_kind { SPEC_PATH_BIND, SPEC_PATH_TMPFS };

struct spec_path {
	enum spec_path_kind kind;
	char path[SPEC_PATH_MAX];       /* absolute, normalised, no "..", no "//" */
	uint32_t access;                /* enum spec_access */
	uint64_t tmpfs_size;            /* SPEC_PATH_TMPFS */
	bool optional;                  /* a missing host path is skipped, not an error */
};

enum spec_seccomp_mode {
	SPEC_SECCOMP_DENYLIST,          /* allow all but the default deny-list */
	SPEC_SECCOMP_ALLOWLIST,         /* "parser": allow only what a parser needs */
};

enum spec_seccomp_action {
	SPEC_SECCOMP_KILL,              /* the job dies: outcome violation + syscall */
	SPEC_SECCOMP_ERRNO,             /* the call fails with EPERM, the job goes on */
};

enum spec_rlimit {
	SPEC_RLIMIT_AS,                 /* bytes of address space */
	SPEC_RLIMIT_CPU,                /* seconds of CPU */
	SPEC_RLIMIT_FSIZE,              /* bytes per written file */
	SPEC_RLIMIT_NOFILE,             /* open files */
	SPEC_RLIMIT_NPROC,              /* processes of the job's uid */
	SPEC_RLIMIT__COUNT,
};
#define SPEC_UNLIMITED UINT64_MAX

struct spec {
	/* user/group: a fixed uid, or a fresh one per worker from a range */
	bool fresh_uid;
	uid_t uid;                      /* fixed, never 0 */
	gid_t gid;                      /* never 0 */
	uid_t uid_first;                /* fresh: [uid_first, uid_first + uid_count) */
	uint32_t uid_count;

	uint32_t namespaces;            /* enum spec_namespace */

	/* filesystem view: empty root plus these (needs SPEC_NS_MOUNT) */
	struct spec_path paths[SPEC_MAX_PATHS];
	size_t path_count;

	/* network grants, enforced by Landlock; need !SPEC_NS_NET to be usable */
	uint16_t connect_ports[SPEC_MAX_PORTS];
	size_t connect_count;
	uint16_t bind_ports[SPEC_MAX_PORTS];
	size_t bind_count;

	bool landlock_required;         /* refuse jobs where Landlock is missing */

	enum spec_seccomp_mode seccomp_mode;
	enum spec_seccomp_action seccomp_action;
	char seccomp_allow[SPEC_MAX_SYSCALLS][32];   /* added to the allow-list */
	size_t seccomp_allow_count;
	char seccomp_deny[SPEC_MAX_SYSCALLS][32];    /* added to the deny-list */
	size_t seccomp_deny_count;

	uint64_t rlimits[SPEC_RLIMIT__COUNT];        /* SPEC_UNLIMITED: not set */

	/* cgroup limits (0: not set) */
	uint64_t memory_max;            /* bytes */
	uint64_t pids_max;
};

/* The strictest sensible spec: what the built-in default profile uses. */
void spec_set_defaults(struct spec *s);

/*
 * Check a spec for contradictions and unsupported combinations before any
 * process is touched.  Returns 0, or -EINVAL with err naming the
 * descriptor(s), e.g. "connect=443 needs the network, but namespaces
 * include net (no network)".
 */
int spec_validate(const struct spec *s, char *err, size_t err_size);

/*
 * Who a spec is for.  The daemon (spec_validate) refuses the user
 * namespace; the in-process form (libbrig) maps one uid into it.  A spec
 * applied to the calling process itself cannot have a pid namespace; one
 * for a child must (the namespace is how every process of the job ends).
 */
enum spec_target {
	SPEC_TARGET_DAEMON,             /* brigd's workers */
	SPEC_TARGET_CHILD,              /* brig_sandbox_run: a forked child */
	SPEC_TARGET_SELF,               /* brig_sandbox_apply: the caller */
};
int spec_validate_for(const struct spec *s, enum spec_target target, char *err,
		      size_t err_size);

/* An empty layer: no paths, no ports, no limits set; what a request adds. */
void spec_layer_init(struct spec *layer);

/*
 * Check one request descriptor ("key=value") against the profile's spec
 * and add it to layer.  A request may only narrow: paths within the
 * profile's grants with no more access, ports the profile grants, lower
 * rlimits, more denied syscalls.  Anything else (identity, namespaces,
 * new mounts, wider access) is refused with -EPERM and err naming the
 * descriptor; bad syntax with -EINVAL.
 */
int spec_narrow(const struct spec *profile, const char *descriptor, struct spec *layer,
		char *err, size_t err_size);

/*
 * Set one descriptor from its text form, the same in brigd.conf and in a
 * request: user, group, fresh_uid_range, namespaces, ro, rw, exec, tmpfs,
 * connect, bind, landlock, seccomp, seccomp_action, seccomp_allow,
 * seccomp_deny, rlimit_{as,cpu,fsize,nofile,nproc}, memory_max, pids_max.  Returns 0, -ENOENT for a key that is not a descriptor, or
 * -EINVAL with err naming the descriptor.
 */
int spec_set_descriptor(struct spec *s, const char *key, const char *value, char *err,
			size_t err_size);

/* "64M", "1G", "4096", "unlimited" (SPEC_UNLIMITED). 0 or -EINVAL/-ERANGE. */
int spec_parse_size(const char *s, uint64_t *out);

/* clone() flags for s's namespaces. */
unsigned long spec_clone_flags(const struct spec *s);

/* Normalise an absolute path in place; -EINVAL if relative or has "..". */
int spec_normalise_path(char *path);

#endif
