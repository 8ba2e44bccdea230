/*
 * End-to-end tests: a real brigd (broker, zygote, sandboxed workers) on a
 * private socket, driven through libbrig, the brig CLI and a raw socket.
 *
 * Each test starts its own daemon (tests/harness.c) so that one broken
 * test cannot poison the next, and asserts on values the daemon reports or
 * on what /proc shows, never on timing alone.  Needs root (brigd builds
 * sandboxes); skipped (exit 77) otherwise.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <event2/event.h>
#include <msgpack.h>

#include "brig/brig.h"
#include "harness.h"
#include "msg.h"
#include "wire.h"

/* Warm workers of the built-in profiles: default 4, parser 4, exec 2. */
#define DEFAULT_POOL_SIZE 10
/* The default profile gives each worker a fresh uid from its own range. */
#define DEFAULT_UID_FIRST 3000000000u
#define DEFAULT_UID_COUNT 1024u
#define DEFAULT_GID 65534
#define MAX_KEPT_ITEMS 16

/* ------------------------------------------------------------------ */
/* collecting what libbrig delivers                                     */

enum first_item_action {
	ACTION_NONE,
	ACTION_CANCEL,          /* brig_cancel the job */
	ACTION_CLOSE,           /* brig_close the connection */
	ACTION_SIGTERM,         /* SIGTERM the daemon */
};

struct kept_item {
	char *buf;              /* the unpacked object points into it */
	msgpack_unpacked unpacked;
};

struct job_result {
	uint32_t job_id;                /* what brig_submit returned */
	unsigned finals;
	unsigned items;
	unsigned wrong_job_items;       /* delivered with another job's id */
	unsigned wrong_seq_items;       /* seq != number of items before it */
	unsigned items_after_final;
	uint32_t final_job_id;
	struct brig_status status;
	char message[BRIG_MESSAGE_MAX + 1];
	struct kept_item kept[MAX_KEPT_ITEMS];
	unsigned kept_count;
	int64_t first_item_ms;
	int64_t final_ms;
	int64_t action_ms;
	/* done at the first item */
	enum first_item_action action;
	struct brig_client *client;
	pid_t daemon_pid;
	void (*on_first_item)(struct job_result *r);
	void *user;
	unsigned *final_counter;        /* incremented at the final, if set */
};

static void on_item(void *arg, uint32_t job_id, uint32_t seq, const msgpack_object *item)
{
	struct job_result *r = arg;

	if (job_id != r->job_id)
		r->wrong_job_items++;
	if (seq != r->items)
		r->wrong_seq_items++;
	if (r->finals)
		r->items_after_final++;
	if (r->kept_count < MAX_KEPT_ITEMS) {
		struct kept_item *k = &r->kept[r->kept_count];
		msgpack_sbuffer sb;
		msgpack_packer pk;
		size_t size;

		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		ck_assert(msgpack_pack_object(&pk, *item) == 0);
		size = sb.size;
		k->buf = msgpack_sbuffer_release(&sb);
		msgpack_unpacked_init(&k->unpacked);
		ck_assert(msgpack_unpack_next(&k->unpacked, k->buf, size, NULL) ==
			  MSGPACK_UNPACK_SUCCESS);
		r->kept_count++;
	}
	r->items++;
	if (r->items != 1)
		return;
	r->first_item_ms = harness_now_ms();
	if (r->on_first_item)
		r->on_first_item(r);
	switch (r->action) {
	case ACTION_CANCEL:
		r->action_ms = harness_now_ms();
		E2E_ASSERT(brig_cancel(r->client, r->job_id) == 0, "brig_cancel(%u) failed",
			   r->job_id);
		break;
	case ACTION_CLOSE:
		r->action_ms = harness_now_ms();
		brig_close(r->client);
		break;
	case ACTION_SIGTERM:
		r->action_ms = harness_now_ms();
		E2E_ASSERT(kill(r->daemon_pid, SIGTERM) == 0, "kill: %s", strerror(errno));
		break;
	case ACTION_NONE:
	default:
		break;
	}
}

static void on_final(void *arg, uint32_t job_id, const struct brig_status *st)
{
	struct job_result *r = arg;

	r->finals++;
	r->final_job_id = job_id;
	r->status = *st;
	snprintf(r->message, sizeof(r->message), "%s", st->message ? st->message : "");
	r->status.message = r->message;
	r->final_ms = harness_now_ms();
	if (r->final_counter)
		(*r->final_counter)++;
}

static void job_result_free(struct job_result *r)
{
	for (unsigned i = 0; i < r->kept_count; i++) {
		msgpack_unpacked_destroy(&r->kept[i].unpacked);
		free(r->kept[i].buf);
	}
	r->kept_count = 0;
}

static const msgpack_object *kept_item(const struct job_result *r, unsigned i)
{
	E2E_ASSERT(i < r->kept_count, "job %u: item %u wanted, %u received", r->job_id, i,
		   r->kept_count);
	return &r->kept[i].unpacked.data;
}

/* "outcome crashed code 11 (message)" for failure messages. */
static const char *describe(const struct job_result *r)
{
	static char buf[BRIG_MESSAGE_MAX + 256];

	snprintf(buf, sizeof(buf), "job %u: %u final(s), %u item(s), outcome %s (%d) code %" PRId64
		 " error_code %u message '%s'", r->job_id, r->finals, r->items,
		 brig_outcome_string(r->status.outcome), r->status.outcome, r->status.code,
		 r->status.error_code, r->message);
	return buf;
}

static const char *object_text(const msgpack_object *o)
{
	static char buf[2048];

	msgpack_object_print_buffer(buf, sizeof(buf), *o);
	return buf;
}

/* ---- msgpack object helpers ---- */

static const msgpack_object *map_get(const msgpack_object *o, const char *key)
{
	size_t len = strlen(key);

	if (o->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object_kv *kv = &o->via.map.ptr[i];

		if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == len &&
		    memcmp(kv->key.via.str.ptr, key, len) == 0)
			return &kv->val;
	}
	return NULL;
}

static bool obj_is_str(const msgpack_object *o, const char *s)
{
	return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
	       memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

static bool obj_starts_with(const msgpack_object *o, const char *prefix)
{
	size_t len = strlen(prefix);

	return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size >= len &&
	       memcmp(o->via.str.ptr, prefix, len) == 0;
}

static bool obj_uint(const msgpack_object *o, uint64_t *out)
{
	if (!o)
		return false;
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		*out = o->via.u64;
		return true;
	}
	return false;
}

static bool obj_int(const msgpack_object *o, int64_t *out)
{
	if (!o)
		return false;
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
		*out = (int64_t)o->via.u64;
		return true;
	}
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*out = o->via.i64;
		return true;
	}
	return false;
}

/* The value of a {key: uint} field of an item, asserting that it is one. */
static uint64_t item_uint(const msgpack_object *item, const char *key)
{
	uint64_t v = 0;

	E2E_ASSERT(obj_uint(map_get(item, key), &v), "item has no unsigned \"%s\": %s", key,
		   object_text(item));
	return v;
}

/* ---- libbrig helpers ---- */

static struct brig_client *connect_client(const struct brigd *d, const char *name)
{
	struct brig_client *c = NULL;
	int r = brig_connect(d->socket_path, name, &c);

	E2E_ASSERT(r == 0 && c, "brig_connect(%s): %s", d->socket_path, brig_strerror(r));
	return c;
}

static void submit(struct brig_client *c, const char *handler, const void *input, size_t len,
		   uint32_t timeout_ms, struct job_result *r)
{
	struct brig_job job = {
		.handler = handler, .input = input, .input_len = len, .timeout_ms = timeout_ms,
	};
	int e;

	r->client = c;
	e = brig_submit(c, &job, on_item, on_final, r, &r->job_id);
	E2E_ASSERT(e == 0, "brig_submit(%s): %s", handler, brig_strerror(e));
}

static void submit_str(struct brig_client *c, const char *handler, const char *input,
		       uint32_t timeout_ms, struct job_result *r)
{
	submit(c, handler, input, strlen(input), timeout_ms, r);
}

static void wait_all(struct brig_client *c)
{
	int r = brig_wait(c, 0);

	E2E_ASSERT(r == 0, "brig_wait: %s (%zu jobs pending)", brig_strerror(r),
		   brig_jobs_pending(c));
}

static void assert_outcome(const struct job_result *r, int outcome)
{
	E2E_ASSERT(r->finals == 1 && r->status.outcome == outcome, "expected exactly one final "
		   "with outcome %s; %s", brig_outcome_string(outcome), describe(r));
	E2E_ASSERT(r->final_job_id == r->job_id, "final for job %u delivered with id %u",
		   r->job_id, r->final_job_id);
	E2E_ASSERT(r->wrong_job_items == 0 && r->wrong_seq_items == 0 && r->items_after_final == 0,
		   "job %u: %u items with a wrong job id, %u with a wrong seq, %u after the final",
		   r->job_id, r->wrong_job_items, r->wrong_seq_items, r->items_after_final);
}

/* The single {"input": bin} item of an echo job equals input. */
static void assert_echoed(const struct job_result *r, const void *input, size_t len)
{
	const msgpack_object *item, *bin;

	assert_outcome(r, BRIG_OK);
	E2E_ASSERT(r->items == 1, "echo job %u: %u items, expected 1", r->job_id, r->items);
	item = kept_item(r, 0);
	bin = map_get(item, "input");
	E2E_ASSERT(bin && bin->type == MSGPACK_OBJECT_BIN, "echo item is not {\"input\": bin}: %s",
		   object_text(item));
	E2E_ASSERT(bin->via.bin.size == len && (len == 0 || memcmp(bin->via.bin.ptr, input, len) == 0),
		   "echo job %u returned %u bytes that differ from the %zu bytes sent", r->job_id,
		   bin->via.bin.size, len);
}

