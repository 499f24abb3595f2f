"""`lenet-bench mcu`: the generated int8 engine on an emulated Cortex-M, checked against TFLite Micro.

One run: generate the engine from the .tflite; run the test images through the tflite-micro
interpreter (the reference), through the engine compiled for this host, and through the firmware
in QEMU; build the firmware at -O2 and -Os, with and without the DSP path, and once more with the
model's flatbuffer array linked in; report accuracy, bit-exactness, flash, RAM, instructions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from convert.c_array import ModelMacros, write_c_array
from convert.engine.emit import write_engine
from convert.engine.host import HostEngine
from convert.flatbuffer import read_graph
from convert.run import arena_margin
from firmware_bench.mcu.build import board, build_firmware
from firmware_bench.mcu.qemu import run_firmware
from lenet.artifacts import base_manifest, sha256_file, staged_dir, write_json_atomic, write_text_atomic
from lenet.errors import CheckFailed, LenetError

FLASH_SLACK_BYTES = 8 * 1024  # the budget: engine + weights <= 1.2 x int8 weights + 8 KB
MAX_INSTRUCTIONS_PER_MAC = 3.0


@dataclass(frozen=True)
class McuOptions:
    board: str = "mps2-an386"
    compare_samples: int = 1000  # images for the extra builds (-Os, no DSP, with the flatbuffer)
    clock_mhz: float = 168.0
    cpi: float = 1.25


@dataclass(frozen=True)
class TflmReference:
    outputs: np.ndarray  # TFLite Micro's raw int8 outputs, one row per image
    inputs: np.ndarray  # the quantized images it was given, one flat row per image (what the engine gets)
    arena_bytes: int
    input: Any  # TensorIO of the model input and output
    output: Any


def tflm_reference(model: bytes, images: np.ndarray, where: str = "model") -> TflmReference:
    """Float images [N, 28, 28, 1] through TFLite Micro's reference kernels, one at a time."""
    from firmware_bench.runtimes import TFLMRunner
    from lenet.tflm import arena_bytes

    runner = TFLMRunner(model, where)
    quantized = runner.input.quantize(images)
    outputs = np.concatenate([runner.invoke(quantized[i:i + 1]).reshape(1, -1) for i in range(len(images))])
    return TflmReference(outputs, quantized.reshape(len(images), -1), arena_bytes(runner.interpreter), runner.input,
                         runner.output)


def run_mcu_bench(model_path: Path, images: np.ndarray, labels: np.ndarray, data_source: str, out: Path,
                  options: McuOptions, force: bool = False, say: Callable[[str], None] = print) -> dict[str, Any]:
    board(options.board)
    model_path = Path(model_path)
    if not model_path.is_file():
        raise LenetError(f"--model {model_path}: no such file")
    model = model_path.read_bytes()
    graph = read_graph(model, str(model_path))
    with staged_dir(out, force) as stage:
        (_, engine_c), engine = write_engine(model_path, stage / "engine")
        say(f"engine: {engine.macs:,} MACs, arena {engine.arena_bytes:,} B; running TFLite Micro on "
            f"{len(images):,} images …")
        tflm = tflm_reference(model, images, str(model_path))
        reference, quantized, tflm_arena = tflm.outputs, tflm.inputs, tflm.arena_bytes
        host = HostEngine(engine_c).run(quantized, reference.shape[1])
        macros = ModelMacros(tflm.input, tflm.output, graph.op_names, tflm_arena, arena_margin(tflm_arena))
        (stage / "flatbuffer").mkdir()
        flatbuffer_c = write_c_array(stage / "flatbuffer", f"{model_path.stem}", model, macros, str(model_path))[1]

        builds = {}
        for key, optimization, dsp, blob in (("O2", "-O2", True, False), ("O2-portable", "-O2", False, False),
                                             ("Os", "-Os", True, False), ("O2+flatbuffer", "-O2", True, True)):
            builds[key] = build_firmware(engine_c, stage / "firmware", options.board, optimization, dsp,
                                         flatbuffer_c if blob else None)
        say(f"QEMU {options.board}: {len(images):,} images through the -O2 firmware …")
        runs = {"O2": run_firmware(builds["O2"], quantized, reference.shape[1])}
        few = min(len(images), options.compare_samples)
        for key in ("O2-portable", "Os", "O2+flatbuffer"):
            say(f"QEMU {options.board}: {few:,} images through the {key} firmware …")
            runs[key] = run_firmware(builds[key], quantized[:few], reference.shape[1])
        report = _report(model_path, graph, engine, tflm_arena, labels, reference, host, builds, runs, options,
                         data_source)
        write_json_atomic(stage / "mcu.json", report)
        write_text_atomic(stage / "report.md", render_markdown(report))
        manifest = base_manifest("mcu", model=str(model_path), model_sha256=sha256_file(model_path),
                                 board=options.board, samples=len(images), data=data_source)
        write_json_atomic(stage / "manifest.json", manifest)
    failures = exactness_failures(report)
    if failures:
        raise CheckFailed(f"{'; '.join(failures)} (report kept in {out})")
    return report


