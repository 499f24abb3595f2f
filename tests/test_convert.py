"""lenet-convert on a real 1-epoch subset model: every mode, the int8 checks, inspect, and the error paths."""

import json

import pytest
from click.testing import CliRunner

from lenet_deploy.convert.cli import main
from lenet_deploy.convert.flatbuffer import read_graph

BASE = ["--tflm-samples", "100", "--unverified"]


def convert_cli(model, out, subset_npz, *extra):
    return CliRunner().invoke(main, [str(model), "--out", str(out), "--data", str(subset_npz), *BASE, *extra])


@pytest.fixture(scope="module")
def int8_build(trained_run, subset_npz, tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    result = convert_cli(trained_run / "model.keras", out, subset_npz)
    assert result.exit_code == 0, result.output + str(result.exception)
    return out, result


def test_int8_writes_f32_int8_c_source_and_manifest(int8_build):
    out, result = int8_build
    assert {p.name for p in out.iterdir()} >= {"lenet_f32.tflite", "lenet_int8.tflite", "lenet_int8.h",
                                               "lenet_int8.c", "manifest.json"}
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temp files left behind"
    assert "int8 is" in result.output and "TFLM" in result.output


def test_int8_model_is_full_integer(int8_build):
    out, _ = int8_build
    graph = read_graph((out / "lenet_int8.tflite").read_bytes())
    assert graph.op_names == ["CONV_2D", "TANH", "AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
    assert graph.tensors[graph.inputs[0]].dtype == "INT8" and graph.tensors[graph.outputs[0]].dtype == "INT8"
    activations = [t for t in graph.tensors if not t.data]
    assert all(t.dtype == "INT8" for t in activations)
    assert (out / "lenet_int8.tflite").stat().st_size < 0.3 * (out / "lenet_f32.tflite").stat().st_size


def test_manifest_records_checks_against_keras_and_tflm(int8_build, trained_run):
    out, _ = int8_build
    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["artifacts"]["lenet_int8"]
    check = entry["check"]
    assert check["samples"] == 400 and check["runtime"] == "litert"  # the run's own validation split
    assert abs(check["drop_pp"] - (check["keras_accuracy"] - check["tflite_accuracy"]) * 100) < 1e-9
    assert check["passed"] is True
    tflm = entry["tflm"]
    assert tflm["loads"] and tflm["samples"] == 100
    assert tflm["agreement_with_litert"] >= 0.98
    assert entry["representative"] == 500 and entry["validation"]["seed"] == 0
    assert manifest["artifacts"]["lenet_f32"]["check"]["top1_agreement"] == 1.0
    assert entry["source_sha256"] and entry["fits"][0]["fits"] is True


def test_the_recorded_checks_are_what_the_models_compute(int8_build, trained_run, subset_arrays):
    """Recomputed here, the manifest's numbers must come out the same: Keras and LiteRT on the run's own 400
    validation images (agreement, accuracies, the largest score difference), and TFLite Micro's arena."""
    import keras
    import numpy as np

    from lenet_deploy.data import split_train_val, to_model_input
    from lenet_deploy.runtimes import TFLiteRunner, TFLMRunner
    from lenet_deploy.tflm import arena_bytes

    out, _ = int8_build
    entry = json.loads((out / "manifest.json").read_text())["artifacts"]["lenet_int8"]
    _, x_val, _, y_val = split_train_val(subset_arrays["x_train"], subset_arrays["y_train"], 400, 0)
    images = to_model_input(x_val)
    keras_scores = keras.models.load_model(trained_run / "model.keras").predict(images, verbose=0)
    model = (out / "lenet_int8.tflite").read_bytes()
    int8_scores = TFLiteRunner(model).predict(images)
    check = entry["check"]
    assert check["top1_agreement"] == float(np.mean(keras_scores.argmax(1) == int8_scores.argmax(1)))
    assert check["tflite_accuracy"] == float(np.mean(int8_scores.argmax(1) == y_val))
    assert check["keras_accuracy"] == float(np.mean(keras_scores.argmax(1) == y_val))
    assert check["max_abs_diff"] == pytest.approx(float(np.max(np.abs(int8_scores - keras_scores))), abs=1e-6)
    runner = TFLMRunner(model)
    runner.invoke(runner.input.quantize(images[:1]))
    assert entry["tflm"]["arena_bytes"] == arena_bytes(runner.interpreter)  # measured, the same every time


def test_header_macros_match_the_model(int8_build):
    out, _ = int8_build
    header = (out / "lenet_int8.h").read_text()
    data = (out / "lenet_int8.tflite").read_bytes()
    import hashlib

    assert f'#define LENET_INT8_SHA256 "{hashlib.sha256(data).hexdigest()}"' in header
    assert f"#define LENET_INT8_SIZE {len(data)}u" in header
    assert "#define LENET_INT8_INPUT_ZERO_POINT (-128)" in header
    assert "#define LENET_INT8_OPS(X) X(Conv2D) X(Tanh) X(AveragePool2D) X(Reshape) X(FullyConnected) X(Softmax)" \
        in header
    arena = json.loads((out / "manifest.json").read_text())["artifacts"]["lenet_int8"]["tflm"]["arena_bytes"]
    assert f"#define LENET_INT8_ARENA_MEASURED_BYTES {arena}" in header


@pytest.mark.parametrize("mode, stem, weight_dtype", [("none", "lenet_f32", "FLOAT32"),
                                                      ("float16", "lenet_f16", "FLOAT16"),
                                                      ("dynamic", "lenet_dynamic", "INT8")])
def test_other_modes(trained_run, subset_npz, tmp_path, mode, stem, weight_dtype):
    result = convert_cli(trained_run / "model.keras", tmp_path, subset_npz, "--quantize", mode)
    assert result.exit_code == 0, result.output
    graph = read_graph((tmp_path / f"{stem}.tflite").read_bytes())
    weights = [t for t in graph.tensors if t.data and len(t.shape) > 1]
    assert weights and any(t.dtype == weight_dtype for t in weights)
    entry = json.loads((tmp_path / "manifest.json").read_text())["artifacts"][stem]
    assert entry["check"]["top1_agreement"] >= 0.97
    assert not (tmp_path / f"{stem}.h").exists()


@pytest.mark.parametrize("io_type, dtype", [("uint8", "UINT8"), ("float32", "FLOAT32")])
def test_io_types(trained_run, subset_npz, tmp_path, io_type, dtype):
    result = convert_cli(trained_run / "model.keras", tmp_path, subset_npz, "--io", io_type)
    assert result.exit_code == 0, result.output
    graph = read_graph((tmp_path / "lenet_int8.tflite").read_bytes())
    assert graph.tensors[graph.inputs[0]].dtype == dtype
    assert any(t.dtype == "INT8" and t.data for t in graph.tensors)
    header = (tmp_path / "lenet_int8.h").read_text()
    assert f'#define LENET_INT8_INPUT_DTYPE "{io_type}"' in header


def test_max_drop_fails_after_writing_and_marks_the_artifacts(trained_run, subset_npz, tmp_path):
    result = convert_cli(trained_run / "model.keras", tmp_path, subset_npz, "--max-drop", "-100")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: accuracy drop") and "exceeds --max-drop -100" in result.stderr
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["artifacts"]["lenet_int8"]["check"]["passed"] is False
    assert (tmp_path / "lenet_int8.tflite").exists()


def test_inspect_reports_ops_tensors_arena_and_boards(int8_build):
    out, _ = int8_build
    result = CliRunner().invoke(main, ["inspect", str(out / "lenet_int8.tflite"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ops"][0] == "CONV_2D" and report["tflm"]["arena_bytes"] > 0
    assert {row["board"] for row in report["fits"]} >= {"STM32F446RE", "ESP32"}
    conv_weights = next(t for t in report["tensors"] if t["dtype"] == "INT8" and t["const_bytes"] == 150)
    assert conv_weights["channels"] == 6  # per-channel conv quantization
    table = CliRunner().invoke(main, ["inspect", str(out / "lenet_int8.tflite")])
    text = " ".join(table.output.split())
    assert table.exit_code == 0 and "fits on" in text and "assumed TFLM runtime" in text


def assert_error(result, fragment, code=2):
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr


def test_missing_model(tmp_path, subset_npz):
    assert_error(convert_cli(tmp_path / "nope.keras", tmp_path / "b", subset_npz), "no such file")


def _hdf5(path):
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))


def _tflite(path):
    path.write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(100))


def _zip(path):
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "hello")


@pytest.mark.parametrize("name, make, kind", [
    ("fake.keras", lambda p: p.write_text("not a zip"), "not a Keras model: it is a text file"),
    ("fake.keras", lambda p: p.mkdir(), "not a Keras model: it is a directory"),
    ("fake.keras", _hdf5, "not a Keras model: it is an HDF5 file"),
    ("fake.keras", _tflite, "not a Keras model: it is a TFLite model"),
    ("fake.keras", _zip, "not a Keras model: it is a zip archive"),
    ("fake.h5", lambda p: p.write_bytes(b""), "not a Keras model: it is an empty file"),
    ("model.npz", _zip, "not a Keras model file (.keras or .h5): it is a zip archive")])
def test_not_a_keras_model_says_what_the_file_is(tmp_path, subset_npz, name, make, kind):
    make(tmp_path / name)
    assert_error(convert_cli(tmp_path / name, tmp_path / "b", subset_npz), f"{tmp_path / name}: {kind}")
    assert not (tmp_path / "b").exists()


def test_model_with_an_op_that_cannot_go_int8(tmp_path, subset_npz):
    import keras

    @keras.saving.register_keras_serializable(package="tests")
    class Erf(keras.layers.Layer):
        def call(self, x):
            return keras.ops.erf(x)

    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Dense(10)(keras.layers.Flatten()(inputs))
    keras.Model(inputs, keras.layers.Softmax()(Erf()(x))).save(tmp_path / "erf.keras")
    result = convert_cli(tmp_path / "erf.keras", tmp_path / "b", subset_npz, "--val-size", "400")
    assert_error(result, "op(s) Erf cannot be converted")
    assert not list(tmp_path.glob("b/*.tflite"))


def test_wrong_input_shape(tmp_path, subset_npz):
    import keras

    inputs = keras.Input((32, 32, 3))
    keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(inputs))).save(tmp_path / "rgb.keras")
    assert_error(convert_cli(tmp_path / "rgb.keras", tmp_path / "b", subset_npz), "expected (28, 28, 1)")


