#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "frame.h"
#include "peer.h"

/* A frame buffer larger than this is given back once its frame is done. */
#define PEER_KEEP_BUFFER (64u * 1024)
/* Reads per readable event, so that one busy peer cannot starve the rest. */
#define PEER_READS_PER_EVENT 64
/* iovecs per sendmsg */
#define PEER_WRITE_IOV 16

struct peer_out_fd {
	TAILQ_ENTRY(peer_out_fd) link;
	uint64_t offset;        /* in the output stream: the byte it rides with */
	int fd;
};

struct peer {
	int fd;
	struct event *read_ev;
	struct event *write_ev;
	size_t max_frame;
	peer_frame_fn on_frame;
	peer_close_fn on_close;
	void (*on_drained)(struct peer *p, void *arg);
	void *arg;
	bool closing;           /* peer_close_after_flush was called */
	bool reading_paused;
	bool reading_stopped;   /* after EOF, an error or a bad header */
	bool writing_stopped;

	/* Input: the frame being read, never more. */
	uint8_t *buf;
	size_t buf_size;
	size_t have;            /* bytes of the current frame received */
	size_t need;            /* header + body once the header is known, else 0 */
	unsigned max_fds;       /* 0: descriptors are not accepted */
	int fds[PEER_MAX_FDS];  /* arrived with the current frame, in order */
	unsigned fd_count;
	unsigned fd_next;       /* peer_take_fd's position */
	uint64_t unclaimed;

	/* Output. */
	struct evbuffer *out;
	uint64_t out_sent;      /* bytes written so far */
	uint64_t out_queued;    /* bytes ever queued */
	TAILQ_HEAD(, peer_out_fd) out_fds;
};

static void peer_report_close(struct peer *p, int err)
{
	/* After a bad frame header the output may still carry an error reply. */
	p->reading_stopped = true;
	event_del(p->read_ev);
	if (err != -EMSGSIZE && err != -EBADMSG && err != -ETOOMANYREFS && err != -EPROTO) {
		p->writing_stopped = true;
		event_del(p->write_ev);
	}
	p->on_close(p, err, p->arg);
}

/* Close what the frame callback did not take (taken ones are -1). */
static void close_input_fds(struct peer *p, bool count)
{
	for (unsigned i = 0; i < p->fd_count; i++) {
		if (p->fds[i] < 0)
			continue;
		close(p->fds[i]);
		if (count)
			p->unclaimed++;
	}
	p->fd_count = p->fd_next = 0;
}

static int peer_grow(struct peer *p, size_t size)
{
	uint8_t *b;

	if (size <= p->buf_size)
		return 0;
	b = realloc(p->buf, size);
	if (!b)
		return -ENOMEM;
	p->buf = b;
	p->buf_size = size;
	return 0;
}

/* Read into the current frame, never past its end.  >0, 0 (EOF) or -errno. */
static ssize_t peer_read_some(struct peer *p)
{
	size_t want = p->need ? p->need - p->have : FRAME_HEADER_SIZE - p->have;
	struct iovec iov;
	union {
		char buf[CMSG_SPACE(sizeof(int) * PEER_MAX_FDS)];
		struct cmsghdr align;
	} control;
	struct msghdr msg = { 0 };
	struct cmsghdr *cmsg;
	bool overflow = false;
	ssize_t n;

	/* The buffer grows with what arrives (doubling), not with what the
	 * header declares: a client trickling a large frame holds no more
	 * memory, real or reserved, than it has sent. */
	if (p->have == p->buf_size) {
		size_t size = p->buf_size * 2 < PEER_KEEP_BUFFER ? PEER_KEEP_BUFFER : p->buf_size * 2;

		if (size > p->need)
			size = p->need;
		if (peer_grow(p, size) < 0)
			return -ENOMEM;
	}
	if (want > p->buf_size - p->have)
		want = p->buf_size - p->have;
	iov.iov_base = p->buf + p->have;
	iov.iov_len = want;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (p->max_fds > 0) {
		msg.msg_control = control.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * p->max_fds);
	}
	do
		n = recvmsg(p->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (cmsg = CMSG_FIRSTHDR(&msg); p->max_fds > 0 && cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		size_t count;

		if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < count; i++) {
			int got;

			memcpy(&got, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
			/* Invariant 6: a bounded number of descriptors waits. */
			if (p->fd_count < p->max_fds) {
				p->fds[p->fd_count++] = got;
			} else {
				close(got);
				overflow = true;
			}
		}
	}
	/* The kernel closed what did not fit: the sender cannot know which. */
	if (msg.msg_flags & MSG_CTRUNC)
		return -EPROTO;
	if (overflow)
		return -ETOOMANYREFS;
	return n;
}


