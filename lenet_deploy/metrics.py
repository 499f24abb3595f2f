"""Classification metrics from the confusion matrix, in numpy alone.

The benchmark runs on devices with only numpy and a TFLite runtime, so these are computed
here rather than with scikit-learn; tests check them against sklearn's
precision_recall_fscore_support(average="weighted", zero_division=0) and classification_report.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lenet_deploy.data import NUM_CLASSES

ZERO_DIVISION = 0.0


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, classes: int = NUM_CLASSES) -> np.ndarray:
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return matrix


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    out = np.full(numerator.shape, ZERO_DIVISION, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """Accuracy, weighted precision/recall/F1 (zero_division=0), per-class report, confusion matrix.

    A class never predicted has precision 0 rather than NaN; weights are the true class counts.
    """
    matrix = confusion_matrix(y_true, y_pred)
    hits = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1)
    precision = _safe_divide(hits, matrix.sum(axis=0))
    recall = _safe_divide(hits, support)
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    weights = support / support.sum() if support.sum() else np.zeros_like(hits)
    return {
        "samples": int(len(y_true)),
        "accuracy": float(hits.sum() / max(1, matrix.sum())),
        "precision_weighted": float(weights @ precision),
        "recall_weighted": float(weights @ recall),
        "f1_weighted": float(weights @ f1),
        "zero_division": ZERO_DIVISION,
        "per_class": {str(c): {"precision": float(precision[c]), "recall": float(recall[c]),
                               "f1-score": float(f1[c]), "support": int(support[c])} for c in range(len(hits))},
        "confusion_matrix": matrix.tolist(),
    }
