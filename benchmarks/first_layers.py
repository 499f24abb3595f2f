"""One-channel first layers alone on one board: instructions per MAC of the engine's -O2 firmware, bit-exact with
TFLite Micro on the first MNIST test images (issue 24: no layer above 2.0 on the M4, one-channel 3x3 and 5x5 first
layers included).

Each layer is one CONV_2D, 28x28 SAME, ReLU, random int8 weights from a seeded generator (tests/single_op.py), with
the output zero point a converter gives a ReLU (-128: the clamp is int8's own) or one above it (as the kernel tests
draw it: the ReLU then clamps inside int8). Usage, from the repository root:
    python benchmarks/first_layers.py [BOARD] [IMAGES]      # default mps2-an386 50
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lenet_deploy.boards import BOARDS  # noqa: E402
from lenet_deploy.convert import write_engine  # noqa: E402
from lenet_deploy.firmware_bench.mcu.bench import tflm_reference  # noqa: E402
from lenet_deploy.firmware_bench.mcu.build import build_firmware  # noqa: E402
from lenet_deploy.firmware_bench.mcu.qemu import run_firmware  # noqa: E402
from lenet_deploy.firmware_bench.testdata import read_test_data  # noqa: E402
from tests.single_op import conv_model  # noqa: E402

LAYERS = [(3, 4), (3, 6), (3, 8), (3, 12), (5, 6), (5, 8)]  # (kernel, filters)


def main(board: str = "mps2-an386", images: int = 50) -> int:
    test_images = read_test_data(None, True)[0][:images]
    print(f"| kernel | filters | output zero point | instructions / inference | per MAC | bit-exact ({board}) |")
    print("|---|---|---|---|---|---|")
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for kernel, filters in LAYERS:
            for zero_point in (-128, None):
                model = conv_model(np.random.default_rng(0), 28, 28, 1, filters, kernel, 1, "same", "relu",
                                   out_zero=zero_point)
                work = Path(tmp) / f"k{kernel}-f{filters}-{zero_point}"
                work.mkdir()
                (work / "layer.tflite").write_bytes(model)
                (_, engine_c), engine = write_engine(work / "layer.tflite", work / "engine")
                reference = tflm_reference(model, test_images)
                run = run_firmware(build_firmware(engine_c, work, BOARDS[board]), reference.inputs,
                                   reference.outputs.shape[1], engine.macs)
                exact = int((run.outputs == reference.outputs).all(axis=1).sum())
                failed += exact < len(test_images)
                where = model_zero_point(engine) + (" (drawn)" if zero_point is None else "")
                print(f"| {kernel}x{kernel} | {filters} | {where} | {run.instructions_per_inference:,.0f} "
                      f"| {run.instructions_per_inference / engine.macs:.2f} | {exact} / {len(test_images)} |")
    return 1 if failed else 0


def model_zero_point(engine) -> str:
    """The output zero point the engine was generated for (its header's macro)."""
    line = next(line for line in engine.header.splitlines() if "_OUTPUT_ZERO_POINT" in line)
    return line.split("(")[-1].rstrip(")")


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2], *[int(a) for a in sys.argv[2:3]]))
