"""`lenet-bench mcu`: the engine in QEMU on a Cortex-M4, checked against TFLite Micro; its error paths."""

import json
import shutil
import subprocess
import sys

import pytest

from lenet_deploy.firmware_bench.mcu.bench import exactness_failures
from lenet_deploy.firmware_bench.mcu.build import map_sizes
from lenet_deploy.manifests import McuReport

NEEDS = {"arm-none-eabi-gcc": "gcc-arm-none-eabi libnewlib-arm-none-eabi", "qemu-system-arm": "qemu-system-arm"}
missing = [f"{tool} (apt-get install {package})" for tool, package in NEEDS.items() if shutil.which(tool) is None]
needs_qemu = pytest.mark.skipif(bool(missing), reason=f"not installed: {', '.join(missing)}")


def _bench(*args, cwd):
    return subprocess.run([sys.executable, "-m", "lenet_deploy.firmware_bench.cli", "mcu", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)


@needs_qemu
def test_100_images_on_the_emulated_cortex_m4_equal_tflite_micro(converted_build, testset, tmp_path):
    out = tmp_path / "mcu"
    result = _bench("--model", converted_build / "lenet_int8.tflite", "--data", testset, "--samples", 100,
                    "--compare-samples", 20, "--out", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "mcu.json").read_text())
    main = report["variants"]["O2"]
    assert main["images"] == 100 and main["bit_exact_vs_tflm"] == 100 and main["bit_exact_vs_host_engine"] == 100
    assert report["host_engine"]["bit_exact_vs_tflm"] == 100
    assert main["accuracy"] == report["tflm"]["accuracy"] == report["host_engine"]["accuracy"]
    for key in ("O2-portable", "Os", "O2+flatbuffer"):
        assert report["variants"][key]["bit_exact_vs_tflm"] == 20
    assert main["instructions_per_tick"] == 40  # 1 ns per instruction under -icount shift=0, 25 MHz SysTick
    # Only the clamps, roundings and softmax branches depend on the data: within 1 % image to image.
    assert main["instructions_max"] - main["instructions_min"] < 0.01 * main["instructions_per_inference"]
    # The DSP build runs fewer instructions than the portable C, and -O2 no more than -Os but for 2 %: in round 3
    # -Os ran seed-best in fewer (598,916 against 603,224, its LDRDs), in round 4 in more (518,950 against 491,881:
    # the inner steps are the same asm at both levels, the rest is faster at -O2).
    assert main["instructions_per_inference"] < report["variants"]["O2-portable"]["instructions_per_inference"]
    assert main["instructions_per_inference"] < 1.02 * report["variants"]["Os"]["instructions_per_inference"]
    # The engine's constants are in flash, its arena in RAM; linking the flatbuffer adds about its size.
    assert main["engine_rodata_bytes"] >= report["int8_weight_bytes"]
    assert main["engine_ram_bytes"] >= 28 * 28 * 6 and 0 < main["invoke_stack_bytes"] < 1024
    model_bytes = (converted_build / "lenet_int8.tflite").stat().st_size
    assert report["variants"]["O2+flatbuffer"]["flatbuffer_flash_bytes"] >= model_bytes
    assert "bit-exact" in (out / "report.md").read_text()
    # Per layer: the profile build is bit-exact too, its ops account for the invoke, and the ops with MACs
    # (convolutions, fully connected) take most of it.
    profile = report["profile"]
    assert profile["images"] == 100 and profile["bit_exact_vs_tflm"] == 100
    assert {row["name"] for row in profile["layers"]} == set(report["ops"])
    assert abs(profile["ops_instructions"] - main["instructions_per_inference"]) < 0.02 * \
        main["instructions_per_inference"]
    assert sum(row["share"] for row in profile["layers"] if row["macs"]) > 0.8
    assert sum(row["macs"] for row in profile["layers"]) == report["macs"]
    # Cycles: the traced run's instructions are the ones SysTick counted (two ways of counting, within 1 %), and on the
    # Cortex-M4 every instruction costs 1 to 3 cycles (its TRM: loads 2, taken branches 1 + refill), so the estimate
    # lies between the instruction count and three times it, per op and in total; latency uses it.
    assert abs(profile["traced_instructions"] - profile["ops_instructions"]) < 0.01 * profile["ops_instructions"]
    assert 1.0 < profile["cycles_per_instruction"] < 3.0
    for row in profile["layers"]:
        if row["macs"]:
            assert row["instructions"] * 0.99 <= row["estimated_cycles"] <= 3 * row["instructions"]
    assert main["estimated_cycles_per_inference"] == pytest.approx(
        main["instructions_per_inference"] * profile["cycles_per_instruction"])
    assert main["estimated_latency_ms"] == pytest.approx(main["estimated_cycles_per_inference"] / 168e3)
    assert ("| op | layer | output | MACs | instructions | instr / MAC | est. cycles | cycles / MAC | share |"
            in (out / "report.md").read_text())

    # The MCU row joins a host benchmark's report.
    bench = subprocess.run([sys.executable, "-m", "lenet_deploy.firmware_bench.cli", "run", "--tflite",
                            converted_build / "lenet_int8.tflite", "--data", testset, "--samples", "100", "--invokes",
                            "20", "--warmup", "2", "--repeats", "1", "--batch", "8", "--energy-seconds", "0", "--mcu",
                            out / "mcu.json", "--out", tmp_path / "bench"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert bench.returncode == 0, bench.stderr
    joined = (tmp_path / "bench" / "report.md").read_text()
    assert "On an emulated microcontroller" in joined and "QEMU mps2-an386 (Cortex-M4F)" in joined
    assert json.loads((tmp_path / "bench" / "bench.json").read_text())["mcu"][0]["board"] == "mps2-an386"


@needs_qemu
def test_the_cortex_m33_board_boots_from_the_secure_aliases(converted_build, testset, tmp_path):
    result = _bench("--model", converted_build / "lenet_int8.tflite", "--data", testset, "--board", "mps2-an505",
                    "--samples", 20, "--compare-samples", 5, "--out", tmp_path / "m33", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "m33" / "mcu.json").read_text())
    assert report["cpu"] == "Cortex-M33" and report["variants"]["O2"]["bit_exact_vs_tflm"] == 20
    assert report["variants"]["O2"]["instructions_per_tick"] == 50  # AN505's 20 MHz SysTick clock


@needs_qemu
@pytest.mark.parametrize("board, cpu, flash_origin, ram_limit", [
    ("microbit", "Cortex-M0", 0x0, 16 << 10),  # ARMv6-M: no DSP, no SSAT; 16 KB RAM for everything
    ("mps2-an385", "Cortex-M3", 0x0, 4 << 20),
    ("mps2-an500", "Cortex-M7", 0x0, 4 << 20),
    ("netduinoplus2", "Cortex-M4F", 0x08000000, 128 << 10),  # an STM32F405's memory map
    ("mps3-an547", "Cortex-M55", 0x10000000, 512 << 10),  # Helium: the main build runs the MVE kernels
])
def test_every_cortex_m_class_is_bit_exact_with_tflm(converted_build, testset, tmp_path, board, cpu, flash_origin,
                                                     ram_limit):
    out = tmp_path / board
    result = _bench("--model", converted_build / "lenet_int8.tflite", "--data", testset, "--board", board,
                    "--samples", 100, "--compare-samples", 10, "--out", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "mcu.json").read_text())
    main = report["variants"]["O2"]
    assert report["cpu"] == cpu and main["images"] == 100 and main["bit_exact_vs_tflm"] == 100
    assert report["profile"]["bit_exact_vs_tflm"] == 100
    assert main["dsp"] == (cpu not in ("Cortex-M0", "Cortex-M3"))
    assert main["firmware_heap_bytes"] > 0 and main["firmware_ram_bytes"] <= ram_limit
    # the M0's first convolution skips the images' background: its count varies with the image, and the report says so
    varies = main["instructions_max"] - main["instructions_min"] > 0.01 * main["instructions_per_inference"]
    assert varies == (cpu == "Cortex-M0") == ("depend on the image" in (out / "report.md").read_text())
    entry = next(line for line in (out / "firmware" / f"{board}-O2.map").read_text().splitlines()
                 if "Reset_Handler" in line and "0x" in line)
    assert int(entry.split()[0], 16) >> 24 == flash_origin >> 24  # linked where the part's flash is


