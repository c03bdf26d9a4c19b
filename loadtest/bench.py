#!/usr/bin/env python3
"""make bench: the fixed benchmark suite.

Starts its own nodes (and Redis, where a part needs it) on free loopback ports, drives them with
the bundled load generator (bin/tso loadgen), and writes loadtest/results/<date>.md, .json and
.hgrm. Every figure is the median of RUNS runs (default 3); ratios are taken between runs made
back to back against the same server. Server, Redis and generator share this machine's cores,
and the report says so.

Parts: (a, b) closed loop, TSO against the no-op endpoint and Redis INCR; (c) open loop at
30,000/s; (d) the highest rate with p99 <= 2 ms; (e) overload at twice that; (f) Redis paused;
(g) failover under 30,000/s over HTTP; (h) the Java client (tso.client.TsoClient, through
`loadgen --protocol client`): 1,000 concurrent callers over 4 connections, closed loop, against
one standalone node, each run paired with a gRPC unary closed-loop run (64 connections) made
right after it; (i) failover under the same client load: three nodes and Redis, the client on
all three, the leader SIGKILLed: the longest any call waited, errors, violations.

Environment: RUNS (default 3), QUICK=1 (every phase much shorter: to try the script, not to
quote), OUT (results directory, default loadtest/results), PARTS (which parts to run, e.g.
PARTS=g for the failover runs alone; default all: a,b,c,d,e,f,g,h,i).
"""

import datetime
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from machine import describe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TSO = os.path.join(ROOT, "bin", "tso")
RUNS = int(os.environ.get("RUNS", "3"))
QUICK = os.environ.get("QUICK") == "1"
PARTS = set(os.environ.get("PARTS", "a,b,c,d,e,f,g,h,i").replace(" ", "").split(","))
OUT = os.environ.get("OUT", os.path.join(ROOT, "loadtest", "results"))
TMP = tempfile.mkdtemp(prefix="tso-bench-")
PROCS = []


def secs(normal, quick):
    return quick if QUICK else normal


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, method="GET", timeout=2):
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return None, ""


def wait_until(check, seconds, what):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError("gave up waiting for " + what)


