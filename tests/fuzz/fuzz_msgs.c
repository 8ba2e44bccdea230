/*
 * Decode, re-pack, re-decode, compare; render as JSON, validate.
 *
 * The round trip holds the codec to its own contract: a frame that a
 * decoder accepts is one that the matching packer could have written, so
 * re-packing what was decoded must succeed and decode to the very same
 * fields.  A decoder that accepts more than the packer writes, or a packer
 * that writes what the decoder refuses, shows up here as an abort.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "fuzz.h"
#include "fuzz_msgs.h"
#include "json.h"

/* ---- a strict JSON checker (RFC 8259) ---- */

struct json_reader {
	const unsigned char *p;
	const unsigned char *end;
	const char *why;
};

#define JSON_CHECK_DEPTH 512

static void json_skip_space(struct json_reader *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static bool json_fail(struct json_reader *r, const char *why)
{
	r->why = why;
	return false;
}

static bool json_literal(struct json_reader *r, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
		return json_fail(r, "bad literal");
	r->p += n;
	return true;
}

static bool json_digits(struct json_reader *r)
{
	const unsigned char *start = r->p;

	while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
		r->p++;
	return r->p > start;
}

static bool json_number(struct json_reader *r)
{
	if (r->p < r->end && *r->p == '-')
		r->p++;
	if (r->p < r->end && *r->p == '0')
		r->p++;
	else if (!json_digits(r))
		return json_fail(r, "number without digits");
	if (r->p < r->end && *r->p == '.') {
		r->p++;
		if (!json_digits(r))
			return json_fail(r, "no digits after the decimal point");
	}
	if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
		r->p++;
		if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
			r->p++;
		if (!json_digits(r))
			return json_fail(r, "no digits in the exponent");
	}
	return true;
}

static bool json_hex4(struct json_reader *r, unsigned *out)
{
	unsigned v = 0;

	if (r->end - r->p < 4)
		return json_fail(r, "short \\u escape");
	for (int i = 0; i < 4; i++) {
		unsigned char c = *r->p++;

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return json_fail(r, "bad hex digit in \\u escape");
	}
	*out = v;
	return true;
}

/* One UTF-8 sequence, well-formed per RFC 3629. */
static bool json_utf8(struct json_reader *r)
{
	unsigned char b = *r->p;
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len;

	if (b >= 0xc2 && b <= 0xdf) {
		len = 2;
	} else if (b >= 0xe0 && b <= 0xef) {
		len = 3;
		if (b == 0xe0)
			lo = 0xa0;
		else if (b == 0xed)
			hi = 0x9f;
	} else if (b >= 0xf0 && b <= 0xf4) {
		len = 4;
		if (b == 0xf0)
			lo = 0x90;
		else if (b == 0xf4)
			hi = 0x8f;
	} else {
		return json_fail(r, "invalid UTF-8 lead byte");
	}
	if ((size_t)(r->end - r->p) < len || r->p[1] < lo || r->p[1] > hi)
		return json_fail(r, "invalid UTF-8 sequence");
	for (size_t i = 2; i < len; i++)
		if (r->p[i] < 0x80 || r->p[i] > 0xbf)
			return json_fail(r, "invalid UTF-8 continuation byte");
	r->p += len;
	return true;
}

static bool json_string(struct json_reader *r)
{
	r->p++;   /* the opening quote */
	for (;;) {
		unsigned char c;

		if (r->p >= r->end)
			return json_fail(r, "unterminated string");
		c = *r->p;
		if (c == '"') {
			r->p++;
			return true;
		}
		if (c < 0x20)
			return json_fail(r, "unescaped control character in a string");
		if (c == '\\') {
			unsigned cp, low;

			r->p++;
			if (r->p >= r->end)
				return json_fail(r, "unterminated escape");
			c = *r->p++;
			if (strchr("\"\\/bfnrt", c) != NULL && c != '\0')
				continue;
			if (c != 'u')
				return json_fail(r, "unknown escape");
			if (!json_hex4(r, &cp))
				return false;
			/* A lone surrogate is not a character; a pair must be whole. */
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return json_fail(r, "lone low surrogate escape");
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u')
					return json_fail(r, "lone high surrogate escape");
				r->p += 2;
				if (!json_hex4(r, &low))
					return false;
				if (low < 0xdc00 || low > 0xdfff)
					return json_fail(r, "high surrogate without a low one");
			}
			continue;
		}
		if (c < 0x80) {
			r->p++;
			continue;
		}
		if (!json_utf8(r))
			return false;
	}
}

static bool json_value(struct json_reader *r, unsigned depth);

static bool json_container(struct json_reader *r, unsigned depth, bool is_object)
{
	char close = is_object ? '}' : ']';
	bool first = true;

	if (depth >= JSON_CHECK_DEPTH)
		return json_fail(r, "nested too deep");
	r->p++;
	json_skip_space(r);
	if (r->p < r->end && *r->p == close) {
		r->p++;
		return true;
	}
	for (;;) {
		if (!first) {
			json_skip_space(r);
			if (r->p < r->end && *r->p == close) {
				r->p++;
				return true;
			}
			if (r->p >= r->end || *r->p != ',')
				return json_fail(r, "expected ',' or the closing bracket");
			r->p++;
		}
		first = false;
		json_skip_space(r);
		if (is_object) {
			if (r->p >= r->end || *r->p != '"')
				return json_fail(r, "object key is not a string");
			if (!json_string(r))
				return false;
			json_skip_space(r);
			if (r->p >= r->end || *r->p != ':')
				return json_fail(r, "expected ':' after an object key");
			r->p++;
		}
		if (!json_value(r, depth + 1))
			return false;
	}
}

