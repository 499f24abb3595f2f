"""What an int8 model costs on a board, measured: its engine built for the board and run in QEMU on a few images.

A device-aware sweep asks this of every trial. The numbers are those of `lenet-bench mcu`'s main build (the same
generator, the same -O2 firmware, the same QEMU instruction count), only on fewer images and without the extra
builds; the images' outputs are checked byte for byte against TFLite Micro.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from lenet_deploy.boards import Board
from lenet_deploy.contained import contained
from lenet_deploy.convert import int8_flatbuffer, representative_images, write_engine
from lenet_deploy.firmware_bench.mcu.bench import (
    McuOptions,
    energy_uj,
    host_engine_outputs,
    latency_ms,
    tflm_reference,
    top1_accuracy,
)
from lenet_deploy.firmware_bench.mcu.build import DoesNotFit, build_firmware
from lenet_deploy.firmware_bench.mcu.cycles import trace_cycles
from lenet_deploy.firmware_bench.mcu.qemu import run_firmware

CHECK_IMAGES = 10  # validation images through QEMU per trial: instructions differ < 0.1 % between images, but
# on the Cortex-M0 (its first convolution skips the background) by up to 9 % between MNIST's: their mean
REPRESENTATIVE = 500  # int8 calibration images, as `lenet-convert` takes by default


@dataclass(frozen=True)
class DeviceCost:
    board: str
    macs: int
    fits: bool  # the firmware links into the part's flash and RAM
    reason: str = ""  # why it does not fit, in the linker's numbers
    flash_bytes: int | None = None  # the engine's code + constants
    ram_bytes: int | None = None  # the engine's arena + static data + the stack one inference uses
    instructions: float | None = None  # per inference, mean over the images
    latency_ms: float | None = None  # instructions x the traced CPI / clock: an estimate, QEMU models no cycles
    energy_uj: float | None = None  # latency x the part's run-mode power: an estimate
    images: int = 0  # run in QEMU
    bit_exact: int = 0  # of them, outputs equal to TFLite Micro's byte for byte
    int8_accuracy: float | None = None  # of the host-compiled engine (bit-exact with the firmware) on the given set

    def to_dict(self) -> dict:
        return asdict(self)


def measure_cost(model_path: Path, board: Board, images: np.ndarray, work: Path,
                 accuracy_set: tuple[np.ndarray, np.ndarray] | None = None) -> DeviceCost:
    """Generate and build the engine of `model_path` for `board`, run float `images` [N, 28, 28, 1] in QEMU.

    `accuracy_set` (float images, labels): also the int8 accuracy of the engine compiled for this host.
    A model that does not fit the part is a result (fits=False with the reason), not an error.
    """
    options = McuOptions(board=board).resolved()
    (_, engine_c), engine = write_engine(Path(model_path), Path(work) / "engine")
    try:
        firmware = build_firmware(engine_c, Path(work) / "firmware", board, "-O2", True)
    except DoesNotFit as exc:
        return DeviceCost(board.machine, engine.macs, fits=False, reason=str(exc))
    tflm = tflm_reference(Path(model_path).read_bytes(), images, str(model_path))
    run = run_firmware(firmware, tflm.inputs, tflm.outputs.shape[1], engine.macs)
    cpi = trace_cycles(firmware, tflm.inputs).cycles_per_instruction  # as `lenet-bench mcu` estimates it
    accuracy = None
    if accuracy_set is not None:
        x, y = accuracy_set
        outputs = contained("running the C engine compiled for this host", host_engine_outputs, engine_c,
                            tflm.input.quantize(x), tflm.outputs.shape[1])
        accuracy = top1_accuracy(outputs, y)
    instructions = run.instructions_per_inference
    return DeviceCost(
        board.machine, engine.macs, fits=True, flash_bytes=firmware.sizes["engine"]["flash"],
        ram_bytes=firmware.sizes["engine"]["ram"] + run.invoke_stack_bytes, instructions=instructions,
        latency_ms=latency_ms(instructions, options, cpi), energy_uj=energy_uj(instructions, options, cpi),
        images=len(images), bit_exact=int((run.outputs == tflm.outputs).all(axis=1).sum()), int8_accuracy=accuracy)


def trial_cost(model, mnist, board: Board, work: Path, seed: int, val_size: int, accuracy: bool) -> dict:
    """A sweep trial's Keras `model` as int8 on `board`: its cost, and (`accuracy`) its int8 validation accuracy.

    Converted as `lenet-convert --quantize int8` converts (calibrated on the training split of the same seed and
    validation size), measured on the first CHECK_IMAGES validation images."""
    from lenet_deploy.artifacts import write_bytes_atomic
    from lenet_deploy.data import split_train_val, to_model_input

    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    tflite = work / "model_int8.tflite"
    write_bytes_atomic(tflite, int8_flatbuffer(model, representative_images(mnist, REPRESENTATIVE, seed, val_size)))
    _, x_val, _, y_val = split_train_val(mnist.x_train, mnist.y_train, val_size, seed)
    x_val = to_model_input(x_val)
    return measure_cost(tflite, board, x_val[:CHECK_IMAGES], work, (x_val, y_val) if accuracy else None).to_dict()
