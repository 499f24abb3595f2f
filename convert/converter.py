"""Keras model -> TFLite flatbuffer, in the four modes a deployment chooses between.

int8 is full-integer quantization with builtin int8 ops only: what a microcontroller runs.
Its calibration images come from the training split (stratified, seeded), never validation or test.
"""

from __future__ import annotations

import re
import warnings

import numpy as np

from lenet_deploy.data import Mnist, split_train_val, to_model_input
from lenet_deploy.errors import LenetError
from lenet_deploy.fdcapture import capture_fds

MODES = {"none": "f32", "float16": "f16", "dynamic": "dynamic", "int8": "int8"}
IO_TYPES = ("int8", "uint8", "float32")


def representative_images(mnist: Mnist, count: int, seed: int, val_size: int) -> np.ndarray:
    """`count` training-split images, stratified by digit and seeded: int8 calibration data."""
    from sklearn.model_selection import train_test_split

    x_train, _, y_train, _ = split_train_val(mnist.x_train, mnist.y_train, val_size, seed)
    if count < 10 or count > len(y_train):
        raise LenetError(f"--representative must be between 10 and {len(y_train)}, got {count}")
    if count < len(y_train):
        x_train, _, _, _ = train_test_split(x_train, y_train, train_size=count, random_state=seed, stratify=y_train)
    return to_model_input(x_train)


def batch_one(model):
    """The model with a fixed batch of 1: static shapes give TFLite a plain RESHAPE (no SHAPE/PACK ops)."""
    import keras

    inputs = keras.Input(batch_shape=(1, *model.input_shape[1:]), name="image")
    return keras.Model(inputs, model(inputs), name=model.name)


def convert(model, mode: str, io_type: str = "int8", representative: np.ndarray | None = None) -> bytes:
    """The .tflite bytes of `model` in `mode` (none, float16, dynamic, int8)."""
    import tensorflow as tf

    if mode not in MODES:
        raise LenetError(f"unknown --quantize {mode!r} (choose from: {', '.join(MODES)})")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if mode == "int8":
        if io_type not in IO_TYPES:
            raise LenetError(f"unknown --io {io_type!r} (choose from: {', '.join(IO_TYPES)})")
        if representative is None:
            raise ValueError("int8 conversion needs representative images")
        converter.representative_dataset = lambda: ([representative[i:i + 1]] for i in range(len(representative)))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        # Per-tensor dense weights: ~5 KB less for LeNet and the classic TFLM FULLY_CONNECTED path.
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
        converter.inference_input_type = {"int8": tf.int8, "uint8": tf.uint8, "float32": tf.float32}[io_type]
        converter.inference_output_type = converter.inference_input_type
    try:
        with capture_fds() as captured, warnings.catch_warnings():  # the converter's C++ and Python chatter
            warnings.simplefilter("ignore")
            return bytes(converter.convert())
    except Exception as exc:
        reason = _conversion_reason(f"{exc}\n{captured.text}")
        raise LenetError(f"conversion to {mode} failed: {reason}") from None


def _conversion_reason(message: str) -> str:
    """Name the op the converter could not handle, if its message says which."""
    ops = sorted(set(re.findall(r"'(?:tfl|tf)\.(\w+)' op", message)))
    if ops:
        return f"op(s) {', '.join(ops)} cannot be converted with builtin int8 kernels"
    lines = [line.strip() for line in message.splitlines() if "error" in line.lower()]
    return (lines[0] if lines else message.splitlines()[0] if message else "unknown error")[:200]
