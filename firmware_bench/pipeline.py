"""`lenet-pipeline`: the whole job in one command — original LeNet-5, sweep, best, convert, bench, MCU, report.

Each step writes its artifact directory and is skipped when that directory is already complete,
so a rerun after a crash continues where it stopped (the sweep itself resumes its study).
The final report is assembled from the manifests, never from logs.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lenet.artifacts import write_text_atomic
from lenet.errors import LenetError

REPO_SWEEP = Path(__file__).resolve().parents[1] / "sweeps" / "seed.yaml"


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
    sweep_config: Path = REPO_SWEEP
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


def paths(name: str) -> dict[str, Path]:
    return {"original": Path("runs") / f"{name}-original", "sweep": Path("runs") / f"{name}-sweep",
            "best": Path("runs") / f"{name}-sweep" / "best", "build": Path("build") / name,
            "bench": Path("reports") / name / "bench", "mcu": Path("reports") / name / "mcu",
            "report": Path("reports") / name}


def run_pipeline(options: PipelineOptions, say=print) -> Path:
    """Run (or continue) every step; returns the report path."""
    from lenet.data import DEFAULT_VAL_SIZE, load_mnist

    budget = _budget(options)
    if not Path(options.sweep_config).is_file():
        raise LenetError(f"--sweep-config {options.sweep_config}: no such file")
    where = paths(options.name)
    val_size = options.val_size if options.val_size is not None else DEFAULT_VAL_SIZE
    mnist = load_mnist(options.data, verify=options.verify)
    steps = [("original LeNet-5 (the notebook's reference)", lambda: _original(options, budget, where, mnist,
                                                                               val_size)),
             (f"sweep ({budget.count} trials, {budget.workers} workers)", lambda: _sweep(options, budget, where,
                                                                                         val_size)),
             ("best trial, retrained on all training images", lambda: _best(options, where, mnist)),
             ("convert to float32 + int8 TFLite and C source", lambda: _convert(options, where, val_size)),
             ("benchmark Keras vs TFLite vs int8 vs TFLite Micro", lambda: _bench(options, budget, where, mnist)),
             ("int8 C engine on an emulated Cortex-M4 (QEMU)", lambda: _mcu(options, where, mnist)),
             ("report", lambda: write_pipeline_report(options.name, where))]
    for i, (title, step) in enumerate(steps, 1):
        started = time.perf_counter()
        say(f"[{i}/{len(steps)}] {title} …")
        note = step()
        say(f"[{i}/{len(steps)}] {note or 'done'} ({time.perf_counter() - started:.0f} s)")
    return where["report"] / "report.md"


def _done(directory: Path, marker: str = "manifest.json") -> bool:
    return (directory / marker).is_file()


def _original(options, budget, where, mnist, val_size) -> str | None:
    if _done(where["original"]):
        return f"kept {where['original']} from an earlier run"
    from train.config import make_config, preset
    from train.fit import FitOptions, fit

    values = preset("original")
    if budget.epochs_cap:
        values["epochs"] = min(values["epochs"], budget.epochs_cap)
    fit(make_config(values, "preset original"), mnist, where["original"], f"{options.name}-original",
        FitOptions(val_size=val_size, wandb=options.wandb, country=options.country), force=True)
    return None


def _sweep(options, budget, where, val_size) -> str:
    from train.sweep.engine import SweepOptions, run_sweep
    from train.sweep.spec import load_spec

    spec = load_spec(options.sweep_config)
    name = f"{options.name}-sweep"
    sweep_options = SweepOptions(count=budget.count, workers=budget.workers, epochs_cap=budget.epochs_cap,
                                 val_size=val_size, wandb=options.wandb, country=options.country,
                                 data=str(options.data) if options.data else None, verify=options.verify)
    stats = run_sweep(spec, name, where["sweep"], sweep_options)
    return f"{stats['finished']} trials finished, {stats['trials_per_hour']:.0f} trials/hour this run"


def _best(options, where, mnist) -> str | None:
    if _done(where["best"]):
        return f"kept {where['best']} from an earlier run"
    from train.sweep.best import write_best

    write_best(where["sweep"], mnist, retrain=True, force=True, wandb=options.wandb, country=options.country)
    return None


def _convert(options, where, val_size) -> str | None:
    manifest = where["build"] / "manifest.json"
    if manifest.is_file() and f"{options.name}_int8" in json.loads(manifest.read_text()).get("artifacts", {}):
        return f"kept {where['build']} from an earlier run"
    from convert.run import convert_model

    convert_model(where["best"] / "model.keras", "int8", name=options.name, out=where["build"], data=options.data,
                  verify=options.verify, val_size=val_size)
    return None


def _bench(options, budget, where, mnist) -> str | None:
    if _done(where["bench"], "bench.json"):
        return f"kept {where['bench']} from an earlier run"
    from firmware_bench.bench import BenchOptions, run_bench, variants_for
    from firmware_bench.report import write_report
    from firmware_bench.testdata import export_testset
    from lenet.tflite import interpreter_class

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
    return None


def _mcu(options, where, mnist) -> str | None:
    """The MCU step needs arm-none-eabi-gcc and qemu-system-arm; without them it is skipped, saying why."""
    if _done(where["mcu"], "mcu.json"):
        return f"kept {where['mcu']} from an earlier run"
    missing = [tool for tool in ("arm-none-eabi-gcc", "qemu-system-arm") if shutil.which(tool) is None]
    if missing:
        return f"skipped: {', '.join(missing)} not installed (Debian: gcc-arm-none-eabi libnewlib-arm-none-eabi " \
               "qemu-system-arm)"
    from firmware_bench.mcu.bench import McuOptions, run_mcu_bench
    from lenet.data import to_model_input

    images, labels = to_model_input(mnist.x_test[:options.samples]), mnist.y_test[:options.samples]
    mcu_options = McuOptions(compare_samples=20 if options.quick_bench else 1000)
    report = run_mcu_bench(where["build"] / f"{options.name}_int8.tflite", images, labels,
                           f"MNIST test set, {len(labels)} images", where["mcu"], mcu_options, force=True,
                           say=lambda _: None)
    build = report["variants"]["O2"]
    return (f"accuracy {build['accuracy']:.4f}, bit-exact with TFLite Micro on {build['bit_exact_vs_tflm']:,} of "
            f"{build['images']:,}, {build['instructions_per_inference']:,.0f} instructions per inference")


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def write_pipeline_report(name: str, where: dict[str, Path]) -> str:
    """reports/<name>/report.md from the manifests of every step, with its images beside it."""
    from firmware_bench.report import markdown_table, ratios

    out = where["report"]
    out.mkdir(parents=True, exist_ok=True)
    original, best = _read(where["original"] / "manifest.json"), _read(where["best"] / "manifest.json")
    best_metrics = _read(where["best"] / "metrics.json")
    trials = _read(where["sweep"] / "trials.json")
    importance = _read(where["sweep"] / "importance.json")
    convert = _read(where["build"] / "manifest.json")["artifacts"]
    bench = _read(where["bench"] / "bench.json")
    for source, target in ((where["sweep"] / "parallel_coordinates.png", "sweep_parallel_coordinates.png"),
                           (where["sweep"] / "importance.png", "parameter_importance.png"),
                           (where["best"] / "confusion_matrix.png", "best_confusion_matrix.png"),
                           (where["best"] / "training_curves.png", "best_training_curves.png"),
                           (where["original"] / "training_curves.png", "original_training_curves.png")):
        if source.exists():
            shutil.copy2(source, out / target)
    lines = [f"# {name}: LeNet-5 from training to a microcontroller", ""]
    lines += _section_models(original, best)
    lines += _section_sweep(trials, importance, best, out)
    lines += _section_classification(best_metrics)
    lines += _section_energy(original, best, trials)
    lines += _section_deployment(convert, bench, markdown_table, ratios, where)
    lines += _section_mcu(where)
    write_text_atomic(out / "report.md", "\n".join(lines) + "\n")
    return f"wrote {out / 'report.md'}"


def _section_mcu(where: dict[str, Path]) -> list[str]:
    from firmware_bench.report import mcu_markdown

    if not (where["mcu"] / "mcu.json").is_file():
        return ["", "## On an emulated microcontroller", "",
                "Not run: arm-none-eabi-gcc and qemu-system-arm are needed (see README, Set up).", ""]
    mcu = _read(where["mcu"] / "mcu.json")
    targets = mcu["targets"]
    lines = [""] + mcu_markdown({"mcu": [mcu]})
    lines += [f"Engine flash {mcu['variants']['O2']['engine_flash_bytes']:,} B "
              f"(budget {targets['flash_budget_bytes']:,} B), RAM {targets['engine_ram_bytes']:,} B "
              f"(TFLM arena {mcu['tflm']['arena_bytes']:,} B), portable C "
              f"{targets['portable_instructions_per_mac']:.2f} instructions per MAC. "
              f"Full MCU report: [{where['mcu'].name}/report.md]({where['mcu'].name}/report.md)", ""]
    return lines


def _row(label: str, manifest: dict) -> str:
    m = manifest["metrics"]
    return (f"| {label} | {m['test_accuracy']:.4f} | {m['test_precision_weighted']:.4f} | "
            f"{m['test_recall_weighted']:.4f} | {m['test_f1_weighted']:.4f} | {m['params']:,} | {m['macs']:,} |")


def _section_models(original: dict, best: dict) -> list[str]:
    return ["## Original vs best (10k test set, evaluated once)", "",
            "| model | accuracy | precision (w) | recall (w) | F1 (w) | params | MACs |", "|---|---|---|---|---|---|---|",
            _row(f"original LeNet-5 ({original['config']['epochs']} epochs)", original),
            _row(f"sweep best, trial {best['picked']['trial']} (retrained on all 60k)", best), "",
            "Reference notebook: original 0.95, best sweep run 0.9873 (picked on the test set there; "
            "here the pick is on the validation split).", "",
            f"Best config: `{json.dumps(best['config'])}`", "",
            "![original training curves](original_training_curves.png) "
            "![best training curves](best_training_curves.png)", ""]


def _section_sweep(trials: list, importance: dict, best: dict, out: Path) -> list[str]:
    states: dict[str, int] = {}
    for t in trials:
        states[t["state"]] = states.get(t["state"], 0) + 1
    lines = ["## Sweep", "", f"{len(trials)} trials: " + ", ".join(f"{v} {k.lower()}" for k, v in states.items())
             + f"; ranked on {best['picked']['metric']} (validation). Infeasible configs are pruned with the reason.",
             ""]
    if (out / "sweep_parallel_coordinates.png").exists():
        lines += ["![sweep](sweep_parallel_coordinates.png)", ""]
    if importance:
        lines += ["| parameter | importance (random forest) | correlation |", "|---|---|---|"]
        lines += [f"| {k} | {v['importance']:.3f} | {v['correlation']:+.3f} |" for k, v in importance.items()]
        lines += ["", "![parameter importance](parameter_importance.png)", ""]
    return lines


def _section_classification(metrics: dict) -> list[str]:
    test = metrics["test"]
    lines = ["## Classification report (best model, test set)", "",
             "| digit | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    lines += [f"| {d} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1-score']:.4f} | {r['support']} |"
              for d, r in test["per_class"].items()]
    lines += [f"| weighted | {test['precision_weighted']:.4f} | {test['recall_weighted']:.4f} | "
              f"{test['f1_weighted']:.4f} | {test['samples']} |", "",
              f"zero_division={test['zero_division']}", "", "![confusion matrix](best_confusion_matrix.png)", ""]
    return lines


def _section_energy(original: dict, best: dict, trials: list) -> list[str]:
    sweep_kwh = sum(t["energy_kwh"] or 0 for t in trials)
    sweep_co2 = sum(t["co2_kg"] or 0 for t in trials)
    mode = original["energy"]["tracking_mode"]
    rows = [("original fit", original["energy"]["energy_kwh"], original["energy"]["co2_kg"]),
            ("sweep (all trials)", sweep_kwh, sweep_co2),
            ("best retrain", best["energy"]["energy_kwh"], best["energy"]["co2_kg"])]
    lines = ["## Energy and CO2 (CodeCarbon)", "", f"Tracking mode: {mode}; country {original['energy']['country']}.",
             "", "| step | energy, Wh | CO2, g |", "|---|---|---|"]
    lines += [f"| {label} | {kwh * 1000:.3f} | {co2 * 1000:.3f} |" for label, kwh, co2 in rows]
    return lines + [""]


def _section_deployment(convert: dict, bench: dict, markdown_table, ratios, where) -> list[str]:
    lines = ["## Deployment", "", "| artifact | bytes | TFLite acc (val) | drop pp | top-1 agreement | TFLM arena |",
             "|---|---|---|---|---|---|"]
    for entry in convert.values():
        arena = f"{entry['tflm']['arena_bytes']:,} B" if "tflm" in entry else "-"
        lines.append(f"| {entry['file']} | {entry['bytes']:,} | {entry['check']['tflite_accuracy']:.4f} | "
                     f"{entry['check']['drop_pp']:+.2f} | {entry['check']['top1_agreement']:.4f} | {arena} |")
    bench_dir = where["bench"].name
    lines += ["", "### Benchmark on this machine", "", markdown_table(bench), ""]
    lines += [f"- {line}" for line in ratios(bench)]
    lines += ["", f"![latency]({bench_dir}/latency.png) ![accuracy vs size]({bench_dir}/accuracy_vs_size.png)", "",
              f"Full benchmark: [{bench_dir}/report.md]({bench_dir}/report.md)"]
    return lines
