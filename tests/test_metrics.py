import numpy as np
import pytest
from sklearn.metrics import classification_report, confusion_matrix, precision_recall_fscore_support

from lenet_deploy.metrics import classification_metrics


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_sklearn_weighted_and_per_class(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 10, 500)
    y_pred = np.where(rng.random(500) < 0.7, y_true, rng.integers(0, 10, 500))
    y_pred[y_pred == 3] = 4  # class 3 never predicted: zero_division path
    ours = classification_metrics(y_true, y_pred)
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=range(10), average="weighted",
                                                 zero_division=0)
    assert ours["precision_weighted"] == pytest.approx(p) and ours["recall_weighted"] == pytest.approx(r)
    assert ours["f1_weighted"] == pytest.approx(f)
    assert ours["accuracy"] == pytest.approx(np.mean(y_true == y_pred))
    report = classification_report(y_true, y_pred, labels=range(10), output_dict=True, zero_division=0)
    for c in range(10):
        for key in ("precision", "recall", "f1-score", "support"):
            assert ours["per_class"][str(c)][key] == pytest.approx(report[str(c)][key])
    assert ours["confusion_matrix"] == confusion_matrix(y_true, y_pred, labels=range(10)).tolist()
    assert ours["per_class"]["3"]["precision"] == 0.0
