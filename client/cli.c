/*
 * brig: run one job in brigd from the shell, or list what it offers.
 *
 *     brig call [OPTIONS] HANDLER [FILE|-]
 *     brig exec [OPTIONS] [--] COMMAND [ARG...]
 *     brig handlers [--socket PATH]
 *
 * `call` prints every item as one line of JSON as it arrives, then one line
 * for the final status, so that a script can stream it through jq.  `exec`
 * passes the program's stdout and stderr through as raw bytes, as they
 * arrive, and exits with the program's exit status, so that it can stand in
 * for the program in a pipeline.  The exit status says how the job ended
 * (see usage()).
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
		"Usage: brig call [OPTIONS] HANDLER [FILE|-]\n"
		"       brig exec [OPTIONS] [--] COMMAND [ARG...]\n"
		"       brig handlers [--socket PATH]\n"
		"       brig --help | --version\n"
		"\n"
		"call      run HANDLER in the brig sandbox broker on the bytes of FILE\n"
		"          (standard input if FILE is - or missing); print each result\n"
		"          item, then the job's final status, as one JSON object per line.\n"
		"          A regular file is passed as an open file descriptor, not copied\n"
		"exec      run COMMAND in the sandbox; its stdout and stderr are passed\n"
		"          through as they arrive\n"
		"handlers  list the handlers and profiles that brigd offers\n"
		"\n"
		"Options of call and exec:\n"
		"  -s, --socket PATH   brigd's socket (default: $BRIG_SOCKET, else %s)\n"
		"  -p, --profile NAME  sandbox profile (default: call, the server's default;\n"
		"                      exec, \"exec\")\n"
		"  -t, --timeout MS    wall-clock limit in milliseconds (default: the profile's)\n"
		"  -d, --desc KEY=VALUE\n"
		"                      add a descriptor that narrows the profile, such as\n"
		"                      rlimit_as=64M or seccomp_deny=socket (repeatable)\n"
		"      --copy          send the input's bytes in the request instead of passing\n"
		"                      a regular file (or exec's stdin pipe) as a descriptor\n"
		"\n"
		"Options of exec only:\n"
		"      --ro PATH       allow reading PATH (descriptor ro=PATH; repeatable)\n"
		"      --rw PATH       allow writing PATH (descriptor rw=PATH; repeatable)\n"
		"      --net-connect PORT\n"
		"                      allow TCP connections to PORT (connect=PORT; repeatable)\n"
		"  -e, --env NAME=VALUE\n"
		"                      set an environment variable; the program gets only\n"
		"                      these (repeatable)\n"
		"  -C, --cwd DIR       working directory inside the sandbox (default: /)\n"
		"  -i, --stdin FILE    the program's standard input: FILE, or - for ours\n"
		"                      (default: empty); a regular file or a pipe is passed\n"
		"                      to the program as it is, unless --copy\n"
		"  -v, --verbose       print the final status as JSON on stderr, after \"brig: \"\n"
		"\n"
		"Descriptors only narrow the profile: --ro, --rw and --net-connect must lie\n"
		"within what the profile grants, and paths must be ones you can reach.\n"
		"\n"
		"  -h, --help          show this help\n"
		"  -V, --version       show the version\n"
		"\n"
		"Exit status of call: 0 ok, 1 the handler reported an error, 2 the job ended\n"
		"abnormally (crashed, timeout, a limit, violation, cancelled), 3 broker\n"
		"error or job rejected, 64 usage error, 66 cannot read the input,\n"
		"69 cannot connect to brigd, 74 cannot write the output.\n"
		"Exit status of exec: the program's, when it exited; 128+N when signal N\n"
		"killed it; otherwise as for call (2, 3, 64, 66, 69, 74).\n",
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

/* ---- lists of strings from the command line ---- */

struct strvec {
	char **v;
	size_t count;
};

