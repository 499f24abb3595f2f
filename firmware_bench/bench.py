"""Benchmark every variant on the same test images, each in its own worker process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lenet_deploy.artifacts import sha256_file
from lenet_deploy.errors import CheckFailed, LenetError
from lenet_deploy.firmware_bench.platform_info import platform_info
from lenet_deploy.manifests import BENCH_REPORT, BenchReport, McuReport, write_record


@dataclass(frozen=True)
class Variant:
    name: str
    kind: str  # keras | tflite | tflm | c-engine
    path: str


OPTION_OF = {"keras": "--keras", "tflite": "--tflite", "tflm": "--tflm", "c-engine": "--engine"}


@dataclass(frozen=True)
class BenchOptions:
    runtime: str = "auto"
    threads: int | None = None
    invokes: int = 1000
    warmup: int = 50
    batch: int = 32
    repeats: int = 3
    energy_seconds: float = 5.0
    timeout: float = 1800.0


def variants_for(keras: Path | None, tflite: list[Path], tflm: list[Path], runtime: str,
                 engines: list[Path] = ()) -> list[Variant]:
    """Keras, each .tflite with the chosen TFLite runtime, each --tflm model on TFLite Micro, and each generated
    C engine compiled on this machine."""
    found = []
    if keras is not None:
        found.append(Variant(f"keras:{Path(keras).stem}", "keras", str(keras)))
    found += [Variant(f"{Path(p).stem}:{runtime}", "tflite", str(p)) for p in tflite]
    found += [Variant(f"{Path(p).stem}:tflm", "tflm", str(p)) for p in tflm]
    found += [Variant(f"{Path(p).stem}:c-engine", "c-engine", str(p)) for p in engines]
    if not found:
        raise LenetError("nothing to benchmark: give --keras, --tflite, --tflm and/or --engine")
    return found


def check_variants_load(variants: list[Variant], options: BenchOptions) -> None:
    """Every model loads in its runtime and every C engine compiles, before anything is written: a file that is
    not what its option asks for is bad input (exit 2). A runtime that fails later, while benchmarking, is a failed
    variant instead (exit 1, report kept). Each load runs in the variant's own worker process, as the benchmark
    does, so a crash is one line too."""
    for variant in variants:
        option = OPTION_OF[variant.kind]
        loaded = run_variant(variant, None, options, load_only=True)
        if loaded["status"] != "ok":
            message = loaded["reason"]
            if not message.startswith((option, variant.path)):
                message = f"{variant.path}: {message}"  # a crash: the signal and the step it died in
            raise LenetError(message if message.startswith(option) else f"{option} {message}")


def model_sha256(variant: Variant) -> str | None:
    """Which model a variant runs: its file's SHA-256; for a C engine, that of the .tflite it was generated from."""
    if variant.kind == "c-engine":
        from lenet_deploy.firmware_bench.c_engine import engine_header

        try:
            name, macros = engine_header(Path(variant.path))
        except LenetError:
            return None  # the worker reports what is wrong with it
        return macros.get(f"{name.upper()}_MODEL_SHA256")
    return sha256_file(variant.path) if Path(variant.path).is_file() else None


def run_variant(variant: Variant, data: Path | None, options: BenchOptions,
                load_only: bool = False) -> dict[str, Any]:
    spec = {"kind": variant.kind, "path": variant.path, "data": str(data), "load_only": load_only, **asdict(options)}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    try:
        done = subprocess.run([sys.executable, "-m", "lenet_deploy.firmware_bench.worker", f.name],
                              capture_output=True, text=True, timeout=options.timeout)
    except subprocess.TimeoutExpired:
        return {"status": "failed", "reason": f"timed out after {options.timeout:.0f} s"}
    finally:
        os.unlink(f.name)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"status": "failed", "reason": worker_failure(done.returncode, done.stderr)}
    return json.loads(lines[-1])


