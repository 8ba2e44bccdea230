/*
 * A cursor over the fields of a decoded msgpack array.  Every read checks
 * the type and the bounds and names the field in its error; strings are
 * copied into NUL-terminated buffers and refused if they hold a NUL or do
 * not fit; cursor_end() refuses trailing fields.
 *
 * Library code: returns 0 or -EBADMSG and writes a human-readable reason
 * into the cursor's error buffer; never logs.
 */
#ifndef BRIG_PROTO_CURSOR_H
#define BRIG_PROTO_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>

struct cursor {
	const msgpack_object *items;
	uint32_t count;
	uint32_t pos;
	const char *what;   /* message name, for errors ("SUBMIT") */
	char *err;          /* caller's buffer for the reason */
	size_t err_size;
};

/* Fails (-EBADMSG) unless array is a msgpack array. */
int cursor_init(struct cursor *c, const msgpack_object *array, const char *what,
		char *err, size_t err_size);

int cursor_u32(struct cursor *c, const char *field, uint32_t *out);
int cursor_u64(struct cursor *c, const char *field, uint64_t *out);
int cursor_i64(struct cursor *c, const char *field, int64_t *out);
/* Accepts nil (sets *present = false) or a u32. */
int cursor_u32_or_nil(struct cursor *c, const char *field, bool *present, uint32_t *out);
/* Copies a str of at most size-1 bytes with no NUL into buf. */
int cursor_str(struct cursor *c, const char *field, char *buf, size_t size);
/* A bin of at most limit bytes; *data points into the unpacked frame. */
int cursor_bin(struct cursor *c, const char *field, size_t limit, const uint8_t **data,
	       size_t *len);
/* A bin as cursor_bin, or nil (*is_nil = true, *data NULL, *len 0). */
int cursor_bin_or_nil(struct cursor *c, const char *field, size_t limit, bool *is_nil,
		      const uint8_t **data, size_t *len);
/* Any object; *obj points into the unpacked frame. */
int cursor_any(struct cursor *c, const char *field, const msgpack_object **obj);
/* An array of at most max entries: sub becomes a cursor over it. */
int cursor_array(struct cursor *c, const char *field, uint32_t max, struct cursor *sub);
/* Fails if fields remain. */
int cursor_end(struct cursor *c);

/* Sets the error text in printf style; returns -EBADMSG. */
int cursor_fail(struct cursor *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "str", "bin", "positive int", ...: for error messages. */
const char *msgpack_type_name(msgpack_object_type type);

#endif
