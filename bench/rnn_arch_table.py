"""Turns the output of bench/rnn_arch_timing.sh into JSON lines and the docs/PERFORMANCE.md table.

Usage: python3 bench/rnn_arch_table.py TIMING.txt OUT.jsonl "CPU and load note"
Each input line is `round R CELL LAYERS yes|no set|torch {json}`; every output line is that JSON
object with round, cell, layers, bidirectional and cpu added. The table gives, per architecture,
the median over rounds of each implementation's training step and inference batch, and the
speed-ups (PyTorch time / set-lstm time).
"""
import json
import statistics
import sys

src, out, cpu = sys.argv[1], sys.argv[2], sys.argv[3]
rows = []
for line in open(src):
    parts = line.split(maxsplit=6)
    if len(parts) < 7 or parts[0] != "round":
        continue
    rec = json.loads(parts[6])
    rec = {
        "round": int(parts[1]),
        "cell": parts[2],
        "layers": int(parts[3]),
        "bidirectional": parts[4] == "yes",
        "cpu": cpu,
        "command": "PYTHON=/tmp/torchvenv/bin/python bench/rnn_arch_timing.sh",
        **rec,
    }
    rows.append(rec)
with open(out, "w") as f:
    for r in rows:
        f.write(json.dumps(r) + "\n")

archs = []
for r in rows:
    key = (r["cell"], r["layers"], r["bidirectional"])
    if key not in archs:
        archs.append(key)


def med(key, impl, field):
    vals = [
        r[field]
        for r in rows
        if (r["cell"], r["layers"], r["bidirectional"]) == key and r["impl"] == impl
    ]
    return statistics.median(vals), len(vals)


print(
    "| cell | layers | bidirectional | set-lstm train ms/step | PyTorch train ms/step | train speed-up "
    "| set-lstm infer ms/batch | PyTorch infer ms/batch | infer speed-up | rounds | stored / dense params |"
)
print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
for key in archs:
    st, n = med(key, "set-lstm", "train_ms_per_step")
    pt, _ = med(key, "pytorch", "train_ms_per_step")
    si, _ = med(key, "set-lstm", "infer_ms_per_batch")
    pi, _ = med(key, "pytorch", "infer_ms_per_batch")
    rec = next(r for r in rows if (r["cell"], r["layers"], r["bidirectional"]) == key and r["impl"] == "set-lstm")
    print(
        f"| {key[0]} | {key[1]} | {'yes' if key[2] else 'no'} | {st:.1f} | {pt:.1f} | {pt / st:.1f}x "
        f"| {si:.2f} | {pi:.2f} | {pi / si:.1f}x | {n} | {rec['params']} / {rec['dense_params']} |"
    )
