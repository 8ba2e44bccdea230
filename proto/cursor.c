/*
 * A cursor over the fields of a decoded msgpack array.
 *
 * Every reader takes the next field or fails with a reason of the form
 * "SUBMIT field 'handler': expected str, got positive int", so that the
 * error reply a peer gets names exactly what it got wrong.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cursor.h"

const char *msgpack_type_name(msgpack_object_type type)
{
	switch (type) {
	case MSGPACK_OBJECT_NIL:
		return "nil";
	case MSGPACK_OBJECT_BOOLEAN:
		return "bool";
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return "positive int";
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return "negative int";
	case MSGPACK_OBJECT_FLOAT32:
		return "float32";
	case MSGPACK_OBJECT_FLOAT64:
		return "float64";
	case MSGPACK_OBJECT_STR:
		return "str";
	case MSGPACK_OBJECT_ARRAY:
		return "array";
	case MSGPACK_OBJECT_MAP:
		return "map";
	case MSGPACK_OBJECT_BIN:
		return "bin";
	case MSGPACK_OBJECT_EXT:
		return "ext";
	default:
		return "unknown";
	}
}

int cursor_fail(struct cursor *c, const char *fmt, ...)
{
	va_list ap;

	if (c->err != NULL && c->err_size > 0) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->err_size, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

int cursor_init(struct cursor *c, const msgpack_object *array, const char *what,
		char *err, size_t err_size)
{
	c->items = NULL;
	c->count = 0;
	c->pos = 0;
	c->what = what != NULL ? what : "message";
	c->err = err;
	c->err_size = err_size;

	if (array == NULL)
		return cursor_fail(c, "%s: no object", c->what);
	if (array->type != MSGPACK_OBJECT_ARRAY)
		return cursor_fail(c, "%s: expected array, got %s", c->what,
				   msgpack_type_name(array->type));
	c->items = array->via.array.ptr;
	c->count = array->via.array.size;
	return 0;
}

/* The next field, or NULL after setting the "missing" error. */
static const msgpack_object *cursor_next(struct cursor *c, const char *field)
{
	if (c->pos >= c->count) {
		cursor_fail(c, "%s field '%s': missing", c->what, field);
		return NULL;
	}
	return &c->items[c->pos];
}

static int cursor_wrong_type(struct cursor *c, const char *field, const char *expected,
			     const msgpack_object *o)
{
	return cursor_fail(c, "%s field '%s': expected %s, got %s", c->what, field, expected,
			   msgpack_type_name(o->type));
}

int cursor_u64(struct cursor *c, const char *field, uint64_t *out)
{
	const msgpack_object *o = cursor_next(c, field);

	if (o == NULL)
		return -EBADMSG;
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return cursor_wrong_type(c, field, "u64", o);
	*out = o->via.u64;
	c->pos++;
	return 0;
}

int cursor_u32(struct cursor *c, const char *field, uint32_t *out)
{
	const msgpack_object *o = cursor_next(c, field);

	if (o == NULL)
		return -EBADMSG;
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return cursor_wrong_type(c, field, "u32", o);
	if (o->via.u64 > UINT32_MAX)
		return cursor_fail(c, "%s field '%s': %" PRIu64 " is out of range for u32",
				   c->what, field, o->via.u64);
	*out = (uint32_t)o->via.u64;
	c->pos++;
	return 0;
}

int cursor_i64(struct cursor *c, const char *field, int64_t *out)
{
	const msgpack_object *o = cursor_next(c, field);

	if (o == NULL)
		return -EBADMSG;
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 > INT64_MAX)
			return cursor_fail(c, "%s field '%s': %" PRIu64 " is out of range for i64",
					   c->what, field, o->via.u64);
		*out = (int64_t)o->via.u64;
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		/* msgpack-c only uses this type for values below zero */
		*out = o->via.i64;
		break;
	default:
		return cursor_wrong_type(c, field, "i64", o);
	}
	c->pos++;
	return 0;
}