static bool json_value(struct json_reader *r, unsigned depth)
{
	json_skip_space(r);
	if (r->p >= r->end)
		return json_fail(r, "value missing");
	switch (*r->p) {
	case '{':
		return json_container(r, depth, true);
	case '[':
		return json_container(r, depth, false);
	case '"':
		return json_string(r);
	case 't':
		return json_literal(r, "true");
	case 'f':
		return json_literal(r, "false");
	case 'n':
		return json_literal(r, "null");
	default:
		if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9'))
			return json_number(r);
		return json_fail(r, "unexpected character");
	}
}

void fuzz_check_json(const char *buf, size_t len)
{
	struct json_reader r = { (const unsigned char *)buf, (const unsigned char *)buf + len, NULL };

	if (!json_value(&r, 0))
		fuzz_fail("invalid JSON at offset %zu: %s: %.*s", (size_t)(r.p - (const unsigned char *)buf),
			  r.why, (int)(len > 200 ? 200 : len), buf);
	json_skip_space(&r);
	FUZZ_CHECK(r.p == r.end, "trailing bytes after a JSON value at offset %zu",
		   (size_t)(r.p - (const unsigned char *)buf));
}

void fuzz_check_json_object(const msgpack_object *o)
{
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	int r;

	FUZZ_CHECK(mem != NULL, "open_memstream failed");
	r = json_print_object(mem, o);
	FUZZ_CHECK(fclose(mem) == 0, "fclose of a memstream failed");
	FUZZ_CHECK(r == 0, "json_print_object failed on an in-memory stream");
	fuzz_check_json(text, len);
	free(text);
}

static void check_json_strlist(const struct strlist *list)
{
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);

	FUZZ_CHECK(mem != NULL, "open_memstream failed");
	putc('[', mem);
	for (size_t i = 0; i < list->count; i++) {
		if (i)
			putc(',', mem);
		FUZZ_CHECK(json_print_string(mem, list->names[i], strlen(list->names[i])) == 0,
			   "json_print_string failed");
	}
	putc(']', mem);
	FUZZ_CHECK(fclose(mem) == 0, "fclose of a memstream failed");
	fuzz_check_json(text, len);
	free(text);
}

static void check_json_cstr(const char *s)
{
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);

	FUZZ_CHECK(mem != NULL, "open_memstream failed");
	FUZZ_CHECK(json_print_string(mem, s, strlen(s)) == 0, "json_print_string failed");
	FUZZ_CHECK(fclose(mem) == 0, "fclose of a memstream failed");
	fuzz_check_json(text, len);
	free(text);
}

/* ---- the round trip ---- */

/* A re-packed frame, opened again. */
struct repacked {
	msgpack_sbuffer sb;
	struct msg_in in;
};

/* Check the packer's result and open what it wrote. */
static void repack_open(struct repacked *rp, int packed, int type)
{
	uint32_t body_len;
	int r;

	FUZZ_CHECK(packed == 0, "%s: decoded fine but the packer refuses it: %s",
		   msg_type_name(type), strerror(-packed));
	FUZZ_CHECK(rp->sb.size > FRAME_HEADER_SIZE, "%s: packer wrote no body", msg_type_name(type));
	r = frame_parse_header((const uint8_t *)rp->sb.data, BRIG_FRAME_MAX_CEILING, &body_len);
	FUZZ_CHECK(r == 0 && body_len == rp->sb.size - FRAME_HEADER_SIZE,
		   "%s: the packed header does not match the body", msg_type_name(type));
	r = msg_open(&rp->in, (const uint8_t *)rp->sb.data + FRAME_HEADER_SIZE, body_len);
	FUZZ_CHECK(r == type, "%s: the re-packed frame does not open: %s", msg_type_name(type),
		   rp->in.error);
}

static void repack_close(struct repacked *rp)
{
	msg_close(&rp->in);
	msgpack_sbuffer_destroy(&rp->sb);
}

