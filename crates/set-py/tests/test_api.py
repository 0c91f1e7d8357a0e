"""The estimator's API: scikit-learn conventions, attributes, labels of any type, CSR weights,
the vocabulary and token-level training."""

import re
import subprocess

import numpy as np
import pytest

import set_lstm
from conftest import TINY


def test_fit_returns_self_and_sets_fitted_attributes(small):
    (x, y), (hx, hy) = small
    clf = set_lstm.SETLSTMClassifier(**TINY)
    assert clf.fit(x, y) is clf
    assert clf.classes_.tolist() == [0, 1]
    assert clf.classes_.dtype.kind == "i"
    assert 0 < clf.n_params_ < clf.dense_params_
    assert clf.density_ == pytest.approx(clf.n_params_ / clf.dense_params_)
    assert len(clf.history_) == 2
    h = clf.history_[0]
    for key in ("epoch", "train_loss", "train_accuracy", "dev_loss", "dev_accuracy", "density", "params"):
        assert key in h
    assert h["epoch"] == 1 and h["pruned"] > 0 and clf.history_[1]["pruned"] is None
    proba = clf.predict_proba(hx)
    assert proba.shape == (200, 2) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    pred = clf.predict(hx)
    assert pred.dtype == clf.classes_.dtype
    assert set(pred.tolist()) <= {0, 1}
    assert clf.score(hx, hy) == pytest.approx(float(np.mean(pred == np.array(hy))))


def test_same_seed_same_model_and_string_labels(small):
    (x, y), (hx, _) = small
    a = set_lstm.SETLSTMClassifier(**TINY).fit(x, y)
    names = np.array(["neg", "pos"])[np.array(y)]
    b = set_lstm.SETLSTMClassifier(**TINY).fit(x, list(names))
    np.testing.assert_array_equal(a.predict_proba(hx), b.predict_proba(hx))
    assert b.classes_.tolist() == ["neg", "pos"]
    assert b.predict(hx[:3]).dtype.kind == "U"
    c = set_lstm.SETLSTMClassifier(**{**TINY, "seed": 4}).fit(x, y)
    assert not np.array_equal(a.predict_proba(hx), c.predict_proba(hx))


def test_three_classes_and_explicit_dev(small):
    (x, y), (hx, hy) = small
    y3 = [l if i % 5 else 2 for i, l in enumerate(y)]
    clf = set_lstm.SETLSTMClassifier(**TINY).fit(x, y3, dev=(hx, [l if i % 5 else 2 for i, l in enumerate(hy)]))
    assert clf.predict_proba(hx).shape == (200, 3)
    assert clf.history_[0]["dev_accuracy"] is not None


def test_callback_gets_every_epoch(small):
    (x, y), _ = small
    seen = []
    set_lstm.SETLSTMClassifier(**TINY).fit(x, y, callback=seen.append)
    assert [m["epoch"] for m in seen] == [1, 2]


def test_verbose_prints_progress(small, capsys):
    (x, y), _ = small
    set_lstm.SETLSTMClassifier(**{**TINY, "epochs": 1, "verbose": 1}).fit(x[:100], y[:100])
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "train loss" in err


def test_sparse_weights_are_valid_csr(tiny_clf):
    scipy_sparse = pytest.importorskip("scipy.sparse")
    w = tiny_clf.sparse_weights()
    assert set(w) == {"embedding.weight", "lstm.weight_ih_l0", "lstm.weight_hh_l0"}
    total = 0
    for name, (indptr, indices, data, shape) in w.items():
        m = scipy_sparse.csr_matrix((data, indices, indptr), shape=shape)
        assert m.has_sorted_indices and m.nnz == len(data)
        assert indptr.dtype == np.int64 and indices.dtype == np.int32 and data.dtype == np.float32
        total += m.nnz
    dense = tiny_clf.dense_weights()
    total += sum(a.size for a in dense.values())
    assert total == tiny_clf.n_params_


