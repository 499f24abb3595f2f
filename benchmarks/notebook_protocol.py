"""The seed notebook's protocol for its 0.95: LeNet-5 ('original' preset) trained on all 60,000 training
images with the *test* set passed as validation data, read off per epoch.

This peeks at the test set (the epoch to report is chosen on it), which lenet-train never does; it is run
once to show whether the notebook's number is reachable that way. Usage: python benchmarks/notebook_protocol.py
"""

import argparse
import os

import numpy as np

from lenet_deploy.data import load_mnist, to_model_input
from lenet_deploy.train.config import make_config, preset
from lenet_deploy.train.model import build_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads: no start-up banner
    import keras

    config = make_config(preset("original"), "preset original")
    mnist = load_mnist(args.data)
    keras.utils.set_random_seed(args.seed)
    model = build_model(config, seed=args.seed)
    model.compile(optimizer=keras.optimizers.Adam(config.learn_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(to_model_input(mnist.x_train), mnist.y_train, batch_size=config.batch_size,
                        epochs=config.epochs, validation_data=(to_model_input(mnist.x_test), mnist.y_test),
                        verbose=2)
    test = np.array(history.history["val_accuracy"])
    print(f"test accuracy per epoch: {' '.join(f'{a:.4f}' for a in test)}")
    print(f"last epoch {test[-1]:.4f}; best epoch {int(test.argmax()) + 1} at {test.max():.4f} "
          f"(chosen on the test set); mean of the last 5 {test[-5:].mean():.4f}")


if __name__ == "__main__":
    main()
