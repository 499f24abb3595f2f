"""Files and folders get the permissions the umask gives, atomic writes and staged directories included: another
user, a build server or a web server can read a header or a report."""

from __future__ import annotations

import os
import stat

import pytest
from click.testing import CliRunner

from lenet_deploy.artifacts import staged_dir, staged_update, write_text_atomic
from lenet_deploy.firmware_bench.cli import main as bench


@pytest.fixture(params=[0o022, 0o027, 0o077])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_an_atomic_file_and_a_staged_directory_get_the_umask_s_modes(tmp_path, umask):
    write_text_atomic(tmp_path / "report.md", "hello")
    assert mode(tmp_path / "report.md") == 0o666 & ~umask
    with staged_dir(tmp_path / "run", force=False) as stage:
        write_text_atomic(stage / "manifest.json", "{}")
    assert mode(tmp_path / "run") == 0o777 & ~umask
    assert mode(tmp_path / "run" / "manifest.json") == 0o666 & ~umask
    with staged_update(tmp_path / "run") as stage:
        write_text_atomic(stage / "more.json", "{}")
    assert mode(tmp_path / "run") == 0o777 & ~umask
    assert {p.name: mode(p) for p in (tmp_path / "run").iterdir()} == {"manifest.json": 0o666 & ~umask,
                                                                        "more.json": 0o666 & ~umask}


def test_a_command_s_output_is_readable_by_others_under_umask_022(tmp_path, subset_npz):
    old = os.umask(0o022)
    try:
        result = CliRunner().invoke(bench, ["export-data", "--data", str(subset_npz), "--unverified", "--out",
                                            str(tmp_path / "testset.npz")])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert mode(tmp_path / "testset.npz") == 0o644
