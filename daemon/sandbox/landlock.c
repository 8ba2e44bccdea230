/*
 * Capability grants enforced with Landlock.
 *
 * One call builds one ruleset for the newest ABI the running kernel
 * offers, adds the spec's grants, and restricts the calling process.
 * Everything a ruleset handles and no rule allows is denied, so the whole
 * security argument is "handle every right we know, grant only what the
 * spec lists"; the rest of this file is bookkeeping for older kernels.
 *
 * Debian 12's <linux/landlock.h> stops at ABI 2, so what came later is
 * defined here.  The structs that grew (or appeared) are declared under
 * our own names: a newer header would otherwise clash with them, and an
 * #ifndef cannot detect a struct or an enum member.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <linux/types.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/landlock.h"
#include "util.h"

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#ifndef SYS_landlock_add_rule
#define SYS_landlock_add_rule 445
#endif
#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif

#ifndef LANDLOCK_CREATE_RULESET_VERSION
#define LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#endif
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)              /* ABI 2 */
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)           /* ABI 3 */
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)          /* ABI 5 */
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0)           /* ABI 4 */
#endif
#ifndef LANDLOCK_ACCESS_NET_CONNECT_TCP
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)        /* ABI 4 */
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)    /* ABI 6 */
#endif
#ifndef LANDLOCK_SCOPE_SIGNAL
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)                  /* ABI 6 */
#endif

/* enum landlock_rule_type grew this in ABI 4; an enum member cannot be
 * tested with #ifndef, hence our own name. */
#define BRIG_LANDLOCK_RULE_NET_PORT 2

/* struct landlock_ruleset_attr as of ABI 6; the kernel is told how much of
 * it we filled (ruleset_attr_size), so older kernels see their own layout. */
struct brig_ruleset_attr {
	__u64 handled_access_fs;
	__u64 handled_access_net;       /* ABI 4 */
	__u64 scoped;                   /* ABI 6 */
};

/* struct landlock_net_port_attr (ABI 4). */
struct brig_net_port_attr {
	__u64 allowed_access;
	__u64 port;
};

/* Rights with which the kernel accepts a rule on a non-directory. */
#define ACCESS_FILE (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | \
		     LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE | \
		     LANDLOCK_ACCESS_FS_IOCTL_DEV)

#define ACCESS_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)

/* MAKE_CHAR and MAKE_BLOCK are left out on purpose: a job never needs a
 * device node, and one it could create would bypass the /dev we build. */
#define ACCESS_WRITE (LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_TRUNCATE | \
		      LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE | \
		      LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | \
		      LANDLOCK_ACCESS_FS_MAKE_SYM | LANDLOCK_ACCESS_FS_MAKE_FIFO | \
		      LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_REFER)

static int landlock_create_ruleset(const struct brig_ruleset_attr *attr, size_t size,
				   uint32_t flags)
{
	return (int)syscall(SYS_landlock_create_ruleset, attr, size, flags);
}

static int landlock_add_rule(int ruleset_fd, int rule_type, const void *rule_attr)
{
	return (int)syscall(SYS_landlock_add_rule, ruleset_fd, rule_type, rule_attr, 0);
}

static int landlock_restrict_self(int ruleset_fd)
{
	return (int)syscall(SYS_landlock_restrict_self, ruleset_fd, 0);
}

int landlock_abi_version(void)
{
	int abi = landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

	/* ENOSYS: not built in; EOPNOTSUPP: built in but not enabled at boot
	 * (lsm=).  Any other failure is just as much "no Landlock". */
	return abi < 0 ? 0 : abi;
}

/* Every filesystem right the kernel's ABI knows: what it does not handle,
 * it allows. */
