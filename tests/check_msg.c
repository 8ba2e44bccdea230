/*
 * Unit tests for proto/msg.c and proto/cursor.c: every message packs and
 * decodes to the same fields, and every way a peer can get a frame wrong is
 * refused with -EBADMSG and a reason that names the message and the field.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <msgpack.h>

#include "cursor.h"
#include "frame.h"
#include "msg.h"

/* bin limit passed to the decoders that take one unless a test says otherwise */
#define TEST_INPUT_LIMIT 4096

/* ---- helpers ---- */

/* The body of the frame at sb[start], after checking its header. */
static const uint8_t *frame_at(const msgpack_sbuffer *sb, size_t start, uint32_t *body_len)
{
	ck_assert_uint_ge(sb->size, start + FRAME_HEADER_SIZE);
	ck_assert_int_eq(frame_parse_header((const uint8_t *)sb->data + start,
					    BRIG_FRAME_MAX_CEILING, body_len), 0);
	ck_assert_uint_eq(sb->size - start - FRAME_HEADER_SIZE, *body_len);
	return (const uint8_t *)sb->data + start + FRAME_HEADER_SIZE;
}

/* Open the single frame in sb, expecting the given type. */
static void open_only_frame(const msgpack_sbuffer *sb, struct msg_in *in, int type)
{
	const uint8_t *body;
	uint32_t body_len;
	int r;

	body = frame_at(sb, 0, &body_len);
	r = msg_open(in, body, body_len);
	ck_assert_msg(r == type, "msg_open: %d (%s)", r, in->error);
	ck_assert_int_eq(in->type, type);
	ck_assert(in->open);
}

/* Decode whatever is open with its own decoder, releasing what it allocates. */
static int decode_any(struct msg_in *in, size_t input_limit)
{
	union {
		struct msg_hello hello;
		struct msg_welcome welcome;
		struct msg_submit submit;
		struct msg_cancel cancel;
		struct msg_exec exec;
		struct msg_output output;
		struct msg_item item;
		struct msg_final final;
		struct msg_error error;
		struct msg_worker_job worker_job;
		struct msg_worker_item worker_item;
		struct msg_worker_done worker_done;
		struct msg_worker_violation worker_violation;
		struct msg_worker_exec worker_exec;
		struct msg_worker_output worker_output;
		struct msg_worker_exit worker_exit;
		struct msg_zygote_ready zygote_ready;
		struct msg_zygote_spawn zygote_spawn;
		struct msg_zygote_spawned zygote_spawned;
		struct msg_zygote_spawn_failed zygote_spawn_failed;
		struct msg_zygote_kill zygote_kill;
		struct msg_zygote_exited zygote_exited;
		struct msg_template_spawn template_spawn;
		struct msg_monitor_zygote_start monitor_zygote_start;
		struct msg_monitor_zygote_started monitor_zygote_started;
		struct msg_monitor_zygote_kill monitor_zygote_kill;
		struct msg_monitor_zygote_died monitor_zygote_died;
		struct msg_monitor_access monitor_access;
		struct msg_monitor_access_result monitor_access_result;
		struct msg_monitor_notify monitor_notify;
	} u;
	int r;

	switch (in->type) {
	case MSG_HELLO:
		return msg_decode_hello(in, &u.hello);
	case MSG_WELCOME:
		r = msg_decode_welcome(in, &u.welcome);
		if (r == 0) {
			strlist_free(&u.welcome.handlers);
			strlist_free(&u.welcome.profiles);
		}
		return r;
	case MSG_SUBMIT:
		return msg_decode_submit(in, input_limit, &u.submit);
	case MSG_CANCEL:
		return msg_decode_cancel(in, &u.cancel);
	case MSG_EXEC:
		return msg_decode_exec(in, input_limit, &u.exec);
	case MSG_OUTPUT:
		return msg_decode_output(in, input_limit, &u.output);
	case MSG_ITEM:
		return msg_decode_item(in, &u.item);
	case MSG_FINAL:
		return msg_decode_final(in, &u.final);
	case MSG_ERROR:
		return msg_decode_error(in, &u.error);
	case MSG_WORKER_READY:
		return msg_decode_worker_ready(in);
	case MSG_WORKER_JOB:
		return msg_decode_worker_job(in, input_limit, &u.worker_job);
	case MSG_WORKER_ITEM:
		return msg_decode_worker_item(in, &u.worker_item);
	case MSG_WORKER_DONE:
		return msg_decode_worker_done(in, &u.worker_done);
	case MSG_WORKER_VIOLATION:
		return msg_decode_worker_violation(in, &u.worker_violation);
	case MSG_WORKER_EXEC:
		return msg_decode_worker_exec(in, input_limit, &u.worker_exec);
	case MSG_WORKER_OUTPUT:
		return msg_decode_worker_output(in, input_limit, &u.worker_output);
	case MSG_WORKER_EXIT:
		return msg_decode_worker_exit(in, &u.worker_exit);
	case MSG_ZYGOTE_READY:
		r = msg_decode_zygote_ready(in, &u.zygote_ready);
		if (r == 0)
			strlist_free(&u.zygote_ready.handlers);
		return r;
	case MSG_ZYGOTE_SPAWN:
		return msg_decode_zygote_spawn(in, &u.zygote_spawn);
	case MSG_ZYGOTE_SPAWNED:
		return msg_decode_zygote_spawned(in, &u.zygote_spawned);
	case MSG_ZYGOTE_SPAWN_FAILED:
		return msg_decode_zygote_spawn_failed(in, &u.zygote_spawn_failed);
	case MSG_ZYGOTE_KILL:
		return msg_decode_zygote_kill(in, &u.zygote_kill);
	case MSG_ZYGOTE_EXITED:
		return msg_decode_zygote_exited(in, &u.zygote_exited);
	case MSG_TEMPLATE_SPAWN:
		return msg_decode_template_spawn(in, &u.template_spawn);
	case MSG_MONITOR_ZYGOTE_START:
		return msg_decode_monitor_zygote_start(in, &u.monitor_zygote_start);
	case MSG_MONITOR_ZYGOTE_STARTED:
		return msg_decode_monitor_zygote_started(in, &u.monitor_zygote_started);
	case MSG_MONITOR_ZYGOTE_KILL:
		return msg_decode_monitor_zygote_kill(in, &u.monitor_zygote_kill);
	case MSG_MONITOR_ZYGOTE_DIED:
		return msg_decode_monitor_zygote_died(in, &u.monitor_zygote_died);
	case MSG_MONITOR_ACCESS:
		return msg_decode_monitor_access(in, &u.monitor_access);
	case MSG_MONITOR_ACCESS_RESULT:
		return msg_decode_monitor_access_result(in, &u.monitor_access_result);
	case MSG_MONITOR_NOTIFY:
		return msg_decode_monitor_notify(in, &u.monitor_notify);
	default:
		ck_abort_msg("decode_any: type %d", in->type);
		return -EINVAL;
	}
}

/* An object to use as an item: {"name": "x.png", "size": [640, 480], "ok": true} */
static void make_item(msgpack_unpacked *out, msgpack_sbuffer *backing)
{
	msgpack_packer pk;
	size_t offset = 0;

	msgpack_sbuffer_init(backing);
	msgpack_packer_init(&pk, backing, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	msgpack_pack_str_with_body(&pk, "name", 4);
	msgpack_pack_str_with_body(&pk, "x.png", 5);
	msgpack_pack_str_with_body(&pk, "size", 4);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_uint32(&pk, 640);
	msgpack_pack_uint32(&pk, 480);
	msgpack_pack_str_with_body(&pk, "ok", 2);
	msgpack_pack_true(&pk);
	msgpack_unpacked_init(out);
	ck_assert_int_eq(msgpack_unpack_next(out, backing->data, backing->size, &offset),
			 MSGPACK_UNPACK_SUCCESS);
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	ck_assert_ptr_nonnull(p);
	return p;
}

static struct strlist make_strlist(size_t count, const char *prefix)
{
	struct strlist list;
	char name[BRIG_NAME_MAX + 1];
	size_t i;

	list.count = count;
	list.names = calloc(count > 0 ? count : 1, sizeof(*list.names));
	ck_assert_ptr_nonnull(list.names);
	for (i = 0; i < count; i++) {
		snprintf(name, sizeof(name), "%s%zu", prefix, i);
		list.names[i] = xstrdup(name);
	}
	return list;
}

static void assert_strlist_eq(const struct strlist *a, const struct strlist *b)
{
	size_t i;

	ck_assert_uint_eq(a->count, b->count);
	for (i = 0; i < a->count; i++)
		ck_assert_str_eq(a->names[i], b->names[i]);
}

/* A decoded list holds exactly v[0..count), each entry read back with msg_strv_get. */
static void assert_strv_eq(const struct msg_strv *decoded, const char *const *v, size_t count)
{
	char buf[BRIG_ARG_LEN + 1];
	size_t i;

	ck_assert_uint_eq(decoded->count, count);
	ck_assert_ptr_nonnull(decoded->array);
	ck_assert_int_eq(decoded->array->type, MSGPACK_OBJECT_ARRAY);
	ck_assert_uint_eq(decoded->array->via.array.size, count);
	for (i = 0; i < count; i++) {
		ck_assert_int_eq(msg_strv_get(decoded, i, buf, sizeof(buf)), 0);
		ck_assert_str_eq(buf, v[i]);
	}
	ck_assert_int_eq(msg_strv_get(decoded, count, buf, sizeof(buf)), -EINVAL);
}

/* count strings "<prefix><i>" padded with 'x' to len bytes (len 0: unpadded) */
struct strv_fixture {
	char **entries;
	size_t count;
};

static struct strv_fixture make_strv(size_t count, const char *prefix, size_t len)
{
	struct strv_fixture f;
	size_t i, used;

	f.count = count;
	f.entries = calloc(count > 0 ? count : 1, sizeof(*f.entries));
	ck_assert_ptr_nonnull(f.entries);
	for (i = 0; i < count; i++) {
		size_t size = (len > 0 ? len : 32) + 1;

		f.entries[i] = malloc(size);
		ck_assert_ptr_nonnull(f.entries[i]);
		used = (size_t)snprintf(f.entries[i], size, "%s%zu", prefix, i);
		if (len > 0 && used < len) {
			memset(f.entries[i] + used, 'x', len - used);
			f.entries[i][len] = '\0';
		}
	}
	return f;
}

static void free_strv(struct strv_fixture *f)
{
	for (size_t i = 0; i < f->count; i++)
		free(f->entries[i]);
	free(f->entries);
	f->entries = NULL;
	f->count = 0;
}

static struct msg_strv strv_of(const struct strv_fixture *f)
{
	struct msg_strv l = { (const char *const *)f->entries, f->count, NULL };

	return l;
}

/* ---- round trips ---- */

START_TEST(test_round_trip_hello)
{
	struct msg_hello m = { .version = BRIG_PROTOCOL_VERSION, .client = "thumbnailer/2.1" };
	struct msg_hello out;
	msgpack_sbuffer sb;
	struct msg_in in;

	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_hello(&sb, &m), 0);
	open_only_frame(&sb, &in, MSG_HELLO);
	ck_assert_int_eq(msg_decode_hello(&in, &out), 0);
	ck_assert_uint_eq(out.version, m.version);
	ck_assert_str_eq(out.client, m.client);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_round_trip_welcome)
{
	struct msg_welcome m = {
		.version = BRIG_PROTOCOL_VERSION,
		.server = "brigd 0.1.0",
		.max_frame = BRIG_DEFAULT_MAX_FRAME,
		.max_input = BRIG_DEFAULT_MAX_FRAME - BRIG_SUBMIT_OVERHEAD,
		.max_jobs = UINT32_MAX,
	};
	struct msg_welcome out;
	msgpack_sbuffer sb;
	struct msg_in in;

	m.handlers = make_strlist(3, "handler");
	m.profiles = make_strlist(_i == 0 ? 0 : BRIG_LIST_MAX, "profile");
	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_welcome(&sb, &m), 0);
	open_only_frame(&sb, &in, MSG_WELCOME);
	ck_assert_int_eq(msg_decode_welcome(&in, &out), 0);
	ck_assert_uint_eq(out.version, m.version);
	ck_assert_str_eq(out.server, m.server);
	ck_assert_uint_eq(out.max_frame, m.max_frame);
	ck_assert_uint_eq(out.max_input, m.max_input);
	ck_assert_uint_eq(out.max_jobs, m.max_jobs);
	assert_strlist_eq(&out.handlers, &m.handlers);
	assert_strlist_eq(&out.profiles, &m.profiles);
	strlist_free(&out.handlers);
	strlist_free(&out.profiles);
	ck_assert_ptr_null(out.handlers.names);
	ck_assert_uint_eq(out.handlers.count, 0);
	msg_close(&in);
	strlist_free(&m.handlers);
	strlist_free(&m.profiles);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_round_trip_submit)
{
	static const uint8_t input[] = { 0x89, 'P', 'N', 'G', 0, 0xc1, 0xff };
	static const char *const descriptors[] = {
		"ro=/srv/data", "rlimit_as=64M", "seccomp_deny=socket connect", "connect=443", "",
	};
	struct msg_submit m = {
		.job_id = 0xdeadbeef,
		.handler = "magic",
		.profile = "",
		.input = input,
		.input_len = sizeof(input),
		.timeout_ms = 30000,
		.descriptors = { descriptors, 5, NULL },
	};
	struct msg_submit out;
	msgpack_sbuffer sb;
	struct msg_in in;

	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_submit(&sb, &m), 0);
	open_only_frame(&sb, &in, MSG_SUBMIT);
	ck_assert_int_eq(msg_decode_submit(&in, sizeof(input), &out), 0);
	ck_assert_uint_eq(out.job_id, m.job_id);
	ck_assert_str_eq(out.handler, m.handler);
	ck_assert_str_eq(out.profile, "");
	ck_assert_uint_eq(out.input_len, sizeof(input));
	ck_assert_mem_eq(out.input, input, sizeof(input));
	ck_assert_uint_eq(out.timeout_ms, m.timeout_ms);
	assert_strv_eq(&out.descriptors, descriptors, 5);
	/* decoded lists are read with msg_strv_get, never through v */
	ck_assert_ptr_null(out.descriptors.v);
	/* the input points into the frame body, not into a copy */
	ck_assert((const char *)out.input > sb.data && (const char *)out.input < sb.data + sb.size);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_round_trip_submit_empty_input)
{
	struct msg_submit m = { .job_id = 1, .handler = "echo", .profile = "strict" };
	struct msg_submit out;
	msgpack_sbuffer sb;
	struct msg_in in;

	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_submit(&sb, &m), 0);
	open_only_frame(&sb, &in, MSG_SUBMIT);
	ck_assert_int_eq(msg_decode_submit(&in, 0, &out), 0);
	ck_assert_uint_eq(out.input_len, 0);
	ck_assert_str_eq(out.profile, "strict");
	ck_assert_uint_eq(out.timeout_ms, 0);
	assert_strv_eq(&out.descriptors, NULL, 0);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* nil input: the descriptor passed with the frame; bytes and nil never mix. */
START_TEST(test_round_trip_input_fd)
{
	static const char *const argv[] = { "wc", "-c" };
	struct msg_submit s = { .job_id = 7, .handler = "magic", .input_fd = true };
	struct msg_exec x = { .job_id = 8, .argv = { argv, 2, NULL }, .stdin_fd = true };
	struct msg_worker_job wj = { .handler = "magic", .input_fd = true };
	struct msg_worker_exec wx = { .argv = { argv, 2, NULL }, .stdin_fd = true };
	struct msg_submit s_out;
	struct msg_exec x_out;
	struct msg_worker_job wj_out;
	struct msg_worker_exec wx_out;
	msgpack_sbuffer sb;
	struct msg_in in;

	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_submit(&sb, &s), 0);
	/* the input field is one nil byte: c0 */
	ck_assert_uint_eq((uint8_t)sb.data[FRAME_HEADER_SIZE + 1 + 1 + 1 + 6 + 1], 0xc0);
	open_only_frame(&sb, &in, MSG_SUBMIT);
	ck_assert_int_eq(msg_decode_submit(&in, TEST_INPUT_LIMIT, &s_out), 0);
	ck_assert(s_out.input_fd);
	ck_assert_ptr_null(s_out.input);
	ck_assert_uint_eq(s_out.input_len, 0);
	msg_close(&in);
	msgpack_sbuffer_clear(&sb);

	ck_assert_int_eq(msg_pack_exec(&sb, &x), 0);
	open_only_frame(&sb, &in, MSG_EXEC);
	ck_assert_int_eq(msg_decode_exec(&in, TEST_INPUT_LIMIT, &x_out), 0);
	ck_assert(x_out.stdin_fd);
	ck_assert_uint_eq(x_out.stdin_len, 0);
	msg_close(&in);
	msgpack_sbuffer_clear(&sb);

	ck_assert_int_eq(msg_pack_worker_job(&sb, &wj), 0);
	open_only_frame(&sb, &in, MSG_WORKER_JOB);
	ck_assert_int_eq(msg_decode_worker_job(&in, TEST_INPUT_LIMIT, &wj_out), 0);
	ck_assert(wj_out.input_fd);
	msg_close(&in);
	msgpack_sbuffer_clear(&sb);

	ck_assert_int_eq(msg_pack_worker_exec(&sb, &wx), 0);
	open_only_frame(&sb, &in, MSG_WORKER_EXEC);
	ck_assert_int_eq(msg_decode_worker_exec(&in, TEST_INPUT_LIMIT, &wx_out), 0);
	ck_assert(wx_out.stdin_fd);
	msg_close(&in);
	msgpack_sbuffer_clear(&sb);

	/* bytes decode as bytes, not as a descriptor */
	s.input_fd = false;
	s.input = (const uint8_t *)"GIF89a";
	s.input_len = 6;
	ck_assert_int_eq(msg_pack_submit(&sb, &s), 0);
	open_only_frame(&sb, &in, MSG_SUBMIT);
	ck_assert_int_eq(msg_decode_submit(&in, TEST_INPUT_LIMIT, &s_out), 0);
	ck_assert(!s_out.input_fd);
	ck_assert_uint_eq(s_out.input_len, 6);
	msg_close(&in);
	msgpack_sbuffer_clear(&sb);

	/* a descriptor and bytes at once cannot be packed */
	s.input_fd = true;
	ck_assert_int_eq(msg_pack_submit(&sb, &s), -EINVAL);
	ck_assert_uint_eq(sb.size, 0);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* The most descriptors a request may carry, each as long as allowed. */
START_TEST(test_round_trip_submit_descriptors_at_limits)
{
	struct strv_fixture d = make_strv(BRIG_DESCRIPTORS_MAX, "rw=/", BRIG_DESCRIPTOR_LEN);
	struct msg_submit m = { .job_id = 1, .handler = "echo", .profile = "default" };
	struct msg_submit out;
	msgpack_sbuffer sb;
	struct msg_in in;

	m.descriptors = strv_of(&d);
	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_submit(&sb, &m), 0);
	open_only_frame(&sb, &in, MSG_SUBMIT);
	ck_assert_int_eq(msg_decode_submit(&in, 0, &out), 0);
	assert_strv_eq(&out.descriptors, (const char *const *)d.entries, d.count);
	ck_assert_uint_eq(strlen(d.entries[BRIG_DESCRIPTORS_MAX - 1]), BRIG_DESCRIPTOR_LEN);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);
	free_strv(&d);
}
END_TEST

