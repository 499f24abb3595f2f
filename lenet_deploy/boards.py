"""The Cortex-M boards QEMU emulates here: how to compile for each core, its memory map, and the named part whose
clock and run-mode power turn instruction counts into latency and energy estimates.

Plain data, in the core: the MCU bench builds for these boards, and a device-aware sweep takes its limits from them.
"""

from __future__ import annotations

from dataclasses import dataclass

from lenet_deploy.errors import LenetError


@dataclass(frozen=True)
class QemuBoard:
    """A QEMU machine: how to build for its core and where its memory is."""

    machine: str  # qemu-system-arm -M
    cpu: str
    flags: tuple[str, ...]
    flash_origin: int = 0x00000000  # where QEMU's MPS2 puts the code memory the CPU boots from
    ram_origin: int = 0x20000000
    ram_length: int = 4 << 20
    flash_length: int = 4 << 20
    part: str = ""  # the real part whose memory map this is, where it is one
    dsp: bool = True  # the DSP extension (SMLAD, SXTB16): ARMv7E-M and ARMv8-M mainline with it
    # Latency and energy are estimates for a named part with this core (QEMU models no cycles and no power):
    # its top clock and its datasheet's headline run-mode power per MHz. Both are options of `lenet-bench mcu`.
    clock_mhz: float = 168.0
    uw_per_mhz: float = 785.0
    power_part: str = "STM32F405 (238 µA/MHz in Run mode, 3.3 V)"

    @property
    def fast_path(self) -> str:
        """Which kernels the main build runs: Helium, the DSP extension, or the portable C."""
        return "MVE" if "-mcpu=cortex-m55" in self.flags else "DSP" if self.dsp else "portable C"


M4F = ("-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16")
QEMU_BOARDS = {
    # ARMv6-M: no DSP, no SSAT, no unaligned loads; the micro:bit's nRF51822 has 256 KB flash and 16 KB RAM.
    "microbit": QemuBoard("microbit", "Cortex-M0", ("-mcpu=cortex-m0", "-mfloat-abi=soft"), ram_length=16 << 10,
                          flash_length=256 << 10, part="nRF51822 (BBC micro:bit v1)", dsp=False, clock_mhz=16.0,
                          uw_per_mhz=825.0, power_part="nRF51822 (4.4 mA at 16 MHz from flash, 3 V, DC/DC)"),
    "mps2-an385": QemuBoard("mps2-an385", "Cortex-M3", ("-mcpu=cortex-m3", "-mfloat-abi=soft"), dsp=False,
                            clock_mhz=72.0, uw_per_mhz=1238.0,
                            power_part="STM32F103 (27 mA at 72 MHz, peripherals off, 3.3 V)"),
    "mps2-an386": QemuBoard("mps2-an386", "Cortex-M4F", M4F),
    "mps2-an500": QemuBoard("mps2-an500", "Cortex-M7", ("-mcpu=cortex-m7", "-mfloat-abi=hard", "-mfpu=fpv5-d16"),
                            clock_mhz=216.0, uw_per_mhz=1558.0, power_part="STM32F746 (472 µA/MHz in Run mode, 3.3 V)"),
    # ARMv8-M: the core boots in the Secure state, so code and data use the Secure aliases.
    "mps2-an505": QemuBoard("mps2-an505", "Cortex-M33", ("-mcpu=cortex-m33", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"),
                        flash_origin=0x10000000, ram_origin=0x38000000, ram_length=2 << 20, clock_mhz=110.0,
                        uw_per_mhz=350.0, power_part="STM32L552 (106 µA/MHz in Run mode, 3.3 V)"),
    # Cortex-M55 (Helium): Secure aliases of the ITCM (code) and DTCM (data), 512 KB each. The engine runs its
    # DSP path here; there is no MVE kernel yet.
    "mps3-an547": QemuBoard("mps3-an547", "Cortex-M55", ("-mcpu=cortex-m55", "-mfloat-abi=hard"),
                            flash_origin=0x10000000, flash_length=512 << 10, ram_origin=0x30000000,
                            ram_length=512 << 10, clock_mhz=160.0, uw_per_mhz=350.0,
                            power_part="a placeholder: the STM32L552's 106 µA/MHz at 3.3 V (no Cortex-M55 part's "
                                       "figure is known here; pass --uw-per-mhz)"),
    # A real part's memory map: STM32F405RG, 1 MB flash at 0x08000000, 128 KB SRAM (SRAM1 + SRAM2).
    "netduinoplus2": QemuBoard("netduinoplus2", "Cortex-M4F", M4F, flash_origin=0x08000000, ram_length=128 << 10,
                               flash_length=1 << 20, part="STM32F405RG"),
}

def qemu_board(name: str) -> QemuBoard:
    if name not in QEMU_BOARDS:
        raise LenetError(f"--board {name!r} is not supported (choose from: {', '.join(QEMU_BOARDS)})")
    return QEMU_BOARDS[name]
