"""Which machine a benchmark ran on: CPU model, cores, OS, Python, runtime versions."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from lenet_deploy.runtimes import available_runtimes, runtime_version


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware"):
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def platform_info() -> dict:
    runtimes = {name: runtime_version(name) for name in available_runtimes()}
    for extra in ("keras", "tflm"):
        version = runtime_version(extra)
        if version:
            runtimes[extra] = version
    return {"cpu": cpu_model(), "machine": platform.machine(), "cores": os.cpu_count(), "os": platform.platform(),
            "python": platform.python_version(), "numpy": runtime_version("numpy"), "runtimes": runtimes,
            "node": platform.node()}
