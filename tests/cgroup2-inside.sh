#!/bin/bash
# Run by tests/check-cgroup2.sh inside a VM whose /sys/fs/cgroup is a pure
# cgroup v2 hierarchy.  Usage: cgroup2-inside.sh OUTDIR.  Prints "ok"/"FAIL"
# lines and finally "RESULT pass" or "RESULT fail".
set -uo pipefail
out=${1:?}
b=$BRIG_TOP_BUILDDIR
cg=/sys/fs/cgroup
failed=0
brigd_pid=

pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; failed=1; }

echo "     kernel $(uname -r); v2 controllers: $(cat $cg/cgroup.controllers)"
grep -qw memory $cg/cgroup.controllers && grep -qw pids $cg/cgroup.controllers ||
	{ echo "FAIL no memory and pids controllers on cgroup v2"; echo "RESULT fail"; exit 1; }

# ---- 1. the Check test, brigd in the root cgroup ----
if CK_RUN_CASE=cgroup_limits BRIG_EXPECT_CGROUP=2 "$b/tests/check_descriptors"; then
	pass "check_descriptors cgroup_limits under cgroup v2 (root cgroup)"
else
	fail "check_descriptors cgroup_limits under cgroup v2"
fi
# The escape battery on this older kernel (Landlock ABI 2 or 3: workers
# are cloned one by one, without templates) with cgroup v2 limits.
if "$b/tests/check_escape"; then
	pass "check_escape: no escape under cgroup v2 on kernel $(uname -r)"
else
	fail "check_escape under cgroup v2 on kernel $(uname -r)"
fi
left=$(find $cg -maxdepth 2 -name 'brig-jobs-*' | wc -l)
[ "$left" = 0 ] && pass "no brig-jobs-* cgroup left after the test" ||
	fail "$left brig-jobs-* cgroup(s) left: $(find $cg -maxdepth 2 -name 'brig-jobs-*')"

# ---- helpers for a brigd started by hand ----
conf=$out/brigd.conf
sock=/run/brig-vm.sock
cat > "$conf" <<'EOF'
[profile parser]
pool_size = 0
[profile bombs]
pool_size = 1
exec_jobs = yes
exec = /usr
exec = ?/bin
exec = ?/lib
exec = ?/lib64
ro = ?/etc/ld.so.cache
rlimit_as = unlimited
memory_max = 64M
pids_max = 16
EOF
mkdir -p "$out/handlers"
for h in core magic archive; do ln -sf "$b/handlers/.libs/$h.so" "$out/handlers/$h.so"; done

# start_brigd CGROUP_DIR LOG: brigd in that cgroup, as systemd would start it
start_brigd() {
	rm -f "$sock"
	(echo $BASHPID > "$1/cgroup.procs" &&
	 exec "$b/brigd" --config "$conf" --socket "$sock" --log-level info \
		--handlers "$out/handlers" > "$2" 2>&1) &
	brigd_pid=$!
	for _ in $(seq 1 600); do
		[ -S "$sock" ] && grep -q 'zygote ready' "$2" && return 0
		sleep 0.1
	done
	return 1
}

stop_brigd() {
	[ -n "$brigd_pid" ] || return 0
	kill -TERM "$brigd_pid" 2>/dev/null
	wait "$brigd_pid"
	local rc=$?
	brigd_pid=
	return $rc
}

memory_bomb() {
	"$b/brig" exec --socket "$sock" --profile bombs -- /usr/bin/python3 -c \
		'x = []
while True: x.append(b"\1" * (8 << 20))' 2>&1
}

# ---- 2. a delegated subtree (systemd: Delegate=yes) ----
echo "+memory +pids" > $cg/cgroup.subtree_control
mkdir -p $cg/system.slice/brigd.service
echo "+memory +pids" > $cg/system.slice/cgroup.subtree_control
svc=$cg/system.slice/brigd.service
if start_brigd $svc "$out/delegated.log"; then
	pass "brigd started in $svc"
	grep -q "cgroup v2: worker limits under $svc/brig-jobs-" "$out/delegated.log" &&
		pass "brigd put its jobs under the delegated subtree" ||
		fail "brigd's log does not say it uses $svc: $(grep -i cgroup "$out/delegated.log")"
	procs=$(cat $svc/cgroup.procs | wc -l)
	[ "$procs" = 0 ] && pass "brigd moved itself out of $svc (into a leaf): none left there" ||
		fail "$procs process(es) still in $svc itself"
	grep -qw memory $svc/cgroup.subtree_control &&
		grep -qw pids $svc/cgroup.subtree_control &&
		pass "memory and pids enabled in $svc for the job cgroups" ||
		fail "$svc/cgroup.subtree_control: $(cat $svc/cgroup.subtree_control)"
	res=$(memory_bomb)
	echo "$res" | grep -q 'memory_limit' && pass "memory bomb under memory_max = 64M: memory_limit" ||
		fail "memory bomb under memory_max = 64M: $res"
	res=$("$b/brig" exec --socket "$sock" --profile bombs -- /bin/echo alive 2>&1)
	[ "$res" = alive ] && pass "the next job is served" || fail "job after the bomb: $res"
	stop_brigd && pass "SIGTERM: brigd exits 0" || fail "SIGTERM: brigd exit status $?"
	left=$(find $svc -name 'brig-jobs-*' | wc -l)
	[ "$left" = 0 ] && pass "no job cgroup left under $svc after stop" ||
		fail "$left job cgroup(s) left under $svc"
else
	fail "brigd did not start in $svc: $(tail -5 "$out/delegated.log")"
	stop_brigd
fi

# ---- 3. a cgroup that was not delegated the controllers ----
mkdir -p $cg/nodeleg/brigd
echo "-memory -pids" > $cg/nodeleg/cgroup.subtree_control 2>/dev/null
if start_brigd $cg/nodeleg/brigd "$out/nodeleg.log"; then
	grep -q 'rlimits are the last resort' "$out/nodeleg.log" &&
		pass "no controllers handed down: brigd says rlimits are the last resort" ||
		fail "no controllers handed down, but brigd's log says: $(grep -i cgroup "$out/nodeleg.log")"
	res=$("$b/brig" exec --socket "$sock" --profile bombs -- /bin/echo alive 2>&1)
	[ "$res" = alive ] && pass "and it still serves jobs" || fail "job without cgroups: $res"
	stop_brigd || fail "brigd exit status on SIGTERM: $?"
else
	fail "brigd did not start in $cg/nodeleg/brigd: $(tail -5 "$out/nodeleg.log")"
	stop_brigd
fi

[ $failed = 0 ] && echo "RESULT pass" || echo "RESULT fail"
exit $failed
