"""One schema for every manifest and report the stages write: typed records, read and written here only.

A manifest says what made an artifact directory (command, platform, library versions) and what the
stage measured. Stages build a record, `write_record` puts it on disk, `read_record` gives it back
typed; a file from an older layout (a field missing or of another type) is one clear error naming
the field, never a KeyError three calls later. Nested measurements stay plain JSON objects.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import types
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from lenet_deploy.artifacts import library_versions, write_json_atomic
from lenet_deploy.errors import LenetError

MANIFEST = "manifest.json"  # in every artifact directory: runs, builds, MCU reports
METRICS = "metrics.json"  # a run's full metrics (per-class report, confusion matrix)
SWEEP_MANIFEST = "sweep.json"  # a sweep directory's manifest: which study, where it lives
BENCH_REPORT = "bench.json"  # `lenet-bench run`
MCU_REPORT = "mcu.json"  # `lenet-bench mcu`
PIPELINE_MANIFEST = "pipeline.json"  # reports/<name>/: what made each step of `lenet-pipeline`
MAIN_BUILD = "O2"  # the MCU firmware build every summary quotes (-O2, DSP path where the core has it)

R = TypeVar("R")


@dataclass
class Record:
    """What made it: every manifest starts with these."""

    STAGE: ClassVar[str] = ""
    DESCRIBES: ClassVar[str] = "a manifest.json"
    stage: str
    command: str
    platform: dict[str, Any]
    versions: dict[str, str]
    commit: str | None = field(default=None, kw_only=True)  # the git commit of the code, when run from a checkout

    @classmethod
    def new(cls: type[R], **measured: Any) -> R:
        """A record of this run of this process: its command line, platform, library versions and commit."""
        made = {"stage": cls.STAGE, "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                "platform": {"machine": platform.machine(), "system": platform.platform(),
                             "cpu_count": os.cpu_count()},
                "versions": library_versions(), "commit": source_commit()}
        return cls(**{**made, **measured})


def source_commit() -> str | None:
    """'3c8e2e4… (+ uncommitted changes)' when lenet-deploy runs from a git checkout, else None (a wheel)."""
    checkout = Path(__file__).resolve().parent.parent
    if not (checkout / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
        dirty = subprocess.run(["git", "-C", str(checkout), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + (" (+ uncommitted changes)" if dirty.stdout.strip() else "")


@dataclass
class RunManifest(Record):
    """runs/<name>/manifest.json: one fit (or the sweep's best, with what was picked)."""

    STAGE: ClassVar[str] = "train"
    DESCRIBES: ClassVar[str] = "a run's manifest.json"
    name: str
    config: dict[str, Any]
    seed: int
    data: dict[str, Any]
    split: dict[str, Any]
    train_seconds: float
    epochs_run: int
    images_per_s: list[float]
    epoch_seconds: list[float]
    energy: dict[str, Any]
    wandb: dict[str, Any]
    metrics: dict[str, Any]
    files: list[str]
    picked: dict[str, Any] | None = None


@dataclass
class SweepManifest(Record):
    """<sweep>/sweep.json: the study's name, its search space and where it is stored."""

    STAGE: ClassVar[str] = "sweep"
    DESCRIBES: ClassVar[str] = "a sweep.json"
    study: str
    spec: dict[str, Any]
    storage: str
    options: dict[str, Any]


@dataclass
class ConvertManifest(Record):
    """build/<name>/manifest.json: one entry per converted artifact (checks, TFLM, C source)."""

    STAGE: ClassVar[str] = "convert"
    DESCRIBES: ClassVar[str] = "a lenet-convert manifest.json"
    artifacts: dict[str, dict[str, Any]]


@dataclass
class BenchReport(Record):
    """bench.json: every variant's measurements on one machine, and any MCU rows joined to them."""

    STAGE: ClassVar[str] = "bench"
    DESCRIBES: ClassVar[str] = "a bench.json from `lenet-bench run`"
    data: str
    options: dict[str, Any]
    variants: list[dict[str, Any]]
    mcu: list[dict[str, Any]]  # mcu.json records joined by `lenet-bench run --mcu`
    data_sha256: str | None = None  # of the test images and labels every variant read (not of the file)

    def mcu_reports(self) -> list[McuReport]:
        return [parse_record(row, McuReport, f"{BENCH_REPORT}: mcu row") for row in self.mcu]


@dataclass
class McuManifest(Record):
    """The MCU report directory's manifest.json: which model on which board."""

    STAGE: ClassVar[str] = "mcu"
    DESCRIBES: ClassVar[str] = "an MCU report's manifest.json"
    model: str
    model_sha256: str
    board: str
    samples: int
    data: str


@dataclass
class PipelineManifest(Record):
    """reports/<name>/pipeline.json: what this pipeline was asked (seed, budget, data), and for each step the key
    of what made its result and the checksum of the result it left: a rerun keeps a step only when both match."""

    STAGE: ClassVar[str] = "pipeline"
    DESCRIBES: ClassVar[str] = "a lenet-pipeline pipeline.json"
    name: str
    asked: dict[str, Any]  # seed, budget (trials, epoch cap, workers), samples, board, sweep config
    data: dict[str, Any]  # the MNIST it read: source and checksum
    steps: dict[str, dict[str, Any]]  # step -> {"key": {...}, "result_sha256": "…"}


@dataclass
class McuReport:
    """mcu.json: the engine on an emulated Cortex-M, each firmware build against TFLite Micro."""

    DESCRIBES: ClassVar[str] = "an mcu.json from `lenet-bench mcu`"
    model: str
    board: str
    cpu: str
    data: str
    samples: int
    macs: int
    ops: list[str]
    int8_weight_bytes: int
    tflm: dict[str, Any]
    host_engine: dict[str, Any]
    variants: dict[str, dict[str, Any]]
    targets: dict[str, Any]
    method: dict[str, str]
    profile: dict[str, Any] | None = None  # the per-layer profile build: images, bit-exactness, one row per op
    # A run over a serial port (`--port`): the port, "qemu" or "serial", the firmware's clock and counter, and
    # whether every image was answered (`stopped` says why not). None: the semihosting run in QEMU.
    transport: dict[str, Any] | None = None

    @property
    def main_build(self) -> dict[str, Any]:
        return self.variants[MAIN_BUILD]


def write_record(path: Path, record: Any) -> None:
    write_json_atomic(path, asdict(record))


def read_record(path: Path, kind: type[R]) -> R:
    """The record in `path`; a missing file, bad JSON, another stage's file or an old layout is a LenetError."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise LenetError(f"{path}: no such file (is {path.parent} an artifact directory?)") from None
    except IsADirectoryError:
        raise LenetError(f"{path}: is a directory, not a {path.name}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LenetError(f"{path}: not {kind.DESCRIBES} (invalid JSON: {getattr(exc, 'msg', exc)})") from None
    return parse_record(data, kind, str(path))


def parse_record(data: Any, kind: type[R], where: str) -> R:
    def wrong(reason: str) -> LenetError:
        return LenetError(f"{where}: not {kind.DESCRIBES} ({reason})")

    if not isinstance(data, dict):
        raise wrong(f"a JSON {type(data).__name__}, not an object")
    stage = getattr(kind, "STAGE", "")
    if stage and data.get("stage") != stage:
        raise wrong(f"its stage is {data.get('stage')!r}, expected {stage!r}")
    hints = typing.get_type_hints(kind)
    values = {}
    for field in fields(kind):
        if field.name not in data:
            if field.default is not MISSING or field.default_factory is not MISSING:
                continue
            raise wrong(f"field '{field.name}' is missing: written by an older lenet-deploy? rerun the step "
                        "that made it")
        if not _matches(data[field.name], hints[field.name]):
            raise wrong(f"field '{field.name}' is {type(data[field.name]).__name__}, expected "
                        f"{_describe(hints[field.name])}")
        values[field.name] = data[field.name]
    return kind(**values)


def _matches(value: Any, hint: Any) -> bool:
    """A shallow type check: the JSON kind of `value` against the field's annotation."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arm) for arm in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is Any:
        return True
    kind = origin or hint
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _describe(hint: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", int: "an integer", float: "a number"}
    arms = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    return " or ".join("null" if arm is type(None) else names.get(typing.get_origin(arm) or arm, str(arm))
                       for arm in arms)
