/*
 * Unit tests for proto/frame.c: frame headers and msgpack_check(), the
 * structural scanner that stands between peers and msgpack-c's allocator.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <msgpack.h>

#include "frame.h"

/* msgpack-c's unpacker cannot nest deeper than this (MSGPACK_EMBED_STACK_SIZE). */
#define UNPACKER_DEPTH 32

struct sample {
	const char *name;
	const char *bytes;
	size_t len;
};

/* Adjacent literals keep hex escapes from swallowing the text after them. */
#define SAMPLE(name, literal) { name, literal, sizeof(literal) - 1 }

/* One valid object of every msgpack format, plus a few nestings. */
static const struct sample valid_samples[] = {
	SAMPLE("positive fixint 0", "\x00"),
	SAMPLE("positive fixint 127", "\x7f"),
	SAMPLE("negative fixint -1", "\xff"),
	SAMPLE("negative fixint -32", "\xe0"),
	SAMPLE("nil", "\xc0"),
	SAMPLE("false", "\xc2"),
	SAMPLE("true", "\xc3"),
	SAMPLE("fixstr empty", "\xa0"),
	SAMPLE("fixstr 3", "\xa3" "abc"),
	SAMPLE("fixstr 31", "\xbf" "0123456789012345678901234567890"),
	SAMPLE("str8 empty", "\xd9\x00"),
	SAMPLE("str8", "\xd9\x03" "abc"),
	SAMPLE("str16", "\xda\x00\x02" "hi"),
	SAMPLE("str32", "\xdb\x00\x00\x00\x01" "x"),
	SAMPLE("bin8", "\xc4\x02\x00\x01"),
	SAMPLE("bin8 empty", "\xc4\x00"),
	SAMPLE("bin16", "\xc5\x00\x01\xff"),
	SAMPLE("bin32 empty", "\xc6\x00\x00\x00\x00"),
	SAMPLE("bin32", "\xc6\x00\x00\x00\x02\xc1\xc1"),
	SAMPLE("ext8", "\xc7\x02\x05" "ab"),
	SAMPLE("ext8 empty", "\xc7\x00\x05"),
	SAMPLE("ext16", "\xc8\x00\x01\x05" "a"),
	SAMPLE("ext32", "\xc9\x00\x00\x00\x01\xfe" "a"),
	SAMPLE("float32", "\xca\x3f\x80\x00\x00"),
	SAMPLE("float64", "\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00"),
	SAMPLE("uint8", "\xcc\xff"),
	SAMPLE("uint16", "\xcd\xff\xff"),
	SAMPLE("uint32", "\xce\xff\xff\xff\xff"),
	SAMPLE("uint64", "\xcf\xff\xff\xff\xff\xff\xff\xff\xff"),
	SAMPLE("int8", "\xd0\x80"),
	SAMPLE("int16", "\xd1\x80\x00"),
	SAMPLE("int32", "\xd2\x80\x00\x00\x00"),
	SAMPLE("int64", "\xd3\x80\x00\x00\x00\x00\x00\x00\x00"),
	SAMPLE("fixext1", "\xd4\x01\x02"),
	SAMPLE("fixext2", "\xd5\x01\x02\x03"),
	SAMPLE("fixext4", "\xd6\x01\x01\x02\x03\x04"),
	SAMPLE("fixext8", "\xd7\xff\x01\x02\x03\x04\x05\x06\x07\x08"),
	SAMPLE("fixext16", "\xd8\x01" "0123456789abcdef"),
	SAMPLE("fixarray empty", "\x90"),
	SAMPLE("fixarray 3", "\x93\x01\x02\x03"),
	SAMPLE("fixarray 15", "\x9f\xc0\xc0\xc0\xc0\xc0\xc0\xc0\xc0\xc0\xc0\xc0\xc0\xc0\xc0\xc0"),
	SAMPLE("array16 empty", "\xdc\x00\x00"),
	SAMPLE("array16", "\xdc\x00\x02\xc0\xc3"),
	SAMPLE("array32", "\xdd\x00\x00\x00\x01\x01"),
	SAMPLE("fixmap empty", "\x80"),
	SAMPLE("fixmap", "\x81\xa1" "k" "\x01"),
	SAMPLE("map16", "\xde\x00\x01\x01\x02"),
	SAMPLE("map32", "\xdf\x00\x00\x00\x01\xc0\xc0"),
	SAMPLE("nested containers", "\x92\x91\x80\x81\x90\x90"),
	SAMPLE("map of arrays", "\x82\x01\x92\x02\x03\xa1" "x" "\x91\xa0"),
	SAMPLE("message-like", "\x93\x10\xa4" "echo" "\xc4\x03" "abc"),
};

