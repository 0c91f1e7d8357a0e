"""Truly sparse LSTM sentiment classifiers trained with Sparse Evolutionary Training (SET).

The weights of the embedding and the LSTM are stored sparse (CSR) from the first step; after
every epoch but the last, SET prunes a fraction ``zeta`` of each sparse matrix's weights and
regrows as many at random positions. The Rust core is the library behind the ``set-lstm``
command line, so a model trained here is the same file ``set-lstm predict`` reads, and the
other way round.

>>> import set_lstm
>>> clf = set_lstm.SETLSTMClassifier(epochs=3, seed=1).fit(texts, labels)  # doctest: +SKIP
>>> clf.predict(["a wonderful film"])                                      # doctest: +SKIP
"""

from __future__ import annotations

import difflib
import json
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import _native
from ._native import Model, ModelFileError, TrainingDivergedError, Vocabulary, tokenize

__all__ = [
    "SETLSTMClassifier",
    "Vocabulary",
    "Model",
    "ModelFileError",
    "TrainingDivergedError",
    "load",
    "tokenize",
    "__version__",
]

__version__: str = _native.__version__

# Each setting's type, in the order of `set-lstm train --help`. Names and defaults are the
# command line's (tests compare them with `set-lstm train --help` and the Rust defaults).
_INT, _FLOAT, _BOOL, _STR = "int", "float", "bool", "str"
_SETTING_TYPES: Dict[str, str] = {
    "dev_fraction": _FLOAT,
    "epochs": _INT,
    "batch_size": _INT,
    "max_len": _INT,
    "vocab_size": _INT,
    "min_count": _INT,
    "embed_dim": _INT,
    "hidden": _INT,
    "pooling": _STR,
    "dropout_embed": _FLOAT,
    "dropout_output": _FLOAT,
    "cell": _STR,
    "layers": _INT,
    "bidirectional": _BOOL,
    "dropout_between": _FLOAT,
    "epsilon": _FLOAT,
    "density": _FLOAT,
    "erk": _FLOAT,
    "dense": _BOOL,
    "sparse_output": _BOOL,
    "policy": _STR,
    "zeta": _FLOAT,
    "prune_schedule": _STR,
    "evolve_every": _INT,
    "regrow_into_removed": _BOOL,
    "new_weight_std": _FLOAT,
    "new_weight_matched": _FLOAT,
    "optimizer": _STR,
    "adam_per_weight_steps": _BOOL,
    "lr": _FLOAT,
    "lr_schedule": _STR,
    "warmup_steps": _INT,
    "momentum": _FLOAT,
    "weight_decay": _FLOAT,
    "clip": _FLOAT,
    "early_stopping": _INT,
    "seed": _INT,
    "split_seed": _INT,
    "threads": _INT,
}
_OTHER_PARAMS = ("verbose",)
_FRONT_END_KEY = "set_lstm_python"


def _check_type(name: str, value: Any, kind: str) -> None:
    if value is None and name in (
        "epsilon", "density", "erk", "new_weight_std", "new_weight_matched", "early_stopping",
        "split_seed",
    ):
        return
    is_bool = isinstance(value, (bool, np.bool_))
    is_int = isinstance(value, (int, np.integer)) and not is_bool
    ok = {
        _INT: is_int,
        _FLOAT: is_int or (isinstance(value, (float, np.floating)) and not is_bool),
        _BOOL: is_bool,
        _STR: isinstance(value, str),
    }[kind]
    if not ok:
        raise TypeError(
            f"setting `{name}` must be {'an' if kind == _INT else 'a'} {kind}, "
            f"got {type(value).__name__} ({value!r})"
        )


