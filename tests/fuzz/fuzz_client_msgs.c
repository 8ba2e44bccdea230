/*
 * fuzz_client_msgs: one frame body on the client socket, either way.
 *
 * Client -> broker: HELLO, SUBMIT, CANCEL, EXEC (what client_on_frame
 * accepts); broker -> client: WELCOME, ITEM, OUTPUT, FINAL, ERROR (what
 * libbrig and the harness decode).  Each decoded message is packed again and must decode to
 * the same fields, and what the brig CLI prints of it (items, names,
 * messages; client/json.c) must be valid JSON.  Other types are opened and
 * refused, as the broker and libbrig refuse them.
 */
#include <string.h>

#include "fuzz.h"
#include "fuzz_msgs.h"
#include "msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msg_in in;
	int type = msg_open(&in, data, size);

	switch (type) {
	case MSG_HELLO:
	case MSG_SUBMIT:
	case MSG_CANCEL:
	case MSG_WELCOME:
	case MSG_ITEM:
	case MSG_FINAL:
	case MSG_ERROR:
	case MSG_EXEC:
	case MSG_OUTPUT:
		fuzz_decode_message(&in, type, true);
		break;
	default:
		break;
	}
	msg_close(&in);
	return 0;
}
