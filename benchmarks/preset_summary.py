"""Summarise runs/bench-<preset>-s<seed>/: one row per run, then mean ± sample std per preset."""

import argparse
import os
import statistics
from pathlib import Path

from lenet_deploy.manifests import MANIFEST, RunManifest, read_record

COLUMNS = ("test_accuracy", "test_f1_weighted", "train_s", "images_per_s", "energy_wh")


def row(manifest: RunManifest) -> dict[str, float]:
    metrics = manifest.metrics
    return {"test_accuracy": metrics["test_accuracy"], "test_f1_weighted": metrics["test_f1_weighted"],
            "train_s": manifest.train_seconds,
            "images_per_s": sum(manifest.images_per_s) / len(manifest.images_per_s),
            "energy_wh": manifest.energy["energy_kwh"] * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", default="0 1 2")
    parser.add_argument("--runs", default="runs")
    parser.add_argument("presets", nargs="+")
    args = parser.parse_args()
    print(f"{'preset':12} {'seed':>4} {'epochs':>6} " + " ".join(f"{c:>16}" for c in COLUMNS))
    summary = []
    for preset in args.presets:
        rows = []
        for seed in args.seeds.split():
            manifest = read_record(Path(args.runs) / f"bench-{preset}-s{seed}" / MANIFEST, RunManifest)
            rows.append(row(manifest))
            print(f"{preset:12} {seed:>4} {manifest.epochs_run:>6} "
                  + " ".join(f"{rows[-1][c]:>16.4f}" for c in COLUMNS))
        summary.append((preset, len(rows), {c: [r[c] for r in rows] for c in COLUMNS}))
    print(f"\nmean ± sample std over seeds {args.seeds} ({os.cpu_count()} cores; energy: CodeCarbon's mode per run)")
    for preset, n, values in summary:
        cells = [f"{statistics.mean(v):.4f} ± {statistics.stdev(v) if n > 1 else 0:.4f}" for v in values.values()]
        print(f"{preset:12} n={n} " + " | ".join(f"{c}: {cell}" for c, cell in zip(COLUMNS, cells)))


if __name__ == "__main__":
    main()
