#include <errno.h>
#include <stddef.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ini.h>

#include "config.h"
#include "log.h"

#define DEFAULT_SOCKET "/run/brig/brig.sock"

/*
 * Built-in profiles get fixed ranges; profiles from brigd.conf get one by
 * the order they appear in (the config may set its own fresh_uid_range).
 */
static unsigned profile_range_counter;

static unsigned profile_index_hint(const char *name)
{
	if (strcmp(name, "default") == 0)
		return 0;
	if (strcmp(name, "parser") == 0)
		return 1;
	if (strcmp(name, "exec") == 0)
		return 2;
	return 3 + (profile_range_counter++ % (BRIG_MAX_PROFILES + 1));
}

static void profile_set_defaults(struct profile_config *p, const char *name)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->pool_size = 4;
	p->pool_max = BRIG_DEFAULT_POOL_MAX(p->pool_size);
	p->pool_idle_ms = 2000;
	p->worker_reuse = 1;
	p->timeout_ms = 10000;
	p->max_timeout_ms = 300000;
	p->max_output = 16u * 1024 * 1024;
	p->max_input_fd = 256u * 1024 * 1024;
	spec_set_defaults(&p->spec);
	/* A uid of its own per worker: concurrent jobs cannot signal, ptrace or
	 * share rlimit counts with each other (each profile its own range). */
	p->spec.fresh_uid = true;
	p->spec.uid_first = BRIG_FRESH_UID_BASE + (uid_t)(profile_index_hint(name) * 1024u);
	p->spec.uid_count = 1024;
	/* The socket's mode is the first gate; the built-in policy adds none. */
	p->allow_any_user = true;
}

static void set_builtin(struct profile_config *p, const char *key, const char *value)
{
	char err[256];

	if (spec_set_descriptor(&p->spec, key, value, err, sizeof(err)) < 0)
		abort();   /* a built-in descriptor that does not parse is a bug */
}

void config_set_defaults(struct config *cfg)
{
	profile_range_counter = 0;
	/* Not the profile slots: each is set up when a profile takes it, and
	 * the callers' calloc() leaves the rest as untouched zero pages.  A
	 * resident 2 MB config would be copied into every fork of the zygote
	 * and its templates (fork cost grows with the forker's dirty memory). */
	memset(cfg, 0, offsetof(struct config, profiles));
	snprintf(cfg->socket_path, sizeof(cfg->socket_path), "%s", DEFAULT_SOCKET);
	cfg->socket_mode = 0660;
	snprintf(cfg->handler_dir, sizeof(cfg->handler_dir), "%s", BRIG_HANDLER_DIR);
	cfg->max_frame = BRIG_DEFAULT_MAX_FRAME;
	cfg->max_input = cfg->max_frame - BRIG_SUBMIT_OVERHEAD;
	cfg->max_jobs_per_client = 64;
	cfg->max_clients = 1024;
	cfg->max_clients_per_uid = 64;
	cfg->max_queued_jobs = 1024;
	cfg->max_client_backlog = 32u * 1024 * 1024;
	cfg->shutdown_timeout_ms = 10000;
	cfg->frame_timeout_ms = 30000;
	cfg->log_level = LOG_LEVEL_INFO;
	snprintf(cfg->broker_user, sizeof(cfg->broker_user), "%s", BRIG_BROKER_USER);
	cfg->default_profile = 0;

	/* default: handler jobs in an empty filesystem view, no network. */
	profile_set_defaults(&cfg->profiles[0], "default");

	/* parser: the same with an allow-list seccomp filter (read, write,
	 * memory, exit): for handlers that only parse bytes in memory. */
	profile_set_defaults(&cfg->profiles[1], "parser");
	set_builtin(&cfg->profiles[1], "seccomp", "parser");

	/* exec: programs from the host's /usr, read-only, a private /tmp. */
	profile_set_defaults(&cfg->profiles[2], "exec");
	cfg->profiles[2].allow_exec = true;
	cfg->profiles[2].pool_size = 2;
	cfg->profiles[2].pool_max = BRIG_DEFAULT_POOL_MAX(2);
	set_builtin(&cfg->profiles[2], "exec", "/usr");
	set_builtin(&cfg->profiles[2], "exec", "?/bin");
	set_builtin(&cfg->profiles[2], "exec", "?/sbin");
	set_builtin(&cfg->profiles[2], "exec", "?/lib");
	set_builtin(&cfg->profiles[2], "exec", "?/lib64");
	set_builtin(&cfg->profiles[2], "ro", "?/etc/ld.so.cache");
	set_builtin(&cfg->profiles[2], "tmpfs", "/tmp 64M");
	cfg->profile_count = 3;
}

