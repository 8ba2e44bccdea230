#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/signalfd.h>
#include <signal.h>

#include "frame.h"
#include "input_fd.h"
#include "msg.h"
#include "util.h"
#include "worker.h"
#include "sandbox/seccomp.h"

/* si_code of a SIGSYS from a seccomp filter (see sandbox/seccomp.c). */
#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1
#endif

struct worker_emitter {
	int fd;
	size_t max_frame;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t start;
	bool open;                    /* between item_begin and item_end */
	bool broken;                  /* the channel failed: stop emitting */
	char error[BRIG_MESSAGE_MAX + 1];
};

static int write_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_all(int fd, void *data, size_t len)
{
	uint8_t *p = data;

	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static msgpack_packer *emitter_item_begin(void *impl)
{
	struct worker_emitter *em = impl;

	/* A begin without an end discards the unfinished item. */
	msgpack_sbuffer_clear(&em->sb);
	em->open = msg_begin(&em->sb, &em->pk, MSG_WORKER_ITEM, 1, &em->start) == 0;
	return &em->pk;
}

static int emitter_item_end(void *impl)
{
	struct worker_emitter *em = impl;
	int r;

	if (!em->open || em->broken)
		return -1;
	em->open = false;
	r = msg_finish(&em->sb, em->start, em->max_frame);
	if (r < 0) {
		snprintf(em->error, sizeof(em->error), "handler emitted an item that %s",
			 r == -EMSGSIZE ? "exceeds the maximum frame size" :
					  "is not exactly one msgpack object");
		return -1;
	}
	r = write_all(em->fd, em->sb.data, em->sb.size);
	msgpack_sbuffer_clear(&em->sb);
	if (r < 0) {
		em->broken = true;
		return -1;
	}
	return 0;
}

static void emitter_fail(void *impl, const char *message)
{
	struct worker_emitter *em = impl;

	snprintf(em->error, sizeof(em->error), "%s", message);
}

static const struct brig_ctx_ops emitter_ops = {
	.item_begin = emitter_item_begin,
	.item_end = emitter_item_end,
	.fail = emitter_fail,
};

/*
 * Read a frame's header, and the descriptor the broker passed with its
 * first byte (a job's input), if any: *passed_fd, or -1.
 */
static int read_header(int fd, uint8_t header[FRAME_HEADER_SIZE], int *passed_fd)
{
	struct iovec iov = { .iov_base = header, .iov_len = FRAME_HEADER_SIZE };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control.buf, .msg_controllen = sizeof(control.buf),
	};
	struct cmsghdr *cmsg;
	ssize_t n;

	*passed_fd = -1;
	do
		n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ECONNRESET;
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS &&
		    cmsg->cmsg_len >= CMSG_LEN(sizeof(int)) && *passed_fd < 0)
			memcpy(passed_fd, CMSG_DATA(cmsg), sizeof(int));
	}
	/* The broker passes one descriptor at most. */
	if (msg.msg_flags & MSG_CTRUNC) {
		if (*passed_fd >= 0)
			close(*passed_fd);
		*passed_fd = -1;
		return -EBADMSG;
	}
	return read_all(fd, header + n, FRAME_HEADER_SIZE - (size_t)n);
}

/* Read exactly one frame from the broker; the length is checked first. */
static int read_frame(int fd, size_t max_frame, uint8_t **body, size_t *len, int *passed_fd)
{
	uint8_t header[FRAME_HEADER_SIZE];
	uint32_t body_len;
	uint8_t *buf;
	int r;

	if ((r = read_header(fd, header, passed_fd)) < 0)
		return r;
	if ((r = frame_parse_header(header, max_frame, &body_len)) < 0)
		return r;
	buf = malloc(body_len);
	if (!buf)
		return -ENOMEM;
	if ((r = read_all(fd, buf, body_len)) < 0) {
		free(buf);
		return r;
	}
	*body = buf;
	*len = body_len;
	return 0;
}

