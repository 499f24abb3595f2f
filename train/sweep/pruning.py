"""Hyperband whose decisions do not depend on how many workers run the sweep, or on their timing.

Optuna's HyperbandPruner compares a trial, at a rung, with whichever trials of its bracket have reached
that rung by then, and sizes its brackets from the first trial to complete: with several workers both
depend on timing, so the same sweep prunes different trials. Here a trial at a rung waits until every
trial numbered before it (in its bracket, still running) has passed that rung, then is compared with
those earlier trials only: exactly what one worker running the trials in order would compare. The
brackets are sized from the epochs the sweep may train (known up front), not from the first result.
Trials wait only at rung epochs, so workers rarely idle.

A trial retried after its worker died or the sweep was interrupted keeps the place of the trial it retries
(`original_number`): the same bracket and the same earlier trials, so a resumed sweep prunes what an
uninterrupted one prunes.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

PASSED = "passed_step"  # system attr: the last step at which this trial was checked and kept
POLL_SECONDS = 0.5


def make_in_order_hyperband(min_resource: int, max_resource: int, eta: int, on_wait=lambda: None):
    """An Optuna pruner; `on_wait()` runs while a trial waits (e.g. to fail trials of dead workers)."""
    import optuna
    from optuna.trial import TrialState

    class InOrderHyperband(optuna.pruners.HyperbandPruner):
        def _get_bracket_id(self, study, trial) -> int:
            return super()._get_bracket_id(study, SimpleNamespace(number=original_number(trial)))

        def prune(self, study, trial) -> bool:
            step = trial.last_step
            if step is None:
                return False
            if not self._pruners:
                self._try_initialization(study)  # max_resource is an int: needs no trials
            bracket = self._get_bracket_id(study, trial)
            halving = self._pruners[bracket]
            rung = _current_rung(trial)
            if step >= min_resource * eta ** (bracket + rung):  # a rung: compare, after the trials before it
                earlier = _earlier_in_bracket(study, trial, lambda t: self._get_bracket_id(study, t) == bracket,
                                              step, on_wait)
                if halving.prune(_TrialsView(study, earlier), trial):
                    return True
            study._storage.set_trial_system_attr(trial._trial_id, PASSED, step)
            return False

    def _earlier_in_bracket(study, trial, in_bracket, step: int, wait) -> list:
        """The bracket's trials numbered before `trial`, once none of them is still short of `step`."""
        while True:
            trials = [t for t in study.get_trials(deepcopy=False)
                      if original_number(t) < original_number(trial) and in_bracket(t)
                      and t.state in (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)]
            behind = [t for t in trials if t.state == TrialState.RUNNING and t.system_attrs.get(PASSED, -1) < step]
            if not behind:
                return trials
            wait()
            time.sleep(POLL_SECONDS)

    # With fewer epochs than min_resource no trial reaches a rung: one bracket that never prunes.
    return InOrderHyperband(min_resource=min_resource, max_resource=max(max_resource, min_resource),
                            reduction_factor=eta)


def retry_from_scratch():
    """Optuna's retry of a failed trial (same parameters, WAITING), without what the failed attempt left: the
    pruner's marks of the rungs it passed and its reason, which the retry has not earned yet."""
    import copy

    from optuna.storages import RetryHeartbeatStaleTrialCallback

    class RetryFromScratch(RetryHeartbeatStaleTrialCallback):
        def __call__(self, study, trial) -> None:
            clean = copy.copy(trial)
            clean.system_attrs = {k: v for k, v in trial.system_attrs.items()
                                  if k != PASSED and not k.startswith("completed_rung_")}
            clean.user_attrs = {k: v for k, v in trial.user_attrs.items() if k != "reason"}
            super().__call__(study, clean)

    return RetryFromScratch()


def original_number(trial) -> int:
    """The number of the first trial a retry retries (Optuna's retry_history), else the trial's own."""
    return (trial.system_attrs.get("retry_history") or [trial.number])[0]


def _current_rung(trial) -> int:
    rung = 0
    while f"completed_rung_{rung}" in trial.system_attrs:
        rung += 1
    return rung


class _TrialsView:
    """What SuccessiveHalvingPruner.prune reads from a study (its trials, direction, storage), narrowed."""

    def __init__(self, study, trials: list) -> None:
        self._storage, self.direction, self._trials = study._storage, study.direction, trials

    def get_trials(self, deepcopy: bool = False, states: Any = None) -> list:
        return [t for t in self._trials if states is None or t.state in states]

