"""`--data` takes the same forms in every command (IDX directory raw or .gz, mnist.npz, export-data .npz),
and each command names the form it got; training refuses test-only data in one line."""

import gzip
import json

import numpy as np
import pytest
from click.testing import CliRunner

from lenet_deploy.data import FILES
from lenet_deploy.firmware_bench.cli import main as bench
from lenet_deploy.firmware_bench.testdata import read_test_data
from lenet_deploy.idx import encode_idx
from lenet_deploy.train.cli import main as train


@pytest.fixture(scope="module")
def forms(subset_arrays, subset_npz, testset, tmp_path_factory):
    root = tmp_path_factory.mktemp("forms")
    for kind, compress in (("idx", False), ("idx-gz", True)):
        (root / kind).mkdir()
        for key, name in FILES.items():
            data = encode_idx(subset_arrays[key])
            if compress:
                (root / kind / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (root / kind / name).write_bytes(data)
    return {"idx": root / "idx", "idx-gz": root / "idx-gz", "mnist.npz": subset_npz, "export": testset}


NAMED = {"idx": "MNIST test set from {path}", "idx-gz": "MNIST test set from {path}",
         "mnist.npz": "MNIST test set from {path}", "export": "export-data .npz {path}"}


@pytest.mark.parametrize("form", list(NAMED))
def test_every_form_gives_the_same_test_images(forms, subset_arrays, form):
    images, labels, what = read_test_data(forms[form], verify=False)
    np.testing.assert_array_equal(labels, subset_arrays["y_test"])
    np.testing.assert_array_equal((images[..., 0] * 255).round().astype(np.uint8), subset_arrays["x_test"])
    assert what.startswith(NAMED[form].format(path=forms[form])) and "1,000 images" in what


@pytest.mark.parametrize("form", list(NAMED))
def test_export_data_takes_every_form(forms, form, tmp_path):
    result = CliRunner().invoke(bench, ["export-data", "--data", str(forms[form]), "--unverified",
                                        "--out", str(tmp_path / "t.npz")])
    assert result.exit_code == 0, result.output
    assert f"data: {NAMED[form].format(path=forms[form])}" in result.output
    with np.load(tmp_path / "t.npz") as npz:
        assert len(npz["y_test"]) == 1000


@pytest.mark.parametrize("form", ["idx", "idx-gz", "mnist.npz"])
def test_lenet_train_data_takes_every_training_form(forms, form):
    result = CliRunner().invoke(train, ["data", "--data", str(forms[form]), "--unverified"])
    assert result.exit_code == 0, result.output
    assert f"4000 train + 1000 test images from {forms[form]}" in result.output


@pytest.mark.parametrize("command", [["data"], ["fit", "--preset", "original", "--out", "run"],
                                     ["sweep", "--config", "s.yaml", "--out", "sw"]])
def test_training_names_the_export_form_and_refuses_it_in_one_line(forms, command, tmp_path):
    (tmp_path / "s.yaml").write_text(json.dumps({"method": "random", "metric": {"name": "val_accuracy"},
                                                 "parameters": {"filters": {"values": [4, 6]}}}))
    tracking = [] if command == ["data"] else ["--wandb", "disabled"]
    result = CliRunner().invoke(train, [*command, "--data", str(forms["export"]), "--unverified", *tracking])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == (f"error: {forms['export']}: an export-data .npz (test images only): enough to "
                                     "benchmark, but training and conversion need the training images too (an IDX "
                                     "directory or Keras' mnist.npz)")
    assert not (tmp_path / "run").exists() and not (tmp_path / "sw").exists()


@pytest.mark.slow
@pytest.mark.parametrize("form", list(NAMED))
def test_bench_run_takes_every_form(forms, form, converted_build, tmp_path):
    result = CliRunner().invoke(bench, ["run", "--tflite", str(converted_build / "lenet_int8.tflite"), "--data",
                                        str(forms[form]), "--unverified", "--samples", "40", "--invokes", "5",
                                        "--repeats", "1", "--energy-seconds", "0", "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert f"data: {NAMED[form].format(path=forms[form])}" in result.output
    report = json.loads((tmp_path / "r" / "bench.json").read_text())
    assert report["variants"][0]["metrics"]["samples"] == 40
