"""The generated engine compiled for this machine (cc -shared) and called through ctypes.

This is what proves the C bit-exact against the tflite-micro interpreter: the same int8 images
through both, every output byte compared.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from lenet_deploy.errors import LenetError

HOST_CFLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic", "-fPIC", "-shared")


def host_compiler() -> str:
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        raise LenetError("no C compiler found (install gcc or set $CC)")
    return compiler


class HostEngine:
    """`<stem>_engine.c` as a shared library: `run(images)` gives the int8 outputs, one row per image."""

    def __init__(self, engine_c: Path, name: str = "lenet", extra_flags: tuple[str, ...] = ()):
        engine_c = Path(engine_c)
        self._dir = tempfile.TemporaryDirectory(prefix="lenet-engine-")
        library = Path(self._dir.name) / "engine.so"
        command = [host_compiler(), *HOST_CFLAGS, *extra_flags, f"-I{engine_c.parent}", str(engine_c), "-o",
                   str(library)]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            lines = result.stderr.strip().splitlines() or ["no message"]
            first_error = next((line for line in lines if "error" in line), lines[0])
            raise LenetError(f"{engine_c}: does not compile: {first_error}")
        self._lib = ctypes.CDLL(str(library))
        self._invoke = getattr(self._lib, f"{name}_invoke")
        self._invoke.restype = None
        self._invoke.argtypes = [ctypes.c_void_p, ctypes.c_void_p]

    def run(self, images: np.ndarray, output_size: int) -> np.ndarray:
        images = np.ascontiguousarray(images, dtype=np.int8).reshape(len(images), -1)
        outputs = np.zeros((len(images), output_size), dtype=np.int8)
        for image, row in zip(images, outputs):
            self._invoke(image.ctypes.data, row.ctypes.data)
        return outputs
