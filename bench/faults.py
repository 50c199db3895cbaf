#!/usr/bin/env python3
"""The fault suite (issue 15), driven by bench/faults.sh: injects each fault
into a real server, agent and client, and checks that nothing is lost,
nothing duplicated and nothing silently truncated.

  faults.py run WORK      run the rows (env: see bench/faults.sh), print Markdown
  faults.py cleanup WORK  kill every process this run started, delete its
                          network namespace, veth and mounts (faults.sh's trap)

Every process the suite starts carries FAULTS_RUN=WORK in its environment;
cleanup ends those (and only those) by pid.
"""
import ctypes
import datetime
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IO = str(ROOT / "bench" / "faults_io.py")
PY = sys.executable
RESUME_WINDOW = 60  # airlock_wire::RESUME_WINDOW


def knob(name, quick, full, cast=float):
    v = os.environ.get(name)
    return cast(v) if v not in (None, "") else (quick if QUICK else full)


MODE = os.environ.get("MODE", "full")
QUICK = MODE == "quick"
AIRLOCK = os.environ.get("AIRLOCK") or str(ROOT / "target" / "release" / "airlock")
RATE = knob("RATE", 16, 64)  # MB/s each way, per transfer (0: unpaced)
LEAD = knob("LEAD", 1.5, 3)  # seconds of transfer before the fault
TAIL = knob("TAIL", 2, 5)  # seconds of transfer left after it
PING = knob("PING_INTERVAL", 2, 10, int)  # the server's heartbeat interval
SHORT_DOWN = knob("SHORT_DOWN", 3, 3)
LONG_DOWN = knob("LONG_DOWN", 70, 70)
SHORT_PARTITION = knob("SHORT_PARTITION", 5, 20)
LONG_PARTITION = knob("LONG_PARTITION", 100, 100)  # silence is noticed after 30 s, then 60 s of window
SERVER_STOP = knob("SERVER_STOP", 5, 20)
AGENT_STOP = knob("AGENT_STOP", 10, 40)
IAM_KILLS = knob("IAM_KILLS", 3, 20, int)
RESTARTS = knob("RESTARTS", 2, 3, int)
AGENTS = os.environ.get("AGENTS") or ("5" if QUICK else "20 1000")
BACK_TARGET = 2.0  # seconds: every agent back after a short restart
LONG_CAP = 30  # seconds: the agent's backoff cap once an outage passed a minute (crates/agent/src/control.rs)
AGENT_BACK_LONG = 150  # how long a past-window row waits for the agent
ALL = ("server-kill agent-kill partition server-stop agent-stop recording-kill exit-during-kill disk-full "
       "iam-kill server-kill-long partition-long reconnect")
QUICK_ROWS = ("server-kill agent-kill partition server-stop agent-stop recording-kill exit-during-kill disk-full "
              "iam-kill reconnect")
FAULTS = (os.environ.get("FAULTS") or (QUICK_ROWS if QUICK else ALL)).split()

WORK: Path = Path(".")
RUN_ENV = {}


def log(msg):
    print(f"[faults {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def now():
    return time.time()


# The node side (faults_io.py serve, sshd) listens on the loopback of the
# main world's own network namespace, which nothing else uses: fixed ports
# there cannot collide.
SINK_PORT = 7000
SSHD_PORT = 2222


def healthz(port, ca):
    """Whether the server on 127.0.0.1:port answers GET /healthz over TLS
    (trusting the CA at ca)."""
    try:
        c = http.client.HTTPSConnection("127.0.0.1", port, timeout=1,
                                        context=ssl.create_default_context(cafile=str(ca)))
        try:
            c.request("GET", "/healthz")
            return c.getresponse().status == 200
        finally:
            c.close()
    except (OSError, ssl.SSLError, http.client.HTTPException):
        return False


# ---------------------------------------------------------------- cleanup

def registry(kind, value):
    with open(WORK / "registry", "a") as f:
        f.write(f"{kind} {value}\n")


def my_processes(work):
    """Pids whose environment carries FAULTS_RUN=work (processes this run started)."""
    mark = f"FAULTS_RUN={work}".encode()
    me = os.getpid()
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            env = open(f"/proc/{d}/environ", "rb").read().split(b"\0")
        except OSError:
            continue
        if mark in env:
            out.append(int(d))
    return out


def reap():
    """Waits for our dead children, orphans included (we are their subreaper),
    so none is left a zombie under init."""
    deadline = time.time() + 2
    while time.time() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.05)


def cleanup(work):
    work = Path(work)
    for _ in range(3):
        pids = my_processes(work)
        if not pids:
            break
        for p in pids:
            for sig in (signal.SIGCONT, signal.SIGKILL):
                try:
                    os.kill(p, sig)
                except OSError:
                    pass
        time.sleep(0.2)
    reap()
    try:
        lines = (work / "registry").read_text().splitlines()
    except OSError:
        lines = []
    for line in reversed(lines):
        kind, _, value = line.partition(" ")
        if kind == "pid":
            # A process that cleared its environment (sshd re-executes itself)
            # but still names this run's directory on its command line.
            try:
                if str(work).encode() in open(f"/proc/{value}/cmdline", "rb").read():
                    os.kill(int(value), signal.SIGCONT)
                    os.kill(int(value), signal.SIGKILL)
            except OSError:
                pass
        elif kind == "mount":
            subprocess.run(["umount", "-l", value], stderr=subprocess.DEVNULL)
        elif kind == "netns":
            subprocess.run(["ip", "netns", "del", value], stderr=subprocess.DEVNULL)
        elif kind == "link":
            subprocess.run(["ip", "link", "del", value], stderr=subprocess.DEVNULL)


def kill_world(w):
    """Ends the processes started for world w (its agents, their workers)."""
    mark = f"AIRLOCK_STATE_DIR={w.state}".encode()
    for p in my_processes(WORK):
        try:
            if mark in open(f"/proc/{p}/environ", "rb").read().split(b"\0"):
                os.kill(p, signal.SIGCONT)
                os.kill(p, signal.SIGKILL)
        except OSError:
            pass


# ---------------------------------------------------------------- the world

def spawn(cmd, out=None, env=None, stdin=subprocess.DEVNULL):
    f = open(out, "ab") if out else subprocess.DEVNULL
    p = subprocess.Popen(cmd, stdin=stdin, stdout=f, stderr=f, env=env or RUN_ENV, start_new_session=True)
    registry("pid", p.pid)
    return p


def signal_pid(pid, sig):
    try:
        os.kill(pid, sig)
    except OSError:
        pass


def stop_proc(p, sig=signal.SIGKILL, timeout=10):
    if p is None or p.poll() is not None:
        return p.returncode if p else None
    signal_pid(p.pid, signal.SIGCONT)
    signal_pid(p.pid, sig)
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        signal_pid(p.pid, signal.SIGKILL)
        return p.wait()


TRUST = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
         '{"Service":"ssm.amazonaws.com"},"Action":"sts:AssumeRole"}]}')


