/*
 * Frame boundaries and a structural check of untrusted msgpack.
 *
 * msgpack_check() runs before msgpack-c ever sees a frame from a peer.  The
 * unpacker allocates a container's element array as soon as it reads the
 * container's header (24 bytes per array element, 48 per map entry), so a
 * five-byte frame that claims 2^32 elements would make it try to allocate
 * 96 GiB.  The check walks the bytes without allocating anything and refuses
 * any count that the remaining bytes could not possibly hold, which bounds
 * what the unpacker allocates to 24 times the frame size.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"

/*
 * The scanner keeps one counter per open container on its own stack, so it
 * needs a bound of its own whatever the caller asks for.  No caller needs
 * more than msgpack-c's unpacker can take (32); a larger max_depth is
 * quietly clamped here, which only ever makes the check stricter.
 */
#define CHECK_DEPTH_CEILING 256

static uint32_t read_be16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t read_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int frame_parse_header(const uint8_t header[FRAME_HEADER_SIZE], size_t max_frame,
		       uint32_t *body_len)
{
	uint32_t len = read_be32(header);

	if (len == 0)
		return -EBADMSG;
	/* Checked here, before the caller allocates or waits for the body. */
	if (len > max_frame)
		return -EMSGSIZE;
	*body_len = len;
	return 0;
}

void frame_put_header(uint8_t header[FRAME_HEADER_SIZE], uint32_t body_len)
{
	header[0] = (uint8_t)(body_len >> 24);
	header[1] = (uint8_t)(body_len >> 16);
	header[2] = (uint8_t)(body_len >> 8);
	header[3] = (uint8_t)body_len;
}

/* What one format byte says about the object it starts. */
struct object_head {
	size_t head_size;     /* format byte plus the length/count bytes after it */
	uint64_t payload_size; /* bytes of scalar, str, bin or ext payload after the head */
	bool is_container;
	uint64_t elements;    /* objects inside a container (2 per map entry) */
};

/*
 * Decode the head of the object at buf[0..avail), avail >= 1.  Returns 0,
 * or -EBADMSG with *why set.  The payload is not yet checked against avail.
 */
static int read_object_head(const uint8_t *buf, size_t avail, struct object_head *head,
			    const char **why)
{
	uint8_t format = buf[0];
	size_t length_size = 0;     /* big-endian length or count after the format byte */
	size_t extra = 0;           /* fixed bytes between that length and the payload */
	size_t fixed_payload = 0;
	enum { SCALAR, BLOB, ARRAY, MAP } kind = SCALAR;
	uint64_t value;

	head->is_container = false;
	head->elements = 0;

	if (format <= 0x7f || format >= 0xe0) {
		/* positive and negative fixint */
	} else if (format <= 0x8f) {
		head->head_size = 1;
		head->payload_size = 0;
		head->is_container = true;
		head->elements = 2u * (format & 0x0f);
		return 0;
	} else if (format <= 0x9f) {
		head->head_size = 1;
		head->payload_size = 0;
		head->is_container = true;
		head->elements = format & 0x0f;
		return 0;
	} else if (format <= 0xbf) {
		fixed_payload = format & 0x1f;
	} else {
		switch (format) {
		case 0xc0: /* nil */
		case 0xc2: /* false */
		case 0xc3: /* true */
			break;
		case 0xc1:
			*why = "format byte 0xc1 is never used";
			return -EBADMSG;
		case 0xc4: kind = BLOB; length_size = 1; break;            /* bin 8 */
		case 0xc5: kind = BLOB; length_size = 2; break;            /* bin 16 */
		case 0xc6: kind = BLOB; length_size = 4; break;            /* bin 32 */
		case 0xc7: kind = BLOB; length_size = 1; extra = 1; break; /* ext 8 */
		case 0xc8: kind = BLOB; length_size = 2; extra = 1; break; /* ext 16 */
		case 0xc9: kind = BLOB; length_size = 4; extra = 1; break; /* ext 32 */
		case 0xca: fixed_payload = 4; break;                       /* float 32 */
		case 0xcb: fixed_payload = 8; break;                       /* float 64 */
		case 0xcc: fixed_payload = 1; break;                       /* uint 8 */
		case 0xcd: fixed_payload = 2; break;                       /* uint 16 */
		case 0xce: fixed_payload = 4; break;                       /* uint 32 */
		case 0xcf: fixed_payload = 8; break;                       /* uint 64 */
		case 0xd0: fixed_payload = 1; break;                       /* int 8 */
		case 0xd1: fixed_payload = 2; break;                       /* int 16 */
		case 0xd2: fixed_payload = 4; break;                       /* int 32 */
		case 0xd3: fixed_payload = 8; break;                       /* int 64 */
		case 0xd4: fixed_payload = 1 + 1; break;                   /* fixext 1: type, data */
		case 0xd5: fixed_payload = 1 + 2; break;                   /* fixext 2 */
		case 0xd6: fixed_payload = 1 + 4; break;                   /* fixext 4 */
		case 0xd7: fixed_payload = 1 + 8; break;                   /* fixext 8 */
		case 0xd8: fixed_payload = 1 + 16; break;                  /* fixext 16 */
		case 0xd9: kind = BLOB; length_size = 1; break;            /* str 8 */
		case 0xda: kind = BLOB; length_size = 2; break;            /* str 16 */
		case 0xdb: kind = BLOB; length_size = 4; break;            /* str 32 */
		case 0xdc: kind = ARRAY; length_size = 2; break;           /* array 16 */
		case 0xdd: kind = ARRAY; length_size = 4; break;           /* array 32 */
		case 0xde: kind = MAP; length_size = 2; break;             /* map 16 */
		case 0xdf: kind = MAP; length_size = 4; break;             /* map 32 */
		default:
			/* every byte value is covered above */
			*why = "unknown format byte";
			return -EBADMSG;
		}
	}

	if (kind == SCALAR) {
		head->head_size = 1;
		head->payload_size = fixed_payload;
		return 0;
	}

	if (avail - 1 < length_size) {
		*why = "truncated length or count";
		return -EBADMSG;
	}
	switch (length_size) {
	case 1:
		value = buf[1];
		break;
	case 2:
		value = read_be16(buf + 1);
		break;
	default:
		value = read_be32(buf + 1);
		break;
	}
	head->head_size = 1 + length_size;

	switch (kind) {
	case ARRAY:
		head->payload_size = 0;
		head->is_container = true;
		head->elements = value;
		break;
	case MAP:
		head->payload_size = 0;
		head->is_container = true;
		head->elements = 2 * value;
		break;
	default:
		/* str, bin and ext: the ext type byte sits between length and data */
		head->payload_size = extra + value;
		break;
	}
	return 0;
}

