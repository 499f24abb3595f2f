"""`lenet-bench`: run the benchmark, export test data for a device, compare two devices."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lenet.cli import console, handle_errors, quiet_tensorflow
from lenet.errors import LenetError


@click.group()
def main() -> None:
    """Compare Keras, TFLite and int8 variants: accuracy, latency, size, memory, energy."""
    quiet_tensorflow()


@main.command()
@click.argument("more_tflite", nargs=-1, type=click.Path(path_type=Path))
@click.option("--keras", type=click.Path(path_type=Path), help="A .keras model (the reference).")
@click.option("--tflite", multiple=True, type=click.Path(path_type=Path), help=".tflite models (or list them after).")
@click.option("--tflm", multiple=True, type=click.Path(path_type=Path),
              help=".tflite models to also run on TFLite Micro's reference kernels (what an MCU computes).")
@click.option("--data", type=click.Path(path_type=Path),
              help="Test images from `lenet-bench export-data` [default: the MNIST test set, host only].")
@click.option("--runtime", default="auto", show_default=True, help="auto | litert | tflite-runtime | tf.lite")
@click.option("--threads", type=int, help="Interpreter threads [default: the runtime's].")
@click.option("--samples", type=int, help="Use the first N test images [default: all].")
@click.option("--invokes", default=1000, show_default=True, help="Timed batch-1 invokes per repeat.")
@click.option("--warmup", default=50, show_default=True)
@click.option("--repeats", default=3, show_default=True, help="Latency repeats (their p50 spread is reported).")
@click.option("--batch", default=32, show_default=True, help="Batch size for the throughput figure.")
@click.option("--energy-seconds", default=5.0, show_default=True, help="Seconds of inference under CodeCarbon.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports/bench"), show_default=True)
@click.option("--force", is_flag=True, help="Replace an existing bench.json in --out.")
@click.option("--mcu", "mcu_reports", multiple=True, type=click.Path(path_type=Path),
              help="mcu.json from `lenet-bench mcu`: its emulated-MCU row joins the report.")
@handle_errors
def run(more_tflite: tuple[Path, ...], keras: Path | None, tflite: tuple[Path, ...], tflm: tuple[Path, ...],
        data: Path | None, runtime: str, threads: int | None, samples: int | None, invokes: int, warmup: int,
        repeats: int, batch: int, energy_seconds: float, out: Path, force: bool,
        mcu_reports: tuple[Path, ...]) -> None:
    """Benchmark every variant on the same test images; writes bench.json, bench.csv, report.md and plots."""
    from firmware_bench.bench import BenchOptions, run_bench, variants_for
    from firmware_bench.report import print_table, write_report
    from lenet.tflite import interpreter_class

    if out.exists() and not out.is_dir():
        raise LenetError(f"--out {out} is a file, not a directory")
    if (out / "bench.json").exists() and not force:
        raise LenetError(f"--out {out} already holds bench.json; pass --force to replace it")
    for name, value in (("--invokes", invokes), ("--repeats", repeats), ("--batch", batch)):
        if value < 1:
            raise LenetError(f"{name} must be >= 1, got {value}")
    mcu = [_read_mcu_report(path) for path in mcu_reports]
    tflite_paths = [*tflite, *more_tflite]
    resolved = interpreter_class(runtime)[1] if tflite_paths else runtime
    if runtime == "auto" and tflite_paths:
        click.echo(f"--runtime auto: using {resolved}")
    testset, source = prepare_testset(data, out, samples)
    options = BenchOptions(runtime=resolved, threads=threads, invokes=invokes, warmup=warmup, batch=batch,
                           repeats=repeats, energy_seconds=energy_seconds)
    variants = variants_for(keras, tflite_paths, list(tflm), resolved)
    report = run_bench(variants, testset, source, out, options,
                       progress=lambda v: click.echo(f"benchmarking {v.name} ({v.path}) …"), mcu=mcu)
    write_report(report, out)
    print_table(report)
    click.echo(f"wrote {out / 'bench.json'}, {out / 'report.md'}")


def _read_mcu_report(path: Path) -> dict:
    try:
        report = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise LenetError(f"--mcu {path}: no such file") from None
    except json.JSONDecodeError:
        raise LenetError(f"--mcu {path}: not an mcu.json (invalid JSON)") from None
    if not isinstance(report, dict) or "O2" not in report.get("variants", {}) or "board" not in report:
        raise LenetError(f"--mcu {path}: not an mcu.json from `lenet-bench mcu`")
    return report


def prepare_testset(data: Path | None, out: Path, samples: int | None) -> tuple[Path, str]:
    """The npz every worker reads: the user's file, or the MNIST test set exported into --out."""
    from firmware_bench.testdata import export_testset, load_testset

    if data is not None and samples is None:
        load_testset(data)  # fail here, once, with the data error (not once per variant)
        return data, str(data)
    if data is not None:
        images, labels = load_testset(data)
        images = (images[..., 0] * 255).round().astype("uint8")
        source = f"{data} (first {samples})"
    else:
        from lenet.data import load_mnist

        mnist = load_mnist()
        images, labels, source = mnist.x_test, mnist.y_test, f"MNIST test set ({mnist.source})"
    if samples is not None:
        if samples < 1:
            raise LenetError(f"--samples must be >= 1, got {samples}")
        images, labels = images[:samples], labels[:samples]
    out.mkdir(parents=True, exist_ok=True)
    path = out / "testset.npz"
    export_testset(path, images, labels, source)
    return path, source