#define N_SAMPLES (sizeof(valid_samples) / sizeof(valid_samples[0]))

/* Copy into an exact-size heap buffer so that ASan sees any overread. */
static uint8_t *exact_copy(const void *bytes, size_t len)
{
	uint8_t *p = malloc(len > 0 ? len : 1);

	ck_assert_ptr_nonnull(p);
	if (len > 0)
		memcpy(p, bytes, len);
	return p;
}

static int check_bytes(const void *bytes, size_t len, unsigned max_depth, const char **why)
{
	uint8_t *copy = exact_copy(bytes, len);
	int r = msgpack_check(copy, len, max_depth, why);

	free(copy);
	return r;
}

/* msgpack-c must unpack every buffer msgpack_check() accepts, all of it. */
static void assert_unpacks_fully(const uint8_t *buf, size_t len)
{
	msgpack_unpacked unpacked;
	size_t offset = 0;
	msgpack_unpack_return ret;

	msgpack_unpacked_init(&unpacked);
	ret = msgpack_unpack_next(&unpacked, (const char *)buf, len, &offset);
	ck_assert_int_eq(ret, MSGPACK_UNPACK_SUCCESS);
	ck_assert_uint_eq(offset, len);
	msgpack_unpacked_destroy(&unpacked);
}

/* ---- frame headers ---- */

START_TEST(test_header_round_trip)
{
	static const uint32_t lengths[] = { 1, 2, 255, 256, 65535, 65536, 0x01020304,
					    BRIG_DEFAULT_MAX_FRAME, BRIG_FRAME_MAX_CEILING };
	uint8_t header[FRAME_HEADER_SIZE];
	uint32_t body_len;
	size_t i;

	for (i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		frame_put_header(header, lengths[i]);
		body_len = 0;
		ck_assert_int_eq(frame_parse_header(header, BRIG_FRAME_MAX_CEILING, &body_len), 0);
		ck_assert_uint_eq(body_len, lengths[i]);
	}
}
END_TEST

START_TEST(test_header_is_big_endian)
{
	const uint8_t header[FRAME_HEADER_SIZE] = { 0x01, 0x02, 0x03, 0x04 };
	uint8_t out[FRAME_HEADER_SIZE];
	uint32_t body_len = 0;

	ck_assert_int_eq(frame_parse_header(header, UINT32_MAX, &body_len), 0);
	ck_assert_uint_eq(body_len, 0x01020304);
	frame_put_header(out, 0x0a0b0c0d);
	ck_assert_uint_eq(out[0], 0x0a);
	ck_assert_uint_eq(out[1], 0x0b);
	ck_assert_uint_eq(out[2], 0x0c);
	ck_assert_uint_eq(out[3], 0x0d);
}
END_TEST

START_TEST(test_header_zero_length)
{
	const uint8_t header[FRAME_HEADER_SIZE] = { 0, 0, 0, 0 };
	uint32_t body_len = 1234;

	ck_assert_int_eq(frame_parse_header(header, BRIG_DEFAULT_MAX_FRAME, &body_len), -EBADMSG);
	ck_assert_uint_eq(body_len, 1234);
}
END_TEST

