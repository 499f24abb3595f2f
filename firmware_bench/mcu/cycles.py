"""Cycles per inference, estimated from the instructions QEMU executed and the cores' published timings.

QEMU counts instructions, not cycles. A short traced run (`-d in_asm,exec,nochain`) of the per-layer profile build
lists every translated block's instructions and every block executed, in order; each executed instruction is then
charged the cycles its core's technical reference manual gives it (Cortex-M0 TRM table 3-1; Cortex-M3/M4 TRM
"Processor instruction timings"; the M33 and M55 scalar pipelines charged as the M4's; the M7's dual-issue and branch
prediction not modelled: one cycle per instruction). Assumptions, stated in every report: zero memory wait states
(code and data in single-cycle memory, or flash behind an accelerator that hides its wait states); a taken branch
refills the pipeline in 2 cycles (the TRMs' P is 1 to 3); neighbouring loads and stores pipeline (N + 1 cycles for N,
ARMv7-M); a division 7 cycles (2 to 12); on the M55 each Helium (MVE) instruction 2 cycles (two beats), with no
overlap between vector instructions. The op boundaries come from the profile build's trace callback (`after_op`),
whose own instructions are left out, as in the instruction profile.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from lenet_deploy.boards import tool_path
from lenet_deploy.errors import LenetError
from lenet_deploy.firmware_bench.mcu.build import Firmware
from lenet_deploy.firmware_bench.mcu.qemu import qemu_command, write_images

TRACED_IMAGES = 2  # the timing of the ops depends little on the data (the instruction profile shows < 1 %)
ASSUMPTIONS = ("zero wait states; taken branch 1 + 2 refill cycles; neighbouring loads/stores pipelined; division 7 "
               "cycles; M55 Helium 2 cycles per vector instruction; M7 1 cycle per instruction (dual issue and branch "
               "prediction not modelled)")


@dataclass(frozen=True)
class Timing:
    """A core's cycle costs (the parts of its TRM's instruction timing table that the engine's code uses)."""

    load: int = 2  # LDR/STR single
    pipelined: bool = True  # a load/store right after another costs 1 (ARMv7-M; not the M0)
    taken: int = 3  # a taken branch: 1 + refill
    call: int = 3  # BL (the M0: 4)
    multiply_accumulate: int = 1  # MLA/MLS
    divide: int = 7
    vector: int = 0  # MVE instructions (0: none on this core)
    flat: bool = False  # one cycle per instruction (the M7, whose dual issue is not modelled)


TIMINGS = {
    "Cortex-M0": Timing(pipelined=False, call=4, divide=0),
    "Cortex-M3": Timing(multiply_accumulate=2),
    "Cortex-M4F": Timing(),
    "Cortex-M7": Timing(flat=True),
    "Cortex-M33": Timing(),
    "Cortex-M55": Timing(vector=2),
}

_INSTRUCTION = re.compile(r"^0x([0-9a-f]+):\s+([0-9a-f]{4})(?: ([0-9a-f]{4}))?\s+(\S+)\s*(.*)$")
# "Trace 0: <host code> [cs_base/pc/flags/cflags] symbol": the host code address names one translation of a block
# (QEMU may translate one guest address more than once, e.g. M-profile MVE blocks with and without predication).
_EXEC = re.compile(r"^Trace \d+: (\S+) \[[0-9a-f]+/([0-9a-f]+)/[0-9a-f]+/[0-9a-f]+\] (\S+)")
_LOADS_STORES = re.compile(r"^(ldr|str)(b|h|sb|sh|ex|exb|exh)?(\.w|\.n)?$")
_MULTIPLE = re.compile(r"^(ldm|stm|push|pop)")
_BRANCH = re.compile(r"^(b|bl|blx|bx|cbz|cbnz)(eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al)?(\.w|\.n)?$")


UNKNOWN = "?32"  # a 32-bit instruction the disassembler could not name


def _wide(byte_operands: str) -> bool:
    """Whether a `.byte lo, hi` halfword starts a 32-bit Thumb-2 instruction (top 5 bits 0b11101/0b11110/0b11111)."""
    low, high = (int(b, 16) for b in byte_operands.split(",")[:2])
    return (high >> 3) in (0b11101, 0b11110, 0b11111)


def _vector_encoding(byte_operands: str) -> bool:
    """MVE instructions live in the coprocessor encoding space (first halfword 0xEC-0xEF, 0xFC-0xFF)."""
    return int(byte_operands.split(",")[1], 16) in (0xEC, 0xED, 0xEE, 0xEF, 0xFC, 0xFD, 0xFE, 0xFF)


def _registers(operands: str) -> int:
    """Registers in a register list ({r4, r5, lr} or {r4-r7})."""
    inside = operands[operands.find("{") + 1:operands.find("}")]
    count = 0
    for part in filter(None, (p.strip() for p in inside.split(","))):
        if "-" in part:
            low, high = (int(re.sub(r"\D", "", r) or 0) for r in part.split("-"))
            count += high - low + 1
        else:
            count += 1
    return count