@pytest.mark.parametrize("args", [["inspect", "model.tflite"], ["model.tflite", "--engine", "c", "--out", "b"]])
def test_a_keras_model_given_where_a_tflite_belongs_is_named(args, tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "model.tflite", "w") as archive:  # what a .keras file holds
        archive.writestr("config.json", "{}")
        archive.writestr("metadata.json", "{}")
    result = CliRunner().invoke(main, [str(tmp_path / a) if a == "model.tflite" else a for a in args])
    assert_error(result, f"{tmp_path / 'model.tflite'}: not a TFLite flatbuffer (no TFL3 identifier): it is a Keras "
                         "model (.keras zip)")
    assert not (tmp_path / "b").exists()


def test_corrupt_tflite_given_to_inspect(int8_build, tmp_path):
    out, _ = int8_build
    data = (out / "lenet_int8.tflite").read_bytes()
    (tmp_path / "cut.tflite").write_bytes(data[:200])
    (tmp_path / "noise.tflite").write_bytes(b"\0\0\0\0TFL3" + bytes(range(256)) * 4)
    (tmp_path / "text.tflite").write_text("hello")
    assert_error(CliRunner().invoke(main, ["inspect", str(tmp_path / "text.tflite")]),
                 "not a TFLite flatbuffer (no TFL3 identifier): it is a text file")
    for name in ("cut.tflite", "noise.tflite"):
        result = CliRunner().invoke(main, ["inspect", str(tmp_path / name)])
        assert_error(result, "corrupt TFLite flatbuffer")


