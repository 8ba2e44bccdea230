#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"
#include "msg.h"
#include "util.h"
#include "worker.h"

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

/* Read exactly one frame from the broker; the length is checked first. */
static int read_frame(int fd, size_t max_frame, uint8_t **body, size_t *len)
{
	uint8_t header[FRAME_HEADER_SIZE];
	uint32_t body_len;
	uint8_t *buf;
	int r;

	if ((r = read_all(fd, header, sizeof(header))) < 0)
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

static int run_job(struct worker_emitter *em, const struct plugin_set *plugins,
		   const uint8_t *body, size_t len, size_t max_input)
{
	struct msg_in in;
	struct msg_worker_job job;
	const struct brig_handler *handler;
	struct brig_ctx ctx = { .ops = &emitter_ops, .impl = em };
	int r;

	/* The broker is trusted, but its frames are checked all the same. */
	r = msg_open(&in, body, len);
	if (r != MSG_WORKER_JOB || msg_decode_worker_job(&in, max_input, &job) < 0) {
		msg_close(&in);
		return -EBADMSG;
	}
	handler = plugin_set_find(plugins, job.handler);
	if (!handler) {
		r = send_done(em, WORKER_STATUS_NO_HANDLER, "no such handler in this worker");
		msg_close(&in);
		return r;
	}
	r = handler->run(&ctx, job.input, job.input_len);
	msg_close(&in);
	if (em->broken)
		return -EPIPE;
	if (r != 0 || em->error[0]) {
		if (!em->error[0])
			snprintf(em->error, sizeof(em->error), "handler '%s' failed", job.handler);
		return send_done(em, WORKER_STATUS_ERROR, em->error);
	}
	return send_done(em, WORKER_STATUS_OK, "");
}

/*
 * The namespace's init: reap everything; when the job process ends, exit
 * with its status (128 + N for signal N).  Exiting tears the namespace
 * down, which kills whatever the job left behind (invariant 4).
 */
__attribute__((noreturn))
static void worker_init(pid_t job_pid)
{
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

void worker_main(const struct config *cfg, const struct profile_config *profile,
		 const struct sandbox_filter *filter, const struct plugin_set *plugins,
		 int channel_fd)
{
	struct worker_emitter em = { .fd = WORKER_CHANNEL_FD, .max_frame = cfg->max_frame };
	enum sandbox_step step;
	uint8_t *body = NULL;
	size_t len;
	pid_t job_pid;
	int r;

	/* Nothing of the job may run before every step below has succeeded;
	 * stderr is /dev/null by now, so the exit code names the step. */
	r = sandbox_enter(profile, filter, channel_fd, &step);
	if (r < 0)
		_exit(WORKER_EXIT_SANDBOX + (int)step);

	/*
	 * We are pid 1 of the job's pid namespace, and the kernel ignores the
	 * signals pid 1 sends itself: a job that calls abort() would not die
	 * of SIGABRT.  So pid 1 stays behind, already sandboxed, as the
	 * namespace's reaper, and the job runs in pid 2.
	 */
	job_pid = fork();
	if (job_pid < 0)
		_exit(WORKER_EXIT_SANDBOX + SANDBOX_STEP_FORK);
	if (job_pid > 0)
		worker_init(job_pid);
	msgpack_sbuffer_init(&em.sb);
	if (msg_pack_worker_ready(&em.sb) < 0 || write_all(em.fd, em.sb.data, em.sb.size) < 0)
		_exit(WORKER_EXIT_CHANNEL);
	msgpack_sbuffer_clear(&em.sb);

	if (read_frame(em.fd, cfg->max_frame, &body, &len) < 0)
		_exit(WORKER_EXIT_CHANNEL);
	r = run_job(&em, plugins, body, len, cfg->max_input);
	free(body);
	msgpack_sbuffer_destroy(&em.sb);
	/* _exit: no atexit handlers or stdio flushes of the zygote's state. */
	_exit(r < 0 ? WORKER_EXIT_CHANNEL : WORKER_EXIT_OK);
}
