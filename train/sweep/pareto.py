"""A device sweep's trade-off: int8 validation accuracy against instructions per inference on the board.

The front is the feasible trials that no other feasible trial beats on both (as accurate or more with as few
instructions or fewer, and strictly better on one). `pareto.csv` holds the front; `pareto.png` shows every
measured trial, flash as colour, the limits and the chosen trial.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from lenet_deploy.artifacts import write_text_atomic
from lenet_deploy.plots import pyplot, save_png

ACCURACY, COST = "int8_val_accuracy", "instructions"
COLUMNS = ("number", ACCURACY, "val_accuracy", COST, "latency_ms", "flash_bytes", "ram_bytes", "energy_uj", "macs")


def measured(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Trained trials with an int8 accuracy and an instruction count on the board."""
    return [r for r in rows if r["state"] == "COMPLETE" and r.get(ACCURACY) is not None and r.get(COST) is not None]


def choosable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Measured trials within the limits: the only ones `best` may pick or the front may hold."""
    return [r for r in measured(rows) if r.get("feasible") is True]


def pareto_front(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The non-dominated feasible trials, fewest instructions first."""
    feasible = choosable(rows)

    def beats(a: dict, b: dict) -> bool:
        return (a[ACCURACY] >= b[ACCURACY] and a[COST] <= b[COST]
                and (a[ACCURACY] > b[ACCURACY] or a[COST] < b[COST]))

    front = [r for r in feasible if not any(beats(other, r) for other in feasible)]
    return sorted(front, key=lambda r: (r[COST], -r[ACCURACY], r["number"]))


def write_pareto(rows: list[dict[str, Any]], chosen: dict[str, Any] | None, limits: dict[str, Any] | None,
                 out: Path) -> list[dict[str, Any]]:
    """pareto.csv (the front, the chosen trial flagged, with its parameters) and pareto.png; returns the front."""
    front = pareto_front(rows)
    params = sorted({k for r in front for k in r if k.startswith("param_")})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*COLUMNS, "chosen", *params], extrasaction="ignore")
    writer.writeheader()
    for row in front:
        writer.writerow({**row, "chosen": chosen is not None and row["number"] == chosen["number"]})
    write_text_atomic(Path(out) / "pareto.csv", buffer.getvalue())
    if measured(rows):
        pareto_png(rows, front, chosen, limits or {}, Path(out) / "pareto.png")
    return front


def pareto_png(rows, front, chosen, limits: dict[str, Any], path: Path) -> None:
    import matplotlib as mpl

    plt = pyplot()
    points = measured(rows)
    feasible = choosable(points)
    infeasible = [r for r in points if r.get("feasible") is not True]
    fig, ax = plt.subplots(figsize=(8.5, 5.2))
    flash_kb = [r["flash_bytes"] / 1024 for r in points if r.get("flash_bytes")]
    if limits.get("max_flash"):
        flash_kb.append(limits["max_flash"] / 1024)  # the colour scale reaches the limit, which is drawn on it
    norm = mpl.colors.Normalize(min(flash_kb), max(max(flash_kb), min(flash_kb) + 1))
    if feasible:
        ax.scatter([r[COST] for r in feasible], [r[ACCURACY] * 100 for r in feasible], s=45, zorder=3,
                   c=[r["flash_bytes"] / 1024 for r in feasible], cmap="viridis", norm=norm, edgecolors="black",
                   linewidths=0.5, label="feasible trial")
    if infeasible:
        ax.scatter([r[COST] for r in infeasible], [r[ACCURACY] * 100 for r in infeasible], marker="x", s=40,
                   color="grey", zorder=2, label="trained, over a limit")
    if front:
        ax.step([r[COST] for r in front], [r[ACCURACY] * 100 for r in front], where="post", color="tab:blue",
                lw=1.2, zorder=1, label="Pareto front")
    if chosen is not None and chosen.get(COST) is not None:
        ax.scatter([chosen[COST]], [chosen[ACCURACY] * 100], marker="*", s=320, facecolors="none",
                   edgecolors="red", linewidths=1.6, zorder=4, label=f"chosen: trial #{chosen['number']}")
    if limits.get("max_latency_ms") and points[0].get("latency_ms"):
        per_instruction_ms = points[0]["latency_ms"] / points[0][COST]
        ax.axvline(limits["max_latency_ms"] / per_instruction_ms, color="red", ls="--", lw=1,
                   label=f"latency limit {limits['max_latency_ms']:g} ms")
    colorbar = fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap="viridis"), ax=ax, pad=0.02,
                            label="engine flash (KB)")
    if limits.get("max_flash"):
        colorbar.ax.axhline(limits["max_flash"] / 1024, color="red", lw=4)
    ax.xaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _: f"{v / 1e6:g}M"))
    ax.set(xlabel=f"instructions per inference on {limits.get('board', 'the board')} (QEMU)",
           ylabel="int8 validation accuracy (%)")
    ram = f", RAM ≤ {limits['max_ram'] / 1024:g} KB" if limits.get("max_ram") else ""
    flash = f"flash ≤ {limits['max_flash'] / 1024:g} KB (red on the colour bar)" if limits.get("max_flash") else ""
    ax.set_title(f"device sweep: {len(points)} trained trials, {len(front)} on the front\nlimits: "
                 f"{flash or 'the part itself'}{ram}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best", framealpha=0.8)
    save_png(fig, path)
