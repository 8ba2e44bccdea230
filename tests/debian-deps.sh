#!/bin/sh
# Install every Debian package brig needs to build, test and run.
# Usage (as root on Debian 12): tests/debian-deps.sh
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
	build-essential autoconf automake libtool pkg-config \
	clang llvm libclang-rt-14-dev \
	libevent-dev libmsgpack-dev libsystemd-dev check libseccomp-dev libinih-dev \
	libmagic-dev libmagic-mgc libarchive-dev \
	systemd tar gzip file valgrind bubblewrap python3 strace \
	systemd-container debootstrap util-linux man-db \
	clang-tools cppcheck \
	qemu-system-x86 busybox-static cpio >/dev/null
# brigd's broker runs as the system user "brig" (systemd/sysusers.d/brig.conf);
# `make install` does not create users, systemd-sysusers does (idempotent).
systemd-sysusers "$(cd "$(dirname "$0")/.." && pwd)/systemd/sysusers.d/brig.conf"