static void peer_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;

	(void)fd;
	(void)what;
	for (int reads = 0; reads < PEER_READS_PER_EVENT; reads++) {
		ssize_t n;
		int r;

		if (p->closing || p->reading_paused || p->reading_stopped)
			return;
		n = peer_read_some(p);
		if (n == -EAGAIN || n == -EWOULDBLOCK)
			return;
		if (n <= 0) {
			peer_report_close(p, (int)n);
			return;
		}
		p->have += (size_t)n;
		if (p->need == 0) {
			uint32_t body_len;

			if (p->have < FRAME_HEADER_SIZE)
				continue;
			/* The declared length is checked before a byte of the body is kept. */
			r = frame_parse_header(p->buf, p->max_frame, &body_len);
			if (r < 0) {
				peer_report_close(p, r);
				return;
			}
			p->need = FRAME_HEADER_SIZE + (size_t)body_len;
			continue;
		}
		if (p->have < p->need)
			continue;
		/* One whole frame, and the descriptors that came with it. */
		p->fd_next = 0;
		if (p->on_frame(p, p->buf + FRAME_HEADER_SIZE, p->need - FRAME_HEADER_SIZE,
				p->arg) < 0)
			return;  /* p may be gone */
		close_input_fds(p, true);
		p->have = p->need = 0;
		if (p->buf_size > PEER_KEEP_BUFFER) {
			free(p->buf);
			p->buf = malloc(FRAME_HEADER_SIZE);
			p->buf_size = p->buf ? FRAME_HEADER_SIZE : 0;
			if (!p->buf) {
				peer_report_close(p, -ENOMEM);
				return;
			}
		}
	}
}

/*
 * Write what the output buffer holds: 0 once it is empty, 1 if the socket
 * is full (the rest waits for the write event), -errno on an error.  Calls
 * no callback, so that peer_send may write at once.
 */
static int peer_write_some(struct peer *p)
{
	while (!p->writing_stopped && evbuffer_get_length(p->out) > 0) {
		struct peer_out_fd *head = TAILQ_FIRST(&p->out_fds), *limit_fd = head;
		size_t len = evbuffer_get_length(p->out);
		struct iovec iov[PEER_WRITE_IOV];
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} control;
		struct msghdr msg = { .msg_iov = iov };
		int count;
		ssize_t n;

		/* A descriptor rides with the first byte of its frame: a sendmsg
		 * carries at most one, at its start, and stops before the next. */
		if (head && head->offset == p->out_sent) {
			struct cmsghdr *cmsg;

			memset(&control, 0, sizeof(control));
			msg.msg_control = control.buf;
			msg.msg_controllen = sizeof(control.buf);
			cmsg = CMSG_FIRSTHDR(&msg);
			cmsg->cmsg_level = SOL_SOCKET;
			cmsg->cmsg_type = SCM_RIGHTS;
			cmsg->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cmsg), &head->fd, sizeof(int));
			limit_fd = TAILQ_NEXT(head, link);
		}
		if (limit_fd && limit_fd->offset - p->out_sent < len)
			len = (size_t)(limit_fd->offset - p->out_sent);
		count = evbuffer_peek(p->out, (ev_ssize_t)len, NULL, (struct evbuffer_iovec *)iov,
				      PEER_WRITE_IOV);
		if (count > PEER_WRITE_IOV)
			count = PEER_WRITE_IOV;
		msg.msg_iovlen = (size_t)count;
		/* Peek hands whole chunks: trim the last to len. */
		{
			size_t total = 0;

			for (int i = 0; i < count; i++) {
				if (total + iov[i].iov_len > len)
					iov[i].iov_len = len - total;
				total += iov[i].iov_len;
			}
		}
		do
			n = sendmsg(p->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -errno;
		evbuffer_drain(p->out, (size_t)n);
		p->out_sent += (uint64_t)n;
		if (msg.msg_control && n > 0) {
			TAILQ_REMOVE(&p->out_fds, head, link);
			/* (For the static analyzer, which loses track of the list.) */
			assert(TAILQ_FIRST(&p->out_fds) != head);
			close(head->fd);
			free(head);
		}
	}
	return 0;
}

static void peer_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;
	int r;

	(void)fd;
	(void)what;
	r = peer_write_some(p);
	if (r == 1) {
		event_add(p->write_ev, NULL);
		return;
	}
	if (r < 0) {
		peer_report_close(p, r);
		return;
	}
	if (p->writing_stopped)
		return;
	if (p->closing) {
		peer_report_close(p, 0);
		return;
	}
	if (p->on_drained)
		p->on_drained(p, p->arg);
}

/* evbuffer_iovec and struct iovec must agree for the cast above. */
_Static_assert(sizeof(struct evbuffer_iovec) == sizeof(struct iovec) &&
		       offsetof(struct evbuffer_iovec, iov_base) == offsetof(struct iovec, iov_base) &&
		       offsetof(struct evbuffer_iovec, iov_len) == offsetof(struct iovec, iov_len),
	       "evbuffer_iovec is not struct iovec");