static uint64_t handled_access_fs(int abi)
{
	uint64_t access = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
			  LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR |
			  LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
			  LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR |
			  LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |
			  LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
			  LANDLOCK_ACCESS_FS_MAKE_SYM;

	/* Before ABI 2 reparenting is denied outright (EXDEV), whatever the
	 * ruleset says; from ABI 2 it must be handled to be granted at all. */
	if (abi >= 2)
		access |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		access |= LANDLOCK_ACCESS_FS_TRUNCATE;
	/* Handled and granted nowhere: no ioctl on any device the job opens
	 * itself (fds it inherited were opened before, and keep theirs). */
	if (abi >= 5)
		access |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return access;
}

/* The Landlock rights a spec grant maps to, for a directory.  WRITE and
 * EXEC build on READ, as the mount view does: a read-write or executable
 * bind is always readable. */
static uint64_t spec_access_rights(uint32_t access)
{
	uint64_t rights = ACCESS_READ;

	if (access & SPEC_ACCESS_WRITE)
		rights |= ACCESS_WRITE;
	if (access & SPEC_ACCESS_EXEC)
		rights |= LANDLOCK_ACCESS_FS_EXECUTE;
	return rights;
}

static const char *spec_access_name(uint32_t access)
{
	if (access & SPEC_ACCESS_WRITE)
		return "rw";
	if (access & SPEC_ACCESS_EXEC)
		return "exec";
	return "ro";
}

/*
 * Allow rights (as for a directory; cut down for a file) beneath path,
 * or nothing if path does not exist.
 *
 * The path is resolved in the job's root, following symlinks.  That cannot
 * reach past the grants: after pivot_root, "/" is the view we built and
 * holds nothing the spec did not list, and a narrowing layer added later
 * is intersected with this one, so a symlink planted in a writable
 * directory widens nothing.
 */
static int allow_path(int ruleset_fd, const char *path, uint64_t rights, uint64_t handled)
{
	struct landlock_path_beneath_attr rule = { 0 };
	_cleanup_close_ int fd = -1;
	struct stat st;

	fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	/* The kernel refuses directory-only rights on anything else (EINVAL). */
	if (!S_ISDIR(st.st_mode))
		rights &= ACCESS_FILE;
	rights &= handled;
	if (rights == 0)
		return 0;   /* nothing this kernel can grant; it would say ENOMSG */
	rule.allowed_access = rights;
	rule.parent_fd = fd;
	if (landlock_add_rule(ruleset_fd, LANDLOCK_RULE_PATH_BENEATH, &rule) < 0)
		return -errno;
	return 0;
}

/* What every job gets without asking; a missing one is skipped. */
static const struct implicit_grant {
	const char *path;
	uint64_t rights;
} implicit_grants[] = {
	{ "/dev/null", LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE },
	{ "/dev/zero", LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE },
	{ "/dev/full", LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE },
	{ "/dev/random", LANDLOCK_ACCESS_FS_READ_FILE },
	{ "/dev/urandom", LANDLOCK_ACCESS_FS_READ_FILE },
	/* The job's own procfs (its pid namespace), read-only: writable
	 * knobs under /proc/self (oom_score_adj, attr/, ...) stay closed. */
	{ "/proc", ACCESS_READ },
};

static int allow_port(int ruleset_fd, uint64_t right, uint16_t port)
{
	struct brig_net_port_attr rule = { .allowed_access = right, .port = port };

	if (landlock_add_rule(ruleset_fd, BRIG_LANDLOCK_RULE_NET_PORT, &rule) < 0)
		return -errno;
	return 0;
}

int landlock_restrict(const struct spec *s, char *err, size_t err_size)
{
	return landlock_restrict_families(s, LANDLOCK_FAMILY_ALL, err, err_size);
}

