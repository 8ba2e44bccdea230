/*
 * The plain driver: replays files through a fuzz target without libFuzzer,
 * so that every build (gcc included) runs the seed corpus and every
 * regression input under `make check`.
 *
 * With no arguments it replays $BRIG_TOP_SRCDIR/tests/fuzz/corpus/TARGET/
 * and .../regress/TARGET/ (TARGET is compiled in); otherwise each argument
 * is a file or a directory.  A target that breaks a property aborts, and
 * the name of the file being replayed has been printed just before.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "fuzz.h"

#ifndef FUZZ_TARGET
#error "build with -DFUZZ_TARGET='\"name\"'"
#endif

/* Optional in a target: a weak default that does nothing. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static unsigned long replayed;

static int replay_file(const char *path)
{
	struct stat st;
	uint8_t *buf;
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	/* Exactly the file's bytes in a buffer of exactly that size, so that
	 * ASan sees any read past the end of the input. */
	buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
	if (!buf) {
		close(fd);
		return -1;
	}
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	fprintf(stderr, "replaying %s (%zu bytes)\n", path, len);
	LLVMFuzzerTestOneInput(len > 0 ? buf : NULL, len);
	free(buf);
	replayed++;
	return 0;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Files of dir in name order; a missing directory is fine (nothing found yet). */
static int replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t count = 0;
	int r = 0;

	if (!d)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d))) {
		char **grown;

		if (e->d_name[0] == '.')
			continue;
		grown = realloc(names, (count + 1) * sizeof(*names));
		if (!grown || !(grown[count] = strdup(e->d_name))) {
			names = grown ? grown : names;
			r = -1;
			break;
		}
		names = grown;
		count++;
	}
	closedir(d);
	if (count > 0)
		qsort(names, count, sizeof(*names), compare_names);
	for (size_t i = 0; i < count; i++) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (r == 0 && replay_file(path) < 0)
			r = -1;
		free(names[i]);
	}
	free(names);
	return r;
}

static int replay_path(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	return S_ISDIR(st.st_mode) ? replay_dir(path) : replay_file(path);
}

int main(int argc, char **argv)
{
	const char *srcdir = getenv("BRIG_TOP_SRCDIR");
	char dir[PATH_MAX];
	int failed = 0;

	LLVMFuzzerInitialize(&argc, &argv);
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			failed |= replay_path(argv[i]) < 0;
	} else {
		if (!srcdir || !*srcdir)
			srcdir = ".";
		snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", srcdir, FUZZ_TARGET);
		failed |= replay_dir(dir) < 0;
		snprintf(dir, sizeof(dir), "%s/tests/fuzz/regress/%s", srcdir, FUZZ_TARGET);
		failed |= replay_dir(dir) < 0;
		if (replayed == 0) {
			fprintf(stderr, "fuzz_%s: no corpus found under %s/tests/fuzz\n", FUZZ_TARGET,
				srcdir);
			failed = 1;
		}
	}
	printf("fuzz_%s: %lu inputs replayed%s\n", FUZZ_TARGET, replayed,
	       failed ? ", but some could not be read" : " without a failure");
	return failed ? 1 : 0;
}
