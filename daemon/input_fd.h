/*
 * Inputs passed as file descriptors: what the broker accepts, and how a
 * worker takes a call job's input from one.
 *
 * A client may pass the descriptor of a file it opened itself instead of
 * the bytes (docs/protocol.md, SUBMIT input / EXEC stdin nil).  brigd never
 * opens a path on the client's behalf (invariant 2): it only looks at what
 * the descriptor is.  Library code: returns 0 or a negative errno and
 * writes the reason into the caller's buffer; never logs.
 */
#ifndef BRIG_DAEMON_INPUT_FD_H
#define BRIG_DAEMON_INPUT_FD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Seals that make a memfd safe to map: it can neither shrink nor change. */
#define INPUT_FD_MAP_SEALS (F_SEAL_SHRINK | F_SEAL_WRITE)

/*
 * Broker side.  Accepts a regular file (a memfd included) open for
 * reading, of at most limit bytes; for an exec job's stdin also the read
 * end of a pipe.  Refuses O_PATH descriptors, directories (a job could
 * openat() its way out of its view through one), sockets, devices and
 * anything else, and for stdin a file open for writing unless it is
 * sealed against writes (the program gets the descriptor itself).
 * Returns 0, or -EPERM (not a kind brig accepts) or -EFBIG (over limit)
 * with why set.
 */
int input_fd_check(int fd, bool for_stdin, uint64_t limit, char *why, size_t why_size);

/*
 * Worker side, for a call job: the whole file from offset 0, at most limit
 * bytes.  A memfd sealed with INPUT_FD_MAP_SEALS is mapped read-only and
 * private (no copy; *mapped = true, munmap(*data, *len) when done, unless
 * *len is 0); anything else is read into a malloc'ed buffer (*mapped =
 * false, free()), since a file its owner can still truncate would turn a
 * mapping into a SIGBUS in the worker.  Does not close fd.
 */
int input_fd_load(int fd, uint64_t limit, const uint8_t **data, size_t *len, bool *mapped,
		  char *why, size_t why_size);

#endif
