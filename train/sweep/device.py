"""A device-aware sweep: the board a trial must run on, its limits, and what each trial costs there.

Every trial is converted to int8, its C engine built for the board and run in QEMU: that needs the generator
and the emulator, both above train, so the sweep receives the cost as a function from the command that starts
it (firmware_bench's `trial_cost`; see `run_sweep`). The same is measured before training, on the freshly
initialised model: flash, RAM and instructions follow mostly from the architecture, so a trial over a limit is
recorded with the reason and never trained; a trained trial is measured again (its weights choose some of the
engine's code and paths: `_Objective._measure_trained`), and that is the cost it is ranked and limited by.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lenet_deploy.boards import Board, find_board, require_tools
from lenet_deploy.errors import LenetError


@dataclass(frozen=True)
class DeviceLimits:
    board: Board
    max_flash: int | None = None  # bytes: the engine's code + constants
    max_ram: int | None = None  # bytes: the engine's arena + static data + the stack of one inference
    max_latency_ms: float | None = None  # instructions x the board's CPI / its clock

    def to_dict(self) -> dict[str, Any]:
        """As sweep.json records it: the board by name."""
        return {"board": self.board.machine, "max_flash": self.max_flash, "max_ram": self.max_ram,
                "max_latency_ms": self.max_latency_ms}

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> DeviceLimits:
        return cls(find_board(record["board"]), record.get("max_flash"), record.get("max_ram"),
                   record.get("max_latency_ms"))

    def describe(self) -> str:
        limits = [f"{name} ≤ {value}" for name, value in (
            ("flash", _kb(self.max_flash)), ("RAM", _kb(self.max_ram)),
            ("latency", f"{self.max_latency_ms:g} ms" if self.max_latency_ms is not None else None)) if value]
        return f"{self.board.machine}" + (f" with {', '.join(limits)}" if limits else " (the part's own flash and RAM)")


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


def device_limits(board: Board | None, max_flash: str | None = None, max_ram: str | None = None,
                  max_latency: str | None = None, flag: str = "--board") -> DeviceLimits | None:
    """The limits the command line asks for; None without a board (and then no limit may be given).

    `flag`: the option the user named the board with, for the messages."""
    given = [name for name, value in (("--max-flash", max_flash), ("--max-ram", max_ram),
                                      ("--max-latency", max_latency)) if value is not None]
    if board is None:
        if given:
            raise LenetError(f"{given[0]} needs {flag} BOARD (the board whose costs it limits)")
        return None
    require_tools(f"{flag} {board.machine}")  # before anything is trained
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