int msgpack_check(const uint8_t *buf, size_t len, unsigned max_depth, const char **why)
{
	/* open_left[i]: objects still to read in the i-th open container */
	uint64_t open_left[CHECK_DEPTH_CEILING];
	unsigned depth = 0;
	/* objects still to read at every level; each takes at least one byte */
	uint64_t pending = 1;
	size_t pos = 0;
	const char *reason = NULL;
	struct object_head head;
	int r;

	if (max_depth > CHECK_DEPTH_CEILING)
		max_depth = CHECK_DEPTH_CEILING;
	if (buf == NULL || len == 0) {
		reason = "empty buffer";
		goto fail;
	}

	while (pending > 0) {
		if (pos >= len) {
			reason = "truncated: objects missing at the end";
			goto fail;
		}
		r = read_object_head(buf + pos, len - pos, &head, &reason);
		if (r < 0)
			goto fail;
		if (head.payload_size > (uint64_t)(len - pos - head.head_size)) {
			reason = "object runs past the end of the buffer";
			goto fail;
		}
		pos += head.head_size + (size_t)head.payload_size;
		pending--;
		if (depth > 0)
			open_left[depth - 1]--;

		if (head.is_container) {
			/*
			 * msgpack-c refuses to open a container, even an empty
			 * one, once its stack is full; count empty ones too so
			 * that anything passing here also unpacks.
			 */
			if (depth >= max_depth) {
				reason = "nesting too deep";
				goto fail;
			}
			/*
			 * The security check: the unpacker allocates
			 * head.elements objects right now, so every one of them
			 * (and every one still owed by outer containers) must
			 * have at least one byte left to come from.
			 */
			if (pending + head.elements > (uint64_t)(len - pos)) {
				reason = "container count exceeds the remaining bytes";
				goto fail;
			}
			if (head.elements > 0) {
				open_left[depth++] = head.elements;
				pending += head.elements;
				continue;
			}
		}
		while (depth > 0 && open_left[depth - 1] == 0)
			depth--;
	}

	if (pos != len) {
		reason = "trailing bytes after the object";
		goto fail;
	}
	return 0;

fail:
	if (why)
		*why = reason;
	return -EBADMSG;
}
