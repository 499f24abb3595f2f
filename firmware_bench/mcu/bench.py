"""`lenet-bench mcu`: the generated int8 engine on an emulated Cortex-M, checked against TFLite Micro.

One run: generate the engine from the .tflite; run the test images through the tflite-micro
interpreter (the reference), through the engine compiled for this host, and through the firmware
in QEMU; build the firmware at -O2 and -Os, with and without the DSP path, and once more with the
model's flatbuffer array linked in; report accuracy, bit-exactness, flash, RAM, instructions.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from lenet_deploy.artifacts import sha256_file, staged_dir, write_text_atomic
from lenet_deploy.boards import BOARDS, DEFAULT_BOARD, Board
from lenet_deploy.contained import contained
from lenet_deploy.convert import HostEngine, build_engine, read_graph_file, write_engine, write_model_source
from lenet_deploy.errors import CheckFailed, LenetError
from lenet_deploy.firmware_bench.mcu.build import build_firmware
from lenet_deploy.firmware_bench.mcu.cycles import ASSUMPTIONS, TRACED_IMAGES, Trace, trace_cycles
from lenet_deploy.firmware_bench.mcu.qemu import run_firmware
from lenet_deploy.firmware_bench.report.mcu import mcu_report_markdown
from lenet_deploy.manifests import MAIN_BUILD, MANIFEST, MCU_REPORT, McuManifest, McuReport, write_record

FLASH_SLACK_BYTES = 8 * 1024  # the budget: engine + weights <= 1.2 x int8 weights + 8 KB
MAX_INSTRUCTIONS_PER_MAC = 3.0
DEFAULT_CPI = 1.25  # where no traced run estimated the core's cycles per instruction (the serial run in QEMU)
PROFILE_SAMPLES = 100  # images through the per-layer profile build (its counts vary little per image)


@dataclass(frozen=True)
class McuOptions:
    board: Board = BOARDS[DEFAULT_BOARD]
    compare_samples: int = 1000  # images for the extra builds (-Os, no DSP, with the flatbuffer)
    clock_mhz: float | None = None  # None: the board's named part's clock
    cpi: float | None = None  # None: estimated from the traced instruction mix (cycles.py); DEFAULT_CPI without one
    uw_per_mhz: float | None = None  # None: the named part's run-mode power per MHz

    def resolved(self) -> McuOptions:
        """The options with the board's stated assumptions filled in where the user gave none."""
        return replace(self, clock_mhz=self.clock_mhz or self.board.clock_mhz,
                       uw_per_mhz=self.uw_per_mhz or self.board.uw_per_mhz)


@dataclass(frozen=True)
class TflmReference:
    outputs: np.ndarray  # TFLite Micro's raw int8 outputs, one row per image
    inputs: np.ndarray  # the quantized images it was given, one flat row per image (what the engine gets)
    arena_bytes: int
    input: Any  # TensorIO of the model input and output
    output: Any


def tflm_reference(model: bytes, images: np.ndarray, where: str = "model") -> TflmReference:
    """Float images [N, 28, 28, 1] through TFLite Micro's reference kernels, one at a time (in a child process)."""
    return contained("running the model in TFLite Micro", _tflm_reference, model, images, where)


def _tflm_reference(model: bytes, images: np.ndarray, where: str) -> TflmReference:
    from lenet_deploy.runtimes import TFLMRunner
    from lenet_deploy.tflm import arena_bytes

    runner = TFLMRunner(model, where)
    quantized = runner.input.quantize(images)
    outputs = np.concatenate([runner.invoke(quantized[i:i + 1]).reshape(1, -1) for i in range(len(images))])
    return TflmReference(outputs, quantized.reshape(len(images), -1), arena_bytes(runner.interpreter), runner.input,
                         runner.output)


def host_engine_outputs(engine_c: Path, images: np.ndarray, output_size: int) -> np.ndarray:
    return HostEngine(engine_c).run(images, output_size)


def check_model(model_path: Path):
    """The int8 .tflite the engine can run, or one `--model` line saying why not (before any data or work).
    Returns (its bytes, its graph)."""
    try:
        model, graph = read_graph_file(Path(model_path))
        build_engine(model, source=str(model_path))  # an op or type the engine does not serve
    except LenetError as exc:
        raise LenetError(f"--model {exc}") from None
    return model, graph


