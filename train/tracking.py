"""Experiment tracking around a fit: a W&B run and a CodeCarbon energy measurement.

W&B runs offline unless an API key is configured, so a machine without network never hangs
or fails; `wandb sync` uploads the ./wandb run directories later. Energy: lenet.energy.
"""

from __future__ import annotations

import contextlib
import netrc
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lenet_deploy.cli import WANDB_MODES
from lenet_deploy.errors import LenetError

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
              job_type: str = "fit") -> Iterator[tuple[Any, str]]:
    """(run, the mode it really runs in): always finished, also when the fit fails (exit code 1).

    An online run that cannot reach W&B (no network, server down) falls back to offline with a
    warning instead of failing the fit.
    """
    os.environ.setdefault("WANDB_SILENT", "true")
    import wandb

    if wandb.run is not None:  # inside `wandb.agent`: the sweep's run is ours, the agent finishes it
        yield wandb.run, mode
        return

    def start(run_mode: str):
        return wandb.init(project=os.environ.get("WANDB_PROJECT", PROJECT), name=name, group=group,
                          job_type=job_type, config=config, mode=run_mode,
                          dir=os.environ.get("WANDB_DIR", os.getcwd()),
                          settings=wandb.Settings(console="off",
                                                  init_timeout=float(os.environ.get("WANDB_INIT_TIMEOUT", 30))))

    try:
        run = start(mode)
    except Exception as exc:  # wandb raises its own CommError/UsageError types for an unreachable server
        if mode != "online":
            raise
        print(f"warning: W&B online failed ({str(exc).splitlines()[0][:120]}); logging offline instead "
              "(upload later with `wandb sync`)", file=sys.stderr)
        mode = "offline"
        run = start(mode)
    try:
        yield run, mode
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


def offline_runs_note(since: float) -> str | None:
    """Where the offline W&B runs written since `since` (a time.time()) are, and the command that uploads them."""
    root = Path(os.environ.get("WANDB_DIR") or ".") / "wandb"
    runs = sorted(p for p in root.glob("offline-run-*") if p.stat().st_mtime >= since)
    if not runs:
        return None
    what = f"{runs[0]}" if len(runs) == 1 else f"{len(runs)} runs in {root}"
    paths = runs[0] if len(runs) == 1 else root / "offline-run-*"
    return f"W&B offline: {what}; upload with `wandb sync {paths}`"
