"""Hyperband decides the same for every trial whether one worker runs the sweep or several, in any timing."""

import time

import optuna
import pytest

from lenet_deploy.train.sweep.pruning import make_in_order_hyperband

TRIALS = 14
STEPS = 9


def value(number: int, step: int) -> float:
    """A fixed curve per trial: even trials good, odd ones poor but each better than the odd ones before it."""
    return (0.9 - number / 100 if number % 2 == 0 else 0.1 + number / 100) + step / 1000


def objective(trial) -> float:
    for step in range(1, STEPS + 1):
        # Odd trials run faster, so with two workers they reach a rung before the (better) even trial before
        # them, and Optuna's own pruner then ranks them among the poor trials only.
        time.sleep(0.1 if trial.number % 2 == 0 else 0.0)
        trial.report(value(trial.number, step), step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return value(trial.number, STEPS)


def outcome(storage: str, pruner, jobs: int) -> dict[int, tuple[str, int]]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize", pruner=pruner)
    study.optimize(objective, n_trials=TRIALS, n_jobs=jobs)
    return {t.number: (t.state.name, t.last_step) for t in study.get_trials()}


@pytest.mark.slow  # 7 s of threads racing: the full suite's, not the edit-test loop's
def test_two_workers_prune_exactly_what_one_worker_prunes(tmp_path):
    one = outcome(f"sqlite:///{tmp_path / 'one.db'}", make_in_order_hyperband(1, STEPS, 3), jobs=1)
    two = outcome(f"sqlite:///{tmp_path / 'two.db'}", make_in_order_hyperband(1, STEPS, 3), jobs=2)
    assert any(state == "PRUNED" for state, _ in one.values())  # the comparison is not vacuous
    assert two == one


def _run_to_the_end_or_pruned(study, trial) -> None:
    for step in range(1, STEPS + 1):
        trial.report(value(trial.number, step), step)
        if trial.should_prune():
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            return
    study.tell(trial, value(trial.number, STEPS))


def test_optunas_own_hyperband_depends_on_timing():
    """Why the in-order pruner exists: Optuna's pruner decides differently when two workers interleave. Shown with
    the interleaving written out (no threads, no sleeps, so no margin to guess): one worker runs the trials in
    order; two workers start trials 2k and 2k+1 together and the faster odd one ends first."""
    def outcome(interleaved: bool) -> dict[int, str]:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(study_name="s", direction="maximize", pruner=optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=STEPS, reduction_factor=3))
        for _ in range(0, TRIALS, 2):
            pair = [study.ask(), study.ask()] if interleaved else None
            for k in (1, 0) if interleaved else (0, 1):
                _run_to_the_end_or_pruned(study, pair[k] if interleaved else study.ask())
        return {t.number: t.state.name for t in study.get_trials()}

    in_order, interleaved = outcome(False), outcome(True)
    assert "PRUNED" in in_order.values() and interleaved != in_order


def test_fewer_epochs_than_the_first_rung_never_prune(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}", direction="maximize",
                                pruner=make_in_order_hyperband(3, 2, 3))
    study.optimize(lambda t: [t.report(value(t.number, s), s) for s in (1, 2)] and 0.0, n_trials=4)
    assert all(t.state.name == "COMPLETE" for t in study.get_trials())