def run_mcu_bench(model_path: Path, images: np.ndarray, labels: np.ndarray, data_source: str, out: Path,
                  options: McuOptions, force: bool = False, say: Callable[[str], None] = print) -> McuReport:
    options = options.resolved()
    model_path = Path(model_path)
    model, graph = check_model(model_path)
    with staged_dir(out, force) as stage:
        (_, engine_c), engine = write_engine(model_path, stage / "engine")
        # The production build first: a model that does not fit the part fails here, before minutes of TFLM.
        builds = {MAIN_BUILD: build_firmware(engine_c, stage / "firmware", options.board, "-O2", True)}
        say(f"engine: {engine.macs:,} MACs, arena {engine.arena_bytes:,} B; running TFLite Micro on "
            f"{len(images):,} images …")
        tflm = tflm_reference(model, images, str(model_path))
        reference, quantized, tflm_arena = tflm.outputs, tflm.inputs, tflm.arena_bytes
        host = contained("running the C engine compiled for this host", host_engine_outputs, engine_c, quantized,
                         reference.shape[1])
        (stage / "flatbuffer").mkdir()
        flatbuffer_c = write_model_source(stage / "flatbuffer", model_path.stem, model, (tflm.input, tflm.output),
                                          tflm_arena, str(model_path))

        for key, optimization, dsp, blob in (("O2-portable", "-O2", False, False), ("Os", "-Os", True, False),
                                             ("O2+flatbuffer", "-O2", True, True)):
            builds[key] = build_firmware(engine_c, stage / "firmware", options.board, optimization, dsp,
                                         flatbuffer_c if blob else None)
        profiler = build_firmware(engine_c, stage / "firmware", options.board, "-O2", True, profile=True)
        say(f"QEMU {options.board.machine}: {len(images):,} images through the -O2 firmware …")
        runs = {MAIN_BUILD: run_firmware(builds[MAIN_BUILD], quantized, reference.shape[1], engine.macs)}
        few = min(len(images), options.compare_samples)
        for key in ("O2-portable", "Os", "O2+flatbuffer"):
            say(f"QEMU {options.board.machine}: {few:,} images through the {key} firmware …")
            runs[key] = run_firmware(builds[key], quantized[:few], reference.shape[1], engine.macs)
        profiled = min(len(images), PROFILE_SAMPLES)
        say(f"QEMU {options.board.machine}: {profiled:,} images through the per-layer profile build …")
        profile_run = run_firmware(profiler, quantized[:profiled], reference.shape[1], engine.macs)
        say(f"QEMU {options.board.machine}: {TRACED_IMAGES} images through the profile build, every instruction "
            "traced, for the cycle estimate …")
        profile = _profile(engine, profile_run, reference, trace_cycles(profiler, quantized))
        report = _report(model_path, graph, engine, tflm_arena, labels, reference, host, builds, runs, options,
                         data_source, profile)
        made = McuManifest.new(model=str(model_path), model_sha256=sha256_file(model_path),
                               board=options.board.machine, samples=len(images), data=data_source)
        write_record(stage / MCU_REPORT, report)
        write_text_atomic(stage / "report.md", mcu_report_markdown(report, made))
        write_record(stage / MANIFEST, made)
    failures = exactness_failures(report)
    if failures:
        raise CheckFailed(f"{'; '.join(failures)} (report kept in {out})")
    return report


def exactness_failures(report: McuReport) -> list[str]:
    """Where the engine's outputs are not TFLite Micro's, byte for byte: the one result that must hold."""
    failures = []
    host, samples = report.host_engine["bit_exact_vs_tflm"], report.samples
    if host < samples:
        failures.append(f"the host-compiled engine differs from TFLite Micro on {samples - host} of {samples} images")
    builds = {**report.variants, **({"per-layer profile": report.profile} if report.profile else {})}
    for key, build in builds.items():
        if build["bit_exact_vs_tflm"] < build["images"]:
            failures.append(f"the {key} firmware differs from TFLite Micro on "
                            f"{build['images'] - build['bit_exact_vs_tflm']} of {build['images']} images")
    return failures


