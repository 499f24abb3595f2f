#!/usr/bin/env bash
# Train each preset on full MNIST over several seeds; print each run and the mean ± std per preset.
# Usage: SEEDS="0 1 2" benchmarks/train_presets.sh [preset ...]   (default: original seed-best lenet-plus)
# Runs land in runs/bench-<preset>-s<seed>/ (replaced). Time is honest only on an otherwise idle machine.
set -euo pipefail
seeds=(${SEEDS:-0 1 2})
presets=(${@:-original seed-best lenet-plus})
for preset in "${presets[@]}"; do
  for seed in "${seeds[@]}"; do
    lenet-train fit --preset "$preset" --seed "$seed" --out "runs/bench-$preset-s$seed" --force --wandb offline
  done
done
python "$(dirname "$0")/preset_summary.py" --seeds "${seeds[*]}" "${presets[@]}"
