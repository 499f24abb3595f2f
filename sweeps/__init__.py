"""The sweep configs, installed with the package so that the CLIs' defaults work from a wheel."""

from importlib import resources
from pathlib import Path


def sweep_config(name: str) -> Path:
    """The path of one of these configs (e.g. 'seed.yaml'), wherever the package is installed."""
    return Path(str(resources.files(__name__).joinpath(name)))
