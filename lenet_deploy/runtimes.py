"""One small interface over every way we run a model: Keras, LiteRT, tflite-runtime, tf.lite, TFLite Micro.

A runner loads a model, tells its input/output quantization, and runs one image
(`invoke`, on already-quantized input) — what latency is measured on — or many (`predict`).
"""

from __future__ import annotations

import time
from importlib import metadata
from pathlib import Path

import numpy as np

from lenet_deploy.errors import LenetError
from lenet_deploy.filekind import read_tflite_file
from lenet_deploy.tflite import RUNTIMES, TensorIO, interpreter_class, load_interpreter

FLOAT_IO = TensorIO(np.dtype(np.float32), 0.0, 0, (1, 28, 28, 1))
DISTRIBUTIONS = {"litert": "ai-edge-litert", "tflite-runtime": "tflite-runtime", "tf.lite": "tensorflow-cpu",
                 "keras": "keras", "tflm": "tflite-micro"}


def runtime_version(runtime: str) -> str | None:
    for name in (DISTRIBUTIONS.get(runtime, runtime), "tensorflow"):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def available_runtimes() -> list[str]:
    found = []
    for name in RUNTIMES:
        try:
            interpreter_class(name)
        except LenetError:
            continue
        found.append(name)
    return found


class Runner:
    """What the benchmark needs from a runtime."""

    runtime: str
    input: TensorIO
    output: TensorIO
    load_seconds: float

    def invoke(self, quantized: np.ndarray) -> np.ndarray:
        """One image [1, 28, 28, 1] in the input dtype -> raw output [1, 10]."""
        raise NotImplementedError

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Float images [N, 28, 28, 1] -> dequantized scores [N, 10] (batch 1 unless the runtime batches)."""
        quantized = self.input.quantize(images)
        raw = np.concatenate([self.invoke(quantized[i:i + 1]) for i in range(len(images))])
        return self.output.dequantize(raw)


class TFLiteRunner(Runner):
    def __init__(self, model: bytes, runtime: str = "auto", threads: int | None = None, where: str = "model") -> None:
        started = time.perf_counter()
        try:
            self.interpreter, self.runtime, self.input, self.output, self.delegates = load_interpreter(
                model, runtime, threads)
        except LenetError as exc:
            raise LenetError(f"{where}: {exc}") from None
        self.load_seconds = time.perf_counter() - started
        _check_image_input(self.input.shape, where)
        self._in = self.interpreter.get_input_details()[0]["index"]
        self._out = self.interpreter.get_output_details()[0]["index"]

    def invoke(self, quantized: np.ndarray) -> np.ndarray:
        self.interpreter.set_tensor(self._in, quantized)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._out)


class TFLMRunner(Runner):
    """TFLite Micro's reference kernels through the tflite-micro package: what an MCU computes."""

    runtime = "tflm"

    def __init__(self, model: bytes, where: str = "model") -> None:
        from lenet_deploy.tflm import tflm_interpreter, tflm_io

        started = time.perf_counter()
        self.interpreter = tflm_interpreter(model)
        self.load_seconds = time.perf_counter() - started
        self.input = tflm_io(self.interpreter.get_input_details(0))
        self.output = tflm_io(self.interpreter.get_output_details(0))
        _check_image_input(self.input.shape, where)

    def invoke(self, quantized: np.ndarray) -> np.ndarray:
        self.interpreter.set_input(quantized, 0)
        self.interpreter.invoke()
        return self.interpreter.get_output(0)


class KerasRunner(Runner):
    """Keras through one traced tf.function per input shape: graph execution, not eager per call.

    (XLA, jit_compile=True, was tried: lower batch-1 latency in isolation, but a third of the
    batch-32 throughput and no steadier inside the benchmark on this machine.)
    """

    runtime = "keras"

    def __init__(self, path: Path, threads: int | None = None) -> None:
        import tensorflow as tf

        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        from lenet_deploy.models import load_keras_model

        started = time.perf_counter()
        model = load_keras_model(path)
        self._call = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        self._call(np.zeros((1, 28, 28, 1), np.float32))  # trace now, so load time includes it
        self.load_seconds = time.perf_counter() - started
        self.input, self.output = FLOAT_IO, TensorIO(np.dtype(np.float32), 0.0, 0, (1, 10))

    def invoke(self, quantized: np.ndarray) -> np.ndarray:
        return self._call(quantized).numpy()

    def predict(self, images: np.ndarray) -> np.ndarray:
        return np.concatenate([self._call(images[i:i + 512]).numpy() for i in range(0, len(images), 512)])


def _check_image_input(shape: tuple[int, ...], where: str) -> None:
    if tuple(shape[1:]) != (28, 28, 1):
        raise LenetError(f"{where}: model input is {list(shape)}, expected [1, 28, 28, 1]")


def open_runner(kind: str, path: Path, runtime: str = "auto", threads: int | None = None) -> Runner:
    if kind == "keras":
        return KerasRunner(path, threads)
    if kind == "tflm":
        return TFLMRunner(read_tflite_file(path), str(path))
    return TFLiteRunner(read_tflite_file(path), runtime, threads, str(path))
