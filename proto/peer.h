/*
 * A framed stream peer over a libevent bufferevent: the one place where
 * bytes from a socket become frames.  Used by the broker (clients, workers)
 * and by libbrig (the broker).
 *
 * The length header is checked against max_frame before the body is read
 * into contiguous memory, so a peer can never make us buffer more than one
 * frame plus what the kernel hands over in one read.
 */
#ifndef BRIG_PROTO_PEER_H
#define BRIG_PROTO_PEER_H

#include <stddef.h>
#include <stdint.h>
#include <event2/event.h>

struct peer;

/*
 * Called once per complete frame with its body.  Return 0 to go on, or -1
 * if the peer must not be touched again (the callback freed it, or wants
 * no further frames from this read).
 */
typedef int (*peer_frame_fn)(struct peer *p, const uint8_t *body, size_t len, void *arg);
/*
 * Called once when the peer cannot go on: err is 0 for an orderly EOF,
 * -EMSGSIZE or -EBADMSG for a bad frame header, -errno for an I/O error.
 * The callback owns the decision and normally frees the peer.
 */
typedef void (*peer_close_fn)(struct peer *p, int err, void *arg);

/* Takes ownership of fd (closed by peer_free).  Returns NULL on ENOMEM. */
struct peer *peer_new(struct event_base *base, int fd, size_t max_frame, peer_frame_fn on_frame,
		      peer_close_fn on_close, void *arg);
void peer_free(struct peer *p);

/* Queue bytes that already form whole frames.  0 or -ENOMEM. */
int peer_send(struct peer *p, const void *frames, size_t len);
/* Bytes received but not yet taken as a whole frame. */
size_t peer_input_pending(const struct peer *p);
/* Bytes queued but not yet written to the socket. */
size_t peer_output_pending(const struct peer *p);
/* Stop or resume reading (back-pressure). */
void peer_pause_reading(struct peer *p, int paused);
/* Flush what is queued, then call on_close(p, 0) (used to say goodbye). */
void peer_close_after_flush(struct peer *p);
/* Called every time the output buffer drains to zero, if set. */
void peer_set_drained(struct peer *p, void (*on_drained)(struct peer *p, void *arg));
int peer_fd(const struct peer *p);

#endif
