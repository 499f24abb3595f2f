"""Which configuration a sweep trial tries: a function of the sweep's seed and the trial's draw number.

Optuna's samplers draw from one random stream per process, so what trial 7 tries would depend on the
host, the worker and who asked first. Here every draw is seeded by (seed, draw number), where the draw
number counts the trials before it that drew parameters: a dead worker's trial is retried with its old
parameters and a surplus trial never samples, so neither shifts the draws after it. One worker or
eight, on one host or several, trial N of `random` and `grid` tries the same configuration.

`bayes` (TPE) draws its first N_STARTUP trials the same way; after that it samples from the trials that
have finished when it asks, which is reproducible with one worker and not with several.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

N_STARTUP = 5  # bayes: seeded random draws before TPE takes over


def _seed(*parts: Any) -> int:
    return zlib.crc32(":".join(map(str, parts)).encode())


def draw_number(study, trial) -> int:
    """Trials before this one that drew their own parameters (not a retry, not surplus).

    Read from the storage: with a Hyperband pruner the study a sampler is given shows only the trials of
    the trial's own bracket."""
    every = study._storage.get_all_trials(study._study_id, deepcopy=False)
    earlier = [t for t in every if t.number < trial.number]
    surplus = [str(t.user_attrs.get("reason", "")).startswith("surplus") for t in earlier]
    return sum(1 for t, spare in zip(earlier, surplus) if "failed_trial" not in t.system_attrs and not spare)


def grid_point(space: dict[str, list], seed: int, draw: int) -> dict[str, Any]:
    """The draw-th point of the grid in a seeded order (every point once per len(grid) draws)."""
    names = sorted(space)
    sizes = [len(space[name]) for name in names]
    order = np.random.default_rng(_seed(seed, "grid")).permutation(int(np.prod(sizes)))
    index = int(order[draw % len(order)])
    point = {}
    for name, size in zip(reversed(names), reversed(sizes)):
        index, digit = divmod(index, size)
        point[name] = space[name][digit]
    return point


def make_sampler(method: str, grid_space: dict[str, list] | None, seed: int):
    import optuna

    class SeededSampler(optuna.samplers.BaseSampler):
        """Independent sampling only: each parameter from the draw's own seeded stream."""

        def __init__(self) -> None:
            self._draws: dict[int, int] = {}  # trial number -> draw number, computed once per trial

        def infer_relative_search_space(self, study, trial):
            return {}

        def sample_relative(self, study, trial, search_space):
            return {}

        def sample_independent(self, study, trial, param_name, param_distribution):
            if trial.number not in self._draws:
                self._draws[trial.number] = draw_number(study, trial)
            draw = self._draws[trial.number]
            if method == "grid":
                return grid_point(grid_space, seed, draw)[param_name]
            if method == "bayes" and draw >= N_STARTUP:
                tpe = optuna.samplers.TPESampler(seed=_seed(seed, draw, "tpe"), n_startup_trials=N_STARTUP)
                return tpe.sample_independent(study, trial, param_name, param_distribution)
            random = optuna.samplers.RandomSampler(seed=_seed(seed, draw, param_name))
            return random.sample_independent(study, trial, param_name, param_distribution)

    return SeededSampler()
