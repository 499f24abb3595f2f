"""lenet-pipeline end to end on the subset: 2-trial 1-epoch sweep, every report section, resume on rerun."""

import re
import shutil

import pytest
from click.testing import CliRunner

from lenet_deploy.pipeline.cli import main as pipeline

ARGS = ["--count", "2", "--epochs-cap", "1", "--val-size", "400", "--samples", "300", "--quick-bench",
        "--wandb", "disabled", "--unverified"]


@pytest.mark.slow
def test_pipeline_writes_a_complete_report_and_continues_on_rerun(subset_npz, tmp_path):
    result = CliRunner().invoke(pipeline, [*ARGS, "--data", str(subset_npz)])
    assert result.exit_code == 0, result.output + str(result.exception)
    for step in range(1, 8):
        assert f"[{step}/7]" in result.output
    report = (tmp_path / "reports" / "lenet" / "report.md").read_text()
    for section in ("## Original vs best", "## Sweep", "## Classification report", "## Energy and CO2",
                    "## Deployment", "### Benchmark on this machine"):
        assert section in report, section
    assert re.search(r"\| original LeNet-5 \(1 epochs\) \| 0\.\d{4} \|", report)
    assert "estimated (" in report or "measured (RAPL)" in report
    for variant in ("keras:model", "lenet_f32:litert", "lenet_int8:litert", "lenet_int8:tflm"):
        assert f"| {variant} |" in report
    for image in re.findall(r"\]\(([^)]+\.png)\)", report):
        assert (tmp_path / "reports" / "lenet" / image).exists(), image
    assert (tmp_path / "build" / "lenet" / "lenet_int8.h").exists()
    if shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc"):
        assert "bit-exact with TFLite Micro on 300 of 300" in result.output
        assert "## On an emulated microcontroller (`lenet-bench mcu`)" in report
        assert "| lenet_int8.tflite:c-engine | QEMU mps2-an386 (Cortex-M4F) | 300 |" in report
    else:
        assert "Not run: arm-none-eabi-gcc and qemu-system-arm are needed" in report

    again = CliRunner().invoke(pipeline, [*ARGS, "--data", str(subset_npz)])
    assert again.exit_code == 0, again.output
    expected_kept = 5 if shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc") else 4
    assert again.output.count("from an earlier run") == expected_kept  # original, best, convert, bench (, mcu)
    assert "2 trials finished" in again.output


def test_unknown_budget(subset_npz):
    result = CliRunner().invoke(pipeline, ["--budget", "huge", "--data", str(subset_npz), "--unverified"])
    assert result.exit_code == 2 and result.stderr.strip() == "error: unknown --budget 'huge' (choose from: default, full)"
