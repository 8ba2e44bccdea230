/*
 * brigd's configuration: the built-in defaults, and brigd.conf (INI, parsed
 * with libinih).  Library code: returns 0 or -errno and writes the reason,
 * naming the file and line, into the caller's buffer.
 */
#ifndef BRIG_DAEMON_CONFIG_H
#define BRIG_DAEMON_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "spec.h"
#include "wire.h"

#define BRIG_MAX_PROFILES 64
/* The system user of systemd/sysusers.d/brig.conf. */
#define BRIG_BROKER_USER "brig"
#define BRIG_MAX_POOL_SIZE 256
#define BRIG_MAX_WORKER_REUSE 100000
/* Unless pool_max says otherwise, a pool may grow to 4 times its size. */
#define BRIG_DEFAULT_POOL_MAX(size) \
	((size) * 4u > BRIG_MAX_POOL_SIZE ? (unsigned)BRIG_MAX_POOL_SIZE : (size) * 4u)
/* Fresh uids of the built-in and configured profiles start here: 1024 per
 * profile, above the ranges distributions give to users and containers'
 * usual 65536-uid maps (documented in brigd.conf(5)). */
#define BRIG_FRESH_UID_BASE 3000000000u
#define BRIG_MAX_POLICY_IDS 64
#define BRIG_MAX_PROFILE_HANDLERS 64
/* The largest max_input_fd: a worker maps or reads the whole input. */
#define BRIG_MAX_INPUT_FD (16ull * 1024 * 1024 * 1024)

struct profile_config {
	char name[BRIG_NAME_MAX + 1];
	unsigned pool_size;             /* warm workers kept ready, at least */
	unsigned pool_max;              /* ... and at most, after a burst (autosizing) */
	bool pool_max_set;
	uint32_t pool_idle_ms;          /* how long a grown pool stays grown when idle */
	unsigned worker_reuse;          /* jobs of one client per worker; 1: single use */
	uint32_t timeout_ms;            /* default wall-clock limit per job */
	uint32_t max_timeout_ms;        /* what a request may ask for at most */
	uint64_t max_output;            /* item bytes per job */
	uint64_t max_input_fd;          /* bytes of an input passed as a descriptor; 0: none */
	struct spec spec;               /* the sandbox, validated at load */

	/* Client policy: who may use this profile, and for which handlers. */
	bool allow_any_user;            /* allow_users = * */
	uint32_t allow_uids[BRIG_MAX_POLICY_IDS];
	size_t allow_uid_count;
	uint32_t allow_gids[BRIG_MAX_POLICY_IDS];
	size_t allow_gid_count;
	char handlers[BRIG_MAX_PROFILE_HANDLERS][BRIG_NAME_MAX + 1];
	size_t handler_count;           /* 0: every handler */
	bool allow_exec;                /* exec jobs (programs) allowed */
};

struct config {
	char socket_path[PATH_MAX];
	mode_t socket_mode;
	char handler_dir[PATH_MAX];
	uint32_t max_frame;
	uint32_t max_input;             /* derived: max_frame - BRIG_SUBMIT_OVERHEAD */
	uint32_t max_jobs_per_client;   /* jobs in flight on one connection */
	uint32_t max_clients;
	uint32_t max_clients_per_uid;   /* connections of one uid at once */
	uint32_t max_queued_jobs;       /* jobs waiting for a worker, all clients */
	uint64_t max_client_backlog;    /* bytes queued to one slow client */
	uint32_t shutdown_timeout_ms;   /* SIGTERM: how long running jobs may go on */
	uint32_t frame_timeout_ms;      /* a begun frame must be whole this soon */
	int log_level;                  /* enum log_level */
	/* The broker's unprivileged user (and its primary group); "root" keeps
	 * the broker as root, for development only (docs/security.md). */
	char broker_user[BRIG_NAME_MAX + 1];
	size_t default_profile;
	size_t profile_count;
	struct profile_config profiles[BRIG_MAX_PROFILES];
};

/* The strictest sensible configuration; never fails.  cfg must be zeroed
 * (calloc): the unused profile slots are left as they are. */
void config_set_defaults(struct config *cfg);
/*
 * Load path over the defaults.  Unknown sections and keys, bad numbers,
 * uid/gid 0 and duplicate profiles are errors.  *out is the caller's
 * (free()).  Returns 0 or -EINVAL / -ENOENT / -ENOMEM.
 */
int config_load(const char *path, struct config **out, char *err, size_t err_size);
/* Index of the named profile, or -1. */
int config_find_profile(const struct config *cfg, const char *name);

/*
 * Client policy.  A client (uid, gid, supplementary groups) may use the
 * profile if it is root, or allow_users names its uid (or is *), or
 * allow_groups names one of its groups; and the handler must be listed
 * (or the list empty).  Returns true if allowed; else writes why.
 */
bool config_profile_allows(const struct profile_config *p, uid_t uid, const gid_t *groups,
			   size_t group_count, const char *handler, char *why, size_t why_size);

#endif