static void usage_now(uint64_t *cpu_us, uint64_t *maxrss_kib)
{
	struct rusage self, children;

	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &children);
	*cpu_us = timeval_usec(self.ru_utime.tv_sec, self.ru_utime.tv_usec) +
		  timeval_usec(self.ru_stime.tv_sec, self.ru_stime.tv_usec) +
		  timeval_usec(children.ru_utime.tv_sec, children.ru_utime.tv_usec) +
		  timeval_usec(children.ru_stime.tv_sec, children.ru_stime.tv_usec);
	*maxrss_kib = (uint64_t)(self.ru_maxrss > children.ru_maxrss ? self.ru_maxrss :
								       children.ru_maxrss);
}

static int send_done(struct worker_emitter *em, uint32_t status, const char *message)
{
	struct msg_worker_done done = { .status = status };
	int r;

	snprintf(done.message, sizeof(done.message), "%s", message);
	usage_now(&done.cpu_us, &done.maxrss_kib);
	msgpack_sbuffer_clear(&em->sb);
	if ((r = msg_pack_worker_done(&em->sb, &done)) < 0)
		return r;
	return write_all(em->fd, em->sb.data, em->sb.size);
}

/*
 * A request's narrowing descriptors, applied by the (already sandboxed)
 * worker to itself: another Landlock layer, lower rlimits, another seccomp
 * layer.  Each is something an unprivileged process may do to itself, so
 * this can only narrow.  The broker checked them; they are parsed again
 * here all the same.
 */
static int apply_narrowing(const struct profile_config *profile, const struct msg_strv *list,
			   char *err, size_t err_size)
{
	struct spec layer;
	int r;

	if (list->count == 0)
		return 0;
	spec_layer_init(&layer);
	for (size_t i = 0; i < list->count; i++) {
		char text[BRIG_DESCRIPTOR_TEXT_MAX];

		if (msg_strv_get(list, i, text, sizeof(text)) < 0)
			return -EINVAL;
		r = spec_narrow(&profile->spec, text, &layer, err, err_size);
		if (r < 0)
			return r;
	}
	/* A relay traces its program with ptrace, which the program's own
	 * layer traps anyway (seccomp_load_no_ptrace): not denied here. */
	if (worker_traces_exec(profile)) {
		size_t kept = 0;

		for (size_t i = 0; i < layer.seccomp_deny_count; i++)
			if (strcmp(layer.seccomp_deny[i], "ptrace") != 0)
				memmove(layer.seccomp_deny[kept++], layer.seccomp_deny[i],
					sizeof(layer.seccomp_deny[0]));
		layer.seccomp_deny_count = kept;
	}
	return sandbox_apply_layer(&profile->spec, &layer, err, err_size);
}

static int run_call(struct worker_emitter *em, const struct profile_config *profile,
		    const struct plugin_set *plugins, struct msg_in *in, size_t max_input,
		    int input_fd, bool *reusable)
{
	struct msg_worker_job job;
	const struct brig_handler *handler;
	struct brig_ctx ctx = { .ops = &emitter_ops, .impl = em };
	const uint8_t *input;
	size_t input_len;
	bool mapped = false, loaded = false;
	char err[512];
	int r;

	if (msg_decode_worker_job(in, max_input, &job) < 0 || job.input_fd != (input_fd >= 0))
		return -EBADMSG;
	handler = plugin_set_find(plugins, job.handler);
	if (!handler)
		return send_done(em, WORKER_STATUS_NO_HANDLER, "no such handler in this worker");
	/* A narrowed worker is narrowed for good: it serves no other job (the
	 * broker applies the same rule). */
	*reusable = job.descriptors.count == 0;
	if (apply_narrowing(profile, &job.descriptors, err, sizeof(err)) < 0)
		return send_done(em, WORKER_STATUS_NO_HANDLER, err);
	input = job.input;
	input_len = job.input_len;
	if (input_fd >= 0) {
		/* A sealed memfd is mapped (no copy), anything else read; the
		 * handler gets bytes, never the descriptor, which goes now. */
		r = input_fd_load(input_fd, profile->max_input_fd, &input, &input_len, &mapped, err,
				  sizeof(err));
		close(input_fd);
		if (r < 0)
			return send_done(em, WORKER_STATUS_ERROR, err);
		loaded = true;
	}
	r = handler->run(&ctx, input, input_len);
	if (loaded && mapped && input_len > 0)
		munmap((void *)input, input_len);
	else if (loaded && !mapped)
		free((void *)input);
	if (em->broken)
		return -EPIPE;
	if (r != 0 || em->error[0]) {
		if (!em->error[0])
			snprintf(em->error, sizeof(em->error), "handler '%s' failed", job.handler);
		return send_done(em, WORKER_STATUS_ERROR, em->error);
	}
	return send_done(em, WORKER_STATUS_OK, "");
}

