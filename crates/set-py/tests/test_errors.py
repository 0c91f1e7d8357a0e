"""Bad input raises ValueError, TypeError or OSError naming what is wrong; never a crash."""

import numpy as np
import pytest

import set_lstm
from conftest import TINY

X = ["good film", "bad film", "great", "awful"] * 5
Y = [1, 0, 1, 0] * 5


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"epochs": 0}, "epochs"),
        ({"epochs": -1}, "epochs"),
        ({"lr": -1.0}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"zeta": 1.5}, "zeta"),
        ({"dropout_embed": 1.0}, "dropout_embed"),
        ({"density": 0.0}, "density"),
        ({"erk": 2.0}, "erk"),
        ({"hidden": 0}, "hidden"),
        ({"batch_size": 0}, "batch_size"),
        ({"dev_fraction": 1.0}, "dev_fraction"),
        ({"min_count": 0}, "min_count"),
        ({"threads": 5000}, "threads"),
        ({"policy": "magic"}, "policy"),
        ({"pooling": "max"}, "pooling"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"epsilon": 2.0, "density": 0.1}, "alternatives"),
        ({"dense": True, "epsilon": 2.0}, "dense"),
        ({"epochz": 3}, "epochz"),
    ],
)
def test_bad_settings_are_value_errors_naming_the_setting(kwargs, name):
    with pytest.raises(ValueError, match=name):
        set_lstm.SETLSTMClassifier(**kwargs)


def test_unknown_setting_suggests_the_name():
    with pytest.raises(ValueError, match="did you mean `epochs`"):
        set_lstm.SETLSTMClassifier(epoch=3)
    with pytest.raises(ValueError, match="unknown setting"):
        set_lstm.SETLSTMClassifier().set_params(bogus=1)


@pytest.mark.parametrize(
    "kwargs", [{"epochs": "10"}, {"lr": "fast"}, {"dense": 1}, {"epochs": 2.5}, {"policy": 3}, {"seed": True}]
)
def test_wrong_types_are_type_errors(kwargs):
    with pytest.raises(TypeError, match=next(iter(kwargs))):
        set_lstm.SETLSTMClassifier(**kwargs)


def test_bad_data():
    clf = set_lstm.SETLSTMClassifier(**TINY)
    with pytest.raises(ValueError, match="length"):
        clf.fit(X, Y[:-1])
    with pytest.raises(ValueError, match="at least one"):
        clf.fit([], [])
    with pytest.raises(ValueError, match="2 classes"):
        clf.fit(X, [1] * len(X))
    with pytest.raises(ValueError, match="empty"):
        clf.fit(X + ["  "], Y + [1])
    with pytest.raises(TypeError):
        clf.fit("one text", [1])
    with pytest.raises(TypeError):
        clf.fit([1, 2, 3, 4], [0, 1, 0, 1])
    with pytest.raises(TypeError):
        clf.fit(X, [object()] * len(X))
    with pytest.raises(ValueError, match="not a training label"):
        clf.fit(X, Y, dev=(["x"], [7]))
    with pytest.raises(TypeError, match="dev"):
        clf.fit(X, Y, dev=["x"])
    with pytest.raises(ValueError):
        clf.fit(X, np.array(Y).reshape(-1, 1))
    with pytest.raises(ValueError, match="outside the vocabulary|ids"):
        clf.fit_tokens(np.array([[2, 9], [2, 2]]), np.array([2, 2]), [0, 1], vocabulary=set_lstm.Vocabulary(["<pad>", "<unk>", "a"]))
    with pytest.raises(ValueError, match="lengths"):
        clf.fit_tokens(np.array([1, 2, 3]), np.array([1, 1]), [0, 1])
    with pytest.raises(ValueError, match=">= 0"):
        clf.fit_tokens(np.array([[-1], [2]]), np.array([1, 1]), [0, 1])
    with pytest.raises(TypeError):
        clf.fit_tokens(np.array([[0.5], [2]]), np.array([1, 1]), [0, 1])


def test_unfitted_and_bad_prediction_input():
    clf = set_lstm.SETLSTMClassifier(**TINY)
    with pytest.raises(AttributeError, match="not fitted"):
        clf.predict(["x"])
    clf.fit(X, Y)
    with pytest.raises(TypeError):
        clf.predict("a single string")
    with pytest.raises(TypeError):
        clf.predict([b"bytes"])
    assert clf.predict_proba([]).shape == (0, 2)
    assert clf.predict_proba([""]).shape == (1, 2), "an empty text is <unk>, as in set-lstm predict"
    with pytest.raises(TypeError):
        clf.save(3)


def test_diverging_training_is_an_arithmetic_error():
    clf = set_lstm.SETLSTMClassifier(**{**TINY, "lr": 1e30, "clip": 0.0, "optimizer": "sgd"})
    with pytest.raises(ArithmeticError, match="non-finite"):
        clf.fit(X * 10, Y * 10)
    assert not hasattr(clf, "model_")
