#!/usr/bin/env bash
# The int8 C engine on every emulated Cortex-M board: bit-exactness with TFLite Micro, instructions, memory, energy.
# Usage: benchmarks/mcu_boards.sh MODEL_int8.tflite [SAMPLES] [BOARD...]
#   SAMPLES default 10000; every board unless named; reports in reports/mcu-boards/<board>/;
#   COMPARE=N images for the extra builds (-Os, portable, flatbuffer; default 1000).
set -euo pipefail
mkdir -p reports
model=$1
samples=${2:-10000}
boards=("${@:3}")
[ ${#boards[@]} -gt 0 ] || boards=(microbit mps2-an385 mps2-an386 mps2-an500 mps2-an505 mps3-an547 netduinoplus2)
for board in "${boards[@]}"; do
  lenet-bench mcu --model "$model" --board "$board" --samples "$samples" --compare-samples "${COMPARE:-1000}" \
                  --out "reports/mcu-boards/$board" --force > "reports/mcu-boards-$board.log" 2>&1 || {
    echo "$board: failed (see reports/mcu-boards-$board.log)"; continue; }
done
python - "${boards[@]}" <<'PY'
import sys
from pathlib import Path
from lenet_deploy.manifests import McuReport, read_record
print("| board | core | bit-exact vs TFLM | instructions / inference | instr / MAC | engine flash B | engine RAM + stack B "
      "| firmware RAM B (static + heap + stack) | est. latency ms | est. energy µJ |")
print("|---|---|---|---|---|---|---|---|---|---|")
for board in sys.argv[1:]:
    path = Path("reports/mcu-boards") / board / "mcu.json"
    if not path.exists():
        print(f"| {board} | failed | | | | | | | | |")
        continue
    r = read_record(path, McuReport)
    m = r.main_build
    print(f"| {board} | {r.cpu} | {m['bit_exact_vs_tflm']:,} / {m['images']:,} | {m['instructions_per_inference']:,.0f} "
          f"| {m['instructions_per_mac']:.2f} | {m['engine_flash_bytes']:,} | {r.targets['engine_ram_bytes']:,} "
          f"| {m['firmware_ram_bytes']:,} | {m['estimated_latency_ms']:.2f} | {m['estimated_energy_uj']:,.0f} |")
PY
