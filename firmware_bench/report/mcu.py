"""The MCU run rendered: its own report.md, and its row where a bench report or the pipeline shows it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lenet_deploy.boards import find_board
from lenet_deploy.firmware_bench.report.provenance import made_by
from lenet_deploy.manifests import MAIN_BUILD, McuManifest, McuReport


def mcu_report_markdown(report: McuReport, made: McuManifest) -> str:
    t, v = report.targets, report.variants
    where = (f"an emulated {report.cpu} ({report.board})" if not report.transport or report.transport["kind"] == "qemu"
             else f"{report.board} ({report.cpu})")
    lines = [f"# {report.model} on {where}", ""]
    if report.transport:
        lines += [_transport_line(report.transport), ""]
    lines += [
        f"{report.samples:,} images of {report.data}; {report.macs:,} MACs per inference; "
        f"ops {', '.join(report.ops)}.", "",
        f"- TFLite Micro (tflite-micro interpreter, reference kernels): accuracy {report.tflm['accuracy']:.4f}, "
        f"arena {report.tflm['arena_bytes']:,} B",
        f"- C engine on the host: accuracy {report.host_engine['accuracy']:.4f}, bit-exact with TFLite Micro on "
        f"{report.host_engine['bit_exact_vs_tflm']:,} of {report.samples:,} images", "",
        "| build | images | accuracy | bit-exact vs TFLM | instructions / inference | instr / MAC | cycles / inference "
        "| est. latency ms | est. energy µJ | engine flash B |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, row in v.items():
        lines.append(
            f"| {_build_name(key, row, report.board)} | {row['images']:,} | {row['accuracy']:.4f} | "
            f"{row['bit_exact_vs_tflm']:,} | {_number(row['instructions_per_inference'], ',.0f')} | "
            f"{_number(row['instructions_per_mac'], '.2f')} | {_cycles(row)} | "
            f"{_number(row['estimated_latency_ms'], '.2f')} | {_number(row.get('estimated_energy_uj'), ',.1f')} | "
            f"{row['engine_flash_bytes']:,} |")
    lines += _spread(v[MAIN_BUILD])
    lines += ["", "Memory in detail:", "",
              "| build | engine arena B | invoke stack B | flatbuffer B | firmware flash B "
              "| firmware RAM B (static + heap + stack) |", "|---|---|---|---|---|---|"]
    lines += [f"| {_build_name(key, row, report.board)} | {row['engine_ram_bytes']:,} | "
              f"{row['invoke_stack_bytes']:,} | {row['flatbuffer_flash_bytes']:,} | {row['firmware']['flash']:,} | "
              f"{row['firmware_ram_bytes']:,} |" for key, row in v.items()]
    ok = {True: "met", False: "NOT met"}
    lines += [
        "", "Targets:",
        f"- flash, engine + weights (-O2): {v[MAIN_BUILD]['engine_flash_bytes']:,} B ≤ 1.2 × "
        f"{report.int8_weight_bytes:,} + 8 KiB = {t['flash_budget_bytes']:,} B: {ok[t['flash_ok']]}",
        f"- RAM, engine arena + invoke stack: {t['engine_ram_bytes']:,} B ≤ TFLM arena "
        f"{report.tflm['arena_bytes']:,} B: {ok[t['ram_ok']]} (the TFLM arena as the tflite-micro interpreter "
        "measures it on this 64-bit host; a 32-bit target needs less, e.g. 11,172 B on the Cortex-M4 against "
        "12,576 B on the host for seed-best, measured by examples/tflm/verify.py)",
    ]
    if "portable_instructions_per_mac" in t:
        lines.append(f"- portable C at -O2: {t['portable_instructions_per_mac']:.2f} instructions per MAC ≤ 3: "
                     f"{ok[t['instructions_ok']]}; the {find_board(report.board).fast_path} path runs "
                     f"{t['dsp_speedup']:.2f}x fewer instructions")
    lines += [
        "", "How measured: " + "; ".join(f"{k}: {m}" for k, m in report.method.items()) + ".",
        ("Firmware flash/RAM include newlib's stdio and semihosting, which a product would not carry." if not
         report.transport else "The serial firmware carries no stdio: its flash/RAM are the engine, the protocol "
         "and a batch buffer."), "",
        f"{made_by(made)} Model sha256 {made.model_sha256}.", "",
    ]
    return "\n".join(lines + layer_table(report))


def _spread(row: dict[str, Any]) -> list[str]:
    """A line where the main build's count depends on the image (more than 1 % between the least and the most: the
    Cortex-M0's first convolution skips an image's background), so that the mean is not read as every image's."""
    low, high = row.get("instructions_min"), row.get("instructions_max")
    if low is None or high is None or high - low <= 0.01 * row["instructions_per_inference"]:
        return []
    return ["", f"The instructions depend on the image: {low:,} to {high:,} per inference over these "
                f"{row['images']:,} images ({low / row['instructions_per_inference'] - 1:+.1%} to "
                f"{high / row['instructions_per_inference'] - 1:+.1%} of the mean); the table gives the mean."]


def _transport_line(transport: dict[str, Any]) -> str:
    how = ("QEMU's emulated UART, through a pseudo-terminal" if transport["kind"] == "qemu"
           else f"{transport['port']} at {transport['baud']} baud")
    done = ("every requested image answered" if transport["complete"]
            else f"**INCOMPLETE: {transport['stopped']}**")
    return (f"Over the serial port: {how}; firmware for {transport['part']} at {transport['clock_hz'] / 1e6:g} MHz, "
            f"{transport['counter']}{'' if transport['counter_runs'] else ' (not running)'}; batches of "
            f"{transport['batch']}; {done}.")


