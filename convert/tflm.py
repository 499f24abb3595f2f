"""TensorFlow Lite Micro's verdict on an int8 model at conversion time: accuracy, agreement, arena."""

from __future__ import annotations

from typing import Any

import numpy as np

from firmware_bench.runtimes import TFLMRunner
from lenet.tflite import TensorIO
from lenet.tflm import arena_bytes


def tflm_check(model: bytes, images: np.ndarray, labels: np.ndarray,
               reference: np.ndarray) -> tuple[dict[str, Any], tuple[TensorIO, TensorIO]]:
    """TFLM accuracy, top-1 agreement with `reference` (the LiteRT predictions) and the arena it used
    (read after the invokes); plus the model's I/O quantization."""
    runner = TFLMRunner(model)
    predictions = runner.predict(images).argmax(axis=1)
    summary = {"loads": True, "arena_bytes": arena_bytes(runner.interpreter), "samples": int(len(labels)),
               "accuracy": float(np.mean(predictions == labels)),
               "agreement_with_litert": float(np.mean(predictions == reference))}
    return summary, (runner.input, runner.output)
