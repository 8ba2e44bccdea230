/*
 * The zygote role: started by the broker (fork + exec of brigd, so that it
 * holds none of the broker's memory), it loads the handler plugins once,
 * compiles each profile's seccomp filter once, and forks sandboxed workers
 * on the broker's request.  It never sees client bytes: it receives only
 * SPAWN and KILL from the broker, over a SOCK_SEQPACKET channel.
 */
#ifndef BRIG_DAEMON_ZYGOTE_H
#define BRIG_DAEMON_ZYGOTE_H

#include "config.h"

__attribute__((noreturn))
void zygote_main(const struct config *cfg, int channel_fd);

#endif
