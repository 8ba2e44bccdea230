/*
 * fuzz_worker_msgs: one frame body on an internal channel.
 *
 * Worker -> broker, the untrusted direction (a worker runs parser code on
 * hostile input and must be assumed compromised): WORKER_READY,
 * WORKER_ITEM, WORKER_OUTPUT, WORKER_EXIT, WORKER_DONE, WORKER_VIOLATION.
 * WORKER_ITEM and WORKER_OUTPUT are also relayed as the broker does it,
 * re-packed into a client ITEM / OUTPUT that must decode to the same
 * content (and an item must print as valid JSON).
 *
 * Broker -> monitor, untrusted by the root monitor (the broker parses
 * client bytes): MONITOR_ZYGOTE_START, MONITOR_ZYGOTE_KILL, MONITOR_ACCESS,
 * MONITOR_NOTIFY, whose decoders check values too.
 *
 * The trusted directions are decoded too, since the same decoders run on
 * them: WORKER_JOB and WORKER_EXEC (broker -> worker), the ZYGOTE_*
 * records and TEMPLATE_SPAWN (zygote -> template), and the monitor's
 * answers (MONITOR_ZYGOTE_STARTED, _DIED, MONITOR_ACCESS_RESULT).
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
	case MSG_WORKER_READY:
	case MSG_WORKER_ITEM:
	case MSG_WORKER_DONE:
	case MSG_WORKER_VIOLATION:
	case MSG_WORKER_JOB:
	case MSG_ZYGOTE_READY:
	case MSG_ZYGOTE_SPAWN:
	case MSG_ZYGOTE_SPAWNED:
	case MSG_ZYGOTE_SPAWN_FAILED:
	case MSG_ZYGOTE_KILL:
	case MSG_ZYGOTE_EXITED:
	case MSG_WORKER_EXEC:
	case MSG_WORKER_OUTPUT:
	case MSG_WORKER_EXIT:
	case MSG_TEMPLATE_SPAWN:
	/* what the root monitor takes from the broker, and answers */
	case MSG_MONITOR_ZYGOTE_START:
	case MSG_MONITOR_ZYGOTE_STARTED:
	case MSG_MONITOR_ZYGOTE_KILL:
	case MSG_MONITOR_ZYGOTE_DIED:
	case MSG_MONITOR_ACCESS:
	case MSG_MONITOR_ACCESS_RESULT:
	case MSG_MONITOR_NOTIFY:
		fuzz_decode_message(&in, type, true);
		break;
	default:
		break;
	}
	msg_close(&in);
	return 0;
}
