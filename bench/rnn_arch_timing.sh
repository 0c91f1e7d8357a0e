#!/bin/bash
# Interleaved timing of stacked, bidirectional and GRU models (docs/PERFORMANCE.md, issue 19):
# `set-lstm bench` (SET, density 0.05) and bench/pytorch_lstm.py (dense), same shapes, 3 rounds.
# Usage (from the repository root, after `cargo build --release -p set-cli`):
#   PYTHON=/path/to/venv/bin/python bench/rnn_arch_timing.sh > timing.txt
set -euo pipefail
B=target/release/set-lstm
PY=${PYTHON:-python3}
S="--vocab-size 20000 --embed-dim 128 --hidden 128 --batch-size 32 --seq-len 64"
for round in 1 2 3; do
  for arch in "lstm 1 no" "lstm 2 no" "lstm 1 yes" "gru 1 no" "gru 2 yes"; do
    set -- $arch
    extra="--cell $1 --layers $2"
    if [ "$3" = yes ]; then extra="$extra --bidirectional"; fi
    echo "round $round $arch set $($B bench $S --density 0.05 --threads 2 --steps 5 --warmup 2 $extra 2>&1 | tail -1)"
    echo "round $round $arch torch $($PY bench/pytorch_lstm.py --threads 2 $S --steps 5 $extra 2>&1 | tail -1)"
  done
done
