#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "chan.h"
#include "log.h"
#include "monitor.h"
#include "msg.h"
#include "privsep.h"
#include "util.h"

/* Zygotes alive at once: the current one and those retired by reloads that
 * still finish jobs.  A broker asking for more is refused (EAGAIN). */
#define MONITOR_MAX_ZYGOTES 16
/* How long zygotes may take to exit after the broker, then SIGKILL. */
#define MONITOR_ZYGOTE_GRACE_USEC 5000000
/* An access check that takes longer (a hung network mount) is a no. */
/* An access check that takes longer (a path on a hung or slow filesystem)
 * is killed and answered ETIMEDOUT: the broker waits for the answer. */
#define MONITOR_ACCESS_TIMEOUT_MS 1000

struct monitor {
	struct config *cfg;
	const struct zygote_command *zygote_cmd;
	struct event_base *base;
	struct chan *broker;            /* NULL once the broker's channel closed */
	int access_fd;
	struct event *access_ev;
	struct event *signal_evs[4];
	pid_t broker_pid;               /* 0 once reaped */
	int broker_status;
	pid_t zygotes[MONITOR_MAX_ZYGOTES];   /* started and not yet reaped */
	unsigned zygote_count;
	bool created_socket;
	bool stopping;                  /* the broker said STOPPING */
	msgpack_sbuffer sb;
	uint8_t buf[CHAN_RECORD_MAX];
};

/* ---- the socket ---- */

static int monitor_listen(struct monitor *m)
{
	const char *path = m->cfg->socket_path;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char dir[PATH_MAX];
	char *slash;
	mode_t old_mask;
	int fd, n, r;

	n = sd_listen_fds(1);
	if (n > 1)
		fatalx("systemd passed %d sockets; brigd expects one", n);
	if (n == 1) {
		fd = SD_LISTEN_FDS_START;
		if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0)
			fatalx("the socket systemd passed is not a listening AF_UNIX stream socket");
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		evutil_make_socket_nonblocking(fd);
		log_info("listening on the socket passed by systemd");
		return fd;
	}
	if (strlen(path) >= sizeof(addr.sun_path))
		fatalx("socket path %s is too long", path);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			fatal("mkdir %s", dir);
	}
	memcpy(addr.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		fatal("socket");
	{
		/* A socket file left by a dead brigd is removed; a live one is not. */
		struct stat st;
		if (lstat(path, &st) == 0) {
			int probe;
			if (!S_ISSOCK(st.st_mode))
				fatalx("%s exists and is not a socket", path);
			probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (probe >= 0 && connect(probe, (struct sockaddr *)&addr, sizeof(addr)) == 0)
				fatalx("another brigd is listening on %s", path);
			if (probe >= 0)
				close(probe);
			unlink(path);
		}
	}
	/* Bind under a umask so the socket never exists with a wider mode. */
	old_mask = umask(0777 & ~m->cfg->socket_mode);
	r = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old_mask);
	if (r < 0)
		fatal("bind %s", path);
	m->created_socket = true;
	if (listen(fd, 256) < 0)
		fatal("listen");
	log_info("listening on %s", path);
	return fd;
}

/* ---- the broker's identity ---- */

static void monitor_resolve_broker(const struct config *cfg, struct broker_identity *id)
{
	struct passwd *pw;

	memset(id, 0, sizeof(*id));
	snprintf(id->user, sizeof(id->user), "%s", cfg->broker_user);
	errno = 0;
	pw = getpwnam(cfg->broker_user);
	if (!pw)
		fatalx("the broker's user '%s' does not exist%s%s: create it (systemd-sysusers "
		       "installs it from sysusers.d/brig.conf; or useradd --system --user-group "
		       "%s), or set broker_user = root in [brigd] to run the broker as root "
		       "(development only, see brigd(8))", cfg->broker_user, errno ? ": " : "",
		       errno ? strerror(errno) : "", cfg->broker_user);
	id->uid = pw->pw_uid;
	id->gid = pw->pw_gid;
	id->keep_root = pw->pw_uid == 0;
	if (id->keep_root)
		log_warn("broker_user = %s: the broker, which parses client bytes, keeps root and "
			 "its capabilities (development only)", cfg->broker_user);
}

/* ---- zygotes ---- */

static bool zygote_known(const struct monitor *m, pid_t pid)
{
	for (unsigned i = 0; i < m->zygote_count; i++)
		if (m->zygotes[i] == pid)
			return true;
	return false;
}