struct call_items {
	unsigned count;
	bool matched;
	const char *expected;
};

static void call_on_item(void *arg, uint32_t job_id, uint32_t seq, const msgpack_object *item)
{
	struct call_items *ci = arg;
	const msgpack_object *bin = map_get(item, "input");
	size_t len = strlen(ci->expected);

	(void)job_id;
	ci->matched = seq == 0 && ci->count == 0 && bin && bin->type == MSGPACK_OBJECT_BIN &&
		      bin->via.bin.size == len && memcmp(bin->via.bin.ptr, ci->expected, len) == 0;
	ci->count++;
}

/* A fresh, well-behaved client still gets an echo answered (brig_call:
 * connect, submit, wait and close in one). */
static void assert_echo_works(const struct brigd *d)
{
	static const char input[] = "still serving";
	struct brig_job job = { .handler = "echo", .input = input, .input_len = sizeof(input) - 1 };
	struct call_items ci = { .expected = input };
	struct brig_status st = { .outcome = -1 };
	char message[BRIG_MESSAGE_MAX + 1] = "";
	int r;

	r = brig_call(d->socket_path, &job, call_on_item, &ci, &st, message, sizeof(message));
	E2E_ASSERT(r == 0, "brig_call(echo) on a fresh connection: %s", brig_strerror(r));
	E2E_ASSERT(st.outcome == BRIG_OK && ci.count == 1 && ci.matched,
		   "brig_call(echo): outcome %s, %u items (%s): %s",
		   brig_outcome_string(st.outcome), ci.count, ci.matched ? "match" : "no match",
		   message);
}

/* ------------------------------------------------------------------ */
/* 1. echo                                                              */

