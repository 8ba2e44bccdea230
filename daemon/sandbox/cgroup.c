#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdbool.h>

#include "sandbox/cgroup.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

/* snprintf for paths: a path that does not fit is an error, not a cut. */
__attribute__((format(printf, 3, 4)))
static int path_printf(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int write_file(const char *dir, const char *name, const char *value)
{
	char path[PATH_MAX + 64];
	ssize_t n;
	int fd, r = 0;

	if (path_printf(path, sizeof(path), "%s/%s", dir, name) < 0)
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, value, strlen(value));
	if (n < 0)
		r = -errno;
	close(fd);
	return r;
}

static int read_file(const char *dir, const char *name, char *buf, size_t size)
{
	char path[PATH_MAX + 64];
	ssize_t n;
	int fd;

	if (path_printf(path, sizeof(path), "%s/%s", dir, name) < 0)
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* "key N" lines: the value of key, or 0. */
static uint64_t read_counter(const char *dir, const char *file, const char *key)
{
	char buf[4096], *line, *save = NULL;
	size_t key_len = strlen(key);

	if (read_file(dir, file, buf, sizeof(buf)) < 0)
		return 0;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (strncmp(line, key, key_len) == 0 && line[key_len] == ' ')
			return strtoull(line + key_len + 1, NULL, 10);
	return 0;
}

/*
 * This process's cgroup path for a v1 controller (a token of the
 * controllers field), or for the v2 hierarchy (controller "").
 */
static int own_cgroup(const char *controller, char *out, size_t size)
{
	char line[PATH_MAX + 64];
	FILE *f = fopen("/proc/self/cgroup", "re");
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (r < 0 && fgets(line, sizeof(line), f)) {
		char *ids, *path, *save = NULL;
		bool match = false;

		line[strcspn(line, "\n")] = '\0';
		ids = strchr(line, ':');
		if (!ids || !(path = strchr(ids + 1, ':')))
			continue;
		*ids++ = '\0';
		*path++ = '\0';
		if (controller[0] == '\0') {
			match = strcmp(line, "0") == 0 && ids[0] == '\0';
		} else {
			for (char *t = strtok_r(ids, ",", &save); t && !match; t = strtok_r(NULL, ",", &save))
				match = strcmp(t, controller) == 0;
		}
		if (match) {
			snprintf(out, size, "%s", path);
			r = 0;
		}
	}
	fclose(f);
	return r;
}

static bool has_controllers(const char *dir, const char *file)
{
	char buf[1024];

	if (read_file(dir, file, buf, sizeof(buf)) < 0)
		return false;
	return strstr(buf, "memory") && strstr(buf, "pids");
}

/*
 * Moves every process of dir that runs brigd's own binary (the daemon's
 * other processes: under systemd's Delegate=yes the whole service cgroup
 * is brigd's) into leaf, so that dir can hand controllers down.  Others
 * are left where they are.
 */
static int move_own_processes(const char *dir, const char *leaf, char *err, size_t err_size)
{
	char path[PATH_MAX + 64];
	struct stat self;
	FILE *f;
	int pid, r = 0;

	if (stat("/proc/self/exe", &self) < 0)
		return -errno;
	if (path_printf(path, sizeof(path), "%s/cgroup.procs", dir) < 0)
		return -ENAMETOOLONG;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (r == 0 && fscanf(f, "%d", &pid) == 1) {
		char exe[64], text[32];
		struct stat st;

		snprintf(exe, sizeof(exe), "/proc/%d/exe", pid);
		if (stat(exe, &st) < 0 || st.st_dev != self.st_dev || st.st_ino != self.st_ino)
			continue;
		snprintf(text, sizeof(text), "%d", pid);
		r = write_file(leaf, "cgroup.procs", text);
		if (r == -ESRCH)
			r = 0;   /* it exited meanwhile */
		else if (r < 0)
			snprintf(err, err_size, "cgroup v2: moving pid %d into %s: %s", pid, leaf,
				 strerror(-r));
	}
	fclose(f);
	return r;
}

static int setup_v2(struct cgroup_setup *cg, const char *instance, const pid_t *pids,
		    size_t count, char *err, size_t err_size)
{
	char own[PATH_MAX], dir[PATH_MAX], leaf[PATH_MAX + 16];
	int r;

	if ((r = own_cgroup("", own, sizeof(own))) < 0)
		return r;
	if (path_printf(dir, sizeof(dir), CGROUP_ROOT "%s", strcmp(own, "/") == 0 ? "" : own) < 0)
		return -ENAMETOOLONG;
	if (!has_controllers(dir, "cgroup.controllers"))
		return -EOPNOTSUPP;
	/* v2 lets no process live in a cgroup that hands controllers down
	 * (except the root): move the daemon into a leaf first if needed. */
	r = write_file(dir, "cgroup.subtree_control", "+memory +pids");
	if (r == -EBUSY) {
		if (path_printf(leaf, sizeof(leaf), "%s/brigd", dir) < 0)
			return -ENAMETOOLONG;
		if (mkdir(leaf, 0755) < 0 && errno != EEXIST)
			return -errno;
		for (size_t i = 0; i < count; i++) {
			char pid[32];
			snprintf(pid, sizeof(pid), "%d", (int)pids[i]);
			if ((r = write_file(leaf, "cgroup.procs", pid)) < 0) {
				snprintf(err, err_size, "cgroup v2: moving pid %s into %s: %s", pid, leaf,
					 strerror(-r));
				return r;
			}
		}
		if ((r = move_own_processes(dir, leaf, err, err_size)) < 0)
			return r;
		r = write_file(dir, "cgroup.subtree_control", "+memory +pids");
		if (r == -EBUSY) {
			snprintf(err, err_size, "cgroup v2: %s holds processes other than brigd's, so "
				 "it cannot hand memory and pids down; give brigd a cgroup of its own "
				 "(systemd: Delegate=yes)", dir);
			return r;
		}
	}
	if (r < 0) {
		snprintf(err, err_size, "cgroup v2: enabling memory and pids in %s: %s", dir,
			 strerror(-r));
		return r;
	}
	if (path_printf(cg->base[0], sizeof(cg->base[0]), "%s/brig-jobs-%s", dir, instance) < 0)
		return -ENAMETOOLONG;
	if (mkdir(cg->base[0], 0755) < 0 && errno != EEXIST)
		return -errno;
	r = write_file(cg->base[0], "cgroup.subtree_control", "+memory +pids");
	if (r < 0) {
		snprintf(err, err_size, "cgroup v2: enabling controllers in %s: %s", cg->base[0],
			 strerror(-r));
		rmdir(cg->base[0]);
		return r;
	}
	cg->base_count = 1;
	cg->version = 2;
	return 0;
}

static int setup_v1(struct cgroup_setup *cg, const char *instance, char *err, size_t err_size)
{
	static const char *const controllers[2] = { "memory", "pids" };

	for (size_t i = 0; i < 2; i++) {
		char own[PATH_MAX], mount[PATH_MAX];
		struct stat st;
		int r;

		path_printf(mount, sizeof(mount), CGROUP_ROOT "/%s", controllers[i]);
		if (stat(mount, &st) < 0 || own_cgroup(controllers[i], own, sizeof(own)) < 0) {
			snprintf(err, err_size, "cgroup v1: no %s hierarchy at %s", controllers[i],
				 mount);
			return -EOPNOTSUPP;
		}
		if (path_printf(cg->base[i], sizeof(cg->base[i]), "%s%s/brig-jobs-%s", mount,
				strcmp(own, "/") == 0 ? "" : own, instance) < 0)
			return -ENAMETOOLONG;
		if (mkdir(cg->base[i], 0755) < 0 && errno != EEXIST) {
			r = -errno;
			snprintf(err, err_size, "cgroup v1: mkdir %s: %s", cg->base[i], strerror(errno));
			if (i == 1)
				rmdir(cg->base[0]);
			return r;
		}
	}
	cg->base_count = 2;
	cg->version = 1;
	return 0;
}

static void remove_stale(const char *base, int version);

int cgroup_setup(struct cgroup_setup *cg, const char *instance, const pid_t *pids,
		 size_t count, char *err, size_t err_size)
{
	char probe[PATH_MAX];
	int r;

	memset(cg, 0, sizeof(*cg));
	/* A pure v2 host has cgroup.controllers at the root of the mount. */
	snprintf(probe, sizeof(probe), CGROUP_ROOT);
	if (has_controllers(probe, "cgroup.controllers"))
		r = setup_v2(cg, instance, pids, count, err, err_size);
	else
		r = setup_v1(cg, instance, err, err_size);
	if (r == -EOPNOTSUPP)
		return 0;
	for (size_t i = 0; r == 0 && i < cg->base_count; i++)
		remove_stale(cg->base[i], cg->version);
	return r;
}

static void worker_dir(const struct cgroup_setup *cg, size_t i, uint32_t name, char *out,
		       size_t size)
{
	if (path_printf(out, size, "%s/s%u", cg->base[i], name) < 0)
		out[0] = '\0';
}

/* Kill whatever is left in dir and remove it. */
static void remove_cgroup(const char *dir, int version)
{
	for (int attempt = 0; attempt < 200; attempt++) {
		char buf[4096], *line, *save = NULL;

		if (rmdir(dir) == 0 || errno == ENOENT)
			return;
		if (errno != EBUSY)
			return;
		if (version == 2 && write_file(dir, "cgroup.kill", "1") == 0) {
			usleep(500);
			continue;
		}
		if (read_file(dir, "cgroup.procs", buf, sizeof(buf)) == 0)
			for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
				kill((pid_t)atoi(line), SIGKILL);
		usleep(500);
	}
}

/*
 * Base cgroups of a zygote that died without tearing down (SIGKILL, or
 * its whole brigd killed): their name "brig-jobs-PARENT-ZYGOTE" ends in a
 * pid that no longer exists.  Removed, with whatever worker cgroups they
 * still hold (anything still running there is killed: its jobs were
 * failed when the zygote died).
 */
static void remove_stale(const char *base, int version)
{
	char parent[PATH_MAX], *slash;
	struct dirent *e;
	DIR *d;

	snprintf(parent, sizeof(parent), "%s", base);
	slash = strrchr(parent, '/');
	if (!slash)
		return;
	*slash = '\0';
	d = opendir(parent);
	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[PATH_MAX + 300], proc[64];
		struct dirent *w;
		DIR *wd;
		int pid, zygote;

		if (strncmp(e->d_name, "brig-jobs-", 10) != 0 ||
		    sscanf(e->d_name + 10, "%d-%d", &pid, &zygote) != 2 || pid <= 0 || zygote <= 0)
			continue;
		if (zygote == getpid())
			continue;   /* our own, being made */
		snprintf(proc, sizeof(proc), "/proc/%d", zygote);
		if (access(proc, F_OK) == 0)
			continue;   /* a live zygote's (or a reused pid's: left alone) */
		if (path_printf(path, sizeof(path), "%s/%s", parent, e->d_name) < 0)
			continue;
		wd = opendir(path);
		while (wd && (w = readdir(wd))) {
			char child[PATH_MAX + 600];
			if (w->d_name[0] == 's' &&
			    path_printf(child, sizeof(child), "%s/%s", path, w->d_name) == 0)
				remove_cgroup(child, version);
		}
		if (wd)
			closedir(wd);
		remove_cgroup(path, version);
	}
	closedir(d);
}