START_TEST(test_header_oversize)
{
	uint8_t header[FRAME_HEADER_SIZE];
	uint32_t body_len = 1234;

	frame_put_header(header, BRIG_DEFAULT_MAX_FRAME);
	ck_assert_int_eq(frame_parse_header(header, BRIG_DEFAULT_MAX_FRAME, &body_len), 0);
	ck_assert_uint_eq(body_len, BRIG_DEFAULT_MAX_FRAME);

	body_len = 1234;
	frame_put_header(header, BRIG_DEFAULT_MAX_FRAME + 1);
	ck_assert_int_eq(frame_parse_header(header, BRIG_DEFAULT_MAX_FRAME, &body_len), -EMSGSIZE);
	ck_assert_uint_eq(body_len, 1234);

	frame_put_header(header, UINT32_MAX);
	ck_assert_int_eq(frame_parse_header(header, BRIG_FRAME_MAX_CEILING, &body_len), -EMSGSIZE);
	ck_assert_int_eq(frame_parse_header(header, 16, &body_len), -EMSGSIZE);
	ck_assert_uint_eq(body_len, 1234);

	frame_put_header(header, 17);
	ck_assert_int_eq(frame_parse_header(header, 16, &body_len), -EMSGSIZE);
	frame_put_header(header, 16);
	ck_assert_int_eq(frame_parse_header(header, 16, &body_len), 0);
	ck_assert_uint_eq(body_len, 16);
}
END_TEST

/* ---- msgpack_check: valid input ---- */

START_TEST(test_check_every_format)
{
	const struct sample *s = &valid_samples[_i];
	const char *why = NULL;
	uint8_t *copy = exact_copy(s->bytes, s->len);

	ck_assert_msg(msgpack_check(copy, s->len, UNPACKER_DEPTH, &why) == 0,
		      "%s refused: %s", s->name, why ? why : "?");
	assert_unpacks_fully(copy, s->len);
	free(copy);
}
END_TEST

START_TEST(test_check_why_is_optional)
{
	ck_assert_int_eq(msgpack_check((const uint8_t *)"\xc1", 1, 8, NULL), -EBADMSG);
	ck_assert_int_eq(msgpack_check((const uint8_t *)"\xc0", 1, 8, NULL), 0);
}
END_TEST

START_TEST(test_check_empty)
{
	const char *why = NULL;

	ck_assert_int_eq(msgpack_check(NULL, 0, 8, &why), -EBADMSG);
	ck_assert_ptr_nonnull(why);
	why = NULL;
	ck_assert_int_eq(msgpack_check((const uint8_t *)"", 0, 8, &why), -EBADMSG);
	ck_assert_ptr_nonnull(why);
}
END_TEST

/* ---- msgpack_check: malformed input ---- */

/* msgpack is prefix-free: no proper prefix of one object is an object. */
START_TEST(test_check_truncated)
{
	const struct sample *s = &valid_samples[_i];
	const char *why;
	size_t cut;

	for (cut = 0; cut < s->len; cut++) {
		why = NULL;
		ck_assert_msg(check_bytes(s->bytes, cut, UNPACKER_DEPTH, &why) == -EBADMSG,
			      "%s cut to %zu bytes was accepted", s->name, cut);
		ck_assert_ptr_nonnull(why);
		ck_assert(why[0] != '\0');
	}
}
END_TEST

START_TEST(test_check_trailing_bytes)
{
	const struct sample *s = &valid_samples[_i];
	uint8_t buf[64];
	const char *why = NULL;

	ck_assert_uint_lt(s->len, sizeof(buf) - 1);
	memcpy(buf, s->bytes, s->len);
	buf[s->len] = 0xc0;
	ck_assert_int_eq(check_bytes(buf, s->len + 1, UNPACKER_DEPTH, &why), -EBADMSG);
	ck_assert_str_eq(why, "trailing bytes after the object");

	/* two whole objects are not one */
	memcpy(buf + s->len, s->bytes, s->len);
	ck_assert_int_eq(check_bytes(buf, 2 * s->len, UNPACKER_DEPTH, &why), -EBADMSG);
}
END_TEST

/*
 * The reason msgpack_check exists: each of these would make msgpack-c
 * allocate count * 24 bytes (or try to) for a frame of a few bytes.
 */