START_TEST(test_round_trip_exec)
{
	static const char *const argv[] = { "/usr/bin/convert", "-resize", "50%", "-", "png:-" };
	static const char *const env[] = { "LANG=C.UTF-8", "MAGICK_THREAD_LIMIT=1", "EMPTY=" };
	static const char *const descriptors[] = { "rlimit_cpu=5", "ro=/usr/share/fonts" };
	static const uint8_t stdin_data[] = { 'G', 'I', 'F', '8', '9', 'a', 0, 0xff };
	struct msg_exec m = {
		.job_id = UINT32_MAX,
		.profile = "exec",
		.argv = { argv, 5, NULL },
		.env = { env, 3, NULL },
		.cwd = "/tmp",
		.stdin_data = stdin_data,
		.stdin_len = sizeof(stdin_data),
		.timeout_ms = 2500,
		.descriptors = { descriptors, 2, NULL },
	};
	struct msg_exec out;
	msgpack_sbuffer sb;
	struct msg_in in;

	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_exec(&sb, &m), 0);
	open_only_frame(&sb, &in, MSG_EXEC);
	ck_assert_int_eq(msg_decode_exec(&in, sizeof(stdin_data), &out), 0);
	ck_assert_uint_eq(out.job_id, UINT32_MAX);
	ck_assert_str_eq(out.profile, "exec");
	assert_strv_eq(&out.argv, argv, 5);
	assert_strv_eq(&out.env, env, 3);
	ck_assert_str_eq(out.cwd, "/tmp");
	ck_assert_uint_eq(out.stdin_len, sizeof(stdin_data));
	ck_assert_mem_eq(out.stdin_data, stdin_data, sizeof(stdin_data));
	ck_assert((const char *)out.stdin_data > sb.data &&
		  (const char *)out.stdin_data < sb.data + sb.size);
	ck_assert_uint_eq(out.timeout_ms, 2500);
	assert_strv_eq(&out.descriptors, descriptors, 2);
	/* one byte short of the stdin: refused */
	ck_assert_int_eq(msg_decode_exec(&in, sizeof(stdin_data) - 1, &out), -EBADMSG);
	ck_assert_str_eq(in.error, "EXEC field 'stdin': 8 bytes exceeds the limit of 7");
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* The least an EXEC can say: one argv entry, everything else empty. */
START_TEST(test_round_trip_exec_minimal)
{
	static const char *const argv[] = { "true" };
	struct msg_exec m = { .job_id = 0, .argv = { argv, 1, NULL } };
	struct msg_exec out;
	msgpack_sbuffer sb;
	struct msg_in in;

	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_exec(&sb, &m), 0);
	open_only_frame(&sb, &in, MSG_EXEC);
	ck_assert_int_eq(msg_decode_exec(&in, 0, &out), 0);
	ck_assert_uint_eq(out.job_id, 0);
	ck_assert_str_eq(out.profile, "");
	assert_strv_eq(&out.argv, argv, 1);
	assert_strv_eq(&out.env, NULL, 0);
	ck_assert_str_eq(out.cwd, "");
	ck_assert_uint_eq(out.stdin_len, 0);
	ck_assert_uint_eq(out.timeout_ms, 0);
	assert_strv_eq(&out.descriptors, NULL, 0);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* argv and env at their limits: 256 entries of 4096 bytes each. */
START_TEST(test_round_trip_exec_at_limits)
{
	struct strv_fixture argv = make_strv(BRIG_ARGV_MAX, "arg", BRIG_ARG_LEN);
	struct strv_fixture env = make_strv(BRIG_ARGV_MAX, "E=", BRIG_ARG_LEN);
	struct strv_fixture d = make_strv(BRIG_DESCRIPTORS_MAX, "ro=/", BRIG_DESCRIPTOR_LEN);
	struct msg_exec m = { .job_id = 5, .profile = "exec" };
	struct msg_exec out;
	msgpack_sbuffer sb;
	struct msg_in in;

	m.argv = strv_of(&argv);
	m.env = strv_of(&env);
	m.descriptors = strv_of(&d);
	memset(m.cwd, 'c', BRIG_PATH_LEN);
	m.cwd[0] = '/';
	m.cwd[BRIG_PATH_LEN] = '\0';
	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_exec(&sb, &m), 0);
	open_only_frame(&sb, &in, MSG_EXEC);
	ck_assert_int_eq(msg_decode_exec(&in, 0, &out), 0);
	assert_strv_eq(&out.argv, (const char *const *)argv.entries, argv.count);
	assert_strv_eq(&out.env, (const char *const *)env.entries, env.count);
	assert_strv_eq(&out.descriptors, (const char *const *)d.entries, d.count);
	ck_assert_str_eq(out.cwd, m.cwd);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);
	free_strv(&argv);
	free_strv(&env);
	free_strv(&d);
}
END_TEST

START_TEST(test_round_trip_output)
{
	static const uint8_t data[] = { 'h', 'i', '\n', 0, 0xff, 0xc1 };
	struct msg_output m = { .job_id = 11, .seq = _i == 0 ? 0 : UINT32_MAX,
				.stream = _i == 0 ? BRIG_STREAM_STDOUT : BRIG_STREAM_STDERR,
				.data = data, .len = _i == 2 ? 0 : sizeof(data) };
	struct msg_output out;
	msgpack_sbuffer sb;
	struct msg_in in;

	if (_i == 2)
		m.data = NULL;
	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_output(&sb, &m), 0);
	open_only_frame(&sb, &in, MSG_OUTPUT);
	ck_assert_int_eq(msg_decode_output(&in, sizeof(data), &out), 0);
	ck_assert_uint_eq(out.job_id, 11);
	ck_assert_uint_eq(out.seq, m.seq);
	ck_assert_uint_eq(out.stream, m.stream);
	ck_assert_uint_eq(out.len, m.len);
	if (m.len > 0)
		ck_assert_mem_eq(out.data, data, m.len);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_round_trip_cancel)
{
	struct msg_cancel m = { .job_id = 42 }, out;
	msgpack_sbuffer sb;
	struct msg_in in;

	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_cancel(&sb, &m), 0);
	open_only_frame(&sb, &in, MSG_CANCEL);
	ck_assert_int_eq(msg_decode_cancel(&in, &out), 0);
	ck_assert_uint_eq(out.job_id, 42);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_round_trip_item)
{
	msgpack_sbuffer backing, sb;
	msgpack_unpacked item;
	struct msg_item m, out;
	struct msg_in in;

	make_item(&item, &backing);
	m.job_id = 7;
	m.seq = UINT32_MAX;
	m.item = &item.data;
	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_item(&sb, &m), 0);
	open_only_frame(&sb, &in, MSG_ITEM);
	ck_assert_int_eq(msg_decode_item(&in, &out), 0);
	ck_assert_uint_eq(out.job_id, 7);
	ck_assert_uint_eq(out.seq, UINT32_MAX);
	ck_assert(msgpack_object_equal(*out.item, item.data));
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);
	msgpack_unpacked_destroy(&item);
	msgpack_sbuffer_destroy(&backing);
}
END_TEST

START_TEST(test_round_trip_final)
{
	struct msg_final m = {
		.job_id = 9,
		.outcome = BRIG_OUTCOME_VIOLATION,
		.code = -1,
		.message = "seccomp refused socket(2)",
		.usage = { .wall_us = UINT64_MAX, .cpu_us = 12345, .maxrss_kib = 0 },
	};
	struct msg_final out;
	msgpack_sbuffer sb;
	struct msg_in in;
	uint32_t outcome;

	for (outcome = 0; outcome <= BRIG_OUTCOME__MAX; outcome++) {
		m.outcome = outcome;
		m.code = outcome % 2 ? INT64_MIN : INT64_MAX;
		msgpack_sbuffer_init(&sb);
		ck_assert_int_eq(msg_pack_final(&sb, &m), 0);
		open_only_frame(&sb, &in, MSG_FINAL);
		ck_assert_int_eq(msg_decode_final(&in, &out), 0);
		ck_assert_uint_eq(out.job_id, m.job_id);
		ck_assert_uint_eq(out.outcome, outcome);
		ck_assert(out.code == m.code);
		ck_assert_str_eq(out.message, m.message);
		ck_assert(out.usage.wall_us == UINT64_MAX);
		ck_assert(out.usage.cpu_us == 12345);
		ck_assert(out.usage.maxrss_kib == 0);
		msg_close(&in);
		msgpack_sbuffer_destroy(&sb);
	}
}
END_TEST

START_TEST(test_round_trip_error)
{
	struct msg_error m = { .has_job = _i == 1, .job_id = _i == 1 ? 77 : 0,
			       .code = BRIG_ERROR_BUSY, .message = "too many jobs in flight" };
	struct msg_error out;
	msgpack_sbuffer sb;
	struct msg_in in;

	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_error(&sb, &m), 0);
	open_only_frame(&sb, &in, MSG_ERROR);
	ck_assert_int_eq(msg_decode_error(&in, &out), 0);
	ck_assert_int_eq(out.has_job, m.has_job);
	ck_assert_uint_eq(out.job_id, m.job_id);
	ck_assert_uint_eq(out.code, BRIG_ERROR_BUSY);
	ck_assert_str_eq(out.message, m.message);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_round_trip_worker_ready)
{
	msgpack_sbuffer sb;
	struct msg_in in;

	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_worker_ready(&sb), 0);
	/* [0x40]: one-element array, smallest possible frame */
	ck_assert_uint_eq(sb.size, FRAME_HEADER_SIZE + 2);
	open_only_frame(&sb, &in, MSG_WORKER_READY);
	ck_assert_int_eq(msg_decode_worker_ready(&in), 0);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_round_trip_worker_job)
{
	static const uint8_t input[] = "%PDF-1.7";
	static const char *const descriptors[] = { "rlimit_nofile=8", "seccomp_deny=openat" };
	struct msg_worker_job m = { .handler = "archive", .input = input,
				    .input_len = sizeof(input),
				    .descriptors = { descriptors, _i == 0 ? 0 : 2, NULL } };
	struct msg_worker_job out;
	msgpack_sbuffer sb;
	struct msg_in in;

	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_worker_job(&sb, &m), 0);
	open_only_frame(&sb, &in, MSG_WORKER_JOB);
	ck_assert_int_eq(msg_decode_worker_job(&in, TEST_INPUT_LIMIT, &out), 0);
	ck_assert_str_eq(out.handler, "archive");
	ck_assert_uint_eq(out.input_len, sizeof(input));
	ck_assert_mem_eq(out.input, input, sizeof(input));
	assert_strv_eq(&out.descriptors, descriptors, m.descriptors.count);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_round_trip_worker_item)
{
	msgpack_sbuffer backing, sb;
	msgpack_unpacked item;
	struct msg_worker_item m, out;
	struct msg_in in;

	make_item(&item, &backing);
	m.item = &item.data;
	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_worker_item(&sb, &m), 0);
	open_only_frame(&sb, &in, MSG_WORKER_ITEM);
	ck_assert_int_eq(msg_decode_worker_item(&in, &out), 0);
	ck_assert(msgpack_object_equal(*out.item, item.data));
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);
	msgpack_unpacked_destroy(&item);
	msgpack_sbuffer_destroy(&backing);
}
END_TEST

START_TEST(test_round_trip_worker_done)
{
	struct msg_worker_done m = { .status = WORKER_STATUS_NO_HANDLER,
				     .message = "no handler named 'nope'",
				     .cpu_us = 1ull << 40, .maxrss_kib = 2048 };
	struct msg_worker_done out;
	msgpack_sbuffer sb;
	struct msg_in in;

	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_worker_done(&sb, &m), 0);
	open_only_frame(&sb, &in, MSG_WORKER_DONE);
	ck_assert_int_eq(msg_decode_worker_done(&in, &out), 0);
	ck_assert_uint_eq(out.status, WORKER_STATUS_NO_HANDLER);
	ck_assert_str_eq(out.message, m.message);
	ck_assert(out.cpu_us == 1ull << 40);
	ck_assert(out.maxrss_kib == 2048);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_round_trip_worker_violation)
{
	static const int64_t syscalls[] = { 0, 41, 435, -1, INT64_MAX, INT64_MIN };
	struct msg_worker_violation m, out;
	msgpack_sbuffer sb;
	struct msg_in in;
	size_t i;

	for (i = 0; i < sizeof(syscalls) / sizeof(syscalls[0]); i++) {
		m.syscall = syscalls[i];
		msgpack_sbuffer_init(&sb);
		ck_assert_int_eq(msg_pack_worker_violation(&sb, &m), 0);
		open_only_frame(&sb, &in, MSG_WORKER_VIOLATION);
		ck_assert_int_eq(msg_decode_worker_violation(&in, &out), 0);
		ck_assert(out.syscall == syscalls[i]);
		msg_close(&in);
		msgpack_sbuffer_destroy(&sb);
	}
}
END_TEST

/*
 * The exact bytes: daemon/sandbox/seccomp.c packs this frame by hand in a
 * signal handler and promises to match msg_pack_worker_violation().
 */
START_TEST(test_worker_violation_bytes)
{
	static const struct {
		int64_t syscall;
		const char *frame;
		size_t len;
	} cases[] = {
		{ 0, "\x00\x00\x00\x03\x92\x44\x00", 7 },
		{ 41, "\x00\x00\x00\x03\x92\x44\x29", 7 },
		{ 127, "\x00\x00\x00\x03\x92\x44\x7f", 7 },
		{ 200, "\x00\x00\x00\x04\x92\x44\xcc\xc8", 8 },
		{ 435, "\x00\x00\x00\x05\x92\x44\xcd\x01\xb3", 9 },
		{ 4095, "\x00\x00\x00\x05\x92\x44\xcd\x0f\xff", 9 },
	};
	msgpack_sbuffer sb;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		msgpack_sbuffer_init(&sb);
		ck_assert_int_eq(msg_pack_worker_violation(&sb,
				 &(struct msg_worker_violation){ cases[i].syscall }), 0);
		ck_assert_uint_eq(sb.size, cases[i].len);
		ck_assert_mem_eq(sb.data, cases[i].frame, cases[i].len);
		msgpack_sbuffer_destroy(&sb);
	}
}
END_TEST

START_TEST(test_round_trip_worker_exec)
{
	static const char *const argv[] = { "/bin/sh", "-c", "exec cat" };
	static const char *const env[] = { "PATH=/usr/bin:/bin" };
	static const char *const descriptors[] = { "connect=443" };
	static const uint8_t stdin_data[] = "line\n";
	struct msg_worker_exec m = {
		.argv = { argv, 3, NULL },
		.env = { env, 1, NULL },
		.cwd = "/",
		.stdin_data = stdin_data,
		.stdin_len = sizeof(stdin_data) - 1,
		.descriptors = { descriptors, 1, NULL },
	};
	struct msg_worker_exec out;
	msgpack_sbuffer sb;
	struct msg_in in;

	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_worker_exec(&sb, &m), 0);
	open_only_frame(&sb, &in, MSG_WORKER_EXEC);
	ck_assert_int_eq(msg_decode_worker_exec(&in, TEST_INPUT_LIMIT, &out), 0);
	assert_strv_eq(&out.argv, argv, 3);
	assert_strv_eq(&out.env, env, 1);
	ck_assert_str_eq(out.cwd, "/");
	ck_assert_uint_eq(out.stdin_len, 5);
	ck_assert_mem_eq(out.stdin_data, "line\n", 5);
	assert_strv_eq(&out.descriptors, descriptors, 1);
	ck_assert_int_eq(msg_decode_worker_exec(&in, 4, &out), -EBADMSG);
	ck_assert_str_eq(in.error, "WORKER_EXEC field 'stdin': 5 bytes exceeds the limit of 4");
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_round_trip_worker_output)
{
	static const uint8_t data[] = { 0, 1, 2, 0xfe };
	struct msg_worker_output m = { .stream = _i == 0 ? BRIG_STREAM_STDOUT : BRIG_STREAM_STDERR,
				       .data = data, .len = sizeof(data) };
	struct msg_worker_output out;
	msgpack_sbuffer sb;
	struct msg_in in;

	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_worker_output(&sb, &m), 0);
	open_only_frame(&sb, &in, MSG_WORKER_OUTPUT);
	ck_assert_int_eq(msg_decode_worker_output(&in, sizeof(data), &out), 0);
	ck_assert_uint_eq(out.stream, m.stream);
	ck_assert_uint_eq(out.len, sizeof(data));
	ck_assert_mem_eq(out.data, data, sizeof(data));
	ck_assert_int_eq(msg_decode_worker_output(&in, sizeof(data) - 1, &out), -EBADMSG);
	ck_assert_str_eq(in.error, "WORKER_OUTPUT field 'data': 4 bytes exceeds the limit of 3");
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_round_trip_worker_exit)
{
	/* exit 0, exit 255, SIGKILL, SIGSEGV with core, stopped-looking garbage, extremes */
	static const int64_t statuses[] = { 0, 0xff00, 9, 0x8b, 0x137f, -1, INT64_MAX, INT64_MIN };
	struct msg_worker_exit m, out;
	msgpack_sbuffer sb;
	struct msg_in in;
	size_t i;

	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		m.wait_status = statuses[i];
		msgpack_sbuffer_init(&sb);
		ck_assert_int_eq(msg_pack_worker_exit(&sb, &m), 0);
		open_only_frame(&sb, &in, MSG_WORKER_EXIT);
		ck_assert_int_eq(msg_decode_worker_exit(&in, &out), 0);
		ck_assert(out.wait_status == statuses[i]);
		msg_close(&in);
		msgpack_sbuffer_destroy(&sb);
	}
}
END_TEST