def test_get_set_params_and_repr():
    clf = set_lstm.SETLSTMClassifier(epochs=3, lr=0.003)
    p = clf.get_params()
    assert p["epochs"] == 3 and p["lr"] == 0.003 and p["hidden"] == 128
    clone = set_lstm.SETLSTMClassifier(**p)
    assert clone.get_params() == p
    assert clf.set_params(hidden=8) is clf and clf.hidden == 8
    assert repr(clf) == "SETLSTMClassifier(epochs=3, hidden=8, lr=0.003)"
    with pytest.raises(ValueError, match="zeta"):
        clf.set_params(zeta=2.0)
    assert clf.zeta == 0.3, "a rejected set_params changes nothing"


def test_defaults_match_rust_and_the_command_line(cli):
    import inspect

    sig = inspect.signature(set_lstm.SETLSTMClassifier.__init__)
    py = {k: v.default for k, v in sig.parameters.items() if v.kind is v.KEYWORD_ONLY}
    native = set_lstm._native.default_settings()
    assert {k: py[k] for k in native} == native
    help_text = subprocess.run([cli, "train", "--help"], capture_output=True, text=True, check=True).stdout
    cli_defaults = {}
    for m in re.finditer(r"--([a-z-]+)[^\n]*\n((?:\s{10,}[^\n]*\n)*)", help_text):
        d = re.search(r"\[default: ([^\]]+)\]", m.group(0))
        if d:
            cli_defaults[m.group(1).replace("-", "_")] = d.group(1)
    checked = 0
    for name, value in native.items():
        if name not in cli_defaults or value is None:
            continue
        text = cli_defaults[name]
        if isinstance(value, bool):
            # Switches print their default as on/off (`--dense` / `--no-dense`).
            assert text == ("on" if value else "off"), (name, text, value)
        elif isinstance(value, (int, float)):
            assert float(text) == float(value), (name, text, value)
        else:
            assert text == value, name
        checked += 1
    assert checked >= 20, cli_defaults
    assert cli_defaults["epsilon"] == "5"
    # Every CLI train setting is a keyword, except those that say where data come from.
    flags = {f.replace("-", "_") for f in re.findall(r"^\s+--([a-z-]+)", help_text, re.M)}
    data_source = {
        "data", "data_dir", "train", "dev", "test", "classes", "test_fraction",
        "labels", "format", "text_field", "label_field",
    }
    front_end_only = {
        "config", "log", "out", "max_steps", "checkpoint_every", "help", "version",
        "quiet", "verbose", "show_test",
        # Reads a run directory on disk: the CLI's way to size a small-dense baseline.
        "match_params_of",
    }
    # `--no-X` only overrides a config file's `X = true`; the keyword `X=False` does that.
    negations = {f for f in flags if f.startswith("no_") and f[3:] in py}
    missing = flags - set(py) - data_source - front_end_only - negations
    assert not missing, f"CLI settings with no keyword: {sorted(missing)}"


def test_tokenizer_and_vocabulary(small):
    assert set_lstm.tokenize("Loved it!") == ["loved", "it", "!"]
    (x, _), _ = small
    v = set_lstm.Vocabulary.build(x, max_size=50)
    assert len(v) == 50 and v.tokens[:2] == ["<pad>", "<unk>"]
    assert v.id("zzzz-not-a-word") == 1 and "the" in v and v[v.tokens[5]] == 5
    ids, lengths = v.encode_batch(["the film", "a", "the the the"], max_len=2)
    assert ids.shape == (3, 2) and lengths.tolist() == [2, 1, 2]
    assert ids[1, 1] == 0
    np.testing.assert_array_equal(v.encode("the film"), ids[0])
    with pytest.raises(ValueError):
        set_lstm.Vocabulary(["<unk>", "<pad>"])


def test_vocabulary_of_a_text_model_matches_the_cli_tokenizer(tiny_clf):
    v = tiny_clf.vocabulary_
    assert isinstance(v, set_lstm.Vocabulary) and len(v) > 100


