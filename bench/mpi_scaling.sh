#!/usr/bin/env bash
# Data-parallel throughput (docs/PERFORMANCE.md, docs/CLUSTER.md): `set-lstm bench` on IMDB
# shapes (V = 20,000, E = H = 128, B = $BATCH global (default 64), T = 200, density 0.04), 1 rank x 1 thread
# against 2 ranks x 1 thread, alternating ROUNDS times; appends the JSON lines to OUT and prints
# the medians. Needs an `mpi` build: cargo build --release -p set-cli --features mpi
# Usage: bash bench/mpi_scaling.sh OUT [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: bench/mpi_scaling.sh OUT [ROUNDS]}
ROUNDS=${2:-6}
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/set-lstm}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ARGS=(bench --vocab-size 20000 --embed-dim 128 --hidden 128 --batch-size "${BATCH:-64}" --seq-len 200
  --density 0.04 --threads 1 --steps 20)
for _ in $(seq "$ROUNDS"); do
  for np in 1 2; do
    mpirun -np "$np" --bind-to none -x RAYON_NUM_THREADS=1 "$BIN" "${ARGS[@]}" >> "$OUT"
  done
done
python3 bench/mpi_table.py "$OUT"
