#!/usr/bin/env bash
# Soak test (not in CI): mixed load at about twice the server's capacity for a long time,
# recording the server's memory over time, the admitted requests' latency and the shed
# rate. What "done" looks like: flat memory, a bounded admitted p99, and the excess shed.
#
#   benches/soak/run.sh [--duration 600s] [--capacity REQ_PER_S] [--bin DIR]
#
# --bin: use the release binaries in DIR instead of building them.
#
# 1. Builds release binaries, starts custval-server (fresh data dir, default limits) on a
#    free loopback port.
# 2. Measures capacity: unary Segment of 1,000 customers (much server work per byte, so
#    the generators sharing the machine do not become the bottleneck), closed loop at
#    concurrency 8 for 10 s (or takes --capacity). The main load is then an open loop at
#    2x that rate.
# 3. Mixed load, all at once for --duration, each from its own `custval bench` process:
#    Segment of 1,000 customers at 2x capacity; Score of 1,000 customers at 50/s; Score of
#    1 customer at 200/s; ScoreStream of 100k customers in 10k chunks every 5 s; FitModel
#    of 10k customers every 10 s (its versions are deleted at the end).
# 4. Samples every 5 s: server RSS (/proc), in-flight, queued and shed from /metrics.
# 5. Prints a summary (per load: requests, admitted, shed %, admitted p50/p99/p99.9; RSS
#    at the start, after the first minute, at the end, and its peak; admitted p99 minute
#    by minute). Raw files: target/soak/ (bench JSON, per-second intervals, samples.csv).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
duration="600s"
capacity=""
build=1
bin="$root/target/release"
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) duration="${2-}"; shift 2 ;;
        --capacity) capacity="${2-}"; shift 2 ;;
        --bin) bin="${2-}"; build=0; shift 2 ;;
        -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
        *) echo "soak: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
command -v python3 >/dev/null 2>&1 || { echo "soak: python3 is needed for the summary" >&2; exit 1; }

if [ "$build" = 1 ]; then
    echo "== building custval-server and custval (release)" >&2
    (cd "$root" && cargo build --release --locked -p custval-server -p custval-client >&2)
fi
out="$root/target/soak"
rm -rf "$out"
mkdir -p "$out"
data="$(mktemp -d)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port="$(free_port)"
mport="$(free_port)"
server="http://127.0.0.1:$port"

"$bin/custval-server" --listen "127.0.0.1:$port" --data-dir "$data" \
    --metrics-listen "127.0.0.1:$mport" >"$out/server.log" 2>&1 &
pid=$!
loads=()
cleanup() {
    for p in "${loads[@]}"; do kill "$p" 2>/dev/null || true; done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$data"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
    if "$bin/custval" --server "$server" --retries 0 health >/dev/null 2>&1; then break; fi
    sleep 0.1
done
"$bin/custval" --server "$server" health >&2

cv() { "$bin/custval" --server "$server" bench --json -q "$@"; }
if [ -z "$capacity" ]; then
    echo "== capacity: Segment of 1,000 customers, closed loop at concurrency 8, 10 s" >&2
    cv --rpc segment --batch-size 1000 --concurrency 8 --duration 10s --warmup 2s >"$out/capacity.json"
    capacity="$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["levels"][0]["requests_per_s"]))' "$out/capacity.json")"
fi
rate=$((capacity * 2))
echo "== capacity $capacity req/s; mixed load for $duration with Segment(1000) at $rate req/s" >&2

sample() {
    echo "t_s,rss_kib,in_flight,queued,shed_total" >"$out/samples.csv"
    local t0; t0=$(date +%s)
    while kill -0 "$pid" 2>/dev/null; do
        local rss m
        rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo "")
        m=$(python3 - "$mport" <<'PY' 2>/dev/null || echo ",,"
import sys, urllib.request
text = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=2).read().decode()
def get(name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return line.split()[1]
    return ""
print(",".join(get(n) for n in ["custval_requests_in_flight", "custval_requests_queued", "custval_requests_shed_total"]))
PY
)
        echo "$(( $(date +%s) - t0 )),$rss,$m" >>"$out/samples.csv"
        sleep 5
    done
}
sample &
sampler=$!
loads+=("$sampler")

run_load() {
    local name="$1"; shift
    cv --duration "$duration" --warmup 0s --intervals-csv "$out/$name.csv" "$@" >"$out/$name.json" &
    loads+=("$!")
}
# In-flight caps above the server's running + queued places: the client never throttles.
run_load segment-1000 --rpc segment --batch-size 1000 --rate "$rate" --concurrency 4096
run_load score-1000 --rpc score --batch-size 1000 --rate 50 --concurrency 1024
run_load score-1 --rpc score --batch-size 1 --rate 200 --concurrency 1024
run_load score-stream --rpc score-stream --batch-size 10000 --stream-customers 100000 --rate 0.2 --concurrency 64
run_load fit --rpc fit --batch-size 10000 --rate 0.1 --concurrency 64 --fit-name soak-fit
for p in "${loads[@]:1}"; do wait "$p"; done
kill "$sampler" 2>/dev/null || true

python3 - "$out" "$capacity" "$rate" "$duration" <<'PY'
import csv, json, os, sys
out, capacity, rate, duration = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
print(f"soak: {duration} of mixed load; capacity {capacity} req/s (Segment of 1,000, closed loop), main load {rate} req/s")
print()
print("| load | requests | admitted | shed (RESOURCE_EXHAUSTED) | other errors | admitted p50 ms | p99 | p99.9 | max |")
print("|---|---|---|---|---|---|---|---|---|")
for name in ["segment-1000", "score-1000", "score-1", "score-stream", "fit"]:
    r = json.load(open(os.path.join(out, name + ".json")))
    l = r["levels"][0]
    shed = l["errors_by_code"].get("RESOURCE_EXHAUSTED", 0)
    other = l["errors"] - shed
    lat = l.get("latency_ms") or {}
    f = lambda k: f'{lat[k]:.1f}' if k in lat else "-"
    share = 100.0 * shed / l["requests"] if l["requests"] else 0.0
    print(f'| {name} | {l["requests"]} | {l["ok"]} | {shed} ({share:.1f}%) | {other} | {f("p50")} | {f("p99")} | {f("p999")} | {f("max")} |')
rows = [r for r in csv.DictReader(open(os.path.join(out, "samples.csv"))) if r["rss_kib"]]
if rows:
    mib = lambda r: int(r["rss_kib"]) / 1024
    after_1m = next((r for r in rows if int(r["t_s"]) >= 60), rows[-1])
    print()
    print(f'server RSS MiB: start {mib(rows[0]):.0f}, after 1 min {mib(after_1m):.0f}, end {mib(rows[-1]):.0f}, peak {max(mib(r) for r in rows):.0f} ({len(rows)} samples)')
per_min = {}
for r in csv.DictReader(open(os.path.join(out, "segment-1000.csv"))):
    if r["p99_ms"]:
        m = int(r["time_s"]) // 60
        per_min[m] = max(per_min.get(m, 0.0), float(r["p99_ms"]))
print("Segment(1000) admitted p99 per minute (worst second), ms: " + ", ".join(f"{v:.0f}" for _, v in sorted(per_min.items())))
PY