#define SAME(field) FUZZ_CHECK(a->field == b->field, "%s: field " #field " changed in the round trip", name)
#define SAME_STR(field) \
	FUZZ_CHECK(strcmp(a->field, b->field) == 0, "%s: field " #field " changed in the round trip", name)

static void same_bytes(const char *name, const char *field, const uint8_t *x, size_t x_len,
		       const uint8_t *y, size_t y_len)
{
	FUZZ_CHECK(x_len == y_len && (x_len == 0 || memcmp(x, y, x_len) == 0),
		   "%s: field %s changed in the round trip", name, field);
}

static void same_strlist(const char *name, const char *field, const struct strlist *x,
			 const struct strlist *y)
{
	FUZZ_CHECK(x->count == y->count, "%s: field %s changed length in the round trip", name, field);
	for (size_t i = 0; i < x->count; i++)
		FUZZ_CHECK(strcmp(x->names[i], y->names[i]) == 0,
			   "%s: field %s[%zu] changed in the round trip", name, field, i);
}

/*
 * msgpack_object_equal, except that floats compare by bits: NaN is not
 * equal to itself, but a NaN that survives the round trip is unchanged.
 */
static bool objects_identical(const msgpack_object *x, const msgpack_object *y)
{
	if (x->type != y->type)
		return false;
	switch (x->type) {
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return memcmp(&x->via.f64, &y->via.f64, sizeof(x->via.f64)) == 0;
	case MSGPACK_OBJECT_ARRAY:
		if (x->via.array.size != y->via.array.size)
			return false;
		for (uint32_t i = 0; i < x->via.array.size; i++)
			if (!objects_identical(&x->via.array.ptr[i], &y->via.array.ptr[i]))
				return false;
		return true;
	case MSGPACK_OBJECT_MAP:
		if (x->via.map.size != y->via.map.size)
			return false;
		for (uint32_t i = 0; i < x->via.map.size; i++)
			if (!objects_identical(&x->via.map.ptr[i].key, &y->via.map.ptr[i].key) ||
			    !objects_identical(&x->via.map.ptr[i].val, &y->via.map.ptr[i].val))
				return false;
		return true;
	default:
		return msgpack_object_equal(*x, *y);
	}
}

static void same_object(const char *name, const msgpack_object *x, const msgpack_object *y)
{
	FUZZ_CHECK(objects_identical(x, y), "%s: item changed in the round trip", name);
}

/* A decoded list (entries in the frame, no v) made packable again. */
static struct msg_strv strv_packable(const char *name, const struct msg_strv *decoded)
{
	struct msg_strv l = { NULL, decoded->count, NULL };

	FUZZ_CHECK(decoded->count == 0 || decoded->array != NULL,
		   "%s: decoded list without its array", name);
	if (decoded->count > 0) {
		l.v = (const char *const *)msg_strv_dup(decoded);
		FUZZ_CHECK(l.v != NULL, "%s: msg_strv_dup failed on a decoded list", name);
	}
	return l;
}

static void strv_packable_free(struct msg_strv *l)
{
	free((void *)l->v);
	l->v = NULL;
}

static void same_strv(const char *name, const char *field, const struct msg_strv *x,
		      const struct msg_strv *y)
{
	static char a[BRIG_ARG_LEN + 1], b[BRIG_ARG_LEN + 1];

	FUZZ_CHECK(x->count == y->count, "%s: field %s changed length in the round trip", name,
		   field);
	for (size_t i = 0; i < x->count; i++) {
		FUZZ_CHECK(msg_strv_get(x, i, a, sizeof(a)) == 0 &&
			   msg_strv_get(y, i, b, sizeof(b)) == 0,
			   "%s: msg_strv_get fails on entry %zu of a decoded %s", name, i, field);
		FUZZ_CHECK(strcmp(a, b) == 0, "%s: field %s[%zu] changed in the round trip", name,
			   field, i);
	}
}

static int roundtrip_hello(struct msg_in *in)
{
	struct msg_hello m, again, *a = &m, *b = &again;
	struct repacked rp;
	const char *name = "HELLO";
	int r = msg_decode_hello(in, &m);

	if (r < 0)
		return r;
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_hello(&rp.sb, &m), MSG_HELLO);
	FUZZ_CHECK(msg_decode_hello(&rp.in, &again) == 0, "%s: re-decode: %s", name, rp.in.error);
	SAME(version);
	SAME_STR(client);
	repack_close(&rp);
	return 0;
}

static int roundtrip_welcome(struct msg_in *in, bool render_json)
{
	struct msg_welcome m, again, *a = &m, *b = &again;
	struct repacked rp;
	const char *name = "WELCOME";
	int r = msg_decode_welcome(in, &m);

	if (r < 0)
		return r;
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_welcome(&rp.sb, &m), MSG_WELCOME);
	FUZZ_CHECK(msg_decode_welcome(&rp.in, &again) == 0, "%s: re-decode: %s", name, rp.in.error);
	SAME(version);
	SAME_STR(server);
	SAME(max_frame);
	SAME(max_input);
	SAME(max_jobs);
	same_strlist(name, "handlers", &m.handlers, &again.handlers);
	same_strlist(name, "profiles", &m.profiles, &again.profiles);
	if (render_json) {
		check_json_strlist(&m.handlers);
		check_json_strlist(&m.profiles);
	}
	strlist_free(&again.handlers);
	strlist_free(&again.profiles);
	strlist_free(&m.handlers);
	strlist_free(&m.profiles);
	repack_close(&rp);
	return 0;
}

static int roundtrip_submit(struct msg_in *in)
{
	struct msg_submit m, small, again, packable, *a = &m, *b = &again;
	struct repacked rp;
	const char *name = "SUBMIT";
	int r = msg_decode_submit(in, FUZZ_INPUT_LIMIT, &m);

	/* The limit is the only thing that differs: a tighter one refuses
	 * exactly the inputs over it. */
	if (msg_decode_submit(in, 8, &small) == 0)
		FUZZ_CHECK(r == 0 && small.input_len <= 8, "SUBMIT: input limit not applied");
	else if (r == 0)
		FUZZ_CHECK(m.input_len > 8, "SUBMIT: refused under a limit it is within");
	if (r < 0)
		return r;
	packable = m;
	packable.descriptors = strv_packable(name, &m.descriptors);
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_submit(&rp.sb, &packable), MSG_SUBMIT);
	FUZZ_CHECK(msg_decode_submit(&rp.in, FUZZ_INPUT_LIMIT, &again) == 0, "%s: re-decode: %s", name,
		   rp.in.error);
	SAME(job_id);
	SAME_STR(handler);
	SAME_STR(profile);
	SAME(timeout_ms);
	SAME(input_fd);
	same_bytes(name, "input", m.input, m.input_len, again.input, again.input_len);
	same_strv(name, "descriptors", &m.descriptors, &again.descriptors);
	strv_packable_free(&packable.descriptors);
	repack_close(&rp);
	return 0;
}

