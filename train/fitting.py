"""Fit one config: the seeded split, the tf.data pipeline, tracking, test metrics, and the run directory.

The validation split (from the training images) drives model choice; the test set is
evaluated once, at the end, for the numbers a run reports.
"""

from __future__ import annotations

import csv
import io
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lenet_deploy.artifacts import check_output_dir, staged_dir, write_json_atomic, write_text_atomic
from lenet_deploy.data import DEFAULT_SEED, DEFAULT_VAL_SIZE, Mnist, split_train_val, to_model_input
from lenet_deploy.energy import EnergyMeter
from lenet_deploy.manifests import MANIFEST, METRICS, RunManifest, write_record
from lenet_deploy.metrics import classification_metrics
from lenet_deploy.plots import confusion_matrix_png, training_curves_png
from lenet_deploy.train.config import TrainConfig
from lenet_deploy.train.model import build_model, count_macs, spatial_plan
from lenet_deploy.train.tracking import resolve_wandb_mode, wandb_info, wandb_run


@dataclass(frozen=True)
class FitOptions:
    """How to run a fit, as opposed to what to fit (TrainConfig)."""

    seed: int = DEFAULT_SEED
    val_size: int = DEFAULT_VAL_SIZE
    wandb: str = "auto"
    wandb_group: str | None = None
    country: str = "USA"
    verbose: int | str = "auto"
    evaluate_test: bool = True  # sweep trials leave the test set alone: choice is made on validation


def fit(config: TrainConfig, mnist: Mnist, out: Path, name: str, options: FitOptions = FitOptions(),
        force: bool = False, epoch_hook: Callable[[int, dict], None] | None = None,
        batch_hook: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """Train `config`, evaluate on the test set, write the run directory `out`; returns metrics.json."""
    spatial_plan(config)
    check_output_dir(out, force)
    mode = resolve_wandb_mode(options.wandb)
    x_train, x_val, y_train, y_val = split_train_val(mnist.x_train, mnist.y_train, options.val_size, options.seed)

    import keras
    import tensorflow as tf

    from lenet_deploy.train.callbacks import EpochHook, StopOnNonFiniteLoss, Throughput, WandbEpochLogger

    keras.utils.set_random_seed(options.seed)
    tf.config.experimental.enable_op_determinism()
    model = build_model(config, seed=options.seed)
    steps = int(np.ceil(len(y_train) / config.batch_size))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=_learning_rate(config, steps)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    train_ds = _dataset(x_train, y_train, config, options.seed, training=True)
    val_ds = _dataset(x_val, y_val, config, options.seed, training=False) if len(y_val) else None
    throughput = Throughput(len(y_train))

    with staged_dir(out, force) as stage, \
            wandb_run(mode, name, {**config.to_dict(), "seed": options.seed, "val_size": options.val_size},
                      group=options.wandb_group) as (run, mode):
        callbacks = [StopOnNonFiniteLoss(), throughput, WandbEpochLogger(run)] + \
            ([EpochHook(epoch_hook, batch_hook)] if epoch_hook else [])
        started = time.perf_counter()
        with EnergyMeter(options.country, name) as energy:
            history = model.fit(train_ds, validation_data=val_ds, epochs=config.epochs, callbacks=callbacks,
                                shuffle=False, verbose=_keras_verbosity(options.verbose))
        train_seconds = time.perf_counter() - started
        metrics = {
            "test": _evaluate(model, mnist.x_test, mnist.y_test) if options.evaluate_test else None,
            "validation": _evaluate(model, x_val, y_val) if len(y_val) else None,
            "params": int(model.count_params()),
            "macs": count_macs(model),
        }
        _write_run(stage, model, history.history, metrics, name)
        run.summary.update(headline_metrics(metrics))
        if mode != "disabled" and (stage / "confusion_matrix.png").exists():
            import wandb

            run.log({"confusion_matrix": wandb.Image(str(stage / "confusion_matrix.png"))})
        manifest = RunManifest.new(
            name=name, config=config.to_dict(), seed=options.seed, data=mnist.describe(),
            split={"train": len(y_train), "validation": len(y_val), "test": len(mnist.y_test),
                   "stratified": True, "seed": options.seed},
            train_seconds=train_seconds, epochs_run=len(history.history["loss"]),
            images_per_s=throughput.per_epoch, epoch_seconds=throughput.seconds,
            energy=energy.result, wandb=wandb_info(run, mode), metrics=headline_metrics(metrics),
            files=sorted(p.name for p in stage.iterdir()) + [MANIFEST])
        write_record(stage / MANIFEST, manifest)
    return metrics


def _keras_verbosity(verbose: int | str) -> int:
    """Keras' live bar on a terminal, one line per epoch in a log file."""
    if verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    return int(verbose)


def _learning_rate(config: TrainConfig, steps_per_epoch: int):
    if config.lr_schedule == "cosine":
        import keras

        return keras.optimizers.schedules.CosineDecay(config.learn_rate, decay_steps=config.epochs * steps_per_epoch)
    return config.learn_rate


def _dataset(x: np.ndarray, y: np.ndarray, config: TrainConfig, seed: int, training: bool):
    """A tf.data pipeline: shuffled, shifted (if asked) and prefetched, so the model never waits on input."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((to_model_input(x), y.astype(np.int32)))
    if not training:
        return ds.batch(1024).prefetch(tf.data.AUTOTUNE)
    ds = ds.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    if config.augment_shift:
        shift = config.augment_shift
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

        def shifted(pair, stateless_seed):
            image, label = pair
            padded = tf.pad(image, [[shift, shift], [shift, shift], [0, 0]])
            return tf.image.stateless_random_crop(padded, tf.shape(image), seed=stateless_seed), label

        ds = tf.data.Dataset.zip((ds, seeds)).map(shifted, num_parallel_calls=tf.data.AUTOTUNE,
                                                  deterministic=True)
    return ds.batch(config.batch_size).prefetch(tf.data.AUTOTUNE)


def _evaluate(model, images: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    probs = model.predict(to_model_input(images), batch_size=1024, verbose=0)
    return classification_metrics(labels, np.argmax(probs, axis=1))


def headline_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers (what W&B's summary and the manifest show)."""
    summary = {f"test_{k}": metrics["test"][k]
               for k in ("accuracy", "precision_weighted", "recall_weighted", "f1_weighted")} if metrics["test"] else {}
    if metrics["validation"]:
        summary["val_accuracy"] = metrics["validation"]["accuracy"]
    return {**summary, "params": metrics["params"], "macs": metrics["macs"]}


def _write_run(stage: Path, model, history: dict[str, list[float]], metrics: dict[str, Any], name: str) -> None:
    model.save(stage / "model.keras")
    write_json_atomic(stage / METRICS, metrics)
    write_text_atomic(stage / "history.csv", _history_csv(history))
    split = "test" if metrics["test"] else "validation"
    if metrics[split]:
        confusion_matrix_png(metrics[split]["confusion_matrix"], stage / "confusion_matrix.png",
                             f"{name}: {split} accuracy {metrics[split]['accuracy']:.4f}")
    training_curves_png(history, stage / "training_curves.png", name)


def _history_csv(history: dict[str, list[float]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    keys = list(history)
    writer.writerow(["epoch", *keys])
    for i in range(len(history["loss"])):
        writer.writerow([i + 1, *(f"{float(history[k][i]):.6g}" for k in keys)])
    return buffer.getvalue()