def _plain(value: Any) -> Any:
    """NumPy scalars as Python numbers (for the Rust side and JSON)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _texts(texts: Any, what: str) -> List[str]:
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"{what} must be a sequence of str, not a single {type(texts).__name__}")
    if isinstance(texts, np.ndarray):
        if texts.ndim != 1:
            raise ValueError(f"{what} must be one-dimensional, got shape {texts.shape}")
        texts = texts.tolist()
    try:
        out = list(texts)
    except TypeError:
        raise TypeError(f"{what} must be a sequence of str, got {type(texts).__name__}") from None
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise TypeError(f"{what}[{i}] must be str, got {type(t).__name__}")
    return out


def _labels(labels: Any, what: str) -> np.ndarray:
    if isinstance(labels, (str, bytes)):
        raise TypeError(f"{what} must be a sequence of labels, not a single {type(labels).__name__}")
    try:
        y = np.asarray(labels)
    except Exception as e:  # ragged or otherwise unconvertible input
        raise TypeError(f"{what}: cannot be read as labels ({e})") from None
    if y.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, got shape {y.shape}")
    if y.dtype.kind == "O":
        kinds = {type(v) for v in y.tolist()}
        if kinds <= {str}:
            y = y.astype(str)
        elif all(issubclass(k, (int, np.integer)) and not issubclass(k, bool) for k in kinds):
            y = y.astype(np.int64)
        else:
            names = sorted(k.__name__ for k in kinds)
            raise TypeError(f"{what} must be all int or all str, got {', '.join(names)}")
    if y.dtype.kind not in "iubUf":
        raise TypeError(f"{what} must be int, bool, float or str labels, got dtype {y.dtype}")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError(f"{what} contains NaN or infinite labels")
    return y


def _ids(ids: Any, lengths: Any, what: str) -> Tuple[np.ndarray, np.ndarray]:
    """Token ids as (concatenated uint32 ids, int64 offsets) from a padded 2-D array with
    lengths, or a flat array with lengths."""
    a = np.asarray(ids)
    n = np.asarray(lengths)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{what}: ids must be an integer array, got dtype {a.dtype}")
    if n.dtype.kind not in "iu" or n.ndim != 1:
        raise TypeError(f"{what}: lengths must be a one-dimensional integer array")
    if a.size and a.min() < 0:
        raise ValueError(f"{what}: token ids must be >= 0")
    if n.size and n.min() < 0:
        raise ValueError(f"{what}: lengths must be >= 0")
    if a.size and a.max() >= 2**32:
        raise ValueError(f"{what}: token ids must fit in uint32")
    n = n.astype(np.int64)
    if a.ndim == 2:
        if a.shape[0] != n.shape[0]:
            raise ValueError(f"{what}: {a.shape[0]} rows of ids but {n.shape[0]} lengths")
        if n.size and n.max() > a.shape[1]:
            raise ValueError(f"{what}: a length exceeds the width {a.shape[1]} of ids")
        mask = np.arange(a.shape[1])[None, :] < n[:, None]
        flat = a[mask]
    elif a.ndim == 1:
        if int(n.sum()) != a.shape[0]:
            raise ValueError(f"{what}: lengths sum to {int(n.sum())} but there are {a.shape[0]} ids")
        flat = a
    else:
        raise ValueError(f"{what}: ids must be 1-D (concatenated) or 2-D (padded), got {a.ndim}-D")
    offsets = np.zeros(n.shape[0] + 1, dtype=np.int64)
    np.cumsum(n, out=offsets[1:])
    return np.ascontiguousarray(flat, dtype=np.uint32), offsets


class _Progress:
    """A one-line progress bar on stderr (``verbose=1``) and the per-epoch history."""

    def __init__(self, verbose: int, callback: Optional[Callable[[Dict[str, Any]], Any]]):
        self.verbose = verbose
        self.callback = callback
        self.history: List[Dict[str, Any]] = []
        self.data: Dict[str, Any] = {}

    def __call__(self, kind: str, event: Dict[str, Any]) -> None:
        out = sys.stderr
        if kind == "data":
            self.data = dict(event)
            if self.verbose:
                print(
                    f"set_lstm: {event['train']} train / {event['dev']} dev examples, "
                    f"vocabulary {event['vocab']}, {event['classes']} classes",
                    file=out,
                )
        elif kind == "step" and self.verbose:
            done, total = event["step"], event["batches"]
            width = 30
            filled = int(width * done / max(total, 1))
            bar = "=" * filled + ">" * (filled < width) + "." * (width - filled - 1)
            print(
                f"\repoch {event['epoch']} [{bar}] {done}/{total} loss {event['loss']:.4f}",
                end="",
                file=out,
                flush=True,
            )
        elif kind == "epoch":
            self.history.append(event)
            if self.verbose:
                dev = event["dev_accuracy"]
                dev_text = "" if dev is None else f" dev acc {dev:.4f}"
                print(
                    f"\repoch {event['epoch']}/{event['epochs']}: train loss "
                    f"{event['train_loss']:.4f} acc {event['train_accuracy']:.4f}{dev_text} "
                    f"density {event['density']:.4f} ({event['train_seconds']:.1f} s)"
                    + " " * 10,
                    file=out,
                    flush=True,
                )
            if self.callback is not None:
                self.callback(dict(event))


class SETLSTMClassifier:
    """A sparse LSTM text classifier trained with Sparse Evolutionary Training.

    Every keyword is a ``set-lstm train`` setting with the same name and default (see
    ``set-lstm train --help``), except the data-source ones (``data``, ``data_dir``,
    ``train``, ``dev``, ``test``, ``classes``, ``test_fraction``): ``fit`` takes the data.
    Settings are checked when the estimator is made and again by ``fit``: an unknown name or a
    value out of range raises ``ValueError``, a value of the wrong type ``TypeError``.

    Parameters
    ----------
    dev_fraction : float, default 0.1
        Fraction of the training data held out as dev set when ``fit`` gets no ``dev``.
    epochs : int, default 10
        Training epochs.
    batch_size : int, default 32
        Sequences per batch.
    max_len : int, default 64
        Longest sequence in tokens; longer ones keep their last tokens.
    vocab_size : int, default 20000
        Largest vocabulary, including ``<pad>`` and ``<unk>``.
    min_count : int, default 1
        Fewest training occurrences for a token to enter the vocabulary.
    embed_dim, hidden : int, default 128
        Embedding and LSTM hidden widths.
    pooling : {"mean", "last"}, default "mean"
        Pooling of the LSTM outputs.
    dropout_embed, dropout_output : float, default 0.2
        Dropout on the embeddings and before the output layer.
    cell : {"lstm", "gru"}, default "lstm"
        Recurrent cell (PyTorch's ``nn.LSTM`` / ``nn.GRU`` equations).
    layers : int, default 1
        Stacked recurrent layers, in 1..=16.
    bidirectional : bool, default False
        Each recurrent layer also reads every sequence backwards; outputs concatenated.
    dropout_between : float, default 0.0
        Dropout on the input of every recurrent layer after the first.
    epsilon : float, optional
        Erdős–Rényi sparsity level (5 when none of ``density``, ``erk``, ``dense`` is given).
    density : float, optional
        The same density for the embedding and LSTM matrices, in (0, 1].
    erk : float, optional
        RigL's Erdős–Rényi-Kernel allocation with this overall density.
    dense : bool, default False
        Dense baseline: every matrix dense, no evolution.
    sparse_output : bool, default False
        The output layer sparse too.
    policy : {"set", "rigl", "snfs", "static", "gmp"}, default "set"
        Topology evolution policy; ``"gmp"`` is gradual magnitude pruning: every sparse matrix
        starts full and is pruned on a cubic schedule to the density of the sparsity setting.
    zeta : float, default 0.3
        Fraction of each sparse matrix's connections pruned and regrown after every epoch but
        the last.
    prune_schedule : {"constant", "cosine"}, default "constant"
        How the prune fraction changes over the run.
    evolve_every : int, default 0
        Evolve the topology every this many optimizer steps until 75 % of the run's steps
        (RigL's schedule); 0 = after every epoch but the last.
    regrow_into_removed : bool, default True
        SET: whether positions pruned in a step may regrow in the same step.
    new_weight_std : float, optional
        Standard deviation of regrown weights (0 = start at zero); the policy's own by default.
    new_weight_matched : float, optional
        Regrown weights drawn at this multiple of each matrix's own initial standard deviation
        (instead of ``new_weight_std``).
    optimizer : {"adam", "sgd"}, default "adam"
    adam_per_weight_steps : bool, default False
        Adam: bias correction from each weight's own step count, so that a regrown weight
        starts like a weight at its first step.
    lr : float, default 0.01
    lr_schedule : {"constant", "cosine", "linear"}, default "constant"
        How the learning rate changes after the warm-up (cosine and linear decay to 0 at the
        last step).
    warmup_steps : int, default 0
        Optimizer steps of linear learning-rate warm-up.
    momentum : float, default 0.9
        SGD momentum.
    weight_decay : float, default 0.0
    clip : float, default 5.0
        Clip the global gradient norm to this value (0 = off).
    early_stopping : int, optional
        End training once the dev accuracy has not improved for this many epochs.
    seed : int, default 42
        Seed of every random choice (dev split, init, batch order, dropout, evolution).
    split_seed : int, optional
        Seed of the dev split carved from the training data, apart from ``seed``, so that fits
        of different seeds share one split; by default the dev split follows ``seed``.
    threads : int, default 0
        Rust worker threads for training and prediction (0 = one per core); results do not
        depend on it.
    verbose : int, default 0
        1: a progress bar and one line per epoch on stderr.

    Attributes
    ----------
    classes_ : ndarray
        The class labels, sorted, in the type given to ``fit``.
    history_ : list of dict
        One dict per epoch: ``epoch``, ``train_loss``, ``train_accuracy``, ``dev_loss``,
        ``dev_accuracy``, ``best_dev``, ``params``, ``density``, ``train_seconds``, and the
        evolution step after it (``zeta``, ``pruned``, ``regrown``, ``itop_rate``; ``None``
        after the last epoch).
    n_params_, dense_params_ : int
        Stored parameters, and those of the dense model of the same shapes.
    density_ : float
        ``n_params_ / dense_params_``.
    vocabulary_ : Vocabulary
    model_ : Model
        The trained model (Rust object).
    """

    def __init__(
        self,
        *,
        dev_fraction: float = 0.1,
        epochs: int = 10,
        batch_size: int = 32,
        max_len: int = 64,
        vocab_size: int = 20000,
        min_count: int = 1,
        embed_dim: int = 128,
        hidden: int = 128,
        pooling: str = "mean",
        dropout_embed: float = 0.2,
        dropout_output: float = 0.2,
        cell: str = "lstm",
        layers: int = 1,
        bidirectional: bool = False,
        dropout_between: float = 0.0,
        epsilon: Optional[float] = None,
        density: Optional[float] = None,
        erk: Optional[float] = None,
        dense: bool = False,
        sparse_output: bool = False,
        policy: str = "set",
        zeta: float = 0.3,
        prune_schedule: str = "constant",
        evolve_every: int = 0,
        regrow_into_removed: bool = True,
        new_weight_std: Optional[float] = None,
        new_weight_matched: Optional[float] = None,
        optimizer: str = "adam",
        adam_per_weight_steps: bool = False,
        lr: float = 0.01,
        lr_schedule: str = "constant",
        warmup_steps: int = 0,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        clip: float = 5.0,
        early_stopping: Optional[int] = None,
        seed: int = 42,
        split_seed: Optional[int] = None,
        threads: int = 0,
        verbose: int = 0,
        **unknown: Any,
    ):
        if unknown:
            _unknown(unknown)
        self.dev_fraction = dev_fraction
        self.epochs = epochs
        self.batch_size = batch_size
        self.max_len = max_len
        self.vocab_size = vocab_size
        self.min_count = min_count
        self.embed_dim = embed_dim
        self.hidden = hidden
        self.pooling = pooling
        self.dropout_embed = dropout_embed
        self.dropout_output = dropout_output
        self.cell = cell
        self.layers = layers
        self.bidirectional = bidirectional
        self.dropout_between = dropout_between
        self.epsilon = epsilon
        self.density = density
        self.erk = erk
        self.dense = dense
        self.sparse_output = sparse_output
        self.policy = policy
        self.zeta = zeta
        self.prune_schedule = prune_schedule
        self.evolve_every = evolve_every
        self.regrow_into_removed = regrow_into_removed
        self.new_weight_std = new_weight_std
        self.new_weight_matched = new_weight_matched
        self.optimizer = optimizer
        self.adam_per_weight_steps = adam_per_weight_steps
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.warmup_steps = warmup_steps
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.clip = clip
        self.early_stopping = early_stopping
        self.seed = seed
        self.split_seed = split_seed
        self.threads = threads
        self.verbose = verbose
        self._settings()

    # -- scikit-learn protocol -------------------------------------------------------------

    def get_params(self, deep: bool = True) -> Dict[str, Any]:
        """Every setting, by name (scikit-learn's ``get_params``)."""
        return {k: getattr(self, k) for k in (*_SETTING_TYPES, *_OTHER_PARAMS)}

    def set_params(self, **params: Any) -> "SETLSTMClassifier":
        """Sets settings by name and checks them; returns ``self``."""
        bad = {k: v for k, v in params.items() if k not in _SETTING_TYPES and k not in _OTHER_PARAMS}
        if bad:
            _unknown(bad)
        old = self.get_params()
        for k, v in params.items():
            setattr(self, k, v)
        try:
            self._settings()
        except Exception:
            for k, v in old.items():
                setattr(self, k, v)
            raise
        return self

    def __repr__(self) -> str:
        defaults = _native.default_settings()
        changed = [
            f"{k}={v!r}"
            for k, v in self.get_params().items()
            if k in defaults and defaults[k] != v or k == "verbose" and v != 0
        ]
        return f"SETLSTMClassifier({', '.join(changed)})"

    def __sklearn_tags__(self):  # pragma: no cover - only with scikit-learn installed
        from sklearn.utils import ClassifierTags, Tags, TargetTags

        return Tags(
            estimator_type="classifier",
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags(),
        )

    _estimator_type = "classifier"

    # -- training --------------------------------------------------------------------------

    def _settings(self) -> Dict[str, Any]:
        s = {}
        for name, kind in _SETTING_TYPES.items():
            value = getattr(self, name)
            _check_type(name, value, kind)
            s[name] = _plain(value)
        if not isinstance(self.verbose, (int, np.integer)) or isinstance(self.verbose, bool):
            raise TypeError(f"setting `verbose` must be an int, got {type(self.verbose).__name__}")
        _native.check_settings(s)
        return s

    def _classes(self, y: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        classes, idx = np.unique(y, return_inverse=True)
        if len(y) == 0:
            raise ValueError("fit needs at least one example")
        if len(classes) < 2:
            raise ValueError(
                f"fit needs at least 2 classes, got only {classes.tolist()!r}"
            )
        return classes, idx.astype(np.int64).reshape(-1)

    def _dev_indices(self, classes: np.ndarray, y: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(classes, y)
        pos = np.clip(pos, 0, len(classes) - 1)
        unseen = classes[pos] != y
        if np.any(unseen):
            first = y[np.argmax(unseen)]
            raise ValueError(f"dev label {first!r} is not a training label")
        return pos.astype(np.int64)

    def _front_end(self, settings: Dict[str, Any], classes: np.ndarray) -> str:
        return json.dumps(
            {
                _FRONT_END_KEY: {
                    "version": __version__,
                    "settings": settings,
                    "label_kind": classes.dtype.kind,
                }
            }
        )

    def _finish(self, model: Model, classes: np.ndarray, progress: _Progress) -> "SETLSTMClassifier":
        self._set_model(model, classes)
        self.history_ = progress.history
        return self

    def _set_model(self, model: Model, classes: np.ndarray) -> None:
        r = model.report()
        self.model_ = model
        self.classes_ = classes
        self.n_params_ = int(r["n_params"])
        self.dense_params_ = int(r["dense_params"])
        self.density_ = float(r["density"])
        self.vocabulary_ = model.vocabulary

    def fit(
        self,
        texts: Sequence[str],
        labels: Any,
        dev: Optional[Tuple[Sequence[str], Any]] = None,
        callback: Optional[Callable[[Dict[str, Any]], Any]] = None,
    ) -> "SETLSTMClassifier":
        """Trains on ``texts`` (a list of str) and ``labels`` (ints, strs, bools, ...).

        ``dev`` is ``(texts, labels)`` for the dev set; without it ``dev_fraction`` of the
        training data is held out (stratified, by ``seed``), as ``set-lstm train`` does.
        ``callback(epoch_metrics)`` is called after every epoch with the dict that goes into
        ``history_``; an exception from it stops training and is raised. Training runs without
        the GIL; Ctrl-C raises ``KeyboardInterrupt`` within a second and leaves the estimator as
        it was. Returns ``self``.
        """
        settings = self._settings()
        x = _texts(texts, "texts")
        y = _labels(labels, "labels")
        if len(x) != len(y):
            raise ValueError(f"texts and labels differ in length: {len(x)} vs {len(y)}")
        classes, idx = self._classes(y)
        dev_arg = None
        if dev is not None:
            dx, dy = _dev_pair(dev)
            dx = _texts(dx, "dev texts")
            dy = _labels(dy, "dev labels")
            if len(dx) != len(dy):
                raise ValueError(f"dev texts and labels differ in length: {len(dx)} vs {len(dy)}")
            dev_arg = (dx, self._dev_indices(classes, dy.astype(classes.dtype)).tolist())
        progress = _Progress(int(self.verbose), callback)
        model = _native.fit_texts(
            settings,
            x,
            idx.tolist(),
            dev_arg,
            [str(c) for c in classes.tolist()],
            self._front_end(settings, classes),
            progress,
        )
        return self._finish(model, classes, progress)

    def fit_tokens(
        self,
        ids: Any,
        lengths: Any,
        labels: Any,
        vocabulary: Optional[Vocabulary] = None,
        dev: Optional[Tuple[Any, Any, Any]] = None,
        callback: Optional[Callable[[Dict[str, Any]], Any]] = None,
    ) -> "SETLSTMClassifier":
        """Trains on token ids from your own preprocessing.

        ``ids`` is a padded ``[n, width]`` integer array (with ``lengths[i]`` valid ids in row
        ``i``, as ``Vocabulary.encode_batch`` returns) or the flat concatenation of every
        example's ids. Ids index ``vocabulary``; without one, a placeholder vocabulary of
        ``max(ids) + 1`` tokens (``<pad>``, ``<unk>``, ``tok2``, ...) is made: such a model
        predicts token ids (``predict_tokens``), not texts. ``dev`` is ``(ids, lengths,
        labels)``. Otherwise as ``fit``.
        """
        settings = self._settings()
        flat, offsets = _ids(ids, lengths, "ids")
        y = _labels(labels, "labels")
        if len(offsets) - 1 != len(y):
            raise ValueError(f"ids and labels differ in length: {len(offsets) - 1} vs {len(y)}")
        classes, idx = self._classes(y)
        dev_arg = None
        if dev is not None:
            if not isinstance(dev, (tuple, list)) or len(dev) != 3:
                raise TypeError("dev must be a tuple (ids, lengths, labels)")
            dflat, doff = _ids(dev[0], dev[1], "dev ids")
            dy = _labels(dev[2], "dev labels")
            if len(doff) - 1 != len(dy):
                raise ValueError("dev ids and labels differ in length")
            dev_arg = (dflat, doff, self._dev_indices(classes, dy.astype(classes.dtype)).tolist())
        if vocabulary is None:
            top = max(
                [int(flat.max()) if flat.size else 0]
                + ([int(dev_arg[0].max())] if dev_arg is not None and dev_arg[0].size else [])
            )
            vocabulary = Vocabulary(["<pad>", "<unk>"] + [f"tok{i}" for i in range(2, max(top + 1, 3))])
        elif not isinstance(vocabulary, Vocabulary):
            raise TypeError(f"vocabulary must be a set_lstm.Vocabulary, got {type(vocabulary).__name__}")
        progress = _Progress(int(self.verbose), callback)
        model = _native.fit_tokens(
            settings,
            flat,
            offsets,
            idx.tolist(),
            dev_arg,
            vocabulary,
            [str(c) for c in classes.tolist()],
            self._front_end(settings, classes),
            progress,
        )
        return self._finish(model, classes, progress)

    # -- prediction ------------------------------------------------------------------------

    def _model(self) -> Model:
        model = getattr(self, "model_", None)
        if model is None:
            raise _not_fitted()
        return model

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities ``[n, n_classes]`` (float64, rows sum to 1; columns in the order
        of ``classes_``), as ``set-lstm predict --json`` computes them."""
        model = self._model()
        return model.predict_proba(_texts(texts, "texts"), int(self.threads))

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """The most probable class of each text, as an array of ``classes_``' type."""
        proba = self.predict_proba(texts)
        return self.classes_[np.argmax(proba, axis=1)]

    def predict_proba_tokens(self, ids: Any, lengths: Any) -> np.ndarray:
        """``predict_proba`` for token ids (the forms ``fit_tokens`` takes)."""
        model = self._model()
        flat, offsets = _ids(ids, lengths, "ids")
        return model.predict_proba_ids(flat, offsets, int(self.threads))

    def predict_tokens(self, ids: Any, lengths: Any) -> np.ndarray:
        """``predict`` for token ids."""
        proba = self.predict_proba_tokens(ids, lengths)
        return self.classes_[np.argmax(proba, axis=1)]

    def score(self, texts: Sequence[str], labels: Any) -> float:
        """Accuracy on ``texts`` with true ``labels``."""
        y = _labels(labels, "labels")
        pred = self.predict(texts)
        if len(pred) != len(y):
            raise ValueError(f"texts and labels differ in length: {len(pred)} vs {len(y)}")
        if len(y) == 0:
            raise ValueError("score needs at least one example")
        return float(np.mean(pred == y.astype(self.classes_.dtype)))

    # -- inspection and files --------------------------------------------------------------

    def sparse_weights(self) -> Dict[str, Tuple[np.ndarray, np.ndarray, np.ndarray, Tuple[int, int]]]:
        """Every sparse weight matrix: name -> ``(indptr, indices, data, shape)``.

        ``scipy.sparse.csr_matrix((data, indices, indptr), shape=shape)`` builds it.
        """
        return self._model().sparse_weights()

    def dense_weights(self) -> Dict[str, np.ndarray]:
        """Every dense parameter (dense matrices, biases): name -> float32 array."""
        return self._model().dense_weights()

    def save(self, path: Any) -> None:
        """Writes the model in ``set-lstm``'s ``model.safetensors`` format (``set-lstm
        predict --model PATH`` reads it)."""
        self._model().save(_path(path))


def _path(path: Any) -> str:
    import os

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be str or os.PathLike, got {type(path).__name__}")
    return os.fspath(path)


def _dev_pair(dev: Any) -> Tuple[Any, Any]:
    if not isinstance(dev, (tuple, list)) or len(dev) != 2:
        raise TypeError("dev must be a tuple (texts, labels)")
    return dev[0], dev[1]


def _unknown(params: Dict[str, Any]) -> None:
    names = [*_SETTING_TYPES, *_OTHER_PARAMS]
    name = sorted(params)[0]
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    raise ValueError(f"unknown setting `{name}`{hint} (settings: {', '.join(names)})")


def _not_fitted() -> Exception:
    try:
        from sklearn.exceptions import NotFittedError  # type: ignore

        return NotFittedError("this SETLSTMClassifier is not fitted yet: call fit first")
    except ImportError:
        return AttributeError("this SETLSTMClassifier is not fitted yet: call fit first")


def _label_values(names: List[str], kind: Optional[str]) -> np.ndarray:
    try:
        if kind in ("i", "u"):
            return np.array([int(n) for n in names])
        if kind == "b":
            return np.array([n == "True" for n in names])
        if kind == "f":
            return np.array([float(n) for n in names])
    except ValueError:
        pass
    return np.array(names)


def load(path: Any) -> SETLSTMClassifier:
    """Reads a model file (from ``SETLSTMClassifier.save`` or ``set-lstm train``) into a
    fitted estimator. A missing, truncated or corrupt file raises ``ModelFileError`` (an
    ``OSError``).

    Settings the file records (a Python-saved model records all; a CLI-trained one its
    command-line configuration) become the estimator's settings; ``history_`` is empty.
    """
    model = Model.load(_path(path))
    front = json.loads(model.front_end_json) if model.front_end_json else None
    settings: Dict[str, Any] = {}
    kind = None
    if isinstance(front, dict) and isinstance(front.get(_FRONT_END_KEY), dict):
        mine = front[_FRONT_END_KEY]
        settings = dict(mine.get("settings") or {})
        kind = mine.get("label_kind")
    elif isinstance(front, dict):
        # The command line records its whole configuration: keep the keys that are settings.
        settings = {k: v for k, v in front.items() if k in _SETTING_TYPES}
        if settings.get("epsilon") is not None and (settings.get("density") or settings.get("erk") or settings.get("dense")):
            settings.pop("epsilon")
    settings = {k: v for k, v in settings.items() if k in _SETTING_TYPES}
    try:
        clf = SETLSTMClassifier(**settings)
    except (TypeError, ValueError):
        clf = SETLSTMClassifier()
    clf._set_model(model, _label_values(model.class_names, kind))
    clf.history_ = []
    return clf
