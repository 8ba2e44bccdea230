/*
 * Syscall filtering with libseccomp: compiled once per profile in the
 * zygote, loaded as raw BPF by each worker.
 */
#ifndef BRIG_SANDBOX_SECCOMP_H
#define BRIG_SANDBOX_SECCOMP_H

#include <linux/filter.h>
#include <stddef.h>

#include "spec.h"

/*
 * Compile s's filter for the native architecture (other architectures and
 * the x32 ABI are killed).  Modes:
 *  - SPEC_SECCOMP_DENYLIST: allow everything but a deny-list at least as
 *    wide as Docker's default profile blocks, plus io_uring_*, userfaultfd,
 *    bpf, perf_event_open, keyctl/add_key/request_key, ptrace,
 *    process_vm_readv/writev, the mount family (mount, umount2, pivot_root,
 *    move_mount, open_tree, fsopen, fsconfig, fsmount, fspick,
 *    mount_setattr), chroot, unshare, setns, clone/clone3 with namespace
 *    flags (clone3 refused with ENOSYS so libc falls back to clone),
 *    open_by_handle_at, name_to_handle_at, kexec_*, init/finit/delete_module,
 *    personality other than PER_LINUX, ioctl TIOCSTI and TIOCLINUX,
 *    syslog, acct, swapon/off, reboot, sethostname/setdomainname, clock
 *    setting, mknod/mknodat of devices, quotactl, iopl/ioperm, vhangup,
 *    lookup_dcookie, uselib, kcmp, pidfd_getfd; plus s->seccomp_deny;
 *  - SPEC_SECCOMP_ALLOWLIST ("parser"): deny everything but what a parser
 *    needs: read/write/readv/writev/pread/pwrite/lseek/close/fstat/newfstatat,
 *    memory (brk, mmap without PROT_EXEC... see seccomp.c, munmap, mremap,
 *    madvise, mprotect), futex, clock_gettime/nanosleep, getpid/gettid,
 *    exit/exit_group, rt_sigaction/rt_sigprocmask/rt_sigreturn/sigaltstack,
 *    getrandom, sendmsg/recvmsg/sendto/recvfrom on existing fds, tgkill
 *    of itself; plus s->seccomp_allow.
 * Denied calls: SPEC_SECCOMP_ERRNO -> EPERM; SPEC_SECCOMP_KILL -> TRAP, so
 * that the job's SIGSYS handler (seccomp_install_reporter) can report the
 * syscall before the job dies.  *out->filter is malloc'ed (the caller
 * frees it).  Returns 0 or -errno with err naming a bad syscall name.
 */
int seccomp_build(const struct spec *s, struct sock_fprog *out, char *err, size_t err_size);

/*
 * SECCOMP_BUILD_EXEC_RELAY: the filter of a worker that relays exec jobs
 * (deny-list, kill action): ptrace stays allowed, so that the worker can
 * trace the program it starts and name the syscall a violation was about
 * (the program's SIGSYS). The program, and a handler job in such a
 * worker, load seccomp_load_no_ptrace() first.
 */
#define SECCOMP_BUILD_EXEC_RELAY 1u
int seccomp_build_flags(const struct spec *s, unsigned flags, struct sock_fprog *out, char *err,
			size_t err_size);
/* Stack the one-syscall layer that traps ptrace.  0 or -errno. */
int seccomp_load_no_ptrace(void);

/*
 * Install the SIGSYS handler that, on a trapped syscall, writes one
 * WORKER_VIOLATION frame ([0x44, syscall number]) to channel_fd with
 * write(2) and then kills the process with SIGSYS (default action).
 * Async-signal-safe; the frame is prepared in advance.  0 or -errno.
 */
int seccomp_install_reporter(int channel_fd);

/* (Not seccomp_load: that name is libseccomp's.) Load prog with PR_SET_SECCOMP (no_new_privs must be set).  0 or -errno. */
int seccomp_load_prog(const struct sock_fprog *prog);

#endif
