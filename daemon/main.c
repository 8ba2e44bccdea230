/*
 * brigd: the brig sandbox broker.
 *
 *   brigd (monitor, root)  -- binds the socket, starts zygotes, checks access
 *     |-- broker (fork; user brig, no capabilities, seccomp)  -- the socket's
 *     |                                                    libevent loop
 *     `-- zygote (fork + exec of brigd --zygote 3, on the broker's request)
 *           `-- worker (clone with new namespaces, sandboxed, one job)
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <limits.h>
#include <sys/stat.h>

#include "broker.h"
#include "config.h"
#include "log.h"
#include "monitor.h"
#include "zygote.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: brigd [OPTIONS]\n"
		"\n"
		"The brig sandbox broker.\n"
		"\n"
		"  -c, --config FILE       read FILE (default: " BRIG_CONFIG_FILE " if it exists,\n"
		"                          else the built-in defaults)\n"
		"      --default-config    use the built-in defaults, read no file\n"
		"  -s, --socket PATH       listen on PATH (overrides the config)\n"
		"      --handlers DIR      load handler plugins from DIR (overrides the config)\n"
		"  -l, --log-level LEVEL   error, warning, info or debug\n"
		"      --check-config      load the configuration, report, and exit\n"
		"  -h, --help              show this help\n"
		"  -V, --version           show the version\n");
}

static int parse_level(const char *s)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };

	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

int main(int argc, char **argv)
{
	enum { OPT_DEFAULT_CONFIG = 256, OPT_HANDLERS, OPT_CHECK, OPT_ZYGOTE };
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "default-config", no_argument, NULL, OPT_DEFAULT_CONFIG },
		{ "socket", required_argument, NULL, 's' },
		{ "handlers", required_argument, NULL, OPT_HANDLERS },
		{ "log-level", required_argument, NULL, 'l' },
		{ "check-config", no_argument, NULL, OPT_CHECK },
		{ "zygote", required_argument, NULL, OPT_ZYGOTE },   /* internal */
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL, *socket_path = NULL, *handler_dir = NULL;
	bool default_config = false, check_only = false;
	int log_level = -1, zygote_fd = -1, opt;
	struct config *cfg = NULL;
	char err[1024];
	char **zygote_argv;
	struct zygote_command zygote_cmd;

	log_init("broker", LOG_LEVEL_INFO);
	/* A fixed TZ lets libc read the zone once, in the zygote, instead of
	 * probing /etc/localtime from inside sandboxes on every mktime(). */
	setenv("TZ", ":/etc/localtime", 0);
	while ((opt = getopt_long(argc, argv, "c:s:l:hV", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case OPT_DEFAULT_CONFIG:
			default_config = true;
			break;
		case 's':
			socket_path = optarg;
			break;
		case OPT_HANDLERS:
			handler_dir = optarg;
			break;
		case 'l':
			log_level = parse_level(optarg);
			if (log_level < 0) {
				fprintf(stderr, "brigd: --log-level: expected error, warning, info or debug\n");
				return 64;
			}
			break;
		case OPT_CHECK:
			check_only = true;
			break;
		case OPT_ZYGOTE:
			zygote_fd = atoi(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("brigd %s (protocol %d)\n", PACKAGE_VERSION, BRIG_PROTOCOL_VERSION);
			return 0;
		default:
			usage(stderr);
			return 64;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "brigd: unexpected argument '%s'\n", argv[optind]);
		return 64;
	}
	if (config_path && default_config) {
		fprintf(stderr, "brigd: --config and --default-config exclude each other\n");
		return 64;
	}
	if (!config_path && !default_config && access(BRIG_CONFIG_FILE, F_OK) == 0)
		config_path = BRIG_CONFIG_FILE;
	if (config_path) {
		int r = config_load(config_path, &cfg, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "brigd: bad configuration: %s\n", err);
			return 78;
		}
	} else {
		cfg = calloc(1, sizeof(*cfg));
		if (!cfg)
			return 1;
		config_set_defaults(cfg);
	}
	if (socket_path) {
		if (socket_path[0] != '/' || strlen(socket_path) >= 108) {
			fprintf(stderr, "brigd: --socket: must be an absolute path under 108 bytes\n");
			return 64;
		}
		snprintf(cfg->socket_path, sizeof(cfg->socket_path), "%s", socket_path);
	}
	if (handler_dir) {
		if (!realpath(handler_dir, cfg->handler_dir)) {
			fprintf(stderr, "brigd: --handlers %s: %s\n", handler_dir, strerror(errno));
			return 64;
		}
	}
	if (log_level >= 0)
		cfg->log_level = log_level;
	log_init("broker", (enum log_level)cfg->log_level);

	if (zygote_fd >= 0)
		zygote_main(cfg, zygote_fd);
	if (check_only) {
		printf("configuration OK: %zu profile(s), socket %s, handlers in %s\n",
		       cfg->profile_count, cfg->socket_path, cfg->handler_dir);
		free(cfg);
		return 0;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "brigd: must be started as root (it builds sandboxes)\n");
		free(cfg);
		return 77;
	}

	/* The zygote is this very program with the same options plus --zygote 3. */
	zygote_argv = calloc((size_t)argc + 3, sizeof(char *));
	if (!zygote_argv)
		return 1;
	for (int i = 0; i < argc; i++)
		zygote_argv[i] = argv[i];
	zygote_argv[argc] = (char *)"--zygote";
	zygote_argv[argc + 1] = (char *)"3";
	zygote_cmd.argv = zygote_argv;
	zygote_cmd.argc = argc + 2;
	{
		static char exe[PATH_MAX];
		struct stat st;
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

		if (n <= 0 || (size_t)n >= sizeof(exe) - 1) {
			fprintf(stderr, "brigd: cannot find its own binary: %s\n", strerror(errno));
			free(zygote_argv);
			free(cfg);
			return 1;
		}
		exe[n] = '\0';
		if (stat(exe, &st) < 0) {
			fprintf(stderr, "brigd: cannot stat its own binary %s: %s\n", exe,
				 strerror(errno));
			free(zygote_argv);
			free(cfg);
			return 1;
		}
		zygote_cmd.exe = exe;
		zygote_cmd.exe_dev = st.st_dev;
		zygote_cmd.exe_ino = st.st_ino;
	}

	{
		/* The broker may free cfg on a reload: the overrides live here. */
		static char handler_abs[PATH_MAX];
		struct config_source src = {
			.path = config_path,
			.socket_path = socket_path,
			.handler_dir = handler_dir ? handler_abs : NULL,
			.log_level = log_level,
		};

		snprintf(handler_abs, sizeof(handler_abs), "%s", cfg->handler_dir);
		opt = monitor_main(cfg, &src, &zygote_cmd);
	}
	free(zygote_argv);
	return opt;
}