class World:
    """One server (state dir under WORK/name, optionally on a tmpfs) and, if
    netns, a network namespace for its agents and the node-side programs."""

    count = 0

    def __init__(self, name, netns=False, tmpfs=None):
        World.count += 1
        self.name = name
        self.dir = WORK / name
        self.dir.mkdir(parents=True)
        self.state = self.dir / "state"
        if tmpfs:
            self.state.mkdir()
            registry("mount", self.state)
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={tmpfs}", "tmpfs", str(self.state)], check=True)
        # Port 0: the server picks its ports and announces them (server.listen,
        # server.endpoint); start_server reads them and pins them for restarts.
        self.port = None
        self.ns = None
        listen = "127.0.0.1:0"
        self.server_ip = "127.0.0.1"
        if netns:
            k = (os.getpid() * 7 + World.count) % 250 + 2
            self.ns = f"airlock-faults-{os.getpid()}-{World.count}"
            host, node = f"alf{os.getpid() % 100000}h{World.count}", "alfnode"
            self.server_ip = f"10.213.{k}.1"
            registry("netns", self.ns)
            registry("link", host)
            for c in (["ip", "netns", "add", self.ns],
                      ["ip", "link", "add", host, "type", "veth", "peer", "name", node, "netns", self.ns],
                      ["ip", "addr", "add", f"{self.server_ip}/30", "dev", host],
                      ["ip", "link", "set", host, "up"],
                      ["ip", "netns", "exec", self.ns, "ip", "addr", "add", f"10.213.{k}.2/30", "dev", node],
                      ["ip", "netns", "exec", self.ns, "ip", "link", "set", node, "up"],
                      ["ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up"]):
                subprocess.run(c, check=True)
            listen += f",{self.server_ip}:0"
        self.endpoint = None  # the agents' endpoint, once the server announced it
        self.env = dict(RUN_ENV, AIRLOCK_STATE_DIR=str(self.state), AIRLOCK_CONFIG_DIR=str(self.dir / "cfg"),
                        AIRLOCK_LISTEN=listen, AIRLOCK_PING_INTERVAL=str(PING))
        for k in ("AIRLOCK_PROFILE", "AIRLOCK_ENDPOINT", "HTTPS_PROXY", "https_proxy", "AIRLOCK_LOG"):
            self.env.pop(k, None)
        self.server = None
        self.activation = None
        self.server_log = self.dir / "server.log"

    def in_ns(self, cmd):
        return ["ip", "netns", "exec", self.ns] + cmd if self.ns else cmd

    def announced(self):
        """The addresses the running server announced (server.listen), once
        its endpoint file is there too; else None."""
        try:
            (self.state / "server.endpoint").read_text()
            lines = (self.state / "server.listen").read_text().split()
        except OSError:
            return None
        return lines or None

    def start_server(self, timeout=30):
        """Starts the server; returns when it has announced its addresses and
        answers /healthz. The first start learns the ports it picked; later
        ones ask for the same (the agents and the profile point at them)."""
        for f in ("server.endpoint", "server.listen"):
            try:
                (self.state / f).unlink()
            except OSError:
                pass
        self.server = spawn([AIRLOCK, "--log-format", "json", "--log-level", "info", "server", "run"],
                            self.server_log, self.env)
        ca = self.dir / "cfg" / "ca.pem"
        deadline = now() + timeout
        while now() < deadline:
            addrs = self.announced()
            if addrs and ca.exists():
                port = int(addrs[0].rsplit(":", 1)[1])
                if healthz(port, ca):
                    if self.port is None:
                        self.port = port
                        self.env["AIRLOCK_LISTEN"] = ",".join(addrs)
                        mine = [a for a in addrs if a.rsplit(":", 1)[0] == self.server_ip]
                        self.endpoint = f"https://{mine[0]}"
                    return now()
            if self.server.poll() is not None:
                raise RuntimeError(f"the server exited with {self.server.returncode}; see {self.server_log}")
            time.sleep(0.01)
        raise RuntimeError(f"the server did not announce its addresses and answer /healthz within {timeout} s; "
                           f"see {self.server_log}")

    def kill_server(self, sig=signal.SIGKILL):
        return stop_proc(self.server, sig)

    def cli(self, *args, timeout=60, check=True):
        r = subprocess.run([AIRLOCK, *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"airlock {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
        return r

    def json(self, *args, **kw):
        return json.loads(self.cli("--json", *args, **kw).stdout or "null")

    def activate(self, limit):
        self.cli("iam", "create-role", "--role-name", "FaultRole", "--assume-role-policy-document", TRUST)
        self.cli("iam", "attach-role-policy", "--role-name", "FaultRole", "--policy-arn",
                 "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore")
        a = self.json("activation", "create", "--role", "FaultRole", "--registration-limit", str(limit))
        self.activation = (a["ActivationId"], a["ActivationCode"])

    def register(self, agent_dir):
        out = self.cli("agent", "register", "--agent-dir", str(agent_dir), "--endpoint", self.endpoint,
                       "--activation-id", self.activation[0], "--activation-code", self.activation[1]).stdout
        return re.search(r"mi-[0-9a-f]+", out).group(0)

    def start_agent(self, agent_dir, log=True):
        return spawn(self.in_ns([AIRLOCK, "--log-level", "info", "agent", "run", "--sessions-as-self",
                                 "--agent-dir", str(agent_dir)]),
                     str(agent_dir) + ".log" if log else None, self.env)

    def instances(self):
        try:
            v = self.json("instances", timeout=10)
        except Exception:  # noqa: BLE001 — the server may be down
            return None
        return {i["InstanceId"]: i.get("PingStatus") for i in v.get("InstanceInformationList", [])}

    def active_sessions(self):
        try:
            v = self.json("session", "list", timeout=10)
        except Exception:  # noqa: BLE001
            return None
        return v.get("Sessions", []) if isinstance(v, dict) else []

    def wait_online(self, iid, timeout=30):
        deadline = now() + timeout
        while now() < deadline:
            if (self.instances() or {}).get(iid) == "Online":
                return True
            time.sleep(0.2)
        return False

    def partition(self, on):
        if on:
            rules = (f"table inet airlock_faults {{\n"
                     f" chain in {{ type filter hook input priority -10; ip saddr {self.server_ip} drop; }}\n"
                     f" chain out {{ type filter hook output priority -10; ip daddr {self.server_ip} drop; }}\n}}\n")
            subprocess.run(["ip", "netns", "exec", self.ns, "nft", "-f", "-"], input=rules, text=True, check=True)
        else:
            subprocess.run(["ip", "netns", "exec", self.ns, "nft", "delete", "table", "inet", "airlock_faults"],
                           check=True)


def agent_status(agent_dir):
    try:
        v = json.loads((Path(agent_dir) / "status.json").read_text())
        return v.get("State"), v.get("Pid")
    except (OSError, ValueError):
        return None, None


def agent_state(agent_dir):
    return agent_status(agent_dir)[0]


def agent_pid(agent_dir):
    try:
        return int((Path(agent_dir) / "agent.pid").read_text().strip())
    except (OSError, ValueError):
        return None


class Watch(threading.Thread):
    """Watches one agent from `since`: when its status file left Online and
    came back, and the same in the server's API."""

    def __init__(self, world, agent_dir, iid):
        super().__init__(daemon=True)
        self.w, self.dir, self.iid = world, agent_dir, iid
        self.stop = threading.Event()
        self.agent_down = self.agent_back = None
        self.api_lost = self.api_back = None
        self.api_seen = []

    def run(self):
        last_api = 0
        pid0 = agent_status(self.dir)[1]
        while not self.stop.is_set():
            t = now()
            s, pid = agent_status(self.dir)
            # A new agent process (restarted after a kill) counts as back once Online.
            if (s != "Online" or pid != pid0) and self.agent_down is None:
                self.agent_down = t
            if s == "Online" and self.agent_down is not None and self.agent_back is None:
                self.agent_back = t
            if t - last_api > 0.5:
                last_api = t
                st = (self.w.instances() or {}).get(self.iid)
                if st:
                    self.api_seen.append((t, st))
                    if st != "Online" and self.api_lost is None:
                        self.api_lost = t
                    if st == "Online" and self.api_lost is not None and self.api_back is None:
                        self.api_back = t
            time.sleep(0.05)


# ---------------------------------------------------------------- transfers

class Transfer:
    """One checked transfer each way through `airlock port-forward` (kind pf)
    or `airlock proxy` (kind proxy) to the node-side faults_io.py serve."""

    def __init__(self, main, kind, size):
        self.m, self.kind, self.size = main, kind, size
        d = main.w.dir / f"t{main.seq}-{kind}"
        main.seq += 1
        d.mkdir()
        self.d = d
        self.out, self.progress = d / "client.json", d / "progress.json"
        self.pf = None
        cmd = [PY, IO, "client"]
        if kind == "pf":
            # --local-port 0: it binds a port itself and reports which.
            self.pf = spawn([AIRLOCK, "port-forward", main.iid, "--remote-port", str(main.sink_port),
                             "--local-port", "0"], d / "pf.stderr", main.w.env)
            deadline = now() + 30
            while "Waiting for connections" not in (d / "pf.stderr").read_text(errors="replace"):
                if now() > deadline or self.pf.poll() is not None:
                    raise RuntimeError(f"port-forward did not start: {(d / 'pf.stderr').read_text()}")
                time.sleep(0.05)
            m = re.search(r"Port (\d+) opened for sessionId", (d / "pf.stderr").read_text(errors="replace"))
            if not m:
                raise RuntimeError(f"port-forward did not say its port: {(d / 'pf.stderr').read_text()}")
            cmd += [m.group(1), main.blob, str(size), str(size), str(self.out)]
        else:
            cmd += ["0", main.blob, str(size), str(size), str(self.out)]
        cmd += ["--rate", str(RATE), "--progress", str(self.progress)]
        if kind == "proxy":
            cmd += ["--", AIRLOCK, "proxy", main.iid, str(main.sink_port)]
        self.client = spawn(cmd, d / "client.log", main.w.env)

    def moved(self):
        try:
            p = json.loads(self.progress.read_text())
            return min(p["up"], p["down"])
        except (OSError, ValueError, KeyError):
            return 0

    def result(self):
        try:
            return json.loads(self.out.read_text())
        except (OSError, ValueError):
            return None


class Scp:
    """scp of `size` bytes of the blob to the node through `airlock proxy`
    (ssh's own integrity checks inside; the file is compared at the end)."""

    kind = "scp"

    def __init__(self, main, size):
        self.m, self.size = main, size
        d = main.w.dir / f"t{main.seq}-scp"
        main.seq += 1
        d.mkdir()
        self.d = d
        self.src, self.dst = d / "src", d / "dst"
        with open(main.blob, "rb") as f, open(self.src, "wb") as o:
            left = size
            while left > 0:
                b = f.read(min(left, 16 << 20))
                o.write(b)
                left -= len(b)
        limit = ["-l", str(int(RATE * 8000))] if RATE > 0 else []
        self.t0 = now()
        self.client = spawn(["scp", "-q", *limit, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                             "-o", "LogLevel=ERROR", "-o", f"ProxyCommand={AIRLOCK} proxy %h %p", "-i", str(main.ssh_key),
                             "-P", str(main.sshd_port), str(self.src), f"{os.environ.get('USER', 'root')}@{main.iid}:{self.dst}"],
                            d / "scp.log", main.w.env)

    def moved(self):
        try:
            return self.dst.stat().st_size
        except OSError:
            return 0

    def result(self):
        import hashlib

        def sha(p):
            h = hashlib.sha256()
            try:
                with open(p, "rb") as f:
                    for b in iter(lambda: f.read(1 << 20), b""):
                        h.update(b)
            except OSError:
                return None
            return h.hexdigest()
        return {"exit": self.client.returncode, "same": sha(self.src) == sha(self.dst), "got": self.moved(),
                "log": (self.d / "scp.log").read_text(errors="replace")[-500:]}


def node_logs(logdir, before):
    out = []
    for f in sorted(Path(logdir).glob("conn-*.json")):
        if f.name not in before:
            try:
                out.append(json.loads(f.read_text()))
            except ValueError:
                pass
    return out


class Main:
    """The world for the transfer rows: server on the host, one agent and the
    node-side server in a network namespace."""

    def __init__(self, blob_size):
        self.w = World("main", netns=True)
        self.seq = 0
        self.w.start_server()
        self.w.activate(10)
        self.agent_dir = self.w.dir / "agent"
        self.iid = self.w.register(self.agent_dir)
        self.agent = self.w.start_agent(self.agent_dir)
        if not self.w.wait_online(self.iid):
            raise RuntimeError("the agent did not come online")
        self.blob = str(WORK / "blob")
        with open(self.blob, "wb") as f:
            left = blob_size
            while left > 0:
                k = min(left, 64 << 20)
                f.write(os.urandom(k))
                left -= k
        self.sink_port = SINK_PORT
        self.logdir = self.w.dir / "node-logs"
        self.logdir.mkdir()
        self.sink = spawn(self.w.in_ns([PY, IO, "serve", str(self.sink_port), self.blob, str(self.logdir)]),
                          self.w.dir / "sink.log", self.w.env)
        self.sshd_port = None
        if shutil.which("scp") and os.path.exists("/usr/sbin/sshd"):
            self.start_sshd()
        self.wait_listening([p for p in (self.sink_port, self.sshd_port) if p])

    def wait_listening(self, ports, timeout=20):
        """Waits until the node side accepts connections on every port (on
        the namespace's loopback)."""
        probe = ("import socket, sys, time\n"
                 "end = time.time() + float(sys.argv[1])\n"
                 "for p in sys.argv[2:]:\n"
                 "    while True:\n"
                 "        try:\n"
                 "            socket.create_connection(('127.0.0.1', int(p)), timeout=0.5).close()\n"
                 "            break\n"
                 "        except OSError:\n"
                 "            if time.time() > end:\n"
                 "                sys.exit(f'nothing listens on 127.0.0.1:{p}')\n"
                 "            time.sleep(0.02)\n")
        r = subprocess.run(self.w.in_ns([PY, "-c", probe, str(timeout), *map(str, ports)]),
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"the node side did not listen within {timeout} s: {r.stderr.strip()} "
                               f"(see {self.w.dir / 'sink.log'})")

    def start_sshd(self):
        """A throwaway sshd on the node's loopback, for scp through `airlock proxy`."""
        d = self.w.dir / "sshd"
        d.mkdir()
        for k in ("host", "user"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / k)], check=True)
        shutil.copy(d / "user.pub", d / "auth")
        self.sshd_port = SSHD_PORT
        (d / "config").write_text(f"Port {self.sshd_port}\nListenAddress 127.0.0.1\nHostKey {d}/host\n"
                                  f"AuthorizedKeysFile {d}/auth\nStrictModes no\nUsePAM no\n"
                                  f"PasswordAuthentication no\nPidFile none\nSubsystem sftp /usr/lib/openssh/sftp-server\n")
        os.makedirs("/run/sshd", exist_ok=True)
        self.sshd = spawn(self.w.in_ns(["/usr/sbin/sshd", "-D", "-e", "-f", str(d / "config")]), d / "log", self.w.env)
        self.ssh_key = d / "user"

    def restart_agent(self):
        self.agent = self.w.start_agent(self.agent_dir)


