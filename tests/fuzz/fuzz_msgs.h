/*
 * Decoding one opened message with the decoder for its type, and checking
 * what the codec promises about it (shared by the message targets).
 */
#ifndef BRIG_TESTS_FUZZ_MSGS_H
#define BRIG_TESTS_FUZZ_MSGS_H

#include <stdbool.h>
#include <stddef.h>

#include "msg.h"

/* The input limit the daemon runs with by default. */
#define FUZZ_INPUT_LIMIT (BRIG_DEFAULT_MAX_FRAME - BRIG_SUBMIT_OVERHEAD)

/*
 * Decode the message open in `in` (msg_open returned `type` > 0) with the
 * decoder of that type.  On success, check that packing the decoded struct
 * and decoding the packed frame gives the same struct back; if render_json,
 * also render every item and name list as JSON (client/json.c) and check
 * that the text is valid JSON.  Returns the decoder's result.
 */
int fuzz_decode_message(struct msg_in *in, int type, bool render_json);

/* Check that buf[0..len) is one valid JSON text (RFC 8259); fuzz_fail if not. */
void fuzz_check_json(const char *buf, size_t len);

/* Render o with json_print_object and check the text. */
void fuzz_check_json_object(const msgpack_object *o);

#endif
