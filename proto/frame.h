/*
 * Frame boundaries and a structural check of untrusted msgpack.
 *
 * Pure functions: no allocation, no I/O, no logging.
 */
#ifndef BRIG_PROTO_FRAME_H
#define BRIG_PROTO_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/*
 * Read a frame header.  Returns 0 and sets *body_len, or -EMSGSIZE when the
 * declared length exceeds max_frame (checked before anything is allocated),
 * or -EBADMSG for a zero length (a frame always holds one object).
 */
int frame_parse_header(const uint8_t header[FRAME_HEADER_SIZE], size_t max_frame,
		       uint32_t *body_len);

void frame_put_header(uint8_t header[FRAME_HEADER_SIZE], uint32_t body_len);

/*
 * Check that buf[0..len) is exactly one well-formed msgpack object, without
 * building it.  Every container's declared element count must fit in the
 * bytes that remain (each element takes at least one byte), so that the
 * unpacker can never be made to allocate more than a small multiple of len;
 * nesting deeper than max_depth is refused; str/bin/ext lengths must fit.
 * Returns 0, or -EBADMSG with *why (if not NULL) set to a static string.
 */
int msgpack_check(const uint8_t *buf, size_t len, unsigned max_depth, const char **why);

#endif