@pytest.mark.parametrize("name", ["2fast", "lenet-int8", "int", ""])
def test_name_must_be_a_c_identifier(trained_run, subset_npz, tmp_path, name):
    result = convert_cli(trained_run / "model.keras", tmp_path / "b", subset_npz, "--name", name)
    assert_error(result, "is not a valid C identifier")


def test_out_is_a_file(trained_run, subset_npz, tmp_path):
    (tmp_path / "build").write_text("keep")
    assert_error(convert_cli(trained_run / "model.keras", tmp_path / "build", subset_npz), "is a file")
    assert (tmp_path / "build").read_text() == "keep"


def test_unknown_quantize(trained_run, subset_npz, tmp_path):
    assert_error(convert_cli(trained_run / "model.keras", tmp_path / "b", subset_npz, "--quantize", "int4"),
                 "Invalid value for '--quantize': 'int4' is not one of 'none', 'float16', 'dynamic', 'int8'")


def test_conversion_time_and_size_are_recorded(int8_build):
    out, _ = int8_build
    entry = json.loads((out / "manifest.json").read_text())["artifacts"]["lenet_int8"]
    assert 0 < entry["convert_seconds"] and 0 < entry["size_vs_f32"] < 0.3


def test_tflm_samples_must_be_positive(trained_run, subset_npz, tmp_path):
    assert_error(convert_cli(trained_run / "model.keras", tmp_path / "b", subset_npz, "--tflm-samples", "0"),
                 "--tflm-samples must be >= 1")
    assert not (tmp_path / "b").exists()


