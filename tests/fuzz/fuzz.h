/*
 * What every fuzz target in tests/fuzz/ shares.
 *
 * A target is one LLVMFuzzerTestOneInput() over the same objects the
 * daemon and the client link (libbrigproto, libbrigd, client/json.c).  It is
 * built twice: with --enable-fuzzing (clang) against libFuzzer's main(), for
 * `make fuzz`; and in every build against driver.c's main(), which feeds it
 * each file of tests/fuzz/corpus/<target>/ and tests/fuzz/regress/<target>/,
 * so that `make check` replays every seed and every crash ever found.
 *
 * Besides "does not crash", targets check properties the code promises
 * (a frame msgpack_check() passes also unpacks; what a decoder accepts, its
 * packer writes back identically; JSON output is valid JSON).  A broken
 * promise calls fuzz_fail(), which aborts: libFuzzer records the input as a
 * crash, the driver reports the file.
 */
#ifndef BRIG_TESTS_FUZZ_H
#define BRIG_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional: run once before the first input. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Print "fuzz: <what>" to stderr and abort(). */
__attribute__((noreturn, format(printf, 1, 2)))
void fuzz_fail(const char *fmt, ...);

#define FUZZ_CHECK(cond, ...)                      \
	do {                                       \
		if (!(cond))                       \
			fuzz_fail(__VA_ARGS__);    \
	} while (0)

#endif
