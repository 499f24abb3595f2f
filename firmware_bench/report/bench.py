"""bench.json -> the table a person reads (terminal, CSV, report.md with plots)."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from lenet_deploy.artifacts import write_text_atomic
from lenet_deploy.errors import LenetError
from lenet_deploy.firmware_bench.bench import MAX_ACCURACY_GAP_PP, MIN_AGREEMENT
from lenet_deploy.firmware_bench.report.mcu import mcu_markdown, mcu_rows, work_per_inference
from lenet_deploy.firmware_bench.report.provenance import made_by
from lenet_deploy.manifests import BenchReport

COLUMNS = ("variant", "runtime", "status", "size_kb", "load_ms", "accuracy", "precision_w", "recall_w", "f1_w",
           "agree_keras", "p50_ms", "p90_ms", "p99_ms", "min_ms", "p50_e2e_ms", "p50_spread", "throughput_ips",
           "peak_rss_mb", "wh_per_1000", "energy_mode")  # bench.csv: every measurement, raw keys
HEADINGS = {"variant": "model · runtime", "size_kb": "size, KB", "load_ms": "load, ms", "accuracy": "test accuracy",
            "precision_w": "precision (w)", "recall_w": "recall (w)", "f1_w": "F1 (w)",
            "agree_keras": "top-1 agreement with Keras", "p50_ms": "p50, ms", "p90_ms": "p90, ms",
            "p99_ms": "p99, ms", "min_ms": "min, ms", "p50_e2e_ms": "p50 incl. (de)quantize, ms",
            "p50_spread": "p50 spread over repeats", "throughput_ips": "images/s (batched)",
            "peak_rss_mb": "peak RSS, MB", "wh_per_1000": "Wh per 1000 images", "energy_mode": "energy: how"}
MAIN = ("variant", "size_kb", "accuracy", "agree_keras", "p50_ms", "p99_ms", "throughput_ips", "peak_rss_mb",
        "wh_per_1000")  # what a person reads first
DETAIL = ("variant", "load_ms", "precision_w", "recall_w", "f1_w", "p90_ms", "min_ms", "p50_e2e_ms", "p50_spread",
          "energy_mode")
RUNTIME_NAMES = {"keras": "Keras", "tflite": "TFLite", "litert": "LiteRT", "tflite-runtime": "tflite-runtime",
                 "tf.lite": "tf.lite", "tflm": "TFLite Micro", "c-engine": "C engine"}


def label(variant: dict[str, Any]) -> str:
    """'lenet_int8.tflite · LiteRT 2.3.0': the file a user passed and what ran it."""
    runtime = variant.get("runtime") or variant["kind"]
    version = variant.get("runtime_version") or ""
    return f"{Path(variant['path']).name} · {RUNTIME_NAMES.get(runtime, runtime)} {version}".strip()


def rows(report: BenchReport) -> list[dict[str, Any]]:
    table = []
    for v in report.variants:
        if v["status"] != "ok":
            table.append({"variant": v["name"], "label": label(v), "runtime": v["kind"],
                          "status": f"failed: {v['reason']}"})
            continue
        m, lat, energy = v["metrics"], v["latency_ms"], v["energy"]
        table.append({
            "variant": v["name"], "label": label(v),
            "runtime": f"{v['runtime']} {v.get('runtime_version') or ''}".strip(),
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


def _cell(row: dict[str, Any], key: str) -> str:
    return row["label"] if key == "variant" else _fmt(row.get(key), key)


def times(ratio: float) -> str:
    """A speed ratio as people say it: '19.5x faster', '2.0x slower', 'as fast as'."""
    if 0.95 <= ratio <= 1.05:
        return "about as fast as"
    factor = ratio if ratio > 1 else 1 / ratio
    digits = 0 if factor >= 100 else 1
    return f"{factor:.{digits}f}x {'faster' if ratio > 1 else 'slower'} than"


def ratios(report: BenchReport) -> list[str]:
    """Each variant against Keras, in words: speed at p50, accuracy change, size."""
    ok = [v for v in report.variants if v["status"] == "ok"]
    keras = next((v for v in ok if v["kind"] == "keras"), None)
    if keras is None:
        return []
    lines = []
    base = keras["latency_ms"]["invoke"]["p50"]
    for v in ok:
        if v is keras:
            continue
        p50 = v["latency_ms"]["invoke"]["p50"]
        change = (v["metrics"]["accuracy"] - keras["metrics"]["accuracy"]) * 100
        lines.append(f"{label(v)} is {times(base / p50)} Keras at p50 ({p50:.3f} vs {base:.3f} ms); "
                     f"test accuracy {change:+.2f} pp; {v['file_bytes'] / 1024:,.0f} KB vs "
                     f"{keras['file_bytes'] / 1024:,.0f} KB")
    return lines


def self_checks(report: BenchReport) -> list[str]:
    """A device run's check of its own answers against the host's (export-data --model), one line per variant."""
    lines = []
    for v in report.variants:
        check = v.get("reference_check")
        if check:
            verdict = "ok" if v["status"] == "ok" else "FAILED"
            lines.append(f"self-check of {label(v)}: top-1 agreement {check['agreement']:.2%} with the host's "
                         f"predictions ({check['host_runtime']}), accuracy {v['metrics']['accuracy']:.4f} vs the "
                         f"host's {check['host_accuracy']:.4f}: {verdict}")
    return lines


def how_measured(report: BenchReport) -> str:
    p, o = report.platform, report.options
    emulated = f", EMULATED: {p['emulation']}" if p.get("emulation") else ""
    return (f"{p['cpu']} ({p['cores']} cores usable{emulated}, {p['os']}), Python {p['python']}; batch-1 latency over "
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

    table = Table(title="lenet-bench", caption=how_measured(report))
    for key in MAIN:
        table.add_column(HEADINGS[key], justify="left" if key == "variant" else "right")
    failed = []
    for row in rows(report):
        if row["status"] != "ok":
            table.add_row(row["label"], "FAILED", *["-"] * (len(MAIN) - 2))
            failed.append(f"{row['label']}: {row['status']}")
            continue
        table.add_row(*(_cell(row, k) for k in MAIN))
    out = console()
    out.print(table)
    for line in failed + self_checks(report):
        out.print(line, markup=False, soft_wrap=True)  # one line each, whatever the width: people grep them
    for line in ratios(report):
        out.print(line)
    for r in mcu_rows(report.mcu_reports()):
        latency = "-" if r["est_latency_ms"] is None else f"{r['est_latency_ms']:.2f}"
        out.print(f"{r['variant']} on {r['runtime']}: accuracy {r['accuracy']:.4f}, {work_per_inference(r)} "
                  f"per inference, est. {latency} ms, bit-exact with TFLM on "
                  f"{r['bit_exact_vs_tflm']:,} of {r['images']:,} images")


def write_csv(report: BenchReport, path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows(report))
    write_text_atomic(path, buffer.getvalue())


def markdown_table(report: BenchReport, keys: tuple[str, ...] = MAIN) -> str:
    lines = ["| " + " | ".join(HEADINGS[k] for k in keys) + " |", "|" + "---|" * len(keys)]
    for row in rows(report):
        if row["status"] != "ok":
            lines.append(f"| {row['label']} | {row['status']} |" + " |" * (len(keys) - 2))
        else:
            lines.append("| " + " | ".join(_cell(row, k) for k in keys) + " |")
    return "\n".join(lines)


def write_plots(report: BenchReport, out: Path) -> list[str]:
    """Latency distributions, accuracy vs size, confusion matrices. Skipped where matplotlib is missing."""
    try:
        from matplotlib.ticker import FuncFormatter

        from lenet_deploy.plots import confusion_matrix_png, pyplot, save_png

        plt = pyplot()
    except ImportError:
        return []
    ok = [v for v in report.variants if v["status"] == "ok"]
    if not ok:
        return []
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(ok) + 1.5))
    ax.boxplot([v["latency_samples_ms"] for v in ok], orientation="horizontal", showfliers=False)
    ax.set_yticks(range(1, len(ok) + 1), [label(v) for v in ok])
    ax.set(xscale="log", xlabel="batch-1 latency, ms (log scale)", title="latency distribution (invoke only)")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))  # 0.01, 0.1, 1 rather than 10^-2
    save_png(fig, out / "latency.png")
    accuracy_vs_size_png(ok, out / "accuracy_vs_size.png")
    names = ["latency.png", "accuracy_vs_size.png"]
    for v in ok:
        name = f"confusion_{v['name'].replace(':', '_')}.png"
        confusion_matrix_png(v["metrics"]["confusion_matrix"], out / name,
                             f"{v['name']}: accuracy {v['metrics']['accuracy']:.4f}")
        names.append(name)
    return names


def accuracy_vs_size_png(ok: list[dict[str, Any]], path: Path) -> None:
    """Each variant at its file size and test accuracy; the y range spans at least 1 pp so that a 0.05 pp
    difference does not look like a cliff; names and numbers in a legend (points this close would overlap)."""
    from lenet_deploy.plots import pyplot, save_png

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    sizes = [v["file_bytes"] / 1024 for v in ok]
    accuracy = [v["metrics"]["accuracy"] * 100 for v in ok]
    for v, x, y, marker in zip(ok, sizes, accuracy, "osD^vP*X"):
        ax.scatter(x, y, s=45, marker=marker, label=f"{label(v)}: {y:.2f} %", alpha=0.8)
    ax.legend(fontsize=8, loc="lower right")
    middle = (max(accuracy) + min(accuracy)) / 2
    half = max(0.5, (max(accuracy) - min(accuracy)) / 2 + 0.1)
    ax.set_ylim(middle - half * 2, middle + half)  # room for the legend below the points
    ax.set_xscale("log")
    ticks = sorted(set(round(x) for x in sizes))
    ax.set_xticks(ticks, [f"{t:,} KB" for t in ticks])
    ax.minorticks_off()
    ax.set_xlim(min(sizes) / 1.6, max(sizes) * 3)
    ax.set(xlabel="model file (log scale)", ylabel="test accuracy, %", title="accuracy vs size")
    ax.grid(alpha=0.3)
    save_png(fig, path)


def write_report(report: BenchReport, out: Path) -> Path:
    """report.md + CSV + plots next to bench.json."""
    write_csv(report, out / "bench.csv")
    plots = write_plots(report, out)
    parts = ["# lenet-bench report", "", f"How measured: {how_measured(report)}", "",
             made_by(report) + (f" Test set sha256 {report.data_sha256}." if report.data_sha256 else ""), "",
             markdown_table(report), ""]
    parts += [f"- {line}" for line in self_checks(report) + ratios(report)] + [""]
    parts += ["Detail (every column, raw keys, in bench.csv):", "", markdown_table(report, DETAIL), ""]
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


def _match_key(variant: dict[str, Any]) -> tuple[str, str]:
    """One model on one kind of runtime: by the model's SHA-256 (by file name in reports that lack it)."""
    return (variant.get("model_sha256") or Path(variant["path"]).name, variant["kind"])


