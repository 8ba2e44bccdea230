#!/bin/bash
# brig's systemd integration without systemd as PID 1 (part of `make check`):
#
#  1. `systemd-analyze verify` on brigd.socket and brigd.service (the
#     generated one, ExecStart= pointing at the built brigd), with the
#     built man pages behind Documentation=.  It exits 0 on unknown keys and
#     bad values, so any output at all is a failure.
#  2. `systemd-analyze security --offline=yes`: the exposure score, printed,
#     and a failure above BRIG_MAX_EXPOSURE (default 3.5).
#  3. The sysusers.d and tmpfiles.d files parse (systemd-sysusers and
#     systemd-tmpfiles on a scratch root).
#  4. The default config that `make install` puts in $sysconfdir passes
#     `brigd --check-config`.
#  5. Socket activation and sd_notify: tests/notify_activation.py.
#
# Environment: BRIG_TOP_BUILDDIR, BRIG_TOP_SRCDIR (set by `make check`).
# Exit 77 (skipped) when systemd-analyze is missing.
set -uo pipefail
builddir=${BRIG_TOP_BUILDDIR:-$(pwd)}
srcdir=${BRIG_TOP_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
max_exposure=${BRIG_MAX_EXPOSURE:-3.5}
failed=0

pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; failed=1; }

if ! command -v systemd-analyze >/dev/null; then
	echo "SKIP: systemd-analyze not found (Debian package systemd)"
	exit 77
fi
for f in systemd/brigd.service docs/brigd.8 docs/brigd.conf.5 docs/brigd.conf brigd; do
	if [ ! -e "$builddir/$f" ]; then
		echo "FAIL $builddir/$f is missing: run make first"
		exit 1
	fi
done

tmp=$(mktemp -d /tmp/brig-units.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/units" "$tmp/man/man8" "$tmp/man/man5" "$tmp/man/man1" "$tmp/man/man3"
sed "s|^ExecStart=.*|ExecStart=$builddir/brigd|" "$builddir/systemd/brigd.service" \
	> "$tmp/units/brigd.service"
cp "$srcdir/systemd/brigd.socket" "$tmp/units/brigd.socket"
cp "$builddir/docs/brigd.8" "$tmp/man/man8/"
cp "$builddir/docs/brigd.conf.5" "$tmp/man/man5/"

# 1. verify
man_opt=--man=no
command -v man >/dev/null && man_opt=--man=yes
out=$(cd "$tmp/units" && MANPATH="$tmp/man" systemd-analyze verify $man_opt \
	brigd.socket brigd.service 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ -z "$out" ]; then
	pass "systemd-analyze verify brigd.socket brigd.service: no diagnostics ($man_opt)"
else
	fail "systemd-analyze verify (exit $rc):"
	echo "$out" | sed 's/^/     /'
fi
# The check above must be able to fail: a unit with an unknown key does.
printf '[Service]\nNoSuchDirective=yes\n' > "$tmp/units/brigd.service.d.conf"
cat "$tmp/units/brigd.service" "$tmp/units/brigd.service.d.conf" > "$tmp/units/probe.service"
sed -i 's/^Also=.*//' "$tmp/units/probe.service"
out=$(cd "$tmp/units" && systemd-analyze verify --man=no probe.service 2>&1)
if echo "$out" | grep -q NoSuchDirective; then
	pass "systemd-analyze verify reports an unknown key (exit 0, but output)"
else
	fail "systemd-analyze verify said nothing about an unknown key: $out"
fi
rm -f "$tmp/units/probe.service" "$tmp/units/brigd.service.d.conf"

# 2. security
out=$(cd "$tmp/units" && systemd-analyze security --offline=yes --no-pager brigd.service 2>&1)
score=$(echo "$out" | sed -n 's/.*Overall exposure level for brigd.service: \([0-9.]*\).*/\1/p')
if [ -z "$score" ]; then
	fail "systemd-analyze security --offline=yes gave no score:"
	echo "$out" | tail -5 | sed 's/^/     /'
else
	echo "     $(echo "$out" | grep -c '^✗') directives flagged; the score counts those:"
	echo "$out" | grep '^✗' | sed 's/  */ /g; s/^/       /'
	if awk -v s="$score" -v m="$max_exposure" 'BEGIN { exit !(s <= m) }'; then
		pass "systemd-analyze security --offline=yes brigd.service: exposure $score (at most $max_exposure)"
	else
		fail "systemd-analyze security: exposure $score is above $max_exposure"
	fi
fi

# 3. sysusers.d, tmpfiles.d
mkdir -p "$tmp/root/etc"
if command -v systemd-sysusers >/dev/null; then
	out=$(systemd-sysusers --root="$tmp/root" "$srcdir/systemd/sysusers.d/brig.conf" 2>&1)
	if grep -q '^brig:' "$tmp/root/etc/group" 2>/dev/null &&
	   grep -q '^brig:' "$tmp/root/etc/passwd" 2>/dev/null; then
		pass "sysusers.d/brig.conf creates user and group brig ($(grep '^brig:' "$tmp/root/etc/passwd"))"
	else
		fail "systemd-sysusers with sysusers.d/brig.conf: $out"
	fi
fi
if command -v systemd-tmpfiles >/dev/null; then
	out=$(systemd-tmpfiles --root="$tmp/root" --create "$srcdir/systemd/tmpfiles.d/brig.conf" 2>&1)
	if [ -d "$tmp/root/run/brig" ] && [ -z "$out" ]; then
		pass "tmpfiles.d/brig.conf creates /run/brig ($(stat -c '%a %U:%G' "$tmp/root/run/brig"))"
	else
		fail "systemd-tmpfiles with tmpfiles.d/brig.conf: $out"
	fi
fi

# 4. the installed default config
out=$("$builddir/brigd" --check-config --config "$builddir/docs/brigd.conf" 2>&1)
if [ $? -eq 0 ]; then
	pass "the default brigd.conf that make install puts in place: $out"
else
	fail "brigd --check-config on the default brigd.conf: $out"
fi

# 5. socket activation and notify
if command -v python3 >/dev/null; then
	python3 "$srcdir/tests/notify_activation.py" "$builddir"
	rc=$?
	if [ $rc -eq 77 ]; then
		echo "SKIP socket activation and notify"
	elif [ $rc -ne 0 ]; then
		failed=1
	fi
else
	echo "SKIP socket activation and notify: python3 not found"
fi

[ $failed -eq 0 ] && echo "check-systemd: all passed" || echo "check-systemd: FAILED"
exit $failed
