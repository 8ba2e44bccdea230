/*
 * gen_corpus: writes the seed corpora of tests/fuzz/corpus/ with brig's own
 * packers (msg_pack_*), so that every seed is a frame the real code sends,
 * plus hand-made edge cases that it never sends.
 *
 *     tests/fuzz/gen_corpus DIR      (`make fuzz-corpus` passes the source tree's)
 *
 * writes DIR/frame/, DIR/client_msgs/, DIR/worker_msgs/, DIR/spec/ and
 * DIR/config/.
 * The files are committed; rerun this after a wire format change.
 * Message targets take one frame body (no header); fuzz_frame takes a
 * stream of whole frames; fuzz_spec a profile byte and a request body;
 * fuzz_config takes a brigd.conf.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "frame.h"
#include "msg.h"

static const char *out_dir;
static int failures;

/* Everything for fuzz_frame, one stream with every packed frame. */
static msgpack_sbuffer stream;

static void write_file(const char *target, const char *name, const void *data, size_t len)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", out_dir, target);
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "mkdir %s: %s\n", path, strerror(errno));
		failures++;
		return;
	}
	snprintf(path, sizeof(path), "%s/%s/%s", out_dir, target, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || (len > 0 && write(fd, data, len) != (ssize_t)len) || close(fd) < 0) {
		fprintf(stderr, "writing %s: %s\n", path, strerror(errno));
		failures++;
	}
}

/*
 * A packed frame: its body is a seed for the message target, the whole frame
 * one for fuzz_frame.  r is the packer's result.
 */
static void emit_packed(const char *target, const char *name, msgpack_sbuffer *sb, int r)
{
	char frame_name[128];

	if (r < 0 || sb->size <= FRAME_HEADER_SIZE) {
		fprintf(stderr, "packing %s/%s failed: %s\n", target, name, strerror(-r));
		failures++;
		msgpack_sbuffer_clear(sb);
		return;
	}
	write_file(target, name, sb->data + FRAME_HEADER_SIZE, sb->size - FRAME_HEADER_SIZE);
	snprintf(frame_name, sizeof(frame_name), "%s-%s", target, name);
	write_file("frame", frame_name, sb->data, sb->size);
	msgpack_sbuffer_write(&stream, sb->data, sb->size);
	msgpack_sbuffer_clear(sb);
}

/* A hand-made body (not a packer's), for both kinds of target. */
static void emit_raw(const char *target, const char *name, const void *body, size_t len)
{
	uint8_t header[FRAME_HEADER_SIZE];
	char frame_name[128];
	uint8_t *frame = malloc(len + FRAME_HEADER_SIZE);

	write_file(target, name, body, len);
	if (!frame)
		return;
	frame_put_header(header, (uint32_t)len);
	memcpy(frame, header, sizeof(header));
	memcpy(frame + FRAME_HEADER_SIZE, body, len);
	snprintf(frame_name, sizeof(frame_name), "%s-%s", target, name);
	write_file("frame", frame_name, frame, len + FRAME_HEADER_SIZE);
	free(frame);
}

#define RAW(target, name, ...)                                              \
	do {                                                                \
		static const uint8_t bytes_[] = { __VA_ARGS__ };            \
		emit_raw(target, name, bytes_, sizeof(bytes_));             \
	} while (0)

/* ---- items: one of every msgpack shape a handler may emit ---- */

typedef void (*item_fn)(msgpack_packer *pk);

static void item_map(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 2);
	msgpack_pack_str_with_body(pk, "mime", 4);
	msgpack_pack_str_with_body(pk, "image/gif", 9);
	msgpack_pack_str_with_body(pk, "size", 4);
	msgpack_pack_uint64(pk, 1234567);
}

static void item_scalars(msgpack_packer *pk)
{
	msgpack_pack_array(pk, 12);
	msgpack_pack_nil(pk);
	msgpack_pack_true(pk);
	msgpack_pack_false(pk);
	msgpack_pack_int64(pk, -1);
	msgpack_pack_int64(pk, INT64_MIN);
	msgpack_pack_uint64(pk, UINT64_MAX);
	msgpack_pack_float(pk, 0.1f);
	msgpack_pack_double(pk, -1e300);
	msgpack_pack_double(pk, 0.0 / 0.0);
	msgpack_pack_double(pk, 1.0 / 0.0);
	msgpack_pack_bin_with_body(pk, "\x00\x01\xff", 3);
	msgpack_pack_ext_with_body(pk, "\x01\x02\x03\x04", 4, -5);
}

