#!/usr/bin/env python3
"""Both ends of a checked transfer for bench/faults.py.

  faults_io.py serve PORT BLOB LOGDIR
      The node's side (run in the agent's network namespace). Per connection:
      reads a 16-byte header (upload length, download length), then at once
      receives the upload and sends the first `download length` bytes of BLOB,
      half-closes, and writes LOGDIR/conn-N.json: what arrived, checked
      against BLOB, and how each direction ended.
  faults_io.py client PORT BLOB UP DOWN OUT [--rate MBPS] [--progress FILE] [-- CMD...]
      The user's side: connects to PORT on 127.0.0.1 (an `airlock port-forward`)
      or, after `--`, runs CMD (an `airlock proxy`) with its stdin and stdout
      as the connection; sends the first UP bytes of BLOB while receiving DOWN
      bytes, and writes OUT (JSON) at the end.

BLOB is random data (`head -c N /dev/urandom`), so any 4 KiB of it is found at
one offset only: a receiver that sees bytes other than those expected looks
the next 4 KiB up in BLOB, and counts the skip as bytes lost (found further
on) or duplicated (found before). Both ends also hash what they sent and
received (sha256). How a stream ended is `eof` (a clean end of stream),
`reset` (ECONNRESET/EPIPE: the reported way to end a lost stream) or an error.
"""
import errno
import hashlib
import json
import mmap
import os
import socket
import struct
import subprocess
import sys
import threading
import time

CHUNK = 256 << 10
WINDOW = 4096
GAP = 0.25  # gaps longer than this are listed


def now():
    return time.time()


class Check:
    """What a receiver saw, checked against the blob as it arrives."""

    def __init__(self, blob, expected):
        self.blob, self.expected = blob, expected
        self.sha = hashlib.sha256()
        self.received = 0
        self.pos = 0  # the offset in blob that the next byte should have
        self.lost = self.dup = self.corrupt = 0
        self.pending = b""  # bytes after a divergence, until a window is full
        self.first = self.last = None
        self.gaps = []  # [start, end] of silences longer than GAP

    def feed(self, data, t):
        if self.last is not None and t - self.last > GAP:
            self.gaps.append([self.last, t])
        if self.first is None:
            self.first = t
        self.last = t
        self.sha.update(data)
        self.received += len(data)
        if self.pending:
            self.pending += data
            if len(self.pending) >= WINDOW:
                self._resync()
            return
        self._compare(data)

    def _compare(self, data):
        want = self.blob[self.pos:self.pos + len(data)]
        if want == data:
            self.pos += len(data)
            return
        i = next((k for k in range(min(len(want), len(data))) if want[k] != data[k]), min(len(want), len(data)))
        self.pos += i
        self.pending = bytes(data[i:])
        if len(self.pending) >= WINDOW:
            self._resync()

    def _resync(self, final=False):
        win = self.pending[:WINDOW]
        f = self.blob.find(win) if len(win) >= 64 else -1
        if f < 0:
            # Not in the blob: count the window as corrupt and move past it.
            self.corrupt += len(win)
            self.pos += len(win)
            rest = self.pending[len(win):]
        else:
            if f >= self.pos:
                self.lost += f - self.pos
            else:
                self.dup += self.pos - f
            self.pos = f
            rest = self.pending
        self.pending = b""
        if rest:
            self._compare(rest)

    def finish(self, how):
        if self.pending:
            self._resync(final=True)
        return {
            "expected": self.expected,
            "received": self.received,
            "sha256": self.sha.hexdigest(),
            "lost": self.lost,
            "duplicated": self.dup,
            "corrupt": self.corrupt,
            "truncated": max(0, self.expected - self.pos),
            "extra": max(0, self.pos - self.expected),
            "end": how,
            "first": self.first,
            "last": self.last,
            "gaps": self.gaps,
        }


def ending(e):
    if isinstance(e, (ConnectionResetError, BrokenPipeError)) or getattr(e, "errno", None) in (errno.ECONNRESET, errno.EPIPE):
        return "reset"
    return f"error: {e}"


class Sender:
    """Sends blob[0:n] at up to `rate` MB/s (0: as fast as it goes)."""

    def __init__(self, blob, n, write, rate=0.0, done=None):
        self.blob, self.n, self.write, self.rate, self.done = blob, n, write, rate, done
        self.sent = 0
        self.sha = hashlib.sha256()
        self.end = None
        self.t_end = None
        self.fin = False

    def run(self):
        t0 = now()
        try:
            while self.sent < self.n:
                if self.rate:
                    ahead = self.sent / (self.rate * 1e6) - (now() - t0)
                    if ahead > 0:
                        time.sleep(ahead)
                k = min(CHUNK, self.n - self.sent)
                data = self.blob[self.sent:self.sent + k]
                self.write(data)
                self.sha.update(data)
                self.sent += k
            self.fin = True  # before the FIN leaves: the reader may see the peer's FIN at once
            if self.done:
                self.done()
            self.end = "complete"
        except Exception as e:  # noqa: BLE001 — every ending is recorded
            self.end = ending(e)
        self.t_end = now()

    def result(self):
        return {"expected": self.n, "sent": self.sent, "sha256": self.sha.hexdigest(), "end": self.end, "t_end": self.t_end}


