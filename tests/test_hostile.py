"""Hostile inputs and faults on every CLI: one `error:` line, the promised exit code, nothing written or changed.

Classes: bad numbers in options and configs, bad data, bad models, bad files to read back, unwritable
outputs and a full disk, leftovers of killed runs, and runs where a part failed (exit 1, report kept).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from lenet_deploy.artifacts import STAGING, remove_stale_staging, staged_dir
from lenet_deploy.convert.cli import main as convert
from lenet_deploy.firmware_bench.cli import main as bench
from lenet_deploy.pipeline.cli import main as pipeline
from lenet_deploy.train.cli import main as train
from tests.single_op import elementwise_model

SPEC = {"method": "random", "metric": {"name": "val_accuracy", "goal": "maximize"},
        "parameters": {"filters": {"values": [4, 6]}, "epochs": {"value": 1}}}


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under `root` with its size and mtime: what 'nothing written, nothing changed' compares."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file() or p.is_dir()}


def one_line_error(result, code: int, fragment: str) -> None:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "work"
    directory.mkdir()
    monkeypatch.chdir(directory)
    return directory


def test_a_nan_learning_rate_is_refused_before_training(work, subset_npz):
    before = snapshot(work)
    result = CliRunner().invoke(train, ["fit", "--preset", "seed-best", "--learn-rate", "nan", "--data",
                                        str(subset_npz), "--unverified", "--wandb", "disabled"])
    one_line_error(result, 2, "learn_rate must be a finite number, got nan")
    assert snapshot(work) == before


def test_an_unknown_country_is_refused_before_training(work, subset_npz):
    result = CliRunner().invoke(train, ["fit", "--preset", "seed-best", "--country", "ZZZ", "--data",
                                        str(subset_npz), "--unverified", "--wandb", "disabled"])
    one_line_error(result, 2, "--country 'ZZZ': not a country CodeCarbon knows")
    assert snapshot(work) == {}


def test_a_data_file_without_test_images(work, subset_arrays):
    np.savez(work / "empty.npz", **{**subset_arrays, "x_test": subset_arrays["x_test"][:0],
                                    "y_test": subset_arrays["y_test"][:0]})
    before = snapshot(work)
    result = CliRunner().invoke(train, ["fit", "--preset", "seed-best", "--data", "empty.npz", "--unverified",
                                        "--wandb", "disabled"])
    one_line_error(result, 2, "empty.npz: no test images")
    assert snapshot(work) == before


@pytest.mark.parametrize("parameters, fragment", [
    ({"epochs": {"values": [-1, 0]}}, "parameters.epochs: epochs must be >= 1, got -1"),
    ({"learn_rate": {"min": 0.0, "max": 0.1}}, "parameters.learn_rate: learn_rate=0.0 is out of range"),
    ({"dropout": {"value": 1.5}}, "parameters.dropout: dropout=1.5 is out of range"),
    ({"activation": {"values": ["tanh", "gelu"]}}, "parameters.activation: activation must be one of"),
])
def test_a_sweep_value_that_cannot_train_is_refused_before_any_trial(work, subset_npz, parameters, fragment):
    (work / "s.yaml").write_text(yaml.safe_dump({**SPEC, "parameters": parameters}))
    before = snapshot(work)
    result = CliRunner().invoke(train, ["sweep", "--config", "s.yaml", "--count", "2", "--data", str(subset_npz),
                                        "--unverified", "--wandb", "disabled"])
    one_line_error(result, 2, fragment)
    assert snapshot(work) == before


@pytest.mark.parametrize("extra, fragment", [
    (["--heartbeat", "0"], "--heartbeat must be >= 1 second, got 0"),
    pytest.param(["--storage", "postgresql://nobody@127.0.0.1:1/none"], "cannot open the study storage",
                 marks=pytest.mark.slow),  # 7 s of connection retries: the full suite's
    (["--storage", "not a url"], "cannot open the study storage"),
])
def test_bad_sweep_options_leave_no_sweep_directory(work, subset_npz, extra, fragment):
    (work / "s.yaml").write_text(yaml.safe_dump(SPEC))
    before = snapshot(work)
    result = CliRunner().invoke(train, ["sweep", "--config", "s.yaml", "--count", "1", "--out", "sw", "--data",
                                        str(subset_npz), "--unverified", "--wandb", "disabled", *extra])
    one_line_error(result, 2, fragment)
    assert snapshot(work) == before


def test_an_earlier_result_is_replaced_only_with_force(work):
    """Every command's --out goes through staged_dir: a full directory is kept unless --force, an empty one is used."""
    earlier = work / "earlier"
    earlier.mkdir()
    (earlier / "report.md").write_text("the earlier run")
    with pytest.raises(Exception, match=f"--out {earlier} already holds a run; pass --force to replace it"):
        with staged_dir(earlier, force=False) as stage:
            (stage / "report.md").write_text("this run")
    assert (earlier / "report.md").read_text() == "the earlier run"
    with staged_dir(earlier, force=True) as stage:
        (stage / "report.md").write_text("this run")
    assert (earlier / "report.md").read_text() == "this run"
    (work / "empty").mkdir()
    with staged_dir(work / "empty", force=False) as stage:
        (stage / "report.md").write_text("into an empty directory")
    assert (work / "empty" / "report.md").is_file()


