"""Does a model fit a part (a microcontroller's flash and RAM)?

Flash holds the model and the TFLM runtime; RAM the arena and the runtime's state.

The runtime figures are assumptions, not measurements: a TFLM build with reference kernels for
a handful of ops at -Os on Cortex-M is typically tens of KB of code. They are stated wherever
the table is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

TFLM_RUNTIME_FLASH = 64 * 1024
TFLM_RUNTIME_RAM = 8 * 1024


@dataclass(frozen=True)
class Part:
    name: str
    flash: int
    ram: int


PARTS = (
    Part("Arduino Nano 33 BLE (nRF52840)", 1024 * 1024, 256 * 1024),
    Part("STM32F446RE", 512 * 1024, 128 * 1024),
    Part("Raspberry Pi Pico (RP2040)", 2 * 1024 * 1024, 264 * 1024),
    Part("ESP32", 4 * 1024 * 1024, 520 * 1024),
    Part("STM32F103 'Blue Pill'", 64 * 1024, 20 * 1024),
)


def fits_table(model_bytes: int, arena_bytes: int) -> list[dict]:
    flash_needed = model_bytes + TFLM_RUNTIME_FLASH
    ram_needed = arena_bytes + TFLM_RUNTIME_RAM
    return [{"board": b.name, "flash": b.flash, "ram": b.ram, "flash_needed": flash_needed, "ram_needed": ram_needed,
             "flash_use": flash_needed / b.flash, "ram_use": ram_needed / b.ram,
             "fits": flash_needed <= b.flash and ram_needed <= b.ram} for b in PARTS]
