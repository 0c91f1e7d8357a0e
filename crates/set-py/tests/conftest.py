"""Shared fixtures: the shipped UCI sentences, a tiny trained estimator, the `set-lstm` binary."""

import gzip
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import set_lstm

REPO = Path(__file__).resolve().parents[3]
UCI = REPO / "datasets" / "uci_sentiment_sentences"
TINY = dict(epochs=2, embed_dim=16, hidden=16, max_len=32, seed=3)


def read_jsonl_gz(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="session")
def uci():
    """(texts, labels) of the 3,000 UCI sentences, shuffled with a fixed seed."""
    rows = []
    for name in ("amazon_cells", "imdb", "yelp"):
        rows += read_jsonl_gz(UCI / f"{name}.jsonl.gz")
    order = np.random.default_rng(0).permutation(len(rows))
    rows = [rows[i] for i in order]
    return [r["text"] for r in rows], [int(r["label"]) for r in rows]


@pytest.fixture(scope="session")
def small(uci):
    """600 training and 200 held-out examples."""
    texts, labels = uci
    return (texts[:600], labels[:600]), (texts[600:800], labels[600:800])


@pytest.fixture(scope="session")
def tiny_clf(small):
    (x, y), _ = small
    return set_lstm.SETLSTMClassifier(**TINY).fit(x, y)


@pytest.fixture(scope="session")
def cli():
    """The `set-lstm` binary: $SET_LSTM_BIN (set by .ci/run), else target/release/set-lstm.
    In CI a missing binary is a failure, not a skip."""
    path = os.environ.get("SET_LSTM_BIN") or str(REPO / "target" / "release" / "set-lstm")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        path = shutil.which("set-lstm") or ""
    if not path:
        if os.environ.get("CI"):
            pytest.fail("SET_LSTM_BIN is not set to the set-lstm binary")
        pytest.skip("no set-lstm binary (build it with cargo build --release -p set-cli)")
    return path
