"""The built wheel in a fresh virtualenv: one top-level package, four working commands, package data included.

Nothing is downloaded: the wheel is built without build isolation, installed with --no-deps, and the
fresh venv borrows this environment's third-party packages through a .pth file.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.single_op import elementwise_model

COMMANDS = ("lenet-train", "lenet-convert", "lenet-bench", "lenet-pipeline")
SOURCES = ("pyproject.toml", "README.md", "lenet_deploy", "train", "convert", "firmware_bench", "pipeline", "sweeps")


@pytest.fixture(scope="module")
def fresh_install(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"  # setuptools writes build/ beside the sources: keep that out of the checkout
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(REPO / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(work / "dist")], check=True, capture_output=True, cwd=work)
    wheel = next((work / "dist").glob("lenet_deploy-*.whl"))
    env = work / "venv"
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, capture_output=True)
    return env


def _site_packages(env: Path) -> Path:
    return next((env / "lib").glob("python3*/site-packages"))


def test_the_wheel_adds_one_top_level_package(fresh_install):
    added = sorted(p.name for p in _site_packages(fresh_install).iterdir() if p.name != "__pycache__")
    assert [name for name in added if not name.endswith(".dist-info")] == ["lenet_deploy"]


def _with_dependencies(env: Path) -> dict[str, str]:
    """The fresh venv sees this environment's numpy, click, ... (not its lenet_deploy, which is editable)."""
    (_site_packages(env) / "borrowed.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return {**os.environ, "PATH": f"{env / 'bin'}:{os.environ['PATH']}", "PYTHONPATH": ""}


def test_every_command_runs_from_the_wheel(fresh_install, tmp_path):
    env = _with_dependencies(fresh_install)
    for command in COMMANDS:
        done = subprocess.run([str(fresh_install / "bin" / command), "--help"], capture_output=True, text=True,
                              env=env, cwd=tmp_path)
        assert done.returncode == 0 and done.stdout.startswith("Usage:"), (command, done.stderr)


def test_package_data_is_installed_and_used(fresh_install, tmp_path):
    env = _with_dependencies(fresh_install)
    probe = ("import lenet_deploy, importlib.resources as r\n"
             "from lenet_deploy.pipeline.run import DEFAULT_SWEEP\n"
             "print(lenet_deploy.__file__)\n"
             "print(DEFAULT_SWEEP.is_file(), DEFAULT_SWEEP)\n"
             "print(all(r.files('lenet_deploy.firmware_bench.mcu').joinpath(f).is_file() "
             "for f in ('startup.c', 'main.c', 'link.ld')))\n")
    done = subprocess.run([str(fresh_install / "bin" / "python"), "-c", probe], capture_output=True, text=True,
                          env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    where, sweep, firmware = done.stdout.splitlines()
    assert where.startswith(str(fresh_install)) and sweep.startswith(f"True {fresh_install}") and firmware == "True"
    # The C generator reads its kernels from the installed package.
    (tmp_path / "tanh.tflite").write_bytes(elementwise_model("TANH", 16, 0.05, 0, 1 / 128, 0))
    done = subprocess.run([str(fresh_install / "bin" / "lenet-convert"), "tanh.tflite", "--engine", "c", "--out",
                           "out"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    source = (tmp_path / "out" / "tanh_engine.c").read_text()
    assert "void lenet_invoke(const int8_t *input, int8_t *output)" in source
