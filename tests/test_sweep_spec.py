import pytest
import yaml

from lenet_deploy.errors import LenetError
from lenet_deploy.train.sweep.spec import grid_size, load_spec, optuna_distributions, parse_spec
from tests.conftest import REPO

GOOD = {"method": "random", "metric": {"name": "val_accuracy", "goal": "maximize"},
        "parameters": {"filters": {"values": [4, 6]}}}


def with_(**changes):
    spec = yaml.safe_load(yaml.safe_dump(GOOD))
    spec.update(changes)
    return spec


def test_seed_yaml_is_exactly_the_reference_space():
    spec = load_spec(REPO / "sweeps/seed.yaml")
    assert spec.method == "random" and spec.metric == "val_accuracy" and spec.goal == "maximize"
    params = {p.name: p for p in spec.params}
    assert (params["conv_layers"].distribution, params["conv_layers"].low, params["conv_layers"].high) == \
        ("int_uniform", 1, 3)
    assert params["filters"].values == (4, 6, 12, 16)
    assert params["padding"].values == ("same", "valid")
    assert params["learn_rate"].values == (0.01, 0.001, 0.005)
    assert params["epochs"].values == (10, 20, 30)
    assert params["batch_size"].values == (32, 64)
    assert set(params) == {"conv_layers", "filters", "padding", "learn_rate", "epochs", "batch_size"}
    assert spec.hyperband.min_iter == 3 and spec.hyperband.eta == 3
    assert spec.fixed == {"augment_shift": 2, "lr_schedule": "cosine"}  # the recipe, not swept


def test_lenet_plus_maps_onto_optuna():
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    spec = load_spec(REPO / "sweeps/lenet-plus.yaml")
    dists = optuna_distributions(spec)
    assert dists["learn_rate"] == FloatDistribution(0.0003, 0.005, log=True)
    assert dists["dropout"] == FloatDistribution(0.0, 0.4, step=0.1)
    assert isinstance(dists["dense_units"], CategoricalDistribution)
    dense = next(p for p in spec.params if p.name == "dense_units")
    assert dense.decode(dists["dense_units"].choices[0]) == [120, 84]
    assert spec.fixed == {"padding": "same", "batch_size": 64, "epochs": 15}


def test_int_uniform_inferred_and_grid_size():
    spec = parse_spec(with_(method="grid", parameters={"conv_layer": {"min": 1, "max": 3},
                                                       "padding": {"values": ["same", "valid"]}}))
    assert spec.params[0].distribution == "int_uniform" and grid_size(spec) == 6


@pytest.mark.parametrize("raw, message", [
    (with_(method="hyper"), "method: must be one of random, grid, bayes"),
    (with_(metric={"name": "test_accuracy", "goal": "maximize"}), "metric.name: must be one of .*never a test-set"),
    (with_(metric={"name": "val_accuracy", "goal": "up"}), "metric.goal: must be maximize or minimize"),
    (with_(metric="val_accuracy"), "metric: needs a mapping"),
    (with_(parameters={}), "parameters: needs a non-empty mapping"),
    (with_(parameters={"filter": {"values": [4]}}), "parameters.filter: not a training setting"),
    (with_(parameters={"filters": {"values": []}}), "parameters.filters.values: is empty"),
    (with_(parameters={"filters": {"values": 4}}), "parameters.filters.values: must be a list"),
    (with_(parameters={"learn_rate": {"min": 0.1, "max": 0.01}}), "parameters.learn_rate: min 0.1 > max 0.01"),
    (with_(parameters={"learn_rate": {"min": "a", "max": 0.01}}), "parameters.learn_rate.min: must be a number"),
    (with_(parameters={"learn_rate": {"min": 0.001, "max": 0.1, "distribution": "gaussian"}}),
     "parameters.learn_rate.distribution: unknown or unsupported"),
    (with_(parameters={"learn_rate": {"min": 0, "max": 0.1, "distribution": "log_uniform_values"}}),
     "log_uniform_values needs min > 0"),
    (with_(parameters={"epochs": {"min": 1.5, "max": 3, "distribution": "int_uniform"}}),
     "int_uniform needs integer min and max"),
    (with_(parameters={"filters": {"values": [4], "step": 2}}), "parameters.filters.step: unknown key"),
    (with_(parameters={"filters": {"max": 3}}), "needs value, values, or min and max"),
    (with_(early_terminate={"type": "median"}), "early_terminate: only {type: hyperband"),
    (with_(early_terminate={"type": "hyperband", "min_iter": 0}), "early_terminate.min_iter: must be an integer"),
    (with_(sweeep=1), "sweeep: unknown key"),
    (with_(method="grid", parameters={"learn_rate": {"min": 0.001, "max": 0.1}}), "grid search needs listed values"),
    (["method", "random"], "a sweep config is a mapping"),
])
def test_bad_configs_name_the_key_and_why(raw, message):
    with pytest.raises(LenetError, match=message):
        parse_spec(raw, "bad.yaml")


def test_malformed_yaml_file(tmp_path):
    (tmp_path / "s.yaml").write_text("method: random\nparameters: {filters: [4\n")
    with pytest.raises(LenetError, match="malformed YAML at line"):
        load_spec(tmp_path / "s.yaml")
