"""Core of lenet-deploy: MNIST, metrics, artifacts and CLI helpers. Never imports TensorFlow."""

__version__ = "0.1.0"
