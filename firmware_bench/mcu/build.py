"""Build the benchmark firmware with arm-none-eabi-gcc for one of QEMU's MPS2 boards, and measure its memory.

Flash and RAM come from the linker map, per input object: the engine's own code and constants,
its arena, and everything else (startup, newlib, the benchmark's I/O) reported apart.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from lenet_deploy.errors import LenetError

FIRMWARE_FILES = ("startup.c", "main.c", "link.ld")


class DoesNotFit(LenetError):
    """The firmware overflows the part's flash or RAM (the linker says by how much)."""


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
OPTIMIZATIONS = ("-O2", "-Os")
CFLAGS = ("-mthumb", "-std=c99", "-Wall", "-Wextra", "-Werror", "-ffunction-sections", "-fdata-sections")


@dataclass(frozen=True)
class Firmware:
    elf: Path
    map: Path
    board: str
    optimization: str
    dsp: bool
    with_flatbuffer: bool
    sizes: dict  # from the map: flash/RAM of the engine object and of the whole image
    profile: bool = False  # times every op (the engine's trace callback)


def qemu_board(name: str) -> QemuBoard:
    if name not in QEMU_BOARDS:
        raise LenetError(f"--board {name!r} is not supported (choose from: {', '.join(QEMU_BOARDS)})")
    return QEMU_BOARDS[name]


def tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if not found:
        raise LenetError(f"{name} not found: install the Debian package {package}")
    return found


def write_firmware_sources(out: Path, target: QemuBoard) -> None:
    """startup.c, main.c and link.ld into `out`, the linker script filled with the board's memory map."""
    sources = resources.files("lenet_deploy.firmware_bench.mcu")
    for name in FIRMWARE_FILES:
        text = sources.joinpath(name).read_text()
        if name == "link.ld":
            for key, value in (("FLASH_ORIGIN", f"0x{target.flash_origin:08x}"),
                               ("FLASH_LENGTH", str(target.flash_length)),
                               ("RAM_ORIGIN", f"0x{target.ram_origin:08x}"), ("RAM_LENGTH", str(target.ram_length))):
                text = text.replace(f"@{key}@", value)
        (out / name).write_text(text)


def build_firmware(engine_c: Path, out: Path, board_name: str, optimization: str = "-O2", dsp: bool = True,
                   flatbuffer_c: Path | None = None, profile: bool = False) -> Firmware:
    """Compile startup + benchmark main + the engine (and optionally the .tflite C array) into out/<stem>.elf.

    `profile`: the engine calls back after every op and the firmware times each op (a separate build:
    the production one has no callback)."""
    target = qemu_board(board_name)
    if optimization not in OPTIMIZATIONS:
        raise LenetError(f"optimization {optimization!r}: choose from {', '.join(OPTIMIZATIONS)}")
    gcc = tool("arm-none-eabi-gcc", "gcc-arm-none-eabi")
    out.mkdir(parents=True, exist_ok=True)
    write_firmware_sources(out, target)
    stem = (f"{board_name}{optimization}{'' if dsp else '-nodsp'}{'-flatbuffer' if flatbuffer_c else ''}"
            f"{'-profile' if profile else ''}")
    flags = [*target.flags, *CFLAGS, optimization, f"-I{Path(engine_c).parent}",
             f'-DENGINE_HEADER="{Path(engine_c).with_suffix(".h").name}"']
    if not dsp:
        flags.append("-DLENET_NO_DSP")
    if profile:
        flags += ["-DLENET_TRACE", "-DLENET_PROFILE"]
    objects = []
    units = [(Path(engine_c), "engine"), (out / "startup.c", "startup"), (out / "main.c", "main")]
    if flatbuffer_c is not None:
        flatbuffer_c = Path(flatbuffer_c)
        array = flatbuffer_c.stem
        flags += [f"-I{flatbuffer_c.parent}", "-DWITH_FLATBUFFER", f'-DFLATBUFFER_HEADER="{array}.h"',
                  f"-DFLATBUFFER_ARRAY={array}", f"-DFLATBUFFER_LEN={array}_len"]
        units.append((flatbuffer_c, "flatbuffer"))
    for source, role in units:
        obj = out / f"{stem}.{role}.o"
        _run([gcc, *flags, "-c", str(source), "-o", str(obj)], f"compiling {source.name}")
        objects.append(obj)
    elf, map_file = out / f"{stem}.elf", out / f"{stem}.map"
    linked = subprocess.run([gcc, *target.flags, "-mthumb", optimization, "-nostartfiles", "--specs=rdimon.specs",
                             f"-T{out / 'link.ld'}", "-Wl,--gc-sections", f"-Wl,-Map={map_file}", *map(str, objects),
                             "-o", str(elf)], capture_output=True, text=True)
    if linked.returncode != 0:
        overflow = does_not_fit(linked.stderr, target)
        if overflow:
            raise DoesNotFit(overflow)
        raise LenetError(f"linking the firmware failed: {_first_line(linked)}")
    sizes = map_sizes(map_file.read_text(), engine=f"{stem}.engine.o", flatbuffer=f"{stem}.flatbuffer.o")
    sizes["elf"] = elf_sizes(elf)
    return Firmware(elf, map_file, board_name, optimization, dsp and target.dsp, flatbuffer_c is not None, sizes,
                    profile)


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise LenetError(f"{what} failed: {_first_line(result)}")