START_TEST(test_round_trip_zygote_ready)
{
	struct msg_zygote_ready m, out;
	msgpack_sbuffer sb;
	struct msg_in in;

	m.handlers = make_strlist(5, "h");
	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_zygote_ready(&sb, &m), 0);
	open_only_frame(&sb, &in, MSG_ZYGOTE_READY);
	ck_assert_int_eq(msg_decode_zygote_ready(&in, &out), 0);
	assert_strlist_eq(&out.handlers, &m.handlers);
	strlist_free(&out.handlers);
	msg_close(&in);
	strlist_free(&m.handlers);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_round_trip_zygote_spawn)
{
	struct msg_zygote_spawn m = { .worker_id = 3, .profile = 1 }, out;
	msgpack_sbuffer sb;
	struct msg_in in;

	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_zygote_spawn(&sb, &m), 0);
	open_only_frame(&sb, &in, MSG_ZYGOTE_SPAWN);
	ck_assert_int_eq(msg_decode_zygote_spawn(&in, &out), 0);
	ck_assert_uint_eq(out.worker_id, 3);
	ck_assert_uint_eq(out.profile, 1);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_round_trip_zygote_spawned)
{
	struct msg_zygote_spawned m = { .worker_id = 3, .pid = 4194304 }, out;
	msgpack_sbuffer sb;
	struct msg_in in;

	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_zygote_spawned(&sb, &m), 0);
	open_only_frame(&sb, &in, MSG_ZYGOTE_SPAWNED);
	ck_assert_int_eq(msg_decode_zygote_spawned(&in, &out), 0);
	ck_assert_uint_eq(out.worker_id, 3);
	ck_assert(out.pid == 4194304);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_round_trip_zygote_spawn_failed)
{
	struct msg_zygote_spawn_failed m = { .worker_id = 4, .error = -EPERM,
					     .message = "clone3: Operation not permitted" };
	struct msg_zygote_spawn_failed out;
	msgpack_sbuffer sb;
	struct msg_in in;

	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_zygote_spawn_failed(&sb, &m), 0);
	open_only_frame(&sb, &in, MSG_ZYGOTE_SPAWN_FAILED);
	ck_assert_int_eq(msg_decode_zygote_spawn_failed(&in, &out), 0);
	ck_assert_uint_eq(out.worker_id, 4);
	ck_assert(out.error == -EPERM);
	ck_assert_str_eq(out.message, m.message);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_round_trip_zygote_kill)
{
	struct msg_zygote_kill m = { .worker_id = 0 }, out = { .worker_id = 99 };
	msgpack_sbuffer sb;
	struct msg_in in;

	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_zygote_kill(&sb, &m), 0);
	open_only_frame(&sb, &in, MSG_ZYGOTE_KILL);
	ck_assert_int_eq(msg_decode_zygote_kill(&in, &out), 0);
	ck_assert_uint_eq(out.worker_id, 0);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_round_trip_zygote_exited)
{
	struct msg_zygote_exited m = { .worker_id = 5, .wait_status = 0x8b, .cpu_us = 99,
				       .maxrss_kib = 1ull << 33, .limits = 3 };
	struct msg_zygote_exited out;
	msgpack_sbuffer sb;
	struct msg_in in;

	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_zygote_exited(&sb, &m), 0);
	open_only_frame(&sb, &in, MSG_ZYGOTE_EXITED);
	ck_assert_int_eq(msg_decode_zygote_exited(&in, &out), 0);
	ck_assert_uint_eq(out.worker_id, 5);
	ck_assert(out.wait_status == 0x8b);
	ck_assert(out.cpu_us == 99);
	ck_assert(out.maxrss_kib == 1ull << 33);
	ck_assert_uint_eq(out.limits, 3);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_round_trip_template_spawn)
{
	struct msg_template_spawn m = { .worker_id = UINT32_MAX, .uid = 3000002047u }, out;
	msgpack_sbuffer sb;
	struct msg_in in;

	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_template_spawn(&sb, &m), 0);
	open_only_frame(&sb, &in, MSG_TEMPLATE_SPAWN);
	ck_assert_int_eq(msg_decode_template_spawn(&in, &out), 0);
	ck_assert_uint_eq(out.worker_id, UINT32_MAX);
	ck_assert_uint_eq(out.uid, 3000002047u);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* Frames append: several in one buffer read back in order. */
START_TEST(test_frames_append)
{
	struct msg_hello hello = { .version = 1, .client = "a" };
	struct msg_cancel cancel = { .job_id = 5 };
	struct msg_hello hello_out;
	struct msg_cancel cancel_out;
	msgpack_sbuffer sb;
	struct msg_in in;
	const uint8_t *body;
	uint32_t body_len;
	size_t second;

	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_hello(&sb, &hello), 0);
	second = sb.size;
	ck_assert_int_eq(msg_pack_cancel(&sb, &cancel), 0);

	ck_assert_int_eq(frame_parse_header((const uint8_t *)sb.data, BRIG_DEFAULT_MAX_FRAME,
					    &body_len), 0);
	ck_assert_uint_eq(FRAME_HEADER_SIZE + body_len, second);
	body = (const uint8_t *)sb.data + FRAME_HEADER_SIZE;
	ck_assert_int_eq(msg_open(&in, body, body_len), MSG_HELLO);
	ck_assert_int_eq(msg_decode_hello(&in, &hello_out), 0);
	ck_assert_str_eq(hello_out.client, "a");
	msg_close(&in);

	body = frame_at(&sb, second, &body_len);
	ck_assert_int_eq(msg_open(&in, body, body_len), MSG_CANCEL);
	ck_assert_int_eq(msg_decode_cancel(&in, &cancel_out), 0);
	ck_assert_uint_eq(cancel_out.job_id, 5);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* ---- a table of every message's fields, for the generic negative tests ---- */

enum field_kind {
	F_U32,
	F_OUTCOME,      /* u32, at most BRIG_OUTCOME__MAX */
	F_U64,
	F_I64,
	F_U32_OR_NIL,
	F_NAME,         /* str of at most BRIG_NAME_MAX */
	F_MESSAGE,      /* str of at most BRIG_MESSAGE_MAX */
	F_BIN,
	F_INPUT,        /* bin, or nil for a passed descriptor */
	F_ANY,
	F_TRIPLE,       /* array of 3 unsigned (limits, usage) */
	F_NAME_LIST,
	F_STR_LIST,     /* array of str: descriptors, env (may be empty) */
	F_ARGV,         /* array of str with at least one entry */
	F_PATH,         /* str of at most BRIG_PATH_LEN */
	F_STREAM,       /* u32, 1 (stdout) or 2 (stderr) */
	F_PID,          /* i64 holding a pid */
	F_U32_LIST,     /* array of u32 (groups) */
	F_ABS_PATH,     /* absolute str of at most BRIG_ACCESS_PATH_MAX */
	F_MODE,         /* u32 within R_OK | W_OK | X_OK */
	F_NOTIFY_STATE, /* u32, a monitor_notify_state */
	F_STATUS,       /* printable str of at most BRIG_STATUS_MAX */
};

struct field_spec {
	const char *name;
	enum field_kind kind;
};

struct msg_spec {
	int type;
	const char *name;
	unsigned nfields;
	struct field_spec fields[8];
};

static const struct msg_spec specs[] = {
	{ MSG_HELLO, "HELLO", 2, { { "version", F_U32 }, { "client", F_NAME } } },
	{ MSG_WELCOME, "WELCOME", 5,
	  { { "version", F_U32 }, { "server", F_NAME }, { "limits", F_TRIPLE },
	    { "handlers", F_NAME_LIST }, { "profiles", F_NAME_LIST } } },
	{ MSG_SUBMIT, "SUBMIT", 6,
	  { { "job_id", F_U32 }, { "handler", F_NAME }, { "profile", F_NAME },
	    { "input", F_INPUT }, { "timeout_ms", F_U32 }, { "descriptors", F_STR_LIST } } },
	{ MSG_CANCEL, "CANCEL", 1, { { "job_id", F_U32 } } },
	{ MSG_EXEC, "EXEC", 8,
	  { { "job_id", F_U32 }, { "profile", F_NAME }, { "argv", F_ARGV }, { "env", F_STR_LIST },
	    { "cwd", F_PATH }, { "stdin", F_INPUT }, { "timeout_ms", F_U32 },
	    { "descriptors", F_STR_LIST } } },
	{ MSG_ITEM, "ITEM", 3, { { "job_id", F_U32 }, { "seq", F_U32 }, { "item", F_ANY } } },
	{ MSG_FINAL, "FINAL", 5,
	  { { "job_id", F_U32 }, { "outcome", F_OUTCOME }, { "code", F_I64 },
	    { "message", F_MESSAGE }, { "usage", F_TRIPLE } } },
	{ MSG_OUTPUT, "OUTPUT", 4,
	  { { "job_id", F_U32 }, { "seq", F_U32 }, { "stream", F_STREAM }, { "data", F_BIN } } },
	{ MSG_ERROR, "ERROR", 3,
	  { { "job_id", F_U32_OR_NIL }, { "code", F_U32 }, { "message", F_MESSAGE } } },
	{ MSG_WORKER_READY, "WORKER_READY", 0, { { NULL, F_ANY } } },
	{ MSG_WORKER_JOB, "WORKER_JOB", 3,
	  { { "handler", F_NAME }, { "input", F_INPUT }, { "descriptors", F_STR_LIST } } },
	{ MSG_WORKER_ITEM, "WORKER_ITEM", 1, { { "item", F_ANY } } },
	{ MSG_WORKER_DONE, "WORKER_DONE", 4,
	  { { "status", F_U32 }, { "message", F_MESSAGE }, { "cpu_us", F_U64 },
	    { "maxrss_kib", F_U64 } } },
	{ MSG_WORKER_VIOLATION, "WORKER_VIOLATION", 1, { { "syscall", F_I64 } } },
	{ MSG_WORKER_EXEC, "WORKER_EXEC", 5,
	  { { "argv", F_ARGV }, { "env", F_STR_LIST }, { "cwd", F_PATH }, { "stdin", F_INPUT },
	    { "descriptors", F_STR_LIST } } },
	{ MSG_WORKER_OUTPUT, "WORKER_OUTPUT", 2, { { "stream", F_STREAM }, { "data", F_BIN } } },
	{ MSG_WORKER_EXIT, "WORKER_EXIT", 1, { { "wait_status", F_I64 } } },
	{ MSG_ZYGOTE_READY, "ZYGOTE_READY", 1, { { "handlers", F_NAME_LIST } } },
	{ MSG_ZYGOTE_SPAWN, "ZYGOTE_SPAWN", 2, { { "worker_id", F_U32 }, { "profile", F_U32 } } },
	{ MSG_ZYGOTE_SPAWNED, "ZYGOTE_SPAWNED", 2, { { "worker_id", F_U32 }, { "pid", F_I64 } } },
	{ MSG_ZYGOTE_SPAWN_FAILED, "ZYGOTE_SPAWN_FAILED", 3,
	  { { "worker_id", F_U32 }, { "error", F_I64 }, { "message", F_MESSAGE } } },
	{ MSG_ZYGOTE_KILL, "ZYGOTE_KILL", 1, { { "worker_id", F_U32 } } },
	{ MSG_ZYGOTE_EXITED, "ZYGOTE_EXITED", 5,
	  { { "worker_id", F_U32 }, { "wait_status", F_I64 }, { "cpu_us", F_U64 },
	    { "maxrss_kib", F_U64 }, { "limits", F_U32 } } },
	{ MSG_TEMPLATE_SPAWN, "TEMPLATE_SPAWN", 2, { { "worker_id", F_U32 }, { "uid", F_U32 } } },
	{ MSG_MONITOR_ZYGOTE_START, "MONITOR_ZYGOTE_START", 1, { { "request", F_U32 } } },
	{ MSG_MONITOR_ZYGOTE_STARTED, "MONITOR_ZYGOTE_STARTED", 3,
	  { { "request", F_U32 }, { "pid", F_PID }, { "error", F_I64 } } },
	{ MSG_MONITOR_ZYGOTE_KILL, "MONITOR_ZYGOTE_KILL", 1, { { "pid", F_PID } } },
	{ MSG_MONITOR_ZYGOTE_DIED, "MONITOR_ZYGOTE_DIED", 2,
	  { { "pid", F_PID }, { "wait_status", F_I64 } } },
	{ MSG_MONITOR_ACCESS, "MONITOR_ACCESS", 5,
	  { { "uid", F_U32 }, { "gid", F_U32 }, { "groups", F_U32_LIST }, { "path", F_ABS_PATH },
	    { "mode", F_MODE } } },
	{ MSG_MONITOR_ACCESS_RESULT, "MONITOR_ACCESS_RESULT", 1, { { "error", F_I64 } } },
	{ MSG_MONITOR_NOTIFY, "MONITOR_NOTIFY", 2,
	  { { "state", F_NOTIFY_STATE }, { "status", F_STATUS } } },
};

#define N_SPECS (sizeof(specs) / sizeof(specs[0]))

static void pack_valid_field(msgpack_packer *pk, enum field_kind kind)
{
	switch (kind) {
	case F_U32:
		msgpack_pack_uint32(pk, 7);
		break;
	case F_OUTCOME:
		msgpack_pack_uint32(pk, BRIG_OUTCOME_TIMEOUT);
		break;
	case F_U64:
		msgpack_pack_uint64(pk, 1ull << 40);
		break;
	case F_I64:
		msgpack_pack_int64(pk, -5);
		break;
	case F_U32_OR_NIL:
		msgpack_pack_nil(pk);
		break;
	case F_NAME:
		msgpack_pack_str_with_body(pk, "name", 4);
		break;
	case F_MESSAGE:
		msgpack_pack_str_with_body(pk, "a message", 9);
		break;
	case F_BIN:
	case F_INPUT:
		msgpack_pack_bin_with_body(pk, "xyz", 3);
		break;
	case F_ANY:
		msgpack_pack_map(pk, 1);
		msgpack_pack_str_with_body(pk, "k", 1);
		msgpack_pack_array(pk, 2);
		msgpack_pack_int8(pk, -1);
		msgpack_pack_double(pk, 0.5);
		break;
	case F_TRIPLE:
		msgpack_pack_array(pk, 3);
		msgpack_pack_uint32(pk, 1);
		msgpack_pack_uint32(pk, 2);
		msgpack_pack_uint32(pk, 3);
		break;
	case F_NAME_LIST:
		msgpack_pack_array(pk, 2);
		msgpack_pack_str_with_body(pk, "a", 1);
		msgpack_pack_str_with_body(pk, "b", 1);
		break;
	case F_STR_LIST:
		msgpack_pack_array(pk, 2);
		msgpack_pack_str_with_body(pk, "ro=/usr", 7);
		msgpack_pack_str_with_body(pk, "connect=443", 11);
		break;
	case F_ARGV:
		msgpack_pack_array(pk, 2);
		msgpack_pack_str_with_body(pk, "/bin/echo", 9);
		msgpack_pack_str_with_body(pk, "hi", 2);
		break;
	case F_PATH:
		msgpack_pack_str_with_body(pk, "/tmp", 4);
		break;
	case F_STREAM:
		msgpack_pack_uint32(pk, BRIG_STREAM_STDERR);
		break;
	case F_PID:
		msgpack_pack_int64(pk, 4242);
		break;
	case F_U32_LIST:
		msgpack_pack_array(pk, 2);
		msgpack_pack_uint32(pk, 100);
		msgpack_pack_uint32(pk, 65534);
		break;
	case F_ABS_PATH:
		msgpack_pack_str_with_body(pk, "/etc/shadow", 11);
		break;
	case F_MODE:
		msgpack_pack_uint32(pk, 4);   /* R_OK */
		break;
	case F_NOTIFY_STATE:
		msgpack_pack_uint32(pk, MONITOR_NOTIFY_STATUS);
		break;
	case F_STATUS:
		msgpack_pack_str_with_body(pk, "1 clients", 9);
		break;
	default:
		ck_abort_msg("kind %d", kind);
	}
}

enum wrong_value {
	W_STR,
	W_BIN,
	W_POSITIVE,
	W_NEGATIVE,
	W_FLOAT32,
	W_FLOAT64,
	W_NIL,
	W_BOOL,
	W_ARRAY,
	W_MAP,
	W_EXT,
	W_ABOVE_U32,     /* 2^32 */
	W_ABOVE_I64,     /* 2^63 */
	W_COUNT,
};

#define ALL_BUT(...) (((1u << W_COUNT) - 1) & ~(__VA_ARGS__))
#define BIT(w) (1u << (w))

/* Which wrong values each kind of field must refuse. */
static unsigned wrong_values_for(enum field_kind kind)
{
	switch (kind) {
	case F_U32:
	case F_OUTCOME:
		return ALL_BUT(BIT(W_POSITIVE));
	case F_U64:
		return ALL_BUT(BIT(W_POSITIVE) | BIT(W_ABOVE_U32) | BIT(W_ABOVE_I64));
	case F_I64:
		return ALL_BUT(BIT(W_POSITIVE) | BIT(W_NEGATIVE) | BIT(W_ABOVE_U32));
	case F_U32_OR_NIL:
		return ALL_BUT(BIT(W_POSITIVE) | BIT(W_NIL));
	case F_NAME:
	case F_MESSAGE:
		return ALL_BUT(BIT(W_STR));
	case F_BIN:
		return ALL_BUT(BIT(W_BIN));
	case F_INPUT:
		return ALL_BUT(BIT(W_BIN) | BIT(W_NIL));
	case F_TRIPLE:
		return ALL_BUT(0);
	case F_NAME_LIST:
	case F_STR_LIST:
	case F_ARGV:
		/* W_ARRAY holds strings: a valid list */
		return ALL_BUT(BIT(W_ARRAY));
	case F_PATH:
		return ALL_BUT(BIT(W_STR));
	case F_STREAM:
		/* W_POSITIVE is 5: an int, but no stream */
		return ALL_BUT(0);
	case F_PID:
		/* W_POSITIVE (5) is a pid; -1 and 2^32 are not */
		return ALL_BUT(BIT(W_POSITIVE));
	case F_MODE:
		/* W_POSITIVE is 5: R_OK | X_OK */
	case F_NOTIFY_STATE:
		/* W_POSITIVE is 5: STATUS */
		return ALL_BUT(BIT(W_POSITIVE));
	case F_U32_LIST:
		/* W_ARRAY holds strings, not u32 */
		return ALL_BUT(0);
	case F_ABS_PATH:
		/* W_STR is "oops", not absolute */
		return ALL_BUT(0);
	case F_STATUS:
		return ALL_BUT(BIT(W_STR));
	case F_ANY:
		return 0;
	default:
		ck_abort_msg("kind %d", kind);
		return 0;
	}
}

static void pack_wrong_value(msgpack_packer *pk, enum wrong_value w)
{
	switch (w) {
	case W_STR:
		msgpack_pack_str_with_body(pk, "oops", 4);
		break;
	case W_BIN:
		msgpack_pack_bin_with_body(pk, "oops", 4);
		break;
	case W_POSITIVE:
		msgpack_pack_uint8(pk, 5);
		break;
	case W_NEGATIVE:
		msgpack_pack_int8(pk, -1);
		break;
	case W_FLOAT32:
		msgpack_pack_float(pk, 7.0f);
		break;
	case W_FLOAT64:
		msgpack_pack_double(pk, 7.0);
		break;
	case W_NIL:
		msgpack_pack_nil(pk);
		break;
	case W_BOOL:
		msgpack_pack_true(pk);
		break;
	case W_ARRAY:
		/* holds strings, so it is wrong for a triple too */
		msgpack_pack_array(pk, 3);
		msgpack_pack_str_with_body(pk, "a", 1);
		msgpack_pack_str_with_body(pk, "b", 1);
		msgpack_pack_str_with_body(pk, "c", 1);
		break;
	case W_MAP:
		msgpack_pack_map(pk, 0);
		break;
	case W_EXT:
		msgpack_pack_ext_with_body(pk, "\x01", 1, 1);
		break;
	case W_ABOVE_U32:
		msgpack_pack_uint64(pk, 1ull << 32);
		break;
	case W_ABOVE_I64:
		msgpack_pack_uint64(pk, 1ull << 63);
		break;
	case W_COUNT:
	default:
		ck_abort_msg("wrong value %d", w);
	}
}