def size_for():
    if RATE <= 0:
        return int(knob("SIZE_MIB", 64, 1024)) << 20
    return int(RATE * 1e6 * (LEAD + TAIL))


def gaps_of(side):
    return [(a, b) for a, b in (side or {}).get("gaps", [])]


def transfer_row(m, label, fault, past_window=False, kinds=("pf",), back_target=None):
    """Runs transfers of kinds, injects fault (a function returning
    (t_fault, t_clear, notes)) once every transfer has moved LEAD seconds of
    data, and checks what each end got."""
    log(f"{label}: starting")
    before = {f.name for f in Path(m.logdir).glob("conn-*.json")}
    # Sessions of earlier rows do not count against this one.
    m.sessions_before = {x.get("SessionId") for x in (m.w.active_sessions() or [])}
    size = size_for()
    # Slow starters first (scp: an ssh handshake through a new session), each
    # moving data before the next starts, so that all run when the fault hits.
    ts = []
    for k in sorted((k for k in kinds if k != "scp" or m.sshd_port), key=lambda k: k != "scp"):
        t = Scp(m, size) if k == "scp" else Transfer(m, k, size)
        ts.append(t)
        deadline = now() + 30
        while t.moved() == 0 and t.client.poll() is None and now() < deadline:
            time.sleep(0.02)
    if "scp" in kinds and not m.sshd_port:
        log(f"{label}: no scp/sshd here: the scp transfer is skipped")
    lead_bytes = min(size // 3, int(RATE * 1e6 * LEAD)) if RATE > 0 else size // 4
    deadline = now() + 60
    while any(t.moved() < lead_bytes for t in ts):
        if now() > deadline or any(t.client.poll() is not None for t in ts):
            raise RuntimeError(f"{label}: the transfers did not get going ({[t.moved() for t in ts]})")
        time.sleep(0.02)
    watch = Watch(m.w, m.agent_dir, m.iid)
    watch.start()
    t_fault, t_clear, notes = fault()
    limit = t_fault + (RESUME_WINDOW + 45 if past_window else 0) + max(120, size / max(RATE, 1) / 1e6 * 3)
    for t in ts:
        while t.client.poll() is None and now() < max(limit, t_clear + 60):
            time.sleep(0.1)
        if t.client.poll() is None:
            notes.append(f"{t.kind} client still running: killed")
            stop_proc(t.client)
    # port-forward: past the window it must exit by itself; else it keeps listening.
    pf_exit = pf_alive = None
    for t in ts:
        if getattr(t, "pf", None) is None:
            continue
        if past_window:
            end = now() + 20
            while t.pf.poll() is None and now() < end:
                time.sleep(0.1)
        pf_alive = t.pf.poll() is None
        pf_exit = t.pf.returncode if not pf_alive else stop_proc(t.pf, signal.SIGINT, 15)
    # Sessions left open once every client is gone: the server must end them,
    # at the latest a resume window after both ends went away.
    t_end = now()
    open_left = closed_after = None
    while now() < t_end + RESUME_WINDOW + 15:
        s = m.w.active_sessions()
        open_left = None if s is None else len([x for x in s if x.get("SessionId") not in m.sessions_before])
        if open_left == 0:
            closed_after = now() - t_end
            break
        time.sleep(0.5)
    if closed_after and closed_after > 2:
        notes.append(f"the server ended this row's sessions {closed_after:.0f} s after their clients exited")
    # The agent's figure: wait for it to be back (its backoff is up to 30 s
    # once an outage passed a minute).
    while watch.agent_down is not None and watch.agent_back is None and \
            now() < t_clear + (AGENT_BACK_LONG + 5 if past_window else 45):
        time.sleep(0.2)
    watch.stop.set()
    watch.join()
    time.sleep(0.3)
    nodes = node_logs(m.logdir, before)
    return judge(label, ts, nodes, t_fault, t_clear, notes, watch, past_window, pf_exit, pf_alive, open_left,
                 back_target)


def last_line(text):
    lines = [l.strip() for l in (text or "").splitlines() if l.strip()]
    return lines[-1] if lines else ""


def reason_line(stderr):
    """The last stderr line that is not one of the usual banners."""
    usual = ("Starting session", "Port ", "Waiting for connections", "Connection accepted", "Exiting session")
    lines = [l.strip() for l in (stderr or "").splitlines() if l.strip() and not l.strip().startswith(usual)]
    return lines[-1] if lines else ""


def judge(label, ts, nodes, t_fault, t_clear, notes, watch, past_window, pf_exit, pf_alive, open_left,
          back_target=None):
    fails, stalls, resumes = [], [], []
    lost = dup = corrupt = truncated = 0
    reported = []
    # Match each client with the node's log of the same connection: the one
    # whose upload length and first byte time fit (one connection per transfer).
    for t in ts:
        r = t.result()
        if t.kind == "scp":
            if past_window:
                ok = r["exit"] not in (0, None)
                reported.append(f"scp: exit {r['exit']}, {last_line(r['log'])[:100] or '(nothing on stderr)'}")
                if not ok:
                    fails.append("scp did not report the truncation")
            elif r["exit"] != 0 or not r["same"]:
                fails.append(f"scp: exit {r['exit']}, {r['got']} of {t.size} B, "
                             f"{'identical' if r['same'] else 'different'}: {last_line(r['log'])[:120]}")
            continue
        if r is None:
            fails.append(f"{t.kind}: the client wrote no result")
            continue
        node = None
        for n in nodes:
            if n.get("up", {}).get("expected") == t.size and n.get("t0", 0) >= r["t0"] - 1 and n.get("_used") is None:
                node = n
                n["_used"] = True
                break
        down, up_sent = r["down"], r["up"]
        up = (node or {}).get("up")
        sides = [("down", down)] + ([("up", up)] if up else [])
        if up is None:
            notes.append(f"{t.kind}: the node logged no connection")
        for name, s in sides:
            lost += s["lost"]
            dup += s["duplicated"]
            corrupt += s["corrupt"]
            truncated += s["truncated"]
            g = [(a, b) for a, b in s["gaps"] if b >= t_fault - 0.5]
            if s["truncated"] and s.get("last") is not None:
                # Never resumed: the stall runs from the last byte to the end.
                stalls.append(max((b - a for a, b in g), default=0.0))
                stalls.append(max(0.0, (r["t_recv_end"] if name == "down" else node["t_end"]) - s["last"]))
            elif g:
                a, b = max(g, key=lambda x: x[1] - x[0])
                stalls.append(b - a)
                resumes.append(max(0.0, b - t_clear))
            else:
                stalls.append(0.0)
        whole = (down["end"] == "eof" and not down["truncated"] and up_sent["end"] == "complete"
                 and up is not None and up["end"] == "eof" and not up["truncated"])
        sha_ok = (up is not None and up["sha256"] == up_sent["sha256"] and
                  (node or {}).get("down", {}).get("sha256") == down["sha256"])
        if past_window:
            if whole:
                fails.append(f"{t.kind}: completed although the outage outlasted the resume window")
            if t.kind == "pf":
                # A reset may reach the writer first; then the reader sees a zero-byte read.
                how = "reset" if "reset" in (down["end"], up_sent["end"]) else down["end"]
                ok = how == "reset" and pf_exit not in (None, 0) and not pf_alive
                why = reason_line(open(t.d / "pf.stderr", errors="replace").read())
                reported.append(f"pf: local socket {'reset' if how == 'reset' else how}, exit "
                                f"{'still running' if pf_alive else pf_exit}, reason: {why or '(none)'}")
                if not ok or not why:
                    fails.append("port-forward did not report the truncation (reset, non-zero exit, reason)")
            else:
                why = reason_line(r.get("stderr"))
                reported.append(f"proxy: exit {r.get('exit')}, reason: {why or '(none)'}")
                if r.get("exit") in (None, 0) or not why:
                    fails.append("proxy did not report the truncation (non-zero exit and a reason)")
            if up is not None and up["end"] == "eof" and not whole:
                fails.append(f"{t.kind}: the node-side connection got a clean end of stream (FIN), so a reader "
                             f"on the node takes the cut stream for a whole one")
            mb = lambda b: f"{b / 1e6:.0f}"
            reported.append(f"{mb(down['expected'] - down['truncated'])} of {mb(down['expected'])} MB down, "
                            f"{mb(up['expected'] - up['truncated']) if up else '?'} MB up delivered; "
                            f"node side saw {up['end'] if up else 'no log'}")
        else:
            if not whole:
                fails.append(f"{t.kind}: incomplete (down {down['end']}, {down['truncated']} B short; up "
                             f"{up_sent['end']}, node {up['end'] if up else 'no log'}, {up['truncated'] if up else '?'} B short)")
            elif not sha_ok:
                fails.append(f"{t.kind}: sha256 differs between the ends")
            if t.kind == "pf" and pf_alive is False:
                fails.append(f"port-forward exited by itself ({pf_exit}): {reason_line(open(t.d / 'pf.stderr').read())}")
            if t.kind == "proxy" and r.get("exit") != 0:
                fails.append(f"proxy exited {r.get('exit')}: {reason_line(r.get('stderr'))}")
    if lost or dup or corrupt:
        fails.append(f"{lost} B lost, {dup} B duplicated, {corrupt} B corrupt")
    if open_left:
        fails.append(f"{open_left} session(s) still open after their clients ended")
    agent_back = None
    if watch.agent_back is not None:
        agent_back = watch.agent_back - t_clear
    api_back = watch.api_back - t_clear if watch.api_back is not None else None
    if past_window and watch.agent_down is not None and (agent_back is None or agent_back > LONG_CAP + 5):
        fails.append(f"the agent came back {'only ' + fmt(agent_back) + ' s' if agent_back else 'not within ' + str(AGENT_BACK_LONG) + ' s'} "
                     f"after the fault ended (its backoff is capped at {LONG_CAP} s)")
    if back_target is not None:
        if watch.agent_down is not None and (agent_back is None or agent_back > back_target + 1):
            fails.append(f"the agent came back {fmt(agent_back)} s after the server (target about {back_target:g} s)")
    return {
        "fault": label,
        "stall": max(stalls) if stalls else None,
        "resume": max(resumes) if resumes else None,
        "agent_back": agent_back,
        "agent_dropped": watch.agent_down is not None,
        "api_back": api_back,
        "api_lost": watch.api_lost - t_fault if watch.api_lost is not None else None,
        "lost": lost, "dup": dup, "corrupt": corrupt, "truncated": truncated,
        "past_window": past_window,
        "reported": "; ".join(reported),
        "open_left": open_left,
        "notes": notes,
        "fails": fails,
    }


# ---------------------------------------------------------------- faults

def fault_server_kill(m, down):
    def f():
        t0 = now()
        m.w.kill_server()
        time.sleep(down)
        t_back = m.w.start_server()
        return t0, t_back, [f"server down {t_back - t0:.1f} s"]
    return f


def fault_server_stop(m, secs):
    def f():
        t0 = now()
        signal_pid(m.w.server.pid, signal.SIGSTOP)
        time.sleep(secs)
        signal_pid(m.w.server.pid, signal.SIGCONT)
        return t0, now(), []
    return f


def fault_agent_kill(m):
    def f():
        pid = agent_pid(m.agent_dir) or m.agent.pid
        t0 = now()
        signal_pid(pid, signal.SIGKILL)
        m.agent.wait(5)
        time.sleep(1)  # a supervisor's restart delay
        m.restart_agent()
        return t0, now(), ["agent restarted 1 s after the kill (its session workers live on)"]
    return f


def fault_partition(m, secs):
    def f():
        t0 = now()
        m.w.partition(True)
        time.sleep(secs)
        m.w.partition(False)
        return t0, now(), []
    return f


def fault_agent_stop(m, secs):
    """SIGSTOPs the agent (not its session workers) while a transfer runs and
    an exec is started every 4 s; the node must show ConnectionLost within
    three heartbeats, and each exec must end (fail) by then, not hang."""
    def f():
        pid = agent_pid(m.agent_dir) or m.agent.pid
        execs = []
        lock = threading.Lock()

        def one(start):
            a = now()
            try:
                r = m.w.cli("exec", m.iid, "--", "true", timeout=3 * PING + 60, check=False)
                code, err = r.returncode, last_line(r.stderr)
            except subprocess.TimeoutExpired:
                code, err = None, "no answer"
            with lock:
                execs.append((a - t0, now() - a, code, err))

        t0 = now()
        signal_pid(pid, signal.SIGSTOP)
        threads = []
        while now() - t0 < secs:
            th = threading.Thread(target=one, args=(now(),), daemon=True)
            th.start()
            threads.append(th)
            time.sleep(4)
        signal_pid(pid, signal.SIGCONT)
        t1 = now()
        for th in threads:
            th.join()
        execs.sort()
        m.stop_execs = execs
        notes = [f"{len(execs)} execs during the stop: " + ", ".join(
            f"at {a:.0f} s: exit {c} after {d:.1f} s" for a, d, c, _ in execs)]
        slow = [e for e in execs if e[1] > 5]
        if slow:
            notes.append(f"the first slow exec said: {slow[0][3][:160]}")
        if execs:
            notes.append(f"the last exec said: {execs[-1][3][:160]}")
        return t0, t1, notes
    return f


# ---------------------------------------------------------------- rows

def fmt(v, digits=1):
    return "–" if v is None else f"{v:.{digits}f}"


def run_transfer_rows(rows):
    m = None
    wanted = [r for r in ("server-kill", "agent-kill", "partition", "server-stop", "agent-stop",
                          "server-kill-long", "partition-long") if r in FAULTS]
    if not wanted:
        return m
    blob = size_for() + (1 << 20)
    m = Main(blob)
    m.stop_execs = []
    plan = {
        "server-kill": (f"server kill -9, {SHORT_DOWN:g} s down", lambda: fault_server_kill(m, SHORT_DOWN), False, ("pf", "proxy", "scp")),
        "agent-kill": ("agent kill -9 (restarted after 1 s)", lambda: fault_agent_kill(m), False, ("pf",)),
        "partition": (f"partition agent ↔ server, {SHORT_PARTITION:g} s", lambda: fault_partition(m, SHORT_PARTITION), False, ("pf", "scp")),
        "server-stop": (f"server SIGSTOP, {SERVER_STOP:g} s", lambda: fault_server_stop(m, SERVER_STOP), False, ("pf",)),
        "agent-stop": (f"agent SIGSTOP, {AGENT_STOP:g} s, with traffic and an exec every 4 s", lambda: fault_agent_stop(m, AGENT_STOP), False, ("pf",)),
        "server-kill-long": (f"server kill -9, {LONG_DOWN:g} s down (past the {RESUME_WINDOW} s resume window)", lambda: fault_server_kill(m, LONG_DOWN), True, ("pf", "proxy", "scp")),
        "partition-long": (f"partition agent ↔ server, {LONG_PARTITION:g} s (past the resume window)", lambda: fault_partition(m, LONG_PARTITION), True, ("pf", "proxy", "scp")),
    }
    for name in wanted:
        label, mk, past, kinds = plan[name]
        # Each row starts from a connected node, whatever the last one left.
        heal(m)
        if not m.w.wait_online(m.iid, 90):
            rows.append({"fault": label, "fails": ["the node was not Online before the fault"], "notes": []})
            continue
        try:
            row = transfer_row(m, label, mk(), past, kinds, BACK_TARGET if name == "server-kill" else None)
        except Exception as e:  # noqa: BLE001 — a broken row is a failed row
            row = {"fault": label, "fails": [f"harness: {e}"], "notes": []}
        if name == "agent-stop":
            row.update(agent_stop_checks(m, row))
        row["key"] = name
        rows.append(row)
        log(f"{label}: {'PASS' if not row['fails'] else 'FAIL: ' + '; '.join(row['fails'])}")
    return m


def heal(m):
    """Undoes any fault a failed row may have left: a stopped or dead server
    or agent, a partition."""
    signal_pid(m.w.server.pid, signal.SIGCONT)
    if m.w.server.poll() is not None:
        m.w.start_server()
    subprocess.run(["ip", "netns", "exec", m.w.ns, "nft", "delete", "table", "inet", "airlock_faults"],
                   stderr=subprocess.DEVNULL)
    pid = agent_pid(m.agent_dir)
    if pid:
        signal_pid(pid, signal.SIGCONT)
    if m.agent.poll() is not None:
        m.restart_agent()


def agent_stop_checks(m, row):
    fails = list(row.get("fails", []))
    lost = row.get("api_lost")
    limit = 3 * PING + 5
    if lost is None or lost > limit:
        fails.append(f"the node showed Online through the stop (ConnectionLost expected within {3 * PING} s)"
                     if lost is None else f"ConnectionLost after {lost:.0f} s (expected within {3 * PING} s)")
    # An exec that fails must fail by the time the node is known lost (plus
    # 5 s), not hang on; one that waited and ran once the agent resumed is fine.
    due = (lost if lost is not None else 3 * PING) + 5
    slow = [e for e in m.stop_execs if e[2] is None or (e[2] != 0 and e[0] + e[1] > max(due, e[0] + 5))]
    if slow:
        fails.append(f"{len(slow)} exec(s) hung (up to {max(e[1] for e in slow):.0f} s) instead of failing "
                     f"once the node was lost ({fmt(lost, 0)} s after the stop)")
    ok = [e for e in m.stop_execs if e[2] == 0]
    if ok:
        row.setdefault("notes", []).append(f"{len(ok)} exec(s) started during the stop waited and ran once the agent resumed")
    stuck = [s for s in (m.w.active_sessions() or []) if s.get("Status") in ("Connecting", "Connected")
             and s.get("SessionId") not in m.sessions_before]
    hist = []
    try:
        hist = m.w.json("session", "list", "--history", timeout=10).get("Sessions", [])
    except Exception:  # noqa: BLE001
        pass
    if stuck:
        fails.append(f"{len(stuck)} session(s) left {stuck[0].get('Status')} by the failed execs")
    notes = list(row.get("notes", []))
    statuses = {}
    for s in hist:
        statuses[s.get("Status")] = statuses.get(s.get("Status"), 0) + 1
    notes.append(f"ConnectionLost in the API after {fmt(lost)} s; sessions by status: {statuses}")
    return {"fails": fails, "notes": notes}


def run_session(w, iid, command, d, during=None, timeout=120):
    """Runs an interactive command; calls during(proc) once it printed its
    first line. Returns (exit, stdout, stderr, session id)."""
    out, err = d / "stdout", d / "stderr"
    with open(out, "wb") as fo, open(err, "wb") as fe:
        p = subprocess.Popen([AIRLOCK, "session", "start", "--target", iid, "--document-name",
                              "AWS-StartInteractiveCommand", "--parameters", f"command={command}"],
                             stdin=subprocess.DEVNULL, stdout=fo, stderr=fe, env=w.env, start_new_session=True)
    registry("pid", p.pid)
    extra = None
    if during:
        deadline = now() + 30
        while b"line-" not in out.read_bytes() and now() < deadline and p.poll() is None:
            time.sleep(0.05)
        extra = during(p)
    try:
        code = p.wait(timeout)
    except subprocess.TimeoutExpired:
        stop_proc(p)
        code = None
    e = err.read_text(errors="replace")
    sid = re.search(r"SessionId: (\S+)", e)
    return code, out.read_bytes(), e, sid.group(1).rstrip(".") if sid else None, extra


LINES = 150


def lines_command(n, pause):
    # No commas: the parameter list is comma-separated.
    return f"for i in $(seq {n}); do echo line-$i-abcdefghijklmnopqrstuvwxyz0123456789; sleep {pause}; done"


def count_lines(data):
    return len(set(re.findall(rb"line-(\d+)-abcdefghijklmnopqrstuvwxyz0123456789", data)))


def replayed(w, sid, d):
    """Replays a recording: (exit, lines of the output found in it, the cast)."""
    r = w.cli("session", "replay", sid, check=False, timeout=60)
    (d / "replay.cast").write_text(r.stdout)
    text = ""
    for line in r.stdout.splitlines()[1:]:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if isinstance(ev, list) and len(ev) == 3 and ev[1] == "o":
            text += ev[2]
    return r.returncode, count_lines(text.encode()), r.stdout


def recorded_twice(cast):
    """Output lines a recording (asciicast text) holds more than once."""
    text = "".join(ev[2] for ev in map(json_or_none, cast.splitlines()[1:])
                   if isinstance(ev, list) and len(ev) == 3 and ev[1] == "o")
    seen = re.findall(r"line-(\d+)-abcdefghijklmnopqrstuvwxyz0123456789", text)
    return len(seen) - len(set(seen))


def json_or_none(line):
    try:
        return json.loads(line)
    except ValueError:
        return None


def row_recording_kill(rows, pause=0.04, key="recording-kill"):
    """A recorded shell-type session across a server kill -9 (3 s down).
    With a short pause the command finishes while the server is down: all
    its output must still reach the terminal and the recording."""
    label = f"server kill -9, {SHORT_DOWN:g} s down, during a recorded session ({LINES} lines)"
    if key == "exit-during-kill":
        label = f"server kill -9, {SHORT_DOWN:g} s down, as a recorded command ends ({LINES} lines)"
    log(f"{label}: starting")
    w = World(key)
    w.start_server()
    w.activate(2)
    ad = w.dir / "agent"
    iid = w.register(ad)
    w.start_agent(ad)
    fails, notes = [], []
    if not w.wait_online(iid):
        rows.append({"fault": label, "fails": ["the node did not come online"], "notes": [], "key": key})
        return
    d = w.dir / "s"
    d.mkdir()
    times = {}

    def during(p):
        time.sleep(1.0)
        times["fault"] = now()
        w.kill_server()
        time.sleep(SHORT_DOWN)
        times["back"] = w.start_server()
        return None

    watch_dir = ad
    code, out, err, sid, _ = run_session(w, iid, lines_command(LINES, pause), d, during)
    got = count_lines(out)
    if code != 0:
        fails.append(f"the session exited {code}: {last_line(err)}")
    if got != LINES:
        fails.append(f"the terminal got {got} of {LINES} lines")
    rc, rep, cast = replayed(w, sid, d) if sid else (None, 0, "")
    if rep != LINES:
        fails.append(f"the recording replays {rep} of {LINES} lines (replay exit {rc})")
    twice = recorded_twice(cast)
    if twice:
        fails.append(f"the recording holds {twice} lines more than once")
    show = {}
    try:
        show = json.loads(w.cli("session", "show", sid).stdout) if sid else {}
    except Exception as e:  # noqa: BLE001
        notes.append(f"session show: {e}")
    notes.append(f"session {show.get('Status')}, recording {show.get('RecordingStatus')}")
    if show.get("Status") in ("Connected", "Connecting"):
        fails.append(f"the session is still {show.get('Status')} after its client exited")
    state_back = None
    rows.append({"fault": label, "key": key, "fails": fails, "notes": notes,
                 "lost": LINES - min(got, rep) if got else None, "dup": twice,
                 "reported": f"terminal {got}/{LINES} lines, replay {rep}/{LINES}",
                 "open_left": None, "stall": None, "resume": None, "agent_back": state_back})
    log(f"{label}: {'PASS' if not fails else 'FAIL: ' + '; '.join(fails)}")
    w.kill_server()
    kill_world(w)


def row_disk_full(rows):
    label = "disk full (state directory on a 48 MB tmpfs) during a recorded session"
    log(f"{label}: starting")
    w = World("diskfull", tmpfs="48m")
    w.start_server()
    w.activate(2)
    ad = w.dir / "agent"
    iid = w.register(ad)
    w.start_agent(ad)
    fails, notes = [], []
    if not w.wait_online(iid):
        rows.append({"fault": label, "fails": ["the node did not come online"], "notes": [], "key": "disk-full"})
        return
    w.cli("session", "preferences", "--recording-min-free-space-mb", "0")
    d = w.dir / "s"
    d.mkdir()
    filler = w.state / "filler"
    probe = {}

    def during(p):
        time.sleep(1.0)
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1M"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        probe["full_at"] = now()
        time.sleep(0.5)
        probe["read"] = [w.cli(*a, check=False, timeout=20).returncode for a in
                         (("instances",), ("session", "list"), ("iam", "list-users"))]
        r = w.cli("iam", "create-user", "--user-name", "while-full", check=False, timeout=20)
        probe["write"] = (r.returncode, last_line(r.stderr))
        return None

    code, out, err, sid, _ = run_session(w, iid, lines_command(LINES, 0.04), d, during)
    got = count_lines(out)
    if code != 0:
        fails.append(f"the session exited {code}: {last_line(err)}")
    if got != LINES:
        fails.append(f"the terminal got {got} of {LINES} lines")
    reads = probe.get("read", [])
    if any(c != 0 for c in reads):
        fails.append(f"reads failed while the disk was full (exit codes {reads})")
    wc, werr = probe.get("write", (None, ""))
    if wc == 0:
        notes.append("a write succeeded while the disk was full")
    elif "the state directory's disk is full" not in werr:
        fails.append(f"a write on a full disk said: {werr[:160]!r} (expected “the state directory's disk is full”)")
    def show_session():
        try:
            return json.loads(w.cli("session", "show", sid).stdout) if sid else {}
        except Exception as e:  # noqa: BLE001
            fails.append(f"session show failed: {e}")
            return {}

    full = show_session()  # the disk is still full
    # Space returns: writes work again without a restart.
    filler.unlink()
    t0 = now()
    recovered = None
    while now() - t0 < 15:
        if w.cli("iam", "create-user", "--user-name", f"after-full-{int(now() * 1000)}", check=False).returncode == 0:
            recovered = now() - t0
            break
        time.sleep(0.5)
    if recovered is None:
        fails.append("writes still fail 15 s after the space returned")
    # The session's record once space is back: it ended, and its recording says it failed.
    show = show_session()
    while show.get("Status") in ("Connected", "Connecting") and now() - t0 < 15:
        time.sleep(0.5)
        show = show_session()
    rs, rr = show.get("RecordingStatus"), show.get("RecordingStatusReason")
    if rs not in ("Failed", "Truncated"):
        fails.append(f"RecordingStatus {rs} (the recording ran out of space: Failed or Truncated expected)")
    if show.get("Status") in ("Connected", "Connecting"):
        fails.append(f"the session is still {show.get('Status')} 15 s after it ended and space returned")
    rc, rep, cast = replayed(w, sid, d) if sid else (None, 0, "")
    broken = 0
    for line in cast.splitlines():
        try:
            json.loads(line)
        except ValueError:
            broken += 1
    if broken:
        fails.append(f"the recording has {broken} broken line(s)")
    notes.append(f"write while full: exit {wc}, {werr[:110]!r}; while full the session showed {full.get('Status')}, "
                 f"recording {full.get('RecordingStatus')}; after: session {show.get('Status')}, recording {rs} ({rr}); "
                 f"replay {rep} of {LINES} lines; writes back {fmt(recovered)} s after space returned")
    # Keep a copy of the state (the tmpfs goes at cleanup) for KEEP=1.
    shutil.copytree(w.state, w.dir / "state-copy", ignore=shutil.ignore_patterns("filler"), dirs_exist_ok=True)
    rows.append({"fault": label, "key": "disk-full", "fails": fails, "notes": notes,
                 "lost": LINES - got, "dup": 0,
                 "reported": f"recording {rs}: {rr}" if rs else "",
                 "open_left": None, "stall": None, "resume": None, "agent_back": None})
    log(f"{label}: {'PASS' if not fails else 'FAIL: ' + '; '.join(fails)}")
    w.kill_server()
    kill_world(w)


def row_iam_kill(rows):
    label = f"server kill -9 during IAM writes, {IAM_KILLS} times"
    log(f"{label}: starting")
    w = World("iam")
    w.start_server()
    w.cli("iam", "create-user", "--user-name", "base")
    acked = {"users": set(), "policies": set()}
    attempts = 0
    lock = threading.Lock()
    fails, notes = [], []
    stop = threading.Event()
    doc = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ssm:DescribeSessions","Resource":"*"}]}'

    def writer(kind, k):
        nonlocal attempts
        i = 0
        while not stop.is_set():
            i += 1
            name = f"w{k}-{i}"
            if kind == "users":
                args = ("iam", "create-user", "--user-name", name)
            else:
                args = ("iam", "put-user-policy", "--user-name", "base", "--policy-name", name,
                        "--policy-document", doc)
            try:
                r = w.cli(*args, check=False, timeout=15)
            except subprocess.TimeoutExpired:
                continue
            with lock:
                attempts += 1
                if r.returncode == 0:
                    acked[kind].add(name)
            if r.returncode != 0:
                time.sleep(0.05)

    threads = [threading.Thread(target=writer, args=(k, n), daemon=True)
               for n, k in enumerate(("users", "users", "policies"))]
    for t in threads:
        t.start()
    starts = []
    for n in range(IAM_KILLS):
        time.sleep(random.uniform(0.3, 1.5))
        w.kill_server()
        time.sleep(0.2)
        t0 = now()
        try:
            w.start_server()
        except RuntimeError as e:
            fails.append(f"after kill {n + 1}: {e}")
            break
        starts.append(now() - t0)
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join(30)
    if not fails:
        users = {u["UserName"] for u in w.json("iam", "list-users").get("Users", [])}
        pols = set(w.json("iam", "list-user-policies", "--user-name", "base").get("PolicyNames", []))
        mu = acked["users"] - users
        mp = acked["policies"] - pols
        if mu or mp:
            fails.append(f"acknowledged writes missing after the kills: {len(mu)} users {sorted(mu)[:5]}, "
                         f"{len(mp)} policies {sorted(mp)[:5]}")
        r = subprocess.run(["sqlite3", str(w.state / "airlock.db"), "PRAGMA integrity_check"], capture_output=True,
                           text=True) if shutil.which("sqlite3") else None
        if r is not None and r.stdout.strip() != "ok":
            fails.append(f"integrity_check: {r.stdout.strip()[:200]}")
    n_acked = len(acked["users"]) + len(acked["policies"])
    notes.append(f"{attempts} writes tried, {n_acked} acknowledged, all present; "
                 f"restart to healthy: median {fmt(statistics.median(starts) if starts else None, 2)} s")
    rows.append({"fault": label, "key": "iam-kill", "fails": fails, "notes": notes, "lost": 0 if not fails else None,
                 "dup": 0, "reported": f"{n_acked} acknowledged writes checked", "open_left": None,
                 "stall": None, "resume": None, "agent_back": None})
    log(f"{label}: {'PASS' if not fails else 'FAIL: ' + '; '.join(fails)}")
    w.kill_server()
    kill_world(w)


# ---------------------------------------------------------------- reconnect

def parse_ts(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def online_times(logfile, since):
    """Times of the server's "agent online" lines after `since`, by instance."""
    out = {}
    with open(logfile, errors="replace") as f:
        for line in f:
            if '"agent online"' not in line:
                continue
            try:
                v = json.loads(line)
            except ValueError:
                continue
            t = parse_ts(v["timestamp"])
            if t >= since:
                out.setdefault(v["fields"].get("instance"), t)
    return out


def cpu_ticks(pid):
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])
    except (OSError, IndexError, ValueError):
        return 0