static int roundtrip_cancel(struct msg_in *in)
{
	struct msg_cancel m, again, *a = &m, *b = &again;
	struct repacked rp;
	const char *name = "CANCEL";
	int r = msg_decode_cancel(in, &m);

	if (r < 0)
		return r;
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_cancel(&rp.sb, &m), MSG_CANCEL);
	FUZZ_CHECK(msg_decode_cancel(&rp.in, &again) == 0, "%s: re-decode: %s", name, rp.in.error);
	SAME(job_id);
	repack_close(&rp);
	return 0;
}

static int roundtrip_item(struct msg_in *in, bool render_json)
{
	struct msg_item m, again, *a = &m, *b = &again;
	struct repacked rp;
	const char *name = "ITEM";
	int r = msg_decode_item(in, &m);

	if (r < 0)
		return r;
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_item(&rp.sb, &m), MSG_ITEM);
	FUZZ_CHECK(msg_decode_item(&rp.in, &again) == 0, "%s: re-decode: %s", name, rp.in.error);
	SAME(job_id);
	SAME(seq);
	same_object(name, m.item, again.item);
	if (render_json)
		fuzz_check_json_object(m.item);
	repack_close(&rp);
	return 0;
}

static int roundtrip_final(struct msg_in *in, bool render_json)
{
	struct msg_final m, again, *a = &m, *b = &again;
	struct repacked rp;
	const char *name = "FINAL";
	int r = msg_decode_final(in, &m);

	if (r < 0)
		return r;
	FUZZ_CHECK(m.outcome <= BRIG_OUTCOME__MAX, "FINAL: outcome %u accepted", m.outcome);
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_final(&rp.sb, &m), MSG_FINAL);
	FUZZ_CHECK(msg_decode_final(&rp.in, &again) == 0, "%s: re-decode: %s", name, rp.in.error);
	SAME(job_id);
	SAME(outcome);
	SAME(code);
	SAME_STR(message);
	SAME(usage.wall_us);
	SAME(usage.cpu_us);
	SAME(usage.maxrss_kib);
	if (render_json)
		check_json_cstr(m.message);
	repack_close(&rp);
	return 0;
}

static int roundtrip_error(struct msg_in *in, bool render_json)
{
	struct msg_error m, again, *a = &m, *b = &again;
	struct repacked rp;
	const char *name = "ERROR";
	int r = msg_decode_error(in, &m);

	if (r < 0)
		return r;
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_error(&rp.sb, &m), MSG_ERROR);
	FUZZ_CHECK(msg_decode_error(&rp.in, &again) == 0, "%s: re-decode: %s", name, rp.in.error);
	SAME(has_job);
	if (m.has_job)
		SAME(job_id);
	SAME(code);
	SAME_STR(message);
	if (render_json)
		check_json_cstr(m.message);
	repack_close(&rp);
	return 0;
}

static int roundtrip_worker_ready(struct msg_in *in)
{
	struct repacked rp;
	int r = msg_decode_worker_ready(in);

	if (r < 0)
		return r;
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_worker_ready(&rp.sb), MSG_WORKER_READY);
	FUZZ_CHECK(msg_decode_worker_ready(&rp.in) == 0, "WORKER_READY: re-decode: %s", rp.in.error);
	repack_close(&rp);
	return 0;
}

static int roundtrip_worker_job(struct msg_in *in)
{
	struct msg_worker_job m, again, packable, *a = &m, *b = &again;
	struct repacked rp;
	const char *name = "WORKER_JOB";
	int r = msg_decode_worker_job(in, FUZZ_INPUT_LIMIT, &m);

	if (r < 0)
		return r;
	packable = m;
	packable.descriptors = strv_packable(name, &m.descriptors);
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_worker_job(&rp.sb, &packable), MSG_WORKER_JOB);
	FUZZ_CHECK(msg_decode_worker_job(&rp.in, FUZZ_INPUT_LIMIT, &again) == 0, "%s: re-decode: %s",
		   name, rp.in.error);
	SAME_STR(handler);
	SAME(input_fd);
	same_bytes(name, "input", m.input, m.input_len, again.input, again.input_len);
	same_strv(name, "descriptors", &m.descriptors, &again.descriptors);
	strv_packable_free(&packable.descriptors);
	repack_close(&rp);
	return 0;
}

/*
 * WORKER_ITEM as the broker treats it: the item is re-packed into a client
 * ITEM (worker_relay_item), which must then decode to the same object.
 */
