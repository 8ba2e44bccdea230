/*
 * The "magic" plugin: identify a buffer with libmagic, as file(1) does.
 *
 * init() loads the compiled magic database while the zygote can still read
 * the filesystem; workers inherit the loaded cookies through fork and never
 * open a file.  magic_buffer() on untrusted bytes then only computes.
 */
#include <errno.h>
#include <stdint.h>
#include <time.h>
#include <magic.h>

#include "brig/handler.h"

/*
 * Decompression is where libmagic would fork and exec external programs
 * (and, for the built-in decompressors, inflate a bomb in our memory
 * budget): never look inside compressed data.  MAGIC_NO_COMPRESS_FORK is
 * redundant with MAGIC_NO_CHECK_COMPRESS and stays as a second lock in case
 * a caller ever turns compression checks back on.  MAGIC_ERROR makes
 * libmagic report what it would otherwise swallow as a warning.  The other
 * built-in checks (tar, CDF, ELF, JSON, CSV, text) run in-process on the
 * buffer and are what make the answers useful, so they stay on; ELF details
 * need a file descriptor and are skipped by magic_buffer() anyway.
 */
#define IDENTIFY_FLAGS (MAGIC_ERROR | MAGIC_NO_CHECK_COMPRESS | MAGIC_NO_COMPRESS_FORK)

enum identify_query {
	QUERY_MIME,
	QUERY_ENCODING,
	QUERY_DESCRIPTION,
	QUERY_COUNT,
};

static const struct {
	const char *key;
	int flags;
} identify_queries[QUERY_COUNT] = {
	[QUERY_MIME] = { "mime", MAGIC_MIME_TYPE },
	[QUERY_ENCODING] = { "encoding", MAGIC_MIME_ENCODING },
	[QUERY_DESCRIPTION] = { "description", MAGIC_NONE },
};

/*
 * Explicit bounds on the work one buffer can cause, pinned here so that a
 * libmagic upgrade cannot silently loosen them.  Most equal upstream's 5.44
 * defaults, which keep answers identical to file(1); BYTES_MAX is lowered
 * from 7 MiB because the leading megabyte decides every type in the
 * database, and scanning the rest of a large text input only burns the
 * job's CPU budget.
 */
static const struct {
	int param;
	size_t value;
} identify_limits[] = {
	{ MAGIC_PARAM_INDIR_MAX, 50 },          /* nested indirect offsets */
	{ MAGIC_PARAM_NAME_MAX, 50 },           /* named-rule recursion ("use") */
	{ MAGIC_PARAM_ELF_PHNUM_MAX, 128 },     /* program headers examined */
	{ MAGIC_PARAM_ELF_SHNUM_MAX, 1024 },    /* section headers examined */
	{ MAGIC_PARAM_ELF_NOTES_MAX, 256 },     /* ELF notes examined */
	{ MAGIC_PARAM_REGEX_MAX, 8192 },        /* bytes one regex may scan */
	{ MAGIC_PARAM_BYTES_MAX, 1024 * 1024 }, /* bytes of input examined */
	{ MAGIC_PARAM_ENCODING_MAX, 65536 },    /* bytes examined for the charset */
};

/*
 * The plugin interface gives init() no context to fill, so the loaded
 * cookies live here.  They are written once in the zygote, before any
 * fork, and only read afterwards: each worker has its own copy.
 */
static magic_t identify_cookies[QUERY_COUNT];

static void identify_close_all(void)
{
	for (size_t i = 0; i < QUERY_COUNT; i++) {
		if (identify_cookies[i])
			magic_close(identify_cookies[i]);
		identify_cookies[i] = NULL;
	}
}

/* libmagic reports errno only sometimes; never let a failure read as 0. */
static int identify_errno(magic_t cookie)
{
	int e = cookie ? magic_errno(cookie) : errno;

	return e > 0 ? -e : -EINVAL;
}

static int identify_init(void)
{
	int r = 0;

	if (identify_cookies[0])
		return 0;

	/*
	 * Descriptions carry timestamps (gzip, ZIP, ...) that libmagic formats
	 * with localtime_r(), which reads /etc/localtime on first use: load the
	 * zone now, so that a worker never reaches for the filesystem.
	 */
	tzset();

	for (size_t i = 0; i < QUERY_COUNT; i++) {
		magic_t cookie = magic_open(identify_queries[i].flags | IDENTIFY_FLAGS);

		if (!cookie) {
			r = identify_errno(NULL);
			goto out;
		}
		identify_cookies[i] = cookie;

		for (size_t j = 0; j < sizeof(identify_limits) / sizeof(identify_limits[0]); j++) {
			if (magic_setparam(cookie, identify_limits[j].param, &identify_limits[j].value) < 0) {
				r = identify_errno(cookie);
				goto out;
			}
		}

		/*
		 * NULL means the default database (or $MAGIC): the zygote's
		 * environment is the administrator's, not a client's.
		 */
		if (magic_load(cookie, NULL) < 0) {
			r = identify_errno(cookie);
			goto out;
		}
	}

out:
	if (r < 0)
		identify_close_all();
	return r;
}

static int identify_run(struct brig_ctx *ctx, const uint8_t *input, size_t len)
{
	const char *answers[QUERY_COUNT];
	msgpack_packer *pk;
	int r = 0;

	if (!identify_cookies[0]) {
		brig_fail(ctx, "magic: the magic database was not loaded at start-up");
		return -1;
	}
	if (!input)
		input = (const uint8_t *)"";

	/* Each answer stays valid until its own cookie is used again. */
	for (size_t i = 0; i < QUERY_COUNT; i++) {
		answers[i] = magic_buffer(identify_cookies[i], input, len);
		if (!answers[i]) {
			const char *why = magic_error(identify_cookies[i]);

			brig_fail(ctx, "magic: %s", why ? why : "unknown libmagic error");
			return -1;
		}
	}

	pk = brig_item_begin(ctx);
	if (!pk)
		return -1;
	r |= msgpack_pack_map(pk, QUERY_COUNT + 1);
	for (size_t i = 0; i < QUERY_COUNT; i++) {
		r |= brig_pack_cstr(pk, identify_queries[i].key);
		r |= brig_pack_cstr(pk, answers[i]);
	}
	r |= brig_pack_cstr(pk, "size");
	r |= msgpack_pack_uint64(pk, len);
	if (r) {
		brig_fail(ctx, "magic: cannot pack the result");
		return -1;
	}
	/* On failure the worker already knows why (size cap, lost channel). */
	return brig_item_end(ctx) < 0 ? -1 : 0;
}

static const struct brig_handler identify_handlers[] = {
	{
		.name = "magic",
		.description = "identify data with libmagic: "
			       "{\"mime\", \"encoding\", \"description\", \"size\"}",
		.run = identify_run,
	},
};

const struct brig_plugin brig_plugin_v1 = {
	.abi = BRIG_HANDLER_ABI,
	.handlers = identify_handlers,
	.count = sizeof(identify_handlers) / sizeof(identify_handlers[0]),
	.init = identify_init,
};
