"""Loads a `set-lstm export --dense` file into PyTorch modules and compares logits with
`set-lstm predict --json` output (one JSON object per line).

Usage: python bench/torch_export_check.py MODEL.safetensors PREDICTIONS.jsonl [mean|last]
Needs torch and safetensors (pip only; never in CI).
"""
import json
import sys

import torch
import torch.nn as nn
from safetensors.torch import load_file

t = load_file(sys.argv[1])
pooling = sys.argv[3] if len(sys.argv) > 3 else "mean"
V, E = t["embedding.weight"].shape
H = t["lstm.weight_hh_l0"].shape[1]
C = t["fc.weight"].shape[0]
emb, lstm, fc = nn.Embedding(V, E, padding_idx=0), nn.LSTM(E, H), nn.Linear(H, C)
emb.load_state_dict({"weight": t["embedding.weight"]})
lstm.load_state_dict({k[len("lstm."):]: v for k, v in t.items() if k.startswith("lstm.")})
fc.load_state_dict({"weight": t["fc.weight"], "bias": t["fc.bias"]})
worst = 0.0
with torch.no_grad():
    for line in open(sys.argv[2]):
        p = json.loads(line)
        ids = torch.tensor(p["token_ids"]).unsqueeze(1)  # [T, 1]
        out, (h_n, _) = lstm(emb(ids))
        pooled = out.mean(dim=0)[0] if pooling == "mean" else h_n[0, 0]
        logits = fc(pooled)
        ours = torch.tensor(p["logits"])
        worst = max(worst, (logits - ours).abs().max().item())
        print("torch", [round(v, 4) for v in logits.tolist()], "set-lstm", [round(v, 4) for v in p["logits"]])
print(f"max |torch - set-lstm| = {worst:.2e} (torch {torch.__version__})")
sys.exit(0 if worst < 1e-4 else 1)
