"""`lenet-bench mcu --port`: the serial firmware on a board (or on QEMU's emulated UART), checked against TFLM.

One run: generate the engine, write and build the board's firmware project (`lenet-bench firmware`'s), flash it
when asked, stream the test images over the port, and compare every output with TFLite Micro and with the engine
compiled for this host. mcu.json and report.md as a QEMU run writes them, marked with the port and transport.
A run the board broke off (reset, silence, unplugged) keeps its report for the images done, marked incomplete,
and exits 1.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from lenet_deploy.artifacts import sha256_file, staged_dir, write_text_atomic
from lenet_deploy.contained import contained
from lenet_deploy.convert import write_engine
from lenet_deploy.errors import CheckFailed, LenetError
from lenet_deploy.firmware_bench.mcu.bench import (McuOptions, check_model, cycles_per_instruction, energy_at,
                                                   exactness_failures, host_engine_outputs, latency_ms,
                                                   memory_targets, tflm_reference, top1_accuracy)
from lenet_deploy.firmware_bench.mcu.project import PYOCD_TARGETS, build_project, flash_command, write_project
from lenet_deploy.firmware_bench.mcu.protocol import COUNTERS, Info
from lenet_deploy.firmware_bench.mcu.qemu import qemu_serial
from lenet_deploy.firmware_bench.mcu.serial_link import SerialLink, SerialRun
from lenet_deploy.firmware_bench.report.mcu import mcu_report_markdown
from lenet_deploy.manifests import MAIN_BUILD, MANIFEST, MCU_REPORT, McuManifest, McuReport, write_record

OUTPUTS = "outputs.npy"  # the board's int8 outputs, one row per image answered
QEMU_PORT = "qemu"  # --port qemu: the board's UART in QEMU, through a pseudo-terminal
SECONDS_PER_MAC = 2e-6  # the longest an image may take, per MAC (a 16 MHz Cortex-M0 needs ~0.5 µs) before
# the board counts as silent


@dataclass(frozen=True)
class SerialOptions:
    port: str
    baud: int = 115200
    flash: bool = False  # put the firmware on the board first (pyOCD or OpenOCD)


def flasher(board, project: Path) -> list[str] | None:
    """The command that flashes the built firmware with a tool on PATH, or None (then flash_command says how)."""
    if shutil.which("pyocd") and board.machine in PYOCD_TARGETS:
        return ["pyocd", "flash", "-t", PYOCD_TARGETS[board.machine], str(project / "build" / "lenet.hex")]
    if shutil.which("openocd") and board.serial_part == "stm32f4":
        return ["openocd", "-f", "board/st_nucleo_f4.cfg", "-c",
                f"program {project / 'build' / 'lenet.elf'} verify reset exit"]
    return None


def check_serial_options(board, serial: SerialOptions, model_path: Path) -> None:
    """Before any work: a port the board can be reached on, and a way to flash it when asked."""
    if serial.port == QEMU_PORT:
        if not board.qemu:
            raise LenetError(f"--port qemu: QEMU has no model of {board.machine}; give its serial device")
        if serial.flash:
            raise LenetError("--flash is for a board; --port qemu loads the firmware itself")
    elif not Path(serial.port).exists():
        raise LenetError(f"--port {serial.port}: no such device (is the board plugged in?)")
    elif not stat.S_ISCHR(Path(serial.port).stat().st_mode):
        raise LenetError(f"--port {serial.port}: not a serial device (a board's port is e.g. /dev/ttyACM0)")
    if serial.flash and flasher(board, Path("fw")) is None:
        raise LenetError(f"--flash needs pyocd or openocd on PATH; without them: lenet-bench firmware --model "
                         f"{model_path} --board {board.machine} --out fw, then {flash_command(board, Path('fw'))}, "
                         "then this command without --flash")


def run_serial_bench(model_path: Path, images: np.ndarray, labels: np.ndarray, data_source: str, out: Path,
                     options: McuOptions, serial: SerialOptions, force: bool = False,
                     say: Callable[[str], None] = print, progress: Callable[[int], None] | None = None) -> McuReport:
    """`progress(images done)` after each batch (the CLI shows a bar: 10,000 images take minutes at 115200 baud)."""
    options = options.resolved()
    model_path, board = Path(model_path), options.board
    model, graph = check_model(model_path)
    model_sha = sha256_file(model_path)
    with staged_dir(out, force) as stage, ExitStack() as stack:
        engine_files, engine = write_engine(model_path, stage / "firmware" / "model")
        firmware = build_project(write_project(engine_files, board, stage / "firmware"), board)
        say(f"firmware: {firmware.elf.name} for {board.machine}, {firmware.sizes['elf']['flash']:,} B flash")
        port = serial.port
        if port == QEMU_PORT:
            port, _ = stack.enter_context(qemu_serial(firmware.elf, board))
        elif serial.flash:
            _flash(board, firmware.project, say)
        link = stack.enter_context(SerialLink(port, serial.baud))
        info = _check_firmware(link, board, model_sha)  # in seconds, before minutes of TFLite Micro
        say(f"{serial.port}: {info.part} at {info.clock_hz / 1e6:g} MHz, {COUNTERS[info.counter]}; running TFLite "
            f"Micro on {len(images):,} images …")
        tflm = tflm_reference(model, images, str(model_path))
        host = contained("running the C engine compiled for this host", host_engine_outputs, engine_files[1],
                         tflm.inputs, tflm.outputs.shape[1])
        say(f"{serial.port}: streaming {len(images):,} images in batches of {info.batch} …")
        run = link.run(tflm.inputs, max(1.0, SECONDS_PER_MAC * engine.macs), progress)
        stack.close()  # the port (and QEMU) closed before the report is written
        report = _report(model_path, graph, engine, firmware, tflm, host, labels, run, options, serial, data_source)
        made = McuManifest.new(model=str(model_path), model_sha256=model_sha, board=board.machine,
                               samples=len(run.outputs), data=data_source)
        write_record(stage / MCU_REPORT, report)
        np.save(stage / OUTPUTS, run.output_array())
        write_text_atomic(stage / "report.md", mcu_report_markdown(report, made))
        write_record(stage / MANIFEST, made)
    failures = ([run.stopped + " (the report covers those)"] if run.stopped else []) + exactness_failures(report)
    if failures:
        raise CheckFailed(f"{'; '.join(failures)} (report kept in {out})")
    return report


def _flash(board, project: Path, say: Callable[[str], None]) -> None:
    command = flasher(board, project)
    if command is None:  # checked before any work; a tool that vanished since is said plainly
        raise LenetError(f"--flash: no flashing tool found; flash it with: {flash_command(board, project)}")
    say(f"flashing: {' '.join(command)}")
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        detail = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise LenetError(f"--flash: {command[0]} failed: {detail}")


def _check_firmware(link: SerialLink, board, model_sha: str) -> Info:
    """The firmware's own account of itself, refused where it was built for another model or board."""
    info = link.hello()
    if info.model_sha256 != model_sha:
        raise LenetError(f"--port {link.port}: the firmware runs the model with SHA-256 {info.model_sha256[:12]}…, "
                         f"not this --model ({model_sha[:12]}…): flash this model's firmware (--flash)")
    if info.part != board.machine:
        raise LenetError(f"--port {link.port}: the firmware was built for {info.part}, not --board {board.machine}")
    return info


