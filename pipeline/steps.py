"""The pipeline's steps: for each, its key (what decides its result), the file that holds the result, how it runs
and the figure it ends with. `run.py` orders them; `lock.py` decides which a rerun may keep.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lenet_deploy.artifacts import sha256_file
from lenet_deploy.boards import missing_tools, require_tools
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

if TYPE_CHECKING:
    from lenet_deploy.pipeline.run import Budget, PipelineOptions


def board_limits(options: PipelineOptions):
    """The board's own flash and RAM as the device sweep's limits (the micro:bit: 256 KB and 16 KB)."""
    from lenet_deploy.train import DeviceLimits

    require_tools(f"{options.board_flag} {options.board.machine}")
    return DeviceLimits(options.board, max_flash=options.board.flash_length, max_ram=options.board.ram_length)


def sweep_options(options: PipelineOptions, budget: Budget, val_size: int):
    from lenet_deploy.train import SweepOptions

    return SweepOptions(count=budget.count, workers=budget.workers, epochs_cap=budget.epochs_cap, seed=options.seed,
                        val_size=val_size, wandb=options.wandb, country=options.country,
                        data=str(options.data) if options.data else None, verify=options.verify,
                        device=board_limits(options) if options.board else None)


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
                          sweep_options(self.options, self.budget, self.val_size),
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


def _bench(options, budget, where, mnist) -> str:
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