@main.command()
@click.option("--model", "model_path", required=True, type=click.Path(path_type=Path), help="An int8 .tflite model.")
@click.option("--board", default="mps2-an386", show_default=True, help="mps2-an386 (Cortex-M4F) | mps2-an500 (M7) | mps2-an505 (M33).")
@click.option("--samples", type=int, help="Use the first N test images [default: all].")
@click.option("--compare-samples", default=1000, show_default=True,
              help="Images for the extra builds (-Os, portable C, with the flatbuffer linked in).")
@click.option("--data", type=click.Path(path_type=Path), help="Test images from `lenet-bench export-data` "
                                                              "[default: the MNIST test set].")
@click.option("--clock-mhz", default=168.0, show_default=True, help="Clock for the latency estimate.")
@click.option("--cpi", default=1.25, show_default=True, help="Cycles per instruction for the latency estimate.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports/mcu"), show_default=True)
@click.option("--force", is_flag=True, help="Replace an existing report in --out.")
@handle_errors
def mcu(model_path: Path, board: str, samples: int | None, compare_samples: int, data: Path | None,
        clock_mhz: float, cpi: float, out: Path, force: bool) -> None:
    """The int8 C engine in QEMU on a Cortex-M: accuracy, bit-exactness vs TFLite Micro, flash, RAM, instructions.

    Exit status 1 (report kept) if any output byte differs from TFLite Micro's.
    """
    from firmware_bench.mcu.bench import McuOptions, run_mcu_bench
    from firmware_bench.mcu.build import board as check_board

    check_board(board)
    for name, value in (("--samples", samples), ("--compare-samples", compare_samples), ("--clock-mhz", clock_mhz),
                        ("--cpi", cpi)):
        if value is not None and value <= 0:
            raise LenetError(f"{name} must be > 0, got {value}")
    images, labels, source = _test_images(data)
    if samples is not None:
        images, labels, source = images[:samples], labels[:samples], f"{source} (first {samples})"
    options = McuOptions(board=board, compare_samples=compare_samples, clock_mhz=clock_mhz, cpi=cpi)
    report = run_mcu_bench(model_path, images, labels, source, out, options, force, say=click.echo)
    main_build, targets = report["variants"]["O2"], report["targets"]
    click.echo(f"{report['board']}: accuracy {main_build['accuracy']:.4f} on {main_build['images']:,} images, "
               f"bit-exact with TFLite Micro on {main_build['bit_exact_vs_tflm']:,}; "
               f"{main_build['instructions_per_inference']:,.0f} instructions per inference "
               f"({main_build['instructions_per_mac']:.2f}/MAC; portable C "
               f"{targets['portable_instructions_per_mac']:.2f}/MAC); "
               f"engine flash {main_build['engine_flash_bytes']:,} B, "
               f"RAM {targets['engine_ram_bytes']:,} B (TFLM arena {report['tflm']['arena_bytes']:,} B)")
    click.echo(f"wrote {out / 'mcu.json'}, {out / 'report.md'}")


def _test_images(data: Path | None):
    """(float images in [0, 1], labels, description): an exported npz, else the MNIST test set."""
    from firmware_bench.testdata import load_testset

    if data is not None:
        images, labels = load_testset(data)
        return images, labels, str(data)
    from lenet.data import load_mnist, to_model_input

    mnist = load_mnist()
    return to_model_input(mnist.x_test), mnist.y_test, f"MNIST test set ({mnist.source})"