def exactness_failures(report: dict[str, Any]) -> list[str]:
    """Where the engine's outputs are not TFLite Micro's, byte for byte: the one result that must hold."""
    failures = []
    host, samples = report["host_engine"]["bit_exact_vs_tflm"], report["samples"]
    if host < samples:
        failures.append(f"the host-compiled engine differs from TFLite Micro on {samples - host} of {samples} images")
    for key, build in report["variants"].items():
        if build["bit_exact_vs_tflm"] < build["images"]:
            failures.append(f"the {key} firmware differs from TFLite Micro on "
                            f"{build['images'] - build['bit_exact_vs_tflm']} of {build['images']} images")
    return failures


def _accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    return float((outputs.argmax(axis=1) == labels[:len(outputs)]).mean())


def _report(model_path: Path, graph, engine, tflm_arena: int, labels, reference, host, builds, runs,
            options: McuOptions, data_source: str) -> dict[str, Any]:
    weights = graph.weight_bytes
    flash_budget = int(1.2 * weights + FLASH_SLACK_BYTES)
    variants = {}
    for key, firmware in builds.items():
        run = runs[key]
        n = len(run.outputs)
        engine_sizes = firmware.sizes["engine"]
        variants[key] = {
            "optimization": firmware.optimization, "dsp": firmware.dsp, "flatbuffer_linked": firmware.with_flatbuffer,
            "images": n, "accuracy": _accuracy(run.outputs, labels),
            "bit_exact_vs_tflm": int((run.outputs == reference[:n]).all(axis=1).sum()),
            "bit_exact_vs_host_engine": int((run.outputs == host[:n]).all(axis=1).sum()),
            "instructions_per_inference": run.instructions_per_inference,
            "instructions_min": run.instructions_min, "instructions_max": run.instructions_max,
            "instructions_per_mac": run.instructions_per_inference / engine.macs,
            "estimated_latency_ms": run.instructions_per_inference * options.cpi / (options.clock_mhz * 1e3),
            "engine_flash_bytes": engine_sizes["flash"], "engine_code_bytes": engine_sizes["code"],
            "engine_rodata_bytes": engine_sizes["rodata"], "engine_ram_bytes": engine_sizes["ram"],
            "invoke_stack_bytes": run.invoke_stack_bytes,
            "flatbuffer_flash_bytes": firmware.sizes["flatbuffer"]["flash"] if firmware.with_flatbuffer else 0,
            "firmware": firmware.sizes["elf"], "firmware_stack_bytes": run.stack_bytes,
            "firmware_ram_bytes": firmware.sizes["elf"]["static_ram"] + run.stack_bytes,
            "qemu_seconds": run.seconds, "instructions_per_tick": run.instructions_per_tick,
        }
    main = variants["O2"]
    engine_ram = main["engine_ram_bytes"] + main["invoke_stack_bytes"]
    portable = variants["O2-portable"]
    return {
        "model": str(model_path), "board": options.board, "cpu": board(options.board).cpu, "data": data_source,
        "samples": len(reference), "macs": engine.macs, "ops": engine.ops, "int8_weight_bytes": weights,
        "tflm": {"accuracy": _accuracy(reference, labels), "arena_bytes": tflm_arena},
        "host_engine": {"accuracy": _accuracy(host, labels),
                        "bit_exact_vs_tflm": int((host == reference).all(axis=1).sum())},
        "variants": variants,
        "targets": {
            "flash_budget_bytes": flash_budget, "flash_ok": main["engine_flash_bytes"] <= flash_budget,
            "engine_ram_bytes": engine_ram, "ram_ok": engine_ram <= tflm_arena,
            "portable_instructions_per_mac": portable["instructions_per_mac"],
            "instructions_ok": portable["instructions_per_mac"] <= MAX_INSTRUCTIONS_PER_MAC,
            "dsp_speedup": portable["instructions_per_inference"] / main["instructions_per_inference"],
        },
        "method": {
            "instructions": "qemu-system-arm -icount shift=0 (virtual clock: 1 ns per instruction); SysTick on the "
                            "processor clock read before and after each lenet_invoke; instructions per tick from a "
                            "timed loop of 2,000,000 known instructions",
            "latency": f"instructions x CPI {options.cpi} / {options.clock_mhz:g} MHz (an estimate: QEMU does not "
                       "model cycles)",
            "flash_ram": "per-object sizes from the GNU ld map (engine object: code, rodata, data, bss); "
                         "arm-none-eabi-size for the whole image; stack high-water by painting the stack",
        },
    }


