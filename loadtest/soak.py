#!/usr/bin/env python3
"""make soak: the nemesis soak.

Three nodes in Redis mode, a Redis master with one replica and three Sentinels, all on free
loopback ports, under moderate load from the bundled generator (bin/tso loadgen: HTTP, gRPC unary
and gRPC stream, each spread over all three members), while a nemesis injects faults at random
for DURATION, at most two at a time:

  nodes   kill -9, SIGSTOP/SIGCONT, SIGTERM (restarted with the same data directory), a node's
          link to Redis cut (reset) or blackholed (stalled), a node's wall clock stepped within
          +-500 ms (the stated bound: node clocks within the lease TTL of each other)
  Redis   the master restarted empty, paused (SIGSTOP/SIGCONT), failed over by Sentinel, its wall
          clock jumped 2-8 s either way; {tso:C}:leader deleted or overwritten with garbage
          (random bytes, a bad checksum, a newer version, cut short, a list; with or without a
          TTL), {tso:C}:epoch deleted

Topology, and where the per-node proxy fits: every node is started (and restarted) either in
*direct* mode or in *Sentinel* mode, at random, so that each mode is always present and every
node runs in both over a run. A direct-mode node reaches Redis through its own TCP proxy in this
script, which can cut or blackhole that node's link alone; the proxies follow the master that
Sentinel elects, as an HAProxy with a role check in front of Sentinel-managed Redis would, and
reset their sessions when it moves. A Sentinel-mode node asks the Sentinels and connects to the
master directly: no proxy can sit in that path for one node alone (every node is given the same
address), so such a node is never cut; it meets failovers, stale masters and the rest as a real
Sentinel client does.

Clock faults use the LD_PRELOAD library src/test/c/clockshift.c (compiled here with gcc; a file
per process holds its offset in ms, replaced atomically). Without gcc or the source, clock faults
are skipped, and the report says so.

At the end every answer of every generator (--history) is checked together
(tso.loadgen.HistoryCheck): no timestamp twice, real-time order across processes, epochs never
lower on a connection nor in real time. Also: no node exited by itself (only those the nemesis
killed or stopped), each node incarnation's RSS, recovery after each fault. The report goes to
loadtest/results/soak-<date>.md and .json. Exit 0 when it all holds, 1 on a violation or an
unexpected exit (or a cluster that did not serve again once the faults stopped), 2 when the soak
itself could not run, 130 when interrupted.

Redis safety: the guarantees assume one Redis primary at a time, and a failover that keeps what
counted (README, "the caveat"). REDIS_SAFETY=on (the default) runs the configuration the README
gives for a primary with Sentinel: the nodes WAIT for a replica after every campaign and fenced
write (TSO_REDIS_MIN_REPLICAS=1), Redis refuses writes without a replica close behind
(min-replicas-to-write 1, min-replicas-max-lag 1 s, below the TTL), and resyncs start at once
(repl-diskless-sync-delay 0). The Redis servers keep no data across a restart, on purpose: a
restart is the "restarted empty" fault. REDIS_SAFETY=off runs Redis and the nodes with their
defaults: failovers can then lose what counted or leave two primaries, outside the stated
assumptions, and the history check shows what that costs.

Environment: DURATION (10m; 90s, 2m, 1h, plain seconds), SEED (the fault sequence; random when
unset, printed to repeat a run), RATE (requests/s in all, default 2000), TTL_MS (lease TTL,
default 1500), REDIS_SAFETY (on, off), OUT (results directory), KEEP=1 (keep the temporary
directory: logs, histories; kept anyway when the run fails). Other TSO_* variables reach the
nodes as they are.
"""

import datetime
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from machine import describe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TSO = os.path.join(ROOT, "bin", "tso")
JAR = os.path.join(ROOT, "target", "tso.jar")
OUT = os.environ.get("OUT", os.path.join(ROOT, "loadtest", "results"))
CLUSTER = "soak"
MASTER_NAME = "tso"
LEADER_KEY = "{tso:%s}:leader" % CLUSTER
EPOCH_KEY = "{tso:%s}:epoch" % CLUSTER
NODE_JAVA_OPTS = "-Xmx256m -XX:+ExitOnOutOfMemoryError"
SHUTDOWN_GRACE_MS = 3000
WARMUP_S = 6  # the generators' warm-up (the JVMs start cold), before the nemesis starts
TAIL_S = 12  # load after the nemesis stops: the cluster must serve again
SENTINEL_DOWN_AFTER_MS = 2000
NODE_CLOCK_BOUND_MS = 500  # "node wall clocks within the lease TTL of each other"
RSS_SETTLE_S = 20  # an incarnation's RSS baseline: its largest in the first 20 s (heap sizing, JIT)
# Growth after that which is flagged, when it is also more than the baseline itself: generous on
# purpose, since the heap (-Xmx256m) may fill up to its maximum long after start-up without a leak.
RSS_FLAG_MIB = 256
PROBE_S = 60  # after the nemesis, how long each node has to answer a timestamp request
CONNECT_BACKOFF_MS = 200  # a generator's connection to a member that is down waits this long to retry
MAX_CONCURRENT_FAULTS = 2

PROCS = []  # every process started, for the clean-up
T0 = time.monotonic()
LOG_LINES = []


def parse_duration(text):
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", text)
    if not m:
        raise ValueError("DURATION=%r: expected e.g. 90s, 2m, 10m, 1h" % text)
    n = float(m.group(1))
    return n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2) or "s"]


def since():
    return time.monotonic() - T0


def log(msg):
    line = "%7.1fs %s" % (since(), msg)
    LOG_LINES.append(line)
    print(line, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, method="GET", timeout=1.0):
    """(status, body); (None, "") when there was no answer."""
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None,
                                 headers={"content-type": "application/json"} if method == "POST" else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except Exception:  # refused, reset, timed out, half an answer: all the same here
        return None, ""


