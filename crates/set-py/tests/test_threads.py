"""Threads: results do not depend on the Rust thread count, training releases the GIL, and
Ctrl-C during fit raises KeyboardInterrupt within a second and leaves the estimator usable."""

import _thread
import signal
import threading
import time

import numpy as np
import pytest

import set_lstm
from conftest import TINY


def test_thread_count_does_not_change_results(small):
    (x, y), (hx, _) = small
    a = set_lstm.SETLSTMClassifier(**{**TINY, "threads": 1}).fit(x, y)
    b = set_lstm.SETLSTMClassifier(**{**TINY, "threads": 2}).fit(x, y)
    np.testing.assert_array_equal(a.predict_proba(hx), b.predict_proba(hx))


def test_fit_releases_the_gil(small):
    (x, y), _ = small
    ticks = []
    done = threading.Event()

    def counter():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.005)

    t = threading.Thread(target=counter)
    t.start()
    start = time.perf_counter()
    set_lstm.SETLSTMClassifier(**{**TINY, "epochs": 3}).fit(x, y)
    elapsed = time.perf_counter() - start
    done.set()
    t.join()
    during = [s for s in ticks if start <= s <= start + elapsed]
    # Without the GIL released the counter would run only between Python-level events.
    assert len(during) >= 0.3 * elapsed / 0.005, (len(during), elapsed)


@pytest.fixture
def ctrl_c_raises():
    """Python's own Ctrl-C handler, as in an interactive session. A process started in the
    background by a non-interactive shell inherits SIGINT ignored, Python then installs no
    handler, and `_thread.interrupt_main()` does nothing (its documented behaviour)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    # None: the handler was not installed from Python; leave Python's in place.
    if previous is not None:
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_interrupts_fit_within_a_second(small, uci, ctrl_c_raises):
    (x, y), (hx, _) = small
    clf = set_lstm.SETLSTMClassifier(**TINY).fit(x, y)
    before = clf.predict_proba(hx)
    texts, labels = uci
    clf.set_params(epochs=1000, hidden=32, embed_dim=32)
    fired = {}

    def interrupt():
        time.sleep(1.0)
        fired["at"] = time.perf_counter()
        _thread.interrupt_main()

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        clf.fit(texts, labels)
    latency = time.perf_counter() - fired["at"]
    assert latency < 1.0, latency
    # The estimator keeps its previous model and trains again.
    np.testing.assert_array_equal(clf.predict_proba(hx), before)
    clf.set_params(**TINY)
    clf.fit(x, y)
    np.testing.assert_array_equal(clf.predict_proba(hx), before)


def test_callback_exception_stops_training(small):
    (x, y), _ = small

    class Stop(Exception):
        pass

    def cb(m):
        raise Stop(m["epoch"])

    clf = set_lstm.SETLSTMClassifier(**{**TINY, "epochs": 50})
    start = time.perf_counter()
    with pytest.raises(Stop):
        clf.fit(x, y, callback=cb)
    assert time.perf_counter() - start < 20
    assert not hasattr(clf, "model_")