static int send_output(struct worker_emitter *em, uint32_t stream, const void *data, size_t len)
{
	int r;

	msgpack_sbuffer_clear(&em->sb);
	r = msg_pack_worker_output(&em->sb, &(struct msg_worker_output){ stream, data, len });
	if (r == 0)
		r = write_all(em->fd, em->sb.data, em->sb.size);
	msgpack_sbuffer_clear(&em->sb);
	return r;
}

/* Read what a pipe has now; 0 at EOF, 1 if it may have more, -errno. */
static int pump_pipe(struct worker_emitter *em, int fd, uint32_t stream)
{
	static uint8_t buf[65536];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 1 : -errno;
	if (n == 0)
		return 0;
	return send_output(em, stream, buf, (size_t)n) < 0 ? -EPIPE : 1;
}

/* The program runs as a child of this (pid 2) process, already sandboxed. */
/*
 * With traced, the program waits until this process has seized it
 * (ptrace), takes ptrace back (seccomp_load_no_ptrace) and only then runs:
 * when the filter traps one of its syscalls, the worker sees the SIGSYS
 * and its siginfo, and so the syscall's number, before the program dies
 * of it.  *traced says whether the seizing worked (else the program runs
 * untraced, as a program in a profile that does not trace).
 */
static pid_t start_program(char **argv, char **env, const char *cwd, int in_fd, int out_fd,
			   int err_fd, bool relay, bool *traced)
{
	extern char **environ;
	int ready[2] = { -1, -1 }, go[2] = { -1, -1 };
	sigset_t none;
	pid_t pid;
	char c = 0;

	if (*traced && (pipe2(ready, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0)) {
		for (int i = 0; i < 2; i++) {
			if (ready[i] >= 0)
				close(ready[i]);
		}
		return -1;
	}
	pid = fork();
	if (pid != 0) {
		if (!*traced)
			return pid;
		close(ready[1]);
		close(go[0]);
		/* The child makes itself dumpable (a uid change left it not),
		 * then waits to be seized; EXITKILL: it dies if we do. */
		if (pid < 0 || read(ready[0], &c, 1) != 1 ||
		    ptrace(PTRACE_SEIZE, pid, NULL, (void *)(long)PTRACE_O_EXITKILL) < 0)
			*traced = false;
		if (pid > 0 && write(go[1], "g", 1) != 1)
			kill(pid, SIGKILL);
		close(ready[0]);
		close(go[1]);
		return pid;
	}
	if (*traced) {
		close(ready[0]);
		close(go[1]);
		if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0 || write(ready[1], "r", 1) != 1 ||
		    read(go[0], &c, 1) != 1)
			_exit(127);
	}
	/* From here on, ptrace is the sandbox's again: trapped.  Whether or
	 * not the tracing could be set up, a relay's filter left it open. */
	if (relay && seccomp_load_no_ptrace() < 0)
		_exit(127);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
		_exit(127);
	/* Every other fd, the job channel included, is close-on-exec. */
	if (chdir(cwd[0] ? cwd : "/") < 0) {
		dprintf(2, "brig: cannot change to %s: %s\n", cwd, strerror(errno));
		_exit(127);
	}
	environ = env;
	if (!getenv("PATH"))
		putenv((char *)"PATH=/usr/local/bin:/usr/bin:/bin");
	execvp(argv[0], argv);
	dprintf(2, "brig: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/*
 * The traced program's stops: a signal about to be delivered is delivered
 * (a SIGSYS from the seccomp filter first gives up the syscall's number);
 * a group-stop is not kept (job control means nothing in a sandbox).
 * Returns true once the program has ended, with its wait status.
 */
/*
 * A SIGSYS the filter raised stops the program at the very syscall it
 * names; one the program sent itself (rt_sigqueueinfo can fill in any
 * si_syscall) stops it elsewhere.  Believed only if the registers agree.
 */
static bool trapped_here(pid_t pid, int nr)
{
#if defined(__x86_64__)
	struct user_regs_struct regs;

	return ptrace(PTRACE_GETREGS, pid, NULL, &regs) == 0 && (long long)regs.orig_rax == nr;
#else
	(void)pid;
	(void)nr;
	return false;   /* no way to tell here: the name stays unknown */
#endif
}

static bool trace_events(pid_t pid, int *status, int32_t *violation)
{
	int st;

	while (waitpid(pid, &st, __WALL | WNOHANG) > 0) {
		int sig;

		if (!WIFSTOPPED(st)) {
			*status = st;
			return true;
		}
		sig = WSTOPSIG(st);
		if ((st >> 16) != 0) {
			ptrace(PTRACE_CONT, pid, NULL, NULL);
			continue;
		}
		if (sig == SIGSYS && *violation < 0) {
			siginfo_t si;

			if (ptrace(PTRACE_GETSIGINFO, pid, NULL, &si) == 0 && si.si_code == SYS_SECCOMP &&
			    trapped_here(pid, si.si_syscall))
				*violation = si.si_syscall;
		}
		ptrace(PTRACE_CONT, pid, NULL, (void *)(long)sig);
	}
	return false;
}

static int run_exec(struct worker_emitter *em, const struct profile_config *profile,
		    struct msg_in *in, size_t max_input, int stdin_fd)
{
	struct msg_worker_exec x;
	int in_pipe[2] = { -1, -1 }, out_pipe[2] = { -1, -1 }, err_pipe[2] = { -1, -1 };
	char **argv = NULL, **env = NULL;
	size_t stdin_done = 0;
	bool out_open = true, err_open = true, exited = false, traced = worker_traces_exec(profile);
	int status = 0, pidfd = -1, sigfd = -1, r;
	int32_t violation = -1;
	char err[512];
	sigset_t chld;
	pid_t pid;

	if (msg_decode_worker_exec(in, max_input, &x) < 0 || x.stdin_fd != (stdin_fd >= 0))
		return -EBADMSG;
	if (apply_narrowing(profile, &x.descriptors, err, sizeof(err)) < 0) {
		r = send_done(em, WORKER_STATUS_NO_HANDLER, err);
		goto out;
	}
	argv = msg_strv_dup(&x.argv);
	env = msg_strv_dup(&x.env);
	if (!argv || !env || pipe2(in_pipe, O_CLOEXEC) < 0 || pipe2(out_pipe, O_CLOEXEC) < 0 ||
	    pipe2(err_pipe, O_CLOEXEC) < 0) {
		r = send_done(em, WORKER_STATUS_ERROR, "cannot set up the program's stdio");
		goto out;
	}
	/* A passed stdin goes to the program as it is (a file it may seek, or
	 * a pipe); the bytes of a stdin field are fed through a pipe. */
	/* A traced program's stops come as SIGCHLD, not on a pidfd. */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if (traced && (sigprocmask(SIG_BLOCK, &chld, NULL) < 0 ||
		       (sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK)) < 0))
		traced = false;
	pid = start_program(argv, env, x.cwd, stdin_fd >= 0 ? stdin_fd : in_pipe[0], out_pipe[1],
			    err_pipe[1], worker_traces_exec(profile), &traced);
	if (stdin_fd >= 0)
		close(stdin_fd);
	stdin_fd = -1;
	close(in_pipe[0]);
	close(out_pipe[1]);
	close(err_pipe[1]);
	in_pipe[0] = out_pipe[1] = err_pipe[1] = -1;
	if (pid < 0) {
		r = send_done(em, WORKER_STATUS_ERROR, "cannot start the program (fork failed)");
		goto out;
	}
	fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
	fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
	fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);
	if (!traced)
		pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (x.stdin_len == 0) {
		close(in_pipe[1]);
		in_pipe[1] = -1;
	}
	/*
	 * Relay until the program has exited and its pipes are drained.  A
	 * child that keeps a pipe open does not hold the job: once the program
	 * exits, what is buffered is sent and the rest ends with the job.
	 */
	while (!exited || out_open || err_open) {
		struct pollfd fds[4];
		nfds_t n = 0;
		int out_i = -1, err_i = -1, in_i = -1, pid_i = -1;

		if (out_open) {
			fds[n] = (struct pollfd){ .fd = out_pipe[0], .events = POLLIN };
			out_i = (int)n++;
		}
		if (err_open) {
			fds[n] = (struct pollfd){ .fd = err_pipe[0], .events = POLLIN };
			err_i = (int)n++;
		}
		if (in_pipe[1] >= 0) {
			fds[n] = (struct pollfd){ .fd = in_pipe[1], .events = POLLOUT };
			in_i = (int)n++;
		}
		if (!exited && (traced ? sigfd : pidfd) >= 0) {
			fds[n] = (struct pollfd){ .fd = traced ? sigfd : pidfd, .events = POLLIN };
			pid_i = (int)n++;
		}
		if (exited) {
			/* Drain without waiting for EOF. */
			if (out_open && (r = pump_pipe(em, out_pipe[0], BRIG_STREAM_STDOUT)) <= 0)
				out_open = false;
			if (err_open && (r = pump_pipe(em, err_pipe[0], BRIG_STREAM_STDERR)) <= 0)
				err_open = false;
			if (r == 1 && poll(fds, n, 0) > 0)
				continue;
			break;
		}
		if (poll(fds, n, pid_i >= 0 ? -1 : 50) < 0 && errno != EINTR) {
			r = -errno;
			goto out;
		}
		if (out_i >= 0 && fds[out_i].revents) {
			r = pump_pipe(em, out_pipe[0], BRIG_STREAM_STDOUT);
			if (r < 0 && r != -EIO) {
				if (r == -EPIPE)
					goto out;
			}
			if (r <= 0)
				out_open = false;
		}
		if (err_i >= 0 && fds[err_i].revents) {
			r = pump_pipe(em, err_pipe[0], BRIG_STREAM_STDERR);
			if (r == -EPIPE)
				goto out;
			if (r <= 0)
				err_open = false;
		}
		if (in_i >= 0 && fds[in_i].revents) {
			ssize_t w = write(in_pipe[1], x.stdin_data + stdin_done,
					  x.stdin_len - stdin_done);
			if (w > 0)
				stdin_done += (size_t)w;
			if ((w < 0 && errno != EAGAIN && errno != EINTR) || stdin_done == x.stdin_len) {
				close(in_pipe[1]);
				in_pipe[1] = -1;
			}
		}
		if (traced) {
			struct signalfd_siginfo info;

			while (read(sigfd, &info, sizeof(info)) == (ssize_t)sizeof(info))
				;
			exited = trace_events(pid, &status, &violation);
		} else if ((pid_i >= 0 && fds[pid_i].revents) || pidfd < 0) {
			pid_t got = waitpid(pid, &status, pidfd >= 0 ? 0 : WNOHANG);
			if (got == pid)
				exited = true;
		}
	}
	if (!exited)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	msgpack_sbuffer_clear(&em->sb);
	r = 0;
	/* The syscall the program died of, if it died of the filter. */
	if (violation >= 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) {
		r = msg_pack_worker_violation(&em->sb, &(struct msg_worker_violation){ violation });
		if (r == 0)
			r = write_all(em->fd, em->sb.data, em->sb.size);
		msgpack_sbuffer_clear(&em->sb);
	}
	if (r == 0)
		r = msg_pack_worker_exit(&em->sb, &(struct msg_worker_exit){ status });
	if (r == 0)
		r = write_all(em->fd, em->sb.data, em->sb.size);
	msgpack_sbuffer_clear(&em->sb);
	if (r == 0)
		r = send_done(em, WORKER_STATUS_OK, "");
out:
	for (int i = 0; i < 2; i++) {
		if (in_pipe[i] >= 0)
			close(in_pipe[i]);
		if (out_pipe[i] >= 0)
			close(out_pipe[i]);
		if (err_pipe[i] >= 0)
			close(err_pipe[i]);
	}
	if (pidfd >= 0)
		close(pidfd);
	if (sigfd >= 0)
		close(sigfd);
	if (stdin_fd >= 0)
		close(stdin_fd);
	free(argv);
	free(env);
	return r;
}

/*
 * input_fd: passed with the job (or -1); the callee closes it.  *reusable:
 * whether this worker may serve another job afterwards (a handler job
 * that added no descriptor).
 */
static int run_job(struct worker_emitter *em, const struct profile_config *profile,
		   const struct plugin_set *plugins, const uint8_t *body, size_t len,
		   size_t max_input, int input_fd, bool *reusable)
{
	struct msg_in in;
	int type, r;

	*reusable = false;
	em->open = false;
	em->broken = false;
	em->error[0] = '\0';
	/* The broker is trusted, but its frames are checked all the same. */
	type = msg_open(&in, body, len);
	/* A worker that may trace programs (worker_traces_exec) holds ptrace:
	 * a handler job never does. */
	if (type == MSG_WORKER_JOB && worker_traces_exec(profile) && seccomp_load_no_ptrace() < 0)
		r = -EPERM;
	else if (type == MSG_WORKER_JOB)
		r = run_call(em, profile, plugins, &in, max_input, input_fd, reusable);
	else if (type == MSG_WORKER_EXEC && profile->allow_exec)
		r = run_exec(em, profile, &in, max_input, input_fd);
	else
		r = -EBADMSG;
	msg_close(&in);
	return r;
}

/*
 * The namespace's init: reap everything; when the job process ends, exit
 * with its status (128 + N for signal N).  Exiting tears the namespace
 * down, which kills whatever the job left behind (invariant 4).
 */
__attribute__((noreturn))
static void worker_init(pid_t job_pid)
{
	/* The init runs without the seccomp filter (it must wait): not
	 * dumpable, so the job (same uid) cannot reach it through ptrace or
	 * /proc/1/mem to borrow its unfiltered syscalls. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	close(WORKER_CHANNEL_FD);
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, 0);

		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			_exit(WORKER_EXIT_CHANNEL);
		if (pid != job_pid)
			continue;
		if (WIFSIGNALED(status))
			_exit(WORKER_EXIT_SIGNAL + WTERMSIG(status));
		_exit(WEXITSTATUS(status) < WORKER_EXIT_SIGNAL ? WEXITSTATUS(status) :
								 WORKER_EXIT_SIGNAL - 1);
	}
}

/*
 * Sandboxed already: say READY, take one job, run it, exit.  With
 * worker_reuse = N, up to N handler jobs of one client (the broker sends
 * no other's), each after the last one's DONE, as long as none added a
 * descriptor; and the worker can never fork or start a thread, so that
 * nothing a job started outlives its DONE.
 */
__attribute__((noreturn))
static void worker_serve(const struct config *cfg, const struct profile_config *profile,
			 const struct plugin_set *plugins)
{
	struct worker_emitter em = { .fd = WORKER_CHANNEL_FD, .max_frame = cfg->max_frame };
	unsigned reuse = profile->worker_reuse > 1 ? profile->worker_reuse : 1;
	uint8_t *body = NULL;
	size_t len;
	int r, input_fd = -1;
	bool reusable;


	msgpack_sbuffer_init(&em.sb);
	if (msg_pack_worker_ready(&em.sb) < 0 || write_all(em.fd, em.sb.data, em.sb.size) < 0)
		_exit(WORKER_EXIT_CHANNEL);
	msgpack_sbuffer_clear(&em.sb);

	for (unsigned served = 0;;) {
		if (read_frame(em.fd, cfg->max_frame, &body, &len, &input_fd) < 0)
			_exit(WORKER_EXIT_CHANNEL);
		r = run_job(&em, profile, plugins, body, len, cfg->max_input, input_fd, &reusable);
		free(body);
		body = NULL;
		input_fd = -1;
		if (r < 0 || !reusable || ++served >= reuse)
			break;
	}
	msgpack_sbuffer_destroy(&em.sb);
	/* _exit: no atexit handlers or stdio flushes of the zygote's state. */
	_exit(r < 0 ? WORKER_EXIT_CHANNEL : WORKER_EXIT_OK);
}

/*
 * A worker that serves several jobs (worker_reuse) may never fork or start
 * a thread: RLIMIT_NPROC 1, while its uid holds this very process already.
 * Set before the seccomp filter, which may not allow prlimit64.
 */
static int limit_tasks(const struct profile_config *profile)
{
	struct rlimit one = { 1, 1 };

	if (profile->worker_reuse <= 1)
		return 0;
	return setrlimit(RLIMIT_NPROC, &one) < 0 ? -errno : 0;
}

void worker_main(const struct config *cfg, const struct profile_config *profile, uid_t uid,
		 const struct sandbox_filter *filter, const struct plugin_set *plugins,
		 int channel_fd)
{
	enum sandbox_step step;
	pid_t job_pid;
	int r;

	/* Nothing of the job may run before every step below has succeeded;
	 * stderr is /dev/null by now, so the exit code names the step. */
	r = sandbox_enter(&profile->spec, uid, NULL, channel_fd, &step);
	if (r < 0)
		_exit(WORKER_EXIT_SANDBOX + (int)step);

	/*
	 * We are pid 1 of the job's pid namespace, and the kernel ignores the
	 * signals pid 1 sends itself: a job that calls abort() would not die
	 * of SIGABRT.  So pid 1 stays behind, already sandboxed but for
	 * seccomp (it must fork and wait, which an allow-list may refuse), as
	 * the namespace's reaper, and the job runs in pid 2 under the filter.
	 */
	job_pid = fork();
	if (job_pid < 0)
		_exit(WORKER_EXIT_SANDBOX + SANDBOX_STEP_FORK);
	if (job_pid > 0)
		worker_init(job_pid);
	if (limit_tasks(profile) < 0)
		_exit(WORKER_EXIT_SANDBOX + SANDBOX_STEP_RLIMITS);
	if (sandbox_load_seccomp(&profile->spec, filter) < 0)
		_exit(WORKER_EXIT_SANDBOX + SANDBOX_STEP_SECCOMP);
	worker_serve(cfg, profile, plugins);
}

void worker_main_from_template(const struct config *cfg, const struct profile_config *profile,
			       uid_t uid, const struct sandbox_filter *filter,
			       const struct plugin_set *plugins, int channel_fd)
{
	enum sandbox_step step;
	int r;

	/* Not pid 1 (the template is), so the job runs in this very process. */
	r = sandbox_enter_from_template(&profile->spec, uid, NULL, channel_fd, &step);
	if (r < 0)
		_exit(WORKER_EXIT_SANDBOX + (int)step);
	if (limit_tasks(profile) < 0)
		_exit(WORKER_EXIT_SANDBOX + SANDBOX_STEP_RLIMITS);
	/* No filter: the template is under it already, and so are we; the
	 * violation reporter is ours to install all the same. */
	if (!filter) {
		if (profile->spec.seccomp_action == SPEC_SECCOMP_KILL &&
		    seccomp_install_reporter(WORKER_CHANNEL_FD) < 0)
			_exit(WORKER_EXIT_SANDBOX + SANDBOX_STEP_SECCOMP);
	} else if (sandbox_load_seccomp(&profile->spec, filter) < 0) {
		_exit(WORKER_EXIT_SANDBOX + SANDBOX_STEP_SECCOMP);
	}
	worker_serve(cfg, profile, plugins);
}