def test_a_corrupt_sweep_json_is_one_line(work):
    (work / "sw").mkdir()
    (work / "sw" / "sweep.json").write_text('{"stage": "sweep", "study": ')
    result = CliRunner().invoke(train, ["best", "sw", "--wandb", "disabled"])
    one_line_error(result, 2, "sweep.json: not a sweep.json (invalid JSON")


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_a_model_with_non_finite_weights_is_refused_before_any_runtime(work, subset_npz, value):
    import keras

    inputs = keras.Input((28, 28, 1))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="scores")(
        keras.layers.Flatten()(inputs)))
    weights = model.get_weights()
    weights[0][3, 4] = float(value)
    model.set_weights(weights)
    model.save(work / "broken.keras")
    before = snapshot(work)
    result = CliRunner().invoke(convert, ["broken.keras", "--quantize", "int8", "--out", "build", "--data",
                                          str(subset_npz), "--unverified"])
    one_line_error(result, 2, "broken.keras: layer 'scores' holds 1 NaN or infinite weights")
    assert snapshot(work) == before


def test_a_path_with_a_comment_end_still_gives_compilable_c(work):
    odd = work / "we*" / "rd"
    odd.mkdir(parents=True)
    (odd / "tanh.tflite").write_bytes(elementwise_model("TANH", 16, 0.05, 0, 1 / 128, 0))
    result = CliRunner().invoke(convert, [str(odd / "tanh.tflite"), "--engine", "c", "--out", "out"])
    assert result.exit_code == 0, result.output
    compiled = subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-c", "out/tanh_engine.c", "-o",
                               "tanh.o"], capture_output=True, text=True)
    assert compiled.returncode == 0, compiled.stderr


@pytest.mark.parametrize("extra, fragment", [
    (["--warmup", "-1"], "--warmup must be >= 0, got -1"),
    (["--energy-seconds", "-1"], "--energy-seconds must be >= 0, got -1.0"),
    (["--threads", "0"], "--threads must be >= 1, got 0"),
    (["--samples", str(10 ** 12)], f"--samples {10 ** 12}: the test set has only 1000 images"),
])
def test_bad_bench_options_write_nothing(work, testset, extra, fragment):
    model = work / "m.tflite"
    model.write_bytes(b"unused")
    before = snapshot(work)
    result = CliRunner().invoke(bench, ["run", "--tflite", str(model), "--data", str(testset), "--out", "r",
                                        *extra])
    one_line_error(result, 2, fragment)
    assert snapshot(work) == before


@pytest.mark.parametrize("labels, fragment", [(99, "label 99 in y_test is not a digit 0-9"),
                                              (None, "holds no test images")])
def test_bad_test_labels_or_none_at_all(work, subset_arrays, labels, fragment):
    images, y = subset_arrays["x_test"][:5], np.full(5, labels if labels is not None else 0)
    if labels is None:
        images, y = images[:0], y[:0]
    np.savez(work / "t.npz", x_test=images, y_test=y)
    before = snapshot(work)
    result = CliRunner().invoke(bench, ["run", "--tflite", "m.tflite", "--data", "t.npz", "--out", "r"])
    one_line_error(result, 2, fragment)
    assert snapshot(work) == before


CRASHING_ENGINE_H = """#include <stdint.h>
#define CRASH_INPUT_HEIGHT 28
#define CRASH_INPUT_WIDTH 28
#define CRASH_INPUT_CHANNELS 1
#define CRASH_INPUT_SCALE 0.00392156886f
#define CRASH_INPUT_ZERO_POINT -128
#define CRASH_OUTPUT_SCALE 0.00390625f
#define CRASH_OUTPUT_ZERO_POINT -128
#define CRASH_OUTPUT_SIZE 10
#define CRASH_MODEL_SHA256 "00"
void crash_invoke(const int8_t *input, int8_t *output);
"""


