/*
 * The job's filesystem view.  mounts.h says what the view holds; this file
 * is about building it so that nothing of the host gets in by accident:
 *
 *  1. Before any mount is touched, every host source is opened (O_PATH,
 *     following symlinks as realpath(3) would, in the host's root) and its
 *     type checked.  A spec that cannot be honoured fails here with the
 *     namespace untouched, and what is bound later is exactly the object
 *     that was checked: no host path is looked up twice.
 *  2. Mounts are made private, a tmpfs is mounted on /tmp and we pivot_root
 *     into it at once, keeping the host tree at /.brig-oldroot.  That tmpfs
 *     is the job's root.  Pivoting first moves it off the host's /tmp, so a
 *     source under /tmp is not hidden by it.
 *  3. /proc first (binds go through /proc/self/fd), then the spec paths in
 *     path order, so a parent is mounted before what lies beneath it.  Each
 *     mount point is walked one component at a time without following
 *     symlinks, and missing components are created only on a tmpfs brig
 *     mounted itself, never on a host filesystem.
 *  4. /dev, then the host tree is detached, / remounted read-only.
 *
 * On failure after step 1 the calling process's mount namespace is half
 * built; the caller must not run a job in it (it exits).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "sandbox/mounts.h"
#include "util.h"

/*
 * mount_setattr(2) (Linux 5.12) is called by number: glibc wraps it only
 * from 2.36, and <linux/mount.h> clashes with glibc's <sys/mount.h>.  The
 * struct and flags are the kernel's ABI, under our own names.
 */
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
struct view_mount_attr {
	uint64_t attr_set;
	uint64_t attr_clr;
	uint64_t propagation;
	uint64_t userns_fd;
};
#define VIEW_ATTR_RDONLY 0x1u
#define VIEW_ATTR_NOSUID 0x2u
#define VIEW_ATTR_NODEV 0x4u
#define VIEW_ATTR_NOEXEC 0x8u

/* An existing directory of the host to mount the new root on; pivot_root
 * moves the tmpfs off it straight away, so the host's /tmp stays visible
 * (at /.brig-oldroot/tmp) while the view is built. */
#define STAGE_DIR "/tmp"
#define OLD_ROOT_NAME ".brig-oldroot"
#define OLD_ROOT "/" OLD_ROOT_NAME

/* The root holds only mount points and is read-only once built. */
#define ROOT_TMPFS_OPTIONS "mode=0755,size=1m,nr_inodes=4096"
#define DEV_TMPFS_OPTIONS "mode=0755,size=64k,nr_inodes=64"

/* Fewer inodes than this would break jobs that unpack many small files. */
#define TMPFS_MIN_INODES 1024

static const struct dev_node {
	const char *path;
	unsigned int minor;             /* major 1, the kernel's memory devices */
} dev_nodes[] = {
	{ "/dev/null", 3 },
	{ "/dev/zero", 5 },
	{ "/dev/full", 7 },
	{ "/dev/random", 8 },
	{ "/dev/urandom", 9 },
};

static const struct dev_link {
	const char *path;
	const char *target;
} dev_links[] = {
	{ "/dev/fd", "/proc/self/fd" },
	{ "/dev/stdin", "/proc/self/fd/0" },
	{ "/dev/stdout", "/proc/self/fd/1" },
	{ "/dev/stderr", "/proc/self/fd/2" },
};

struct view_source {
	const struct spec_path *path;
	int fd;                         /* O_PATH on the host object; -1 for tmpfs */
	dev_t dev;                      /* of fd, to recognise the bind */
	ino_t ino;
	bool is_dir;
};

struct view {
	/* Spec paths in path order, optional ones that are missing left out. */
	struct view_source sources[SPEC_MAX_PATHS];
	size_t count;
	int dev_fds[ARRAY_SIZE(dev_nodes)];
	int root_fd;                    /* the new root, once pivoted */
	bool have_mount_setattr;
	char *err;
	size_t err_size;
};

/* "magic" is /proc/self/fd/<fd>: mount(2) takes paths, and a path through
 * the fd names exactly the object the fd holds, whatever happened to the
 * names on the way there since it was opened. */
struct fd_path {
	char magic[64];
};

static const char *fd_path(struct fd_path *p, int fd)
{
	/* Without a pid namespace the view gets no /proc (mount_proc): until
	 * the host tree is detached, the host's /proc names the same process. */
	const char *prefix = access("/proc/self/fd", F_OK) == 0 ? "" : OLD_ROOT;

	snprintf(p->magic, sizeof(p->magic), "%s/proc/self/fd/%d", prefix, fd);
	return p->magic;
}