@main.command("export-data")
@click.option("--out", type=click.Path(path_type=Path), default=Path("testset.npz"), show_default=True)
@click.option("--data", type=click.Path(path_type=Path), help="MNIST location (see lenet-train data).")
@click.option("--unverified", is_flag=True)
@handle_errors
def export_data(out: Path, data: Path | None, unverified: bool) -> None:
    """Write the MNIST test images to an npz for a device that has no MNIST (and no TensorFlow)."""
    from firmware_bench.testdata import export_testset
    from lenet.data import load_mnist

    mnist = load_mnist(data, verify=not unverified)
    digest = export_testset(out, mnist.x_test, mnist.y_test, f"MNIST test set ({mnist.source})")
    click.echo(f"wrote {out}: {len(mnist.y_test)} images, sha256 {digest}")


@main.command()
@click.argument("report_a", type=click.Path(path_type=Path))
@click.argument("report_b", type=click.Path(path_type=Path))
@handle_errors
def compare(report_a: Path, report_b: Path) -> None:
    """Two devices side by side: B relative to A for each variant both ran."""
    from rich.table import Table

    from firmware_bench.report import compare as compare_reports

    reports = []
    for path in (report_a, report_b):
        try:
            reports.append(json.loads(Path(path).read_text()))
        except FileNotFoundError:
            raise LenetError(f"{path}: no such file") from None
        except json.JSONDecodeError:
            raise LenetError(f"{path}: not a bench.json (invalid JSON)") from None
        if "variants" not in reports[-1] or "platform" not in reports[-1]:
            raise LenetError(f"{path}: not a bench.json (no variants/platform)")
    rows = compare_reports(*reports)
    if not rows:
        raise LenetError("the two reports share no variant (same model file and kind) to compare")
    a, b = (r["platform"] for r in reports)
    table = Table(title=f"A = {a['cpu']} ({a['node']})  vs  B = {b['cpu']} ({b['node']})")
    for column in ("variant", "p50 A ms", "p50 B ms", "B/A latency", "B/A throughput", "acc A", "acc B"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(r["variant"], f"{r['p50_a_ms']:.3f}", f"{r['p50_b_ms']:.3f}", f"{r['p50_ratio_b_over_a']:.2f}x",
                      f"{r['throughput_ratio_b_over_a']:.2f}x", f"{r['accuracy_a']:.4f}", f"{r['accuracy_b']:.4f}")
    console().print(table)


@click.command()
@click.option("--name", default="lenet", show_default=True, help="Names runs/<name>-*, build/<name>, reports/<name>.")
@click.option("--budget", default="default", show_default=True,
              help="default (≤ 15 min on 2 cores: 10 trials ≤ 8 epochs) | full (20 trials, full epochs).")
@click.option("--sweep-config", type=click.Path(path_type=Path), help="W&B sweep YAML [default: sweeps/seed.yaml].")
@click.option("--count", type=int, help="Override the budget's sweep trials.")
@click.option("--epochs-cap", type=int, help="Override the budget's epoch cap.")
@click.option("--samples", type=int, help="Benchmark on the first N test images [default: all 10,000].")
@click.option("--val-size", type=int, help="Validation images [default: 6000].")
@click.option("--wandb", "wandb_mode", default="auto", show_default=True)
@click.option("--country", default="USA", show_default=True)
@click.option("--data", type=click.Path(path_type=Path), help="MNIST location (see lenet-train data).")
@click.option("--unverified", is_flag=True)
@click.option("--quick-bench", is_flag=True, help="Few latency invokes and no energy loop (smoke runs).")
@handle_errors
def pipeline(name: str, budget: str, sweep_config: Path | None, count: int | None, epochs_cap: int | None,
             samples: int | None, val_size: int | None, wandb_mode: str, country: str, data: Path | None,
             unverified: bool, quick_bench: bool) -> None:
    """Original LeNet-5 → sweep → best → convert → bench → reports/<name>/report.md. Rerun to continue."""
    quiet_tensorflow()
    from firmware_bench.pipeline import REPO_SWEEP, PipelineOptions, run_pipeline

    options = PipelineOptions(name=name, budget=budget, sweep_config=sweep_config or REPO_SWEEP, count=count,
                              epochs_cap=epochs_cap, data=data, verify=not unverified, val_size=val_size,
                              samples=samples, wandb=wandb_mode, country=country, quick_bench=quick_bench)
    report = run_pipeline(options, say=click.echo)
    click.echo(f"report: {report}")


if __name__ == "__main__":
    main()
