#include <errno.h>
#include <seccomp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "spec.h"

#define NOBODY_ID 65534

void spec_set_defaults(struct spec *s)
{
	memset(s, 0, sizeof(*s));
	s->uid = NOBODY_ID;
	s->gid = NOBODY_ID;
	s->namespaces = SPEC_NS_DEFAULT;
	s->seccomp_mode = SPEC_SECCOMP_DENYLIST;
	s->seccomp_action = SPEC_SECCOMP_KILL;
	for (size_t i = 0; i < SPEC_RLIMIT__COUNT; i++)
		s->rlimits[i] = SPEC_UNLIMITED;
	/* A parser needs little: these bound a runaway job even without cgroups. */
	s->rlimits[SPEC_RLIMIT_AS] = 1024ull * 1024 * 1024;
	s->rlimits[SPEC_RLIMIT_FSIZE] = 64ull * 1024 * 1024;
	s->rlimits[SPEC_RLIMIT_NOFILE] = 64;
	/* Above pids_max, so that the cgroup (which can say so) acts first. */
	s->rlimits[SPEC_RLIMIT_NPROC] = 128;
	s->memory_max = 512ull * 1024 * 1024;
	s->pids_max = 64;
}

unsigned long spec_clone_flags(const struct spec *s)
{
	unsigned long flags = 0;

	if (s->namespaces & SPEC_NS_USER)
		flags |= CLONE_NEWUSER;
	if (s->namespaces & SPEC_NS_PID)
		flags |= CLONE_NEWPID;
	if (s->namespaces & SPEC_NS_NET)
		flags |= CLONE_NEWNET;
	if (s->namespaces & SPEC_NS_IPC)
		flags |= CLONE_NEWIPC;
	if (s->namespaces & SPEC_NS_UTS)
		flags |= CLONE_NEWUTS;
	if (s->namespaces & SPEC_NS_MOUNT)
		flags |= CLONE_NEWNS;
	if (s->namespaces & SPEC_NS_CGROUP)
		flags |= CLONE_NEWCGROUP;
	return flags;
}

int spec_normalise_path(char *path)
{
	char out[SPEC_PATH_MAX];
	size_t n = 0;
	const char *p = path;

	if (path[0] != '/')
		return -EINVAL;
	while (*p) {
		const char *seg;
		size_t len;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		seg = p;
		while (*p && *p != '/')
			p++;
		len = (size_t)(p - seg);
		if (len == 1 && seg[0] == '.')
			continue;
		if (len == 2 && seg[0] == '.' && seg[1] == '.')
			return -EINVAL;   /* never resolve "..": it could climb out of a grant */
		if (n + 1 + len >= sizeof(out))
			return -ENAMETOOLONG;
		out[n++] = '/';
		memcpy(out + n, seg, len);
		n += len;
	}
	if (n == 0)
		out[n++] = '/';
	out[n] = '\0';
	memcpy(path, out, n + 1);
	return 0;
}

/* True if child is path or lies beneath it. */
static bool path_within(const char *child, const char *path)
{
	size_t n = strlen(path);

	if (strcmp(path, "/") == 0)
		return true;
	return strncmp(child, path, n) == 0 && (child[n] == '\0' || child[n] == '/');
}

static const char *access_name(uint32_t access)
{
	if (access & SPEC_ACCESS_WRITE)
		return "rw";
	if (access & SPEC_ACCESS_EXEC)
		return "exec";
	return "ro";
}

int spec_validate(const struct spec *s, char *err, size_t err_size)
{
	return spec_validate_for(s, SPEC_TARGET_DAEMON, err, err_size);
}

