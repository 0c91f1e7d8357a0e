"""Real data: the default estimator, on UCI sentences it has never seen, scores >= 0.70 on
the held-out part (a few epochs keep it fast)."""

import set_lstm


def test_default_estimator_on_uci_holdout(uci):
    texts, labels = uci
    n = int(0.8 * len(texts))
    clf = set_lstm.SETLSTMClassifier(epochs=5).fit(texts[:n], labels[:n])
    acc = clf.score(texts[n:], labels[n:])
    assert acc >= 0.70, acc
    assert clf.density_ < 0.1
