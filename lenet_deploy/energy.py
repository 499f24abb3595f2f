"""Energy with CodeCarbon's offline tracker, with the tracking mode spelled out next to the numbers.

Without RAPL (as on most VMs and on a Raspberry Pi) CodeCarbon estimates CPU power from load
and TDP: every number we show says which it is. codecarbon is imported only when used.
"""

from __future__ import annotations

import logging
from typing import Any

from lenet_deploy.errors import LenetError


def check_country(code: str) -> str:
    """`code` if CodeCarbon knows its grid's carbon intensity (ISO 3166 alpha-3), else a LenetError."""
    from codecarbon.input import DataSource

    known = DataSource().get_global_energy_mix_data()
    if code not in known:
        raise LenetError(f"--country {code!r}: not a country CodeCarbon knows (ISO 3166 alpha-3, e.g. USA, DEU, "
                         "FRA, GBR)")
    return code


class EnergyMeter:
    """CodeCarbon's offline tracker, quiet, with the tracking mode spelled out next to the numbers."""

    def __init__(self, country: str = "USA", name: str = "lenet", interval: float = 5) -> None:
        from codecarbon import OfflineEmissionsTracker

        logging.getLogger("codecarbon").setLevel(logging.ERROR)
        self._tracker = OfflineEmissionsTracker(
            country_iso_code=country, project_name=name, log_level="error", output_methods=[],
            measure_power_secs=interval, allow_multiple_runs=True)
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