int spec_validate_for(const struct spec *s, enum spec_target target, char *err,
		      size_t err_size)
{
	/* Invariant 1: whatever the configuration says, never root. */
	if (!s->fresh_uid && s->uid == 0) {
		snprintf(err, err_size, "user: jobs never run as uid 0");
		return -EINVAL;
	}
	if (s->gid == 0) {
		snprintf(err, err_size, "group: jobs never run as gid 0");
		return -EINVAL;
	}
	if (s->fresh_uid) {
		if (s->uid_count == 0 || s->uid_first == 0 ||
		    (uint64_t)s->uid_first + s->uid_count > UINT32_MAX) {
			snprintf(err, err_size, "fresh_uid_range: must be a non-empty range above 0");
			return -EINVAL;
		}
	}
	if ((s->connect_count || s->bind_count) && (s->namespaces & SPEC_NS_NET)) {
		snprintf(err, err_size, "%s=%u needs the network, but namespaces include net "
			 "(no network): drop net from namespaces or drop the port grant",
			 s->connect_count ? "connect" : "bind",
			 (unsigned)(s->connect_count ? s->connect_ports[0] : s->bind_ports[0]));
		return -EINVAL;
	}
	if (s->path_count && !(s->namespaces & SPEC_NS_MOUNT)) {
		snprintf(err, err_size, "%s=%s needs a filesystem view, but namespaces lack mount",
			 access_name(s->paths[0].access), s->paths[0].path);
		return -EINVAL;
	}
	if (target == SPEC_TARGET_SELF) {
		/* unshare(CLONE_NEWPID) moves only the children that come later:
		 * the calling process would stay where it is. */
		if (s->namespaces & SPEC_NS_PID) {
			snprintf(err, err_size, "namespaces: pid cannot be applied to the calling "
				 "process (only its later children would enter it): drop pid, or "
				 "run the code with brig_sandbox_run");
			return -EINVAL;
		}
	} else if (!(s->namespaces & SPEC_NS_PID)) {
		snprintf(err, err_size, "namespaces: pid is required (it is how brig ends every "
			 "process of a job)");
		return -EINVAL;
	}
	for (size_t i = 0; i < s->path_count; i++) {
		const struct spec_path *a = &s->paths[i];

		if (a->path[0] != '/') {
			snprintf(err, err_size, "%s=%s: paths must be absolute", access_name(a->access),
				 a->path);
			return -EINVAL;
		}
		if (strcmp(a->path, "/") == 0 || path_within(a->path, "/proc") ||
		    path_within(a->path, "/dev")) {
			snprintf(err, err_size, "%s=%s: / , /proc and /dev are built by brig and "
				 "cannot be granted", access_name(a->access), a->path);
			return -EINVAL;
		}
		for (size_t j = 0; j < s->path_count; j++) {
			const struct spec_path *b = &s->paths[j];

			if (i == j)
				continue;
			if (strcmp(a->path, b->path) == 0) {
				snprintf(err, err_size, "%s=%s and %s=%s name the same path",
					 access_name(a->access), a->path, access_name(b->access), b->path);
				return -EINVAL;
			}
			/* A write grant beneath a read-only bind cannot be honoured by
			 * the mount view without a second, writable bind that would
			 * contradict the first: refuse it. */
			if (a->kind == SPEC_PATH_BIND && !(a->access & SPEC_ACCESS_WRITE) &&
			    (b->access & SPEC_ACCESS_WRITE) && path_within(b->path, a->path)) {
				snprintf(err, err_size, "rw=%s lies under the read-only ro=%s", b->path,
					 a->path);
				return -EINVAL;
			}
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* descriptor syntax: "key = value", the same in brigd.conf and on the wire */

#include <ctype.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>

__attribute__((format(printf, 3, 4)))
static int descriptor_fail(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* "64M", "1G", "4096", "unlimited": bytes (or a plain count). */
int spec_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mult = 1;

	if (strcmp(s, "unlimited") == 0) {
		*out = SPEC_UNLIMITED;
		return 0;
	}
	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (*end) {
		switch (*end) {
		case 'k': case 'K': mult = 1024ull; break;
		case 'm': case 'M': mult = 1024ull * 1024; break;
		case 'g': case 'G': mult = 1024ull * 1024 * 1024; break;
		default: return -EINVAL;
		}
		if (end[1] != '\0' && !(end[1] == 'i' && end[2] == 'B' && end[3] == '\0') &&
		    !(end[1] == 'B' && end[2] == '\0'))
			return -EINVAL;
	}
	if (v > UINT64_MAX / mult)
		return -ERANGE;
	*out = v * mult;
	return 0;
}

static int parse_id(const char *value, bool group, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(value, &end, 10);
	if (value[0] && !errno && *end == '\0' && v < UINT32_MAX) {
		*out = (uint32_t)v;
		return 0;
	}
	if (group) {
		struct group *gr = getgrnam(value);
		if (!gr)
			return -ENOENT;
		*out = gr->gr_gid;
	} else {
		struct passwd *pw = getpwnam(value);
		if (!pw)
			return -ENOENT;
		*out = pw->pw_uid;
	}
	return 0;
}

static int parse_port(const char *value, uint16_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(value, &end, 10);
	if (!value[0] || errno || *end || v == 0 || v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

static bool syscall_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)name[i]) || isdigit((unsigned char)name[i]) ||
		      name[i] == '_'))
			return false;
	return true;
}