static void item_strings(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 3);
	/* invalid UTF-8, controls and quotes: the CLI must still print JSON */
	msgpack_pack_str_with_body(pk, "\xff\xfe\"\\\n\x01", 6);
	msgpack_pack_str_with_body(pk, "\xed\xa0\x80\xf4\x90\x80\x80\xc0\xaf", 9);
	/* a non-string key */
	msgpack_pack_array(pk, 1);
	msgpack_pack_uint8(pk, 7);
	msgpack_pack_str_with_body(pk, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14);
	/* a map as a key, holding a non-string key itself */
	msgpack_pack_map(pk, 1);
	msgpack_pack_array(pk, 0);
	msgpack_pack_bin(pk, 0);
	msgpack_pack_nil(pk);
}

/* 31 levels: the deepest item a frame may carry (the message array is 1). */
static void item_deep(msgpack_packer *pk)
{
	for (int i = 0; i < 30; i++)
		msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, 0);
}

static void item_empty_str(msgpack_packer *pk)
{
	msgpack_pack_str(pk, 0);
}

static const struct {
	const char *name;
	item_fn pack;
} items[] = {
	{ "map", item_map },
	{ "scalars", item_scalars },
	{ "strings", item_strings },
	{ "deep", item_deep },
	{ "empty-str", item_empty_str },
};

/*
 * Unpacks a packed item into an object the msg_pack_* functions take.  Its
 * str and bin point into *sb: destroy sb only after out is used.
 */
static int with_item(item_fn pack, msgpack_unpacked *out, msgpack_sbuffer *sb)
{
	msgpack_packer pk;
	size_t off = 0;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	pack(&pk);
	msgpack_unpacked_init(out);
	return msgpack_unpack_next(out, sb->data, sb->size, &off) == MSGPACK_UNPACK_SUCCESS ? 0 :
											  -EINVAL;
}

/* ---- client socket ---- */

