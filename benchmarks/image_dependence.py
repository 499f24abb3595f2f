"""How an engine's instruction count depends on the image, on one board: the -O2 firmware (lenet-bench mcu's main
build) run on MNIST test images, on images with no background (every pixel 1.0), blank ones (every pixel 0.0) and
random pixels. On the Cortex-M0 the convolution that reads the model's input skips its zero inputs (kernels.c
le_dot_words), so its count there follows the background; elsewhere it does not depend on the image. Each set is
checked bit-exact against TFLite Micro. Usage, from the repository root:
    python benchmarks/image_dependence.py MODEL_int8.tflite [BOARD] [IMAGES]      # default microbit 100
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


def main(model: str, board: str = "microbit", images: int = 100) -> int:
    mnist = read_test_data(None, True)[0][:images]
    sets = {"MNIST test images": mnist, "no background (every pixel 1.0)": np.ones_like(mnist[:3]),
            "blank (every pixel 0.0)": np.zeros_like(mnist[:3]),
            "random pixels": np.random.default_rng(0).random(mnist[:3].shape, dtype=np.float32)}
    print(f"| images ({board}) | count | instructions / inference: min · mean · max | per MAC (max) | bit-exact |")
    print("|---|---|---|---|---|")
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        (_, engine_c), engine = write_engine(Path(model), Path(tmp) / "engine")
        firmware = build_firmware(engine_c, Path(tmp) / "firmware", BOARDS[board])
        for name, float_images in sets.items():
            reference = tflm_reference(Path(model).read_bytes(), float_images)
            run = run_firmware(firmware, reference.inputs, reference.outputs.shape[1], engine.macs)
            exact = int((run.outputs == reference.outputs).all(axis=1).sum())
            failed += exact < len(float_images)
            print(f"| {name} | {len(float_images)} | {run.instructions_min:,} · {run.instructions_per_inference:,.0f} "
                  f"· {run.instructions_max:,} | {run.instructions_max / engine.macs:.2f} "
                  f"| {exact} / {len(float_images)} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3], *[int(a) for a in sys.argv[3:4]]))
