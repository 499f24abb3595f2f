"""Running a .tflite model with whichever TFLite runtime is installed, and its I/O quantization.

LiteRT (ai-edge-litert) is the default; tflite-runtime (older Raspberry Pi setups) and
tf.lite are fallbacks. firmware_bench's runners (also used by convert's checks) load models here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from lenet_deploy.errors import LenetError
from lenet_deploy.fdcapture import capture_fds

RUNTIMES = ("litert", "tflite-runtime", "tf.lite")
DEFAULT_DELEGATES = "default (XNNPACK)"
NO_DELEGATE = "none: the default delegate (XNNPACK) could not prepare this model; run with the builtin kernels"


def interpreter_class(runtime: str = "auto") -> tuple[Any, str]:
    """(Interpreter class, runtime name): the requested runtime, or the first one installed for 'auto'."""
    wanted = RUNTIMES if runtime == "auto" else (runtime,)
    if runtime not in RUNTIMES and runtime != "auto":
        raise LenetError(f"unknown TFLite runtime {runtime!r} (choose from: auto, {', '.join(RUNTIMES)})")
    for name in wanted:
        try:
            if name == "litert":
                from ai_edge_litert.interpreter import Interpreter
            elif name == "tflite-runtime":
                from tflite_runtime.interpreter import Interpreter
            else:
                import tensorflow as tf

                Interpreter = tf.lite.Interpreter
        except ImportError:
            continue
        return Interpreter, name
    raise LenetError(f"no TFLite runtime installed for {runtime!r}: pip install ai-edge-litert "
                     "(or tflite-runtime on older Raspberry Pi OS)")


@dataclass(frozen=True)
class TensorIO:
    """dtype and (scale, zero point) of a model input or output; scale 0 means float."""

    dtype: np.dtype
    scale: float
    zero_point: int
    shape: tuple[int, ...]

    @classmethod
    def from_details(cls, details: dict) -> TensorIO:
        scale, zero_point = details.get("quantization", (0.0, 0))
        return cls(np.dtype(details["dtype"]), float(scale), int(zero_point), tuple(int(d) for d in details["shape"]))

    @property
    def quantized(self) -> bool:
        return self.dtype.kind in "iu" and self.scale > 0

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """float [0, 1] images -> what the tensor takes (to nearest, halves to even as numpy rounds; saturate)."""
        if not self.quantized:
            return x.astype(self.dtype)
        info = np.iinfo(self.dtype)
        q = np.round(x / self.scale) + self.zero_point
        return np.clip(q, info.min, info.max).astype(self.dtype)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        if not self.quantized:
            return q.astype(np.float32)
        return (q.astype(np.float32) - self.zero_point) * self.scale


def load_interpreter(model: bytes, runtime: str = "auto", threads: int | None = None):
    """(interpreter with tensors allocated, runtime name, input TensorIO, output TensorIO, delegates used).

    A model the default delegate cannot prepare (XNNPACK refuses some valid graphs, e.g. a 1x1 convolution
    with one filter first) runs on the builtin kernels instead, and says so: a model is unloadable only when
    no kernel set can load it."""
    Interpreter, name = interpreter_class(runtime)
    try:
        interpreter, delegates = _allocated(Interpreter, model, threads), DEFAULT_DELEGATES
    except (ValueError, RuntimeError) as exc:
        resolver = getattr(sys.modules[Interpreter.__module__], "OpResolverType", None)
        if resolver is None:
            raise LenetError(f"not a loadable TFLite model ({str(exc).splitlines()[0]})") from None
        try:
            interpreter = _allocated(Interpreter, model, threads,
                                     experimental_op_resolver_type=resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        except (ValueError, RuntimeError):
            raise LenetError(f"not a loadable TFLite model ({str(exc).splitlines()[0]})") from None
        delegates = NO_DELEGATE
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    if len(inputs) != 1 or len(outputs) != 1:
        raise LenetError(f"expected one input and one output, got {len(inputs)} and {len(outputs)}")
    return interpreter, name, TensorIO.from_details(inputs[0]), TensorIO.from_details(outputs[0]), delegates


def _allocated(Interpreter, model: bytes, threads: int | None, **options: Any):
    with capture_fds((2,)):  # "Created TensorFlow Lite XNNPACK delegate" on every load
        interpreter = Interpreter(model_content=model, num_threads=threads, **options)
        interpreter.allocate_tensors()
    return interpreter