def _first_line(result: subprocess.CompletedProcess) -> str:
    return (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[0]


_OVERFLOW = re.compile(r"region `(FLASH|RAM)' overflowed by (\d+) bytes")


def does_not_fit(linker_errors: str, target: QemuBoard) -> str | None:
    """The linker's region overflows as one sentence about the part, or None if it failed otherwise."""
    overflows = dict(_OVERFLOW.findall(linker_errors))
    if not overflows:
        return None
    sizes = {"FLASH": target.flash_length, "RAM": target.ram_length}
    parts = [f"{region.lower() if region == 'FLASH' else region} by {int(over):,} B (it has {sizes[region]:,} B)"
             for region, over in overflows.items()]
    part = f" ({target.part})" if target.part else ""
    return (f"the model does not fit {target.machine}{part}: the firmware overflows its "
            f"{' and its '.join(parts)}; choose a smaller model or a bigger --board")


def elf_sizes(elf: Path) -> dict[str, int]:
    """arm-none-eabi-size (Berkeley): text (code + rodata + vectors), data, bss."""
    result = subprocess.run([tool("arm-none-eabi-size", "binutils-arm-none-eabi"), str(elf)], capture_output=True,
                            text=True, check=True)
    text, data, bss = (int(v) for v in result.stdout.splitlines()[1].split()[:3])
    return {"text": text, "data": data, "bss": bss, "flash": text + data, "static_ram": data + bss}


_INPUT_SECTION = re.compile(r"^ (\.[\w.$]+|COMMON)\s*\n?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+)$", re.MULTILINE)


def map_sizes(map_text: str, **objects: str) -> dict[str, dict[str, int]]:
    """Flash (text + rodata + data's initialiser) and RAM (data + bss) per named object file, from a GNU ld map."""
    start = map_text.find("Linker script and memory map")
    totals = {role: {"code": 0, "rodata": 0, "data": 0, "bss": 0} for role in objects}
    for section, address, size, source in _INPUT_SECTION.findall(map_text[start:]):
        for role, suffix in objects.items():
            if source.endswith(suffix):
                kind = ("code" if section.startswith(".text") else "rodata" if section.startswith(".rodata")
                        else "data" if section.startswith(".data") else "bss" if section.startswith((".bss", "COMMON"))
                        else None)
                if kind:
                    totals[role][kind] += int(size, 16)
    for sizes in totals.values():
        sizes["flash"] = sizes["code"] + sizes["rodata"] + sizes["data"]
        sizes["ram"] = sizes["data"] + sizes["bss"]
    return totals
