"""What a sweep leaves behind: the trials table, parallel coordinates, parameter importance, the best trial."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from lenet_deploy.artifacts import write_json_atomic, write_text_atomic
from lenet_deploy.plots import pyplot, save_png
from lenet_deploy.train.sweep.spec import SweepSpec


PHASES = ("precheck", "fit", "int8_check")  # where a trial's time goes: the device cost of the untrained
# architecture, training with its per-epoch validation, the trained model's device cost and int8 accuracy


def time_per_phase(rows: list[dict[str, Any]]) -> str:
    """'time per trial (mean): precheck 4 s, fit 95 s, int8 check 6 s', over the trials that ran each phase."""
    parts = []
    for phase in PHASES:
        seconds = [r[f"{phase}_s"] for r in rows if r.get(f"{phase}_s") is not None]
        if seconds:
            parts.append(f"{phase.replace('_', ' ')} {sum(seconds) / len(seconds):.1f} s ({len(seconds)} trials)")
    return "time per trial (mean): " + ", ".join(parts) if parts else ""


def trial_rows(study, spec: SweepSpec) -> list[dict[str, Any]]:
    """One row per trial: params, validation metrics, duration, energy, state and why."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        attrs = trial.user_attrs
        last = attrs.get("last_epoch", {})
        energy = attrs.get("energy", {})
        params = {p.name: p.decode(trial.params[p.name]) for p in spec.params if p.name in trial.params}
        rows.append({
            "number": trial.number,
            "state": trial.state.name,
            spec.metric: trial.value if trial.value is not None else last.get(spec.metric),
            "val_accuracy": last.get("val_accuracy"),
            "val_loss": last.get("val_loss"),
            "epochs_run": int(last["epoch"]) if "epoch" in last else 0,
            "duration_s": attrs.get("duration_s"),
            **{f"{phase}_s": attrs.get(f"{phase}_s") for phase in PHASES},
            "energy_kwh": energy.get("energy_kwh"),
            "co2_kg": energy.get("co2_kg"),
            "energy_mode": energy.get("tracking_mode"),
            "reason": attrs.get("reason", ""),
            "retry_of": trial.system_attrs.get("failed_trial"),
            "host": attrs.get("host"),
            **_device_columns(attrs),
            **{f"param_{k}": v for k, v in params.items()},
        })
    return rows


RETRIED = "re-queued"  # the end of a failed trial's reason when it was retried with the same parameters


def state_counts(rows: list[dict[str, Any]]) -> str:
    """'4 trials finished (3 complete, 1 pruned), 1 failed, 2 attempts interrupted (retried), 2 queued to run
    again': every trial counted once (a retry is a new trial; the attempt it retries stays, failed)."""
    def count(state: str) -> int:
        return sum(r["state"] == state for r in rows)

    retried = sum(r["state"] == "FAIL" and str(r.get("reason", "")).endswith(RETRIED) for r in rows)
    parts = [f"{count('COMPLETE') + count('PRUNED')} trials finished ({count('COMPLETE')} complete, "
             f"{count('PRUNED')} pruned)"]
    for number, what in ((count("FAIL") - retried, "failed"), (retried, "attempts interrupted (retried)"),
                         (count("WAITING"), "queued to run again"), (count("RUNNING"), "running")):
        if number:
            parts.append(f"{number} {what}")
    return ", ".join(parts)


DEVICE_COLUMNS = ("int8_val_accuracy", "instructions", "latency_ms", "flash_bytes", "ram_bytes", "energy_uj", "macs")


def _device_columns(attrs: dict[str, Any]) -> dict[str, Any]:
    """A device sweep's cost of the trial on its board (the trained model's, else the pre-training check's)."""
    if "device" not in attrs:
        return {}
    cost = attrs["device"]
    return {"feasible": attrs.get("feasible"), "int8_val_accuracy": cost.get("int8_accuracy"),
            **{key: cost.get(key) for key in DEVICE_COLUMNS[1:]}}


def device_sweep(rows: list[dict[str, Any]]) -> bool:
    return any("feasible" in row for row in rows)


def ranked(rows: list[dict[str, Any]], spec: SweepSpec) -> list[dict[str, Any]]:
    """Completed trials, best first by the sweep's validation metric.

    A device sweep ranks only the feasible ones, by int8 validation accuracy (what the board will compute);
    a trial never measured there (no feasible verdict) is never ranked."""
    if device_sweep(rows):
        from lenet_deploy.train.sweep.pareto import choosable

        return sorted(choosable(rows), key=lambda r: (-r["int8_val_accuracy"], r["instructions"]))
    complete = [r for r in rows if r["state"] == "COMPLETE" and r[spec.metric] is not None]
    return sorted(complete, key=lambda r: r[spec.metric], reverse=spec.goal == "maximize")


def write_results(study, spec: SweepSpec, out: Path, limits=None) -> list[dict[str, Any]]:
    """trials.json/csv, best_trial.json and the plots; a device sweep (`limits`) also pareto.csv/png."""
    rows = trial_rows(study, spec)
    write_json_atomic(out / "trials.json", rows)
    write_text_atomic(out / "trials.csv", _csv(rows))
    best = ranked(rows, spec)
    write_json_atomic(out / "best_trial.json", best[0] if best else None)
    complete = [r for r in rows if r["state"] == "COMPLETE"]
    importance = parameter_importance(complete, spec)
    write_json_atomic(out / "importance.json", importance)
    if len(complete) >= 2:
        parallel_coordinates_png(complete, spec, out / "parallel_coordinates.png")
    if importance:
        importance_png(importance, spec, out / "importance.png")
    if device_sweep(rows):
        from lenet_deploy.train.sweep.pareto import write_pareto

        write_pareto(rows, best[0] if best else None, limits, out)
    return rows