struct peer *peer_new(struct event_base *base, int fd, size_t max_frame, peer_frame_fn on_frame,
		      peer_close_fn on_close, void *arg)
{
	struct peer *p;

	if (max_frame == 0 || max_frame > BRIG_FRAME_MAX_CEILING)
		max_frame = BRIG_FRAME_MAX_CEILING;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->fd = fd;
	p->max_frame = max_frame;
	p->on_frame = on_frame;
	p->on_close = on_close;
	p->arg = arg;
	TAILQ_INIT(&p->out_fds);
	p->buf = malloc(FRAME_HEADER_SIZE);
	p->buf_size = FRAME_HEADER_SIZE;
	p->out = evbuffer_new();
	p->read_ev = event_new(base, fd, EV_READ | EV_PERSIST, peer_read_cb, p);
	p->write_ev = event_new(base, fd, EV_WRITE, peer_write_cb, p);
	if (!p->buf || !p->out || !p->read_ev || !p->write_ev) {
		free(p->buf);
		if (p->out)
			evbuffer_free(p->out);
		if (p->read_ev)
			event_free(p->read_ev);
		if (p->write_ev)
			event_free(p->write_ev);
		free(p);
		return NULL;
	}
	evutil_make_socket_nonblocking(fd);
	event_add(p->read_ev, NULL);
	return p;
}

void peer_free(struct peer *p)
{
	struct peer_out_fd *o;

	if (!p)
		return;
	event_free(p->read_ev);
	event_free(p->write_ev);
	close_input_fds(p, false);
	while ((o = TAILQ_FIRST(&p->out_fds))) {
		TAILQ_REMOVE(&p->out_fds, o, link);
		close(o->fd);
		free(o);
	}
	evbuffer_free(p->out);
	close(p->fd);
	free(p->buf);
	free(p);
}

/*
 * Queue bytes, and write them at once when nothing was waiting before
 * them: a reply then leaves in the same turn of the loop, without a
 * write event and two more epoll_ctl calls.  Whatever a callback must
 * hear (an error, the buffer drained, a pending close) is left to the
 * write event, never called from in here.
 */
static int peer_queue(struct peer *p, const void *frames, size_t len)
{
	bool was_empty = evbuffer_get_length(p->out) == 0;
	int r;

	if (evbuffer_add(p->out, frames, len) < 0)
		return -ENOMEM;
	p->out_queued += len;
	if (!was_empty) {
		event_add(p->write_ev, NULL);
		return 0;
	}
	r = peer_write_some(p);
	if (r == 1)
		event_add(p->write_ev, NULL);
	else if (r < 0 || p->on_drained)
		event_active(p->write_ev, EV_WRITE, 0);
	return 0;
}

int peer_send(struct peer *p, const void *frames, size_t len)
{
	if (p->closing || p->writing_stopped)
		return -EPIPE;
	return peer_queue(p, frames, len);
}

int peer_send_fd(struct peer *p, const void *frames, size_t len, int fd)
{
	struct peer_out_fd *o;
	int r;

	if (p->closing || p->writing_stopped)
		return -EPIPE;
	if (len == 0)
		return -EINVAL;
	o = malloc(sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (o->fd < 0) {
		r = -errno;
		free(o);
		return r;
	}
	/* Listed before its bytes are queued: they may be written at once. */
	o->offset = p->out_queued;
	TAILQ_INSERT_TAIL(&p->out_fds, o, link);
	r = peer_queue(p, frames, len);
	if (r < 0) {
		TAILQ_REMOVE(&p->out_fds, o, link);
		close(o->fd);
		free(o);
	}
	return r;
}

void peer_accept_fds(struct peer *p, unsigned max_queued)
{
	p->max_fds = max_queued > PEER_MAX_FDS ? PEER_MAX_FDS : max_queued;
}

int peer_take_fd(struct peer *p)
{
	int fd;

	if (p->fd_next >= p->fd_count)
		return -1;
	fd = p->fds[p->fd_next];
	p->fds[p->fd_next++] = -1;
	return fd;
}

uint64_t peer_unclaimed_fds(const struct peer *p)
{
	return p->unclaimed;
}

size_t peer_input_pending(const struct peer *p)
{
	return p->have;
}

size_t peer_output_pending(const struct peer *p)
{
	return evbuffer_get_length(p->out);
}

void peer_pause_reading(struct peer *p, int paused)
{
	p->reading_paused = paused != 0;
	if (paused)
		event_del(p->read_ev);
	else if (!p->closing && !p->reading_stopped)
		event_add(p->read_ev, NULL);
}

void peer_close_after_flush(struct peer *p)
{
	p->closing = true;
	event_del(p->read_ev);
	/* The write callback says goodbye once the output is empty. */
	if (!p->writing_stopped)
		event_active(p->write_ev, EV_WRITE, 0);
}

void peer_set_drained(struct peer *p, void (*on_drained)(struct peer *p, void *arg))
{
	p->on_drained = on_drained;
}

int peer_fd(const struct peer *p)
{
	return p->fd;
}
