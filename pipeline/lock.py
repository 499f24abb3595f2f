"""What made each step's result, and whether a rerun may keep it (as DVC's lock file does for a stage).

A step's key holds what decides its result: the options that change it, the checksums of its inputs (data,
upstream model or .tflite) and the lenet-deploy version. `reports/<name>/pipeline.json` records each step's key
and the checksum of the result it left. A rerun keeps a step only when both still match; otherwise it reruns the
step and says what changed, and the steps that read its result see a new checksum among their inputs and rerun.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lenet_deploy.artifacts import library_versions, sha256_file
from lenet_deploy.errors import LenetError
from lenet_deploy.manifests import PIPELINE_MANIFEST, PipelineManifest, read_record, write_record

# How a key's entry is named to a user: the option that sets it.
FLAGS = {"seed": "--seed", "val_size": "--val-size", "samples": "--samples", "board": "--board", "country": "--country",
         "quick_bench": "--quick-bench", "invokes": "--budget's invokes", "epochs_cap": "--epochs-cap"}


class StepLock:
    """reports/<name>/pipeline.json, read once and rewritten after every step that ran."""

    def __init__(self, report_dir: Path, name: str, asked: dict[str, Any], data: dict[str, Any]) -> None:
        self.path = Path(report_dir) / PIPELINE_MANIFEST
        self.steps: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            try:
                self.steps = read_record(self.path, PipelineManifest).steps
            except LenetError:
                self.steps = {}  # unreadable: no step is known, so every step reruns
        self.name, self.asked, self.data = name, asked, data

    def why_rerun(self, step: str, key: dict[str, Any], result: Path) -> str | None:
        """None when the result on disk is the one this key made; else why the step must run."""
        key = with_version(key)
        if not result.is_file():
            return "no result yet"
        recorded = self.steps.get(step)
        if recorded is None:
            return "no record of what made it (written by another command or an earlier lenet-deploy)"
        if sha256_file(result) != recorded.get("result_sha256"):
            return f"{result} changed since this pipeline wrote it"
        return difference(recorded.get("key", {}), key)

    def done(self, step: str, key: dict[str, Any], result: Path) -> None:
        self.steps[step] = {"key": with_version(key), "result_sha256": sha256_file(result)}
        self.save()

    def save(self) -> None:
        """This run's command and what it asked, with the steps' records (kept ones unchanged)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_record(self.path, PipelineManifest.new(name=self.name, asked=self.asked, data=self.data,
                                                     steps=self.steps))


def with_version(key: dict[str, Any]) -> dict[str, Any]:
    return {**key, "lenet-deploy": library_versions().get("lenet-deploy")}


def difference(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """The first entry that differs, in words: '--seed changed: 0 -> 1'."""
    for name, value in new.items():
        was = old.get(name)
        if was == value:
            continue
        if name == "trial":
            return f"the sweep's winner changed: trial #{was} -> #{value}"
        if name == "sweep":
            return "the sweep was started over"
        if name in ("model", "models"):
            return "its input model changed"
        if name == "data":
            return f"the data changed (sha256 {str(was)[:12]}… -> {str(value)[:12]}…)"
        if name == "config" and isinstance(was, dict):
            field = next(k for k in {**was, **value} if was.get(k) != value.get(k))
            return f"its config changed ({field}: {was.get(field)} -> {value.get(field)})"
        return f"{FLAGS.get(name, name)} changed: {was} -> {value}"
    return None
