/*
 * The "archive" plugin: list the entries of an archive with libarchive.
 *
 * archive-list streams one item per entry as soon as its header is read, so
 * a client sees the start of a huge or damaged archive even when the end
 * never comes.  Only metadata is reported; entry data is skipped.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* newlocale, uselocale */
#endif
#include <errno.h>
#include <locale.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <wchar.h>
#include <archive.h>
#include <archive_entry.h>

#include "brig/handler.h"

/* A listing longer than this is an attack or a mistake, not an archive. */
#define LISTING_MAX_ENTRIES 1000000

/*
 * The decompression filters we are willing to use.  libarchive falls back
 * to fork+exec of an external program (lzop, lrzip, grzip, and gzip, bzip2,
 * xz, ... when built without the library) and says so by returning
 * ARCHIVE_WARN from the support call.  A sandboxed worker must not exec
 * anything, so init() probes each filter once and run() registers only the
 * ones that libarchive implements in-process.  archive_read_support_filter_all()
 * would register the external ones too.
 */
static const struct {
	const char *name;
	int (*support)(struct archive *);
} listing_filters[] = {
	{ "gzip", archive_read_support_filter_gzip },
	{ "bzip2", archive_read_support_filter_bzip2 },
	{ "xz", archive_read_support_filter_xz },
	{ "lzma", archive_read_support_filter_lzma },
	{ "lzip", archive_read_support_filter_lzip },
	{ "zstd", archive_read_support_filter_zstd },
	{ "lz4", archive_read_support_filter_lz4 },
	{ "compress", archive_read_support_filter_compress },
	{ "uu", archive_read_support_filter_uu },
	{ "rpm", archive_read_support_filter_rpm },
	{ "lzop", archive_read_support_filter_lzop },
	{ "lrzip", archive_read_support_filter_lrzip },
	{ "grzip", archive_read_support_filter_grzip },
};

#define LISTING_FILTER_COUNT (sizeof(listing_filters) / sizeof(listing_filters[0]))

/*
 * Set once by init() in the zygote, before any fork, and only read by
 * workers afterwards; the plugin interface gives init() nowhere else to
 * put them.
 */
static bool listing_filter_builtin[LISTING_FILTER_COUNT];
static bool listing_initialized;

/*
 * libarchive converts entry names into the charset of the current locale.
 * Workers run in the "C" locale, where any non-ASCII name from a UTF-8 or
 * UTF-16 archive (pax, zip, 7-Zip, ISO 9660 Joliet) is mangled or lost.
 * A UTF-8 locale keeps those names intact, and names stored as raw bytes
 * pass through unchanged either way.  Loading it reads locale files, so it
 * happens in init(); workers only switch their thread to it.
 */
static locale_t listing_locale = (locale_t)0;

static int listing_init(void)
{
	if (listing_initialized)
		return 0;

	for (size_t i = 0; i < LISTING_FILTER_COUNT; i++) {
		struct archive *probe = archive_read_new();

		if (!probe)
			return -ENOMEM;
		listing_filter_builtin[i] = listing_filters[i].support(probe) == ARCHIVE_OK;
		archive_read_free(probe);
	}

	/*
	 * ZIP, CAB and LHA store local times that libarchive turns into
	 * seconds with mktime(), which reads /etc/localtime on first use:
	 * load the zone while the filesystem is still there.  (With TZ unset
	 * glibc still stats /etc/localtime on every mktime() to notice
	 * changes, and falls back to UTC where it is gone; only TZ in the
	 * daemon's environment stops that.)
	 */
	tzset();

	/* Without it names degrade to the C locale's rendering; not fatal. */
	listing_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);

	listing_initialized = true;
	return 0;
}

static const char *listing_type(struct archive_entry *entry)
{
	if (archive_entry_hardlink(entry))
		return "hardlink";

	switch (archive_entry_filetype(entry)) {
	case AE_IFREG:
		return "file";
	case AE_IFDIR:
		return "dir";
	case AE_IFLNK:
		return "symlink";
	case AE_IFCHR:
		return "chardev";
	case AE_IFBLK:
		return "blockdev";
	case AE_IFIFO:
		return "fifo";
	case AE_IFSOCK:
		return "socket";
	default:
		return "unknown";
	}
}

/*
 * Pack a wide-character name as UTF-8, writing U+FFFD for anything that is
 * not a Unicode scalar value, so that no locale is needed.
 */