def _csv(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _encoded(rows: list[dict[str, Any]], spec: SweepSpec) -> dict[str, np.ndarray]:
    """Each parameter as numbers: numeric values as they are, categorical ones as their index in the spec."""
    columns = {}
    for param in spec.params:
        values = [r.get(f"param_{param.name}") for r in rows]
        if param.distribution == "categorical" and not all(isinstance(v, (int, float)) for v in param.values):
            values = [list(param.values).index(v) for v in values]
        columns[param.name] = np.asarray(values, dtype=float)
    return columns


def parameter_importance(rows: list[dict[str, Any]], spec: SweepSpec) -> dict[str, dict[str, float]]:
    """Random-forest importance (as W&B computes it) with the linear correlation beside it."""
    if len(rows) < 3:
        return {}
    from sklearn.ensemble import RandomForestRegressor

    columns = _encoded(rows, spec)
    names = [n for n, c in columns.items() if np.ptp(c) > 0]
    if not names:
        return {}
    x = np.column_stack([columns[n] for n in names])
    y = np.asarray([r[spec.metric] for r in rows], dtype=float)
    forest = RandomForestRegressor(n_estimators=200, random_state=0).fit(x, y)
    result = {}
    for name, importance, column in zip(names, forest.feature_importances_, x.T):
        correlation = float(np.corrcoef(column, y)[0, 1]) if np.ptp(y) > 0 else 0.0
        result[name] = {"importance": float(importance), "correlation": correlation}
    return dict(sorted(result.items(), key=lambda kv: -kv[1]["importance"]))


def _axis(param, values: list[Any]) -> tuple[np.ndarray, list[float], list[str]]:
    """One axis of the plot: each trial's position in [0, 1], the tick positions and their labels.

    Categorical parameters sit at evenly spaced named positions (in the spec's order); numbers on a linear
    scale, or a log scale for log-distributed ones, with every sampled value labelled when there are few.
    """
    if param is not None and param.distribution == "categorical":
        choices = list(param.values)
        if all(isinstance(c, (int, float)) for c in choices):
            choices = sorted(choices)
        keys = [json.dumps(c) for c in choices]
        index = np.array([keys.index(json.dumps(v)) for v in values], dtype=float)
        span = max(len(choices) - 1, 1)
        return index / span, [i / span for i in range(len(choices))], [_short(c) for c in choices]
    log = param is not None and param.distribution == "log_uniform_values"
    numbers = np.asarray(values, dtype=float)
    scaled = np.log10(numbers) if log else numbers
    low, high = float(scaled.min()), float(scaled.max())
    span = high - low or 1.0
    unique = np.unique(numbers)
    ticks = unique if len(unique) <= 6 else (10 ** np.linspace(low, high, 5) if log else np.linspace(low, high, 5))
    where = (np.log10(ticks) if log else ticks) - low
    return (scaled - low) / span, list(where / span), [f"{t:.4g}" for t in ticks]


def _short(value: Any) -> str:
    return "/".join(map(str, value)) if isinstance(value, list) else str(value)


def parallel_coordinates_png(rows: list[dict[str, Any]], spec: SweepSpec, path: Path) -> None:
    """One line per completed trial across the swept parameters, coloured by the validation metric."""
    import matplotlib as mpl

    plt = pyplot()
    params = [p for p in spec.params if all(f"param_{p.name}" in r for r in rows)]
    axes = [(p.name, _axis(p, [r.get(f"param_{p.name}") for r in rows])) for p in params]
    metric = np.asarray([r[spec.metric] for r in rows], dtype=float)
    axes.append((f"{spec.metric}\n(validation)", _axis(None, list(metric))))
    fig, ax = plt.subplots(figsize=(1.7 * len(axes) + 2.5, 4.8))
    norm = mpl.colors.Normalize(metric.min(), metric.max() if np.ptp(metric) else metric.min() + 1e-9)
    cmap = plt.get_cmap("viridis")
    positions = np.column_stack([position for _, (position, _, _) in axes])
    for row, value in sorted(zip(positions, metric), key=lambda pair: pair[1]):  # best drawn last, on top
        ax.plot(range(len(axes)), row, color=cmap(norm(value)), alpha=0.85, lw=1.6)
    for i, (_, (_, ticks, labels)) in enumerate(axes):
        ax.axvline(i, color="grey", lw=0.8)
        for tick, text in zip(ticks, labels):
            ax.plot([i - 0.03, i], [tick, tick], color="grey", lw=0.8)
            ax.text(i - 0.05, tick, text, ha="right", va="center", fontsize=8,
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 0.5})
    ax.set_xticks(range(len(axes)), [name for name, _ in axes], fontsize=9)
    ax.set(yticks=[], xlim=(-0.6, len(axes) - 0.8), ylim=(-0.05, 1.05))
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.02, label=f"{spec.metric} (validation)")
    ax.set_title(f"sweep: hyperparameters vs {spec.metric} ({len(rows)} completed trials)")
    save_png(fig, path)


def importance_png(importance: dict[str, dict[str, float]], spec: SweepSpec, path: Path) -> None:
    plt = pyplot()
    names = list(importance)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 0.5 * len(names) + 1.5), sharey=True)
    left.barh(names, [importance[n]["importance"] for n in names], color="tab:blue")
    left.set(title=f"importance for {spec.metric} (random forest)", xlabel="importance")
    correlations = [importance[n]["correlation"] for n in names]
    right.barh(names, correlations, color=["tab:green" if c >= 0 else "tab:red" for c in correlations])
    right.set(title="linear correlation", xlabel="Pearson r", xlim=(-1, 1), xticks=[-1, -0.5, 0, 0.5, 1])
    left.invert_yaxis()
    save_png(fig, path)
