"""Atomic files and run directories, checksums and library versions.

A crash must never leave a half-written model or report, and a finished run is never
overwritten without --force. So files go through temp + rename, and a run is built in a
hidden staging directory that replaces the target in one rename at the end.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from lenet_deploy.errors import LenetError


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write via a temp file in the same directory, then rename over the target."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    """numpy scalars and arrays, Paths: what our results hold besides plain types."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def check_output_dir(out: Path, force: bool) -> None:
    """Fail before any work if `out` cannot become a run directory (probes the parent for writing)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise LenetError(f"--out {out} is a file, not a directory")
    if out.exists() and any(out.iterdir()) and not force:
        raise LenetError(f"--out {out} already holds a run; pass --force to replace it")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.probe"):
            pass
    except OSError as exc:
        raise LenetError(f"--out {out} is not writable ({exc.strerror or exc})") from None


@contextlib.contextmanager
def staged_dir(out: Path, force: bool) -> Iterator[Path]:
    """Yield a hidden staging directory that becomes `out` only if the block finishes.

    On error the staging directory is removed and `out` (an earlier run) is untouched.
    """
    out = Path(out)
    check_output_dir(out, force)
    stage = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".staging"))
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.replaced")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
    os.replace(stage, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def library_versions(names: tuple[str, ...] = ()) -> dict[str, str]:
    """Installed versions of the packages that shaped a result (missing ones are left out)."""
    wanted = ("numpy", "scikit-learn", "tensorflow", "tensorflow-cpu", "keras", "wandb", "codecarbon",
              "optuna", "ai-edge-litert", "tflite-runtime", "tflite-micro", *names)
    versions = {"python": platform.python_version(), "lenet-deploy": _version("lenet-deploy")}
    for name in wanted:
        version = _version(name)
        if version:
            versions[name] = version
    return {k: v for k, v in versions.items() if v}


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