def instruction_cycles(mnemonic: str, operands: str, timing: Timing, previous_memory: bool,
                       taken: bool) -> tuple[int, bool]:
    """(cycles, whether it was a single load/store) for one executed instruction."""
    if timing.flat:
        return 1, False
    if mnemonic == UNKNOWN:  # LOB loop ends (le, letp: a taken branch while looping) or MVE the disassembler misses
        if timing.vector and _vector_encoding(operands):
            return timing.vector, False
        return (timing.taken if taken else 1), False
    if timing.vector and ((mnemonic.startswith("v") and "q" in operands) or mnemonic.startswith(("ldc", "stc"))):
        return timing.vector, False  # capstone names MVE loads and stores as coprocessor ldc/stc
    if _LOADS_STORES.match(mnemonic):
        return (1 if timing.pipelined and previous_memory else timing.load), True
    if mnemonic.startswith(("ldrd", "strd")):
        return 3, False
    if _MULTIPLE.match(mnemonic):
        n = _registers(operands)
        return 1 + n + ((timing.taken - 1) if "pc" in operands and mnemonic.startswith(("pop", "ldm")) else 0), False
    branch = _BRANCH.match(mnemonic)
    if branch:
        if mnemonic.startswith("bl"):
            return timing.call, False
        return (timing.taken if taken else 1), False
    if mnemonic.startswith(("mla", "mls")):
        return timing.multiply_accumulate, False
    if mnemonic.startswith(("sdiv", "udiv")):
        return timing.divide, False
    return 1, False


class Trace(NamedTuple):
    """Per op (in trace order), averaged over the traced inferences."""

    cycles: list[float]  # estimated
    instructions: list[int]  # executed

    @property
    def cycles_per_instruction(self) -> float:
        return sum(self.cycles) / max(1, sum(self.instructions))


def estimate_cycles(log: str, timing: Timing) -> Trace:
    """The trace of a QEMU log (`-d in_asm,exec,nochain`) charged `timing`."""
    blocks: dict[str, list[tuple[int, int, str, str]]] = {}  # by host code address
    executed: list[tuple[int, str, str]] = []
    current: list | None = None
    for line in log.splitlines():
        if line.startswith("IN:"):
            current = []
            continue
        found = _INSTRUCTION.match(line)
        if found and current is not None:
            address, low, high, mnemonic, operands = found.groups()
            if current and current[-1][2] == ".byte" and current[-1][1] == 2 and _wide(current[-1][3]):
                # capstone does not know this 32-bit encoding (LOB loops, some MVE): it printed two halfwords
                first = current.pop()
                current.append((first[0], 4, UNKNOWN, first[3]))  # its first halfword says what kind it is
                continue
            current.append((int(address, 16), 4 if high else 2, mnemonic, operands))
            continue
        run = _EXEC.match(line)
        if run:
            host, pc, symbol = run.groups()
            if current:  # a block is translated right before its first execution
                blocks[host] = current
            executed.append((int(pc, 16), symbol, host))
            current = None
    cycles: list[float] = []
    counts: list[int] = []
    op, inferences, inside = 0, 0, False
    for index, (pc, symbol, host) in enumerate(executed):
        if symbol == "lenet_invoke" and not inside:
            inside, op, inferences = True, 0, inferences + 1
        if not inside:
            continue
        if symbol == "main":
            inside = False
            continue
        if symbol.startswith("after_op"):
            if index and not executed[index - 1][1].startswith("after_op"):
                op += 1
            continue
        block = blocks.get(host)
        if block is None or block[0][0] != pc:
            raise LenetError(f"the trace executed a block at 0x{pc:x} it never listed")
        following = executed[index + 1][0] if index + 1 < len(executed) else None
        while len(cycles) <= op:
            cycles.append(0.0)
            counts.append(0)
        memory = False
        for position, (address, size, mnemonic, operands) in enumerate(block):
            last = position == len(block) - 1
            taken = last and following is not None and following != address + size
            cost, memory = instruction_cycles(mnemonic, operands, timing, memory, taken)
            cycles[op] += cost
            counts[op] += 1
    if not inferences:
        raise LenetError("the traced run never entered lenet_invoke")
    return Trace([c / inferences for c in cycles], [round(n / inferences) for n in counts])


def trace_cycles(firmware: Firmware, images: np.ndarray) -> Trace:
    """The first TRACED_IMAGES `images` through `firmware` (a profile build splits the trace per op; a production
    build gives one op) in QEMU with its execution trace, charged the board's core timings. The firmware's
    calibration loop (a million iterations nobody needs traced) is filtered out."""
    low, high = symbol_range(firmware.elf, "known_loop")
    with tempfile.TemporaryDirectory(prefix="lenet-trace-") as workdir:
        work = Path(workdir)
        write_images(work / "images.bin", images[:TRACED_IMAGES])
        result = subprocess.run(
            [*qemu_command(firmware), "-d", "in_asm,exec,nochain", "-dfilter",
             f"0x0..0x{low - 1:x},0x{high:x}..0xffffffff", "-D", str(work / "trace.log")],
            cwd=work, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise LenetError(f"the traced run of {firmware.elf.name} failed (exit status {result.returncode})")
        return estimate_cycles((work / "trace.log").read_text(), TIMINGS[firmware.board.cpu])


def symbol_range(elf: Path, name: str) -> tuple[int, int]:
    """[start, end) of a function in the ELF (arm-none-eabi-nm)."""
    listed = subprocess.run([tool_path("arm-none-eabi-nm"), "-S", str(elf)],
                            capture_output=True, text=True, check=True).stdout
    for line in listed.splitlines():
        fields = line.split()
        if len(fields) == 4 and (fields[3] == name or fields[3].startswith(name + ".")):  # GCC clones: .constprop.0
            start = int(fields[0], 16) & ~1
            return start, start + int(fields[1], 16)
    raise LenetError(f"{Path(elf).name} has no symbol {name}")
