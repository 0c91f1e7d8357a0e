"""Loads a `set-lstm export --dense` file into PyTorch modules and compares logits with
`set-lstm predict --json` output (one JSON object per line).

The recurrent module is built from the file's metadata: `model.rnn` gives the cell (`nn.LSTM`
or `nn.GRU`), `num_layers` and `bidirectional` (absent in files of one-layer unidirectional
LSTMs), `model.pooling` the pooling (mean of the outputs, or the final state of each direction
of the top layer, concatenated).

Usage: python bench/torch_export_check.py MODEL.safetensors PREDICTIONS.jsonl [mean|last]
Needs torch and safetensors (pip only; never in CI).
"""
import json
import sys

import torch
import torch.nn as nn
from safetensors import safe_open
from safetensors.torch import load_file

t = load_file(sys.argv[1])
with safe_open(sys.argv[1], "pt") as f:
    model = json.loads(f.metadata()["model"])
rnn = model.get("rnn", {})
cell = rnn.get("cell", "lstm")
layers = rnn.get("layers", 1)
bidirectional = rnn.get("bidirectional", False)
pooling = sys.argv[3] if len(sys.argv) > 3 else model.get("pooling", "mean")
dirs = 2 if bidirectional else 1
V, E = t["embedding.weight"].shape
H = t[f"{cell}.weight_hh_l0"].shape[1]
C = t["fc.weight"].shape[0]
module = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
emb = nn.Embedding(V, E, padding_idx=0)
rec = module(E, H, num_layers=layers, bidirectional=bidirectional)
fc = nn.Linear(dirs * H, C)
emb.load_state_dict({"weight": t["embedding.weight"]})
rec.load_state_dict({k[len(cell) + 1:]: v for k, v in t.items() if k.startswith(cell + ".")})
fc.load_state_dict({"weight": t["fc.weight"], "bias": t["fc.bias"]})
print(f"{module.__name__}(num_layers={layers}, bidirectional={bidirectional}), pooling {pooling}")
worst = 0.0
with torch.no_grad():
    for line in open(sys.argv[2]):
        p = json.loads(line)
        ids = torch.tensor(p["token_ids"]).unsqueeze(1)  # [T, 1]
        out, h_n = rec(emb(ids))
        if isinstance(h_n, tuple):
            h_n = h_n[0]
        if pooling == "mean":
            pooled = out.mean(dim=0)[0]
        else:
            pooled = torch.cat([h_n[-dirs + d, 0] for d in range(dirs)])
        logits = fc(pooled)
        ours = torch.tensor(p["logits"])
        worst = max(worst, (logits - ours).abs().max().item())
        print("torch", [round(v, 4) for v in logits.tolist()], "set-lstm", [round(v, 4) for v in p["logits"]])
print(f"max |torch - set-lstm| = {worst:.2e} (torch {torch.__version__})")
sys.exit(0 if worst < 1e-4 else 1)