def wait_until(check, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    raise RuntimeError("gave up after %.0f s waiting for %s" % (seconds, what))


SETPRIV = shutil.which("setpriv")


def spawn(cmd, log_path, env=None):
    """A child in its own session (a terminal's Ctrl-C reaches only this script, which then cleans
    up in order) that dies with this script even if the script is killed (setpriv --pdeathsig)."""
    if SETPRIV:
        cmd = [SETPRIV, "--pdeathsig", "KILL", "--"] + cmd
    out = open(log_path, "ab")
    p = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    out.close()
    PROCS.append(p)
    return p


def stop_process(p, sig=signal.SIGTERM, wait=10):
    """Sends sig (SIGCONT too, in case it is stopped) and waits; SIGKILL after `wait` seconds.
    Returns (exit code, whether it had to be killed)."""
    if p.poll() is not None:
        return p.returncode, False
    try:
        p.send_signal(sig)
        if sig != signal.SIGKILL:
            p.send_signal(signal.SIGCONT)
        return p.wait(wait), False
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait(10), True
    except ProcessLookupError:
        return p.wait(10), False


def write_offset(path, ms):
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write("%d\n" % ms)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------- Redis

class RedisError(Exception):
    pass


def resp(port, *args, timeout=1.0):
    """One Redis command over a fresh connection; the reply as Python values."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    with socket.create_connection(("127.0.0.1", port), timeout) as s:
        s.settimeout(timeout)
        s.sendall(out)
        return _reply(s.makefile("rb"))


def _reply(f):
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise RedisError("connection closed")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RedisError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_reply(f) for _ in range(n)]
    raise RedisError("unexpected reply %r" % line)


def redis_server():
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server on PATH (Debian: apt-get install redis-server)")
    return found


class Redis:
    """One redis-server on a fixed port, without persistence: a restart comes back empty."""

    def __init__(self, name, tmp, clock_lib, replica_of=None, extra_args=()):
        self.name = name
        self.extra_args = list(extra_args)
        self.port = free_port()
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir)
        self.log = os.path.join(tmp, name + ".log")
        self.clock_file = os.path.join(tmp, name + ".clock")
        self.clock_ms = 0
        write_offset(self.clock_file, 0)
        self.clock_lib = clock_lib
        self.replica_of = replica_of
        self.proc = None
        self.paused = False

    def start(self, replica_of="keep"):
        """Starts it empty; as a replica of replica_of (by default, what it was), or a master (None)."""
        if replica_of != "keep":
            self.replica_of = replica_of
        env = dict(os.environ)
        if self.clock_lib:
            env.update({"LD_PRELOAD": self.clock_lib, "CLOCKSHIFT_FILE": self.clock_file})
        cmd = [redis_server(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", self.dir, "--daemonize", "no"] + self.extra_args
        if self.replica_of:
            cmd += ["--replicaof", "127.0.0.1", str(self.replica_of.port)]
        self.proc = spawn(cmd, self.log, env)
        self.paused = False
        wait_until(self.ping, 15, self.name + " to answer PING")

    def ping(self):
        try:
            return resp(self.port, "PING", timeout=0.5) == "PONG"
        except (OSError, RedisError):
            return False

    def kill(self):
        if self.proc:
            stop_process(self.proc, signal.SIGKILL)

    def set_clock(self, ms):
        self.clock_ms = ms
        write_offset(self.clock_file, ms)


class Sentinel:
    def __init__(self, name, tmp, master):
        self.name = name
        self.port = free_port()
        self.conf = os.path.join(tmp, name + ".conf")
        with open(self.conf, "w") as f:
            f.write("port %d\nbind 127.0.0.1\ndir %s\n" % (self.port, tmp))
            f.write("sentinel monitor %s 127.0.0.1 %d 2\n" % (MASTER_NAME, master.port))
            f.write("sentinel down-after-milliseconds %s %d\n" % (MASTER_NAME, SENTINEL_DOWN_AFTER_MS))
            f.write("sentinel failover-timeout %s 10000\n" % MASTER_NAME)
            f.write("sentinel parallel-syncs %s 1\n" % MASTER_NAME)
        self.proc = spawn([redis_server(), self.conf, "--sentinel"], os.path.join(tmp, name + ".log"))
        wait_until(self.answers, 15, name + " to answer")

    def answers(self):
        try:
            return resp(self.port, "PING", timeout=0.5) == "PONG"
        except (OSError, RedisError):
            return False

    def master_port(self):
        try:
            r = resp(self.port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME, timeout=0.5)
            return int(r[1]) if r else None
        except (OSError, RedisError, ValueError, IndexError, TypeError):
            return None

    def stop(self):
        stop_process(self.proc, signal.SIGTERM, 5)


# ------------------------------------------------------------------------------------- proxy

def _drop(sock):
    """Closes with a reset, waking any thread blocked on it."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    except OSError:
        pass
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class Proxy:
    """A node's own TCP path to Redis. Modes: pass; cut (every connection reset, new ones reset
    at once); blackhole (nothing forwarded either way, new connections accepted and left hanging;
    on heal what waited goes through, as after a partition heals)."""

    def __init__(self, name, upstream_port):
        self.name = name
        self.upstream = upstream_port
        self.mode = "pass"
        self.cond = threading.Condition()
        self.pairs = set()
        self.closed = False
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, name="proxy-" + name, daemon=True).start()

    def set_mode(self, mode):
        with self.cond:
            self.mode = mode
            pairs = list(self.pairs) if mode == "cut" else []
            self.cond.notify_all()
        for pair in pairs:
            self._close(pair)

    def retarget(self, port):
        """The master moved: new connections go to it, and the sessions to the old one are reset."""
        with self.cond:
            self.upstream = port
            pairs = list(self.pairs)
        for pair in pairs:
            self._close(pair)

    def close(self):
        self.closed = True
        self.set_mode("cut")
        _drop(self.listener)

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.listener.accept()
            except OSError:
                return
            with self.cond:
                mode = self.mode
            if mode == "cut":
                _drop(c)
                continue
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        with self.cond:
            while self.mode == "blackhole" and not self.closed:
                self.cond.wait()
            if self.mode == "cut" or self.closed:
                _drop(c)
                return
            upstream = self.upstream
        try:
            u = socket.create_connection(("127.0.0.1", upstream), timeout=2)
            u.settimeout(None)
        except OSError:
            _drop(c)
            return
        for s in (c, u):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pair = (c, u)
        with self.cond:
            self.pairs.add(pair)
        threading.Thread(target=self._pump, args=(c, u, pair), daemon=True).start()
        self._pump(u, c, pair)

    def _pump(self, src, dst, pair):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                break
            if not data:
                break
            with self.cond:
                while self.mode == "blackhole" and pair in self.pairs:
                    self.cond.wait()
                if pair not in self.pairs:
                    break
            try:
                dst.sendall(data)
            except OSError:
                break
        self._close(pair)

    def _close(self, pair):
        with self.cond:
            self.pairs.discard(pair)
            self.cond.notify_all()
        for s in pair:
            _drop(s)


# ------------------------------------------------------------------------------------- nodes

