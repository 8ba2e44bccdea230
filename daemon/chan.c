#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chan.h"
#include "frame.h"
#include "util.h"

struct chan_out {
	STAILQ_ENTRY(chan_out) link;
	int fds[CHAN_MAX_FDS];
	size_t nfds;
	size_t len;
	uint8_t data[];
};

struct chan {
	int fd;
	struct event *read_ev;
	struct event *write_ev;
	STAILQ_HEAD(, chan_out) queue;
	size_t queued;                  /* records in queue */
	chan_record_fn on_record;
	chan_close_fn on_close;
	void *arg;
	uint8_t buf[CHAN_RECORD_MAX];
};

static int send_record(int fd, const void *frame, size_t len, const int *fds, size_t nfds,
		       int flags)
{
	struct iovec iov = { .iov_base = (void *)frame, .iov_len = len };
	union {
		char buf[CMSG_SPACE(sizeof(int) * CHAN_MAX_FDS)];
		struct cmsghdr align;
	} control;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds > CHAN_MAX_FDS)
		return -EINVAL;
	if (nfds > 0) {
		struct cmsghdr *cmsg;

		memset(&control, 0, sizeof(control));
		msg.msg_control = control.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nfds);
	}
	do
		n = sendmsg(fd, &msg, MSG_NOSIGNAL | flags);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n != len)
		return -EMSGSIZE;
	return 0;
}

/*
 * Receive one record.  Returns its length, 0 on EOF, or -errno.  More fds
 * than max_fds, or a truncated record, is a broken rule (-EBADMSG); every
 * fd received is then closed so that nothing leaks.
 */
static ssize_t recv_record(int fd, uint8_t *buf, size_t size, int *fds, size_t max_fds,
			   size_t *nfds, int flags)
{
	struct iovec iov = { .iov_base = buf, .iov_len = size };
	union {
		char buf[CMSG_SPACE(sizeof(int) * CHAN_MAX_FDS)];
		struct cmsghdr align;
	} control;
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control.buf, .msg_controllen = sizeof(control.buf),
	};
	struct cmsghdr *cmsg;
	bool broken = false;
	ssize_t n;

	*nfds = 0;
	do
		n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | flags);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		size_t count;
		int got[CHAN_MAX_FDS];

		if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (count > CHAN_MAX_FDS)
			count = CHAN_MAX_FDS;
		memcpy(got, CMSG_DATA(cmsg), count * sizeof(int));
		for (size_t i = 0; i < count; i++) {
			if (*nfds < max_fds) {
				fds[(*nfds)++] = got[i];
			} else {
				close(got[i]);
				broken = true;
			}
		}
	}
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		broken = true;
	if (n > 0 && !broken) {
		uint32_t body_len;
		if (n < FRAME_HEADER_SIZE ||
		    frame_parse_header(buf, size, &body_len) < 0 ||
		    (size_t)body_len != (size_t)n - FRAME_HEADER_SIZE)
			broken = true;
	}
	if (broken) {
		for (size_t i = 0; i < *nfds; i++)
			close(fds[i]);
		*nfds = 0;
		return -EBADMSG;
	}
	return n;
}

static void chan_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct chan *ch = arg;

	(void)what;
	for (;;) {
		int passed_fd = -1;
		size_t nfds;
		ssize_t n = recv_record(fd, ch->buf, sizeof(ch->buf), &passed_fd, 1, &nfds,
					MSG_DONTWAIT);

		if (n == -EAGAIN)
			return;
		if (n <= 0) {
			event_del(ch->read_ev);
			ch->on_close(ch, (int)n, ch->arg);
			return;
		}
		if (ch->on_record(ch, ch->buf + FRAME_HEADER_SIZE, (size_t)n - FRAME_HEADER_SIZE,
				  passed_fd, ch->arg) < 0)
			return;
	}
}

