/*
 * The broker <-> zygote channel: one frame per SOCK_SEQPACKET record, with
 * at most one file descriptor passed alongside (SCM_RIGHTS).  Both ends
 * are brigd's own processes, so a broken rule here is fatal to the caller,
 * but records are still size- and shape-checked before use.
 */
#ifndef BRIG_DAEMON_CHAN_H
#define BRIG_DAEMON_CHAN_H

#include <stddef.h>
#include <stdint.h>
#include <event2/event.h>

/* Records larger than this are refused on both sides. */
#define CHAN_RECORD_MAX (64u * 1024)
/* Descriptors passed with one record, at most. */
#define CHAN_MAX_FDS 4

struct chan;

/*
 * One record: body (without the frame header) and a passed fd or -1; the
 * callee owns passed_fd.  May free the channel only by returning -1.
 */
typedef int (*chan_record_fn)(struct chan *ch, const uint8_t *body, size_t len, int passed_fd,
			      void *arg);
/* The peer closed (err 0) or broke the rules (-EBADMSG, -EMSGSIZE, -errno). */
typedef void (*chan_close_fn)(struct chan *ch, int err, void *arg);

/* Takes ownership of fd. */
struct chan *chan_new(struct event_base *base, int fd, chan_record_fn on_record,
		      chan_close_fn on_close, void *arg);
void chan_free(struct chan *ch);
/* Hand the channel to other callbacks (a zygote retired by a reload). */
void chan_set_callbacks(struct chan *ch, chan_record_fn on_record, chan_close_fn on_close,
			void *arg);

/*
 * Send one frame (header included, as packed by msg_pack_*) with pass_fd
 * (-1 for none; the caller keeps its own copy).  Queued when the socket is
 * full.  0 or -errno.
 */
int chan_send(struct chan *ch, const void *frame, size_t len, int pass_fd);
/* Records waiting for the peer to read (the socket was full). */
size_t chan_queued(const struct chan *ch);
/* The same with up to CHAN_MAX_FDS descriptors. */
int chan_send_fds(struct chan *ch, const void *frame, size_t len, const int *fds, size_t nfds);

/*
 * Blocking receive for code without an event loop; same checks.  buf gets
 * the whole frame, header included (*len bytes); up to max_fds passed fds.
 */
int chan_recv_blocking(int fd, uint8_t *buf, size_t size, size_t *len, int *fds, size_t max_fds,
		       size_t *nfds);
int chan_send_blocking(int fd, const void *frame, size_t len, int pass_fd);

#endif