int cursor_u32_or_nil(struct cursor *c, const char *field, bool *present, uint32_t *out)
{
	const msgpack_object *o = cursor_next(c, field);

	if (o == NULL)
		return -EBADMSG;
	if (o->type == MSGPACK_OBJECT_NIL) {
		*present = false;
		*out = 0;
		c->pos++;
		return 0;
	}
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return cursor_wrong_type(c, field, "u32 or nil", o);
	if (o->via.u64 > UINT32_MAX)
		return cursor_fail(c, "%s field '%s': %" PRIu64 " is out of range for u32",
				   c->what, field, o->via.u64);
	*present = true;
	*out = (uint32_t)o->via.u64;
	c->pos++;
	return 0;
}

int cursor_str(struct cursor *c, const char *field, char *buf, size_t size)
{
	const msgpack_object *o = cursor_next(c, field);
	uint32_t len;

	if (o == NULL)
		return -EBADMSG;
	/* bin is refused on purpose: a str field is text, and says so on the wire */
	if (o->type != MSGPACK_OBJECT_STR)
		return cursor_wrong_type(c, field, "str", o);
	len = o->via.str.size;
	if (size == 0 || len > size - 1)
		return cursor_fail(c, "%s field '%s': %" PRIu32 " bytes exceeds the limit of %zu",
				   c->what, field, len, size > 0 ? size - 1 : 0);
	/* A NUL would silently cut the name short wherever it is used as a C string. */
	if (len > 0 && memchr(o->via.str.ptr, '\0', len) != NULL)
		return cursor_fail(c, "%s field '%s': contains a NUL byte", c->what, field);
	if (len > 0)
		memcpy(buf, o->via.str.ptr, len);
	buf[len] = '\0';
	c->pos++;
	return 0;
}

int cursor_bin(struct cursor *c, const char *field, size_t limit, const uint8_t **data,
	       size_t *len)
{
	const msgpack_object *o = cursor_next(c, field);

	if (o == NULL)
		return -EBADMSG;
	if (o->type != MSGPACK_OBJECT_BIN)
		return cursor_wrong_type(c, field, "bin", o);
	if (o->via.bin.size > limit)
		return cursor_fail(c, "%s field '%s': %" PRIu32 " bytes exceeds the limit of %zu",
				   c->what, field, o->via.bin.size, limit);
	*data = (const uint8_t *)o->via.bin.ptr;
	*len = o->via.bin.size;
	c->pos++;
	return 0;
}

int cursor_bin_or_nil(struct cursor *c, const char *field, size_t limit, bool *is_nil,
		      const uint8_t **data, size_t *len)
{
	const msgpack_object *o = cursor_next(c, field);

	if (o == NULL)
		return -EBADMSG;
	if (o->type == MSGPACK_OBJECT_NIL) {
		*is_nil = true;
		*data = NULL;
		*len = 0;
		c->pos++;
		return 0;
	}
	if (o->type != MSGPACK_OBJECT_BIN)
		return cursor_wrong_type(c, field, "bin or nil", o);
	*is_nil = false;
	return cursor_bin(c, field, limit, data, len);
}

int cursor_any(struct cursor *c, const char *field, const msgpack_object **obj)
{
	const msgpack_object *o = cursor_next(c, field);

	if (o == NULL)
		return -EBADMSG;
	*obj = o;
	c->pos++;
	return 0;
}

int cursor_array(struct cursor *c, const char *field, uint32_t max, struct cursor *sub)
{
	const msgpack_object *o = cursor_next(c, field);

	if (o == NULL)
		return -EBADMSG;
	if (o->type != MSGPACK_OBJECT_ARRAY)
		return cursor_wrong_type(c, field, "array", o);
	if (o->via.array.size > max)
		return cursor_fail(c, "%s field '%s': %" PRIu32 " entries exceeds the limit of %" PRIu32,
				   c->what, field, o->via.array.size, max);
	/* The sub-cursor reports into the same buffer, under the same message name. */
	sub->items = o->via.array.ptr;
	sub->count = o->via.array.size;
	sub->pos = 0;
	sub->what = c->what;
	sub->err = c->err;
	sub->err_size = c->err_size;
	c->pos++;
	return 0;
}

int cursor_end(struct cursor *c)
{
	uint32_t left;

	if (c->pos >= c->count)
		return 0;
	left = c->count - c->pos;
	return cursor_fail(c, "%s: %" PRIu32 " trailing field%s", c->what, left,
			   left == 1 ? "" : "s");
}
