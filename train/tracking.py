"""Experiment tracking around a fit: a W&B run and a CodeCarbon energy measurement.

W&B runs offline unless an API key is configured, so a machine without network never hangs
or fails; `wandb sync` uploads the ./wandb run directories later. CodeCarbon runs its offline
tracker and we record whether power was measured (RAPL) or estimated (CPU load / TDP).
"""

from __future__ import annotations

import contextlib
import logging
import netrc
import os
from collections.abc import Iterator
from typing import Any

from lenet.errors import LenetError

WANDB_MODES = ("auto", "online", "offline", "disabled")
PROJECT = "lenet-deploy"


def wandb_key_configured() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    with contextlib.suppress(FileNotFoundError, netrc.NetrcParseError, OSError):
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    return False


def resolve_wandb_mode(requested: str) -> str:
    if requested not in WANDB_MODES:
        raise LenetError(f"--wandb must be one of {', '.join(WANDB_MODES)}, got {requested!r}")
    if requested == "auto":
        return "online" if wandb_key_configured() else "offline"
    return requested


@contextlib.contextmanager
def wandb_run(mode: str, name: str, config: dict[str, Any], group: str | None = None,
              job_type: str = "fit") -> Iterator[Any]:
    """A W&B run that is always finished, also when the fit fails (marked exit code 1)."""
    os.environ.setdefault("WANDB_SILENT", "true")
    import wandb

    if wandb.run is not None:  # inside `wandb.agent`: the sweep's run is ours, the agent finishes it
        yield wandb.run
        return
    run = wandb.init(project=os.environ.get("WANDB_PROJECT", PROJECT), name=name, group=group,
                     job_type=job_type, config=config, mode=mode, dir=os.environ.get("WANDB_DIR", os.getcwd()),
                     settings=wandb.Settings(console="off", init_timeout=60))
    try:
        yield run
    except BaseException:
        run.finish(exit_code=1)
        raise
    run.finish()


def wandb_info(run: Any, mode: str) -> dict[str, Any]:
    """Where the run lives, for the manifest (offline: the local directory to `wandb sync`)."""
    if mode == "disabled":
        return {"mode": mode}
    return {"mode": mode, "id": run.id, "project": run.project, "dir": os.path.dirname(run.dir),
            "url": run.url if mode == "online" else None}


class EnergyMeter:
    """CodeCarbon's offline tracker, quiet, with the tracking mode spelled out next to the numbers."""

    def __init__(self, country: str = "USA", name: str = "lenet") -> None:
        from codecarbon import OfflineEmissionsTracker

        logging.getLogger("codecarbon").setLevel(logging.ERROR)

        self._tracker = OfflineEmissionsTracker(
            country_iso_code=country, project_name=name, log_level="error", output_methods=[],
            measure_power_secs=5, allow_multiple_runs=True)
        self.country = country
        self.result: dict[str, Any] | None = None

    def __enter__(self) -> EnergyMeter:
        self._tracker.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._tracker.stop()
        data = self._tracker.final_emissions_data
        self.result = {
            "energy_kwh": data.energy_consumed,
            "cpu_kwh": data.cpu_energy,
            "ram_kwh": data.ram_energy,
            "gpu_kwh": data.gpu_energy,
            "co2_kg": data.emissions,
            "duration_s": data.duration,
            "country": data.country_iso_code,
            "cpu_model": data.cpu_model,
            "tracking_mode": self.tracking_mode(),
            "codecarbon_scope": data.tracking_mode,
        }

    def tracking_mode(self) -> str:
        """'measured (RAPL)' or 'estimated (...)': CodeCarbon falls back to CPU load × TDP without RAPL."""
        for hardware in getattr(self._tracker, "_hardware", []):
            if type(hardware).__name__ == "CPU":
                mode = str(getattr(hardware, "_mode", "unknown"))
                if mode.lower().replace(" ", "_") == "intel_rapl":
                    return "measured (RAPL)"
                return f"estimated ({mode}; no RAPL)"
        return "estimated (no CPU power source)"
