import pytest

from lenet_deploy.errors import LenetError
from lenet_deploy.train.config import PRESETS, load_yaml, make_config, preset


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_are_valid(name):
    assert make_config(preset(name), name).epochs >= 1


def test_scalars_broadcast_to_every_layer():
    config = make_config({"conv_layers": 3, "filters": 12, "padding": "same"})
    assert config.filters == (12, 12, 12) and config.padding == ("same",) * 3 and config.kernel_size == (5,) * 3


@pytest.mark.parametrize("values, message", [
    ({"epochs": 0}, "epochs must be >= 1, got 0"),
    ({"epochs": -3}, "epochs must be >= 1"),
    ({"epochs": "ten"}, "epochs must be an integer, got 'ten'"),
    ({"epochs": 2.5}, "epochs must be an integer"),
    ({"learn_rate": "fast"}, "learn_rate must be a finite number"),
    ({"learn_rate": 0}, "learn_rate=0 is out of range"),
    ({"dropout": 1.0}, "dropout=1.0 is out of range"),
    ({"conv_layers": 4}, r"conv_layers must be in 1..3, got 4"),
    ({"activation": "sigmoid"}, "activation must be one of tanh, relu"),
    ({"padding": ["same", "full"]}, "padding must be one of same, valid, got 'full'"),
    ({"conv_layers": 2, "filters": [6, 16, 32]}, "filters has 3 values for 2 conv layers"),
    ({"batch_size": True}, "batch_size must be an integer, got True"),
    ({"optimiser": "sgd"}, "unknown key 'optimiser'"),
])
def test_bad_values_name_the_key(values, message):
    with pytest.raises(LenetError, match=message):
        make_config(values, "cfg.yaml")


def test_unknown_preset():
    with pytest.raises(LenetError, match="unknown preset 'lenet-9'.*original, seed-best, lenet-plus"):
        preset("lenet-9")


def test_yaml_may_start_from_a_preset(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("preset: original\nepochs: 3\n")
    config = make_config(load_yaml(path))
    assert config.filters == (6, 16) and config.epochs == 3 and config.learn_rate == 0.01


def test_malformed_yaml_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("epochs: 3\nfilters: [6, 16\n")
    with pytest.raises(LenetError, match="malformed YAML at line"):
        load_yaml(path)


def test_yaml_that_is_not_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(LenetError, match="expected a mapping"):
        load_yaml(path)
