"""The pipeline's step keys: a step is kept only when what made it and the result it left are both unchanged."""

from __future__ import annotations

from lenet_deploy.pipeline.lock import StepLock, difference

KEY = {"config": {"epochs": 8, "filters": 6}, "seed": 0, "val_size": 6000, "data": "a" * 64, "country": "USA"}


def test_a_step_is_kept_only_when_its_key_and_its_result_are_unchanged(tmp_path):
    result = tmp_path / "run" / "manifest.json"
    lock = StepLock(tmp_path / "report", "lenet", {"seed": 0}, {"sha256": "a" * 64})
    assert lock.why_rerun("original", KEY, result) == "no result yet"
    result.parent.mkdir()
    result.write_text("{}")
    assert lock.why_rerun("original", KEY, result).startswith("no record of what made it")
    lock.done("original", KEY, result)

    again = StepLock(tmp_path / "report", "lenet", {"seed": 0}, {"sha256": "a" * 64})  # read back from pipeline.json
    assert again.why_rerun("original", KEY, result) is None
    assert again.why_rerun("original", {**KEY, "seed": 1}, result) == "--seed changed: 0 -> 1"
    assert again.why_rerun("original", {**KEY, "config": {"epochs": 2, "filters": 6}}, result) == \
        "its config changed (epochs: 8 -> 2)"
    result.write_text('{"edited": true}')  # replaced by another command since
    assert again.why_rerun("original", KEY, result) == f"{result} changed since this pipeline wrote it"


def test_what_changed_is_said_in_the_user_s_words():
    assert difference({"trial": 4}, {"trial": 7}) == "the sweep's winner changed: trial #4 -> #7"
    assert difference({"model": "a"}, {"model": "b"}) == "its input model changed"
    assert difference({"samples": 300}, {"samples": 200}) == "--samples changed: 300 -> 200"
    assert difference({"data": "a" * 64}, {"data": "b" * 64}) == \
        "the data changed (sha256 aaaaaaaaaaaa… -> bbbbbbbbbbbb…)"
    assert difference({"lenet-deploy": "0.1.0"}, {"lenet-deploy": "0.2.0"}) == "lenet-deploy changed: 0.1.0 -> 0.2.0"
    assert difference(KEY, dict(KEY)) is None


def test_an_unreadable_record_keeps_nothing(tmp_path):
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "pipeline.json").write_text("not json")
    result = tmp_path / "manifest.json"
    result.write_text("{}")
    lock = StepLock(tmp_path / "report", "lenet", {}, {})
    assert lock.why_rerun("original", KEY, result).startswith("no record of what made it")
