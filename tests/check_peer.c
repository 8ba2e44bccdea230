/*
 * proto/peer.c over a real AF_UNIX stream socketpair and a libevent loop:
 * frames arrive whole however the bytes are split, and a passed descriptor
 * belongs to the frame holding the first byte of the sendmsg() that
 * carried it; at most max_queued may wait; MSG_CTRUNC ends the peer;
 * unclaimed descriptors are closed and counted; peer_send_fd delivers each
 * descriptor with its frame's first byte.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <check.h>
#include <event2/event.h>

#include "frame.h"
#include "peer.h"

#define MAX_SEEN 16

struct seen {
	unsigned frames;
	size_t len[MAX_SEEN];
	uint8_t first[MAX_SEEN];         /* first body byte: which frame */
	int fds[MAX_SEEN];               /* the descriptor taken, or -1 */
	bool take;                       /* take descriptors at all */
	int closed_err;
	bool closed;
	struct event_base *base;
};

static int on_frame(struct peer *p, const uint8_t *body, size_t len, void *arg)
{
	struct seen *s = arg;

	ck_assert_uint_lt(s->frames, MAX_SEEN);
	s->len[s->frames] = len;
	s->first[s->frames] = body[0];
	s->fds[s->frames] = s->take ? peer_take_fd(p) : -1;
	s->frames++;
	return 0;
}

static void on_close(struct peer *p, int err, void *arg)
{
	struct seen *s = arg;

	(void)p;
	s->closed = true;
	s->closed_err = err;
	event_base_loopbreak(s->base);
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;   /* the DIR's own */
}

/* A frame of len body bytes, all `tag`. */
static size_t make_frame(uint8_t *buf, size_t len, uint8_t tag)
{
	frame_put_header(buf, (uint32_t)len);
	memset(buf + FRAME_HEADER_SIZE, tag, len);
	return FRAME_HEADER_SIZE + len;
}

static void send_fds(int sock, const void *data, size_t len, const int *fds, size_t nfds)
{
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	union {
		char buf[CMSG_SPACE(sizeof(int) * 32)];
		struct cmsghdr align;
	} control;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

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
	ck_assert_int_eq(sendmsg(sock, &msg, MSG_NOSIGNAL), (ssize_t)len);
}

/* Run the loop until `frames` frames were seen or the peer closed. */
static void run_until(struct event_base *base, struct seen *s, unsigned frames)
{
	for (int i = 0; i < 200 && s->frames < frames && !s->closed; i++)
		event_base_loop(base, EVLOOP_NONBLOCK | EVLOOP_ONCE);
}

static bool same_file(int a, int b)
{
	struct stat x, y;

	return fstat(a, &x) == 0 && fstat(b, &y) == 0 && x.st_dev == y.st_dev &&
	       x.st_ino == y.st_ino;
}

struct fixture {
	struct event_base *base;
	struct peer *peer;
	int other;                       /* the sending end */
	struct seen seen;
	int file;                        /* a descriptor to pass */
};

static void fixture_init(struct fixture *f, unsigned max_fds, bool take)
{
	int pair[2];

	memset(f, 0, sizeof(*f));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
	f->base = event_base_new();
	ck_assert_ptr_nonnull(f->base);
	f->seen.base = f->base;
	f->seen.take = take;
	f->peer = peer_new(f->base, pair[0], 1024, on_frame, on_close, &f->seen);
	ck_assert_ptr_nonnull(f->peer);
	if (max_fds)
		peer_accept_fds(f->peer, max_fds);
	f->other = pair[1];
	f->file = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(f->file, 0);
}

static void fixture_free(struct fixture *f)
{
	for (unsigned i = 0; i < f->seen.frames; i++)
		if (f->seen.fds[i] >= 0)
			close(f->seen.fds[i]);
	peer_free(f->peer);
	close(f->other);
	close(f->file);
	event_base_free(f->base);
}

START_TEST(test_split_frames)
{
	struct fixture f;
	uint8_t buf[64];
	size_t n;

	fixture_init(&f, 0, false);
	/* three frames, one byte per write */
	n = make_frame(buf, 5, 'a');
	n += make_frame(buf + n, 1, 'b');
	n += make_frame(buf + n, 20, 'c');
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(write(f.other, buf + i, 1), 1);
	run_until(f.base, &f.seen, 3);
	ck_assert_uint_eq(f.seen.frames, 3);
	ck_assert_uint_eq(f.seen.len[0], 5);
	ck_assert_uint_eq(f.seen.first[1], 'b');
	ck_assert_uint_eq(f.seen.len[2], 20);
	ck_assert_uint_eq(peer_input_pending(f.peer), 0);
	fixture_free(&f);
}
END_TEST

