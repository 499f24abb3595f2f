"""TensorFlow's start-up lines kept off the user's console.

TensorFlow 2.21 writes absl's "All log messages before absl::InitializeLog() is called …", oneDNN's `port.cc`
line and the CPU-feature guard from C++ while `import tensorflow` runs, whatever TF_CPP_MIN_LOG_LEVEL says. Only
capturing file descriptor 2 while it loads hides them, so an import hook does that for the first import of
`tensorflow`, wherever it happens (Keras imports it too). If the import fails, what it wrote is shown.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from typing import Any

from lenet_deploy.fdcapture import capture_fds

QUIETED = "tensorflow"


class _QuietLoader(importlib.abc.Loader):
    """The real loader, with fd 2 captured while the module executes."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        captured = None
        try:
            with capture_fds((2,)) as captured:
                self._loader.exec_module(module)
        except BaseException:
            if captured is not None:
                sys.stderr.write(captured.text)
            raise

    def __getattr__(self, name: str) -> Any:  # resource readers and the like: the real loader's
        return getattr(self._loader, name)


class _QuietFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any = None, target: Any = None):
        if name != QUIETED:
            return None
        sys.meta_path.remove(self)  # once, and so that the real finders answer below
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def quiet_tensorflow_import() -> None:
    """Capture fd 2 during the first `import tensorflow` in this process (nothing if it is already imported)."""
    if QUIETED not in sys.modules and not any(isinstance(f, _QuietFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())
