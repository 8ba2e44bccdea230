#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <grp.h>
#include <unistd.h>

#include <event2/event.h>

#include "chan.h"
#include "log.h"
#include "msg.h"
#include "plugins.h"
#include "sandbox.h"
#include "sandbox/landlock.h"
#include "template.h"
#include "sandbox/cgroup.h"
#include "util.h"
#include "worker.h"
#include "zygote.h"

struct zygote_worker {
	LIST_ENTRY(zygote_worker) link;
	uint32_t worker_id;
	pid_t pid;                  /* ours, or 0 for a template's worker */
	size_t profile;
	uid_t uid;
};

/* A profile's template (template.h): pid 1 of the profile's namespaces. */
struct zygote_template {
	struct zygote *zygote;
	size_t profile;
	pid_t pid;
	struct chan *chan;
};

/*
 * Fresh uids: each live worker of a profile with fresh_uid_range holds its
 * own uid, so concurrent jobs cannot signal or ptrace each other.
 */
struct uid_pool {
	uint8_t *used;              /* one byte per uid of the range */
	uint32_t next;
};

struct zygote {
	const struct config *cfg;
	struct event_base *base;
	struct chan *broker;
	struct event *sigchld;
	struct plugin_set *plugins;
	struct sandbox_filter filters[BRIG_MAX_PROFILES];
	struct uid_pool uids[BRIG_MAX_PROFILES];
	bool templated[BRIG_MAX_PROFILES];
	struct cgroup_setup cgroups;
	struct zygote_template *templates[BRIG_MAX_PROFILES];
	LIST_HEAD(, zygote_worker) workers;
	msgpack_sbuffer sb;
};

static void zygote_send(struct zygote *z)
{
	int r = chan_send(z->broker, z->sb.data, z->sb.size, -1);

	msgpack_sbuffer_clear(&z->sb);
	/* The broker is our parent: if we cannot talk to it we have no job. */
	if (r < 0)
		fatalx("cannot send to the broker: %s", strerror(-r));
}

static pid_t zygote_fork_worker(struct zygote *z, const struct profile_config *profile,
				uid_t uid, const struct sandbox_filter *filter, int channel_fd,
				const int *cgroup_fds, size_t cgroup_count)
{
	bool userns = (profile->spec.namespaces & SPEC_NS_USER) != 0;
	int maps[2] = { -1, -1 };
	char c = 0;
	pid_t pid;

	if (userns && pipe2(maps, O_CLOEXEC) < 0)
		return -1;
	/* A raw clone: glibc has no wrapper that both gives the child new
	 * namespaces and returns twice like fork(). */
	pid = (pid_t)syscall(SYS_clone, spec_clone_flags(&profile->spec) | SIGCHLD, NULL, NULL,
			     NULL, NULL);
	if (pid != 0) {
		if (userns) {
			char err[256] = "cannot wake the worker";

			/* namespaces = user: the worker's uid and gid, each mapped
			 * to itself, and nothing else (root is not mapped: the job
			 * is no one special in there either).  The child waits for
			 * it; a worker whose map failed dies unserved. */
			close(maps[0]);
			if (pid > 0 && (sandbox_write_id_maps(pid, uid, profile->spec.gid, false, err,
							       sizeof(err)) < 0 ||
					write(maps[1], "m", 1) != 1)) {
				log_error("profile %s: %s", profile->name, err);
				kill(pid, SIGKILL);
			}
			close(maps[1]);
		}
		return pid;
	}
	if (userns) {
		close(maps[1]);
		if (read(maps[0], &c, 1) != 1)
			_exit(WORKER_EXIT_SANDBOX + SANDBOX_STEP_IDENTITY);
		close(maps[0]);
		/* Root is not mapped in there, and an unmapped uid can create no
		 * file of the view: take the job's ids now.  The capabilities the
		 * namespace gave us stay (root there is no one we were), until
		 * the sandbox drops them as always. */
		if (setgroups(0, NULL) < 0 || setresgid(profile->spec.gid, profile->spec.gid,
							profile->spec.gid) < 0 ||
		    setresuid(uid, uid, uid) < 0)
			_exit(WORKER_EXIT_SANDBOX + SANDBOX_STEP_IDENTITY);
	}
	/* Into its cgroup before anything of the worker runs. */
	if (cgroup_enter(cgroup_fds, cgroup_count) < 0)
		_exit(WORKER_EXIT_SANDBOX + SANDBOX_STEP_CGROUP);
	worker_main(z->cfg, profile, uid, filter, z->plugins, channel_fd);
}

