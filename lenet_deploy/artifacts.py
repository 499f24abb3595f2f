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


def umask_mode(full: int) -> int:
    """The mode a plain open() or mkdir() would give (`full` 0o666 for files, 0o777 for directories) under this
    process's umask: mkstemp and mkdtemp make 0600 and 0700, which others cannot read once renamed into place."""
    return full & ~_umask()


def _umask() -> int:
    """This process's umask, read without changing it where Linux shows it (setting it is not thread-safe)."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        status = Path("/proc/self/status").read_text().splitlines()
        return int(next(line for line in status if line.startswith("Umask:")).split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write via a temp file in the same directory, then rename over the target (with the umask's mode)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, umask_mode(0o666))
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
    check_writable_parent(out)


def check_writable_parent(out: Path) -> None:
    """`out` can be created or replaced: its parent exists (or can be made) and takes new entries."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.probe"):
            pass
    except OSError as exc:
        raise LenetError(f"--out {out} is not writable ({exc.strerror or exc})") from None


def check_output_file(path: Path, option: str = "--out") -> None:
    """Fail before any work if `path` cannot be written as a file."""
    path = Path(path)
    if path.is_dir():
        raise LenetError(f"{option} {path} is a directory; give a file name (e.g. {path / 'testset.npz'})")
    if not path.parent.is_dir():
        raise LenetError(f"{option} {path}: the directory {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise LenetError(f"{option} {path}: the directory {path.parent} is not writable")


@contextlib.contextmanager
def staged_dir(out: Path, force: bool) -> Iterator[Path]:
    """Yield a hidden staging directory that becomes `out` only if the block finishes.

    On error the staging directory is removed and `out` (an earlier run) is untouched.
    """
    out = Path(out)
    check_output_dir(out, force)
    with _staging(out) as stage:
        yield stage


@contextlib.contextmanager
def staged_update(out: Path) -> Iterator[Path]:
    """Like staged_dir, but the stage starts as `out`'s current files (hard links), to add or replace some.

    Writers replace files in the stage by rename, never in place, so the old directory stays intact
    until the one rename at the end: a failure (a full disk included) leaves `out` as it was.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise LenetError(f"--out {out} is a file, not a directory")
    check_writable_parent(out)
    with _staging(out) as stage:
        if out.is_dir():
            shutil.copytree(out, stage, symlinks=True, copy_function=_link_or_copy, dirs_exist_ok=True)
        yield stage


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


@contextlib.contextmanager
def _staging(out: Path) -> Iterator[Path]:
    remove_stale_staging(out)
    stage = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.{os.getpid()}.", suffix=STAGING))
    os.chmod(stage, umask_mode(0o777))  # it becomes `out`
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.{os.getpid()}.", suffix=REPLACED))
        os.replace(out, old / out.name)
    os.replace(stage, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


STAGING, REPLACED = ".staging", ".replaced"


def remove_stale_staging(out: Path) -> list[Path]:
    """Remove what killed runs left beside `out`: staging or replaced folders whose process is gone, whatever they
    were for (a killed sweep trial's folder is retried under another number, so nothing else would remove it)."""
    removed = []
    for leftover in Path(out).parent.glob(".*"):
        if not (leftover.is_dir() and leftover.name.endswith((STAGING, REPLACED))):
            continue
        # .<name>.<pid>.<random><suffix>: the name may hold dots, mkdtemp's random part does not
        suffix = STAGING if leftover.name.endswith(STAGING) else REPLACED
        parts = leftover.name[:-len(suffix)].rsplit(".", 2)
        if len(parts) == 3 and parts[1].isdigit() and not process_alive(int(parts[1])):
            shutil.rmtree(leftover, ignore_errors=True)
            removed.append(leftover)
    return removed


def process_alive(pid: Any) -> bool:
    """Whether process `pid` exists on this host (anything but an int is not ours to judge: True)."""
    if not isinstance(pid, int):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
