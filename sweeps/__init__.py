"""The sweep configs, installed with the package, so that `--config seed` works from any directory and from a wheel."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from lenet_deploy.errors import LenetError


def sweep_config(name: str) -> Path:
    """The path of one of these configs (e.g. 'seed.yaml'), wherever the package is installed."""
    return Path(str(resources.files(__name__).joinpath(name)))


def packaged_configs() -> list[str]:
    """The names of the installed configs, without .yaml: seed, mcu, lenet-plus."""
    return sorted(Path(entry.name).stem for entry in resources.files(__name__).iterdir()
                  if entry.name.endswith(".yaml"))


def resolve_sweep_config(given: Path, option: str = "--config") -> Path:
    """A file the user names, else the installed config of that name: `seed`, `seed.yaml` or `sweeps/seed.yaml`
    (the checkout's path) all mean the installed seed.yaml when no such file is here."""
    given = Path(given)
    if given.exists():
        return given
    stem = given.name.removesuffix(".yaml")
    if stem in packaged_configs() and given.parent in (Path("."), Path("sweeps")):
        return sweep_config(f"{stem}.yaml")
    raise LenetError(f"{option} {given}: no such file, nor an installed sweep config "
                     f"(installed: {', '.join(packaged_configs())})")