def reconnect(n):
    """n real agents (`airlock agent run`, their own backoff) against one
    server killed -9 and restarted RESTARTS times, 3 s down, a few seconds
    apart. Returns per-restart figures."""
    log(f"reconnect: {n} agents")
    w = World(f"reconnect-{n}")
    w.start_server()
    w.activate(max(n, 1))
    dirs = [w.dir / f"a{k:04d}" for k in range(n)]
    t0 = now()
    # Registration in parallel (a few at a time).
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(w.register, dirs))
    reg_s = now() - t0
    t_start = now()
    for d in dirs:
        w.start_agent(d, log=False)
    deadline = now() + 120 + n * 0.05
    while len(online_times(w.server_log, t_start)) < n and now() < deadline:
        time.sleep(0.5)
    first = len(online_times(w.server_log, t_start))
    log(f"reconnect: {first} of {n} online, registration {reg_s:.1f} s")
    out = []
    for k in range(RESTARTS):
        time.sleep(3)
        t_kill = now()
        w.kill_server()
        time.sleep(SHORT_DOWN)
        t_back = w.start_server()
        c0 = cpu_ticks(w.server.pid)
        deadline = t_back + 90
        while now() < deadline:
            times = online_times(w.server_log, t_back - 0.5)
            if len(times) >= n:
                break
            time.sleep(0.25)
        c1, t1 = cpu_ticks(w.server.pid), now()
        times = online_times(w.server_log, t_back - 0.5)
        after = sorted(max(0.0, t - t_back) for t in times.values())
        per_s = {}
        for t in times.values():
            per_s[int(t - t_back)] = per_s.get(int(t - t_back), 0) + 1
        out.append({
            "restart": k + 1, "agents": n, "back": len(after), "down": t_back - t_kill,
            "all": after[-1] if len(after) == n else None,
            "p50": statistics.median(after) if after else None,
            "p99": after[min(len(after) - 1, int(len(after) * 0.99))] if after else None,
            "peak_rate": max(per_s.values()) if per_s else 0,
            "mean_rate": len(after) / after[-1] if after and after[-1] > 0 else None,
            "cpu": 100 * (c1 - c0) / os.sysconf("SC_CLK_TCK") / max(t1 - t_back, 1e-3),
        })
        log(f"reconnect: restart {k + 1}: {len(after)} of {n} back, all within {fmt(out[-1]['all'], 2)} s")
    w.kill_server()
    kill_world(w)
    return out