static void chan_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct chan *ch = arg;
	struct chan_out *out;

	(void)what;
	while ((out = STAILQ_FIRST(&ch->queue))) {
		int r = send_record(fd, out->data, out->len, out->fds, out->nfds, MSG_DONTWAIT);
		if (r == -EAGAIN) {
			event_add(ch->write_ev, NULL);
			return;
		}
		STAILQ_REMOVE_HEAD(&ch->queue, link);
		ch->queued--;
		for (size_t i = 0; i < out->nfds; i++)
			close(out->fds[i]);
		free(out);
		if (r < 0) {
			event_del(ch->read_ev);
			ch->on_close(ch, r, ch->arg);
			return;
		}
	}
}

struct chan *chan_new(struct event_base *base, int fd, chan_record_fn on_record,
		      chan_close_fn on_close, void *arg)
{
	struct chan *ch = calloc(1, sizeof(*ch));

	if (!ch)
		return NULL;
	ch->fd = fd;
	ch->on_record = on_record;
	ch->on_close = on_close;
	ch->arg = arg;
	STAILQ_INIT(&ch->queue);
	ch->read_ev = event_new(base, fd, EV_READ | EV_PERSIST, chan_read_cb, ch);
	ch->write_ev = event_new(base, fd, EV_WRITE, chan_write_cb, ch);
	if (!ch->read_ev || !ch->write_ev) {
		event_free(ch->read_ev);
		event_free(ch->write_ev);
		free(ch);
		return NULL;
	}
	evutil_make_socket_nonblocking(fd);
	event_add(ch->read_ev, NULL);
	return ch;
}

void chan_set_callbacks(struct chan *ch, chan_record_fn on_record, chan_close_fn on_close,
			void *arg)
{
	ch->on_record = on_record;
	ch->on_close = on_close;
	ch->arg = arg;
}

void chan_free(struct chan *ch)
{
	struct chan_out *out;

	if (!ch)
		return;
	while ((out = STAILQ_FIRST(&ch->queue))) {
		STAILQ_REMOVE_HEAD(&ch->queue, link);
		for (size_t i = 0; i < out->nfds; i++)
			close(out->fds[i]);
		free(out);
	}
	event_free(ch->read_ev);
	event_free(ch->write_ev);
	close(ch->fd);
	free(ch);
}

int chan_send_fds(struct chan *ch, const void *frame, size_t len, const int *fds, size_t nfds)
{
	struct chan_out *out;

	if (len > CHAN_RECORD_MAX || nfds > CHAN_MAX_FDS)
		return -EMSGSIZE;
	if (STAILQ_EMPTY(&ch->queue)) {
		int r = send_record(ch->fd, frame, len, fds, nfds, MSG_DONTWAIT);
		if (r != -EAGAIN)
			return r;
	}
	/* The socket is full: keep the record (and copies of the fds) in order. */
	out = malloc(sizeof(*out) + len);
	if (!out)
		return -ENOMEM;
	out->nfds = 0;
	for (size_t i = 0; i < nfds; i++) {
		out->fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
		if (out->fds[i] < 0) {
			int r = -errno;
			for (size_t k = 0; k < out->nfds; k++)
				close(out->fds[k]);
			free(out);
			return r;
		}
		out->nfds++;
	}
	out->len = len;
	memcpy(out->data, frame, len);
	STAILQ_INSERT_TAIL(&ch->queue, out, link);
	ch->queued++;
	event_add(ch->write_ev, NULL);
	return 0;
}

size_t chan_queued(const struct chan *ch)
{
	return ch->queued;
}

int chan_send(struct chan *ch, const void *frame, size_t len, int pass_fd)
{
	return chan_send_fds(ch, frame, len, &pass_fd, pass_fd >= 0 ? 1 : 0);
}

int chan_recv_blocking(int fd, uint8_t *buf, size_t size, size_t *len, int *fds, size_t max_fds,
		       size_t *nfds)
{
	ssize_t n = recv_record(fd, buf, size, fds, max_fds, nfds, 0);

	if (n < 0)
		return (int)n;
	if (n == 0)
		return -ECONNRESET;
	*len = (size_t)n;
	return 0;
}

int chan_send_blocking(int fd, const void *frame, size_t len, int pass_fd)
{
	if (len > CHAN_RECORD_MAX)
		return -EMSGSIZE;
	return send_record(fd, frame, len, &pass_fd, pass_fd >= 0 ? 1 : 0, 0);
}
