/*
 * Handler plugins: loaded once by the zygote (dlopen of every *.so in the
 * handler directory, then each plugin's init()), inherited by every worker.
 */
#ifndef BRIG_DAEMON_PLUGINS_H
#define BRIG_DAEMON_PLUGINS_H

#include <stddef.h>

#include "brig/handler.h"

struct plugin_set;

/*
 * Load dir.  Plugins that fail to load or to init are skipped with a log
 * line; a duplicate handler name is an error.  Returns 0 or -errno.
 * *out is the caller's (plugin_set_free).
 */
int plugin_set_load(const char *dir, struct plugin_set **out);
void plugin_set_free(struct plugin_set *set);

size_t plugin_set_count(const struct plugin_set *set);
const struct brig_handler *plugin_set_get(const struct plugin_set *set, size_t i);
const struct brig_handler *plugin_set_find(const struct plugin_set *set, const char *name);

#endif