/* A zygote was reaped: true if it was ours. */
static bool zygote_forget(struct monitor *m, pid_t pid)
{
	for (unsigned i = 0; i < m->zygote_count; i++) {
		if (m->zygotes[i] == pid) {
			m->zygotes[i] = m->zygotes[--m->zygote_count];
			return true;
		}
	}
	return false;
}

static void broker_misbehaved(struct monitor *m, const char *fmt, ...);

/* Reports the broker does not read pile up here, with their fds (each a
 * zygote kept alive): a broker this far behind is not served, it is ended. */
#define MONITOR_MAX_QUEUED 64

static void monitor_send(struct monitor *m, int packed, int pass_fd)
{
	int r = packed;

	if (r == 0 && m->broker && chan_queued(m->broker) >= MONITOR_MAX_QUEUED) {
		msgpack_sbuffer_clear(&m->sb);
		broker_misbehaved(m, "it leaves %d of the monitor's reports unread",
				  MONITOR_MAX_QUEUED);
		return;
	}
	if (r == 0 && m->broker)
		r = chan_send(m->broker, m->sb.data, m->sb.size, pass_fd);
	msgpack_sbuffer_clear(&m->sb);
	if (r < 0)
		log_error("cannot send to the broker: %s", strerror(-r));
}

/* Fork + exec brigd --zygote 3: the zygote starts from a fresh image that
 * holds none of our memory, and fd 3 is its only descriptor of ours. */
static pid_t zygote_spawn(struct monitor *m, int *broker_end)
{
	const struct zygote_command *cmd = m->zygote_cmd;
	int pair[2];
	struct stat st;
	pid_t pid;

	if (stat(cmd->exe, &st) < 0 || st.st_dev != cmd->exe_dev || st.st_ino != cmd->exe_ino)
		log_warn("%s is not the binary brigd started from (upgraded?): the zygote will "
			 "run it; restart brigd after upgrades", cmd->exe);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int r = -errno;
		close(pair[0]);
		close(pair[1]);
		return r;
	}
	if (pid == 0) {
		char broker[16];

		/* Invariant 5: close_range leaves the zygote fd 0-2 and its channel,
		 * none of the monitor's (the broker's channels, the socket). */
		/* dup2 onto itself would keep close-on-exec: clear it instead. */
		if (pair[1] == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(pair[1], 3) < 0)
			_exit(127);
		syscall(SYS_close_range, 4, ~0U, 0);
		/* For cgroup v2 set-up, which may have to move brigd's processes. */
		snprintf(broker, sizeof(broker), "%d", (int)m->broker_pid);
		setenv("BRIG_BROKER_PID", broker, 1);
		execv(cmd->exe, cmd->argv);
		_exit(127);
	}
	close(pair[1]);
	*broker_end = pair[0];
	return pid;
}

static void monitor_on_zygote_start(struct monitor *m, const struct msg_monitor_zygote_start *req)
{
	struct msg_monitor_zygote_started reply = { .request = req->request };
	int fd = -1;
	pid_t pid;

	if (m->zygote_count >= MONITOR_MAX_ZYGOTES) {
		log_warn("the broker asks for a zygote while %u are alive; refused", m->zygote_count);
		reply.error = EAGAIN;
	} else if ((pid = zygote_spawn(m, &fd)) < 0) {
		log_error("cannot start a zygote: %s", strerror(-pid));
		reply.error = -pid;
	} else {
		m->zygotes[m->zygote_count++] = pid;
		reply.pid = pid;
		log_debug("zygote started as pid %d", (int)pid);
	}
	monitor_send(m, msg_pack_monitor_zygote_started(&m->sb, &reply), fd);
	if (fd >= 0)
		close(fd);   /* the broker has its own copy now: ours must not linger */
}

/* ---- the broker ---- */

/* The broker broke a rule: it may be compromised.  It is ended, and brigd
 * with it (systemd restarts it): never guess what it meant. */