static void slot_remove(struct cgroup_setup *cg, size_t index);

void cgroup_teardown(struct cgroup_setup *cg)
{
	while (cg->slot_count)
		slot_remove(cg, cg->slot_count - 1);
	free(cg->slots);
	cg->slots = NULL;
	for (size_t i = 0; i < cg->base_count; i++)
		remove_cgroup(cg->base[i], cg->version);
}

static int slot_make(const struct cgroup_setup *cg, uint32_t worker_id, const struct spec *s,
		     int fds[CGROUP_MAX_FDS], char *err, size_t err_size)
{
	size_t made = 0;
	int r;

	for (size_t i = 0; i < cg->base_count; i++) {
		char dir[PATH_MAX + 32], path[PATH_MAX + 64], value[32];

		worker_dir(cg, i, worker_id, dir, sizeof(dir));
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			r = -errno;
			snprintf(err, err_size, "cgroup: mkdir %s: %s", dir, strerror(errno));
			goto fail;
		}
		r = 0;
		if (cg->version == 2) {
			if (s->memory_max) {
				snprintf(value, sizeof(value), "%llu", (unsigned long long)s->memory_max);
				r = write_file(dir, "memory.max", value);
				/* Swap would let a job hold more than memory.max. */
				if (r == 0)
					(void)write_file(dir, "memory.swap.max", "0");
			}
			if (r == 0 && s->pids_max) {
				snprintf(value, sizeof(value), "%llu", (unsigned long long)s->pids_max);
				r = write_file(dir, "pids.max", value);
			}
		} else if (i == 0 && s->memory_max) {
			snprintf(value, sizeof(value), "%llu", (unsigned long long)s->memory_max);
			r = write_file(dir, "memory.limit_in_bytes", value);
			if (r == 0)
				(void)write_file(dir, "memory.memsw.limit_in_bytes", value);
		} else if (i == 1 && s->pids_max) {
			snprintf(value, sizeof(value), "%llu", (unsigned long long)s->pids_max);
			r = write_file(dir, "pids.max", value);
		}
		if (r < 0) {
			snprintf(err, err_size, "cgroup: setting limits in %s: %s", dir, strerror(-r));
			rmdir(dir);
			goto fail;
		}
		if (path_printf(path, sizeof(path), "%s/cgroup.procs", dir) < 0) {
			r = -ENAMETOOLONG;
			rmdir(dir);
			goto fail;
		}
		fds[made] = open(path, O_WRONLY | O_CLOEXEC);
		if (fds[made] < 0) {
			r = -errno;
			snprintf(err, err_size, "cgroup: open %s: %s", path, strerror(errno));
			rmdir(dir);
			goto fail;
		}
		made++;
	}
	return (int)made;
