/*
 * Memory and process limits per worker, with cgroups: v2 (memory.max,
 * pids.max, memory.events) on a unified hierarchy, v1 (the memory and pids
 * controllers) on hybrid hosts.  The zygote creates one cgroup per worker
 * under its own and hands the worker open cgroup.procs files, so that the
 * worker places itself before it runs anything (no window where a job runs
 * outside its limits); after the worker is reaped the zygote reads whether
 * a limit was hit and removes the cgroup.
 *
 * Library code: 0 or -errno, with err set; the zygote logs.
 */
#ifndef BRIG_SANDBOX_CGROUP_H
#define BRIG_SANDBOX_CGROUP_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spec.h"

#define CGROUP_MAX_FDS 2   /* v1: memory and pids; v2: one */

/*
 * A worker cgroup kept for reuse: making and removing cgroups (above all
 * memory ones) was most of the zygote's work per worker.  An empty cgroup
 * with the same limits serves the next worker; limits hit are told by
 * comparing the event counters with their values when it was handed out.
 */
struct cgroup_slot {
	uint32_t name;                  /* directory "s<name>" */
	uint64_t memory_max, pids_max;
	int fds[CGROUP_MAX_FDS];        /* cgroup.procs, open for writing */
	size_t nfds;
	bool busy;
	uint32_t worker_id;
	uint64_t memory_events, pids_events;   /* counters when handed out */
};

struct cgroup_setup {
	int version;                    /* 0: none usable, 1 or 2 */
	char base[2][PATH_MAX];         /* v2: [0]; v1: [0] memory, [1] pids */
	size_t base_count;
	struct cgroup_slot *slots;
	size_t slot_count;
	uint32_t next_name;
};

/* Limits a worker hit, from its cgroup's event counters. */
enum cgroup_hit {
	CGROUP_HIT_MEMORY = 1u << 0,
	CGROUP_HIT_PIDS = 1u << 1,
};

/*
 * Find a usable hierarchy and create brig's base cgroup(s) under the
 * calling process's own (named after instance, e.g. the broker's pid).
 * On v2 the daemon's processes (pids, count) are moved into a leaf first
 * when the controllers cannot otherwise be enabled.  Returns 0 with
 * version set (0 when no hierarchy offers memory and pids), or -errno.
 */
int cgroup_setup(struct cgroup_setup *cg, const char *instance, const pid_t *pids,
		 size_t count, char *err, size_t err_size);
void cgroup_teardown(struct cgroup_setup *cg);

/*
 * Create worker_id's cgroup(s) with s's memory_max and pids_max (0: not
 * limited) and open their cgroup.procs files for writing into fds.
 * Returns the number of fds (0 when cgroups are off) or -errno.
 */
int cgroup_worker_create(struct cgroup_setup *cg, uint32_t worker_id, const struct spec *s,
			 int fds[CGROUP_MAX_FDS], char *err, size_t err_size);

/* In the worker, still privileged: move itself in, and close the fds. */
int cgroup_enter(const int *fds, size_t count);

/*
 * After the worker is reaped: which limits were hit (enum cgroup_hit),
 * then kill anything left and remove the cgroup(s).
 */
unsigned cgroup_worker_finish(struct cgroup_setup *cg, uint32_t worker_id);

#endif