int config_find_profile(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->profile_count; i++)
		if (strcmp(cfg->profiles[i].name, name) == 0)
			return (int)i;
	return -1;
}

struct parse_state {
	struct config *cfg;
	const char *path;
	char *err;
	size_t err_size;
	bool failed;
	bool default_profile_named;
	char default_profile[BRIG_NAME_MAX + 1];
	FILE *file;
	int line;               /* libinih here does not pass line numbers */
};

__attribute__((format(printf, 3, 4)))
static int parse_fail(struct parse_state *st, int line, const char *fmt, ...)
{
	char reason[512];
	va_list ap;

	if (st->failed)
		return 0;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	snprintf(st->err, st->err_size, "%s:%d: %s", st->path, line, reason);
	st->failed = true;
	return 0;   /* libinih: stop at the first error */
}

static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s == '\0' || *s == '-' || *s == '+')
		return false;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > BRIG_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

static bool parse_user_lenient(const char *value, uid_t *uid)
{
	uint64_t v;
	struct passwd *pw;

	if (parse_u64(value, 0, UINT32_MAX - 1, &v)) {
		*uid = (uid_t)v;
		return true;
	}
	pw = getpwnam(value);
	if (!pw)
		return false;
	*uid = pw->pw_uid;
	return true;
}

static bool parse_group_lenient(const char *value, gid_t *gid)
{
	uint64_t v;
	struct group *gr;

	if (parse_u64(value, 0, UINT32_MAX - 1, &v)) {
		*gid = (gid_t)v;
		return true;
	}
	gr = getgrnam(value);
	if (!gr)
		return false;
	*gid = gr->gr_gid;
	return true;
}

static int parse_brigd_key(struct parse_state *st, int line, const char *key, const char *value)
{
	struct config *cfg = st->cfg;
	uint64_t v;

	if (strcmp(key, "socket") == 0) {
		if (value[0] != '/' || strlen(value) >= 108)
			return parse_fail(st, line, "socket: must be an absolute path under 108 bytes");
		snprintf(cfg->socket_path, sizeof(cfg->socket_path), "%s", value);
	} else if (strcmp(key, "socket_mode") == 0) {
		char *end;
		unsigned long mode = strtoul(value, &end, 8);
		if (*value == '\0' || *end != '\0' || mode > 0777)
			return parse_fail(st, line, "socket_mode: expected an octal mode like 0660");
		cfg->socket_mode = (mode_t)mode;
	} else if (strcmp(key, "handler_dir") == 0) {
		if (value[0] != '/' || strlen(value) >= sizeof(cfg->handler_dir))
			return parse_fail(st, line, "handler_dir: must be an absolute path");
		snprintf(cfg->handler_dir, sizeof(cfg->handler_dir), "%s", value);
	} else if (strcmp(key, "max_frame") == 0) {
		if (!parse_u64(value, 4096, BRIG_FRAME_MAX_CEILING, &v))
			return parse_fail(st, line, "max_frame: expected 4096..%u bytes",
					  BRIG_FRAME_MAX_CEILING);
		cfg->max_frame = (uint32_t)v;
		cfg->max_input = cfg->max_frame - BRIG_SUBMIT_OVERHEAD;
	} else if (strcmp(key, "max_jobs_per_client") == 0) {
		if (!parse_u64(value, 1, 65536, &v))
			return parse_fail(st, line, "max_jobs_per_client: expected 1..65536");
		cfg->max_jobs_per_client = (uint32_t)v;
	} else if (strcmp(key, "max_clients") == 0) {
		if (!parse_u64(value, 1, 1000000, &v))
			return parse_fail(st, line, "max_clients: expected 1..1000000");
		cfg->max_clients = (uint32_t)v;
	} else if (strcmp(key, "max_clients_per_uid") == 0) {
		if (!parse_u64(value, 1, 1000000, &v))
			return parse_fail(st, line, "max_clients_per_uid: expected 1..1000000");
		cfg->max_clients_per_uid = (uint32_t)v;
	} else if (strcmp(key, "max_queued_jobs") == 0) {
		if (!parse_u64(value, 1, 1000000, &v))
			return parse_fail(st, line, "max_queued_jobs: expected 1..1000000");
		cfg->max_queued_jobs = (uint32_t)v;
	} else if (strcmp(key, "max_client_backlog") == 0) {
		if (!parse_u64(value, 65536, UINT32_MAX, &v))
			return parse_fail(st, line, "max_client_backlog: expected 65536..4294967295 bytes");
		cfg->max_client_backlog = v;
	} else if (strcmp(key, "frame_timeout_ms") == 0) {
		if (!parse_u64(value, 100, 3600000, &v))
			return parse_fail(st, line, "frame_timeout_ms: expected 100..3600000");
		cfg->frame_timeout_ms = (uint32_t)v;
	} else if (strcmp(key, "shutdown_timeout_ms") == 0) {
		if (!parse_u64(value, 0, 3600000, &v))
			return parse_fail(st, line, "shutdown_timeout_ms: expected 0..3600000");
		cfg->shutdown_timeout_ms = (uint32_t)v;
	} else if (strcmp(key, "default_profile") == 0) {
		if (!valid_name(value))
			return parse_fail(st, line, "default_profile: '%s' is not a valid name", value);
		snprintf(st->default_profile, sizeof(st->default_profile), "%s", value);
		st->default_profile_named = true;
	} else if (strcmp(key, "log_level") == 0) {
		static const char *const names[] = { "error", "warning", "info", "debug" };
		size_t i;
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strcmp(value, names[i]) == 0)
				break;
		if (i == sizeof(names) / sizeof(names[0]))
			return parse_fail(st, line, "log_level: expected error, warning, info or debug");
		cfg->log_level = (int)i;
	} else if (strcmp(key, "broker_user") == 0) {
		/* Looked up when brigd starts (the user may be created later). */
		if (!valid_name(value) || value[0] == '-' || value[0] == '.')
			return parse_fail(st, line, "broker_user: expected a user name");
		snprintf(cfg->broker_user, sizeof(cfg->broker_user), "%s", value);
	} else {
		return parse_fail(st, line, "[brigd]: unknown key '%s'", key);
	}
	return 1;
}

