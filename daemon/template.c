#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chan.h"
#include "sandbox/cgroup.h"
#include "sandbox/seccomp.h"
#include "msg.h"
#include "template.h"
#include "util.h"
#include "worker.h"

#define TEMPLATE_MAX_WORKERS 4096

struct template_worker {
	uint32_t worker_id;
	pid_t pid;                  /* in the profile's pid namespace */
	uid_t uid;
	bool in_use;
	bool exited;                /* reaped, not yet reported */
	int status;
	struct rusage usage;
};

struct template {
	const struct config *cfg;
	const struct profile_config *profile;
	const struct sandbox_filter *filter;
	const struct plugin_set *plugins;
	struct template_worker workers[TEMPLATE_MAX_WORKERS];
	msgpack_sbuffer sb;
};

bool template_suits(const struct profile_config *p, int landlock_abi)
{
	const struct spec *s = &p->spec;

	/* A user namespace is per worker: the zygote maps each one's uid. */
	if (!s->fresh_uid || landlock_abi < 6 || (s->namespaces & SPEC_NS_USER))
		return false;
	if ((s->namespaces & (SPEC_NS_PID | SPEC_NS_MOUNT)) != (SPEC_NS_PID | SPEC_NS_MOUNT))
		return false;
	/* Anything writable in the view would be shared by every worker. */
	for (size_t i = 0; i < s->path_count; i++)
		if (s->paths[i].kind == SPEC_PATH_TMPFS || (s->paths[i].access & SPEC_ACCESS_WRITE))
			return false;
	return true;
}

/* The zygote is our parent and trusted; a broken rule ends the template. */
static void template_send(struct template *t)
{
	if (chan_send_blocking(WORKER_CHANNEL_FD, t->sb.data, t->sb.size, -1) < 0)
		_exit(WORKER_EXIT_CHANNEL);
	msgpack_sbuffer_clear(&t->sb);
}

static struct template_worker *template_find(struct template *t, uint32_t worker_id, pid_t pid)
{
	for (size_t i = 0; i < TEMPLATE_MAX_WORKERS; i++) {
		struct template_worker *w = &t->workers[i];
		if (w->in_use && (pid ? w->pid == pid : w->worker_id == worker_id))
			return w;
	}
	return NULL;
}

/* Is any process of uid still in this pid namespace (our /proc)? */
static bool uid_has_processes(uid_t uid)
{
	DIR *proc = opendir("/proc");
	struct dirent *e;
	bool found = false;

	if (!proc)
		return false;
	while (!found && (e = readdir(proc))) {
		char path[300], line[256];
		FILE *f;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/status", e->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			unsigned long real_uid;
			if (sscanf(line, "Uid: %lu", &real_uid) == 1) {
				found = real_uid == uid;
				break;
			}
		}
		fclose(f);
	}
	closedir(proc);
	return found;
}

static struct template *the_template;

/*
 * Reap every child that has exited: orphans of jobs and killers are only
 * reaped; a worker's status is kept for template_reap to report.  Never
 * discard a worker's status, or its job would wait for an exit report
 * that never comes.
 */
static void collect_exits(void)
{
	struct rusage ru;
	int status;
	pid_t pid;

	while ((pid = wait4(-1, &status, WNOHANG, &ru)) > 0) {
		struct template_worker *w = template_find(the_template, 0, pid);

		if (w && !w->exited) {
			w->exited = true;
			w->status = status;
			w->usage = ru;
		}
	}
}

/*
 * End every process of uid: a child takes the uid and kill(-1, SIGKILL)s,
 * which reaches every process it may signal (all of that uid here, none of
 * another) while the kernel holds off new forks.  With wait, also wait until
 * none is left, reaping the orphans that land on us (we are pid 1).
 */
static void kill_uid(uid_t uid, bool wait)
{
	pid_t killer = fork();
	uint64_t give_up;

	if (killer == 0) {
		if (setresuid(uid, uid, uid) < 0)
			_exit(1);
		kill(-1, SIGKILL);
		_exit(0);
	}
	if (killer < 0 || !wait)
		return;
	while (waitpid(killer, NULL, 0) < 0 && errno == EINTR)
		;
	give_up = now_usec() + 2000000;
	/* Invariant 4: the job's FINAL waits until its last process is gone. */
	while (uid_has_processes(uid) && now_usec() < give_up) {
		collect_exits();
		usleep(100);
	}
}

static void template_spawn(struct template *t, const struct msg_template_spawn *m, int job_fd,
			   const int *cgroup_fds, size_t cgroup_count)
{
	struct template_worker *w = NULL;
	pid_t pid;

	for (size_t i = 0; i < TEMPLATE_MAX_WORKERS && !w; i++)
		if (!t->workers[i].in_use)
			w = &t->workers[i];
	if (!w || m->uid == 0) {
		struct msg_zygote_spawn_failed failed = { .worker_id = m->worker_id, .error = EAGAIN };
		snprintf(failed.message, sizeof(failed.message), "template: %s",
			 w ? "refusing uid 0" : "too many workers");
		close(job_fd);
		for (size_t i = 0; i < cgroup_count; i++)
			close(cgroup_fds[i]);
		if (msg_pack_zygote_spawn_failed(&t->sb, &failed) == 0)
			template_send(t);
		return;
	}
	pid = fork();
	if (pid == 0) {
		/* Into its cgroup first, before it takes the job uid. */
		if (cgroup_enter(cgroup_fds, cgroup_count) < 0)
			_exit(WORKER_EXIT_SANDBOX + SANDBOX_STEP_CGROUP);
		worker_main_from_template(t->cfg, t->profile, m->uid, t->filter, t->plugins, job_fd);
	}
	close(job_fd);
	for (size_t i = 0; i < cgroup_count; i++)
		close(cgroup_fds[i]);
	if (pid < 0) {
		struct msg_zygote_spawn_failed failed = { .worker_id = m->worker_id, .error = errno };
		snprintf(failed.message, sizeof(failed.message), "template fork: %s", strerror(errno));
		if (msg_pack_zygote_spawn_failed(&t->sb, &failed) == 0)
			template_send(t);
		return;
	}
	w->in_use = true;
	w->exited = false;
	w->worker_id = m->worker_id;
	w->pid = pid;
	w->uid = m->uid;
	if (msg_pack_zygote_spawned(&t->sb, &(struct msg_zygote_spawned){ m->worker_id, pid }) == 0)
		template_send(t);
}

