"""`lenet-pipeline`: the whole job in one command — original LeNet-5, sweep, best, convert, bench, MCU, report.

Each step writes its artifact directory; a rerun keeps a step only when what made its result (options, input
checksums, version: pipeline/lock.py) is unchanged, so a rerun after a crash or an interrupt continues where it
stopped (the sweep resumes its study) and a rerun with other options redoes what they change. The final report is
assembled from the manifests, never from logs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lenet_deploy.boards import BOARDS, DEFAULT_BOARD, Board
from lenet_deploy.errors import LenetError
from lenet_deploy.pipeline.lock import StepLock
from lenet_deploy.pipeline.steps import Bench, Best, Convert, Mcu, Original, Report, Sweep, board_limits, sweep_options
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


def _check_same_search(spec, options: PipelineOptions, budget: Budget, where, val_size: int, mnist) -> None:
    """A sweep directory holding another search (seed, cap, config, data, board) is refused, unless --restart."""
    from lenet_deploy.train import sweep_mismatch

    if options.restart:
        return
    mismatch = sweep_mismatch(spec, f"{options.name}-sweep", where["sweep"], sweep_options(options, budget, val_size),
                              mnist.checksum, "--sweep-config")
    if mismatch:
        raise LenetError(f"{where['sweep']} holds a sweep {mismatch}, choose another --name, or pass --restart to "
                         "start the sweep over")
