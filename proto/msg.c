/*
 * The message codec.  Every frame body is one msgpack array, [type, fields...],
 * with the fields in the order of docs/protocol.md.  Packers and decoders
 * below are written side by side per message so that a reader can check one
 * against the other at a glance.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cursor.h"
#include "frame.h"
#include "msg.h"

/*
 * How deep a frame may nest, counting the message array itself.  msgpack-c's
 * C unpacker keeps a fixed stack of MSGPACK_EMBED_STACK_SIZE (32 in the
 * library Debian ships; the macro lives in a header msgpack.h does not
 * include) and fails past it.  Checking against a larger bound would let a
 * frame pass msgpack_check() and then fail to unpack with a misleading
 * "out of memory", so both the sending and the receiving side use the
 * smaller of the two.
 */
#define MSGPACK_C_STACK_DEPTH 32
#define MSG_MAX_DEPTH \
	(BRIG_MSGPACK_MAX_DEPTH < MSGPACK_C_STACK_DEPTH ? BRIG_MSGPACK_MAX_DEPTH : MSGPACK_C_STACK_DEPTH)

/* ---- names ---- */

const char *msg_type_name(int type)
{
	switch (type) {
	case MSG_HELLO:
		return "HELLO";
	case MSG_WELCOME:
		return "WELCOME";
	case MSG_SUBMIT:
		return "SUBMIT";
	case MSG_CANCEL:
		return "CANCEL";
	case MSG_EXEC:
		return "EXEC";
	case MSG_OUTPUT:
		return "OUTPUT";
	case MSG_WORKER_EXEC:
		return "WORKER_EXEC";
	case MSG_WORKER_OUTPUT:
		return "WORKER_OUTPUT";
	case MSG_WORKER_EXIT:
		return "WORKER_EXIT";
	case MSG_ITEM:
		return "ITEM";
	case MSG_FINAL:
		return "FINAL";
	case MSG_ERROR:
		return "ERROR";
	case MSG_WORKER_READY:
		return "WORKER_READY";
	case MSG_WORKER_JOB:
		return "WORKER_JOB";
	case MSG_WORKER_ITEM:
		return "WORKER_ITEM";
	case MSG_WORKER_DONE:
		return "WORKER_DONE";
	case MSG_WORKER_VIOLATION:
		return "WORKER_VIOLATION";
	case MSG_ZYGOTE_READY:
		return "ZYGOTE_READY";
	case MSG_ZYGOTE_SPAWN:
		return "ZYGOTE_SPAWN";
	case MSG_ZYGOTE_SPAWNED:
		return "ZYGOTE_SPAWNED";
	case MSG_ZYGOTE_SPAWN_FAILED:
		return "ZYGOTE_SPAWN_FAILED";
	case MSG_ZYGOTE_KILL:
		return "ZYGOTE_KILL";
	case MSG_ZYGOTE_EXITED:
		return "ZYGOTE_EXITED";
	case MSG_TEMPLATE_SPAWN:
		return "TEMPLATE_SPAWN";
	case MSG_MONITOR_ZYGOTE_START:
		return "MONITOR_ZYGOTE_START";
	case MSG_MONITOR_ZYGOTE_STARTED:
		return "MONITOR_ZYGOTE_STARTED";
	case MSG_MONITOR_ZYGOTE_KILL:
		return "MONITOR_ZYGOTE_KILL";
	case MSG_MONITOR_ZYGOTE_DIED:
		return "MONITOR_ZYGOTE_DIED";
	case MSG_MONITOR_ACCESS:
		return "MONITOR_ACCESS";
	case MSG_MONITOR_ACCESS_RESULT:
		return "MONITOR_ACCESS_RESULT";
	case MSG_MONITOR_NOTIFY:
		return "MONITOR_NOTIFY";
	default:
		return "unknown";
	}
}

static bool msg_type_known(uint64_t type)
{
	return type <= INT_MAX && strcmp(msg_type_name((int)type), "unknown") != 0;
}

const char *brig_outcome_name(int outcome)
{
	switch (outcome) {
	case BRIG_OUTCOME_OK:
		return "ok";
	case BRIG_OUTCOME_ERROR:
		return "error";
	case BRIG_OUTCOME_CRASHED:
		return "crashed";
	case BRIG_OUTCOME_TIMEOUT:
		return "timeout";
	case BRIG_OUTCOME_CPU_LIMIT:
		return "cpu_limit";
	case BRIG_OUTCOME_MEMORY_LIMIT:
		return "memory_limit";
	case BRIG_OUTCOME_PIDS_LIMIT:
		return "pids_limit";
	case BRIG_OUTCOME_OUTPUT_LIMIT:
		return "output_limit";
	case BRIG_OUTCOME_VIOLATION:
		return "violation";
	case BRIG_OUTCOME_CANCELLED:
		return "cancelled";
	case BRIG_OUTCOME_BROKER_ERROR:
		return "broker_error";
	default:
		return "unknown";
	}
}

const char *brig_error_code_name(int code)
{
	switch (code) {
	case BRIG_ERROR_PROTOCOL:
		return "protocol";
	case BRIG_ERROR_VERSION:
		return "version";
	case BRIG_ERROR_UNKNOWN_HANDLER:
		return "unknown_handler";
	case BRIG_ERROR_UNKNOWN_PROFILE:
		return "unknown_profile";
	case BRIG_ERROR_DUPLICATE_JOB:
		return "duplicate_job";
	case BRIG_ERROR_BUSY:
		return "busy";
	case BRIG_ERROR_TOO_LARGE:
		return "too_large";
	case BRIG_ERROR_DENIED:
		return "denied";
	case BRIG_ERROR_UNKNOWN_JOB:
		return "unknown_job";
	case BRIG_ERROR_INTERNAL:
		return "internal";
	case BRIG_ERROR_SHUTTING_DOWN:
		return "shutting_down";
	case BRIG_ERROR_BAD_REQUEST:
		return "bad_request";
	default:
		return "unknown";
	}
}

void strlist_free(struct strlist *list)
{
	size_t i;

	if (list == NULL)
		return;
	for (i = 0; i < list->count; i++)
		free(list->names[i]);
	free(list->names);
	list->names = NULL;
	list->count = 0;
}

/* ---- framing ---- */

int msg_begin(msgpack_sbuffer *sb, msgpack_packer *pk, enum msg_type type, uint32_t nfields,
	      size_t *start)
{
	static const char placeholder[FRAME_HEADER_SIZE];
	size_t at = sb->size;

	/* even on failure pk is usable, so a caller may pack and then discard */
	msgpack_packer_init(pk, sb, msgpack_sbuffer_write);
	if (nfields == UINT32_MAX)
		return -EMSGSIZE;
	if (msgpack_sbuffer_write(sb, placeholder, sizeof(placeholder)) != 0 ||
	    msgpack_pack_array(pk, (size_t)nfields + 1) != 0 ||
	    msgpack_pack_uint32(pk, (uint32_t)type) != 0) {
		sb->size = at;
		return -ENOMEM;
	}
	*start = at;
	return 0;
}

int msg_finish(msgpack_sbuffer *sb, size_t start, size_t max_frame)
{
	size_t body_len;

	if (start > sb->size || sb->size - start < FRAME_HEADER_SIZE)
		return -EINVAL;
	body_len = sb->size - start - FRAME_HEADER_SIZE;
	if (body_len > max_frame || body_len > UINT32_MAX) {
		sb->size = start;
		return -EMSGSIZE;
	}
	/*
	 * The receiver runs the same check; refusing here turns a wrong field
	 * count or a too-deep handler item into an error at its source
	 * instead of a dropped connection at the other end.
	 */
	if (msgpack_check((const uint8_t *)sb->data + start + FRAME_HEADER_SIZE, body_len,
			  MSG_MAX_DEPTH, NULL) < 0) {
		sb->size = start;
		return -EBADMSG;
	}
	frame_put_header((uint8_t *)sb->data + start, (uint32_t)body_len);
	return 0;
}