static void template_reap(struct template *t)
{
	bool again = true;

	while (again) {
		again = false;
		collect_exits();
		for (size_t i = 0; i < TEMPLATE_MAX_WORKERS; i++) {
			struct template_worker *w = &t->workers[i];
			struct msg_zygote_exited m = { 0 };

			if (!w->in_use || !w->exited)
				continue;
			/* Most jobs leave nothing behind: look before sending a
			 * killer (which may collect more exits: go round again). */
			if (uid_has_processes(w->uid)) {
				kill_uid(w->uid, true);
				again = true;
			}
			m.worker_id = w->worker_id;
			m.wait_status = w->status;
			m.cpu_us = timeval_usec(w->usage.ru_utime.tv_sec, w->usage.ru_utime.tv_usec) +
				   timeval_usec(w->usage.ru_stime.tv_sec, w->usage.ru_stime.tv_usec);
			m.maxrss_kib = (uint64_t)w->usage.ru_maxrss;
			w->in_use = false;
			w->exited = false;
			if (msg_pack_zygote_exited(&t->sb, &m) == 0)
				template_send(t);
		}
	}
}

static void template_on_record(struct template *t, const uint8_t *body, size_t len, int *fds,
			       size_t nfds)
{
	struct msg_in in;
	int type = msg_open(&in, body, len);

	switch (type) {
	case MSG_TEMPLATE_SPAWN: {
		struct msg_template_spawn m;

		/* fds: the job channel, then the worker's cgroup.procs files. */
		if (msg_decode_template_spawn(&in, &m) < 0 || nfds < 1)
			_exit(WORKER_EXIT_CHANNEL);
		template_spawn(t, &m, fds[0], fds + 1, nfds - 1);
		nfds = 0;
		break;
	}
	case MSG_ZYGOTE_KILL: {
		struct msg_zygote_kill m;
		struct template_worker *w;

		if (msg_decode_zygote_kill(&in, &m) < 0)
			_exit(WORKER_EXIT_CHANNEL);
		w = template_find(t, m.worker_id, 0);
		if (w)
			kill_uid(w->uid, false);   /* the reaper reports it */
		break;
	}
	default:
		_exit(WORKER_EXIT_CHANNEL);
	}
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
	msg_close(&in);
}

void template_main(const struct config *cfg, const struct profile_config *profile,
		   const struct sandbox_filter *filter, const struct plugin_set *plugins,
		   int zygote_fd)
{
	static struct template t;
	enum sandbox_step step;
	uint8_t buf[CHAN_RECORD_MAX];
	sigset_t chld;
	int sfd, r;

	r = sandbox_enter_template(&profile->spec, zygote_fd, &step);
	if (r < 0)
		_exit(WORKER_EXIT_SANDBOX + (int)step);
	the_template = &t;
	t.cfg = cfg;
	t.profile = profile;
	t.filter = filter;
	t.plugins = plugins;
	msgpack_sbuffer_init(&t.sb);

	/* As the zygote: only the broker decides when we end. */
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		_exit(WORKER_EXIT_SANDBOX + SANDBOX_STEP_SIGNALS);
	sandbox_template_signals_settled();
	/*
	 * A deny-list filter allows all the template still does (fork, wait,
	 * setresuid, kill, its channels, /proc): loaded here once, every
	 * worker is born under it instead of compiling (JIT) its own copy.
	 * An allow-list (parser) would refuse the template's own calls: its
	 * workers load it themselves.
	 */
	if (profile->spec.seccomp_mode == SPEC_SECCOMP_DENYLIST) {
		if (seccomp_load_prog(&filter->prog) < 0)
			_exit(WORKER_EXIT_SANDBOX + SANDBOX_STEP_SECCOMP);
		t.filter = NULL;
	}

	for (;;) {
		struct pollfd fds[2] = {
			{ .fd = WORKER_CHANNEL_FD, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
		};

		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(WORKER_EXIT_CHANNEL);
		}
		if (fds[1].revents) {
			struct signalfd_siginfo info;
			while (read(sfd, &info, sizeof(info)) > 0)
				;
			template_reap(&t);
		}
		if (fds[0].revents) {
			int passed[CHAN_MAX_FDS];
			size_t len, npassed;

			r = chan_recv_blocking(WORKER_CHANNEL_FD, buf, sizeof(buf), &len, passed,
					       CHAN_MAX_FDS, &npassed);
			/* The zygote is gone: so is everything of ours, with the
			 * namespace, once we exit. */
			if (r < 0)
				_exit(r == -ECONNRESET ? 0 : WORKER_EXIT_CHANNEL);
			template_on_record(&t, buf + FRAME_HEADER_SIZE, len - FRAME_HEADER_SIZE, passed,
					   npassed);
		}
	}
}
