#!/usr/bin/env python3
"""brigd as systemd starts it, without systemd as PID 1.

systemd-socket-activate holds brigd's listening socket and starts brigd on
the first connection, passing the socket as fd 3 (LISTEN_FDS), the way
brigd.socket does.  NOTIFY_SOCKET points at a datagram socket of this test,
which reads what brigd tells systemd, with the sender's credentials.

Proves: brigd is not running before the first connection; it serves a job
through the passed socket; READY=1 comes once the zygote is up, before the
job's answer; STATUS= reports pools and jobs served; every message comes
from brigd's main process (what NotifyAccess=main accepts); WATCHDOG=1
comes at least at half the WATCHDOG_USEC interval; SIGHUP gives RELOADING=1
then READY=1, and brigd still serves; SIGTERM gives STOPPING=1 and exit 0.
WATCHDOG and RELOADING are checked when the brigd binary implements them
(it contains the strings), and reported as missing otherwise.

Usage: notify_activation.py BUILDDIR     (as root; exit 77 = skipped)
"""
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

SKIP = 77
builddir = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
brigd = os.path.join(builddir, "brigd")
brig = os.path.join(builddir, "brig")
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


class Notify:
    """The NOTIFY_SOCKET end: datagrams with SCM_CREDENTIALS."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.messages = []      # (pid, [lines]) in arrival order

    def poll(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            return None
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", payload[:12])[0]
        msg = (pid, data.decode(errors="replace").split("\n"))
        self.messages.append(msg)
        return msg

    def wait_for(self, line, timeout, prefix=False, contains=""):
        """Wait for a message holding `line` (or a line starting with it)."""
        def match(lines):
            return any((l.startswith(line) if prefix else l == line) and contains in l
                       for l in lines)
        deadline = time.monotonic() + timeout
        if any(match(lines) for _, lines in self.messages):
            return True
        while time.monotonic() < deadline:
            msg = self.poll(max(0.01, deadline - time.monotonic()))
            if msg and match(msg[1]):
                return True
        return False

    def since(self, index):
        return [l for _, lines in self.messages[index:] for l in lines if l]


def brig_call(sock_path, handler, data):
    r = subprocess.run([brig, "call", "--socket", sock_path, handler, "-"], input=data,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    lines = r.stdout.decode().strip().splitlines()
    final = json.loads(lines[-1]) if lines else {}
    return r.returncode, final, r.stderr.decode()


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def main():
    if os.geteuid() != 0:
        print("SKIP: brigd must be started as root")
        return SKIP
    activate = shutil.which("systemd-socket-activate")
    if not activate:
        print("SKIP: systemd-socket-activate not found (Debian package systemd)")
        return SKIP
    with open(brigd, "rb") as f:
        binary = f.read()
    has_watchdog = b"WATCHDOG=1" in binary
    has_reload = b"RELOADING=1" in binary

    tmp = tempfile.mkdtemp(prefix="brig-notify-", dir="/tmp")
    proc = None
    try:
        handlers = os.path.join(tmp, "handlers")
        os.mkdir(handlers)
        for so in ("core.so", "magic.so", "archive.so"):
            os.symlink(os.path.join(builddir, "handlers", ".libs", so), os.path.join(handlers, so))
        sock_path = os.path.join(tmp, "brig.sock")
        notify = Notify(os.path.join(tmp, "notify"))
        log_path = os.path.join(tmp, "brigd.log")
        env_args = ["-E", "NOTIFY_SOCKET=" + os.path.join(tmp, "notify")]
        if has_watchdog:
            env_args += ["-E", "WATCHDOG_USEC=1000000"]
        # systemd-socket-activate passes only what -E names.
        for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if name in os.environ:
                env_args += ["-E", f"{name}={os.environ[name]}"]
        log = open(log_path, "wb")
        proc = subprocess.Popen([activate, "-l", sock_path] + env_args +
                                [brigd, "--default-config", "--handlers", handlers],
                                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not os.path.exists(sock_path) and time.monotonic() < deadline:
            time.sleep(0.02)
        check(os.path.exists(sock_path), "systemd-socket-activate listens on " + sock_path)
        time.sleep(0.3)
        exe = os.readlink(f"/proc/{proc.pid}/exe")
        check(os.path.basename(exe) != "brigd" and not notify.poll(0.1),
              "brigd is not started before the first connection")

        code, final, err = brig_call(sock_path, "echo", b"hello through fd 3")
        first_ok = code == 0 and final.get("outcome") == "ok"
        check(first_ok, "the connection that started brigd gets its job done: "
              f"exit {code}, {final} {err.strip()}")
        check(os.path.basename(os.readlink(f"/proc/{proc.pid}/exe")) == "brigd",
              "the first connection started brigd (exec'ed by systemd-socket-activate)")
        main_pid = proc.pid

        check(notify.wait_for("READY=1", 5), "READY=1 once the zygote is up")
        check(notify.wait_for("STATUS=", 5, prefix=True), "STATUS= sent")
        # A second job, once READY: STATUS= must count what was served.
        code, final, err = brig_call(sock_path, "echo", b"second job")
        check(code == 0 and final.get("outcome") == "ok",
              f"a second job: exit {code}, {final} {err.strip()}")
        want = "2 jobs served" if first_ok else "1 jobs served"
        served = notify.wait_for("STATUS=", 3, prefix=True, contains=want)
        check(served, f"STATUS= counts the jobs served ({want!r}): " +
              repr([l for l in notify.since(0) if l.startswith("STATUS=")][-1:]))
        zygotes = children(main_pid)
        check(all(pid == main_pid for pid, _ in notify.messages),
              f"every notification comes from the main pid {main_pid} "
              f"(not the zygote {zygotes}): NotifyAccess=main accepts them")

        if has_watchdog:
            start = len(notify.messages)
            time.sleep(1.6)
            while notify.poll(0.01):
                pass
            pings = notify.since(start).count("WATCHDOG=1")
            check(pings >= 2, f"WATCHDOG=1 at half of WATCHDOG_USEC=1s: {pings} in 1.6 s")
        else:
            print("MISSING: brigd sends no WATCHDOG=1 (WatchdogSec= in brigd.service "
                  "would kill it)", flush=True)

        if has_reload:
            start = len(notify.messages)
            os.kill(main_pid, signal.SIGHUP)
            check(notify.wait_for("RELOADING=1", 5), "SIGHUP: RELOADING=1")
            lines = notify.since(start)
            ready_after = "RELOADING=1" in lines and "READY=1" in lines[lines.index("RELOADING=1"):]
            deadline = time.monotonic() + 5
            while not ready_after and time.monotonic() < deadline:
                # wait_for() would see the READY=1 of start-up: poll for a new one
                notify.poll(0.1)
                lines = notify.since(start)
                ready_after = "RELOADING=1" in lines and \
                    "READY=1" in lines[lines.index("RELOADING=1"):]
            check(ready_after, "SIGHUP: READY=1 after RELOADING=1")
            code, final, err = brig_call(sock_path, "echo", b"after reload")
            check(proc.poll() is None and code == 0 and final.get("outcome") == "ok",
                  f"brigd serves after the reload: exit {code} {err.strip()}")
        else:
            print("MISSING: brigd has no reload (no RELOADING=1); ExecReload= would "
                  "send it SIGHUP", flush=True)

        start = len(notify.messages)
        os.kill(main_pid, signal.SIGTERM)
        check(notify.wait_for("STOPPING=1", 10), "SIGTERM: STOPPING=1")
        try:
            status = proc.wait(20)
        except subprocess.TimeoutExpired:
            status = None
        check(status == 0, f"brigd exits 0 after SIGTERM (status {status})")
        proc = None
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()
        if failures:
            try:
                with open(os.path.join(tmp, "brigd.log"), errors="replace") as f:
                    print("--- brigd log ---\n" + f.read() + "--- end ---")
            except OSError:
                pass
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'FAILED' if failures else 'passed'}: socket activation and notify")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