def render_markdown(report: dict[str, Any]) -> str:
    t, v = report["targets"], report["variants"]
    lines = [
        f"# {report['model']} on an emulated {report['cpu']} ({report['board']})", "",
        f"{report['samples']:,} images of {report['data']}; {report['macs']:,} MACs per inference; "
        f"ops {', '.join(report['ops'])}.", "",
        f"- TFLite Micro (tflite-micro interpreter, reference kernels): accuracy {report['tflm']['accuracy']:.4f}, "
        f"arena {report['tflm']['arena_bytes']:,} B",
        f"- C engine on the host: accuracy {report['host_engine']['accuracy']:.4f}, bit-exact with TFLite Micro on "
        f"{report['host_engine']['bit_exact_vs_tflm']:,} of {report['samples']:,} images", "",
        "| build | images | accuracy | bit-exact vs TFLM | instructions / inference | instr / MAC | est. latency ms "
        "| engine flash B | engine RAM B (arena) | invoke stack B | flatbuffer B | firmware flash B | firmware RAM B |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, row in v.items():
        lines.append(
            f"| {key}{' (DSP)' if row['dsp'] else ' (portable C)'} | {row['images']:,} | {row['accuracy']:.4f} | "
            f"{row['bit_exact_vs_tflm']:,} | {row['instructions_per_inference']:,.0f} | "
            f"{row['instructions_per_mac']:.2f} | {row['estimated_latency_ms']:.2f} | {row['engine_flash_bytes']:,} | "
            f"{row['engine_ram_bytes']:,} | {row['invoke_stack_bytes']:,} | {row['flatbuffer_flash_bytes']:,} | "
            f"{row['firmware']['flash']:,} | {row['firmware_ram_bytes']:,} |")
    ok = {True: "met", False: "NOT met"}
    lines += [
        "", "Targets:",
        f"- flash, engine + weights (-O2): {v['O2']['engine_flash_bytes']:,} B ≤ 1.2 × "
        f"{report['int8_weight_bytes']:,} + 8 KiB = {t['flash_budget_bytes']:,} B: {ok[t['flash_ok']]}",
        f"- RAM, engine arena + invoke stack: {t['engine_ram_bytes']:,} B ≤ TFLM arena "
        f"{report['tflm']['arena_bytes']:,} B: {ok[t['ram_ok']]}",
        f"- portable C at -O2: {t['portable_instructions_per_mac']:.2f} instructions per MAC ≤ 3: "
        f"{ok[t['instructions_ok']]}; the DSP path runs {t['dsp_speedup']:.2f}x fewer instructions", "",
        "How measured: " + "; ".join(f"{k}: {m}" for k, m in report["method"].items()) + ".",
        "Firmware flash/RAM include newlib's stdio and semihosting, which a product would not carry.", "",
    ]
    return "\n".join(lines)