static int listing_pack_wide(msgpack_packer *pk, const wchar_t *ws)
{
	size_t n = 0;
	int r = 0;

	for (const wchar_t *w = ws; *w; w++) {
		uint32_t c = (uint32_t)*w;

		if (c < 0x80)
			n += 1;
		else if (c < 0x800)
			n += 2;
		else if (c < 0x10000)
			n += 3;
		else if (c < 0x110000)
			n += 4;
		else
			n += 3;
	}

	r |= msgpack_pack_str(pk, n);
	for (const wchar_t *w = ws; *w; w++) {
		uint32_t c = (uint32_t)*w;
		char buf[4];
		size_t len;

		if (c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			c = 0xfffd;
		if (c < 0x80) {
			buf[0] = (char)c;
			len = 1;
		} else if (c < 0x800) {
			buf[0] = (char)(0xc0 | (c >> 6));
			buf[1] = (char)(0x80 | (c & 0x3f));
			len = 2;
		} else if (c < 0x10000) {
			buf[0] = (char)(0xe0 | (c >> 12));
			buf[1] = (char)(0x80 | ((c >> 6) & 0x3f));
			buf[2] = (char)(0x80 | (c & 0x3f));
			len = 3;
		} else {
			buf[0] = (char)(0xf0 | (c >> 18));
			buf[1] = (char)(0x80 | ((c >> 12) & 0x3f));
			buf[2] = (char)(0x80 | ((c >> 6) & 0x3f));
			buf[3] = (char)(0x80 | (c & 0x3f));
			len = 4;
		}
		r |= msgpack_pack_str_body(pk, buf, len);
	}
	return r;
}

/*
 * Names are reported as the archive stores them: the locale form (UTF-8,
 * or the raw bytes when the archive records no charset, which may not be
 * valid UTF-8), else libarchive's UTF-8 form, else its wide form.  A name
 * that libarchive cannot produce in any form is reported as "".
 */
static int listing_pack_name(msgpack_packer *pk, const char *mbs, const char *utf8,
				  const wchar_t *wide)
{
	if (mbs)
		return brig_pack_cstr(pk, mbs);
	if (utf8)
		return brig_pack_cstr(pk, utf8);
	if (wide)
		return listing_pack_wide(pk, wide);
	return brig_pack_cstr(pk, "");
}

static int listing_emit(struct brig_ctx *ctx, struct archive_entry *entry)
{
	const char *hardlink = archive_entry_hardlink(entry);
	const char *symlink = archive_entry_symlink(entry);
	const wchar_t *hardlink_w = hardlink ? NULL : archive_entry_hardlink_w(entry);
	const wchar_t *symlink_w = symlink ? NULL : archive_entry_symlink_w(entry);
	bool has_link = hardlink || hardlink_w || symlink || symlink_w;
	msgpack_packer *pk;
	int r = 0;

	pk = brig_item_begin(ctx);
	if (!pk)
		return -1;
	r |= msgpack_pack_map(pk, has_link ? 6 : 5);

	r |= brig_pack_cstr(pk, "name");
	r |= listing_pack_name(pk, archive_entry_pathname(entry),
				    archive_entry_pathname_utf8(entry),
				    archive_entry_pathname_w(entry));

	/* Unknown is not zero: a streamed entry may not record its size. */
	r |= brig_pack_cstr(pk, "size");
	if (archive_entry_size_is_set(entry))
		r |= msgpack_pack_int64(pk, archive_entry_size(entry));
	else
		r |= msgpack_pack_nil(pk);

	r |= brig_pack_cstr(pk, "type");
	r |= brig_pack_cstr(pk, listing_type(entry));

	r |= brig_pack_cstr(pk, "mode");
	r |= msgpack_pack_unsigned_int(pk, archive_entry_mode(entry) & 07777);

	r |= brig_pack_cstr(pk, "mtime");
	if (archive_entry_mtime_is_set(entry))
		r |= msgpack_pack_int64(pk, (int64_t)archive_entry_mtime(entry));
	else
		r |= msgpack_pack_nil(pk);

	if (has_link) {
		r |= brig_pack_cstr(pk, "link");
		if (hardlink || hardlink_w)
			r |= listing_pack_name(pk, hardlink, archive_entry_hardlink_utf8(entry),
						    hardlink_w);
		else
			r |= listing_pack_name(pk, symlink, archive_entry_symlink_utf8(entry),
						    symlink_w);
	}

	if (r) {
		brig_fail(ctx, "archive-list: cannot pack an entry");
		return -1;
	}
	/* On failure the worker already knows why (size cap, lost channel). */
	return brig_item_end(ctx);
}

static const char *listing_error(struct archive *a)
{
	const char *why = archive_error_string(a);

	return why ? why : "unknown libarchive error";
}

static int listing_run(struct brig_ctx *ctx, const uint8_t *input, size_t len)
{
	locale_t previous_locale = (locale_t)0;
	struct archive *a = NULL;
	struct archive_entry *entry;
	unsigned long entries = 0;
	int r = -1;

	if (!listing_initialized) {
		brig_fail(ctx, "archive-list: the plugin was not initialized at start-up");
		return -1;
	}
	/* libarchive would read no bytes as a valid, empty archive. */
	if (len == 0) {
		brig_fail(ctx, "archive-list: empty input is not an archive");
		return -1;
	}

	if (listing_locale)
		previous_locale = uselocale(listing_locale);

	a = archive_read_new();
	if (!a) {
		brig_fail(ctx, "archive-list: out of memory");
		goto out;
	}
	for (size_t i = 0; i < LISTING_FILTER_COUNT; i++) {
		if (listing_filter_builtin[i] &&
		    listing_filters[i].support(a) != ARCHIVE_OK) {
			brig_fail(ctx, "archive-list: cannot enable the %s filter: %s",
				  listing_filters[i].name, listing_error(a));
			goto out;
		}
	}
	if (archive_read_support_format_all(a) != ARCHIVE_OK) {
		brig_fail(ctx, "archive-list: %s", listing_error(a));
		goto out;
	}
	/*
	 * An mtree "archive" is a list of paths on the local disk, and with
	 * checkfs libarchive opens and stats them.  Off is the default; pin it,
	 * because a listing must never describe files that the client named.
	 */
	if (archive_read_set_format_option(a, "mtree", "checkfs", NULL) != ARCHIVE_OK) {
		brig_fail(ctx, "archive-list: cannot disable mtree checkfs: %s", listing_error(a));
		goto out;
	}

	if (archive_read_open_memory(a, input, len) != ARCHIVE_OK) {
		brig_fail(ctx, "archive-list: %s", listing_error(a));
		goto out;
	}

	for (;;) {
		int status;

		status = archive_read_next_header(a, &entry);
		if (status == ARCHIVE_EOF)
			break;
		/*
		 * ARCHIVE_RETRY means libarchive skipped a damaged header and
		 * would resynchronise on the next one, ARCHIVE_FAILED that this
		 * header is unusable.  Either way a listing that went on would
		 * silently omit or invent an entry, and a caller that scans
		 * names before extracting with another tool must not be shown
		 * a clean listing that hides one.
		 */
		if (status != ARCHIVE_OK && status != ARCHIVE_WARN) {
			brig_fail(ctx, "archive-list: %s", listing_error(a));
			goto out;
		}

		if (++entries > LISTING_MAX_ENTRIES) {
			brig_fail(ctx, "archive-list: more than %d entries", LISTING_MAX_ENTRIES);
			goto out;
		}
		if (listing_emit(ctx, entry) < 0)
			goto out;

		/*
		 * Data that cannot be skipped cleanly (an unsupported method,
		 * encryption) does not make the listing wrong; only a fatal
		 * error leaves the stream unusable.
		 */
		if (archive_read_data_skip(a) == ARCHIVE_FATAL) {
			brig_fail(ctx, "archive-list: %s", listing_error(a));
			goto out;
		}
	}

	r = 0;
out:
	archive_read_free(a);
	if (previous_locale)
		uselocale(previous_locale);
	return r;
}

static const struct brig_handler archive_handlers[] = {
	{
		.name = "archive-list",
		.description = "list archive entries, one item per entry: "
			       "{\"name\", \"size\", \"type\", \"mode\", \"mtime\", \"link\"?}",
		.run = listing_run,
	},
};

const struct brig_plugin brig_plugin_v1 = {
	.abi = BRIG_HANDLER_ABI,
	.handlers = archive_handlers,
	.count = sizeof(archive_handlers) / sizeof(archive_handlers[0]),
	.init = listing_init,
};
