"""Medians of `set-lstm bench` lines by global batch and rank count (bench/mpi_scaling.sh).

Usage: python3 bench/mpi_table.py FILE.jsonl
"""
import json
import statistics
import sys
from collections import defaultdict


def main():
    runs = defaultdict(list)
    for line in open(sys.argv[1]):
        if '"ranks"' in line:
            d = json.loads(line)
            runs[(d["batch_size"], d["ranks"])].append(d)
    print("| global batch | ranks x threads | train ms / step (median, min-max) | infer ms / batch"
          " | runs | speed-up |")
    print("|---:|---|---|---:|---:|---:|")
    for (b, r), ds in sorted(runs.items()):
        t = [d["train_ms_per_step"] for d in ds]
        i = statistics.median(d["infer_ms_per_batch"] for d in ds)
        one = runs.get((b, 1))
        up = statistics.median(d["train_ms_per_step"] for d in one) / statistics.median(t) if one else None
        threads = ds[0]["threads"]
        print(f"| {b} | {r} x {threads} | {statistics.median(t):.1f} ({min(t):.1f}-{max(t):.1f})"
              f" | {i:.1f} | {len(t)} | {f'{up:.2f}x' if up else '–'} |")


if __name__ == "__main__":
    main()
