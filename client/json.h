/*
 * msgpack objects as JSON text, for the brig CLI.
 *
 * The output is always valid JSON (RFC 8259), whatever the object holds:
 * map keys that are not strings become their JSON text used as a string
 * (one level deep: a non-string key inside such a key becomes "..."),
 * bin becomes {"$bin":"<base64>"}, ext becomes {"$ext":type,"data":"<base64>"},
 * NaN and infinities become null, invalid UTF-8 bytes become \ufffd, and
 * containers nested deeper than JSON_MAX_DEPTH become the string "...".
 */
#ifndef BRIG_CLIENT_JSON_H
#define BRIG_CLIENT_JSON_H

#include <stddef.h>
#include <stdio.h>
#include <msgpack.h>

#define JSON_MAX_DEPTH 64

/* Returns 0, or -1 if out has an error (ferror) afterwards or memory ran out. */
int json_print_object(FILE *out, const msgpack_object *o);
/* One JSON string from len bytes of (possibly invalid) UTF-8.  0 or -1. */
int json_print_string(FILE *out, const char *s, size_t len);

#endif
