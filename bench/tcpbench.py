#!/usr/bin/env python3
"""Loopback TCP measurements for bench/port_forward.sh.

  tcpbench.py sink PORT            accept; read N bytes (8-byte header), answer b"ok"
  tcpbench.py echo PORT            accept; echo every byte back
  tcpbench.py throughput PORT MIB [STREAMS]
                                   send MIB MiB through PORT, split over STREAMS
                                   parallel connections (1); print MB/s of them all
  tcpbench.py rtt PORT COUNT       1-byte ping-pong COUNT times; print p50 p99 in microseconds
"""
import socket, struct, sys, threading, time


def serve(port, handler):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    while True:
        c, _ = s.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=handler, args=(c,), daemon=True).start()


def sink(c):
    want = struct.unpack(">Q", recv_exact(c, 8))[0]
    got = 0
    buf = bytearray(1 << 20)
    while got < want:
        n = c.recv_into(buf)
        if n == 0:
            break
        got += n
    c.sendall(b"ok")
    c.close()


def echo(c):
    while True:
        d = c.recv(65536)
        if not d:
            break
        c.sendall(d)
    c.close()


def recv_exact(c, n):
    out = b""
    while len(out) < n:
        d = c.recv(n - len(out))
        if not d:
            raise SystemExit("connection closed")
        out += d
    return out


def connect(port):
    for _ in range(100):
        try:
            c = socket.create_connection(("127.0.0.1", port))
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return c
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"cannot connect to {port}")


def send_stream(port, mib, ready, go):
    total = mib << 20
    block = b"\x5a" * (1 << 20)
    c = connect(port)
    ready.release()
    go.wait()
    c.sendall(struct.pack(">Q", total))
    for _ in range(mib):
        c.sendall(block)
    recv_exact(c, 2)


def throughput(port, mib, streams=1):
    """Every connection is open before the clock starts; it stops when the
    last sink has confirmed all its bytes."""
    ready, go = threading.Semaphore(0), threading.Event()
    share = [mib // streams + (i < mib % streams) for i in range(streams)]
    threads = [threading.Thread(target=send_stream, args=(port, m, ready, go)) for m in share]
    for t in threads:
        t.start()
    for _ in threads:
        ready.acquire()
    t0 = time.perf_counter()
    go.set()
    for t in threads:
        t.join()
    dt = time.perf_counter() - t0
    print(f"{(mib << 20) / dt / 1e6:.1f}")


def rtt(port, count):
    c = connect(port)
    for _ in range(50):
        c.sendall(b"x"); recv_exact(c, 1)
    samples = []
    for _ in range(count):
        t0 = time.perf_counter()
        c.sendall(b"x")
        recv_exact(c, 1)
        samples.append((time.perf_counter() - t0) * 1e6)
    samples.sort()
    print(f"{samples[len(samples) // 2]:.0f} {samples[int(len(samples) * 0.99)]:.0f}")


if __name__ == "__main__":
    cmd, port = sys.argv[1], int(sys.argv[2])
    if cmd == "sink":
        serve(port, sink)
    elif cmd == "echo":
        serve(port, echo)
    elif cmd == "throughput":
        throughput(port, int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    elif cmd == "rtt":
        rtt(port, int(sys.argv[3]))
