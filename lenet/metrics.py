"""Classification metrics, the same for every stage (sklearn; zero_division=0 stated in the output)."""

from __future__ import annotations

from typing import Any

import numpy as np

from lenet.data import NUM_CLASSES

ZERO_DIVISION = 0


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """Accuracy, weighted precision/recall/F1, the per-class report and the confusion matrix.

    A class never predicted has precision 0 (zero_division=0) rather than a warning and NaN.
    """
    from sklearn.metrics import (accuracy_score, classification_report, confusion_matrix,
                                 precision_recall_fscore_support)

    labels = list(range(NUM_CLASSES))
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average="weighted", zero_division=ZERO_DIVISION)
    report = classification_report(y_true, y_pred, labels=labels, output_dict=True, zero_division=ZERO_DIVISION)
    return {
        "samples": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision_weighted": float(precision),
        "recall_weighted": float(recall),
        "f1_weighted": float(f1),
        "zero_division": ZERO_DIVISION,
        "per_class": {str(k): v for k, v in report.items() if k.isdigit()},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }
