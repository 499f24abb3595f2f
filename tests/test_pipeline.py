"""lenet-pipeline end to end on the subset: 2-trial 1-epoch sweep, every report section, resume on rerun."""

import json
import re
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from lenet_deploy.pipeline.cli import main as pipeline

ARGS = ["--count", "2", "--epochs-cap", "1", "--val-size", "400", "--samples", "300", "--quick-bench",
        "--wandb", "disabled", "--unverified"]


NOISE = re.compile(r"warning|absl|oneDNN|retracing|Traceback", re.IGNORECASE)


@pytest.mark.slow
def test_pipeline_writes_a_complete_report_and_continues_on_rerun(subset_npz, tmp_path):
    done = subprocess.run([sys.executable, "-m", "lenet_deploy.pipeline.cli", *ARGS, "--data", str(subset_npz)],
                          capture_output=True, text=True, timeout=1200, cwd=tmp_path)
    log = done.stdout + done.stderr  # what a user sees when the output is not a terminal
    assert done.returncode == 0, log
    assert not [line for line in log.splitlines() if NOISE.search(line)], log
    assert log.startswith(f"MNIST: 4,000 training + 1,000 test images from {subset_npz} (not verified")
    # Each step's figure is the one its manifest holds (not any number of the right shape).
    manifest = {step: json.loads((tmp_path / path).read_text()) for step, path in (
        ("original", "runs/lenet-original/manifest.json"), ("best", "runs/lenet-sweep/best/manifest.json"),
        ("convert", "build/lenet/manifest.json"), ("bench", "reports/lenet/bench/bench.json"))}
    original, best = manifest["original"]["metrics"]["test_accuracy"], manifest["best"]["metrics"]["test_accuracy"]
    int8 = manifest["convert"]["artifacts"]["lenet_int8"]
    keras = manifest["bench"]["variants"][0]
    for step, figure in ((1, rf"test accuracy {original:.4f} after 1 epoch on 3,600 images"),
                         (2, r"2 trials finished \(\d complete, \d pruned\), \d+ trials/hour; best: trial #\d"),
                         (3, rf"trial #{manifest['best']['picked']['trial']}: test accuracy {best:.4f} after 1 epoch "
                             r"on 4,000 images"),
                         (4, rf"int8 model {int8['bytes']:,} B \(\d+% of float32\), validation accuracy "
                             rf"{int8['check']['tflite_accuracy']:.4f}"),
                         (5, rf"p50 latency: model\.keras · Keras [\d.]+ {keras['latency_ms']['invoke']['p50']:.3f} ms "
                             rf"\(test accuracy {keras['metrics']['accuracy']:.4f}\)"), (7, "wrote reports/lenet")):
        assert re.search(rf"\[{step}/7\] {figure}", log), (step, figure, log)
    assert keras["metrics"]["samples"] == 300
    report = (tmp_path / "reports" / "lenet" / "report.md").read_text()
    for section in ("## Original vs best", "## Sweep", "## Classification report", "## Energy and CO2",
                    "## Deployment", "### Benchmark on this machine"):
        assert section in report, section
    assert f"| original LeNet-5 (1 epochs) | {original:.4f} |" in report
    assert "epochs capped: trial" in report  # the seed space samples 10-30 epochs; the cap trained 1
    assert "estimated (" in report or "measured (RAPL)" in report
    for variant in ("model.keras · Keras", "lenet_f32.tflite · LiteRT", "lenet_int8.tflite · LiteRT",
                    "lenet_int8.tflite · TFLite Micro"):
        assert f"| {variant} " in report
    for image in re.findall(r"\]\(([^)]+\.png)\)", report):
        assert (tmp_path / "reports" / "lenet" / image).exists(), image
    assert (tmp_path / "build" / "lenet" / "lenet_int8.h").exists()
    if shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc"):
        assert "bit-exact with TFLite Micro on 300 of 300" in log
        assert "## On an emulated microcontroller (`lenet-bench mcu`)" in report
        assert "| lenet_int8.tflite:c-engine | QEMU mps2-an386 (Cortex-M4F) | 300 |" in report
    else:
        assert "Not run: arm-none-eabi-gcc and qemu-system-arm are needed" in report

    assert "## How this was made" in report and "- seed 0; default budget: 2 trials, epochs capped at 1" in report

    # Nothing changed: every step is kept (the sweep has nothing left to run), in seconds.
    again = CliRunner().invoke(pipeline, [*ARGS, "--data", str(subset_npz)])
    assert again.exit_code == 0, again.output
    has_mcu = bool(shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc"))
    assert again.output.count("nothing that made it changed") == 4 + has_mcu  # original, best, convert, bench (, mcu)
    assert "2 trials finished (" in again.output and "all kept from an earlier run" in again.output

    # Another seed: the sweep would be another search. Refused in one line before any step, nothing written.
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    seed = CliRunner().invoke(pipeline, [*ARGS, "--data", str(subset_npz), "--seed", "1"])
    assert seed.exit_code == 2
    assert seed.stderr.strip() == ("error: runs/lenet-sweep holds a sweep with --seed 0, not --seed 1: rerun with "
                                   "--seed 0 to continue it, choose another --name, or pass --restart to start the "
                                   "sweep over")
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before

    # Fewer benchmark images: only the steps that read them rerun, saying why; the others are kept.
    fewer = CliRunner().invoke(pipeline, [*[a if a != "300" else "200" for a in ARGS], "--data", str(subset_npz)])
    assert fewer.exit_code == 0, fewer.output
    assert "[5/7] benchmark Keras vs TFLite vs int8 vs TFLite Micro: rerun (--samples changed: 300 -> 200) …" \
        in fewer.output
    assert fewer.output.count("rerun (--samples changed: 300 -> 200)") == 1 + has_mcu
    assert fewer.output.count("nothing that made it changed") == 3  # original, best, convert
    assert json.loads((tmp_path / "reports" / "lenet" / "bench" / "bench.json").read_text())[
        "variants"][0]["metrics"]["samples"] == 200


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
                    reason="needs qemu-system-arm and arm-none-eabi-gcc")