static void gen_client(void)
{
	static const char *const handlers[] = { "echo", "magic", "archive-list", "sleep" };
	static const char *const profiles[] = { "default", "strict" };
	msgpack_sbuffer sb;
	char name[64], long_message[BRIG_MESSAGE_MAX + 1];
	const char *t = "client_msgs";

	msgpack_sbuffer_init(&sb);
	emit_packed(t, "hello", &sb,
		    msg_pack_hello(&sb, &(struct msg_hello){ BRIG_PROTOCOL_VERSION, "brig-cli/0.1" }));
	emit_packed(t, "hello-version-99", &sb, msg_pack_hello(&sb, &(struct msg_hello){ 99, "" }));
	{
		struct msg_welcome w = {
			.version = BRIG_PROTOCOL_VERSION, .server = "brigd 0.1.0",
			.max_frame = BRIG_DEFAULT_MAX_FRAME,
			.max_input = BRIG_DEFAULT_MAX_FRAME - BRIG_SUBMIT_OVERHEAD, .max_jobs = 64,
			.handlers = { (char **)handlers, 4 }, .profiles = { (char **)profiles, 2 },
		};
		emit_packed(t, "welcome", &sb, msg_pack_welcome(&sb, &w));
		w.handlers.count = 0;
		w.profiles.count = 0;
		emit_packed(t, "welcome-empty-lists", &sb, msg_pack_welcome(&sb, &w));
	}
	emit_packed(t, "submit", &sb, msg_pack_submit(&sb, &(struct msg_submit){
		.job_id = 1, .handler = "magic", .profile = "", .input = (const uint8_t *)"GIF89a",
		.input_len = 6, .timeout_ms = 5000 }));
	emit_packed(t, "submit-empty-input", &sb, msg_pack_submit(&sb, &(struct msg_submit){
		.job_id = UINT32_MAX, .handler = "echo", .profile = "strict" }));
	/* protocol 3: nil input, the descriptor passed with the frame */
	emit_packed(t, "submit-input-fd", &sb, msg_pack_submit(&sb, &(struct msg_submit){
		.job_id = 2, .handler = "digest", .profile = "", .input_fd = true,
		.timeout_ms = 5000 }));
	RAW(t, "edge-submit-input-true", 0x97, 0x10, 0x01, 0xa4, 'e', 'c', 'h', 'o', 0xa0, 0xc3,
	    0x00, 0x90);
	RAW(t, "edge-submit-input-fd-trailing", 0x98, 0x10, 0x01, 0xa4, 'e', 'c', 'h', 'o', 0xa0,
	    0xc0, 0x00, 0x90, 0xc0);
	{
		static uint8_t input[300];

		memset(input, 'A', sizeof(input));
		emit_packed(t, "submit-bin16", &sb, msg_pack_submit(&sb, &(struct msg_submit){
			.job_id = 70000, .handler = "archive-list", .profile = "default",
			.input = input, .input_len = sizeof(input), .timeout_ms = UINT32_MAX }));
	}
	{
		static const char *const descriptors[] = { "net=none", "read=/usr/share/misc",
							   "rlimit_as=268435456", "" };
		static const char *const argv[] = { "/bin/sh", "-c", "echo hi; echo err >&2" };
		static const char *const env[] = { "PATH=/usr/bin:/bin", "LANG=C.UTF-8" };

		emit_packed(t, "submit-descriptors", &sb, msg_pack_submit(&sb, &(struct msg_submit){
			.job_id = 3, .handler = "echo", .profile = "default",
			.input = (const uint8_t *)"x", .input_len = 1,
			.descriptors = { descriptors, 4, NULL } }));
		emit_packed(t, "exec", &sb, msg_pack_exec(&sb, &(struct msg_exec){
			.job_id = 4, .profile = "", .argv = { argv, 3, NULL }, .env = { env, 2, NULL },
			.cwd = "/tmp", .stdin_data = (const uint8_t *)"in\n", .stdin_len = 3,
			.timeout_ms = 1000, .descriptors = { descriptors, 1, NULL } }));
		emit_packed(t, "exec-minimal", &sb, msg_pack_exec(&sb, &(struct msg_exec){
			.job_id = 5, .profile = "", .argv = { argv, 1, NULL }, .cwd = "" }));
		emit_packed(t, "exec-stdin-fd", &sb, msg_pack_exec(&sb, &(struct msg_exec){
			.job_id = 6, .profile = "exec", .argv = { argv, 1, NULL }, .cwd = "",
			.stdin_fd = true }));
		emit_packed(t, "output-stdout", &sb, msg_pack_output(&sb, &(struct msg_output){
			1, 0, BRIG_STREAM_STDOUT, (const uint8_t *)"hi\n", 3 }));
		emit_packed(t, "output-stderr-empty", &sb, msg_pack_output(&sb, &(struct msg_output){
			1, 7, BRIG_STREAM_STDERR, NULL, 0 }));
	}
	RAW(t, "edge-exec-no-argv", 0x99, 0x12, 0x01, 0xa0, 0x90, 0x90, 0xa0, 0xc4, 0x00, 0x00,
	    0x90);
	RAW(t, "edge-output-stream-3", 0x95, 0x22, 0x01, 0x00, 0x03, 0xc4, 0x00);
	RAW(t, "edge-submit-descriptor-nul", 0x97, 0x10, 0x01, 0xa4, 'e', 'c', 'h', 'o', 0xa0, 0xc4,
	    0x00, 0x00, 0x91, 0xa3, 'a', 0x00, 'b');
	emit_packed(t, "cancel", &sb, msg_pack_cancel(&sb, &(struct msg_cancel){ 1 }));
	emit_packed(t, "cancel-max", &sb, msg_pack_cancel(&sb, &(struct msg_cancel){ UINT32_MAX }));
	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
		msgpack_unpacked item;
		msgpack_sbuffer item_sb;

		if (with_item(items[i].pack, &item, &item_sb) < 0) {
			fprintf(stderr, "item %s is not one msgpack object\n", items[i].name);
			msgpack_unpacked_destroy(&item);
			msgpack_sbuffer_destroy(&item_sb);
			failures++;
			continue;
		}
		snprintf(name, sizeof(name), "item-%s", items[i].name);
		emit_packed(t, name, &sb, msg_pack_item(&sb, &(struct msg_item){ 1, (uint32_t)i,
										 &item.data }));
		msgpack_unpacked_destroy(&item);
		msgpack_sbuffer_destroy(&item_sb);
	}
	memset(long_message, 'x', BRIG_MESSAGE_MAX);
	long_message[BRIG_MESSAGE_MAX] = '\0';
	for (int outcome = 0; outcome <= BRIG_OUTCOME__MAX; outcome++) {
		struct msg_final f = {
			.job_id = 1, .outcome = (uint32_t)outcome, .code = outcome == 2 ? 11 : 0,
			.usage = { 1830, 912, 2048 },
		};

		snprintf(f.message, sizeof(f.message), "%s", brig_outcome_name(outcome));
		snprintf(name, sizeof(name), "final-%s", brig_outcome_name(outcome));
		emit_packed(t, name, &sb, msg_pack_final(&sb, &f));
	}
	{
		struct msg_final f = { .job_id = 9, .outcome = BRIG_OUTCOME_VIOLATION, .code = -1,
				       .usage = { UINT64_MAX, 0, UINT64_MAX } };

		memcpy(f.message, long_message, sizeof(long_message));
		emit_packed(t, "final-long-message", &sb, msg_pack_final(&sb, &f));
	}
	emit_packed(t, "error-job", &sb, msg_pack_error(&sb, &(struct msg_error){
		.has_job = true, .job_id = 2, .code = BRIG_ERROR_UNKNOWN_HANDLER,
		.message = "no handler 'pdf'" }));
	emit_packed(t, "error-connection", &sb, msg_pack_error(&sb, &(struct msg_error){
		.code = BRIG_ERROR_PROTOCOL, .message = "malformed frame: \xff" }));
	emit_packed(t, "error-unknown-code", &sb, msg_pack_error(&sb, &(struct msg_error){
		.has_job = true, .job_id = 0, .code = 999, .message = "" }));

	/* Edge cases no packer writes. */
	RAW(t, "edge-empty-array", 0x90);
	RAW(t, "edge-not-array", 0x81, 0x01, 0x02);
	RAW(t, "edge-unknown-type", 0x91, 0x13);
	RAW(t, "edge-negative-type", 0x91, 0xff);
	RAW(t, "edge-type-u64", 0x91, 0xcf, 0, 0, 0, 1, 0, 0, 0, 1);
	RAW(t, "edge-array32-bomb", 0xdd, 0xff, 0xff, 0xff, 0xff);
	RAW(t, "edge-map32-bomb", 0x92, 0x20, 0xdf, 0x7f, 0xff, 0xff, 0xff);
	RAW(t, "edge-str32-past-end", 0x93, 0x01, 0x01, 0xdb, 0xff, 0xff, 0xff, 0xf0, 0x41);
	RAW(t, "edge-c1", 0x93, 0x01, 0x01, 0xc1);
	RAW(t, "edge-trailing-byte", 0x93, 0x01, 0x01, 0xa0, 0x00);
	RAW(t, "edge-hello-trailing-field", 0x94, 0x01, 0x01, 0xa1, 'x', 0xc0);
	RAW(t, "edge-hello-missing-field", 0x92, 0x01, 0x01);
	RAW(t, "edge-hello-bin-name", 0x93, 0x01, 0x01, 0xc4, 0x01, 'x');
	RAW(t, "edge-hello-nul-name", 0x93, 0x01, 0x01, 0xa3, 'a', 0x00, 'b');
	RAW(t, "edge-hello-version-u64", 0x93, 0x01, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0, 0xa0);
	RAW(t, "edge-hello-version-int8", 0x93, 0x01, 0xd0, 0x01, 0xa0);
	RAW(t, "edge-cancel-negative", 0x92, 0x11, 0xff);
	RAW(t, "edge-cancel-float", 0x92, 0x11, 0xca, 0x3f, 0x80, 0, 0);
	RAW(t, "edge-submit-str-input", 0x96, 0x10, 0x01, 0xa4, 'e', 'c', 'h', 'o', 0xa0, 0xa1,
	    'x', 0x00);
	RAW(t, "edge-final-outcome-11", 0x96, 0x21, 0x01, 0x0b, 0x00, 0xa0, 0x93, 0, 0, 0);
	RAW(t, "edge-final-usage-short", 0x96, 0x21, 0x01, 0x00, 0x00, 0xa0, 0x92, 0, 0);
	RAW(t, "edge-final-code-i64-min", 0x96, 0x21, 0x01, 0x02, 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0,
	    0xa0, 0x93, 0, 0, 0);
	RAW(t, "edge-welcome-limits-4", 0x96, 0x02, 0x01, 0xa0, 0x94, 0, 0, 0, 0, 0x90, 0x90);
	RAW(t, "edge-error-nil-code", 0x94, 0x30, 0xc0, 0xc0, 0xa0);
	/* 33 levels: one more than msgpack-c's unpacker takes */
	{
		uint8_t deep[40];
		size_t n = 0;

		deep[n++] = 0x94;
		deep[n++] = 0x20;
		deep[n++] = 0x01;
		deep[n++] = 0x00;
		for (int i = 0; i < 31; i++)
			deep[n++] = 0x91;
		deep[n++] = 0x90;
		emit_raw(t, "edge-item-33-deep", deep, n);
		/* exactly 32: accepted */
		deep[n - 2] = 0x90;
		emit_raw(t, "edge-item-32-deep", deep, n - 1);
	}
	msgpack_sbuffer_destroy(&sb);
}