static int strvec_push(struct strvec *l, const char *prefix, const char *text)
{
	char **grown = realloc(l->v, (l->count + 1) * sizeof(*l->v));
	char *entry;

	if (!grown)
		return -ENOMEM;
	l->v = grown;
	if (asprintf(&entry, "%s%s", prefix, text) < 0)
		return -ENOMEM;
	l->v[l->count++] = entry;
	return 0;
}

static void strvec_free(struct strvec *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->count = 0;
}

/*
 * Descriptors are checked by brigd against the profile; here only their
 * shape, so that a typo is a usage error before anything connects.
 */
static int check_descriptors(const struct strvec *d)
{
	const char *eq;

	if (d->count > BRIG_MAX_DESCRIPTORS)
		return usage_error("too many descriptors: %zu, at most %d", d->count,
				   BRIG_MAX_DESCRIPTORS);
	for (size_t i = 0; i < d->count; i++) {
		eq = strchr(d->v[i], '=');
		if (!eq || eq == d->v[i])
			return usage_error("descriptor '%s' is not KEY=VALUE", d->v[i]);
		if (strlen(d->v[i]) > BRIG_MAX_DESCRIPTOR_LEN)
			return usage_error("descriptor '%.40s...' is longer than %d bytes", d->v[i],
					   BRIG_MAX_DESCRIPTOR_LEN);
	}
	return 0;
}

/* ---- input ---- */