def worker_failure(returncode: int, stderr: str) -> str:
    """'SIGSEGV while creating the litert interpreter': the signal (or exit status) and the step it died in."""
    from lenet_deploy.firmware_bench.worker import STAGE

    stages = [line[len(STAGE):] for line in stderr.splitlines() if line.startswith(STAGE)]
    other = [line for line in stderr.strip().splitlines() if not line.startswith(STAGE)]
    how = signal.Signals(-returncode).name if returncode < 0 else f"exit status {returncode}"
    where = f" while {stages[-1]}" if stages else ""
    detail = f": {other[-1][:200]}" if other else ""
    return f"the worker died ({how}){where}{detail}"


MIN_AGREEMENT = 0.99  # two runs of one model (a device and the host's reference) must agree this often
MAX_ACCURACY_GAP_PP = 0.5  # ... and their accuracies this closely


def check_against_references(results: list[dict[str, Any]], data: Path) -> None:
    """A device run checks itself: each variant whose model the export-data file has host predictions for must
    agree with them; otherwise it is marked failed with the likely cause (its numbers stay in the report)."""
    from lenet_deploy.firmware_bench.testdata import load_references, load_testset

    references = load_references(data)
    if not references:
        return
    labels = load_testset(data)[1]
    for result in results:
        reference = references.get(result.get("model_sha256") or "")
        if result["status"] != "ok" or reference is None:
            continue
        predictions = np.asarray(result["predictions"])
        n = len(predictions)
        expected, truth = reference.predictions[:n], labels[:n]
        agreeing = int((predictions == expected).sum())
        right, host_right = int((predictions == truth).sum()), int((expected == truth).sum())
        agreement, host_accuracy = agreeing / n, host_right / n
        gap_pp = (right - host_right) * 100 / n
        result["reference_check"] = {"agreement": agreement, "host_accuracy": host_accuracy, "gap_pp": gap_pp,
                                     "host_runtime": reference.runtime}
        # In image counts with 1e-9 of slack: exactly at a limit passes (0.795 - 0.8 is -0.50000000000000004 pp).
        if agreeing < MIN_AGREEMENT * n - 1e-9 or abs(right - host_right) * 100 > MAX_ACCURACY_GAP_PP * n + 1e-9:
            result["status"] = "failed"
            result["reason"] = (f"wrong answers: top-1 agreement {agreement:.2%} with the host's predictions "
                                f"({reference.runtime}), accuracy {result['metrics']['accuracy']:.4f} vs "
                                f"{host_accuracy:.4f}; likely cause: the runtime mis-detects a CPU feature (QEMU's "
                                "'max' CPU advertises SME, which LiteRT's int8 kernels then use wrongly) or is broken "
                                "on this CPU")


def failed_variants(report: BenchReport) -> list[str]:
    return [v["name"] for v in report.variants if v["status"] != "ok"]


def check_variants(report: BenchReport, out: Path) -> None:
    """A run in which any variant failed is a failed run: exit 1, its report kept."""
    failed = failed_variants(report)
    if failed:
        raise CheckFailed(f"{len(failed)} of {len(report.variants)} variants failed ({', '.join(failed)}); "
                          f"report kept in {out}")


def run_bench(variants: list[Variant], data: Path, data_source: str, out: Path, options: BenchOptions,
              progress=None, mcu: list[McuReport] | None = None) -> BenchReport:
    """Every variant in its own worker; `mcu` are `lenet-bench mcu` reports to show beside the host rows."""
    results = []
    for variant in variants:
        if progress:
            progress(variant)
        result = {"name": variant.name, "kind": variant.kind, "path": variant.path,
                  "model_sha256": model_sha256(variant),
                  **run_variant(variant, data, options)}
        results.append(result)
    check_against_references(results, data)
    reference = next((r for r in results if r["kind"] == "keras" and r["status"] == "ok"), None)
    for result in results:
        if result["status"] == "ok" and reference is not None:
            agree = [a == b for a, b in zip(result["predictions"], reference["predictions"])]
            result["agreement_with_keras"] = sum(agree) / len(agree)
    from lenet_deploy.firmware_bench.testdata import testset_sha256

    report = BenchReport.new(platform=platform_info(), data=data_source, options=asdict(options),
                             variants=results, mcu=[asdict(m) for m in mcu or []], data_sha256=testset_sha256(data))
    out.mkdir(parents=True, exist_ok=True)
    write_record(out / BENCH_REPORT, report)
    return report
