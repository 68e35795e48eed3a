#!/usr/bin/env bash
# End-to-end gRPC benchmark: starts a release custval-server on a free loopback port with
# a fresh data directory, drives it with `custval bench`, prints one table.
#
#   benches/grpc/run.sh [--duration 10s] [--warmup 2s]
#
# Runs: unary Score at batch 1 (closed loop 1,4,16 and open loop at 1,000 req/s), 100 and
# 10,000 customers; ScoreStream of 1M customers in 20k chunks (1 and 2 streams); FitModel
# of 10k and 100k customers. Raw reports: target/grpc-bench/*.json. Client and server
# share the machine, so the figures include the client's own encoding and decoding.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
duration="10s"
warmup="2s"
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) duration="${2-}"; shift 2 ;;
        --warmup) warmup="${2-}"; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
if ! command -v python3 >/dev/null 2>&1; then
    echo "run.sh: python3 is needed to print the table (the raw JSON reports need nothing)" >&2
    exit 1
fi

echo "== building custval-server and custval (release)" >&2
(cd "$root" && cargo build --release --locked -p custval-server -p custval-client >&2)
bin="$root/target/release"
out="$root/target/grpc-bench"
mkdir -p "$out"
data="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
server="http://127.0.0.1:$port"

"$bin/custval-server" --listen "127.0.0.1:$port" --data-dir "$data" \
    --metrics-listen 127.0.0.1:0 >"$out/server.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT
for _ in $(seq 1 100); do
    if "$bin/custval" --server "$server" --retries 0 health >/dev/null 2>&1; then break; fi
    sleep 0.1
done
"$bin/custval" --server "$server" health >&2

bench() {
    local name="$1"; shift
    echo "== $name: custval bench $*" >&2
    "$bin/custval" --server "$server" bench --json -q --duration "$duration" \
        --warmup "$warmup" "$@" >"$out/$name.json"
}
bench score-1 --rpc score --batch-size 1 --concurrency 1,4,16
bench score-1-open --rpc score --batch-size 1 --rate 1000
bench score-100 --rpc score --batch-size 100 --concurrency 1,4
bench score-10000 --rpc score --batch-size 10000 --concurrency 1,4
bench score-stream --rpc score-stream --batch-size 20000 --concurrency 1,2
bench fit-10000 --rpc fit --batch-size 10000 --concurrency 1
bench fit-100000 --rpc fit --batch-size 100000 --concurrency 1

python3 - "$out" <<'PY'
import json, os, platform, sys
out = sys.argv[1]
names = ["score-1", "score-1-open", "score-100", "score-10000", "score-stream", "fit-10000", "fit-100000"]
print(f"custval gRPC end to end, {os.cpu_count()} CPUs, {platform.machine()}, loopback")
print()
print("| run | level | requests | errors | req/s | customers/s | p50 ms | p90 | p99 | p99.9 | max |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for n in names:
    r = json.load(open(os.path.join(out, n + ".json")))
    for l in r["levels"]:
        lat = l.get("latency_ms") or {}
        level = f'{l["rate"]:g}/s, cap {l["concurrency"]}' if l.get("rate") else f'concurrency {l["concurrency"]}'
        cells = [n, level, l["requests"], l["errors"], f'{l["requests_per_s"]:.1f}',
                 f'{l["customers_per_s"]:.0f}'] + [f'{lat[k]:.3f}' if k in lat else "-" for k in ["p50", "p90", "p99", "p999", "max"]]
        print("| " + " | ".join(str(c) for c in cells) + " |")
PY
