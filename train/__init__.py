"""Train stage: the LeNet family, fitting one config, sweeps. Host only (imports TensorFlow lazily).

Its public face: what the pipeline and the other stages may import (`from lenet_deploy.train import fit`).
"""

from lenet_deploy.api import public_api

__getattr__, __all__ = public_api(__name__, {
    "PRESETS": "config", "make_config": "config", "preset": "config", "load_yaml": "config",
    "FitOptions": "fitting", "fit": "fitting",
    "build_model": "model",
    "resolve_wandb_mode": "tracking", "offline_runs_note": "tracking",
    "SweepOptions": "sweep.driver", "run_sweep": "sweep.driver", "sweep_mismatch": "sweep.driver",
    "load_spec": "sweep.spec", "ranked": "sweep.results", "state_counts": "sweep.results", "write_best": "sweep.best",
    "DeviceLimits": "sweep.device", "device_limits": "sweep.device",
})