struct input {
	int fd;
	const char *name;       /* for messages */
	bool size_known;        /* a regular file: fstat's size is the input's */
	bool is_pipe;
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
	in->is_pipe = !in->size_known && S_ISFIFO(st.st_mode);
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

/* input_read, with the error said once for `call` and `exec` alike. */
static int input_read_checked(struct input *in, uint32_t limit, char **data, size_t *len)
{
	int r = input_read(in, limit, data, len);

	if (r == -EFBIG) {
		/* fstat's size is only the truth if the file did not grow. */
		if (in->size_known && in->size > limit)
			errorf("input of %" PRIu64 " bytes exceeds the server's limit of %" PRIu32
			       " bytes", in->size, limit);
		else
			errorf("%s exceeds the server's limit of %" PRIu32 " bytes", in->name,
			       limit);
	} else if (r < 0) {
		errorf("cannot read %s: %s", in->name, strerror(-r));
	}
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

/* The final status as one line of JSON. */
static void print_status(FILE *out, uint32_t job_id, const struct brig_status *st)
{
	const char *message = st->message ? st->message : "";

	fprintf(out, "{\"job\":%" PRIu32 ",\"outcome\":", job_id);
	json_print_string(out, brig_outcome_string(st->outcome),
			  strlen(brig_outcome_string(st->outcome)));
	fprintf(out, ",\"code\":%" PRId64, st->code);
	if (st->outcome == BRIG_REJECTED)
		fprintf(out, ",\"error\":\"%s\"", error_code_name(st->error_code));
	fputs(",\"message\":", out);
	json_print_string(out, message, strlen(message));
	fprintf(out, ",\"wall_us\":%" PRIu64 ",\"cpu_us\":%" PRIu64 ",\"maxrss_kib\":%" PRIu64
		"}\n", st->wall_us, st->cpu_us, st->maxrss_kib);
}

static void call_on_final(void *arg, uint32_t job_id, const struct brig_status *st)
{
	struct call *call = arg;

	call->got_final = true;
	call->outcome = st->outcome;
	if (call->output_failed)
		return;
	print_status(stdout, job_id, st);
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

/* Long options without a short form (exec's follow below). */
#define OPT_COPY 256

static int cmd_call(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "profile", required_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' },
		{ "desc", required_argument, NULL, 'd' },
		{ "copy", no_argument, NULL, OPT_COPY },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *socket_option = NULL, *path;
	bool copy = false;
	struct brig_job job = { 0 };
	struct strvec descriptors = { 0 };
	struct call call = { 0 };
	struct input in = { .fd = -1 };
	char *data = NULL;
	size_t len = 0;
	uint32_t limit, job_id;
	int c, r, status;

	optind = 0;     /* a full reset, for glibc and musl alike */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:p:t:d:h", options, NULL)) != -1) {
		switch (c) {
		case 's':
			socket_option = optarg;
			break;
		case 'p':
			job.profile = optarg;
			break;
		case 't':
			if (parse_timeout(optarg, &job.timeout_ms) < 0) {
				status = usage_error("--timeout takes milliseconds, not '%s'", optarg);
				goto out;
			}
			break;
		case 'd':
			if (strvec_push(&descriptors, "", optarg) < 0) {
				errorf("out of memory");
				status = EXIT_BROKER;
				goto out;
			}
			break;
		case OPT_COPY:
			copy = true;
			break;
		case 'h':
			usage(stdout);
			status = EXIT_JOB_OK;
			goto out;
		default:
			status = option_error(c, argv);
			goto out;
		}
	}
	if (optind >= argc) {
		status = usage_error("call: missing HANDLER");
		goto out;
	}
	if (argc - optind > 2) {
		status = usage_error("call: too many arguments");
		goto out;
	}
	status = check_descriptors(&descriptors);
	if (status != 0)
		goto out;
	job.handler = argv[optind];
	job.descriptors = (const char *const *)descriptors.v;
	job.descriptor_count = descriptors.count;

	/* Open before connecting: a missing file is the likelier mistake. */
	r = input_open(optind + 1 < argc ? argv[optind + 1] : NULL, &in);
	if (r < 0) {
		errorf("cannot open %s: %s", argv[optind + 1], strerror(-r));
		status = EXIT_NO_INPUT;
		goto out;
	}

	path = socket_path(socket_option);
	r = brig_connect(path, CLIENT_NAME, &call.client);
	if (r < 0) {
		errorf("cannot connect to %s: %s", path, brig_strerror(r));
		status = EXIT_UNAVAILABLE;
		goto out;
	}

	if (in.size_known && !copy) {
		/* A regular file goes as its descriptor: no copy, and up to the
		 * profile's max_input_fd rather than the frame size. */
		r = brig_submit_fd(call.client, &job, in.fd, call_on_item, call_on_final, &call,
				   &job_id);
	} else {
		limit = brig_server_max_input(call.client);
		if (input_read_checked(&in, limit, &data, &len) < 0) {
			status = EXIT_NO_INPUT;
			goto out;
		}
		job.input = data;
		job.input_len = len;
		r = brig_submit(call.client, &job, call_on_item, call_on_final, &call, &job_id);
	}
	if (r == -EINVAL) {
		status = usage_error("invalid handler, profile or descriptor");
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
	strvec_free(&descriptors);
	return status;
}

/* ---- exec ---- */

struct exec_run {
	struct brig_client *client;
	bool verbose;
	bool got_final;
	struct brig_status status;      /* message not kept */
	bool output_failed;
	int output_errno;
};

/*
 * Raw bytes, flushed at once: the program's output should show up as it
 * is produced, and stdout and stderr should interleave as they arrived.
 */
static void exec_on_output(void *arg, uint32_t job_id, uint32_t seq, int stream,
			   const void *data, size_t len)
{
	struct exec_run *run = arg;
	FILE *out = stream == BRIG_STDERR ? stderr : stdout;

	(void)seq;
	if (run->output_failed)
		return;
	if (len > 0)
		fwrite(data, 1, len, out);
	if (fflush(out) == 0 && !ferror(out))
		return;
	/* Nobody reads stdout any more (`| head`): stop the program.  A broken
	 * stderr is not worth ending the job for. */
	if (out == stdout) {
		run->output_failed = true;
		run->output_errno = errno;
		brig_cancel(run->client, job_id);
	}
}

static void exec_on_final(void *arg, uint32_t job_id, const struct brig_status *st)
{
	struct exec_run *run = arg;
	const char *message = st->message && *st->message ? st->message : "no details";

	run->got_final = true;
	run->status = *st;
	run->status.message = NULL;
	if (run->output_failed)
		return;
	fflush(stdout);
	if (run->verbose) {
		fputs("brig: ", stderr);
		print_status(stderr, job_id, st);
	} else if (st->outcome == BRIG_REJECTED) {
		fprintf(stderr, "brig: job rejected (%s): %s\n", error_code_name(st->error_code),
			message);
	} else if (st->outcome != BRIG_OK) {
		/* The program's exit status says everything when it exited. */
		fprintf(stderr, "brig: %s: %s\n", brig_outcome_string(st->outcome), message);
	}
	fflush(stderr);
}

static int exec_exit_status(const struct brig_status *st)
{
	switch (st->outcome) {
	case BRIG_OK:
		/* an exit status; anything else would be brigd's bug */
		return st->code >= 0 && st->code <= 255 ? (int)st->code : EXIT_JOB_ABNORMAL;
	case BRIG_CRASHED:
		/* as a shell reports it */
		return st->code > 0 && st->code < 128 ? 128 + (int)st->code : EXIT_JOB_ABNORMAL;
	case BRIG_ERROR:
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

static int parse_port(const char *text)
{
	unsigned long v;
	char *end;

	if (*text < '0' || *text > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno || *end || v == 0 || v > 65535)
		return -EINVAL;
	return (int)v;
}

enum {
	OPT_RO = 257,
	OPT_RW,
	OPT_NET_CONNECT,
};

static int cmd_exec(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "profile", required_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' },
		{ "desc", required_argument, NULL, 'd' },
		{ "ro", required_argument, NULL, OPT_RO },
		{ "rw", required_argument, NULL, OPT_RW },
		{ "net-connect", required_argument, NULL, OPT_NET_CONNECT },
		{ "env", required_argument, NULL, 'e' },
		{ "cwd", required_argument, NULL, 'C' },
		{ "stdin", required_argument, NULL, 'i' },
		{ "copy", no_argument, NULL, OPT_COPY },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *socket_option = NULL, *stdin_path = NULL, *path, *eq;
	bool copy = false, pass_stdin = false;
	struct brig_exec_job job = { .profile = "exec" };
	struct strvec descriptors = { 0 }, env = { 0 };
	struct exec_run run = { 0 };
	struct input in = { .fd = -1 };
	char *data = NULL;
	size_t len = 0;
	uint32_t limit, job_id;
	int c, r = 0, status;

	optind = 0;     /* a full reset, for glibc and musl alike */
	opterr = 0;
	/* '+': the first operand is the command; what follows is its own. */
	while ((c = getopt_long(argc, argv, "+:s:p:t:d:e:C:i:vh", options, NULL)) != -1) {
		switch (c) {
		case 's':
			socket_option = optarg;
			break;
		case 'p':
			job.profile = optarg;
			break;
		case 't':
			if (parse_timeout(optarg, &job.timeout_ms) < 0) {
				status = usage_error("--timeout takes milliseconds, not '%s'", optarg);
				goto out;
			}
			break;
		case 'd':
			r = strvec_push(&descriptors, "", optarg);
			break;
		case OPT_RO:
			r = strvec_push(&descriptors, "ro=", optarg);
			break;
		case OPT_RW:
			r = strvec_push(&descriptors, "rw=", optarg);
			break;
		case OPT_NET_CONNECT:
			if (parse_port(optarg) < 0) {
				status = usage_error("--net-connect takes a TCP port 1..65535, not '%s'",
						     optarg);
				goto out;
			}
			r = strvec_push(&descriptors, "connect=", optarg);
			break;
		case 'e':
			eq = strchr(optarg, '=');
			if (!eq || eq == optarg) {
				status = usage_error("--env takes NAME=VALUE, not '%s'", optarg);
				goto out;
			}
			r = strvec_push(&env, "", optarg);
			break;
		case 'C':
			job.cwd = optarg;
			break;
		case 'i':
			stdin_path = optarg;
			break;
		case OPT_COPY:
			copy = true;
			break;
		case 'v':
			run.verbose = true;
			break;
		case 'h':
			usage(stdout);
			status = EXIT_JOB_OK;
			goto out;
		default:
			status = option_error(c, argv);
			goto out;
		}
		if (r < 0) {
			errorf("out of memory");
			status = EXIT_BROKER;
			goto out;
		}
	}
	if (optind >= argc) {
		status = usage_error("exec: missing COMMAND");
		goto out;
	}
	if ((size_t)(argc - optind) > BRIG_MAX_ARGS) {
		status = usage_error("exec: %d arguments, at most %d", argc - optind, BRIG_MAX_ARGS);
		goto out;
	}
	if (env.count > BRIG_MAX_ARGS) {
		status = usage_error("exec: %zu --env variables, at most %d", env.count,
				     BRIG_MAX_ARGS);
		goto out;
	}
	if (job.cwd && strlen(job.cwd) > BRIG_MAX_CWD_LEN) {
		status = usage_error("--cwd is longer than %d bytes", BRIG_MAX_CWD_LEN);
		goto out;
	}
	status = check_descriptors(&descriptors);
	if (status != 0)
		goto out;
	if (!*argv[optind]) {
		status = usage_error("exec: the command is empty");
		goto out;
	}
	job.argv = (const char *const *)&argv[optind];
	job.argc = (size_t)(argc - optind);
	job.env = (const char *const *)env.v;
	job.envc = env.count;
	job.descriptors = (const char *const *)descriptors.v;
	job.descriptor_count = descriptors.count;

	if (stdin_path) {
		r = input_open(stdin_path, &in);
		if (r < 0) {
			errorf("cannot open %s: %s", stdin_path, strerror(-r));
			status = EXIT_NO_INPUT;
			goto out;
		}
	}

	path = socket_path(socket_option);
	r = brig_connect(path, CLIENT_NAME, &run.client);
	if (r < 0) {
		errorf("cannot connect to %s: %s", path, brig_strerror(r));
		status = EXIT_UNAVAILABLE;
		goto out;
	}

	/* A file or a pipe becomes the program's stdin as it is. */
	pass_stdin = stdin_path && !copy && (in.size_known || in.is_pipe);
	if (stdin_path && !pass_stdin) {
		limit = brig_server_max_input(run.client);
		if (input_read_checked(&in, limit, &data, &len) < 0) {
			status = EXIT_NO_INPUT;
			goto out;
		}
		job.stdin_data = data;
		job.stdin_len = len;
	}

	if (pass_stdin)
		r = brig_submit_exec_fd(run.client, &job, in.fd, exec_on_output, exec_on_final, &run,
					&job_id);
	else
		r = brig_submit_exec(run.client, &job, exec_on_output, exec_on_final, &run,
				     &job_id);
	if (r == -EINVAL) {
		status = usage_error("invalid profile, argument, variable or descriptor");
		goto out;
	}
	if (r < 0) {
		errorf("cannot submit the job: %s", brig_strerror(r));
		status = EXIT_BROKER;
		goto out;
	}

	r = brig_wait(run.client, job_id);
	if (run.output_failed) {
		if (run.output_errno != EPIPE)
			errorf("cannot write the output: %s", strerror(run.output_errno));
		status = EXIT_IO_ERROR;
	} else if (run.got_final) {
		status = exec_exit_status(&run.status);
	} else {
		errorf("waiting for the job: %s", brig_strerror(r));
		status = EXIT_BROKER;
	}
out:
	brig_close(run.client);
	free(data);
	if (in.fd > STDIN_FILENO)
		close(in.fd);
	strvec_free(&descriptors);
	strvec_free(&env);
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
	if (strcmp(command, "exec") == 0)
		return cmd_exec(argc, argv);
	if (strcmp(command, "handlers") == 0)
		return cmd_handlers(argc, argv);
	return usage_error("unknown command '%s'", command);
}