/* ---- internal channels ---- */

static void gen_worker(void)
{
	static const char *const handlers[] = { "echo", "selfcheck" };
	msgpack_sbuffer sb;
	char name[64];
	const char *t = "worker_msgs";

	msgpack_sbuffer_init(&sb);
	emit_packed(t, "worker-ready", &sb, msg_pack_worker_ready(&sb));
	emit_packed(t, "worker-job", &sb, msg_pack_worker_job(&sb, &(struct msg_worker_job){
		.handler = "echo", .input = (const uint8_t *)"hello", .input_len = 5 }));
	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
		msgpack_unpacked item;
		msgpack_sbuffer item_sb;

		if (with_item(items[i].pack, &item, &item_sb) < 0) {
			fprintf(stderr, "item %s is not one msgpack object\n", items[i].name);
			msgpack_unpacked_destroy(&item);
			msgpack_sbuffer_destroy(&item_sb);
			failures++;
			continue;
		}
		snprintf(name, sizeof(name), "worker-item-%s", items[i].name);
		emit_packed(t, name, &sb, msg_pack_worker_item(&sb, &(struct msg_worker_item){
			&item.data }));
		msgpack_unpacked_destroy(&item);
		msgpack_sbuffer_destroy(&item_sb);
	}
	{
		static const char *const argv[] = { "/usr/bin/file", "-" };
		static const char *const descriptors[] = { "net=none" };

		emit_packed(t, "worker-job-descriptors", &sb, msg_pack_worker_job(&sb,
			&(struct msg_worker_job){ .handler = "magic", .input = (const uint8_t *)"GIF89a",
						  .input_len = 6, .descriptors = { descriptors, 1, NULL } }));
		emit_packed(t, "worker-exec", &sb, msg_pack_worker_exec(&sb, &(struct msg_worker_exec){
			.argv = { argv, 2, NULL }, .cwd = "/", .stdin_data = (const uint8_t *)"x",
			.stdin_len = 1, .descriptors = { descriptors, 1, NULL } }));
		emit_packed(t, "worker-job-input-fd", &sb, msg_pack_worker_job(&sb,
			&(struct msg_worker_job){ .handler = "digest", .input_fd = true }));
		emit_packed(t, "worker-exec-stdin-fd", &sb, msg_pack_worker_exec(&sb,
			&(struct msg_worker_exec){ .argv = { argv, 2, NULL }, .cwd = "/",
						   .stdin_fd = true }));
		emit_packed(t, "worker-output", &sb, msg_pack_worker_output(&sb,
			&(struct msg_worker_output){ BRIG_STREAM_STDOUT, (const uint8_t *)"out", 3 }));
		emit_packed(t, "worker-output-stderr", &sb, msg_pack_worker_output(&sb,
			&(struct msg_worker_output){ BRIG_STREAM_STDERR, (const uint8_t *)"\xff", 1 }));
		emit_packed(t, "worker-exit", &sb, msg_pack_worker_exit(&sb,
			&(struct msg_worker_exit){ 256 }));
		emit_packed(t, "worker-exit-signal", &sb, msg_pack_worker_exit(&sb,
			&(struct msg_worker_exit){ 9 }));
	}
	RAW(t, "edge-output-stream-0", 0x93, 0x46, 0x00, 0xc4, 0x00);
	RAW(t, "edge-exit-str", 0x92, 0x47, 0xa1, '0');
	emit_packed(t, "worker-done-ok", &sb, msg_pack_worker_done(&sb, &(struct msg_worker_done){
		WORKER_STATUS_OK, "", 1200, 3000 }));
	emit_packed(t, "worker-done-error", &sb, msg_pack_worker_done(&sb, &(struct msg_worker_done){
		WORKER_STATUS_ERROR, "requested failure: boom", UINT64_MAX, 0 }));
	emit_packed(t, "worker-done-no-handler", &sb, msg_pack_worker_done(&sb,
		&(struct msg_worker_done){ WORKER_STATUS_NO_HANDLER, "no such handler", 0, 0 }));
	emit_packed(t, "worker-violation", &sb, msg_pack_worker_violation(&sb,
		&(struct msg_worker_violation){ 59 }));
	emit_packed(t, "worker-violation-negative", &sb, msg_pack_worker_violation(&sb,
		&(struct msg_worker_violation){ -1 }));
	emit_packed(t, "zygote-ready", &sb, msg_pack_zygote_ready(&sb, &(struct msg_zygote_ready){
		{ (char **)handlers, 2 } }));
	emit_packed(t, "zygote-spawn", &sb, msg_pack_zygote_spawn(&sb, &(struct msg_zygote_spawn){
		7, 0 }));
	emit_packed(t, "zygote-spawned", &sb, msg_pack_zygote_spawned(&sb,
		&(struct msg_zygote_spawned){ 7, 4242 }));
	emit_packed(t, "zygote-spawn-failed", &sb, msg_pack_zygote_spawn_failed(&sb,
		&(struct msg_zygote_spawn_failed){ 7, EAGAIN, "clone: Resource temporarily unavailable" }));
	emit_packed(t, "template-spawn", &sb, msg_pack_template_spawn(&sb,
		&(struct msg_template_spawn){ 7, 3000000001u }));
	emit_packed(t, "zygote-kill", &sb, msg_pack_zygote_kill(&sb, &(struct msg_zygote_kill){ 7 }));
	emit_packed(t, "zygote-exited", &sb, msg_pack_zygote_exited(&sb,
		&(struct msg_zygote_exited){ 7, 139, 5000, 4096, 1 }));

	RAW(t, "edge-ready-with-field", 0x92, 0x40, 0xc0);
	RAW(t, "edge-item-missing", 0x91, 0x42);
	RAW(t, "edge-item-two", 0x93, 0x42, 0x01, 0x02);
	RAW(t, "edge-done-status-str", 0x95, 0x43, 0xa1, '0', 0xa0, 0, 0);
	RAW(t, "edge-done-message-1025", 0x95, 0x43, 0x00, 0xda, 0x04, 0x01);
	RAW(t, "edge-violation-u64-max", 0x92, 0x44, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff);
	RAW(t, "edge-item-array32-bomb", 0x92, 0x42, 0xdd, 0x00, 0x10, 0x00, 0x00);
	RAW(t, "edge-client-item-from-worker", 0x94, 0x20, 0x05, 0x00, 0xc0);
	RAW(t, "edge-exited-negative-status", 0x95, 0x55, 0x07, 0xff, 0x00, 0x00);
	msgpack_sbuffer_destroy(&sb);
}

