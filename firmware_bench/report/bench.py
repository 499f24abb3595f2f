"""bench.json -> the table a person reads (terminal, CSV, report.md with plots)."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from lenet_deploy.artifacts import write_text_atomic
from lenet_deploy.errors import LenetError
from lenet_deploy.firmware_bench.report.mcu import mcu_markdown, mcu_rows
from lenet_deploy.manifests import BenchReport

COLUMNS = ("variant", "runtime", "status", "size_kb", "load_ms", "accuracy", "precision_w", "recall_w", "f1_w",
           "agree_keras", "p50_ms", "p90_ms", "p99_ms", "min_ms", "p50_e2e_ms", "p50_spread", "throughput_ips",
           "peak_rss_mb", "wh_per_1000", "energy_mode")


def rows(report: BenchReport) -> list[dict[str, Any]]:
    table = []
    for v in report.variants:
        if v["status"] != "ok":
            table.append({"variant": v["name"], "runtime": v["kind"], "status": f"failed: {v['reason']}"})
            continue
        m, lat, energy = v["metrics"], v["latency_ms"], v["energy"]
        table.append({
            "variant": v["name"], "runtime": f"{v['runtime']} {v.get('runtime_version') or ''}".strip(),
            "status": "ok", "size_kb": v["file_bytes"] / 1024, "load_ms": v["load_seconds"] * 1000,
            "accuracy": m["accuracy"], "precision_w": m["precision_weighted"], "recall_w": m["recall_weighted"],
            "f1_w": m["f1_weighted"], "agree_keras": v.get("agreement_with_keras"),
            "p50_ms": lat["invoke"]["p50"], "p90_ms": lat["invoke"]["p90"], "p99_ms": lat["invoke"]["p99"],
            "min_ms": lat["invoke"]["min"], "p50_e2e_ms": lat["end_to_end"]["p50"], "p50_spread": lat["p50_spread"],
            "throughput_ips": v["throughput"]["images_per_s"], "peak_rss_mb": v["peak_rss_mb"],
            "wh_per_1000": energy.get("wh_per_1000"), "energy_mode": energy.get("tracking_mode", energy["status"]),
        })
    return table


def _fmt(value: Any, key: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if key in ("accuracy", "precision_w", "recall_w", "f1_w", "agree_keras"):
        return f"{value:.4f}"
    if key == "p50_spread":
        return f"{value:.1%}"
    if key in ("p50_ms", "p90_ms", "p99_ms", "min_ms", "p50_e2e_ms"):
        return f"{value:.3f}"
    if key == "wh_per_1000":
        return f"{value:.2e}"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def ratios(report: BenchReport) -> list[str]:
    """Keras vs each TFLite variant: p50 latency ratio (> 1: TFLite is faster) and accuracy change."""
    ok = [v for v in report.variants if v["status"] == "ok"]
    keras = next((v for v in ok if v["kind"] == "keras"), None)
    if keras is None:
        return []
    lines = []
    for v in ok:
        if v is keras:
            continue
        speedup = keras["latency_ms"]["invoke"]["p50"] / v["latency_ms"]["invoke"]["p50"]
        change = (v["metrics"]["accuracy"] - keras["metrics"]["accuracy"]) * 100
        lines.append(f"Keras/{v['name']} p50 latency ratio {speedup:.1f}x; accuracy {change:+.2f} pp; "
                     f"size {v['file_bytes'] / 1024:.0f} KB")
    return lines


def how_measured(report: BenchReport) -> str:
    p, o = report.platform, report.options
    return (f"{p['cpu']} ({p['cores']} cores, {p['os']}), Python {p['python']}; batch-1 latency over "
            f"{o['invokes']} invokes after {o['warmup']} warm-up, {o['repeats']} repeats, threads "
            f"{o['threads'] or 'runtime default'}; throughput at batch {o['batch']}; accuracy on "
            f"{_samples(report)} images of {report.data}; "
            f"energy from CodeCarbon over {o['energy_seconds']:.0f} s per variant where it is installed "
            "(mode per row).")


def _samples(report: BenchReport) -> Any:
    return next((v["metrics"]["samples"] for v in report.variants if v["status"] == "ok"), "?")


def print_table(report: BenchReport) -> None:
    from rich.table import Table

    from lenet_deploy.cli import console

    shown = ("variant", "runtime", "size_kb", "accuracy", "agree_keras", "p50_ms", "p99_ms", "p50_e2e_ms",
             "p50_spread", "throughput_ips", "peak_rss_mb", "wh_per_1000")
    table = Table(title="lenet-bench", caption=how_measured(report))
    for key in shown:
        table.add_column(key, justify="right")
    failed = []
    for row in rows(report):
        if row["status"] != "ok":
            table.add_row(row["variant"], "FAILED", *["-"] * (len(shown) - 2))
            failed.append(f"{row['variant']}: {row['status']}")
            continue
        table.add_row(*(_fmt(row.get(k), k) for k in shown))
    out = console()
    out.print(table)
    for line in failed:
        out.print(line, markup=False)
    for line in ratios(report):
        out.print(line)
    for r in mcu_rows(report.mcu_reports()):
        out.print(f"{r['variant']} on {r['runtime']}: accuracy {r['accuracy']:.4f}, {r['instructions']:,.0f} "
                  f"instructions per inference, est. {r['est_latency_ms']:.2f} ms, bit-exact with TFLM on "
                  f"{r['bit_exact_vs_tflm']:,} of {r['images']:,} images")


def write_csv(report: BenchReport, path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows(report))
    write_text_atomic(path, buffer.getvalue())


def markdown_table(report: BenchReport, keys: tuple[str, ...] = COLUMNS[:2] + COLUMNS[3:]) -> str:
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for row in rows(report):
        if row["status"] != "ok":
            lines.append(f"| {row['variant']} | {row['status']} |" + " |" * (len(keys) - 2))
        else:
            lines.append("| " + " | ".join(_fmt(row.get(k), k) for k in keys) + " |")
    return "\n".join(lines)


def write_plots(report: BenchReport, out: Path) -> list[str]:
    """Latency distributions, accuracy vs size, confusion matrices. Skipped where matplotlib is missing."""
    try:
        from lenet_deploy.plots import confusion_matrix_png, pyplot, save_png

        plt = pyplot()
    except ImportError:
        return []
    ok = [v for v in report.variants if v["status"] == "ok"]
    if not ok:
        return []
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(ok) + 1.5))
    ax.boxplot([v["latency_samples_ms"] for v in ok], orientation="horizontal", showfliers=False)
    ax.set_yticks(range(1, len(ok) + 1), [v["name"] for v in ok])
    ax.set(xscale="log", xlabel="batch-1 latency, ms (log)", title="latency distribution (invoke only)")
    save_png(fig, out / "latency.png")
    fig, ax = plt.subplots(figsize=(6, 4))
    for v in ok:
        ax.scatter(v["file_bytes"] / 1024, v["metrics"]["accuracy"] * 100)
        ax.annotate(v["name"], (v["file_bytes"] / 1024, v["metrics"]["accuracy"] * 100), fontsize=7)
    ax.set(xscale="log", xlabel="model file, KB (log)", ylabel="test accuracy, %", title="accuracy vs size")
    save_png(fig, out / "accuracy_vs_size.png")
    names = ["latency.png", "accuracy_vs_size.png"]
    for v in ok:
        name = f"confusion_{v['name'].replace(':', '_')}.png"
        confusion_matrix_png(v["metrics"]["confusion_matrix"], out / name,
                             f"{v['name']}: accuracy {v['metrics']['accuracy']:.4f}")
        names.append(name)
    return names


def write_report(report: BenchReport, out: Path) -> Path:
    """report.md + CSV + plots next to bench.json."""
    write_csv(report, out / "bench.csv")
    plots = write_plots(report, out)
    parts = ["# lenet-bench report", "", f"How measured: {how_measured(report)}", "", markdown_table(report), ""]
    parts += [f"- {line}" for line in ratios(report)] + [""]
    parts += mcu_markdown(report.mcu_reports())
    parts += [f"![{name}]({name})" for name in plots]
    write_text_atomic(out / "report.md", "\n".join(parts) + "\n")
    return out / "report.md"


_COMPARED = (("latency_ms", "invoke", "p50"), ("throughput", "images_per_s"), ("metrics", "accuracy"))


def check_comparable(report: BenchReport, where: str) -> None:
    """Every variant has what compare reads, as positive numbers: a hand-edited or truncated file is one error."""
    for i, v in enumerate(report.variants):
        if not isinstance(v, dict) or not all(isinstance(v.get(k), str) for k in ("name", "kind", "path", "status")):
            raise LenetError(f"{where}: variant {i} lacks its name, kind, path or status")
        if v["status"] != "ok":
            continue
        for keys in _COMPARED:
            value = v
            for key in keys:
                value = value.get(key) if isinstance(value, dict) else None
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or \
                    not math.isfinite(value):
                raise LenetError(f"{where}: variant {v['name']}: {'.'.join(keys)} is {value!r}, expected a "
                                 "positive number")


def compare(a: BenchReport, b: BenchReport) -> list[dict[str, Any]]:
    """Variants present in both reports (matched by model file name), B relative to A."""
    def by_model(report):
        return {Path(v["path"]).name + ":" + v["kind"]: v for v in report.variants if v["status"] == "ok"}

    left, right = by_model(a), by_model(b)
    out = []
    for key in left.keys() & right.keys():
        x, y = left[key], right[key]
        out.append({"variant": key,
                    "p50_a_ms": x["latency_ms"]["invoke"]["p50"], "p50_b_ms": y["latency_ms"]["invoke"]["p50"],
                    "p50_ratio_b_over_a": y["latency_ms"]["invoke"]["p50"] / x["latency_ms"]["invoke"]["p50"],
                    "throughput_ratio_b_over_a": y["throughput"]["images_per_s"] / x["throughput"]["images_per_s"],
                    "accuracy_a": x["metrics"]["accuracy"], "accuracy_b": y["metrics"]["accuracy"]})
    return sorted(out, key=lambda r: r["variant"])
