"""`lenet-pipeline`: the whole job in one command — original LeNet-5, sweep, best, convert, bench, MCU, report.

Each step writes its artifact directory; a rerun keeps a step only when what made its result (options, input
checksums, version: pipeline/steps.py) is unchanged, so a rerun after a crash or an interrupt continues where it
stopped (the sweep resumes its study) and a rerun with other options redoes what they change. The final report is
assembled from the manifests, never from logs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lenet_deploy.artifacts import sha256_file
from lenet_deploy.boards import BOARDS, DEFAULT_BOARD, Board, missing_tools, require_tools
from lenet_deploy.errors import LenetError
from lenet_deploy.manifests import (
    BENCH_REPORT,
    MANIFEST,
    MCU_REPORT,
    BenchReport,
    ConvertManifest,
    McuReport,
    RunManifest,
    read_record,
)
from lenet_deploy.pipeline.steps import StepLock
from lenet_deploy.sweeps import resolve_sweep_config, sweep_config

DEFAULT_SWEEP = sweep_config("seed.yaml")
DEVICE_SWEEP = sweep_config("mcu.yaml")  # with --board: the space made for microcontrollers


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
    seed: int = 0  # of every split, fit and the sweep's draws: the same seed picks the same winner
    workers: int | None = None  # sweep workers [default: the budget's]
    restart: bool = False  # start the sweep over when its directory holds another search
    board: Board | None = None  # the board to choose for: its flash and RAM limit the sweep; the MCU step runs there
    board_flag: str = "--board"  # how the user named it (--target is its other name), for the messages

    @property
    def mcu_board(self) -> Board:
        """Where the MCU step runs: the chosen board, else the default Cortex-M4F."""
        return self.board or BOARDS[DEFAULT_BOARD]


def _budget(options: PipelineOptions) -> Budget:
    if options.budget not in BUDGETS:
        raise LenetError(f"unknown --budget {options.budget!r} (choose from: {', '.join(BUDGETS)})")
    budget = BUDGETS[options.budget]
    if options.count is not None:
        budget = replace(budget, count=options.count)
    if options.epochs_cap is not None:
        budget = replace(budget, epochs_cap=options.epochs_cap)
    if options.workers is not None:
        budget = replace(budget, workers=options.workers)
    return budget


def check_options(options: PipelineOptions, budget: Budget):
    """Every option, before the first step writes anything; returns the parsed sweep spec."""
    from lenet_deploy.energy import check_country
    from lenet_deploy.train import load_spec, resolve_wandb_mode

    spec = load_spec(resolve_sweep_config(options.sweep_config, "--sweep-config"))
    for flag, value, low in (("--count", budget.count, 1), ("--epochs-cap", budget.epochs_cap, 1),
                             ("--workers", budget.workers, 1),
                             ("--samples", options.samples, 1), ("--val-size", options.val_size, 0)):
        if value is not None and value < low:
            raise LenetError(f"{flag} must be >= {low}, got {value}")
    resolve_wandb_mode(options.wandb)  # the same check as every fit's
    check_country(options.country)
    if options.board is not None:
        board_limits(options)  # the ARM tools are checked before anything runs
    return spec


def board_limits(options: PipelineOptions):
    """The board's own flash and RAM as the device sweep's limits (the micro:bit: 256 KB and 16 KB)."""
    from lenet_deploy.train import DeviceLimits

    require_tools(f"{options.board_flag} {options.board.machine}")
    return DeviceLimits(options.board, max_flash=options.board.flash_length, max_ram=options.board.ram_length)


def paths(name: str) -> dict[str, Path]:
    return {"original": Path("runs") / f"{name}-original", "sweep": Path("runs") / f"{name}-sweep",
            "best": Path("runs") / f"{name}-sweep" / "best", "build": Path("build") / name,
            "bench": Path("reports") / name / "bench", "mcu": Path("reports") / name / "mcu",
            "report": Path("reports") / name}


def run_pipeline(options: PipelineOptions, say=print) -> Path:
    """Run every step whose result is missing or was made from something else; returns the report path."""
    from lenet_deploy.data import DEFAULT_VAL_SIZE, load_mnist

    budget = _budget(options)
    spec = check_options(options, budget)
    where = paths(options.name)
    val_size = options.val_size if options.val_size is not None else DEFAULT_VAL_SIZE
    started = time.time()
    mnist = load_mnist(options.data, verify=options.verify)
    say(mnist.summary())
    _check_same_search(spec, options, budget, where, val_size, mnist)  # before any step does work
    lock = StepLock(where["report"], options.name, _asked(options, budget, val_size), mnist.describe())
    lock.save()
    context = (options, budget, where, mnist, val_size)
    steps = [Original(*context), Sweep(*context, spec=spec), Best(*context, spec=spec), Convert(*context),
             Bench(*context),
             Mcu(*context), Report(*context)]
    for i, step in enumerate(steps, 1):
        step_started = time.perf_counter()
        key = step.key()
        why = lock.why_rerun(step.name, key, step.result) if key is not None else "it always runs"
        if why is None:
            say(f"[{i}/{len(steps)}] {step.figure()} (kept {step.result.parent}: nothing that made it changed)")
            continue
        rerun = "" if why in ("no result yet", "it always runs") else f": rerun ({why})"
        say(f"[{i}/{len(steps)}] {step.title}{rerun} …")
        figure = step.run()
        if key is not None and step.result.is_file():
            lock.done(step.name, key, step.result)
        say(f"[{i}/{len(steps)}] {figure} ({time.perf_counter() - step_started:.0f} s)")
    from lenet_deploy.train import offline_runs_note

    note = offline_runs_note(started)
    if note:
        say(note)
    return where["report"] / "report.md"


def _asked(options: PipelineOptions, budget: Budget, val_size: int) -> dict[str, Any]:
    """What this run was asked, for pipeline.json and the report's provenance."""
    return {"seed": options.seed, "budget": options.budget, "trials": budget.count, "epochs_cap": budget.epochs_cap,
            "workers": budget.workers, "val_size": val_size, "samples": options.samples,
            "sweep_config": str(options.sweep_config), "board": options.mcu_board.machine,
            "quick_bench": options.quick_bench, "country": options.country}


