#!/bin/bash
# brig under a real, booted systemd (`make check-systemd`): a Debian minbase
# tree with systemd as PID 1 in systemd-nspawn, with brig installed into it
# by `make install DESTDIR=...`, driven with systemctl through nsenter.
#
# Proves, in order: the installed sysusers.d file creates group brig; the
# installed units load; `systemctl start brigd.socket` listens on
# /run/brig/brig.sock as root:brig 0660 without starting brigd; a job
# through the socket (the brig CLI) starts brigd.service, which systemd
# sees as active with a STATUS= text; a user outside group brig cannot
# connect and one in it can; brigd runs with the unit's capability bounding
# set, no_new_privs and seccomp; `systemctl reload brigd` keeps it active
# and serving; `journalctl -u brigd -o json` holds brigd's records with
# their structured fields (the job's JOB_ID, CLIENT_UID, CLIENT_PID,
# PROFILE, HANDLER, OUTCOME, DURATION_USEC when brigd logs them);
# `systemctl stop` stops both units cleanly and leaves no brigd process and
# no socket file.  Reload and the job fields are checked when the brigd
# binary implements them, and reported as MISSING otherwise.
#
# Usage: check-nspawn.sh DESTDIR   (as root; exit 77 = skipped)
# The Debian tree is cached as a tarball in $BRIG_NSPAWN_CACHE (default
# /var/tmp); building it takes about 45 s with debootstrap.
set -uo pipefail
destdir=$(cd "${1:?usage: check-nspawn.sh DESTDIR}" && pwd)
cache_dir=${BRIG_NSPAWN_CACHE:-/var/tmp}
mirror=${BRIG_DEBIAN_MIRROR:-http://deb.debian.org/debian}
failed=0
nspawn_pid=
tmp=
cgroup_dirs=()

pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; failed=1; }
skip() { echo "SKIP: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root"
for tool in systemd-nspawn nsenter python3; do
	command -v $tool >/dev/null || skip "$tool not found (tests/debian-deps.sh installs it)"
done

# ---- the Debian tree: systemd, and the libraries brig links ----
. /etc/os-release
suite=${VERSION_CODENAME:-bookworm}
brigd_bin=$(find "$destdir" -path '*/sbin/brigd' -type f | head -1)
[ -n "$brigd_bin" ] || { echo "FAIL no sbin/brigd under $destdir"; exit 1; }
libs=$( (find "$destdir" -type f \( -name '*.so' -o -name '*.so.*' -o -path '*/bin/*' \
	-o -path '*/sbin/*' \) -exec ldd {} + 2>/dev/null) |
	sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p' | grep -v "^$destdir" | sort -u)
packages=$(for l in $libs; do dpkg -S "$(readlink -f "$l")" 2>/dev/null ||
	dpkg -S "$l" 2>/dev/null; done | cut -d: -f1 | sort -u | tr '\n' ',')
packages="systemd,systemd-sysv,dbus,procps,libmagic-mgc,${packages%,}"
key=$(echo "$suite $packages" | sha256sum | cut -c1-12)
tarball=$cache_dir/brig-nspawn-$suite-$key.tar
exec 9>"$cache_dir/brig-nspawn.lock"
flock 9
if [ ! -s "$tarball" ]; then
	command -v debootstrap >/dev/null || skip "debootstrap not found (tests/debian-deps.sh)"
	echo "     building $tarball: debootstrap $suite with $packages"
	build=$(mktemp -d "$cache_dir/brig-debootstrap.XXXXXX")
	start=$(date +%s)
	if ! debootstrap --variant=minbase --include="$packages" "$suite" "$build/tree" "$mirror" \
		> "$build/debootstrap.log" 2>&1; then
		tail -20 "$build/debootstrap.log"
		rm -rf "$build"
		echo "FAIL debootstrap"
		exit 1
	fi
	rm -rf "$build/tree/var/cache/apt/archives/"*.deb
	tar -C "$build/tree" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
	rm -rf "$build"
	echo "     built in $(( $(date +%s) - start )) s"
fi
flock -u 9

# ---- a copy of the tree with brig installed ----
tmp=$(mktemp -d "$cache_dir/brig-nspawn.XXXXXX")
cleanup() {
	if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
		kill -TERM "$nspawn_pid" 2>/dev/null    # nspawn: power the container off
		for _ in $(seq 100); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.2; done
	fi
	# Whatever of the container is still running is in our cgroup: kill it
	# there (killing nspawn alone would orphan the container's PID 1).
	for d in "${cgroup_dirs[@]}"; do
		if [ -f "$d/cgroup.kill" ]; then
			echo 1 > "$d/cgroup.kill"
		elif [ -d "$d" ]; then
			find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null
		fi
	done
	[ -n "$nspawn_pid" ] && wait "$nspawn_pid" 2>/dev/null
	# nspawn leaves its payload/supervisor cgroups behind: remove ours.
	for _ in $(seq 50); do
		for d in "${cgroup_dirs[@]}"; do
			[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
		done
		left=0
		for d in "${cgroup_dirs[@]}"; do [ -d "$d" ] && left=1; done
		[ $left -eq 0 ] && break
		sleep 0.1
	done
	for d in "${cgroup_dirs[@]}"; do [ -d "$d" ] && echo "WARNING: cannot remove cgroup $d"; done
	[ -n "$tmp" ] && rm -rf "$tmp"
}
trap cleanup EXIT
mkdir "$tmp/tree"
tar -C "$tmp/tree" -xf "$tarball"
# Into the tree's /lib -> usr/lib and friends, not over them.
tar -C "$destdir" -cf - . | tar -C "$tmp/tree" -xf - --keep-directory-symlink
ldconfig -r "$tmp/tree"

# ---- boot ----
# Run nspawn in a cgroup of our own (when PID 1 is not systemd), so that
# what it leaves there can be removed without touching anything else.
if [ "$(cat /proc/1/comm)" != systemd ]; then
	for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified /sys/fs/cgroup; do
		if [ -f "$h/cgroup.procs" ] && [ -w "$h" ]; then
			mkdir -p "$h/brig-nspawn-$$" && cgroup_dirs+=("$h/brig-nspawn-$$")
			[ "$h" = /sys/fs/cgroup ] && break
		fi
	done
fi
(
	for d in "${cgroup_dirs[@]}"; do echo $BASHPID > "$d/cgroup.procs"; done
	exec systemd-nspawn -q -b --register=no --keep-unit --private-network \
		--volatile=overlay -D "$tmp/tree" < /dev/null > "$tmp/console.log" 2>&1
) &
nspawn_pid=$!
leader=
for _ in $(seq 100); do
	leader=$(cat /proc/$nspawn_pid/task/*/children 2>/dev/null | awk '{print $1}')
	[ -n "$leader" ] && break
	sleep 0.1
done
[ -n "$leader" ] || { cat "$tmp/console.log"; echo "FAIL systemd-nspawn did not start"; exit 1; }
in_container() { nsenter -t "$leader" -a "$@"; }
# Until PID 1 listens on its private bus, systemctl says "offline" or
# cannot connect at all.
for _ in $(seq 600); do
	state=$(timeout 60 nsenter -t "$leader" -a systemctl is-system-running --wait 2>&1)
	case "$state" in running|degraded|maintenance|stopping) break ;; esac
	sleep 0.1
done
case "$state" in
running|degraded) pass "systemd booted in the container ($state, leader pid $leader)" ;;
*) tail -20 "$tmp/console.log"; echo "FAIL boot: $state"; exit 1 ;;
esac
booted=$(date +%s.%N)

# ---- what a package's postinst does ----
in_container systemd-sysusers && in_container systemd-tmpfiles --create >/dev/null 2>&1
in_container systemctl daemon-reload
brig_gid=$(in_container getent group brig | cut -d: -f3)
[ -n "$brig_gid" ] && pass "systemd-sysusers created group brig (gid $brig_gid)" ||
	fail "no group brig after systemd-sysusers"

# ---- socket activation ----
out=$(in_container systemctl start brigd.socket 2>&1) &&
	pass "systemctl start brigd.socket" || fail "systemctl start brigd.socket: $out"
perm=$(in_container stat -c '%A %U:%G' /run/brig/brig.sock 2>&1)
[ "$perm" = "srw-rw---- root:brig" ] && pass "/run/brig/brig.sock is $perm" ||
	fail "/run/brig/brig.sock is '$perm', not srw-rw---- root:brig"
state=$(in_container systemctl is-active brigd.service)
[ "$state" = inactive ] && pass "brigd.service is not started before the first connection" ||
	fail "brigd.service is $state before any connection"

out=$(echo "hello from the container" | in_container brig call echo - 2>&1)
echo "$out" | tail -1 | grep -q '"outcome":"ok"' &&
	pass "a job through the socket: $(echo "$out" | tail -1)" ||
	fail "a job through the socket: $out"
state=$(in_container systemctl is-active brigd.service)
[ "$state" = active ] && pass "systemctl is-active brigd.service: active" ||
	fail "systemctl is-active brigd.service: $state"
# The first connection may come before brigd is ready: once it is, jobs run.
out=$(in_container brig call magic /usr/bin/ls 2>&1)
echo "$out" | tail -1 | grep -q '"outcome":"ok"' && pass "a second job (magic)" ||
	fail "a second job (magic): $out"
# STATUS= reaches systemd, and counts the jobs served.
for _ in $(seq 30); do
	status=$(in_container systemctl show -p StatusText --value brigd.service)
	echo "$status" | grep -q '[1-9][0-9]* jobs served' && break
	sleep 0.1
done
echo "$status" | grep -q '[1-9][0-9]* jobs served' && pass "systemd shows brigd's STATUS=: $status" ||
	fail "systemctl show -p StatusText: '$status' (no jobs served counted)"

# ---- who may connect ----
out=$(in_container setpriv --reuid=65534 --regid=65534 --clear-groups brig handlers 2>&1)
rc=$?
[ $rc -eq 69 ] && pass "uid 65534 outside group brig cannot connect ($(echo "$out" | head -1))" ||
	fail "uid 65534 outside group brig: exit $rc: $out"
out=$(in_container setpriv --reuid=65534 --regid=65534 --groups="$brig_gid" brig handlers 2>&1)
rc=$?
[ $rc -eq 0 ] && pass "uid 65534 in group brig can connect" ||
	fail "uid 65534 in group brig: exit $rc: $out"

# ---- the hardening, as the kernel sees it ----
main_pid=$(in_container systemctl show -p MainPID --value brigd.service)
proc=$(in_container cat /proc/"$main_pid"/status 2>&1)
bnd=$(echo "$proc" | sed -n 's/^CapBnd:\t*//p')
nnp=$(echo "$proc" | sed -n 's/^NoNewPrivs:\t*//p')
sec=$(echo "$proc" | sed -n 's/^Seccomp:\t*//p')
# CAP_SYS_ADMIN 21, CAP_SETUID 7, CAP_SETGID 6, CAP_SETPCAP 8, CAP_KILL 5
want_bnd=$(printf '%016x' $(( (1<<21) | (1<<7) | (1<<6) | (1<<8) | (1<<5) )))
[ "$bnd" = "$want_bnd" ] && pass "brigd's bounding set is the unit's ($bnd)" ||
	fail "brigd's CapBnd is $bnd, not $want_bnd"
[ "$nnp" = 1 ] && [ "$sec" = 2 ] && pass "brigd runs with no_new_privs and a seccomp filter" ||
	fail "brigd: NoNewPrivs=$nnp Seccomp=$sec"

# ---- reload ----
if grep -qa 'RELOADING=1' "$brigd_bin"; then
	out=$(in_container systemctl reload brigd.service 2>&1) && pass "systemctl reload brigd" ||
		fail "systemctl reload brigd: $out"
	new_pid=$(in_container systemctl show -p MainPID --value brigd.service)
	state=$(in_container systemctl is-active brigd.service)
	[ "$state" = active ] && [ "$new_pid" = "$main_pid" ] &&
		pass "after the reload brigd.service is active, same pid $main_pid" ||
		fail "after the reload: $state, pid $main_pid -> $new_pid"
	out=$(echo "after reload" | in_container brig call echo - 2>&1)
	echo "$out" | tail -1 | grep -q '"outcome":"ok"' && pass "a job after the reload" ||
		fail "a job after the reload: $out"
else
	echo "MISSING: brigd has no reload (no RELOADING=1 in the binary): systemctl reload not tested"
fi

# ---- the journal ----
in_container journalctl --sync 2>/dev/null
in_container journalctl -u brigd.service -o json --no-pager > "$tmp/journal.json" 2>&1
want_job=0
grep -qa 'DURATION_USEC' "$brigd_bin" && want_job=1
python3 - "$tmp/journal.json" "$want_job" <<'EOF'
import json, sys
records = []
for line in open(sys.argv[1], errors="replace"):
    try:
        records.append(json.loads(line))
    except ValueError:
        pass
native = [r for r in records if r.get("SYSLOG_IDENTIFIER") == "brigd" and "BRIG_ROLE" in r]
roles = sorted({r["BRIG_ROLE"] for r in native})
ok = bool(native) and "broker" in roles
print(("ok   " if ok else "FAIL ") +
      f"journalctl -u brigd: {len(native)} records in brigd's own fields, roles {roles}")
fields = ["JOB_ID", "CLIENT_UID", "CLIENT_PID", "PROFILE", "HANDLER", "OUTCOME", "DURATION_USEC"]
jobs = [r for r in native if "JOB_ID" in r]
if sys.argv[2] == "1":
    good = [r for r in jobs if all(f in r for f in fields) and r.get("HANDLER") == "echo"
            and r.get("OUTCOME") == "ok"]
    if good:
        print("ok   the job's record: " + " ".join(f"{f}={good[0][f]}" for f in fields))
    else:
        ok = False
        print(f"FAIL no record of the echo job with {fields}: {jobs[:2]}")
else:
    print("MISSING: brigd logs no job fields yet (no DURATION_USEC in the binary)")
sys.exit(0 if ok else 1)
EOF
[ $? -eq 0 ] || failed=1

# ---- stop ----
out=$(in_container systemctl stop brigd.socket brigd.service 2>&1) &&
	pass "systemctl stop brigd.socket brigd.service" || fail "systemctl stop: $out"
s1=$(in_container systemctl is-active brigd.service)
s2=$(in_container systemctl is-active brigd.socket)
result=$(in_container systemctl show -p Result --value brigd.service)
left=$(in_container pgrep -c -x brigd)
[ "$s1" = inactive ] && [ "$s2" = inactive ] && [ "$result" = success ] && [ "$left" = 0 ] &&
	pass "both units inactive, Result=success, no brigd process left" ||
	fail "after stop: service $s1 ($result), socket $s2, $left brigd processes"
in_container test -e /run/brig/brig.sock && fail "the socket file is still there" ||
	pass "the socket file is gone"
awk -v a="$booted" -v b="$(date +%s.%N)" 'BEGIN { printf "     the tests under systemd took %.1f s\n", b - a }'

if [ $failed -ne 0 ]; then
	echo "--- journalctl -u brigd ---"
	in_container journalctl -u brigd.service --no-pager -o short-precise | tail -40
fi
in_container systemctl poweroff >/dev/null 2>&1
for _ in $(seq 100); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
[ $failed -eq 0 ] && echo "check-nspawn: all passed" || echo "check-nspawn: FAILED"
exit $failed
