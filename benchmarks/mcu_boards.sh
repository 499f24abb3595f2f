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
print("| board | core | accuracy | bit-exact vs TFLM | instructions / inference | instr / MAC | portable C instr / MAC "
      "| engine flash B | engine RAM + stack B | firmware RAM B (static + heap + stack) | est. latency ms "
      "| est. energy µJ |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for board in sys.argv[1:]:
    path = Path("reports/mcu-boards") / board / "mcu.json"
    if not path.exists():
        log = Path(f"reports/mcu-boards-{board}.log")
        why = log.read_text().strip().splitlines()[-1] if log.exists() else "not run"
        print(f"| {board} | {why} |" + " |" * 10)
        continue
    r = read_record(path, McuReport)
    m, portable = r.main_build, r.variants.get("O2-portable", {})
    print(f"| {board} | {r.cpu} | {m['accuracy']:.4f} | {m['bit_exact_vs_tflm']:,} / {m['images']:,} "
          f"| {m['instructions_per_inference']:,.0f} | {m['instructions_per_mac']:.2f} "
          f"| {portable.get('instructions_per_mac', float('nan')):.2f} | {m['engine_flash_bytes']:,} "
          f"| {r.targets['engine_ram_bytes']:,} | {m['firmware_ram_bytes']:,} | {m['estimated_latency_ms']:.2f} "
          f"| {m['estimated_energy_uj']:,.0f} |")
print()
print("| board | core | instructions / inference | est. cycles / inference | cycles / instruction | est. cycles / MAC "
      "| first conv: instr · cycles / MAC | est. latency ms (clock) |")
print("|---|---|---|---|---|---|---|---|")
for board in sys.argv[1:]:
    path = Path("reports/mcu-boards") / board / "mcu.json"
    if not path.exists() or not read_record(path, McuReport).profile:
        continue
    r = read_record(path, McuReport)
    m, p = r.main_build, r.profile
    first = next(row for row in p["layers"] if row["macs"])
    clock = r.method["latency"].split(" / ")[1].split(" MHz")[0]
    print(f"| {board} | {r.cpu} | {m['instructions_per_inference']:,.0f} | {m['estimated_cycles_per_inference']:,.0f} "
          f"| {p['cycles_per_instruction']:.2f} | {m['estimated_cycles_per_inference'] / r.macs:.2f} "
          f"| {first['instructions_per_mac']:.2f} · {first['cycles_per_mac']:.2f} | {m['estimated_latency_ms']:.2f} "
          f"({clock} MHz) |")
PY
