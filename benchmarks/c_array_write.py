"""Time writing a C source pair for a 300 KB model (issue target: well under 1 s).

Usage: python benchmarks/c_array_write.py [KB]
"""

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lenet_deploy.convert.c_array import ModelMacros, write_c_array
from lenet_deploy.tflite import TensorIO

size = int(sys.argv[1]) * 1024 if len(sys.argv) > 1 else 300 * 1024
model = np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes()
io = TensorIO(np.dtype(np.int8), 1 / 255, -128, (1, 28, 28, 1))
macros = ModelMacros(io, TensorIO(np.dtype(np.int8), 1 / 256, -128, (1, 10)), ["CONV_2D"], 10_000, 1_024)
with tempfile.TemporaryDirectory() as out:
    times = []
    for _ in range(5):
        start = time.perf_counter()
        write_c_array(Path(out), "model", model, macros, "benchmark")
        times.append(time.perf_counter() - start)
    print(f"{size // 1024} KB model -> model.h + model.c ({(Path(out) / 'model.c').stat().st_size:,} bytes): "
          f"best {min(times) * 1000:.0f} ms, median {sorted(times)[2] * 1000:.0f} ms over 5 runs")
