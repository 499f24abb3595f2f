#!/usr/bin/env bash
# Train presets on full MNIST and print wall time + test metrics from each run's manifest.
# Usage: benchmarks/train_presets.sh [preset ...]   (default: original seed-best lenet-plus)
# Runs land in runs/bench-<preset>/ (replaced with --force). Time is honest only on an otherwise idle machine.
set -euo pipefail
presets=("${@:-original seed-best lenet-plus}")
for preset in ${presets[@]}; do
  lenet-train fit --preset "$preset" --out "runs/bench-$preset" --force --wandb offline
done
python - "${presets[@]}" <<'PY'
import os, sys
from pathlib import Path
from lenet_deploy.manifests import MANIFEST, RunManifest, read_record
print(f"{'preset':12} {'epochs':>6} {'train s':>8} {'img/s':>8} {'test acc':>9} {'prec_w':>7} {'rec_w':>7} {'f1_w':>7} {'Wh':>6}  energy mode")
for preset in " ".join(sys.argv[1:]).split():
    m = read_record(Path(f"runs/bench-{preset}") / MANIFEST, RunManifest)
    s, e = m.metrics, m.energy
    rate = sum(m.images_per_s) / len(m.images_per_s)
    print(f"{preset:12} {m.epochs_run:>6} {m.train_seconds:>8.0f} {rate:>8.0f} {s['test_accuracy']:>9.4f} "
          f"{s['test_precision_weighted']:>7.4f} {s['test_recall_weighted']:>7.4f} {s['test_f1_weighted']:>7.4f} "
          f"{e['energy_kwh'] * 1000:>6.2f}  {e['tracking_mode']}, {os.cpu_count()} cores")
PY