TCP_CLOSE = 7


def eof_or_reset(c, fin_sent):
    """At a zero-byte read: was it the peer's FIN or a reset? A reset's error
    goes to whichever call comes first (often the writer), after which reads
    return 0. Until this side sent its own FIN, the socket's state tells them
    apart: CLOSE after a reset, CLOSE_WAIT after a FIN. (Once both FINs have
    passed, Linux shows CLOSE too, so then the writer's error is the sign.)"""
    if fin_sent():
        return b""
    try:
        state = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
    except OSError:
        return b""
    if state == TCP_CLOSE:
        raise ConnectionResetError("connection reset (seen as a zero-byte read)")
    return b""


def open_blob(path):
    f = open(path, "rb")
    return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


def write_json(path, obj):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def recv_all(read, check):
    """Reads until the end; returns how the stream ended."""
    try:
        while True:
            d = read()
            if not d:
                return "eof"
            check.feed(d, now())
    except Exception as e:  # noqa: BLE001
        return ending(e)


def serve(port, blob_path, logdir):
    blob = open_blob(blob_path)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    n = 0
    while True:
        c, _ = s.accept()
        n += 1
        threading.Thread(target=serve_one, args=(c, blob, os.path.join(logdir, f"conn-{n}.json")), daemon=True).start()


def recv_exact(c, n):
    out = b""
    while len(out) < n:
        d = c.recv(n - len(out))
        if not d:
            raise EOFError("closed during the header")
        out += d
    return out


def serve_one(c, blob, log):
    t0 = now()
    try:
        up, down, rate = struct.unpack(">QQd", recv_exact(c, 24))
    except Exception as e:  # noqa: BLE001
        write_json(log, {"header": f"{e}"})
        return
    check = Check(blob, up)
    snd = Sender(blob, down, c.sendall, rate, done=lambda: c.shutdown(socket.SHUT_WR))
    th = threading.Thread(target=snd.run, daemon=True)
    th.start()
    buf = bytearray(1 << 20)

    def read():
        k = c.recv_into(buf)
        return bytes(buf[:k]) if k else eof_or_reset(c, lambda: snd.fin)

    how = recv_all(read, check)
    th.join()
    c.close()
    write_json(log, {"t0": t0, "up": check.finish(how), "down": snd.result(), "t_end": now()})


def client(argv):
    port, blob_path, up, down, out = int(argv[0]), argv[1], int(argv[2]), int(argv[3]), argv[4]
    rest = argv[5:]
    rate, progress, cmd = 0.0, None, None
    while rest:
        a = rest.pop(0)
        if a == "--rate":
            rate = float(rest.pop(0))
        elif a == "--progress":
            progress = rest.pop(0)
        elif a == "--":
            cmd, rest = rest, []
    blob = open_blob(blob_path)
    t0 = now()
    proc = None
    if cmd:
        errf = open(out + ".stderr", "wb")
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errf, bufsize=0)
        fin, fout = proc.stdin, proc.stdout

        def write(d):
            fin.write(d)

        def half_close():
            fin.close()

        def read():
            return fout.read(1 << 20)
    else:
        c = None
        for _ in range(600):
            try:
                c = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                time.sleep(0.05)
        if c is None:
            raise SystemExit(f"cannot connect to 127.0.0.1:{port}")
        buf = bytearray(1 << 20)

        def write(d):
            c.sendall(d)

        def half_close():
            c.shutdown(socket.SHUT_WR)

        def read():
            k = c.recv_into(buf)
            return bytes(buf[:k]) if k else eof_or_reset(c, lambda: snd.fin)

    write(struct.pack(">QQd", up, down, rate))
    check = Check(blob, down)
    snd = Sender(blob, up, write, rate, done=half_close)
    th = threading.Thread(target=snd.run, daemon=True)
    th.start()
    stop = threading.Event()

    def report():
        while not stop.wait(0.1):
            write_json(progress, {"t": now(), "up": snd.sent, "down": check.received})

    if progress:
        threading.Thread(target=report, daemon=True).start()
    how = recv_all(read, check)
    t_recv_end = now()
    th.join()
    stop.set()
    result = {"t0": t0, "down": check.finish(how), "up": snd.result(), "t_end": now(), "t_recv_end": t_recv_end}
    if proc:
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            code = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        errf.close()
        result["exit"] = code
        result["t_exit"] = now()
        result["stderr"] = open(out + ".stderr", errors="replace").read()[-2000:]
    else:
        c.close()
    write_json(out, result)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "client":
        client(sys.argv[2:])
    else:
        raise SystemExit(__doc__)