class Node:
    def __init__(self, index, tmp, clock_lib, ttl_ms):
        self.index = index
        self.name = "n%d" % (index + 1)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.data = os.path.join(tmp, self.name)
        self.log = os.path.join(tmp, self.name + ".log")
        self.clock_file = os.path.join(tmp, self.name + ".clock")
        self.clock_ms = 0
        write_offset(self.clock_file, 0)
        self.clock_lib = clock_lib
        self.ttl_ms = ttl_ms
        self.proxy = None
        self.sentinel_url = None
        self.extra_env = {}
        self.mode = None
        self.proc = None
        self.expected_exit = False
        self.paused = False
        self.incarnations = []
        self.lock = threading.Lock()

    def start(self, mode):
        """Starts an incarnation in direct mode (through this node's proxy) or Sentinel mode."""
        assert self.proc is None or self.proc.poll() is not None, self.name + " is running"
        self.mode = mode
        env = dict(os.environ)
        env.update({"TSO_HOST": "127.0.0.1", "TSO_PORT": str(self.port), "TSO_NODE_ID": self.name,
                    "TSO_ADVERTISE": "127.0.0.1:%d" % self.port, "TSO_DATA_DIR": self.data,
                    "TSO_LEASE_TTL_MS": str(self.ttl_ms), "TSO_CLUSTER": CLUSTER, "TSO_WARMUP_MS": "0",
                    "TSO_SHUTDOWN_GRACE_MS": str(SHUTDOWN_GRACE_MS), "JAVA_OPTS": NODE_JAVA_OPTS})
        env.pop("TSO_REDIS_SENTINEL_MASTER", None)
        env.update(self.extra_env)
        if mode == "direct":
            env["TSO_REDIS_URL"] = "redis://127.0.0.1:%d" % self.proxy.port
        else:
            env.update({"TSO_REDIS_URL": self.sentinel_url, "TSO_REDIS_SENTINEL_MASTER": MASTER_NAME})
        if self.clock_lib:
            env.update({"LD_PRELOAD": self.clock_lib, "CLOCKSHIFT_FILE": self.clock_file})
        with open(self.log, "a") as f:
            f.write("\n===== soak: %s incarnation %d, %s mode, at %.1f s =====\n" % (
                self.name, len(self.incarnations) + 1, self.mode, since()))
        with self.lock:
            self.proc = spawn([TSO, "server"], self.log, env)
            self.expected_exit = False
            self.paused = False
            self.incarnations.append({"node": self.name, "incarnation": len(self.incarnations) + 1,
                                      "pid": self.proc.pid, "mode": self.mode, "startedS": round(since(), 1),
                                      "liveAfterS": None, "endedS": None, "end": None, "exitCode": None,
                                      "rss": []})

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def ready(self):
        return http(self.url + "/health/ready", timeout=0.5)[0] == 200

    def leader_view(self):
        status, body = http(self.url + "/v1/leader", timeout=0.5)
        try:
            return json.loads(body) if status == 200 else None
        except ValueError:
            return None

    def ended(self, how):
        with self.lock:
            inc = self.incarnations[-1]
            if inc["endedS"] is None:
                inc["endedS"] = round(since(), 1)
                inc["end"] = how
                inc["exitCode"] = self.proc.returncode

    def kill(self):
        self.expected_exit = True
        stop_process(self.proc, signal.SIGKILL)
        self.ended("killed (SIGKILL)")

    def check_live(self):
        """Notes when this incarnation first answered /health/live (it listens: start-up is over)."""
        inc = self.incarnations[-1]
        if inc["liveAfterS"] is None and self.running() and not self.paused:
            if http(self.url + "/health/live", timeout=0.3)[0] == 200:
                inc["liveAfterS"] = round(since() - inc["startedS"], 1)
        return inc["liveAfterS"] is not None

    def terminate(self, why="stopped (SIGTERM)"):
        """SIGTERM and wait for the exit. Returns (finding, warning): a finding when it did not go
        as the contract says (exit 0 after the requests in flight); only a warning for an exit code
        other than 0 when it came before the node was listening (still starting)."""
        self.expected_exit = True
        live = self.check_live()
        code, killed = stop_process(self.proc, signal.SIGTERM, SHUTDOWN_GRACE_MS / 1000 + 10)
        if killed:
            self.ended(why + ", did not exit in %.0f s: killed" % (SHUTDOWN_GRACE_MS / 1000 + 10))
            return "%s did not exit within %.0f s of SIGTERM" % (self.name, SHUTDOWN_GRACE_MS / 1000 + 10), None
        self.ended(why + ", exit %s%s" % (code, "" if live else " (still starting)"))
        if code != 0 and live:
            return "%s exited %s after SIGTERM (expected 0)" % (self.name, code), None
        if code != 0:
            return None, "%s exited %s after a SIGTERM that came while it was still starting (not yet listening)" % (
                self.name, code)
        return None, None

    def pause(self):
        self.paused = True
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        if self.paused and self.running():
            self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def set_clock(self, ms):
        self.clock_ms = ms
        write_offset(self.clock_file, ms)

    def sample_rss(self):
        with self.lock:
            p = self.proc
            if p is None or p.poll() is not None:
                return
            try:
                with open("/proc/%d/status" % p.pid) as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            self.incarnations[-1]["rss"].append((round(since(), 1), int(line.split()[1]) // 1024))
                            return
            except OSError:
                pass


# ------------------------------------------------------------------------------------- soak

class Soak:
    def __init__(self):
        self.duration = parse_duration(os.environ.get("DURATION", "10m"))
        seed = os.environ.get("SEED")
        self.seed = int(seed) if seed else random.SystemRandom().randrange(1, 2 ** 31)
        self.rng = random.Random(self.seed)
        self.rate = float(os.environ.get("RATE", "2000"))
        self.ttl_ms = int(os.environ.get("TTL_MS", "1500"))
        self.safety = os.environ.get("REDIS_SAFETY", "on")
        if self.safety not in ("on", "off"):
            raise ValueError("REDIS_SAFETY=%r: expected on or off" % self.safety)
        # The README's configuration for a primary with Sentinel (see REDIS_SAFETY in the docstring).
        self.redis_args = (["--min-replicas-to-write", "1", "--min-replicas-max-lag", "1",
                            "--repl-diskless-sync-delay", "0"] if self.safety == "on" else [])
        self.node_env = {"TSO_REDIS_MIN_REPLICAS": os.environ.get("TSO_REDIS_MIN_REPLICAS", "1")} \
            if self.safety == "on" else {}
        self.tmp = tempfile.mkdtemp(prefix="tso-soak-")
        self.clock_lib = None
        self.clock_note = ""
        self.redis = []
        self.master = None
        self.master_moves = []
        self.sentinels = []
        self.nodes = []
        self.loadgens = []
        self.faults = []
        self.ongoing = []
        self.findings = []  # what fails the run, besides violations
        self.warnings = []
        self.nemesis_errors = []
        self.stopping = threading.Event()
        self.fault_seq = 0
        self.deck = []
        self.nemesis_start_ns = self.nemesis_end_ns = None
        self.load_end = None
        self.final = {}
        self.load_start = os.getloadavg()

    # --------------------------------------------------------------------------- set-up

    def build_clock_lib(self):
        src = os.path.join(ROOT, "src", "test", "c", "clockshift.c")
        gcc = shutil.which("gcc") or shutil.which("cc")
        if not os.path.exists(src):
            self.clock_note = "clock faults skipped: %s is missing" % os.path.relpath(src, ROOT)
        elif not gcc:
            self.clock_note = "clock faults skipped: no gcc on PATH to compile src/test/c/clockshift.c"
        else:
            lib = os.path.join(self.tmp, "libclockshift.so")
            r = subprocess.run([gcc, "-shared", "-fPIC", "-O2", "-o", lib, src], capture_output=True, text=True)
            if r.returncode != 0:
                self.clock_note = "clock faults skipped: clockshift.c did not compile: " + r.stderr.strip()[-300:]
            else:
                self.clock_lib = lib
                self.clock_note = "clock faults on (LD_PRELOAD of src/test/c/clockshift.c)"
        log(self.clock_note)

    def setup(self):
        self.build_clock_lib()
        a = Redis("redis-a", self.tmp, self.clock_lib, extra_args=self.redis_args)
        b = Redis("redis-b", self.tmp, self.clock_lib, replica_of=a, extra_args=self.redis_args)
        self.redis = [a, b]
        a.start()
        b.start()
        self.master = a
        self.sentinels = [Sentinel("sentinel-%d" % i, self.tmp, a) for i in range(3)]
        wait_until(lambda: all(self.sentinel_knows(s) for s in self.sentinels), 30,
                   "the Sentinels to see the replica and each other")
        sentinel_url = ",".join("redis://127.0.0.1:%d" % s.port for s in self.sentinels)
        self.nodes = [Node(i, self.tmp, self.clock_lib, self.ttl_ms) for i in range(3)]
        modes = ["direct", "sentinel", self.rng.choice(["direct", "sentinel"])]
        self.rng.shuffle(modes)
        for n, mode in zip(self.nodes, modes):
            n.proxy = Proxy(n.name, a.port)
            n.sentinel_url = sentinel_url
            n.extra_env = self.node_env
            n.start(mode)
        for n in self.nodes:
            wait_until(n.ready, 120, n.name + " ready")
        wait_until(lambda: self.leader() is not None, 30, "a leader")
        log("cluster up: %s; Redis master %s :%d, replica %s :%d, Sentinels %s; leader %s, lease TTL %d ms" % (
            ", ".join("%s :%d (%s)" % (n.name, n.port, n.mode) for n in self.nodes), a.name, a.port, b.name, b.port,
            ", ".join(":%d" % s.port for s in self.sentinels), self.leader(), self.ttl_ms))
        threading.Thread(target=self.sample, name="rss", daemon=True).start()
        threading.Thread(target=self.follow_master, name="master", daemon=True).start()

    def sentinel_knows(self, s):
        try:
            m = resp(s.port, "SENTINEL", "MASTER", MASTER_NAME, timeout=0.5)
            d = {m[i].decode(): m[i + 1].decode() for i in range(0, len(m), 2)}
            return int(d.get("num-slaves", 0)) >= 1 and int(d.get("num-other-sentinels", 0)) >= 2
        except (OSError, RedisError, ValueError, TypeError, AttributeError):
            return False

    def sample(self):
        while not self.stopping.wait(1.0):
            for n in self.nodes:
                n.sample_rss()
                n.check_live()

    def follow_master(self):
        """Points the proxies at the master the Sentinels name, as soon as it moves."""
        while not self.stopping.wait(0.1):
            port = None
            for s in self.sentinels:
                port = s.master_port()
                if port:
                    break
            new = next((r for r in self.redis if r.port == port), None)
            if new is None or new is self.master:
                continue
            old, self.master = self.master, new
            ns = time.monotonic_ns()
            for n in self.nodes:
                n.proxy.retarget(new.port)
            self.master_moves.append({"atS": round(since(), 2), "ns": ns, "from": old.name, "to": new.name})
            log("Sentinel moved the master %s -> %s; proxies follow (their sessions reset)" % (old.name, new.name))

    def leader(self):
        """The leader's name as the live nodes report it, or None."""
        for n in self.nodes:
            if n.running() and not n.paused:
                v = n.leader_view()
                if v and v.get("leader"):
                    return v["leader"].get("nodeId")
        return None

    def start_load(self, seconds):
        targets = ",".join(n.url for n in self.nodes)
        # (protocol, share of the rate, connections, requests in flight per connection); connection
        # c drives member c mod 3, so every member gets its share of each protocol.
        # Enough in flight that a member restarted cold (slow for seconds) does not hold the rest up.
        share = [("http", 0.35, 12, 4), ("grpc-stream", 0.50, 6, 16), ("grpc", 0.15, 12, 1)]
        for i, (protocol, part, conns, depth) in enumerate(share):
            name = "lg%d-%s" % (i, protocol)
            lg = {"name": name, "protocol": protocol, "rate": round(self.rate * part), "connections": conns,
                  "concurrency": depth, "history": os.path.join(self.tmp, name + ".history"),
                  "json": os.path.join(self.tmp, name + ".json"), "log": os.path.join(self.tmp, name + ".log")}
            cmd = [TSO, "loadgen", "--target", targets, "--protocol", protocol, "--rate", str(lg["rate"]),
                   "--connections", str(conns), "--concurrency", str(depth), "--threads", "1",
                   "--connect-backoff-ms", str(CONNECT_BACKOFF_MS), "--duration", "%ds" % seconds,
                   "--warmup", "%ds" % WARMUP_S, "--quiet", "--json", lg["json"], "--history", lg["history"]]
            lg["proc"] = spawn(cmd, lg["log"])
            self.loadgens.append(lg)
        self.load_end = time.monotonic() + 0.1 + WARMUP_S + seconds
        log("load: %s; %.0f requests/s in all, for %d s after a %d s warm-up" % (
            "; ".join("%s %d/s over %d connections x %d" % (g["protocol"], g["rate"], g["connections"],
                                                            g["concurrency"]) for g in self.loadgens),
            self.rate, seconds, WARMUP_S))

    def connections_of(self, node):
        """The history's names ("file:connection") of the connections that drive this node."""
        out = []
        for f, lg in enumerate(self.loadgens):
            out += ["%d:%d" % (f, c) for c in range(lg["connections"]) if c % len(self.nodes) == node.index]
        return out

    def choose_mode(self, node):
        """At random, but so that the three nodes always include both modes."""
        others = [n.mode for n in self.nodes if n is not node]
        if "direct" not in others:
            return "direct"
        if "sentinel" not in others:
            return "sentinel"
        return self.rng.choice(["direct", "sentinel"])

    # --------------------------------------------------------------------------- faults

    def fault_kinds(self):
        kinds = ["node_kill", "node_pause", "node_term", "node_cut", "redis_restart_empty", "redis_pause",
                 "redis_failover", "leader_delete", "leader_garbage", "epoch_delete"]
        if self.clock_lib:
            kinds += ["node_clock", "redis_clock"]
        return kinds

    def draw(self):
        """The next kind from a shuffled deck of every kind, so that a short run still sees each;
        one that cannot start now (its target is busy) waits in the deck for a later turn."""
        busy_nodes = {f["target"] for f in self.ongoing if f["kind"].startswith("node_")}
        redis_busy = any(f["kind"].startswith("redis_") for f in self.ongoing)
        free_nodes = [n for n in self.nodes if n.name not in busy_nodes and n.running()]
        if not self.deck:
            self.deck = self.fault_kinds()
            self.rng.shuffle(self.deck)
        for i, kind in enumerate(self.deck):
            if kind == "node_cut" and not any(n.mode == "direct" for n in free_nodes):
                continue
            if kind.startswith("node_") and not free_nodes:
                continue
            if not kind.startswith("node_") and kind != "redis_clock" and redis_busy:
                continue
            return self.deck.pop(i), free_nodes
        return None, free_nodes

    def pick_node(self, candidates):
        """Half the time the leader (when it is a candidate), else any candidate."""
        roll = self.rng.random()
        choice = self.rng.choice(candidates)
        leader = self.leader()
        if roll < 0.5:
            for n in candidates:
                if n.name == leader:
                    return n, True
        return choice, choice.name == leader

    def new_fault(self, kind, target, **params):
        self.fault_seq += 1
        f = {"id": "f%03d" % self.fault_seq, "kind": kind, "target": target, "atS": round(since(), 2),
             "startNs": time.monotonic_ns(), "healNs": None, "healedAtS": None, "params": params, "note": ""}
        self.faults.append(f)
        return f

    def start_fault(self):
        kind, free_nodes = self.draw()
        if kind is None:
            return
        ttl = self.ttl_ms / 1000
        r = self.rng
        if kind.startswith("node_"):
            candidates = [n for n in free_nodes if n.mode == "direct"] if kind == "node_cut" else free_nodes
            node, is_leader = self.pick_node(candidates)
            what = "%s%s, %s mode" % (node.name, " (leader)" if is_leader else "", node.mode)
            if kind == "node_kill":
                down = r.uniform(0, 2 * ttl)
                f = self.new_fault(kind, node.name, leader=is_leader, mode=node.mode, downS=round(down, 2))
                node.kill()
                log("%s kill -9 %s; restart in %.1f s" % (f["id"], what, down))
            elif kind == "node_term":
                down = r.uniform(0, ttl)
                f = self.new_fault(kind, node.name, leader=is_leader, mode=node.mode, downS=round(down, 2))
                finding, warning = node.terminate()
                if finding:
                    self.finding(finding)
                if warning:
                    self.warnings.append(warning)
                f["note"] = finding or warning or ""
                log("%s SIGTERM %s: %s; restart in %.1f s" % (f["id"], what, node.incarnations[-1]["end"], down))
            elif kind == "node_pause":
                down = r.uniform(0.3, 3) * ttl
                f = self.new_fault(kind, node.name, leader=is_leader, mode=node.mode, pauseS=round(down, 2))
                node.pause()
                log("%s SIGSTOP %s for %.1f s" % (f["id"], what, down))
            elif kind == "node_cut":
                down = r.uniform(0.5, 3) * ttl
                how = r.choice(["cut", "blackhole"])
                f = self.new_fault(kind, node.name, leader=is_leader, how=how, lengthS=round(down, 2))
                node.proxy.set_mode(how)
                log("%s %s %s from Redis for %.1f s" % (f["id"], how, what, down))
            elif kind == "node_clock":
                ms = r.randint(-NODE_CLOCK_BOUND_MS, NODE_CLOCK_BOUND_MS)
                f = self.new_fault(kind, node.name, leader=is_leader, fromMs=node.clock_ms, toMs=ms)
                node.set_clock(ms)
                f["node"] = node
                log("%s %s wall clock offset %+d ms -> %+d ms" % (f["id"], what, f["params"]["fromMs"], ms))
                return
            else:
                raise AssertionError(kind)
            f["node"] = node
            f["healAt"] = time.monotonic() + down
            self.ongoing.append(f)
            return
        master = self.master
        if kind == "redis_restart_empty":
            down = r.uniform(0, 1)
            f = self.new_fault(kind, master.name, downS=round(down, 2))
            master.kill()
            f.update(healAt=time.monotonic() + down, redis=master)
            log("%s kill -9 Redis %s (the master); restart empty in %.1f s" % (f["id"], master.name, down))
            self.ongoing.append(f)
        elif kind == "redis_pause":
            down = r.uniform(0.3, 3) * ttl
            f = self.new_fault(kind, master.name, pauseS=round(down, 2))
            master.proc.send_signal(signal.SIGSTOP)
            master.paused = True
            f.update(healAt=time.monotonic() + down, redis=master)
            log("%s SIGSTOP Redis %s (the master) for %.1f s" % (f["id"], master.name, down))
            self.ongoing.append(f)
        elif kind == "redis_failover":
            f = self.new_fault(kind, master.name)
            try:
                answer = resp(r.choice(self.sentinels).port, "SENTINEL", "FAILOVER", MASTER_NAME, timeout=2)
                f["note"] = "Sentinel: %s" % answer
            except (OSError, RedisError) as e:
                f["note"] = "Sentinel refused: %s" % e
            f["healAt"] = time.monotonic() + 5  # no other Redis process fault while it runs
            log("%s Sentinel failover of %s: %s" % (f["id"], master.name, f["note"]))
            self.ongoing.append(f)
        elif kind == "redis_clock":
            step = r.uniform(2000, 8000) * r.choice([-1, 1])
            to = master.clock_ms + step
            if abs(to) > 15000:
                to = master.clock_ms - step
            f = self.new_fault(kind, master.name, fromMs=master.clock_ms, toMs=int(to))
            master.set_clock(int(to))
            log("%s Redis %s wall clock jumps %+d ms (offset now %+d ms)" % (
                f["id"], master.name, int(to) - f["params"]["fromMs"], int(to)))
        elif kind in ("leader_delete", "leader_garbage", "epoch_delete"):
            f = self.new_fault(kind, master.name, key=EPOCH_KEY if kind == "epoch_delete" else LEADER_KEY)
            deadline = time.monotonic() + 2
            while True:
                try:
                    if kind == "leader_garbage":
                        f["note"] = self.garbage(master)
                    else:
                        f["note"] = "DEL: %s" % resp(master.port, "DEL", f["params"]["key"])
                    break
                except (OSError, RedisError) as e:
                    # With REDIS_SAFETY=on Redis refuses writes while its replica is not close
                    # behind (NOREPLICAS): try again for a while, as an operator would.
                    f["note"] = "failed: %s" % e
                    if "NOREPLICAS" not in str(e) or time.monotonic() > deadline:
                        break
                    time.sleep(0.1)
            log("%s %s on %s: %s" % (f["id"], kind, master.name, f["note"]))
        else:
            raise AssertionError(kind)

    def garbage(self, master):
        r = self.rng
        ttl = r.choice([None, int(r.uniform(1, 3) * self.ttl_ms)])
        form = r.choice(["random bytes", "bad checksum", "newer version", "cut short", "a list"])
        body = ("tso-leader/1;node=ghost;addr=127.0.0.1:1;inc=0123456789abcdef;epoch=999999;ttl=%d;acquired=0;"
                "renewed=0;transitions=1;crc=00000000" % self.ttl_ms)
        if form == "a list":
            resp(master.port, "DEL", LEADER_KEY)
            resp(master.port, "RPUSH", LEADER_KEY, "garbage")
            if ttl:
                resp(master.port, "PEXPIRE", LEADER_KEY, ttl)
        else:
            value = {"random bytes": bytes(r.getrandbits(8) for _ in range(r.randint(0, 48))),
                     "bad checksum": body.encode(),
                     "newer version": body.replace("tso-leader/1", "tso-leader/9").encode(),
                     "cut short": body[:r.randint(1, 40)].encode()}[form]
            resp(master.port, *(["SET", LEADER_KEY, value] + (["PX", ttl] if ttl else [])))
        return "%s, %s" % (form, "PX %d" % ttl if ttl else "no TTL")

    def heal(self, f):
        kind = f["kind"]
        try:
            if kind in ("node_kill", "node_term"):
                mode = self.choose_mode(f["node"])
                f["params"]["restartedIn"] = mode
                f["node"].start(mode)
            elif kind == "node_pause":
                f["node"].resume()
            elif kind == "node_cut":
                f["node"].proxy.set_mode("pass")
            elif kind == "redis_restart_empty":
                f["redis"].start(replica_of=None)  # as a master; Sentinel makes it a replica if it has moved on
            elif kind == "redis_pause":
                f["redis"].proc.send_signal(signal.SIGCONT)
                f["redis"].paused = False
        except Exception as e:  # a harness failure is reported, not raised: the soak goes on
            self.nemesis_error("healing %s %s: %r" % (f["id"], kind, e))
        f["healNs"] = time.monotonic_ns()
        f["healedAtS"] = round(since(), 2)
        if kind == "redis_failover":
            f["note"] += "; master now %s" % self.master.name
            log("%s failover over: master %s" % (f["id"], self.master.name))
        else:
            log("%s healed (%s %s%s)" % (f["id"], kind, f["target"], ", restarted in %s mode" % f["params"]["restartedIn"]
                                          if "restartedIn" in f["params"] else ""))

    def heal_due(self, everything=False):
        now = time.monotonic()
        for f in list(self.ongoing):
            if everything or now >= f["healAt"]:
                self.ongoing.remove(f)
                self.heal(f)

    def finding(self, text):
        log("FINDING: " + text)
        self.findings.append({"atS": round(since(), 1), "text": text})

    def nemesis_error(self, text):
        log("nemesis error: " + text)
        self.nemesis_errors.append({"atS": round(since(), 1), "text": text})

    def watch(self):
        """A node that exited without being told to is a finding, and is started again."""
        for n in self.nodes:
            if n.proc is not None and n.proc.poll() is not None and not n.expected_exit:
                code = n.proc.returncode
                n.ended("exited by itself, code %s" % code)
                self.finding("%s exited by itself (exit code %s); see its log %s" % (n.name, code, n.log))
                n.expected_exit = True
                if not any(f.get("node") is n for f in self.ongoing):
                    try:
                        n.start(self.choose_mode(n))
                    except Exception as e:
                        self.nemesis_error("restarting %s: %r" % (n.name, e))
        for r in self.redis:
            if r.proc.poll() is not None and not any(f.get("redis") is r for f in self.ongoing):
                self.nemesis_error("%s exited (code %s) without the nemesis; started again" % (r.name, r.proc.returncode))
                try:
                    r.start(replica_of=None)
                except Exception as e:
                    self.nemesis_error("restarting %s: %r" % (r.name, e))
        for lg in self.loadgens:
            if lg["proc"].poll() is not None and time.monotonic() < self.load_end - 1 and not lg.get("early"):
                lg["early"] = True
                self.finding("generator %s ended early (exit %s); see %s" % (lg["name"], lg["proc"].returncode,
                                                                            lg["log"]))

    def nemesis(self):
        end = time.monotonic() + self.duration
        self.nemesis_start_ns = time.monotonic_ns()
        log("nemesis: %.0f s, seed %d" % (self.duration, self.seed))
        next_at = time.monotonic() + self.rng.uniform(0.5, 1.5)
        while time.monotonic() < end:
            self.heal_due()
            self.watch()
            if time.monotonic() >= next_at and len(self.ongoing) < MAX_CONCURRENT_FAULTS:
                try:
                    self.start_fault()
                except Exception as e:
                    self.nemesis_error("starting a fault: %r" % e)
                next_at = time.monotonic() + self.rng.uniform(0.8, 3.0) * self.ttl_ms / 1000
            time.sleep(0.05)
        self.heal_due(everything=True)
        self.nemesis_end_ns = time.monotonic_ns()
        log("nemesis over: %d faults, all healed; %s" % (
            len(self.faults), ", ".join("%s %s" % (n.name, "running" if n.running() else "DOWN") for n in self.nodes)))

    # --------------------------------------------------------------------------- end

    def finish_load(self):
        while time.monotonic() < self.load_end:
            self.watch()
            time.sleep(0.2)
        for lg in self.loadgens:
            try:
                lg["exit"] = lg["proc"].wait(max(5, self.load_end + 90 - time.monotonic()))
            except subprocess.TimeoutExpired:
                lg["proc"].kill()
                lg["exit"] = lg["proc"].wait(10)
                self.finding("generator %s did not finish within 90 s of its end (a request never answered?): "
                             "killed" % lg["name"])
            self.watch()
            try:
                with open(lg["json"]) as f:
                    lg["summary"] = json.load(f)
            except (OSError, ValueError):
                lg["summary"] = None
                self.finding("generator %s wrote no summary (exit %s); see %s" % (lg["name"], lg["exit"], lg["log"]))
        self.final = {n.name: n.leader_view() for n in self.nodes}
        log("load over: %s" % ", ".join("%s exit %s" % (lg["name"], lg["exit"]) for lg in self.loadgens))

    def probe(self):
        """After the load, every node must answer a timestamp request (within PROBE_S of the end
        of the nemesis); check() then wants each answer above every timestamp of the history."""
        self.probes = {}
        deadline = self.nemesis_end_ns / 1e9 + PROBE_S
        for n in self.nodes:
            while True:
                status, body = http(n.url + "/v1/timestamps", "POST", timeout=2)
                if status == 200:
                    a = json.loads(body)
                    self.probes[n.name] = {"timestamp": a["timestamp"], "epoch": a["epoch"],
                                           "afterNemesisS": round(time.monotonic() - self.nemesis_end_ns / 1e9, 1)}
                    break
                if time.monotonic() > deadline:
                    self.probes[n.name] = None
                    self.finding("%s did not answer a timestamp request within %d s of the end of the nemesis "
                                 "(last: %s %s)" % (n.name, PROBE_S, status, body[:200]))
                    break
                time.sleep(0.2)
        log("probe: %s" % ", ".join("%s %s" % (k, "epoch %s after %.1f s" % (v["epoch"], v["afterNemesisS"])
                                                  if v else "no answer") for k, v in self.probes.items()))

    def stop_all(self):
        outcomes = {}
        stops = [threading.Thread(target=lambda n=n: outcomes.update({n.name: n.terminate("stopped (SIGTERM) at the end")}))
                 for n in self.nodes if n.running()]
        for t in stops:  # all at once: each may take its shutdown grace
            t.start()
        for t in stops:
            t.join()
        for finding, warning in outcomes.values():
            if finding:
                self.finding(finding)
            if warning:
                self.warnings.append(warning)
        self.stopping.set()
        for s in self.sentinels:
            s.stop()
        for r in self.redis:
            r.kill()
        for n in self.nodes:
            n.proxy.close()

    def check(self):
        events = []
        starts = sorted(f["startNs"] for f in self.faults)
        load_end_ns = self.nemesis_end_ns + int(TAIL_S * 1e9)
        for f in self.faults:
            conns = self.connections_of(f["node"]) if "node" in f else None
            nxt = min([t for t in starts if t > f["startNs"]] or [self.nemesis_end_ns])
            e = {"id": f["id"] + ":start", "ns": f["startNs"], "untilNs": max(nxt, f["startNs"])}
            if conns:
                e["connections"] = conns
            events.append(e)
            if f["healNs"]:
                h = {"id": f["id"] + ":heal", "ns": f["healNs"], "untilNs": min(f["healNs"] + int(30e9), load_end_ns)}
                if conns:
                    h["connections"] = conns
                events.append(h)
        for m in self.master_moves:
            events.append({"id": "master:%s" % m["atS"], "ns": m["ns"], "untilNs": m["ns"] + int(10e9)})
        events.append({"id": "nemesis", "ns": self.nemesis_start_ns, "untilNs": self.nemesis_end_ns})
        events.append({"id": "final", "ns": self.nemesis_end_ns, "untilNs": load_end_ns})
        for n in self.nodes:
            events.append({"id": "final:" + n.name, "ns": self.nemesis_end_ns, "untilNs": load_end_ns,
                           "connections": self.connections_of(n)})
        path = os.path.join(self.tmp, "events.jsonl")
        with open(path, "w") as f:
            for e in events:
                f.write(json.dumps(e) + "\n")
        out = os.path.join(self.tmp, "check.json")
        files = []
        for lg in self.loadgens:
            if os.path.exists(lg["history"]):
                files.append(lg["history"])
            else:
                self.finding("generator %s wrote no history" % lg["name"])
        r = subprocess.run(["java", "-cp", JAR, "tso.loadgen.HistoryCheck", "--events", path, "--json", out] + files,
                           capture_output=True, text=True, timeout=900)
        for line in r.stdout.splitlines():
            log("check: " + line)
        if r.returncode not in (0, 1) or not os.path.exists(out):
            raise RuntimeError("history check failed (exit %d): %s" % (r.returncode, r.stderr[-1000:]))
        with open(out) as f:
            self.check_result = json.load(f)
        self.measured = {e["id"]: e for e in self.check_result.get("events", [])}
        if self.measured.get("final", {}).get("all", {}).get("recoveryMs") is None:
            self.finding("no answer at all in the %d s after the nemesis stopped" % TAIL_S)
        highest, newest = int(self.check_result["highestTimestamp"]), int(self.check_result["highestEpoch"])
        for name, p in self.probes.items():
            if p and int(p["timestamp"]) <= highest:
                self.finding("the probe's answer through %s, %s, is not above the highest timestamp of the "
                             "history, %d (real-time order)" % (name, p["timestamp"], highest))
            if p and int(p["epoch"]) < newest:
                self.finding("the probe's answer through %s has epoch %s, below the history's highest, %d" % (
                    name, p["epoch"], newest))

    # --------------------------------------------------------------------------- report

    def rss_summary(self):
        rows = []
        for n in self.nodes:
            for inc in n.incarnations:
                samples = inc["rss"]
                row = dict(inc)
                if not samples:
                    row["rss"] = None
                    rows.append(row)
                    continue
                start_t = samples[0][0]
                settle = [v for t, v in samples if t - start_t <= RSS_SETTLE_S]
                later = [v for t, v in samples if t - start_t > RSS_SETTLE_S]
                baseline = max(settle)
                growth = (max(later) - baseline) if later else 0
                flagged = growth > max(RSS_FLAG_MIB, baseline)
                row["rss"] = {"startMiB": samples[0][1], "endMiB": samples[-1][1],
                              "maxMiB": max(v for _, v in samples), "baselineMiB": baseline,
                              "growthAfterSettleMiB": growth, "flagged": flagged, "samples": samples[::5]}
                if flagged:
                    self.warnings.append("%s incarnation %d: RSS grew %d MiB after its first %d s (%d -> max %d MiB)" % (
                        n.name, inc["incarnation"], growth, RSS_SETTLE_S, baseline, row["rss"]["maxMiB"]))
                rows.append(row)
        return rows

    def report(self):
        c = self.check_result
        v = c["violations"]
        rss = self.rss_summary()
        failed = v["total"] > 0 or bool(self.findings)
        results = {
            "date": datetime.datetime.now().isoformat(timespec="seconds"), "verdict": "FAIL" if failed else "PASS",
            "seed": self.seed, "durationS": self.duration, "rate": self.rate, "leaseTtlMs": self.ttl_ms,
            "redisSafety": self.safety, "redisArgs": self.redis_args, "nodeEnv": self.node_env,
            "machine": machine(), "loadAverage": {"start": self.load_start, "end": os.getloadavg()},
            "clock": self.clock_note, "violations": v, "examples": c["examples"],
            "records": c["records"], "epochs": c["epochs"], "violationWindows": self.windows(c),
            "findings": self.findings, "warnings": self.warnings,
            "nemesisErrors": self.nemesis_errors, "masterMoves": self.master_moves,
            "generators": [{k: lg.get(k) for k in ("name", "protocol", "rate", "connections", "concurrency", "exit",
                                                   "summary")} for lg in self.loadgens],
            "faults": [self.fault_json(f) for f in self.faults], "incarnations": rss,
            "events": self.measured, "finalLeaderViews": self.final, "probes": self.probes, "log": LOG_LINES}
        return results, self.markdown(results)

    def windows(self, c):
        out = []
        for w in c.get("violationWindows", []):
            a, b = w["fromNs"] / 1e9 - T0, w["toNs"] / 1e9 - T0
            near = [f for f in self.faults if a - 5 <= f["atS"] <= b or
                    (f["healedAtS"] is not None and f["atS"] <= a <= f["healedAtS"])]
            near = [{k: f[k] for k in ("id", "kind", "target", "atS")} for f in near]
            near += [{"id": "-", "kind": "master moved", "target": "%s->%s" % (m["from"], m["to"]), "atS": m["atS"]}
                     for m in self.master_moves if a - 5 <= m["atS"] <= b]
            out.append({"fromS": round(a, 2), "toS": round(b, 2), "violations": w["violations"],
                        "faults": sorted(near, key=lambda x: x["atS"])})
        return out

    def fault_json(self, f):
        out = {k: f[k] for k in ("id", "kind", "target", "atS", "healedAtS", "params", "note")}
        start = self.measured.get(f["id"] + ":start", {})
        heal = self.measured.get(f["id"] + ":heal", {})
        out["serviceBackMs"] = start.get("all", {}).get("recoveryMs")
        out["longestGapMs"] = start.get("all", {}).get("longestGapMs")
        out["nodeBackMs"] = start.get("connections", {}).get("recoveryMs")
        out["afterHealMs"] = (heal.get("connections") or heal.get("all") or {}).get("recoveryMs")
        return out

    def markdown(self, r):
        m = r["machine"]
        v = r["violations"]

        def ms(x):
            return "-" if x is None else "%.0f" % x

        L = ["# Nemesis soak %s: %s" % (r["date"], r["verdict"]), ""]
        reasons = []
        if v["total"]:
            reasons.append("%d history violations (%s)" % (v["total"], ", ".join(
                "%s %d" % (k, n) for k, n in v.items() if k != "total" and n)))
        reasons += [f["text"] for f in r["findings"]]
        if reasons:
            L += ["**Failed:**", ""] + ["- " + x for x in reasons] + [""]
        L += ["Reproduce: `SEED=%d DURATION=%ds%s make soak` (the seed fixes the faults drawn and their parameters; "
              "their timing against the cluster's own still varies)." % (
                  r["seed"], r["durationS"], " REDIS_SAFETY=off" if r["redisSafety"] == "off" else ""), "",
              "Machine: %d CPUs (%s), %s, Linux %s, %s, %s; commit %s%s. Nodes, Redis, Sentinels and generators "
              "share these cores; load average %.1f at the start, %.1f at the end (1 min)." % (
                  m["cpus"], m["cpu"], m["memory"], m["kernel"], m["java"], m["redis"], m["commit"] or "?",
                  " with uncommitted changes" if m["dirty"] else "", r["loadAverage"]["start"][0],
                  r["loadAverage"]["end"][0]), "",
              "Set-up: 3 nodes (lease TTL %d ms, `TSO_WARMUP_MS=0`, `JAVA_OPTS=%s`), a Redis master and 1 replica "
              "(no persistence: a restart is empty), 3 Sentinels (quorum 2, down-after %d ms); %s. Each node starts, "
              "and restarts, in direct or Sentinel mode at random (both always present). Direct-mode nodes reach "
              "Redis through their own TCP proxy, which follows the master Sentinel names (resetting its sessions when "
              "it moves) and which the nemesis cuts or blackholes; Sentinel-mode nodes connect where Sentinel says, "
              "so no per-node cut reaches them. At most %d faults at a time." % (
                  r["leaseTtlMs"], NODE_JAVA_OPTS, SENTINEL_DOWN_AFTER_MS, r["clock"], MAX_CONCURRENT_FAULTS), "",
              ("Redis safety on (the README's configuration for a primary with Sentinel): nodes with %s, Redis with "
               "`%s`." % (", ".join("`%s=%s`" % kv for kv in r["nodeEnv"].items()), " ".join(r["redisArgs"])))
              if r["redisSafety"] == "on" else
              ("Redis safety off: Redis and the nodes with their defaults, so a failover can lose what counted or "
               "leave two primaries, outside the README's assumptions; violations right after a failover or a "
               "paused primary are that caveat, not necessarily a bug."), ""]
        L += ["## History check", "",
              "%d answers from %d generators; %d epochs (%s to %s); the master moved %d times." % (
                  r["records"], len(r["generators"]), len(r["epochs"]),
                  r["epochs"][0]["epoch"] if r["epochs"] else "-", r["epochs"][-1]["epoch"] if r["epochs"] else "-",
                  len(r["masterMoves"])), "",
              "| check | violations |", "|---|---|"]
        names = {"duplicate": "no timestamp twice", "realTimeOrder": "real-time order (across all processes)",
                 "epochOnConnection": "epoch never lower on a connection",
                 "epochRealTime": "epoch never lower than one already received"}
        for k, text in names.items():
            L.append("| %s | %d |" % (text, v.get(k, 0)))
        if r["violationWindows"]:
            L += ["", "When (send times of the offending requests, and the faults started in the 5 s before or "
                  "still going on):", ""]
            for w in r["violationWindows"][:20]:
                L.append("- %.1f-%.1f s: %d violations; %s" % (w["fromS"], w["toS"], w["violations"], ", ".join(
                    "%s %s %s at %.1f s" % (f["id"], f["kind"], f["target"], f["atS"]) for f in w["faults"]) or
                    "no fault near"))
        if r["examples"]:
            L += ["", "First examples (times from the first request of the run; connection = generator:index):", ""]
            L += ["- %s: %s" % (x["kind"], x["text"]) for x in r["examples"][:12]]
        L += ["", "## Load", "",
              "| generator | rate | answers | answers/s | p50 ms | p99 ms | p99.9 ms | max ms | longest without an "
              "answer | errors | errors by code |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for g in r["generators"]:
            s = g["summary"]
            if not s:
                L.append("| %s | %d/s | no summary (exit %s) | | | | | | | | |" % (g["name"], g["rate"], g["exit"]))
                continue
            lat = s["latencyMs"]
            L.append("| %s (%d connections x %d) | %d/s | %d | %.0f | %.3f | %.1f | %.0f | %.0f | %d ms | %d | %s |" % (
                g["name"], g["connections"], g["concurrency"], g["rate"], s["requests"] - s["errors"]["total"],
                s["responsesPerSecond"], lat["p50"], lat["p99"], lat["p999"], lat["max"], s["longestGapMs"],
                s["errors"]["total"], ", ".join("%s %d" % kv for kv in sorted(s["errors"]["byCode"].items())) or "-"))
        L += ["", "Latency is from the intended send time (open loop), so it includes every stall the faults "
              "caused; errors are counted over the measured time only. A connection that could not be opened sits "
              "out %d ms (`--connect-backoff-ms`)." % CONNECT_BACKOFF_MS, ""]
        L += ["## Faults", "",
              "*service back*: from the fault to the first answer to a request sent after it, through any member; "
              "*gap*: the longest time without any answer from the fault to the next fault; *node*: for node "
              "faults, from the fault to the first answer through that node to a request sent after it; *after "
              "heal*: from the heal (restart, SIGCONT, link restored, Redis back) to the first answer to a request "
              "sent after it (through that node, for node faults).", "",
              "| # | at s | fault | target | details | healed at s | service back ms | gap ms | node ms | "
              "after heal ms |", "|---|---|---|---|---|---|---|---|---|---|"]
        for f in r["faults"]:
            details = ", ".join("%s=%s" % kv for kv in f["params"].items())
            if f["note"]:
                details += ("; " if details else "") + f["note"]
            L.append("| %s | %.1f | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                f["id"], f["atS"], f["kind"], f["target"], details.replace("|", "/"),
                "-" if f["healedAtS"] is None else "%.1f" % f["healedAtS"], ms(f["serviceBackMs"]),
                ms(f["longestGapMs"]), ms(f["nodeBackMs"]), ms(f["afterHealMs"])))
        kinds = {}
        for f in r["faults"]:
            kinds.setdefault(f["kind"], []).append(f)
        L += ["", "| fault | count | service back, median / max ms | gap, max ms | after heal, median / max ms |",
              "|---|---|---|---|---|"]
        for k in sorted(kinds):
            back = sorted(x["serviceBackMs"] for x in kinds[k] if x["serviceBackMs"] is not None)
            gaps = [x["longestGapMs"] for x in kinds[k] if x["longestGapMs"] is not None]
            heal = sorted(x["afterHealMs"] for x in kinds[k] if x["afterHealMs"] is not None)
            L.append("| %s | %d | %s / %s | %s | %s / %s |" % (
                k, len(kinds[k]), ms(back[len(back) // 2] if back else None), ms(back[-1] if back else None),
                ms(max(gaps) if gaps else None), ms(heal[len(heal) // 2] if heal else None),
                ms(heal[-1] if heal else None)))
        if r["masterMoves"]:
            L += ["", "Master moves (Sentinel): " + "; ".join("%.1f s %s -> %s" % (x["atS"], x["from"], x["to"])
                                                             for x in r["masterMoves"]) + "."]
        fin = r["events"].get("final", {}).get("all", {})
        nem = r["events"].get("nemesis", {}).get("all", {})
        L += ["", "Over the whole nemesis the longest time without any answer was %s ms. After it stopped, service "
              "was back after %s ms (through %s, in the %d s of load left). After the load, a probe through each "
              "node (%s) was checked to be above every timestamp of the history (%s)." % (
                  ms(nem.get("longestGapMs")), ms(fin.get("recoveryMs")), ", ".join(
                      "%s %s ms" % (n, ms(r["events"].get("final:" + n, {}).get("connections", {}).get("recoveryMs")))
                      for n in ("n1", "n2", "n3")), TAIL_S, ", ".join(
                      "%s %s" % (k, "%.1f s after the nemesis, epoch %s" % (v["afterNemesisS"], v["epoch"]) if v
                                 else "NONE") for k, v in r["probes"].items()),
                  "highest %s, epoch %s" % (self.check_result["highestTimestamp"], self.check_result["highestEpoch"])),
              ""]
        if r["nemesisErrors"]:
            L += ["Nemesis errors (the harness, not the system):", ""] + [
                "- %.1f s: %s" % (x["atS"], x["text"]) for x in r["nemesisErrors"]] + [""]
        L += ["## Nodes", "", "| node | # | pid | mode | started s | listening after s | ended s | how it ended | RSS "
              "start / end / max MiB | growth after %d s |" % RSS_SETTLE_S, "|---|---|---|---|---|---|---|---|---|---|"]
        for inc in r["incarnations"]:
            x = inc["rss"]
            L.append("| %s | %d | %d | %s | %.1f | %s | %s | %s | %s | %s |" % (
                inc["node"], inc["incarnation"], inc["pid"], inc["mode"], inc["startedS"],
                "-" if inc["liveAfterS"] is None else "%.1f" % inc["liveAfterS"],
                "-" if inc["endedS"] is None else "%.1f" % inc["endedS"], inc["end"] or "running",
                "%d / %d / %d" % (x["startMiB"], x["endMiB"], x["maxMiB"]) if x else "-",
                ("%+d MiB%s" % (x["growthAfterSettleMiB"], " **FLAGGED**" if x["flagged"] else "")) if x else "-"))
        L += ["", "RSS is sampled every second from /proc/<pid>/status. An incarnation is flagged when, after its "
              "first %d s, it grew by more than %d MiB and more than its size then (the heap alone may grow by up to "
              "its 256 MiB maximum)." % (RSS_SETTLE_S, RSS_FLAG_MIB), ""]
        if r["warnings"]:
            L += ["Warnings:", ""] + ["- " + w for w in r["warnings"]] + [""]
        return "\n".join(L)


def machine():
    return describe(ROOT, redis_server())


def out_base():
    date = datetime.date.today().isoformat()
    base = os.path.join(OUT, "soak-" + date)
    k = 2
    while os.path.exists(base + ".md"):
        base = os.path.join(OUT, "soak-%s-%d" % (date, k))
        k += 1
    return base


def cleanup():
    for p in PROCS:
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGCONT)
                p.kill()
            except ProcessLookupError:
                pass
    for p in PROCS:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            pass


def on_signal(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def main():
    if not os.path.exists(JAR):
        sys.exit("soak: build first (make build)")
    # Also SIGINT: a shell starting this in the background would have it ignored otherwise.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        soak = Soak()
    except ValueError as e:
        sys.exit("soak: %s" % e)
    keep = os.environ.get("KEEP") == "1"
    code = 2
    try:
        log("soak: DURATION %.0f s, SEED %d, RATE %.0f/s, TTL %d ms, REDIS_SAFETY %s; temporary directory %s" % (
            soak.duration, soak.seed, soak.rate, soak.ttl_ms, soak.safety, soak.tmp))
        soak.setup()
        soak.start_load(int(soak.duration + TAIL_S))
        time.sleep(0.1 + WARMUP_S + 0.5)
        soak.nemesis()
        soak.finish_load()
        soak.probe()
        soak.stop_all()
        soak.check()
        results, text = soak.report()
        os.makedirs(OUT, exist_ok=True)
        base = out_base()
        with open(base + ".md", "w") as f:
            f.write(text + "\n")
        with open(base + ".json", "w") as f:
            json.dump(results, f, indent=1, default=str)
        print()
        print(text)
        print("\nwritten: %s.md, .json" % base)
        code = 1 if results["verdict"] == "FAIL" else 0
    except KeyboardInterrupt:
        log("interrupted: stopping everything")
        code = 130
    except Exception as e:
        log("soak could not run: %r" % e)
        import traceback
        traceback.print_exc()
        code = 2
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        cleanup()
        if keep or code != 0:
            print("logs and histories kept in %s" % soak.tmp)
        else:
            shutil.rmtree(soak.tmp, ignore_errors=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
