"""What a sweep trial tries depends on the seed and its draw number only (not on workers or timing)."""

import optuna
import pytest

from lenet_deploy.train.sweep.sampling import N_STARTUP, grid_point, make_sampler

SPACE = {"filters": optuna.distributions.CategoricalDistribution([4, 6, 12, 16]),
         "learn_rate": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True),
         "conv_layers": optuna.distributions.IntDistribution(1, 3)}
GRID = {"filters": [4, 6, 12, 16], "conv_layers": [1, 2, 3], "padding": ["same", "valid"]}


def ask(study, space):
    trial = study.ask(space)
    return trial.number, dict(trial.params)


def one_worker(method, seed, n, grid=None, space=SPACE):
    study = optuna.create_study(sampler=make_sampler(method, grid, seed))
    return [ask(study, space) for _ in range(n)]


@pytest.mark.parametrize("method", ["random", "bayes"])
def test_two_interleaved_workers_draw_what_one_worker_draws(tmp_path, method):
    sequential = one_worker(method, 7, N_STARTUP)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    a, b = (optuna.create_study(study_name="s", storage=storage, sampler=make_sampler(method, None, 7),
                                load_if_exists=True) for _ in range(2))
    drawn = [ask(study, SPACE) for study in (b, a, a, b, a)]  # workers asking in any order
    assert sorted(drawn, key=lambda d: d[0]) == sequential


def test_hyperband_brackets_do_not_hide_earlier_draws():
    """Optuna shows a sampler only the trials of the trial's Hyperband bracket; the draws must not repeat."""
    pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=9, reduction_factor=3)
    study = optuna.create_study(sampler=make_sampler("random", None, 4), pruner=pruner)
    assert [ask(study, SPACE) for _ in range(8)] == one_worker("random", 4, 8)


def test_another_seed_draws_other_configs():
    assert one_worker("random", 1, 5) != one_worker("random", 2, 5)
    assert len({tuple(p.items()) for _, p in one_worker("random", 1, 5)}) > 1


def test_a_retried_trial_does_not_shift_the_draws_after_it():
    study = optuna.create_study(sampler=make_sampler("random", None, 3))
    first = ask(study, SPACE)
    study.add_trial(optuna.create_trial(state=optuna.trial.TrialState.WAITING, params=first[1],
                                        distributions=SPACE, system_attrs={"failed_trial": 0}))
    retry = ask(study, SPACE)  # the waiting retry: the old parameters, no draw
    after = ask(study, SPACE)
    assert retry[1] == first[1]
    assert after[1] == one_worker("random", 3, 2)[1][1]


def test_grid_visits_every_point_once_in_a_seeded_order():
    size = 4 * 3 * 2
    points = [tuple(sorted(grid_point(GRID, 5, draw).items())) for draw in range(size)]
    assert len(set(points)) == size
    assert points == [tuple(sorted(grid_point(GRID, 5, draw).items())) for draw in range(size)]
    assert points != [tuple(sorted(grid_point(GRID, 6, draw).items())) for draw in range(size)]
    space = {k: optuna.distributions.CategoricalDistribution(v) for k, v in GRID.items()}
    drawn = one_worker("grid", 5, size, GRID, space)
    assert [tuple(sorted(p.items())) for _, p in drawn] == points