__attribute__((format(printf, 2, 3)))
static void broker_misbehaved(struct monitor *m, const char *fmt, ...)
{
	char reason[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	log_error("the broker broke the monitor's protocol (%s): stopping it", reason);
	if (m->broker_pid > 0)
		kill(m->broker_pid, SIGKILL);
	if (m->broker) {
		chan_free(m->broker);
		m->broker = NULL;
	}
	/* Maybe from inside its own callback: freed at the end, not here. */
	if (m->access_ev)
		event_del(m->access_ev);
}

static void monitor_on_notify(struct monitor *m, const struct msg_monitor_notify *n)
{
	switch (n->state) {
	case MONITOR_NOTIFY_READY:
		sd_notify(0, "READY=1");
		break;
	case MONITOR_NOTIFY_RELOADING:
		sd_notify(0, "RELOADING=1");
		break;
	case MONITOR_NOTIFY_STOPPING:
		m->stopping = true;
		sd_notify(0, "STOPPING=1");
		break;
	case MONITOR_NOTIFY_WATCHDOG:
		sd_notify(0, "WATCHDOG=1");
		break;
	case MONITOR_NOTIFY_STATUS:
		/* Checked by the decoder: printable ASCII, one line. */
		sd_notifyf(0, "STATUS=%s", n->status);
		break;
	default:
		break;
	}
}

static int monitor_on_record(struct chan *ch, const uint8_t *body, size_t len, int passed_fd,
			     void *arg)
{
	struct monitor *m = arg;
	struct msg_in in;
	int type;

	(void)ch;
	if (passed_fd >= 0) {
		close(passed_fd);
		broker_misbehaved(m, "it passed a file descriptor");
		return -1;
	}
	/* Everything from the broker is untrusted: only these three types, each
	 * decoded field by field (values checked by the decoders). */
	type = msg_open(&in, body, len);
	switch (type) {
	case MSG_MONITOR_ZYGOTE_START: {
		struct msg_monitor_zygote_start req;

		if (msg_decode_monitor_zygote_start(&in, &req) < 0)
			break;
		msg_close(&in);
		monitor_on_zygote_start(m, &req);
		return m->broker ? 0 : -1;   /* ended if it reads nothing we send */
	}
	case MSG_MONITOR_ZYGOTE_KILL: {
		struct msg_monitor_zygote_kill req;

		if (msg_decode_monitor_zygote_kill(&in, &req) < 0)
			break;
		msg_close(&in);
		/* Only a zygote we started and have not reaped: never any other
		 * process, whatever pid the broker names. */
		if (zygote_known(m, (pid_t)req.pid))
			kill((pid_t)req.pid, SIGKILL);
		else
			log_debug("the broker asks to kill pid %" PRId64 ", not a live zygote; ignored",
				  req.pid);
		return 0;
	}
	case MSG_MONITOR_NOTIFY: {
		struct msg_monitor_notify req;

		if (msg_decode_monitor_notify(&in, &req) < 0)
			break;
		msg_close(&in);
		monitor_on_notify(m, &req);
		return 0;
	}
	default:
		if (type > 0)
			snprintf(in.error, sizeof(in.error), "message type %s is not accepted",
				 msg_type_name(type));
		break;
	}
	broker_misbehaved(m, "%s", in.error);
	msg_close(&in);
	return -1;
}

static void monitor_on_close(struct chan *ch, int err, void *arg)
{
	struct monitor *m = arg;

	(void)ch;
	/* Normal when the broker exits; its exit status is what counts. */
	if (err < 0)
		log_warn("the broker's channel broke: %s", strerror(-err));
	chan_free(m->broker);
	m->broker = NULL;
}

/*
 * In a child with the client's identity: could it reach the path itself?
 * Only the effective ids (and the groups) are the client's: faccessat
 * with AT_EACCESS checks those, while the real and saved uid stay root,
 * so that the client cannot signal (stop, kill) the child; its signal
 * handlers are the default ones, not libevent's, which would write to
 * the monitor's own signal pipe.  The monitor waits MONITOR_ACCESS_TIMEOUT_MS
 * at most, then kills it.
 */
static int64_t access_check(const struct msg_monitor_access *req)
{
	gid_t groups[BRIG_GROUPS_MAX];
	struct pollfd pfd = { .events = POLLIN };
	int status, r;
	pid_t pid;

	for (size_t i = 0; i < req->group_count; i++)
		groups[i] = req->groups[i];
	pid = fork();
	if (pid < 0)
		return errno;
	if (pid == 0) {
		sigset_t none;

		for (int sig = 1; sig < NSIG; sig++)
			if (sig != SIGKILL && sig != SIGSTOP)
				signal(sig, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (setgroups(req->group_count, groups) < 0 || setresgid(-1, req->gid, -1) < 0 ||
		    setresuid(-1, req->uid, -1) < 0)
			_exit(2);
		_exit(faccessat(AT_FDCWD, req->path, (int)req->mode, AT_EACCESS) == 0 ? 0 : 1);
	}
	pfd.fd = (int)syscall(SYS_pidfd_open, pid, 0);
	do
		r = pfd.fd >= 0 ? poll(&pfd, 1, MONITOR_ACCESS_TIMEOUT_MS) : 1;
	while (r < 0 && errno == EINTR);
	if (pfd.fd >= 0)
		close(pfd.fd);
	if (r == 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return errno;
	if (r == 0)
		return ETIMEDOUT;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	return WIFEXITED(status) && WEXITSTATUS(status) == 1 ? EACCES : EPERM;
}

static void monitor_access_cb(evutil_socket_t fd, short what, void *arg)
{
	struct monitor *m = arg;
	struct msg_monitor_access req;
	struct msg_in in;
	size_t len, nfds;
	int fds[1], r, type;

	(void)what;
	r = chan_recv_blocking(fd, m->buf, sizeof(m->buf), &len, fds, 1, &nfds);
	if (r == -EAGAIN)
		return;
	if (r < 0) {
		/* The broker exited (or broke the record rules). */
		if (r != -ECONNRESET)
			broker_misbehaved(m, "access channel: %s", strerror(-r));
		event_del(m->access_ev);
		return;
	}
	if (nfds > 0) {
		close(fds[0]);
		broker_misbehaved(m, "it passed a file descriptor with an access check");
		return;
	}
	type = msg_open(&in, m->buf + FRAME_HEADER_SIZE, len - FRAME_HEADER_SIZE);
	if (type != MSG_MONITOR_ACCESS || msg_decode_monitor_access(&in, &req) < 0) {
		broker_misbehaved(m, "access channel: %s", type == MSG_MONITOR_ACCESS || type < 0 ?
				  in.error : "not an access check");
		msg_close(&in);
		return;
	}
	msg_close(&in);
	r = msg_pack_monitor_access_result(&m->sb, &(struct msg_monitor_access_result){
		access_check(&req) });
	/* Non-blocking: a broker that asks without reading answers cannot
	 * stall the monitor; it has broken the one-at-a-time rule. */
	if (r == 0)
		r = chan_send_blocking(fd, m->sb.data, m->sb.size, -1);
	msgpack_sbuffer_clear(&m->sb);
	if (r < 0 && r != -EPIPE && r != -ECONNRESET)
		broker_misbehaved(m, "it does not read the answers to its access checks (%s)",
				  strerror(-r));
}

/* ---- the process ---- */

static void monitor_reap(struct monitor *m)
{
	int status;
	pid_t pid;

	/* We are a subreaper: orphans of a dead zygote land here too. */
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == m->broker_pid) {
			m->broker_pid = 0;
			m->broker_status = status;
			if (WIFSIGNALED(status))
				log_error("the broker was killed by signal %d (%s)%s", WTERMSIG(status),
					  strsignal(WTERMSIG(status)), WTERMSIG(status) == SIGSYS ?
					  ": its seccomp filter refused a syscall" : "");
			else if (WEXITSTATUS(status) != 0)
				log_error("the broker exited with status %d", WEXITSTATUS(status));
			event_base_loopbreak(m->base);
			continue;
		}
		if (!zygote_forget(m, pid))
			continue;   /* an orphan of a dead zygote, or an access check's child */
		/* While the broker stops, a zygote may find its channel closed in
		 * the middle of a report: not worth an error then. */
		if (WIFSIGNALED(status))
			log_msg(m->stopping ? LOG_LEVEL_INFO : LOG_LEVEL_ERROR,
				"zygote %d killed by signal %d", (int)pid, WTERMSIG(status));
		else if (WEXITSTATUS(status) != 0)
			log_msg(m->stopping ? LOG_LEVEL_INFO : LOG_LEVEL_ERROR,
				"zygote %d exited with status %d", (int)pid, WEXITSTATUS(status));
		monitor_send(m, msg_pack_monitor_zygote_died(&m->sb, &(struct msg_monitor_zygote_died){
			pid, status }), -1);
	}
}

static void monitor_signal(evutil_socket_t sig, short what, void *arg)
{
	struct monitor *m = arg;

	(void)what;
	if (sig == SIGCHLD) {
		monitor_reap(m);
		return;
	}
	/* SIGTERM, SIGINT, SIGHUP: the broker decides (shutdown, reload). */
	if (m->broker_pid > 0)
		kill(m->broker_pid, (int)sig);
}

/* The broker is gone: its zygotes see their channels close and exit with
 * their workers; wait for them, then for anything orphaned to us. */
static void monitor_stop_zygotes(struct monitor *m)
{
	uint64_t give_up = now_usec() + MONITOR_ZYGOTE_GRACE_USEC;

	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			break;   /* ECHILD: nothing left */
		if (pid == 0) {
			if (now_usec() > give_up) {
				log_warn("zygotes did not exit; killing them");
				for (unsigned i = 0; i < m->zygote_count; i++)
					kill(m->zygotes[i], SIGKILL);
				give_up = UINT64_MAX;
			}
			usleep(2000);
			continue;
		}
		zygote_forget(m, pid);
	}
}