def compare(a: BenchReport, b: BenchReport) -> tuple[list[dict[str, Any]], list[str]]:
    """Variants of the same model in both reports, B relative to A, and the warnings a reader must see:
    another test set, predictions or accuracies that disagree (a runtime giving wrong answers)."""
    left = {_match_key(v): v for v in a.variants if v["status"] == "ok"}
    right = {_match_key(v): v for v in b.variants if v["status"] == "ok"}
    warnings = []
    if a.data_sha256 and b.data_sha256 and a.data_sha256 != b.data_sha256:
        warnings.append(f"the test sets differ (sha256 {a.data_sha256[:12]}… vs {b.data_sha256[:12]}…): accuracies "
                        "are not comparable")
    elif not (a.data_sha256 and b.data_sha256):
        warnings.append("a report does not record its test set's SHA-256 (older lenet-deploy): the test sets are "
                        "not verified to be the same")
    rows = []
    for key in sorted(left.keys() & right.keys(), key=lambda k: left[k]["name"]):
        x, y = left[key], right[key]
        p50_a, p50_b = x["latency_ms"]["invoke"]["p50"], y["latency_ms"]["invoke"]["p50"]
        row = {"variant": Path(x["path"]).name, "runtime_a": label(x).split(" · ", 1)[1],
               "runtime_b": label(y).split(" · ", 1)[1], "p50_a_ms": p50_a, "p50_b_ms": p50_b,
               "p50_ratio_b_over_a": p50_b / p50_a,
               "throughput_ratio_b_over_a": y["throughput"]["images_per_s"] / x["throughput"]["images_per_s"],
               "accuracy_a": x["metrics"]["accuracy"], "accuracy_b": y["metrics"]["accuracy"],
               "agreement": _agreement(x, y)}
        rows.append(row)
        gap = abs(row["accuracy_b"] - row["accuracy_a"]) * 100
        if (row["agreement"] is not None and row["agreement"] < MIN_AGREEMENT) or gap > MAX_ACCURACY_GAP_PP:
            agreement = f"{row['agreement']:.2%}" if row["agreement"] is not None else "unknown"
            warnings.append(f"{row['variant']} ({row['runtime_a']} vs {row['runtime_b']}): top-1 agreement "
                            f"{agreement}, accuracy {row['accuracy_a']:.4f} vs {row['accuracy_b']:.4f}: one runtime "
                            "gives different answers (a CPU feature the runtime mis-detects, or another model build)")
    return rows, warnings


def _agreement(x: dict[str, Any], y: dict[str, Any]) -> float | None:
    """Share of images both runs classify alike (None when the runs saw different numbers of images)."""
    first, second = x.get("predictions") or [], y.get("predictions") or []
    if not first or len(first) != len(second):
        return None
    return sum(p == q for p, q in zip(first, second)) / len(first)