def cycles_per_instruction(options: McuOptions, estimated: float | None = None) -> float:
    """--cpi if given, else the traced run's estimate, else DEFAULT_CPI."""
    return options.cpi or estimated or DEFAULT_CPI


def latency_ms(instructions: float, options: McuOptions, estimated_cpi: float | None = None) -> float:
    """Estimated time per inference: instructions x CPI / clock (QEMU models no cycles)."""
    return instructions * cycles_per_instruction(options, estimated_cpi) / (options.clock_mhz * 1e3)


def energy_uj(instructions: float, options: McuOptions, estimated_cpi: float | None = None) -> float:
    """Energy per inference: time (instructions x CPI / clock) x active power (µW/MHz x clock), in µJ."""
    return energy_at(latency_ms(instructions, options, estimated_cpi), options, options.clock_mhz)


def energy_at(time_ms: float, options: McuOptions, clock_mhz: float) -> float:
    """Energy of one inference taking `time_ms` at `clock_mhz`: x the part's active power (µW/MHz x clock), in µJ."""
    return time_ms * 1e-3 * options.uw_per_mhz * clock_mhz


def _power_source(options: McuOptions) -> str:
    if options.uw_per_mhz == options.board.uw_per_mhz:
        return f"assumed: {options.board.power_part}, its datasheet's headline run-mode figure"
    return "given with --uw-per-mhz"


def _profile(engine, run, reference: np.ndarray, traced: Trace) -> dict[str, Any]:
    """One row per op: the generator's costs beside the instructions the profile build counted for it and the
    cycles estimated from the traced run's instruction mix."""
    n = len(run.outputs)
    counted = run.op_instructions or []
    total = sum(counted) or 1.0
    layers = []
    for layer in engine.layers:
        instructions = counted[layer.op] if layer.op < len(counted) else 0.0
        cycles = traced.cycles[layer.op] if layer.op < len(traced.cycles) else 0.0
        layers.append({"op": layer.op, "name": layer.name, "output_shape": layer.output_shape, "macs": layer.macs,
                       "constant_bytes": layer.constant_bytes, "instructions": instructions,
                       "instructions_per_mac": instructions / layer.macs if layer.macs else None,
                       "share": instructions / total, "estimated_cycles": cycles,
                       "cycles_per_mac": cycles / layer.macs if layer.macs else None})
    return {"images": n, "bit_exact_vs_tflm": int((run.outputs == reference[:n]).all(axis=1).sum()),
            "instructions_per_inference": run.instructions_per_inference, "ops_instructions": sum(counted),
            "traced_images": TRACED_IMAGES, "traced_instructions": sum(traced.instructions),
            "estimated_cycles": sum(traced.cycles), "cycles_per_instruction": traced.cycles_per_instruction,
            "layers": layers}


def top1_accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Of int8 outputs against the first len(outputs) labels (0.0 for none: a board that stopped before answering)."""
    return float((outputs.argmax(axis=1) == labels[:len(outputs)]).mean()) if len(outputs) else 0.0


def memory_targets(weights: int, engine_flash: int, engine_ram: int, tflm_arena: int) -> dict[str, Any]:
    """The engine's flash (code + constants) within 1.2 x the int8 weights + 8 KB, its RAM (arena + static data +
    stack) within TFLite Micro's arena."""
    flash_budget = int(1.2 * weights + FLASH_SLACK_BYTES)
    return {"flash_budget_bytes": flash_budget, "flash_ok": engine_flash <= flash_budget,
            "engine_ram_bytes": engine_ram, "ram_ok": engine_ram <= tflm_arena}