/* err = the formatted context + ": " + strerror(-r); returns r. */
__attribute__((format(printf, 3, 4)))
static int fail(struct view *v, int r, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(v->err, v->err_size, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < v->err_size)
		snprintf(v->err + n, v->err_size - (size_t)n, ": %s", strerror(-r));
	return r;
}

/* err = the formatted explanation alone; returns r. */
__attribute__((format(printf, 3, 4)))
static int fail_why(struct view *v, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v->err, v->err_size, fmt, ap);
	va_end(ap);
	return r;
}

/* The descriptor as an administrator wrote it, for messages. */
static const char *descriptor_name(const struct spec_path *p)
{
	if (p->kind == SPEC_PATH_TMPFS)
		return "tmpfs";
	if (p->access & SPEC_ACCESS_WRITE)
		return "rw";
	if (p->access & SPEC_ACCESS_EXEC)
		return "exec";
	return "ro";
}

/* True if child is path or lies beneath it. */
static bool path_is_within(const char *child, const char *path)
{
	size_t n = strlen(path);

	return strncmp(child, path, n) == 0 && (child[n] == '\0' || child[n] == '/');
}

/*
 * spec_validate() has checked these already; they are checked again
 * because the component walk below relies on them: a "..", an empty
 * component or a path into the parked host tree would let a mount point
 * leave the new root.
 */
static int check_target(struct view *v, const struct spec_path *p)
{
	const char *c;

	if (!memchr(p->path, '\0', sizeof(p->path)))
		return fail_why(v, -EINVAL, "%s: path is not terminated", descriptor_name(p));
	if (p->path[0] != '/' || p->path[1] == '\0')
		return fail_why(v, -EINVAL, "%s=%s: must be an absolute path below /",
				descriptor_name(p), p->path);
	for (c = p->path; *c; ) {
		const char *seg = ++c;
		size_t len;

		while (*c && *c != '/')
			c++;
		len = (size_t)(c - seg);
		if (len == 0 || (len == 1 && seg[0] == '.') ||
		    (len == 2 && seg[0] == '.' && seg[1] == '.'))
			return fail_why(v, -EINVAL, "%s=%s: path is not normalised",
					descriptor_name(p), p->path);
	}
	if (path_is_within(p->path, "/proc") || path_is_within(p->path, "/dev"))
		return fail_why(v, -EINVAL, "%s=%s: /proc and /dev are built by brig and "
				"cannot be granted", descriptor_name(p), p->path);
	if (path_is_within(p->path, OLD_ROOT))
		return fail_why(v, -EINVAL, "%s=%s: " OLD_ROOT " is reserved for building the view",
				descriptor_name(p), p->path);
	if (p->kind == SPEC_PATH_TMPFS && p->tmpfs_size == 0)
		return fail_why(v, -EINVAL, "%s=%s: a tmpfs needs a size (0 would be unlimited)",
				descriptor_name(p), p->path);
	if (p->kind != SPEC_PATH_BIND && p->kind != SPEC_PATH_TMPFS)
		return fail_why(v, -EINVAL, "%s: unknown kind of path", p->path);
	return 0;
}

static void sort_sources(struct view *v)
{
	/* Insertion sort: at most SPEC_MAX_PATHS entries.  strcmp order puts a
	 * path before every path beneath it (it is their prefix). */
	for (size_t i = 1; i < v->count; i++) {
		struct view_source key = v->sources[i];
		size_t j = i;

		for (; j > 0 && strcmp(v->sources[j - 1].path->path, key.path->path) > 0; j--)
			v->sources[j] = v->sources[j - 1];
		v->sources[j] = key;
	}
}