def _report(model_path: Path, graph, engine, firmware, tflm, host: np.ndarray, labels: np.ndarray, run: SerialRun,
            options: McuOptions, serial: SerialOptions, data_source: str) -> McuReport:
    info, outputs, n = run.info, run.output_array(), len(run.outputs)
    reference = tflm.outputs[:n]
    emulated = serial.port == QEMU_PORT
    ticks = np.asarray(run.ticks, dtype=np.float64)
    per_tick = info.calibration_instructions / info.calibration_ticks if info.calibration_ticks else None
    if emulated:  # QEMU counts instructions, not cycles: SysTick under -icount, calibrated by a known loop
        instructions = ticks * per_tick if per_tick else None
        cycles, clock_mhz = None, options.clock_mhz
        counted = "instructions: SysTick under QEMU -icount (1 ns per instruction), calibrated by a known loop"
    else:  # silicon: the part's cycle counter, or SysTick on the core clock where the counter did not run
        instructions = None
        cycles = np.asarray(run.cycles if info.counter_runs else run.ticks, dtype=np.float64)
        clock_mhz = info.clock_hz / 1e6
        counted = (f"cycles: the firmware's {COUNTERS[info.counter] if info.counter_runs else 'SysTick'} around each "
                   f"inference, at the {clock_mhz:g} MHz the firmware set")
    mean = lambda values: float(values.mean()) if values is not None and len(values) else None  # noqa: E731
    time_ms = (mean(cycles) / (clock_mhz * 1e3) if cycles is not None and n
               else latency_ms(mean(instructions), options) if instructions is not None and n else None)
    sizes = firmware.sizes
    row = {
        "optimization": "-O2", "dsp": options.board.dsp, "flatbuffer_linked": False, "images": n,
        "accuracy": top1_accuracy(outputs, labels),
        "bit_exact_vs_tflm": int((outputs == reference).all(axis=1).sum()),
        "bit_exact_vs_host_engine": int((outputs == host[:n]).all(axis=1).sum()),
        "instructions_per_inference": mean(instructions),
        "instructions_min": int(instructions.min()) if instructions is not None and n else None,
        "instructions_max": int(instructions.max()) if instructions is not None and n else None,
        "instructions_per_mac": mean(instructions) / engine.macs if instructions is not None and n else None,
        "cycles_per_inference": mean(cycles),
        "estimated_latency_ms": time_ms,
        "estimated_energy_uj": energy_at(time_ms, options, clock_mhz) if time_ms is not None else None,
        "engine_flash_bytes": sizes["engine"]["flash"], "engine_code_bytes": sizes["engine"]["code"],
        "engine_rodata_bytes": sizes["engine"]["rodata"], "engine_ram_bytes": sizes["engine"]["ram"],
        "invoke_stack_bytes": run.stack_bytes, "flatbuffer_flash_bytes": 0, "firmware": sizes["elf"],
        "firmware_stack_bytes": run.stack_bytes, "firmware_heap_bytes": 0,
        "firmware_ram_bytes": sizes["elf"]["static_ram"] + run.stack_bytes,
        "qemu_seconds": None, "instructions_per_tick": per_tick,
    }
    weights = graph.weight_bytes
    return McuReport(
        model=str(model_path), board=options.board.machine, cpu=options.board.cpu, data=data_source,
        samples=n, macs=engine.macs, ops=engine.ops, int8_weight_bytes=weights,
        tflm={"accuracy": top1_accuracy(reference, labels), "arena_bytes": tflm.arena_bytes},
        host_engine={"accuracy": top1_accuracy(host[:n], labels),
                     "bit_exact_vs_tflm": int((host[:n] == reference).all(axis=1).sum())},
        variants={MAIN_BUILD: row},
        targets=memory_targets(weights, row["engine_flash_bytes"], row["engine_ram_bytes"] + row["invoke_stack_bytes"],
                               tflm.arena_bytes),
        method={
            "transport": (f"the serial firmware over QEMU's emulated {options.board.machine} UART (a pseudo-terminal)"
                          if emulated else f"the serial firmware over {serial.port} at {serial.baud} baud"),
            "timing": counted,
            "latency": (f"cycles / {clock_mhz:g} MHz (measured on the part)" if not emulated else
                        f"instructions x CPI {cycles_per_instruction(options)} / {clock_mhz:g} MHz (an estimate: "
                        "QEMU does not model cycles)"),
            "energy": f"estimated: latency x {options.uw_per_mhz:g} µW/MHz x {clock_mhz:g} MHz (the board's "
                      f"named part: {options.board.power_part}; no power is measured)",
            "flash_ram": "per-object sizes from the GNU ld map; stack: the whole firmware's painted high-water "
                         "(an upper bound of the engine's own)",
        },
        transport={"port": serial.port, "kind": "qemu" if emulated else "serial", "baud": serial.baud,
                   "part": info.part, "clock_hz": info.clock_hz, "counter": COUNTERS[info.counter],
                   "counter_runs": info.counter_runs, "batch": info.batch, "images_requested": len(tflm.outputs),
                   "complete": run.stopped is None, "stopped": run.stopped},
    )
