/*
 * fuzz_frame: the bytes of a stream socket, as any peer may send them.
 *
 * The input is cut into frames exactly as proto/peer.c does (header,
 * frame_parse_header against the default max_frame, body); each body goes
 * through msgpack_check at several depths and through msg_open, and an
 * opened message through the decoder of its type.  The whole input is
 * also tried as one body, so that mutations of a body are not wasted on
 * its header.
 *
 * Properties checked:
 *  - frame_parse_header: 0 is -EBADMSG, over max_frame is -EMSGSIZE, else
 *    the length is returned unchanged;
 *  - msgpack_check: a body it passes, msgpack-c unpacks completely and
 *    without running out of memory (frame.c's promise), nested no deeper
 *    than asked; passing at depth d implies passing at d + 1;
 *  - msg_open: agrees with msgpack_check at the codec's depth, and returns
 *    only known types; a failure always has a reason.
 */
#include <errno.h>
#include <string.h>

#include "frame.h"
#include "fuzz.h"
#include "fuzz_msgs.h"
#include "msg.h"

/* The codec's depth (msg.c: MSG_MAX_DEPTH). */
#define CODEC_DEPTH 32

static unsigned object_depth(const msgpack_object *o)
{
	unsigned deepest = 0, d;

	switch (o->type) {
	case MSGPACK_OBJECT_ARRAY:
		for (uint32_t i = 0; i < o->via.array.size; i++) {
			d = object_depth(&o->via.array.ptr[i]);
			if (d > deepest)
				deepest = d;
		}
		return deepest + 1;
	case MSGPACK_OBJECT_MAP:
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			d = object_depth(&o->via.map.ptr[i].key);
			if (d > deepest)
				deepest = d;
			d = object_depth(&o->via.map.ptr[i].val);
			if (d > deepest)
				deepest = d;
		}
		return deepest + 1;
	default:
		return 0;
	}
}

static void check_body(const uint8_t *body, size_t len)
{
	static const unsigned depths[] = { 1, 2, 8, CODEC_DEPTH - 1, CODEC_DEPTH };
	bool passed_before = false;
	const char *why;
	struct msg_in in;
	int r, type;

	for (size_t i = 0; i < sizeof(depths) / sizeof(depths[0]); i++) {
		why = NULL;
		r = msgpack_check(body, len, depths[i], &why);
		if (r < 0) {
			FUZZ_CHECK(r == -EBADMSG && why != NULL, "msgpack_check: %d without a reason", r);
			FUZZ_CHECK(!passed_before, "msgpack_check passes at a smaller depth but not at %u",
				   depths[i]);
			continue;
		}
		passed_before = true;
		{
			msgpack_unpacked unpacked;
			size_t offset = 0;
			msgpack_unpack_return ret;

			msgpack_unpacked_init(&unpacked);
			ret = msgpack_unpack_next(&unpacked, (const char *)body, len, &offset);
			FUZZ_CHECK(ret == MSGPACK_UNPACK_SUCCESS && offset == len,
				   "msgpack_check (depth %u) passed %zu bytes that msgpack-c does not "
				   "unpack (ret %d, offset %zu)", depths[i], len, (int)ret, offset);
			FUZZ_CHECK(object_depth(&unpacked.data) <= depths[i],
				   "msgpack_check (depth %u) passed an object nested %u deep", depths[i],
				   object_depth(&unpacked.data));
			msgpack_unpacked_destroy(&unpacked);
		}
	}

	type = msg_open(&in, body, len);
	if (type < 0) {
		FUZZ_CHECK(type == -EBADMSG, "msg_open returned %d", type);
		FUZZ_CHECK(in.error[0] != '\0', "msg_open failed without a reason");
	} else {
		FUZZ_CHECK(passed_before, "msg_open accepted what msgpack_check refuses");
		FUZZ_CHECK(strcmp(msg_type_name(type), "unknown") != 0, "msg_open returned type %d",
			   type);
		fuzz_decode_message(&in, type, false);
	}
	msg_close(&in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 0;

	while (size - pos >= FRAME_HEADER_SIZE) {
		uint32_t declared = (uint32_t)data[pos] << 24 | (uint32_t)data[pos + 1] << 16 |
				    (uint32_t)data[pos + 2] << 8 | data[pos + 3];
		uint32_t body_len = 0;
		int r = frame_parse_header(data + pos, BRIG_DEFAULT_MAX_FRAME, &body_len);

		if (declared == 0) {
			FUZZ_CHECK(r == -EBADMSG, "frame_parse_header accepted a zero length");
			break;
		}
		if (declared > BRIG_DEFAULT_MAX_FRAME) {
			FUZZ_CHECK(r == -EMSGSIZE, "frame_parse_header accepted %u bytes", declared);
			break;
		}
		FUZZ_CHECK(r == 0 && body_len == declared, "frame_parse_header: %d for %u", r, declared);
		pos += FRAME_HEADER_SIZE;
		if (body_len > size - pos)
			break;   /* a half frame: the peer waits for the rest */
		check_body(data + pos, body_len);
		pos += body_len;
	}
	if (size > 0)
		check_body(data, size);
	return 0;
}
