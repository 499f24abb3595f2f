"""`--backend wandb`: the same sweep file run by W&B's own sweep server and agent.

It needs a W&B account (the sweep controller runs on W&B's server), so it checks for an API
key before anything else. Each agent run trains through the same `fit` as the local driver.
"""

from __future__ import annotations

from pathlib import Path

from lenet_deploy.data import Mnist
from lenet_deploy.errors import LenetError
from lenet_deploy.train.config import cap_epochs, make_config
from lenet_deploy.train.fitting import FitOptions, fit
from lenet_deploy.train.sweep.spec import ALIASES, SweepSpec
from lenet_deploy.train.tracking import PROJECT, wandb_key_configured


def require_wandb_login() -> None:
    if not wandb_key_configured():
        raise LenetError("--backend wandb needs a W&B API key (run `wandb login` or set WANDB_API_KEY); "
                         "the default local driver needs none")


def run_wandb_sweep(spec: SweepSpec, name: str, out: Path, mnist: Mnist, count: int, epochs_cap: int | None,
                    val_size: int, seed: int, country: str) -> str:
    """Create the sweep on W&B and run `count` trials here with wandb.agent; returns the sweep id."""
    require_wandb_login()
    import wandb

    sweep_id = wandb.sweep(sweep={**spec.raw, "name": name}, project=PROJECT)

    def train_one() -> None:
        run = wandb.init()
        values = cap_epochs({ALIASES.get(k, k): v for k, v in dict(run.config).items()}, epochs_cap)
        config = make_config(values, f"W&B run {run.id}")
        fit(config, mnist, Path(out) / "trials" / run.id, run.name or run.id,
            FitOptions(seed=seed, val_size=val_size, wandb="online", wandb_group=name, country=country,
                       verbose=2, evaluate_test=False), force=True)

    wandb.agent(sweep_id, function=train_one, count=count, project=PROJECT)
    return sweep_id
