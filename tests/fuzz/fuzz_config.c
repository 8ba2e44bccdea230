/*
 * fuzz_config: brigd.conf, through config_load() and libinih, exactly as
 * brigd reads it.  The input is written to a memfd and loaded through
 * /proc/self/fd/N, so nothing touches the file system.
 *
 * The config is written by root, so a crash here is not an attack, but a
 * configuration that loads must hold every promise config.h makes, since
 * the rest of brigd relies on them without checking again (uid/gid never
 * 0, the default profile exists, limits in range, names valid, ...).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "config.h"
#include "fuzz.h"
#include "spec.h"

static int config_fd = -1;
static char config_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	config_fd = memfd_create("brigd.conf", MFD_CLOEXEC);
	if (config_fd < 0) {
		perror("memfd_create");
		abort();
	}
	snprintf(config_path, sizeof(config_path), "/proc/self/fd/%d", config_fd);
	return 0;
}

static bool name_valid(const char *s)
{
	size_t n = strnlen(s, BRIG_NAME_MAX + 1);

	if (n == 0 || n > BRIG_NAME_MAX)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n;
}

static void check_config(const struct config *cfg)
{
	FUZZ_CHECK(cfg->profile_count >= 1 && cfg->profile_count <= BRIG_MAX_PROFILES,
		   "%zu profiles", cfg->profile_count);
	FUZZ_CHECK(cfg->default_profile < cfg->profile_count, "default profile %zu of %zu",
		   cfg->default_profile, cfg->profile_count);
	FUZZ_CHECK(cfg->max_frame >= 4096 && cfg->max_frame <= BRIG_FRAME_MAX_CEILING,
		   "max_frame %u", cfg->max_frame);
	FUZZ_CHECK(cfg->max_input == cfg->max_frame - BRIG_SUBMIT_OVERHEAD,
		   "max_input %u with max_frame %u", cfg->max_input, cfg->max_frame);
	FUZZ_CHECK(cfg->max_jobs_per_client >= 1 && cfg->max_clients >= 1 &&
		   cfg->max_queued_jobs >= 1, "a zero limit");
	FUZZ_CHECK(cfg->socket_path[0] == '/' && strnlen(cfg->socket_path, 108) < 108,
		   "socket path '%.120s'", cfg->socket_path);
	FUZZ_CHECK(cfg->handler_dir[0] == '/', "handler dir '%.120s'", cfg->handler_dir);
	FUZZ_CHECK((cfg->socket_mode & ~0777u) == 0, "socket mode %o", (unsigned)cfg->socket_mode);
	FUZZ_CHECK(cfg->log_level >= 0 && cfg->log_level <= 3, "log level %d", cfg->log_level);
	for (size_t i = 0; i < cfg->profile_count; i++) {
		const struct profile_config *p = &cfg->profiles[i];

		FUZZ_CHECK(name_valid(p->name), "profile %zu has the invalid name '%.80s'", i, p->name);
		char why[512];

		/* Invariant 1: no job code runs as uid 0. */
		if (p->spec.fresh_uid)
			FUZZ_CHECK(p->spec.uid_first != 0 && p->spec.uid_count > 0 &&
				   (uint64_t)p->spec.uid_first + p->spec.uid_count - 1 <= UINT32_MAX - 1,
				   "profile %s: fresh uids from %u, %u of them", p->name,
				   (unsigned)p->spec.uid_first, p->spec.uid_count);
		else
			FUZZ_CHECK(p->spec.uid != 0, "profile %s runs as uid 0", p->name);
		FUZZ_CHECK(p->spec.gid != 0, "profile %s runs as gid 0", p->name);
		/* config.h: "the sandbox, validated at load" */
		why[0] = '\0';
		FUZZ_CHECK(spec_validate(&p->spec, why, sizeof(why)) == 0,
			   "profile %s loaded with a spec that does not validate: %s", p->name, why);
		FUZZ_CHECK(p->timeout_ms >= 1 && p->timeout_ms <= p->max_timeout_ms,
			   "profile %s: timeout %u, max %u", p->name, p->timeout_ms, p->max_timeout_ms);
		FUZZ_CHECK(p->pool_size <= BRIG_MAX_POOL_SIZE, "profile %s: pool %u", p->name,
			   p->pool_size);
		FUZZ_CHECK(p->max_output >= 1024, "profile %s: max_output %llu", p->name,
			   (unsigned long long)p->max_output);
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(p->name, cfg->profiles[j].name) != 0,
				   "profile %s defined twice", p->name);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = NULL;
	char err[1024];
	int r;

	if (config_fd < 0)
		LLVMFuzzerInitialize(NULL, NULL);
	if (ftruncate(config_fd, 0) < 0 || (size > 0 && pwrite(config_fd, data, size, 0) != (ssize_t)size)) {
		perror("writing the memfd");
		abort();
	}
	err[0] = '\0';
	r = config_load(config_path, &cfg, err, sizeof(err));
	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL || r == -ENOMEM, "config_load returned %d (%s)", r, err);
		FUZZ_CHECK(err[0] != '\0', "config_load failed without a reason");
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL, "reason not terminated");
		return 0;
	}
	check_config(cfg);
	free(cfg);
	return 0;
}