static int roundtrip_worker_item(struct msg_in *in, bool render_json)
{
	struct msg_worker_item m, again;
	struct msg_item relayed;
	struct repacked rp, client;
	const char *name = "WORKER_ITEM";
	int r = msg_decode_worker_item(in, &m);

	if (r < 0)
		return r;
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_worker_item(&rp.sb, &m), MSG_WORKER_ITEM);
	FUZZ_CHECK(msg_decode_worker_item(&rp.in, &again) == 0, "%s: re-decode: %s", name,
		   rp.in.error);
	same_object(name, m.item, again.item);

	msgpack_sbuffer_init(&client.sb);
	repack_open(&client, msg_pack_item(&client.sb, &(struct msg_item){ UINT32_MAX, UINT32_MAX, m.item }),
		    MSG_ITEM);
	FUZZ_CHECK(msg_decode_item(&client.in, &relayed) == 0, "%s relayed as ITEM: %s", name,
		   client.in.error);
	same_object("ITEM relayed from WORKER_ITEM", m.item, relayed.item);
	if (render_json)
		fuzz_check_json_object(relayed.item);
	repack_close(&client);
	repack_close(&rp);
	return 0;
}

static int roundtrip_worker_done(struct msg_in *in)
{
	struct msg_worker_done m, again, *a = &m, *b = &again;
	struct repacked rp;
	const char *name = "WORKER_DONE";
	int r = msg_decode_worker_done(in, &m);

	if (r < 0)
		return r;
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_worker_done(&rp.sb, &m), MSG_WORKER_DONE);
	FUZZ_CHECK(msg_decode_worker_done(&rp.in, &again) == 0, "%s: re-decode: %s", name,
		   rp.in.error);
	SAME(status);
	SAME_STR(message);
	SAME(cpu_us);
	SAME(maxrss_kib);
	repack_close(&rp);
	return 0;
}

static int roundtrip_worker_violation(struct msg_in *in)
{
	struct msg_worker_violation m, again, *a = &m, *b = &again;
	struct repacked rp;
	const char *name = "WORKER_VIOLATION";
	int r = msg_decode_worker_violation(in, &m);

	if (r < 0)
		return r;
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_worker_violation(&rp.sb, &m), MSG_WORKER_VIOLATION);
	FUZZ_CHECK(msg_decode_worker_violation(&rp.in, &again) == 0, "%s: re-decode: %s", name,
		   rp.in.error);
	SAME(syscall);
	repack_close(&rp);
	return 0;
}

static int roundtrip_zygote_ready(struct msg_in *in)
{
	struct msg_zygote_ready m, again;
	struct repacked rp;
	const char *name = "ZYGOTE_READY";
	int r = msg_decode_zygote_ready(in, &m);

	if (r < 0)
		return r;
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_zygote_ready(&rp.sb, &m), MSG_ZYGOTE_READY);
	FUZZ_CHECK(msg_decode_zygote_ready(&rp.in, &again) == 0, "%s: re-decode: %s", name,
		   rp.in.error);
	same_strlist(name, "handlers", &m.handlers, &again.handlers);
	strlist_free(&again.handlers);
	strlist_free(&m.handlers);
	repack_close(&rp);
	return 0;
}

static int roundtrip_zygote_spawn(struct msg_in *in)
{
	struct msg_zygote_spawn m, again, *a = &m, *b = &again;
	struct repacked rp;
	const char *name = "ZYGOTE_SPAWN";
	int r = msg_decode_zygote_spawn(in, &m);

	if (r < 0)
		return r;
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_zygote_spawn(&rp.sb, &m), MSG_ZYGOTE_SPAWN);
	FUZZ_CHECK(msg_decode_zygote_spawn(&rp.in, &again) == 0, "%s: re-decode: %s", name,
		   rp.in.error);
	SAME(worker_id);
	SAME(profile);
	repack_close(&rp);
	return 0;
}

static int roundtrip_zygote_spawned(struct msg_in *in)
{
	struct msg_zygote_spawned m, again, *a = &m, *b = &again;
	struct repacked rp;
	const char *name = "ZYGOTE_SPAWNED";
	int r = msg_decode_zygote_spawned(in, &m);

	if (r < 0)
		return r;
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_zygote_spawned(&rp.sb, &m), MSG_ZYGOTE_SPAWNED);
	FUZZ_CHECK(msg_decode_zygote_spawned(&rp.in, &again) == 0, "%s: re-decode: %s", name,
		   rp.in.error);
	SAME(worker_id);
	SAME(pid);
	repack_close(&rp);
	return 0;
}

static int roundtrip_zygote_spawn_failed(struct msg_in *in)
{
	struct msg_zygote_spawn_failed m, again, *a = &m, *b = &again;
	struct repacked rp;
	const char *name = "ZYGOTE_SPAWN_FAILED";
	int r = msg_decode_zygote_spawn_failed(in, &m);

	if (r < 0)
		return r;
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_zygote_spawn_failed(&rp.sb, &m), MSG_ZYGOTE_SPAWN_FAILED);
	FUZZ_CHECK(msg_decode_zygote_spawn_failed(&rp.in, &again) == 0, "%s: re-decode: %s", name,
		   rp.in.error);
	SAME(worker_id);
	SAME(error);
	SAME_STR(message);
	repack_close(&rp);
	return 0;
}

static int roundtrip_zygote_kill(struct msg_in *in)
{
	struct msg_zygote_kill m, again, *a = &m, *b = &again;
	struct repacked rp;
	const char *name = "ZYGOTE_KILL";
	int r = msg_decode_zygote_kill(in, &m);

	if (r < 0)
		return r;
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_zygote_kill(&rp.sb, &m), MSG_ZYGOTE_KILL);
	FUZZ_CHECK(msg_decode_zygote_kill(&rp.in, &again) == 0, "%s: re-decode: %s", name,
		   rp.in.error);
	SAME(worker_id);
	repack_close(&rp);
	return 0;
}

