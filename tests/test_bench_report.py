"""The benchmark report as a person reads it: human headings, ≤ 10 columns, ratios in words (hand-made report)."""

import pytest

from lenet_deploy.firmware_bench.report.bench import MAIN, markdown_table, ratios, times
from lenet_deploy.manifests import BenchReport


def variant(name, kind, runtime, path, p50, accuracy, size):
    return {"name": name, "kind": kind, "path": path, "status": "ok", "runtime": runtime, "runtime_version": "1.0",
            "file_bytes": size, "load_seconds": 0.01, "agreement_with_keras": 1.0, "peak_rss_mb": 50.0,
            "metrics": {"accuracy": accuracy, "precision_weighted": accuracy, "recall_weighted": accuracy,
                        "f1_weighted": accuracy},
            "latency_ms": {"invoke": {"p50": p50, "p90": p50, "p99": p50, "min": p50},
                           "end_to_end": {"p50": p50}, "p50_spread": 0.01},
            "throughput": {"images_per_s": 1000 / p50}, "energy": {"status": "ok", "wh_per_1000": 1e-4,
                                                                    "tracking_mode": "estimated"}}


REPORT = BenchReport(stage="bench", command="", platform={}, versions={}, data="test set", options={}, mcu=[],
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