/* Each whitespace-separated word of value, in turn. */
#define FOR_EACH_WORD(word, buf, value)                                                   \
	for (char *save_ = (snprintf((buf), sizeof(buf), "%s", (value)), NULL),             \
		  *word = strtok_r((buf), " \t,", &save_);                                       \
	     word; word = strtok_r(NULL, " \t,", &save_))

static int add_path(struct spec *s, const char *key, const char *value, enum spec_path_kind kind,
		    uint32_t access, char *err, size_t err_size)
{
	struct spec_path *p;
	char buf[SPEC_PATH_MAX + 64];
	char *size_word = NULL;
	bool optional = false;
	int r;

	snprintf(buf, sizeof(buf), "%s", value);
	if (kind == SPEC_PATH_TMPFS) {
		/* "tmpfs = /tmp 16M" */
		size_word = strpbrk(buf, " \t");
		if (size_word) {
			*size_word++ = '\0';
			size_word += strspn(size_word, " \t");
		}
	}
	if (buf[0] == '?') {
		/* "ro = ?/etc/ssl": skipped where the host lacks it */
		optional = true;
		memmove(buf, buf + 1, strlen(buf));
	}
	if (s->path_count >= SPEC_MAX_PATHS)
		return descriptor_fail(err, err_size, "%s=%s: more than %d paths", key, value,
				       SPEC_MAX_PATHS);
	if (strlen(buf) >= SPEC_PATH_MAX)
		return descriptor_fail(err, err_size, "%s=%s: path too long", key, value);
	p = &s->paths[s->path_count];
	memset(p, 0, sizeof(*p));
	snprintf(p->path, sizeof(p->path), "%s", buf);
	r = spec_normalise_path(p->path);
	if (r < 0)
		return descriptor_fail(err, err_size, "%s=%s: must be an absolute path without '..'",
				       key, value);
	p->kind = kind;
	p->access = access;
	p->optional = optional;
	if (kind == SPEC_PATH_TMPFS) {
		p->tmpfs_size = 16ull * 1024 * 1024;
		if (size_word && *size_word && (spec_parse_size(size_word, &p->tmpfs_size) < 0 ||
						p->tmpfs_size == 0 || p->tmpfs_size == SPEC_UNLIMITED))
			return descriptor_fail(err, err_size, "%s=%s: bad size '%s'", key, value,
					       size_word);
	}
	s->path_count++;
	return 0;
}

static const struct {
	const char *key;
	enum spec_rlimit which;
} rlimit_keys[] = {
	{ "rlimit_as", SPEC_RLIMIT_AS },
	{ "rlimit_cpu", SPEC_RLIMIT_CPU },
	{ "rlimit_fsize", SPEC_RLIMIT_FSIZE },
	{ "rlimit_nofile", SPEC_RLIMIT_NOFILE },
	{ "rlimit_nproc", SPEC_RLIMIT_NPROC },
};

