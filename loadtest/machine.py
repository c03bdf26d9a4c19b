"""What a benchmark or soak report says about the machine it ran on (bench.py and soak.py)."""

import os
import platform
import subprocess


def describe(root, redis_server):
    """CPUs, memory, kernel, Java and Redis versions, and the commit of the checkout at root."""
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = "%.0f GiB" % (int(f.readline().split()[1]) / 1024 / 1024)
    except OSError:
        pass
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
    redis = subprocess.run([redis_server, "--version"], capture_output=True, text=True).stdout.strip()
    git = lambda *a: subprocess.run(["git", "-C", root] + list(a), capture_output=True, text=True).stdout.strip()
    return {"cpus": os.cpu_count(), "cpu": model, "memory": mem, "kernel": platform.release(),
            "java": java[0] if java else "", "redis": redis.split(" sha=")[0], "commit": git("rev-parse", "--short", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
