"""What a conversion cost: the converted model next to Keras on the validation split, and TFLite Micro's verdict."""

from __future__ import annotations

from typing import Any

import numpy as np

from lenet_deploy.contained import contained
from lenet_deploy.runtimes import TFLiteRunner, TFLMRunner
from lenet_deploy.tflite import TensorIO
from lenet_deploy.tflm import arena_bytes


def compare_with_keras(keras_scores: np.ndarray, model: bytes, images: np.ndarray, labels: np.ndarray,
                       runtime: str = "auto") -> dict[str, Any]:
    """Accuracy of each, the drop in percentage points, top-1 agreement, max |Δ| of dequantized outputs."""
    runtime_name, delegates, scores = contained("running the converted model in LiteRT", _tflite_scores, model,
                                                runtime, images)
    keras_top1, tflite_top1 = keras_scores.argmax(axis=1), scores.argmax(axis=1)
    keras_accuracy = float(np.mean(keras_top1 == labels))
    tflite_accuracy = float(np.mean(tflite_top1 == labels))
    return {
        "runtime": runtime_name,
        "delegates": delegates,
        "samples": int(len(labels)),
        "keras_accuracy": keras_accuracy,
        "tflite_accuracy": tflite_accuracy,
        "drop_pp": (keras_accuracy - tflite_accuracy) * 100,
        "top1_agreement": float(np.mean(keras_top1 == tflite_top1)),
        "max_abs_diff": float(np.max(np.abs(scores - keras_scores))),
        "predictions": tflite_top1,
    }


def tflm_check(model: bytes, images: np.ndarray, labels: np.ndarray,
               reference: np.ndarray) -> tuple[dict[str, Any], tuple[TensorIO, TensorIO]]:
    """TFLM accuracy, top-1 agreement with `reference` (the LiteRT predictions) and the arena it used
    (read after the invokes); plus the model's I/O quantization."""
    predictions, arena, io = contained("running the int8 model in TFLite Micro", _tflm_predictions, model, images)
    summary = {"loads": True, "arena_bytes": arena, "samples": int(len(labels)),
               "accuracy": float(np.mean(predictions == labels)),
               "agreement_with_litert": float(np.mean(predictions == reference))}
    return summary, io


def _tflite_scores(model: bytes, runtime: str, images: np.ndarray) -> tuple[str, str, np.ndarray]:
    runner = TFLiteRunner(model, runtime)
    return runner.runtime, runner.delegates, runner.predict(images)


def _tflm_predictions(model: bytes, images: np.ndarray) -> tuple[np.ndarray, int, tuple[TensorIO, TensorIO]]:
    runner = TFLMRunner(model)
    predictions = runner.predict(images).argmax(axis=1)
    return predictions, arena_bytes(runner.interpreter), (runner.input, runner.output)