int spec_set_descriptor(struct spec *s, const char *key, const char *value, char *err,
			size_t err_size)
{
	char buf[1024];
	uint64_t v;
	uint32_t id;

	if (strcmp(key, "user") == 0) {
		if (parse_id(value, false, &id) < 0)
			return descriptor_fail(err, err_size, "user=%s: no such user", value);
		/* Invariant 1: never uid 0, whatever asks for it. */
		if (id == 0)
			return descriptor_fail(err, err_size, "user=%s: jobs never run as uid 0", value);
		s->uid = id;
		s->fresh_uid = false;
		return 0;
	}
	if (strcmp(key, "group") == 0) {
		if (parse_id(value, true, &id) < 0)
			return descriptor_fail(err, err_size, "group=%s: no such group", value);
		if (id == 0)
			return descriptor_fail(err, err_size, "group=%s: jobs never run as gid 0", value);
		s->gid = id;
		return 0;
	}
	if (strcmp(key, "fresh_uid_range") == 0) {
		unsigned long first, last;
		char *end;

		errno = 0;
		first = strtoul(value, &end, 10);
		if (errno || *end != '-' || (last = strtoul(end + 1, &end, 10), errno) || *end ||
		    first == 0 || last < first || last >= UINT32_MAX)
			return descriptor_fail(err, err_size, "fresh_uid_range=%s: expected FIRST-LAST, "
					       "above 0", value);
		s->fresh_uid = true;
		s->uid_first = (uid_t)first;
		s->uid_count = (uint32_t)(last - first + 1);
		return 0;
	}
	if (strcmp(key, "namespaces") == 0) {
		static const struct { const char *name; uint32_t bit; } names[] = {
			{ "user", SPEC_NS_USER }, { "pid", SPEC_NS_PID }, { "net", SPEC_NS_NET },
			{ "ipc", SPEC_NS_IPC }, { "uts", SPEC_NS_UTS }, { "mount", SPEC_NS_MOUNT },
			{ "cgroup", SPEC_NS_CGROUP },
		};
		uint32_t set = 0;

		FOR_EACH_WORD(word, buf, value) {
			size_t i;
			for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
				if (strcmp(word, names[i].name) == 0)
					break;
			if (i == sizeof(names) / sizeof(names[0]))
				return descriptor_fail(err, err_size, "namespaces: unknown namespace '%s' "
						       "(user, pid, net, ipc, uts, mount, cgroup)", word);
			set |= names[i].bit;
		}
		s->namespaces = set;
		return 0;
	}
	if (strcmp(key, "ro") == 0)
		return add_path(s, key, value, SPEC_PATH_BIND, SPEC_ACCESS_READ, err, err_size);
	if (strcmp(key, "rw") == 0)
		return add_path(s, key, value, SPEC_PATH_BIND, SPEC_ACCESS_READ | SPEC_ACCESS_WRITE,
				err, err_size);
	if (strcmp(key, "exec") == 0)
		return add_path(s, key, value, SPEC_PATH_BIND, SPEC_ACCESS_READ | SPEC_ACCESS_EXEC,
				err, err_size);
	if (strcmp(key, "tmpfs") == 0)
		return add_path(s, key, value, SPEC_PATH_TMPFS, SPEC_ACCESS_READ | SPEC_ACCESS_WRITE,
				err, err_size);
	if (strcmp(key, "connect") == 0 || strcmp(key, "bind") == 0) {
		bool connect = key[0] == 'c';
		uint16_t *ports = connect ? s->connect_ports : s->bind_ports;
		size_t *count = connect ? &s->connect_count : &s->bind_count;

		FOR_EACH_WORD(word, buf, value) {
			if (*count >= SPEC_MAX_PORTS)
				return descriptor_fail(err, err_size, "%s: more than %d ports", key,
						       SPEC_MAX_PORTS);
			if (parse_port(word, &ports[*count]) < 0)
				return descriptor_fail(err, err_size, "%s=%s: expected a TCP port 1..65535",
						       key, word);
			(*count)++;
		}
		return 0;
	}
	if (strcmp(key, "landlock") == 0) {
		if (strcmp(value, "required") == 0)
			s->landlock_required = true;
		else if (strcmp(value, "best-effort") == 0)
			s->landlock_required = false;
		else
			return descriptor_fail(err, err_size, "landlock=%s: expected required or "
					       "best-effort", value);
		return 0;
	}
	if (strcmp(key, "seccomp") == 0) {
		if (strcmp(value, "denylist") == 0)
			s->seccomp_mode = SPEC_SECCOMP_DENYLIST;
		else if (strcmp(value, "parser") == 0 || strcmp(value, "allowlist") == 0)
			s->seccomp_mode = SPEC_SECCOMP_ALLOWLIST;
		else
			return descriptor_fail(err, err_size, "seccomp=%s: expected denylist or parser",
					       value);
		return 0;
	}
	if (strcmp(key, "seccomp_action") == 0) {
		if (strcmp(value, "kill") == 0)
			s->seccomp_action = SPEC_SECCOMP_KILL;
		else if (strcmp(value, "errno") == 0)
			s->seccomp_action = SPEC_SECCOMP_ERRNO;
		else
			return descriptor_fail(err, err_size, "seccomp_action=%s: expected kill or errno",
					       value);
		return 0;
	}
	if (strcmp(key, "seccomp_allow") == 0 || strcmp(key, "seccomp_deny") == 0) {
		bool allow = key[8] == 'a';
		char (*names)[32] = allow ? s->seccomp_allow : s->seccomp_deny;
		size_t *count = allow ? &s->seccomp_allow_count : &s->seccomp_deny_count;

		FOR_EACH_WORD(word, buf, value) {
			if (!syscall_name_valid(word))
				return descriptor_fail(err, err_size, "%s: '%s' is not a syscall name", key,
						       word);
			if (*count >= SPEC_MAX_SYSCALLS)
				return descriptor_fail(err, err_size, "%s: more than %d syscalls", key,
						       SPEC_MAX_SYSCALLS);
			snprintf(names[*count], sizeof(names[0]), "%s", word);
			(*count)++;
		}
		return 0;
	}
	for (size_t i = 0; i < sizeof(rlimit_keys) / sizeof(rlimit_keys[0]); i++) {
		if (strcmp(key, rlimit_keys[i].key) == 0) {
			if (spec_parse_size(value, &v) < 0)
				return descriptor_fail(err, err_size, "%s=%s: expected a number (K, M, G "
						       "suffixes allowed) or unlimited", key, value);
			s->rlimits[rlimit_keys[i].which] = v;
			return 0;
		}
	}
	if (strcmp(key, "memory_max") == 0 || strcmp(key, "pids_max") == 0) {
		if (spec_parse_size(value, &v) < 0 || v == 0)
			return descriptor_fail(err, err_size, "%s=%s: expected a positive number or "
					       "unlimited", key, value);
		if (key[0] == 'm')
			s->memory_max = v == SPEC_UNLIMITED ? 0 : v;
		else
			s->pids_max = v == SPEC_UNLIMITED ? 0 : v;
		return 0;
	}
	return -ENOENT;
}

