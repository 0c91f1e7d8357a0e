"""Medians of repeated `set-lstm bench` / `bench/pytorch_lstm.py` lines, as a Markdown table.

Usage: python3 bench/speed_table.py FILE.jsonl  (written by bench/speed.sh)
Rows: T and E = H; columns: ms per training step and per inference batch (median over the
rounds in the file, with the round count) for our sparse model (density 0.04), our dense mode
and PyTorch, then the speed-ups of our sparse model over PyTorch.
"""
import json
import statistics
import sys
from collections import defaultdict


def kind(d):
    if d["impl"] == "pytorch":
        return "pytorch"
    return "dense" if d.get("dense") else "sparse"


def main():
    runs = defaultdict(list)
    for line in open(sys.argv[1]):
        if line.strip():
            d = json.loads(line)
            runs[(d["seq_len"], d["hidden"], kind(d))].append(d)
    med = {}
    for key, ds in runs.items():
        med[key] = (
            statistics.median(d["train_ms_per_step"] for d in ds),
            statistics.median(d["infer_ms_per_batch"] for d in ds),
            len(ds),
        )
    print("| T | E = H | set-lstm d=0.04 train / infer ms | set-lstm dense train / infer ms"
          " | PyTorch train / infer ms | rounds | train speed-up | infer speed-up |")
    print("|---:|---:|---|---|---|---:|---:|---:|")
    for t, h in sorted({(k[0], k[1]) for k in med}):
        cells = []
        for k in ("sparse", "dense", "pytorch"):
            m = med.get((t, h, k))
            cells.append(f"{m[0]:.1f} / {m[1]:.1f}" if m else "–")
        s, p = med.get((t, h, "sparse")), med.get((t, h, "pytorch"))
        rounds = min(m[2] for k in ("sparse", "dense", "pytorch") if (m := med.get((t, h, k))))
        ups = (f"{p[0] / s[0]:.1f}x | {p[1] / s[1]:.1f}x" if s and p else "– | –")
        print(f"| {t} | {h} | {' | '.join(cells)} | {rounds} | {ups} |")


if __name__ == "__main__":
    main()
