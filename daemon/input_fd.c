#include <errno.h>
#include <sys/vfs.h>
#include <stdint.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "input_fd.h"

static const char *file_kind(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory (a job could open files outside its view through it)";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	if (S_ISLNK(mode))
		return "a symbolic link";
	if (S_ISFIFO(mode))
		return "a pipe";
	return "not a regular file (an eventfd, epoll or other special descriptor)";
}

static bool pseudo_filesystem(int fd)
{
	static const unsigned long magics[] = {
		0x6e736673,     /* nsfs */
		0x9fa0,         /* proc */
		0x62656572,     /* sysfs */
		0x64626720,     /* debugfs */
		0x74726163,     /* tracefs */
		0x73636673,     /* securityfs */
		0x27e0eb,       /* cgroup */
		0x63677270,     /* cgroup2 */
		0xcafe4a11,     /* bpf */
		0x50494446,     /* pidfs */
		0x09041934,     /* anon_inode_fs */
		0x42494e4d,     /* binfmt_misc */
		0x6165676c,     /* pstore */
		0xde5e81e4,     /* efivarfs */
		0x1cd1,         /* devpts */
	};
	struct statfs fs;

	if (fstatfs(fd, &fs) < 0)
		return true;   /* cannot tell: not taken */
	for (size_t i = 0; i < sizeof(magics) / sizeof(magics[0]); i++)
		if ((unsigned long)fs.f_type == magics[i])
			return true;
	return false;
}

int input_fd_check(int fd, bool for_stdin, uint64_t limit, char *why, size_t why_size)
{
	struct stat st;
	int flags, seals;

	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fstat(fd, &st) < 0) {
		snprintf(why, why_size, "the passed descriptor cannot be examined: %m");
		return -EPERM;
	}
	/* An O_PATH descriptor reads nothing, but names a place in the
	 * client's filesystem: never hand one to a job. */
	if (flags & O_PATH) {
		snprintf(why, why_size, "the passed descriptor is an O_PATH descriptor, not an open file");
		return -EPERM;
	}
	/* Regular files of pseudo filesystems are handles on the host (a
	 * namespace, a process, a kernel object): not inputs. */
	if (S_ISREG(st.st_mode) && pseudo_filesystem(fd)) {
		snprintf(why, why_size, "the passed descriptor is a file of a kernel pseudo "
					"filesystem (proc, sysfs, nsfs, cgroup, ...), not an input");
		return -EPERM;
	}
	if (!S_ISREG(st.st_mode) && !(for_stdin && S_ISFIFO(st.st_mode))) {
		snprintf(why, why_size, "the passed descriptor is %s; brig accepts %s",
			 file_kind(st.st_mode),
			 for_stdin ? "a regular file, a memfd or a pipe" : "a regular file or a memfd");
		return -EPERM;
	}
	if ((flags & O_ACCMODE) == O_WRONLY) {
		snprintf(why, why_size, "the passed descriptor is not open for reading");
		return -EPERM;
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > limit) {
		snprintf(why, why_size,
			 "the passed file holds %" PRIu64 " bytes; the profile takes at most %" PRIu64,
			 (uint64_t)st.st_size, limit);
		return -EFBIG;
	}
	/* A program gets the descriptor itself as its stdin: it must not be
	 * able to change the client's file through it, not its bytes, its
	 * size (the client's own mapping would fault) or its seals. */
	if (for_stdin && (flags & O_ACCMODE) != O_RDONLY) {
		const int all = F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

		seals = fcntl(fd, F_GET_SEALS);
		if (seals < 0 || (seals & all) != all) {
			snprintf(why, why_size, "the passed stdin is open for writing; pass it "
						"read-only, or a memfd sealed with F_SEAL_WRITE, "
						"F_SEAL_SHRINK, F_SEAL_GROW and F_SEAL_SEAL");
			return -EPERM;
		}
	}
	return 0;
}

static int load_by_reading(int fd, uint64_t limit, const uint8_t **data, size_t *len, char *why,
			   size_t why_size, size_t hint)
{
	/* The buffer never grows past cap (the limit and one byte to see a
	 * file that is longer), and cap is never 0. */
	size_t cap = limit < (uint64_t)(SIZE_MAX / 2) ? (size_t)limit + 1 : SIZE_MAX / 2;
	size_t size = hint < cap ? hint + 1 : cap, have = 0;
	uint8_t *buf;

	if (size < 4096)
		size = 4096 < cap ? 4096 : cap;
	buf = malloc(size);
	if (!buf)
		goto nomem;
	for (;;) {
		ssize_t n;

		if (have == size) {
			uint8_t *bigger;

			if ((uint64_t)have > limit) {
				free(buf);
				snprintf(why, why_size, "the passed file holds more than the profile's "
							"%" PRIu64 " bytes", limit);
				return -EFBIG;
			}
			size = size > cap / 2 ? cap : size * 2;
			bigger = realloc(buf, size);
			if (!bigger) {
				free(buf);
				goto nomem;
			}
			buf = bigger;
		}
		/* pread: from offset 0, whatever the client's file position. */
		n = pread(fd, buf + have, size - have, (off_t)have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			snprintf(why, why_size, "cannot read the passed file: %m");
			return -EIO;
		}
		if (n == 0)
			break;
		have += (size_t)n;
		if ((uint64_t)have > limit) {
			free(buf);
			snprintf(why, why_size, "the passed file holds more than the profile's "
						"%" PRIu64 " bytes", limit);
			return -EFBIG;
		}
	}
	*data = buf;
	*len = have;
	return 0;
nomem:
	snprintf(why, why_size, "out of memory reading the passed file");
	return -ENOMEM;
}

int input_fd_load(int fd, uint64_t limit, const uint8_t **data, size_t *len, bool *mapped,
		  char *why, size_t why_size)
{
	struct stat st;
	int seals, r;

	if (fstat(fd, &st) < 0) {
		snprintf(why, why_size, "cannot examine the passed file: %m");
		return -EIO;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, why_size, "the passed descriptor is not a regular file");
		return -EINVAL;
	}
	if ((uint64_t)st.st_size > limit) {
		snprintf(why, why_size, "the passed file holds %" PRIu64 " bytes; the profile "
					"takes at most %" PRIu64, (uint64_t)st.st_size, limit);
		return -EFBIG;
	}
	seals = fcntl(fd, F_GET_SEALS);
	/* Only a file that can neither shrink nor change is mapped: a mapped
	 * page past a truncated end would kill the worker with SIGBUS. */
	if (seals >= 0 && (seals & INPUT_FD_MAP_SEALS) == INPUT_FD_MAP_SEALS) {
		void *p = (void *)"";

		if (st.st_size > 0)
			p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			r = -errno;
			snprintf(why, why_size, "cannot map the passed memfd: %s", strerror(-r));
			return r;
		}
		*mapped = true;
		*len = (size_t)st.st_size;
		*data = p;
		return 0;
	}
	r = load_by_reading(fd, limit, data, len, why, why_size, (size_t)st.st_size);
	if (r == 0)
		*mapped = false;
	return r;
}
