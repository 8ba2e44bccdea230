/*
 * fuzz_spec: the descriptor compiler on what a request carries.
 *
 * The first input byte picks a profile (the built-in ones, and one with
 * path, port and rlimit grants to narrow); the rest is a frame body of a
 * request that holds descriptors: SUBMIT or EXEC (client -> broker), or
 * WORKER_JOB or WORKER_EXEC (broker -> worker).  Its descriptors go through
 * spec_narrow() one by one into a layer, exactly as the broker checks them
 * (job_check_descriptors) and the worker applies them (apply_narrowing).
 *
 * Properties checked, the security argument of narrowing:
 *  - a refusal is -EPERM (would widen) or -EINVAL (malformed), with a reason;
 *  - an accepted layer only narrows the profile: every path lies within a
 *    grant of the profile that allows all of its access, every port is one
 *    the profile grants, every rlimit is at most the profile's, and the
 *    layer sets no identity, namespace, seccomp mode, allow-list, Landlock
 *    requirement or cgroup limit.
 */
#include <errno.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "msg.h"
#include "spec.h"

#define PROFILES_MAX 8

static struct config *cfg;
static struct spec profiles[PROFILES_MAX];
static size_t profile_count;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* A profile with something to narrow: paths of every kind, ports, limits. */
	static const char *const grants[][2] = {
		{ "ro", "/usr" }, { "rw", "/tmp/brig-fuzz" }, { "exec", "/usr/bin" },
		{ "tmpfs", "/scratch" }, { "ro", "?/opt/data" }, { "connect", "443" },
		{ "connect", "53" }, { "bind", "8080" }, { "rlimit_as", "1G" },
		{ "rlimit_nofile", "256" }, { "rlimit_cpu", "10" }, { "memory_max", "256M" },
		{ "pids_max", "16" },
	};
	char err[512];

	(void)argc;
	(void)argv;
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		abort();
	config_set_defaults(cfg);
	for (size_t i = 0; i < cfg->profile_count && profile_count < PROFILES_MAX - 1; i++)
		profiles[profile_count++] = cfg->profiles[i].spec;
	profiles[profile_count] = cfg->profiles[cfg->default_profile].spec;
	for (size_t i = 0; i < sizeof(grants) / sizeof(grants[0]); i++)
		(void)spec_set_descriptor(&profiles[profile_count], grants[i][0], grants[i][1], err,
					  sizeof(err));
	profile_count++;
	return 0;
}

static bool path_within(const char *child, const char *path)
{
	size_t n = strlen(path);

	if (strcmp(path, "/") == 0)
		return child[0] == '/';
	return strncmp(child, path, n) == 0 && (child[n] == '\0' || child[n] == '/');
}

static bool port_granted(const uint16_t *ports, size_t count, uint16_t port)
{
	for (size_t i = 0; i < count; i++)
		if (ports[i] == port)
			return true;
	return false;
}