/*
 * A frame being packed.  The first failure sticks and later puts do
 * nothing, so a packer reads as the plain list of its fields and checks
 * once, at the end.
 */
struct frame_writer {
	msgpack_sbuffer *sb;
	msgpack_packer pk;
	size_t start;
	int err;
};

static void writer_begin(struct frame_writer *w, msgpack_sbuffer *sb, enum msg_type type,
			 uint32_t nfields)
{
	w->sb = sb;
	w->start = sb->size;
	w->err = msg_begin(sb, &w->pk, type, nfields, &w->start);
}

static int writer_end(struct frame_writer *w)
{
	if (w->err < 0) {
		/* msg_begin failures leave sb as it was; start is still its old size */
		w->sb->size = w->start;
		return w->err;
	}
	return msg_finish(w->sb, w->start, BRIG_FRAME_MAX_CEILING);
}

static void writer_fail(struct frame_writer *w, int err)
{
	if (w->err == 0)
		w->err = err;
}

/* msgpack-c's packer only fails when the sbuffer cannot grow. */
static void writer_check(struct frame_writer *w, int packer_result)
{
	if (packer_result != 0)
		writer_fail(w, -ENOMEM);
}

static void put_u32(struct frame_writer *w, uint32_t value)
{
	if (w->err == 0)
		writer_check(w, msgpack_pack_uint32(&w->pk, value));
}

static void put_u64(struct frame_writer *w, uint64_t value)
{
	if (w->err == 0)
		writer_check(w, msgpack_pack_uint64(&w->pk, value));
}

static void put_i64(struct frame_writer *w, int64_t value)
{
	if (w->err == 0)
		writer_check(w, msgpack_pack_int64(&w->pk, value));
}

static void put_nil(struct frame_writer *w)
{
	if (w->err == 0)
		writer_check(w, msgpack_pack_nil(&w->pk));
}

static void put_array(struct frame_writer *w, size_t count)
{
	if (w->err == 0)
		writer_check(w, msgpack_pack_array(&w->pk, count));
}

/*
 * Strings longer than the decoder accepts are refused here, so that a frame
 * we send is never one the other side must reject.
 */
static void put_str(struct frame_writer *w, const char *s, size_t max)
{
	size_t len;

	if (w->err != 0)
		return;
	if (s == NULL) {
		writer_fail(w, -EINVAL);
		return;
	}
	len = strnlen(s, max + 1);
	if (len > max) {
		writer_fail(w, -EMSGSIZE);
		return;
	}
	writer_check(w, msgpack_pack_str(&w->pk, len));
	if (w->err == 0 && len > 0)
		writer_check(w, msgpack_pack_str_body(&w->pk, s, len));
}

static void put_bin(struct frame_writer *w, const uint8_t *data, size_t len)
{
	if (w->err != 0)
		return;
	if (data == NULL && len > 0) {
		writer_fail(w, -EINVAL);
		return;
	}
	/* before copying anything: msg_finish would only refuse it afterwards */
	if (len > BRIG_FRAME_MAX_CEILING) {
		writer_fail(w, -EMSGSIZE);
		return;
	}
	writer_check(w, msgpack_pack_bin(&w->pk, len));
	if (w->err == 0 && len > 0)
		writer_check(w, msgpack_pack_bin_body(&w->pk, data, len));
}

/* An input field: the bytes, or nil for "the descriptor passed with this frame". */
static void put_input(struct frame_writer *w, bool from_fd, const uint8_t *data, size_t len)
{
	if (!from_fd) {
		put_bin(w, data, len);
		return;
	}
	if (len > 0)
		writer_fail(w, -EINVAL);
	put_nil(w);
}

static void put_object(struct frame_writer *w, const msgpack_object *obj)
{
	if (w->err != 0)
		return;
	if (obj == NULL) {
		writer_fail(w, -EINVAL);
		return;
	}
	writer_check(w, msgpack_pack_object(&w->pk, *obj));
}

static void put_strlist(struct frame_writer *w, const struct strlist *list)
{
	size_t i;

	if (w->err != 0)
		return;
	if (list->count > BRIG_LIST_MAX) {
		writer_fail(w, -EMSGSIZE);
		return;
	}
	if (list->count > 0 && list->names == NULL) {
		writer_fail(w, -EINVAL);
		return;
	}
	put_array(w, list->count);
	for (i = 0; i < list->count; i++)
		put_str(w, list->names[i], BRIG_NAME_MAX);
}

static void put_strv(struct frame_writer *w, const struct msg_strv *l, size_t max_count,
		     size_t max_len)
{
	if (w->err != 0)
		return;
	if (l->count > max_count) {
		writer_fail(w, -EMSGSIZE);
		return;
	}
	if (l->count > 0 && l->v == NULL) {
		writer_fail(w, -EINVAL);
		return;
	}
	put_array(w, l->count);
	for (size_t i = 0; i < l->count; i++)
		put_str(w, l->v[i], max_len);
}

/* ---- opening a frame ---- */

