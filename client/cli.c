/*
 * brig: run one job in brigd from the shell, or list what it offers.
 *
 *     brig call [--socket PATH] [--profile NAME] [--timeout MS] HANDLER [FILE|-]
 *     brig handlers [--socket PATH]
 *
 * `call` prints every item as one line of JSON as it arrives, then one line
 * for the final status, so that a script can stream it through jq.  The
 * exit status says how the job ended (see usage()).
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "brig/brig.h"
#include "json.h"
#include "proto/wire.h"       /* constants only: BRIG_PROTOCOL_VERSION */

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

/* Exit statuses: how the job ended, then sysexits.h for everything else. */
enum {
	EXIT_JOB_OK = 0,
	EXIT_HANDLER_ERROR = 1,
	EXIT_JOB_ABNORMAL = 2,      /* crashed, timeout, a limit, violation, cancelled */
	EXIT_BROKER = 3,            /* broker error or rejected */
	EXIT_USAGE = 64,            /* EX_USAGE */
	EXIT_NO_INPUT = 66,         /* EX_NOINPUT */
	EXIT_UNAVAILABLE = 69,      /* EX_UNAVAILABLE: cannot connect or handshake */
	EXIT_IO_ERROR = 74,         /* EX_IOERR: cannot write the output */
};

#define CLIENT_NAME "brig-cli"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: brig call [--socket PATH] [--profile NAME] [--timeout MS] HANDLER [FILE|-]\n"
		"       brig handlers [--socket PATH]\n"
		"       brig --help | --version\n"
		"\n"
		"call      run HANDLER in the brig sandbox broker on the bytes of FILE\n"
		"          (standard input if FILE is - or missing); print each result\n"
		"          item, then the job's final status, as one JSON object per line\n"
		"handlers  list the handlers and profiles that brigd offers\n"
		"\n"
		"Options:\n"
		"  -s, --socket PATH   brigd's socket (default: $BRIG_SOCKET, else %s)\n"
		"  -p, --profile NAME  sandbox profile (default: the server's default)\n"
		"  -t, --timeout MS    wall-clock limit in milliseconds (default: the profile's)\n"
		"  -h, --help          show this help\n"
		"  -V, --version       show the version\n"
		"\n"
		"Exit status: 0 ok, 1 the handler reported an error, 2 the job ended\n"
		"abnormally (crashed, timeout, a limit, violation, cancelled), 3 broker\n"
		"error or job rejected, 64 usage error, 66 cannot read the input,\n"
		"69 cannot connect to brigd, 74 cannot write the output.\n",
		BRIG_DEFAULT_SOCKET);
}

