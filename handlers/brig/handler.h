/*
 * brig handler SDK.
 *
 * A handler is a function in a plugin (a shared object in brigd's handler
 * directory).  The zygote loads every plugin once at start-up, calls each
 * plugin's optional init() there (before any sandbox exists: load databases,
 * never touch client bytes), and each worker later runs one handler on one
 * job's input inside its sandbox.
 *
 * A plugin exports one symbol:
 *
 *     const struct brig_plugin brig_plugin_v1 = {
 *         .abi = BRIG_HANDLER_ABI,
 *         .handlers = my_handlers,
 *         .count = sizeof(my_handlers) / sizeof(my_handlers[0]),
 *         .init = my_init,      // may be NULL
 *     };
 *
 * A handler emits any number of items, each exactly one msgpack object,
 * that reach the client one by one as they are produced:
 *
 *     msgpack_packer *pk = brig_item_begin(ctx);
 *     msgpack_pack_map(pk, 1); ...
 *     if (brig_item_end(ctx) < 0) return -1;
 *
 * and returns 0 on success, or calls brig_fail() and returns -1.
 */
#ifndef BRIG_HANDLER_H
#define BRIG_HANDLER_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <msgpack.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BRIG_HANDLER_ABI 1

struct brig_ctx_ops {
	msgpack_packer *(*item_begin)(void *impl);
	int (*item_end)(void *impl);
	void (*fail)(void *impl, const char *message);
};

/* Passed to every handler; valid during the call only. */
struct brig_ctx {
	const struct brig_ctx_ops *ops;
	void *impl;
};

typedef int (*brig_handler_fn)(struct brig_ctx *ctx, const uint8_t *input, size_t len);

struct brig_handler {
	const char *name;           /* [A-Za-z0-9._-]{1,64} */
	const char *description;
	brig_handler_fn run;
};

struct brig_plugin {
	uint32_t abi;               /* BRIG_HANDLER_ABI */
	const struct brig_handler *handlers;
	size_t count;
	int (*init)(void);          /* 0 or -errno; runs once, unsandboxed */
};

/* Start one item: pack exactly one object with the returned packer. */
static inline msgpack_packer *brig_item_begin(struct brig_ctx *ctx)
{
	return ctx->ops->item_begin(ctx->impl);
}

/*
 * Send the item.  Returns 0, or -1 if the item was not one well-formed
 * object, was too large, or the channel is gone: the handler should stop.
 */
static inline int brig_item_end(struct brig_ctx *ctx)
{
	return ctx->ops->item_end(ctx->impl);
}

/* Record the error message that the job's final status will carry. */
static inline void brig_fail(struct brig_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline void brig_fail(struct brig_ctx *ctx, const char *fmt, ...)
{
	char message[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	ctx->ops->fail(ctx->impl, message);
}

/* Convenience: pack a NUL-terminated string as msgpack str. */
static inline int brig_pack_cstr(msgpack_packer *pk, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	int r = msgpack_pack_str(pk, n);
	return r ? r : msgpack_pack_str_body(pk, s ? s : "", n);
}

#ifdef __cplusplus
}
#endif

#endif