static int open_fail(struct msg_in *in, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int open_fail(struct msg_in *in, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(in->error, sizeof(in->error), fmt, ap);
	va_end(ap);
	return err;
}

int msg_open(struct msg_in *in, const uint8_t *body, size_t len)
{
	const msgpack_object *obj;
	const msgpack_object *type;
	const char *why = NULL;
	size_t offset = 0;
	msgpack_unpack_return ret;

	msgpack_unpacked_init(&in->unpacked);
	in->array = NULL;
	in->type = 0;
	in->open = false;
	in->error[0] = '\0';

	/*
	 * Security: msgpack-c allocates from the counts a frame declares, so
	 * the bytes are checked to hold what they claim before it sees them.
	 */
	if (msgpack_check(body, len, MSG_MAX_DEPTH, &why) < 0)
		return open_fail(in, -EBADMSG, "malformed msgpack: %s", why);

	ret = msgpack_unpack_next(&in->unpacked, (const char *)body, len, &offset);
	if (ret == MSGPACK_UNPACK_NOMEM_ERROR)
		return open_fail(in, -ENOMEM, "out of memory unpacking %zu bytes", len);
	if ((ret != MSGPACK_UNPACK_SUCCESS && ret != MSGPACK_UNPACK_EXTRA_BYTES) || offset != len)
		return open_fail(in, -EBADMSG, "msgpack-c could not unpack the frame");

	obj = &in->unpacked.data;
	if (obj->type != MSGPACK_OBJECT_ARRAY)
		return open_fail(in, -EBADMSG, "expected an array, got %s",
				 msgpack_type_name(obj->type));
	if (obj->via.array.size == 0)
		return open_fail(in, -EBADMSG, "empty array, no message type");
	type = &obj->via.array.ptr[0];
	if (type->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return open_fail(in, -EBADMSG, "message type: expected positive int, got %s",
				 msgpack_type_name(type->type));
	if (!msg_type_known(type->via.u64))
		return open_fail(in, -EBADMSG, "unknown message type %" PRIu64,
				 type->via.u64);

	in->array = obj;
	in->type = (enum msg_type)type->via.u64;
	in->open = true;
	return (int)in->type;
}

void msg_close(struct msg_in *in)
{
	if (in == NULL)
		return;
	msgpack_unpacked_destroy(&in->unpacked);
	in->array = NULL;
	in->open = false;
}

/*
 * A cursor over the fields of the open message, past the type.  A
 * mismatch here is the caller's bug (its dispatch table), not the peer's,
 * hence -EINVAL rather than -EBADMSG.
 */
static int decode_begin(struct msg_in *in, enum msg_type type, struct cursor *c)
{
	int r;

	if (!in->open || in->array == NULL)
		return open_fail(in, -EINVAL, "%s: no message is open", msg_type_name(type));
	if (in->type != type)
		return open_fail(in, -EINVAL, "%s: the open message is %s", msg_type_name(type),
				 msg_type_name(in->type));
	r = cursor_init(c, in->array, msg_type_name(type), in->error, sizeof(in->error));
	if (r < 0)
		return r;
	c->pos = 1;
	return 0;
}

static int decode_strlist(struct cursor *c, const char *field, struct strlist *out)
{
	struct strlist list = { NULL, 0 };
	struct cursor entries;
	char entry_field[64];
	char name[BRIG_NAME_MAX + 1];
	uint32_t i;
	int r;

	r = cursor_array(c, field, BRIG_LIST_MAX, &entries);
	if (r < 0)
		return r;
	if (entries.count > 0) {
		list.names = calloc(entries.count, sizeof(*list.names));
		if (list.names == NULL) {
			cursor_fail(c, "%s field '%s': out of memory", c->what, field);
			r = -ENOMEM;
			goto out;
		}
	}
	for (i = 0; i < entries.count; i++) {
		snprintf(entry_field, sizeof(entry_field), "%s[%" PRIu32 "]", field, i);
		r = cursor_str(&entries, entry_field, name, sizeof(name));
		if (r < 0)
			goto out;
		list.names[i] = strdup(name);
		if (list.names[i] == NULL) {
			cursor_fail(c, "%s field '%s': out of memory", c->what, field);
			r = -ENOMEM;
			goto out;
		}
		list.count++;
	}
	*out = list;
	list.names = NULL;
	list.count = 0;
	r = 0;
out:
	strlist_free(&list);
	return r;
}

/*
 * A list of str: at most max_count entries of at most max_len bytes, none
 * holding a NUL; checked here so that msg_strv_get cannot fail on size.
 */
static int decode_strv(struct cursor *c, const char *field, uint32_t min_count,
		       uint32_t max_count, size_t max_len, struct msg_strv *out)
{
	struct cursor entries;
	int r;

	r = cursor_array(c, field, max_count, &entries);
	if (r < 0)
		return r;
	if (entries.count < min_count)
		return cursor_fail(c, "%s field '%s': needs at least %" PRIu32 " entr%s", c->what,
				   field, min_count, min_count == 1 ? "y" : "ies");
	for (uint32_t i = 0; i < entries.count; i++) {
		const msgpack_object *o = &entries.items[i];

		if (o->type != MSGPACK_OBJECT_STR)
			return cursor_fail(c, "%s field '%s[%" PRIu32 "]': expected str, got %s",
					   c->what, field, i, msgpack_type_name(o->type));
		if (o->via.str.size > max_len)
			return cursor_fail(c, "%s field '%s[%" PRIu32 "]': %" PRIu32 " bytes exceeds "
					   "the limit of %zu", c->what, field, i, o->via.str.size,
					   max_len);
		/* msgpack-c gives an empty str a NULL ptr: never pass it to memchr. */
		if (o->via.str.size > 0 && memchr(o->via.str.ptr, '\0', o->via.str.size))
			return cursor_fail(c, "%s field '%s[%" PRIu32 "]': contains a NUL byte",
					   c->what, field, i);
	}
	out->v = NULL;
	out->count = entries.count;
	out->array = c->items + c->pos - 1;
	return 0;
}

int msg_strv_get(const struct msg_strv *l, size_t i, char *buf, size_t size)
{
	const msgpack_object *o;

	if (!l->array || i >= l->count)
		return -EINVAL;
	o = &l->array->via.array.ptr[i];
	if (o->type != MSGPACK_OBJECT_STR)
		return -EINVAL;
	if ((size_t)o->via.str.size >= size)
		return -ENOSPC;
	if (o->via.str.size > 0)
		memcpy(buf, o->via.str.ptr, o->via.str.size);
	buf[o->via.str.size] = '\0';
	return 0;
}

char **msg_strv_dup(const struct msg_strv *l)
{
	size_t total = 0;
	char **v, *p;

	if (l->count > 0 && !l->array)
		return NULL;   /* a list built for packing, not a decoded one */
	for (size_t i = 0; i < l->count; i++)
		total += l->array->via.array.ptr[i].via.str.size + 1;
	v = malloc((l->count + 1) * sizeof(char *) + total);
	if (!v)
		return NULL;
	p = (char *)(v + l->count + 1);
	for (size_t i = 0; i < l->count; i++) {
		size_t n = l->array->via.array.ptr[i].via.str.size + 1;

		if (msg_strv_get(l, i, p, n) < 0) {
			free(v);
			return NULL;
		}
		v[i] = p;
		p += n;
	}
	v[l->count] = NULL;
	return v;
}

/* ---- the messages ---- */

/* HELLO: version u32, client str */

int msg_pack_hello(msgpack_sbuffer *sb, const struct msg_hello *m)
{
	struct frame_writer w;

	writer_begin(&w, sb, MSG_HELLO, 2);
	put_u32(&w, m->version);
	put_str(&w, m->client, BRIG_NAME_MAX);
	return writer_end(&w);
}

int msg_decode_hello(struct msg_in *in, struct msg_hello *m)
{
	struct msg_hello out;
	struct cursor c;
	int r;

	r = decode_begin(in, MSG_HELLO, &c);
	if (r < 0)
		return r;
	if ((r = cursor_u32(&c, "version", &out.version)) < 0 ||
	    (r = cursor_str(&c, "client", out.client, sizeof(out.client))) < 0 ||
	    (r = cursor_end(&c)) < 0)
		return r;
	*m = out;
	return 0;
}

/*
 * WELCOME: version u32, server str, limits [max_frame u32, max_input u32,
 * max_jobs u32], handlers [str...], profiles [str...]
 */

int msg_pack_welcome(msgpack_sbuffer *sb, const struct msg_welcome *m)
{
	struct frame_writer w;

	writer_begin(&w, sb, MSG_WELCOME, 5);
	put_u32(&w, m->version);
	put_str(&w, m->server, BRIG_NAME_MAX);
	put_array(&w, 3);
	put_u32(&w, m->max_frame);
	put_u32(&w, m->max_input);
	put_u32(&w, m->max_jobs);
	put_strlist(&w, &m->handlers);
	put_strlist(&w, &m->profiles);
	return writer_end(&w);
}

int msg_decode_welcome(struct msg_in *in, struct msg_welcome *m)
{
	struct msg_welcome out;
	struct cursor c, limits;
	int r;

	memset(&out, 0, sizeof(out));
	r = decode_begin(in, MSG_WELCOME, &c);
	if (r < 0)
		return r;
	if ((r = cursor_u32(&c, "version", &out.version)) < 0 ||
	    (r = cursor_str(&c, "server", out.server, sizeof(out.server))) < 0 ||
	    (r = cursor_array(&c, "limits", 3, &limits)) < 0 ||
	    (r = cursor_u32(&limits, "limits.max_frame", &out.max_frame)) < 0 ||
	    (r = cursor_u32(&limits, "limits.max_input", &out.max_input)) < 0 ||
	    (r = cursor_u32(&limits, "limits.max_jobs", &out.max_jobs)) < 0 ||
	    (r = decode_strlist(&c, "handlers", &out.handlers)) < 0 ||
	    (r = decode_strlist(&c, "profiles", &out.profiles)) < 0 ||
	    (r = cursor_end(&c)) < 0)
		goto out;
	*m = out;
	return 0;
out:
	strlist_free(&out.handlers);
	strlist_free(&out.profiles);
	return r;
}

/* SUBMIT: job_id u32, handler str, profile str, input bin or nil, timeout_ms u32,
 * descriptors [str] */

int msg_pack_submit(msgpack_sbuffer *sb, const struct msg_submit *m)
{
	struct frame_writer w;

	writer_begin(&w, sb, MSG_SUBMIT, 6);
	put_u32(&w, m->job_id);
	put_str(&w, m->handler, BRIG_NAME_MAX);
	put_str(&w, m->profile, BRIG_NAME_MAX);
	put_input(&w, m->input_fd, m->input, m->input_len);
	put_u32(&w, m->timeout_ms);
	put_strv(&w, &m->descriptors, BRIG_DESCRIPTORS_MAX, BRIG_DESCRIPTOR_LEN);
	return writer_end(&w);
}

int msg_decode_submit(struct msg_in *in, size_t input_limit, struct msg_submit *m)
{
	struct msg_submit out;
	struct cursor c;
	int r;

	r = decode_begin(in, MSG_SUBMIT, &c);
	if (r < 0)
		return r;
	if ((r = cursor_u32(&c, "job_id", &out.job_id)) < 0 ||
	    (r = cursor_str(&c, "handler", out.handler, sizeof(out.handler))) < 0 ||
	    (r = cursor_str(&c, "profile", out.profile, sizeof(out.profile))) < 0 ||
	    (r = cursor_bin_or_nil(&c, "input", input_limit, &out.input_fd, &out.input,
				       &out.input_len)) < 0 ||
	    (r = cursor_u32(&c, "timeout_ms", &out.timeout_ms)) < 0 ||
	    (r = decode_strv(&c, "descriptors", 0, BRIG_DESCRIPTORS_MAX, BRIG_DESCRIPTOR_LEN,
			     &out.descriptors)) < 0 ||
	    (r = cursor_end(&c)) < 0)
		return r;
	*m = out;
	return 0;
}

/* EXEC: job_id u32, profile str, argv [str], env [str], cwd str, stdin bin or nil,
 * timeout_ms u32, descriptors [str] */

int msg_pack_exec(msgpack_sbuffer *sb, const struct msg_exec *m)
{
	struct frame_writer w;

	writer_begin(&w, sb, MSG_EXEC, 8);
	put_u32(&w, m->job_id);
	put_str(&w, m->profile, BRIG_NAME_MAX);
	if (m->argv.count == 0)
		writer_fail(&w, -EINVAL);
	put_strv(&w, &m->argv, BRIG_ARGV_MAX, BRIG_ARG_LEN);
	put_strv(&w, &m->env, BRIG_ARGV_MAX, BRIG_ARG_LEN);
	put_str(&w, m->cwd, BRIG_PATH_LEN);
	put_input(&w, m->stdin_fd, m->stdin_data, m->stdin_len);
	put_u32(&w, m->timeout_ms);
	put_strv(&w, &m->descriptors, BRIG_DESCRIPTORS_MAX, BRIG_DESCRIPTOR_LEN);
	return writer_end(&w);
}

int msg_decode_exec(struct msg_in *in, size_t input_limit, struct msg_exec *m)
{
	struct msg_exec out;
	struct cursor c;
	int r;

	r = decode_begin(in, MSG_EXEC, &c);
	if (r < 0)
		return r;
	if ((r = cursor_u32(&c, "job_id", &out.job_id)) < 0 ||
	    (r = cursor_str(&c, "profile", out.profile, sizeof(out.profile))) < 0 ||
	    (r = decode_strv(&c, "argv", 1, BRIG_ARGV_MAX, BRIG_ARG_LEN, &out.argv)) < 0 ||
	    (r = decode_strv(&c, "env", 0, BRIG_ARGV_MAX, BRIG_ARG_LEN, &out.env)) < 0 ||
	    (r = cursor_str(&c, "cwd", out.cwd, sizeof(out.cwd))) < 0 ||
	    (r = cursor_bin_or_nil(&c, "stdin", input_limit, &out.stdin_fd, &out.stdin_data,
				       &out.stdin_len)) < 0 ||
	    (r = cursor_u32(&c, "timeout_ms", &out.timeout_ms)) < 0 ||
	    (r = decode_strv(&c, "descriptors", 0, BRIG_DESCRIPTORS_MAX, BRIG_DESCRIPTOR_LEN,
			     &out.descriptors)) < 0 ||
	    (r = cursor_end(&c)) < 0)
		return r;
	*m = out;
	return 0;
}

/* OUTPUT: job_id u32, seq u32, stream u32, data bin */

int msg_pack_output(msgpack_sbuffer *sb, const struct msg_output *m)
{
	struct frame_writer w;

	writer_begin(&w, sb, MSG_OUTPUT, 4);
	put_u32(&w, m->job_id);
	put_u32(&w, m->seq);
	if (m->stream != BRIG_STREAM_STDOUT && m->stream != BRIG_STREAM_STDERR)
		writer_fail(&w, -EINVAL);
	put_u32(&w, m->stream);
	put_bin(&w, m->data, m->len);
	return writer_end(&w);
}

int msg_decode_output(struct msg_in *in, size_t data_limit, struct msg_output *m)
{
	struct msg_output out;
	struct cursor c;
	int r;

	r = decode_begin(in, MSG_OUTPUT, &c);
	if (r < 0)
		return r;
	if ((r = cursor_u32(&c, "job_id", &out.job_id)) < 0 ||
	    (r = cursor_u32(&c, "seq", &out.seq)) < 0 ||
	    (r = cursor_u32(&c, "stream", &out.stream)) < 0)
		return r;
	if (out.stream != BRIG_STREAM_STDOUT && out.stream != BRIG_STREAM_STDERR)
		return cursor_fail(&c, "OUTPUT field 'stream': %" PRIu32 " is neither 1 (stdout) "
				   "nor 2 (stderr)", out.stream);
	if ((r = cursor_bin(&c, "data", data_limit, &out.data, &out.len)) < 0 ||
	    (r = cursor_end(&c)) < 0)
		return r;
	*m = out;
	return 0;
}

/* CANCEL: job_id u32 */

int msg_pack_cancel(msgpack_sbuffer *sb, const struct msg_cancel *m)
{
	struct frame_writer w;

	writer_begin(&w, sb, MSG_CANCEL, 1);
	put_u32(&w, m->job_id);
	return writer_end(&w);
}

int msg_decode_cancel(struct msg_in *in, struct msg_cancel *m)
{
	struct msg_cancel out;
	struct cursor c;
	int r;

	r = decode_begin(in, MSG_CANCEL, &c);
	if (r < 0)
		return r;
	if ((r = cursor_u32(&c, "job_id", &out.job_id)) < 0 ||
	    (r = cursor_end(&c)) < 0)
		return r;
	*m = out;
	return 0;
}

/* ITEM: job_id u32, seq u32, item any */

int msg_pack_item(msgpack_sbuffer *sb, const struct msg_item *m)
{
	struct frame_writer w;

	writer_begin(&w, sb, MSG_ITEM, 3);
	put_u32(&w, m->job_id);
	put_u32(&w, m->seq);
	put_object(&w, m->item);
	return writer_end(&w);
}

int msg_decode_item(struct msg_in *in, struct msg_item *m)
{
	struct msg_item out;
	struct cursor c;
	int r;

	r = decode_begin(in, MSG_ITEM, &c);
	if (r < 0)
		return r;
	if ((r = cursor_u32(&c, "job_id", &out.job_id)) < 0 ||
	    (r = cursor_u32(&c, "seq", &out.seq)) < 0 ||
	    (r = cursor_any(&c, "item", &out.item)) < 0 ||
	    (r = cursor_end(&c)) < 0)
		return r;
	*m = out;
	return 0;
}

/*
 * FINAL: job_id u32, outcome u32, code i64, message str,
 * usage [wall_us u64, cpu_us u64, maxrss_kib u64]
 */

int msg_pack_final(msgpack_sbuffer *sb, const struct msg_final *m)
{
	struct frame_writer w;

	writer_begin(&w, sb, MSG_FINAL, 5);
	/* the decoder refuses outcomes it does not know; do not send one */
	if (m->outcome > BRIG_OUTCOME__MAX)
		writer_fail(&w, -EINVAL);
	put_u32(&w, m->job_id);
	put_u32(&w, m->outcome);
	put_i64(&w, m->code);
	put_str(&w, m->message, BRIG_MESSAGE_MAX);
	put_array(&w, 3);
	put_u64(&w, m->usage.wall_us);
	put_u64(&w, m->usage.cpu_us);
	put_u64(&w, m->usage.maxrss_kib);
	return writer_end(&w);
}

int msg_decode_final(struct msg_in *in, struct msg_final *m)
{
	struct msg_final out;
	struct cursor c, usage;
	int r;

	r = decode_begin(in, MSG_FINAL, &c);
	if (r < 0)
		return r;
	if ((r = cursor_u32(&c, "job_id", &out.job_id)) < 0 ||
	    (r = cursor_u32(&c, "outcome", &out.outcome)) < 0)
		return r;
	if (out.outcome > BRIG_OUTCOME__MAX)
		return cursor_fail(&c, "FINAL field 'outcome': %" PRIu32 " is not a known outcome",
				   out.outcome);
	if ((r = cursor_i64(&c, "code", &out.code)) < 0 ||
	    (r = cursor_str(&c, "message", out.message, sizeof(out.message))) < 0 ||
	    (r = cursor_array(&c, "usage", 3, &usage)) < 0 ||
	    (r = cursor_u64(&usage, "usage.wall_us", &out.usage.wall_us)) < 0 ||
	    (r = cursor_u64(&usage, "usage.cpu_us", &out.usage.cpu_us)) < 0 ||
	    (r = cursor_u64(&usage, "usage.maxrss_kib", &out.usage.maxrss_kib)) < 0 ||
	    (r = cursor_end(&c)) < 0)
		return r;
	*m = out;
	return 0;
}

/* ERROR: job_id u32 or nil, code u32, message str */

int msg_pack_error(msgpack_sbuffer *sb, const struct msg_error *m)
{
	struct frame_writer w;

	writer_begin(&w, sb, MSG_ERROR, 3);
	if (m->has_job)
		put_u32(&w, m->job_id);
	else
		put_nil(&w);
	put_u32(&w, m->code);
	put_str(&w, m->message, BRIG_MESSAGE_MAX);
	return writer_end(&w);
}

int msg_decode_error(struct msg_in *in, struct msg_error *m)
{
	struct msg_error out;
	struct cursor c;
	int r;

	r = decode_begin(in, MSG_ERROR, &c);
	if (r < 0)
		return r;
	if ((r = cursor_u32_or_nil(&c, "job_id", &out.has_job, &out.job_id)) < 0 ||
	    (r = cursor_u32(&c, "code", &out.code)) < 0 ||
	    (r = cursor_str(&c, "message", out.message, sizeof(out.message))) < 0 ||
	    (r = cursor_end(&c)) < 0)
		return r;
	*m = out;
	return 0;
}

/* WORKER_READY: no fields */

int msg_pack_worker_ready(msgpack_sbuffer *sb)
{
	struct frame_writer w;

	writer_begin(&w, sb, MSG_WORKER_READY, 0);
	return writer_end(&w);
}

int msg_decode_worker_ready(struct msg_in *in)
{
	struct cursor c;
	int r;

	r = decode_begin(in, MSG_WORKER_READY, &c);
	if (r < 0)
		return r;
	return cursor_end(&c);
}

/* WORKER_JOB: handler str, input bin or nil, descriptors [str] */

int msg_pack_worker_job(msgpack_sbuffer *sb, const struct msg_worker_job *m)
{
	struct frame_writer w;

	writer_begin(&w, sb, MSG_WORKER_JOB, 3);
	put_str(&w, m->handler, BRIG_NAME_MAX);
	put_input(&w, m->input_fd, m->input, m->input_len);
	put_strv(&w, &m->descriptors, BRIG_DESCRIPTORS_MAX, BRIG_DESCRIPTOR_LEN);
	return writer_end(&w);
}

int msg_decode_worker_job(struct msg_in *in, size_t input_limit, struct msg_worker_job *m)
{
	struct msg_worker_job out;
	struct cursor c;
	int r;

	r = decode_begin(in, MSG_WORKER_JOB, &c);
	if (r < 0)
		return r;
	if ((r = cursor_str(&c, "handler", out.handler, sizeof(out.handler))) < 0 ||
	    (r = cursor_bin_or_nil(&c, "input", input_limit, &out.input_fd, &out.input,
				       &out.input_len)) < 0 ||
	    (r = decode_strv(&c, "descriptors", 0, BRIG_DESCRIPTORS_MAX, BRIG_DESCRIPTOR_LEN,
			     &out.descriptors)) < 0 ||
	    (r = cursor_end(&c)) < 0)
		return r;
	*m = out;
	return 0;
}

/* WORKER_ITEM: item any */

int msg_pack_worker_item(msgpack_sbuffer *sb, const struct msg_worker_item *m)
{
	struct frame_writer w;

	writer_begin(&w, sb, MSG_WORKER_ITEM, 1);
	put_object(&w, m->item);
	return writer_end(&w);
}

int msg_decode_worker_item(struct msg_in *in, struct msg_worker_item *m)
{
	struct msg_worker_item out;
	struct cursor c;
	int r;

	r = decode_begin(in, MSG_WORKER_ITEM, &c);
	if (r < 0)
		return r;
	if ((r = cursor_any(&c, "item", &out.item)) < 0 ||
	    (r = cursor_end(&c)) < 0)
		return r;
	*m = out;
	return 0;
}

/* WORKER_DONE: status u32, message str, cpu_us u64, maxrss_kib u64 */

int msg_pack_worker_done(msgpack_sbuffer *sb, const struct msg_worker_done *m)
{
	struct frame_writer w;

	writer_begin(&w, sb, MSG_WORKER_DONE, 4);
	put_u32(&w, m->status);
	put_str(&w, m->message, BRIG_MESSAGE_MAX);
	put_u64(&w, m->cpu_us);
	put_u64(&w, m->maxrss_kib);
	return writer_end(&w);
}

int msg_decode_worker_done(struct msg_in *in, struct msg_worker_done *m)
{
	struct msg_worker_done out;
	struct cursor c;
	int r;

	r = decode_begin(in, MSG_WORKER_DONE, &c);
	if (r < 0)
		return r;
	if ((r = cursor_u32(&c, "status", &out.status)) < 0 ||
	    (r = cursor_str(&c, "message", out.message, sizeof(out.message))) < 0 ||
	    (r = cursor_u64(&c, "cpu_us", &out.cpu_us)) < 0 ||
	    (r = cursor_u64(&c, "maxrss_kib", &out.maxrss_kib)) < 0 ||
	    (r = cursor_end(&c)) < 0)
		return r;
	*m = out;
	return 0;
}

/* WORKER_VIOLATION: syscall i64 */

int msg_pack_worker_violation(msgpack_sbuffer *sb, const struct msg_worker_violation *m)
{
	struct frame_writer w;

	writer_begin(&w, sb, MSG_WORKER_VIOLATION, 1);
	put_i64(&w, m->syscall);
	return writer_end(&w);
}

int msg_decode_worker_violation(struct msg_in *in, struct msg_worker_violation *m)
{
	struct msg_worker_violation out;
	struct cursor c;
	int r;

	r = decode_begin(in, MSG_WORKER_VIOLATION, &c);
	if (r < 0)
		return r;
	if ((r = cursor_i64(&c, "syscall", &out.syscall)) < 0 ||
	    (r = cursor_end(&c)) < 0)
		return r;
	*m = out;
	return 0;
}

/* WORKER_EXEC: argv [str], env [str], cwd str, stdin bin or nil, descriptors [str] */

int msg_pack_worker_exec(msgpack_sbuffer *sb, const struct msg_worker_exec *m)
{
	struct frame_writer w;

	writer_begin(&w, sb, MSG_WORKER_EXEC, 5);
	if (m->argv.count == 0)
		writer_fail(&w, -EINVAL);
	put_strv(&w, &m->argv, BRIG_ARGV_MAX, BRIG_ARG_LEN);
	put_strv(&w, &m->env, BRIG_ARGV_MAX, BRIG_ARG_LEN);
	put_str(&w, m->cwd, BRIG_PATH_LEN);
	put_input(&w, m->stdin_fd, m->stdin_data, m->stdin_len);
	put_strv(&w, &m->descriptors, BRIG_DESCRIPTORS_MAX, BRIG_DESCRIPTOR_LEN);
	return writer_end(&w);
}

int msg_decode_worker_exec(struct msg_in *in, size_t input_limit, struct msg_worker_exec *m)
{
	struct msg_worker_exec out;
	struct cursor c;
	int r;

	r = decode_begin(in, MSG_WORKER_EXEC, &c);
	if (r < 0)
		return r;
	if ((r = decode_strv(&c, "argv", 1, BRIG_ARGV_MAX, BRIG_ARG_LEN, &out.argv)) < 0 ||
	    (r = decode_strv(&c, "env", 0, BRIG_ARGV_MAX, BRIG_ARG_LEN, &out.env)) < 0 ||
	    (r = cursor_str(&c, "cwd", out.cwd, sizeof(out.cwd))) < 0 ||
	    (r = cursor_bin_or_nil(&c, "stdin", input_limit, &out.stdin_fd, &out.stdin_data,
				       &out.stdin_len)) < 0 ||
	    (r = decode_strv(&c, "descriptors", 0, BRIG_DESCRIPTORS_MAX, BRIG_DESCRIPTOR_LEN,
			     &out.descriptors)) < 0 ||
	    (r = cursor_end(&c)) < 0)
		return r;
	*m = out;
	return 0;
}

/* WORKER_OUTPUT: stream u32, data bin */

int msg_pack_worker_output(msgpack_sbuffer *sb, const struct msg_worker_output *m)
{
	struct frame_writer w;

	writer_begin(&w, sb, MSG_WORKER_OUTPUT, 2);
	if (m->stream != BRIG_STREAM_STDOUT && m->stream != BRIG_STREAM_STDERR)
		writer_fail(&w, -EINVAL);
	put_u32(&w, m->stream);
	put_bin(&w, m->data, m->len);
	return writer_end(&w);
}

int msg_decode_worker_output(struct msg_in *in, size_t data_limit, struct msg_worker_output *m)
{
	struct msg_worker_output out;
	struct cursor c;
	int r;

	r = decode_begin(in, MSG_WORKER_OUTPUT, &c);
	if (r < 0)
		return r;
	if ((r = cursor_u32(&c, "stream", &out.stream)) < 0)
		return r;
	if (out.stream != BRIG_STREAM_STDOUT && out.stream != BRIG_STREAM_STDERR)
		return cursor_fail(&c, "WORKER_OUTPUT field 'stream': %" PRIu32 " is neither 1 "
				   "nor 2", out.stream);
	if ((r = cursor_bin(&c, "data", data_limit, &out.data, &out.len)) < 0 ||
	    (r = cursor_end(&c)) < 0)
		return r;
	*m = out;
	return 0;
}

/* WORKER_EXIT: wait_status i64 */

int msg_pack_worker_exit(msgpack_sbuffer *sb, const struct msg_worker_exit *m)
{
	struct frame_writer w;

	writer_begin(&w, sb, MSG_WORKER_EXIT, 1);
	put_i64(&w, m->wait_status);
	return writer_end(&w);
}

int msg_decode_worker_exit(struct msg_in *in, struct msg_worker_exit *m)
{
	struct msg_worker_exit out;
	struct cursor c;
	int r;

	r = decode_begin(in, MSG_WORKER_EXIT, &c);
	if (r < 0)
		return r;
	if ((r = cursor_i64(&c, "wait_status", &out.wait_status)) < 0 ||
	    (r = cursor_end(&c)) < 0)
		return r;
	*m = out;
	return 0;
}

/* TEMPLATE_SPAWN: worker_id u32, uid u32 */

int msg_pack_template_spawn(msgpack_sbuffer *sb, const struct msg_template_spawn *m)
{
	struct frame_writer w;

	writer_begin(&w, sb, MSG_TEMPLATE_SPAWN, 2);
	put_u32(&w, m->worker_id);
	put_u32(&w, m->uid);
	return writer_end(&w);
}

int msg_decode_template_spawn(struct msg_in *in, struct msg_template_spawn *m)
{
	struct msg_template_spawn out;
	struct cursor c;
	int r;

	r = decode_begin(in, MSG_TEMPLATE_SPAWN, &c);
	if (r < 0)
		return r;
	if ((r = cursor_u32(&c, "worker_id", &out.worker_id)) < 0 ||
	    (r = cursor_u32(&c, "uid", &out.uid)) < 0 ||
	    (r = cursor_end(&c)) < 0)
		return r;
	*m = out;
	return 0;
}

/* ZYGOTE_READY: handlers [str...] */

int msg_pack_zygote_ready(msgpack_sbuffer *sb, const struct msg_zygote_ready *m)
{
	struct frame_writer w;

	writer_begin(&w, sb, MSG_ZYGOTE_READY, 1);
	put_strlist(&w, &m->handlers);
	return writer_end(&w);
}

int msg_decode_zygote_ready(struct msg_in *in, struct msg_zygote_ready *m)
{
	struct msg_zygote_ready out;
	struct cursor c;
	int r;

	memset(&out, 0, sizeof(out));
	r = decode_begin(in, MSG_ZYGOTE_READY, &c);
	if (r < 0)
		return r;
	if ((r = decode_strlist(&c, "handlers", &out.handlers)) < 0 ||
	    (r = cursor_end(&c)) < 0)
		goto out;
	*m = out;
	return 0;
out:
	strlist_free(&out.handlers);
	return r;
}

/* ZYGOTE_SPAWN: worker_id u32, profile u32 */

int msg_pack_zygote_spawn(msgpack_sbuffer *sb, const struct msg_zygote_spawn *m)
{
	struct frame_writer w;

	writer_begin(&w, sb, MSG_ZYGOTE_SPAWN, 2);
	put_u32(&w, m->worker_id);
	put_u32(&w, m->profile);
	return writer_end(&w);
}

int msg_decode_zygote_spawn(struct msg_in *in, struct msg_zygote_spawn *m)
{
	struct msg_zygote_spawn out;
	struct cursor c;
	int r;

	r = decode_begin(in, MSG_ZYGOTE_SPAWN, &c);
	if (r < 0)
		return r;
	if ((r = cursor_u32(&c, "worker_id", &out.worker_id)) < 0 ||
	    (r = cursor_u32(&c, "profile", &out.profile)) < 0 ||
	    (r = cursor_end(&c)) < 0)
		return r;
	*m = out;
	return 0;
}

/* ZYGOTE_SPAWNED: worker_id u32, pid i64 */

int msg_pack_zygote_spawned(msgpack_sbuffer *sb, const struct msg_zygote_spawned *m)
{
	struct frame_writer w;

	writer_begin(&w, sb, MSG_ZYGOTE_SPAWNED, 2);
	put_u32(&w, m->worker_id);
	put_i64(&w, m->pid);
	return writer_end(&w);
}

int msg_decode_zygote_spawned(struct msg_in *in, struct msg_zygote_spawned *m)
{
	struct msg_zygote_spawned out;
	struct cursor c;
	int r;

	r = decode_begin(in, MSG_ZYGOTE_SPAWNED, &c);
	if (r < 0)
		return r;
	if ((r = cursor_u32(&c, "worker_id", &out.worker_id)) < 0 ||
	    (r = cursor_i64(&c, "pid", &out.pid)) < 0 ||
	    (r = cursor_end(&c)) < 0)
		return r;
	*m = out;
	return 0;
}

/* ZYGOTE_SPAWN_FAILED: worker_id u32, error i64, message str */

int msg_pack_zygote_spawn_failed(msgpack_sbuffer *sb, const struct msg_zygote_spawn_failed *m)
{
	struct frame_writer w;

	writer_begin(&w, sb, MSG_ZYGOTE_SPAWN_FAILED, 3);
	put_u32(&w, m->worker_id);
	put_i64(&w, m->error);
	put_str(&w, m->message, BRIG_MESSAGE_MAX);
	return writer_end(&w);
}

int msg_decode_zygote_spawn_failed(struct msg_in *in, struct msg_zygote_spawn_failed *m)
{
	struct msg_zygote_spawn_failed out;
	struct cursor c;
	int r;

	r = decode_begin(in, MSG_ZYGOTE_SPAWN_FAILED, &c);
	if (r < 0)
		return r;
	if ((r = cursor_u32(&c, "worker_id", &out.worker_id)) < 0 ||
	    (r = cursor_i64(&c, "error", &out.error)) < 0 ||
	    (r = cursor_str(&c, "message", out.message, sizeof(out.message))) < 0 ||
	    (r = cursor_end(&c)) < 0)
		return r;
	*m = out;
	return 0;
}

/* ZYGOTE_KILL: worker_id u32 */

int msg_pack_zygote_kill(msgpack_sbuffer *sb, const struct msg_zygote_kill *m)
{
	struct frame_writer w;

	writer_begin(&w, sb, MSG_ZYGOTE_KILL, 1);
	put_u32(&w, m->worker_id);
	return writer_end(&w);
}

int msg_decode_zygote_kill(struct msg_in *in, struct msg_zygote_kill *m)
{
	struct msg_zygote_kill out;
	struct cursor c;
	int r;

	r = decode_begin(in, MSG_ZYGOTE_KILL, &c);
	if (r < 0)
		return r;
	if ((r = cursor_u32(&c, "worker_id", &out.worker_id)) < 0 ||
	    (r = cursor_end(&c)) < 0)
		return r;
	*m = out;
	return 0;
}

/* ZYGOTE_EXITED: worker_id u32, wait_status i64, cpu_us u64, maxrss_kib u64,
 * limits u32 */

int msg_pack_zygote_exited(msgpack_sbuffer *sb, const struct msg_zygote_exited *m)
{
	struct frame_writer w;

	writer_begin(&w, sb, MSG_ZYGOTE_EXITED, 5);
	put_u32(&w, m->worker_id);
	put_i64(&w, m->wait_status);
	put_u64(&w, m->cpu_us);
	put_u64(&w, m->maxrss_kib);
	put_u32(&w, m->limits);
	return writer_end(&w);
}

int msg_decode_zygote_exited(struct msg_in *in, struct msg_zygote_exited *m)
{
	struct msg_zygote_exited out;
	struct cursor c;
	int r;

	r = decode_begin(in, MSG_ZYGOTE_EXITED, &c);
	if (r < 0)
		return r;
	if ((r = cursor_u32(&c, "worker_id", &out.worker_id)) < 0 ||
	    (r = cursor_i64(&c, "wait_status", &out.wait_status)) < 0 ||
	    (r = cursor_u64(&c, "cpu_us", &out.cpu_us)) < 0 ||
	    (r = cursor_u64(&c, "maxrss_kib", &out.maxrss_kib)) < 0 ||
	    (r = cursor_u32(&c, "limits", &out.limits)) < 0 ||
	    (r = cursor_end(&c)) < 0)
		return r;
	*m = out;
	return 0;
}

/* ---- broker <-> monitor ---- */

/* MONITOR_ZYGOTE_START: request u32 */

int msg_pack_monitor_zygote_start(msgpack_sbuffer *sb, const struct msg_monitor_zygote_start *m)
{
	struct frame_writer w;

	writer_begin(&w, sb, MSG_MONITOR_ZYGOTE_START, 1);
	put_u32(&w, m->request);
	return writer_end(&w);
}

int msg_decode_monitor_zygote_start(struct msg_in *in, struct msg_monitor_zygote_start *m)
{
	struct msg_monitor_zygote_start out;
	struct cursor c;
	int r;

	r = decode_begin(in, MSG_MONITOR_ZYGOTE_START, &c);
	if (r < 0)
		return r;
	if ((r = cursor_u32(&c, "request", &out.request)) < 0 ||
	    (r = cursor_end(&c)) < 0)
		return r;
	*m = out;
	return 0;
}

/* MONITOR_ZYGOTE_STARTED: request u32, pid i64, error i64 */

int msg_pack_monitor_zygote_started(msgpack_sbuffer *sb,
				    const struct msg_monitor_zygote_started *m)
{
	struct frame_writer w;

	writer_begin(&w, sb, MSG_MONITOR_ZYGOTE_STARTED, 3);
	put_u32(&w, m->request);
	put_i64(&w, m->pid);
	put_i64(&w, m->error);
	return writer_end(&w);
}

int msg_decode_monitor_zygote_started(struct msg_in *in, struct msg_monitor_zygote_started *m)
{
	struct msg_monitor_zygote_started out;
	struct cursor c;
	int r;

	r = decode_begin(in, MSG_MONITOR_ZYGOTE_STARTED, &c);
	if (r < 0)
		return r;
	if ((r = cursor_u32(&c, "request", &out.request)) < 0 ||
	    (r = cursor_i64(&c, "pid", &out.pid)) < 0 ||
	    (r = cursor_i64(&c, "error", &out.error)) < 0 ||
	    (r = cursor_end(&c)) < 0)
		return r;
	if (out.pid < 0 || out.pid > INT_MAX)
		return cursor_fail(&c, "MONITOR_ZYGOTE_STARTED field 'pid': %" PRId64
				   " is not a pid", out.pid);
	*m = out;
	return 0;
}

/* A pid the broker may name: a process, never 0, -1 (everyone) or init. */
static int decode_pid(struct cursor *c, const char *field, int64_t *pid)
{
	int r = cursor_i64(c, field, pid);

	if (r < 0)
		return r;
	if (*pid <= 1 || *pid > INT_MAX)
		return cursor_fail(c, "%s field '%s': %" PRId64 " is not a pid", c->what, field,
				   *pid);
	return 0;
}

/* MONITOR_ZYGOTE_KILL: pid i64 (> 1) */

int msg_pack_monitor_zygote_kill(msgpack_sbuffer *sb, const struct msg_monitor_zygote_kill *m)
{
	struct frame_writer w;

	writer_begin(&w, sb, MSG_MONITOR_ZYGOTE_KILL, 1);
	put_i64(&w, m->pid);
	return writer_end(&w);
}

int msg_decode_monitor_zygote_kill(struct msg_in *in, struct msg_monitor_zygote_kill *m)
{
	struct msg_monitor_zygote_kill out;
	struct cursor c;
	int r;

	r = decode_begin(in, MSG_MONITOR_ZYGOTE_KILL, &c);
	if (r < 0)
		return r;
	if ((r = decode_pid(&c, "pid", &out.pid)) < 0 ||
	    (r = cursor_end(&c)) < 0)
		return r;
	*m = out;
	return 0;
}

/* MONITOR_ZYGOTE_DIED: pid i64 (> 1), wait_status i64 */

int msg_pack_monitor_zygote_died(msgpack_sbuffer *sb, const struct msg_monitor_zygote_died *m)
{
	struct frame_writer w;

	writer_begin(&w, sb, MSG_MONITOR_ZYGOTE_DIED, 2);
	put_i64(&w, m->pid);
	put_i64(&w, m->wait_status);
	return writer_end(&w);
}

int msg_decode_monitor_zygote_died(struct msg_in *in, struct msg_monitor_zygote_died *m)
{
	struct msg_monitor_zygote_died out;
	struct cursor c;
	int r;

	r = decode_begin(in, MSG_MONITOR_ZYGOTE_DIED, &c);
	if (r < 0)
		return r;
	if ((r = decode_pid(&c, "pid", &out.pid)) < 0 ||
	    (r = cursor_i64(&c, "wait_status", &out.wait_status)) < 0 ||
	    (r = cursor_end(&c)) < 0)
		return r;
	*m = out;
	return 0;
}

/* MONITOR_ACCESS: uid u32, gid u32, groups [u32] (<= 64), path str(4095),
 * mode u32 */

int msg_pack_monitor_access(msgpack_sbuffer *sb, const struct msg_monitor_access *m)
{
	struct frame_writer w;

	if (m->group_count > BRIG_GROUPS_MAX)
		return -EINVAL;
	writer_begin(&w, sb, MSG_MONITOR_ACCESS, 5);
	put_u32(&w, m->uid);
	put_u32(&w, m->gid);
	put_array(&w, m->group_count);
	for (size_t i = 0; i < m->group_count; i++)
		put_u32(&w, m->groups[i]);
	put_str(&w, m->path, BRIG_ACCESS_PATH_MAX);
	put_u32(&w, m->mode);
	return writer_end(&w);
}

int msg_decode_monitor_access(struct msg_in *in, struct msg_monitor_access *m)
{
	struct msg_monitor_access out;
	struct cursor c, groups;
	int r;

	memset(&out, 0, sizeof(out));
	r = decode_begin(in, MSG_MONITOR_ACCESS, &c);
	if (r < 0)
		return r;
	if ((r = cursor_u32(&c, "uid", &out.uid)) < 0 ||
	    (r = cursor_u32(&c, "gid", &out.gid)) < 0 ||
	    (r = cursor_array(&c, "groups", BRIG_GROUPS_MAX, &groups)) < 0)
		return r;
	for (uint32_t i = 0; i < groups.count; i++) {
		char field[32];

		snprintf(field, sizeof(field), "groups[%" PRIu32 "]", i);
		if ((r = cursor_u32(&groups, field, &out.groups[i])) < 0)
			return r;
	}
	out.group_count = groups.count;
	if ((r = cursor_str(&c, "path", out.path, sizeof(out.path))) < 0 ||
	    (r = cursor_u32(&c, "mode", &out.mode)) < 0 ||
	    (r = cursor_end(&c)) < 0)
		return r;
	/* (uid_t)-1 and (gid_t)-1 mean "unchanged" to setresuid/setresgid. */
	if (out.uid == UINT32_MAX || out.gid == UINT32_MAX)
		return cursor_fail(&c, "MONITOR_ACCESS: uid or gid 4294967295 is not an identity");
	for (size_t i = 0; i < out.group_count; i++)
		if (out.groups[i] == UINT32_MAX)
			return cursor_fail(&c, "MONITOR_ACCESS field 'groups[%zu]': 4294967295 is "
					   "not a group", i);
	if (out.path[0] != '/')
		return cursor_fail(&c, "MONITOR_ACCESS field 'path': not an absolute path");
	if (out.mode & ~7u)
		return cursor_fail(&c, "MONITOR_ACCESS field 'mode': 0x%" PRIx32 " is not a "
				   "combination of R_OK, W_OK and X_OK", out.mode);
	*m = out;
	return 0;
}

/* MONITOR_ACCESS_RESULT: error i64 */

int msg_pack_monitor_access_result(msgpack_sbuffer *sb,
				   const struct msg_monitor_access_result *m)
{
	struct frame_writer w;

	writer_begin(&w, sb, MSG_MONITOR_ACCESS_RESULT, 1);
	put_i64(&w, m->error);
	return writer_end(&w);
}

int msg_decode_monitor_access_result(struct msg_in *in, struct msg_monitor_access_result *m)
{
	struct msg_monitor_access_result out;
	struct cursor c;
	int r;

	r = decode_begin(in, MSG_MONITOR_ACCESS_RESULT, &c);
	if (r < 0)
		return r;
	if ((r = cursor_i64(&c, "error", &out.error)) < 0 ||
	    (r = cursor_end(&c)) < 0)
		return r;
	*m = out;
	return 0;
}

/* MONITOR_NOTIFY: state u32, status str(255) */

int msg_pack_monitor_notify(msgpack_sbuffer *sb, const struct msg_monitor_notify *m)
{
	struct frame_writer w;

	writer_begin(&w, sb, MSG_MONITOR_NOTIFY, 2);
	put_u32(&w, m->state);
	put_str(&w, m->status, BRIG_STATUS_MAX);
	return writer_end(&w);
}

int msg_decode_monitor_notify(struct msg_in *in, struct msg_monitor_notify *m)
{
	struct msg_monitor_notify out;
	struct cursor c;
	int r;

	r = decode_begin(in, MSG_MONITOR_NOTIFY, &c);
	if (r < 0)
		return r;
	if ((r = cursor_u32(&c, "state", &out.state)) < 0 ||
	    (r = cursor_str(&c, "status", out.status, sizeof(out.status))) < 0 ||
	    (r = cursor_end(&c)) < 0)
		return r;
	if (out.state < MONITOR_NOTIFY_READY || out.state > MONITOR_NOTIFY__MAX)
		return cursor_fail(&c, "MONITOR_NOTIFY field 'state': %" PRIu32 " is not a known "
				   "state", out.state);
	/* Goes into sd_notify's newline-separated assignments: one line only. */
	for (const char *p = out.status; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			return cursor_fail(&c, "MONITOR_NOTIFY field 'status': holds a byte "
					   "that is not printable ASCII");
	if (out.state != MONITOR_NOTIFY_STATUS && out.status[0])
		return cursor_fail(&c, "MONITOR_NOTIFY field 'status': only a STATUS carries text");
	*m = out;
	return 0;
}
