"""TensorFlow Lite Micro's verdict on an int8 model at conversion time: accuracy, agreement, arena."""

from __future__ import annotations

from typing import Any

import numpy as np

from lenet.tflite import TensorIO
from lenet.tflm import arena_bytes, tflm_interpreter, tflm_io


def run_tflm(model: bytes, images: np.ndarray) -> dict[str, Any]:
    """Raw int8 outputs of TFLM for float images [N, 28, 28, 1], plus the arena it needed."""
    interpreter = tflm_interpreter(model)
    input_io, output_io = tflm_io(interpreter.get_input_details(0)), tflm_io(interpreter.get_output_details(0))
    quantized = input_io.quantize(images)
    raw = np.empty((len(images), *output_io.shape[1:]), dtype=output_io.dtype)
    for i in range(len(images)):
        interpreter.set_input(quantized[i:i + 1], 0)
        interpreter.invoke()
        raw[i] = interpreter.get_output(0)[0]
    return {"raw": raw, "arena_bytes": arena_bytes(interpreter) if len(images) else None,
            "input": input_io, "output": output_io}


def tflm_check(model: bytes, images: np.ndarray, labels: np.ndarray,
               reference: np.ndarray) -> tuple[dict[str, Any], tuple[TensorIO, TensorIO]]:
    """TFLM accuracy and top-1 agreement with `reference` (the LiteRT predictions); plus the model's I/O."""
    result = run_tflm(model, images)
    predictions = result["raw"].argmax(axis=1)
    summary = {"loads": True, "arena_bytes": result["arena_bytes"], "samples": int(len(labels)),
               "accuracy": float(np.mean(predictions == labels)),
               "agreement_with_litert": float(np.mean(predictions == reference))}
    return summary, (result["input"], result["output"])