fail:
	for (size_t i = 0; i < made; i++)
		close(fds[i]);
	for (size_t i = 0; i < made; i++) {
		char dir[PATH_MAX + 32];
		worker_dir(cg, i, worker_id, dir, sizeof(dir));
		rmdir(dir);
	}
	return r;
}

int cgroup_enter(const int *fds, size_t count)
{
	int r = 0;

	for (size_t i = 0; i < count; i++) {
		/* "0" is the writer itself; the fd was opened by the zygote. */
		if (r == 0 && write(fds[i], "0", 1) < 0)
			r = -errno;
		close(fds[i]);
	}
	return r;
}

/* The event counters of slot name: memory (OOM kills) and pids (max hits). */
static void slot_counters(const struct cgroup_setup *cg, uint32_t name, uint64_t *memory,
			  uint64_t *pids)
{
	*memory = *pids = 0;
	for (size_t i = 0; i < cg->base_count; i++) {
		char dir[PATH_MAX + 32];

		worker_dir(cg, i, name, dir, sizeof(dir));
		if (cg->version == 2) {
			*memory = read_counter(dir, "memory.events", "oom_kill") +
				  read_counter(dir, "memory.events", "oom");
			*pids = read_counter(dir, "pids.events", "max");
		} else if (i == 0) {
			*memory = read_counter(dir, "memory.oom_control", "oom_kill");
		} else {
			*pids = read_counter(dir, "pids.events", "max");
		}
	}
}