static const struct sample huge_counts[] = {
	SAMPLE("array32 of 2^32-1 in 5 bytes", "\xdd\xff\xff\xff\xff"),
	SAMPLE("array32 of 2^32-1 with a few bytes", "\xdd\xff\xff\xff\xff\xc0\xc0\xc0"),
	SAMPLE("array32 of 5 with 4 bytes", "\xdd\x00\x00\x00\x05\xc0\xc0\xc0\xc0"),
	SAMPLE("array16 of 65535", "\xdc\xff\xff\xc0"),
	SAMPLE("fixarray of 15 with 14 bytes", "\x9f\xc0\xc0\xc0\xc0\xc0\xc0\xc0\xc0\xc0\xc0\xc0\xc0\xc0\xc0"),
	SAMPLE("map32 of 2^32-1", "\xdf\xff\xff\xff\xff\xc0\xc0"),
	SAMPLE("map16 of 65535", "\xde\xff\xff\xc0\xc0"),
	SAMPLE("fixmap of 2 with 3 bytes", "\x82\xc0\xc0\xc0"),
	SAMPLE("map32 of 3 with 5 bytes", "\xdf\x00\x00\x00\x03\xc0\xc0\xc0\xc0\xc0"),
	SAMPLE("inner arrays owe more than remains", "\x92\x93\x93\xc0\xc0"),
	SAMPLE("inner array owes more than remains", "\x92\xdd\x00\x00\x00\x04\xc0\xc0\xc0\xc0"),
};

START_TEST(test_check_huge_container_counts)
{
	const struct sample *s = &huge_counts[_i];
	const char *why = NULL;

	ck_assert_msg(check_bytes(s->bytes, s->len, UNPACKER_DEPTH, &why) == -EBADMSG,
		      "%s accepted", s->name);
	ck_assert_msg(strcmp(why, "container count exceeds the remaining bytes") == 0,
		      "%s: %s", s->name, why);
}
END_TEST

static const struct sample huge_lengths[] = {
	SAMPLE("str32 of 2^32-1", "\xdb\xff\xff\xff\xff" "abc"),
	SAMPLE("str16 of 65535", "\xda\xff\xff" "abc"),
	SAMPLE("str8 of 255", "\xd9\xff" "abc"),
	SAMPLE("fixstr of 31 with 3", "\xbf" "abc"),
	SAMPLE("bin32 of 2^32-1", "\xc6\xff\xff\xff\xff\x00"),
	SAMPLE("bin16 of 65535", "\xc5\xff\xff\x00"),
	SAMPLE("bin8 of 2 with 1", "\xc4\x02\x00"),
	SAMPLE("ext32 of 2^32-1", "\xc9\xff\xff\xff\xff\x01\x00"),
	SAMPLE("ext16 of 65535", "\xc8\xff\xff\x01\x00"),
	SAMPLE("ext8 without its type byte", "\xc7\x00"),
	SAMPLE("fixext16 short", "\xd8\x01" "0123456789abcde"),
	SAMPLE("str in an array", "\x91\xdb\x7f\xff\xff\xff" "a"),
};

START_TEST(test_check_huge_lengths)
{
	const struct sample *s = &huge_lengths[_i];
	const char *why = NULL;

	ck_assert_msg(check_bytes(s->bytes, s->len, UNPACKER_DEPTH, &why) == -EBADMSG,
		      "%s accepted", s->name);
	ck_assert_ptr_nonnull(why);
}
END_TEST

START_TEST(test_check_c1_is_invalid)
{
	static const struct sample with_c1[] = {
		SAMPLE("alone", "\xc1"),
		SAMPLE("in an array", "\x91\xc1"),
		SAMPLE("as a map key", "\x81\xc1\xc0"),
		SAMPLE("as a map value", "\x81\xc0\xc1"),
		SAMPLE("deep", "\x91\x91\x91\x92\xc0\xc1"),
	};
	const char *why;
	size_t i;

	for (i = 0; i < sizeof(with_c1) / sizeof(with_c1[0]); i++) {
		why = NULL;
		ck_assert_msg(check_bytes(with_c1[i].bytes, with_c1[i].len, 8, &why) == -EBADMSG,
			      "0xc1 %s accepted", with_c1[i].name);
		ck_assert_str_eq(why, "format byte 0xc1 is never used");
	}
	/* inside a str or bin it is just a byte */
	ck_assert_int_eq(check_bytes("\xa1\xc1", 2, 8, NULL), 0);
	ck_assert_int_eq(check_bytes("\xc4\x01\xc1", 3, 8, NULL), 0);
}
END_TEST

/* ---- depth ---- */