int landlock_restrict_families(const struct spec *s, unsigned families, char *err,
			       size_t err_size)
{
	struct brig_ruleset_attr attr = { 0 };
	_cleanup_close_ int ruleset_fd = -1;
	size_t attr_size;
	int abi, r;

	abi = landlock_abi_version();
	if (abi < 1) {
		snprintf(err, err_size, "landlock: not available in this kernel");
		return -EOPNOTSUPP;
	}

	/* Pass only what this kernel knows: it rejects unknown bits (EINVAL)
	 * and a larger struct with unknown fields set (E2BIG). */
	attr.handled_access_fs = (families & LANDLOCK_FAMILY_FS) ? handled_access_fs(abi) : 0;
	attr_size = offsetof(struct brig_ruleset_attr, handled_access_net);
	if (abi >= 4 && (families & LANDLOCK_FAMILY_NET)) {
		/* Handled even with no port granted: then no TCP connect or
		 * bind at all, which is what an empty grant list means. */
		attr.handled_access_net = LANDLOCK_ACCESS_NET_BIND_TCP |
					  LANDLOCK_ACCESS_NET_CONNECT_TCP;
		attr_size = offsetof(struct brig_ruleset_attr, scoped);
	}
	if (abi >= 6 && (families & LANDLOCK_FAMILY_SCOPE)) {
		/* The job can neither reach an abstract socket bound outside its
		 * domain (the broker's, another job's) nor signal a process
		 * outside it, even one running under the same uid. */
		attr.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL;
		attr_size = sizeof(attr);
	}
	ruleset_fd = landlock_create_ruleset(&attr, attr_size, 0);
	if (ruleset_fd < 0) {
		r = -errno;
		snprintf(err, err_size, "landlock: create ruleset (ABI %d): %s", abi, strerror(-r));
		return r;
	}

	/* A tmpfs is granted like a bind: its access says what the job may do
	 * there, whatever the mount allows. */
	for (size_t i = 0; (families & LANDLOCK_FAMILY_FS) && i < s->path_count; i++) {
		const struct spec_path *p = &s->paths[i];

		r = allow_path(ruleset_fd, p->path, spec_access_rights(p->access),
			       attr.handled_access_fs);
		if (r < 0) {
			snprintf(err, err_size, "%s=%s: landlock rule: %s",
				 spec_access_name(p->access), p->path, strerror(-r));
			return r;
		}
	}
	for (size_t i = 0; (families & LANDLOCK_FAMILY_FS) && i < ARRAY_SIZE(implicit_grants); i++) {
		const struct implicit_grant *g = &implicit_grants[i];

		r = allow_path(ruleset_fd, g->path, g->rights, attr.handled_access_fs);
		if (r < 0) {
			snprintf(err, err_size, "landlock: implicit grant of %s: %s", g->path,
				 strerror(-r));
			return r;
		}
	}

	/* Before ABI 4 the kernel cannot restrict TCP; the port lists then
	 * mean nothing here and only the network namespace confines the job. */
	if (abi >= 4 && (families & LANDLOCK_FAMILY_NET)) {
		for (size_t i = 0; i < s->connect_count; i++) {
			r = allow_port(ruleset_fd, LANDLOCK_ACCESS_NET_CONNECT_TCP,
				       s->connect_ports[i]);
			if (r < 0) {
				snprintf(err, err_size, "connect=%u: landlock rule: %s",
					 s->connect_ports[i], strerror(-r));
				return r;
			}
		}
		for (size_t i = 0; i < s->bind_count; i++) {
			r = allow_port(ruleset_fd, LANDLOCK_ACCESS_NET_BIND_TCP, s->bind_ports[i]);
			if (r < 0) {
				snprintf(err, err_size, "bind=%u: landlock rule: %s",
					 s->bind_ports[i], strerror(-r));
				return r;
			}
		}
	}

	/* Irreversible, inherited by every child, and stacked on any earlier
	 * layer: a later call can only take rights away. */
	if (landlock_restrict_self(ruleset_fd) < 0) {
		r = -errno;
		snprintf(err, err_size, "landlock: restrict self: %s%s", strerror(-r),
			 r == -EPERM ? " (no_new_privs is not set)" :
			 r == -E2BIG ? " (a process holds at most 16 layers)" : "");
		return r;
	}
	return 0;
}
