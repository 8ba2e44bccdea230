#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "frame.h"
#include "peer.h"

struct peer {
	struct bufferevent *bev;
	size_t max_frame;
	peer_frame_fn on_frame;
	peer_close_fn on_close;
	void (*on_drained)(struct peer *p, void *arg);
	void *arg;
	int fd;
	bool closing;           /* peer_close_after_flush was called */
	bool reading_paused;
};

static void peer_report_close(struct peer *p, int err)
{
	/* After a bad frame header the output may still carry an error reply. */
	if (err == -EMSGSIZE || err == -EBADMSG)
		bufferevent_disable(p->bev, EV_READ);
	else
		bufferevent_disable(p->bev, EV_READ | EV_WRITE);
	p->on_close(p, err, p->arg);
}

static void peer_read_cb(struct bufferevent *bev, void *ctx)
{
	struct peer *p = ctx;
	struct evbuffer *in = bufferevent_get_input(bev);

	for (;;) {
		uint8_t header[FRAME_HEADER_SIZE];
		uint32_t body_len;
		size_t have = evbuffer_get_length(in);
		const uint8_t *frame;
		int r;

		if (p->closing || p->reading_paused || have < FRAME_HEADER_SIZE)
			break;
		evbuffer_copyout(in, header, sizeof(header));
		/* The declared length is checked before a byte of the body is kept. */
		r = frame_parse_header(header, p->max_frame, &body_len);
		if (r < 0) {
			peer_report_close(p, r);
			return;
		}
		if (have < FRAME_HEADER_SIZE + (size_t)body_len) {
			/* Read no further than the end of this frame. */
			bufferevent_setwatermark(bev, EV_READ, FRAME_HEADER_SIZE + (size_t)body_len, 0);
			return;
		}
		frame = evbuffer_pullup(in, FRAME_HEADER_SIZE + (ssize_t)body_len);
		if (!frame) {
			peer_report_close(p, -ENOMEM);
			return;
		}
		if (p->on_frame(p, frame + FRAME_HEADER_SIZE, body_len, p->arg) < 0)
			return;  /* p may be gone */
		evbuffer_drain(in, FRAME_HEADER_SIZE + (size_t)body_len);
	}
	bufferevent_setwatermark(bev, EV_READ, 0, 0);
}

static void peer_write_cb(struct bufferevent *bev, void *ctx)
{
	struct peer *p = ctx;

	(void)bev;
	if (p->closing) {
		peer_report_close(p, 0);
		return;
	}
	if (p->on_drained)
		p->on_drained(p, p->arg);
}

static void peer_event_cb(struct bufferevent *bev, short what, void *ctx)
{
	struct peer *p = ctx;
	int err = 0;

	(void)bev;
	if (what & BEV_EVENT_ERROR)
		err = errno ? -errno : -EIO;
	else if (what & BEV_EVENT_EOF)
		err = 0;
	else
		return;
	peer_report_close(p, err);
}

struct peer *peer_new(struct event_base *base, int fd, size_t max_frame, peer_frame_fn on_frame,
		      peer_close_fn on_close, void *arg)
{
	struct peer *p;

	if (max_frame == 0 || max_frame > BRIG_FRAME_MAX_CEILING)
		max_frame = BRIG_FRAME_MAX_CEILING;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	/* The bufferevent closes the fd when it is really gone: libevent may
	 * still touch it after a bufferevent_free() from inside a callback. */
	p->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!p->bev) {
		free(p);
		return NULL;
	}
	p->fd = fd;
	p->max_frame = max_frame;
	p->on_frame = on_frame;
	p->on_close = on_close;
	p->arg = arg;
	bufferevent_setcb(p->bev, peer_read_cb, peer_write_cb, peer_event_cb, p);
	bufferevent_enable(p->bev, EV_READ | EV_WRITE);
	return p;
}

void peer_free(struct peer *p)
{
	if (!p)
		return;
	bufferevent_free(p->bev);
	free(p);
}

int peer_send(struct peer *p, const void *frames, size_t len)
{
	if (p->closing)
		return -EPIPE;
	if (bufferevent_write(p->bev, frames, len) < 0)
		return -ENOMEM;
	return 0;
}

size_t peer_input_pending(const struct peer *p)
{
	return evbuffer_get_length(bufferevent_get_input(p->bev));
}

size_t peer_output_pending(const struct peer *p)
{
	return evbuffer_get_length(bufferevent_get_output(p->bev));
}

void peer_pause_reading(struct peer *p, int paused)
{
	p->reading_paused = paused != 0;
	if (paused) {
		bufferevent_disable(p->bev, EV_READ);
	} else {
		bufferevent_enable(p->bev, EV_READ);
		/* Frames may already sit in the input buffer. */
		if (evbuffer_get_length(bufferevent_get_input(p->bev)) >= FRAME_HEADER_SIZE)
			bufferevent_trigger(p->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
	}
}

void peer_close_after_flush(struct peer *p)
{
	p->closing = true;
	bufferevent_disable(p->bev, EV_READ);
	if (peer_output_pending(p) == 0)
		bufferevent_trigger(p->bev, EV_WRITE, BEV_TRIG_DEFER_CALLBACKS);
}

void peer_set_drained(struct peer *p, void (*on_drained)(struct peer *p, void *arg))
{
	p->on_drained = on_drained;
}

int peer_fd(const struct peer *p)
{
	return p->fd;
}