int monitor_main(struct config *cfg, const struct config_source *src,
		 const struct zygote_command *zygote_cmd)
{
	static const int signals[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP };
	struct monitor m = { .cfg = cfg, .zygote_cmd = zygote_cmd, .access_fd = -1 };
	struct broker_identity id;
	int channel[2], access_pair[2], listen_fd, exit_code;
	uint64_t watchdog_usec = 0;

	log_set_role("monitor");
	msgpack_sbuffer_init(&m.sb);
	signal(SIGPIPE, SIG_IGN);
	monitor_resolve_broker(cfg, &id);
	if (access(cfg->handler_dir, R_OK | X_OK) < 0)
		fatal("handler directory %s", cfg->handler_dir);
	{
		/* max_clients connections need as many fds: take the hard limit
		 * (the broker inherits it). */
		struct rlimit nofile;

		if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
			nofile.rlim_cur = nofile.rlim_max;
			setrlimit(RLIMIT_NOFILE, &nofile);
		}
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		fatal("prctl(PR_SET_CHILD_SUBREAPER)");
	listen_fd = monitor_listen(&m);
	/* The watchdog's variables name this process: the broker cannot read
	 * them, so it gets the interval, and its WATCHDOG=1 comes through us. */
	if (sd_watchdog_enabled(0, &watchdog_usec) <= 0)
		watchdog_usec = 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, channel) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, access_pair) < 0)
		fatal("socketpair");

	/* The process layout: this monitor, the broker forked here, and the
	 * zygotes the broker asks for, exec'ed from here. */
	m.broker_pid = fork();
	if (m.broker_pid < 0)
		fatal("fork");
	if (m.broker_pid == 0) {
		struct broker_setup setup = {
			.listen_fd = listen_fd, .monitor_fd = channel[1],
			.access_fd = access_pair[1], .watchdog_usec = watchdog_usec,
		};
		char err[256] = "";

		close(channel[0]);
		close(access_pair[0]);
		/* Its own process group: a Ctrl-C on brigd's terminal reaches the
		 * monitor alone, which passes it on once (twice would mean "stop
		 * now, do not wait for running jobs"). */
		setpgid(0, 0);
		log_init("broker", (enum log_level)cfg->log_level);
		if (privsep_drop(&id, getppid(), err, sizeof(err)) < 0)
			fatalx("cannot drop privileges to %s: %s", id.user, err);
		exit(broker_main(cfg, src, &setup));
	}
	close(channel[1]);
	close(access_pair[1]);
	/* The broker holds the socket now: with our copy closed, a broker that
	 * stops listening makes new clients fail at once. */
	close(listen_fd);
	log_info("broker started as pid %d, user %s (uid %u gid %u)", (int)m.broker_pid, id.user,
		 (unsigned)id.uid, (unsigned)id.gid);

	m.base = event_base_new();
	if (!m.base)
		fatalx("event_base_new failed");
	m.broker = chan_new(m.base, channel[0], monitor_on_record, monitor_on_close, &m);
	m.access_fd = access_pair[0];
	evutil_make_socket_nonblocking(m.access_fd);
	m.access_ev = event_new(m.base, m.access_fd, EV_READ | EV_PERSIST, monitor_access_cb, &m);
	if (!m.broker || !m.access_ev || event_add(m.access_ev, NULL) < 0)
		fatalx("cannot watch the broker's channels");
	for (size_t i = 0; i < ARRAY_SIZE(signals); i++) {
		m.signal_evs[i] = evsignal_new(m.base, signals[i], monitor_signal, &m);
		if (!m.signal_evs[i] || evsignal_add(m.signal_evs[i], NULL) < 0)
			fatalx("cannot watch signal %d", signals[i]);
	}
	/* A broker that died before the loop started is reaped here. */
	monitor_reap(&m);
	if (m.broker_pid > 0)
		event_base_dispatch(m.base);

	chan_free(m.broker);
	m.broker = NULL;
	if (m.access_ev)
		event_free(m.access_ev);
	close(m.access_fd);
	monitor_stop_zygotes(&m);
	if (m.created_socket)
		unlink(cfg->socket_path);
	for (size_t i = 0; i < ARRAY_SIZE(signals); i++)
		event_free(m.signal_evs[i]);
	event_base_free(m.base);
	msgpack_sbuffer_destroy(&m.sb);
	free(cfg);
	if (WIFEXITED(m.broker_status))
		exit_code = WEXITSTATUS(m.broker_status);
	else
		exit_code = 128 + WTERMSIG(m.broker_status);
	log_info("stopped");
	return exit_code;
}
