"""Benchmark one variant in its own process: `python -m lenet_deploy.firmware_bench.worker SPEC.json` prints
one JSON line.

A separate process gives each variant its own peak RSS and keeps a crashing runtime from
taking the other variants' results with it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from lenet_deploy.cli import quiet_tensorflow
from lenet_deploy.errors import LenetError

STAGE = "LENET_STAGE "  # a stderr line before each step: a crash's report names the step it died in
WHAT_OPENS = {"keras": "loading the Keras model", "tflm": "creating the TFLite Micro interpreter",
              "c-engine": "compiling the C engine with this machine's C compiler"}


def stage(text: str) -> None:
    sys.stderr.write(f"{STAGE}{text}\n")
    sys.stderr.flush()


def open_variant(spec: dict):
    """The variant's runner: its model loaded, or its C engine compiled (a LenetError saying why not)."""
    from lenet_deploy.runtimes import open_runner

    path = Path(spec["path"])
    if not path.is_file():
        raise LenetError(f"{path}: {'is a directory' if path.is_dir() else 'no such file'}")
    stage(WHAT_OPENS.get(spec["kind"], f"creating the {spec.get('runtime', 'auto')} interpreter"))
    if spec["kind"] == "c-engine":
        from lenet_deploy.firmware_bench.c_engine import CEngineRunner

        return CEngineRunner(path)
    return open_runner(spec["kind"], path, spec.get("runtime", "auto"), spec.get("threads"))


def run(spec: dict) -> dict:
    """Measure the variant; with `load_only`, only open it (the command's check before anything is written)."""
    from lenet_deploy.firmware_bench.measure import measure
    from lenet_deploy.firmware_bench.testdata import load_testset
    from lenet_deploy.runtimes import runtime_version

    if spec.get("load_only"):
        open_variant(spec)
        return {}
    stage("reading the test images")
    images, labels = load_testset(Path(spec["data"]))
    runner = open_variant(spec)
    stage(f"running the model on {runner.runtime} (accuracy, latency, throughput, energy)")
    result = measure(runner, images, labels, spec["invokes"], spec["warmup"], spec["batch"], spec["repeats"],
                     spec["energy_seconds"])
    return {**result, "runtime": runner.runtime,
            "runtime_version": getattr(runner, "version", None) or runtime_version(runner.runtime),
            "input_dtype": runner.input.dtype.name, "file_bytes": os.path.getsize(spec["path"])}


def main() -> None:
    quiet_tensorflow()
    spec = json.loads(Path(sys.argv[1]).read_text())
    try:
        result = {"status": "ok", **run(spec)}
    except LenetError as exc:
        result = {"status": "failed", "reason": str(exc)}
    except Exception as exc:  # any runtime failure is this variant's result, not the benchmark's end
        result = {"status": "failed", "reason": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
    sys.stdout.write("\n" + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