static int roundtrip_zygote_exited(struct msg_in *in)
{
	struct msg_zygote_exited m, again, *a = &m, *b = &again;
	struct repacked rp;
	const char *name = "ZYGOTE_EXITED";
	int r = msg_decode_zygote_exited(in, &m);

	if (r < 0)
		return r;
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_zygote_exited(&rp.sb, &m), MSG_ZYGOTE_EXITED);
	FUZZ_CHECK(msg_decode_zygote_exited(&rp.in, &again) == 0, "%s: re-decode: %s", name,
		   rp.in.error);
	SAME(worker_id);
	SAME(wait_status);
	SAME(cpu_us);
	SAME(maxrss_kib);
	repack_close(&rp);
	return 0;
}

static int roundtrip_template_spawn(struct msg_in *in)
{
	struct msg_template_spawn m, again, *a = &m, *b = &again;
	struct repacked rp;
	const char *name = "TEMPLATE_SPAWN";
	int r = msg_decode_template_spawn(in, &m);

	if (r < 0)
		return r;
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_template_spawn(&rp.sb, &m), MSG_TEMPLATE_SPAWN);
	FUZZ_CHECK(msg_decode_template_spawn(&rp.in, &again) == 0, "%s: re-decode: %s", name,
		   rp.in.error);
	SAME(worker_id);
	SAME(uid);
	repack_close(&rp);
	return 0;
}

static int roundtrip_exec(struct msg_in *in)
{
	struct msg_exec m, again, packable, *a = &m, *b = &again;
	struct repacked rp;
	const char *name = "EXEC";
	int r = msg_decode_exec(in, FUZZ_INPUT_LIMIT, &m);

	if (r < 0)
		return r;
	FUZZ_CHECK(m.argv.count >= 1, "EXEC: accepted without argv");
	packable = m;
	packable.argv = strv_packable(name, &m.argv);
	packable.env = strv_packable(name, &m.env);
	packable.descriptors = strv_packable(name, &m.descriptors);
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_exec(&rp.sb, &packable), MSG_EXEC);
	FUZZ_CHECK(msg_decode_exec(&rp.in, FUZZ_INPUT_LIMIT, &again) == 0, "%s: re-decode: %s", name,
		   rp.in.error);
	SAME(job_id);
	SAME_STR(profile);
	SAME_STR(cwd);
	SAME(timeout_ms);
	same_strv(name, "argv", &m.argv, &again.argv);
	same_strv(name, "env", &m.env, &again.env);
	same_strv(name, "descriptors", &m.descriptors, &again.descriptors);
	SAME(stdin_fd);
	same_bytes(name, "stdin", m.stdin_data, m.stdin_len, again.stdin_data, again.stdin_len);
	strv_packable_free(&packable.argv);
	strv_packable_free(&packable.env);
	strv_packable_free(&packable.descriptors);
	repack_close(&rp);
	return 0;
}

static int roundtrip_output(struct msg_in *in)
{
	struct msg_output m, again, *a = &m, *b = &again;
	struct repacked rp;
	const char *name = "OUTPUT";
	int r = msg_decode_output(in, FUZZ_INPUT_LIMIT, &m);

	if (r < 0)
		return r;
	FUZZ_CHECK(m.stream == BRIG_STREAM_STDOUT || m.stream == BRIG_STREAM_STDERR,
		   "OUTPUT: stream %u accepted", m.stream);
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_output(&rp.sb, &m), MSG_OUTPUT);
	FUZZ_CHECK(msg_decode_output(&rp.in, FUZZ_INPUT_LIMIT, &again) == 0, "%s: re-decode: %s", name,
		   rp.in.error);
	SAME(job_id);
	SAME(seq);
	SAME(stream);
	same_bytes(name, "data", m.data, m.len, again.data, again.len);
	repack_close(&rp);
	return 0;
}

static int roundtrip_worker_exec(struct msg_in *in)
{
	struct msg_worker_exec m, again, packable, *a = &m, *b = &again;
	struct repacked rp;
	const char *name = "WORKER_EXEC";
	int r = msg_decode_worker_exec(in, FUZZ_INPUT_LIMIT, &m);

	if (r < 0)
		return r;
	packable = m;
	packable.argv = strv_packable(name, &m.argv);
	packable.env = strv_packable(name, &m.env);
	packable.descriptors = strv_packable(name, &m.descriptors);
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_worker_exec(&rp.sb, &packable), MSG_WORKER_EXEC);
	FUZZ_CHECK(msg_decode_worker_exec(&rp.in, FUZZ_INPUT_LIMIT, &again) == 0, "%s: re-decode: %s",
		   name, rp.in.error);
	SAME_STR(cwd);
	same_strv(name, "argv", &m.argv, &again.argv);
	same_strv(name, "env", &m.env, &again.env);
	same_strv(name, "descriptors", &m.descriptors, &again.descriptors);
	SAME(stdin_fd);
	same_bytes(name, "stdin", m.stdin_data, m.stdin_len, again.stdin_data, again.stdin_len);
	strv_packable_free(&packable.argv);
	strv_packable_free(&packable.env);
	strv_packable_free(&packable.descriptors);
	repack_close(&rp);
	return 0;
}