/*
 * A body for spec: fields [0, nfields) valid, except that field `replace`
 * (if < nfields) gets wrong value w, and `extra` trailing nils.
 */
static void pack_spec_body(msgpack_sbuffer *sb, const struct msg_spec *spec, unsigned nfields,
			   unsigned replace, enum wrong_value w, unsigned extra)
{
	msgpack_packer pk;
	unsigned i;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 1 + nfields + extra);
	msgpack_pack_uint32(&pk, (uint32_t)spec->type);
	for (i = 0; i < nfields; i++) {
		if (i == replace)
			pack_wrong_value(&pk, w);
		else
			pack_valid_field(&pk, spec->fields[i].kind);
	}
	for (i = 0; i < extra; i++)
		msgpack_pack_nil(&pk);
}

/* Open body (which must open) and decode it; returns the decoder's result. */
static int open_and_decode(const msgpack_sbuffer *sb, struct msg_in *in, int type)
{
	uint8_t *copy = malloc(sb->size);
	int r;

	/* an exact-size copy, so ASan sees reads past the body */
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, sb->data, sb->size);
	r = msg_open(in, copy, sb->size);
	ck_assert_msg(r == type, "msg_open: %d (%s)", r, in->error);
	r = decode_any(in, TEST_INPUT_LIMIT);
	msg_close(in);
	free(copy);
	return r;
}

static void assert_error_names(const struct msg_in *in, const char *message, const char *field,
			       const char *what)
{
	char prefix[128];

	ck_assert_msg(in->error[0] != '\0', "%s %s: empty error text", message, what);
	snprintf(prefix, sizeof(prefix), "%s field '%s", message, field);
	ck_assert_msg(strncmp(in->error, prefix, strlen(prefix)) == 0,
		      "%s %s %s: error \"%s\" does not name the field", message, field, what,
		      in->error);
}

START_TEST(test_spec_valid_body_decodes)
{
	const struct msg_spec *spec = &specs[_i];
	msgpack_sbuffer sb;
	struct msg_in in;
	int r;

	pack_spec_body(&sb, spec, spec->nfields, UINT32_MAX, W_COUNT, 0);
	r = open_and_decode(&sb, &in, spec->type);
	ck_assert_msg(r == 0, "%s: %s", spec->name, in.error);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_spec_wrong_type_for_each_field)
{
	const struct msg_spec *spec = &specs[_i];
	msgpack_sbuffer sb;
	struct msg_in in;
	unsigned field, w, tried = 0;
	int r;

	for (field = 0; field < spec->nfields; field++) {
		unsigned wrong = wrong_values_for(spec->fields[field].kind);

		for (w = 0; w < W_COUNT; w++) {
			if (!(wrong & BIT(w)))
				continue;
			pack_spec_body(&sb, spec, spec->nfields, field, w, 0);
			r = open_and_decode(&sb, &in, spec->type);
			ck_assert_msg(r == -EBADMSG, "%s field %s wrong value %u: %d", spec->name,
				      spec->fields[field].name, w, r);
			assert_error_names(&in, spec->name, spec->fields[field].name, "wrong type");
			msgpack_sbuffer_destroy(&sb);
			tried++;
		}
	}
	if (spec->type != MSG_WORKER_READY && spec->type != MSG_WORKER_ITEM)
		ck_assert_uint_gt(tried, 0);
}
END_TEST

START_TEST(test_spec_missing_field)
{
	const struct msg_spec *spec = &specs[_i];
	msgpack_sbuffer sb;
	struct msg_in in;
	unsigned present;
	int r;

	for (present = 0; present < spec->nfields; present++) {
		pack_spec_body(&sb, spec, present, UINT32_MAX, W_COUNT, 0);
		r = open_and_decode(&sb, &in, spec->type);
		ck_assert_msg(r == -EBADMSG, "%s with %u fields: %d", spec->name, present, r);
		assert_error_names(&in, spec->name, spec->fields[present].name, "missing");
		ck_assert_msg(strstr(in.error, "missing") != NULL, "%s", in.error);
		msgpack_sbuffer_destroy(&sb);
	}
}
END_TEST

START_TEST(test_spec_trailing_field)
{
	const struct msg_spec *spec = &specs[_i];
	char expected[64];
	msgpack_sbuffer sb;
	struct msg_in in;
	int r;

	pack_spec_body(&sb, spec, spec->nfields, UINT32_MAX, W_COUNT, 1);
	r = open_and_decode(&sb, &in, spec->type);
	ck_assert_int_eq(r, -EBADMSG);
	snprintf(expected, sizeof(expected), "%s: 1 trailing field", spec->name);
	ck_assert_str_eq(in.error, expected);
	msgpack_sbuffer_destroy(&sb);

	pack_spec_body(&sb, spec, spec->nfields, UINT32_MAX, W_COUNT, 3);
	r = open_and_decode(&sb, &in, spec->type);
	ck_assert_int_eq(r, -EBADMSG);
	snprintf(expected, sizeof(expected), "%s: 3 trailing fields", spec->name);
	ck_assert_str_eq(in.error, expected);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* Decoders set their out-parameter only on success. */
START_TEST(test_decode_failure_leaves_output)
{
	struct msg_hello hello;
	struct msg_welcome welcome;
	const struct msg_spec *spec;
	msgpack_sbuffer sb;
	struct msg_in in;

	memset(&hello, 0xa5, sizeof(hello));
	spec = &specs[0];
	pack_spec_body(&sb, spec, 2, 1, W_BIN, 0);
	ck_assert_int_eq(msg_open(&in, (const uint8_t *)sb.data, sb.size), MSG_HELLO);
	ck_assert_int_eq(msg_decode_hello(&in, &hello), -EBADMSG);
	ck_assert_uint_eq(hello.version, 0xa5a5a5a5);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);

	/* a WELCOME whose profiles fail after its handlers were allocated: no leak */
	memset(&welcome, 0, sizeof(welcome));
	spec = &specs[1];
	pack_spec_body(&sb, spec, 5, 4, W_MAP, 0);
	ck_assert_int_eq(msg_open(&in, (const uint8_t *)sb.data, sb.size), MSG_WELCOME);
	ck_assert_int_eq(msg_decode_welcome(&in, &welcome), -EBADMSG);
	ck_assert_str_eq(in.error, "WELCOME field 'profiles': expected array, got map");
	ck_assert_ptr_null(welcome.handlers.names);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* ---- field values ---- */

/* Pack [type, values...] from a tiny format: one character per field. */
static void pack_body(msgpack_sbuffer *sb, int type, const char *format, ...)
{
	msgpack_packer pk;
	va_list ap;
	const char *f;
	const char *s;
	const char *const *v;
	const size_t *lens;
	size_t len, i;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 1 + strlen(format));
	msgpack_pack_int(&pk, type);
	va_start(ap, format);
	for (f = format; *f; f++) {
		switch (*f) {
		case 'u':   /* uint64_t */
			msgpack_pack_uint64(&pk, va_arg(ap, uint64_t));
			break;
		case 'i':   /* int64_t */
			msgpack_pack_int64(&pk, va_arg(ap, int64_t));
			break;
		case 's':   /* NUL-terminated str */
			s = va_arg(ap, const char *);
			msgpack_pack_str_with_body(&pk, s, strlen(s));
			break;
		case 'S':   /* str with explicit length: size_t, const char * */
			len = va_arg(ap, size_t);
			s = va_arg(ap, const char *);
			msgpack_pack_str_with_body(&pk, s, len);
			break;
		case 'b':   /* bin: size_t, const void * */
			len = va_arg(ap, size_t);
			s = va_arg(ap, const char *);
			msgpack_pack_bin_with_body(&pk, s, len);
			break;
		case 'n':
			msgpack_pack_nil(&pk);
			break;
		case 'l':   /* array of str: size_t count, const char *const *, const size_t *lens */
			len = va_arg(ap, size_t);
			v = va_arg(ap, const char *const *);
			lens = va_arg(ap, const size_t *);   /* NULL: strlen of each */
			msgpack_pack_array(&pk, len);
			for (i = 0; i < len; i++)
				msgpack_pack_str_with_body(&pk, v[i], lens ? lens[i] : strlen(v[i]));
			break;
		case 't':   /* array of 3 unsigned */
			msgpack_pack_array(&pk, 3);
			msgpack_pack_uint64(&pk, va_arg(ap, uint64_t));
			msgpack_pack_uint64(&pk, va_arg(ap, uint64_t));
			msgpack_pack_uint64(&pk, va_arg(ap, uint64_t));
			break;
		default:
			ck_abort_msg("pack_body format '%c'", *f);
		}
	}
	va_end(ap);
}

static int decode_body(const msgpack_sbuffer *sb, struct msg_in *in, size_t input_limit)
{
	int r = msg_open(in, (const uint8_t *)sb->data, sb->size);

	if (r < 0)
		return r;
	r = decode_any(in, input_limit);
	msg_close(in);
	return r;
}

START_TEST(test_u32_range)
{
	msgpack_sbuffer sb;
	struct msg_in in;
	struct msg_cancel out;

	pack_body(&sb, MSG_CANCEL, "u", (uint64_t)UINT32_MAX);
	ck_assert_int_eq(msg_open(&in, (const uint8_t *)sb.data, sb.size), MSG_CANCEL);
	ck_assert_int_eq(msg_decode_cancel(&in, &out), 0);
	ck_assert_uint_eq(out.job_id, UINT32_MAX);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);

	pack_body(&sb, MSG_CANCEL, "u", (uint64_t)UINT32_MAX + 1);
	ck_assert_int_eq(decode_body(&sb, &in, 0), -EBADMSG);
	ck_assert_str_eq(in.error, "CANCEL field 'job_id': 4294967296 is out of range for u32");
	msgpack_sbuffer_destroy(&sb);

	pack_body(&sb, MSG_CANCEL, "i", (int64_t)-1);
	ck_assert_int_eq(decode_body(&sb, &in, 0), -EBADMSG);
	ck_assert_str_eq(in.error, "CANCEL field 'job_id': expected u32, got negative int");
	msgpack_sbuffer_destroy(&sb);

	pack_body(&sb, MSG_ERROR, "usu", (uint64_t)1, "x", (uint64_t)1);
	ck_assert_int_eq(decode_body(&sb, &in, 0), -EBADMSG);
	ck_assert_str_eq(in.error, "ERROR field 'code': expected u32, got str");
	msgpack_sbuffer_destroy(&sb);

	pack_body(&sb, MSG_ERROR, "uus", (uint64_t)UINT32_MAX + 1, (uint64_t)1, "x");
	ck_assert_int_eq(decode_body(&sb, &in, 0), -EBADMSG);
	ck_assert_str_eq(in.error, "ERROR field 'job_id': 4294967296 is out of range for u32");
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* Receivers accept any integer encoding of a value, not only the shortest. */
START_TEST(test_any_integer_encoding)
{
	static const struct {
		const char *bytes;
		size_t len;
	} cancels[] = {
		{ "\x92\x11\x05", 3 },
		{ "\x92\x11\xcc\x05", 4 },
		{ "\x92\x11\xcf\x00\x00\x00\x00\x00\x00\x00\x05", 11 },
		{ "\x92\x11\xd0\x05", 4 },
		{ "\x92\x11\xd3\x00\x00\x00\x00\x00\x00\x00\x05", 11 },
		{ "\x92\xcf\x00\x00\x00\x00\x00\x00\x00\x11\x05", 11 },
	};
	struct msg_cancel out;
	struct msg_in in;
	size_t i;

	for (i = 0; i < sizeof(cancels) / sizeof(cancels[0]); i++) {
		ck_assert_int_eq(msg_open(&in, (const uint8_t *)cancels[i].bytes, cancels[i].len),
				 MSG_CANCEL);
		ck_assert_msg(msg_decode_cancel(&in, &out) == 0, "%zu: %s", i, in.error);
		ck_assert_uint_eq(out.job_id, 5);
		msg_close(&in);
	}
	/* but not a negative one, however it is encoded */
	ck_assert_int_eq(msg_open(&in, (const uint8_t *)"\x92\x11\xd0\xfb", 4), MSG_CANCEL);
	ck_assert_int_eq(msg_decode_cancel(&in, &out), -EBADMSG);
	msg_close(&in);
}
END_TEST

START_TEST(test_i64_range)
{
	msgpack_sbuffer sb;
	struct msg_in in;
	struct msg_zygote_spawned out;

	pack_body(&sb, MSG_ZYGOTE_SPAWNED, "ui", (uint64_t)1, (int64_t)INT64_MIN);
	ck_assert_int_eq(msg_open(&in, (const uint8_t *)sb.data, sb.size), MSG_ZYGOTE_SPAWNED);
	ck_assert_int_eq(msg_decode_zygote_spawned(&in, &out), 0);
	ck_assert(out.pid == INT64_MIN);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);

	pack_body(&sb, MSG_ZYGOTE_SPAWNED, "uu", (uint64_t)1, (uint64_t)INT64_MAX);
	ck_assert_int_eq(msg_open(&in, (const uint8_t *)sb.data, sb.size), MSG_ZYGOTE_SPAWNED);
	ck_assert_int_eq(msg_decode_zygote_spawned(&in, &out), 0);
	ck_assert(out.pid == INT64_MAX);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);

	pack_body(&sb, MSG_ZYGOTE_SPAWNED, "uu", (uint64_t)1, (uint64_t)INT64_MAX + 1);
	ck_assert_int_eq(decode_body(&sb, &in, 0), -EBADMSG);
	ck_assert_str_eq(in.error,
			 "ZYGOTE_SPAWNED field 'pid': 9223372036854775808 is out of range for i64");
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_u64_full_range)
{
	msgpack_sbuffer sb;
	struct msg_in in;
	struct msg_worker_done out;

	pack_body(&sb, MSG_WORKER_DONE, "usuu", (uint64_t)0, "", UINT64_MAX, (uint64_t)0);
	ck_assert_int_eq(msg_open(&in, (const uint8_t *)sb.data, sb.size), MSG_WORKER_DONE);
	ck_assert_int_eq(msg_decode_worker_done(&in, &out), 0);
	ck_assert(out.cpu_us == UINT64_MAX);
	ck_assert_str_eq(out.message, "");
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);

	pack_body(&sb, MSG_WORKER_DONE, "usiu", (uint64_t)0, "", (int64_t)-3, (uint64_t)0);
	ck_assert_int_eq(decode_body(&sb, &in, 0), -EBADMSG);
	ck_assert_str_eq(in.error, "WORKER_DONE field 'cpu_us': expected u64, got negative int");
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

START_TEST(test_string_limits)
{
	char *name_ok = repeat('n', BRIG_NAME_MAX);
	char *name_long = repeat('n', BRIG_NAME_MAX + 1);
	char *message_ok = repeat('m', BRIG_MESSAGE_MAX);
	char *message_long = repeat('m', BRIG_MESSAGE_MAX + 1);
	struct msg_hello hello;
	struct msg_error error;
	msgpack_sbuffer sb;
	struct msg_in in;

	pack_body(&sb, MSG_HELLO, "us", (uint64_t)1, name_ok);
	ck_assert_int_eq(msg_open(&in, (const uint8_t *)sb.data, sb.size), MSG_HELLO);
	ck_assert_int_eq(msg_decode_hello(&in, &hello), 0);
	ck_assert_str_eq(hello.client, name_ok);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);

	pack_body(&sb, MSG_HELLO, "us", (uint64_t)1, name_long);
	ck_assert_int_eq(decode_body(&sb, &in, 0), -EBADMSG);
	ck_assert_str_eq(in.error, "HELLO field 'client': 65 bytes exceeds the limit of 64");
	msgpack_sbuffer_destroy(&sb);

	pack_body(&sb, MSG_ERROR, "nus", (uint64_t)1, message_ok);
	ck_assert_int_eq(msg_open(&in, (const uint8_t *)sb.data, sb.size), MSG_ERROR);
	ck_assert_int_eq(msg_decode_error(&in, &error), 0);
	ck_assert_uint_eq(strlen(error.message), BRIG_MESSAGE_MAX);
	ck_assert(!error.has_job);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);

	pack_body(&sb, MSG_ERROR, "nus", (uint64_t)1, message_long);
	ck_assert_int_eq(decode_body(&sb, &in, 0), -EBADMSG);
	ck_assert_str_eq(in.error, "ERROR field 'message': 1025 bytes exceeds the limit of 1024");
	msgpack_sbuffer_destroy(&sb);

	pack_body(&sb, MSG_SUBMIT, "ussbu", (uint64_t)1, "h", name_long, (size_t)0, "",
		  (uint64_t)0);
	ck_assert_int_eq(decode_body(&sb, &in, 0), -EBADMSG);
	ck_assert_str_eq(in.error, "SUBMIT field 'profile': 65 bytes exceeds the limit of 64");
	msgpack_sbuffer_destroy(&sb);

	free(name_ok);
	free(name_long);
	free(message_ok);
	free(message_long);
}
END_TEST

