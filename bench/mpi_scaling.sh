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
python3 - "$OUT" <<'PY'
import json, statistics, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if '"ranks"' in l]
med = {}
for r in sorted({d["ranks"] for d in lines}):
    t = [d["train_ms_per_step"] for d in lines if d["ranks"] == r]
    i = [d["infer_ms_per_batch"] for d in lines if d["ranks"] == r]
    med[r] = statistics.median(t)
    print(f"{r} rank(s): train {statistics.median(t):.1f} ms/step (runs {len(t)}, "
          f"min {min(t):.1f}, max {max(t):.1f}), infer {statistics.median(i):.1f} ms/batch")
if 1 in med and 2 in med:
    print(f"speed-up of 2 ranks: {med[1] / med[2]:.2f}x")
PY