/* WORKER_OUTPUT as the broker relays it: into a client OUTPUT. */
static int roundtrip_worker_output(struct msg_in *in)
{
	struct msg_worker_output m, again, *a = &m, *b = &again;
	struct msg_output relayed;
	struct repacked rp, client;
	const char *name = "WORKER_OUTPUT";
	int r = msg_decode_worker_output(in, FUZZ_INPUT_LIMIT, &m);

	if (r < 0)
		return r;
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_worker_output(&rp.sb, &m), MSG_WORKER_OUTPUT);
	FUZZ_CHECK(msg_decode_worker_output(&rp.in, FUZZ_INPUT_LIMIT, &again) == 0,
		   "%s: re-decode: %s", name, rp.in.error);
	SAME(stream);
	same_bytes(name, "data", m.data, m.len, again.data, again.len);
	msgpack_sbuffer_init(&client.sb);
	repack_open(&client, msg_pack_output(&client.sb, &(struct msg_output){
		UINT32_MAX, UINT32_MAX, m.stream, m.data, m.len }), MSG_OUTPUT);
	FUZZ_CHECK(msg_decode_output(&client.in, FUZZ_INPUT_LIMIT, &relayed) == 0,
		   "%s relayed as OUTPUT: %s", name, client.in.error);
	same_bytes("OUTPUT relayed from WORKER_OUTPUT", "data", m.data, m.len, relayed.data,
		   relayed.len);
	repack_close(&client);
	repack_close(&rp);
	return 0;
}

static int roundtrip_worker_exit(struct msg_in *in)
{
	struct msg_worker_exit m, again, *a = &m, *b = &again;
	struct repacked rp;
	const char *name = "WORKER_EXIT";
	int r = msg_decode_worker_exit(in, &m);

	if (r < 0)
		return r;
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_worker_exit(&rp.sb, &m), MSG_WORKER_EXIT);
	FUZZ_CHECK(msg_decode_worker_exit(&rp.in, &again) == 0, "%s: re-decode: %s", name,
		   rp.in.error);
	SAME(wait_status);
	repack_close(&rp);
	return 0;
}

static int roundtrip_monitor_zygote_start(struct msg_in *in)
{
	struct msg_monitor_zygote_start m, again, *a = &m, *b = &again;
	struct repacked rp;
	const char *name = "MONITOR_ZYGOTE_START";
	int r = msg_decode_monitor_zygote_start(in, &m);

	if (r < 0)
		return r;
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_monitor_zygote_start(&rp.sb, &m), MSG_MONITOR_ZYGOTE_START);
	FUZZ_CHECK(msg_decode_monitor_zygote_start(&rp.in, &again) == 0, "%s: re-decode: %s", name,
		   rp.in.error);
	SAME(request);
	repack_close(&rp);
	return 0;
}

static int roundtrip_monitor_zygote_started(struct msg_in *in)
{
	struct msg_monitor_zygote_started m, again, *a = &m, *b = &again;
	struct repacked rp;
	const char *name = "MONITOR_ZYGOTE_STARTED";
	int r = msg_decode_monitor_zygote_started(in, &m);

	if (r < 0)
		return r;
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_monitor_zygote_started(&rp.sb, &m), MSG_MONITOR_ZYGOTE_STARTED);
	FUZZ_CHECK(msg_decode_monitor_zygote_started(&rp.in, &again) == 0, "%s: re-decode: %s", name,
		   rp.in.error);
	SAME(request);
	SAME(pid);
	SAME(error);
	repack_close(&rp);
	return 0;
}

static int roundtrip_monitor_zygote_kill(struct msg_in *in)
{
	struct msg_monitor_zygote_kill m, again, *a = &m, *b = &again;
	struct repacked rp;
	const char *name = "MONITOR_ZYGOTE_KILL";
	int r = msg_decode_monitor_zygote_kill(in, &m);

	if (r < 0)
		return r;
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_monitor_zygote_kill(&rp.sb, &m), MSG_MONITOR_ZYGOTE_KILL);
	FUZZ_CHECK(msg_decode_monitor_zygote_kill(&rp.in, &again) == 0, "%s: re-decode: %s", name,
		   rp.in.error);
	SAME(pid);
	repack_close(&rp);
	return 0;
}

static int roundtrip_monitor_zygote_died(struct msg_in *in)
{
	struct msg_monitor_zygote_died m, again, *a = &m, *b = &again;
	struct repacked rp;
	const char *name = "MONITOR_ZYGOTE_DIED";
	int r = msg_decode_monitor_zygote_died(in, &m);

	if (r < 0)
		return r;
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_monitor_zygote_died(&rp.sb, &m), MSG_MONITOR_ZYGOTE_DIED);
	FUZZ_CHECK(msg_decode_monitor_zygote_died(&rp.in, &again) == 0, "%s: re-decode: %s", name,
		   rp.in.error);
	SAME(pid);
	SAME(wait_status);
	repack_close(&rp);
	return 0;
}

static int roundtrip_monitor_access(struct msg_in *in)
{
	struct msg_monitor_access m, again, *a = &m, *b = &again;
	struct repacked rp;
	const char *name = "MONITOR_ACCESS";
	int r = msg_decode_monitor_access(in, &m);

	if (r < 0)
		return r;
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_monitor_access(&rp.sb, &m), MSG_MONITOR_ACCESS);
	FUZZ_CHECK(msg_decode_monitor_access(&rp.in, &again) == 0, "%s: re-decode: %s", name,
		   rp.in.error);
	SAME(uid);
	SAME(gid);
	SAME(group_count);
	SAME(mode);
	SAME_STR(path);
	for (size_t i = 0; i < m.group_count; i++)
		SAME(groups[i]);
	repack_close(&rp);
	return 0;
}

