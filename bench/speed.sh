#!/usr/bin/env bash
# Side-by-side speed against PyTorch's dense nn.LSTM (docs/PERFORMANCE.md): for each round, T and
# E = H, runs `set-lstm bench` (sparse at density 0.04, then our dense mode) and
# bench/pytorch_lstm.py back to back on the same threads, appending one JSON line each to OUT;
# then prints the median of the rounds for each configuration, with the speed-ups.
# Usage: PYTHON=/path/to/venv/bin/python ROUNDS=3 bash bench/speed.sh OUT [T...]  (T: 100 200)
# PyTorch is installed by pip for this benchmark only (see docs/PERFORMANCE.md), never in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: bench/speed.sh OUT [T...]}
shift
if [ $# -gt 0 ]; then SEQ_LENS=("$@"); else SEQ_LENS=(100 200); fi
PYTHON=${PYTHON:-python3}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
cargo build --release -p set-cli
BIN=${CARGO_TARGET_DIR:-target}/release/set-lstm
for _ in $(seq "$ROUNDS"); do
  for t in "${SEQ_LENS[@]}"; do
    for e in 128 256 512; do
      common=(--vocab-size 20000 --embed-dim "$e" --hidden "$e" --batch-size 64 --seq-len "$t" --threads "$THREADS")
      # Fewer timed steps where a step takes seconds.
      steps=8; [ "$e" -eq 512 ] && steps=4
      "$BIN" bench "${common[@]}" --density 0.04 --steps "$steps" >> "$OUT"
      "$BIN" bench "${common[@]}" --dense --steps "$((steps / 2))" >> "$OUT"
      "$PYTHON" bench/pytorch_lstm.py "${common[@]}" --steps "$((steps / 2 + 1))" >> "$OUT"
    done
  done
done
python3 bench/speed_table.py "$OUT"
