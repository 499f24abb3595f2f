"""The benchmark report as a person reads it: human headings, ≤ 10 columns, ratios in words (hand-made report)."""

import copy
from dataclasses import replace

import pytest
from click.testing import CliRunner

from lenet_deploy.firmware_bench.cli import main as bench
from lenet_deploy.firmware_bench.report.bench import MAIN, markdown_table, ratios, times
from lenet_deploy.manifests import BenchReport, write_record


def variant(name, kind, runtime, path, p50, accuracy, size):
    return {"name": name, "kind": kind, "path": path, "status": "ok", "runtime": runtime, "runtime_version": "1.0",
            "model_sha256": f"sha-of-{path}", "predictions": [3, 1, 4, 1, 5] * 20,
            "file_bytes": size, "load_seconds": 0.01, "agreement_with_keras": 1.0, "peak_rss_mb": 50.0,
            "metrics": {"accuracy": accuracy, "precision_weighted": accuracy, "recall_weighted": accuracy,
                        "f1_weighted": accuracy},
            "latency_ms": {"invoke": {"p50": p50, "p90": p50, "p99": p50, "min": p50},
                           "end_to_end": {"p50": p50}, "p50_spread": 0.01},
            "throughput": {"images_per_s": 1000 / p50}, "energy": {"status": "ok", "wh_per_1000": 1e-4,
                                                                    "tracking_mode": "estimated"}}


REPORT = BenchReport(stage="bench", command="", platform={"cpu": "host CPU", "node": "laptop"}, versions={},
                     data="test set", options={}, mcu=[], data_sha256="ab" * 32,
                     variants=[variant("keras:model", "keras", "keras", "runs/x/model.keras", 1.95, 0.99, 500_000),
                               variant("lenet_int8:litert", "tflite", "litert", "build/lenet_int8.tflite", 0.1,
                                       0.9895, 40_000),
                               variant("lenet_int8:tflm", "tflm", "tflm", "build/lenet_int8.tflite", 3.9, 0.99,
                                       40_000),
                               {"name": "lenet_f32:litert", "kind": "tflite", "path": "build/lenet_f32.tflite",
                                "status": "failed", "reason": "SIGSEGV"}])


def test_main_table_has_at_most_ten_columns_with_human_headings():
    table = markdown_table(REPORT)
    header = table.splitlines()[0]
    assert len(MAIN) <= 10 and header.count("|") - 1 == len(MAIN)
    assert "test accuracy" in header and "p50, ms" in header and "images/s" in header
    assert not any(raw in header for raw in ("throughput_ips", "precision_w", "p50_ms", "keras:model"))
    assert "| lenet_int8.tflite · LiteRT 1.0 |" in table and "| lenet_f32.tflite · TFLite | failed: SIGSEGV |" in table


def test_ratios_are_spelled_out():
    lines = ratios(REPORT)
    assert lines[0].startswith("lenet_int8.tflite · LiteRT 1.0 is 19.5x faster than Keras at p50 (0.100 vs 1.950 ms)")
    assert "test accuracy -0.05 pp" in lines[0]
    assert lines[1].startswith("lenet_int8.tflite · TFLite Micro 1.0 is 2.0x slower than Keras at p50")


@pytest.mark.parametrize("ratio, words", [(156.2, "156x faster than"), (1.02, "about as fast as"),
                                          (0.25, "4.0x slower than")])
def test_times(ratio, words):
    assert times(ratio) == words


def device_report(tmp_path, change=lambda variants: None, **fields):
    """REPORT as a Raspberry Pi would write it: other file paths, 156x slower; `change` edits its variants."""
    variants = copy.deepcopy([v for v in REPORT.variants if v["status"] == "ok"])
    for v in variants:
        v["path"] = "/home/pi/" + v["path"].rsplit("/", 1)[-1]  # same model bytes, another place
        v["latency_ms"]["invoke"]["p50"] *= 156.2
        if v["kind"] == "tflite":
            v["runtime"], v["runtime_version"] = "tflite-runtime", "2.14"
    change(variants)
    pi = replace(REPORT, platform={"cpu": "Raspberry Pi 4 Model B", "node": "pi"}, variants=variants, **fields)
    write_record(tmp_path / "host.json", REPORT)
    write_record(tmp_path / "pi.json", pi)
    return [str(tmp_path / "host.json"), str(tmp_path / "pi.json")]


def test_compare_matches_models_by_sha256_and_says_how_much_slower(tmp_path):
    result = CliRunner().invoke(bench, ["compare", *device_report(tmp_path), "--strict"])
    assert result.exit_code == 0, result.output
    assert "156x slower than A" in result.output and "tflite-runtime 2.14" in result.output
    assert "100.00%" in result.output and "warning" not in result.output