class Node:
    def __init__(self, name, env):
        self.name = name
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log = os.path.join(TMP, name + ".log")
        e = dict(os.environ)
        e.update({"TSO_HOST": "127.0.0.1", "TSO_PORT": str(self.port), "TSO_NODE_ID": name,
                  "TSO_DATA_DIR": os.path.join(TMP, name)})
        e.update(env)
        self.proc = subprocess.Popen([TSO, "server"], env=e, stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        PROCS.append(self.proc)

    def ready(self, seconds=60):
        wait_until(lambda: http(self.url + "/health/ready")[0] == 200, seconds, self.url + " ready")
        return self

    def leader(self):
        status, body = http(self.url + "/v1/leader")
        return json.loads(body) if status == 200 else None

    def rss_mib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return None

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Redis:
    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen([redis_server(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=open(os.path.join(TMP, "redis.log"), "w"),
                                     stderr=subprocess.STDOUT)
        PROCS.append(self.proc)
        wait_until(self.ping, 10, "redis")

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), 1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def redis_server():
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server on PATH (Debian: apt-get install redis-server)")
    return found


def loadgen_args(target, protocol, rate, connections, duration, warmup, json_path):
    return [TSO, "loadgen", "--target", target, "--protocol", protocol, "--rate", str(rate),
            "--connections", str(connections), "--duration", "%ds" % duration, "--warmup", "%ds" % warmup,
            "--quiet", "--json", json_path]


def background_30k(target, json_path, warm):
    """30,000 requests/s over HTTP in the background, while a fault is injected (f and g)."""
    return subprocess.Popen(loadgen_args(target, "http", 30000, 32, secs(20, 12), warm, json_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# The client runs of h and i: one TsoClient over 4 connections, 250 callers each (1,000 in all).
CLIENT_CONNECTIONS, CLIENT_CONCURRENCY = 4, 250
CLIENT_EXTRA = ["--concurrency", str(CLIENT_CONCURRENCY), "--count", "1"]


def background_client(target, json_path, duration, warm):
    """The client's closed loop in the background, while a fault is injected (i)."""
    proc = subprocess.Popen(loadgen_args(target, "client", 0, CLIENT_CONNECTIONS, duration, warm, json_path)
                            + CLIENT_EXTRA, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    PROCS.append(proc)
    return proc


def loadgen(name, target, protocol, rate, connections, duration, warmup, extra=(), hgrm=False):
    """Runs the generator; returns its JSON summary (plus the hgrm path when asked)."""
    path = os.path.join(TMP, name + ".json")
    args = loadgen_args(target, protocol, rate, connections, duration, warmup, path) + list(extra)
    if hgrm:
        args += ["--hgrm", os.path.join(TMP, name + ".hgrm")]
    out = subprocess.run(args, capture_output=True, text=True)
    if not os.path.exists(path):
        raise RuntimeError("loadgen %s wrote no summary: %s %s" % (name, out.stdout[-500:], out.stderr[-500:]))
    with open(path) as f:
        d = json.load(f)
    d["_hgrm"] = os.path.join(TMP, name + ".hgrm") if hgrm else None
    return d


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def redis_incr(clients, requests):
    """redis-benchmark INCR at this many clients: requests per second."""
    bench = shutil.which("redis-benchmark")
    if not bench:
        return None
    r = Redis()
    try:
        out = subprocess.run([bench, "-p", str(r.port), "-c", str(clients), "-n", str(requests), "-t", "incr", "--csv"],
                             capture_output=True, text=True).stdout
        m = re.search(r'"INCR","([0-9.]+)"', out)
        return float(m.group(1)) if m else None
    finally:
        r.stop()


# ---------------------------------------------------------------------------------------------

def part_a_b(node, results):
    """Closed loop, 64 connections, count 1: TSO against the no-op endpoint, back to back."""
    dur, warm = secs(10, 3), secs(3, 1)
    for protocol in ("http", "grpc", "grpc-stream"):
        runs = []
        for i in range(RUNS):
            tso = loadgen("a-%s-tso-%d" % (protocol, i), node.url, protocol, 0, 64, dur, warm)
            noop = loadgen("a-%s-noop-%d" % (protocol, i), node.url, protocol, 0, 64, dur, warm, ["--noop"])
            runs.append({"tso": tso["responsesPerSecond"], "noop": noop["responsesPerSecond"],
                         "ratio": tso["responsesPerSecond"] / noop["responsesPerSecond"],
                         "tsoP99": tso["latencyMs"]["p99"], "errors": tso["errors"]["total"],
                         "violations": tso["violations"]})
            log("a/b %s run %d: tso %.0f/s, no-op %.0f/s" % (protocol, i + 1, runs[-1]["tso"], runs[-1]["noop"]))
        results["closedLoop"][protocol] = {"runs": runs, "tso": med([r["tso"] for r in runs]),
                                           "noop": med([r["noop"] for r in runs]),
                                           "ratio": med([r["ratio"] for r in runs])}
    incr = [redis_incr(64, secs(1_000_000, 200_000)) for _ in range(RUNS)]
    results["redisIncr"] = {"runs": incr, "median": med(incr)}
    log("redis INCR: %s" % incr)


def part_c(node, results, hgrm):
    """Open loop at 30,000/s for 60 s, HTTP and gRPC."""
    dur, warm = secs(60, 8), secs(5, 2)
    for protocol in ("http", "grpc"):
        runs = [loadgen("c-%s-%d" % (protocol, i), node.url, protocol, 30000, 32, dur, warm, hgrm=True)
                for i in range(RUNS)]
        for r in runs:
            log("c %s: p50 %.3f p99 %.3f p99.9 %.3f max %.1f ms, errors %d" % (
                protocol, r["latencyMs"]["p50"], r["latencyMs"]["p99"], r["latencyMs"]["p999"],
                r["latencyMs"]["max"], r["errors"]["total"]))
        mid = sorted(runs, key=lambda r: r["latencyMs"]["p99"])[len(runs) // 2]
        with open(mid["_hgrm"]) as f:
            hgrm.append("# c. open loop 30000/s, %s, the run with the median p99 (%.3f ms)\n%s" % (
                protocol, mid["latencyMs"]["p99"], f.read()))
        results["openLoop30k"][protocol] = {
            "runs": [slim(r) for r in runs],
            **{k: med([r["latencyMs"][k] for r in runs]) for k in ("p50", "p99", "p999", "max")},
            "errors": med([r["errors"]["total"] for r in runs]),
            "violations": sum(r["violations"] for r in runs)}


def slim(r):
    return {k: r[k] for k in ("responsesPerSecond", "latencyMs", "errors", "violations", "longestGapMs",
                              "errorLatencyMs") if k in r}


def part_d(node, results):
    """The highest rate at which p99 <= 2 ms holds (HTTP, 32 connections), then confirmed."""
    dur, warm = secs(15, 3), secs(3, 1)
    steps = []
    best = None
    failures = 0
    rate = 20000
    while rate <= 200000 and failures < 2:
        r = loadgen("d-%d" % rate, node.url, "http", rate, 32, dur, warm)
        ok = r["latencyMs"]["p99"] <= 2.0 and r["errors"]["total"] == 0 and r["responsesPerSecond"] >= rate * 0.97
        steps.append({"rate": rate, "p99": r["latencyMs"]["p99"], "achieved": r["responsesPerSecond"], "ok": ok})
        log("d %d/s: p99 %.3f ms, %.0f/s %s" % (rate, r["latencyMs"]["p99"], r["responsesPerSecond"],
                                               "ok" if ok else "over"))
        if ok:
            best = rate
            failures = 0
        else:
            failures += 1
        rate += 10000
    confirmed = None
    confirm_runs = []
    candidate = best
    while candidate and candidate >= 10000 and confirmed is None:
        confirm_runs = [loadgen("d-confirm-%d-%d" % (candidate, i), node.url, "http", candidate, 32, dur, warm)
                        for i in range(RUNS)]
        p99 = med([r["latencyMs"]["p99"] for r in confirm_runs])
        log("d confirm %d/s: median p99 %.3f ms" % (candidate, p99))
        if p99 <= 2.0:
            confirmed = candidate
        else:
            candidate -= 5000
    results["stepSearch"] = {"steps": steps, "rate": confirmed,
                             "p99": med([r["latencyMs"]["p99"] for r in confirm_runs]) if confirmed else None,
                             "confirmRuns": [slim(r) for r in confirm_runs]}
    return confirmed or 30000


def part_e(node, results, rate):
    """Overload at twice the rate found in (d), many connections: what is admitted, what is refused."""
    dur, warm = secs(30, 5), secs(3, 1)
    before = node.rss_mib()
    runs = []
    for i in range(RUNS):
        r = loadgen("e-%d" % i, node.url, "http", 2 * rate, 256, dur, warm)
        total = r["requests"]
        refused = r["errors"]["byCode"].get("http_429", 0)
        runs.append({"admittedP99": r["latencyMs"]["p99"], "admittedPerSecond": r["responsesPerSecond"],
                     "refusedShare": refused / total if total else 0, "refusedP99": r["errorLatencyMs"]["p99"],
                     "errors": r["errors"], "unsent": r["unsent"], "violations": r["violations"],
                     "rssMiB": node.rss_mib()})
        log("e %d/s: admitted %.0f/s p99 %.3f ms, refused %.1f%% (p99 %.3f ms), rss %.0f MiB" % (
            2 * rate, runs[-1]["admittedPerSecond"], runs[-1]["admittedP99"], 100 * runs[-1]["refusedShare"],
            runs[-1]["refusedP99"], runs[-1]["rssMiB"]))
    after = node.rss_mib()
    live = http(node.url + "/health/live")[0]
    results["overload"] = {"rate": 2 * rate, "runs": runs,
                           "admittedP99": med([r["admittedP99"] for r in runs]),
                           "admittedPerSecond": med([r["admittedPerSecond"] for r in runs]),
                           "refusedShare": med([r["refusedShare"] for r in runs]),
                           "refusedP99": med([r["refusedP99"] for r in runs]),
                           "rssBeforeMiB": before, "rssAfterMiB": after, "liveAfter": live}


def part_f(results):
    """Redis paused (SIGSTOP) for longer than the window while one node serves 30,000/s."""
    pause = 4.0  # the window is 3 s
    runs = []
    for i in range(RUNS):
        redis = Redis()
        node = Node("f%d" % i, {"TSO_REDIS_URL": redis.url(), "TSO_CLUSTER": "bench-f%d" % i}).ready()
        try:
            loadgen("f-warm-%d" % i, node.url, "http", 0, 32, secs(5, 2), 1)
            warm, before = secs(5, 2), secs(5, 3)
            proc = background_30k(node.url, os.path.join(TMP, "f-%d.json" % i), warm)
            time.sleep(1.0 + warm + before)
            redis.proc.send_signal(signal.SIGSTOP)
            paused_at = time.time()
            time.sleep(pause)
            redis.proc.send_signal(signal.SIGCONT)
            resumed_at = time.time()
            proc.wait()
            with open(os.path.join(TMP, "f-%d.json" % i)) as f:
                r = json.load(f)
            gap_start = r["measuredStartEpochMs"] / 1000 + r["longestGapStartMs"] / 1000
            gap_end = gap_start + r["longestGapMs"] / 1000
            runs.append({"pausedS": pause, "servedAfterPauseS": gap_start - paused_at,
                         "servedAgainAfterResumeS": gap_end - resumed_at if r["longestGapMs"] > 0 else None,
                         "longestGapMs": r["longestGapMs"], "errors": r["errors"], "p99": r["latencyMs"]["p99"],
                         "max": r["latencyMs"]["max"], "errorP99": r["errorLatencyMs"]["p99"],
                         "violations": r["violations"]})
            log("f: gap %d ms, stopped %.2f s into the pause, served again %.3f s after resume, errors %s" % (
                r["longestGapMs"], runs[-1]["servedAfterPauseS"], runs[-1]["servedAgainAfterResumeS"] or 0,
                r["errors"]["byCode"]))
        finally:
            node.stop()
            redis.stop()
    results["redisPaused"] = {"runs": runs,
                              "servedAgainAfterResumeS": med([r["servedAgainAfterResumeS"] for r in runs]),
                              "longestGapMs": med([r["longestGapMs"] for r in runs]),
                              "errors": med([r["errors"]["total"] for r in runs]),
                              "errorP99": med([r["errorP99"] for r in runs]),
                              "violations": sum(r["violations"] for r in runs)}


def part_g(results):
    """Failover under 30,000/s: three nodes, the generator on the two followers, the leader killed."""
    ttl = 2000
    runs = []
    for i in range(RUNS):
        redis = Redis()
        env = {"TSO_REDIS_URL": redis.url(), "TSO_CLUSTER": "bench-g%d" % i, "TSO_LEASE_TTL_MS": str(ttl)}
        nodes = [Node("g%d-n%d" % (i, k), env) for k in range(3)]
        try:
            for n in nodes:
                n.ready()
            wait_until(lambda: (nodes[0].leader() or {}).get("leader") is not None, 20, "a leader")
            leader_id = nodes[0].leader()["leader"]["nodeId"]
            leader = next(n for n in nodes if n.name == leader_id)
            followers = [n for n in nodes if n is not leader]
            target = ",".join(n.url for n in followers)
            loadgen("g-warm-%d" % i, target, "http", 0, 32, secs(5, 2), 1)
            warm, before = secs(5, 2), secs(5, 3)
            path = os.path.join(TMP, "g-%d.json" % i)
            proc = background_30k(target, path, warm)
            time.sleep(1.0 + warm + before)
            leader.stop(signal.SIGKILL)
            killed_at = time.time()
            proc.wait()
            with open(path) as f:
                r = json.load(f)
            gap_start = r["measuredStartEpochMs"] / 1000 + r["longestGapStartMs"] / 1000
            runs.append({"recoveryMs": r["longestGapMs"], "gapStartAfterKillS": gap_start - killed_at,
                         "errors": r["errors"], "max": r["latencyMs"]["max"], "p99": r["latencyMs"]["p99"],
                         "violations": r["violations"]})
            log("g: no answer for %d ms (from %.3f s after the kill), max %.0f ms, errors %s" % (
                r["longestGapMs"], runs[-1]["gapStartAfterKillS"], r["latencyMs"]["max"], r["errors"]["byCode"]))
        finally:
            for n in nodes:
                n.stop()
            redis.stop()
    results["failover"] = {"ttlMs": ttl, "runs": runs, "recoveryMs": med([r["recoveryMs"] for r in runs]),
                           "max": med([r["max"] for r in runs]),
                           "errors": med([r["errors"]["total"] for r in runs]),
                           "violations": sum(r["violations"] for r in runs)}


def part_h(results):
    """The Java client, closed loop, 1,000 callers over 4 connections, one standalone node; each run
    paired with a gRPC unary closed-loop run at 64 connections right after it, against the same node."""
    dur, warm = secs(10, 3), secs(5, 2)
    node = Node("bench-h", {}).ready()
    try:
        log("h: warming the node up (not measured)")
        loadgen("h-warm-client", node.url, "client", 0, CLIENT_CONNECTIONS, secs(8, 2), 1, CLIENT_EXTRA)
        loadgen("h-warm-grpc", node.url, "grpc", 0, 64, secs(8, 2), 1)
        runs = []
        for i in range(RUNS):
            c = loadgen("h-client-%d" % i, node.url, "client", 0, CLIENT_CONNECTIONS, dur, warm, CLIENT_EXTRA)
            u = loadgen("h-grpc-%d" % i, node.url, "grpc", 0, 64, dur, warm)
            runs.append({"client": c["timestampsPerSecond"], "clientP99": c["latencyMs"]["p99"],
                         "clientP999": c["latencyMs"]["p999"], "clientMax": c["latencyMs"]["max"],
                         "unary": u["timestampsPerSecond"], "unaryP99": u["latencyMs"]["p99"],
                         "ratio": c["timestampsPerSecond"] / u["timestampsPerSecond"],
                         "errors": c["errors"]["total"] + u["errors"]["total"],
                         "errorsByCode": {"client": c["errors"]["byCode"], "grpc": u["errors"]["byCode"]},
                         "violations": c["violations"] + u["violations"]})
            log("h run %d: client %.0f timestamps/s p99 %.3f ms, gRPC unary %.0f/s p99 %.3f ms, ratio %.1f, errors %d" % (
                i + 1, runs[-1]["client"], runs[-1]["clientP99"], runs[-1]["unary"], runs[-1]["unaryP99"],
                runs[-1]["ratio"], runs[-1]["errors"]))
    finally:
        node.stop()
    results["client"] = {"connections": CLIENT_CONNECTIONS, "concurrency": CLIENT_CONCURRENCY, "runs": runs,
                         **{k: med([r[k] for r in runs]) for k in ("client", "clientP99", "clientP999", "clientMax",
                                                                    "unary", "unaryP99", "ratio", "errors")},
                         "violations": sum(r["violations"] for r in runs)}


def part_i(results):
    """Failover under the client's load: three nodes and Redis, one client (1,000 callers over 4
    connections, closed loop) given all three members, the leader SIGKILLed partway through."""
    ttl = 2000
    runs = []
    for i in range(RUNS):
        redis = Redis()
        env = {"TSO_REDIS_URL": redis.url(), "TSO_CLUSTER": "bench-i%d" % i, "TSO_LEASE_TTL_MS": str(ttl)}
        nodes = [Node("i%d-n%d" % (i, k), env) for k in range(3)]
        try:
            for n in nodes:
                n.ready()
            wait_until(lambda: (nodes[0].leader() or {}).get("leader") is not None, 20, "a leader")
            leader_id = nodes[0].leader()["leader"]["nodeId"]
            leader = next(n for n in nodes if n.name == leader_id)
            target = ",".join(n.url for n in nodes)
            loadgen("i-warm-%d" % i, target, "client", 0, CLIENT_CONNECTIONS, secs(5, 2), 1, CLIENT_EXTRA)
            warm, before = secs(5, 2), secs(5, 3)
            path = os.path.join(TMP, "i-%d.json" % i)
            proc = background_client(target, path, secs(20, 12), warm)
            time.sleep(1.0 + warm + before)
            killed_at = time.time()  # when the signal is sent: the kernel may take a while to reap a JVM
            leader.stop(signal.SIGKILL)
            log("i: leader %s killed, reaped after %.3f s" % (leader.name, time.time() - killed_at))
            proc.wait()
            if not os.path.exists(path):
                raise RuntimeError("loadgen i-%d wrote no summary (exit %s)" % (i, proc.returncode))
            with open(path) as f:
                r = json.load(f)
            gap_start = r["measuredStartEpochMs"] / 1000 + r["longestGapStartMs"] / 1000
            runs.append({"max": r["latencyMs"]["max"], "errorMax": r["errorLatencyMs"]["max"],
                         "longestWaitMs": max(r["latencyMs"]["max"], r["errorLatencyMs"]["max"]),
                         "longestGapMs": r["longestGapMs"], "gapStartAfterKillS": gap_start - killed_at,
                         "p99": r["latencyMs"]["p99"], "p999": r["latencyMs"]["p999"],
                         "timestampsPerSecond": r["timestampsPerSecond"], "errors": r["errors"],
                         "violations": r["violations"]})
            log("i: longest call %.0f ms, no answer for %d ms (from %.3f s after the kill), p99 %.3f ms, "
                "%.0f timestamps/s, errors %s, violations %d" % (
                    runs[-1]["longestWaitMs"], r["longestGapMs"], runs[-1]["gapStartAfterKillS"], r["latencyMs"]["p99"],
                    r["timestampsPerSecond"], r["errors"]["byCode"], r["violations"]))
        finally:
            for n in nodes:
                n.stop()
            redis.stop()
    results["clientFailover"] = {"ttlMs": ttl, "runs": runs,
                                 **{k: med([r[k] for r in runs]) for k in ("longestWaitMs", "max", "longestGapMs",
                                                                            "p99", "timestampsPerSecond")},
                                 "errors": med([r["errors"]["total"] for r in runs]),
                                 "errorsTotal": sum(r["errors"]["total"] for r in runs),
                                 "violations": sum(r["violations"] for r in runs)}


# ---------------------------------------------------------------------------------------------

def machine():
    return describe(ROOT, redis_server())


def verdict(ok, text):
    return ("met: " if ok else "MISSED: ") + text


def report_client(results):
    """The sections and targets of h and i (the client), for the full report and for a client-only one."""
    m = results["machine"]
    lines = []
    h = results["client"]
    callers = "{:,}".format(h["connections"] * h["concurrency"])
    lines += ["## h. Java client (tso.client.TsoClient), closed loop, %s callers over %d connections, one timestamp a call"
              % (callers, h["connections"]), "",
              "One standalone node; each client run is followed at once by a gRPC unary closed-loop run (64 connections, "
              "one timestamp per request) against the same node, and the ratio is taken within each pair. **The node and "
              "the generator (the client and its %s callers included) share these %d cores**: the client's figures are "
              "bounded by the generator's own CPU as much as by the server's." % (callers, m["cpus"]), "",
              "| run | client (timestamps/s) | client p99 (ms) | client p99.9 (ms) | client max (ms) | gRPC unary (timestamps/s) "
              "| unary p99 (ms) | client / unary | errors | violations |", "|---|---|---|---|---|---|---|---|---|---|"]
    for k, r in enumerate(h["runs"]):
        lines.append("| %d | %.0f | %.3f | %.3f | %.1f | %.0f | %.3f | %.1f | %d | %d |" % (
            k + 1, r["client"], r["clientP99"], r["clientP999"], r["clientMax"], r["unary"], r["unaryP99"], r["ratio"],
            r["errors"], r["violations"]))
    lines += ["| **median** | **%.0f** | **%.3f** | %.3f | %.1f | %.0f | %.3f | **%.1f** | %.0f | %d |" % (
        h["client"], h["clientP99"], h["clientP999"], h["clientMax"], h["unary"], h["unaryP99"], h["ratio"], h["errors"],
        h["violations"]), ""]
    i = results["clientFailover"]
    lines += ["## i. Failover under the client's load (lease TTL %d ms, leader SIGKILLed, %s callers over %d connections, "
              "closed loop, all three members given)" % (i["ttlMs"], callers, h["connections"]), "",
              "Three nodes and Redis; **the nodes, Redis and the generator (the client included) share these %d cores.** "
              "Longest a call waited (successful or failed): **%.0f ms**; longest time without any successful answer: "
              "%.0f ms; errors %.0f (%d in all runs); violations %d." % (
                  m["cpus"], i["longestWaitMs"], i["longestGapMs"], i["errors"], i["errorsTotal"], i["violations"]), "",
              "| run | longest call (ms) | longest failed call (ms) | no answer for (ms) | from (s after the kill) | p99 (ms) "
              "| timestamps/s | errors | violations |", "|---|---|---|---|---|---|---|---|---|"]
    for k, r in enumerate(i["runs"]):
        lines.append("| %d | %.0f | %.0f | %d | %.3f | %.3f | %.0f | %s | %d |" % (
            k + 1, r["max"], r["errorMax"], r["longestGapMs"], r["gapStartAfterKillS"], r["p99"], r["timestampsPerSecond"],
            "%d %s" % (r["errors"]["total"], r["errors"]["byCode"]) if r["errors"]["total"] else "0", r["violations"]))
    lines.append("")
    t = []
    t.append(verdict(h["client"] >= 2_000_000, "(h) client %.0f timestamps/s (target >= 2,000,000/s on %d cores, "
                                               "generator included)" % (h["client"], m["cpus"])))
    t.append(verdict(h["client"] >= 5_000_000, "(h) stretch: client %.0f timestamps/s (stretch target >= 5,000,000/s)"
                     % h["client"]))
    t.append(verdict(h["clientP99"] <= 5.0, "(h) client call p99 %.3f ms (target <= 5 ms)" % h["clientP99"]))
    t.append(verdict(i["errorsTotal"] == 0, "(i) errors across the failover: %d in %d runs (target none)" % (
        i["errorsTotal"], len(i["runs"]))))
    t.append(verdict(i["violations"] == 0, "(i) violations %d (must be 0)" % i["violations"]))
    return lines, t


def report_client_only(results):
    """A report of h and i alone (PARTS=h,i), for the client's figures between full runs."""
    m = results["machine"]
    lines = ["# Benchmark %s: the Java client (parts h and i)" % results["date"], "",
             "Machine: %d CPUs (%s), %s, Linux %s, %s, %s; commit %s. **The server(s), Redis and the load generator "
             "share these %d cores.** Every figure is the median of %d runs%s." % (
                 m["cpus"], m["cpu"], m["memory"], m["kernel"], m["java"], m["redis"], m["commit"], m["cpus"], RUNS,
                 " (QUICK: short runs, not for quoting)" if QUICK else ""),
             "", "Reproduce: `PARTS=h,i make bench` (about 7 minutes).", ""]
    client_lines, t = report_client(results)
    lines += client_lines + ["## Targets", ""] + ["- " + x for x in t] + [""]
    results["targets"] = t
    return "\n".join(lines)


def report(results):
    m = results["machine"]
    a = results["closedLoop"]
    incr = results["redisIncr"]["median"]
    lines = ["# Benchmark %s" % results["date"], "",
             "Machine: %d CPUs (%s), %s, Linux %s, %s, %s; commit %s. **The server(s), Redis and the load generator "
             "share these %d cores.** Every figure is the median of %d runs%s; ratios come from runs made back to back "
             "against the same server." % (m["cpus"], m["cpu"], m["memory"], m["kernel"], m["java"], m["redis"],
                                           m["commit"], m["cpus"], RUNS, " (QUICK: short runs, not for quoting)" if QUICK else ""),
             "", "Reproduce: `make bench` (about 30 minutes; `RUNS=5 make bench` for more runs).", "",
             "## a, b. Closed loop, 64 connections, one timestamp per request", "",
             "| protocol | TSO (req/s) | no-op endpoint (req/s) | TSO / no-op | TSO / Redis INCR |", "|---|---|---|---|---|"]
    for p in ("http", "grpc", "grpc-stream"):
        x = a[p]
        lines.append("| %s | %.0f | %.0f | %.2f | %s |" % (p, x["tso"], x["noop"], x["ratio"],
                                                        "%.2f" % (x["tso"] / incr) if incr else "n/a"))
    lines += ["", "redis-benchmark INCR, 64 clients, no pipelining: %s req/s (median of %s)." % (
        "%.0f" % incr if incr else "not installed", ", ".join("%.0f" % v for v in results["redisIncr"]["runs"] if v)), ""]
    c = results["openLoop30k"]
    lines += ["## c. Open loop, 30,000 requests/s for %d s, 32 connections" % secs(60, 8), "",
              "| protocol | p50 (ms) | p99 (ms) | p99.9 (ms) | max (ms) | errors | violations |", "|---|---|---|---|---|---|---|"]
    for p in ("http", "grpc"):
        x = c[p]
        lines.append("| %s | %.3f | %.3f | %.3f | %.1f | %d | %d |" % (p, x["p50"], x["p99"], x["p999"], x["max"],
                                                                      x["errors"], x["violations"]))
    d = results["stepSearch"]
    lines += ["", "## d. Highest rate with p99 <= 2 ms (HTTP, 32 connections)", "",
              "Steps (one run each): " + ", ".join("%dk/s %.2f ms%s" % (s["rate"] // 1000, s["p99"], "" if s["ok"] else " (over)")
                                                 for s in d["steps"]) + ".",
              "", "Confirmed: **%s** (median p99 %s over %d runs)." % (
                  "%d requests/s" % d["rate"] if d["rate"] else "none", "%.3f ms" % d["p99"] if d["p99"] else "-", RUNS), ""]
    e = results["overload"]
    lines += ["## e. Overload at %d requests/s (twice d), 256 connections, 30 s" % e["rate"], "",
              "| admitted (req/s) | admitted p99 (ms) | refused | refusal p99 (ms) | RSS before → after (MiB) | /health/live after |",
              "|---|---|---|---|---|---|",
              "| %.0f | %.3f | %.1f%% | %.3f | %.0f → %.0f | %s |" % (
                  e["admittedPerSecond"], e["admittedP99"], 100 * e["refusedShare"], e["refusedP99"], e["rssBeforeMiB"],
                  e["rssAfterMiB"], e["liveAfter"]), ""]
    f = results["redisPaused"]
    lines += ["## f. Redis paused 4 s (longer than the 3 s window) under 30,000 requests/s", "",
              "Longest time without a successful answer: %s ms; served again %s after Redis resumed; errors %s "
              "(answered in p99 %s ms); violations %d." % (
                  "%.0f" % f["longestGapMs"], "%.3f s" % f["servedAgainAfterResumeS"] if f["servedAgainAfterResumeS"] is not None else "-",
                  "%.0f" % f["errors"], "%.3f" % f["errorP99"], f["violations"]),
              "", "Runs: " + "; ".join("gap %d ms, errors %s" % (r["longestGapMs"], r["errors"]["byCode"]) for r in f["runs"]), ""]
    g = results["failover"]
    lines += ["## g. Failover under 30,000 requests/s (lease TTL %d ms, leader SIGKILLed, load on the two followers)" % g["ttlMs"], "",
              "Recovery (longest time without a successful answer): **%.0f ms**; max latency %.0f ms; errors %.0f; "
              "violations %d." % (g["recoveryMs"], g["max"], g["errors"], g["violations"]),
              "", "Runs: " + "; ".join("%d ms, errors %s" % (r["recoveryMs"], r["errors"]["byCode"]) for r in g["runs"]), ""]
    client_lines, client_targets = report_client(results)
    lines += client_lines
    t = []
    t.append(verdict(a["http"]["ratio"] >= 0.85, "(a) HTTP TSO / no-op %.2f (target >= 0.85)" % a["http"]["ratio"]))
    if incr:
        t.append(verdict(a["http"]["tso"] / incr >= 1.0, "(a) HTTP TSO / Redis INCR %.2f (target >= 1.0)" % (a["http"]["tso"] / incr)))
    for p in ("http", "grpc"):
        x = c[p]
        t.append(verdict(x["p99"] <= 1.0, "(c) %s p99 %.3f ms (target <= 1 ms)" % (p, x["p99"])))
        t.append(verdict(x["p999"] <= 5.0, "(c) %s p99.9 %.3f ms (target <= 5 ms)" % (p, x["p999"])))
        t.append(verdict(x["errors"] == 0, "(c) %s errors %d (target 0)" % (p, x["errors"])))
    t.append(verdict(e["admittedP99"] <= 20, "(e) admitted p99 %.3f ms (target <= 20 ms)" % e["admittedP99"]))
    if e["refusedShare"] > 0:
        t.append(verdict(e["refusedP99"] <= 1, "(e) refusals answered in p99 %.3f ms (target <= 1 ms)" % e["refusedP99"]))
    else:
        t.append("NOT SHOWN: (e) refusal latency: nothing was refused; with one request in flight per connection "
                 "the excess waited in the generator's own queue, where the server cannot see it")
    growth = e["rssAfterMiB"] - e["rssBeforeMiB"]
    t.append(verdict(growth <= 0.25 * e["rssBeforeMiB"], "(e) RSS %.0f → %.0f MiB (target: flat)" % (e["rssBeforeMiB"], e["rssAfterMiB"])))
    t.append(verdict(g["recoveryMs"] <= g["ttlMs"] + 500, "(g) recovery %.0f ms (target <= TTL + 0.5 s = %d ms)" % (
        g["recoveryMs"], g["ttlMs"] + 500)))
    t += client_targets
    lines += ["## Targets", ""] + ["- " + x for x in t] + [""]
    results["targets"] = t
    return "\n".join(lines)


def main():
    if not os.path.exists(os.path.join(ROOT, "target", "tso.jar")):
        sys.exit("bench: build first (make build)")
    os.makedirs(OUT, exist_ok=True)
    date = datetime.date.today().isoformat()
    results = {"date": date, "runs": RUNS, "quick": QUICK, "machine": machine(), "closedLoop": {}, "openLoop30k": {}}
    hgrm = []
    try:
        if PARTS & {"a", "b", "c", "d", "e"}:
            node = Node("bench", {"TSO_NOOP_ENDPOINT": "true"}).ready()
            log("warming the node up (not measured)")
            for p in ("http", "grpc", "grpc-stream"):
                loadgen("warm-" + p, node.url, p, 0, 64, secs(8, 2), 1)
                loadgen("warm-noop-" + p, node.url, p, 0, 64, secs(4, 1), 1, ["--noop"])
            if PARTS & {"a", "b"}:
                part_a_b(node, results)
            if "c" in PARTS:
                part_c(node, results, hgrm)
            if PARTS & {"d", "e"}:
                rate = part_d(node, results)
                if "e" in PARTS:
                    part_e(node, results, rate)
            node.stop()
        if "f" in PARTS:
            part_f(results)
        if "g" in PARTS:
            part_g(results)
        if "h" in PARTS:
            part_h(results)
        if "i" in PARTS:
            part_i(results)
    finally:
        for p in PROCS:
            if p.poll() is None:
                p.kill()
    if PARTS == {"h", "i"}:
        text = report_client_only(results)
        base = os.path.join(OUT, date + "-client" + ("-quick" if QUICK else ""))
        with open(base + ".md", "w") as f:
            f.write(text)
        with open(base + ".json", "w") as f:
            json.dump(results, f, indent=1)
        print(text)
        print("\nwritten: %s.md, .json" % base)
        shutil.rmtree(TMP, ignore_errors=True)
        return
    if PARTS != set("abcdefghi"):
        # Some parts only: their figures, not a report (the report compares every part).
        print(json.dumps({k: v for k, v in results.items() if k not in ("closedLoop", "openLoop30k") or v}, indent=1))
        shutil.rmtree(TMP, ignore_errors=True)
        return
    text = report(results)
    base = os.path.join(OUT, date + ("-quick" if QUICK else ""))
    with open(base + ".md", "w") as f:
        f.write(text)
    with open(base + ".json", "w") as f:
        json.dump(results, f, indent=1)
    with open(base + ".hgrm", "w") as f:
        f.write("\n".join(hgrm))
    print(text)
    print("\nwritten: %s.md, .json, .hgrm" % base)
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
