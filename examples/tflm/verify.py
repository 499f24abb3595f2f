"""Prove examples/tflm/main.cc with TensorFlow Lite Micro itself, on an emulated Cortex-M4, for every header.

    TFLM_DIR=~/tflite-micro python examples/tflm/verify.py runs/best/model.keras --samples 1000

TFLM_DIR is a tflite-micro checkout whose third-party downloads are in place (its Makefile fetches
them on first use, which needs the network; nothing here downloads). For each --io (int8, uint8)
lenet-convert writes the header; for each kernel set (TFLM's reference kernels, CMSIS-NN) TFLM's
Makefile builds libtensorflow-microlite.a for cortex-m4+fp. main.cc is compiled unchanged under
TFLM's own flags with -Werror and under plain -Wall -Wextra -Werror, linked with harness.cc and
this project's firmware startup and linker script (-nostartfiles, newlib semihosting), and run in
qemu-system-arm -M mps2-an386 on the first N test images. Every prediction is compared with the
tflite-micro Python interpreter's on the same quantized inputs; the arena TFLM used on the target
is reported next to the header's LENET_INT8_ARENA_BYTES. Writes verify.json and prints a table;
exit status 1 if any prediction differs or the macro is below what TFLM used.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from lenet_deploy.boards import BOARDS
from lenet_deploy.convert import ConvertOptions, convert_model
from lenet_deploy.data import load_mnist, to_model_input
from lenet_deploy.firmware_bench.mcu.build import elf_sizes, write_firmware_sources
from lenet_deploy.runtimes import TFLMRunner

HERE = Path(__file__).resolve().parent
BOARD = BOARDS["mps2-an386"]  # Cortex-M4F, as TFLM's cortex_m_generic TARGET_ARCH=cortex-m4+fp
KERNELS = {"reference": [], "cmsis_nn": ["OPTIMIZED_KERNEL_DIR=cmsis_nn"]}
PLAIN_FLAGS = ["-std=c++17", "-Wall", "-Wextra", "-Werror", "-fno-rtti", "-fno-exceptions"]


def _run(command: list[str], what: str, cwd: Path | None = None, timeout: float | None = None,
         env: dict[str, str] | None = None) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    if done.returncode != 0:
        raise SystemExit(f"error: {what} failed (exit {done.returncode}):\n{(done.stderr or done.stdout)[-3000:]}")
    return done.stdout


class TflmBuild:
    """libtensorflow-microlite.a for the Cortex-M4 with one kernel set, and the flags it was built with."""

    def __init__(self, tflm_dir: Path, kernels: str, toolchain_root: str) -> None:
        self.dir = tflm_dir
        self.make = ["make", "-s", "-f", "tensorflow/lite/micro/tools/make/Makefile", "TARGET=cortex_m_generic",
                     "TARGET_ARCH=cortex-m4+fp", f"TARGET_TOOLCHAIN_ROOT={toolchain_root}", "BUILD_TYPE=release",
                     *KERNELS[kernels]]
        # TFLM's generators run `python3`: this interpreter (with numpy and Pillow) first on the PATH.
        self.env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        _run([*self.make, f"-j{os.cpu_count() or 1}", "microlite"], f"building TFLM ({kernels} kernels)", tflm_dir,
             env=self.env)
        self.cxxflags = self._variable("CXXFLAGS")
        self.includes = [flag if not flag.startswith("-I") else f"-I{(tflm_dir / flag[2:]).resolve()}"
                         for flag in self._variable("INCLUDES")]
        self.library = (tflm_dir / self._variable("MICROLITE_LIB_PATH")[0]).resolve()

    def _variable(self, name: str) -> list[str]:
        printed = _run([*self.make, f"print-{name}"], f"reading TFLM's {name}", self.dir, env=self.env)
        value = next(line.split("=", 1)[1] for line in printed.splitlines() if line.startswith(f"{name}="))
        return shlex.split(value)  # as the Makefile's shell would pass them


def build_firmware(tflm: TflmBuild, header_dir: Path, out: Path) -> Path:
    """main.cc (unchanged) + harness.cc + lenet_int8.c + startup.c, linked -nostartfiles with newlib semihosting."""
    out.mkdir(parents=True, exist_ok=True)
    write_firmware_sources(out, BOARD)
    gxx, gcc = shutil.which("arm-none-eabi-g++"), shutil.which("arm-none-eabi-gcc")
    include = [f"-I{header_dir}", *tflm.includes]
    # Plain warnings judge main.cc and the header; TFLM's own headers are a dependency (-isystem), as in a
    # firmware project (they have unused parameters, which TFLM's flags silence with -Wno-unused-parameter).
    system = [f"-isystem{flag[2:]}" if flag.startswith("-I") else flag for flag in tflm.includes]
    _run([gxx, *PLAIN_FLAGS, *BOARD.flags, "-mthumb", f"-I{header_dir}", *system, "-fsyntax-only",
          str(HERE / "main.cc")], "main.cc under -Wall -Wextra -Werror")
    objects = []
    for source in (HERE / "main.cc", HERE / "harness.cc"):
        objects.append(out / f"{source.stem}.o")
        _run([gxx, *tflm.cxxflags, "-Werror", *include, "-c", str(source), "-o", str(objects[-1])],
             f"{source.name} under TFLM's flags")
    for source, flags in ((header_dir / "lenet_int8.c", ["-std=c99"]), (out / "startup.c", ["-std=c99"])):
        objects.append(out / f"{source.stem}.o")
        _run([gcc, *BOARD.flags, "-mthumb", "-O2", *flags, "-Wall", "-Wextra", "-Werror", f"-I{header_dir}", "-c",
              str(source), "-o", str(objects[-1])], f"compiling {source.name}")
    elf = out / "tflm_example.elf"
    _run([gxx, *BOARD.flags, "-mthumb", "-nostartfiles", "--specs=rdimon.specs", f"-T{out / 'link.ld'}",
          "-Wl,--gc-sections", *map(str, objects), str(tflm.library), "-lm", "-o", str(elf)], "linking (-nostartfiles)")
    return elf


def run_in_qemu(elf: Path, images: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    with tempfile.TemporaryDirectory(prefix="tflm-verify-") as workdir:
        work = Path(workdir)
        (work / "images.u8").write_bytes(np.ascontiguousarray(images, dtype=np.uint8).tobytes())
        stdout = _run([shutil.which("qemu-system-arm"), "-M", BOARD.machine, "-nographic", "-monitor", "none",
                       "-serial", "none", "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)],
                      f"running {elf.name} in QEMU", cwd=work, timeout=120 + 0.5 * len(images))
        found = re.search(r"TFLM_VERIFY images=(\d+) arena_used=(\d+) arena_macro=(\d+)", stdout)
        if not found:
            raise SystemExit(f"error: {elf.name} printed no TFLM_VERIFY line: {stdout[-500:]}")
        predictions = np.frombuffer((work / "predictions.u8").read_bytes(), dtype=np.uint8)
    report = dict(zip(("images", "arena_used", "arena_macro"), map(int, found.groups())))
    return predictions, report


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up lines (convert loads it)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="A .keras model (lenet-convert writes its headers).")
    parser.add_argument("--tflm-dir", type=Path, default=os.environ.get("TFLM_DIR"),
                        help="tflite-micro checkout with its downloads [default: $TFLM_DIR].")
    parser.add_argument("--samples", type=int, default=1000, help="Test images per build [default: 1000].")
    parser.add_argument("--data", type=Path, help="MNIST location (as lenet-train --data).")
    parser.add_argument("--unverified", action="store_true", help="Accept data that is not canonical MNIST.")
    parser.add_argument("--io", nargs="+", default=["int8", "uint8"], choices=["int8", "uint8"])
    parser.add_argument("--kernels", nargs="+", default=list(KERNELS), choices=list(KERNELS))
    parser.add_argument("--out", type=Path, default=Path("build/tflm-verify"))
    args = parser.parse_args(argv)
    if args.tflm_dir is None or not (args.tflm_dir / "tensorflow/lite/micro").is_dir():
        parser.error("--tflm-dir (or $TFLM_DIR) must be a tflite-micro checkout")
    if args.samples < 1:
        parser.error("--samples must be >= 1")
    for tool in ("arm-none-eabi-g++", "arm-none-eabi-gcc", "qemu-system-arm", "make"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not installed")
    toolchain_root = str(Path(shutil.which("arm-none-eabi-gcc")).parent) + "/"
    commit = subprocess.run(["git", "-C", str(args.tflm_dir), "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown (not a git checkout)"

    mnist = load_mnist(args.data, verify=not args.unverified)
    images, labels = mnist.x_test[:args.samples], mnist.y_test[:args.samples]
    builds = {kernels: TflmBuild(args.tflm_dir.resolve(), kernels, toolchain_root) for kernels in args.kernels}
    rows = []
    for io in args.io:
        header_dir = (args.out / f"header-{io}").resolve()
        convert_model(args.model, ConvertOptions(io_type=io, out=header_dir, data=args.data,
                                                   verify=not args.unverified))
        model = (header_dir / "lenet_int8.tflite").read_bytes()
        reference = TFLMRunner(model).predict(to_model_input(images)).argmax(axis=1)
        for kernels, tflm in builds.items():
            elf = build_firmware(tflm, header_dir, (args.out / f"{io}-{kernels}").resolve())
            predictions, run = run_in_qemu(elf, images)
            same = int((predictions[:len(reference)] == reference).sum()) if len(predictions) == len(reference) else 0
            rows.append({"io": io, "kernels": kernels, "images": len(images), "agree_with_python_tflm": same,
                         "accuracy": float((predictions == labels).mean()) if len(predictions) == len(labels) else 0,
                         "arena_used_on_target": run["arena_used"], "arena_macro": run["arena_macro"],
                         "firmware_flash_bytes": elf_sizes(elf)["flash"]})
            print(f"{io:5} {kernels:9} agree {same}/{len(images)}  arena used {run['arena_used']:,} B "
                  f"(macro {run['arena_macro']:,} B)  firmware flash {rows[-1]['firmware_flash_bytes']:,} B",
                  flush=True)
    failed = [r for r in rows
              if r["agree_with_python_tflm"] < r["images"] or r["arena_used_on_target"] > r["arena_macro"]]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "verify.json").write_text(json.dumps({"tflm_commit": commit, "board": BOARD.machine, "rows": rows},
                                                     indent=2) + "\n")
    print(f"TFLM {commit}; wrote {args.out / 'verify.json'}" + (f"; {len(failed)} build(s) FAILED" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
