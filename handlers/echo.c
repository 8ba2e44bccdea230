/*
 * The "core" plugin: handlers that need no library beyond msgpack.
 *
 * echo returns its input unchanged, as {"input": bin}.  It is the smallest
 * possible round trip through the broker, the worker and the result stream,
 * which makes it the handler to reach for when checking a deployment.
 * digest returns the input's length and FNV-1a hash, as {"length": u64,
 * "fnv1a64": u64}.
 */
#include <stdint.h>

#include "brig/handler.h"

static int echo_run(struct brig_ctx *ctx, const uint8_t *input, size_t len)
{
	msgpack_packer *pk;
	int r = 0;

	/* A msgpack bin carries at most 2^32-1 bytes; refuse rather than wrap. */
	if (len > UINT32_MAX) {
		brig_fail(ctx, "echo: input of %zu bytes does not fit one msgpack bin", len);
		return -1;
	}

	/* The worker may hand an empty input as NULL; packers need a pointer. */
	if (!input)
		input = (const uint8_t *)"";

	pk = brig_item_begin(ctx);
	if (!pk)
		return -1;
	r |= msgpack_pack_map(pk, 1);
	r |= msgpack_pack_str_with_body(pk, "input", 5);
	r |= msgpack_pack_bin_with_body(pk, input, len);
	if (r) {
		brig_fail(ctx, "echo: cannot pack the result");
		return -1;
	}
	/* On failure the worker already knows why (size cap, lost channel). */
	return brig_item_end(ctx) < 0 ? -1 : 0;
}

/*
 * The input's length and 64-bit FNV-1a hash: touches every byte once, so
 * its own time grows with the input (what the fd-input bench measures
 * brig's overhead against), and a client can check that the worker saw
 * exactly its bytes.
 */
static int digest_run(struct brig_ctx *ctx, const uint8_t *input, size_t len)
{
	uint64_t hash = 14695981039346656037ull;
	msgpack_packer *pk;
	int r = 0;

	for (size_t i = 0; i < len; i++) {
		hash ^= input[i];
		hash *= 1099511628211ull;
	}
	pk = brig_item_begin(ctx);
	if (!pk)
		return -1;
	r |= msgpack_pack_map(pk, 2);
	r |= msgpack_pack_str_with_body(pk, "length", 6);
	r |= msgpack_pack_uint64(pk, len);
	r |= msgpack_pack_str_with_body(pk, "fnv1a64", 7);
	r |= msgpack_pack_uint64(pk, hash);
	if (r) {
		brig_fail(ctx, "digest: cannot pack the result");
		return -1;
	}
	return brig_item_end(ctx) < 0 ? -1 : 0;
}

static const struct brig_handler core_handlers[] = {
	{
		.name = "echo",
		.description = "return the input bytes unchanged as {\"input\": bin}",
		.run = echo_run,
	},
	{
		.name = "digest",
		.description = "the input's length and 64-bit FNV-1a hash as {\"length\": u64, \"fnv1a64\": u64}",
		.run = digest_run,
	},
};

const struct brig_plugin brig_plugin_v1 = {
	.abi = BRIG_HANDLER_ABI,
	.handlers = core_handlers,
	.count = sizeof(core_handlers) / sizeof(core_handlers[0]),
	.init = NULL,
};