static bool slot_empty(const struct cgroup_setup *cg, uint32_t name)
{
	for (size_t i = 0; i < cg->base_count; i++) {
		char dir[PATH_MAX + 32], buf[64] = "";

		worker_dir(cg, i, name, dir, sizeof(dir));
		if (read_file(dir, "cgroup.procs", buf, sizeof(buf)) < 0 || buf[0] != '\0')
			return false;
	}
	return true;
}

static void slot_remove(struct cgroup_setup *cg, size_t index)
{
	struct cgroup_slot *slot = &cg->slots[index];

	for (size_t i = 0; i < slot->nfds; i++)
		close(slot->fds[i]);
	for (size_t i = 0; i < cg->base_count; i++) {
		char dir[PATH_MAX + 32];

		worker_dir(cg, i, slot->name, dir, sizeof(dir));
		remove_cgroup(dir, cg->version);
	}
	cg->slots[index] = cg->slots[--cg->slot_count];
}

int cgroup_worker_create(struct cgroup_setup *cg, uint32_t worker_id, const struct spec *s,
			 int fds[CGROUP_MAX_FDS], char *err, size_t err_size)
{
	struct cgroup_slot *slot = NULL;
	int r;

	/* Nothing to limit: no cgroup to make (or to remove afterwards). */
	if (!s->memory_max && !s->pids_max)
		return 0;
	for (size_t i = 0; i < cg->slot_count && !slot; i++) {
		struct cgroup_slot *c = &cg->slots[i];
		if (!c->busy && c->memory_max == s->memory_max && c->pids_max == s->pids_max)
			slot = c;
	}
	if (!slot) {
		struct cgroup_slot *grown = realloc(cg->slots, (cg->slot_count + 1) * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		cg->slots = grown;
		slot = &cg->slots[cg->slot_count];
		memset(slot, 0, sizeof(*slot));
		slot->name = ++cg->next_name;
		slot->memory_max = s->memory_max;
		slot->pids_max = s->pids_max;
		r = slot_make(cg, slot->name, s, slot->fds, err, err_size);
		if (r < 0)
			return r;
		slot->nfds = (size_t)r;
		cg->slot_count++;
	}
	slot_counters(cg, slot->name, &slot->memory_events, &slot->pids_events);
	for (size_t i = 0; i < slot->nfds; i++) {
		fds[i] = fcntl(slot->fds[i], F_DUPFD_CLOEXEC, 3);
		if (fds[i] < 0) {
			r = -errno;
			while (i--)
				close(fds[i]);
			snprintf(err, err_size, "cgroup: dup: %s", strerror(-r));
			return r;
		}
	}
	slot->busy = true;
	slot->worker_id = worker_id;
	return (int)slot->nfds;
}

unsigned cgroup_worker_finish(struct cgroup_setup *cg, uint32_t worker_id)
{
	unsigned hit = 0;

	for (size_t i = 0; i < cg->slot_count; i++) {
		struct cgroup_slot *slot = &cg->slots[i];
		uint64_t memory, pids;

		if (!slot->busy || slot->worker_id != worker_id)
			continue;
		slot_counters(cg, slot->name, &memory, &pids);
		if (memory > slot->memory_events)
			hit |= CGROUP_HIT_MEMORY;
		if (pids > slot->pids_events)
			hit |= CGROUP_HIT_PIDS;
		slot->busy = false;
		/* Reused only once empty; anything left in it is killed with it. */
		if (!slot_empty(cg, slot->name))
			slot_remove(cg, i);
		break;
	}
	return hit;
}