static void errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void errorf(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("brig: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("brig: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'brig --help'.\n", stderr);
	return EXIT_USAGE;
}

/* getopt's own messages would be prefixed by the subcommand: say it ourselves. */
static int option_error(int c, char *const argv[])
{
	if (c == ':')
		return usage_error("option %s needs an argument", argv[optind - 1]);
	if (optopt)
		return usage_error("unknown option -%c", optopt);
	return usage_error("unknown option %s", argv[optind - 1]);
}

static const char *socket_path(const char *option)
{
	const char *env;

	if (option)
		return option;
	env = getenv("BRIG_SOCKET");
	return env && *env ? env : BRIG_DEFAULT_SOCKET;
}

/*
 * Names of the wire's ERROR codes (docs/protocol.md).  A copy of the table
 * in proto/msg.c: libbrig exports only brig_* API, and the CLI links only
 * libbrig.
 */
static const char *error_code_name(uint32_t code)
{
	static const char *const names[] = {
		[1] = "protocol",
		[2] = "version",
		[3] = "unknown_handler",
		[4] = "unknown_profile",
		[5] = "duplicate_job",
		[6] = "busy",
		[7] = "too_large",
		[8] = "denied",
		[9] = "unknown_job",
		[10] = "internal",
		[11] = "shutting_down",
		[12] = "bad_request",
	};

	if (code < sizeof(names) / sizeof(names[0]) && names[code])
		return names[code];
	return "unknown";
}

static int exit_status_for(int outcome)
{
	switch (outcome) {
	case BRIG_OK:
		return EXIT_JOB_OK;
	case BRIG_ERROR:
		return EXIT_HANDLER_ERROR;
	case BRIG_CRASHED:
	case BRIG_TIMEOUT:
	case BRIG_CPU_LIMIT:
	case BRIG_MEMORY_LIMIT:
	case BRIG_PIDS_LIMIT:
	case BRIG_OUTPUT_LIMIT:
	case BRIG_VIOLATION:
	case BRIG_CANCELLED:
		return EXIT_JOB_ABNORMAL;
	default:
		return EXIT_BROKER;     /* BROKER_ERROR, REJECTED, anything newer */
	}
}

/* ---- input ---- */

struct input {
	int fd;
	const char *name;       /* for messages */
	bool size_known;        /* a regular file: fstat's size is the input's */
	uint64_t size;
};

static int input_open(const char *path, struct input *in)
{
	struct stat st;

	if (!path || strcmp(path, "-") == 0) {
		in->fd = STDIN_FILENO;
		in->name = "standard input";
	} else {
		in->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (in->fd < 0)
			return -errno;
		in->name = path;
	}
	in->size_known = fstat(in->fd, &st) == 0 && S_ISREG(st.st_mode);
	in->size = in->size_known ? (uint64_t)st.st_size : 0;
	return 0;
}

/*
 * Reads the whole input, but never more than limit + 1 bytes: a stream
 * longer than brigd accepts is refused without holding all of it.
 * Returns 0, -EFBIG past limit, or -errno.  *data is malloc'ed.
 */
static int input_read(struct input *in, size_t limit, char **data, size_t *len)
{
	size_t most = limit + 1, cap = 0, used = 0;
	char *buf = NULL;
	int r;

	if (in->size_known && in->size > limit)
		return -EFBIG;
	for (;;) {
		ssize_t n;

		if (used == cap) {
			size_t next = cap ? cap * 2 : in->size_known ? (size_t)in->size + 1 : 65536;
			char *grown;

			if (cap == most)
				break;
			if (next > most || next < cap)
				next = most;
			grown = realloc(buf, next);
			if (!grown) {
				r = -ENOMEM;
				goto fail;
			}
			buf = grown;
			cap = next;
		}
		n = read(in->fd, buf + used, cap - used);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto fail;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	if (used > limit) {
		r = -EFBIG;
		goto fail;
	}
	*data = buf;
	*len = used;
	return 0;
fail:
	free(buf);
	return r;
}

/* ---- call ---- */

struct call {
	struct brig_client *client;
	bool got_final;
	int outcome;
	bool output_failed;
	int output_errno;
};

/* Writing stdout failed (a closed pipe, a full disk): nobody will see the
 * results, so stop the job instead of running it to the end. */
static void output_check(struct call *call, uint32_t job_id)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return;
	call->output_failed = true;
	call->output_errno = errno;
	brig_cancel(call->client, job_id);
}

static void call_on_item(void *arg, uint32_t job_id, uint32_t seq, const msgpack_object *item)
{
	struct call *call = arg;

	(void)seq;
	if (call->output_failed)
		return;
	json_print_object(stdout, item);
	putchar('\n');
	output_check(call, job_id);
}

static void call_on_final(void *arg, uint32_t job_id, const struct brig_status *st)
{
	struct call *call = arg;
	const char *message = st->message ? st->message : "";

	call->got_final = true;
	call->outcome = st->outcome;
	if (call->output_failed)
		return;
	printf("{\"job\":%" PRIu32 ",\"outcome\":", job_id);
	json_print_string(stdout, brig_outcome_string(st->outcome),
			  strlen(brig_outcome_string(st->outcome)));
	printf(",\"code\":%" PRId64, st->code);
	if (st->outcome == BRIG_REJECTED)
		printf(",\"error\":\"%s\"", error_code_name(st->error_code));
	fputs(",\"message\":", stdout);
	json_print_string(stdout, message, strlen(message));
	printf(",\"wall_us\":%" PRIu64 ",\"cpu_us\":%" PRIu64 ",\"maxrss_kib\":%" PRIu64 "}\n",
	       st->wall_us, st->cpu_us, st->maxrss_kib);
	output_check(call, job_id);
}

static int parse_timeout(const char *text, uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (*text < '0' || *text > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int cmd_call(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "profile", required_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *socket_option = NULL, *path;
	struct brig_job job = { 0 };
	struct call call = { 0 };
	struct input in = { .fd = -1 };
	char *data = NULL;
	size_t len = 0;
	uint32_t limit, job_id;
	int c, r, status;

	optind = 0;     /* a full reset, for glibc and musl alike */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:p:t:h", options, NULL)) != -1) {
		switch (c) {
		case 's':
			socket_option = optarg;
			break;
		case 'p':
			job.profile = optarg;
			break;
		case 't':
			if (parse_timeout(optarg, &job.timeout_ms) < 0)
				return usage_error("--timeout takes milliseconds, not '%s'", optarg);
			break;
		case 'h':
			usage(stdout);
			return EXIT_JOB_OK;
		default:
			return option_error(c, argv);
		}
	}
	if (optind >= argc)
		return usage_error("call: missing HANDLER");
	if (argc - optind > 2)
		return usage_error("call: too many arguments");
	job.handler = argv[optind];

	/* Open before connecting: a missing file is the likelier mistake. */
	r = input_open(optind + 1 < argc ? argv[optind + 1] : NULL, &in);
	if (r < 0) {
		errorf("cannot open %s: %s", argv[optind + 1], strerror(-r));
		return EXIT_NO_INPUT;
	}

	path = socket_path(socket_option);
	r = brig_connect(path, CLIENT_NAME, &call.client);
	if (r < 0) {
		errorf("cannot connect to %s: %s", path, brig_strerror(r));
		status = EXIT_UNAVAILABLE;
		goto out;
	}

	limit = brig_server_max_input(call.client);
	r = input_read(&in, limit, &data, &len);
	if (r == -EFBIG) {
		/* fstat's size is only the truth if the file did not grow. */
		if (in.size_known && in.size > limit)
			errorf("input of %" PRIu64 " bytes exceeds the server's limit of %" PRIu32
			       " bytes", in.size, limit);
		else
			errorf("input exceeds the server's limit of %" PRIu32 " bytes", limit);
		status = EXIT_NO_INPUT;
		goto out;
	}
	if (r < 0) {
		errorf("cannot read %s: %s", in.name, strerror(-r));
		status = EXIT_NO_INPUT;
		goto out;
	}
	job.input = data;
	job.input_len = len;

	r = brig_submit(call.client, &job, call_on_item, call_on_final, &call, &job_id);
	if (r == -EINVAL) {
		status = usage_error("invalid handler or profile name");
		goto out;
	}
	if (r < 0) {
		errorf("cannot submit the job: %s", brig_strerror(r));
		status = EXIT_BROKER;
		goto out;
	}

	r = brig_wait(call.client, job_id);
	if (call.output_failed) {
		/* A reader that went away (`| head`) is not worth a message. */
		if (call.output_errno != EPIPE)
			errorf("cannot write the output: %s", strerror(call.output_errno));
		status = EXIT_IO_ERROR;
	} else if (call.got_final) {
		status = exit_status_for(call.outcome);
	} else {
		errorf("waiting for the job: %s", brig_strerror(r));
		status = EXIT_BROKER;
	}
out:
	brig_close(call.client);
	free(data);
	if (in.fd > STDIN_FILENO)
		close(in.fd);
	return status;
}

/* ---- handlers ---- */

static int cmd_handlers(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *socket_option = NULL, *path;
	struct brig_client *client;
	size_t i;
	int c, r;

	optind = 0;     /* a full reset, for glibc and musl alike */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:h", options, NULL)) != -1) {
		switch (c) {
		case 's':
			socket_option = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_JOB_OK;
		default:
			return option_error(c, argv);
		}
	}
	if (optind < argc)
		return usage_error("handlers: unexpected argument '%s'", argv[optind]);

	path = socket_path(socket_option);
	r = brig_connect(path, CLIENT_NAME, &client);
	if (r < 0) {
		errorf("cannot connect to %s: %s", path, brig_strerror(r));
		return EXIT_UNAVAILABLE;
	}
	puts("handlers:");
	for (i = 0; i < brig_server_handler_count(client); i++)
		printf("  %s\n", brig_server_handler(client, i));
	puts("profiles:");
	for (i = 0; i < brig_server_profile_count(client); i++)
		printf("  %s\n", brig_server_profile(client, i));
	brig_close(client);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		errorf("cannot write the output: %s", strerror(errno));
		return EXIT_IO_ERROR;
	}
	return EXIT_JOB_OK;
}

int main(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *command;
	int c;

	opterr = 0;
	/* '+': stop at the subcommand; its options are its own. */
	while ((c = getopt_long(argc, argv, "+:hV", options, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return EXIT_JOB_OK;
		case 'V':
			printf("brig %s (protocol %d)\n", PACKAGE_VERSION, BRIG_PROTOCOL_VERSION);
			return EXIT_JOB_OK;
		default:
			return option_error(c, argv);
		}
	}
	if (optind >= argc)
		return usage_error("missing command");
	command = argv[optind];
	argc -= optind;
	argv += optind;
	if (strcmp(command, "call") == 0)
		return cmd_call(argc, argv);
	if (strcmp(command, "handlers") == 0)
		return cmd_handlers(argc, argv);
	return usage_error("unknown command '%s'", command);
}
