#!/usr/bin/env python3
"""Interactive echo round trip through a terminal: run COMMAND... on a new
PTY, wait for READY in its output, then type one byte at a time and time
until it comes back (raw mode, `cat` echoing). Prints p50 p99 in µs.

  ptyecho.py COUNT -- COMMAND...
"""
import os, pty, select, sys, time

def main():
    count = int(sys.argv[1])
    cmd = sys.argv[sys.argv.index("--") + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    buf = b""
    deadline = time.time() + 30
    while b"READY" not in buf:
        r, _, _ = select.select([fd], [], [], 1)
        if r:
            buf += os.read(fd, 65536)
        if time.time() > deadline:
            sys.exit("no READY from the command: " + buf[-200:].decode(errors="replace"))
    time.sleep(0.3)
    while select.select([fd], [], [], 0.2)[0]:
        os.read(fd, 65536)
    samples = []
    for i in range(count + 20):
        b = bytes([97 + i % 26])
        t0 = time.perf_counter()
        os.write(fd, b)
        got = b""
        while b not in got:
            r, _, _ = select.select([fd], [], [], 5)
            if not r:
                sys.exit("echo timed out")
            got += os.read(fd, 4096)
        if i >= 20:
            samples.append((time.perf_counter() - t0) * 1e6)
    os.write(fd, b"\x04")
    try:
        os.kill(pid, 9)
    except OSError:
        pass
    samples.sort()
    print(f"{samples[len(samples) // 2]:.0f} {samples[int(len(samples) * 0.99)]:.0f}")

main()
