#!/usr/bin/env bash
# The per-epoch topology study (docs/RESULTS.md, topology sections): the paired study's SET and
# static grids (bench/grids/study-DATASET-sparse.toml) trained again into runs/topology-DATASET
# by a binary whose events.jsonl records, after every evolution step, each matrix's overlap with
# its initial topology (`initial_kept`) beside the per-gate counts. The runs are bit-identical to
# the paired study's; only the event log has more. Resumable (sweep skips finished runs).
# Usage: bash bench/topology.sh [DATASET...]   (default: uci sanders sst2)
set -euo pipefail
cd "$(dirname "$0")/.."
DATASETS=("$@")
[ ${#DATASETS[@]} -eq 0 ] && DATASETS=(uci sanders sst2)
nice -n 19 cargo build --release -p set-cli
BIN=${CARGO_TARGET_DIR:-target}/release/set-lstm
for d in "${DATASETS[@]}"; do
  start=$(date +%s)
  nice -n 19 "$BIN" sweep -q --grid "bench/grids/study-$d-sparse.toml" --out "runs/topology-$d"
  echo "$d: $(( $(date +%s) - start )) s"
done
