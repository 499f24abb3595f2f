"""lenet-pipeline end to end on the subset: 2-trial 1-epoch sweep, every report section, resume on rerun."""

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
    for step, figure in ((1, r"test accuracy 0\.\d{4} after 1 epoch on 3,600 images"),
                         (2, r"2 trials finished \(\d complete, \d pruned\), \d+ trials/hour; best: trial #\d"),
                         (3, r"trial #\d: test accuracy 0\.\d{4} after 1 epoch on 4,000 images"),
                         (4, r"int8 model [\d,]+ B \(\d+% of float32\), validation accuracy 0\.\d{4}"),
                         (5, r"p50 latency: model\.keras · Keras [\d.]+ \d\.\d{3} ms"), (7, "wrote reports/lenet")):
        assert re.search(rf"\[{step}/7\] {figure}", log), (step, log)
    report = (tmp_path / "reports" / "lenet" / "report.md").read_text()
    for section in ("## Original vs best", "## Sweep", "## Classification report", "## Energy and CO2",
                    "## Deployment", "### Benchmark on this machine"):
        assert section in report, section
    assert re.search(r"\| original LeNet-5 \(1 epochs\) \| 0\.\d{4} \|", report)
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

    again = CliRunner().invoke(pipeline, [*ARGS, "--data", str(subset_npz)])
    assert again.exit_code == 0, again.output
    expected_kept = 6 if shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc") else 5
    # original, sweep, best, convert, bench (, mcu)
    assert again.output.count("from an earlier run") == expected_kept
    assert "2 trials finished" in again.output


def test_unknown_budget(subset_npz):
    result = CliRunner().invoke(pipeline, ["--budget", "huge", "--data", str(subset_npz), "--unverified"])
    assert result.exit_code == 2 and result.stderr.strip() == ("error: Invalid value for '--budget': 'huge' is not one "
                                                               "of 'default', 'full'. (see main --help)")