/* depth nested one-element arrays around a nil; innermost empty if asked */
static uint8_t *nested_arrays(unsigned depth, bool empty_innermost, size_t *len)
{
	uint8_t *buf = malloc(depth + 1);
	unsigned i;

	ck_assert_ptr_nonnull(buf);
	for (i = 0; i < depth; i++)
		buf[i] = 0x91;
	if (empty_innermost && depth > 0) {
		buf[depth - 1] = 0x90;
		*len = depth;
	} else {
		buf[depth] = 0xc0;
		*len = depth + 1;
	}
	return buf;
}

START_TEST(test_check_depth_limit)
{
	static const unsigned depths[] = { 1, 2, 5, 31, 32, 33, 64, 100, 255, 256 };
	const char *why;
	uint8_t *buf;
	size_t len, i;
	int empty;

	for (i = 0; i < sizeof(depths) / sizeof(depths[0]); i++) {
		for (empty = 0; empty <= 1; empty++) {
			buf = nested_arrays(depths[i], empty, &len);
			ck_assert_int_eq(msgpack_check(buf, len, depths[i], NULL), 0);
			ck_assert_int_eq(msgpack_check(buf, len, depths[i] + 1, NULL), 0);
			why = NULL;
			ck_assert_int_eq(msgpack_check(buf, len, depths[i] - 1, &why), -EBADMSG);
			ck_assert_str_eq(why, "nesting too deep");
			free(buf);
		}
	}
}
END_TEST

START_TEST(test_check_depth_zero_allows_only_scalars)
{
	ck_assert_int_eq(check_bytes("\x01", 1, 0, NULL), 0);
	ck_assert_int_eq(check_bytes("\xa1" "a", 2, 0, NULL), 0);
	ck_assert_int_eq(check_bytes("\x90", 1, 0, NULL), -EBADMSG);
	ck_assert_int_eq(check_bytes("\x80", 1, 0, NULL), -EBADMSG);
	ck_assert_int_eq(check_bytes("\x90", 1, 1, NULL), 0);
}
END_TEST

/* Depth counts nesting, not containers: siblings do not add up. */
START_TEST(test_check_depth_counts_nesting_only)
{
	/* [[1], [2], {3: [4]}] has depth 3 */
	static const char wide[] = "\x93\x91\x01\x91\x02\x81\x03\x91\x04";

	ck_assert_int_eq(check_bytes(wide, sizeof(wide) - 1, 3, NULL), 0);
	ck_assert_int_eq(check_bytes(wide, sizeof(wide) - 1, 2, NULL), -EBADMSG);
}
END_TEST

START_TEST(test_check_depth_bomb)
{
	const size_t len = 1000000;
	uint8_t *buf = malloc(len);
	const char *why = NULL;

	ck_assert_ptr_nonnull(buf);
	memset(buf, 0x91, len);
	ck_assert_int_eq(msgpack_check(buf, len, BRIG_MSGPACK_MAX_DEPTH, &why), -EBADMSG);
	ck_assert_str_eq(why, "nesting too deep");
	/* an absurd caller bound is clamped, not trusted */
	ck_assert_int_eq(msgpack_check(buf, len, UINT_MAX, &why), -EBADMSG);
	buf[len - 1] = 0xc0;
	ck_assert_int_eq(msgpack_check(buf, len, UINT_MAX, &why), -EBADMSG);
	/* maps nest too */
	memset(buf, 0x81, len);
	ck_assert_int_eq(msgpack_check(buf, len, BRIG_MSGPACK_MAX_DEPTH, &why), -EBADMSG);
	free(buf);
}
END_TEST

/*
 * msgpack-c fails past 32 open containers; msgpack_check() with that bound
 * must refuse exactly what msgpack-c cannot unpack.
 */
START_TEST(test_check_matches_unpacker_depth)
{
	msgpack_unpacked unpacked;
	size_t len, offset;
	uint8_t *buf;

	buf = nested_arrays(UNPACKER_DEPTH, false, &len);
	ck_assert_int_eq(msgpack_check(buf, len, UNPACKER_DEPTH, NULL), 0);
	assert_unpacks_fully(buf, len);
	free(buf);

	buf = nested_arrays(UNPACKER_DEPTH + 1, true, &len);
	ck_assert_int_eq(msgpack_check(buf, len, UNPACKER_DEPTH, NULL), -EBADMSG);
	msgpack_unpacked_init(&unpacked);
	offset = 0;
	ck_assert_int_lt(msgpack_unpack_next(&unpacked, (const char *)buf, len, &offset), 0);
	msgpack_unpacked_destroy(&unpacked);
	free(buf);
}
END_TEST