START_TEST(test_string_with_nul)
{
	msgpack_sbuffer sb;
	struct msg_in in;

	pack_body(&sb, MSG_HELLO, "uS", (uint64_t)1, (size_t)5, "ab\0cd");
	ck_assert_int_eq(decode_body(&sb, &in, 0), -EBADMSG);
	ck_assert_str_eq(in.error, "HELLO field 'client': contains a NUL byte");
	msgpack_sbuffer_destroy(&sb);

	pack_body(&sb, MSG_WORKER_JOB, "Sb", (size_t)1, "\0", (size_t)0, "");
	ck_assert_int_eq(decode_body(&sb, &in, 0), -EBADMSG);
	ck_assert_str_eq(in.error, "WORKER_JOB field 'handler': contains a NUL byte");
	msgpack_sbuffer_destroy(&sb);

	pack_body(&sb, MSG_FINAL, "uuiSt", (uint64_t)1, (uint64_t)0, (int64_t)0, (size_t)3,
		  "ok\0", (uint64_t)1, (uint64_t)2, (uint64_t)3);
	ck_assert_int_eq(decode_body(&sb, &in, 0), -EBADMSG);
	ck_assert_str_eq(in.error, "FINAL field 'message': contains a NUL byte");
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_str_is_not_bin)
{
	msgpack_sbuffer sb;
	struct msg_in in;

	pack_body(&sb, MSG_SUBMIT, "ubsbu", (uint64_t)1, (size_t)4, "echo", "", (size_t)0, "",
		  (uint64_t)0);
	ck_assert_int_eq(decode_body(&sb, &in, 0), -EBADMSG);
	ck_assert_str_eq(in.error, "SUBMIT field 'handler': expected str, got bin");
	msgpack_sbuffer_destroy(&sb);

	pack_body(&sb, MSG_SUBMIT, "uuss", (uint64_t)1, (uint64_t)3, "", "");
	ck_assert_int_eq(decode_body(&sb, &in, 0), -EBADMSG);
	ck_assert_str_eq(in.error, "SUBMIT field 'handler': expected str, got positive int");
	msgpack_sbuffer_destroy(&sb);

	/* and input must be bin, not str */
	pack_body(&sb, MSG_SUBMIT, "usssu", (uint64_t)1, "echo", "", "data", (uint64_t)0);
	ck_assert_int_eq(decode_body(&sb, &in, 100), -EBADMSG);
	ck_assert_str_eq(in.error, "SUBMIT field 'input': expected bin or nil, got str");
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_bin_limit)
{
	const size_t limit = 8388608, big = 9000000;
	char *input = calloc(1, big);
	struct msg_submit submit;
	struct msg_worker_job job;
	msgpack_sbuffer sb;
	struct msg_in in;

	ck_assert_ptr_nonnull(input);
	pack_body(&sb, MSG_SUBMIT, "ussbul", (uint64_t)1, "echo", "", big, input, (uint64_t)0,
		  (size_t)0, NULL, NULL);
	ck_assert_int_eq(decode_body(&sb, &in, limit), -EBADMSG);
	ck_assert_str_eq(in.error, "SUBMIT field 'input': 9000000 bytes exceeds the limit of 8388608");
	msgpack_sbuffer_destroy(&sb);

	/* exactly at the limit is fine */
	pack_body(&sb, MSG_SUBMIT, "ussbul", (uint64_t)1, "echo", "", limit, input, (uint64_t)0,
		  (size_t)0, NULL, NULL);
	ck_assert_int_eq(msg_open(&in, (const uint8_t *)sb.data, sb.size), MSG_SUBMIT);
	ck_assert_int_eq(msg_decode_submit(&in, limit, &submit), 0);
	ck_assert_uint_eq(submit.input_len, limit);
	ck_assert_int_eq(msg_decode_submit(&in, limit - 1, &submit), -EBADMSG);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);

	pack_body(&sb, MSG_WORKER_JOB, "sbl", "echo", (size_t)11, input, (size_t)0, NULL, NULL);
	ck_assert_int_eq(msg_open(&in, (const uint8_t *)sb.data, sb.size), MSG_WORKER_JOB);
	ck_assert_int_eq(msg_decode_worker_job(&in, 10, &job), -EBADMSG);
	ck_assert_str_eq(in.error, "WORKER_JOB field 'input': 11 bytes exceeds the limit of 10");
	ck_assert_int_eq(msg_decode_worker_job(&in, 11, &job), 0);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);
	free(input);
}
END_TEST

START_TEST(test_final_outcome_range)
{
	msgpack_sbuffer sb;
	struct msg_in in;

	pack_body(&sb, MSG_FINAL, "uuist", (uint64_t)1, (uint64_t)BRIG_OUTCOME__MAX, (int64_t)0,
		  "", (uint64_t)1, (uint64_t)2, (uint64_t)3);
	ck_assert_int_eq(decode_body(&sb, &in, 0), 0);
	msgpack_sbuffer_destroy(&sb);

	pack_body(&sb, MSG_FINAL, "uuist", (uint64_t)1, (uint64_t)BRIG_OUTCOME__MAX + 1,
		  (int64_t)0, "", (uint64_t)1, (uint64_t)2, (uint64_t)3);
	ck_assert_int_eq(decode_body(&sb, &in, 0), -EBADMSG);
	ck_assert_str_eq(in.error, "FINAL field 'outcome': 11 is not a known outcome");
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* Pack a FINAL or WELCOME whose inner array has n entries. */
static void pack_with_inner_array(msgpack_sbuffer *sb, int type, unsigned n)
{
	msgpack_packer pk;
	unsigned i;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 6);
	msgpack_pack_int(&pk, type);
	msgpack_pack_uint32(&pk, 1);
	if (type == MSG_FINAL) {
		msgpack_pack_uint32(&pk, 0);
		msgpack_pack_int64(&pk, 0);
		msgpack_pack_str_with_body(&pk, "", 0);
	} else {
		msgpack_pack_str_with_body(&pk, "brigd", 5);
	}
	msgpack_pack_array(&pk, n);
	for (i = 0; i < n; i++)
		msgpack_pack_uint32(&pk, i);
	if (type == MSG_WELCOME) {
		msgpack_pack_array(&pk, 0);
		msgpack_pack_array(&pk, 0);
	}
}

START_TEST(test_inner_array_sizes)
{
	msgpack_sbuffer sb;
	struct msg_in in;

	pack_with_inner_array(&sb, MSG_WELCOME, 2);
	ck_assert_int_eq(decode_body(&sb, &in, 0), -EBADMSG);
	ck_assert_str_eq(in.error, "WELCOME field 'limits.max_jobs': missing");
	msgpack_sbuffer_destroy(&sb);

	pack_with_inner_array(&sb, MSG_WELCOME, 4);
	ck_assert_int_eq(decode_body(&sb, &in, 0), -EBADMSG);
	ck_assert_str_eq(in.error, "WELCOME field 'limits': 4 entries exceeds the limit of 3");
	msgpack_sbuffer_destroy(&sb);

	pack_with_inner_array(&sb, MSG_WELCOME, 3);
	ck_assert_int_eq(decode_body(&sb, &in, 0), 0);
	msgpack_sbuffer_destroy(&sb);

	pack_with_inner_array(&sb, MSG_FINAL, 0);
	ck_assert_int_eq(decode_body(&sb, &in, 0), -EBADMSG);
	ck_assert_str_eq(in.error, "FINAL field 'usage.wall_us': missing");
	msgpack_sbuffer_destroy(&sb);

	pack_with_inner_array(&sb, MSG_FINAL, 4);
	ck_assert_int_eq(decode_body(&sb, &in, 0), -EBADMSG);
	ck_assert_str_eq(in.error, "FINAL field 'usage': 4 entries exceeds the limit of 3");
	msgpack_sbuffer_destroy(&sb);

	pack_with_inner_array(&sb, MSG_FINAL, 3);
	ck_assert_int_eq(decode_body(&sb, &in, 0), 0);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* A ZYGOTE_READY body whose handler list is given as msgpack objects. */
static void pack_zygote_ready_list(msgpack_sbuffer *sb, size_t count, size_t bad_index,
				   const char *bad, size_t bad_len, bool bad_is_bin)
{
	msgpack_packer pk;
	char name[32];
	size_t i;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_int(&pk, MSG_ZYGOTE_READY);
	msgpack_pack_array(&pk, count);
	for (i = 0; i < count; i++) {
		if (i == bad_index && bad_is_bin) {
			msgpack_pack_bin_with_body(&pk, bad, bad_len);
		} else if (i == bad_index) {
			msgpack_pack_str_with_body(&pk, bad, bad_len);
		} else {
			snprintf(name, sizeof(name), "handler%zu", i);
			msgpack_pack_str_with_body(&pk, name, strlen(name));
		}
	}
}

START_TEST(test_name_lists)
{
	char *long_name = repeat('x', BRIG_NAME_MAX + 1);
	struct msg_zygote_ready ready;
	msgpack_sbuffer sb;
	struct msg_in in;

	pack_zygote_ready_list(&sb, BRIG_LIST_MAX, SIZE_MAX, NULL, 0, false);
	ck_assert_int_eq(msg_open(&in, (const uint8_t *)sb.data, sb.size), MSG_ZYGOTE_READY);
	ck_assert_int_eq(msg_decode_zygote_ready(&in, &ready), 0);
	ck_assert_uint_eq(ready.handlers.count, BRIG_LIST_MAX);
	ck_assert_str_eq(ready.handlers.names[BRIG_LIST_MAX - 1], "handler1023");
	strlist_free(&ready.handlers);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);

	pack_zygote_ready_list(&sb, BRIG_LIST_MAX + 1, SIZE_MAX, NULL, 0, false);
	ck_assert_int_eq(decode_body(&sb, &in, 0), -EBADMSG);
	ck_assert_str_eq(in.error,
			 "ZYGOTE_READY field 'handlers': 1025 entries exceeds the limit of 1024");
	msgpack_sbuffer_destroy(&sb);

	pack_zygote_ready_list(&sb, 10, 7, long_name, strlen(long_name), false);
	ck_assert_int_eq(decode_body(&sb, &in, 0), -EBADMSG);
	ck_assert_str_eq(in.error,
			 "ZYGOTE_READY field 'handlers[7]': 65 bytes exceeds the limit of 64");
	msgpack_sbuffer_destroy(&sb);

	pack_zygote_ready_list(&sb, 3, 2, "a\0b", 3, false);
	ck_assert_int_eq(decode_body(&sb, &in, 0), -EBADMSG);
	ck_assert_str_eq(in.error, "ZYGOTE_READY field 'handlers[2]': contains a NUL byte");
	msgpack_sbuffer_destroy(&sb);

	pack_zygote_ready_list(&sb, 3, 0, "abc", 3, true);
	ck_assert_int_eq(decode_body(&sb, &in, 0), -EBADMSG);
	ck_assert_str_eq(in.error, "ZYGOTE_READY field 'handlers[0]': expected str, got bin");
	msgpack_sbuffer_destroy(&sb);

	free(long_name);
}
END_TEST

static const struct msg_spec *spec_for(int type)
{
	for (size_t i = 0; i < N_SPECS; i++)
		if (specs[i].type == type)
			return &specs[i];
	ck_abort_msg("no spec for type %d", type);
	return NULL;
}

/* One list field of a message, as a hostile peer might send it. */
struct list_case {
	int type;
	const char *field;
	size_t count;
	size_t long_at;          /* this entry is long_len bytes of 'x'; SIZE_MAX: none */
	size_t long_len;
	size_t nul_at;           /* this entry is "a\0b"; SIZE_MAX: none */
	size_t wrong_at;         /* this entry is wrong value w; SIZE_MAX: none */
	enum wrong_value w;
	const char *error;       /* NULL: must decode */
};

#define NONE SIZE_MAX

/*
 * A body of c->type with every field valid except the list c->field,
 * which gets c->count entries "e0", "e1", ... and the damage c asks for.
 */
static void pack_list_case(msgpack_sbuffer *sb, const struct list_case *c)
{
	const struct msg_spec *spec = spec_for(c->type);
	msgpack_packer pk;
	char entry[32];
	char *long_entry = c->long_at != NONE ? repeat('x', c->long_len) : NULL;
	bool found = false;
	unsigned i;
	size_t j;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 1 + spec->nfields);
	msgpack_pack_uint32(&pk, (uint32_t)spec->type);
	for (i = 0; i < spec->nfields; i++) {
		if (strcmp(spec->fields[i].name, c->field) != 0) {
			pack_valid_field(&pk, spec->fields[i].kind);
			continue;
		}
		found = true;
		msgpack_pack_array(&pk, c->count);
		for (j = 0; j < c->count; j++) {
			if (j == c->long_at) {
				msgpack_pack_str_with_body(&pk, long_entry, c->long_len);
			} else if (j == c->nul_at) {
				msgpack_pack_str_with_body(&pk, "a\0b", 3);
			} else if (j == c->wrong_at) {
				pack_wrong_value(&pk, c->w);
			} else {
				snprintf(entry, sizeof(entry), "e%zu", j);
				msgpack_pack_str_with_body(&pk, entry, strlen(entry));
			}
		}
	}
	ck_assert_msg(found, "%s has no field %s", spec->name, c->field);
	free(long_entry);
}

static const struct list_case list_cases[] = {
	/* argv: 1..256 entries of at most 4096 bytes */
	{ MSG_EXEC, "argv", 0, NONE, 0, NONE, NONE, W_COUNT,
	  "EXEC field 'argv': needs at least 1 entry" },
	{ MSG_EXEC, "argv", 1, NONE, 0, NONE, NONE, W_COUNT, NULL },
	{ MSG_EXEC, "argv", BRIG_ARGV_MAX, NONE, 0, NONE, NONE, W_COUNT, NULL },
	{ MSG_EXEC, "argv", BRIG_ARGV_MAX + 1, NONE, 0, NONE, NONE, W_COUNT,
	  "EXEC field 'argv': 257 entries exceeds the limit of 256" },
	{ MSG_EXEC, "argv", 3, 2, BRIG_ARG_LEN, NONE, NONE, W_COUNT, NULL },
	{ MSG_EXEC, "argv", 3, 2, BRIG_ARG_LEN + 1, NONE, NONE, W_COUNT,
	  "EXEC field 'argv[2]': 4097 bytes exceeds the limit of 4096" },
	{ MSG_EXEC, "argv", 3, 0, 0, NONE, NONE, W_COUNT, NULL },
	{ MSG_EXEC, "argv", 3, NONE, 0, 1, NONE, W_COUNT,
	  "EXEC field 'argv[1]': contains a NUL byte" },
	{ MSG_EXEC, "argv", 3, NONE, 0, NONE, 1, W_BIN,
	  "EXEC field 'argv[1]': expected str, got bin" },
	{ MSG_EXEC, "argv", 1, NONE, 0, NONE, 0, W_NIL,
	  "EXEC field 'argv[0]': expected str, got nil" },
	{ MSG_EXEC, "argv", 2, NONE, 0, NONE, 1, W_ARRAY,
	  "EXEC field 'argv[1]': expected str, got array" },
	/* env: 0..256 entries of at most 4096 bytes */
	{ MSG_EXEC, "env", 0, NONE, 0, NONE, NONE, W_COUNT, NULL },
	{ MSG_EXEC, "env", BRIG_ARGV_MAX, 7, BRIG_ARG_LEN, NONE, NONE, W_COUNT, NULL },
	{ MSG_EXEC, "env", BRIG_ARGV_MAX + 1, NONE, 0, NONE, NONE, W_COUNT,
	  "EXEC field 'env': 257 entries exceeds the limit of 256" },
	{ MSG_EXEC, "env", 2, 0, BRIG_ARG_LEN + 1, NONE, NONE, W_COUNT,
	  "EXEC field 'env[0]': 4097 bytes exceeds the limit of 4096" },
	{ MSG_EXEC, "env", 2, NONE, 0, 1, NONE, W_COUNT,
	  "EXEC field 'env[1]': contains a NUL byte" },
	{ MSG_EXEC, "env", 2, NONE, 0, NONE, 0, W_POSITIVE,
	  "EXEC field 'env[0]': expected str, got positive int" },
	/* descriptors: 0..64 entries of at most 512 bytes, in every message that has them */
	{ MSG_EXEC, "descriptors", 0, NONE, 0, NONE, NONE, W_COUNT, NULL },
	{ MSG_EXEC, "descriptors", BRIG_DESCRIPTORS_MAX, 63, BRIG_DESCRIPTOR_LEN, NONE,
	  NONE, W_COUNT, NULL },
	{ MSG_EXEC, "descriptors", BRIG_DESCRIPTORS_MAX + 1, NONE, 0, NONE, NONE, W_COUNT,
	  "EXEC field 'descriptors': 65 entries exceeds the limit of 64" },
	{ MSG_EXEC, "descriptors", 1, 0, BRIG_DESCRIPTOR_LEN + 1, NONE, NONE, W_COUNT,
	  "EXEC field 'descriptors[0]': 513 bytes exceeds the limit of 512" },
	{ MSG_SUBMIT, "descriptors", 0, NONE, 0, NONE, NONE, W_COUNT, NULL },
	{ MSG_SUBMIT, "descriptors", BRIG_DESCRIPTORS_MAX, 0, BRIG_DESCRIPTOR_LEN, NONE,
	  NONE, W_COUNT, NULL },
	{ MSG_SUBMIT, "descriptors", BRIG_DESCRIPTORS_MAX + 1, NONE, 0, NONE, NONE, W_COUNT,
	  "SUBMIT field 'descriptors': 65 entries exceeds the limit of 64" },
	{ MSG_SUBMIT, "descriptors", 4, 3, BRIG_DESCRIPTOR_LEN + 1, NONE, NONE, W_COUNT,
	  "SUBMIT field 'descriptors[3]': 513 bytes exceeds the limit of 512" },
	{ MSG_SUBMIT, "descriptors", 4, NONE, 0, 2, NONE, W_COUNT,
	  "SUBMIT field 'descriptors[2]': contains a NUL byte" },
	{ MSG_SUBMIT, "descriptors", 4, NONE, 0, NONE, 3, W_BIN,
	  "SUBMIT field 'descriptors[3]': expected str, got bin" },
	{ MSG_SUBMIT, "descriptors", 1, NONE, 0, NONE, 0, W_MAP,
	  "SUBMIT field 'descriptors[0]': expected str, got map" },
	{ MSG_WORKER_JOB, "descriptors", BRIG_DESCRIPTORS_MAX, NONE, 0, NONE, NONE, W_COUNT,
	  NULL },
	{ MSG_WORKER_JOB, "descriptors", BRIG_DESCRIPTORS_MAX + 1, NONE, 0, NONE, NONE,
	  W_COUNT, "WORKER_JOB field 'descriptors': 65 entries exceeds the limit of 64" },
	{ MSG_WORKER_JOB, "descriptors", 2, 1, BRIG_DESCRIPTOR_LEN + 1, NONE, NONE, W_COUNT,
	  "WORKER_JOB field 'descriptors[1]': 513 bytes exceeds the limit of 512" },
	{ MSG_WORKER_JOB, "descriptors", 2, NONE, 0, 0, NONE, W_COUNT,
	  "WORKER_JOB field 'descriptors[0]': contains a NUL byte" },
	/* the worker's copy of an exec job is held to the same limits */
	{ MSG_WORKER_EXEC, "argv", 0, NONE, 0, NONE, NONE, W_COUNT,
	  "WORKER_EXEC field 'argv': needs at least 1 entry" },
	{ MSG_WORKER_EXEC, "argv", BRIG_ARGV_MAX, NONE, 0, NONE, NONE, W_COUNT, NULL },
	{ MSG_WORKER_EXEC, "argv", BRIG_ARGV_MAX + 1, NONE, 0, NONE, NONE, W_COUNT,
	  "WORKER_EXEC field 'argv': 257 entries exceeds the limit of 256" },
	{ MSG_WORKER_EXEC, "argv", 1, 0, BRIG_ARG_LEN + 1, NONE, NONE, W_COUNT,
	  "WORKER_EXEC field 'argv[0]': 4097 bytes exceeds the limit of 4096" },
	{ MSG_WORKER_EXEC, "argv", 2, NONE, 0, 1, NONE, W_COUNT,
	  "WORKER_EXEC field 'argv[1]': contains a NUL byte" },
	{ MSG_WORKER_EXEC, "env", BRIG_ARGV_MAX + 1, NONE, 0, NONE, NONE, W_COUNT,
	  "WORKER_EXEC field 'env': 257 entries exceeds the limit of 256" },
	{ MSG_WORKER_EXEC, "env", 1, NONE, 0, NONE, 0, W_EXT,
	  "WORKER_EXEC field 'env[0]': expected str, got ext" },
	{ MSG_WORKER_EXEC, "descriptors", BRIG_DESCRIPTORS_MAX + 1, NONE, 0, NONE, NONE,
	  W_COUNT, "WORKER_EXEC field 'descriptors': 65 entries exceeds the limit of 64" },
	{ MSG_WORKER_EXEC, "descriptors", 1, 0, BRIG_DESCRIPTOR_LEN + 1, NONE, NONE, W_COUNT,
	  "WORKER_EXEC field 'descriptors[0]': 513 bytes exceeds the limit of 512" },
};

