"""The test images a benchmark runs on: exported once on the host, read anywhere with numpy alone."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lenet_deploy.artifacts import write_bytes_atomic
from lenet_deploy.errors import LenetError


@dataclass(frozen=True)
class Reference:
    """What the host computed for one model on these images: what a device run must reproduce."""

    predictions: np.ndarray  # top-1 class per image
    accuracy: float
    runtime: str


def export_testset(out: Path, images: np.ndarray, labels: np.ndarray, source: str,
                   references: dict[str, Reference] | None = None) -> str:
    """Write x_test (uint8 [N, 28, 28]; model-input floats [N, 28, 28, 1] are scaled back) and y_test to an npz,
    with the host's reference predictions per model SHA-256 if given; returns the file's SHA-256."""
    import io

    if images.dtype != np.uint8:
        images = (images.reshape(len(images), 28, 28) * 255).round()
    references = references or {}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x_test=images.astype(np.uint8), y_test=labels.astype(np.uint8),
                        source=np.array(source), reference_models=np.array(list(references), dtype="U64"),
                        reference_predictions=np.array([r.predictions for r in references.values()],
                                                       dtype=np.uint8).reshape(len(references), len(labels)),
                        reference_accuracy=np.array([r.accuracy for r in references.values()], dtype=np.float64),
                        reference_runtime=np.array([r.runtime for r in references.values()], dtype="U64"))
    data = buffer.getvalue()
    write_bytes_atomic(Path(out), data)
    return hashlib.sha256(data).hexdigest()


def load_references(path: Path) -> dict[str, Reference]:
    """The host's reference predictions in an export-data npz, by model SHA-256 (none in older files)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "reference_models" not in npz.files:
                return {}
            return {str(sha): Reference(npz["reference_predictions"][i], float(npz["reference_accuracy"][i]),
                                        str(npz["reference_runtime"][i]))
                    for i, sha in enumerate(npz["reference_models"])}
    except (OSError, ValueError, KeyError, IndexError):
        return {}


def is_export_npz(path: Path) -> bool:
    """An npz from `lenet-bench export-data` (test images only), as opposed to Keras' mnist.npz."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return "x_test" in npz.files and "x_train" not in npz.files
    except (OSError, ValueError):
        return False  # not an npz at all: the MNIST loader names what is wrong with it


def read_test_data(data: Path | None, verify: bool = True) -> tuple[np.ndarray, np.ndarray, str]:
    """(float images [N, 28, 28, 1] in [0, 1], labels, what they are) from any form `--data` takes in every
    command: an IDX directory (raw or .gz), Keras' mnist.npz, or an export-data .npz; None: the MNIST cache,
    else the download."""
    if data is not None and Path(data).is_file() and is_export_npz(Path(data)):
        images, labels = load_testset(Path(data))
        return images, labels, f"export-data .npz {data}, {len(labels):,} images"
    from lenet_deploy.data import load_mnist, to_model_input

    mnist = load_mnist(data, verify=verify)
    check = "SHA-256 verified" if mnist.verified else "not verified"
    return (to_model_input(mnist.x_test), mnist.y_test.astype(np.int64),
            f"MNIST test set from {mnist.source} ({check}), {len(mnist.y_test):,} images")


def testset_sha256(path: Path) -> str:
    """The checksum of the images and labels a test set file holds, not of the file: the same 10,000 images give the
    same checksum whether they came as an export-data file (with host references or not) or were written by a run."""
    import hashlib

    images, labels = load_testset(path)
    digest = hashlib.sha256(np.ascontiguousarray(images, np.float32).tobytes())
    digest.update(np.ascontiguousarray(labels, np.int64).tobytes())
    return digest.hexdigest()


def load_testset(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(float images [N, 28, 28, 1] in [0, 1], labels) from an exported npz, checked for shape, dtype and NaN."""
    path = Path(path)
    if path.is_dir():
        raise LenetError(f"--data {path}: is a directory; lenet-bench reads the .npz that `lenet-bench export-data` "
                         "writes")
    if not path.is_file():
        raise LenetError(f"--data {path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "x_test" not in npz.files or "y_test" not in npz.files:
                raise LenetError(f"--data {path}: needs arrays x_test and y_test (lenet-bench export-data writes them)")
            images, labels = npz["x_test"], npz["y_test"]
    except (OSError, ValueError) as exc:
        raise LenetError(f"--data {path}: not a readable npz ({str(exc).splitlines()[0][:100]})") from None
    if len(labels) == 0 or len(images) == 0:
        raise LenetError(f"--data {path}: holds no test images")
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise LenetError(f"--data {path}: x_test has shape {list(images.shape)}, expected [N, 28, 28]")
    if labels.shape != (len(images),) or labels.dtype.kind not in "iu":
        raise LenetError(f"--data {path}: y_test is {labels.dtype}{list(labels.shape)}, expected {len(images)} "
                         "integer labels")
    if labels.min() < 0 or labels.max() > 9:
        bad = int(labels.max() if labels.max() > 9 else labels.min())
        raise LenetError(f"--data {path}: label {bad} in y_test is not a digit 0-9")
    if images.dtype == np.uint8:
        return (images.astype(np.float32) / 255.0)[..., None], labels.astype(np.int64)
    if images.dtype.kind != "f":
        raise LenetError(f"--data {path}: x_test dtype {images.dtype}, expected uint8 or float in [0, 1]")
    if np.isnan(images).any():
        raise LenetError(f"--data {path}: x_test has {int(np.isnan(images).sum())} NaN pixels")
    if images.min() < 0 or images.max() > 1:
        raise LenetError(f"--data {path}: float pixels must lie in [0, 1], got {images.min():.3g}..{images.max():.3g}")
    return images.astype(np.float32)[..., None], labels.astype(np.int64)