def _cycles(row: dict[str, Any]) -> str:
    """Measured on a board, or estimated (≈) from the traced instruction mix."""
    if row.get("cycles_per_inference") is not None:
        return f"{row['cycles_per_inference']:,.0f}"
    estimated = row.get("estimated_cycles_per_inference")
    return f"≈ {estimated:,.0f}" if estimated is not None else "-"


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _build_name(key: str, row: dict[str, Any], board: str) -> str:
    return f"{key} ({find_board(board).fast_path if row['dsp'] else 'portable C'})"


LAYER_COLUMNS = ("op", "layer", "output", "MACs", "instructions", "instr / MAC", "est. cycles", "cycles / MAC",
                 "share")


def layer_cells(profile: dict[str, Any]) -> list[tuple[str, ...]]:
    """Each op of the profile as the text of LAYER_COLUMNS (the console and report.md show the same)."""
    cells = []
    for row in profile["layers"]:
        per_mac = f"{row['instructions_per_mac']:.2f}" if row["instructions_per_mac"] is not None else "-"
        cycles = row.get("estimated_cycles")
        cycles_per_mac = row.get("cycles_per_mac")
        cells.append((str(row["op"]), row["name"], "x".join(map(str, row["output_shape"])), f"{row['macs']:,}",
                      f"{row['instructions']:,.0f}", per_mac, "-" if cycles is None else f"{cycles:,.0f}",
                      "-" if cycles_per_mac is None else f"{cycles_per_mac:.2f}", f"{row['share']:.1%}"))
    return cells


def layer_table(report: McuReport) -> list[str]:
    """Where the instructions go, op by op (the per-layer profile build)."""
    profile = report.profile
    if not profile:
        return []
    lines = [f"## Per layer ({profile['images']:,} images through the profile build, bit-exact with TFLM on "
             f"{profile['bit_exact_vs_tflm']:,})", "",
             "| " + " | ".join(LAYER_COLUMNS) + " |", "|" + "---|" * len(LAYER_COLUMNS)]
    lines += ["| " + " | ".join(cells) + " |" for cells in layer_cells(profile)]
    outside = profile["instructions_per_inference"] - profile["ops_instructions"]
    lines += ["", f"Sum over ops {profile['ops_instructions']:,.0f} instructions; the profile build's whole invoke "
                  f"{profile['instructions_per_inference']:,.0f} (the {outside:,.0f} outside the ops are the "
                  "callbacks and the output copy)."]
    if profile.get("estimated_cycles") is not None:
        lines += [f"Cycles are estimated: {profile['traced_images']} images traced instruction by instruction "
                  f"({profile['traced_instructions']:,} instructions, {profile['estimated_cycles']:,.0f} cycles per "
                  f"inference: {profile['cycles_per_instruction']:.3f} cycles per instruction), each instruction "
                  "charged its core's published timing (see How measured)."]
    lines.append("")
    return lines


def mcu_rows(reports: list[McuReport]) -> list[dict[str, Any]]:
    """The main build of each `lenet-bench mcu` report, as a row beside the host's."""
    table = []
    for mcu in reports:
        build = mcu.main_build
        serial = mcu.transport and mcu.transport["kind"] == "serial"
        table.append({
            "variant": f"{Path(mcu.model).name}:c-engine",
            "runtime": f"{mcu.board} ({mcu.cpu}) over {mcu.transport['port']}" if serial else
                       f"QEMU {mcu.board} ({mcu.cpu})",
            "accuracy": build["accuracy"], "images": build["images"], "bit_exact_vs_tflm": build["bit_exact_vs_tflm"],
            "instructions": build["instructions_per_inference"], "cycles": build.get("cycles_per_inference"),
            "est_latency_ms": build["estimated_latency_ms"],
            "flash_kb": build["engine_flash_bytes"] / 1024,
            "ram_kb": (build["engine_ram_bytes"] + build["invoke_stack_bytes"]) / 1024,
            "latency_method": mcu.method["latency"],
            "energy_uj": build.get("estimated_energy_uj"), "energy_method": mcu.method.get("energy", "not estimated"),
        })
    return table


def work_per_inference(row: dict[str, Any]) -> str:
    """Instructions (QEMU) or cycles (a board), whichever the run counted."""
    if row["instructions"] is not None:
        return f"{row['instructions']:,.0f} instructions"
    return f"{row['cycles']:,.0f} cycles" if row.get("cycles") is not None else "-"


def mcu_markdown(reports: list[McuReport]) -> list[str]:
    table = mcu_rows(reports)
    if not table:
        return []
    lines = ["## On an emulated microcontroller (`lenet-bench mcu`)", "",
             "| variant | runtime | images | accuracy | bit-exact vs TFLM | instructions (cycles) / inference "
             "| est. latency ms "
             "| est. energy µJ / inference | engine flash KB | engine RAM KB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in table:
        energy = f"{r['energy_uj']:,.1f}" if r["energy_uj"] is not None else "-"
        lines.append(f"| {r['variant']} | {r['runtime']} | {r['images']:,} | {r['accuracy']:.4f} | "
                     f"{r['bit_exact_vs_tflm']:,} | {work_per_inference(r)} | {_number(r['est_latency_ms'], '.2f')} | "
                     f"{energy} | "
                     f"{r['flash_kb']:.1f} | {r['ram_kb']:.1f} |")
    lines += ["", f"Latency: {table[0]['latency_method']}; instructions counted under QEMU -icount, cycles by the "
                  "part's counter.",
              f"Energy: {table[0]['energy_method']}.", ""]
    return lines
