"""`lenet-train`: fetch MNIST, fit one config (preset or YAML)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from lenet_deploy.cli import (
    Group,
    board_flag,
    board_option,
    console,
    country_option,
    data_option,
    handle_errors,
    unverified_option,
    wandb_option,
)
from lenet_deploy.data import DEFAULT_VAL_SIZE, cache_dir, load_mnist
from lenet_deploy.energy import check_country
from lenet_deploy.errors import LenetError
from lenet_deploy.train.config import PRESETS, load_yaml, make_config, preset
from lenet_deploy.train.fitting import FitOptions, fit
from lenet_deploy.train.tracking import offline_runs_note


@click.group(cls=Group)
def main() -> None:
    """Train LeNet-5 variants on MNIST, tracked in W&B and CodeCarbon."""


@main.command()
@data_option
@unverified_option
@handle_errors
def data(data: Path | None, unverified: bool) -> None:
    """Fetch and verify MNIST; print where it is."""
    mnist = load_mnist(data, verify=not unverified)
    click.echo(f"MNIST: {len(mnist.y_train)} train + {len(mnist.y_test)} test images from {mnist.source}")
    click.echo(f"verified against pinned SHA-256: {'yes' if mnist.verified else 'no (--unverified)'}")
    click.echo(f"cache directory: {cache_dir()}")


@main.command("fit")
@click.option("--preset", "preset_name", type=click.Choice(list(PRESETS)), help="Start from a preset.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="YAML file of settings.")
@click.option("--epochs", type=int, help="Override the number of epochs.")
@click.option("--batch-size", type=int, help="Override the batch size.")
@click.option("--learn-rate", type=float, help="Override the learning rate.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the split, the shuffling and the weights.")
@click.option("--val-size", type=int, default=DEFAULT_VAL_SIZE, show_default=True,
              help="Validation images held out of the training set (stratified).")
@click.option("--out", type=click.Path(path_type=Path), help="Run directory [default: runs/<name>].")
@click.option("--name", help="Run name [default: the preset or config file name].")
@click.option("--force", is_flag=True, help="Replace an existing run directory.")
@wandb_option
@country_option
@data_option
@unverified_option
@handle_errors
def fit_command(preset_name: str | None, config_path: Path | None, epochs: int | None, batch_size: int | None,
                learn_rate: float | None, seed: int, val_size: int, out: Path | None, name: str | None,
                force: bool, wandb_mode: str, country: str, data: Path | None, unverified: bool) -> None:
    """Fit one LeNet config and write runs/<name>/ (model, metrics, plots, manifest)."""
    if preset_name and config_path:
        raise LenetError("give --preset or --config, not both (a config file may name `preset:`)")
    check_country(country)
    values = preset(preset_name) if preset_name else load_yaml(config_path) if config_path else {}
    overrides = {"epochs": epochs, "batch_size": batch_size, "learn_rate": learn_rate}
    values.update({k: v for k, v in overrides.items() if v is not None})
    where = f"--config {config_path}" if config_path else f"preset {preset_name}" if preset_name else "config"
    config = make_config(values, where)
    if val_size < 0:
        raise LenetError(f"--val-size must be >= 0, got {val_size}")
    name = name or preset_name or (config_path.stem if config_path else "lenet")
    out = out or Path("runs") / name
    started = time.time()
    mnist = load_mnist(data, verify=not unverified)
    click.echo(mnist.summary())
    metrics = fit(config, mnist, out, name, FitOptions(seed=seed, val_size=val_size, wandb=wandb_mode,
                                                       country=country), force=force)
    _print_summary(out, metrics)
    _say_offline_runs(started)


def _say_offline_runs(since: float) -> None:
    note = offline_runs_note(since)
    if note:
        click.echo(note)


def _print_summary(out: Path, metrics: dict) -> None:
    from rich.table import Table

    from lenet_deploy.manifests import MANIFEST, RunManifest, read_record

    manifest = read_record(out / MANIFEST, RunManifest)
    energy = manifest.energy
    table = Table(title=f"{manifest.name} → {out}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    test = metrics["test"]
    if metrics["validation"]:
        table.add_row("validation accuracy", f"{metrics['validation']['accuracy']:.4f}")
    for key in ("accuracy", "precision_weighted", "recall_weighted", "f1_weighted"):
        table.add_row(f"test {key.replace('_', ' ')}", f"{test[key]:.4f}")
    table.add_row("parameters / MACs", f"{metrics['params']:,} / {metrics['macs']:,}")
    table.add_row("train time", f"{manifest.train_seconds:.1f} s "
                                f"({min(manifest.images_per_s):,.0f}-{max(manifest.images_per_s):,.0f} img/s)")
    table.add_row("energy", f"{energy['energy_kwh'] * 1000:.3f} Wh, {energy['co2_kg'] * 1000:.3f} g CO2 "
                            f"({energy['tracking_mode']})")
    table.add_row("W&B", f"{manifest.wandb['mode']} {manifest.wandb.get('dir') or ''}")
    console().print(table)


@main.command()
@click.option("--config", "config_path", required=True, type=click.Path(path_type=Path),
              help="W&B sweep YAML (method, metric, parameters, early_terminate), or an installed one by name: "
                   "seed, mcu, lenet-plus (also sweeps/seed.yaml where no such file is here).")
@click.option("--count", type=int, default=20, show_default=True, help="Finished trials to reach (resumes count).")
@click.option("--workers", type=int, default=1, show_default=True, help="Worker processes on this machine.")
@click.option("--trial-threads", type=int, default=1, show_default=True,
              help="TensorFlow threads per trial. Fixed, not taken from the machine: a trial's numbers depend on "
                   "it, so the same --seed gives the same trials with any --workers on any host.")
@click.option("--storage", help="SQLAlchemy URL of a shared study (e.g. postgresql://u@db/lenet) [default: SQLite "
                                "in the sweep directory].")
@click.option("--backend", type=click.Choice(["local", "wandb"]), default="local", show_default=True,
              help="local: the Optuna sweep driver (no account needed); wandb: W&B's server and agent.")
@click.option("--epochs-cap", type=int, help="Cap every trial's epochs (smoke runs).")
@click.option("--out", type=click.Path(path_type=Path), help="Sweep directory [default: runs/<sweep name>].")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split and of each fit.")
@click.option("--val-size", type=int, default=DEFAULT_VAL_SIZE, show_default=True,
              help="Validation images held out of the training set (what trials are ranked on).")
@click.option("--restart", is_flag=True,
              help="Start the sweep in --out over (its study and trials are deleted), e.g. to change its --seed; "
                   "without it a different search there is refused, and the same one continues.")
@click.option("--heartbeat", type=int, default=20, show_default=True,
              help="Seconds between trial heartbeats; a silent trial is failed and retried after 3 of them.")
@click.option("--max-flash", help="With --board: the engine's flash (code + constants), e.g. 64KB.")
@click.option("--max-ram", help="With --board: the engine's RAM (arena + data + inference stack), e.g. 16KB.")
@click.option("--max-latency", help="With --board: instructions x CPI / the board's clock, e.g. 5ms.")
@wandb_option
@country_option
@data_option
@unverified_option
@board_option("Measure every trial's int8 engine on this board (QEMU) and rank by int8 accuracy among the trials "
              "within the limits.")
@handle_errors
def sweep(config_path: Path, count: int, workers: int, trial_threads: int, storage: str | None, backend: str,
          epochs_cap: int | None, out: Path | None, seed: int, val_size: int, restart: bool, heartbeat: int, board,
          max_flash: str | None, max_ram: str | None, max_latency: str | None, wandb_mode: str,
          country: str, data: Path | None, unverified: bool) -> None:
    """Run (or continue) a sweep; trials are ranked on the validation split."""
    from lenet_deploy.sweeps import resolve_sweep_config
    from lenet_deploy.train.sweep.device import device_limits
    from lenet_deploy.train.sweep.spec import load_spec

    config_path = resolve_sweep_config(config_path)
    spec = load_spec(config_path)
    limits = device_limits(board, max_flash, max_ram, max_latency, flag=board_flag())
    if limits and backend == "wandb":
        raise LenetError(f"{board_flag()} runs with --backend local only (the device measurement lives in our driver)")
    check_country(country)
    name = str(spec.raw.get("name") or config_path.stem)
    out = out or Path("runs") / name
    if backend == "wandb":
        from lenet_deploy.train.sweep.wandb_agent import require_wandb_login, run_wandb_sweep

        require_wandb_login()
        sweep_id = run_wandb_sweep(spec, name, out, load_mnist(data, verify=not unverified), count, epochs_cap,
                                   val_size, seed, country)
        click.echo(f"W&B sweep {sweep_id} ran {count} trials; ranked on W&B's sweep page")
        return
    from lenet_deploy.device_cost import device_cost_function
    from lenet_deploy.train.sweep.driver import SweepOptions, run_sweep
    from lenet_deploy.train.sweep.results import state_counts

    options = SweepOptions(count=count, workers=workers, trial_threads=trial_threads, storage=storage,
                           epochs_cap=epochs_cap, seed=seed,
                           val_size=val_size, wandb=wandb_mode, country=country, heartbeat=heartbeat,
                           data=str(data) if data else None, verify=not unverified,
                           device=limits)
    started = time.time()
    if limits:
        click.echo(f"every trial measured on {limits.describe()}")
    stats = run_sweep(spec, name, out, options, say=click.echo, trial_cost=device_cost_function() if limits else None,
                      restart=restart)
    _print_ranking(stats["rows"], spec, out)
    click.echo(f"{state_counts(stats['rows'])}; {stats['this_run']} finished in this run, "
               f"{stats['seconds'] / 60:.1f} min, {stats['trials_per_hour']:.1f} trials/hour. "
               f"Results: {out}/trials.csv")
    _say_offline_runs(started)


@main.command()
@click.argument("sweep_dir", type=click.Path(path_type=Path))
@click.option("--retrain", is_flag=True, help="Refit the winner on all 60k training images before the test.")
@click.option("--storage", help="The sweep's storage URL, if it holds a password.")
@click.option("--force", is_flag=True, help="Replace an existing best/ directory.")
@wandb_option
@country_option
@data_option
@unverified_option
@handle_errors
def best(sweep_dir: Path, retrain: bool, storage: str | None, force: bool, wandb_mode: str, country: str,
         data: Path | None, unverified: bool) -> None:
    """Pick the sweep's best trial on validation, evaluate it once on the test set, write SWEEP_DIR/best/."""
    from lenet_deploy.train.sweep.best import load_sweep, sweep_device, write_best
    from lenet_deploy.train.sweep.results import device_sweep, write_results

    check_country(country)
    spec, study = load_sweep(sweep_dir, storage)
    rows = write_results(study, spec, sweep_dir, sweep_device(sweep_dir))  # refreshed: pareto.csv/png too
    _print_ranking(rows, spec, sweep_dir, limit=5)
    if device_sweep(rows):
        _print_pareto(rows, spec, sweep_dir)
    started = time.time()
    mnist = load_mnist(data, verify=not unverified)
    click.echo(mnist.summary())
    metrics = write_best(sweep_dir, mnist, retrain, force, storage, wandb_mode, country)
    _print_summary(sweep_dir / "best", metrics)
    _say_offline_runs(started)


