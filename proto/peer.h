/*
 * A framed stream peer over an AF_UNIX stream socket and libevent: the one
 * place where bytes from a socket become frames.  Used by the broker
 * (clients, workers) and by libbrig (the broker).
 *
 * The length header is checked against max_frame before the body is read
 * into contiguous memory, so a peer can never make us buffer more than one
 * frame.
 *
 * File descriptors (SCM_RIGHTS) ride along: reads never cross a frame
 * boundary, so a descriptor that arrives belongs to the frame holding the
 * first byte of the sendmsg() that carried it (the kernel hands a message's
 * descriptors over with the first read that touches its bytes).  A peer
 * that accepts descriptors (peer_accept_fds) queues them, at most a fixed
 * number, until that frame is complete; the frame callback takes them with
 * peer_take_fd, and whatever it leaves is closed (and counted) right after
 * it returns.  Outgoing descriptors (peer_send_fd) are sent with the first
 * byte of their frame.
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
 * -EMSGSIZE or -EBADMSG for a bad frame header, -ETOOMANYREFS when more
 * descriptors were passed than may wait for their frame, -EPROTO when the
 * kernel truncated passed descriptors (MSG_CTRUNC), -errno for an I/O error.
 * The callback owns the decision and normally frees the peer.
 */
typedef void (*peer_close_fn)(struct peer *p, int err, void *arg);

/* Takes ownership of fd (closed by peer_free).  Returns NULL on ENOMEM. */
struct peer *peer_new(struct event_base *base, int fd, size_t max_frame, peer_frame_fn on_frame,
		      peer_close_fn on_close, void *arg);
void peer_free(struct peer *p);

/* Queue bytes that already form whole frames.  0 or -ENOMEM. */
int peer_send(struct peer *p, const void *frames, size_t len);
/*
 * Queue frames whose first byte carries fd (SCM_RIGHTS).  fd is duplicated
 * (the caller keeps its own) and the copy closed once sent.  0 or -errno.
 */
int peer_send_fd(struct peer *p, const void *frames, size_t len, int fd);
/*
 * Receive passed descriptors from now on, at most max_queued waiting for
 * their frame (more ends the peer with -ETOOMANYREFS).  Without this call
 * the kernel discards whatever is passed.  max_queued is at most
 * PEER_MAX_FDS.
 */
#define PEER_MAX_FDS 16
void peer_accept_fds(struct peer *p, unsigned max_queued);
/*
 * From a frame callback only: the next descriptor that arrived with this
 * frame (the caller owns it), or -1 if there is none.
 */
int peer_take_fd(struct peer *p);
/* Descriptors that arrived with frames that did not take them (closed). */
uint64_t peer_unclaimed_fds(const struct peer *p);
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
