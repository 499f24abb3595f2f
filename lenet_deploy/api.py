"""Each stage's public face: the names other stages may import from its package, loaded on first use.

A stage's `__init__` lists its public names and the module each lives in; `from lenet_deploy.train import fit`
then imports only `train/fitting.py` (PEP 562's module `__getattr__`), so the face costs nothing at start-up and
firmware_bench's stays importable on a device without TensorFlow. tests/test_layers.py checks that other stages
import nothing else, and that no public name is also a submodule's name (importing that submodule would rebind it).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def public_api(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], list[str]]:
    """(`__getattr__`, `__all__`) for `package` from {public name: the submodule (relative to it) defining it}."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)

    return __getattr__, sorted(exports)
