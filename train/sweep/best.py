"""Pick the sweep's winner on the validation metric, then write runs/<sweep>/best/ like a fit run.

The test set is touched exactly once, after the choice: by evaluating the winner's saved
model, or (with --retrain) by refitting its config on all 60k training images.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from lenet_deploy.artifacts import staged_dir, write_json_atomic
from lenet_deploy.data import Mnist
from lenet_deploy.errors import LenetError
from lenet_deploy.manifests import (
    MANIFEST,
    METRICS,
    SWEEP_MANIFEST,
    RunManifest,
    SweepManifest,
    read_record,
    write_record,
)
from lenet_deploy.plots import confusion_matrix_png
from lenet_deploy.train.config import make_config
from lenet_deploy.train.fitting import FitOptions, fit, headline_metrics
from lenet_deploy.train.sweep.driver import open_study, recorded_storage_url
from lenet_deploy.train.sweep.results import device_sweep, ranked, trial_rows
from lenet_deploy.train.sweep.spec import parse_spec


def load_sweep(sweep_dir: Path, storage: str | None = None):
    """(spec, study) of the sweep in `sweep_dir`; `storage` for a server URL whose password is not on disk."""
    path = Path(sweep_dir) / SWEEP_MANIFEST
    if not path.exists():
        raise LenetError(f"{sweep_dir}: not a sweep directory (no {SWEEP_MANIFEST})")
    manifest = read_record(path, SweepManifest)
    spec = parse_spec(manifest.spec, str(path))
    url = storage or recorded_storage_url(sweep_dir, manifest.storage)
    if "***" in url:
        raise LenetError(f"{sweep_dir}: its storage needs a password; pass --storage with the full URL")
    return spec, open_study(spec, manifest.study, url, heartbeat=manifest.options["heartbeat"],
                            seed=sweep_seed(manifest))


def sweep_seed(manifest: SweepManifest) -> int:
    """The sweep's --seed (0 for sweep.json files written before it was recorded)."""
    return int(manifest.options.get("seed", 0))


def sweep_device(sweep_dir: Path) -> dict[str, Any] | None:
    """The board and limits a device sweep measured its trials against (None for a plain sweep)."""
    return read_record(Path(sweep_dir) / SWEEP_MANIFEST, SweepManifest).options.get("device")


def pick_best(spec, study) -> dict[str, Any]:
    """The best trial on validation; in a device sweep, the most accurate int8 model within the limits."""
    rows = trial_rows(study, spec)
    best = ranked(rows, spec)
    if not best:
        if device_sweep(rows):
            raise LenetError("no trained trial of the sweep is within its device limits (see trials.csv, column "
                             "reason); continue the sweep with a higher --count or loosen the limits in a new one")
        raise LenetError("the sweep has no completed trial yet; run (or continue) the sweep first")
    return best[0]


def write_best(sweep_dir: Path, mnist: Mnist, retrain: bool, force: bool, storage: str | None = None,
               wandb: str = "auto", country: str = "USA") -> dict[str, Any]:
    """Write `sweep_dir/best`; returns its metrics.json."""
    spec, study = load_sweep(sweep_dir, storage)
    seed = sweep_seed(read_record(Path(sweep_dir) / SWEEP_MANIFEST, SweepManifest))
    winner = pick_best(spec, study)
    trial = study.trials[winner["number"]]
    config = make_config(trial.user_attrs["config"], f"trial {trial.number}")
    out = Path(sweep_dir) / "best"
    picked = {"trial": trial.number, spec.metric: winner[spec.metric], "metric": spec.metric, "goal": spec.goal,
              "ranked_on": "validation split", "retrained_on_all_training_images": retrain}
    if "feasible" in winner:
        picked.update(ranked_by="int8 validation accuracy among the trials within the device limits",
                      device=sweep_device(sweep_dir), int8_val_accuracy=winner["int8_val_accuracy"],
                      instructions=winner["instructions"], flash_bytes=winner["flash_bytes"],
                      ram_bytes=winner["ram_bytes"])
    if retrain:
        metrics = fit(config, mnist, out, f"{study.study_name}-best",
                      FitOptions(seed=seed, val_size=0, wandb=wandb, country=country,
                                 wandb_group=study.study_name),
                      force=force)
        manifest = read_record(out / MANIFEST, RunManifest)
        write_record(out / MANIFEST, replace(manifest, picked=picked))
        return metrics
    return _evaluate_winner(Path(sweep_dir), trial, config, mnist, out, force, picked)


def trial_dir(sweep_dir: Path, trial) -> Path:
    """The trial's run directory: inside this sweep directory (wherever it now is), else where it was written."""
    own = Path(sweep_dir) / "trials" / f"{trial.number:04d}"
    return own if own.is_dir() else Path(trial.user_attrs.get("run_dir", own))


def _evaluate_winner(sweep_dir: Path, trial, config, mnist: Mnist, out: Path, force: bool,
                     picked: dict) -> dict[str, Any]:
    """Copy the winner's run, add its one test-set evaluation."""
    import keras
    import numpy as np

    from lenet_deploy.data import to_model_input
    from lenet_deploy.metrics import classification_metrics

    run_dir = trial_dir(sweep_dir, trial)
    if not (run_dir / "model.keras").exists():
        raise LenetError(f"trial {trial.number}'s model is not on this machine ({run_dir}); use --retrain")
    with staged_dir(out, force) as stage:
        for item in ("model.keras", "history.csv", "training_curves.png"):
            shutil.copy2(run_dir / item, stage / item)
        model = keras.models.load_model(stage / "model.keras")
        probs = model.predict(to_model_input(mnist.x_test), batch_size=1024, verbose=0)
        metrics = json.loads((run_dir / METRICS).read_text())
        metrics["test"] = classification_metrics(mnist.y_test, np.argmax(probs, axis=1))
        write_json_atomic(stage / METRICS, metrics)
        confusion_matrix_png(metrics["test"]["confusion_matrix"], stage / "confusion_matrix.png",
                             f"trial {trial.number}: test accuracy {metrics['test']['accuracy']:.4f}")
        trial_manifest = read_record(run_dir / MANIFEST, RunManifest)
        write_record(stage / MANIFEST, replace(trial_manifest, picked=picked, data=mnist.describe(),
                                               metrics=headline_metrics(metrics)))
    return metrics
