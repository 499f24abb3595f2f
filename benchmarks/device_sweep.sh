#!/usr/bin/env bash
# A device-aware sweep and its chosen model, measured the way the README reports it:
#   benchmarks/device_sweep.sh OUT BOARD COUNT [LIMIT FLAGS…]
#   e.g. benchmarks/device_sweep.sh runs/mcu-m4 mps2-an386 40 --max-flash 64KB --max-ram 16KB
#   CONFIG=mcu-refine benchmarks/device_sweep.sh … runs another sweep config (default: mcu)
# 1. the sweep (sweeps/$CONFIG.yaml, 2 workers), timed; 2. the winner retrained on all 60k training images;
# 3. int8 conversion; 4. the int8 engine on the board in QEMU on all 10,000 test images, checked against TFLM.
# Rerunning continues where it stopped (the sweep resumes its study; finished steps are kept).
set -euo pipefail
out=${1:?OUT directory}; board=${2:?BOARD}; count=${3:?COUNT}; shift 3
mkdir -p "$out"
start=$(date +%s)
lenet-train sweep --config "${CONFIG:-mcu}" --board "$board" "$@" --count "$count" \
  --workers 2 --out "$out/sweep" 2>&1 | tee -a "$out/sweep.log"
echo "sweep wall time: $(( $(date +%s) - start )) s" | tee -a "$out/sweep.log"
[ -f "$out/sweep/best/manifest.json" ] || lenet-train best "$out/sweep" --retrain 2>&1 | tee "$out/best.log"
[ -f "$out/build/lenet_int8.tflite" ] || lenet-convert "$out/sweep/best/model.keras" --quantize int8 --out "$out/build" \
  2>&1 | tee "$out/convert.log"
lenet-bench mcu --model "$out/build/lenet_int8.tflite" --board "$board" --samples 10000 --out "$out/mcu" --force \
  2>&1 | tee "$out/mcu.log"