/* A uid for a new worker of profile index i, or (uid_t)-1 if none is free. */
static uid_t zygote_take_uid(struct zygote *z, size_t i)
{
	const struct spec *s = &z->cfg->profiles[i].spec;
	struct uid_pool *pool = &z->uids[i];

	if (!s->fresh_uid)
		return s->uid;
	for (uint32_t n = 0; n < s->uid_count; n++) {
		uint32_t k = (pool->next + n) % s->uid_count;
		if (!pool->used[k]) {
			pool->used[k] = 1;
			pool->next = (k + 1) % s->uid_count;
			return s->uid_first + k;
		}
	}
	return (uid_t)-1;
}

static void zygote_release_uid(struct zygote *z, size_t i, uid_t uid)
{
	const struct spec *s = &z->cfg->profiles[i].spec;

	if (s->fresh_uid && uid >= s->uid_first && uid - s->uid_first < s->uid_count)
		z->uids[i].used[uid - s->uid_first] = 0;
}

static struct zygote_worker *zygote_find(struct zygote *z, uint32_t worker_id)
{
	struct zygote_worker *w;

	LIST_FOREACH(w, &z->workers, link)
		if (w->worker_id == worker_id)
			return w;
	return NULL;
}

static void zygote_report_exit(struct zygote *z, struct zygote_worker *w, int status,
			       uint64_t cpu_us, uint64_t maxrss_kib)
{
	struct msg_zygote_exited m = { w->worker_id, status, cpu_us, maxrss_kib, 0 };

	m.limits = cgroup_worker_finish(&z->cgroups, w->worker_id);
	LIST_REMOVE(w, link);
	zygote_release_uid(z, w->profile, w->uid);
	free(w);
	if (msg_pack_zygote_exited(&z->sb, &m) < 0)
		fatalx("cannot pack EXITED");
	zygote_send(z);
}

/*
 * A template is gone (died, or its channel broke): its namespace went with
 * it, and every worker in it.  Each is reported killed.
 */
static void template_lost(struct zygote_template *t)
{
	struct zygote *z = t->zygote;
	struct zygote_worker *w, *next;

	log_error("template of profile %s is gone; its workers with it",
		  z->cfg->profiles[t->profile].name);
	z->templates[t->profile] = NULL;
	if (t->pid > 0)
		kill(t->pid, SIGKILL);   /* reaped by zygote_reap */
	chan_free(t->chan);
	for (w = LIST_FIRST(&z->workers); w; w = next) {
		next = LIST_NEXT(w, link);
		if (w->profile == t->profile && w->pid == 0)
			zygote_report_exit(z, w, SIGKILL, 0, 0);
	}
	free(t);
}