def test_compare_warns_when_a_runtime_gives_wrong_answers(tmp_path):
    def every_image_an_eight(variants):
        int8 = next(v for v in variants if v["kind"] == "tflite")
        int8["predictions"], int8["metrics"]["accuracy"] = [8] * 100, 0.0984

    files = device_report(tmp_path, every_image_an_eight)
    result = CliRunner().invoke(bench, ["compare", *files])
    assert result.exit_code == 0, result.output
    assert "warning: lenet_int8.tflite (LiteRT 1.0 vs tflite-runtime 2.14): top-1 agreement 0.00%, accuracy " \
           "0.9895 vs 0.0984" in result.stderr
    strict = CliRunner().invoke(bench, ["compare", *files, "--strict"])
    assert strict.exit_code == 1 and "1 warning(s) with --strict" in strict.stderr


def test_compare_says_when_the_test_sets_differ(tmp_path):
    result = CliRunner().invoke(bench, ["compare", *device_report(tmp_path, data_sha256="cd" * 32), "--strict"])
    assert result.exit_code == 1
    assert "warning: the test sets differ (sha256 abababababab… vs cdcdcdcdcdcd…)" in result.stderr


def test_a_crashed_worker_names_the_signal_and_the_step():
    from lenet_deploy.firmware_bench.bench import worker_failure

    stderr = "LENET_STAGE reading the test images\nLENET_STAGE creating the litert interpreter\n"
    assert worker_failure(-11, stderr) == "the worker died (SIGSEGV) while creating the litert interpreter"
    assert worker_failure(1, stderr + "MemoryError\n") == \
        "the worker died (exit status 1) while creating the litert interpreter: MemoryError"
    assert worker_failure(-9, "") == "the worker died (SIGKILL)"


def test_the_test_set_checksum_is_of_the_images_not_of_the_file(tmp_path, subset_arrays):
    """compare tells two runs on the same images apart from runs on other images, however each file was written."""
    import numpy as np

    from lenet_deploy.firmware_bench.testdata import Reference, export_testset, testset_sha256

    images, labels = subset_arrays["x_test"][:50], subset_arrays["y_test"][:50]
    export_testset(tmp_path / "plain.npz", images, labels, "subset")
    export_testset(tmp_path / "with_references.npz", images, labels, "subset, another description",
                   {"ab" * 32: Reference(labels.copy(), 1.0, "litert 2.3.0")})
    np.savez(tmp_path / "floats.npz", x_test=images.astype(np.float32) / 255, y_test=labels)
    sums = {name: testset_sha256(tmp_path / name) for name in ("plain.npz", "with_references.npz", "floats.npz")}
    assert len({(tmp_path / name).read_bytes() for name in sums}) == 3  # three different files
    assert len(set(sums.values())) == 1  # one test set
    export_testset(tmp_path / "other.npz", images[::-1], labels[::-1], "subset")
    assert testset_sha256(tmp_path / "other.npz") != sums["plain.npz"]


def _checked(tmp_path, reference, labels, predictions):
    """One device result checked against a test set that holds the host's `reference` predictions."""
    import numpy as np

    from lenet_deploy.firmware_bench.bench import check_against_references
    from lenet_deploy.firmware_bench.testdata import Reference, export_testset

    images = np.zeros((len(labels), 28, 28), np.uint8)
    export_testset(tmp_path / "t.npz", images, labels, "made", {"ab" * 32: Reference(reference, 0.0, "host")})
    result = {"status": "ok", "model_sha256": "ab" * 32, "predictions": predictions.tolist(),
              "metrics": {"accuracy": float((predictions == labels).mean())}}
    check_against_references([result], tmp_path / "t.npz")
    return result


@pytest.mark.parametrize("disagree, wrong, ok", [
    (0, 0, True),
    (10, 0, True),      # 1.0 % of 1,000 answers differ between wrong classes: agreement 99.0 %, the limit: kept
    (11, 0, False),     # 98.9 %: failed
    (0, 5, True),       # 5 right answers turned wrong: accuracy 0.5 pp below the host's, the limit: kept
    (0, 6, False),      # 0.6 pp: failed
    (50, 0, False),     # 5 %
    (1000, 0, False),   # every answer shifted
])
def test_a_device_run_checks_itself_at_the_edges_of_its_limits(tmp_path, disagree, wrong, ok):
    """The README's self-check: a variant fails when fewer than 99 % of its answers are the host's or its accuracy
    is more than 0.5 pp from the host's; exactly at either limit it passes."""
    import numpy as np

    labels = np.arange(1000) % 10
    reference = labels.copy()
    reference[:200] = (labels[:200] + 1) % 10  # the host is wrong on the first 200 (accuracy 0.8)
    predictions = reference.copy()
    if disagree == 1000:
        predictions = (reference + 5) % 10
    else:
        predictions[:disagree] = (reference[:disagree] + 1) % 10  # another wrong class: accuracy unchanged
        assert (predictions[:disagree] != labels[:disagree]).all()
        predictions[200:200 + wrong] = (labels[200:200 + wrong] + 3) % 10  # right answers turned wrong
    result = _checked(tmp_path, reference, labels, predictions)
    assert (result["status"] == "ok") is ok, result.get("reason")
    assert result["reference_check"]["agreement"] == pytest.approx((1000 - disagree - wrong) / 1000)
    if not ok:
        assert result["reason"].startswith("wrong answers: top-1 agreement ")
