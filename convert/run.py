"""One `lenet-convert` run: Keras -> float32 (+ the asked mode) TFLite, checked, with C source for int8.

Everything is computed before anything is written, and each file is written atomically, so a
failure leaves the output directory as it was. A --max-drop miss is reported after writing:
the artifacts stay, marked as failing the check in the manifest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lenet_deploy.artifacts import check_writable_parent, sha256_file, staged_update, write_bytes_atomic
from lenet_deploy.convert.c_array import ModelMacros, arena_margin, check_c_identifier, write_c_array
from lenet_deploy.convert.checks import compare_with_keras, tflm_check
from lenet_deploy.convert.converter import MODES, batch_one, convert, representative_images
from lenet_deploy.convert.flatbuffer import read_graph
from lenet_deploy.convert.parts import TFLM_RUNTIME_FLASH, TFLM_RUNTIME_RAM, fits_table
from lenet_deploy.data import DEFAULT_SEED, DEFAULT_VAL_SIZE, load_mnist, split_train_val, to_model_input
from lenet_deploy.errors import CheckFailed, LenetError
from lenet_deploy.manifests import MANIFEST, ConvertManifest, RunManifest, read_record, write_record
from lenet_deploy.models import check_finite_weights, load_keras_model


@dataclass(frozen=True)
class ConvertOptions:
    quantize: str = "int8"  # a key of MODES
    io_type: str = "int8"  # the int8 model's input/output type
    representative: int = 500  # int8 calibration images
    name: str = "lenet"  # artifact stem and C symbol prefix
    out: Path = Path("build")
    max_drop: float | None = None  # pp: more is a failed check (artifacts kept)
    data: Path | None = None
    verify: bool = True  # the data must be canonical MNIST
    tflm_samples: int = 1000  # validation images through TFLite Micro
    val_size: int | None = None  # None: the run's own split (its manifest), else the default
    seed: int | None = None  # None: the run's own seed, else the default


def convert_model(model_path: Path, options: ConvertOptions = ConvertOptions()) -> dict[str, Any]:
    """Convert, check against Keras (and TFLM for int8), write artifacts + manifest; returns the manifest entries."""
    quantize, io_type, name, max_drop = options.quantize, options.io_type, options.name, options.max_drop
    representative, tflm_samples, val_size, seed = (options.representative, options.tflm_samples, options.val_size,
                                                    options.seed)
    if quantize not in MODES:
        raise LenetError(f"unknown --quantize {quantize!r} (choose from: {', '.join(MODES)})")
    if tflm_samples < 1:
        raise LenetError(f"--tflm-samples must be >= 1 (TFLite Micro's arena is read after an invoke), "
                         f"got {tflm_samples}")
    check_c_identifier(name)
    if val_size is not None and val_size < 1:
        raise LenetError(f"--val-size must be >= 1 (the checks run on the validation images), got {val_size}")
    out = Path(options.out)
    if out.exists() and not out.is_dir():
        raise LenetError(f"--out {out} is a file, not a directory")
    check_writable_parent(out)
    model = load_keras_model(model_path)
    check_finite_weights(model, model_path)
    run_seed, run_val_size = _split_of(model_path)
    seed = run_seed if seed is None else seed
    val_size = run_val_size if val_size is None else val_size
    mnist = load_mnist(options.data, verify=options.verify)
    _, x_val, _, y_val = split_train_val(mnist.x_train, mnist.y_train, val_size, seed)
    images = to_model_input(x_val)
    keras_scores = model.predict(images, batch_size=1024, verbose=0)

    started = time.perf_counter()
    single = batch_one(model)
    artifacts = {f"{name}_f32": convert(single, "none")}
    if quantize != "none":
        calibration = representative_images(mnist, representative, seed, val_size) if quantize == "int8" else None
        artifacts[f"{name}_{MODES[quantize]}"] = convert(single, quantize, io_type, calibration)
    convert_seconds = time.perf_counter() - started

    entries, macros = {}, {}
    for stem, flatbuffer in artifacts.items():
        mode = "none" if stem.endswith("_f32") else quantize
        entries[stem], macros[stem] = _checked_entry(stem, flatbuffer, mode, io_type if mode == "int8" else "float32",
                                                     keras_scores, images, y_val, tflm_samples)
    if f"{name}_int8" in entries:
        entries[f"{name}_int8"]["size_vs_f32"] = len(artifacts[f"{name}_int8"]) / len(artifacts[f"{name}_f32"])

    failed = [s for s, e in entries.items() if max_drop is not None and e["check"]["drop_pp"] > max_drop]
    for stem, entry in entries.items():
        entry["check"]["max_drop_pp"] = max_drop
        entry["check"]["passed"] = stem not in failed
    with staged_update(out) as stage:
        for stem, flatbuffer in artifacts.items():
            write_bytes_atomic(stage / f"{stem}.tflite", flatbuffer)
            if macros[stem] is not None:
                write_c_array(stage, stem, flatbuffer, macros[stem], source=str(model_path))
        _update_manifest(stage, model_path, entries, seed, val_size, representative, convert_seconds,
                         mnist.describe())
    if failed:
        worst = max(entries[s]["check"]["drop_pp"] for s in failed)
        raise CheckFailed(f"accuracy drop {worst:.2f} pp exceeds --max-drop {max_drop} for "
                          f"{', '.join(failed)} (artifacts kept, marked failed in {out / MANIFEST})")
    return entries


def _checked_entry(stem: str, flatbuffer: bytes, mode: str, io_type: str, keras_scores, images, labels,
                   tflm_samples: int) -> tuple[dict[str, Any], ModelMacros | None]:
    """The manifest entry of one artifact (LiteRT vs Keras; for int8 also TFLM) and, for int8, its C macros."""
    check = compare_with_keras(keras_scores, flatbuffer, images, labels)
    predictions = check.pop("predictions")
    ops = read_graph(flatbuffer, stem).op_names
    entry = {"file": f"{stem}.tflite", "bytes": len(flatbuffer), "mode": mode, "io": io_type, "ops": ops,
             "check": check}
    if mode != "int8":
        return entry, None
    tflm, (input_io, output_io) = tflm_check(flatbuffer, images[:tflm_samples], labels[:tflm_samples],
                                             predictions[:tflm_samples])
    macros = ModelMacros(input_io, output_io, ops, tflm["arena_bytes"], arena_margin(tflm["arena_bytes"]))
    entry.update(tflm=tflm, c_source=[f"{stem}.h", f"{stem}.c"], arena_margin=macros.arena_margin,
                 fits=fits_table(len(flatbuffer), tflm["arena_bytes"]))
    return entry, macros


def _split_of(model_path: Path) -> tuple[int, int]:
    """The seed and validation size the model was trained with (its run manifest), else the defaults."""
    manifest = Path(model_path).parent / MANIFEST
    if manifest.exists():
        try:
            split = read_record(manifest, RunManifest).split
            if split.get("validation"):
                return int(split["seed"]), int(split["validation"])
        except (LenetError, KeyError, TypeError, ValueError):
            pass  # not a run directory we wrote: the defaults, as for a model from elsewhere
    return DEFAULT_SEED, DEFAULT_VAL_SIZE



def _update_manifest(out: Path, model_path: Path, entries: dict, seed: int, val_size: int, representative: int,
                     convert_seconds: float, data: dict) -> None:
    path = out / MANIFEST
    artifacts = read_record(path, ConvertManifest).artifacts if path.exists() else {}
    manifest = ConvertManifest.new(artifacts=artifacts)
    for stem, entry in entries.items():
        manifest.artifacts[stem] = {
            **entry, "source_model": str(model_path), "source_sha256": sha256_file(model_path),
            "validation": {"seed": seed, "samples": val_size, "split": "validation (from the training images)"},
            "representative": representative if entry["mode"] == "int8" else None,
            "convert_seconds": convert_seconds, "data": data,
            "tflm_runtime_assumed": {"flash": TFLM_RUNTIME_FLASH, "ram": TFLM_RUNTIME_RAM} if "fits" in entry else None}
    write_record(path, manifest)
