"""Build the benchmark firmware with arm-none-eabi-gcc for one of QEMU's MPS2 boards, and measure its memory.

Flash and RAM come from the linker map, per input object: the engine's own code and constants,
its arena, and everything else (startup, newlib, the benchmark's I/O) reported apart.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from lenet_deploy.boards import Board, tool_path
from lenet_deploy.errors import LenetError

FIRMWARE_FILES = ("startup.c", "main.c", "link.ld")


class DoesNotFit(LenetError):
    """The firmware overflows the part's flash or RAM (the linker says by how much)."""


OPTIMIZATIONS = ("-O2", "-Os")
CFLAGS = ("-mthumb", "-std=c99", "-Wall", "-Wextra", "-Werror", "-ffunction-sections", "-fdata-sections")


@dataclass(frozen=True)
class Firmware:
    elf: Path
    map: Path
    board: Board
    optimization: str
    dsp: bool
    with_flatbuffer: bool
    sizes: dict  # from the map: flash/RAM of the engine object and of the whole image
    profile: bool = False  # times every op (the engine's trace callback)


def write_firmware_sources(out: Path, target: Board) -> None:
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


def build_firmware(engine_c: Path, out: Path, target: Board, optimization: str = "-O2", dsp: bool = True,
                   flatbuffer_c: Path | None = None, profile: bool = False) -> Firmware:
    """Compile startup + benchmark main + the engine (and optionally the .tflite C array) into out/<stem>.elf.

    `profile`: the engine calls back after every op and the firmware times each op (a separate build:
    the production one has no callback)."""
    if optimization not in OPTIMIZATIONS:
        raise LenetError(f"optimization {optimization!r}: choose from {', '.join(OPTIMIZATIONS)}")
    gcc = tool_path("arm-none-eabi-gcc")
    out.mkdir(parents=True, exist_ok=True)
    write_firmware_sources(out, target)
    stem = (f"{target.machine}{optimization}{'' if dsp else '-nodsp'}{'-flatbuffer' if flatbuffer_c else ''}"
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
    return Firmware(elf, map_file, target, optimization, dsp and target.dsp, flatbuffer_c is not None, sizes,
                    profile)


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise LenetError(f"{what} failed: {_first_line(result)}")


def _first_line(result: subprocess.CompletedProcess) -> str:
    return (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[0]


_OVERFLOW = re.compile(r"region `(FLASH|RAM)' overflowed by (\d+) bytes")
_NO_HEAP_STACK = "RAM: fewer than 5120 bytes above the static data"  # link.ld's run-time room check


def does_not_fit(linker_errors: str, target: Board) -> str | None:
    """The linker's region overflows as one sentence about the part, or None if it failed otherwise."""
    overflows = dict(_OVERFLOW.findall(linker_errors))
    part = f" ({target.part})" if target.part else ""
    if not overflows and _NO_HEAP_STACK in linker_errors:
        return (f"the model does not fit {target.machine}{part}: its static data leaves less than 5,120 B of the "
                f"{target.ram_length:,} B of RAM for the firmware's heap (4 KB of stdio buffers) and stack; choose a "
                "smaller model or a bigger --board")
    if not overflows:
        return None
    sizes = {"FLASH": target.flash_length, "RAM": target.ram_length}
    parts = [f"{region.lower() if region == 'FLASH' else region} by {int(over):,} B (it has {sizes[region]:,} B)"
             for region, over in overflows.items()]
    return (f"the model does not fit {target.machine}{part}: the firmware overflows its "
            f"{' and its '.join(parts)}; choose a smaller model or a bigger --board")


def elf_sizes(elf: Path) -> dict[str, int]:
    """arm-none-eabi-size (Berkeley): text (code + rodata + vectors), data, bss."""
    result = subprocess.run([tool_path("arm-none-eabi-size"), str(elf)], capture_output=True,
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
