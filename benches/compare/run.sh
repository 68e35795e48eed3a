#!/usr/bin/env bash
# lifetimes 0.11.3 + scikit-learn vs custval on the same seeded data, in one run.
#
#   benches/compare/run.sh [--sizes 10000,100000,1000000] [--tx 1000000,10000000]
#
# --sizes: customers per fit/score/k-means task; --tx: transaction rows for summarizing
# (an empty list skips those tasks). Environment: PYTHON (default python3) builds the venv.
#
# Steps: a Python venv in target/compare-venv from requirements.txt (once; rebuilt when
# the file changes), the Rust example in release mode, `compare gen` (inputs in
# target/compare-data), lifetimes_side.py, `compare run`, report.py (tables on stdout,
# target/compare-results.json, the time-against-N chart target/compare-time-vs-n.svg).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
sizes="10000,100000,1000000"
tx="1000000,10000000"
while [ $# -gt 0 ]; do
    case "$1" in
        --sizes) sizes="${2-}"; shift 2 ;;
        --tx) tx="${2-}"; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

target="$root/target"
data="$target/compare-data"
venv="$target/compare-venv"
python="${PYTHON:-python3}"
mkdir -p "$data"

# --- Python environment -----------------------------------------------------------------
if ! command -v "$python" >/dev/null 2>&1; then
    echo "run.sh: '$python' not found. Install Python 3 (3.11 is what requirements.txt was" \
         "pinned with) or set PYTHON=/path/to/python3." >&2
    exit 1
fi
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "== creating $venv (pip install -r benches/compare/requirements.txt)" >&2
    rm -rf "$venv"
    if ! "$python" -m venv "$venv"; then
        echo "run.sh: '$python -m venv' failed. On Debian/Ubuntu install python3-venv" \
             "(apt-get install python3-venv), or set PYTHON to a Python with venv." >&2
        exit 1
    fi
    if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            -r "$here/requirements.txt"; then
        echo "run.sh: pip could not install benches/compare/requirements.txt into $venv" \
             "(PyPI unreachable, or no wheels for this Python: the pins were made with" \
             "Python 3.11 on Linux x86_64)." >&2
        rm -rf "$venv"
        exit 1
    fi
    echo "$want" >"$stamp"
fi
py="$venv/bin/python"

# --- Rust side ---------------------------------------------------------------------------
echo "== building the compare example (release)" >&2
exe="$(cd "$root" && cargo build --release -p custval-benches --example compare \
        --message-format=json-render-diagnostics |
    "$py" -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "compare" and m.get("executable"):
        print(m["executable"])')"
if [ -z "$exe" ] || [ ! -x "$exe" ]; then
    echo "run.sh: could not find the built compare example" >&2
    exit 1
fi

echo "== inputs: $data" >&2
"$exe" gen "$data" --sizes "$sizes" --tx "$tx"
echo "== lifetimes + scikit-learn" >&2
"$py" "$here/lifetimes_side.py" "$data" --sizes "$sizes" --tx "$tx"
echo "== custval" >&2
"$exe" run "$data" --sizes "$sizes" --tx "$tx"
echo "== report" >&2
"$py" "$here/report.py" "$data" --out "$target/compare-results.json" \
    --plot "$target/compare-time-vs-n.svg"