/* ---- random input ---- */

static uint64_t rng_state;

static void rng_seed(uint64_t seed)
{
	rng_state = seed ? seed : 1;
}

/* xorshift64*: deterministic, so a failure reproduces */
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

/* Format bytes that make the scanner work hardest, for biased garbage. */
static const uint8_t interesting_bytes[] = {
	0x00, 0x7f, 0x80, 0x81, 0x8f, 0x90, 0x91, 0x9f, 0xa0, 0xa1, 0xbf, 0xc0, 0xc1, 0xc4,
	0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcf, 0xd3, 0xd4, 0xd8, 0xd9, 0xda, 0xdb,
	0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff,
};

START_TEST(test_check_random_garbage)
{
	const unsigned rounds = 200000;
	uint8_t *buf;
	size_t len, j;
	unsigned round, accepted = 0;
	const char *why;
	int r;

	rng_seed(0x6272696700000001ULL);
	for (round = 0; round < rounds; round++) {
		len = rng_below(48);
		buf = malloc(len > 0 ? len : 1);
		ck_assert_ptr_nonnull(buf);
		for (j = 0; j < len; j++) {
			if (round % 2 == 0)
				buf[j] = (uint8_t)rng_next();
			else if (rng_below(3) == 0)
				buf[j] = (uint8_t)rng_below(4);
			else
				buf[j] = interesting_bytes[rng_below(sizeof(interesting_bytes))];
		}
		why = NULL;
		r = msgpack_check(buf, len, UNPACKER_DEPTH, &why);
		if (r == 0) {
			accepted++;
			assert_unpacks_fully(buf, len);
		} else {
			ck_assert_int_eq(r, -EBADMSG);
			ck_assert_ptr_nonnull(why);
		}
		free(buf);
	}
	/* the garbage must sometimes be valid, or this only tests the first byte */
	ck_assert_uint_gt(accepted, 1000);
}
END_TEST

/* Pack a random object; returns its container depth. */
static unsigned pack_random_object(msgpack_packer *pk, unsigned depth_left)
{
	static const char text[] = "the quick brown fox jumps over the lazy dog, twice over";
	uint32_t n, i, len;
	unsigned depth, deepest = 0;
	uint32_t choice = rng_below(depth_left > 0 ? 16 : 11);

	switch (choice) {
	case 0:
		msgpack_pack_nil(pk);
		return 0;
	case 1:
		if (rng_below(2))
			msgpack_pack_true(pk);
		else
			msgpack_pack_false(pk);
		return 0;
	case 2:
		msgpack_pack_uint64(pk, rng_next() >> rng_below(64));
		return 0;
	case 3:
		msgpack_pack_int64(pk, (int64_t)(rng_next() >> rng_below(64)) * -1);
		return 0;
	case 4:
		msgpack_pack_float(pk, 1.5f);
		return 0;
	case 5:
		msgpack_pack_double(pk, -2.25);
		return 0;
	case 6:
		len = rng_below(4) == 0 ? 300 + rng_below(70000) : rng_below(sizeof(text));
		msgpack_pack_str(pk, len);
		for (i = 0; i < len; i += sizeof(text) - 1)
			msgpack_pack_str_body(pk, text, len - i < sizeof(text) - 1 ? len - i
									 : sizeof(text) - 1);
		return 0;
	case 7:
		len = rng_below(300);
		msgpack_pack_bin(pk, len);
		for (i = 0; i < len; i++)
			msgpack_pack_bin_body(pk, "\xc1", 1);
		return 0;
	case 8:
		/* 1, 2, 4, 8 and 16 bytes come out as fixext */
		len = rng_below(2) == 0 ? 1u << rng_below(5) : rng_below(20);
		msgpack_pack_ext(pk, len, (int8_t)rng_below(128));
		for (i = 0; i < len; i++)
			msgpack_pack_ext_body(pk, "\xdd", 1);
		return 0;
	case 9:
		msgpack_pack_uint8(pk, (uint8_t)rng_next());
		return 0;
	case 10:
		msgpack_pack_int32(pk, (int32_t)rng_next());
		return 0;
	case 11:
	case 12:
	case 13:
		n = rng_below(4) == 0 ? rng_below(40) : rng_below(4);
		msgpack_pack_array(pk, n);
		for (i = 0; i < n; i++) {
			depth = pack_random_object(pk, depth_left - 1);
			if (depth > deepest)
				deepest = depth;
		}
		return deepest + 1;
	default:
		n = rng_below(4);
		msgpack_pack_map(pk, n);
		for (i = 0; i < 2 * n; i++) {
			depth = pack_random_object(pk, depth_left - 1);
			if (depth > deepest)
				deepest = depth;
		}
		return deepest + 1;
	}
}