def _sweep_options(options: PipelineOptions, budget: Budget, val_size: int):
    from lenet_deploy.train import SweepOptions

    return SweepOptions(count=budget.count, workers=budget.workers, epochs_cap=budget.epochs_cap, seed=options.seed,
                        val_size=val_size, wandb=options.wandb, country=options.country,
                        data=str(options.data) if options.data else None, verify=options.verify,
                        device=board_limits(options) if options.board else None)


def _check_same_search(spec, options: PipelineOptions, budget: Budget, where, val_size: int, mnist) -> None:
    """A sweep directory holding another search (seed, cap, config, data, board) is refused, unless --restart."""
    from lenet_deploy.train import sweep_mismatch

    if options.restart:
        return
    mismatch = sweep_mismatch(spec, f"{options.name}-sweep", where["sweep"], _sweep_options(options, budget, val_size),
                              mnist.checksum, "--sweep-config")
    if mismatch:
        raise LenetError(f"{where['sweep']} holds a sweep {mismatch}, choose another --name, or pass --restart to "
                         "start the sweep over")


class Step:
    """One step: its key (None: it always runs), the file that holds its result, how it runs, its key figure."""

    name = ""
    title = ""

    def __init__(self, options: PipelineOptions, budget: Budget, where: dict[str, Path], mnist, val_size: int) -> None:
        self.options, self.budget, self.where, self.mnist, self.val_size = options, budget, where, mnist, val_size

    @property
    def result(self) -> Path:
        raise NotImplementedError

    def key(self) -> dict[str, Any] | None:
        return None

    def run(self) -> str:
        raise NotImplementedError

    def figure(self) -> str:
        raise NotImplementedError


class Original(Step):
    name, title = "original", "original LeNet-5 (the reference architecture)"

    @property
    def result(self) -> Path:
        return self.where["original"] / MANIFEST

    def _config(self):
        from lenet_deploy.train import make_config, preset

        values = preset("original")
        if self.budget.epochs_cap:
            values["epochs"] = min(values["epochs"], self.budget.epochs_cap)
        return make_config(values, "preset original")

    def key(self) -> dict[str, Any]:
        return {"config": self._config().to_dict(), "seed": self.options.seed, "val_size": self.val_size,
                "data": self.mnist.checksum, "country": self.options.country}

    def run(self) -> str:
        from lenet_deploy.train import FitOptions, fit

        fit(self._config(), self.mnist, self.where["original"], f"{self.options.name}-original",
            FitOptions(seed=self.options.seed, val_size=self.val_size, wandb=self.options.wandb,
                       country=self.options.country), force=True)
        return self.figure()

    def figure(self) -> str:
        return _fit_figure(self.where["original"])