def _print_ranking(rows: list[dict], spec, out: Path, limit: int = 20) -> None:
    from rich.table import Table

    from lenet_deploy.train.sweep.results import RETRIED, device_sweep, ranked, time_per_phase

    device = device_sweep(rows)
    what = "feasible trials ranked by int8 accuracy" if device else f"completed trials ranked by {spec.metric}"
    table = Table(title=f"{out}: {what} (validation)")
    params = [p.name for p in spec.params]
    cost_columns = ("int8 acc", "instructions", "ms", "flash KB", "RAM KB") if device else ()
    # A device sweep has many columns of cost: its configuration then shares one column.
    param_columns = ["config"] if device else params
    for column in ("rank", "trial", spec.metric, *cost_columns, "epochs", "seconds", *param_columns):
        table.add_column(column, justify="left" if column == "config" else "right")
    for rank, row in enumerate(ranked(rows, spec)[:limit], 1):
        values = [str(row.get(f"param_{p}")) for p in params]
        shown = [" ".join(f"{p}={v}" for p, v in zip(params, values))] if device else values
        table.add_row(str(rank), str(row["number"]), f"{row[spec.metric]:.4f}", *_cost_cells(row, device),
                      str(row["epochs_run"]), f"{row['duration_s'] or 0:.0f}", *shown)
    console().print(table)
    states = {}
    for row in rows:
        state = ("infeasible" if device and row.get("feasible") is False
                 else "retried" if row["state"] == "FAIL" and row["reason"].endswith(RETRIED) else row["state"].lower())
        states[state] = states.get(state, 0) + 1
    click.echo("trial states: " + ", ".join(f"{k} {v}" for k, v in sorted(states.items())))
    phases = time_per_phase(rows)
    if phases:
        click.echo(phases)