/* Step 1: everything that reads the host's names, before any mount. */
static int open_sources(struct view *v, const struct spec *s)
{
	int r;

	if (s->path_count > SPEC_MAX_PATHS)
		return fail_why(v, -EINVAL, "too many paths (%zu, at most %d)", s->path_count,
				SPEC_MAX_PATHS);
	for (size_t i = 0; i < s->path_count; i++) {
		const struct spec_path *p = &s->paths[i];
		struct view_source *src = &v->sources[v->count];
		struct stat st;

		if ((r = check_target(v, p)) < 0)
			return r;
		src->path = p;
		src->fd = -1;
		src->is_dir = true;
		if (p->kind == SPEC_PATH_TMPFS) {
			v->count++;
			continue;
		}
		/* Symlinks are followed in the host's root, as realpath(3) would;
		 * the result is mounted at the path the spec names. */
		src->fd = open(p->path, O_PATH | O_CLOEXEC);
		if (src->fd < 0) {
			r = -errno;
			if (p->optional && (r == -ENOENT || r == -ENOTDIR))
				continue;
			return fail(v, r, "%s=%s", descriptor_name(p), p->path);
		}
		v->count++;
		if (fstat(src->fd, &st) < 0)
			return fail(v, -errno, "%s=%s: stat", descriptor_name(p), p->path);
		/* Device nodes would bring hardware into the view (the /dev nodes
		 * brig binds are its own, fixed list); sockets and fifos would
		 * open channels to host services. */
		if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
			return fail_why(v, -EINVAL, "%s=%s: not a regular file or directory "
					"(devices, sockets and fifos cannot be granted)",
					descriptor_name(p), p->path);
		src->is_dir = S_ISDIR(st.st_mode);
		src->dev = st.st_dev;
		src->ino = st.st_ino;
	}
	sort_sources(v);

	for (size_t i = 0; i < ARRAY_SIZE(dev_nodes); i++) {
		struct stat st;

		v->dev_fds[i] = open(dev_nodes[i].path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (v->dev_fds[i] < 0)
			return fail(v, -errno, "%s", dev_nodes[i].path);
		if (fstat(v->dev_fds[i], &st) < 0)
			return fail(v, -errno, "%s: stat", dev_nodes[i].path);
		/* The job gets these nodes and nothing else: a host /dev where a
		 * name points at another device (a disk, say) is refused. */
		if (!S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, dev_nodes[i].minor))
			return fail_why(v, -EINVAL, "%s on the host is not the expected "
					"character device 1:%u", dev_nodes[i].path,
					dev_nodes[i].minor);
	}
	return 0;
}

/*
 * Add restrictions (MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC) to the mount
 * whose root mount_fd holds, never removing one: a flag the host (or a
 * parent user namespace, where flags are locked) set stays set, so a bind
 * is never more permissive than its source.  recursive covers submounts of
 * a recursive bind, which would otherwise keep the host's flags.
 */
static int restrict_mount(struct view *v, int mount_fd, unsigned long flags, bool recursive)
{
	struct statvfs sv;
	struct fd_path fp;
	unsigned long keep = 0;

	if (v->have_mount_setattr) {
		struct view_mount_attr attr = { 0 };

		if (flags & MS_RDONLY)
			attr.attr_set |= VIEW_ATTR_RDONLY;
		if (flags & MS_NOSUID)
			attr.attr_set |= VIEW_ATTR_NOSUID;
		if (flags & MS_NODEV)
			attr.attr_set |= VIEW_ATTR_NODEV;
		if (flags & MS_NOEXEC)
			attr.attr_set |= VIEW_ATTR_NOEXEC;
		/* attr_clr is 0: nothing is lifted, atime settings are kept. */
		if (syscall(SYS_mount_setattr, mount_fd, "",
			    AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof(attr)) < 0)
			return -errno;
		return 0;
	}
	/* Without mount_setattr, binds are not recursive (see bind_source), so
	 * one remount covers the mount.  A bind remount replaces all per-mount
	 * flags: pass on those already set, or it would lift them (or fail with
	 * EPERM on locked ones). */
	if (fstatvfs(mount_fd, &sv) < 0)
		return -errno;
	if (sv.f_flag & ST_RDONLY)
		keep |= MS_RDONLY;
	if (sv.f_flag & ST_NOSUID)
		keep |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV)
		keep |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC)
		keep |= MS_NOEXEC;
	if (sv.f_flag & ST_NOATIME)
		keep |= MS_NOATIME;
	if (sv.f_flag & ST_NODIRATIME)
		keep |= MS_NODIRATIME;
	if (sv.f_flag & ST_RELATIME)
		keep |= MS_RELATIME;
	if (mount(NULL, fd_path(&fp, mount_fd), NULL, MS_REMOUNT | MS_BIND | keep | flags, NULL) < 0)
		return -errno;
	return 0;
}

/*
 * Open the mount point for p in the new root one component at a time,
 * never through a symlink: the names beneath a bind belong to the host
 * (a rw bind's, even to earlier jobs), and a planted link must not move a
 * mount, or a directory brig creates, somewhere else.  Missing components
 * are created only when may_create, i.e. on a tmpfs brig mounted itself.
 * On success *parent_fd is the mount point's directory and *target_fd the
 * mount point, both O_PATH.
 */
