#!/bin/sh
# libbrig.so exports exactly client/libbrig.sym, and every name there is
# declared in a public header: the engine's and proto's internals
# (spec_*, sandbox_*, brig_outcome_name, ...) never leak, and a public
# function cannot be forgotten in the list.
set -eu
top_builddir=${BRIG_TOP_BUILDDIR:-.}
top_srcdir=${BRIG_TOP_SRCDIR:-.}
so=$top_builddir/.libs/libbrig.so
if [ ! -e "$so" ]; then
	echo "SKIP: no $so (static build)"
	exit 77
fi
if ! command -v nm >/dev/null 2>&1; then
	echo "SKIP: no nm"
	exit 77
fi
tmp=$(mktemp -d /tmp/brig-exports.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' | sed 's/@.*//' | sort -u > "$tmp/exported"
sort -u "$top_srcdir/client/libbrig.sym" > "$tmp/listed"
if ! cmp -s "$tmp/exported" "$tmp/listed"; then
	echo "FAIL: libbrig.so exports differ from client/libbrig.sym (< exported, > listed):"
	diff "$tmp/exported" "$tmp/listed" || true
	exit 1
fi
cat "$top_srcdir/client/brig/brig.h" "$top_srcdir/client/brig/sandbox.h" > "$tmp/headers"
while read -r name; do
	if ! grep -Eq "(^|[^A-Za-z0-9_])$name\(" "$tmp/headers"; then
		echo "FAIL: $name is exported but declared in no public header"
		exit 1
	fi
done < "$tmp/listed"
echo "PASS: $(wc -l < "$tmp/listed") public symbols, nothing else"