static int roundtrip_monitor_access_result(struct msg_in *in)
{
	struct msg_monitor_access_result m, again, *a = &m, *b = &again;
	struct repacked rp;
	const char *name = "MONITOR_ACCESS_RESULT";
	int r = msg_decode_monitor_access_result(in, &m);

	if (r < 0)
		return r;
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_monitor_access_result(&rp.sb, &m), MSG_MONITOR_ACCESS_RESULT);
	FUZZ_CHECK(msg_decode_monitor_access_result(&rp.in, &again) == 0, "%s: re-decode: %s", name,
		   rp.in.error);
	SAME(error);
	repack_close(&rp);
	return 0;
}

static int roundtrip_monitor_notify(struct msg_in *in)
{
	struct msg_monitor_notify m, again, *a = &m, *b = &again;
	struct repacked rp;
	const char *name = "MONITOR_NOTIFY";
	int r = msg_decode_monitor_notify(in, &m);

	if (r < 0)
		return r;
	msgpack_sbuffer_init(&rp.sb);
	repack_open(&rp, msg_pack_monitor_notify(&rp.sb, &m), MSG_MONITOR_NOTIFY);
	FUZZ_CHECK(msg_decode_monitor_notify(&rp.in, &again) == 0, "%s: re-decode: %s", name,
		   rp.in.error);
	SAME(state);
	SAME_STR(status);
	repack_close(&rp);
	return 0;
}

int fuzz_decode_message(struct msg_in *in, int type, bool render_json)
{
	int r;

	switch (type) {
	case MSG_HELLO:
		r = roundtrip_hello(in);
		break;
	case MSG_WELCOME:
		r = roundtrip_welcome(in, render_json);
		break;
	case MSG_SUBMIT:
		r = roundtrip_submit(in);
		break;
	case MSG_CANCEL:
		r = roundtrip_cancel(in);
		break;
	case MSG_ITEM:
		r = roundtrip_item(in, render_json);
		break;
	case MSG_FINAL:
		r = roundtrip_final(in, render_json);
		break;
	case MSG_ERROR:
		r = roundtrip_error(in, render_json);
		break;
	case MSG_WORKER_READY:
		r = roundtrip_worker_ready(in);
		break;
	case MSG_WORKER_JOB:
		r = roundtrip_worker_job(in);
		break;
	case MSG_WORKER_ITEM:
		r = roundtrip_worker_item(in, render_json);
		break;
	case MSG_WORKER_DONE:
		r = roundtrip_worker_done(in);
		break;
	case MSG_WORKER_VIOLATION:
		r = roundtrip_worker_violation(in);
		break;
	case MSG_EXEC:
		r = roundtrip_exec(in);
		break;
	case MSG_OUTPUT:
		r = roundtrip_output(in);
		break;
	case MSG_WORKER_EXEC:
		r = roundtrip_worker_exec(in);
		break;
	case MSG_WORKER_OUTPUT:
		r = roundtrip_worker_output(in);
		break;
	case MSG_WORKER_EXIT:
		r = roundtrip_worker_exit(in);
		break;
	case MSG_TEMPLATE_SPAWN:
		r = roundtrip_template_spawn(in);
		break;
	case MSG_MONITOR_ZYGOTE_START:
		r = roundtrip_monitor_zygote_start(in);
		break;
	case MSG_MONITOR_ZYGOTE_STARTED:
		r = roundtrip_monitor_zygote_started(in);
		break;
	case MSG_MONITOR_ZYGOTE_KILL:
		r = roundtrip_monitor_zygote_kill(in);
		break;
	case MSG_MONITOR_ZYGOTE_DIED:
		r = roundtrip_monitor_zygote_died(in);
		break;
	case MSG_MONITOR_ACCESS:
		r = roundtrip_monitor_access(in);
		break;
	case MSG_MONITOR_ACCESS_RESULT:
		r = roundtrip_monitor_access_result(in);
		break;
	case MSG_MONITOR_NOTIFY:
		r = roundtrip_monitor_notify(in);
		break;
	case MSG_ZYGOTE_READY:
		r = roundtrip_zygote_ready(in);
		break;
	case MSG_ZYGOTE_SPAWN:
		r = roundtrip_zygote_spawn(in);
		break;
	case MSG_ZYGOTE_SPAWNED:
		r = roundtrip_zygote_spawned(in);
		break;
	case MSG_ZYGOTE_SPAWN_FAILED:
		r = roundtrip_zygote_spawn_failed(in);
		break;
	case MSG_ZYGOTE_KILL:
		r = roundtrip_zygote_kill(in);
		break;
	case MSG_ZYGOTE_EXITED:
		r = roundtrip_zygote_exited(in);
		break;
	default:
		fuzz_fail("msg_open returned type %d, which has no decoder", type);
	}
	/* A peer's bad field is -EBADMSG with a reason; anything else is a bug. */
	if (r < 0) {
		FUZZ_CHECK(r == -EBADMSG, "%s decoder returned %d", msg_type_name(type), r);
		FUZZ_CHECK(in->error[0] != '\0', "%s decoder failed without a reason",
			   msg_type_name(type));
	}
	return r;
}
