"""What a sweep shows while it runs: one live line per trial (a line per epoch when not a terminal)."""

from __future__ import annotations

import sys
import time
from typing import Any


class TrialProgress:
    def __init__(self, count: int, prefix: str = "") -> None:
        self.count = count
        self.prefix = prefix
        self.live = sys.stdout.isatty() and not prefix
        self.durations: list[float] = []
        self.started = time.perf_counter()

    def _eta(self, position: int) -> str:
        if not self.durations:
            return "ETA ?"
        seconds = max(0, self.count - position + 1) * sum(self.durations) / len(self.durations)
        return f"ETA {seconds / 60:.0f} min"

    def _emit(self, text: str, final: bool) -> None:
        line = f"{self.prefix}{text}"
        if self.live:
            sys.stdout.write("\r\033[K" + line + ("\n" if final else ""))
        else:
            sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def epoch(self, number: int, position: int, params: dict[str, Any], epoch: int, epochs: int, metric: str,
              value: float) -> None:
        """`position`: the trial's place in the count, fixed when it started (not the trials finished since)."""
        shown = " ".join(f"{k}={v}" for k, v in params.items())
        self._emit(f"trial {position}/{self.count} (#{number}) {shown} | epoch {epoch}/{epochs} "
                   f"{metric}={value:.4f} | {self._eta(position)}", final=False)

    def skipped(self, number: int, position: int, reason: str) -> None:
        self._emit(f"trial {position}/{self.count} (#{number}) pruned before training: {reason}", final=True)

    def finished(self, number: int, done: int, seconds: float) -> None:
        self.durations.append(seconds)
        self._emit(f"trial #{number} ended after {seconds:.0f} s ({done}/{self.count} finished)", final=True)

    def measured(self, number: int, board: str, cost: dict, reasons: list[str]) -> None:
        if not cost.get("fits") or cost.get("instructions") is None:
            self._emit(f"trial #{number} on {board}: {'; '.join(reasons)}", final=True)
            return
        verdict = "feasible" if not reasons else "infeasible: " + "; ".join(reasons)
        self._emit(f"trial #{number} on {board}: int8 val_accuracy {cost['int8_accuracy']:.4f}, "
                   f"{cost['instructions']:,.0f} instructions ({cost['latency_ms']:.2f} ms), flash "
                   f"{cost['flash_bytes'] / 1024:.1f} KB, RAM {cost['ram_bytes'] / 1024:.1f} KB; {verdict}", final=True)
