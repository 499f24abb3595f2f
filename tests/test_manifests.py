"""The one schema: records round-trip, and a file from an older layout is one clear error naming the field."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
from click.testing import CliRunner

from lenet_deploy.errors import LenetError
from lenet_deploy.firmware_bench.cli import main as bench
from lenet_deploy.manifests import (
    MANIFEST,
    BenchReport,
    ConvertManifest,
    McuReport,
    RunManifest,
    read_record,
    write_record,
)


def _bench_report() -> BenchReport:
    return BenchReport.new(platform={"cpu": "x", "cores": 2, "os": "Linux", "python": "3.11", "node": "h"},
                           data="test.npz", options={"invokes": 1}, variants=[], mcu=[])


def test_a_record_round_trips_with_what_made_it(tmp_path):
    record = ConvertManifest.new(artifacts={"lenet_int8": {"bytes": 10}})
    write_record(tmp_path / MANIFEST, record)
    back = read_record(tmp_path / MANIFEST, ConvertManifest)
    assert back == record and back.stage == "convert" and "numpy" in back.versions
    assert back.command  # the command line that made it


def test_an_optional_field_may_be_absent(tmp_path):
    record = RunManifest.new(name="r", config={}, seed=0, data={}, split={}, train_seconds=1.0, epochs_run=1,
                             images_per_s=[1.0], epoch_seconds=[1.0], energy={}, wandb={}, metrics={}, files=[])
    stored = asdict(record)
    del stored["picked"]
    (tmp_path / MANIFEST).write_text(json.dumps(stored))
    assert read_record(tmp_path / MANIFEST, RunManifest).picked is None


@pytest.mark.parametrize("change,message", [
    (lambda d: d.pop("variants"), "field 'variants' is missing: written by an older lenet-deploy"),
    (lambda d: d.update(variants={}), "field 'variants' is dict, expected a list"),
    (lambda d: d.update(stage="train"), "its stage is 'train', expected 'bench'"),
])
def test_an_older_or_foreign_layout_names_the_field(tmp_path, change, message):
    stored = asdict(_bench_report())
    change(stored)
    (tmp_path / "bench.json").write_text(json.dumps(stored))
    with pytest.raises(LenetError, match="not a bench.json from `lenet-bench run`") as error:
        read_record(tmp_path / "bench.json", BenchReport)
    assert message in str(error.value)


def test_invalid_json_and_a_missing_file(tmp_path):
    (tmp_path / "mcu.json").write_text("{")
    with pytest.raises(LenetError, match=r"mcu.json: not an mcu.json from `lenet-bench mcu` \(invalid JSON"):
        read_record(tmp_path / "mcu.json", McuReport)
    with pytest.raises(LenetError, match="no such file"):
        read_record(tmp_path / "absent.json", McuReport)


def test_compare_on_an_old_bench_json_is_one_line_and_writes_nothing(tmp_path):
    good = asdict(_bench_report())
    old = {k: v for k, v in good.items() if k != "mcu"}
    (tmp_path / "a.json").write_text(json.dumps(good))
    (tmp_path / "b.json").write_text(json.dumps(old))
    before = sorted(p.name for p in tmp_path.iterdir())
    result = CliRunner().invoke(bench, ["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'b.json'}: not a bench.json from `lenet-bench run` (field 'mcu' is missing: written by "
        "an older lenet-deploy? rerun the step that made it)"]
    assert sorted(p.name for p in tmp_path.iterdir()) == before
