#!/usr/bin/env bash
# make loadtest: one standalone node on loopback, driven by the bundled load generator
# (30,000 requests/s for 30 s after a 10 s warm-up, HTTP, 64 connections, by default), then the
# report. Override with RATE, DURATION, WARMUP, CONNECTIONS, PROTOCOL, PORT; extra arguments go to
# the load generator (e.g. --json loadtest/results/run.json --max-p99-ms 2).
# Server and generator share this machine's cores: say so next to any figure.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
port=${PORT:-18080}
data=$(mktemp -d)
bin/tso server --host 127.0.0.1 --port "$port" --data-dir "$data/node" > "$data/server.log" 2>&1 &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT
for i in $(seq 1 600); do  # up to 60 s: the node warms itself up (TSO_WARMUP_MS, up to 3x on a busy JIT) before it is ready
  if curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health/ready" 2>/dev/null | grep -q 200; then break; fi
  sleep 0.1
done
if ! curl -s -o /dev/null "http://127.0.0.1:$port/health/ready"; then
  echo "loadtest: the node did not start:" >&2; tail -5 "$data/server.log" >&2; exit 1
fi
bin/tso loadgen --target "http://127.0.0.1:$port" --protocol "${PROTOCOL:-http}" --rate "${RATE:-30000}" \
  --connections "${CONNECTIONS:-64}" --duration "${DURATION:-30s}" --warmup "${WARMUP:-10s}" "$@"
