/*
 * brig_sandbox_run in a few lines: count the lines and words of a file
 * in a sandbox that can read that file's directory and nothing else,
 * with the seccomp "parser" allow-list (plus openat) and a 5 s timeout.
 *
 *     sandbox-run FILE
 *
 * Build against an installed libbrig:
 *     cc sandbox-run.c $(pkg-config --cflags --libs brig) -o sandbox-run
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <brig/sandbox.h>

/* What the function needs from its caller: seen as it was at the call. */
struct request {
	const char *path;
	size_t max_line;
};

static int count(struct brig_ctx *ctx, void *arg)
{
	const struct request *req = arg;
	unsigned long lines = 0, words = 0, longest = 0, len = 0;
	int c, in_word = 0;
	FILE *f = fopen(req->path, "r");
	msgpack_packer *pk;

	if (!f) {
		brig_fail(ctx, "%s: %s", req->path, strerror(errno));
		return 1;
	}
	while ((c = getc(f)) != EOF) {
		if (c == '\n') {
			lines++;
			longest = len > longest ? len : longest;
			len = 0;
		} else {
			len++;
		}
		if ((c == ' ' || c == '\n' || c == '\t') != !in_word)
			continue;
		in_word = !in_word;
		words += in_word;
	}
	fclose(f);
	pk = brig_item_begin(ctx);
	msgpack_pack_map(pk, 3);
	msgpack_pack_str_with_body(pk, "lines", 5);
	msgpack_pack_uint64(pk, lines);
	msgpack_pack_str_with_body(pk, "words", 5);
	msgpack_pack_uint64(pk, words);
	msgpack_pack_str_with_body(pk, "too_long", 8);
	if (longest > req->max_line)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
	return brig_item_end(ctx) < 0 ? 1 : 0;
}

static void print_item(void *arg, uint32_t seq, const msgpack_object *item)
{
	(void)arg;
	printf("item %u: ", (unsigned)seq);
	msgpack_object_print(stdout, *item);
	printf("\n");
}

int main(int argc, char **argv)
{
	struct request req = { .max_line = 80 };
	struct brig_sandbox_outcome out;
	struct brig_spec *spec;
	char dir[4096], grant[4200];
	int r;

	if (argc != 2 || argv[1][0] != '/') {
		fprintf(stderr, "usage: %s /ABSOLUTE/FILE\n", argv[0]);
		return 2;
	}
	req.path = argv[1];
	snprintf(dir, sizeof(dir), "%s", argv[1]);
	snprintf(grant, sizeof(grant), "ro=%s", dirname(dir));
	if (brig_spec_new(&spec) < 0)
		return 1;
	if (brig_spec_add(spec, grant) < 0 || brig_spec_add(spec, "seccomp=parser") < 0 ||
	    brig_spec_add(spec, "seccomp_allow=openat") < 0 ||
	    brig_spec_add(spec, "timeout=5000") < 0) {
		fprintf(stderr, "%s\n", brig_spec_error(spec));
		brig_spec_free(spec);
		return 2;
	}
	r = brig_sandbox_run(spec, count, &req, print_item, NULL, &out);
	brig_spec_free(spec);
	if (r < 0) {
		fprintf(stderr, "sandbox: %s (%s)\n", out.message, strerror(-r));
		return 1;
	}
	printf("%s%s%s (%llu us wall, %llu us cpu, %llu KiB)\n", brig_outcome_string(out.outcome),
	       out.message[0] ? ": " : "", out.message, (unsigned long long)out.wall_us,
	       (unsigned long long)out.cpu_us, (unsigned long long)out.maxrss_kib);
	return out.outcome == BRIG_OK ? 0 : 1;
}
