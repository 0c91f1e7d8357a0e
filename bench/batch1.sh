#!/usr/bin/env bash
# Batch-1 latency (docs/PERFORMANCE.md): one 50-token sentence through a loaded set-lstm model
# (`predict --timing-runs`: compute only, no process start or file load) and through PyTorch's
# dense nn.LSTM of the same E = H (bench/pytorch_lstm.py --batch1-only), interleaved for ROUNDS
# rounds (predict uses one thread per core: 2 here, as PyTorch's THREADS); one JSON line each to OUT.
# Usage: PYTHON=/tmp/torchvenv/bin/python ROUNDS=5 bash bench/batch1.sh OUT BIN MODEL_DIR SENTENCE_FILE E
set -euo pipefail
OUT=${1:?usage: bench/batch1.sh OUT BIN MODEL_DIR SENTENCE_FILE E}
BIN=${2:?BIN}; MODEL=${3:?MODEL_DIR}; SENT=${4:?SENTENCE_FILE}; E=${5:?E}
PYTHON=${PYTHON:-python3}
ROUNDS=${ROUNDS:-5}
THREADS=${THREADS:-2}
CPU=$(lscpu | sed -n 's/^Model name: *//p')
DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
tag() { python3 -c 'import json,sys; r=json.loads(sys.stdin.read().strip().splitlines()[-1]); print(json.dumps({"date": sys.argv[1], "cpu": sys.argv[2], "round": int(sys.argv[3]), "what": sys.argv[4], **r}))' "$DATE" "$CPU" "$1" "$2"; }
for i in $(seq "$ROUNDS"); do
  "$BIN" predict "$MODEL" --timing-runs 300 --file "$SENT" 2>&1 >/dev/null \
    | tag "$i" "set-lstm predict, $MODEL" >> "$OUT"
  "$PYTHON" bench/pytorch_lstm.py --batch1-only --threads "$THREADS" --embed-dim "$E" --hidden "$E" \
    --batch1-tokens 50 --batch1-runs 300 | tag "$i" "pytorch nn.LSTM batch-1 forward" >> "$OUT"
done
python3 - "$OUT" "$DATE" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if r["date"] == sys.argv[2]]
for key, field in (("set-lstm", "predict_compute_ms"), ("pytorch", "batch1_ms")):
    v = [r[field] for r in rows if field in r]
    print(key, len(v), "rounds, median ms:", round(statistics.median(v), 4))
PY