# ---------------------------------------------------------------- report

def verdict(r):
    return "**pass**" if not r["fails"] else "**FAIL**: " + "; ".join(r["fails"])


def table(rows):
    out = ["| fault | stall, s | agent back after, s | session resumed after, s | bytes lost | bytes duplicated | "
           "truncation reported | sessions left open | result | notes |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ab = r.get("agent_back")
        if ab is None and r.get("agent_dropped") is False:
            ab_s = "stayed connected"
        else:
            ab_s = fmt(ab, 2)
        if r.get("past_window"):
            rep = ("yes" if not any("report" in f for f in r["fails"]) else "**no**") + f" ({r.get('reported')})"
        else:
            rep = r.get("reported") or "n/a (completed)"
        lost = r.get("lost")
        out.append(f"| {r['fault']} | {fmt(r.get('stall'))} | {ab_s} | {fmt(r.get('resume'))} | "
                   f"{'–' if lost is None else lost} | {r.get('dup', '–')} | {rep} | "
                   f"{'–' if r.get('open_left') is None else r['open_left']} | {verdict(r)} | "
                   f"{'; '.join(r.get('notes', []))} |")
    return "\n".join(out)


def reconnect_table(results):
    out = ["| agents | restart | server down, s | back / agents | p50 back, s | p99 back, s | all back, s | "
           "peak agents online per second | mean per second until all back | server CPU until all back, % of a core |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        out.append(f"| {r['agents']} | {r['restart']} | {r['down']:.1f} | {r['back']} / {r['agents']} | "
                   f"{fmt(r['p50'], 2)} | {fmt(r['p99'], 2)} | {fmt(r['all'], 2)} | {r['peak_rate']} | "
                   f"{fmt(r['mean_rate'], 0)} | {fmt(r['cpu'], 0)} |")
    return "\n".join(out)


def main():
    global WORK, RUN_ENV
    cmd, WORK = sys.argv[1], Path(sys.argv[2]).resolve()
    if cmd == "cleanup":
        cleanup(WORK)
        return 0
    RUN_ENV = dict(os.environ, FAULTS_RUN=str(WORK))  # the mark cleanup looks for
    # Orphans (an agent's session workers) come back to us, for cleanup.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
    except OSError:
        pass
    started = now()
    rows, rec = [], []
    try:
        m = run_transfer_rows(rows)
        if m is not None:
            m.w.kill_server()
            kill_world(m.w)
        if "recording-kill" in FAULTS:
            try:
                row_recording_kill(rows)
            except Exception as e:  # noqa: BLE001
                rows.append({"fault": "server kill -9 during a recorded session", "fails": [f"harness: {e}"], "notes": []})
        if "exit-during-kill" in FAULTS:
            try:
                row_recording_kill(rows, pause=0.006, key="exit-during-kill")
            except Exception as e:  # noqa: BLE001
                rows.append({"fault": "server kill -9 as a recorded command ends", "fails": [f"harness: {e}"], "notes": []})
        if "disk-full" in FAULTS:
            try:
                row_disk_full(rows)
            except Exception as e:  # noqa: BLE001
                rows.append({"fault": "disk full during a recorded session", "fails": [f"harness: {e}"], "notes": []})
        if "iam-kill" in FAULTS:
            try:
                row_iam_kill(rows)
            except Exception as e:  # noqa: BLE001
                rows.append({"fault": "server kill -9 during IAM writes", "fails": [f"harness: {e}"], "notes": []})
        if "reconnect" in FAULTS:
            for n in AGENTS.split():
                try:
                    rec += reconnect(int(n))
                except Exception as e:  # noqa: BLE001
                    rows.append({"fault": f"reconnect, {n} agents", "fails": [f"harness: {e}"], "notes": []})
    finally:
        cleanup(WORK)
    took = now() - started
    for r in rec:
        if r["all"] is None:
            rows.append({"fault": f"reconnect, {r['agents']} agents, restart {r['restart']}",
                         "fails": [f"only {r['back']} of {r['agents']} back within 90 s"], "notes": []})
        elif r["agents"] <= 100 and r["all"] > BACK_TARGET + 1:
            rows.append({"fault": f"reconnect, {r['agents']} agents, restart {r['restart']}",
                         "fails": [f"all back only after {r['all']:.1f} s (target about {BACK_TARGET:g} s)"], "notes": []})
    build = "release" if "/release/" in AIRLOCK else "debug"
    print(f"<!-- took {took:.0f} s, {build} build, MODE={MODE}, RATE={RATE:g} MB/s, LEAD={LEAD:g} s, "
          f"TAIL={TAIL:g} s, PING_INTERVAL={PING} s -->")
    if rows:
        print("## faults\n")
        print(table(rows))
    if rec:
        print("\n## reconnect\n")
        print(reconnect_table(rec))
    failed = [r for r in rows if r.get("fails")]
    log(f"done in {took:.0f} s: {len(rows) - len(failed)} of {len(rows)} rows pass")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
