"""Run the benchmark firmware in qemu-system-arm: images in, int8 outputs and instruction counts out.

`-icount shift=0` makes QEMU's virtual clock advance one nanosecond per guest instruction, so the
firmware's SysTick readings count instructions, deterministically; the firmware times a loop of
known length the same way, which gives the instructions per tick (40 at the MPS2's 25 MHz).
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lenet_deploy.boards import Board, tool_path
from lenet_deploy.errors import LenetError
from lenet_deploy.firmware_bench.mcu.build import Firmware

# QEMU's time limit per image: a hung firmware must end, a big model on a busy machine must not. Seen idle:
# 2 ms (seed-best) to 9 ms (lenet-plus, 3M MACs) per image on the M4; lenet-plus on the M3 took > 50 ms while
# the machine trained. Allowed: 7 instructions per MAC (the Cortex-M0) x 5 ns each (busy) x 2.
SECONDS_PER_IMAGE = 0.05
SECONDS_PER_MAC = 7e-8


@dataclass(frozen=True)
class McuRun:
    outputs: np.ndarray  # int8 [N, classes]
    instructions_per_inference: float
    instructions_min: int
    instructions_max: int
    instructions_per_tick: float
    invoke_stack_bytes: int
    stack_bytes: int
    seconds: float
    heap_bytes: int = 0  # newlib's heap (the stdio buffers of the benchmark's file I/O)
    op_instructions: list[float] | None = None  # a profile build: instructions per inference of each graph op


def write_images(path: Path, images: np.ndarray) -> np.ndarray:
    """images.bin as the benchmark firmware reads it ("LNI8", count, size, the int8 images); returns the images
    as the flat int8 rows it wrote."""
    images = np.ascontiguousarray(images, dtype=np.int8).reshape(len(images), -1)
    Path(path).write_bytes(b"LNI8" + struct.pack("<II", *images.shape) + images.tobytes())
    return images


def qemu_command(firmware: Firmware) -> list[str]:
    return [tool_path("qemu-system-arm"), "-M", firmware.board.machine, "-nographic",
            "-monitor", "none", "-serial", "none", "-semihosting-config", "enable=on,target=native",
            "-icount", "shift=0", "-kernel", str(firmware.elf.resolve())]


def run_firmware(firmware: Firmware, images: np.ndarray, output_size: int, macs: int = 0) -> McuRun:
    """All `images` (int8, flattened per image) through the firmware in one QEMU run (`macs` per image)."""
    with tempfile.TemporaryDirectory(prefix="lenet-qemu-") as workdir:
        work = Path(workdir)
        images = write_images(work / "images.bin", images)
        started = time.perf_counter()
        try:
            result = subprocess.run(qemu_command(firmware), cwd=work, capture_output=True, text=True,
                                    timeout=60 + max(SECONDS_PER_IMAGE, SECONDS_PER_MAC * macs) * len(images))
        except subprocess.TimeoutExpired:
            raise LenetError(f"{firmware.elf.name}: QEMU did not finish within its time limit") from None
        seconds = time.perf_counter() - started
        lines = result.stdout.splitlines()
        errors = [line for line in lines if line.startswith("LENET_MCU_ERROR")]
        if result.returncode != 0 or errors:
            detail = (errors[0][len("LENET_MCU_ERROR "):] if errors
                      else "the firmware faulted (startup.c's fault handler exits with 3)" if result.returncode == 3
                      else result.stderr.strip() or "no output")
            raise LenetError(f"{firmware.elf.name} on {firmware.board.machine}: exit status {result.returncode}: "
                             f"{detail.splitlines()[0]}")
        report = next((json.loads(line.split(" ", 1)[1]) for line in lines if line.startswith("LENET_MCU {")), None)
        if report is None:
            raise LenetError(f"{firmware.elf.name}: the firmware printed no LENET_MCU report")
        outputs = np.fromfile(work / "outputs.bin", dtype=np.int8)
    if outputs.size != len(images) * output_size:
        raise LenetError(f"{firmware.elf.name}: wrote {outputs.size} output bytes, "
                         f"expected {len(images) * output_size}")
    per_tick = report["calibration_instructions"] / report["calibration_ticks"]
    profile = next((json.loads(line.split(" ", 1)[1]) for line in lines if line.startswith("LENET_MCU_PROFILE {")),
                   None)
    if firmware.profile and profile is None:
        raise LenetError(f"{firmware.elf.name}: the profile build printed no LENET_MCU_PROFILE line")
    per_op = [t * per_tick / max(1, report["images"]) for t in profile["op_ticks"]] if profile else None
    return McuRun(outputs.reshape(len(images), output_size),
                  report["ticks_total"] * per_tick / max(1, report["images"]),
                  round(report["ticks_min"] * per_tick), round(report["ticks_max"] * per_tick), per_tick,
                  report["invoke_stack_bytes"], report["stack_bytes"], seconds, report["heap_bytes"], per_op)


PTY_SECONDS = 10  # QEMU names its pseudo-terminal at start-up, in well under a second


@contextmanager
def qemu_serial(elf: Path, board: Board, *extra: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """QEMU running `elf` with the board's UART on a pseudo-terminal: yields (its path, the QEMU process).

    The same bytes cross it as a board's serial port would carry; QEMU's other UARTs go nowhere."""
    serials = ["-serial", "null"] * board.qemu_serial + ["-serial", "pty"]
    qemu = subprocess.Popen([tool_path("qemu-system-arm"), "-M", board.machine, "-display", "none", "-monitor",
                             "none", *serials, "-icount", "shift=0", *extra, "-kernel", str(Path(elf).resolve())],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    try:
        deadline, pty = time.monotonic() + PTY_SECONDS, None
        while pty is None and time.monotonic() < deadline:  # QEMU prints the path on stdout or stderr
            line = qemu.stdout.readline()
            if not line:
                break
            found = re.search(r"redirected to (/dev/pts/\d+)", line)
            pty = found.group(1) if found else None
        if pty is None:
            raise LenetError(f"QEMU {board.machine} did not open a pseudo-terminal for its UART "
                             f"(exit status {qemu.poll()})")
        yield pty, qemu
    finally:
        qemu.kill()
        qemu.wait()
        qemu.stdout.close()
