"""A device-aware sweep: the board a trial must run on, its limits, and what each trial costs there.

Every trial is converted to int8, its C engine built for the board and run in QEMU: `trial_cost` in
`firmware_bench/mcu/cost.py`, the one function this layer takes from above it (DESIGN.md gives train "the
device cost of a trial", which needs the generator and the emulator). The same is measured once before
training, on the freshly initialised model: flash, RAM and instructions follow from the architecture, not the
weights, so a trial over a limit is recorded with the reason and never trained.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from lenet_deploy.errors import LenetError


@dataclass(frozen=True)
class DeviceLimits:
    board: str
    max_flash: int | None = None  # bytes: the engine's code + constants
    max_ram: int | None = None  # bytes: the engine's arena + static data + the stack of one inference
    max_latency_ms: float | None = None  # instructions x the board's CPI / its clock

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        limits = [f"{name} ≤ {value}" for name, value in (
            ("flash", _kb(self.max_flash)), ("RAM", _kb(self.max_ram)),
            ("latency", f"{self.max_latency_ms:g} ms" if self.max_latency_ms is not None else None)) if value]
        return f"{self.board}" + (f" with {', '.join(limits)}" if limits else " (the part's own flash and RAM)")


def _kb(size: int | None) -> str | None:
    return None if size is None else f"{size / 1024:g} KB"


def parse_size(flag: str, text: str) -> int:
    """'64KB', '64 KiB', '1MB', '65536' -> bytes (K = 1024, as microcontroller datasheets count)."""
    import humanfriendly

    try:
        size = humanfriendly.parse_size(str(text), binary=True)
    except humanfriendly.InvalidSize:
        raise LenetError(f"{flag} {text!r}: not a size (write e.g. 64KB, 16 KiB, 1MB or bytes)") from None
    if size <= 0:
        raise LenetError(f"{flag} {text!r}: must be more than 0 bytes")
    return int(size)


def parse_latency_ms(flag: str, text: str) -> float:
    """'5ms', '500us', '0.01s' -> milliseconds. A bare number is refused: 5 what?"""
    import humanfriendly

    if str(text).strip().replace(".", "", 1).isdigit():
        raise LenetError(f"{flag} {text!r}: give a unit (e.g. 5ms, 500us, 0.01s)")
    try:
        seconds = humanfriendly.parse_timespan(str(text))
    except humanfriendly.InvalidTimespan:
        raise LenetError(f"{flag} {text!r}: not a duration (write e.g. 5ms, 500us, 0.01s)") from None
    if seconds <= 0:
        raise LenetError(f"{flag} {text!r}: must be longer than 0")
    return seconds * 1000


def device_limits(board: str | None, max_flash: str | None = None, max_ram: str | None = None,
                  max_latency: str | None = None) -> DeviceLimits | None:
    """The limits the command line asks for; None without --target (and then no limit may be given)."""
    given = [flag for flag, value in (("--max-flash", max_flash), ("--max-ram", max_ram),
                                      ("--max-latency", max_latency)) if value is not None]
    if board is None:
        if given:
            raise LenetError(f"{given[0]} needs --target BOARD (the board whose costs it limits)")
        return None
    import shutil

    from lenet_deploy.boards import qemu_board

    qemu_board(board)  # an unknown board is refused here, before anything is trained
    missing = [tool for tool in ("arm-none-eabi-gcc", "qemu-system-arm") if shutil.which(tool) is None]
    if missing:
        raise LenetError(f"--target needs {' and '.join(missing)} (Debian: gcc-arm-none-eabi "
                         "libnewlib-arm-none-eabi qemu-system-arm)")
    return DeviceLimits(board, parse_size("--max-flash", max_flash) if max_flash is not None else None,
                        parse_size("--max-ram", max_ram) if max_ram is not None else None,
                        parse_latency_ms("--max-latency", max_latency) if max_latency is not None else None)


def violations(cost: dict[str, Any], limits: DeviceLimits) -> list[str]:
    """Why a measured trial cannot be chosen for the device (empty: it can)."""
    if not cost["fits"]:
        return [cost["reason"]]
    reasons = []
    checks = (("engine flash", cost["flash_bytes"], limits.max_flash, "--max-flash", "{:,.0f} B"),
              ("engine RAM", cost["ram_bytes"], limits.max_ram, "--max-ram", "{:,.0f} B"),
              ("estimated latency", cost["latency_ms"], limits.max_latency_ms, "--max-latency", "{:.2f} ms"))
    for what, value, limit, flag, form in checks:
        if limit is not None and value > limit:
            reasons.append(f"{what} {form.format(value)} > {flag} {form.format(limit)}")
    if cost["bit_exact"] < cost["images"]:
        reasons.append(f"the engine differs from TFLite Micro on {cost['images'] - cost['bit_exact']} of "
                       f"{cost['images']} images (an engine bug: please report it)")
    return reasons

