"""Keras callbacks for a fit: throughput per epoch, W&B logging, and an epoch hook for sweeps.

Imported only inside `fit`, since it needs Keras at import time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import keras

from lenet_deploy.errors import LenetError


class Throughput(keras.callbacks.Callback):
    """Training images per second, per epoch: shows whether the input pipeline keeps up."""

    def __init__(self, images_per_epoch: int) -> None:
        super().__init__()
        self.images_per_epoch = images_per_epoch
        self.per_epoch: list[float] = []
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        elapsed = time.perf_counter() - self._start
        self.seconds.append(elapsed)
        self.per_epoch.append(self.images_per_epoch / elapsed)
        if logs is not None:
            logs["images_per_s"] = self.per_epoch[-1]


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """A NaN or infinite loss ends the fit at that batch with a clear error, before a useless model is written."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch + 1

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise LenetError(f"training diverged: the loss became {float(loss)} in epoch {self._epoch}, batch "
                             f"{batch + 1} (lower the learning rate)")


class WandbEpochLogger(keras.callbacks.Callback):
    def __init__(self, run: Any) -> None:
        super().__init__()
        self.run = run

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.run.log({"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}})


class EpochHook(keras.callbacks.Callback):
    """Calls `hook(epoch, logs)` after each epoch; a sweep uses it to report and prune. `batch_hook()` after each
    batch: a sweep worker stops there when asked to (a safe point, unlike anywhere a signal arrives)."""

    def __init__(self, hook: Callable[[int, dict], None], batch_hook: Callable[[], None] = lambda: None) -> None:
        super().__init__()
        self.hook, self.batch_hook = hook, batch_hook

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.batch_hook()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.hook(epoch + 1, dict(logs or {}))
