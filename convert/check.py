"""What a conversion cost: the converted model next to Keras on the validation split."""

from __future__ import annotations

from typing import Any

import numpy as np

from firmware_bench.runtimes import TFLiteRunner


def compare_with_keras(keras_scores: np.ndarray, model: bytes, images: np.ndarray, labels: np.ndarray,
                       runtime: str = "auto") -> dict[str, Any]:
    """Accuracy of each, the drop in percentage points, top-1 agreement, max |Δ| of dequantized outputs."""
    runner = TFLiteRunner(model, runtime)
    scores = runner.predict(images)
    keras_top1, tflite_top1 = keras_scores.argmax(axis=1), scores.argmax(axis=1)
    keras_accuracy = float(np.mean(keras_top1 == labels))
    tflite_accuracy = float(np.mean(tflite_top1 == labels))
    return {
        "runtime": runner.runtime,
        "samples": int(len(labels)),
        "keras_accuracy": keras_accuracy,
        "tflite_accuracy": tflite_accuracy,
        "drop_pp": (keras_accuracy - tflite_accuracy) * 100,
        "top1_agreement": float(np.mean(keras_top1 == tflite_top1)),
        "max_abs_diff": float(np.max(np.abs(scores - keras_scores))),
        "predictions": tflite_top1,
    }
