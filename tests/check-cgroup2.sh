#!/bin/bash
# brig on a pure cgroup v2 host (`make check-cgroup2`).
#
# The build machines are hybrid (memory and pids bound to cgroup v1, an
# empty v2 tree at /sys/fs/cgroup/unified), but production hosts are
# usually pure v2.  This boots Debian's own kernel under qemu (software
# emulation: no KVM needed) with cgroup2 mounted at /sys/fs/cgroup and
# every controller on it, and the host's root filesystem shared read-only
# over 9p (the build tree read-write), then runs, inside the VM:
#
#   1. check_descriptors' cgroup_limits case with brigd in the root cgroup:
#      a memory bomb ends as memory_limit (memory.events oom_kill) and a
#      fork bomb as pids_limit (pids.events max), nothing of either is left,
#      the next job is served; the test fails unless brigd's log says it
#      used cgroup v2 (BRIG_EXPECT_CGROUP=2);
#   2. a delegated subtree as systemd's Delegate=yes hands it over: brigd
#      started inside /system.slice/brigd.service (memory and pids enabled
#      down to it), which must move itself into a leaf, enable the
#      controllers for its jobs, enforce a memory limit, and leave no
#      cgroup behind when it stops;
#   3. a cgroup whose parent does not hand down memory and pids: brigd
#      must say in its log that rlimits are the last resort and still serve.
#
# Usage: check-cgroup2.sh   (as root, from the build tree; exit 77 = skipped)
# The kernel package is cached under $BRIG_KERNEL_CACHE (default /var/tmp).
set -uo pipefail
builddir=${BRIG_TOP_BUILDDIR:?run through make check-cgroup2}
srcdir=${BRIG_TOP_SRCDIR:?run through make check-cgroup2}
cache_dir=${BRIG_KERNEL_CACHE:-/var/tmp}
tmp=

skip() { echo "SKIP: $*"; exit 77; }
cleanup() { [ -n "$tmp" ] && rm -rf "$tmp"; }
trap cleanup EXIT

[ "$(id -u)" = 0 ] || skip "needs root"
for tool in qemu-system-x86_64 cpio apt-get dpkg-deb; do
	command -v $tool >/dev/null || skip "$tool not found (tests/debian-deps.sh installs it)"
done
[ -x /bin/busybox ] && /bin/busybox --list | grep -qx insmod ||
	skip "/bin/busybox (busybox-static) not found"

# ---- Debian's kernel, and the modules for 9p over virtio ----
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
	sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -1)
[ -n "$pkg" ] || skip "no linux-image-amd64 in the apt lists (apt-get update first)"
kdir=$cache_dir/brig-kernel-$pkg
modules="virtio virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci netfs"
modules="$modules fscache 9pnet 9pnet_virtio 9p"
exec 9>"$cache_dir/brig-kernel.lock"
flock 9
if [ ! -s "$kdir/vmlinuz" ]; then
	echo "     fetching $pkg into $kdir"
	dl=$(mktemp -d "$cache_dir/brig-kernel-dl.XXXXXX")
	(cd "$dl" && apt-get download "$pkg" >/dev/null 2>&1) ||
		{ rm -rf "$dl"; skip "apt-get download $pkg failed"; }
	mkdir -p "$dl/x" "$dl/out"
	dpkg-deb --fsys-tarfile "$dl"/*.deb | tar -x -C "$dl/x" --wildcards './boot/vmlinuz-*' \
		'./lib/modules/*/kernel/drivers/virtio/*' './lib/modules/*/kernel/fs/9p/*' \
		'./lib/modules/*/kernel/fs/fscache/*' './lib/modules/*/kernel/fs/netfs/*' \
		'./lib/modules/*/kernel/net/9p/*' || { rm -rf "$dl"; echo "FAIL unpacking $pkg"; exit 1; }
	for m in $modules; do
		find "$dl/x/lib/modules" -name "$m.ko" -exec cp {} "$dl/out/" \;
		[ -s "$dl/out/$m.ko" ] || { rm -rf "$dl"; echo "FAIL $pkg has no $m.ko"; exit 1; }
	done
	cp "$dl"/x/boot/vmlinuz-* "$dl/out/vmlinuz"
	rm -rf "$kdir"
	mv "$dl/out" "$kdir"
	rm -rf "$dl"
fi
flock -u 9

# ---- the initramfs: busybox and an init that mounts the host and runs the script ----
tmp=$(mktemp -d /tmp/brig-cgroup2.XXXXXX)
mkdir -p "$tmp/root/bin" "$tmp/root/mod" "$tmp/root/proc" "$tmp/root/sys" "$tmp/root/dev" \
	"$tmp/root/host"
cp /bin/busybox "$tmp/root/bin/busybox"
for m in $modules; do cp "$kdir/$m.ko" "$tmp/root/mod/"; done
cat > "$tmp/root/init" <<EOF
#!/bin/busybox sh
B=/bin/busybox
\$B mount -t proc proc /proc
\$B mount -t sysfs sysfs /sys
\$B mount -t devtmpfs devtmpfs /dev
# No modules.dep here: load in passes until every module is in.
pending="$modules"
for pass in 1 2 3 4 5; do
	left=
	for m in \$pending; do \$B insmod /mod/\$m.ko 2>/dev/null || left="\$left \$m"; done
	pending=\$left
done
[ -z "\$pending" ] || echo "brig-vm: cannot load modules:\$pending"
opts=trans=virtio,version=9p2000.L,msize=262144
if \$B mount -t 9p -o \$opts,ro,cache=loose hostroot /host; then
	for d in /tmp /run /var/tmp; do \$B mount -t tmpfs tmpfs /host\$d; done
	\$B mkdir -p /host$builddir
	\$B mount -t 9p -o \$opts build /host$builddir
	\$B mount -t proc proc /host/proc
	\$B mount -t sysfs sysfs /host/sys
	\$B mount -t cgroup2 cgroup2 /host/sys/fs/cgroup
	\$B mount -t devtmpfs devtmpfs /host/dev
	\$B mkdir -p /host/dev/pts /host/dev/shm
	\$B mount -t devpts devpts /host/dev/pts
	\$B mount -t tmpfs tmpfs /host/dev/shm
	\$B chroot /host /bin/bash $builddir/tests/cgroup2-vm/inside.sh
	echo "brig-vm: inside.sh exited \$?"
else
	echo "brig-vm: cannot mount the host over 9p"
fi
\$B sync
\$B poweroff -f
EOF
chmod +x "$tmp/root/init"
(cd "$tmp/root" && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$tmp/initrd.gz"

# ---- the script run inside the VM ----
out=$builddir/tests/cgroup2-vm
rm -rf "$out"
mkdir -p "$out"
cat > "$out/inside.sh" <<EOF
#!/bin/bash
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export BRIG_TOP_BUILDDIR='$builddir' BRIG_TOP_SRCDIR='$srcdir' CK_DEFAULT_TIMEOUT=600
exec '$srcdir/tests/cgroup2-inside.sh' '$out' > '$out/inside.log' 2>&1
EOF
chmod +x "$out/inside.sh"

echo "     booting $pkg under qemu with cgroup v2 only (software emulation)"
start=$(date +%s)
timeout 1500 qemu-system-x86_64 -accel tcg,thread=multi -cpu max -m 2048 -smp 2 \
	-nographic -no-reboot -kernel "$kdir/vmlinuz" -initrd "$tmp/initrd.gz" \
	-append "console=ttyS0 quiet panic=-1" \
	-virtfs local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap \
	-virtfs "local,path=$builddir,mount_tag=build,security_model=passthrough,multidevs=remap" \
	> "$out/console.log" 2>&1 < /dev/null
qemu_rc=$?
echo "     VM ran $(( $(date +%s) - start )) s (qemu exit $qemu_rc)"
grep -a 'brig-vm:' "$out/console.log" | sed 's/^/     /'
if [ -s "$out/inside.log" ]; then
	cat "$out/inside.log"
else
	echo "FAIL nothing ran inside the VM; console:"
	tail -40 "$out/console.log"
	exit 1
fi
grep -q '^RESULT pass$' "$out/inside.log" || exit 1
exit 0