class Sweep(Step):
    """Always runs: the sweep resumes its own study (and refuses another search, checked before any step)."""

    name = "sweep"

    def __init__(self, *context, spec) -> None:
        super().__init__(*context)
        self.spec = spec
        workers = self.budget.workers
        self.title = f"sweep ({self.budget.count} trials, {workers} worker{'s' if workers != 1 else ''})"

    @property
    def result(self) -> Path:
        return self.where["sweep"] / "trials.json"

    def run(self) -> str:
        from lenet_deploy.firmware_bench import trial_cost
        from lenet_deploy.train import run_sweep

        stats = run_sweep(self.spec, f"{self.options.name}-sweep", self.where["sweep"],
                          _sweep_options(self.options, self.budget, self.val_size),
                          trial_cost=trial_cost if self.options.board else None, restart=self.options.restart)
        return _sweep_figure(stats, self.spec, self.budget)


class Best(Step):
    name, title = "best", "best trial, retrained on all training images"

    def __init__(self, *context, spec) -> None:
        super().__init__(*context)
        self.spec = spec

    @property
    def result(self) -> Path:
        return self.where["best"] / MANIFEST

    def key(self) -> dict[str, Any]:
        """The sweep's current winner (of this very search) is what the retrain starts from."""
        import json

        from lenet_deploy.train import ranked

        leaders = ranked(json.loads((self.where["sweep"] / "trials.json").read_text()), self.spec)
        return {"sweep": sha256_file(self.where["sweep"] / "sweep.json"),
                "trial": leaders[0]["number"] if leaders else None, "seed": self.options.seed,
                "data": self.mnist.checksum, "country": self.options.country}

    def run(self) -> str:
        from lenet_deploy.train import write_best

        write_best(self.where["sweep"], self.mnist, retrain=True, force=True, wandb=self.options.wandb,
                   country=self.options.country)
        return self.figure()

    def figure(self) -> str:
        manifest = read_record(self.result, RunManifest)
        return f"trial #{manifest.picked['trial']}: {_fit_figure(self.where['best'])}"


class Convert(Step):
    name, title = "convert", "convert to float32 + int8 TFLite and C source"

    @property
    def result(self) -> Path:
        return self.where["build"] / MANIFEST

    def key(self) -> dict[str, Any]:
        return {"model": sha256_file(self.where["best"] / "model.keras"), "seed": self.options.seed,
                "val_size": self.val_size, "data": self.mnist.checksum}

    def run(self) -> str:
        from lenet_deploy.convert import ConvertOptions, convert_model

        convert_model(self.where["best"] / "model.keras",
                      ConvertOptions(name=self.options.name, out=self.where["build"], data=self.options.data,
                                     verify=self.options.verify, val_size=self.val_size, seed=self.options.seed))
        return self.figure()

    def figure(self) -> str:
        return _convert_figure(self.result, self.options.name)


class Bench(Step):
    name, title = "bench", "benchmark Keras vs TFLite vs int8 vs TFLite Micro"

    @property
    def result(self) -> Path:
        return self.where["bench"] / BENCH_REPORT

    def _models(self) -> list[Path]:
        build, name = self.where["build"], self.options.name
        return [self.where["best"] / "model.keras", build / f"{name}_f32.tflite", build / f"{name}_int8.tflite"]

    def key(self) -> dict[str, Any]:
        return {"models": {p.name: sha256_file(p) for p in self._models()}, "samples": self.options.samples,
                "quick_bench": self.options.quick_bench, "invokes": self.budget.invokes, "data": self.mnist.checksum}

    def run(self) -> str:
        return _bench(self.options, self.budget, self.where, self.mnist)

    def figure(self) -> str:
        return _bench_figure(self.where["bench"])


class Mcu(Step):
    name = "mcu"

    def __init__(self, *context) -> None:
        super().__init__(*context)
        board = self.options.mcu_board
        self.title = f"int8 C engine on an emulated {board.cpu} ({board.machine}, QEMU)"

    @property
    def result(self) -> Path:
        return self.where["mcu"] / MCU_REPORT

    def key(self) -> dict[str, Any] | None:
        if missing_tools():
            return None  # it says why it is skipped, every time
        return {"model": sha256_file(self.where["build"] / f"{self.options.name}_int8.tflite"),
                "board": self.options.mcu_board.machine, "samples": self.options.samples,
                "quick_bench": self.options.quick_bench, "data": self.mnist.checksum}

    def run(self) -> str:
        return _mcu(self.options, self.where, self.mnist)

    def figure(self) -> str:
        return _mcu_figure(read_record(self.result, McuReport))


