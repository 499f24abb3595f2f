"""lenet-bench on real converted models: every runtime adapter, the report, compare, no-TensorFlow, errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from lenet_deploy.firmware_bench.cli import main
from lenet_deploy.firmware_bench.testdata import load_testset
from lenet_deploy.runtimes import available_runtimes, open_runner
from tests.conftest import REPO

QUICK = ["--invokes", "30", "--warmup", "3", "--repeats", "2", "--batch", "8", "--energy-seconds", "1"]


def bench(*args):
    return CliRunner().invoke(main, ["run", *QUICK, *map(str, args)])


@pytest.fixture(scope="module")
def full_report(converted_build, trained_run, testset, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    result = bench("--keras", trained_run / "model.keras", "--tflite", converted_build / "lenet_f32.tflite",
                   converted_build / "lenet_int8.tflite", "--tflm", converted_build / "lenet_int8.tflite",
                   "--data", testset, "--samples", "300", "--out", out, "--force")
    assert result.exit_code == 0, result.output + str(result.exception)
    return out, json.loads((out / "bench.json").read_text()), result.output


def test_every_variant_measured_on_the_same_images(full_report):
    _, report, output = full_report
    names = [v["name"] for v in report["variants"]]
    assert names == ["keras:model", "lenet_f32:litert", "lenet_int8:litert", "lenet_int8:tflm"]
    for v in report["variants"]:
        assert v["status"] == "ok", v
        assert v["metrics"]["samples"] == 300 and len(v["predictions"]) == 300
        lat = v["latency_ms"]
        assert 0 < lat["invoke"]["min"] <= lat["invoke"]["p50"] <= lat["invoke"]["p90"] <= lat["invoke"]["p99"]
        assert lat["end_to_end"]["p50"] > 0 and len(lat["p50_per_repeat"]) == 2
        assert v["throughput"]["images_per_s"] > 0 and v["peak_rss_mb"] > 10 and v["load_seconds"] > 0
        assert v["energy"]["status"] == "ok" and v["energy"]["wh_per_1000"] > 0
        assert v["energy"]["tracking_mode"].startswith(("measured", "estimated"))
    keras, f32, int8, tflm = report["variants"]
    assert f32["agreement_with_keras"] >= 0.99 and int8["agreement_with_keras"] >= 0.95
    # TFLM's reference kernels and LiteRT's optimized int8 kernels round differently on a few images.
    assert np.mean(np.array(tflm["predictions"]) == np.array(int8["predictions"])) >= 0.99
    assert tflm["agreement_with_keras"] >= 0.95
    assert int8["input_dtype"] == "int8" and f32["input_dtype"] == "float32"
    assert int8["file_bytes"] < f32["file_bytes"]
    assert report["platform"]["cores"] >= 1 and "litert" in report["platform"]["runtimes"]
    assert "lenet_f32.tflite · LiteRT" in output and "faster than Keras at p50" in output


def test_accuracy_matches_a_direct_computation(full_report, testset):
    _, report, _ = full_report
    images, labels = load_testset(testset)
    int8 = report["variants"][2]
    assert int8["metrics"]["accuracy"] == pytest.approx(np.mean(np.array(int8["predictions"]) == labels[:300]))


def test_report_files(full_report):
    out, _, _ = full_report
    text = (out / "report.md").read_text()
    assert "| lenet_int8.tflite · TFLite Micro" in text and "How measured:" in text and "estimated" in text
    main_header = next(line for line in text.splitlines() if line.startswith("| model · runtime"))
    assert main_header.count("|") - 1 <= 10 and "throughput_ips" not in text.split("Detail")[0]
    for name in ("latency.png", "accuracy_vs_size.png", "confusion_lenet_int8_litert.png"):
        assert (out / name).exists() and f"({name})" in text, name
    assert len((out / "bench.csv").read_text().splitlines()) == 5


@pytest.mark.parametrize("runtime", ["litert", "tf.lite", "tflite-runtime"])
def test_tflite_runtime_adapters(converted_build, trained_run, testset, runtime):
    """Each runtime gives the Keras model's answers: the float32 model on every image, the int8 one on all but a
    few (quantization), on 100 images of every digit (not a floor on accuracy: a 1-epoch model scores ~0.75)."""
    if runtime not in available_runtimes():
        pytest.skip(f"{runtime} is not installed here")
    images, _ = load_testset(testset)
    expected = open_runner("keras", trained_run / "model.keras").predict(images[:100]).argmax(1)
    for model, agreement in (("lenet_f32", 1.0), ("lenet_int8", 0.95)):
        runner = open_runner("tflite", converted_build / f"{model}.tflite", runtime)
        assert runner.runtime == runtime
        scores = runner.predict(images[:100])
        assert scores.shape == (100, 10) and np.mean(scores.argmax(1) == expected) >= agreement, model


def test_tflm_and_keras_adapters(converted_build, trained_run, testset):
    images, _ = load_testset(testset)
    tflm = open_runner("tflm", converted_build / "lenet_int8.tflite")
    litert = open_runner("tflite", converted_build / "lenet_int8.tflite", "litert")
    raw_tflm = tflm.invoke(tflm.input.quantize(images[:1]))
    raw_litert = litert.invoke(litert.input.quantize(images[:1]))
    assert raw_tflm.dtype == np.int8 and np.abs(raw_tflm.astype(int) - raw_litert.astype(int)).max() <= 1
    keras = open_runner("keras", trained_run / "model.keras")
    f32 = open_runner("tflite", converted_build / "lenet_f32.tflite", "litert")
    np.testing.assert_allclose(keras.predict(images[:20]), f32.predict(images[:20]), atol=1e-4)


def test_runs_without_tensorflow(converted_build, testset, tmp_path):
    """A Raspberry Pi has numpy and LiteRT only: block TensorFlow and Keras in every process and run the CLI."""
    blocker = tmp_path / "blocker"
    for name in ("tensorflow", "keras"):
        (blocker / name).mkdir(parents=True)
        (blocker / name / "__init__.py").write_text(f"raise ImportError('{name} is blocked for this test')\n")
    out = tmp_path / "pi"
    env = {**os.environ, "PYTHONPATH": f"{blocker}:{REPO}"}
    done = subprocess.run([sys.executable, "-m", "lenet_deploy.firmware_bench.cli", "run", *QUICK,
                           "--energy-seconds", "0",
                           "--tflite", str(converted_build / "lenet_f32.tflite"),
                           str(converted_build / "lenet_int8.tflite"), "--data", str(testset), "--runtime", "litert",
                           "--out", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((out / "bench.json").read_text())
    assert [v["status"] for v in report["variants"]] == ["ok", "ok"]
    probe = subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True, text=True, env=env)
    assert "blocked for this test" in probe.stderr  # the block was real


def test_compare(full_report, tmp_path):
    out, report, _ = full_report
    slower = json.loads(json.dumps(report))
    slower["platform"]["cpu"] = "Raspberry Pi 4"
    for v in slower["variants"]:
        v["latency_ms"]["invoke"]["p50"] *= 4
    (tmp_path / "pi.json").write_text(json.dumps(slower))
    result = CliRunner().invoke(main, ["compare", str(out / "bench.json"), str(tmp_path / "pi.json")])
    assert result.exit_code == 0, result.output
    assert "4.0x slower than A" in result.output and "Raspberry Pi 4" in result.output
    assert "warning" not in result.output  # same models, same test set, same answers
    bad = CliRunner().invoke(main, ["compare", str(out / "bench.json"), str(out / "report.md")])
    assert bad.exit_code == 2 and "not a bench.json" in bad.stderr


def test_a_failing_variant_never_loses_the_others(converted_build, testset, tmp_path):
    """A runtime that crashes while it is measured fails its variant only (exit 1, every other result kept)."""
    from tests.test_hostile import crashing_engine

    engine = crashing_engine(tmp_path)
    result = bench("--tflite", converted_build / "lenet_int8.tflite", "--engine", engine, "--data", testset,
                   "--samples", "50", "--out", tmp_path / "r", "--energy-seconds", "0")
    assert result.exit_code == 1, result.output
    assert "1 of 2 variants failed (crash_engine:c-engine)" in result.stderr
    variants = json.loads((tmp_path / "r" / "bench.json").read_text())["variants"]
    assert [v["status"] for v in variants] == ["ok", "failed"]
    assert variants[0]["metrics"]["samples"] == 50
    assert variants[1]["reason"].startswith("the worker died (SIGSEGV) while running the model on c-engine")
    assert "FAILED" in result.output
    assert "| crash_engine.c · C engine" in (tmp_path / "r" / "report.md").read_text()


def test_model_whose_input_is_not_28x28x1(tmp_path, testset):
    import keras

    from lenet_deploy.convert.converter import convert

    inputs = keras.Input((32, 32, 3), batch_size=1)
    model = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(inputs)))
    (tmp_path / "rgb.tflite").write_bytes(convert(model, "none"))
    result = bench("--tflite", tmp_path / "rgb.tflite", "--data", testset, "--out", tmp_path / "r",
                   "--energy-seconds", "0")
    # Not a LeNet for these images: bad input, refused before anything is written.
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"error: --tflite {tmp_path / 'rgb.tflite'}: model input is [1, 32, 32, 3], "
                                     "expected [1, 28, 28, 1]")
    assert not (tmp_path / "r").exists()


def assert_error(result, fragment):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr


@pytest.mark.parametrize("arrays, fragment", [
    ({"x_test": np.zeros((5, 32, 32), np.uint8), "y_test": np.zeros(5, np.uint8)}, "expected [N, 28, 28]"),
    ({"x_test": np.zeros((5, 28, 28), np.int32), "y_test": np.zeros(5, np.uint8)}, "expected uint8 or float"),
    ({"x_test": np.full((5, 28, 28), np.nan, np.float32), "y_test": np.zeros(5, np.uint8)}, "3920 NaN pixels"),
    ({"x_test": np.zeros((5, 28, 28), np.uint8), "y_test": np.zeros(4, np.uint8)}, "expected 5 integer labels"),
    ({"images": np.zeros((5, 28, 28), np.uint8)}, "npz lacks x_train, y_train, x_test, y_test (expected Keras' "
                                                  "mnist.npz, or an export-data .npz with x_test and y_test)"),
])
def test_bad_test_data(converted_build, tmp_path, arrays, fragment):
    np.savez(tmp_path / "bad.npz", **arrays)
    assert_error(bench("--tflite", converted_build / "lenet_int8.tflite", "--data", tmp_path / "bad.npz", "--out",
                       tmp_path / "r"), fragment)
    assert not (tmp_path / "r" / "bench.json").exists()


def test_existing_report_needs_force(converted_build, testset, tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "bench.json").write_text("{}")
    assert_error(bench("--tflite", converted_build / "lenet_int8.tflite", "--data", testset, "--out", tmp_path / "r"),
                 "already holds bench.json")
    assert (tmp_path / "r" / "bench.json").read_text() == "{}"


def test_export_data_round_trips(subset_npz, tmp_path):
    result = CliRunner().invoke(main, ["export-data", "--out", str(tmp_path / "t.npz"), "--data", str(subset_npz),
                                       "--unverified"])
    assert result.exit_code == 0, result.output
    images, labels = load_testset(tmp_path / "t.npz")
    assert images.shape == (1000, 28, 28, 1) and images.dtype == np.float32 and len(labels) == 1000


def test_a_device_run_checks_its_answers_against_the_hosts(converted_build, subset_npz, tmp_path):
    """export-data --model keeps the host's predictions; run fails (exit 1, report kept) on other answers."""
    from lenet_deploy.artifacts import sha256_file
    from lenet_deploy.firmware_bench.testdata import Reference, export_testset, load_references

    int8 = converted_build / "lenet_int8.tflite"
    exported = CliRunner().invoke(main, ["export-data", "--data", str(subset_npz), "--unverified", "--model",
                                         str(int8), "--out", str(tmp_path / "t.npz")])
    assert exported.exit_code == 0, exported.output
    assert "reference predictions for 1 model(s)" in exported.output
    assert set(load_references(tmp_path / "t.npz")) == {sha256_file(int8)}
    args = ["run", "--tflite", str(int8), "--samples", "200", "--invokes", "5", "--repeats", "1",
            "--energy-seconds", "0"]
    good = CliRunner().invoke(main, [*args, "--data", str(tmp_path / "t.npz"), "--out", str(tmp_path / "good")])
    assert good.exit_code == 0, good.output
    check = json.loads((tmp_path / "good" / "bench.json").read_text())["variants"][0]["reference_check"]
    assert check["agreement"] == 1.0 and check["gap_pp"] == 0.0
    shown = f"self-check of lenet_int8.tflite · LiteRT {check['host_runtime'].split()[-1]}: top-1 agreement 100.00% "
    assert shown in good.output and shown in (tmp_path / "good" / "report.md").read_text()

    images, labels = load_testset(tmp_path / "t.npz")
    right = load_references(tmp_path / "t.npz")[sha256_file(int8)]
    wrong = Reference((right.predictions + 1) % 10, 0.1, "a host that disagrees")
    export_testset(tmp_path / "w.npz", images, labels, "subset", {sha256_file(int8): wrong})
    bad = CliRunner().invoke(main, [*args, "--data", str(tmp_path / "w.npz"), "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 1, bad.output
    assert "1 of 1 variants failed" in bad.stderr and "report kept" in bad.stderr
    variant = json.loads((tmp_path / "bad" / "bench.json").read_text())["variants"][0]
    assert variant["status"] == "failed" and variant["reason"].startswith("wrong answers: top-1 agreement 0.00%")
    assert "wrong answers" in (tmp_path / "bad" / "report.md").read_text()
    assert "top-1 agreement 0.00% with the host's predictions (a host that disagrees)" in bad.output
    assert bad.output.count(": FAILED") == 1


def test_the_c_engine_is_a_device_runtime(converted_build, testset, tmp_path):
    """--engine compiles the generated C with this machine's compiler: TFLite Micro's answers, bit for bit."""
    from lenet_deploy.artifacts import sha256_file
    from lenet_deploy.convert.codegen import write_engine

    int8 = converted_build / "lenet_int8.tflite"
    (_, engine_c), _ = write_engine(int8, tmp_path / "engine")
    result = CliRunner().invoke(main, ["run", "--engine", str(engine_c), "--tflm", str(int8), "--data", str(testset),
                                       "--samples", "300", "--invokes", "20", "--repeats", "1",
                                       "--energy-seconds", "0", "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    tflm, engine = json.loads((tmp_path / "r" / "bench.json").read_text())["variants"]
    assert engine["status"] == "ok" and engine["runtime"] == "c-engine" and engine["runtime_version"]
    assert engine["predictions"] == tflm["predictions"] and engine["metrics"] == tflm["metrics"]
    assert engine["model_sha256"] == sha256_file(int8)  # the model it was generated from
    assert engine["latency_ms"]["invoke"]["p50"] > 0 and "C engine" in (tmp_path / "r" / "report.md").read_text()