def crashing_engine(where: Path, body: str = "raise(SIGSEGV);") -> Path:
    """A C engine that loads (its header is an engine's, it compiles) and fails when it runs."""
    (where / "crash_engine.h").write_text(CRASHING_ENGINE_H)
    (where / "crash_engine.c").write_text('#include <signal.h>\n#include "crash_engine.h"\n'
                                          "void crash_invoke(const int8_t *input, int8_t *output) {\n"
                                          f"    (void)input; (void)output; {body}\n}}\n")
    return where / "crash_engine.c"


def test_a_run_where_every_variant_failed_exits_1_and_keeps_its_report(work, testset):
    """A variant that loads but whose runtime crashes while it is measured: a failed run, not bad input."""
    engine = crashing_engine(work)
    result = CliRunner().invoke(bench, ["run", "--engine", str(engine), "--data", str(testset), "--out", "r",
                                        "--invokes", "5", "--energy-seconds", "0"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == ("error: 1 of 1 variants failed (crash_engine:c-engine); report "
                                                      "kept in r")
    variant = json.loads((work / "r" / "bench.json").read_text())["variants"][0]
    assert variant["status"] == "failed" and variant["reason"].startswith("the worker died (SIGSEGV) while running")
    assert "FAILED" in result.output and (work / "r" / "report.md").is_file()


def _write(name: str, content: bytes | str):
    def make(work: Path) -> None:
        (work / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    return make


@pytest.mark.parametrize("args, make, fragment", [
    (["--tflite", "missing.tflite"], None, "--tflite missing.tflite: no such file"),
    (["--tflite", "t.tflite"], _write("t.tflite", "hello"),
     "--tflite t.tflite: not a TFLite flatbuffer (no TFL3 identifier): it is a text file"),
    (["--tflm", "t.tflite"], _write("t.tflite", b"\x1c\x00\x00\x00TFL3" + b"\xee" * 40),
     "--tflm t.tflite: TFLite Micro cannot load the model ("),
    (["--keras", "m.keras"], _write("m.keras", "hello"), "--keras m.keras: not a Keras model: it is a text file"),
    (["--keras", "m.tflite"], _write("m.tflite", b"\x1c\x00\x00\x00TFL3"),
     "--keras m.tflite: not a Keras model file (.keras or .h5): it is a TFLite model"),
    (["--engine", "missing.c"], None, "--engine missing.c: no such file"),
    (["--engine", "e.c"], _write("e.c", "int x;\n"), "--engine e.c: its header e.h is not beside it"),
    (["--engine", "crash_engine.c"], lambda w: (crashing_engine(w), (w / "crash_engine.h").write_text("int x;\n")),
     "--engine crash_engine.c: crash_engine.h is not a header from lenet-convert --engine c"),
    (["--engine", "crash_engine.c"], lambda w: crashing_engine(w, "this is not C"),
     "--engine crash_engine.c: does not compile: crash_engine.c:4:32: error: unknown type name"),
])
def test_a_model_or_engine_that_is_not_what_its_option_says_is_refused_before_anything_is_written(
        work, testset, args, make, fragment):
    if make is not None:
        make(work)
    before = snapshot(work)
    result = CliRunner().invoke(bench, ["run", *args, "--data", str(testset), "--samples", "10", "--out", "r"])
    one_line_error(result, 2, fragment)
    assert snapshot(work) == before


@pytest.mark.parametrize("target, fragment", [
    ("dir", "--out dir is a directory; give a file name (e.g. dir/testset.npz)"),
    ("nowhere/t.npz", "--out nowhere/t.npz: the directory nowhere does not exist"),
])
def test_export_data_to_a_place_that_cannot_hold_the_file(work, subset_npz, target, fragment):
    (work / "dir").mkdir()
    before = snapshot(work)
    result = CliRunner().invoke(bench, ["export-data", "--out", target, "--data", str(subset_npz), "--unverified"])
    one_line_error(result, 2, fragment)
    assert snapshot(work) == before


def _bench_json(variants) -> dict:
    return {"stage": "bench", "command": "lenet-bench run", "platform": {"cpu": "x", "node": "n"}, "versions": {},
            "data": "t", "options": {}, "variants": variants, "mcu": []}


@pytest.mark.parametrize("variants, fragment", [
    ([{"name": "a", "kind": "tflite", "path": "a.tflite", "status": "ok", "latency_ms": {"invoke": {"p50": 0}},
       "throughput": {"images_per_s": 1}, "metrics": {"accuracy": 0.9}}], "latency_ms.invoke.p50 is 0"),
    ([{"name": "a", "kind": "tflite", "path": "a.tflite", "status": "ok"}], "latency_ms.invoke.p50 is None"),
    (["not a variant"], "variant 0 lacks its name, kind, path or status"),
])
def test_compare_on_malformed_reports(work, variants, fragment):
    (work / "a.json").write_text(json.dumps(_bench_json(variants)))
    result = CliRunner().invoke(bench, ["compare", "a.json", "a.json"])
    one_line_error(result, 2, fragment)


def test_compare_on_a_directory(work):
    (work / "d").mkdir()
    result = CliRunner().invoke(bench, ["compare", "d", "d"])
    one_line_error(result, 2, "d: is a directory")


def test_the_pipeline_checks_every_option_before_its_first_step(work, subset_npz):
    result = CliRunner().invoke(pipeline, ["--count", "0", "--data", str(subset_npz), "--unverified",
                                           "--wandb", "disabled"])
    one_line_error(result, 2, "--count must be >= 1, got 0")
    assert snapshot(work) == {}


def test_leftovers_of_killed_runs_are_removed_by_the_next_run(work):
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = work / f".run.{dead.pid}.abc{STAGING}"
    # A killed sweep trial's folder: its retry writes under another number, beside it.
    stale_other = work / f".0001.{dead.pid}.ghi{STAGING}"
    stale_replaced = work / f".lenet_int8.tflite.{dead.pid}.jkl.replaced"
    live = work / f".run.{os.getpid()}.def{STAGING}"
    for folder in (stale, stale_other, stale_replaced, live):
        folder.mkdir()
        (folder / "model.keras").write_bytes(b"x" * 1000)
    with staged_dir(work / "run", force=False) as stage:
        (stage / "done").write_text("ok")
    assert not stale.exists() and not stale_other.exists() and not stale_replaced.exists()
    assert live.exists()  # another live process's staging is not touched
    assert (work / "run" / "done").read_text() == "ok"
    assert remove_stale_staging(work / "run") == []


def test_convert_on_a_full_disk_leaves_the_old_directory_as_it_was(tmp_path, subset_npz, trained_run):
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(disk)], capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs as a full disk")
    try:
        out = disk / "build"
        out.mkdir()
        (out / "manifest.json").write_text('{"old": true}')
        (out / "notes.txt").write_text("kept")
        before = snapshot(disk)
        result = CliRunner().invoke(convert, [str(trained_run / "model.keras"), "--quantize", "int8", "--out",
                                              str(out), "--data", str(subset_npz), "--unverified",
                                              "--tflm-samples", "10"])
        one_line_error(result, 2, "No space left on device")
        assert snapshot(disk) == before
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_a_native_crash_becomes_one_error_naming_the_signal_and_the_step():
    from lenet_deploy.contained import contained
    from lenet_deploy.errors import LenetError

    with pytest.raises(LenetError, match=r"^running a broken model crashed \(SIGSEGV\)$"):
        contained("running a broken model", _segfault)
    with pytest.raises(LenetError, match="bad input"):  # errors and results come back unchanged
        contained("step", _raise, LenetError("bad input"))
    assert contained("step", sum, [1, 2, 3]) == 6


def _raise(error: Exception) -> None:
    raise error


def _segfault() -> None:
    """What a runtime does with a corrupt pointer: the process gets SIGSEGV."""
    import faulthandler
    import signal

    faulthandler.disable()  # pytest's handler would print a traceback from the child
    os.kill(os.getpid(), signal.SIGSEGV)


def test_convert_with_no_validation_images_is_refused_first(work, subset_npz):
    result = CliRunner().invoke(convert, ["model.keras", "--val-size", "0", "--data", str(subset_npz), "--unverified"])
    one_line_error(result, 2, "--val-size must be >= 1 (the checks run on the validation images), got 0")
    assert snapshot(work) == {}


@pytest.mark.parametrize("cli, args, fragment", [
    (bench, ["run", "--tflite", "m.tflite", "--data", "d", "--out", "r"],
     "--data d: missing MNIST files (need train-images-idx3-ubyte"),
    (bench, ["mcu", "--model", "d", "--out", "r"], "--model d: is a directory"),
    (convert, ["inspect", "d"], "d: is a directory, not a .tflite file"),
])
def test_a_directory_where_a_file_belongs(work, cli, args, fragment):
    (work / "d").mkdir()
    before = snapshot(work)
    one_line_error(CliRunner().invoke(cli, args), 2, fragment)
    assert snapshot(work) == before


@pytest.mark.parametrize("model, make, fragment", [
    ("nope.tflite", None, "--model nope.tflite: no such file"),
    ("d", lambda w: (w / "d").mkdir(), "--model d: is a directory"),
    ("t.tflite", _write("t.tflite", "hello"),
     "--model t.tflite: not a TFLite flatbuffer (no TFL3 identifier): it is a text file"),
    ("m.keras", _write("m.keras", b"\x89HDF\r\n\x1a\n" + bytes(64)),
     "--model m.keras: not a Keras model: it is an HDF5 file"),
])
def test_export_data_refuses_a_reference_model_that_is_not_one(work, subset_npz, model, make, fragment):
    if make is not None:
        make(work)
    before = snapshot(work)
    result = CliRunner().invoke(bench, ["export-data", "--model", model, "--data", str(subset_npz), "--unverified",
                                        "--out", "t.npz"])
    one_line_error(result, 2, fragment)
    assert snapshot(work) == before


@pytest.mark.parametrize("model, make, fragment", [
    ("nope.tflite", None, "--model nope.tflite: no such file"),
    ("d", lambda w: (w / "d").mkdir(), "--model d: is a directory, not a .tflite file"),
    ("m.keras", _write("m.keras", "hello"), "--model m.keras: not a TFLite flatbuffer (no TFL3 identifier): it is a "
                                            "text file"),
    ("cut.tflite", _write("cut.tflite", b"\x1c\x00\x00\x00TFL3" + b"\xee" * 40),
     "--model cut.tflite: corrupt TFLite flatbuffer (error)"),
])
def test_lenet_bench_mcu_refuses_a_model_before_reading_data_or_writing(work, model, make, fragment):
    """Checked first: no data needed (--data points nowhere and is never read), nothing written."""
    from lenet_deploy.boards import missing_tools

    if missing_tools():
        pytest.skip(f"needs {', '.join(missing_tools())}")
    if make is not None:
        make(work)
    before = snapshot(work)
    result = CliRunner().invoke(bench, ["mcu", "--model", model, "--data", "nowhere", "--out", "r"])
    one_line_error(result, 2, fragment)
    assert snapshot(work) == before


def _run(*args, env_extra=None, cwd):
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=600)


@pytest.mark.parametrize("log_level", [None, "0"])  # TF_CPP_MIN_LOG_LEVEL unset, or set by the user to show all
def test_no_tensorflow_start_up_line_reaches_the_console(trained_run, converted_build, subset_npz, tmp_path,
                                                         log_level):
    """Every command that loads TensorFlow, once succeeding and once failing: stdout and stderr hold only the
    project's own lines (no absl, oneDNN, CPU-feature or XLA line), whatever TF_CPP_MIN_LOG_LEVEL says."""
    (tmp_path / "text.keras").write_text("hello")
    keras_model, int8 = str(trained_run / "model.keras"), str(converted_build / "lenet_int8.tflite")
    data = ["--data", str(subset_npz), "--unverified"]
    convert, bench = "lenet_deploy.convert.cli", "lenet_deploy.firmware_bench.cli"
    cases = [((convert, keras_model, "--out", "c", "--tflm-samples", "10", *data), 0),
             ((convert, "text.keras", "--out", "c2", *data), 2),
             ((bench, "export-data", "--model", keras_model, "--out", "t.npz", *data), 0),
             ((bench, "export-data", "--model", "text.keras", "--out", "t2.npz", *data), 2),
             ((bench, "run", "--keras", keras_model, "--tflite", int8, "--samples", "50", "--invokes", "5",
               "--repeats", "1", "--energy-seconds", "0", "--out", "r", *data), 0),
             ((bench, "run", "--keras", "text.keras", "--out", "r2", *data), 2)]
    noise = re.compile(r"absl|oneDNN|cpu_feature_guard|port\.cc|XLA|I0000|W0000|E0000|tensorflow/", re.IGNORECASE)
    for args, code in cases:
        done = _run(*args, env_extra={"TF_CPP_MIN_LOG_LEVEL": log_level} if log_level else None, cwd=tmp_path)
        assert done.returncode == code, (args, done.stdout[-2000:], done.stderr[-2000:])
        assert not [line for line in (done.stdout + done.stderr).splitlines() if noise.search(line)], (args, done)
        if code:
            assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1, done.stderr
        else:
            assert done.stderr == "", (args, done.stderr)