#define N_LIST_CASES (sizeof(list_cases) / sizeof(list_cases[0]))

START_TEST(test_str_lists)
{
	const struct list_case *c = &list_cases[_i];
	msgpack_sbuffer sb;
	struct msg_in in;
	int r;

	pack_list_case(&sb, c);
	r = open_and_decode(&sb, &in, c->type);
	if (c->error == NULL) {
		ck_assert_msg(r == 0, "case %d: %s", _i, in.error);
	} else {
		ck_assert_msg(r == -EBADMSG, "case %d: %d", _i, r);
		ck_assert_msg(strcmp(in.error, c->error) == 0, "case %d: \"%s\"", _i, in.error);
	}
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_exec_cwd_limit)
{
	char *cwd_ok = repeat('d', BRIG_PATH_LEN);
	char *cwd_long = repeat('d', BRIG_PATH_LEN + 1);
	static const char *const argv[] = { "ls" };
	struct msg_exec exec;
	struct msg_worker_exec worker_exec;
	msgpack_sbuffer sb;
	struct msg_in in;

	pack_body(&sb, MSG_EXEC, "usllsbul", (uint64_t)1, "exec", (size_t)1, argv, NULL,
		  (size_t)0, NULL, NULL, cwd_ok, (size_t)0, "", (uint64_t)0, (size_t)0, NULL, NULL);
	ck_assert_int_eq(msg_open(&in, (const uint8_t *)sb.data, sb.size), MSG_EXEC);
	ck_assert_int_eq(msg_decode_exec(&in, 0, &exec), 0);
	ck_assert_uint_eq(strlen(exec.cwd), BRIG_PATH_LEN);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);

	pack_body(&sb, MSG_EXEC, "usllsbul", (uint64_t)1, "exec", (size_t)1, argv, NULL,
		  (size_t)0, NULL, NULL, cwd_long, (size_t)0, "", (uint64_t)0, (size_t)0, NULL, NULL);
	ck_assert_int_eq(decode_body(&sb, &in, 0), -EBADMSG);
	ck_assert_str_eq(in.error, "EXEC field 'cwd': 257 bytes exceeds the limit of 256");
	msgpack_sbuffer_destroy(&sb);

	pack_body(&sb, MSG_EXEC, "usllSbul", (uint64_t)1, "exec", (size_t)1, argv, NULL,
		  (size_t)0, NULL, NULL, (size_t)4, "/t\0p", (size_t)0, "", (uint64_t)0, (size_t)0,
		  NULL, NULL);
	ck_assert_int_eq(decode_body(&sb, &in, 0), -EBADMSG);
	ck_assert_str_eq(in.error, "EXEC field 'cwd': contains a NUL byte");
	msgpack_sbuffer_destroy(&sb);

	pack_body(&sb, MSG_WORKER_EXEC, "llsbl", (size_t)1, argv, NULL, (size_t)0, NULL, NULL,
		  cwd_long, (size_t)0, "", (size_t)0, NULL, NULL);
	ck_assert_int_eq(decode_body(&sb, &in, 0), -EBADMSG);
	ck_assert_str_eq(in.error, "WORKER_EXEC field 'cwd': 257 bytes exceeds the limit of 256");
	msgpack_sbuffer_destroy(&sb);

	pack_body(&sb, MSG_WORKER_EXEC, "llsbl", (size_t)1, argv, NULL, (size_t)0, NULL, NULL,
		  cwd_ok, (size_t)0, "", (size_t)0, NULL, NULL);
	ck_assert_int_eq(msg_open(&in, (const uint8_t *)sb.data, sb.size), MSG_WORKER_EXEC);
	ck_assert_int_eq(msg_decode_worker_exec(&in, 0, &worker_exec), 0);
	ck_assert_str_eq(worker_exec.cwd, cwd_ok);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);

	free(cwd_ok);
	free(cwd_long);
}
END_TEST

/* OUTPUT and WORKER_OUTPUT carry stream 1 or 2, nothing else. */
START_TEST(test_output_stream_values)
{
	static const uint64_t streams[] = { 0, 1, 2, 3, 255, UINT32_MAX };
	struct msg_output output;
	struct msg_worker_output worker_output;
	char expected[128];
	msgpack_sbuffer sb;
	struct msg_in in;
	size_t i;
	bool valid;

	for (i = 0; i < sizeof(streams) / sizeof(streams[0]); i++) {
		valid = streams[i] == BRIG_STREAM_STDOUT || streams[i] == BRIG_STREAM_STDERR;

		pack_body(&sb, MSG_OUTPUT, "uuub", (uint64_t)1, (uint64_t)0, streams[i], (size_t)2,
			  "ok");
		ck_assert_int_eq(msg_open(&in, (const uint8_t *)sb.data, sb.size), MSG_OUTPUT);
		memset(&output, 0x5a, sizeof(output));
		if (valid) {
			ck_assert_int_eq(msg_decode_output(&in, 2, &output), 0);
			ck_assert_uint_eq(output.stream, streams[i]);
		} else {
			ck_assert_int_eq(msg_decode_output(&in, 2, &output), -EBADMSG);
			snprintf(expected, sizeof(expected), "OUTPUT field 'stream': %" PRIu64
				 " is neither 1 (stdout) nor 2 (stderr)", streams[i]);
			ck_assert_str_eq(in.error, expected);
			/* and nothing was written on failure */
			ck_assert_uint_eq(output.job_id, 0x5a5a5a5a);
		}
		msg_close(&in);
		msgpack_sbuffer_destroy(&sb);

		pack_body(&sb, MSG_WORKER_OUTPUT, "ub", streams[i], (size_t)2, "ok");
		ck_assert_int_eq(msg_open(&in, (const uint8_t *)sb.data, sb.size),
				 MSG_WORKER_OUTPUT);
		if (valid) {
			ck_assert_int_eq(msg_decode_worker_output(&in, 2, &worker_output), 0);
			ck_assert_uint_eq(worker_output.stream, streams[i]);
		} else {
			ck_assert_int_eq(msg_decode_worker_output(&in, 2, &worker_output), -EBADMSG);
			snprintf(expected, sizeof(expected), "WORKER_OUTPUT field 'stream': %" PRIu64
				 " is neither 1 nor 2", streams[i]);
			ck_assert_str_eq(in.error, expected);
		}
		msg_close(&in);
		msgpack_sbuffer_destroy(&sb);
	}

	/* the data is bin, not str, and bounded by the limit */
	pack_body(&sb, MSG_OUTPUT, "uuus", (uint64_t)1, (uint64_t)0, (uint64_t)1, "text");
	ck_assert_int_eq(decode_body(&sb, &in, 100), -EBADMSG);
	ck_assert_str_eq(in.error, "OUTPUT field 'data': expected bin, got str");
	msgpack_sbuffer_destroy(&sb);
	pack_body(&sb, MSG_OUTPUT, "uuub", (uint64_t)1, (uint64_t)0, (uint64_t)2, (size_t)5,
		  "12345");
	ck_assert_int_eq(decode_body(&sb, &in, 4), -EBADMSG);
	ck_assert_str_eq(in.error, "OUTPUT field 'data': 5 bytes exceeds the limit of 4");
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_strv_get)
{
	static const char *const argv[] = { "", "abc", "0123456789" };
	struct msg_exec m = { .job_id = 1, .argv = { argv, 3, NULL } };
	struct msg_strv undecoded = { argv, 3, NULL };
	struct msg_exec out;
	msgpack_sbuffer sb;
	struct msg_in in;
	char buf[11];

	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_exec(&sb, &m), 0);
	open_only_frame(&sb, &in, MSG_EXEC);
	ck_assert_int_eq(msg_decode_exec(&in, 0, &out), 0);
	ck_assert_int_eq(msg_strv_get(&out.argv, 0, buf, 1), 0);
	ck_assert_str_eq(buf, "");
	/* exactly the entry and its NUL */
	ck_assert_int_eq(msg_strv_get(&out.argv, 2, buf, 11), 0);
	ck_assert_str_eq(buf, "0123456789");
	memset(buf, 'z', sizeof(buf));
	ck_assert_int_eq(msg_strv_get(&out.argv, 2, buf, 10), -ENOSPC);
	ck_assert_int_eq(msg_strv_get(&out.argv, 1, buf, 0), -ENOSPC);
	ck_assert_int_eq(msg_strv_get(&out.argv, 3, buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(msg_strv_get(&out.argv, SIZE_MAX, buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(msg_strv_get(&out.env, 0, buf, sizeof(buf)), -EINVAL);
	/* a list built for packing has no decoded array to read from */
	ck_assert_int_eq(msg_strv_get(&undecoded, 0, buf, sizeof(buf)), -EINVAL);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* msg_strv_dup: a NULL-terminated vector for execve, in one block. */
START_TEST(test_strv_dup)
{
	static const char *const argv[] = { "/bin/sh", "", "-c", "echo \"$0\"" };
	struct strv_fixture env = make_strv(BRIG_ARGV_MAX, "E=", BRIG_ARG_LEN);
	struct msg_exec m = { .job_id = 1, .argv = { argv, 4, NULL } };
	struct msg_exec out;
	msgpack_sbuffer sb;
	struct msg_in in;
	char **v;
	size_t i;

	m.env = strv_of(&env);
	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_exec(&sb, &m), 0);
	open_only_frame(&sb, &in, MSG_EXEC);
	ck_assert_int_eq(msg_decode_exec(&in, 0, &out), 0);

	v = msg_strv_dup(&out.argv);
	ck_assert_ptr_nonnull(v);
	for (i = 0; i < 4; i++)
		ck_assert_str_eq(v[i], argv[i]);
	ck_assert_ptr_null(v[4]);
	free(v);

	v = msg_strv_dup(&out.env);
	ck_assert_ptr_nonnull(v);
	for (i = 0; i < env.count; i++)
		ck_assert_str_eq(v[i], env.entries[i]);
	ck_assert_ptr_null(v[env.count]);
	free(v);

	/* an empty list is a vector holding only the terminator */
	v = msg_strv_dup(&out.descriptors);
	ck_assert_ptr_nonnull(v);
	ck_assert_ptr_null(v[0]);
	free(v);

	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);
	free_strv(&env);
}
END_TEST

/* ---- msg_open ---- */

START_TEST(test_open_refuses_non_messages)
{
	static const struct {
		const char *name;
		const char *bytes;
		size_t len;
		const char *error;
	} bad[] = {
#define BAD(name, literal, error) { name, literal, sizeof(literal) - 1, error }
		BAD("a map", "\x81\x01\x02", "expected an array, got map"),
		BAD("an int", "\x01", "expected an array, got positive int"),
		BAD("a str", "\xa5" "HELLO", "expected an array, got str"),
		BAD("nil", "\xc0", "expected an array, got nil"),
		BAD("an empty array", "\x90", "empty array, no message type"),
		BAD("a str type", "\x91\xa5" "HELLO",
		    "message type: expected positive int, got str"),
		BAD("a negative type", "\x91\xff",
		    "message type: expected positive int, got negative int"),
		BAD("a float type", "\x91\xca\x3f\x80\x00\x00",
		    "message type: expected positive int, got float32"),
		BAD("a nil type", "\x91\xc0", "message type: expected positive int, got nil"),
		BAD("an array type", "\x91\x91\x01",
		    "message type: expected positive int, got array"),
		BAD("type 0", "\x91\x00", "unknown message type 0"),
		BAD("type 0x03", "\x91\x03", "unknown message type 3"),
		BAD("type 0x13", "\x91\x13", "unknown message type 19"),
		BAD("type 0x23", "\x91\x23", "unknown message type 35"),
		BAD("type 0x48", "\x91\x48", "unknown message type 72"),
		BAD("type 0x56", "\x91\x56", "unknown message type 86"),
		BAD("type 2^32+1", "\x91\xcf\x00\x00\x00\x01\x00\x00\x00\x01",
		    "unknown message type 4294967297"),
		BAD("0xc1", "\xc1", "malformed msgpack: format byte 0xc1 is never used"),
		BAD("a huge array", "\xdd\xff\xff\xff\xff\x01",
		    "malformed msgpack: container count exceeds the remaining bytes"),
		BAD("trailing bytes", "\x91\x40\xc0",
		    "malformed msgpack: trailing bytes after the object"),
		BAD("a truncated frame", "\x92\xa1" "A",
		    "malformed msgpack: truncated: objects missing at the end"),
		BAD("a truncated field", "\x92\x11\xcd\x01",
		    "malformed msgpack: object runs past the end of the buffer"),
		BAD("a short array", "\x92\x11",
		    "malformed msgpack: container count exceeds the remaining bytes"),
#undef BAD
	};
	struct msg_in in;
	uint8_t *copy;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		copy = malloc(bad[i].len);
		ck_assert_ptr_nonnull(copy);
		memcpy(copy, bad[i].bytes, bad[i].len);
		ck_assert_msg(msg_open(&in, copy, bad[i].len) == -EBADMSG, "%s opened", bad[i].name);
		ck_assert_msg(strcmp(in.error, bad[i].error) == 0, "%s: \"%s\"", bad[i].name,
			      in.error);
		ck_assert(!in.open);
		msg_close(&in);
		msg_close(&in);
		free(copy);
	}

	ck_assert_int_eq(msg_open(&in, NULL, 0), -EBADMSG);
	ck_assert_str_eq(in.error, "malformed msgpack: empty buffer");
	msg_close(&in);
}
END_TEST

/* Every proper prefix of every valid frame body is refused, cleanly. */
START_TEST(test_open_truncated_frames)
{
	const struct msg_spec *spec = &specs[_i];
	msgpack_sbuffer sb;
	struct msg_in in;
	uint8_t *copy;
	size_t cut;

	pack_spec_body(&sb, spec, spec->nfields, UINT32_MAX, W_COUNT, 0);
	for (cut = 0; cut < sb.size; cut++) {
		copy = malloc(cut > 0 ? cut : 1);
		ck_assert_ptr_nonnull(copy);
		memcpy(copy, sb.data, cut);
		ck_assert_int_eq(msg_open(&in, copy, cut), -EBADMSG);
		ck_assert(in.error[0] != '\0');
		msg_close(&in);
		free(copy);
	}
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_decoder_must_match_type)
{
	struct msg_cancel cancel = { .job_id = 1 };
	struct msg_hello hello;
	msgpack_sbuffer sb;
	struct msg_in in;

	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_cancel(&sb, &cancel), 0);
	open_only_frame(&sb, &in, MSG_CANCEL);
	ck_assert_int_eq(msg_decode_hello(&in, &hello), -EINVAL);
	ck_assert_str_eq(in.error, "HELLO: the open message is CANCEL");
	msg_close(&in);
	ck_assert_int_eq(msg_decode_cancel(&in, &cancel), -EINVAL);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* nested one-element arrays, `levels` deep, around a nil */
static void pack_nested(msgpack_packer *pk, unsigned levels)
{
	unsigned i;

	for (i = 0; i < levels; i++)
		msgpack_pack_array(pk, 1);
	msgpack_pack_nil(pk);
}

/*
 * msgpack-c cannot unpack more than 32 nested containers, so a frame (whose
 * own array is one level) may carry an item 31 levels deep and no deeper.
 */
START_TEST(test_depth_limit)
{
	msgpack_sbuffer backing, sb;
	msgpack_packer pk;
	msgpack_unpacked item;
	struct msg_item m = { .job_id = 1, .seq = 0 };
	struct msg_in in;
	size_t offset = 0;
	unsigned levels;

	for (levels = 30; levels <= 32; levels++) {
		/* the item as a handler would build it */
		msgpack_sbuffer_init(&backing);
		msgpack_packer_init(&pk, &backing, msgpack_sbuffer_write);
		pack_nested(&pk, levels);
		msgpack_unpacked_init(&item);
		offset = 0;
		ck_assert_int_eq(msgpack_unpack_next(&item, backing.data, backing.size, &offset),
				 MSGPACK_UNPACK_SUCCESS);
		m.item = &item.data;
		msgpack_sbuffer_init(&sb);
		if (levels <= 31) {
			ck_assert_int_eq(msg_pack_item(&sb, &m), 0);
			open_only_frame(&sb, &in, MSG_ITEM);
			ck_assert_int_eq(msg_decode_item(&in, &m), 0);
			msg_close(&in);
		} else {
			/* refused by the sender, not only by the receiver */
			ck_assert_int_eq(msg_pack_item(&sb, &m), -EBADMSG);
			ck_assert_uint_eq(sb.size, 0);
		}
		msgpack_sbuffer_destroy(&sb);
		msgpack_unpacked_destroy(&item);
		msgpack_sbuffer_destroy(&backing);

		/* the same frame built by hand, as a hostile peer would */
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_array(&pk, 4);
		msgpack_pack_int(&pk, MSG_ITEM);
		msgpack_pack_int(&pk, 1);
		msgpack_pack_int(&pk, 0);
		pack_nested(&pk, levels);
		if (levels <= 31) {
			ck_assert_int_eq(decode_body(&sb, &in, 0), 0);
		} else {
			ck_assert_int_eq(msg_open(&in, (const uint8_t *)sb.data, sb.size), -EBADMSG);
			ck_assert_str_eq(in.error, "malformed msgpack: nesting too deep");
			msg_close(&in);
		}
		msgpack_sbuffer_destroy(&sb);
	}
}
END_TEST

/* ---- packers ---- */

START_TEST(test_pack_refuses_what_decoders_refuse)
{
	struct msg_hello hello = { .version = 1 };
	struct msg_final final = { .job_id = 1, .outcome = BRIG_OUTCOME__MAX + 1 };
	struct msg_welcome welcome = { .version = 1, .server = "brigd" };
	struct msg_submit submit = { .job_id = 1, .handler = "echo" };
	char *long_message = repeat('m', BRIG_MESSAGE_MAX + 1);
	msgpack_sbuffer sb;
	size_t before;

	msgpack_sbuffer_init(&sb);
	/* something already queued must survive every failure below */
	ck_assert_int_eq(msg_pack_worker_ready(&sb), 0);
	before = sb.size;

	/* a client name filling its buffer with no terminator: 65 bytes */
	memset(hello.client, 'c', sizeof(hello.client));
	ck_assert_int_eq(msg_pack_hello(&sb, &hello), -EMSGSIZE);
	ck_assert_uint_eq(sb.size, before);

	ck_assert_int_eq(msg_pack_final(&sb, &final), -EINVAL);
	ck_assert_uint_eq(sb.size, before);

	welcome.handlers = make_strlist(BRIG_LIST_MAX + 1, "h");
	ck_assert_int_eq(msg_pack_welcome(&sb, &welcome), -EMSGSIZE);
	ck_assert_uint_eq(sb.size, before);
	strlist_free(&welcome.handlers);

	welcome.handlers = make_strlist(2, "h");
	free(welcome.handlers.names[1]);
	welcome.handlers.names[1] = repeat('h', BRIG_NAME_MAX + 1);
	ck_assert_int_eq(msg_pack_welcome(&sb, &welcome), -EMSGSIZE);
	ck_assert_uint_eq(sb.size, before);
	strlist_free(&welcome.handlers);

	/* checked before a byte of the input is read */
	submit.input = (const uint8_t *)"x";
	submit.input_len = (size_t)BRIG_FRAME_MAX_CEILING + 1;
	ck_assert_int_eq(msg_pack_submit(&sb, &submit), -EMSGSIZE);
	ck_assert_uint_eq(sb.size, before);
	submit.input = NULL;
	submit.input_len = 1;
	ck_assert_int_eq(msg_pack_submit(&sb, &submit), -EINVAL);
	ck_assert_uint_eq(sb.size, before);

	{
		struct msg_worker_done done = { .status = 0 };
		struct msg_item item = { .job_id = 1, .item = NULL };

		memcpy(done.message, long_message, sizeof(done.message));
		ck_assert_int_eq(msg_pack_worker_done(&sb, &done), -EMSGSIZE);
		ck_assert_uint_eq(sb.size, before);
		ck_assert_int_eq(msg_pack_item(&sb, &item), -EINVAL);
		ck_assert_uint_eq(sb.size, before);
	}

	ck_assert_int_eq(msg_pack_worker_ready(&sb), 0);
	ck_assert_uint_eq(sb.size, 2 * before);
	free(long_message);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* What the list decoders refuse, the packers refuse too, before writing anything. */
START_TEST(test_pack_refuses_bad_lists)
{
	static const char *const one[] = { "true" };
	static const char *const with_null[] = { "a", NULL };
	struct strv_fixture many_args = make_strv(BRIG_ARGV_MAX + 1, "a", 0);
	struct strv_fixture long_arg = make_strv(2, "a", BRIG_ARG_LEN + 1);
	struct strv_fixture many_desc = make_strv(BRIG_DESCRIPTORS_MAX + 1, "ro=/", 0);
	struct strv_fixture long_desc = make_strv(1, "ro=/", BRIG_DESCRIPTOR_LEN + 1);
	struct msg_exec exec;
	struct msg_worker_exec worker_exec;
	struct msg_submit submit = { .job_id = 1, .handler = "echo" };
	struct msg_worker_job worker_job = { .handler = "echo" };
	struct msg_output output = { .job_id = 1, .data = (const uint8_t *)"x", .len = 1 };
	struct msg_worker_output worker_output = { .data = (const uint8_t *)"x", .len = 1 };
	msgpack_sbuffer sb;
	size_t before;

	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_worker_ready(&sb), 0);
	before = sb.size;

#define REFUSED(call, err) do { \
		ck_assert_int_eq(call, err); \
		ck_assert_uint_eq(sb.size, before); \
	} while (0)
#define RESET_EXEC() do { \
		memset(&exec, 0, sizeof(exec)); \
		exec.argv.v = one; \
		exec.argv.count = 1; \
		memset(&worker_exec, 0, sizeof(worker_exec)); \
		worker_exec.argv.v = one; \
		worker_exec.argv.count = 1; \
	} while (0)

	RESET_EXEC();
	ck_assert_int_eq(msg_pack_exec(&sb, &exec), 0);
	ck_assert_int_eq(msg_pack_worker_exec(&sb, &worker_exec), 0);
	sb.size = before;

	/* no argv at all */
	exec.argv.count = 0;
	worker_exec.argv.count = 0;
	REFUSED(msg_pack_exec(&sb, &exec), -EINVAL);
	REFUSED(msg_pack_worker_exec(&sb, &worker_exec), -EINVAL);
	exec.argv.v = NULL;
	REFUSED(msg_pack_exec(&sb, &exec), -EINVAL);

	/* a count without a vector, or a NULL entry */
	RESET_EXEC();
	exec.argv.v = NULL;
	worker_exec.argv.v = NULL;
	REFUSED(msg_pack_exec(&sb, &exec), -EINVAL);
	REFUSED(msg_pack_worker_exec(&sb, &worker_exec), -EINVAL);
	RESET_EXEC();
	exec.env.v = with_null;
	exec.env.count = 2;
	REFUSED(msg_pack_exec(&sb, &exec), -EINVAL);
	RESET_EXEC();
	exec.descriptors.count = 1;
	REFUSED(msg_pack_exec(&sb, &exec), -EINVAL);

	/* too many entries, or one too long */
	RESET_EXEC();
	exec.argv = strv_of(&many_args);
	worker_exec.argv = strv_of(&many_args);
	REFUSED(msg_pack_exec(&sb, &exec), -EMSGSIZE);
	REFUSED(msg_pack_worker_exec(&sb, &worker_exec), -EMSGSIZE);
	RESET_EXEC();
	exec.env = strv_of(&many_args);
	worker_exec.env = strv_of(&many_args);
	REFUSED(msg_pack_exec(&sb, &exec), -EMSGSIZE);
	REFUSED(msg_pack_worker_exec(&sb, &worker_exec), -EMSGSIZE);
	RESET_EXEC();
	exec.argv = strv_of(&long_arg);
	worker_exec.env = strv_of(&long_arg);
	REFUSED(msg_pack_exec(&sb, &exec), -EMSGSIZE);
	REFUSED(msg_pack_worker_exec(&sb, &worker_exec), -EMSGSIZE);
	RESET_EXEC();
	exec.descriptors = strv_of(&many_desc);
	worker_exec.descriptors = strv_of(&long_desc);
	REFUSED(msg_pack_exec(&sb, &exec), -EMSGSIZE);
	REFUSED(msg_pack_worker_exec(&sb, &worker_exec), -EMSGSIZE);

	/* a cwd filling its buffer with no terminator */
	RESET_EXEC();
	memset(exec.cwd, '/', sizeof(exec.cwd));
	memset(worker_exec.cwd, '/', sizeof(worker_exec.cwd));
	REFUSED(msg_pack_exec(&sb, &exec), -EMSGSIZE);
	REFUSED(msg_pack_worker_exec(&sb, &worker_exec), -EMSGSIZE);

	/* stdin: NULL with a length */
	RESET_EXEC();
	exec.stdin_len = 1;
	worker_exec.stdin_len = 1;
	REFUSED(msg_pack_exec(&sb, &exec), -EINVAL);
	REFUSED(msg_pack_worker_exec(&sb, &worker_exec), -EINVAL);

	/* SUBMIT and WORKER_JOB descriptors */
	submit.descriptors = strv_of(&many_desc);
	worker_job.descriptors = strv_of(&many_desc);
	REFUSED(msg_pack_submit(&sb, &submit), -EMSGSIZE);
	REFUSED(msg_pack_worker_job(&sb, &worker_job), -EMSGSIZE);
	submit.descriptors = strv_of(&long_desc);
	worker_job.descriptors = strv_of(&long_desc);
	REFUSED(msg_pack_submit(&sb, &submit), -EMSGSIZE);
	REFUSED(msg_pack_worker_job(&sb, &worker_job), -EMSGSIZE);
	submit.descriptors.v = NULL;
	worker_job.descriptors.v = NULL;
	REFUSED(msg_pack_submit(&sb, &submit), -EINVAL);
	REFUSED(msg_pack_worker_job(&sb, &worker_job), -EINVAL);
	submit.descriptors.count = 0;
	ck_assert_int_eq(msg_pack_submit(&sb, &submit), 0);
	sb.size = before;

	/* streams other than 1 and 2 */
	output.stream = 0;
	worker_output.stream = 3;
	REFUSED(msg_pack_output(&sb, &output), -EINVAL);
	REFUSED(msg_pack_worker_output(&sb, &worker_output), -EINVAL);
	output.stream = 3;
	worker_output.stream = 0;
	REFUSED(msg_pack_output(&sb, &output), -EINVAL);
	REFUSED(msg_pack_worker_output(&sb, &worker_output), -EINVAL);
	output.stream = BRIG_STREAM_STDERR;
	output.data = NULL;
	REFUSED(msg_pack_output(&sb, &output), -EINVAL);
