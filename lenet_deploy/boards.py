"""The Cortex-M boards: how to compile for each core, its memory map, the named part whose clock and run-mode
power turn instruction counts into latency and energy estimates, its serial port, and the tools a run needs.
Most are machines QEMU emulates here; two (Nucleo-F446RE, nRF52840-DK) are real boards QEMU has no model of,
which `lenet-bench firmware` builds for and `lenet-bench mcu --port` runs on.

In the core, so that every command resolves a board name once (`find_board`) and passes the object on: the MCU
bench builds for it, a device-aware sweep takes its limits from it, the pipeline runs its MCU step on it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from lenet_deploy.errors import LenetError

DEFAULT_BOARD = "mps2-an386"  # a Cortex-M4F: where `lenet-bench mcu` and the pipeline's MCU step run by default
# What building for a board and running it in QEMU need, with the Debian packages that hold each tool.
TOOLCHAIN = {"arm-none-eabi-gcc": "gcc-arm-none-eabi libnewlib-arm-none-eabi", "arm-none-eabi-size":
             "binutils-arm-none-eabi", "arm-none-eabi-nm": "binutils-arm-none-eabi", "qemu-system-arm":
             "qemu-system-arm", "cmake": "cmake"}
# The semihosting run and a device sweep (nm: the cycle trace reads the firmware's symbols); the serial project.
QEMU_RUN = ("arm-none-eabi-gcc", "arm-none-eabi-size", "arm-none-eabi-nm", "qemu-system-arm")
SERIAL_BUILD = ("arm-none-eabi-gcc", "arm-none-eabi-size", "cmake")


@dataclass(frozen=True)
class Board:
    """A board: how to build for its core, where its memory is, what its named part's clock and power are, which
    UART the serial firmware talks through."""

    machine: str  # the board's name: qemu-system-arm -M where `qemu`
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
    # The serial firmware (firmware_bench/mcu/serial/): its part file part_<serial_part>.c and the defines that
    # place its UART; which `-serial` of the QEMU machine that UART is (QEMU numbers a machine's UARTs).
    serial_part: str = "mps2"
    serial_defines: tuple[str, ...] = ()
    qemu_serial: int = 0
    qemu: bool = True  # QEMU emulates it; else only `lenet-bench firmware` and `lenet-bench mcu --port DEV`

    @property
    def fast_path(self) -> str:
        """Which kernels the main build runs: Helium, the DSP extension, or the portable C."""
        return "MVE" if "-mcpu=cortex-m55" in self.flags else "DSP" if self.dsp else "portable C"


M4F = ("-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16")
BOARDS = {
    # ARMv6-M: no DSP, no SSAT, no unaligned loads; the micro:bit's nRF51822 has 256 KB flash and 16 KB RAM.
    "microbit": Board("microbit", "Cortex-M0", ("-mcpu=cortex-m0", "-mfloat-abi=soft"), ram_length=16 << 10,
                          flash_length=256 << 10, part="nRF51822 (BBC micro:bit v1)", dsp=False, clock_mhz=16.0,
                          uw_per_mhz=825.0, power_part="nRF51822 (4.4 mA at 16 MHz from flash, 3 V, DC/DC)",
                          serial_part="nrf5"),
    "mps2-an385": Board("mps2-an385", "Cortex-M3", ("-mcpu=cortex-m3", "-mfloat-abi=soft"), dsp=False,
                            clock_mhz=72.0, uw_per_mhz=1238.0,
                            power_part="STM32F103 (27 mA at 72 MHz, peripherals off, 3.3 V)"),
    "mps2-an386": Board("mps2-an386", "Cortex-M4F", M4F),
    "mps2-an500": Board("mps2-an500", "Cortex-M7", ("-mcpu=cortex-m7", "-mfloat-abi=hard", "-mfpu=fpv5-d16"),
                            clock_mhz=216.0, uw_per_mhz=1558.0,
                            power_part="STM32F746 (472 µA/MHz in Run mode, 3.3 V)"),
    # ARMv8-M: the core boots in the Secure state, so code and data use the Secure aliases.
    "mps2-an505": Board("mps2-an505", "Cortex-M33", ("-mcpu=cortex-m33", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"),
                        flash_origin=0x10000000, ram_origin=0x38000000, ram_length=2 << 20, clock_mhz=110.0,
                        uw_per_mhz=350.0, power_part="STM32L552 (106 µA/MHz in Run mode, 3.3 V)",
                        serial_defines=("UART_BASE=0x50200000u",)),
    # Cortex-M55 (Helium): Secure aliases of the ITCM (code) and DTCM (data), 512 KB each. The engine's main
    # build runs its MVE (Helium) kernels here.
    "mps3-an547": Board("mps3-an547", "Cortex-M55", ("-mcpu=cortex-m55", "-mfloat-abi=hard"),
                            flash_origin=0x10000000, flash_length=512 << 10, ram_origin=0x30000000,
                            ram_length=512 << 10, clock_mhz=160.0, uw_per_mhz=350.0,
                            power_part="a placeholder: the STM32L552's 106 µA/MHz at 3.3 V (no Cortex-M55 part's "
                                       "figure is known here; pass --uw-per-mhz)",
                            serial_defines=("UART_BASE=0x59303000u",)),
    # A real part's memory map: STM32F405RG, 1 MB flash at 0x08000000, 128 KB SRAM (SRAM1 + SRAM2). The serial
    # firmware uses USART2, QEMU's second -serial.
    "netduinoplus2": Board("netduinoplus2", "Cortex-M4F", M4F, flash_origin=0x08000000, ram_length=128 << 10,
                               flash_length=1 << 20, part="STM32F405RG", serial_part="stm32f4", qemu_serial=1),
    # Real boards only (no QEMU model): the firmware sets both STM32s to 168 MHz.
    "nucleo-f446re": Board("nucleo-f446re", "Cortex-M4F", M4F, flash_origin=0x08000000, ram_length=128 << 10,
                           flash_length=512 << 10, part="STM32F446RE (Nucleo-F446RE)",
                           power_part="a placeholder: the STM32F405's 238 µA/MHz at 3.3 V (no STM32F446 figure "
                                      "is known here; pass --uw-per-mhz)", serial_part="stm32f4", qemu=False),
    "nrf52840-dk": Board("nrf52840-dk", "Cortex-M4F", M4F, ram_length=256 << 10, flash_length=1 << 20,
                         part="nRF52840 (nRF52840-DK)", clock_mhz=64.0, uw_per_mhz=156.0,
                         power_part="nRF52840 (52 µA/MHz running from flash, DC/DC, 3 V)", serial_part="nrf5",
                         serial_defines=("UART_TX_PIN=6u", "UART_RX_PIN=8u", "PART_CLOCK_HZ=64000000u"),
                         qemu=False),
}
QEMU_BOARDS = {name: board for name, board in BOARDS.items() if board.qemu}



def find_board(name: str, option: str = "--board") -> Board:
    """The board called `name`; `option` is the flag the user typed it with, for the one-line error."""
    if name not in BOARDS:
        raise LenetError(f"{option} {name!r} is not supported (choose from: {', '.join(BOARDS)})")
    return BOARDS[name]


def missing_tools(needs: tuple[str, ...] = QEMU_RUN) -> list[str]:
    """The tools of `needs` (names in TOOLCHAIN) that are not on PATH."""
    return [name for name in needs if shutil.which(name) is None]


def require_tools(why: str, needs: tuple[str, ...] = QEMU_RUN) -> None:
    """Refuse, in one line before any work, what needs the ARM toolchain, QEMU or cmake where they are missing."""
    missing = missing_tools(needs)
    if missing:
        packages = sorted({p for name in missing for p in TOOLCHAIN[name].split()})
        raise LenetError(f"{why} needs {', '.join(missing)} (Debian: {' '.join(packages)})")


def tool_path(name: str) -> str:
    """The path of one tool of TOOLCHAIN, or the one-line error naming its Debian package."""
    found = shutil.which(name)
    if not found:
        raise LenetError(f"{name} not found: install the Debian package {TOOLCHAIN[name].split()[0]}")
    return found
