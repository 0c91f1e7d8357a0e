"""Model files both ways with the command line: a Python-saved model in `set-lstm predict
--json` (same probabilities to 1e-6), a CLI-trained model here, and bad files as OSError."""

import gzip
import json
import subprocess

import numpy as np
import pytest

import set_lstm
from conftest import UCI


def cli_predict(cli, model, texts):
    out = subprocess.run(
        [cli, "predict", "--model", str(model), "--json"],
        input="\n".join(texts) + "\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_python_model_in_set_lstm_predict(tiny_clf, small, cli, tmp_path):
    _, (hx, _) = small
    hx = [t.replace("\n", " ") for t in hx[:100]]
    path = tmp_path / "model.safetensors"
    tiny_clf.save(path)
    rows = cli_predict(cli, path, hx)
    assert len(rows) == len(hx)
    cli_proba = np.array([r["probabilities"] for r in rows])
    np.testing.assert_allclose(tiny_clf.predict_proba(hx), cli_proba, rtol=0, atol=1e-6)
    labels = [r["label"] for r in rows]
    assert labels == [str(c) for c in tiny_clf.predict(hx).tolist()]
    info = subprocess.run([cli, "info", "--model", str(path)], capture_output=True, text=True)
    assert info.returncode == 0, info.stderr


def test_save_load_round_trip_keeps_labels_and_settings(small, tmp_path):
    (x, y), (hx, _) = small
    names = list(np.array(["neg", "pos"])[np.array(y)])
    clf = set_lstm.SETLSTMClassifier(epochs=1, embed_dim=8, hidden=8, lr=0.02).fit(x, names)
    clf.save(str(tmp_path / "m.safetensors"))
    back = set_lstm.load(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(back.predict_proba(hx), clf.predict_proba(hx))
    assert back.classes_.tolist() == ["neg", "pos"]
    assert back.lr == 0.02 and back.hidden == 8
    assert (back.n_params_, back.dense_params_) == (clf.n_params_, clf.dense_params_)
    ints = set_lstm.SETLSTMClassifier(epochs=1, embed_dim=8, hidden=8).fit(x, y)
    ints.save(tmp_path / "i.safetensors")
    assert set_lstm.load(tmp_path / "i.safetensors").predict(hx[:5]).dtype.kind == "i"


def test_cli_trained_model_loads_here(cli, tmp_path, small):
    _, (hx, _) = small
    out = tmp_path / "run"
    subprocess.run(
        [cli, "train", "--data", "uci", "--data-dir", str(UCI.parent), "--epochs", "1",
         "--embed-dim", "8", "--hidden", "8", "--out", str(out)],
        check=True, capture_output=True, text=True,
    )
    model = out / "model.safetensors"
    clf = set_lstm.load(model)
    assert clf.classes_.tolist() == ["negative", "positive"]
    assert clf.hidden == 8 and clf.epochs == 1
    hx = [t.replace("\n", " ") for t in hx[:50]]
    cli_proba = np.array([r["probabilities"] for r in cli_predict(cli, model, hx)])
    np.testing.assert_allclose(clf.predict_proba(hx), cli_proba, rtol=0, atol=1e-6)


def test_bad_model_files_are_oserrors(tiny_clf, tmp_path):
    with pytest.raises(OSError):
        set_lstm.load(tmp_path / "missing.safetensors")
    good = tmp_path / "good.safetensors"
    tiny_clf.save(good)
    data = good.read_bytes()
    cases = {
        "empty": b"",
        "truncated": data[: len(data) // 2],
        "garbage": b"\x00" * 64,
        "flipped": data[:20] + bytes([data[20] ^ 0xFF]) + data[21:],
    }
    for name, content in cases.items():
        p = tmp_path / f"{name}.safetensors"
        p.write_bytes(content)
        with pytest.raises(OSError):
            set_lstm.load(p)
        with pytest.raises(set_lstm.ModelFileError):
            set_lstm.load(str(p))
    with pytest.raises(OSError):
        tiny_clf.save(tmp_path / "no-such-dir" / "m.safetensors")
    with pytest.raises(OSError):
        set_lstm.load(tmp_path)
