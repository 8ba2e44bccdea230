#!/bin/bash
# The main job, end to end: start brigd with the built-in default config on
# a private socket, hand it untrusted files to parse, show what comes back.
# Usage: tests/demo.sh BUILDDIR     (as root; `make demo` runs it)
set -euo pipefail
build=${1:-.}
build=$(cd "$build" && pwd)
work=$(mktemp -d /tmp/brig-demo.XXXXXX)
brigd_pid=
cleanup() {
	if [ -n "$brigd_pid" ] && kill -0 "$brigd_pid" 2>/dev/null; then
		kill -TERM "$brigd_pid"
		wait "$brigd_pid" || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# brigd's broker runs as the system user "brig": create it if need be.
getent passwd brig >/dev/null ||
	systemd-sysusers "$(cd "$(dirname "$0")/.." && pwd)/systemd/sysusers.d/brig.conf"

mkdir "$work/handlers"
for h in core magic archive; do
	ln -s "$build/handlers/.libs/$h.so" "$work/handlers/$h.so"
done
"$build/brigd" --default-config --socket "$work/brig.sock" --handlers "$work/handlers" \
	2> "$work/brigd.log" &
brigd_pid=$!
for _ in $(seq 100); do
	[ -S "$work/brig.sock" ] && break
	sleep 0.1
done
brig() { local cmd=$1; shift; "$build/brig" "$cmd" --socket "$work/brig.sock" "$@"; }

echo "== handlers offered by brigd"
brig handlers

echo "== magic on an ELF executable (/bin/ls)"
brig call magic /bin/ls

echo "== an 'upload': a gzip'ed tar built just now, listed by archive-list"
mkdir -p "$work/upload/docs"
echo "hello" > "$work/upload/docs/readme.txt"
printf '\x89PNG\r\n\x1a\n' > "$work/upload/logo.png"
ln -s docs/readme.txt "$work/upload/link"
tar -C "$work/upload" -czf "$work/upload.tar.gz" .
brig call archive-list "$work/upload.tar.gz"

echo "== magic on the same upload, read from stdin"
brig call magic - < "$work/upload.tar.gz"

echo "== a hostile input: garbage claiming to be an archive"
printf 'PK\x03\x04garbage-garbage-garbage' > "$work/bad.zip"
brig call archive-list "$work/bad.zip" || echo "(exit code $?: the handler refused it; brigd keeps serving)"

echo "== the same archive listed by a program in the exec profile (tar, sandboxed)"
brig exec --stdin "$work/upload.tar.gz" -- tar -tzvf -

echo "== brigd log"
cat "$work/brigd.log"