/* From a template: SPAWNED, SPAWN_FAILED and EXITED go on to the broker. */
static int template_on_record(struct chan *ch, const uint8_t *body, size_t len, int passed_fd,
			      void *arg)
{
	struct zygote_template *t = arg;
	struct zygote *z = t->zygote;
	struct msg_in in;
	int type;

	(void)ch;
	if (passed_fd >= 0)
		close(passed_fd);
	type = msg_open(&in, body, len);
	switch (type) {
	case MSG_ZYGOTE_SPAWNED:
		/* The broker learns nothing from a namespace-local pid. */
		break;
	case MSG_ZYGOTE_SPAWN_FAILED: {
		struct msg_zygote_spawn_failed m;
		struct zygote_worker *w;

		if (msg_decode_zygote_spawn_failed(&in, &m) < 0 || !(w = zygote_find(z, m.worker_id)))
			break;
		LIST_REMOVE(w, link);
		zygote_release_uid(z, w->profile, w->uid);
		cgroup_worker_finish(&z->cgroups, w->worker_id);
		free(w);
		if (msg_pack_zygote_spawn_failed(&z->sb, &m) == 0)
			zygote_send(z);
		break;
	}
	case MSG_ZYGOTE_EXITED: {
		struct msg_zygote_exited m;
		struct zygote_worker *w;

		if (msg_decode_zygote_exited(&in, &m) < 0 || !(w = zygote_find(z, m.worker_id)))
			break;
		if (worker_failed_sandbox((int)m.wait_status))
			log_error("worker %u could not enter its sandbox: step '%s' failed",
				  m.worker_id, sandbox_step_name(WEXITSTATUS((int)m.wait_status) -
								 WORKER_EXIT_SANDBOX));
		zygote_report_exit(z, w, (int)m.wait_status, m.cpu_us, m.maxrss_kib);
		break;
	}
	default:
		log_error("template of profile %s sent %s; ending it",
			  z->cfg->profiles[t->profile].name, msg_type_name(type));
		msg_close(&in);
		template_lost(t);
		return -1;
	}
	msg_close(&in);
	return 0;
}

static void template_on_close(struct chan *ch, int err, void *arg)
{
	(void)ch;
	(void)err;
	template_lost(arg);
}

