import pytest

from lenet_deploy.train.config import make_config, preset
from lenet_deploy.train.model import InfeasibleConfig, build_model, count_macs, spatial_plan


def test_original_lenet5_shapes_and_parameter_count():
    model = build_model(make_config(preset("original")))
    assert model.count_params() == 61_706
    assert model.input_shape == (None, 28, 28, 1)
    assert model.output_shape == (None, 10)
    assert model.get_layer("conv2").output.shape[1:] == (10, 10, 16)
    assert model.get_layer("flatten").output.shape[1:] == (400,)
    # conv1 28·28·6·25 + conv2 10·10·16·150 + 400·120 + 120·84 + 84·10
    assert count_macs(model) == 117_600 + 240_000 + 48_000 + 10_080 + 840


def test_seed_best_is_two_same_blocks():
    model = build_model(make_config(preset("seed-best")))
    assert model.get_layer("flatten").output.shape[1:] == (7 * 7 * 6,)
    assert [layer.name for layer in model.layers if layer.name.startswith("pool")] == ["pool1", "pool2"]


@pytest.mark.parametrize("layers, padding, sides", [
    (1, "valid", [12]), (2, "valid", [12, 4]), (3, "same", [14, 7, 3]), (1, "same", [14])])
def test_spatial_plan(layers, padding, sides):
    assert spatial_plan(make_config({"conv_layers": layers, "padding": padding})) == sides


def test_three_valid_convs_are_rejected_with_the_reason_before_building():
    config = make_config({"conv_layers": 3, "padding": "valid", "filters": 16})
    with pytest.raises(InfeasibleConfig, match=r"conv layer 3 has a 5×5 'valid' kernel but its input is only 4×4"):
        build_model(config)


def test_kernel_larger_than_input():
    with pytest.raises(InfeasibleConfig, match="conv layer 1"):
        spatial_plan(make_config({"conv_layers": 1, "kernel_size": 29, "padding": "valid"}))


def test_family_options_reach_the_layers():
    config = make_config({"conv_layers": 3, "filters": [4, 12, 16], "kernel_size": 3, "activation": "relu",
                          "pooling": "max", "dense_units": [64], "dropout": 0.3})
    model = build_model(config)
    names = [layer.__class__.__name__ for layer in model.layers]
    assert names.count("MaxPooling2D") == 3 and "Dropout" in names
    assert model.get_layer("conv3").filters == 16
    assert model.get_layer("conv1").kernel_size == (3, 3)
    assert model.get_layer("dense1").activation.__name__ == "relu"
