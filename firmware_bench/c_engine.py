"""The generated int8 C engine as a benchmark runtime, compiled on the machine that runs it.

This is the path for a device with no LiteRT or tflite-runtime wheel (a Pi Zero, 32-bit Pi OS on a newer
Python): numpy, click and a C compiler are enough. Its answers are TFLite Micro's, bit for bit.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import numpy as np

from lenet_deploy.convert import HostEngine, host_compiler
from lenet_deploy.errors import LenetError
from lenet_deploy.runtimes import Runner
from lenet_deploy.tflite import TensorIO

_DEFINE = re.compile(r'^#define (\w+) (?:"([0-9a-f]*)"|\(?(-?[0-9.e+-]+)f?\)?)$', re.MULTILINE)
_INVOKE = re.compile(r"^void (\w+)_invoke\(const int8_t \*input, int8_t \*output\);$", re.MULTILINE)


def engine_header(engine_c: Path) -> tuple[str, dict[str, str]]:
    """(the engine's name, its macros) from the `<stem>_engine.h` beside `engine_c`."""
    header = Path(engine_c).with_suffix(".h")
    if not Path(engine_c).is_file():
        raise LenetError(f"--engine {engine_c}: no such file")
    if not header.is_file():
        raise LenetError(f"--engine {engine_c}: its header {header.name} is not beside it")
    text = header.read_text(errors="replace")
    invoke = _INVOKE.search(text)
    if invoke is None:
        raise LenetError(f"--engine {engine_c}: {header.name} is not a header from lenet-convert --engine c")
    return invoke.group(1), {name: text_value or number for name, text_value, number in _DEFINE.findall(text)}


class CEngineRunner(Runner):
    runtime = "c-engine"

    def __init__(self, engine_c: Path) -> None:
        started = time.perf_counter()
        name, macros = engine_header(engine_c)
        p = name.upper()
        try:
            shape = tuple(int(macros[f"{p}_INPUT_{dim}"]) for dim in ("HEIGHT", "WIDTH", "CHANNELS"))
            # The scales are the model's float32 values, printed so that they read back exactly as float32.
            self.input = TensorIO(np.dtype(np.int8), float(np.float32(macros[f"{p}_INPUT_SCALE"])),
                                  int(macros[f"{p}_INPUT_ZERO_POINT"]), (1, *shape))
            self.output = TensorIO(np.dtype(np.int8), float(np.float32(macros[f"{p}_OUTPUT_SCALE"])),
                                   int(macros[f"{p}_OUTPUT_ZERO_POINT"]), (1, int(macros[f"{p}_OUTPUT_SIZE"])))
            self.model_sha256 = macros[f"{p}_MODEL_SHA256"].strip('"')
        except (KeyError, ValueError) as exc:
            raise LenetError(f"--engine {engine_c}: its header lacks or garbles {exc}") from None
        if shape != (28, 28, 1):
            raise LenetError(f"--engine {engine_c}: input {list(shape)}, expected [28, 28, 1]")
        self._engine = HostEngine(Path(engine_c), name)
        self.version = compiler_version()
        self.load_seconds = time.perf_counter() - started

    def invoke(self, quantized: np.ndarray) -> np.ndarray:
        return self._engine.run(quantized, self.output.shape[1])


def compiler_version() -> str:
    """'gcc 12.2.0': the compiler that built the engine on this machine."""
    compiler = host_compiler()
    done = subprocess.run([compiler, "--version"], capture_output=True, text=True)
    first = (done.stdout.splitlines() or [Path(compiler).name])[0]
    version = re.search(r"\d+\.\d+(\.\d+)?", first)
    return f"{Path(compiler).name} {version.group(0) if version else first}"