static struct zygote_template *template_start(struct zygote *z, size_t i)
{
	const struct profile_config *profile = &z->cfg->profiles[i];
	struct zygote_template *t;
	int pair[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
		return NULL;
	pid = (pid_t)syscall(SYS_clone, spec_clone_flags(&profile->spec) | SIGCHLD, NULL, NULL,
			     NULL, NULL);
	if (pid == 0) {
		close(pair[0]);
		template_main(z->cfg, profile, &z->filters[i], z->plugins, pair[1]);
	}
	close(pair[1]);
	if (pid < 0) {
		close(pair[0]);
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		fatal("calloc");
	t->zygote = z;
	t->profile = i;
	t->pid = pid;
	t->chan = chan_new(z->base, pair[0], template_on_record, template_on_close, t);
	if (!t->chan)
		fatalx("cannot watch a template channel");
	z->templates[i] = t;
	log_debug("template of profile %s started as pid %d", profile->name, (int)pid);
	return t;
}

/* A worker of a templated profile: one fork of its template. */
static int zygote_spawn_templated(struct zygote *z, struct zygote_worker *w, int channel_fd,
				  const int *cgroup_fds, size_t cgroup_count)
{
	struct zygote_template *t = z->templates[w->profile];
	int fds[CHAN_MAX_FDS];
	int r;

	if (!t && !(t = template_start(z, w->profile)))
		return -errno;
	fds[0] = channel_fd;
	for (size_t i = 0; i < cgroup_count; i++)
		fds[1 + i] = cgroup_fds[i];
	r = msg_pack_template_spawn(&z->sb, &(struct msg_template_spawn){ w->worker_id, w->uid });
	if (r == 0)
		r = chan_send_fds(t->chan, z->sb.data, z->sb.size, fds, 1 + cgroup_count);
	msgpack_sbuffer_clear(&z->sb);
	return r;
}

static void zygote_spawn(struct zygote *z, const struct msg_zygote_spawn *m, int channel_fd)
{
	const struct profile_config *profile;
	struct zygote_worker *w;
	int cgroup_fds[CGROUP_MAX_FDS];
	int cgroup_count = 0;
	char cgroup_err[512] = "";
	pid_t pid;

	if (m->profile >= z->cfg->profile_count)
		fatalx("broker asked for profile %u of %zu", m->profile, z->cfg->profile_count);
	profile = &z->cfg->profiles[m->profile];
	w = calloc(1, sizeof(*w));
	if (!w)
		fatal("calloc");
	w->profile = m->profile;
	w->worker_id = m->worker_id;
	w->uid = zygote_take_uid(z, m->profile);
	if (z->cgroups.version && w->uid != (uid_t)-1) {
		cgroup_count = cgroup_worker_create(&z->cgroups, m->worker_id, &profile->spec,
						    cgroup_fds, cgroup_err, sizeof(cgroup_err));
		if (cgroup_count < 0) {
			log_error("worker %u: %s", m->worker_id, cgroup_err);
			cgroup_count = 0;
			if (w->uid != (uid_t)-1)
				zygote_release_uid(z, m->profile, w->uid);
			w->uid = (uid_t)-1;
		}
	}
	if (w->uid != (uid_t)-1 && z->templated[m->profile]) {
		int r = zygote_spawn_templated(z, w, channel_fd, cgroup_fds, (size_t)cgroup_count);

		close(channel_fd);
		for (int i = 0; i < cgroup_count; i++)
			close(cgroup_fds[i]);
		if (r == 0) {
			/* The template answers; EXITED comes through it. */
			LIST_INSERT_HEAD(&z->workers, w, link);
			return;
		}
		errno = -r;
		pid = -1;
		channel_fd = -1;
	} else if (w->uid == (uid_t)-1) {
		errno = EAGAIN;
		pid = -1;
	} else {
		pid = zygote_fork_worker(z, profile, w->uid, &z->filters[m->profile], channel_fd,
					 cgroup_fds, (size_t)cgroup_count);
	}
	for (int i = 0; i < cgroup_count; i++)
		close(cgroup_fds[i]);
	if (channel_fd >= 0)
		close(channel_fd);
	if (pid < 0) {
		struct msg_zygote_spawn_failed failed = { .worker_id = m->worker_id, .error = errno };
		if (cgroup_err[0])
			snprintf(failed.message, sizeof(failed.message), "%s", cgroup_err);
		else
			snprintf(failed.message, sizeof(failed.message), "%s: %s",
				 w->uid == (uid_t)-1 ? "no free uid in fresh_uid_range" : "clone",
				 strerror(errno));
		if (w->uid != (uid_t)-1)
			zygote_release_uid(z, m->profile, w->uid);
		cgroup_worker_finish(&z->cgroups, m->worker_id);
		log_error("cannot start a worker for profile %s: %s", profile->name,
			  strerror(errno));
		free(w);
		if (msg_pack_zygote_spawn_failed(&z->sb, &failed) < 0)
			fatalx("cannot pack SPAWN_FAILED");
		zygote_send(z);
		return;
	}
	w->worker_id = m->worker_id;
	w->pid = pid;
	LIST_INSERT_HEAD(&z->workers, w, link);
	if (msg_pack_zygote_spawned(&z->sb, &(struct msg_zygote_spawned){ m->worker_id, pid }) < 0)
		fatalx("cannot pack SPAWNED");
	zygote_send(z);
}

static void zygote_kill(struct zygote *z, uint32_t worker_id)
{
	struct zygote_worker *w;

	/* Only workers not yet reaped are in the list, so the pid cannot have
	 * been reused: the zombie holds it until wait4() below. */
	LIST_FOREACH(w, &z->workers, link) {
		if (w->worker_id != worker_id)
			continue;
		if (w->pid > 0) {
			kill(w->pid, SIGKILL);
		} else if (z->templates[w->profile]) {
			if (msg_pack_zygote_kill(&z->sb, &(struct msg_zygote_kill){ worker_id }) == 0)
				chan_send(z->templates[w->profile]->chan, z->sb.data, z->sb.size, -1);
			msgpack_sbuffer_clear(&z->sb);
		}
		return;
	}
}

static int zygote_on_record(struct chan *ch, const uint8_t *body, size_t len, int passed_fd,
			    void *arg)
{
	struct zygote *z = arg;
	struct msg_in in;
	int type;

	(void)ch;
	type = msg_open(&in, body, len);
	/* A broken rule from the broker is fatal: it is our own parent. */
	switch (type) {
	case MSG_ZYGOTE_SPAWN: {
		struct msg_zygote_spawn m;
		if (msg_decode_zygote_spawn(&in, &m) < 0 || passed_fd < 0)
			fatalx("bad SPAWN from the broker: %s", passed_fd < 0 ? "no fd" : in.error);
		zygote_spawn(z, &m, passed_fd);
		break;
	}
	case MSG_ZYGOTE_KILL: {
		struct msg_zygote_kill m;
		if (msg_decode_zygote_kill(&in, &m) < 0 || passed_fd >= 0)
			fatalx("bad KILL from the broker: %s", in.error);
		zygote_kill(z, m.worker_id);
		break;
	}
	default:
		fatalx("unexpected message from the broker: %s (%s)", msg_type_name(type),
		       type < 0 ? in.error : "not allowed here");
	}
	msg_close(&in);
	return 0;
}

static void zygote_on_close(struct chan *ch, int err, void *arg)
{
	struct zygote *z = arg;
	struct zygote_worker *w;

	(void)ch;
	if (err < 0)
		log_error("channel to the broker failed: %s", strerror(-err));
	/* Without a broker every worker is useless: end them all, now. */
	LIST_FOREACH(w, &z->workers, link)
		if (w->pid > 0)
			kill(w->pid, SIGKILL);
	for (size_t i = 0; i < z->cfg->profile_count; i++)
		if (z->templates[i] && z->templates[i]->pid > 0)
			kill(z->templates[i]->pid, SIGKILL);
	event_base_loopbreak(z->base);
}

static void zygote_reap(evutil_socket_t sig, short what, void *arg)
{
	struct zygote *z = arg;
	struct rusage ru;
	int status;
	pid_t pid;

	(void)sig;
	(void)what;
	while ((pid = wait4(-1, &status, WNOHANG, &ru)) > 0) {
		struct zygote_worker *w;

		for (size_t i = 0; i < z->cfg->profile_count; i++) {
			struct zygote_template *t = z->templates[i];
			if (t && t->pid == pid) {
				t->pid = 0;
				z->templates[i] = NULL;
				template_lost(t);   /* frees t */
				break;
			}
		}
		LIST_FOREACH(w, &z->workers, link)
			if (w->pid == pid)
				break;
		if (!w || pid == 0)
			continue;
		if (worker_failed_sandbox(status))
			log_error("worker %u could not enter its sandbox: step '%s' failed",
				  w->worker_id,
				  sandbox_step_name(WEXITSTATUS(status) - WORKER_EXIT_SANDBOX));
		zygote_report_exit(z, w, status,
				   timeval_usec(ru.ru_utime.tv_sec, ru.ru_utime.tv_usec) +
				   timeval_usec(ru.ru_stime.tv_sec, ru.ru_stime.tv_usec),
				   (uint64_t)ru.ru_maxrss);
	}
}

static void zygote_announce(struct zygote *z)
{
	struct msg_zygote_ready ready = { 0 };
	size_t n = plugin_set_count(z->plugins);

	ready.handlers.names = calloc(n ? n : 1, sizeof(char *));
	if (!ready.handlers.names)
		fatal("calloc");
	for (size_t i = 0; i < n; i++)
		ready.handlers.names[i] = (char *)plugin_set_get(z->plugins, i)->name;
	ready.handlers.count = n;
	if (msg_pack_zygote_ready(&z->sb, &ready) < 0)
		fatalx("cannot pack READY");
	free(ready.handlers.names);
	zygote_send(z);
}

void zygote_main(const struct config *cfg, int channel_fd)
{
	struct zygote z = { .cfg = cfg };
	int r;

	log_set_role("zygote");
	/* Reload and shutdown are the broker's to decide; a stray SIGHUP or
	 * SIGINT sent to the whole process group must not end the zygote. */
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	/* If the monitor dies, so do we (and with us, every worker); if the
	 * broker dies, our channel closes and we exit. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		fatal("prctl(PR_SET_PDEATHSIG)");
	if (getppid() == 1)
		fatalx("the broker is already gone");
	LIST_INIT(&z.workers);
	msgpack_sbuffer_init(&z.sb);

	r = plugin_set_load(cfg->handler_dir, &z.plugins);
	if (r < 0)
		fatalx("cannot load handlers from %s: %s", cfg->handler_dir, strerror(-r));
	{
		/* Named after the monitor, so that two brigd never share one. */
		char instance[32], err[512] = "";
		/* The monitor (our parent), the broker (named by the monitor) and
		 * us: brigd's processes, which cgroup v2 may need to move. */
		const char *broker = getenv("BRIG_BROKER_PID");
		pid_t daemon_pids[3] = { getppid(), getpid(), broker ? (pid_t)atoi(broker) : 0 };
		size_t daemon_count = daemon_pids[2] > 1 ? 3 : 2;

		/* One per zygote: a reload's new zygote and the retired one each
		 * own theirs (the leading monitor pid is what stale clean-up reads). */
		snprintf(instance, sizeof(instance), "%d-%d", (int)getppid(), (int)getpid());
		r = cgroup_setup(&z.cgroups, instance, daemon_pids, daemon_count, err, sizeof(err));
		unsetenv("BRIG_BROKER_PID");
		if (r < 0 || z.cgroups.version == 0)
			log_warn("cgroups unavailable (%s): memory_max and pids_max are not "
				 "enforced; rlimits are the last resort", r < 0 ? err : "no hierarchy "
				 "with the memory and pids controllers");
		else
			log_info("cgroup v%d: worker limits under %s", z.cgroups.version,
				 z.cgroups.base[0]);
	}
	r = landlock_abi_version();
	for (size_t i = 0; i < cfg->profile_count; i++) {
		struct spec spec = cfg->profiles[i].spec;
		char err[512] = "";
		int built;

		z.templated[i] = template_suits(&cfg->profiles[i], r);
		log_info("profile %s: %s", cfg->profiles[i].name,
			 z.templated[i] ? "workers forked from a template" :
					  "fresh namespaces per worker");
		/* Workers of a template share one IPC namespace: SysV and POSIX IPC
		 * objects would outlive a job and reach the next one. */
		if (z.templated[i] && spec.seccomp_mode == SPEC_SECCOMP_DENYLIST) {
			static const char *const ipc[] = { "shmget", "msgget", "semget", "mq_open" };
			for (size_t k = 0; k < ARRAY_SIZE(ipc) && spec.seccomp_deny_count < SPEC_MAX_SYSCALLS;
			     k++)
				snprintf(spec.seccomp_deny[spec.seccomp_deny_count++],
					 sizeof(spec.seccomp_deny[0]), "%s", ipc[k]);
		}
		built = worker_traces_exec(&cfg->profiles[i]) ?
				sandbox_filter_build_exec_relay(&spec, &z.filters[i], err, sizeof(err)) :
				sandbox_filter_build(&spec, &z.filters[i], err, sizeof(err));
		if (built < 0)
			fatalx("profile %s: cannot build the seccomp filter: %s", cfg->profiles[i].name,
			       err[0] ? err : strerror(-built));
		if (spec.fresh_uid) {
			z.uids[i].used = calloc(spec.uid_count, 1);
			if (!z.uids[i].used)
				fatal("calloc");
		}
	}
	if (r <= 0)
		log_warn("the kernel offers no Landlock: jobs are confined by namespaces, the "
			 "mount view and seccomp only; profiles with landlock = required fail");
	else
		log_info("Landlock ABI %d", r);

	z.base = event_base_new();
	if (!z.base)
		fatalx("event_base_new failed");
	z.broker = chan_new(z.base, channel_fd, zygote_on_record, zygote_on_close, &z);
	z.sigchld = evsignal_new(z.base, SIGCHLD, zygote_reap, &z);
	if (!z.broker || !z.sigchld || evsignal_add(z.sigchld, NULL) < 0)
		fatalx("cannot set up the event loop");
	zygote_announce(&z);
	log_debug("ready with %zu handlers", plugin_set_count(z.plugins));

	event_base_dispatch(z.base);
	/* Reap every worker we killed, so none is left to init as a zombie:
	 * each one returns only once its whole pid namespace is gone. */
	for (;;) {
		pid_t pid = waitpid(-1, NULL, 0);
		if (pid < 0 && errno != EINTR)
			break;
	}
	{
		struct zygote_worker *w;
		LIST_FOREACH(w, &z.workers, link)
			cgroup_worker_finish(&z.cgroups, w->worker_id);
	}
	cgroup_teardown(&z.cgroups);
	exit(0);
}
