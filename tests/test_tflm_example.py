"""examples/tflm/main.cc built with TensorFlow Lite Micro itself, when a checkout is at hand ($TFLM_DIR).

No registry ships TFLite Micro's source, so this runs only where TFLM_DIR points to a tflite-micro checkout
with its third-party downloads; elsewhere it is skipped saying so (the README gives the measured numbers).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO

TFLM_DIR = os.environ.get("TFLM_DIR")
MISSING = [tool for tool in ("arm-none-eabi-g++", "qemu-system-arm", "make") if shutil.which(tool) is None]


@pytest.mark.slow
@pytest.mark.skipif(not TFLM_DIR, reason="TFLM_DIR is not set: examples/tflm/verify.py needs a tflite-micro checkout "
                                         "with its third-party downloads")
@pytest.mark.skipif(bool(MISSING), reason=f"not installed: {', '.join(MISSING)}")
def test_the_example_agrees_with_the_python_interpreter_for_every_header(trained_run, subset_npz, tmp_path):
    out = tmp_path / "verify"
    done = subprocess.run([sys.executable, str(REPO / "examples" / "tflm" / "verify.py"),
                           str(trained_run / "model.keras"),
                           "--data", str(subset_npz), "--unverified", "--samples", "100", "--out", str(out)],
                          capture_output=True, text=True, timeout=3600, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = json.loads((out / "verify.json").read_text())["rows"]
    assert {(r["io"], r["kernels"]) for r in rows} == {(io, k) for io in ("int8", "uint8")
                                                       for k in ("reference", "cmsis_nn")}
    for row in rows:
        assert row["images"] == 100 and row["agree_with_python_tflm"] == 100, row
        assert 0 < row["arena_used_on_target"] <= row["arena_macro"], row