@pytest.mark.slow
def test_a_model_xnnpack_cannot_prepare_runs_on_the_builtin_kernels_and_says_so(subset_arrays):
    """A valid LeNet whose first layer is one 1x1 filter with a dead ReLU: XNNPACK fails to prepare its int8 graph,
    LiteRT's builtin kernels run it with the float model's answers (unloadable only when no kernel set loads it)."""
    import keras
    import numpy as np

    from lenet_deploy.convert.converter import batch_one, convert
    from lenet_deploy.data import to_model_input
    from lenet_deploy.tflite import DEFAULT_DELEGATES, NO_DELEGATE, load_interpreter

    keras.utils.set_random_seed(0)
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(1, 1, activation="relu")(inputs)
    x = keras.layers.Conv2D(6, 5, activation="tanh")(x)
    x = keras.layers.Flatten()(keras.layers.AveragePooling2D(2)(x))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    # As one epoch of training left it (seen): a negative weight and no bias, so the ReLU's output is always 0.
    model.layers[1].set_weights([np.full((1, 1, 1, 1), -0.46, np.float32), np.zeros(1, np.float32)])
    images = to_model_input(subset_arrays["x_test"][:100])
    f32 = convert(batch_one(model), "none")
    int8 = convert(batch_one(model), "int8", "int8", images)
    assert load_interpreter(f32)[4] == DEFAULT_DELEGATES
    interpreter, _, io_in, io_out, delegates = load_interpreter(int8)
    assert delegates == NO_DELEGATE
    agree = 0
    expected = model.predict(images, verbose=0).argmax(axis=1)
    for image, label in zip(images, expected):
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], io_in.quantize(image[None]))
        interpreter.invoke()
        agree += int(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).argmax() == label)
    assert agree >= 95  # int8 against float on 100 images: the same top class almost always
