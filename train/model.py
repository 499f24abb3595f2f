"""The LeNet family builder.

`spatial_plan` walks the 28×28 input through the conv/pool stack without TensorFlow, so an
infeasible config (e.g. 3 'valid' 5×5 convs shrink 28×28 below the kernel) is rejected with
the reason before anything is built, instead of a Keras error in the middle of a sweep.
"""

from __future__ import annotations

from lenet_deploy.data import IMAGE_SHAPE, NUM_CLASSES
from lenet_deploy.errors import LenetError
from lenet_deploy.train.config import TrainConfig

POOL = 2


class InfeasibleConfig(LenetError):
    """The config describes a network that cannot be built on 28×28 inputs."""


def spatial_plan(config: TrainConfig) -> list[int]:
    """Feature-map side after each conv+pool block; raises InfeasibleConfig with the reason."""
    side = IMAGE_SHAPE[0]
    sides = []
    for i, (kernel, padding) in enumerate(zip(config.kernel_size, config.padding), start=1):
        if padding == "valid":
            if side < kernel:
                raise InfeasibleConfig(
                    f"infeasible config: conv layer {i} has a {kernel}×{kernel} 'valid' kernel but its input is "
                    f"only {side}×{side} (the blocks before it shrink 28×28 to {sides_text(sides)})")
            side = side - kernel + 1
        if side < POOL:
            raise InfeasibleConfig(f"infeasible config: pooling after conv layer {i} gets a {side}×{side} map")
        side //= POOL
        sides.append(side)
    return sides


def sides_text(sides: list[int]) -> str:
    return " → ".join(f"{s}×{s}" for s in sides) or "nothing"


def build_model(config: TrainConfig, seed: int = 0):
    """A compiled-free Keras model for `config` (input float32 [28, 28, 1] in [0, 1], softmax output)."""
    spatial_plan(config)
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    pool = layers.AveragePooling2D if config.pooling == "avg" else layers.MaxPooling2D
    inputs = keras.Input(shape=(*IMAGE_SHAPE, 1), name="image")
    x = inputs
    for i, (filters, kernel, padding) in enumerate(zip(config.filters, config.kernel_size, config.padding), 1):
        conv = layers.SeparableConv2D if config.separable and i > 1 else layers.Conv2D
        x = conv(filters, kernel, padding=padding, activation=config.activation, name=f"conv{i}")(x)
        if config.batch_norm:
            x = layers.BatchNormalization(name=f"norm{i}")(x)
        x = pool(pool_size=POOL, name=f"pool{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(config.dense_units, 1):
        x = layers.Dense(units, activation=config.activation, name=f"dense{i}")(x)
        if config.dropout:
            x = layers.Dropout(config.dropout, name=f"dropout{i}")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="lenet")


def count_macs(model) -> int:
    """Multiply-accumulates of one inference: conv and dense layers (pooling and activations excluded)."""
    from keras import layers

    macs = 0
    for layer in model.layers:
        if isinstance(layer, layers.SeparableConv2D):  # depthwise taps, then the 1x1 pointwise conv
            _, h, w, c_out = layer.output.shape
            kh, kw, c_in, multiplier = layer.depthwise_kernel.shape
            macs += h * w * c_in * multiplier * (kh * kw + c_out)
        elif isinstance(layer, layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            kh, kw, c_in, _ = layer.kernel.shape
            macs += h * w * c_out * kh * kw * c_in
        elif isinstance(layer, layers.Dense):
            c_in, c_out = layer.kernel.shape
            macs += c_in * c_out
    return int(macs)