/* ---- streams for fuzz_frame ---- */

static void gen_frame(void)
{
	const char *t = "frame";

	/* Every packed frame back to back, as one connection would carry them. */
	write_file(t, "stream-all", stream.data, stream.size);
	/* Its first half: a frame cut in the middle. */
	write_file(t, "stream-half", stream.data, stream.size / 2);
	RAW(t, "edge-zero-length", 0x00, 0x00, 0x00, 0x00);
	RAW(t, "edge-huge-length", 0xff, 0xff, 0xff, 0xff, 0x91, 0x01);
	RAW(t, "edge-over-max-frame", 0x00, 0x80, 0x00, 0x01, 0x91, 0x01);
	RAW(t, "edge-header-only", 0x00, 0x00, 0x00, 0x10);
	RAW(t, "edge-short-header", 0x00, 0x00);
}

/* ---- request descriptors for fuzz_spec: a profile byte, then a request ---- */

static void emit_spec(const char *name, uint8_t profile, const char *const *descriptors,
		      size_t count, bool exec)
{
	static const char *const argv[] = { "/usr/bin/file", "-" };
	msgpack_sbuffer sb;
	int r;

	msgpack_sbuffer_init(&sb);
	msgpack_sbuffer_write(&sb, "\0\0\0\0", FRAME_HEADER_SIZE);   /* room for the byte */
	if (exec)
		r = msg_pack_exec(&sb, &(struct msg_exec){ .job_id = 1, .profile = "",
			.argv = { argv, 2, NULL }, .cwd = "/", .descriptors = { descriptors, count, NULL } });
	else
		r = msg_pack_submit(&sb, &(struct msg_submit){ .job_id = 1, .handler = "echo",
			.profile = "", .descriptors = { descriptors, count, NULL } });
	if (r < 0) {
		fprintf(stderr, "packing spec/%s failed: %s\n", name, strerror(-r));
		failures++;
	} else {
		/* The frame's own header goes; the profile byte takes its place. */
		sb.data[2 * FRAME_HEADER_SIZE - 1] = (char)profile;
		write_file("spec", name, sb.data + 2 * FRAME_HEADER_SIZE - 1,
			   sb.size - 2 * FRAME_HEADER_SIZE + 1);
	}
	msgpack_sbuffer_destroy(&sb);
}

