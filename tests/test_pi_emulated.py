"""The device path on an emulated Raspberry Pi 4: Debian bookworm arm64 under qemu-user with a Cortex-A72.

benchmarks/pi/root.sh builds (once; cached) the root and installs `.[device]` into a venv there; the Pi then
runs `lenet-bench run` on exported data for float32, int8 and the C engine (compiled by the root's own gcc):
the C engine's predictions must be the host's, every one; LiteRT's on at least 99 % of the images (its ARM and x86
kernels may round a near-tie differently: 1 of 300 images, seen); and every variant must pass its self-check.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("LENET_PI_ROOTS", "/var/cache/lenet-deploy"))  # built once per machine, then reused
CANNOT = 3  # root.sh: this machine cannot emulate (no root, no qemu-user-static, no binfmt_misc)
RUN = ["--samples", "300", "--invokes", "20", "--repeats", "1", "--energy-seconds", "0"]


def emulated_root(board: str) -> Path:
    """The board's root from benchmarks/pi/root.sh (built on first use: 20-25 min), or skip saying why not."""
    root = CACHE / f"{board}-root"
    built = subprocess.run(["bash", str(REPO / "benchmarks/pi/root.sh"), board, str(root)], capture_output=True,
                           text=True, timeout=3600)
    if built.returncode == CANNOT:
        pytest.skip(built.stderr.strip().splitlines()[-1])
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return root


def bench(*args: str) -> list[str]:
    return [sys.executable, "-m", "lenet_deploy.firmware_bench.cli", *args]


def host_and_device(board: str, models: list[str], variants: list[str], converted_build, subset_npz, tmp_path):
    """Export the test set with the host's predictions for `models`, run `lenet-bench run VARIANTS` on the host
    and on the emulated board; returns both bench.json records."""
    from lenet_deploy.convert.codegen import write_engine

    root = emulated_root(board)
    work = root / "work" / tmp_path.name  # the device sees it as /work/<name>
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for name in ("lenet_f32.tflite", "lenet_int8.tflite"):
        shutil.copy(converted_build / name, work / name)
    write_engine(work / "lenet_int8.tflite", work)
    references = [arg for name in models for arg in ("--model", str(work / name))]
    exported = subprocess.run(bench("export-data", "--data", str(subset_npz), "--unverified", *references, "--out",
                                    str(work / "testset.npz")), capture_output=True, text=True, timeout=600)
    assert exported.returncode == 0, exported.stdout + exported.stderr
    host = subprocess.run(bench("run", *variants, "--data", "testset.npz", *RUN, "--out", "host"), cwd=work,
                          capture_output=True, text=True, timeout=600)
    assert host.returncode == 0, host.stdout + host.stderr
    device = subprocess.run(["bash", str(REPO / "benchmarks/pi/run.sh"), str(root), "sh", "-c",
                             f"cd {tmp_path.name} && lenet-bench run {' '.join(variants)} --data testset.npz "
                             f"{' '.join(RUN)} --out device"], capture_output=True, text=True, timeout=1800)
    # Exit 1 would mean a variant failed its self-check against the host's predictions.
    assert device.returncode == 0, device.stdout[-3000:] + device.stderr[-3000:]
    records = [json.loads((work / side / "bench.json").read_text()) for side in ("host", "device")]
    shutil.rmtree(work, ignore_errors=True)
    return records


def assert_same_predictions(on_host: dict, on_device: dict, count: int) -> None:
    """The C engine answers exactly as on the host (the same integer C); LiteRT, whose ARM and x86 kernels may
    round a near-tie differently, on at least 99 % of the images; and every variant passed its own self-check."""
    by_model = {(v["model_sha256"], v["runtime"]): v for v in on_host["variants"]}
    assert len(on_device["variants"]) == count
    for variant in on_device["variants"]:
        assert variant["status"] == "ok", variant.get("reason")  # its self-check, on the device itself
        assert variant["reference_check"]["agreement"] >= 0.99
        twin = by_model[(variant["model_sha256"], variant["runtime"])]
        same = sum(a == b for a, b in zip(variant["predictions"], twin["predictions"])) / len(twin["predictions"])
        assert len(variant["predictions"]) == len(twin["predictions"])
        assert same == 1.0 if variant["runtime"] == "c-engine" else same >= 0.99, (variant["name"], same)


@pytest.mark.slow
def test_an_emulated_pi4_gives_the_hosts_predictions(converted_build, subset_npz, tmp_path):
    """float32 and int8 on LiteRT, and the C engine built by the Pi's gcc, on a Cortex-A72 with no TensorFlow."""
    on_host, on_pi = host_and_device(
        "pi4", ["lenet_f32.tflite", "lenet_int8.tflite"],
        ["--tflite", "lenet_f32.tflite", "lenet_int8.tflite", "--engine", "lenet_int8_engine.c"],
        converted_build, subset_npz, tmp_path)
    assert on_pi["platform"]["machine"] == "aarch64" and on_pi["platform"]["emulation"]
    assert on_pi["platform"]["cpu"].startswith("Raspberry Pi 4")
    assert not any("tensorflow" in name.lower() for name in on_pi["versions"])
    assert_same_predictions(on_host, on_pi, 3)


@pytest.mark.slow
def test_an_emulated_pi_zero_runs_the_c_engine_with_no_tflite_wheel(converted_build, subset_npz, tmp_path):
    """ARMv6 (ARM1176), 32-bit Debian armel: no LiteRT or tflite-runtime exists there; the C engine is the path."""
    on_host, on_zero = host_and_device("zero", ["lenet_int8.tflite"], ["--engine", "lenet_int8_engine.c"],
                                       converted_build, subset_npz, tmp_path)
    assert on_zero["platform"]["machine"].startswith("armv") and on_zero["platform"]["emulation"]
    assert on_zero["platform"]["cpu"].startswith("Raspberry Pi Zero")
    assert not on_zero["platform"]["runtimes"]  # no TFLite interpreter of any kind
    assert_same_predictions(on_host, on_zero, 1)