def test_fit_tokens_padded_and_flat_agree_with_texts(small):
    (x, y), (hx, _) = small
    vocab = set_lstm.Vocabulary.build(x, max_size=20000)
    ids, lengths = vocab.encode_batch(x)
    a = set_lstm.SETLSTMClassifier(**TINY).fit_tokens(ids, lengths, y, vocabulary=vocab)
    flat = np.concatenate([row[:n] for row, n in zip(ids, lengths)])
    b = set_lstm.SETLSTMClassifier(**TINY).fit_tokens(flat.astype(np.int64), lengths, y, vocabulary=vocab)
    np.testing.assert_array_equal(a.predict_proba(hx), b.predict_proba(hx))
    hid, hlen = vocab.encode_batch(hx)
    np.testing.assert_allclose(a.predict_proba_tokens(hid, hlen), a.predict_proba(hx), atol=1e-12)
    # Without a vocabulary: a placeholder one, sized by the largest id.
    c = set_lstm.SETLSTMClassifier(**TINY).fit_tokens(ids, lengths, y)
    assert len(c.vocabulary_) == int(ids.max()) + 1
    assert c.predict_tokens(hid, hlen).shape == (200,)


def test_stacked_bidirectional_gru_keywords(small):
    (x, y), (hx, _) = small
    clf = set_lstm.SETLSTMClassifier(**{**TINY, "cell": "gru", "layers": 2, "bidirectional": True, "dropout_between": 0.2})
    assert clf.get_params()["cell"] == "gru"
    clf.fit(x, y)
    w = clf.sparse_weights()
    for layer in (0, 1):
        for suffix in ("", "_reverse"):
            assert f"gru.weight_ih_l{layer}{suffix}" in w and f"gru.weight_hh_l{layer}{suffix}" in w
    assert clf.dense_weights()["gru.bias_hh_l1_reverse"].shape == (3 * TINY["hidden"],)
    assert clf.predict_proba(hx).shape == (200, 2)
    with pytest.raises(ValueError, match="layers"):
        set_lstm.SETLSTMClassifier(layers=0).fit(x, y)
    with pytest.raises(ValueError, match="cell"):
        set_lstm.SETLSTMClassifier(cell="rnn").fit(x, y)


def test_split_seed_and_matched_regrowth_keywords(small):
    """`split_seed` moves only the dev split (None: the model seed, as before); `new_weight_matched`
    reaches the trainer, and combining it with `new_weight_std` is refused."""
    (x, y), _ = small

    def weights(**kw):
        clf = set_lstm.SETLSTMClassifier(**{**TINY, **kw}).fit(x, y)
        return clf.sparse_weights(), clf.dense_weights()

    def same(a, b):
        (sa, da), (sb, db) = a, b
        return (
            sa.keys() == sb.keys()
            and all(all(np.array_equal(p, q) for p, q in zip(sa[k], sb[k])) for k in sa)
            and all(np.array_equal(da[k], db[k]) for k in da)
        )

    base = weights()
    assert same(base, weights(split_seed=TINY["seed"]))
    assert not same(base, weights(split_seed=TINY["seed"] + 1))
    assert not same(base, weights(new_weight_matched=1.0))
    assert set_lstm.SETLSTMClassifier(new_weight_matched=1.0).get_params()["new_weight_matched"] == 1.0
    with pytest.raises(ValueError, match="new_weight_matched"):
        set_lstm.SETLSTMClassifier(new_weight_std=0.1, new_weight_matched=1.0).fit(x, y)


def test_gmp_and_step_evolution_keywords(small):
    """`policy="gmp"` ends at the sparse model's size (as SET's); `evolve_every` reaches the
    trainer and changes the model."""
    (x, y), _ = small

    def nnz(clf):
        return sum(len(v[2]) for v in clf.sparse_weights().values())

    set_model = set_lstm.SETLSTMClassifier(**TINY).fit(x, y)
    gmp = set_lstm.SETLSTMClassifier(**{**TINY, "policy": "gmp", "evolve_every": 5}).fit(x, y)
    assert nnz(gmp) == nnz(set_model)
    rigl = set_lstm.SETLSTMClassifier(**{**TINY, "policy": "rigl"}).fit(x, y)
    rigl_steps = set_lstm.SETLSTMClassifier(**{**TINY, "policy": "rigl", "evolve_every": 5}).fit(x, y)
    assert rigl_steps.get_params()["evolve_every"] == 5
    assert not all(
        np.array_equal(a, b)
        for k in rigl.sparse_weights()
        for a, b in zip(rigl.sparse_weights()[k], rigl_steps.sparse_weights()[k])
    )
    with pytest.raises(ValueError, match="gmp"):
        set_lstm.SETLSTMClassifier(policy="gmp", dense=True).fit(x, y)