static void gen_spec(void)
{
	static const char *const narrowing[] = {
		"ro=/usr/share", "rw=/tmp/brig-fuzz/out", "exec=/usr/bin/file", "ro=/scratch/in",
		"connect=443", "bind=8080", "rlimit_as=64M", "rlimit_nofile=16", "rlimit_cpu=1",
		"seccomp_deny=ptrace", "seccomp_deny=socket,connect",
	};
	static const char *const widening[] = {
		"rw=/usr", "ro=/etc", "exec=/tmp/brig-fuzz", "connect=22", "bind=1", "rlimit_as=2G",
		"rlimit_cpu=unlimited", "user=0", "group=0", "user=65534", "fresh_uid_range=1-10",
		"namespaces=none", "seccomp=none", "seccomp_action=errno", "seccomp_allow=ptrace",
		"landlock=off", "memory_max=1G", "pids_max=1000", "tmpfs=/tmp",
	};
	static const char *const malformed[] = {
		"=", "ro", "ro=", "ro=relative/path", "ro=/usr/../etc", "ro=/usr//share",
		" ro = /usr/share ", "rlimit_as=-1", "rlimit_as=18446744073709551616", "connect=65536",
		"connect=0", "seccomp_deny=no_such_call", "nope=1",
		"ro=/usr/share/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	char name[64];

	for (uint8_t profile = 0; profile < 4; profile++) {
		snprintf(name, sizeof(name), "p%u-narrowing", profile);
		emit_spec(name, profile, narrowing, sizeof(narrowing) / sizeof(narrowing[0]), false);
		snprintf(name, sizeof(name), "p%u-exec-narrowing", profile);
		emit_spec(name, profile, narrowing, 3, true);
		for (size_t i = 0; i < sizeof(narrowing) / sizeof(narrowing[0]); i++) {
			snprintf(name, sizeof(name), "p%u-narrow-%zu", profile, i);
			emit_spec(name, profile, &narrowing[i], 1, false);
		}
		for (size_t i = 0; i < sizeof(widening) / sizeof(widening[0]); i++) {
			snprintf(name, sizeof(name), "p%u-widen-%zu", profile, i);
			emit_spec(name, profile, &widening[i], 1, false);
		}
	}
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		snprintf(name, sizeof(name), "p3-malformed-%zu", i);
		emit_spec(name, 3, &malformed[i], 1, false);
	}
}

