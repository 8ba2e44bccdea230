/*
 * msgpack -> JSON.  Items come from handlers that parse untrusted data, so
 * everything here must turn arbitrary bytes into valid JSON: no assumption
 * that strings are UTF-8, that keys are strings or that floats are finite.
 */

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "json.h"

static void print_value(FILE *out, const msgpack_object *o, unsigned depth, bool in_key,
			bool *failed);

/*
 * Length of the well-formed UTF-8 sequence at s (at most left bytes), or 0
 * if the byte at s does not start one.  Refuses overlong forms, surrogates
 * and code points past U+10FFFF (RFC 3629), as a JSON parser would.
 */
static size_t utf8_sequence_length(const unsigned char *s, size_t left)
{
	unsigned char b = s[0];
	size_t len, i;
	unsigned char lo = 0x80, hi = 0xbf;     /* bounds of the second byte */

	if (b < 0x80)
		return 1;
	if (b >= 0xc2 && b <= 0xdf) {
		len = 2;
	} else if (b >= 0xe0 && b <= 0xef) {
		len = 3;
		if (b == 0xe0)
			lo = 0xa0;              /* overlong */
		else if (b == 0xed)
			hi = 0x9f;              /* surrogates */
	} else if (b >= 0xf0 && b <= 0xf4) {
		len = 4;
		if (b == 0xf0)
			lo = 0x90;              /* overlong */
		else if (b == 0xf4)
			hi = 0x8f;              /* past U+10FFFF */
	} else {
		return 0;
	}
	if (left < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

int json_print_string(FILE *out, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0;  /* bytes from s + i - run on need no escaping */

	putc('"', out);
	while (i < len) {
		unsigned char b = s[i];
		size_t seq;
		const char *escape = NULL;

		if (b >= 0x20 && b != '"' && b != '\\') {
			seq = utf8_sequence_length(s + i, len - i);
			if (seq > 0) {
				i += seq;
				run += seq;
				continue;
			}
			escape = "\\ufffd";
		}
		if (run)
			fwrite(s + i - run, 1, run, out);
		run = 0;
		switch (b) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\b':
			fputs("\\b", out);
			break;
		case '\f':
			fputs("\\f", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\r':
			fputs("\\r", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		default:
			if (escape)
				fputs(escape, out);     /* one per invalid byte */
			else
				fprintf(out, "\\u%04x", b);
			break;
		}
		i++;
	}
	if (run)        /* an empty str may come with a NULL pointer */
		fwrite(s + i - run, 1, run, out);
	putc('"', out);
	return ferror(out) ? -1 : 0;
}

static void print_base64(FILE *out, const unsigned char *p, size_t len)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	putc('"', out);
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		putc(alphabet[v >> 18 & 63], out);
		putc(alphabet[v >> 12 & 63], out);
		putc(alphabet[v >> 6 & 63], out);
		putc(alphabet[v & 63], out);
	}
	if (i < len) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);

		putc(alphabet[v >> 18 & 63], out);
		putc(alphabet[v >> 12 & 63], out);
		putc(i + 1 < len ? alphabet[v >> 6 & 63] : '=', out);
		putc('=', out);
	}
	putc('"', out);
}

static void print_float(FILE *out, double v, bool single)
{
	char text[320];         /* what -Wformat-truncation assumes %g may need */
	int digits;

	/* JSON has no NaN or infinity. */
	if (!isfinite(v)) {
		fputs("null", out);
		return;
	}
	/*
	 * The shortest text that reads back as the same value: 0.1 rather
	 * than 0.10000000000000001.  17 digits (9 for a float) always do.
	 * At most 17 tries, and floats are rare in items.
	 * The CLI never calls setlocale, so the decimal point is '.'.
	 */
	for (digits = 1; digits < (single ? 9 : 17); digits++) {
		snprintf(text, sizeof(text), "%.*g", digits, v);
		if (single ? strtof(text, NULL) == (float)v : strtod(text, NULL) == v)
			break;
	}
	snprintf(text, sizeof(text), "%.*g", digits, v);
	fputs(text, out);
}

/*
 * A key that is not a string: its own JSON text, as a string.  Only one
 * level of that: a non-string key inside such a key becomes "...".  Each
 * level escapes the text of the level below, doubling its backslashes, so
 * a few hundred bytes of keys nested in keys would otherwise print as
 * gigabytes (found by fuzz_worker_msgs).
 */
static void print_key(FILE *out, const msgpack_object *key, unsigned depth, bool in_key,
		      bool *failed)
{
	char *text = NULL;
	size_t len = 0;
	FILE *mem;

	if (key->type == MSGPACK_OBJECT_STR) {
		json_print_string(out, key->via.str.ptr, key->via.str.size);
		return;
	}
	if (in_key) {
		fputs("\"...\"", out);
		return;
	}
	mem = open_memstream(&text, &len);
	if (mem) {
		print_value(mem, key, depth, true, failed);
		if (fclose(mem) == 0 && text) {
			json_print_string(out, text, len);
			free(text);
			return;
		}
		free(text);
	}
	/* Out of memory: keep the output valid, report the failure. */
	*failed = true;
	fputs("\"?\"", out);
}

static void print_value(FILE *out, const msgpack_object *o, unsigned depth, bool in_key,
			bool *failed)
{
	uint32_t i;

	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		fputs("null", out);
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		fputs(o->via.boolean ? "true" : "false", out);
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		fprintf(out, "%" PRIu64, o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		fprintf(out, "%" PRId64, o->via.i64);
		break;
	case MSGPACK_OBJECT_FLOAT32:
		print_float(out, o->via.f64, true);
		break;
	case MSGPACK_OBJECT_FLOAT64:
		print_float(out, o->via.f64, false);
		break;
	case MSGPACK_OBJECT_STR:
		json_print_string(out, o->via.str.ptr, o->via.str.size);
		break;
	case MSGPACK_OBJECT_BIN:
		fputs("{\"$bin\":", out);
		print_base64(out, (const unsigned char *)o->via.bin.ptr, o->via.bin.size);
		putc('}', out);
		break;
	case MSGPACK_OBJECT_EXT:
		fprintf(out, "{\"$ext\":%d,\"data\":", (int)o->via.ext.type);
		print_base64(out, (const unsigned char *)o->via.ext.ptr, o->via.ext.size);
		putc('}', out);
		break;
	case MSGPACK_OBJECT_ARRAY:
		/* Bounded so that a deep object cannot exhaust our stack. */
		if (depth >= JSON_MAX_DEPTH) {
			fputs("\"...\"", out);
			break;
		}
		putc('[', out);
		for (i = 0; i < o->via.array.size; i++) {
			if (i)
				putc(',', out);
			print_value(out, &o->via.array.ptr[i], depth + 1, in_key, failed);
		}
		putc(']', out);
		break;
	case MSGPACK_OBJECT_MAP:
		if (depth >= JSON_MAX_DEPTH) {
			fputs("\"...\"", out);
			break;
		}
		putc('{', out);
		for (i = 0; i < o->via.map.size; i++) {
			if (i)
				putc(',', out);
			print_key(out, &o->via.map.ptr[i].key, depth + 1, in_key, failed);
			putc(':', out);
			print_value(out, &o->via.map.ptr[i].val, depth + 1, in_key, failed);
		}
		putc('}', out);
		break;
	default:
		/* A type newer than this code: still emit valid JSON. */
		fputs("null", out);
		break;
	}
}

int json_print_object(FILE *out, const msgpack_object *o)
{
	bool failed = false;

	print_value(out, o, 0, false, &failed);
	return failed || ferror(out) ? -1 : 0;
}