static int open_mount_point(struct view *v, const struct view_source *src, bool may_create,
			    int *parent_fd, int *target_fd)
{
	const struct spec_path *p = src->path;
	_cleanup_close_ int dir = -1;
	const char *name = p->path + 1;

	dir = fcntl(v->root_fd, F_DUPFD_CLOEXEC, 3);
	if (dir < 0)
		return fail(v, -errno, "%s=%s: mount point", descriptor_name(p), p->path);
	for (;;) {
		const char *slash = strchr(name, '/');
		size_t len = slash ? (size_t)(slash - name) : strlen(name);
		int shown = (int)(name - p->path + (ptrdiff_t)len);
		bool last = slash == NULL;
		bool want_dir = !last || src->is_dir;
		char component[SPEC_PATH_MAX];
		struct stat st;
		int fd;

		memcpy(component, name, len);
		component[len] = '\0';
		fd = openat(dir, component, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT && may_create) {
			if (want_dir) {
				if (mkdirat(dir, component, 0755) < 0)
					return fail(v, -errno, "%s=%s: create %.*s", descriptor_name(p),
						    p->path, shown, p->path);
			} else {
				int file = openat(dir, component, O_WRONLY | O_CREAT | O_EXCL |
						  O_NOFOLLOW | O_CLOEXEC, 0444);

				if (file < 0)
					return fail(v, -errno, "%s=%s: create %.*s", descriptor_name(p),
						    p->path, shown, p->path);
				close(file);
			}
			fd = openat(dir, component, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		}
		if (fd < 0) {
			int r = -errno;

			if (r == -ENOENT)
				return fail_why(v, r, "%s=%s: mount point %.*s does not exist inside a "
						"bind (brig creates nothing on a host filesystem)",
						descriptor_name(p), p->path, shown, p->path);
			return fail(v, r, "%s=%s: mount point %.*s", descriptor_name(p), p->path,
				    shown, p->path);
		}
		if (fstat(fd, &st) < 0) {
			int r = -errno;

			close(fd);
			return fail(v, r, "%s=%s: stat %.*s", descriptor_name(p), p->path, shown,
				    p->path);
		}
		if (S_ISLNK(st.st_mode) || (want_dir && !S_ISDIR(st.st_mode)) ||
		    (!want_dir && !S_ISREG(st.st_mode))) {
			close(fd);
			return fail_why(v, S_ISLNK(st.st_mode) ? -ELOOP : -ENOTDIR,
					"%s=%s: mount point %.*s is %s, not %s", descriptor_name(p),
					p->path, shown, p->path,
					S_ISLNK(st.st_mode) ? "a symlink" :
					S_ISDIR(st.st_mode) ? "a directory" : "not a directory",
					want_dir ? "a directory" : "a regular file");
		}
		if (last) {
			*parent_fd = TAKE_FD(dir);
			*target_fd = fd;
			return 0;
		}
		close(dir);
		dir = fd;
		name = slash + 1;
	}
}

/* Open the mount now on top of name in parent_fd (lookups cross mounts). */
static int open_mounted(int parent_fd, const char *name)
{
	int fd = openat(parent_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static int bind_source(struct view *v, const struct view_source *src, int parent_fd,
		       int target_fd)
{
	const struct spec_path *p = src->path;
	const char *leaf = strrchr(p->path, '/') + 1;
	unsigned long flags = MS_NOSUID | MS_NODEV;
	struct fd_path from, to;
	_cleanup_close_ int mnt = -1;
	struct stat st;
	int r;

	/* Without mount_setattr the submounts of a recursive bind could not
	 * all be made read-only and nosuid; they are left out instead. */
	if (mount(fd_path(&from, src->fd), fd_path(&to, target_fd), NULL,
		  MS_BIND | (v->have_mount_setattr ? MS_REC : 0), NULL) < 0)
		return fail(v, -errno, "%s=%s: bind", descriptor_name(p), p->path);
	if ((mnt = open_mounted(parent_fd, leaf)) < 0)
		return fail(v, mnt, "%s=%s: open the bind", descriptor_name(p), p->path);
	if (fstat(mnt, &st) < 0)
		return fail(v, -errno, "%s=%s: stat the bind", descriptor_name(p), p->path);
	/* The flags below go to whatever mnt is: make sure it is the bind. */
	if (st.st_dev != src->dev || st.st_ino != src->ino)
		return fail_why(v, -EIO, "%s=%s: the bind did not appear at its mount point",
				descriptor_name(p), p->path);
	if (!(p->access & SPEC_ACCESS_WRITE))
		flags |= MS_RDONLY;
	if (!(p->access & SPEC_ACCESS_EXEC))
		flags |= MS_NOEXEC;
	if ((r = restrict_mount(v, mnt, flags, true)) < 0)
		return fail(v, r, "%s=%s: set mount flags", descriptor_name(p), p->path);
	return 0;
}

static int mount_tmpfs(struct view *v, const struct view_source *src, int target_fd)
{
	const struct spec_path *p = src->path;
	uint64_t inodes = p->tmpfs_size / 1024;
	char options[96];
	struct fd_path to;

	/* size bounds the data; nr_inodes bounds the kernel memory that empty
	 * files would otherwise pin outside it (about one inode per KiB). */
	if (inodes < TMPFS_MIN_INODES)
		inodes = TMPFS_MIN_INODES;
	/* 1777 like /tmp: the job's uid is not known yet (fresh uids are
	 * picked later), and the tmpfs is this worker's alone. */
	snprintf(options, sizeof(options), "mode=1777,size=%" PRIu64 ",nr_inodes=%" PRIu64,
		 p->tmpfs_size, inodes);
	if (mount("tmpfs", fd_path(&to, target_fd), "tmpfs",
		  MS_NOSUID | MS_NODEV | ((p->access & SPEC_ACCESS_EXEC) ? 0 : MS_NOEXEC),
		  options) < 0)
		return fail(v, -errno, "%s=%s: mount", descriptor_name(p), p->path);
	return 0;
}

static int mount_source(struct view *v, size_t i)
{
	const struct view_source *src = &v->sources[i];
	_cleanup_close_ int parent_fd = -1;
	_cleanup_close_ int target_fd = -1;
	bool may_create = true;
	int r;

	/* The deepest spec path above this one decides what the mount point
	 * lies on; sorted order puts it last among the ones before. */
	for (size_t j = i; j-- > 0; ) {
		if (path_is_within(src->path->path, v->sources[j].path->path)) {
			may_create = v->sources[j].path->kind == SPEC_PATH_TMPFS;
			break;
		}
	}
	if ((r = open_mount_point(v, src, may_create, &parent_fd, &target_fd)) < 0)
		return r;
	if (src->path->kind == SPEC_PATH_TMPFS)
		return mount_tmpfs(v, src, target_fd);
	return bind_source(v, src, parent_fd, target_fd);
}

static int mount_proc(struct view *v)
{
	/* hidepid=invisible is Linux 5.8; "2" is the same for older kernels. */
	static const char *const options[] = { "hidepid=invisible", "hidepid=2", NULL };

	if (mkdir("/proc", 0555) < 0)
		return fail(v, -errno, "create /proc");
	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		/* The pid namespace of the caller: the job sees its own processes. */
		if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, options[i]) == 0)
			return 0;
		if (errno != EINVAL)
			break;
	}
	return fail(v, -errno, "mount /proc");
}

