/*
 * The zygote role: started by the monitor on the broker's request (fork +
 * exec of brigd, so that it holds none of the monitor's or the broker's
 * memory), it loads the handler plugins once, compiles each profile's
 * seccomp filter once, and forks sandboxed workers on the broker's
 * request; the broker gets its channel from the monitor.  It never sees client bytes: it receives only
 * SPAWN and KILL from the broker, over a SOCK_SEQPACKET channel.
 */
#ifndef BRIG_DAEMON_ZYGOTE_H
#define BRIG_DAEMON_ZYGOTE_H

#include "config.h"

__attribute__((noreturn))
void zygote_main(const struct config *cfg, int channel_fd);

#endif