def _cost_cells(row: dict, device: bool) -> tuple[str, ...]:
    if not device:
        return ()
    return (f"{row['int8_val_accuracy']:.4f}", f"{row['instructions']:,.0f}", f"{row['latency_ms']:.2f}",
            f"{row['flash_bytes'] / 1024:.1f}", f"{row['ram_bytes'] / 1024:.1f}")


def _print_pareto(rows: list[dict], spec, sweep_dir: Path) -> None:
    """The device sweep's front: what each step up in accuracy costs on the board."""
    from rich.table import Table

    from lenet_deploy.train.sweep.pareto import pareto_front
    from lenet_deploy.train.sweep.results import ranked

    front = pareto_front(rows)
    chosen = (ranked(rows, spec) or [{}])[0].get("number")
    table = Table(title=f"Pareto front: int8 validation accuracy vs instructions ({sweep_dir}/pareto.png)")
    for column in ("trial", "int8 acc", "instructions", "ms", "flash KB", "RAM KB", "µJ", "chosen"):
        table.add_column(column, justify="right")
    for row in front:
        table.add_row(str(row["number"]), *_cost_cells(row, True), f"{row['energy_uj']:,.0f}",
                      "◀" if row["number"] == chosen else "")
    console().print(table)


if __name__ == "__main__":
    main()
