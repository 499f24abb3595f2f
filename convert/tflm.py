"""TensorFlow Lite Micro's view of an int8 model: does it load, how much arena, what does it predict.

The tflite-micro package runs TFLM's reference kernels (what a microcontroller computes) and
its RecordingMicroAllocator reports the arena it used.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from lenet.errors import LenetError
from lenet.fdcapture import capture_fds
from lenet.tflite import TensorIO

PROBE_ARENA = 1 << 20


def tflm_interpreter(model: bytes, arena_size: int = PROBE_ARENA):
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        raise LenetError("the TFLite Micro check needs the tflite-micro package (pip install tflite-micro)") from None
    try:
        return runtime.Interpreter.from_bytes(model, arena_size=arena_size)
    except (RuntimeError, ValueError) as exc:
        raise LenetError(f"TFLite Micro cannot load the model ({str(exc).splitlines()[0]})") from None


def _io(details: dict) -> TensorIO:
    q = details["quantization_parameters"]
    scale = float(q["scales"][0]) if len(q["scales"]) else 0.0
    zero_point = int(q["zero_points"][0]) if len(q["zero_points"]) else 0
    return TensorIO(np.dtype(details["dtype"]), scale, zero_point, tuple(int(d) for d in details["shape"]))


def arena_bytes(interpreter) -> int:
    """The arena TFLM allocated, read from its allocation report (printed to fd 2 by C++)."""
    with capture_fds((2,)) as captured:
        interpreter.print_allocations()
    report = captured.text
    found = re.search(r"Arena allocation total (\d+) bytes", report)
    if not found:
        raise LenetError("TFLite Micro did not report its arena use")
    return int(found.group(1))


def run_tflm(model: bytes, images: np.ndarray) -> dict[str, Any]:
    """Raw int8 outputs of TFLM for float images [N, 28, 28, 1], plus the arena it needed."""
    interpreter = tflm_interpreter(model)
    input_io, output_io = _io(interpreter.get_input_details(0)), _io(interpreter.get_output_details(0))
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