@needs_qemu
def test_an_existing_report_is_kept_without_force(converted_build, testset, tmp_path):
    (tmp_path / "mcu").mkdir()
    (tmp_path / "mcu" / "mcu.json").write_text("{}")
    result = _bench("--model", converted_build / "lenet_int8.tflite", "--data", testset, "--samples", 5,
                    "--out", tmp_path / "mcu", cwd=tmp_path)
    assert result.returncode == 2 and "pass --force" in result.stderr
    assert (tmp_path / "mcu" / "mcu.json").read_text() == "{}"


@pytest.mark.parametrize("args,message", [
    (["--board", "stm32f4"], "Invalid value for '--board': 'stm32f4' is not one of 'microbit'"),
    (["--samples", "0"], "--samples must be > 0"),
    (["--cpi", "-1"], "--cpi must be > 0"),
])
def test_bad_options_are_one_line_errors(converted_build, testset, tmp_path, args, message):
    result = _bench("--model", converted_build / "lenet_int8.tflite", "--data", testset, *args, "--out",
                    tmp_path / "mcu", cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "mcu").exists()


def test_bench_run_refuses_a_file_that_is_not_an_mcu_report(converted_build, tmp_path):
    (tmp_path / "bad.json").write_text('{"variants": {}}')
    result = subprocess.run([sys.executable, "-m", "lenet_deploy.firmware_bench.cli", "run", "--tflite",
                             converted_build / "lenet_int8.tflite", "--mcu", tmp_path / "bad.json", "--out",
                             tmp_path / "bench"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2 and "not an mcu.json" in result.stderr
    assert not (tmp_path / "bench").exists()


def test_a_float_model_is_refused_before_anything_is_built(converted_build, testset, tmp_path):
    result = _bench("--model", converted_build / "lenet_f32.tflite", "--data", testset, "--out", tmp_path / "mcu",
                    cwd=tmp_path)
    assert result.returncode == 2 and "the C engine needs int8" in result.stderr
    assert not (tmp_path / "mcu").exists()


def test_map_sizes_sum_each_objects_sections():
    text = """Discarded input sections
 .text.unused   0x00000000       0x40 build/engine.o
Linker script and memory map
 .text.lenet_invoke
                0x0000038c      0x974 build/engine.o
 .rodata.lenet_op0_filters
                0x00001000       0x96 build/engine.o
 .bss.lenet_arena_words
                0x20000000     0x16f8 build/engine.o
 .text          0x00000d00       0x20 /usr/lib/libc.a(lib_a-exit.o)
"""
    sizes = map_sizes(text, engine="engine.o")["engine"]
    assert sizes == {"code": 0x974, "rodata": 0x96, "data": 0, "bss": 0x16F8, "flash": 0x974 + 0x96, "ram": 0x16F8}


def test_any_output_byte_that_differs_from_tflm_is_a_failure():
    report = McuReport(model="m.tflite", board="mps2-an386", cpu="Cortex-M4F", data="test", samples=100, macs=1,
                       ops=[], int8_weight_bytes=0, tflm={}, host_engine={"bit_exact_vs_tflm": 100},
                       variants={"O2": {"images": 100, "bit_exact_vs_tflm": 100},
                                 "Os": {"images": 20, "bit_exact_vs_tflm": 20}}, targets={}, method={})
    assert exactness_failures(report) == []
    report.host_engine["bit_exact_vs_tflm"] = 99  # one image is enough
    assert exactness_failures(report) == ["the host-compiled engine differs from TFLite Micro on 1 of 100 images"]
    report.variants["Os"]["bit_exact_vs_tflm"] = 19
    report.host_engine["bit_exact_vs_tflm"] = 98
    assert exactness_failures(report) == [
        "the host-compiled engine differs from TFLite Micro on 2 of 100 images",
        "the Os firmware differs from TFLite Micro on 1 of 20 images"]


def _bench_on_a_smaller_microbit(converted_build, testset, tmp_path, part: str):
    """`lenet-bench mcu --board microbit` with the board's memory map changed by `part` (dataclass fields)."""
    shrink = ("import dataclasses, sys; from lenet_deploy import boards; "
              "boards.BOARDS['microbit'] = dataclasses.replace(boards.BOARDS['microbit'], "
              f"{part}); from lenet_deploy.firmware_bench.cli import main; main()")
    return subprocess.run([sys.executable, "-c", shrink, "mcu", "--model", converted_build / "lenet_int8.tflite",
                           "--data", testset, "--samples", "5", "--board", "microbit", "--out", tmp_path / "mcu"],
                          capture_output=True, text=True, cwd=tmp_path)


@needs_qemu
def test_a_model_too_big_for_the_part_is_one_line_naming_what_overflows(converted_build, testset, tmp_path):
    """The real linker on a micro:bit map cut to 32 KB of flash and 4 KB of RAM: both overflow, said in words."""
    result = _bench_on_a_smaller_microbit(converted_build, testset, tmp_path, "flash_length=32 << 10, "
                                                                              "ram_length=4 << 10")
    assert result.returncode == 2, result.stderr
    line, = result.stderr.strip().splitlines()
    assert line.startswith("error: the model does not fit microbit (nRF51822 (BBC micro:bit v1)): the firmware "
                           "overflows its flash by ") and "(it has 32,768 B) and its RAM by " in line, line
    assert not (tmp_path / "mcu").exists()


@needs_qemu
def test_a_part_whose_static_data_leaves_no_room_for_heap_and_stack_is_refused_at_link_time(converted_build, testset,
                                                                                          tmp_path):
    """seed-best's firmware has ~9.4 KB of static data: a 12 KB micro:bit would link it, then fault in QEMU when
    newlib's stdio buffers and the stack meet. The linker script's room check says so before anything runs."""
    result = _bench_on_a_smaller_microbit(converted_build, testset, tmp_path, "ram_length=12 << 10")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        "error: the model does not fit microbit (nRF51822 (BBC micro:bit v1)): its static data leaves less than "
        "5,120 B of the 12,288 B of RAM for the firmware's heap (4 KB of stdio buffers) and stack; choose a smaller "
        "model or a bigger --board")
    assert not (tmp_path / "mcu").exists()

_PLANT = '''
import re, sys
from pathlib import Path
from lenet_deploy.firmware_bench.mcu import bench
real = bench.write_engine

def planted(model_path, out, name="lenet"):
    """The generated engine with one constant changed: the first convolution's first bias, + 5000 (in each of its
    versions: SIMD32 cores read a doubled copy, + 10000 there)."""
    paths, engine = real(model_path, out, name)
    source = paths[1].read_text()
    for match in reversed(list(re.finditer(r"_op0_bias\\[\\d+\\] = \\{\\s*(-?\\d+)", source))):
        doubled = source[:match.start()].endswith("#ifdef LE_DSP\\nstatic const int32_t lenet")
        value = int(match.group(1)) + (10000 if doubled else 5000)
        source = source[:match.start(1)] + str(value) + source[match.end(1):]
    paths[1].write_text(source)
    return paths, engine

bench.write_engine = planted
from lenet_deploy.firmware_bench.cli import main
sys.exit(main(sys.argv[1:]))
'''


@needs_qemu
def test_an_engine_with_one_constant_changed_fails_the_run_and_keeps_its_report(converted_build, testset, tmp_path):
    """A plausible generator bug (one bias off) must not pass as bit-exact: exit 1, the report kept, saying where."""
    out = tmp_path / "mcu"
    result = subprocess.run([sys.executable, "-c", _PLANT, "mcu", "--model", str(converted_build / "lenet_int8.tflite"),
                             "--data", str(testset), "--samples", "50", "--compare-samples", "10", "--out", str(out)],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the host-compiled engine differs from TFLite Micro on ")
    assert last.endswith(f"(report kept in {out})")
    report = json.loads((out / "mcu.json").read_text())
    assert report["host_engine"]["bit_exact_vs_tflm"] < 50
    assert report["variants"]["O2"]["bit_exact_vs_tflm"] == report["host_engine"]["bit_exact_vs_tflm"]
    assert (out / "report.md").is_file()