class Report(Step):
    name, title = "report", "report"

    @property
    def result(self) -> Path:
        return self.where["report"] / "report.md"

    def run(self) -> str:
        from lenet_deploy.firmware_bench import write_pipeline_report

        return f"wrote {write_pipeline_report(self.options.name, self.where)}"


def _fit_figure(run: Path) -> str:
    manifest = read_record(run / MANIFEST, RunManifest)
    epochs = f"{manifest.epochs_run} epoch{'s' if manifest.epochs_run != 1 else ''}"
    return (f"test accuracy {manifest.metrics['test_accuracy']:.4f} after {epochs} "
            f"on {manifest.split['train']:,} images")


def _sweep_figure(stats: dict, spec, budget: Budget) -> str:
    """How many trials ended how, the pace, and the leader with its configuration (and whether it was capped)."""
    from lenet_deploy.train import ranked, state_counts

    rows = stats["rows"]
    pace = f"{stats['trials_per_hour']:.0f} trials/hour" if stats["this_run"] else "all kept from an earlier run"
    figure = f"{state_counts(rows)}, {pace}"
    leaders = ranked(rows, spec)
    if not leaders:
        return figure
    top = leaders[0]
    config = " ".join(f"{p.name}={top.get('param_' + p.name)}" for p in spec.params)
    sampled = top.get("param_epochs")
    capped = (f" (epochs capped at {budget.epochs_cap})" if budget.epochs_cap and isinstance(sampled, int)
              and sampled > budget.epochs_cap else "")
    device = (f", int8 {top['int8_val_accuracy']:.4f} at {top['instructions']:,.0f} instructions, flash "
              f"{top['flash_bytes'] / 1024:.1f} KB, RAM {top['ram_bytes'] / 1024:.1f} KB (the most accurate int8 "
              f"model within the limits)" if "feasible" in top else "")
    return (f"{figure}; best: trial #{top['number']}, {spec.metric} {top[spec.metric]:.4f} (validation){device} "
            f"with {config}{capped}")


def _convert_figure(manifest: Path, name: str) -> str:
    int8 = read_record(manifest, ConvertManifest).artifacts[f"{name}_int8"]
    check = int8["check"]
    return (f"int8 model {int8['bytes']:,} B ({int8['size_vs_f32']:.0%} of float32), validation accuracy "
            f"{check['tflite_accuracy']:.4f} ({-check['drop_pp']:+.2f} pp vs Keras), top-1 agreement "
            f"{check['top1_agreement']:.4f}")


def _bench(options, budget, where, mnist) -> str | None:
    from lenet_deploy.firmware_bench import (
        BenchOptions,
        check_variants,
        export_testset,
        run_bench,
        variants_for,
        write_report,
    )

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
    return _bench_figure(where["bench"])


def _bench_figure(bench: Path) -> str:
    from lenet_deploy.firmware_bench import label

    report = read_record(bench / BENCH_REPORT, BenchReport)
    return "p50 latency: " + ", ".join(f"{label(v)} {v['latency_ms']['invoke']['p50']:.3f} ms (test accuracy "
                                       f"{v['metrics']['accuracy']:.4f})" for v in report.variants)


def _mcu(options, where, mnist) -> str:
    """The MCU step needs arm-none-eabi-gcc and qemu-system-arm; without them it is skipped, saying why."""
    missing = missing_tools()
    if missing:
        return f"skipped: {', '.join(missing)} not installed (Debian: gcc-arm-none-eabi libnewlib-arm-none-eabi " \
               "qemu-system-arm)"
    from lenet_deploy.data import to_model_input
    from lenet_deploy.firmware_bench import McuOptions, run_mcu_bench

    images, labels = to_model_input(mnist.x_test[:options.samples]), mnist.y_test[:options.samples]
    mcu_options = McuOptions(board=options.mcu_board, compare_samples=20 if options.quick_bench else 1000)
    report = run_mcu_bench(where["build"] / f"{options.name}_int8.tflite", images, labels,
                           f"MNIST test set, {len(labels)} images", where["mcu"], mcu_options, force=True,
                           say=lambda _: None)
    return _mcu_figure(report)


def _mcu_figure(report) -> str:
    build = report.main_build
    return (f"test accuracy {build['accuracy']:.4f} on {report.cpu}, bit-exact with TFLite Micro on "
            f"{build['bit_exact_vs_tflm']:,} of {build['images']:,} images, "
            f"{build['instructions_per_inference']:,.0f} instructions per inference")