START_TEST(test_fd_belongs_to_its_first_byte)
{
	struct fixture f;
	uint8_t a[32], b[32], both[64];
	size_t na = make_frame(a, 3, 'a'), nb = make_frame(b, 3, 'b');

	fixture_init(&f, 8, true);
	/* A plain, then B with the descriptor, both queued before any read:
	 * the descriptor is B's. */
	send_fds(f.other, a, na, NULL, 0);
	send_fds(f.other, b, nb, &f.file, 1);
	/* Then A and B in one sendmsg with a descriptor: it is A's. */
	memcpy(both, a, na);
	memcpy(both + na, b, nb);
	send_fds(f.other, both, na + nb, &f.file, 1);
	run_until(f.base, &f.seen, 4);
	ck_assert_uint_eq(f.seen.frames, 4);
	ck_assert_int_eq(f.seen.fds[0], -1);
	ck_assert_int_ge(f.seen.fds[1], 0);
	ck_assert(same_file(f.seen.fds[1], f.file));
	ck_assert_int_ge(f.seen.fds[2], 0);
	ck_assert_uint_eq(f.seen.first[2], 'a');
	ck_assert_int_eq(f.seen.fds[3], -1);
	/* received close-on-exec */
	ck_assert_int_eq(fcntl(f.seen.fds[1], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	ck_assert_uint_eq(peer_unclaimed_fds(f.peer), 0);
	fixture_free(&f);
}
END_TEST

START_TEST(test_unclaimed_closed)
{
	struct fixture f;
	uint8_t a[32];
	size_t na = make_frame(a, 3, 'a');
	int before;

	fixture_init(&f, 8, false);
	before = open_fds();
	for (int i = 0; i < 5; i++)
		send_fds(f.other, a, na, &f.file, 1);
	run_until(f.base, &f.seen, 5);
	ck_assert_uint_eq(f.seen.frames, 5);
	ck_assert_uint_eq(peer_unclaimed_fds(f.peer), 5);
	ck_assert_int_eq(open_fds(), before);
	fixture_free(&f);
}
END_TEST

START_TEST(test_too_many_waiting)
{
	struct fixture f;
	uint8_t a[64];
	int before;

	ck_assert_uint_eq(make_frame(a, 40, 'a'), 44);
	fixture_init(&f, 8, true);
	before = open_fds();
	/* nine descriptors, each with one byte of a 44-byte frame */
	for (int i = 0; i < 9; i++)
		send_fds(f.other, a + i, 1, &f.file, 1);
	run_until(f.base, &f.seen, 1);
	ck_assert(f.seen.closed);
	ck_assert_int_eq(f.seen.closed_err, -ETOOMANYREFS);
	ck_assert_uint_eq(f.seen.frames, 0);
	peer_free(f.peer);      /* closes its socket and the eight it held */
	f.peer = NULL;
	ck_assert_int_eq(open_fds(), before - 1);
	fixture_free(&f);
}
END_TEST

START_TEST(test_truncated)
{
	struct fixture f;
	uint8_t a[32];
	size_t na = make_frame(a, 3, 'a');
	int many[20];

	fixture_init(&f, 8, true);
	for (int i = 0; i < 20; i++)
		many[i] = f.file;
	send_fds(f.other, a, na, many, 20);
	run_until(f.base, &f.seen, 1);
	ck_assert(f.seen.closed);
	ck_assert_int_eq(f.seen.closed_err, -EPROTO);
	fixture_free(&f);

	/* A peer that takes none: any descriptor is truncated away. */
	fixture_init(&f, 0, true);
	send_fds(f.other, a, na, &f.file, 1);
	run_until(f.base, &f.seen, 1);
	ck_assert(f.seen.closed);
	ck_assert_int_eq(f.seen.closed_err, -EPROTO);
	fixture_free(&f);
}
END_TEST

/* peer_send_fd on one end, a peer taking descriptors on the other. */
START_TEST(test_send_fd)
{
	struct event_base *base = event_base_new();
	struct seen rx = { .take = true, .base = base }, tx = { .base = base };
	struct peer *sender, *receiver;
	uint8_t a[32], b[32], c[32];
	size_t na = make_frame(a, 3, 'a'), nb = make_frame(b, 4, 'b'), nc = make_frame(c, 5, 'c');
	int pair[2], file = open("/proc/self/exe", O_RDONLY | O_CLOEXEC), pipefd[2];

	ck_assert_int_ge(file, 0);
	ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
	sender = peer_new(base, pair[0], 1024, on_frame, on_close, &tx);
	receiver = peer_new(base, pair[1], 1024, on_frame, on_close, &rx);
	peer_accept_fds(receiver, 8);
	ck_assert_int_eq(peer_send(sender, a, na), 0);
	ck_assert_int_eq(peer_send_fd(sender, b, nb, file), 0);
	ck_assert_int_eq(peer_send_fd(sender, c, nc, pipefd[0]), 0);
	ck_assert_int_eq(peer_send(sender, a, na), 0);
	run_until(base, &rx, 4);
	ck_assert_uint_eq(rx.frames, 4);
	ck_assert_int_eq(rx.fds[0], -1);
	ck_assert(same_file(rx.fds[1], file));
	ck_assert(same_file(rx.fds[2], pipefd[0]));
	ck_assert_int_eq(rx.fds[3], -1);
	ck_assert_uint_eq(peer_output_pending(sender), 0);
	for (int i = 1; i < 3; i++)
		close(rx.fds[i]);
	peer_free(sender);
	peer_free(receiver);
	close(file);
	close(pipefd[0]);
	close(pipefd[1]);
	event_base_free(base);
}
END_TEST

static Suite *peer_suite(void)
{
	Suite *s = suite_create("peer");
	TCase *tc = tcase_create("peer");

	tcase_add_test(tc, test_split_frames);
	tcase_add_test(tc, test_fd_belongs_to_its_first_byte);
	tcase_add_test(tc, test_unclaimed_closed);
	tcase_add_test(tc, test_too_many_waiting);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_send_fd);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(peer_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
