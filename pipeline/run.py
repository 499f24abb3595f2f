"""`lenet-pipeline`: the whole job in one command — original LeNet-5, sweep, best, convert, bench, MCU, report.

Each step writes its artifact directory and is skipped when that directory is already complete,
so a rerun after a crash continues where it stopped (the sweep itself resumes its study).
The final report is assembled from the manifests, never from logs.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

from lenet_deploy.errors import LenetError
from lenet_deploy.manifests import BENCH_REPORT, MANIFEST, MCU_REPORT, BenchReport, ConvertManifest, read_record
from lenet_deploy.sweeps import sweep_config

DEFAULT_SWEEP = sweep_config("seed.yaml")


@dataclass(frozen=True)
class Budget:
    count: int  # sweep trials
    epochs_cap: int | None  # per sweep trial, and for the original preset
    workers: int
    invokes: int
    energy_seconds: float


BUDGETS = {
    "default": Budget(count=10, epochs_cap=8, workers=2, invokes=1000, energy_seconds=5),  # ≤ 15 min on 2 cores
    "full": Budget(count=20, epochs_cap=None, workers=2, invokes=2000, energy_seconds=10),
}


@dataclass(frozen=True)
class PipelineOptions:
    name: str = "lenet"
    budget: str = "default"
    sweep_config: Path = DEFAULT_SWEEP
    count: int | None = None
    epochs_cap: int | None = None
    data: Path | None = None
    verify: bool = True
    val_size: int | None = None
    samples: int | None = None  # bench test images (default: all)
    wandb: str = "auto"
    country: str = "USA"
    quick_bench: bool = False  # tests: few invokes, no energy loop


def _budget(options: PipelineOptions) -> Budget:
    if options.budget not in BUDGETS:
        raise LenetError(f"unknown --budget {options.budget!r} (choose from: {', '.join(BUDGETS)})")
    budget = BUDGETS[options.budget]
    if options.count is not None:
        budget = replace(budget, count=options.count)
    if options.epochs_cap is not None:
        budget = replace(budget, epochs_cap=options.epochs_cap)
    return budget


def check_options(options: PipelineOptions, budget: Budget):
    """Every option, before the first step writes anything; returns the parsed sweep spec."""
    from lenet_deploy.energy import check_country
    from lenet_deploy.train.sweep.spec import load_spec
    from lenet_deploy.train.tracking import resolve_wandb_mode

    for flag, value, low in (("--count", budget.count, 1), ("--epochs-cap", budget.epochs_cap, 1),
                             ("--samples", options.samples, 1), ("--val-size", options.val_size, 0)):
        if value is not None and value < low:
            raise LenetError(f"{flag} must be >= {low}, got {value}")
    resolve_wandb_mode(options.wandb)  # the same check as every fit's
    check_country(options.country)
    if not Path(options.sweep_config).is_file():
        raise LenetError(f"--sweep-config {options.sweep_config}: no such file")
    return load_spec(options.sweep_config)


def paths(name: str) -> dict[str, Path]:
    return {"original": Path("runs") / f"{name}-original", "sweep": Path("runs") / f"{name}-sweep",
            "best": Path("runs") / f"{name}-sweep" / "best", "build": Path("build") / name,
            "bench": Path("reports") / name / "bench", "mcu": Path("reports") / name / "mcu",
            "report": Path("reports") / name}


def run_pipeline(options: PipelineOptions, say=print) -> Path:
    """Run (or continue) every step; returns the report path."""
    from lenet_deploy.data import DEFAULT_VAL_SIZE, load_mnist

    budget = _budget(options)
    spec = check_options(options, budget)
    where = paths(options.name)
    val_size = options.val_size if options.val_size is not None else DEFAULT_VAL_SIZE
    mnist = load_mnist(options.data, verify=options.verify)
    steps = [("original LeNet-5 (the reference architecture)", lambda: _original(options, budget, where, mnist,
                                                                               val_size)),
             (f"sweep ({budget.count} trials, {budget.workers} workers)",
              lambda: _sweep(spec, options, budget, where, val_size)),
             ("best trial, retrained on all training images", lambda: _best(options, where, mnist)),
             ("convert to float32 + int8 TFLite and C source", lambda: _convert(options, where, val_size)),
             ("benchmark Keras vs TFLite vs int8 vs TFLite Micro", lambda: _bench(options, budget, where, mnist)),
             ("int8 C engine on an emulated Cortex-M4 (QEMU)", lambda: _mcu(options, where, mnist)),
             ("report", lambda: _report(options.name, where))]
    for i, (title, step) in enumerate(steps, 1):
        started = time.perf_counter()
        say(f"[{i}/{len(steps)}] {title} …")
        note = step()
        say(f"[{i}/{len(steps)}] {note or 'done'} ({time.perf_counter() - started:.0f} s)")
    return where["report"] / "report.md"


def _done(directory: Path, marker: str = MANIFEST) -> bool:
    return (directory / marker).is_file()


def _original(options, budget, where, mnist, val_size) -> str | None:
    if _done(where["original"]):
        return f"kept {where['original']} from an earlier run"
    from lenet_deploy.train.config import make_config, preset
    from lenet_deploy.train.fit import FitOptions, fit

    values = preset("original")
    if budget.epochs_cap:
        values["epochs"] = min(values["epochs"], budget.epochs_cap)
    fit(make_config(values, "preset original"), mnist, where["original"], f"{options.name}-original",
        FitOptions(val_size=val_size, wandb=options.wandb, country=options.country), force=True)
    return None


def _sweep(spec, options, budget, where, val_size) -> str:
    from lenet_deploy.train.sweep.driver import SweepOptions, run_sweep

    name = f"{options.name}-sweep"
    sweep_options = SweepOptions(count=budget.count, workers=budget.workers, epochs_cap=budget.epochs_cap,
                                 val_size=val_size, wandb=options.wandb, country=options.country,
                                 data=str(options.data) if options.data else None, verify=options.verify)
    stats = run_sweep(spec, name, where["sweep"], sweep_options)
    return f"{stats['finished']} trials finished, {stats['trials_per_hour']:.0f} trials/hour this run"


def _best(options, where, mnist) -> str | None:
    if _done(where["best"]):
        return f"kept {where['best']} from an earlier run"
    from lenet_deploy.train.sweep.best import write_best

    write_best(where["sweep"], mnist, retrain=True, force=True, wandb=options.wandb, country=options.country)
    return None


def _convert(options, where, val_size) -> str | None:
    manifest = where["build"] / MANIFEST
    if manifest.is_file() and f"{options.name}_int8" in read_record(manifest, ConvertManifest).artifacts:
        return f"kept {where['build']} from an earlier run"
    from lenet_deploy.convert.run import convert_model

    convert_model(where["best"] / "model.keras", "int8", name=options.name, out=where["build"], data=options.data,
                  verify=options.verify, val_size=val_size)
    return None


def _bench(options, budget, where, mnist) -> str | None:
    from lenet_deploy.firmware_bench.bench import BenchOptions, check_variants, failed_variants, run_bench, variants_for

    if _done(where["bench"], BENCH_REPORT) and not failed_variants(read_record(where["bench"] / BENCH_REPORT,
                                                                                BenchReport)):
        return f"kept {where['bench']} from an earlier run"
    from lenet_deploy.firmware_bench.report.bench import write_report
    from lenet_deploy.firmware_bench.testdata import export_testset
    from lenet_deploy.tflite import interpreter_class

    images, labels = mnist.x_test[:options.samples], mnist.y_test[:options.samples]
    where["bench"].mkdir(parents=True, exist_ok=True)
    testset = where["bench"] / "testset.npz"
    export_testset(testset, images, labels, f"MNIST test set ({mnist.source})")
    runtime = interpreter_class("auto")[1]
    bench_options = BenchOptions(runtime=runtime, invokes=50 if options.quick_bench else budget.invokes,
                                 repeats=2 if options.quick_bench else 3,
                                 energy_seconds=0 if options.quick_bench else budget.energy_seconds)
    build = where["build"]
    variants = variants_for(where["best"] / "model.keras", [build / f"{options.name}_f32.tflite",
                                                            build / f"{options.name}_int8.tflite"],
                            [build / f"{options.name}_int8.tflite"], runtime)
    report = run_bench(variants, testset, f"MNIST test set, {len(labels)} images", where["bench"], bench_options)
    write_report(report, where["bench"])
    check_variants(report, where["bench"])  # a failed variant stops the pipeline; a rerun benchmarks again
    return None


def _mcu(options, where, mnist) -> str | None:
    """The MCU step needs arm-none-eabi-gcc and qemu-system-arm; without them it is skipped, saying why."""
    if _done(where["mcu"], MCU_REPORT):
        return f"kept {where['mcu']} from an earlier run"
    missing = [tool for tool in ("arm-none-eabi-gcc", "qemu-system-arm") if shutil.which(tool) is None]
    if missing:
        return f"skipped: {', '.join(missing)} not installed (Debian: gcc-arm-none-eabi libnewlib-arm-none-eabi " \
               "qemu-system-arm)"
    from lenet_deploy.data import to_model_input
    from lenet_deploy.firmware_bench.mcu.bench import McuOptions, run_mcu_bench

    images, labels = to_model_input(mnist.x_test[:options.samples]), mnist.y_test[:options.samples]
    mcu_options = McuOptions(compare_samples=20 if options.quick_bench else 1000)
    report = run_mcu_bench(where["build"] / f"{options.name}_int8.tflite", images, labels,
                           f"MNIST test set, {len(labels)} images", where["mcu"], mcu_options, force=True,
                           say=lambda _: None)
    build = report.main_build
    return (f"accuracy {build['accuracy']:.4f}, bit-exact with TFLite Micro on {build['bit_exact_vs_tflm']:,} of "
            f"{build['images']:,}, {build['instructions_per_inference']:,.0f} instructions per inference")


def _report(name: str, where: dict[str, Path]) -> str:
    from lenet_deploy.firmware_bench.report.pipeline import write_pipeline_report

    return f"wrote {write_pipeline_report(name, where)}"