/* ------------------------------------------------------------------ */
/* narrowing: what a request may add on top of its profile              */

void spec_layer_init(struct spec *layer)
{
	memset(layer, 0, sizeof(*layer));
	for (size_t i = 0; i < SPEC_RLIMIT__COUNT; i++)
		layer->rlimits[i] = SPEC_UNLIMITED;
}

/* A well-formed descriptor that would widen the profile. */
__attribute__((format(printf, 3, 4)))
static int narrow_refuse(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	return -EPERM;
}

static bool port_listed(const uint16_t *ports, size_t count, uint16_t port)
{
	for (size_t i = 0; i < count; i++)
		if (ports[i] == port)
			return true;
	return false;
}

int spec_narrow(const struct spec *profile, const char *descriptor, struct spec *layer,
		char *err, size_t err_size)
{
	char key[32], value[BRIG_DESCRIPTOR_TEXT_MAX];
	const char *eq = strchr(descriptor, '=');
	size_t key_len;
	struct spec probe;
	int r;

	if (!eq || eq == descriptor || (size_t)(eq - descriptor) >= sizeof(key))
		return descriptor_fail(err, err_size, "'%.64s': expected key=value", descriptor);
	key_len = (size_t)(eq - descriptor);
	memcpy(key, descriptor, key_len);
	key[key_len] = '\0';
	while (key_len && (key[key_len - 1] == ' ' || key[key_len - 1] == '\t'))
		key[--key_len] = '\0';
	eq++;
	eq += strspn(eq, " \t");
	snprintf(value, sizeof(value), "%s", eq);

	if (strcmp(key, "ro") == 0 || strcmp(key, "rw") == 0 || strcmp(key, "exec") == 0) {
		struct spec_path *p;
		bool covered = false;

		if (layer->path_count >= SPEC_MAX_PATHS)
			return descriptor_fail(err, err_size, "%s=%s: more than %d paths", key, value,
					       SPEC_MAX_PATHS);
		r = spec_set_descriptor(layer, key, value, err, err_size);
		if (r < 0)
			return r;
		p = &layer->paths[layer->path_count - 1];
		/* Narrowing: the path must lie within a grant of the profile that
		 * already allows every access asked for. */
		for (size_t i = 0; i < profile->path_count && !covered; i++) {
			const struct spec_path *g = &profile->paths[i];
			covered = path_within(p->path, g->path) && (p->access & ~g->access) == 0;
			/* Within the job's own tmpfs: private, not a host path. */
			if (covered && g->kind == SPEC_PATH_TMPFS)
				p->kind = SPEC_PATH_TMPFS;
		}
		if (!covered) {
			layer->path_count--;
			return narrow_refuse(err, err_size, "%s=%s: the profile grants no %s access "
					       "there; a request may only narrow its grants", key, value,
					       key);
		}
		return 0;
	}
	if (strcmp(key, "connect") == 0 || strcmp(key, "bind") == 0) {
		bool connect = key[0] == 'c';
		size_t before = connect ? layer->connect_count : layer->bind_count;

		r = spec_set_descriptor(layer, key, value, err, err_size);
		if (r < 0)
			return r;
		for (size_t i = before; i < (connect ? layer->connect_count : layer->bind_count); i++) {
			uint16_t port = connect ? layer->connect_ports[i] : layer->bind_ports[i];
			if (!port_listed(connect ? profile->connect_ports : profile->bind_ports,
					 connect ? profile->connect_count : profile->bind_count, port))
				return narrow_refuse(err, err_size, "%s=%u: the profile does not grant "
						       "this port", key, (unsigned)port);
		}
		return 0;
	}
	if (strncmp(key, "rlimit_", 7) == 0) {
		/* The allow-list does not let a running job call setrlimit. */
		if (profile->seccomp_mode == SPEC_SECCOMP_ALLOWLIST)
			return narrow_refuse(err, err_size, "%s=%s: the profile's seccomp allow-list "
					     "leaves limits to the profile", key, value);
		spec_layer_init(&probe);
		r = spec_set_descriptor(&probe, key, value, err, err_size);
		if (r == -ENOENT)
			return descriptor_fail(err, err_size, "%s: unknown descriptor", key);
		if (r < 0)
			return r;
		for (size_t i = 0; i < SPEC_RLIMIT__COUNT; i++) {
			if (probe.rlimits[i] == SPEC_UNLIMITED)
				continue;
			if (probe.rlimits[i] > profile->rlimits[i])
				return narrow_refuse(err, err_size, "%s=%s: above the profile's limit; a "
						       "request may only lower it", key, value);
			layer->rlimits[i] = probe.rlimits[i];
		}
		return 0;
	}
	if (strcmp(key, "seccomp_deny") == 0) {
		/* Under an allow-list the filter-loading calls are themselves
		 * refused, and what is not allowed is denied already. */
		size_t before = layer->seccomp_deny_count;

		if (profile->seccomp_mode == SPEC_SECCOMP_ALLOWLIST)
			return narrow_refuse(err, err_size, "seccomp_deny=%s: the profile's seccomp "
					     "allow-list already denies all but what it lists", value);
		r = spec_set_descriptor(layer, key, value, err, err_size);
		if (r < 0)
			return r;
		for (size_t i = before; i < layer->seccomp_deny_count; i++)
			if (seccomp_syscall_resolve_name(layer->seccomp_deny[i]) == __NR_SCMP_ERROR)
				return descriptor_fail(err, err_size, "seccomp_deny: unknown syscall '%s'",
						       layer->seccomp_deny[i]);
		return 0;
	}
	if (strcmp(key, "user") == 0 || strcmp(key, "group") == 0 ||
	    strcmp(key, "fresh_uid_range") == 0) {
		uint32_t id;
		if (strcmp(key, "fresh_uid_range") != 0 && parse_id(value, key[0] == 'g', &id) == 0 &&
		    id == 0)
			return narrow_refuse(err, err_size, "%s=%s: jobs never run as %s 0", key, value,
					       key[0] == 'g' ? "gid" : "uid");
		return narrow_refuse(err, err_size, "%s=%s: a request cannot choose the job's "
				       "identity; it is the profile's", key, value);
	}
	spec_layer_init(&probe);
	r = spec_set_descriptor(&probe, key, value, err, err_size);
	if (r == -ENOENT)
		return descriptor_fail(err, err_size, "%s: unknown descriptor", key);
	if (r < 0)
		return r;
	/* namespaces, tmpfs, landlock, seccomp mode/action/allow, cgroup limits:
	 * the worker was built with them before the job existed. */
	return narrow_refuse(err, err_size, "%s=%s: only the profile sets this; a request may "
			     "narrow paths, ports, rlimits and add seccomp_deny", key, value);
}