/* ---- configuration files ---- */

static void gen_config(void)
{
	static const struct {
		const char *name;
		const char *text;
	} configs[] = {
		{ "empty", "" },
		{ "every-key",
		  "[brigd]\nsocket = /run/brig/brig.sock\nsocket_mode = 0660\n"
		  "handler_dir = /usr/local/lib/brig/handlers\nmax_frame = 8388608\n"
		  "max_jobs_per_client = 64\nmax_clients = 1024\nmax_queued_jobs = 1024\n"
		  "max_client_backlog = 33554432\nshutdown_timeout_ms = 10000\n"
		  "default_profile = default\nlog_level = info\n\n"
		  "[profile default]\npool_size = 4\nuser = 65534\ngroup = 65534\n"
		  "timeout_ms = 10000\nmax_timeout_ms = 300000\nmax_output = 16777216\n" },
		{ "profiles",
		  "; comment\n# comment\n[brigd]\ndefault_profile = strict\n"
		  "[profile strict]\npool_size=0\nuser=nobody\ngroup=nogroup\ntimeout_ms=1\n"
		  "max_timeout_ms=1\n[profile big.one_2]\nmax_output=0x100000\n"
		  "[profile empty]\n" },
		{ "descriptors",
		  "[profile sandboxed]\nallow_users = *\nhandlers = echo, magic\nexec_jobs = no\n"
		  "ro = /usr\nrw = ?/var/tmp\ntmpfs = /tmp 64M\nconnect = 443\n"
		  "namespaces = pid,net,ipc,uts,mount\nseccomp = parser\nseccomp_action = kill\n"
		  "seccomp_deny = ptrace\nrlimit_as = 1G\nrlimit_nofile = 64\nmemory_max = 256M\n"
		  "pids_max = 8\nlandlock = required\nfresh_uid_range = 3000000000-3000001023\n" },
		{ "descriptor-conflict", "[profile x]\nconnect = 443\nnamespaces = net\n" },
		{ "root-user", "[profile x]\nuser = root\n" },
		{ "uid-zero-hex", "[profile x]\nuser = 0x0\n" },
		{ "gid-zero", "[profile x]\ngroup = 0\n" },
		{ "bad-number", "[brigd]\nmax_frame = 4095\n" },
		{ "number-overflow", "[brigd]\nmax_clients = 99999999999999999999999\n" },
		{ "timeout-over-max", "[profile default]\ntimeout_ms = 20\nmax_timeout_ms = 10\n" },
		{ "unknown-section", "[nope]\nkey = value\n" },
		{ "unknown-key", "[brigd]\nnope = 1\n" },
		{ "key-outside-section", "max_frame = 4096\n" },
		{ "default-undefined", "[brigd]\ndefault_profile = ghost\n" },
		{ "profile-bad-name", "[profile a/b]\npool_size = 1\n" },
		{ "profile-no-space", "[profilex]\n" },
		{ "syntax-error", "[brigd\nsocket\n" },
		{ "relative-socket", "[brigd]\nsocket = brig.sock\n" },
		{ "socket-mode-bad", "[brigd]\nsocket_mode = 0999\n" },
		{ "log-level-bad", "[brigd]\nlog_level = verbose\n" },
		{ "inline-comment", "[brigd]\nmax_frame = 4096 ; small\n" },
		{ "continuation", "[brigd]\nsocket = /a\n  /b\n" },
		{ "crlf", "[brigd]\r\nmax_frame = 65536\r\n" },
		{ "bom", "\xef\xbb\xbf[brigd]\nmax_frame = 65536\n" },
	};
	static const char nul_byte[] = "[brigd]\nmax_frame = 65536\0\n[x]\n";
	char long_line[1200];
	int n;

	for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++)
		write_file("config", configs[i].name, configs[i].text, strlen(configs[i].text));
	write_file("config", "nul-byte", nul_byte, sizeof(nul_byte) - 1);
	n = snprintf(long_line, sizeof(long_line), "[brigd]\nhandler_dir = /");
	memset(long_line + n, 'd', sizeof(long_line) - (size_t)n - 2);
	long_line[sizeof(long_line) - 2] = '\n';
	long_line[sizeof(long_line) - 1] = '\0';
	write_file("config", "long-line", long_line, strlen(long_line));
	{
		char many[64 * 24 + 64];
		size_t used = 0;

		for (int i = 0; i < 66; i++)
			used += (size_t)snprintf(many + used, sizeof(many) - used, "[profile p%d]\n", i);
		write_file("config", "too-many-profiles", many, used);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 64;
	}
	out_dir = argv[1];
	if (mkdir(out_dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "mkdir %s: %s\n", out_dir, strerror(errno));
		return 1;
	}
	msgpack_sbuffer_init(&stream);
	gen_client();
	gen_worker();
	gen_frame();
	gen_spec();
	gen_config();
	msgpack_sbuffer_destroy(&stream);
	return failures ? 1 : 0;
}