static int parse_id_list(struct parse_state *st, int line, const char *key, const char *value,
			 bool group, uint32_t *ids, size_t *count, bool *any)
{
	char buf[1024];
	char *save = NULL;

	snprintf(buf, sizeof(buf), "%s", value);
	*count = 0;
	if (any)
		*any = false;
	for (char *w = strtok_r(buf, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
		uid_t uid;
		gid_t gid;

		if (any && strcmp(w, "*") == 0) {
			*any = true;
			continue;
		}
		if (*count >= BRIG_MAX_POLICY_IDS)
			return parse_fail(st, line, "%s: more than %d entries", key, BRIG_MAX_POLICY_IDS);
		if (group) {
			if (!parse_group_lenient(w, &gid))
				return parse_fail(st, line, "%s: no such group '%s'", key, w);
			ids[(*count)++] = gid;
		} else {
			if (!parse_user_lenient(w, &uid))
				return parse_fail(st, line, "%s: no such user '%s'", key, w);
			ids[(*count)++] = uid;
		}
	}
	return 1;
}

static int parse_profile_key(struct parse_state *st, int line, struct profile_config *p,
			     const char *key, const char *value)
{
	char err[512];
	uint64_t v;
	int r;

	if (strcmp(key, "allow_users") == 0) {
		return parse_id_list(st, line, key, value, false, p->allow_uids, &p->allow_uid_count,
				     &p->allow_any_user);
	} else if (strcmp(key, "allow_groups") == 0) {
		return parse_id_list(st, line, key, value, true, p->allow_gids, &p->allow_gid_count,
				     NULL);
	} else if (strcmp(key, "handlers") == 0) {
		char buf[4096];
		char *save = NULL;

		snprintf(buf, sizeof(buf), "%s", value);
		p->handler_count = 0;
		for (char *w = strtok_r(buf, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
			if (p->handler_count >= BRIG_MAX_PROFILE_HANDLERS || !valid_name(w))
				return parse_fail(st, line, "handlers: '%s' is not a handler name (or too "
						  "many)", w);
			snprintf(p->handlers[p->handler_count++], BRIG_NAME_MAX + 1, "%s", w);
		}
		return 1;
	} else if (strcmp(key, "exec_jobs") == 0) {
		if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0)
			return parse_fail(st, line, "exec_jobs: expected yes or no");
		p->allow_exec = value[0] == 'y';
		return 1;
	} else if (strcmp(key, "pool_size") == 0) {
		if (!parse_u64(value, 0, BRIG_MAX_POOL_SIZE, &v))
			return parse_fail(st, line, "pool_size: expected 0..%d", BRIG_MAX_POOL_SIZE);
		p->pool_size = (unsigned)v;
	} else if (strcmp(key, "pool_max") == 0) {
		if (!parse_u64(value, 0, BRIG_MAX_POOL_SIZE, &v))
			return parse_fail(st, line, "pool_max: expected 0..%d", BRIG_MAX_POOL_SIZE);
		p->pool_max = (unsigned)v;
		p->pool_max_set = true;
	} else if (strcmp(key, "worker_reuse") == 0) {
		if (!parse_u64(value, 1, BRIG_MAX_WORKER_REUSE, &v))
			return parse_fail(st, line, "worker_reuse: expected 1..%d",
					  BRIG_MAX_WORKER_REUSE);
		p->worker_reuse = (unsigned)v;
	} else if (strcmp(key, "pool_idle_ms") == 0) {
		if (!parse_u64(value, 100, 86400000, &v))
			return parse_fail(st, line, "pool_idle_ms: expected 100..86400000");
		p->pool_idle_ms = (uint32_t)v;
	} else if (strcmp(key, "timeout_ms") == 0) {
		if (!parse_u64(value, 1, 86400000, &v))
			return parse_fail(st, line, "timeout_ms: expected 1..86400000");
		p->timeout_ms = (uint32_t)v;
	} else if (strcmp(key, "max_timeout_ms") == 0) {
		if (!parse_u64(value, 1, 86400000, &v))
			return parse_fail(st, line, "max_timeout_ms: expected 1..86400000");
		p->max_timeout_ms = (uint32_t)v;
	} else if (strcmp(key, "max_output") == 0) {
		if (!parse_u64(value, 1024, UINT32_MAX, &v))
			return parse_fail(st, line, "max_output: expected 1024..4294967295 bytes");
		p->max_output = v;
	} else if (strcmp(key, "max_input_fd") == 0) {
		if (!parse_u64(value, 0, BRIG_MAX_INPUT_FD, &v))
			return parse_fail(st, line, "max_input_fd: expected 0..%llu bytes",
					  (unsigned long long)BRIG_MAX_INPUT_FD);
		p->max_input_fd = v;
	} else {
		/* Everything else is a sandbox descriptor (spec.c). */
		r = spec_set_descriptor(&p->spec, key, value, err, sizeof(err));
		if (r == -ENOENT)
			return parse_fail(st, line, "[profile %s]: unknown key '%s'", p->name, key);
		if (r < 0)
			return parse_fail(st, line, "[profile %s]: %s", p->name, err);
	}
	return 1;
}

/* Finds or creates the profile a "[profile NAME]" section names. */
static int section_profile(struct parse_state *st, const char *section)
{
	struct config *cfg = st->cfg;
	const char *name = section + 8;
	int idx;

	if (!valid_name(name)) {
		parse_fail(st, st->line, "[%s]: '%s' is not a valid profile name "
			   "(letters, digits, '-', '_', '.')", section, name);
		return -1;
	}
	idx = config_find_profile(cfg, name);
	if (idx >= 0)
		return idx;
	if (cfg->profile_count >= BRIG_MAX_PROFILES) {
		parse_fail(st, st->line, "too many profiles (at most %d)", BRIG_MAX_PROFILES);
		return -1;
	}
	idx = (int)cfg->profile_count++;
	profile_set_defaults(&cfg->profiles[idx], name);
	return idx;
}

static int config_ini_handler(void *user, const char *section, const char *key,
			      const char *value)
{
	struct parse_state *st = user;
	int idx;

	if (st->failed)
		return 0;
	if (strcmp(section, "brigd") == 0)
		return parse_brigd_key(st, st->line, key, value);
	if (strncmp(section, "profile ", 8) == 0) {
		idx = section_profile(st, section);
		if (idx < 0)
			return 0;
		return parse_profile_key(st, st->line, &st->cfg->profiles[idx], key, value);
	}
	return parse_fail(st, st->line, "unknown section [%s]", section);
}

/*
 * libinih's line reader: counts lines for error messages, and creates a
 * profile as soon as its section header is seen, so that an empty
 * "[profile x]" section still defines profile x with the defaults.
 */
static char *config_read_line(char *buf, int size, void *stream)
{
	struct parse_state *st = stream;
	char section[BRIG_NAME_MAX + 24];
	char *p;

	if (!fgets(buf, size, st->file))
		return NULL;
	st->line++;
	p = buf + strspn(buf, " \t");
	if (!st->failed && sscanf(p, "[profile %72[^]]]", section + 8) == 1) {
		memcpy(section, "profile ", 8);
		section_profile(st, section);
	}
	return buf;
}

bool config_profile_allows(const struct profile_config *p, uid_t uid, const gid_t *groups,
			   size_t group_count, const char *handler, char *why, size_t why_size)
{
	bool allowed = uid == 0 || p->allow_any_user;

	for (size_t i = 0; !allowed && i < p->allow_uid_count; i++)
		allowed = p->allow_uids[i] == uid;
	for (size_t i = 0; !allowed && i < p->allow_gid_count; i++)
		for (size_t j = 0; !allowed && j < group_count; j++)
			allowed = p->allow_gids[i] == groups[j];
	if (!allowed) {
		snprintf(why, why_size, "profile '%s' is not open to uid %u", p->name, (unsigned)uid);
		return false;
	}
	if (handler && p->handler_count) {
		for (size_t i = 0; i < p->handler_count; i++)
			if (strcmp(p->handlers[i], handler) == 0)
				return true;
		snprintf(why, why_size, "profile '%s' does not offer handler '%s'", p->name, handler);
		return false;
	}
	return true;
}

int config_load(const char *path, struct config **out, char *err, size_t err_size)
{
	struct config *cfg;
	struct parse_state st = { .path = path, .err = err, .err_size = err_size };
	FILE *f;
	int r;

	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return -ENOMEM;
	config_set_defaults(cfg);
	st.cfg = cfg;

	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		goto fail;
	}
	st.file = f;
	r = ini_parse_stream(config_read_line, &st, config_ini_handler, &st);
	fclose(f);
	if (st.failed) {
		r = -EINVAL;
		goto fail;
	}
	if (r != 0) {
		snprintf(err, err_size, "%s:%d: syntax error", path, r);
		r = -EINVAL;
		goto fail;
	}
	for (size_t i = 0; i < cfg->profile_count; i++) {
		struct profile_config *p = &cfg->profiles[i];
		char why[512];

		/* Contradictions are refused here, before any process is touched. */
		if (spec_validate(&p->spec, why, sizeof(why)) < 0) {
			snprintf(err, err_size, "%s: [profile %s]: %s", path, p->name, why);
			r = -EINVAL;
			goto fail;
		}
		if (!p->pool_max_set)
			p->pool_max = BRIG_DEFAULT_POOL_MAX(p->pool_size);
		if (p->pool_max < p->pool_size) {
			snprintf(err, err_size, "%s: [profile %s]: pool_max %u is below pool_size %u",
				 path, p->name, p->pool_max, p->pool_size);
			r = -EINVAL;
			goto fail;
		}
		/* A reused worker may never fork (nothing of a job may outlive its
		 * FINAL), and a program is a fork. */
		if (p->worker_reuse > 1 && p->allow_exec) {
			snprintf(err, err_size, "%s: [profile %s]: worker_reuse %u with exec_jobs = yes: "
				 "a reused worker may not fork, and an exec job is a fork", path,
				 p->name, p->worker_reuse);
			r = -EINVAL;
			goto fail;
		}
		if (p->timeout_ms > p->max_timeout_ms) {
			snprintf(err, err_size, "%s: [profile %s]: timeout_ms %u exceeds max_timeout_ms %u",
				 path, p->name, p->timeout_ms, p->max_timeout_ms);
			r = -EINVAL;
			goto fail;
		}
	}
	/* Fresh uids are what keeps concurrent jobs apart: no two profiles may
	 * hand out the same uid, nor one that another profile uses as fixed. */
	for (size_t i = 0; i < cfg->profile_count; i++) {
		const struct spec *a = &cfg->profiles[i].spec;

		for (size_t k = 0; k < cfg->profile_count; k++) {
			const struct spec *b = &cfg->profiles[k].spec;
			bool clash;

			if (i == k || !a->fresh_uid)
				continue;
			if (b->fresh_uid)
				clash = k > i && a->uid_first < b->uid_first + b->uid_count &&
					b->uid_first < a->uid_first + a->uid_count;
			else
				clash = b->uid >= a->uid_first && b->uid - a->uid_first < a->uid_count;
			if (clash) {
				snprintf(err, err_size, "%s: [profile %s] and [profile %s]: their uids "
					 "overlap (fresh_uid_range / user); each profile needs its own",
					 path, cfg->profiles[i].name, cfg->profiles[k].name);
				r = -EINVAL;
				goto fail;
			}
		}
	}
	if (st.default_profile_named) {
		int idx = config_find_profile(cfg, st.default_profile);
		if (idx < 0) {
			snprintf(err, err_size, "%s: default_profile '%s' is not defined", path,
				 st.default_profile);
			r = -EINVAL;
			goto fail;
		}
		cfg->default_profile = (size_t)idx;
	}
	*out = cfg;
	return 0;
fail:
	free(cfg);
	return r;
}
