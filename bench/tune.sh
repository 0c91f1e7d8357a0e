#!/usr/bin/env bash
# Issue 18's tuning (docs/RESULTS.md, "Tuning"): on each dataset, every model over one grid
# (bench/grids/tune-DATASET-PART.toml: lr x dropout, early stopping, 3 seeds); then
# bench/tuned_grids.py writes each finished part's chosen settings (best mean dev accuracy) as
# bench/grids/tuned-DATASET-PART.toml, and those run with seeds 4-10 (IMDB: one seed per cell,
# then seeds 2-5). Stages, in order: tune; edge (bench/grids/edge-DATASET-PART.toml, where a
# choice sat on its grid's edge: the next value beyond it, counted as a cell of the grid);
# tuned (the choices, asked of `xtask choose` by tuned_grids.py); then two probes of SET's
# chosen cell, each compared with SET by seed and never chosen: longer
# (bench/grids/longer-DATASET-PART.toml: a higher epoch cap) and zeta
# (bench/grids/zeta-DATASET-sparse.toml: ζ 0.5, constant and cosine).
# Usage: bash bench/tune.sh [DATASET...]   (default: uci sanders). PARTS="..." picks some of:
# sparse (SET and static), small-dense, dense, gmp, rigl, snfs. Resumable: `set-lstm sweep`
# skips finished runs. Runs at nice 19 on one thread per run; two datasets can run side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
DATASETS=("$@")
[ ${#DATASETS[@]} -eq 0 ] && DATASETS=(uci sanders)
nice -n 19 cargo build --release -p set-cli -p xtask
BIN=${CARGO_TARGET_DIR:-target}/release/set-lstm
export XTASK=${CARGO_TARGET_DIR:-target}/release/xtask # bench/tuned_grids.py asks it for the choices
for d in "${DATASETS[@]}"; do
  start=$(date +%s)
  for stage in tune edge tuned longer zeta; do
    [ "$stage" = tuned ] && python3 bench/tuned_grids.py "$d"
    for part in ${PARTS:-sparse small-dense dense gmp rigl snfs}; do
      grid="bench/grids/$stage-$d-$part.toml"
      [ -f "$grid" ] || continue
      nice -n 19 "$BIN" sweep -q --grid "$grid" --out "runs/tune-$d/$stage-$part"
    done
  done
  echo "$d: $(( $(date +%s) - start )) s"
done
