"""PyTorch dense nn.LSTM / nn.GRU classifier: ms per training step and per inference batch.

The peer for docs/PERFORMANCE.md. Same shapes as `set-lstm bench`: embedding V x E,
nn.LSTM(E, H), last hidden state -> nn.Linear(H, 2), Adam, batch B, sequence length T,
random tokens, full-length sequences. Flush-to-zero is on (as in PyTorch's best case).
Also the batch-1 latency: the median forward of one sentence of --batch1-tokens tokens.
`--layers N`, `--bidirectional` and `--cell gru` build nn.LSTM / nn.GRU(E, H, num_layers=N,
bidirectional=...) with the final states of the top layer's directions concatenated ->
nn.Linear(D H, 2), as `set-lstm bench` with the same flags.

Usage (PyTorch is installed by pip only for this benchmark, never in CI):
    python bench/pytorch_lstm.py --threads 2 --embed-dim 256 --hidden 256 --seq-len 100
Prints one JSON line of medians, with the same keys as `set-lstm bench`.
"""
import argparse
import json
import resource
import statistics
import time

import torch


class Classifier(torch.nn.Module):
    def __init__(self, vocab, embed, hidden, classes=2, cell="lstm", layers=1, bidirectional=False):
        super().__init__()
        self.dirs = 2 if bidirectional else 1
        self.embedding = torch.nn.Embedding(vocab, embed, padding_idx=0)
        module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
        self.lstm = module(embed, hidden, num_layers=layers, bidirectional=bidirectional)
        self.fc = torch.nn.Linear(self.dirs * hidden, classes)

    def forward(self, tokens):  # tokens: [T, B]
        _, h_n = self.lstm(self.embedding(tokens))
        if isinstance(h_n, tuple):
            h_n = h_n[0]
        return self.fc(torch.cat([h_n[-self.dirs + d] for d in range(self.dirs)], dim=1))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--vocab-size", type=int, default=20000)
    p.add_argument("--embed-dim", type=int, default=256)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seq-len", type=int, default=100)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch1-tokens", type=int, default=50)
    p.add_argument("--batch1-runs", type=int, default=200)
    p.add_argument("--batch1-only", action="store_true", help="measure only the batch-1 latency")
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--bidirectional", action="store_true")
    p.add_argument("--cell", choices=["lstm", "gru"], default="lstm")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    model = Classifier(a.vocab_size, a.embed_dim, a.hidden, cell=a.cell, layers=a.layers, bidirectional=a.bidirectional)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    tokens = torch.randint(1, a.vocab_size, (a.seq_len, a.batch_size))
    labels = torch.randint(0, 2, (a.batch_size,))
    loss_fn = torch.nn.CrossEntropyLoss()

    def train_step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(tokens), labels)
        loss.backward()
        opt.step()

    def infer():
        with torch.no_grad():
            model(tokens)

    train, inf = [], []
    for i in range(0 if a.batch1_only else a.steps + 2):
        t = time.perf_counter()
        train_step()
        if i >= 2:
            train.append((time.perf_counter() - t) * 1e3)
    for i in range(0 if a.batch1_only else a.steps + 2):
        t = time.perf_counter()
        infer()
        if i >= 2:
            inf.append((time.perf_counter() - t) * 1e3)
    # Batch-1 latency: one sentence of --batch1-tokens tokens, the forward only (no_grad).
    one = torch.randint(1, a.vocab_size, (a.batch1_tokens, 1))
    b1 = []
    with torch.no_grad():
        for i in range(a.batch1_runs + 3):
            t = time.perf_counter()
            model(one)
            if i >= 3:
                b1.append((time.perf_counter() - t) * 1e3)
    tr = statistics.median(train) if train else None
    ir = statistics.median(inf) if inf else None
    tokens_per_batch = a.seq_len * a.batch_size
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({
        "impl": "pytorch", "torch": torch.__version__, "threads": a.threads,
        "cell": a.cell, "layers": a.layers, "bidirectional": a.bidirectional,
        "embed_dim": a.embed_dim, "hidden": a.hidden, "batch_size": a.batch_size, "seq_len": a.seq_len,
        "train_ms_per_step": tr and round(tr, 2), "infer_ms_per_batch": ir and round(ir, 2),
        "train_tokens_per_s": tr and round(tokens_per_batch / tr * 1e3),
        "infer_tokens_per_s": ir and round(tokens_per_batch / ir * 1e3),
        "batch1_tokens": a.batch1_tokens, "batch1_ms": round(statistics.median(b1), 4),
        "params": params, "dense_params": params,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }))


if __name__ == "__main__":
    main()
