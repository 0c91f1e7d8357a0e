#!/usr/bin/env bash
# Runs the experiments behind docs/RESULTS.md, one after another, then regenerates the report.
# Usage: bash bench/results.sh [DATA_DIR] [OUT_DIR]   (defaults: ../shared/datasets, runs/results)
# Each run is skipped if its directory already has a summary.json, so the script can resume.
# The paired study at the end (bench/study.sh) took about 3 hours of one core on a 2-core Xeon
# (two sweeps side by side: about 1.5 hours); it prints its own time.
set -uo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/datasets}
OUT=${2:-runs/results}
THREADS=${THREADS:-1}
cargo build --release -p set-cli
BIN=${CARGO_TARGET_DIR:-target}/release/set-lstm
mkdir -p "$OUT"
run() { # name, args...
  local name=$1; shift
  if [ -f "$OUT/$name/summary.json" ]; then return; fi
  rm -rf "${OUT:?}/$name"
  echo "== $name: set-lstm train $*"
  "$BIN" train --threads "$THREADS" --out "$OUT/$name" "$@" > "$OUT/$name.log" 2>&1 || echo "   failed: see $OUT/$name.log"
}
for s in 1 2 3; do
  for d in uci sst2 sanders; do
    run "$d-set-s$s" --data "$d" --data-dir "$DATA" --seed "$s"
    run "$d-dense-s$s" --data "$d" --data-dir "$DATA" --seed "$s" --dense
  done
done
# Accuracy vs density on SST-2 (uniform density for the embedding and LSTM matrices).
for dens in 0.01 0.02 0.04 0.1 0.25 1.0; do
  run "sst2-density$dens-s1" --data sst2 --data-dir "$DATA" --seed 1 --density "$dens"
done
IMDB=(--data imdb --data-dir "$DATA" --max-len 400 --epochs 6 --batch-size 64)
for s in 1 2 3; do run "imdb-set-s$s" "${IMDB[@]}" --seed "$s"; done
run imdb-rigl-s1 "${IMDB[@]}" --seed 1 --policy rigl
run imdb-snfs-s1 "${IMDB[@]}" --seed 1 --policy snfs
run imdb-static-s1 "${IMDB[@]}" --seed 1 --policy static
run imdb-set-zero-s1 "${IMDB[@]}" --seed 1 --new-weight-std 0
for s in 1 2 3; do run "imdb-dense-s$s" "${IMDB[@]}" --seed "$s" --dense; done
# Settings chosen on the dev split (same grid for SET-LSTM and dense): one sweep per small dataset.
for d in uci sanders sst2; do
  "$BIN" sweep --grid "bench/grids/select-$d.toml" --out "runs/select-$d" --threads "$THREADS" \
    > "runs/select-$d.log" 2>&1 || echo "   sweep select-$d had failures: see runs/select-$d.log"
done
cargo run -q -p xtask --release -- report "$OUT" runs/select-uci runs/select-sanders runs/select-sst2 \
  --bench bench/speed-t100-t200-2026-11-28.jsonl --bench bench/scaling-2026-11-28.jsonl \
  --out docs/RESULTS.md
# The paired study (issues 18 and 19: every model, sweep and architecture, 10 seeds; IMDB 5),
# recorded in results/runs.jsonl and rendered into its own section of docs/RESULTS.md.
start=$(date +%s)
bash bench/study.sh uci sanders sst2 imdb
echo "paired study: $(( $(date +%s) - start )) s"
# Tuning (issue 18, item 2): every model over one lr x dropout grid, then each at its chosen
# setting with 10 seeds (about 1.5 hours of one core for UCI and Sanders on the 2-core Xeon;
# SST-2's SET and dense grids about 2 hours more, its static, small-dense, RigL and SNFS
# grids 58 minutes of one core, 35 with two sweeps side by side), recorded in
# results/tuning.jsonl. GMP is not run on SST-2 or IMDB (time: PARTS=gmp adds it).
start=$(date +%s)
bash bench/tune.sh uci sanders
PARTS="sparse small-dense dense rigl snfs" bash bench/tune.sh sst2
# IMDB: a smaller grid with one seed per cell, edge probes, then seeds 2-5 at each chosen cell,
# and SET's longer-training probe (SET, static, dense, small-dense and RigL: 2 h 10 min with
# two or three sweeps side by side on the 2-core Xeon; SNFS 1 h 30 min more, two sweeps side by side for its last seeds;
# GMP 1 h 33 min of one core and its edge probe about 6 minutes more; stage zeta, the ζ probes
# of SET's chosen cell, 20 minutes, and UCI's, Sanders' and SST-2's about 5 together).
bash bench/tune.sh imdb
echo "tuning: $(( $(date +%s) - start )) s"
X=${CARGO_TARGET_DIR:-target}/release/xtask
cargo build --release -p xtask
"$X" collect-results runs/tune-* --out results/tuning.jsonl
"$X" topology runs/study-uci/sparse runs/study-sanders/sparse runs/study-sst2/sparse runs/study-imdb/sparse --out results/topology.jsonl
"$X" embedding-degree runs/study-{uci,sanders,sst2,imdb}/sparse/policy-{set,static}_seed-* --out results/embedding-degree.jsonl
"$X" report --record results/runs.jsonl --out docs/RESULTS.md
