"""`lenet-pipeline`: the whole job in one command; the orchestration itself is in `run`."""

from __future__ import annotations

from pathlib import Path

import click

from lenet_deploy.boards import DEFAULT_BOARD
from lenet_deploy.cli import (
    Command,
    board_flag,
    board_option,
    country_option,
    data_option,
    handle_errors,
    unverified_option,
    wandb_option,
)
from lenet_deploy.pipeline.run import BUDGETS


@click.command(cls=Command)
@click.option("--name", default="lenet", show_default=True, help="Names runs/<name>-*, build/<name>, reports/<name>.")
@click.option("--budget", type=click.Choice(list(BUDGETS)), default="default", show_default=True,
              help="default: ≤ 15 min on 2 cores, 10 trials ≤ 8 epochs; full: 20 trials, full epochs.")
@click.option("--sweep-config", type=click.Path(path_type=Path),
              help="W&B sweep YAML, or an installed one by name: seed, mcu, lenet-plus [default: seed; mcu with "
                   "--board].")
@click.option("--count", type=int, help="Override the budget's sweep trials.")
@click.option("--workers", type=int, help="Override the budget's sweep workers (2); the trials tried are the same.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of every split and fit and of the sweep's draws: the same seed picks the same winner.")
@click.option("--epochs-cap", type=int, help="Override the budget's epoch cap.")
@click.option("--samples", type=int, help="Benchmark on the first N test images [default: all 10,000].")
@click.option("--val-size", type=int, help="Validation images [default: 6000].")
@wandb_option
@country_option
@data_option
@unverified_option
@click.option("--quick-bench", is_flag=True, help="Few latency invokes and no energy loop (smoke runs).")
@click.option("--restart", is_flag=True,
              help="Start the sweep over when runs/<name>-sweep holds another search (another --seed, --epochs-cap, "
                   "config, data or board); without it that is refused.")
@board_option("Choose the model for this board: the sweep (sweeps/mcu.yaml unless --sweep-config) measures every "
              f"trial there and keeps to its flash and RAM; the MCU step runs on it [default: {DEFAULT_BOARD}, "
              "after a sweep on accuracy alone].")
@handle_errors
def main(name: str, budget: str, sweep_config: Path | None, count: int | None, workers: int | None, seed: int,
         epochs_cap: int | None,
         samples: int | None, val_size: int | None, wandb_mode: str, country: str, data: Path | None,
         unverified: bool, quick_bench: bool, restart: bool, board) -> None:
    """Original LeNet-5 → sweep → best → convert → bench → MCU → reports/<name>/report.md.

    A rerun keeps each step whose result was made from the same options and inputs, and reruns the others, saying
    what changed (reports/<name>/pipeline.json records what made each step).

    \b
    1. original LeNet-5 (runs/<name>-original)
    2. sweep (runs/<name>-sweep)
    3. best trial retrained on all training images (runs/<name>-sweep/best)
    4. convert to float32 + int8 TFLite and C source (build/<name>)
    5. benchmark Keras vs TFLite vs int8 vs TFLite Micro (reports/<name>/bench)
    6. the int8 C engine on an emulated Cortex-M4 or the --board (reports/<name>/mcu; skipped, saying
       why, without arm-none-eabi-gcc and qemu-system-arm)
    7. the report (reports/<name>/report.md)
    """
    from lenet_deploy.pipeline.run import DEFAULT_SWEEP, DEVICE_SWEEP, PipelineOptions, run_pipeline

    default_sweep = DEVICE_SWEEP if board else DEFAULT_SWEEP
    options = PipelineOptions(name=name, budget=budget, sweep_config=sweep_config or default_sweep, count=count,
                              epochs_cap=epochs_cap, data=data, verify=not unverified, val_size=val_size,
                              samples=samples, wandb=wandb_mode, country=country, quick_bench=quick_bench,
                              seed=seed, workers=workers, restart=restart, board=board,
                              board_flag=board_flag())
    report = run_pipeline(options, say=click.echo)
    click.echo(f"report: {report}")


if __name__ == "__main__":
    main()