def test_pipeline_for_a_target_board_chooses_within_its_limits_and_ends_on_that_board(subset_npz, tmp_path):
    done = subprocess.run([sys.executable, "-m", "lenet_deploy.pipeline.cli", *ARGS, "--data", str(subset_npz),
                           "--board", "microbit"], capture_output=True, text=True, timeout=1500, cwd=tmp_path)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    assert not [line for line in log.splitlines() if NOISE.search(line)], log
    picked = json.loads((tmp_path / "runs" / "lenet-sweep" / "best" / "manifest.json").read_text())["picked"]
    mcu = json.loads((tmp_path / "reports" / "lenet" / "mcu" / "mcu.json").read_text())
    assert f", int8 {picked['int8_val_accuracy']:.4f} at " in log
    assert re.search(r"\[2/7\] 2 trials finished .*\(validation\), int8 0\.\d{4} at [\d,]+ instructions, flash "
                     r"[\d.]+ KB, RAM [\d.]+ KB \(the most accurate int8 model within the limits\)", log), log
    assert "[6/7] int8 C engine on an emulated Cortex-M0 (microbit, QEMU) …" in log
    assert (f"[6/7] test accuracy {mcu['variants']['O2']['accuracy']:.4f} on Cortex-M0, bit-exact with TFLite Micro "
            "on 300 of 300 images") in log
    assert mcu["variants"]["O2"]["accuracy"] == mcu["tflm"]["accuracy"]  # the board computes what TFLM computes
    assert picked["device"] == {"board": "microbit", "max_flash": 262144, "max_ram": 16384, "max_latency_ms": None}
    report = (tmp_path / "reports" / "lenet" / "report.md").read_text()
    assert "measured on microbit (QEMU) within flash ≤ 256 KB, RAM ≤ 16 KB" in report
    assert re.search(rf"\| {picked['trial']} \| 0\.\d{{4}} \| [\d,]+ \| .* \| yes \|", report), report
    assert (tmp_path / "reports" / "lenet" / "sweep_pareto.png").exists()
    assert "| lenet_int8.tflite:c-engine | QEMU microbit (Cortex-M0) | 300 |" in report


def test_unknown_target_board_is_refused_before_anything_runs(subset_npz, tmp_path):
    result = CliRunner().invoke(pipeline, ["--target", "esp32", "--data", str(subset_npz), "--unverified"])
    assert result.exit_code == 2
    assert "Invalid value for '--target'" in result.stderr and "'esp32' is not one of" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_unknown_budget(subset_npz):
    result = CliRunner().invoke(pipeline, ["--budget", "huge", "--data", str(subset_npz), "--unverified"])
    assert result.exit_code == 2 and result.stderr.strip() == ("error: Invalid value for '--budget': 'huge' is not one "
                                                               "of 'default', 'full'. (see main --help)")


@pytest.mark.slow
def test_a_pipeline_killed_inside_each_step_continues_and_counts_nothing_twice(subset_npz, tmp_path):
    """kill -9 of the whole process group 1.5 s into step k, for k = 1 … 6, each time with the same command: a killed
    step is done again (nothing half-kept), the finished ones are kept, and the sweep ends with exactly --count
    finished trials."""
    import os
    import signal
    import time

    command = [sys.executable, "-m", "lenet_deploy.pipeline.cli", *ARGS, "--data", str(subset_npz)]
    steps = 6 if shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc") else 5
    for step in range(1, steps + 1):
        run = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
        seen = []
        for line in run.stdout:
            seen.append(line)
            if line.startswith(f"[{step}/7] ") and line.rstrip().endswith("…"):  # the step has started
                break
        time.sleep(1.5)  # inside it: most steps take seconds (a sweep trial, a conversion, QEMU)
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
        kept = {int(line[1]) for line in seen if "nothing that made it changed" in line}
        # Kept: at least every step the previous runs finished (all before the one killed last time; the sweep
        # always runs, it resumes its study), never one this run had not reached.
        assert {s for s in range(1, step - 1) if s != 2} <= kept <= set(range(1, step)), (step, seen)
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = json.loads((tmp_path / "runs" / "lenet-sweep" / "trials.json").read_text())
    assert sum(r["state"] in ("COMPLETE", "PRUNED") for r in rows) == 2
    assert not [r for r in rows if r["state"] == "RUNNING"]
    # A trial killed between its creation and its claim (the first attributes its worker writes) carries no pid
    # and no heartbeat: it is failed and retried 3 heartbeats after its start (fail_unclaimed_trials; before, the
    # resumed sweep could wait for it forever). If the sweep reached --count first, its retry waits unrun: always
    # a retry, never a fresh draw.
    assert all(r["retry_of"] is not None for r in rows if r["state"] == "WAITING")
    assert (tmp_path / "reports" / "lenet" / "report.md").is_file()
    assert not list(tmp_path.rglob(".*.staging"))  # the staging folders of the killed steps were cleaned up