#undef RESET_EXEC
#undef REFUSED

	ck_assert_int_eq(msg_pack_worker_ready(&sb), 0);
	ck_assert_uint_eq(sb.size, 2 * before);
	msgpack_sbuffer_destroy(&sb);
	free_strv(&many_args);
	free_strv(&long_arg);
	free_strv(&many_desc);
	free_strv(&long_desc);
}
END_TEST

START_TEST(test_pack_large_input)
{
	const size_t len = BRIG_DEFAULT_MAX_FRAME - BRIG_SUBMIT_OVERHEAD;
	uint8_t *input = malloc(len);
	struct msg_submit m = { .job_id = 1, .handler = "echo", .profile = "default" };
	struct msg_submit out;
	msgpack_sbuffer sb;
	struct msg_in in;
	uint32_t body_len;

	ck_assert_ptr_nonnull(input);
	memset(input, 0xc1, len);
	m.input = input;
	m.input_len = len;
	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_submit(&sb, &m), 0);
	frame_at(&sb, 0, &body_len);
	/* the overhead allowance really covers the rest of a SUBMIT */
	ck_assert_uint_le(body_len, BRIG_DEFAULT_MAX_FRAME);
	open_only_frame(&sb, &in, MSG_SUBMIT);
	ck_assert_int_eq(msg_decode_submit(&in, len, &out), 0);
	ck_assert_uint_eq(out.input_len, len);
	ck_assert(memcmp(out.input, input, len) == 0);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);
	free(input);
}
END_TEST

START_TEST(test_begin_finish)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct msg_item out;
	struct msg_in in;
	const uint8_t *body;
	uint32_t body_len;
	size_t start, before;

	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_worker_ready(&sb), 0);
	before = sb.size;

	/* a handler-packed item, framed by the caller */
	ck_assert_int_eq(msg_begin(&sb, &pk, MSG_ITEM, 3, &start), 0);
	ck_assert_uint_eq(start, before);
	msgpack_pack_uint32(&pk, 12);
	msgpack_pack_uint32(&pk, 0);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_str_with_body(&pk, "w", 1);
	msgpack_pack_int(&pk, -7);
	ck_assert_int_eq(msg_finish(&sb, start, BRIG_DEFAULT_MAX_FRAME), 0);
	body = frame_at(&sb, start, &body_len);
	ck_assert_int_eq(msg_open(&in, body, body_len), MSG_ITEM);
	ck_assert_int_eq(msg_decode_item(&in, &out), 0);
	ck_assert_uint_eq(out.job_id, 12);
	ck_assert_int_eq(out.item->type, MSGPACK_OBJECT_ARRAY);
	ck_assert_int_eq(out.item->via.array.ptr[1].via.i64, -7);
	msg_close(&in);
	sb.size = before;

	/* too few fields packed: the array is truncated */
	ck_assert_int_eq(msg_begin(&sb, &pk, MSG_ITEM, 3, &start), 0);
	msgpack_pack_uint32(&pk, 12);
	ck_assert_int_eq(msg_finish(&sb, start, BRIG_DEFAULT_MAX_FRAME), -EBADMSG);
	ck_assert_uint_eq(sb.size, before);

	/* too many: trailing bytes */
	ck_assert_int_eq(msg_begin(&sb, &pk, MSG_CANCEL, 1, &start), 0);
	msgpack_pack_uint32(&pk, 12);
	msgpack_pack_uint32(&pk, 13);
	ck_assert_int_eq(msg_finish(&sb, start, BRIG_DEFAULT_MAX_FRAME), -EBADMSG);
	ck_assert_uint_eq(sb.size, before);

	/* over max_frame */
	ck_assert_int_eq(msg_begin(&sb, &pk, MSG_WORKER_ITEM, 1, &start), 0);
	msgpack_pack_bin_with_body(&pk, "0123456789", 10);
	ck_assert_int_eq(msg_finish(&sb, start, 12), -EMSGSIZE);
	ck_assert_uint_eq(sb.size, before);
	/* the body is [0x42, bin 10]: 1 + 1 + 2 + 10 bytes */
	ck_assert_int_eq(msg_begin(&sb, &pk, MSG_WORKER_ITEM, 1, &start), 0);
	msgpack_pack_bin_with_body(&pk, "0123456789", 10);
	ck_assert_int_eq(msg_finish(&sb, start, 14), 0);
	ck_assert_uint_eq(sb.size, before + FRAME_HEADER_SIZE + 14);

	/* misuse */
	ck_assert_int_eq(msg_finish(&sb, sb.size + 1, 100), -EINVAL);
	ck_assert_int_eq(msg_finish(&sb, sb.size - 2, 100), -EINVAL);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* ---- names ---- */


/* ---- the monitor's messages: values, not only types ---- */

/* Pack a MONITOR_ACCESS by hand (the packer refuses nothing the decoder checks
 * by value) and decode it; returns the decoder's result. */
static int decode_access(uint32_t uid, uint32_t gid, uint32_t group, const char *path,
			 uint32_t mode, struct msg_monitor_access *out, char *err, size_t err_size)
{
	struct msg_monitor_access m = { .uid = uid, .gid = gid, .group_count = 1, .mode = mode };
	msgpack_sbuffer sb;
	struct msg_in in;
	int r;

	m.groups[0] = group;
	snprintf(m.path, sizeof(m.path), "%s", path);
	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(msg_pack_monitor_access(&sb, &m), 0);
	open_only_frame(&sb, &in, MSG_MONITOR_ACCESS);
	r = msg_decode_monitor_access(&in, out);
	snprintf(err, err_size, "%s", in.error);
	msg_close(&in);
	msgpack_sbuffer_destroy(&sb);
	return r;
}

START_TEST(test_monitor_access_values)
{
	struct msg_monitor_access out;
	char err[256];

	ck_assert_int_eq(decode_access(1000, 1000, 27, "/etc/shadow", 4 | 2, &out, err,
				       sizeof(err)), 0);
	ck_assert_uint_eq(out.uid, 1000);
	ck_assert_uint_eq(out.group_count, 1);
	ck_assert_uint_eq(out.groups[0], 27);
	ck_assert_str_eq(out.path, "/etc/shadow");
	ck_assert_uint_eq(out.mode, 6);

	ck_assert_int_eq(decode_access(1000, 1000, 27, "etc/shadow", 4, &out, err, sizeof(err)),
			 -EBADMSG);
	ck_assert_str_eq(err, "MONITOR_ACCESS field 'path': not an absolute path");
	ck_assert_int_eq(decode_access(1000, 1000, 27, "/x", 8, &out, err, sizeof(err)),
			 -EBADMSG);
	ck_assert_msg(strstr(err, "field 'mode'") != NULL, "%s", err);
	/* -1 would mean "leave unchanged" to setresuid(): root's own id. */
	ck_assert_int_eq(decode_access(UINT32_MAX, 1000, 27, "/x", 4, &out, err, sizeof(err)),
			 -EBADMSG);
	ck_assert_int_eq(decode_access(1000, UINT32_MAX, 27, "/x", 4, &out, err, sizeof(err)),
			 -EBADMSG);
	ck_assert_int_eq(decode_access(1000, 1000, UINT32_MAX, "/x", 4, &out, err, sizeof(err)),
			 -EBADMSG);
}
END_TEST

START_TEST(test_monitor_pid_and_notify_values)
{
	static const int64_t bad_pids[] = { 0, 1, -1, (int64_t)INT32_MAX + 1 };
	msgpack_sbuffer sb;
	struct msg_in in;

	for (size_t i = 0; i < sizeof(bad_pids) / sizeof(bad_pids[0]); i++) {
		struct msg_monitor_zygote_kill out;

		msgpack_sbuffer_init(&sb);
		ck_assert_int_eq(msg_pack_monitor_zygote_kill(&sb, &(struct msg_monitor_zygote_kill){
			bad_pids[i] }), 0);
		open_only_frame(&sb, &in, MSG_MONITOR_ZYGOTE_KILL);
		ck_assert_msg(msg_decode_monitor_zygote_kill(&in, &out) == -EBADMSG,
			      "pid %lld accepted", (long long)bad_pids[i]);
		ck_assert_msg(strstr(in.error, "is not a pid") != NULL, "%s", in.error);
		msg_close(&in);
		msgpack_sbuffer_destroy(&sb);
	}

	{
		static const struct {
			uint32_t state;
			const char *status;
			int expect;
		} cases[] = {
			{ MONITOR_NOTIFY_STATUS, "3 clients, 2 idle workers", 0 },
			{ MONITOR_NOTIFY_READY, "", 0 },
			{ MONITOR_NOTIFY_WATCHDOG, "", 0 },
			{ 0, "", -EBADMSG },
			{ MONITOR_NOTIFY__MAX + 1, "", -EBADMSG },
			/* a second assignment smuggled into sd_notify's text */
			{ MONITOR_NOTIFY_STATUS, "ok\nMAINPID=1", -EBADMSG },
			{ MONITOR_NOTIFY_STATUS, "caf\xc3\xa9", -EBADMSG },
			{ MONITOR_NOTIFY_READY, "text", -EBADMSG },
		};

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			struct msg_monitor_notify m = { .state = cases[i].state }, out;

			snprintf(m.status, sizeof(m.status), "%s", cases[i].status);
			msgpack_sbuffer_init(&sb);
			ck_assert_int_eq(msg_pack_monitor_notify(&sb, &m), 0);
			open_only_frame(&sb, &in, MSG_MONITOR_NOTIFY);
			ck_assert_msg(msg_decode_monitor_notify(&in, &out) == cases[i].expect,
				      "case %zu: %s", i, in.error);
			if (cases[i].expect == 0)
				ck_assert_str_eq(out.status, cases[i].status);
			msg_close(&in);
			msgpack_sbuffer_destroy(&sb);
		}
	}
}
END_TEST

START_TEST(test_names)
{
	static const char *const outcomes[] = {
		"ok", "error", "crashed", "timeout", "cpu_limit", "memory_limit", "pids_limit",
		"output_limit", "violation", "cancelled", "broker_error",
	};
	static const char *const codes[] = {
		"protocol", "version", "unknown_handler", "unknown_profile", "duplicate_job",
		"busy", "too_large", "denied", "unknown_job", "internal", "shutting_down",
		"bad_request",
	};
	size_t i;
	int type, known = 0;

	ck_assert_uint_eq(sizeof(outcomes) / sizeof(outcomes[0]), BRIG_OUTCOME__MAX + 1);
	for (i = 0; i <= BRIG_OUTCOME__MAX; i++)
		ck_assert_str_eq(brig_outcome_name((int)i), outcomes[i]);
	ck_assert_str_eq(brig_outcome_name(-1), "unknown");
	ck_assert_str_eq(brig_outcome_name(BRIG_OUTCOME__MAX + 1), "unknown");

	ck_assert_uint_eq(sizeof(codes) / sizeof(codes[0]), BRIG_ERROR__MAX);
	for (i = 1; i <= BRIG_ERROR__MAX; i++)
		ck_assert_str_eq(brig_error_code_name((int)i), codes[i - 1]);
	ck_assert_str_eq(brig_error_code_name(0), "unknown");
	ck_assert_str_eq(brig_error_code_name(BRIG_ERROR__MAX + 1), "unknown");

	for (i = 0; i < N_SPECS; i++)
		ck_assert_str_eq(msg_type_name(specs[i].type), specs[i].name);
	for (type = -1; type < 0x100; type++)
		if (strcmp(msg_type_name(type), "unknown") != 0)
			known++;
	ck_assert_int_eq(known, (int)N_SPECS);

	ck_assert_str_eq(msgpack_type_name(MSGPACK_OBJECT_NIL), "nil");
	ck_assert_str_eq(msgpack_type_name(MSGPACK_OBJECT_BOOLEAN), "bool");
	ck_assert_str_eq(msgpack_type_name(MSGPACK_OBJECT_POSITIVE_INTEGER), "positive int");
	ck_assert_str_eq(msgpack_type_name(MSGPACK_OBJECT_NEGATIVE_INTEGER), "negative int");
	ck_assert_str_eq(msgpack_type_name(MSGPACK_OBJECT_FLOAT32), "float32");
	ck_assert_str_eq(msgpack_type_name(MSGPACK_OBJECT_FLOAT64), "float64");
	ck_assert_str_eq(msgpack_type_name(MSGPACK_OBJECT_STR), "str");
	ck_assert_str_eq(msgpack_type_name(MSGPACK_OBJECT_ARRAY), "array");
	ck_assert_str_eq(msgpack_type_name(MSGPACK_OBJECT_MAP), "map");
	ck_assert_str_eq(msgpack_type_name(MSGPACK_OBJECT_BIN), "bin");
	ck_assert_str_eq(msgpack_type_name(MSGPACK_OBJECT_EXT), "ext");
}
END_TEST

