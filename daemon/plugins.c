#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "plugins.h"
#include "wire.h"

struct plugin_set {
	void **libraries;
	size_t library_count;
	const struct brig_handler **handlers;
	size_t count;
};

static bool handler_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > BRIG_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}


static int plugin_add(struct plugin_set *set, const char *path)
{
	const struct brig_plugin *plugin;
	void *lib, **libs;
	const struct brig_handler **handlers;
	int r;

	lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		log_warn("skipping plugin %s: %s", path, dlerror());
		return 0;
	}
	plugin = dlsym(lib, "brig_plugin_v1");
	if (!plugin || plugin->abi != BRIG_HANDLER_ABI || !plugin->handlers) {
		log_warn("skipping plugin %s: no brig_plugin_v1 of ABI %d", path, BRIG_HANDLER_ABI);
		dlclose(lib);
		return 0;
	}
	if (plugin->init && (r = plugin->init()) < 0) {
		log_warn("skipping plugin %s: init failed: %s", path, strerror(-r));
		dlclose(lib);
		return 0;
	}
	for (size_t i = 0; i < plugin->count; i++) {
		const struct brig_handler *h = &plugin->handlers[i];
		if (!handler_name_valid(h->name) || !h->run) {
			log_error("plugin %s: handler %zu has an invalid name or no run()", path, i);
			return -EINVAL;
		}
		if (plugin_set_find(set, h->name)) {
			log_error("plugin %s: handler '%s' is already defined", path, h->name);
			return -EEXIST;
		}
		handlers = realloc(set->handlers, (set->count + 1) * sizeof(*handlers));
		if (!handlers)
			return -ENOMEM;
		set->handlers = handlers;
		set->handlers[set->count++] = h;
	}
	libs = realloc(set->libraries, (set->library_count + 1) * sizeof(*libs));
	if (!libs)
		return -ENOMEM;
	set->libraries = libs;
	set->libraries[set->library_count++] = lib;
	log_info("loaded plugin %s (%zu handlers)", path, plugin->count);
	return 0;
}

int plugin_set_load(const char *dir, struct plugin_set **out)
{
	struct plugin_set *set;
	struct dirent **entries = NULL;
	int n, r = 0;

	set = calloc(1, sizeof(*set));
	if (!set)
		return -ENOMEM;
	n = scandir(dir, &entries, NULL, alphasort);
	if (n < 0) {
		r = -errno;
		log_error("cannot read handler directory %s: %s", dir, strerror(errno));
		free(set);
		return r;
	}
	for (int i = 0; i < n; i++) {
		const char *name = entries[i]->d_name;
		size_t len = strlen(name);
		char path[4096];

		if (r == 0 && len > 3 && strcmp(name + len - 3, ".so") == 0) {
			snprintf(path, sizeof(path), "%s/%s", dir, name);
			r = plugin_add(set, path);
		}
		free(entries[i]);
	}
	free(entries);
	if (r < 0) {
		plugin_set_free(set);
		return r;
	}
	*out = set;
	return 0;
}

void plugin_set_free(struct plugin_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->library_count; i++)
		dlclose(set->libraries[i]);
	free(set->libraries);
	free(set->handlers);
	free(set);
}

size_t plugin_set_count(const struct plugin_set *set)
{
	return set->count;
}

const struct brig_handler *plugin_set_get(const struct plugin_set *set, size_t i)
{
	return i < set->count ? set->handlers[i] : NULL;
}

const struct brig_handler *plugin_set_find(const struct plugin_set *set, const char *name)
{
	for (size_t i = 0; i < set->count; i++)
		if (strcmp(set->handlers[i]->name, name) == 0)
			return set->handlers[i];
	return NULL;
}
