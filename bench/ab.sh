#!/usr/bin/env bash
# Interleaved A/B timing of two set-lstm builds (docs/PERFORMANCE.md): for each round runs
# `A bench ARGS` then `B bench ARGS`, appending each JSON line to OUT tagged with
# {"variant": "A"|"B", "binary": path, "round": i, "date", "cpu"}; then prints the medians of the
# timed fields per variant. On a shared machine only interleaved medians are comparable.
# Usage: ROUNDS=5 bash bench/ab.sh OUT BIN_A BIN_B [bench flags...]
set -euo pipefail
OUT=${1:?usage: bench/ab.sh OUT BIN_A BIN_B [bench flags...]}
A=${2:?BIN_A}
B=${3:?BIN_B}
shift 3
ROUNDS=${ROUNDS:-5}
CPU=$(lscpu | sed -n 's/^Model name: *//p')
DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for i in $(seq "$ROUNDS"); do
  for v in A B; do
    bin=$A; [ "$v" = B ] && bin=$B
    "$bin" bench "$@" | python3 -c '
import json, sys
v, binary, i, date, cpu = sys.argv[1:6]
r = json.loads(sys.stdin.read())
print(json.dumps({"variant": v, "binary": binary, "round": int(i), "date": date, "cpu": cpu, **r}))
' "$v" "$bin" "$i" "$DATE" "$CPU" >> "$OUT"
  done
done
python3 - "$OUT" "$DATE" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if r.get("date") == sys.argv[2]]
keys = ["train_ms_per_step", "infer_ms_per_batch", "batch1_ms"]
for v in ("A", "B"):
    sel = [r for r in rows if r["variant"] == v]
    meds = {k: statistics.median(r[k] for r in sel) for k in keys if all(k in r for r in sel)}
    print(v, len(sel), "rounds:", ", ".join(f"{k} {m:.3f}" for k, m in meds.items()))
PY
