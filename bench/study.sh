#!/usr/bin/env bash
# The paired study behind docs/RESULTS.md ("Paired study"): on each dataset, SET-LSTM, static
# sparse, the dense LSTM and the small-dense LSTM at the same settings, 10 seeds each, one split
# seed; then the record results/runs.jsonl and the regenerated section.
# Usage: bash bench/study.sh [DATASET...]   (default: uci sanders; the record also has sst2 and
# imdb). Resumable: `set-lstm sweep` skips finished runs. Runs at nice 19 on one thread per run.
# Each dataset runs every grid bench/grids/study-DATASET-PART.toml that exists, PART in: sparse
# (SET and static), dense, small-dense, matched (regrowth at each matrix's own scale),
# perweight (Adam per-weight steps), erk (RigL's ERK allocation), epsilon and zeta, zeta-cosine (issue 18's sweeps), gru,
# bilstm, lstm2 (issue 19's architectures); PARTS="..." picks some.
# Measured on this shared 2-core Xeon (lscpu: Intel Xeon Processor): with the machine idle, the
# four models of 5 Sanders seeds (20 runs) took 2 minutes; under a load of 11 (other builds)
# one UCI dense run took 75-196 s, and the whole UCI study about 50 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
DATASETS=("$@")
[ ${#DATASETS[@]} -eq 0 ] && DATASETS=(uci sanders)
nice -n 19 cargo build --release -p set-cli
BIN=${CARGO_TARGET_DIR:-target}/release/set-lstm
for d in "${DATASETS[@]}"; do
  start=$(date +%s)
  for part in ${PARTS:-sparse dense small-dense matched perweight erk epsilon zeta zeta-cosine gru bilstm lstm2}; do
    grid="bench/grids/study-$d-$part.toml"
    [ -f "$grid" ] || continue # not every dataset has every part (IMDB: no architectures)
    nice -n 19 "$BIN" sweep -q --grid "$grid" --out "runs/study-$d/$part"
  done
  echo "$d: $(( $(date +%s) - start )) s"
  cargo xtask collect-results "runs/study-$d" --out results/runs.jsonl
done
cargo xtask report --record results/runs.jsonl --out docs/RESULTS.md
