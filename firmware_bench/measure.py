"""Measuring one variant: accuracy, batch-1 latency, throughput, load time, peak RSS, energy per 1,000.

Runs inside a worker process per variant (firmware_bench.worker), so peak RSS is the variant's
own and a runtime that crashes takes no other variant with it.
"""

from __future__ import annotations

import resource
import sys
import time
from typing import Any

import numpy as np

from lenet_deploy.energy import EnergyMeter
from lenet_deploy.metrics import classification_metrics
from lenet_deploy.runtimes import Runner


def percentiles(samples_ms: np.ndarray) -> dict[str, float]:
    return {"p50": float(np.percentile(samples_ms, 50)), "p90": float(np.percentile(samples_ms, 90)),
            "p99": float(np.percentile(samples_ms, 99)), "min": float(samples_ms.min()),
            "mean": float(samples_ms.mean())}


def latency(runner: Runner, images: np.ndarray, invokes: int, warmup: int, end_to_end: bool) -> np.ndarray:
    """Milliseconds per batch-1 inference; end_to_end adds quantizing the input and dequantizing the output."""
    quantized = runner.input.quantize(images)
    count = len(images)
    for i in range(warmup):
        runner.invoke(quantized[i % count:i % count + 1])
    samples = np.empty(invokes)
    clock = time.perf_counter
    for i in range(invokes):
        j = i % count
        if end_to_end:
            start = clock()
            runner.output.dequantize(runner.invoke(runner.input.quantize(images[j:j + 1])))
        else:
            one = quantized[j:j + 1]
            start = clock()
            runner.invoke(one)
        samples[i] = (clock() - start) * 1000
    return samples


def throughput(runner: Runner, images: np.ndarray, batch: int, seconds: float = 2.0) -> float:
    """Images per second running `batch` images per call (`predict`: batched for Keras, a loop for TFLite)."""
    chunk = images[:batch]
    runner.predict(chunk)  # warm-up: a compiling runtime (XLA) builds this batch shape here, not in the timing
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or done == 0:
        runner.predict(chunk)
        done += len(chunk)
    return done / (time.perf_counter() - start)


def energy_per_1000(runner: Runner, images: np.ndarray, seconds: float) -> dict[str, Any]:
    """CodeCarbon around `seconds` of batch-1 inferences, scaled to 1,000; mode stated (RAPL or estimate)."""
    try:
        meter = EnergyMeter(interval=1)
    except ImportError:
        return {"status": "not measured: codecarbon is not installed"}
    quantized = runner.input.quantize(images)
    count = 0
    with meter:
        start = time.perf_counter()  # after the tracker's own start-up
        while time.perf_counter() - start < seconds or count == 0:
            runner.invoke(quantized[count % len(images):count % len(images) + 1])
            count += 1
    energy = meter.result
    return {"status": "ok", "inferences": count, "wh_per_1000": energy["energy_kwh"] * 1000 / count * 1000,
            "co2_g_per_1000": energy["co2_kg"] * 1000 / count * 1000, "tracking_mode": energy["tracking_mode"]}


def peak_rss_mb() -> float:
    """This process's peak resident set: VmHWM (reset at exec, unlike ru_maxrss, which a child inherits)."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def measure(runner: Runner, images: np.ndarray, labels: np.ndarray, invokes: int, warmup: int, batch: int,
            repeats: int, energy_seconds: float) -> dict[str, Any]:
    scores = runner.predict(images)
    predictions = scores.argmax(axis=1)
    metrics = classification_metrics(labels, predictions)
    runs = [latency(runner, images, invokes, warmup, end_to_end=False) for _ in range(repeats)]
    p50s = [float(np.percentile(r, 50)) for r in runs]
    end_to_end = latency(runner, images, invokes, warmup, end_to_end=True)
    result = {
        "metrics": metrics,
        "predictions": predictions.tolist(),
        "latency_ms": {"invoke": percentiles(np.concatenate(runs)), "end_to_end": percentiles(end_to_end),
                       "invokes": invokes, "warmup": warmup, "repeats": repeats, "p50_per_repeat": p50s,
                       "p50_spread": (max(p50s) - min(p50s)) / float(np.median(p50s))},
        "latency_samples_ms": runs[0].tolist(),
        "throughput": {"images_per_s": throughput(runner, images, batch), "batch": batch},
        "load_seconds": runner.load_seconds,
    }
    result["energy"] = energy_per_1000(runner, images, energy_seconds) if energy_seconds > 0 else \
        {"status": "not measured (--energy-seconds 0)"}
    result["peak_rss_mb"] = peak_rss_mb()
    return result