START_TEST(test_strlist_free)
{
	struct strlist empty = { NULL, 0 };
	struct strlist list = make_strlist(4, "x");

	strlist_free(NULL);
	strlist_free(&empty);
	strlist_free(&list);
	ck_assert_ptr_null(list.names);
	ck_assert_uint_eq(list.count, 0);
	strlist_free(&list);
}
END_TEST

/* ---- cursor ---- */

START_TEST(test_cursor_basics)
{
	msgpack_sbuffer sb;
	msgpack_unpacked unpacked;
	struct cursor c;
	char err[64];
	char small[4];
	uint32_t u32;
	size_t offset = 0;

	pack_body(&sb, 1, "sn", "abcd");
	msgpack_unpacked_init(&unpacked);
	ck_assert_int_eq(msgpack_unpack_next(&unpacked, sb.data, sb.size, &offset),
			 MSGPACK_UNPACK_SUCCESS);

	ck_assert_int_eq(cursor_init(&c, &unpacked.data.via.array.ptr[0], "T", err, sizeof(err)),
			 -EBADMSG);
	ck_assert_str_eq(err, "T: expected array, got positive int");

	ck_assert_int_eq(cursor_init(&c, &unpacked.data, "T", err, sizeof(err)), 0);
	ck_assert_int_eq(cursor_u32(&c, "type", &u32), 0);
	ck_assert_uint_eq(u32, 1);
	/* a 4-byte string does not fit in 4 bytes with its NUL */
	ck_assert_int_eq(cursor_str(&c, "s", small, sizeof(small)), -EBADMSG);
	ck_assert_str_eq(err, "T field 's': 4 bytes exceeds the limit of 3");
	ck_assert_uint_eq(c.pos, 1);
	ck_assert_int_eq(cursor_end(&c), -EBADMSG);
	ck_assert_str_eq(err, "T: 2 trailing fields");

	/* a NULL or empty error buffer is tolerated */
	ck_assert_int_eq(cursor_init(&c, &unpacked.data, "T", NULL, 0), 0);
	ck_assert_int_eq(cursor_str(&c, "t", small, 0), -EBADMSG);
	ck_assert_int_eq(cursor_fail(&c, "%s", "x"), -EBADMSG);

	msgpack_unpacked_destroy(&unpacked);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* ---- random mutation of valid frames ---- */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static uint32_t rng_below(uint32_t n)
{
	return (uint32_t)(rng_next() % n);
}

/* One valid frame body of every message type, packed by our packers. */
static size_t pack_all_messages(msgpack_sbuffer *bodies, size_t *starts, size_t max)
{
	static const uint8_t input[] = "GIF89a\x01\x00\x01\x00";
	static const char *const descriptors[] = { "ro=/srv", "rlimit_as=16M" };
	static const char *const argv[] = { "/bin/cat", "-" };
	static const char *const env[] = { "LANG=C" };
	msgpack_sbuffer backing;
	msgpack_unpacked item;
	struct msg_hello hello = { .version = 1, .client = "client" };
	struct msg_welcome welcome = { .version = 1, .server = "brigd", .max_frame = 1 << 20,
				       .max_input = 1 << 19, .max_jobs = 16 };
	struct msg_submit submit = { .job_id = 3, .handler = "magic", .profile = "p",
				     .input = input, .input_len = sizeof(input), .timeout_ms = 5,
				     .descriptors = { descriptors, 2, NULL } };
	struct msg_cancel cancel = { .job_id = 3 };
	struct msg_exec exec = { .job_id = 4, .profile = "exec", .argv = { argv, 2, NULL },
				 .env = { env, 1, NULL }, .cwd = "/tmp", .stdin_data = input,
				 .stdin_len = sizeof(input), .timeout_ms = 100,
				 .descriptors = { descriptors, 2, NULL } };
	struct msg_output output = { .job_id = 4, .seq = 2, .stream = BRIG_STREAM_STDERR,
				     .data = input, .len = 6 };
	struct msg_item item_msg = { .job_id = 3, .seq = 1 };
	struct msg_final final = { .job_id = 3, .outcome = 2, .code = -11, .message = "SIGSEGV",
				   .usage = { 1, 2, 3 } };
	struct msg_error error = { .has_job = true, .job_id = 3, .code = 6, .message = "busy" };
	struct msg_worker_job worker_job = { .handler = "magic", .input = input,
					     .input_len = sizeof(input),
					     .descriptors = { descriptors, 1, NULL } };
	struct msg_worker_item worker_item;
	struct msg_worker_done worker_done = { .status = 1, .message = "bad", .cpu_us = 1,
					       .maxrss_kib = 2 };
	struct msg_worker_violation violation = { .syscall = 41 };
	struct msg_worker_exec worker_exec = { .argv = { argv, 2, NULL }, .env = { env, 1, NULL },
					       .cwd = "", .stdin_data = input, .stdin_len = 3,
					       .descriptors = { descriptors, 2, NULL } };
	struct msg_worker_output worker_output = { .stream = BRIG_STREAM_STDOUT, .data = input,
						   .len = sizeof(input) };
	struct msg_worker_exit worker_exit = { .wait_status = 0x100 };
	struct msg_zygote_ready zygote_ready;
	struct msg_zygote_spawn spawn = { .worker_id = 1, .profile = 0 };
	struct msg_zygote_spawned spawned = { .worker_id = 1, .pid = 1234 };
	struct msg_zygote_spawn_failed spawn_failed = { .worker_id = 1, .error = 12, .message = "m" };
	struct msg_zygote_kill kill_msg = { .worker_id = 1 };
	struct msg_zygote_exited exited = { .worker_id = 1, .wait_status = 9, .cpu_us = 5,
					    .maxrss_kib = 6 };
	struct msg_template_spawn template_spawn = { .worker_id = 2, .uid = 3000000001u };
	size_t n = 0;

	make_item(&item, &backing);
	item_msg.item = &item.data;
	worker_item.item = &item.data;
	welcome.handlers = make_strlist(3, "h");
	welcome.profiles = make_strlist(2, "p");
	zygote_ready.handlers = make_strlist(2, "z");

	msgpack_sbuffer_init(bodies);
#define ADD(call) do { \
		ck_assert_uint_lt(n, max); \
		starts[n++] = bodies->size; \
		ck_assert_int_eq(call, 0); \
	} while (0)
	ADD(msg_pack_hello(bodies, &hello));
	ADD(msg_pack_welcome(bodies, &welcome));
	ADD(msg_pack_submit(bodies, &submit));
	ADD(msg_pack_cancel(bodies, &cancel));
	ADD(msg_pack_exec(bodies, &exec));
	ADD(msg_pack_item(bodies, &item_msg));
	ADD(msg_pack_final(bodies, &final));
	ADD(msg_pack_output(bodies, &output));
	ADD(msg_pack_error(bodies, &error));
	ADD(msg_pack_worker_ready(bodies));
	ADD(msg_pack_worker_job(bodies, &worker_job));
	ADD(msg_pack_worker_item(bodies, &worker_item));
	ADD(msg_pack_worker_done(bodies, &worker_done));
	ADD(msg_pack_worker_violation(bodies, &violation));
	ADD(msg_pack_worker_exec(bodies, &worker_exec));
	ADD(msg_pack_worker_output(bodies, &worker_output));
	ADD(msg_pack_worker_exit(bodies, &worker_exit));
	ADD(msg_pack_zygote_ready(bodies, &zygote_ready));
	ADD(msg_pack_zygote_spawn(bodies, &spawn));
	ADD(msg_pack_zygote_spawned(bodies, &spawned));
	ADD(msg_pack_zygote_spawn_failed(bodies, &spawn_failed));
	ADD(msg_pack_zygote_kill(bodies, &kill_msg));
	ADD(msg_pack_zygote_exited(bodies, &exited));
	ADD(msg_pack_template_spawn(bodies, &template_spawn));
	ADD(msg_pack_monitor_zygote_start(bodies, &(struct msg_monitor_zygote_start){ 3 }));
	ADD(msg_pack_monitor_zygote_started(bodies,
		&(struct msg_monitor_zygote_started){ 3, 4242, 0 }));
	ADD(msg_pack_monitor_zygote_kill(bodies, &(struct msg_monitor_zygote_kill){ 4242 }));
	ADD(msg_pack_monitor_zygote_died(bodies, &(struct msg_monitor_zygote_died){ 4242, 9 }));
	ADD(msg_pack_monitor_access(bodies, &(struct msg_monitor_access){
		.uid = 1000, .gid = 1000, .groups = { 1000, 27 }, .group_count = 2,
		.path = "/etc/shadow", .mode = 4 }));
	ADD(msg_pack_monitor_access_result(bodies, &(struct msg_monitor_access_result){ 13 }));
	ADD(msg_pack_monitor_notify(bodies, &(struct msg_monitor_notify){
		MONITOR_NOTIFY_STATUS, "1 clients" }));
#undef ADD
	ck_assert_uint_lt(n, max);
	starts[n] = bodies->size;

	strlist_free(&welcome.handlers);
	strlist_free(&welcome.profiles);
	strlist_free(&zygote_ready.handlers);
	msgpack_unpacked_destroy(&item);
	msgpack_sbuffer_destroy(&backing);
	return n;
}

static const uint8_t interesting_bytes[] = {
	0x00, 0x01, 0x7f, 0x80, 0x8f, 0x90, 0x91, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xc4,
	0xc6, 0xc9, 0xca, 0xcb, 0xcc, 0xce, 0xcf, 0xd0, 0xd3, 0xd4, 0xd8, 0xd9, 0xdb, 0xdc,
	0xdd, 0xde, 0xdf, 0xe0, 0xff,
};

START_TEST(test_fuzz_mutated_frames)
{
	const unsigned rounds = 100000;
	msgpack_sbuffer frames;
	size_t starts[48];
	size_t n, pick, body_len, len, at, span, i;
	unsigned round, mutations, opened = 0, decoded = 0;
	const uint8_t *body;
	uint8_t *buf;
	struct msg_in in;
	int r;

	rng_state = 0x6272696700000003ULL;
	n = pack_all_messages(&frames, starts, sizeof(starts) / sizeof(starts[0]) - 1);
	ck_assert_uint_eq(n, N_SPECS);

	/* unmutated, each decodes */
	for (pick = 0; pick < n; pick++) {
		body = (const uint8_t *)frames.data + starts[pick] + FRAME_HEADER_SIZE;
		body_len = starts[pick + 1] - starts[pick] - FRAME_HEADER_SIZE;
		ck_assert_int_eq(msg_open(&in, body, body_len), specs[pick].type);
		ck_assert_msg(decode_any(&in, TEST_INPUT_LIMIT) == 0, "%s", in.error);
		msg_close(&in);
	}

	for (round = 0; round < rounds; round++) {
		pick = rng_below((uint32_t)n);
		body = (const uint8_t *)frames.data + starts[pick] + FRAME_HEADER_SIZE;
		body_len = starts[pick + 1] - starts[pick] - FRAME_HEADER_SIZE;
		/* room to grow by a few bytes; len is what the decoder sees */
		buf = malloc(body_len + 8);
		ck_assert_ptr_nonnull(buf);
		memcpy(buf, body, body_len);
		len = body_len;

		mutations = 1 + rng_below(4);
		while (mutations-- > 0 && len > 0) {
			at = rng_below((uint32_t)len);
			switch (rng_below(6)) {
			case 0:
				buf[at] ^= (uint8_t)(1u << rng_below(8));
				break;
			case 1:
				buf[at] = interesting_bytes[rng_below(sizeof(interesting_bytes))];
				break;
			case 2:
				buf[at] = (uint8_t)rng_next();
				break;
			case 3:
				len = at;
				break;
			case 4:
				if (len < body_len + 8) {
					memmove(buf + at + 1, buf + at, len - at);
					buf[at] = interesting_bytes[rng_below(sizeof(interesting_bytes))];
					len++;
				}
				break;
			default:
				span = 1 + rng_below(4);
				if (at + span <= len) {
					memmove(buf + at, buf + at + span, len - at - span);
					len -= span;
				}
				break;
			}
		}

		/* an exact-size copy, so ASan sees any read past the end */
		{
			uint8_t *exact = malloc(len > 0 ? len : 1);

			ck_assert_ptr_nonnull(exact);
			for (i = 0; i < len; i++)
				exact[i] = buf[i];
			r = msg_open(&in, exact, len);
			if (r > 0) {
				opened++;
				ck_assert_int_eq(r, in.type);
				r = decode_any(&in, TEST_INPUT_LIMIT);
				if (r == 0)
					decoded++;
				else
					ck_assert_int_eq(r, -EBADMSG);
			} else {
				ck_assert_int_eq(r, -EBADMSG);
			}
			ck_assert(r == 0 || in.error[0] != '\0');
			msg_close(&in);
			free(exact);
		}
		free(buf);
	}
	/* the mutations must reach the decoders, not just msg_open */
	ck_assert_uint_gt(opened, rounds / 10);
	ck_assert_uint_gt(decoded, rounds / 50);
	msgpack_sbuffer_destroy(&frames);
}
END_TEST

static Suite *msg_suite(void)
{
	Suite *s = suite_create("msg");
	TCase *tc;

	tc = tcase_create("round trip");
	tcase_add_test(tc, test_round_trip_hello);
	tcase_add_loop_test(tc, test_round_trip_welcome, 0, 2);
	tcase_add_test(tc, test_round_trip_submit);
	tcase_add_test(tc, test_round_trip_submit_empty_input);
	tcase_add_test(tc, test_round_trip_submit_descriptors_at_limits);
	tcase_add_test(tc, test_round_trip_exec);
	tcase_add_test(tc, test_round_trip_exec_minimal);
	tcase_add_test(tc, test_round_trip_exec_at_limits);
	tcase_add_loop_test(tc, test_round_trip_output, 0, 3);
	tcase_add_test(tc, test_round_trip_cancel);
	tcase_add_test(tc, test_round_trip_item);
	tcase_add_test(tc, test_round_trip_final);
	tcase_add_loop_test(tc, test_round_trip_error, 0, 2);
	tcase_add_test(tc, test_round_trip_worker_ready);
	tcase_add_loop_test(tc, test_round_trip_worker_job, 0, 2);
	tcase_add_test(tc, test_round_trip_worker_item);
	tcase_add_test(tc, test_round_trip_worker_done);
	tcase_add_test(tc, test_round_trip_worker_violation);
	tcase_add_test(tc, test_worker_violation_bytes);
	tcase_add_test(tc, test_round_trip_worker_exec);
	tcase_add_loop_test(tc, test_round_trip_worker_output, 0, 2);
	tcase_add_test(tc, test_round_trip_worker_exit);
	tcase_add_test(tc, test_round_trip_zygote_ready);
	tcase_add_test(tc, test_round_trip_zygote_spawn);
	tcase_add_test(tc, test_round_trip_zygote_spawned);
	tcase_add_test(tc, test_round_trip_zygote_spawn_failed);
	tcase_add_test(tc, test_round_trip_zygote_kill);
	tcase_add_test(tc, test_round_trip_zygote_exited);
	tcase_add_test(tc, test_round_trip_template_spawn);
	tcase_add_test(tc, test_frames_append);
	suite_add_tcase(s, tc);

	tc = tcase_create("every field");
	tcase_add_loop_test(tc, test_spec_valid_body_decodes, 0, N_SPECS);
	tcase_add_loop_test(tc, test_spec_wrong_type_for_each_field, 0, N_SPECS);
	tcase_add_loop_test(tc, test_spec_missing_field, 0, N_SPECS);
	tcase_add_loop_test(tc, test_spec_trailing_field, 0, N_SPECS);
	tcase_add_loop_test(tc, test_open_truncated_frames, 0, N_SPECS);
	tcase_add_test(tc, test_decode_failure_leaves_output);
	suite_add_tcase(s, tc);

	tc = tcase_create("values");
	tcase_add_test(tc, test_u32_range);
	tcase_add_test(tc, test_any_integer_encoding);
	tcase_add_test(tc, test_i64_range);
	tcase_add_test(tc, test_u64_full_range);
	tcase_add_test(tc, test_string_limits);
	tcase_add_test(tc, test_string_with_nul);
	tcase_add_test(tc, test_str_is_not_bin);
	tcase_add_test(tc, test_round_trip_input_fd);
	tcase_add_test(tc, test_bin_limit);
	tcase_add_test(tc, test_final_outcome_range);
	tcase_add_test(tc, test_inner_array_sizes);
	tcase_add_test(tc, test_name_lists);
	tcase_add_loop_test(tc, test_str_lists, 0, N_LIST_CASES);
	tcase_add_test(tc, test_exec_cwd_limit);
	tcase_add_test(tc, test_output_stream_values);
	tcase_add_test(tc, test_strv_get);
	tcase_add_test(tc, test_strv_dup);
	suite_add_tcase(s, tc);

	tc = tcase_create("open");
	tcase_add_test(tc, test_open_refuses_non_messages);
	tcase_add_test(tc, test_decoder_must_match_type);
	tcase_add_test(tc, test_depth_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("pack");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_pack_refuses_what_decoders_refuse);
	tcase_add_test(tc, test_pack_refuses_bad_lists);
	tcase_add_test(tc, test_pack_large_input);
	tcase_add_test(tc, test_begin_finish);
	suite_add_tcase(s, tc);

	tc = tcase_create("misc");
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_monitor_access_values);
	tcase_add_test(tc, test_monitor_pid_and_notify_values);
	tcase_add_test(tc, test_strlist_free);
	tcase_add_test(tc, test_cursor_basics);
	suite_add_tcase(s, tc);

	tc = tcase_create("fuzz");
	/* sanitizer builds are slow; the default 4 s is not enough */
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_fuzz_mutated_frames);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(msg_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
