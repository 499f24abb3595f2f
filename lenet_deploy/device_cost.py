"""The device cost of a sweep trial, for `lenet-train sweep --board`, found through the package's entry point.

Measuring a trial on a board needs the C generator and QEMU (convert, firmware_bench), both above train, which
may not import them. firmware_bench registers its `trial_cost` under the entry-point group below
(pyproject.toml); train's command looks it up here and passes it to the sweep, as the pipeline passes it
directly.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from lenet_deploy.errors import LenetError

GROUP = "lenet_deploy.device_cost"


def device_cost_function() -> Callable[..., dict[str, Any]]:
    """firmware_bench's trial cost, as registered by the installed package."""
    found = list(entry_points(group=GROUP, name="qemu"))
    if not found:
        raise LenetError(f"the installed lenet-deploy registers no {GROUP} entry point: reinstall it "
                         "(pip install -e .)")
    return found[0].load()