/*
 * Differential check against msgpack-c: everything its packer makes passes,
 * at exactly its depth; and every mutation that still passes unpacks whole.
 */
START_TEST(test_check_agrees_with_msgpack_c)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	unsigned round, depth, mutation;
	uint8_t *buf;
	size_t len, at;

	rng_seed(0x6272696700000002ULL);
	for (round = 0; round < 3000; round++) {
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		depth = pack_random_object(&pk, 1 + rng_below(8));
		buf = exact_copy(sb.data, sb.size);
		len = sb.size;
		msgpack_sbuffer_destroy(&sb);

		ck_assert_int_eq(msgpack_check(buf, len, depth, NULL), 0);
		if (depth > 0)
			ck_assert_int_eq(msgpack_check(buf, len, depth - 1, NULL), -EBADMSG);
		assert_unpacks_fully(buf, len);

		for (mutation = 0; mutation < 20; mutation++) {
			uint8_t *copy = exact_copy(buf, len);
			size_t copy_len = len;

			at = rng_below((uint32_t)len);
			switch (rng_below(4)) {
			case 0:
				copy[at] ^= (uint8_t)(1u << rng_below(8));
				break;
			case 1:
				copy[at] = interesting_bytes[rng_below(sizeof(interesting_bytes))];
				break;
			case 2:
				copy_len = at;
				break;
			default:
				copy[at] = (uint8_t)rng_next();
				break;
			}
			if (msgpack_check(copy, copy_len, UNPACKER_DEPTH, NULL) == 0)
				assert_unpacks_fully(copy, copy_len);
			free(copy);
		}
		free(buf);
	}
}
END_TEST

static Suite *frame_suite(void)
{
	Suite *s = suite_create("frame");
	TCase *tc;

	tc = tcase_create("header");
	tcase_add_test(tc, test_header_round_trip);
	tcase_add_test(tc, test_header_is_big_endian);
	tcase_add_test(tc, test_header_zero_length);
	tcase_add_test(tc, test_header_oversize);
	suite_add_tcase(s, tc);

	tc = tcase_create("msgpack_check");
	tcase_add_loop_test(tc, test_check_every_format, 0, N_SAMPLES);
	tcase_add_test(tc, test_check_why_is_optional);
	tcase_add_test(tc, test_check_empty);
	tcase_add_loop_test(tc, test_check_truncated, 0, N_SAMPLES);
	tcase_add_loop_test(tc, test_check_trailing_bytes, 0, N_SAMPLES);
	tcase_add_loop_test(tc, test_check_huge_container_counts, 0,
			    sizeof(huge_counts) / sizeof(huge_counts[0]));
	tcase_add_loop_test(tc, test_check_huge_lengths, 0,
			    sizeof(huge_lengths) / sizeof(huge_lengths[0]));
	tcase_add_test(tc, test_check_c1_is_invalid);
	suite_add_tcase(s, tc);

	tc = tcase_create("depth");
	tcase_add_test(tc, test_check_depth_limit);
	tcase_add_test(tc, test_check_depth_zero_allows_only_scalars);
	tcase_add_test(tc, test_check_depth_counts_nesting_only);
	tcase_add_test(tc, test_check_depth_bomb);
	tcase_add_test(tc, test_check_matches_unpacker_depth);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	/* sanitizer builds are slow; the default 4 s is not enough */
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_check_random_garbage);
	tcase_add_test(tc, test_check_agrees_with_msgpack_c);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(frame_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
