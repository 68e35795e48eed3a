#!/usr/bin/env bash
# custval against lifetimes 0.11.3, scikit-learn and PyMC-Marketing 1.3 on the same seeded
# data, interleaved, in one run.
#
#   benches/compare/run.sh [--sizes 10000,100000,1000000] [--tx 1000000,10000000]
#                          [--only fit,score,kmeans,summarize,e2e,pymc] [--reps 5]
#
# --sizes: customers per fit/score/k-means/end-to-end row; --tx: transaction rows for
# summarizing; --only: the groups to run (default all): fit (BG/NBD continuous, day
# resolution, day resolution against lifetimes' grouped + weighted form, Gamma-Gamma),
# score, kmeans (+ segment), summarize, e2e (`custval fit` CLI -> custval-server from the
# summary CSV against lifetimes' read_csv + fit), pymc (PyMC-Marketing's MAP fits and
# scoring); --reps: timed runs per side and row (the same for every side, interleaved).
# Environment: PYTHON (default python3, 3.11 pinned) builds target/compare-venv;
# PYTHON_PYMC (default: the first Python >= 3.12 found, pyenv's included) builds
# target/compare-venv-pymc. Output: tables on stdout, target/compare-results.json, the
# raw runs target/compare-data/compare-runs.json, the chart target/compare-time-vs-n.svg.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
sizes="10000,100000,1000000"
tx="1000000,10000000"
only="fit,score,kmeans,summarize,e2e,pymc"
reps=5
while [ $# -gt 0 ]; do
    case "$1" in
        --sizes) sizes="${2-}"; shift 2 ;;
        --tx) tx="${2-}"; shift 2 ;;
        --only) only="${2-}"; shift 2 ;;
        --reps) reps="${2-}"; shift 2 ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
for g in ${only//,/ }; do
    case "$g" in
        fit|score|kmeans|summarize|e2e|pymc) ;;
        *) echo "run.sh: unknown group '$g' in --only (fit, score, kmeans, summarize, e2e, pymc)" >&2
           exit 2 ;;
    esac
done
case "$reps" in ''|*[!0-9]*|0) echo "run.sh: --reps wants a positive count" >&2; exit 2 ;; esac
case ",$only," in *,summarize,*) ;; *) tx="" ;; esac
has() { case ",$only," in *,"$1",*) return 0 ;; *) return 1 ;; esac; }

target="$root/target"
data="$target/compare-data"
mkdir -p "$data"

# venv DIR REQUIREMENTS PYTHON WHAT: a venv built from a pinned file, once (rebuilt when
# the file changes).
venv() {
    local dir="$1" req="$2" python="$3" what="$4"
    local stamp="$dir/.requirements.sha256" want
    want="$(sha256sum "$req" | cut -d' ' -f1)"
    if [ -x "$dir/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    echo "== creating $dir (pip install -r ${req#"$root"/})" >&2
    rm -rf "$dir"
    if ! "$python" -m venv "$dir"; then
        echo "run.sh: '$python -m venv' failed. On Debian/Ubuntu install python3-venv" \
             "(apt-get install python3-venv), or choose another Python ($what)." >&2
        exit 1
    fi
    if ! "$dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"; then
        echo "run.sh: pip could not install ${req#"$root"/} into $dir (PyPI unreachable," \
             "or no wheels for this Python: the pins were made on Linux x86_64; $what)." >&2
        rm -rf "$dir"
        exit 1
    fi
    echo "$want" >"$stamp"
}

# --- Python environments -----------------------------------------------------------------
python="${PYTHON:-python3}"
if ! command -v "$python" >/dev/null 2>&1; then
    echo "run.sh: '$python' not found. Install Python 3 (3.11 is what requirements.txt was" \
         "pinned with) or set PYTHON=/path/to/python3." >&2
    exit 1
fi
venv "$target/compare-venv" "$here/requirements.txt" "$python" "PYTHON=$python"
py="$target/compare-venv/bin/python"

pymc_py=""
if has pymc; then
    is312() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; }
    pymc_python="${PYTHON_PYMC-}"
    if [ -z "$pymc_python" ]; then
        for c in python3.12 python3.13 python3 \
                 "$(pyenv root 2>/dev/null)"/versions/3.1[2-9]*/bin/python3; do
            if command -v "$c" >/dev/null 2>&1 && is312 "$c"; then pymc_python="$c"; break; fi
        done
    fi
    if [ -z "$pymc_python" ] || ! is312 "$pymc_python"; then
        echo "run.sh: the pymc group needs Python >= 3.12 (PyMC-Marketing 1.3 requires it);" \
             "none found${pymc_python:+ ('$pymc_python' is older)}. Install one (pyenv install" \
             "3.12, or your distribution's python3.12 with venv) and set PYTHON_PYMC, or" \
             "leave pymc out of --only." >&2
        exit 1
    fi
    venv "$target/compare-venv-pymc" "$here/requirements-pymc.txt" "$pymc_python" \
        "PYTHON_PYMC=$pymc_python"
    pymc_py="$target/compare-venv-pymc/bin/python"
fi

# --- Rust side ---------------------------------------------------------------------------
echo "== building the compare example (release)" >&2
exe="$(cd "$root" && cargo build --release --locked -p custval-benches --example compare \
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
if has e2e; then
    echo "== building custval-server and custval (release)" >&2
    (cd "$root" && cargo build --release --locked -p custval-server -p custval-client >&2)
fi

echo "== inputs: $data" >&2
"$exe" gen "$data" --sizes "$sizes" --tx "$tx"
echo "== runs ($reps per side and row, interleaved)" >&2
"$py" "$here/driver.py" "$data" --exe "$exe" --lifetimes-python "$py" \
    ${pymc_py:+--pymc-python "$pymc_py"} --bin "$target/release" \
    --sizes "$sizes" --tx "$tx" --only "$only" --reps "$reps"
echo "== report" >&2
"$py" "$here/report.py" "$data/compare-runs.json" --out "$target/compare-results.json" \
    --plot "$target/compare-time-vs-n.svg"