/* The layer may only narrow profile: see the file comment. */
static void check_layer(const struct spec *profile, const struct spec *layer)
{
	struct spec empty;

	spec_layer_init(&empty);
	FUZZ_CHECK(layer->fresh_uid == empty.fresh_uid && layer->uid == empty.uid &&
		   layer->gid == empty.gid && layer->uid_first == empty.uid_first &&
		   layer->uid_count == empty.uid_count, "a request changed the job's identity");
	FUZZ_CHECK(layer->namespaces == empty.namespaces, "a request changed the namespaces");
	FUZZ_CHECK(layer->seccomp_mode == empty.seccomp_mode &&
		   layer->seccomp_action == empty.seccomp_action &&
		   layer->seccomp_allow_count == 0, "a request changed the seccomp mode or allow-list");
	FUZZ_CHECK(layer->landlock_required == empty.landlock_required,
		   "a request changed landlock_required");
	FUZZ_CHECK(layer->memory_max == empty.memory_max && layer->pids_max == empty.pids_max,
		   "a request set a cgroup limit");
	FUZZ_CHECK(layer->path_count <= SPEC_MAX_PATHS && layer->connect_count <= SPEC_MAX_PORTS &&
		   layer->bind_count <= SPEC_MAX_PORTS &&
		   layer->seccomp_deny_count <= SPEC_MAX_SYSCALLS, "a layer count past its array");
	for (size_t i = 0; i < layer->path_count; i++) {
		const struct spec_path *p = &layer->paths[i];
		bool covered = false;

		FUZZ_CHECK(p->path[0] == '/' && memchr(p->path, '\0', sizeof(p->path)) != NULL,
			   "layer path %zu is not an absolute, terminated path", i);
		FUZZ_CHECK(strstr(p->path, "/../") == NULL && strstr(p->path, "//") == NULL,
			   "layer path '%s' is not normalised", p->path);
		for (size_t g = 0; g < profile->path_count && !covered; g++)
			covered = path_within(p->path, profile->paths[g].path) &&
				  (p->access & ~profile->paths[g].access) == 0;
		FUZZ_CHECK(covered, "a request widened the profile: path '%s' access %#x is in no "
			   "grant that allows it", p->path, p->access);
	}
	for (size_t i = 0; i < layer->connect_count; i++)
		FUZZ_CHECK(port_granted(profile->connect_ports, profile->connect_count,
					layer->connect_ports[i]),
			   "a request widened the profile: connect=%u", layer->connect_ports[i]);
	for (size_t i = 0; i < layer->bind_count; i++)
		FUZZ_CHECK(port_granted(profile->bind_ports, profile->bind_count, layer->bind_ports[i]),
			   "a request widened the profile: bind=%u", layer->bind_ports[i]);
	for (size_t i = 0; i < SPEC_RLIMIT__COUNT; i++)
		FUZZ_CHECK(layer->rlimits[i] == SPEC_UNLIMITED || layer->rlimits[i] <= profile->rlimits[i],
			   "a request raised rlimit %zu to %llu over %llu", i,
			   (unsigned long long)layer->rlimits[i], (unsigned long long)profile->rlimits[i]);
}

static void narrow_all(const struct spec *profile, const struct msg_strv *list)
{
	struct spec layer;
	char text[BRIG_DESCRIPTOR_TEXT_MAX];
	char err[512];

	spec_layer_init(&layer);
	for (size_t i = 0; i < list->count; i++) {
		int r;

		/* The broker refuses a descriptor that does not fit, as here. */
		if (msg_strv_get(list, i, text, sizeof(text)) < 0)
			return;
		err[0] = '\0';
		r = spec_narrow(profile, text, &layer, err, sizeof(err));
		if (r < 0) {
			FUZZ_CHECK(r == -EPERM || r == -EINVAL, "spec_narrow('%.80s') returned %d", text,
				   r);
			FUZZ_CHECK(err[0] != '\0', "spec_narrow('%.80s') refused without a reason", text);
			return;
		}
	}
	check_layer(profile, &layer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct spec *profile;
	struct msg_in in;
	int type;

	if (!cfg)
		LLVMFuzzerInitialize(NULL, NULL);
	if (size < 1)
		return 0;
	profile = &profiles[data[0] % profile_count];
	type = msg_open(&in, data + 1, size - 1);
	switch (type) {
	case MSG_SUBMIT: {
		struct msg_submit m;

		if (msg_decode_submit(&in, BRIG_DEFAULT_MAX_FRAME, &m) == 0)
			narrow_all(profile, &m.descriptors);
		break;
	}
	case MSG_EXEC: {
		struct msg_exec m;

		if (msg_decode_exec(&in, BRIG_DEFAULT_MAX_FRAME, &m) == 0)
			narrow_all(profile, &m.descriptors);
		break;
	}
	case MSG_WORKER_JOB: {
		struct msg_worker_job m;

		if (msg_decode_worker_job(&in, BRIG_DEFAULT_MAX_FRAME, &m) == 0)
			narrow_all(profile, &m.descriptors);
		break;
	}
	case MSG_WORKER_EXEC: {
		struct msg_worker_exec m;

		if (msg_decode_worker_exec(&in, BRIG_DEFAULT_MAX_FRAME, &m) == 0)
			narrow_all(profile, &m.descriptors);
		break;
	}
	default:
		break;
	}
	msg_close(&in);
	return 0;
}
