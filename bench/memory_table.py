"""Peak RSS of training against the bytes it must hold (docs/PERFORMANCE.md, issue 8).

Usage: python3 bench/memory_table.py FILE.jsonl  (lines of `set-lstm bench`)
For each sparse configuration (first line of each): weights (values + CSR structure),
gradients, optimizer state and activations as `set-lstm bench` counts them, their sum, the
peak resident set before inference (`train_peak_rss_bytes`), and the ratio.
"""
import json
import sys

MIB = 1 << 20


def main():
    seen = set()
    print("| T | E = H | model | weights | gradients | Adam state | activations | sum | peak RSS"
          " (training) | RSS / sum |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for line in open(sys.argv[1]):
        d = json.loads(line)
        if d.get("impl") != "set-lstm" or "activation_bytes" not in d:
            continue
        key = (d["seq_len"], d["hidden"], d["dense"])
        if key in seen:
            continue
        seen.add(key)
        parts = [d["weight_bytes"], d["gradient_bytes"], d["optimizer_bytes"], d["activation_bytes"]]
        total = sum(parts)
        rss = d["train_peak_rss_bytes"]
        model = "dense" if d["dense"] else f"sparse d={d['density']}"
        cells = " | ".join(f"{p / MIB:.1f}" for p in parts)
        print(f"| {d['seq_len']} | {d['hidden']} | {model} | {cells} | {total / MIB:.1f} |"
              f" {rss / MIB:.1f} | {rss / total:.2f} |")


if __name__ == "__main__":
    main()
