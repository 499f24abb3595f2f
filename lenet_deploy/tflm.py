"""TensorFlow Lite Micro through the tflite-micro package: load a model, read its I/O and arena use.

Its Python interpreter runs TFLM's reference kernels (what a microcontroller computes), and
its RecordingMicroAllocator reports the arena it used. Shared by convert and firmware_bench.
"""

from __future__ import annotations

import re

import numpy as np

from lenet_deploy.errors import LenetError
from lenet_deploy.fdcapture import capture_fds
from lenet_deploy.tflite import TensorIO

PROBE_ARENA = 1 << 20


def tflm_interpreter(model: bytes, arena_size: int = PROBE_ARENA):
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        raise LenetError("the TFLite Micro check needs the tflite-micro package (pip install tflite-micro)") from None
    try:
        return runtime.Interpreter.from_bytes(model, arena_size=arena_size)
    except Exception as exc:  # its flatbuffer reader raises TypeError or struct errors on garbage too
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise LenetError(f"TFLite Micro cannot load the model ({type(exc).__name__}: {first})") from None


def tflm_io(details: dict) -> TensorIO:
    """TFLM's tensor details as the TensorIO the TFLite runtimes give."""
    q = details["quantization_parameters"]
    scale = float(q["scales"][0]) if len(q["scales"]) else 0.0
    zero_point = int(q["zero_points"][0]) if len(q["zero_points"]) else 0
    return TensorIO(np.dtype(details["dtype"]), scale, zero_point, tuple(int(d) for d in details["shape"]))


def arena_bytes(interpreter) -> int:
    """The arena TFLM allocated, read from its allocation report (printed to fd 2 by C++)."""
    with capture_fds((2,)) as captured:
        interpreter.print_allocations()
    found = re.search(r"Arena allocation total (\d+) bytes", captured.text)
    if not found:
        raise LenetError("TFLite Micro did not report its arena use")
    return int(found.group(1))
