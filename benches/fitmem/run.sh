#!/usr/bin/env bash
# Server memory of large fits (issue 15): for each customer count, a fresh custval-server
# fits a simulated summary CSV sent by `custval fit` (BG/NBD + Gamma-Gamma); the server's
# peak RSS (VmHWM) and its RSS after the fit, once idle, are read from /proc.
#
#   benches/fitmem/run.sh [--server-bin PATH] [--cli-bin PATH] [--idle 10] [N ...]
#
# Defaults: this checkout's release binaries (built first), counts 1000000 10000000, 10 s
# idle. Pass --server-bin of an older build to compare (the CSVs are made once, in
# target/fitmem/, and kept for the next run; delete them when done). One line of JSON per
# fit on stdout: {n, server, wall_s, server_cpu_s, peak_rss_mb, rss_after_fit_mb,
# idle_rss_mb, load}.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
server_bin=""
cli_bin=""
idle=10
counts=()
while [ $# -gt 0 ]; do
    case "$1" in
        --server-bin) server_bin="${2-}"; shift 2 ;;
        --cli-bin) cli_bin="${2-}"; shift 2 ;;
        --idle) idle="${2-}"; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) counts+=("$1"); shift ;;
    esac
done
[ ${#counts[@]} -gt 0 ] || counts=(1000000 10000000)
if [ -z "$server_bin" ] || [ -z "$cli_bin" ]; then
    (cd "$root" && cargo build --release --locked -p custval-server -p custval-client >&2)
    server_bin="${server_bin:-$root/target/release/custval-server}"
    cli_bin="${cli_bin:-$root/target/release/custval}"
fi
out="$root/target/fitmem"
mkdir -p "$out"

kb() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$2/status"; }
cpu_s() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; }

for n in "${counts[@]}"; do
    csv="$out/summaries-$n.csv"
    [ -s "$csv" ] || "$cli_bin" simulate --customers "$n" --seed 15 --output "$csv" >&2
    data="$(mktemp -d)"
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    "$server_bin" --listen "127.0.0.1:$port" --data-dir "$data" --metrics-listen 127.0.0.1:0 \
        --max-fit-customers 20000000 >"$out/server-$n.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do
        "$cli_bin" --server "http://127.0.0.1:$port" --retries 0 health >/dev/null 2>&1 && break
        sleep 0.1
    done
    start=$(date +%s.%N)
    "$cli_bin" --server "http://127.0.0.1:$port" fit --input "$csv" --name mem \
        --family bgnbd --time-unit week --json >"$out/fit-$n.json"
    end=$(date +%s.%N)
    after=$(kb VmRSS "$pid")
    sleep "$idle"
    echo "{\"n\": $n, \"server\": \"$server_bin\", \"wall_s\": $(echo "$end - $start" | bc)," \
        "\"server_cpu_s\": $(cpu_s "$pid"), \"peak_rss_mb\": $(( $(kb VmHWM "$pid") / 1024 ))," \
        "\"rss_after_fit_mb\": $(( after / 1024 )), \"idle_rss_mb\": $(( $(kb VmRSS "$pid") / 1024 ))," \
        "\"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rm -rf "$data"
done