/* The /dev tmpfs is brig's own, fresh: plain paths cannot meet a symlink. */
static int mount_dev(struct view *v)
{
	_cleanup_close_ int dev_fd = -1;
	int r;

	if (mkdir("/dev", 0755) < 0)
		return fail(v, -errno, "create /dev");
	if (mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  DEV_TMPFS_OPTIONS) < 0)
		return fail(v, -errno, "mount /dev");
	for (size_t i = 0; i < ARRAY_SIZE(dev_nodes); i++) {
		const char *path = dev_nodes[i].path;
		struct fd_path from;
		_cleanup_close_ int node = -1;
		int file;

		file = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444);
		if (file < 0)
			return fail(v, -errno, "create %s", path);
		close(file);
		/* A bind of the host's node, not mknod: it works under a user
		 * namespace too, and is exactly the device checked in step 1. */
		if (mount(fd_path(&from, v->dev_fds[i]), path, NULL, MS_BIND, NULL) < 0)
			return fail(v, -errno, "%s: bind", path);
		if ((node = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC)) < 0)
			return fail(v, -errno, "%s: open the bind", path);
		/* Not nodev: these mounts exist to be devices.  The /dev tmpfs
		 * around them is nodev, so a node made there would not work. */
		if ((r = restrict_mount(v, node, MS_NOSUID | MS_NOEXEC, false)) < 0)
			return fail(v, r, "%s: set mount flags", path);
	}
	for (size_t i = 0; i < ARRAY_SIZE(dev_links); i++)
		if (symlink(dev_links[i].target, dev_links[i].path) < 0)
			return fail(v, -errno, "create %s", dev_links[i].path);
	if ((dev_fd = open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return fail(v, -errno, "open /dev");
	/* Not recursive: that would make the node binds nodev too. */
	if ((r = restrict_mount(v, dev_fd, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, false)) < 0)
		return fail(v, r, "/dev: set mount flags");
	return 0;
}

static void close_host_fds(struct view *v)
{
	for (size_t i = 0; i < v->count; i++) {
		if (v->sources[i].fd >= 0)
			close(v->sources[i].fd);
		v->sources[i].fd = -1;
	}
	for (size_t i = 0; i < ARRAY_SIZE(dev_nodes); i++) {
		if (v->dev_fds[i] >= 0)
			close(v->dev_fds[i]);
		v->dev_fds[i] = -1;
	}
}

int mounts_build_view(const struct spec *s, char *err, size_t err_size)
{
	struct view v = { .err = err, .err_size = err_size, .root_fd = -1 };
	/* The modes of what brig creates are brig's: under a caller's umask of
	 * 077 the parents of a mount point would be closed to the job. */
	mode_t saved_umask = umask(022);
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(v.dev_fds); i++)
		v.dev_fds[i] = -1;
	if (err_size)
		err[0] = '\0';

	if ((r = open_sources(&v, s)) < 0)
		goto out;
	/* ENOSYS means an old kernel; anything else (EINVAL for the empty
	 * attr) means the call exists. */
	v.have_mount_setattr = syscall(SYS_mount_setattr, -1, "", AT_EMPTY_PATH, NULL, 0) == 0 ||
			       errno != ENOSYS;

	/* Nothing mounted below may propagate to the host's namespace, and
	 * nothing the host mounts from now on may appear in the job's view. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		r = fail(&v, -errno, "make mounts private");
		goto out;
	}
	if (mount("tmpfs", STAGE_DIR, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  ROOT_TMPFS_OPTIONS) < 0) {
		r = fail(&v, -errno, "mount the root tmpfs on " STAGE_DIR);
		goto out;
	}
	if (chdir(STAGE_DIR) < 0) {
		r = fail(&v, -errno, "chdir to the root tmpfs");
		goto out;
	}
	if (mkdir(OLD_ROOT_NAME, 0700) < 0) {
		r = fail(&v, -errno, "create " OLD_ROOT);
		goto out;
	}
	if (syscall(SYS_pivot_root, ".", OLD_ROOT_NAME) < 0) {
		r = fail(&v, -errno, "pivot_root");
		goto out;
	}
	if (chdir("/") < 0) {
		r = fail(&v, -errno, "chdir /");
		goto out;
	}
	if ((v.root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
		r = fail(&v, -errno, "open /");
		goto out;
	}

	/* A procfs shows the pid namespace of whoever mounts it: only a job
	 * in its own gets one (brig_sandbox_apply has none, see spec.h). */
	if ((s->namespaces & SPEC_NS_PID) && (r = mount_proc(&v)) < 0)
		goto out;
	for (size_t i = 0; i < v.count; i++)
		if ((r = mount_source(&v, i)) < 0)
			goto out;
	if ((r = mount_dev(&v)) < 0)
		goto out;

	/* The host tree goes: no fd of ours still points into it (fds 0-2 are
	 * the host's /dev/null, opened by the caller; a device fd gives no
	 * path back to a directory), and once detached no path reaches it. */
	close_host_fds(&v);
	if (umount2(OLD_ROOT, MNT_DETACH) < 0) {
		r = fail(&v, -errno, "detach the host root");
		goto out;
	}
	if (rmdir(OLD_ROOT) < 0) {
		r = fail(&v, -errno, "remove " OLD_ROOT);
		goto out;
	}
	/* Every mount point is made: / needs no more names, and the job
	 * (uid 0 until sandbox_enter drops it) gets none in. */
	if ((r = restrict_mount(&v, v.root_fd, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
				false)) < 0) {
		r = fail(&v, r, "/: set mount flags");
		goto out;
	}
	if (chdir("/") < 0) {
		r = fail(&v, -errno, "chdir /");
		goto out;
	}
	r = 0;
out:
	close_host_fds(&v);
	if (v.root_fd >= 0)
		close(v.root_fd);
	umask(saved_umask);
	return r;
}
