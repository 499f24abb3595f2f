"""Loading a Keras LeNet with the checks every stage wants (file type, 28×28×1 in, 10 scores out)."""

from __future__ import annotations

from pathlib import Path

from lenet_deploy.data import IMAGE_SHAPE
from lenet_deploy.errors import LenetError
from lenet_deploy.filekind import file_kind


def check_finite_weights(model, path: Path) -> None:
    """NaN or infinite weights (a diverged fit) would convert to a model that answers nonsense, or crash a runtime."""
    import numpy as np

    for layer in model.layers:
        for weights in layer.get_weights():
            if not np.isfinite(weights).all():
                raise LenetError(f"{path}: layer '{layer.name}' holds {int((~np.isfinite(weights)).sum())} NaN or "
                                 "infinite weights (did its training diverge?)")


def load_keras_model(path: Path):
    """The Keras model at `path`, checked to take 28×28×1 images and give 10 scores."""
    path = Path(path)
    if not path.exists():
        raise LenetError(f"{path}: no such file")
    kind = file_kind(path)
    if path.suffix not in (".keras", ".h5"):
        raise LenetError(f"{path}: not a Keras model file (.keras or .h5): it is {kind}")
    expected = "a Keras model (.keras zip)" if path.suffix == ".keras" else "an HDF5 file"
    if kind != expected:
        raise LenetError(f"{path}: not a Keras model: it is {kind}")
    import keras

    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # zip, h5 and deserialisation errors all mean the same here
        raise LenetError(f"{path}: not a loadable Keras model ({str(exc).splitlines()[0][:120]})") from None
    if tuple(model.input_shape[1:]) != (*IMAGE_SHAPE, 1):
        raise LenetError(f"{path}: model input is {model.input_shape[1:]}, expected (28, 28, 1)")
    if tuple(model.output_shape[1:]) != (10,):
        raise LenetError(f"{path}: model output is {model.output_shape[1:]}, expected (10,)")
    return model
