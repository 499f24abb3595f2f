"""Which machine a benchmark ran on: board or CPU model, the cores it may use, OS, Python, runtime versions."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from lenet_deploy.runtimes import available_runtimes, runtime_version


def cpu_model(root: Path = Path("/")) -> str:
    """The board's own name where it has one ('Raspberry Pi 4 Model B Rev 1.4'), else the CPU's.

    On a Pi, /proc/cpuinfo's first 'model name' is the core ('ARMv7 Processor') and 'Hardware' the SoC
    family ('BCM2835' on every model), so the device tree's model and cpuinfo's 'Model' come first."""
    try:
        model = (root / "proc/device-tree/model").read_bytes().rstrip(b"\0").decode(errors="replace").strip()
        if model:
            return model
    except OSError:
        pass
    try:
        fields = {}
        for line in (root / "proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
        for key in ("Model", "model name", "Hardware"):
            if fields.get(key):
                return fields[key]
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    """The cores this process may run on (a container or taskset may allow fewer than the machine has)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


QEMU_ARCH = {"aarch64": "aarch64", "armv7l": "arm", "armv6l": "arm", "x86_64": "x86_64"}


def emulation(root: Path = Path("/"), machine: str | None = None) -> str | None:
    """How this process is probably emulated (user-mode QEMU, as for an emulated Pi), or None.

    QEMU fakes /proc/self and /proc/cpuinfo for its guest, but not binfmt_misc: a kernel that hands this very
    architecture's programs to a qemu interpreter is not running them natively. QEMU_CPU names the core."""
    arch = QEMU_ARCH.get(machine or platform.machine())
    signals = []
    try:
        entry = (root / f"proc/sys/fs/binfmt_misc/qemu-{arch}").read_text() if arch else ""
    except OSError:
        entry = ""
    if entry.startswith("enabled"):
        interpreter = next((line.split(None, 1)[1] for line in entry.splitlines() if line.startswith("interpreter")),
                           f"qemu-{arch}")
        signals.append(f"binfmt_misc runs {machine or platform.machine()} programs with {interpreter}")
    if os.environ.get("QEMU_CPU"):
        signals.append(f"QEMU_CPU={os.environ['QEMU_CPU']}")
    return f"qemu-user ({'; '.join(signals)})" if signals else None


def platform_info() -> dict:
    runtimes = {name: runtime_version(name) for name in available_runtimes()}
    for extra in ("keras", "tflm"):
        version = runtime_version(extra)
        if version:
            runtimes[extra] = version
    return {"cpu": cpu_model(), "machine": platform.machine(), "cores": usable_cores(),
            "cores_in_machine": os.cpu_count(), "emulation": emulation(), "os": platform.platform(),
            "python": platform.python_version(), "numpy": runtime_version("numpy"), "runtimes": runtimes,
            "node": platform.node()}
