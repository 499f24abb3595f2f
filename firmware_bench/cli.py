"""`lenet-bench`: run the benchmark, export test data for a device, compare two devices."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from pathlib import Path

import click

from lenet_deploy.artifacts import check_output_file
from lenet_deploy.boards import BOARDS, DEFAULT_BOARD, QEMU_RUN, SERIAL_BUILD, require_tools
from lenet_deploy.cli import Group, board_option, console, data_option, handle_errors, unverified_option
from lenet_deploy.errors import LenetError
from lenet_deploy.manifests import BENCH_REPORT, MAIN_BUILD, MCU_REPORT, BenchReport, McuReport, read_record
from lenet_deploy.tflite import RUNTIMES


@click.group(cls=Group)
def main() -> None:
    """Compare Keras, TFLite and int8 variants: accuracy, latency, size, memory, energy."""


@main.command()
@click.argument("more_tflite", nargs=-1, type=click.Path(path_type=Path))
@click.option("--keras", type=click.Path(path_type=Path), help="A .keras model (the reference).")
@click.option("--tflite", multiple=True, type=click.Path(path_type=Path), help=".tflite models (or list them after).")
@click.option("--tflm", multiple=True, type=click.Path(path_type=Path),
              help=".tflite models to also run on TFLite Micro's reference kernels (what an MCU computes).")
@click.option("--engine", "engines", multiple=True, type=click.Path(path_type=Path),
              help="A generated C engine (<stem>_engine.c from lenet-convert --engine c, its .h beside it), compiled "
                   "with this machine's C compiler ($CC, else cc) and run like any variant.")
@data_option
@unverified_option
@click.option("--runtime", type=click.Choice(["auto", *RUNTIMES]), default="auto", show_default=True,
              help="TFLite interpreter (auto: the first installed).")
@click.option("--threads", type=int, help="Interpreter threads [default: the runtime's].")
@click.option("--samples", type=int, help="Use the first N test images [default: all].")
@click.option("--invokes", default=1000, show_default=True, help="Timed batch-1 invokes per repeat.")
@click.option("--warmup", default=50, show_default=True, help="Untimed invokes before each timed repeat.")
@click.option("--repeats", default=3, show_default=True, help="Latency repeats (their p50 spread is reported).")
@click.option("--batch", default=32, show_default=True, help="Batch size for the throughput figure.")
@click.option("--energy-seconds", default=5.0, show_default=True, help="Seconds of inference under CodeCarbon.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports/bench"), show_default=True,
              help="Report directory: bench.json, bench.csv, report.md, plots.")
@click.option("--force", is_flag=True, help="Replace an existing bench.json in --out.")
@click.option("--mcu", "mcu_reports", multiple=True, type=click.Path(path_type=Path),
              help="mcu.json from `lenet-bench mcu`: its emulated-MCU row joins the report.")
@handle_errors
def run(more_tflite: tuple[Path, ...], keras: Path | None, tflite: tuple[Path, ...], tflm: tuple[Path, ...],
        engines: tuple[Path, ...], data: Path | None, unverified: bool, runtime: str, threads: int | None,
        samples: int | None, invokes: int, warmup: int, repeats: int, batch: int, energy_seconds: float, out: Path,
        force: bool, mcu_reports: tuple[Path, ...]) -> None:
    """Benchmark every variant on the same test images; writes bench.json, bench.csv, report.md and plots."""
    from lenet_deploy.firmware_bench.bench import (
        BenchOptions,
        check_variants,
        check_variants_load,
        run_bench,
        variants_for,
    )
    from lenet_deploy.firmware_bench.report.bench import print_table, write_report
    from lenet_deploy.tflite import interpreter_class

    if out.exists() and not out.is_dir():
        raise LenetError(f"--out {out} is a file, not a directory")
    if (out / BENCH_REPORT).exists() and not force:
        raise LenetError(f"--out {out} already holds bench.json; pass --force to replace it")
    for name, value in (("--invokes", invokes), ("--repeats", repeats), ("--batch", batch), ("--threads", threads),
                        ("--samples", samples)):
        if value is not None and value < 1:
            raise LenetError(f"{name} must be >= 1, got {value}")
    if warmup < 0:
        raise LenetError(f"--warmup must be >= 0, got {warmup}")
    if not math.isfinite(energy_seconds) or energy_seconds < 0:
        raise LenetError(f"--energy-seconds must be >= 0, got {energy_seconds}")
    mcu = [_read_mcu_report(path) for path in mcu_reports]
    tflite_paths = [*tflite, *more_tflite]
    resolved = interpreter_class(runtime)[1] if tflite_paths else runtime
    if runtime == "auto" and tflite_paths:
        click.echo(f"--runtime auto: using {resolved}")
    options = BenchOptions(runtime=resolved, threads=threads, invokes=invokes, warmup=warmup, batch=batch,
                           repeats=repeats, energy_seconds=energy_seconds)
    variants = variants_for(keras, tflite_paths, list(tflm), resolved, list(engines))
    write_testset = prepare_testset(data, out, samples, not unverified)
    check_variants_load(variants, options)  # every file is what its option says before anything is written
    testset, source = write_testset()
    report = run_bench(variants, testset, source, out, options,
                       progress=lambda v: click.echo(f"benchmarking {v.name} ({v.path}) …"), mcu=mcu)
    write_report(report, out)
    print_table(report)
    click.echo(f"wrote {out / BENCH_REPORT}, {out / 'report.md'}")
    check_variants(report, out)


def _read_mcu_report(path: Path) -> McuReport:
    try:
        report = read_record(path, McuReport)
    except LenetError as exc:
        raise LenetError(f"--mcu {exc}") from None
    if MAIN_BUILD not in report.variants:
        raise LenetError(f"--mcu {path}: not {McuReport.DESCRIBES} (no {MAIN_BUILD} build)")
    return report


def _check_samples(samples: int, available: int) -> None:
    if samples > available:
        raise LenetError(f"--samples {samples}: the test set has only {available} images")


def prepare_testset(data: Path | None, out: Path, samples: int | None, verify: bool) -> Callable[[], tuple[Path, str]]:
    """Read and check the test set now; the returned function gives the npz every worker reads (the user's
    export-data file as it is, else the test images written into --out), writing only when it is called."""
    from lenet_deploy.firmware_bench.testdata import Reference, export_testset, is_export_npz, load_references

    images, labels, source = _test_images(data, verify)  # fails here, once, with the data error
    exported = data is not None and is_export_npz(data)
    if exported and samples is None:
        return lambda: (data, source)
    references = load_references(data) if exported else {}
    if samples is not None:
        _check_samples(samples, len(labels))
        images, labels, source = images[:samples], labels[:samples], f"{source} (first {samples})"
        references = {sha: Reference(r.predictions[:samples], float((r.predictions[:samples] == labels).mean()),
                                     r.runtime) for sha, r in references.items()}

    def write() -> tuple[Path, str]:
        out.mkdir(parents=True, exist_ok=True)
        path = out / "testset.npz"
        export_testset(path, images, labels, source, references)  # the host's references travel with the images
        return path, source

    return write


@main.command()
@click.option("--model", "model_path", required=True, type=click.Path(path_type=Path), help="An int8 .tflite model.")
@click.option("--samples", type=int, help="Use the first N test images [default: all].")
@click.option("--compare-samples", default=1000, show_default=True,
              help="Images for the extra builds (-Os, portable C, with the flatbuffer linked in).")
@data_option
@unverified_option
@click.option("--clock-mhz", type=float, help="Clock for the latency estimate [default: the board's named part's].")
@click.option("--cpi", type=float, help="Cycles per instruction for the latency estimate [default: estimated from "
                                       "the executed instruction mix and the core's published timings].")
@click.option("--uw-per-mhz", type=float,
              help="Active power per MHz for the energy estimate [default: the board's named part, see --board].")
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports/mcu"), show_default=True,
              help="Report directory: mcu.json, report.md, the firmware builds.")
@click.option("--force", is_flag=True, help="Replace an existing report in --out.")
@click.option("--port", help="Run the serial firmware on a board through this serial device (e.g. /dev/ttyACM0), "
                             "or `qemu`: the same over QEMU's emulated UART. Without it: semihosting in QEMU.")
@click.option("--baud", default=115200, show_default=True, help="With --port: the firmware's baud rate.")
@click.option("--flash", is_flag=True, help="With --port DEV: flash the built firmware first (pyOCD or OpenOCD).")
@board_option("Board: " + ", ".join(f"{name} ({board.cpu}{'' if board.qemu else ', --port only'})"
                                    for name, board in BOARDS.items())
              + ". Latency and energy are estimated for a named part per board (mcu.json says which).",
              default=DEFAULT_BOARD, real_boards=True)
@handle_errors
def mcu(model_path: Path, board, samples: int | None, compare_samples: int, data: Path | None,
        unverified: bool, clock_mhz: float | None, cpi: float | None, uw_per_mhz: float | None, out: Path,
        force: bool, port: str | None, baud: int, flash: bool) -> None:
    """The int8 C engine on a Cortex-M: accuracy, bit-exactness vs TFLite Micro, flash, RAM, instructions or cycles.

    In QEMU by default; on a board over its serial port with --port (`--port qemu`: QEMU's emulated UART).
    Exit status 1 (report kept) if any output byte differs from TFLite Micro's, or the board broke the run off.
    """
    from lenet_deploy.firmware_bench.mcu.bench import McuOptions, check_model, run_mcu_bench
    from lenet_deploy.firmware_bench.mcu.serial_bench import (QEMU_PORT, SerialOptions, check_serial_options,
                                                              run_serial_bench)

    for name, value in (("--samples", samples), ("--compare-samples", compare_samples), ("--clock-mhz", clock_mhz),
                        ("--cpi", cpi), ("--uw-per-mhz", uw_per_mhz), ("--baud", baud)):
        if value is not None and value <= 0:
            raise LenetError(f"{name} must be > 0, got {value}")
    serial = SerialOptions(port, baud, flash) if port else None
    if serial is None and flash:
        raise LenetError("--flash goes with --port DEV (the board's serial device)")
    if serial is None and not board.qemu:
        raise LenetError(f"--board {board.machine}: QEMU has no model of it; run it over its serial port "
                         "(--port /dev/ttyACM0)")
    if serial is not None:
        check_serial_options(board, serial, model_path)
    needs = QEMU_RUN if serial is None else SERIAL_BUILD + (("qemu-system-arm",) if port == QEMU_PORT else ())
    require_tools(f"lenet-bench mcu --board {board.machine}{' --port ' + port if port else ''}", needs)
    check_model(model_path)
    images, labels, source = _test_images(data, not unverified)
    if samples is not None:
        _check_samples(samples, len(labels))
        images, labels, source = images[:samples], labels[:samples], f"{source} (first {samples})"
    options = McuOptions(board=board, compare_samples=compare_samples, clock_mhz=clock_mhz, cpi=cpi,
                         uw_per_mhz=uw_per_mhz)
    if serial is not None:
        with _progress_bar(len(images), f"images over {port}") as advance:
            report = run_serial_bench(model_path, images, labels, source, out, options, serial, force,
                                      say=click.echo, progress=advance)
        build = report.main_build
        click.echo(f"{report.board} over {port}: accuracy {build['accuracy']:.4f} on {build['images']:,} images, "
                   f"bit-exact with TFLite Micro on {build['bit_exact_vs_tflm']:,}; {_work(build)} per inference; "
                   f"engine flash {build['engine_flash_bytes']:,} B")
        click.echo(f"wrote {out / MCU_REPORT}, {out / 'report.md'}")
        return
    report = run_mcu_bench(model_path, images, labels, source, out, options, force, say=click.echo)
    main_build, targets = report.main_build, report.targets
    click.echo(f"{report.board}: accuracy {main_build['accuracy']:.4f} on {main_build['images']:,} images, "
               f"bit-exact with TFLite Micro on {main_build['bit_exact_vs_tflm']:,}; "
               f"{main_build['instructions_per_inference']:,.0f} instructions per inference "
               f"({main_build['instructions_per_mac']:.2f}/MAC; portable C "
               f"{targets['portable_instructions_per_mac']:.2f}/MAC), ≈ "
               f"{main_build['estimated_cycles_per_inference']:,.0f} cycles (estimated), "
               f"{main_build['estimated_latency_ms']:.2f} ms at {options.resolved().clock_mhz:g} MHz; "
               f"engine flash {main_build['engine_flash_bytes']:,} B, "
               f"RAM {targets['engine_ram_bytes']:,} B (TFLM arena {report.tflm['arena_bytes']:,} B)")
    _print_layers(report)
    click.echo(f"wrote {out / MCU_REPORT}, {out / 'report.md'}")


@contextlib.contextmanager
def _progress_bar(total: int, what: str):
    """A rich bar on a terminal, nothing elsewhere; yields `advance(done)`."""
    from rich.progress import Progress

    with Progress(console=console(), transient=True, disable=not console().is_terminal) as bar:
        task = bar.add_task(what, total=total)
        yield lambda done: bar.update(task, completed=done)


def _work(build: dict) -> str:
    if build["instructions_per_inference"] is not None:
        return f"{build['instructions_per_inference']:,.0f} instructions ({build['instructions_per_mac']:.2f}/MAC)"
    return f"{build['cycles_per_inference']:,.0f} cycles" if build.get("cycles_per_inference") else "no timing"


@main.command()
@click.option("--model", "model_path", required=True, type=click.Path(path_type=Path), help="An int8 .tflite model.")
@board_option("The board to build for: " + ", ".join(BOARDS) + ".", default=DEFAULT_BOARD, real_boards=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("firmware"), show_default=True,
              help="The project directory: CMakeLists.txt, sources, README; the build in <out>/build.")
@click.option("--force", is_flag=True, help="Replace an existing project in --out.")
@handle_errors
def firmware(model_path: Path, board, out: Path, force: bool) -> None:
    """A CMake firmware project for a board: the serial benchmark firmware around the model's C engine, built.

    Flash it and run `lenet-bench mcu --port DEV` to benchmark the model on the board.
    """
    from lenet_deploy.artifacts import check_output_dir
    from lenet_deploy.firmware_bench.mcu.bench import check_model
    from lenet_deploy.firmware_bench.mcu.project import build_firmware_project

    check_model(model_path)
    check_output_dir(out, force)
    require_tools(f"lenet-bench firmware --board {board.machine}", SERIAL_BUILD)
    built = build_firmware_project(model_path, board, out, force)
    elf = built.sizes["elf"]
    click.echo(f"{board.machine}: {elf['flash']:,} B flash, {elf['static_ram']:,} B static RAM "
               f"(of {board.flash_length:,} / {board.ram_length:,})")
    click.echo(f"wrote {out}/ (CMakeLists.txt, src/, model/, README.md) and {out}/build/lenet.elf, .bin, .hex")
    click.echo(f"flash: {built.flash}")


def _print_layers(report: McuReport) -> None:
    """Where the instructions go, op by op (TFLM's MicroProfiler shows the same for an interpreter)."""
    from rich.table import Table

    from lenet_deploy.firmware_bench.report.mcu import LAYER_COLUMNS, layer_cells

    if not report.profile:
        return
    table = Table(title=f"per layer on {report.board} ({report.profile['images']:,} images, profile build)")
    for column in LAYER_COLUMNS:
        table.add_column(column, justify="left" if column in ("layer", "output") else "right")
    for cells in layer_cells(report.profile):
        table.add_row(*cells)
    console().print(table)


def _test_images(data: Path | None, verify: bool):
    """(float images in [0, 1], labels, description) from any --data form; says which form it read."""
    from lenet_deploy.firmware_bench.testdata import read_test_data

    images, labels, source = read_test_data(data, verify)
    click.echo(f"data: {source}")
    return images, labels, source


@main.command("export-data")
@click.option("--out", type=click.Path(path_type=Path), default=Path("testset.npz"), show_default=True,
              help="The .npz to write (copy it to the device).")
@data_option
@unverified_option
@click.option("--model", "models", multiple=True, type=click.Path(path_type=Path),
              help="A .tflite or .keras model whose host predictions go into the file, so that `lenet-bench run` "
                   "on a device checks its own answers (repeatable).")
@handle_errors
def export_data(out: Path, data: Path | None, unverified: bool, models: tuple[Path, ...]) -> None:
    """Write the MNIST test images to an npz for a device that has no MNIST (and no TensorFlow)."""
    from lenet_deploy.firmware_bench.testdata import export_testset

    check_output_file(out)
    images, labels, source = _test_images(data, not unverified)
    references = {}
    for model in models:
        sha, reference = host_reference(model, images, labels)
        references[sha] = reference
        click.echo(f"reference: {model} on {reference.runtime}: accuracy {reference.accuracy:.4f}")
    digest = export_testset(out, images, labels, source, references)
    click.echo(f"wrote {out}: {len(labels):,} images, sha256 {digest}"
               + (f", reference predictions for {len(references)} model(s)" if references else ""))


def host_reference(model: Path, images, labels):
    """(model SHA-256, what this host predicts with it): the answers a device run of the same file must give."""
    from lenet_deploy.artifacts import sha256_file
    from lenet_deploy.contained import contained
    from lenet_deploy.firmware_bench.testdata import Reference
    from lenet_deploy.runtimes import open_runner, runtime_version

    if not Path(model).is_file():
        raise LenetError(f"--model {model}: {'is a directory' if Path(model).is_dir() else 'no such file'}")

    def predict():
        runner = open_runner("keras" if Path(model).suffix == ".keras" else "tflite", Path(model))
        return runner.predict(images).argmax(axis=1), runner.runtime

    try:
        predictions, runtime = contained(f"running {model} on this host", predict)
    except LenetError as exc:
        raise LenetError(f"--model {exc}") from None
    accuracy = float((predictions == labels).mean())
    return sha256_file(model), Reference(predictions, accuracy, f"{runtime} {runtime_version(runtime) or ''}".strip())


@main.command()
@click.argument("report_a", type=click.Path(path_type=Path))
@click.argument("report_b", type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True, help="Exit 1 when the test sets differ or a model's answers disagree.")
@handle_errors
def compare(report_a: Path, report_b: Path, strict: bool) -> None:
    """Two devices side by side: B relative to A for each model both ran (matched by its SHA-256).

    Says so when the test sets differ or a model's predictions or accuracy disagree; --strict exits 1 then."""
    from rich.table import Table

    from lenet_deploy.errors import CheckFailed
    from lenet_deploy.firmware_bench.report.bench import check_comparable, times
    from lenet_deploy.firmware_bench.report.bench import compare as compare_reports

    reports = [read_record(path, BenchReport) for path in (report_a, report_b)]
    for report, path in zip(reports, (report_a, report_b)):
        check_comparable(report, str(path))
    rows, warnings = compare_reports(*reports)
    if not rows:
        raise LenetError("the two reports share no model (same SHA-256 on the same kind of runtime) to compare")
    a, b = (r.platform for r in reports)
    table = Table(title=f"A = {a['cpu']} ({a['node']})  vs  B = {b['cpu']} ({b['node']})")
    for column in ("model", "runtime A", "runtime B", "p50 A, ms", "p50 B, ms", "B at p50", "accuracy A",
                   "accuracy B", "top-1 agreement"):
        table.add_column(column, justify="left" if column.startswith(("model", "runtime", "B at")) else "right")
    for r in rows:
        agreement = f"{r['agreement']:.2%}" if r["agreement"] is not None else "-"
        table.add_row(r["variant"], r["runtime_a"], r["runtime_b"], f"{r['p50_a_ms']:.3f}", f"{r['p50_b_ms']:.3f}",
                      f"{times(1 / r['p50_ratio_b_over_a'])} A", f"{r['accuracy_a']:.4f}", f"{r['accuracy_b']:.4f}",
                      agreement)
    console().print(table)
    for line in warnings:
        click.echo(f"warning: {line}", err=True)
    if warnings and strict:
        raise CheckFailed(f"{len(warnings)} warning(s) with --strict")


if __name__ == "__main__":
    main()