START_TEST(test_echo_round_trip)
{
	struct brigd d;
	struct brig_client *c;
	struct job_result r = { 0 }, empty = { 0 };
	uint8_t input[3000];

	/* Every byte value, NULs included: the input is bin, not a string. */
	for (size_t i = 0; i < sizeof(input); i++)
		input[i] = (uint8_t)(i * 7 + i / 256);

	brigd_start(&d, NULL);
	c = connect_client(&d, "e2e-echo");
	E2E_ASSERT(brig_server_max_input(c) > sizeof(input), "max_input %u",
		   brig_server_max_input(c));
	submit(c, "echo", input, sizeof(input), 0, &r);
	submit(c, "echo", NULL, 0, 0, &empty);
	wait_all(c);

	assert_echoed(&r, input, sizeof(input));
	E2E_ASSERT(r.status.code == 0, "%s", describe(&r));
	E2E_ASSERT(r.status.wall_us > 0, "wall_us is 0: %s", describe(&r));
	assert_echoed(&empty, NULL, 0);
	E2E_ASSERT(brig_jobs_pending(c) == 0, "%zu jobs still pending", brig_jobs_pending(c));

	job_result_free(&r);
	job_result_free(&empty);
	brig_close(c);
	brigd_stop(&d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 2. magic                                                             */

/* A complete 1x1 RGBA PNG. */
static const uint8_t png_1x1[] = {
	0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48,
	0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00,
	0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78,
	0x9c, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00,
	0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
};

static char *read_whole_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long size;

	ck_assert_msg(f != NULL, "open %s: %s", path, strerror(errno));
	ck_assert(fseek(f, 0, SEEK_END) == 0);
	size = ftell(f);
	ck_assert(size > 0);
	rewind(f);
	buf = malloc((size_t)size);
	ck_assert(buf != NULL);
	ck_assert(fread(buf, 1, (size_t)size, f) == (size_t)size);
	fclose(f);
	*len = (size_t)size;
	return buf;
}

static void assert_magic(const struct job_result *r, const char *const *mimes, size_t input_len)
{
	const msgpack_object *item, *mime;
	uint64_t size;
	bool matched = false;

	assert_outcome(r, BRIG_OK);
	E2E_ASSERT(r->items == 1, "magic job %u: %u items", r->job_id, r->items);
	item = kept_item(r, 0);
	mime = map_get(item, "mime");
	for (size_t i = 0; mimes[i] && !matched; i++)
		matched = obj_is_str(mime, mimes[i]);
	E2E_ASSERT(matched, "magic: unexpected mime (wanted %s%s): %s", mimes[0],
		   mimes[1] ? " or similar" : "", object_text(item));
	E2E_ASSERT(map_get(item, "encoding") && map_get(item, "encoding")->type == MSGPACK_OBJECT_STR &&
		   map_get(item, "description") &&
		   map_get(item, "description")->type == MSGPACK_OBJECT_STR,
		   "magic item lacks encoding or description strings: %s", object_text(item));
	size = item_uint(item, "size");
	E2E_ASSERT(size == input_len, "magic reports size %" PRIu64 " for %zu bytes", size,
		   input_len);
}

START_TEST(test_magic)
{
	static const char *const png_mimes[] = { "image/png", NULL };
	static const char *const elf_mimes[] = {
		"application/x-pie-executable", "application/x-executable",
		"application/x-sharedlib", NULL,
	};
	static const char *const text_mimes[] = { "text/plain", NULL };
	static const char text[] = "Dear brig,\nthis is a plain text file.\nRegards\n";
	struct brigd d;
	struct brig_client *c;
	struct job_result png = { 0 }, elf = { 0 }, txt = { 0 };
	size_t elf_len;
	char *elf_bytes = read_whole_file("/bin/true", &elf_len);

	brigd_start(&d, NULL);
	c = connect_client(&d, "e2e-magic");
	submit(c, "magic", png_1x1, sizeof(png_1x1), 0, &png);
	submit(c, "magic", elf_bytes, elf_len, 0, &elf);
	submit(c, "magic", text, sizeof(text) - 1, 0, &txt);
	wait_all(c);

	assert_magic(&png, png_mimes, sizeof(png_1x1));
	assert_magic(&elf, elf_mimes, elf_len);
	assert_magic(&txt, text_mimes, sizeof(text) - 1);

	job_result_free(&png);
	job_result_free(&elf);
	job_result_free(&txt);
	free(elf_bytes);
	brig_close(c);
	brigd_stop(&d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 3. archive-list                                                      */

struct tar_entry {
	const char *name;       /* as stored in the archive */
	const char *type;
	int64_t size;           /* -1: not checked (dir, symlink) */
	const char *link;
};

START_TEST(test_archive_list)
{
	static const struct tar_entry expected[] = {
		{ "alpha.txt", "file", 5, NULL },
		{ "beta.bin", "file", 1000, NULL },
		{ "sub/", "dir", -1, NULL },
		{ "sub/gamma.dat", "file", 70000, NULL },
		{ "link-to-alpha", "symlink", -1, "alpha.txt" },
	};
	const size_t count = sizeof(expected) / sizeof(expected[0]);
	struct brigd d;
	struct brig_client *c;
	struct job_result r = { 0 };
	struct run_result run;
	char tree[128], path[PATH_MAX], tar_path[PATH_MAX];
	char *buf, *tar_bytes;
	size_t tar_len;

	brigd_start(&d, NULL);

	snprintf(tree, sizeof(tree), "%s/tree", d.dir);
	ck_assert(mkdir(tree, 0755) == 0);
	snprintf(path, sizeof(path), "%s/alpha.txt", tree);
	harness_write_file(path, "hello", 5);
	buf = calloc(1, 70000);
	ck_assert(buf != NULL);
	memset(buf, 'b', 1000);
	snprintf(path, sizeof(path), "%s/beta.bin", tree);
	harness_write_file(path, buf, 1000);
	snprintf(path, sizeof(path), "%s/sub", tree);
	ck_assert(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/sub/gamma.dat", tree);
	harness_write_file(path, buf, 70000);
	free(buf);
	snprintf(path, sizeof(path), "%s/link-to-alpha", tree);
	ck_assert(symlink("alpha.txt", path) == 0);

	/* --no-recursion and an explicit list fix the order of the entries. */
	snprintf(tar_path, sizeof(tar_path), "%s/test.tar", d.dir);
	{
		char *argv[] = { "tar", "--no-recursion", "-cf", tar_path, "-C", tree,
				 "alpha.txt", "beta.bin", "sub", "sub/gamma.dat", "link-to-alpha",
				 NULL };

		harness_run(d.dir, argv, NULL, 20000, &run);
		ck_assert_msg(run.status == 0, "tar failed (%d): %s", run.status, run.err);
		run_result_free(&run);
	}
	tar_bytes = read_whole_file(tar_path, &tar_len);

	c = connect_client(&d, "e2e-archive");
	submit(c, "archive-list", tar_bytes, tar_len, 0, &r);
	wait_all(c);

	assert_outcome(&r, BRIG_OK);
	E2E_ASSERT(r.items == count, "archive-list reported %u entries, expected %zu", r.items,
		   count);
	for (size_t i = 0; i < count; i++) {
		const msgpack_object *item = kept_item(&r, (unsigned)i);
		const msgpack_object *link = map_get(item, "link");
		int64_t size = -1;

		/* Items stream in archive order, so item i is entry i. */
		E2E_ASSERT(obj_is_str(map_get(item, "name"), expected[i].name),
			   "entry %zu: expected name %s: %s", i, expected[i].name, object_text(item));
		E2E_ASSERT(obj_is_str(map_get(item, "type"), expected[i].type),
			   "entry %zu (%s): expected type %s: %s", i, expected[i].name,
			   expected[i].type, object_text(item));
		if (expected[i].size >= 0)
			E2E_ASSERT(obj_int(map_get(item, "size"), &size) && size == expected[i].size,
				   "entry %zu (%s): expected size %" PRId64 ": %s", i,
				   expected[i].name, expected[i].size, object_text(item));
		if (expected[i].link)
			E2E_ASSERT(obj_is_str(link, expected[i].link),
				   "entry %zu (%s): expected link %s: %s", i, expected[i].name,
				   expected[i].link, object_text(item));
		else
			E2E_ASSERT(link == NULL, "entry %zu (%s) has a link: %s", i,
				   expected[i].name, object_text(item));
		E2E_ASSERT(map_get(item, "mode") && map_get(item, "mtime"),
			   "entry %zu lacks mode or mtime: %s", i, object_text(item));
	}

	job_result_free(&r);
	free(tar_bytes);
	brig_close(c);
	brigd_stop(&d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 4. crashes                                                           */

START_TEST(test_crash)
{
	struct brigd d;
	struct brig_client *c;
	struct job_result crash = { 0 }, abrt = { 0 }, after = { 0 };

	brigd_start(&d, NULL);
	c = connect_client(&d, "e2e-crash");
	submit_str(c, "crash", "", 0, &crash);
	submit_str(c, "abort", "", 0, &abrt);
	wait_all(c);

	assert_outcome(&crash, BRIG_CRASHED);
	E2E_ASSERT(crash.status.code == SIGSEGV, "crash: expected code %d (SIGSEGV); %s", SIGSEGV,
		   describe(&crash));
	E2E_ASSERT(crash.items == 0, "%s", describe(&crash));
	assert_outcome(&abrt, BRIG_CRASHED);

	/* The same connection and a new one both go on working. */
	submit_str(c, "echo", "after the crash", 0, &after);
	wait_all(c);
	assert_echoed(&after, "after the crash", 15);
	assert_echo_works(&d);

	E2E_ASSERT(abrt.status.code == SIGABRT, "abort: expected code %d (SIGABRT); %s", SIGABRT,
		   describe(&abrt));

	job_result_free(&after);
	brig_close(c);
	brigd_stop(&d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 5. timeout                                                           */

START_TEST(test_timeout)
{
	struct brigd d;
	struct brig_client *c;
	struct job_result r = { 0 };
	const msgpack_object *first;

	brigd_start(&d, NULL);
	c = connect_client(&d, "e2e-timeout");
	submit_str(c, "sleep", "5000", 300, &r);
	wait_all(c);

	assert_outcome(&r, BRIG_TIMEOUT);
	E2E_ASSERT(r.status.wall_us >= 290000 && r.status.wall_us < 3000000,
		   "timeout of 300 ms took wall_us %" PRIu64 "; %s", r.status.wall_us, describe(&r));
	/* What the job said before it was killed still reached us... */
	E2E_ASSERT(r.items == 1, "expected the {\"sleeping\"} item only; %s", describe(&r));
	first = kept_item(&r, 0);
	E2E_ASSERT(item_uint(first, "sleeping") == 5000, "first item: %s", object_text(first));
	/* ...and the daemon goes on serving. */
	assert_echo_works(&d);

	job_result_free(&r);
	brig_close(c);
	brigd_stop(&d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 6. concurrency                                                       */

#define CONCURRENT_JOBS 50
#define CONNECTIONS 10

static void make_job_input(char *buf, size_t size, unsigned k)
{
	/* Distinct lengths as well as contents, to catch crossed results. */
	int n = snprintf(buf, size, "job-%u-", k);

	for (unsigned i = 0; i < k * 3 && (size_t)n + 1 < size; i++)
		buf[n++] = (char)('a' + (k + i) % 26);
	buf[n] = '\0';
}

START_TEST(test_concurrent_one_connection)
{
	struct brigd d;
	struct brig_client *c;
	static struct job_result r[CONCURRENT_JOBS];
	char inputs[CONCURRENT_JOBS][256];

	brigd_start(&d, NULL);
	c = connect_client(&d, "e2e-many");
	for (unsigned k = 0; k < CONCURRENT_JOBS; k++) {
		make_job_input(inputs[k], sizeof(inputs[k]), k);
		submit_str(c, "echo", inputs[k], 0, &r[k]);
	}
	E2E_ASSERT(brig_jobs_pending(c) == CONCURRENT_JOBS, "%zu pending", brig_jobs_pending(c));
	wait_all(c);
	for (unsigned k = 0; k < CONCURRENT_JOBS; k++) {
		assert_echoed(&r[k], inputs[k], strlen(inputs[k]));
		job_result_free(&r[k]);
	}
	brig_close(c);
	brigd_stop(&d);
}
END_TEST

struct attach_state {
	unsigned finals;
	unsigned closed;
};

static void on_attached_closed(void *arg, int err)
{
	struct attach_state *st = arg;

	(void)err;
	st->closed++;
}

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

START_TEST(test_concurrent_connections)
{
	struct brigd d;
	struct brig_client *clients[CONNECTIONS];
	static struct job_result r[CONCURRENT_JOBS];
	char inputs[CONCURRENT_JOBS][256];
	struct attach_state st = { 0 };
	struct event_base *base;
	struct event *wake;
	const struct timeval tick = { 0, 100000 };
	int64_t deadline;

	brigd_start(&d, NULL);
	base = event_base_new();
	ck_assert(base != NULL);
	wake = event_new(base, -1, EV_PERSIST, wake_cb, NULL);
	ck_assert(wake && event_add(wake, &tick) == 0);

	for (unsigned i = 0; i < CONNECTIONS; i++)
		clients[i] = connect_client(&d, "e2e-attach");
	/* Half the connections get their jobs before attaching (libbrig holds
	 * them until it has a loop), half after. */
	for (unsigned i = 0; i < CONNECTIONS; i++) {
		bool before = i % 2 == 0;
		int e;

		for (unsigned k = i; before && k < CONCURRENT_JOBS; k += CONNECTIONS) {
			make_job_input(inputs[k], sizeof(inputs[k]), k);
			r[k].final_counter = &st.finals;
			submit_str(clients[i], "echo", inputs[k], 0, &r[k]);
		}
		e = brig_attach(clients[i], base, on_attached_closed, &st);
		E2E_ASSERT(e == 0, "brig_attach: %s", brig_strerror(e));
		for (unsigned k = i; !before && k < CONCURRENT_JOBS; k += CONNECTIONS) {
			make_job_input(inputs[k], sizeof(inputs[k]), k);
			r[k].final_counter = &st.finals;
			submit_str(clients[i], "echo", inputs[k], 0, &r[k]);
		}
	}
	E2E_ASSERT(brig_wait(clients[0], 0) == -BRIG_EATTACHED,
		   "brig_wait on an attached connection must refuse");

	deadline = harness_now_ms() + 60000;
	while (st.finals < CONCURRENT_JOBS && st.closed == 0 && harness_now_ms() < deadline)
		ck_assert(event_base_loop(base, EVLOOP_ONCE) == 0);
	E2E_ASSERT(st.closed == 0, "%u connections closed under load", st.closed);
	E2E_ASSERT(st.finals == CONCURRENT_JOBS, "only %u of %d jobs finished within 60 s",
		   st.finals, CONCURRENT_JOBS);
	for (unsigned k = 0; k < CONCURRENT_JOBS; k++) {
		/* Job ids repeat across connections; distinct inputs catch a mix-up. */
		assert_echoed(&r[k], inputs[k], strlen(inputs[k]));
		job_result_free(&r[k]);
	}
	for (unsigned i = 0; i < CONNECTIONS; i++) {
		E2E_ASSERT(brig_jobs_pending(clients[i]) == 0, "connection %u: %zu pending", i,
			   brig_jobs_pending(clients[i]));
		brig_close(clients[i]);
	}
	E2E_ASSERT(st.closed == 0, "brig_close must not call on_closed");
	event_free(wake);
	event_base_free(base);
	brigd_stop(&d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 7. client disconnects mid-job                                        */

/* Poll until exactly want processes have comm tag; returns the count. */
static size_t wait_comm_count(const char *tag, size_t want, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;
	pid_t pids[16];
	size_t n;

	for (;;) {
		n = proc_find_comm(tag, pids, 16);
		if (n == want || harness_now_ms() > deadline)
			return n;
		harness_sleep_ms(10);
	}
}

static void make_tag(char *tag, size_t size, const char *prefix)
{
	/* Unique per test process, at most 15 characters. */
	snprintf(tag, size, "%s%u", prefix, (unsigned)getpid() % 10000000u);
	ck_assert(strlen(tag) <= 15);
}

static void check_marked(struct job_result *r, const char *tag)
{
	const msgpack_object *item = kept_item(r, 0);
	size_t n;

	E2E_ASSERT(obj_is_str(map_get(item, "marked"), tag), "mark item: %s", object_text(item));
	/* The worker and the child it forked: proof that the check below can see them. */
	n = wait_comm_count(tag, 2, 3000);
	E2E_ASSERT(n == 2, "expected 2 processes named %s while the job runs, found %zu", tag, n);
}

static void expect_marked(struct job_result *r)
{
	check_marked(r, r->user);
}

START_TEST(test_client_disconnect)
{
	struct brigd d;
	struct brig_client *c;
	struct job_result r = { 0 };
	char tag[16];
	int64_t closed_ms;
	size_t n;
	int e;

	make_tag(tag, sizeof(tag), "e2edisc");
	brigd_start(&d, NULL);
	c = connect_client(&d, "e2e-disconnect");
	r.user = tag;
	r.on_first_item = expect_marked;
	r.action = ACTION_CLOSE;
	submit_str(c, "mark", tag, 30000, &r);
	/* The item callback closes the connection, which ends the wait. */
	e = brig_wait(c, 0);
	E2E_ASSERT(e == -BRIG_ECLOSED, "brig_wait after brig_close in a callback: %s",
		   brig_strerror(e));
	E2E_ASSERT(r.items == 1 && r.action_ms > 0, "the mark item never arrived; %s",
		   describe(&r));
	E2E_ASSERT(r.finals == 1, "brig_close must still end the job with one final; %s",
		   describe(&r));
	closed_ms = r.action_ms;

	n = wait_comm_count(tag, 0, 3000);
	E2E_ASSERT(n == 0, "%zu processes named %s still exist %" PRId64 " ms after the client "
		   "disconnected", n, tag, harness_now_ms() - closed_ms);
	assert_echo_works(&d);
	job_result_free(&r);
	brigd_stop(&d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 8. cancel                                                            */

START_TEST(test_cancel)
{
	struct brigd d;
	struct brig_client *c;
	struct job_result r = { 0 };
	int64_t took;

	brigd_start(&d, NULL);
	c = connect_client(&d, "e2e-cancel");
	r.action = ACTION_CANCEL;
	submit_str(c, "sleep", "5000", 0, &r);
	wait_all(c);

	assert_outcome(&r, BRIG_CANCELLED);
	E2E_ASSERT(r.items == 1 && item_uint(kept_item(&r, 0), "sleeping") == 5000,
		   "expected only the {\"sleeping\"} item; %s", describe(&r));
	took = r.final_ms - r.action_ms;
	E2E_ASSERT(took >= 0 && took < 2000, "the cancelled final came %" PRId64 " ms after the "
		   "cancel", took);
	E2E_ASSERT(r.status.wall_us < 2500000, "cancelled job ran for %" PRIu64 " us",
		   r.status.wall_us);
	assert_echo_works(&d);

	job_result_free(&r);
	brig_close(c);
	brigd_stop(&d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 9. the sandbox as seen from inside                                   */

START_TEST(test_selfcheck)
{
	static const char *const caps[] = { "CapEff", "CapPrm", "CapBnd", "CapAmb", "CapInh" };
	struct brigd d;
	struct brig_client *c;
	struct job_result r = { 0 };
	const msgpack_object *item, *groups, *fds, *proc_error;

	brigd_start(&d, NULL);
	c = connect_client(&d, "e2e-selfcheck");
	submit_str(c, "selfcheck", "", 0, &r);
	wait_all(c);

	assert_outcome(&r, BRIG_OK);
	E2E_ASSERT(r.items == 1, "%s", describe(&r));
	item = kept_item(&r, 0);
	proc_error = map_get(item, "proc_error");
	E2E_ASSERT(proc_error == NULL, "selfcheck could not read /proc: %s", object_text(item));

	/* Invariant 1: never uid 0, no capability, no_new_privs. */
	E2E_ASSERT(item_uint(item, "uid") != 0 && item_uint(item, "euid") != 0,
		   "job runs as root: %s", object_text(item));
	E2E_ASSERT(item_uint(item, "gid") != 0 && item_uint(item, "egid") != 0,
		   "job runs as gid 0: %s", object_text(item));
	E2E_ASSERT(item_uint(item, "uid") >= DEFAULT_UID_FIRST &&
		   item_uint(item, "uid") < DEFAULT_UID_FIRST + DEFAULT_UID_COUNT &&
		   item_uint(item, "gid") == DEFAULT_GID,
		   "default profile's uids are %u..%u, gid %d: %s", DEFAULT_UID_FIRST,
		   DEFAULT_UID_FIRST + DEFAULT_UID_COUNT - 1, DEFAULT_GID,
		   object_text(item));
	groups = map_get(item, "groups");
	E2E_ASSERT(groups && groups->type == MSGPACK_OBJECT_ARRAY && groups->via.array.size == 0,
		   "supplementary groups not empty: %s", object_text(item));
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
		E2E_ASSERT(item_uint(item, caps[i]) == 0, "%s is %#" PRIx64 ": %s", caps[i],
			   item_uint(item, caps[i]), object_text(item));
	E2E_ASSERT(item_uint(item, "NoNewPrivs") == 1, "no_new_privs not set: %s",
		   object_text(item));
	E2E_ASSERT(item_uint(item, "Seccomp") == 2, "no seccomp filter (mode %" PRIu64 "): %s",
		   item_uint(item, "Seccomp"), object_text(item));

	/* Invariant 5: stdio on /dev/null and the job channel, nothing else. */
	fds = map_get(item, "fds");
	E2E_ASSERT(fds && fds->type == MSGPACK_OBJECT_ARRAY && fds->via.array.size == 4,
		   "expected exactly fds 0-3: %s", object_text(item));
	for (uint32_t i = 0; i < 4; i++) {
		const msgpack_object *entry = &fds->via.array.ptr[i];
		const msgpack_object *target = map_get(entry, "target");
		uint64_t fd = 99;

		E2E_ASSERT(obj_uint(map_get(entry, "fd"), &fd) && fd == i, "fd %u missing: %s", i,
			   object_text(fds));
		if (i < 3)
			E2E_ASSERT(obj_is_str(target, "/dev/null"), "fd %u is not /dev/null: %s", i,
				   object_text(fds));
		else
			E2E_ASSERT(obj_starts_with(target, "socket:["), "fd 3 is not a socket: %s",
				   object_text(fds));
	}

	job_result_free(&r);
	brig_close(c);
	brigd_stop(&d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 10. no zombies, no leaked descriptors                                */

/*
 * The warm workers under the zygote: its children that run as a job uid
 * (profiles with a fresh namespace per worker), and the children of its
 * root-owned children (the templates of the other profiles).
 */
static size_t pool_workers(pid_t zygote, pid_t *out, size_t max)
{
	pid_t children[512];
	size_t n = proc_children(zygote, children, 512), count = 0;

	for (size_t i = 0; i < n; i++) {
		if (proc_real_uid(children[i]) == 0) {
			pid_t grand[512];
			size_t g = proc_children(children[i], grand, 512);
			for (size_t k = 0; k < g; k++) {
				if (out && count < max)
					out[count] = grand[k];
				count++;
			}
		} else {
			if (out && count < max)
				out[count] = children[i];
			count++;
		}
	}
	return count;
}

static size_t settle_workers(pid_t zygote, size_t max, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;
	pid_t pids[512];
	size_t n;

	for (;;) {
		n = pool_workers(zygote, pids, 512);
		if (n <= max || harness_now_ms() > deadline)
			return n;
		harness_sleep_ms(20);
	}
}

/*
 * Watch the children of pid for watch_ms and fail if any stays a zombie
 * (reaped by nobody) for more than a second.
 */
static void assert_no_lasting_zombies(pid_t parent, const char *what, int watch_ms)
{
	struct {
		pid_t pid;
		int64_t since;
	} zombies[512];
	size_t zombie_count = 0;
	int64_t end = harness_now_ms() + watch_ms;

	while (harness_now_ms() < end) {
		pid_t pids[512];
		size_t n = proc_children(parent, pids, 512);
		int64_t now = harness_now_ms();

		if (n > 512)
			n = 512;
		for (size_t i = 0; i < n; i++) {
			size_t j;

			if (proc_state(pids[i]) != 'Z')
				continue;
			for (j = 0; j < zombie_count; j++)
				if (zombies[j].pid == pids[i])
					break;
			if (j == zombie_count && zombie_count < 512) {
				zombies[zombie_count].pid = pids[i];
				zombies[zombie_count++].since = now;
				continue;
			}
			E2E_ASSERT(j == zombie_count || now - zombies[j].since <= 1000,
				   "%s child %d has been a zombie for %" PRId64 " ms", what,
				   (int)pids[i], now - zombies[j].since);
		}
		harness_sleep_ms(20);
	}
}

/* Wait for the pool to be full and the broker's descriptors stable. */
static int settle_broker_fds(const struct brigd *d, pid_t zygote)
{
	int64_t deadline = harness_now_ms() + 10000;
	int last = -2, n;
	size_t workers = settle_workers(zygote, DEFAULT_POOL_SIZE, 10000);

	E2E_ASSERT(workers <= DEFAULT_POOL_SIZE, "zygote has %zu children after settling; pool "
		   "size %d", workers, DEFAULT_POOL_SIZE);
	for (;;) {
		n = proc_fd_count(d->broker_pid);
		if (n == last && pool_workers(zygote, NULL, 0) == DEFAULT_POOL_SIZE)
			return n;
		E2E_ASSERT(harness_now_ms() < deadline, "broker fd count never settled (%d)", n);
		last = n;
		harness_sleep_ms(100);
	}
}

static void run_job_batch(const struct brigd *d, unsigned jobs, unsigned *counted)
{
	enum { WAVE = 50 };
	struct brig_client *c = connect_client(d, "e2e-batch");
	static struct job_result r[WAVE];

	for (unsigned done = 0; done < jobs; done += WAVE) {
		unsigned wave = jobs - done < WAVE ? jobs - done : WAVE;

		memset(r, 0, sizeof(r));
		for (unsigned i = 0; i < wave; i++) {
			switch ((done + i) % 10) {
			case 3:
				submit_str(c, "crash", "", 0, &r[i]);
				break;
			case 6:
				submit_str(c, "fail", "on purpose", 0, &r[i]);
				break;
			case 9:
				submit_str(c, "exit", "3", 0, &r[i]);
				break;
			default:
				submit_str(c, "echo", "batch", 0, &r[i]);
				break;
			}
		}
		wait_all(c);
		for (unsigned i = 0; i < wave; i++) {
			switch ((done + i) % 10) {
			case 3:
				assert_outcome(&r[i], BRIG_CRASHED);
				break;
			case 6:
				assert_outcome(&r[i], BRIG_ERROR);
				E2E_ASSERT(strstr(r[i].message, "on purpose") != NULL, "%s",
					   describe(&r[i]));
				break;
			case 9:
				/* Exited without a result: not a success. */
				assert_outcome(&r[i], BRIG_CRASHED);
				break;
			default:
				assert_echoed(&r[i], "batch", 5);
				break;
			}
			job_result_free(&r[i]);
			(*counted)++;
		}
	}
	brig_close(c);
}

START_TEST(test_no_zombies_no_leaks)
{
	struct brigd d;
	pid_t zygote;
	int baseline, after;
	unsigned counted = 0;
	size_t workers, broker_children;

	/* The built-in profiles, with pools that shrink back soon after the
	 * batches grew them (autosizing; pool_idle_ms is 2 s by default). */
	brigd_start(&d, "[profile default]\npool_idle_ms = 100\n"
			"[profile parser]\npool_idle_ms = 100\n"
			"[profile exec]\npool_idle_ms = 100\n");
	zygote = brigd_zygote_pid(&d);
	E2E_ASSERT(zygote > 0, "cannot find the zygote among the broker's children");

	run_job_batch(&d, 20, &counted);
	baseline = settle_broker_fds(&d, zygote);

	run_job_batch(&d, 200, &counted);
	E2E_ASSERT(counted == 220, "%u jobs checked", counted);

	workers = settle_workers(zygote, DEFAULT_POOL_SIZE + 1, 10000);
	E2E_ASSERT(workers <= DEFAULT_POOL_SIZE + 1, "zygote still has %zu children 10 s after "
		   "the batch; the pool holds %d", workers, DEFAULT_POOL_SIZE);
	assert_no_lasting_zombies(zygote, "zygote", 1500);
	assert_no_lasting_zombies(d.pid, "monitor", 100);
	broker_children = proc_children(d.pid, NULL, 0);
	E2E_ASSERT(broker_children == 2, "the monitor has %zu children; only the broker and the "
		   "zygote expected", broker_children);
	E2E_ASSERT(proc_children(d.broker_pid, NULL, 0) == 0, "the broker has children");

	after = harness_settled_fd_count(d.broker_pid, baseline, 10000);
	E2E_ASSERT(after == baseline, "broker holds %d descriptors after 200 jobs, %d after "
		   "warm-up", after, baseline);
	E2E_ASSERT(brigd_zygote_pid(&d) == zygote, "the zygote was replaced during the batch");
	brigd_stop(&d);
}
END_TEST

/*
 * Pool autosizing: a burst of 8 concurrent jobs grows the default pool from
 * pool_size = 1 to pool_max = 4 warm workers (not 8: the bound holds), and
 * with no demand for a few pool_idle_ms it shrinks back to 1.
 */
START_TEST(test_pool_autosizing)
{
	struct brigd d;
	struct brig_client *c;
	static struct job_result r[8];
	size_t workers, most = 0;
	pid_t zygote;
	int64_t start, deadline;

	brigd_start(&d, "[profile default]\npool_size = 1\npool_max = 4\npool_idle_ms = 700\n"
			"[profile parser]\npool_size = 0\n[profile exec]\npool_size = 0\n");
	zygote = brigd_zygote_pid(&d);
	E2E_ASSERT(zygote > 0, "cannot find the zygote among the broker's children");
	deadline = harness_now_ms() + 10000;
	while ((workers = pool_workers(zygote, NULL, 0)) != 1 && harness_now_ms() < deadline)
		harness_sleep_ms(20);
	E2E_ASSERT(workers == 1, "idle pool of pool_size = 1 holds %zu workers", workers);

	c = connect_client(&d, "e2e-autosize");
	for (unsigned k = 0; k < 8; k++)
		submit_str(c, "sleep", "200", 0, &r[k]);
	wait_all(c);
	for (unsigned k = 0; k < 8; k++) {
		E2E_ASSERT(r[k].finals == 1 && r[k].status.outcome == BRIG_OK, "sleep job %u: %u "
			   "FINAL(s), %s", k, r[k].finals, brig_outcome_string(r[k].status.outcome));
		job_result_free(&r[k]);
	}
	/* Grown: the pool refills to its target, the peak demand (8) bounded
	 * by pool_max (4), and stays there for a while. */
	start = harness_now_ms();
	while (harness_now_ms() < start + 500) {
		workers = pool_workers(zygote, NULL, 0);
		if (workers > most)
			most = workers;
		harness_sleep_ms(10);
	}
	E2E_ASSERT(most == 4, "after a burst of 8 jobs the pool (pool_size 1, pool_max 4) held "
		   "%zu warm workers at most, expected 4", most);
	/* Shrunk: the peak halves each idle pool_idle_ms, 8 -> 4 -> 2 -> 1. */
	deadline = harness_now_ms() + 10000;
	while ((workers = pool_workers(zygote, NULL, 0)) != 1 && harness_now_ms() < deadline)
		harness_sleep_ms(50);
	E2E_ASSERT(workers == 1, "10 s after the burst the pool still holds %zu workers, not "
		   "pool_size 1", workers);
	E2E_ASSERT(harness_now_ms() - start >= 700, "the pool shrank before pool_idle_ms");
	brig_close(c);
	brigd_stop(&d);
}
END_TEST

/* The uid of the worker that ran a selfcheck on c (fresh uid per worker). */
static uint64_t selfcheck_uid(struct brig_client *c, const char *const *descriptors,
			      size_t descriptor_count)
{
	struct job_result r = { 0 };
	struct brig_job job = { .handler = "selfcheck", .descriptors = descriptors,
				.descriptor_count = descriptor_count };
	uint64_t uid;
	int e;

	r.client = c;
	e = brig_submit(c, &job, on_item, on_final, &r, &r.job_id);
	E2E_ASSERT(e == 0, "brig_submit(selfcheck): %s", brig_strerror(e));
	wait_all(c);
	assert_outcome(&r, BRIG_OK);
	uid = item_uint(kept_item(&r, 0), "uid");
	job_result_free(&r);
	return uid;
}

/*
 * worker_reuse = 3: one client's handler jobs run on the same worker up to
 * three times, another client never gets that worker, a narrowing job
 * ends the reuse, a reused worker cannot fork, and the kept workers end
 * with their client.
 */
START_TEST(test_worker_reuse)
{
	static const char *const narrow[] = { "rlimit_nofile=32" };
	struct brigd d;
	struct brig_client *a, *b;
	struct job_result forked = { 0 }, lingered = { 0 }, slept = { 0 }, faked = { 0 };
	uint64_t ua[4], ub, un, after;
	pid_t zygote;
	size_t baseline, workers;
	int64_t deadline;

	brigd_start(&d, "[profile default]\npool_size = 1\npool_max = 1\nworker_reuse = 3\n"
			"[profile parser]\npool_size = 0\n[profile exec]\npool_size = 0\n");
	zygote = brigd_zygote_pid(&d);
	E2E_ASSERT(zygote > 0, "cannot find the zygote among the broker's children");
	deadline = harness_now_ms() + 10000;
	while ((baseline = pool_workers(zygote, NULL, 0)) != 1 && harness_now_ms() < deadline)
		harness_sleep_ms(20);
	E2E_ASSERT(baseline == 1, "pool of 1 holds %zu workers", baseline);

	a = connect_client(&d, "e2e-reuse-a");
	b = connect_client(&d, "e2e-reuse-b");
	for (int i = 0; i < 4; i++)
		ua[i] = selfcheck_uid(a, NULL, 0);
	E2E_ASSERT(ua[0] == ua[1] && ua[1] == ua[2], "three jobs of one client ran on workers "
		   "%" PRIu64 ", %" PRIu64 ", %" PRIu64 "; worker_reuse = 3 keeps one", ua[0], ua[1],
		   ua[2]);
	E2E_ASSERT(ua[3] != ua[0], "a fourth job ran on the same worker (uid %" PRIu64 "): "
		   "worker_reuse = 3 is the most", ua[3]);
	/* a's worker (it ran one job of three) is kept for a alone. */
	ub = selfcheck_uid(b, NULL, 0);
	E2E_ASSERT(ub != ua[3], "client b's job ran on client a's kept worker (uid %" PRIu64 ")",
		   ub);
	E2E_ASSERT(selfcheck_uid(a, NULL, 0) == ua[3], "client a's next job did not reuse its "
		   "worker");

	/* A reused worker cannot fork: nothing of a job may outlive its FINAL. */
	forked.client = a;
	submit_str(a, "mark", "reusefork", 0, &forked);
	wait_all(a);
	assert_outcome(&forked, BRIG_ERROR);
	E2E_ASSERT(strstr(forked.message, "fork"), "mark in a reused worker: %s",
		   describe(&forked));
	job_result_free(&forked);

	/* A narrowing job runs on a's worker, which then ends. */
	un = selfcheck_uid(a, narrow, 1);
	after = selfcheck_uid(a, NULL, 0);
	E2E_ASSERT(after != un, "the worker a narrowing job ran on (uid %" PRIu64 ") served "
		   "another job", un);

	/* A kept worker that dies (a timer the job left behind) is not given
	 * the client's next job: that gets a live worker, brigd goes on. */
	submit_str(a, "linger", "", 0, &lingered);
	wait_all(a);
	assert_outcome(&lingered, BRIG_OK);
	job_result_free(&lingered);
	harness_sleep_ms(500);
	E2E_ASSERT(selfcheck_uid(a, NULL, 0) != 0, "no job after a kept worker died");
	/* The same while the kept worker lives on without its channel (a
	 * handler that faked its DONE and closed the channel). */
	submit_str(a, "fakedone", "", 0, &faked);
	wait_all(a);
	assert_outcome(&faked, BRIG_OK);
	job_result_free(&faked);
	harness_sleep_ms(100);
	E2E_ASSERT(selfcheck_uid(a, NULL, 0) != 0, "no job after a kept worker lost its channel");

	/* A reload that ends reuse while a job runs on a reusable worker: the
	 * job still gets its FINAL (the worker is ended), not a hang. */
	submit_str(a, "sleep", "600", 0, &slept);
	harness_sleep_ms(200);
	{
		static const char single[] = "[profile default]\npool_size = 1\npool_max = 1\n"
					     "worker_reuse = 1\n[profile parser]\npool_size = 0\n"
					     "[profile exec]\npool_size = 0\n";

		harness_write_file(d.config_path, single, strlen(single));
		E2E_ASSERT(kill(d.pid, SIGHUP) == 0, "SIGHUP: %s", strerror(errno));
	}
	wait_all(a);
	assert_outcome(&slept, BRIG_OK);
	E2E_ASSERT(slept.status.wall_us < 5000000, "the job's FINAL took %" PRIu64 " us after "
		   "the reload", slept.status.wall_us);
	job_result_free(&slept);

	/* Kept workers end with their client: back to the pool alone (of the
	 * zygote the reload started). */
	brig_close(a);
	brig_close(b);
	deadline = harness_now_ms() + 10000;
	while ((zygote = brigd_zygote_pid(&d)) <= 0 && harness_now_ms() < deadline)
		harness_sleep_ms(20);
	while ((workers = pool_workers(zygote, NULL, 0)) != baseline &&
	       harness_now_ms() < deadline)
		harness_sleep_ms(20);
	E2E_ASSERT(workers == baseline, "%zu workers after both clients left, %zu before",
		   workers, baseline);
	brigd_stop(&d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 11. bad input over a raw socket                                      */

/* Read messages until an ERROR; fails on anything but ITEMs before it. */
static void expect_error(int fd, bool has_job, uint32_t job_id, uint32_t code, const char *what)
{
	struct raw_msg m;
	int type;

	for (;;) {
		type = raw_read_msg(fd, 5000, &m);
		if (type != MSG_ITEM)
			break;
	}
	E2E_ASSERT(type == MSG_ERROR, "%s: expected ERROR %s, got %s (%d)", what,
		   brig_error_code_name((int)code), type < 0 ? strerror(-type) : msg_type_name(type),
		   type);
	E2E_ASSERT(m.error.code == code, "%s: expected ERROR %s, got %s: %s", what,
		   brig_error_code_name((int)code), brig_error_code_name((int)m.error.code),
		   m.error.message);
	E2E_ASSERT(m.error.has_job == has_job && (!has_job || m.error.job_id == job_id),
		   "%s: ERROR names job %s%u, expected %s%u", what, m.error.has_job ? "" : "(none) ",
		   m.error.job_id, has_job ? "" : "(none) ", job_id);
	E2E_ASSERT(m.error.message[0] != '\0', "%s: ERROR without a message", what);
}

static void expect_closed(int fd, const char *what)
{
	int r = raw_wait_eof(fd, 3000);

	E2E_ASSERT(r == 0, "%s: brigd did not close the connection", what);
}

/* Send bytes on a fresh connection (after a HELLO if greet), expect an
 * ERROR with code, then the connection closed, then brigd still serving. */
static void bad_input_case(const struct brigd *d, bool greet, const void *bytes, size_t len,
			   uint32_t code, const char *what)
{
	int fd = raw_connect(d);
	int r;

	if (greet)
		raw_handshake(fd, NULL);
	r = raw_send(fd, bytes, len);
	E2E_ASSERT(r == 0, "%s: send: %s", what, strerror(-r));
	expect_error(fd, false, 0, code, what);
	expect_closed(fd, what);
	close(fd);
	assert_echo_works(d);
}

/* Pack a SUBMIT by hand: job_id, handler, profile, input, timeout, where
 * a field of the wrong type can be slipped in. */
enum submit_variant { SUBMIT_HANDLER_INT, SUBMIT_INPUT_STR, SUBMIT_TIMEOUT_STR, SUBMIT_SHORT };

static void pack_bad_submit(msgpack_sbuffer *sb, enum submit_variant v)
{
	msgpack_packer pk;
	size_t start;

	ck_assert(msg_begin(sb, &pk, MSG_SUBMIT, v == SUBMIT_SHORT ? 3 : 5, &start) == 0);
	msgpack_pack_uint32(&pk, 77);
	if (v == SUBMIT_HANDLER_INT)
		msgpack_pack_uint32(&pk, 42);
	else
		msgpack_pack_str_with_body(&pk, "echo", 4);
	msgpack_pack_str_with_body(&pk, "", 0);
	if (v == SUBMIT_INPUT_STR)
		msgpack_pack_str_with_body(&pk, "text", 4);
	else if (v != SUBMIT_SHORT)
		msgpack_pack_bin_with_body(&pk, "bin", 3);
	if (v == SUBMIT_TIMEOUT_STR)
		msgpack_pack_str_with_body(&pk, "1000", 4);
	else if (v != SUBMIT_SHORT)
		msgpack_pack_uint32(&pk, 0);
	ck_assert(msg_finish(sb, start, BRIG_FRAME_MAX_CEILING) == 0);
}

START_TEST(test_bad_input)
{
	/* 100 MiB declared, nothing following. */
	static const uint8_t huge_header[] = { 0x06, 0x40, 0x00, 0x00 };
	/* 0xc1 is never used in msgpack. */
	static const uint8_t garbage[] = { 0x00, 0x00, 0x00, 0x03, 0xc1, 0xc1, 0xc1 };
	/* Well-formed msgpack, but a str where a message array belongs. */
	static const uint8_t not_array[] = { 0x00, 0x00, 0x00, 0x03, 0xa2, 'h', 'i' };
	/* An array led by a type nobody defined. */
	static const uint8_t unknown_type[] = { 0x00, 0x00, 0x00, 0x02, 0x91, 0x7f };
	/* A worker's message on the client socket. */
	static const uint8_t internal_type[] = { 0x00, 0x00, 0x00, 0x02, 0x91, 0x40 };
	static const uint8_t empty_frame[] = { 0x00, 0x00, 0x00, 0x00 };
	static const enum submit_variant variants[] = {
		SUBMIT_HANDLER_INT, SUBMIT_INPUT_STR, SUBMIT_TIMEOUT_STR, SUBMIT_SHORT,
	};
	static const char *const variant_names[] = {
		"SUBMIT with an int handler", "SUBMIT with a str input",
		"SUBMIT with a str timeout", "SUBMIT with 3 fields",
	};
	struct brigd d;
	struct raw_msg m;
	msgpack_sbuffer sb;
	int fd, type;

	brigd_start(&d, NULL);

	bad_input_case(&d, true, huge_header, sizeof(huge_header), BRIG_ERROR_TOO_LARGE,
		       "100 MB frame header");
	bad_input_case(&d, false, huge_header, sizeof(huge_header), BRIG_ERROR_TOO_LARGE,
		       "100 MB frame header before HELLO");
	bad_input_case(&d, true, garbage, sizeof(garbage), BRIG_ERROR_PROTOCOL, "garbage msgpack");
	bad_input_case(&d, true, not_array, sizeof(not_array), BRIG_ERROR_PROTOCOL,
		       "a str instead of a message");
	bad_input_case(&d, true, unknown_type, sizeof(unknown_type), BRIG_ERROR_PROTOCOL,
		       "unknown message type");
	bad_input_case(&d, true, internal_type, sizeof(internal_type), BRIG_ERROR_PROTOCOL,
		       "internal message type from a client");
	bad_input_case(&d, true, empty_frame, sizeof(empty_frame), BRIG_ERROR_PROTOCOL,
		       "empty frame");

	/* SUBMIT before HELLO. */
	msgpack_sbuffer_init(&sb);
	ck_assert(msg_pack_submit(&sb, &(struct msg_submit){ .job_id = 1, .handler = "echo" }) == 0);
	bad_input_case(&d, false, sb.data, sb.size, BRIG_ERROR_PROTOCOL, "SUBMIT before HELLO");
	msgpack_sbuffer_destroy(&sb);

	/* A second HELLO. */
	msgpack_sbuffer_init(&sb);
	ck_assert(msg_pack_hello(&sb, &(struct msg_hello){ .version = BRIG_PROTOCOL_VERSION,
							    .client = "again" }) == 0);
	bad_input_case(&d, true, sb.data, sb.size, BRIG_ERROR_PROTOCOL, "second HELLO");
	msgpack_sbuffer_destroy(&sb);

	/* HELLO with version 99. */
	fd = raw_connect(&d);
	ck_assert(raw_send_hello(fd, 99) == 0);
	expect_error(fd, false, 0, BRIG_ERROR_VERSION, "HELLO version 99");
	expect_closed(fd, "HELLO version 99");
	close(fd);
	assert_echo_works(&d);

	/* Fields of the wrong type. */
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		msgpack_sbuffer_init(&sb);
		pack_bad_submit(&sb, variants[i]);
		bad_input_case(&d, true, sb.data, sb.size, BRIG_ERROR_PROTOCOL, variant_names[i]);
		msgpack_sbuffer_destroy(&sb);
	}

	/* Unknown handler: an error naming the job; the connection stays usable. */
	fd = raw_connect(&d);
	raw_handshake(fd, NULL);
	ck_assert(raw_send_submit(fd, 4242, "nosuchhandler", "x", 1, 0) == 0);
	expect_error(fd, true, 4242, BRIG_ERROR_UNKNOWN_HANDLER, "unknown handler");
	ck_assert(raw_send_submit(fd, 4243, "echo", "x", 1, 0) == 0);
	do
		type = raw_read_msg(fd, 10000, &m);
	while (type == MSG_ITEM && m.item_job_id == 4243);
	E2E_ASSERT(type == MSG_FINAL && m.final.job_id == 4243 && m.final.outcome == BRIG_OUTCOME_OK,
		   "echo after an unknown handler: got %s (%d) job %u outcome %u",
		   type < 0 ? strerror(-type) : msg_type_name(type), type, m.final.job_id,
		   m.final.outcome);
	close(fd);

	/* Duplicate job id while the first is in flight. */
	fd = raw_connect(&d);
	raw_handshake(fd, NULL);
	ck_assert(raw_send_submit(fd, 7, "sleep", "3000", 4, 0) == 0);
	type = raw_read_msg(fd, 10000, &m);
	E2E_ASSERT(type == MSG_ITEM && m.item_job_id == 7, "expected the sleeping item of job 7, "
		   "got %d", type);
	ck_assert(raw_send_submit(fd, 7, "echo", "dup", 3, 0) == 0);
	expect_error(fd, true, 7, BRIG_ERROR_DUPLICATE_JOB, "duplicate job id");
	/* The first job 7 is untouched: cancelling it ends it as cancelled. */
	ck_assert(raw_send_cancel(fd, 7) == 0);
	type = raw_read_msg(fd, 10000, &m);
	E2E_ASSERT(type == MSG_FINAL && m.final.job_id == 7 &&
		   m.final.outcome == BRIG_OUTCOME_CANCELLED,
		   "after the duplicate: expected job 7 cancelled, got %d job %u outcome %u", type,
		   m.final.job_id, m.final.outcome);
	/* Cancelling it again: no longer in flight. */
	ck_assert(raw_send_cancel(fd, 7) == 0);
	expect_error(fd, true, 7, BRIG_ERROR_UNKNOWN_JOB, "cancel of an ended job");
	close(fd);

	assert_echo_works(&d);
	brigd_stop(&d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 12. busy                                                             */

START_TEST(test_busy)
{
	static const char config[] = "[brigd]\nmax_jobs_per_client = 2\n";
	struct brigd d;
	struct msg_welcome welcome;
	struct raw_msg m;
	struct brig_client *c;
	struct brig_job sleep_job = { .handler = "sleep", .input = "3000", .input_len = 4 };
	struct job_result r1 = { 0 }, r2 = { 0 };
	int fd, type, e;

	brigd_start(&d, config);

	fd = raw_connect(&d);
	raw_handshake(fd, &welcome);
	E2E_ASSERT(welcome.max_jobs == 2, "WELCOME announces max_jobs %u, configured 2",
		   welcome.max_jobs);
	ck_assert(raw_send_submit(fd, 1, "sleep", "3000", 4, 0) == 0);
	ck_assert(raw_send_submit(fd, 2, "sleep", "3000", 4, 0) == 0);
	ck_assert(raw_send_submit(fd, 3, "sleep", "3000", 4, 0) == 0);
	expect_error(fd, true, 3, BRIG_ERROR_BUSY, "third job over max_jobs_per_client 2");
	/* A slot frees when a job ends. */
	ck_assert(raw_send_cancel(fd, 1) == 0);
	do
		type = raw_read_msg(fd, 10000, &m);
	while (type == MSG_ITEM);
	E2E_ASSERT(type == MSG_FINAL && m.final.job_id == 1 &&
		   m.final.outcome == BRIG_OUTCOME_CANCELLED,
		   "expected job 1 cancelled, got %d job %u outcome %u", type, m.final.job_id,
		   m.final.outcome);
	ck_assert(raw_send_submit(fd, 4, "echo", "ok", 2, 0) == 0);
	do
		type = raw_read_msg(fd, 10000, &m);
	while (type == MSG_ITEM);
	E2E_ASSERT(type == MSG_FINAL && m.final.job_id == 4 && m.final.outcome == BRIG_OUTCOME_OK,
		   "expected job 4 ok after a slot freed, got %s (%d) job %u outcome %u: %s",
		   type < 0 ? strerror(-type) : msg_type_name(type), type, m.final.job_id,
		   m.final.outcome, type == MSG_ERROR ? m.error.message : "");
	close(fd);

	/* libbrig knows the limit from the WELCOME and says busy itself. */
	c = connect_client(&d, "e2e-busy");
	submit(c, "sleep", "3000", 4, 0, &r1);
	submit(c, "sleep", "3000", 4, 0, &r2);
	e = brig_submit(c, &sleep_job, on_item, on_final, NULL, NULL);
	E2E_ASSERT(e == -BRIG_EBUSY, "third brig_submit: %s", brig_strerror(e));
	brig_close(c);
	E2E_ASSERT(r1.finals == 1 && r2.finals == 1, "brig_close ends pending jobs");

	assert_echo_works(&d);
	brigd_stop(&d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 13. the brig CLI                                                     */

static unsigned count_lines(const char *s)
{
	unsigned n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

START_TEST(test_cli)
{
	static const char input[] = "hello brig\n";
	static const char item_line[] = "{\"input\":{\"$bin\":\"aGVsbG8gYnJpZwo=\"}}\n";
	struct brigd d;
	struct run_result run;
	char brig[PATH_MAX], file[PATH_MAX], nowhere[PATH_MAX];

	brigd_start(&d, NULL);
	snprintf(brig, sizeof(brig), "%s/brig", harness_builddir());
	snprintf(file, sizeof(file), "%s/input.txt", d.dir);
	snprintf(nowhere, sizeof(nowhere), "%s/nothing-listens-here.sock", d.dir);
	harness_write_file(file, input, sizeof(input) - 1);

	{
		char *argv[] = { brig, "call", "--socket", d.socket_path, "echo", file, NULL };

		harness_run(d.dir, argv, NULL, 20000, &run);
		E2E_ASSERT(run.status == 0, "brig call echo FILE: exit %d; stdout:\n%s\nstderr:\n%s",
			   run.status, run.out, run.err);
		E2E_ASSERT(count_lines(run.out) == 2 && strncmp(run.out, item_line,
							       sizeof(item_line) - 1) == 0,
			   "brig call echo FILE: expected the item line then the final line:\n%s",
			   run.out);
		E2E_ASSERT(strstr(run.out + sizeof(item_line) - 1, "\"outcome\":\"ok\"") != NULL,
			   "final line lacks \"outcome\":\"ok\":\n%s", run.out);
		run_result_free(&run);
	}
	{
		/* The same through standard input. */
		char *argv[] = { brig, "call", "--socket", d.socket_path, "echo", NULL };

		harness_run(d.dir, argv, file, 20000, &run);
		E2E_ASSERT(run.status == 0 && count_lines(run.out) == 2 &&
			   strncmp(run.out, item_line, sizeof(item_line) - 1) == 0,
			   "brig call echo < FILE: exit %d; stdout:\n%s\nstderr:\n%s", run.status,
			   run.out, run.err);
		run_result_free(&run);
	}
	{
		char *argv[] = { brig, "call", "--socket", d.socket_path, "crash", "-", NULL };

		harness_run(d.dir, argv, NULL, 20000, &run);
		E2E_ASSERT(run.status == 2, "brig call crash -: exit %d, expected 2; stdout:\n%s\n"
			   "stderr:\n%s", run.status, run.out, run.err);
		E2E_ASSERT(strstr(run.out, "\"outcome\":\"crashed\"") != NULL, "stdout:\n%s", run.out);
		run_result_free(&run);
	}
	{
		char *argv[] = { brig, "call", "--socket", d.socket_path, "nosuchhandler", NULL };

		harness_run(d.dir, argv, NULL, 20000, &run);
		E2E_ASSERT(run.status == 3, "brig call nosuchhandler: exit %d, expected 3; stdout:\n"
			   "%s\nstderr:\n%s", run.status, run.out, run.err);
		E2E_ASSERT(strstr(run.out, "\"outcome\":\"rejected\"") &&
			   strstr(run.out, "\"error\":\"unknown_handler\""), "stdout:\n%s", run.out);
		run_result_free(&run);
	}
	{
		char *argv[] = { brig, "call", "--socket", nowhere, "echo", file, NULL };

		harness_run(d.dir, argv, NULL, 20000, &run);
		E2E_ASSERT(run.status == 69, "brig call on a dead socket: exit %d, expected 69; "
			   "stderr:\n%s", run.status, run.err);
		E2E_ASSERT(run.out[0] == '\0' && run.err[0] != '\0',
			   "expected a message on stderr only; stdout:\n%s", run.out);
		run_result_free(&run);
	}
	{
		/* BRIG_SOCKET is where the CLI looks without --socket. */
		char *argv[] = { "env", NULL, brig, "handlers", NULL };
		char env[PATH_MAX + 16];

		snprintf(env, sizeof(env), "BRIG_SOCKET=%s", d.socket_path);
		argv[1] = env;
		harness_run(d.dir, argv, NULL, 20000, &run);
		E2E_ASSERT(run.status == 0 && strstr(run.out, "  echo\n") &&
			   strstr(run.out, "  default\n"),
			   "brig handlers: exit %d; stdout:\n%s\nstderr:\n%s", run.status, run.out,
			   run.err);
		run_result_free(&run);
	}
	brigd_stop(&d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 14. clean shutdown                                                   */

#define SHUTDOWN_GRACE_MS 200

struct tracked {
	pid_t pid;
	unsigned long long start;
	const char *role;
};

struct shutdown_watch {
	const struct brigd *d;
	const char *tag;
	struct tracked procs[64];
	size_t count;
};

static void track(struct shutdown_watch *w, pid_t pid, const char *role)
{
	unsigned long long start = proc_start_time(pid);

	if (start == 0 || w->count == sizeof(w->procs) / sizeof(w->procs[0]))
		return;
	/* The job renamed its worker: one process, two reasons to track it. */
	for (size_t i = 0; i < w->count; i++)
		if (w->procs[i].pid == pid && w->procs[i].start == start)
			return;
	w->procs[w->count++] = (struct tracked){ pid, start, role };
}

/* At the mark item: note every process of this brigd, then SIGTERM it. */
static void record_processes(struct job_result *r)
{
	struct shutdown_watch *w = r->user;
	pid_t zygote, workers[64], marked[16];
	size_t nworkers, nmarked;

	check_marked(r, w->tag);
	track(w, w->d->pid, "monitor");
	track(w, w->d->broker_pid, "broker");
	zygote = brigd_zygote_pid(w->d);
	E2E_ASSERT(zygote > 0, "no zygote under brigd %d", (int)w->d->pid);
	track(w, zygote, "zygote");
	nworkers = proc_children(zygote, workers, 64);
	E2E_ASSERT(nworkers >= 1 && nworkers <= 64, "zygote has %zu children", nworkers);
	for (size_t i = 0; i < nworkers; i++)
		track(w, workers[i], "worker or template");
	nworkers = pool_workers(zygote, workers, 64);
	for (size_t i = 0; i < nworkers && i < 64; i++)
		track(w, workers[i], "worker");
	nmarked = proc_find_comm(w->tag, marked, 16);
	E2E_ASSERT(nmarked == 2, "%zu processes named %s", nmarked, w->tag);
	for (size_t i = 0; i < nmarked; i++)
		track(w, marked[i], "job process");
}

static size_t count_surviving(const struct shutdown_watch *w, char *report, size_t size)
{
	size_t alive = 0, used = 0;

	report[0] = '\0';
	for (size_t i = 0; i < w->count; i++) {
		if (proc_start_time(w->procs[i].pid) != w->procs[i].start)
			continue;
		alive++;
		used += (size_t)snprintf(report + used, used < size ? size - used : 0,
					 " %s %d (state %c, parent %d)", w->procs[i].role,
					 (int)w->procs[i].pid, proc_state(w->procs[i].pid),
					 (int)proc_ppid(w->procs[i].pid));
		if (used >= size)
			used = size;
	}
	return alive;
}

START_TEST(test_clean_shutdown)
{
	struct brigd d;
	struct brig_client *c;
	struct job_result r = { 0 };
	struct shutdown_watch w = { .d = &d };
	char tag[16], report[2048];
	int64_t deadline, stop_ms, exit_ms;
	size_t alive = 0, named = 0;
	struct stat st;
	int status;

	make_tag(tag, sizeof(tag), "e2estop");
	w.tag = tag;
	brigd_start(&d, NULL);
	c = connect_client(&d, "e2e-shutdown");
	r.user = &w;
	r.on_first_item = record_processes;
	r.action = ACTION_SIGTERM;
	r.daemon_pid = d.pid;
	submit_str(c, "mark", tag, 30000, &r);
	/* SIGTERM goes out at the mark item; the wait ends with the connection. */
	brig_wait(c, 0);
	E2E_ASSERT(r.action_ms > 0, "the mark item never arrived; %s", describe(&r));
	E2E_ASSERT(r.finals == 1, "the running job must end exactly once; %s", describe(&r));
	stop_ms = r.action_ms;
	brig_close(c);
	job_result_free(&r);

	E2E_ASSERT(brigd_wait_exit(&d, 5000), "brigd did not exit within 5 s of SIGTERM");
	status = d.wait_status;
	E2E_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		   "brigd stopped with %s %d", WIFEXITED(status) ? "exit status" : "signal",
		   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	E2E_ASSERT(stat(d.socket_path, &st) < 0 && errno == ENOENT,
		   "brigd left its socket %s behind", d.socket_path);
	E2E_ASSERT(w.count >= 4, "tracked only %zu processes (broker, zygote, worker, job child)",
		   w.count);

	/*
	 * The broker is a subreaper: by the time it exits it must have reaped
	 * every process of its own, not left them (as zombies, or still dying)
	 * to init, which in a container may never reap them.  The short grace
	 * only absorbs /proc's view catching up.
	 */
	exit_ms = harness_now_ms();
	deadline = exit_ms + SHUTDOWN_GRACE_MS;
	do {
		alive = count_surviving(&w, report, sizeof(report));
		named = proc_find_comm(tag, NULL, 0);
		if (alive == 0 && named == 0)
			break;
		harness_sleep_ms(10);
	} while (harness_now_ms() < deadline);
	E2E_ASSERT(alive == 0 && named == 0, "brigd exited %" PRId64 " ms after SIGTERM, but "
		   "%" PRId64 " ms later %zu of its %zu processes remain:%s; %zu named %s",
		   exit_ms - stop_ms, harness_now_ms() - exit_ms, alive, w.count, report, named,
		   tag);
	brigd_cleanup(&d);
}
END_TEST

/* A frame begun and never finished: the client is cut after frame_timeout_ms. */
START_TEST(test_frame_timeout)
{
	struct brigd d;
	struct raw_msg m;
	uint8_t partial[14] = { 0, 0, 0, 100 };   /* declares 100 bytes, sends 10 */
	int64_t start;
	int fd, type;

	brigd_start(&d, "[brigd]\nframe_timeout_ms = 1000\n");
	fd = raw_connect(&d);
	raw_handshake(fd, NULL);
	E2E_ASSERT(write(fd, partial, sizeof(partial)) == (ssize_t)sizeof(partial), "write: %s",
		   strerror(errno));
	start = harness_now_ms();
	type = raw_read_msg(fd, 8000, &m);
	E2E_ASSERT(type == MSG_ERROR && m.error.code == BRIG_ERROR_PROTOCOL,
		   "expected ERROR protocol for the stalled frame, got %d", type);
	E2E_ASSERT(harness_now_ms() - start >= 900, "cut after %" PRId64 " ms, before the timeout",
		   harness_now_ms() - start);
	type = raw_read_msg(fd, 8000, &m);
	E2E_ASSERT(type == -ECONNRESET, "expected the connection closed, got %d", type);
	close(fd);
	brigd_stop(&d);
}
END_TEST

/* A job running at shutdown still gets its one FINAL before the close. */
START_TEST(test_shutdown_final)
{
	struct brigd d;
	struct raw_msg m;
	unsigned finals = 0;
	int fd, type, status;

	/* Running jobs may go on for shutdown_timeout_ms, then are killed. */
	brigd_start(&d, "[brigd]\nshutdown_timeout_ms = 300\n");
	fd = raw_connect(&d);
	raw_handshake(fd, NULL);
	ck_assert(raw_send_submit(fd, 1, "sleep", "5000", 4, 0) == 0);
	type = raw_read_msg(fd, 10000, &m);
	E2E_ASSERT(type == MSG_ITEM && m.item_job_id == 1, "expected job 1's first item, got %d",
		   type);
	E2E_ASSERT(kill(d.pid, SIGTERM) == 0, "kill: %s", strerror(errno));
	for (;;) {
		type = raw_read_msg(fd, 5000, &m);
		if (type == MSG_ITEM)
			continue;
		if (type != MSG_FINAL)
			break;
		finals++;
		E2E_ASSERT(m.final.job_id == 1 && m.final.outcome == BRIG_OUTCOME_BROKER_ERROR,
			   "FINAL for job %u with outcome %s at shutdown", m.final.job_id,
			   brig_outcome_name((int)m.final.outcome));
	}
	E2E_ASSERT(type == -ECONNRESET, "expected the connection closed after the FINAL, got %d "
		   "(%s)", type, type < 0 ? strerror(-type) : msg_type_name(type));
	E2E_ASSERT(finals == 1, "the job running at SIGTERM got %u FINALs before brigd closed "
		   "the connection; every job ends with exactly one", finals);
	close(fd);
	E2E_ASSERT(brigd_wait_exit(&d, 5000), "brigd did not exit within 5 s of SIGTERM");
	status = d.wait_status;
	E2E_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "brigd stopped with %s %d",
		   WIFEXITED(status) ? "exit status" : "signal",
		   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	brigd_cleanup(&d);
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *e2e_suite(void)
{
	Suite *s = suite_create("e2e");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{ "echo", test_echo_round_trip },
		{ "magic", test_magic },
		{ "archive", test_archive_list },
		{ "crash", test_crash },
		{ "timeout", test_timeout },
		{ "concurrency", test_concurrent_one_connection },
		{ "attach", test_concurrent_connections },
		{ "disconnect", test_client_disconnect },
		{ "cancel", test_cancel },
		{ "selfcheck", test_selfcheck },
		{ "leaks", test_no_zombies_no_leaks },
		{ "pool_autosizing", test_pool_autosizing },
		{ "worker_reuse", test_worker_reuse },
		{ "bad_input", test_bad_input },
		{ "busy", test_busy },
		{ "cli", test_cli },
		{ "shutdown", test_clean_shutdown },
		{ "shutdown_final", test_shutdown_final },
		{ "frame_timeout", test_frame_timeout },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);

		tcase_add_checked_fixture(tc, harness_test_setup, harness_test_teardown);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (geteuid() != 0) {
		fprintf(stderr, "check_e2e: brigd needs root; skipping\n");
		return 77;
	}
	/* A write to a daemon that went away must fail, not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	sr = srunner_create(e2e_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