def _report(model_path: Path, graph, engine, tflm_arena: int, labels, reference, host, builds, runs,
            options: McuOptions, data_source: str, profile: dict[str, Any]) -> McuReport:
    weights = graph.weight_bytes
    cpi = cycles_per_instruction(options, profile["cycles_per_instruction"])
    variants = {}
    for key, firmware in builds.items():
        run = runs[key]
        n = len(run.outputs)
        engine_sizes = firmware.sizes["engine"]
        variants[key] = {
            "optimization": firmware.optimization, "dsp": firmware.dsp, "flatbuffer_linked": firmware.with_flatbuffer,
            "images": n, "accuracy": top1_accuracy(run.outputs, labels),
            "bit_exact_vs_tflm": int((run.outputs == reference[:n]).all(axis=1).sum()),
            "bit_exact_vs_host_engine": int((run.outputs == host[:n]).all(axis=1).sum()),
            "instructions_per_inference": run.instructions_per_inference,
            "instructions_min": run.instructions_min, "instructions_max": run.instructions_max,
            "instructions_per_mac": run.instructions_per_inference / engine.macs,
            "estimated_cycles_per_inference": run.instructions_per_inference * cpi,
            "estimated_latency_ms": latency_ms(run.instructions_per_inference, options, cpi),
            "estimated_energy_uj": energy_uj(run.instructions_per_inference, options, cpi),
            "engine_flash_bytes": engine_sizes["flash"], "engine_code_bytes": engine_sizes["code"],
            "engine_rodata_bytes": engine_sizes["rodata"], "engine_ram_bytes": engine_sizes["ram"],
            "invoke_stack_bytes": run.invoke_stack_bytes,
            "flatbuffer_flash_bytes": firmware.sizes["flatbuffer"]["flash"] if firmware.with_flatbuffer else 0,
            "firmware": firmware.sizes["elf"], "firmware_stack_bytes": run.stack_bytes,
            "firmware_heap_bytes": run.heap_bytes,
            "firmware_ram_bytes": firmware.sizes["elf"]["static_ram"] + run.heap_bytes + run.stack_bytes,
            "qemu_seconds": run.seconds, "instructions_per_tick": run.instructions_per_tick,
        }
    main = variants[MAIN_BUILD]
    portable = variants["O2-portable"]
    return McuReport(
        model=str(model_path), board=options.board.machine, cpu=options.board.cpu, data=data_source,
        samples=len(reference), macs=engine.macs, ops=engine.ops, int8_weight_bytes=weights,
        tflm={"accuracy": top1_accuracy(reference, labels), "arena_bytes": tflm_arena},
        host_engine={"accuracy": top1_accuracy(host, labels),
                     "bit_exact_vs_tflm": int((host == reference).all(axis=1).sum())},
        variants=variants,
        targets={
            **memory_targets(weights, main["engine_flash_bytes"], main["engine_ram_bytes"] + main["invoke_stack_bytes"],
                             tflm_arena),
            "portable_instructions_per_mac": portable["instructions_per_mac"],
            "instructions_ok": portable["instructions_per_mac"] <= MAX_INSTRUCTIONS_PER_MAC,
            "dsp_speedup": portable["instructions_per_inference"] / main["instructions_per_inference"],
        },
        method={
            "instructions": "qemu-system-arm -icount shift=0 (virtual clock: 1 ns per instruction); SysTick on the "
                            "processor clock read before and after each lenet_invoke; instructions per tick from a "
                            "timed loop of 2,000,000 known instructions",
            "latency": (f"instructions x CPI {cpi:.3f} / {options.clock_mhz:g} MHz (an estimate: QEMU does not model "
                        "cycles; " + ("CPI given with --cpi" if options.cpi else
                                      "CPI of the -O2 profile build's executed instruction mix on the "
                                      f"{options.board.cpu}, {TRACED_IMAGES} images traced, charged its technical "
                                      f"reference manual's timings: {ASSUMPTIONS}; applied to every build") + ")"),
            "energy": f"estimated: latency x {options.uw_per_mhz:g} µW/MHz x {options.clock_mhz:g} MHz "
                      f"({_power_source(options)}; QEMU models no power)",
            "flash_ram": "per-object sizes from the GNU ld map (engine object: code, rodata, data, bss); "
                         "arm-none-eabi-size for the whole image; stack high-water by painting the stack",
            "per_layer": "a separate -O2 build with -DLENET_TRACE -DLENET_PROFILE: the engine calls back after each op "
                         "and the firmware adds the SysTick ticks since the previous op to that op (the callback's own "
                         "instructions mostly left out; resolution one tick, averaged over the images)",
        },
        profile=profile,
    )
