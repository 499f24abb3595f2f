"""The serial firmware and `lenet-bench mcu --port` / `lenet-bench firmware`: frames, the real firmware on QEMU's
emulated UARTs (a one-op model in the fast lane, the trained LeNet in the slow lane), every fault of the line, and
each part's CMake project built from its own directory."""

import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import zlib

import numpy as np
import pytest

from lenet_deploy.boards import BOARDS, SERIAL_BUILD, missing_tools
from lenet_deploy.convert import HostEngine, write_engine
from lenet_deploy.errors import CheckFailed, LenetError
from lenet_deploy.firmware_bench.mcu.project import build_project, write_project
from lenet_deploy.firmware_bench.mcu.protocol import (BATCH, ERROR, HELLO, FrameReader, Info, ProtocolError, Results,
                                                      encode)
from lenet_deploy.firmware_bench.mcu.qemu import qemu_serial
from lenet_deploy.firmware_bench.mcu.serial_link import HELLO_SECONDS, SerialLink
from tests.single_op import elementwise_model

missing = missing_tools((*SERIAL_BUILD, "qemu-system-arm"))
needs_tools = pytest.mark.skipif(bool(missing), reason=f"not installed: {', '.join(missing)}")
needs_build = pytest.mark.skipif(bool(missing_tools(SERIAL_BUILD)),
                                 reason=f"not installed: {', '.join(missing_tools(SERIAL_BUILD))}")
PARTS = ("nucleo-f446re", "nrf52840-dk", "netduinoplus2", "microbit")  # the boards real silicon exists for
UARTS = ("netduinoplus2", "microbit", "mps2-an386")  # STM32 USART, nRF51 UART, CMSDK UART


def _reader(data: bytes) -> FrameReader:
    """A line carrying `data`, then silence (a read of nothing waits a little, as a port's timeout does)."""
    line = io.BytesIO(data)
    return FrameReader(lambda n: line.read(min(n, 3)) or (time.sleep(0.01) or b""))


def test_a_frame_survives_noise_before_it_and_a_damaged_one_is_refused():
    frame = encode(b"I", b"payload")
    assert frame[:2] == b"LN" and frame[-4:] == zlib.crc32(frame[2:-4]).to_bytes(4, "little")
    assert _reader(b"\x00L\xffLLN" + frame).next(1) == (b"I", b"payload")  # noise, even a lone start byte
    damaged = bytearray(frame)
    damaged[7] ^= 1
    with pytest.raises(ProtocolError, match="bad checksum"):
        _reader(bytes(damaged)).next(0.2)


def test_a_line_of_noise_or_silence_ends_at_the_deadline():
    noise = FrameReader(lambda n: bytes(np.random.default_rng(0).integers(0, 76, n, dtype=np.uint8)))  # no 'N'
    for reader in (noise, _reader(b"")):
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            reader.next(0.3)
        assert time.monotonic() - started < 0.5


def test_short_or_inconsistent_answers_are_protocol_errors():
    with pytest.raises(ProtocolError, match="info frame of 10 bytes"):
        Info.parse(bytes(10))
    header = (7).to_bytes(4, "little") + (2).to_bytes(2, "little") + (300).to_bytes(4, "little")
    with pytest.raises(ProtocolError, match="for 2 images"):
        Results.parse(header + bytes(18), output_size=10)


# ---- the real firmware on QEMU, with a one-op model (fast) ----

def _tiny_model(tmp_path, scale=0.05, name="tanh"):
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(elementwise_model("TANH", 784, scale, 0, 1 / 128, 0))
    return path


@pytest.fixture
def tiny_firmware(tmp_path):
    """The serial firmware of a TANH [1, 784] model for the MPS2 Cortex-M4 board, built through its project."""
    model = _tiny_model(tmp_path)
    engine, _ = write_engine(model, tmp_path / "fw" / "model")
    board = BOARDS["mps2-an386"]
    return model, engine[1], build_project(write_project(engine, board, tmp_path / "fw"), board)


def _images(n, seed=0):
    return np.random.default_rng(seed).integers(-128, 128, (n, 784)).astype(np.int8)


@pytest.mark.slow
@needs_tools
def test_the_firmware_says_what_it_runs_and_answers_every_image_as_the_host_engine(tiny_firmware):
    model, engine_c, firmware = tiny_firmware
    images = _images(20)
    with qemu_serial(firmware.elf, firmware.board) as (pty, _), SerialLink(pty) as link:
        info = link.hello()
        run = link.run(images, 1.0)
    assert info.model_sha256 == hashlib.sha256(model.read_bytes()).hexdigest()
    assert (info.part, info.input_size, info.output_size, info.batch) == ("mps2-an386", 784, 784, 8)
    assert info.counter_runs is False  # QEMU has no DWT cycle counter: the host must use instructions
    assert run.stopped is None and len(run.outputs) == 20
    assert np.array_equal(run.output_array(), HostEngine(engine_c).run(images, 784))
    assert run.ticks and min(run.ticks) > 0 and 0 < run.stack_bytes < 4096
    # the map gives the engine object apart: its code, and its table (256 B) among the constants
    assert firmware.sizes["engine"]["code"] > 0 and firmware.sizes["engine"]["rodata"] >= 256


@pytest.mark.slow
@needs_tools
def test_a_board_that_resets_mid_run_stops_it_with_the_images_done_kept(tiny_firmware, tmp_path):
    _, engine_c, firmware = tiny_firmware
    qmp = tmp_path / "qmp.sock"
    images = _images(40)
    with qemu_serial(firmware.elf, firmware.board, "-qmp", f"unix:{qmp},server=on,wait=off") as (pty, _), \
            SerialLink(pty) as link:
        run = link.run(images, 1.0, progress=lambda done: done == 16 and _qmp(qmp, "system_reset"))
    assert run.stopped.startswith("the board reset after 16 of 40 images")
    assert np.array_equal(run.output_array(), HostEngine(engine_c).run(images[:16], 784))


@pytest.mark.slow
@needs_tools
def test_a_board_unplugged_mid_run_stops_it_in_one_line(tiny_firmware):
    _, _, firmware = tiny_firmware
    with qemu_serial(firmware.elf, firmware.board) as (pty, qemu), SerialLink(pty) as link:
        started = time.monotonic()
        run = link.run(_images(40), 1.0, progress=lambda done: done == 8 and qemu.kill())
    # QEMU gone, its pseudo-terminal closes and the next read fails at once (EIO), as a pulled cable's ttyACM does:
    # the run ends well before the 13 s of silence (5 s + 1 s per image of the batch) that would also end it
    assert run.stopped.startswith("the port went away") and run.stopped.endswith("after 8 of 40 images")
    assert time.monotonic() - started < 13


@pytest.mark.slow
@needs_tools
def test_a_damaged_or_abandoned_frame_is_answered_and_the_next_one_served(tiny_firmware):
    _, _, firmware = tiny_firmware
    with qemu_serial(firmware.elf, firmware.board) as (pty, _), SerialLink(pty) as link:
        port = link._serial
        reader = FrameReader(port.read)
        port.write(encode(BATCH, bytes(6)))  # a batch before hello
        answer = reader.next(5)
        if answer[0] == b"S":  # the firmware's boot frame, when the port was open in time to see it
            answer = reader.next(5)
        assert answer == (ERROR, b"no session: say hello first (the board was reset?)")
        damaged = bytearray(encode(HELLO))
        damaged[-1] ^= 0xFF
        port.write(bytes(damaged))
        assert reader.next(5) == (ERROR, b"bad checksum")
        port.write(encode(BATCH, bytes(100))[:20])  # the host gives up mid-frame
        assert link.hello().part == "mps2-an386"  # the firmware waited it out and answers the next hello


def _silent_or_noisy_pty(noise: bool):
    main, other = os.openpty()
    stop = threading.Event()

    def talk():
        rng = np.random.default_rng(1)
        while not stop.is_set():
            if noise:
                os.write(main, bytes(rng.integers(0, 256, 64, dtype=np.uint8)))
            time.sleep(0.01)

    threading.Thread(target=talk, daemon=True).start()
    return os.ttyname(other), stop, (main, other)


def test_a_port_that_is_not_the_firmware_is_one_line_within_seconds():
    """A silent port and one carrying noise (another program, or another baud rate), checked side by side."""
    def attempt(noise: bool, outcome: dict) -> None:
        name, stop, fds = _silent_or_noisy_pty(noise)
        try:
            started = time.monotonic()
            with SerialLink(name) as link:
                try:
                    link.hello()
                except LenetError as exc:
                    outcome.update(name=name, message=str(exc), seconds=time.monotonic() - started)
        finally:
            stop.set()
            for fd in fds:
                os.close(fd)

    outcomes = [{}, {}]
    threads = [threading.Thread(target=attempt, args=(noise, outcome)) for noise, outcome in zip((False, True),
                                                                                                  outcomes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for outcome in outcomes:
        assert outcome["message"] == (f"--port {outcome['name']}: no answer from the lenet firmware within 3 s at "
                                      "115200 baud (is the board flashed with it, and at this baud rate?)")
        assert outcome["seconds"] < HELLO_SECONDS + 1


@pytest.mark.slow
@needs_tools
def test_firmware_of_another_model_is_refused_before_any_work_or_write(tiny_firmware, tmp_path, testset):
    _, _, firmware = tiny_firmware
    other = _tiny_model(tmp_path, scale=0.04, name="other")
    out = tmp_path / "report"
    with qemu_serial(firmware.elf, firmware.board) as (pty, _):
        result = _bench("mcu", "--model", other, "--board", "mps2-an386", "--port", pty, "--data", testset,
                        "--samples", 10, "--out", out, cwd=tmp_path)
    assert result.returncode == 2
    assert f"--port {pty}: the firmware runs the model with SHA-256" in result.stderr
    assert "not this --model" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists() and not list(tmp_path.glob(".report*"))


def _qmp(socket_path, command):
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(socket_path))
        s.recv(4096)
        for message in ({"execute": "qmp_capabilities"}, {"execute": command}):
            s.sendall(json.dumps(message).encode())
            s.recv(4096)
    return True


def _bench(*args, cwd):
    return subprocess.run([sys.executable, "-m", "lenet_deploy.firmware_bench.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)


# ---- the projects ----

@pytest.mark.slow  # 4 builds, about 5 s: the fast lane keeps the overflow case
@needs_build
@pytest.mark.parametrize("board", PARTS)
def test_each_parts_project_builds_with_cmake_from_its_own_directory(board, tmp_path):
    model = _tiny_model(tmp_path)
    result = _bench("firmware", "--model", model, "--board", board, "--out", tmp_path / "fw", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert {p.name for p in (tmp_path / "fw" / "build").iterdir()} == {"lenet.elf", "lenet.bin", "lenet.hex",
                                                                     "lenet.map"}
    copy = tmp_path / "elsewhere"
    shutil.copytree(tmp_path / "fw", copy, ignore=shutil.ignore_patterns("build"))
    for step in (["cmake", "-S", ".", "-B", "build"], ["cmake", "--build", "build"]):
        assert subprocess.run(step, cwd=copy, capture_output=True).returncode == 0
    built = (copy / "build" / "lenet.bin").read_bytes()
    assert built == (tmp_path / "fw" / "build" / "lenet.bin").read_bytes()  # the same image, rebuilt by the user
    part = BOARDS[board]
    stack_top, reset = int.from_bytes(built[:4], "little"), int.from_bytes(built[4:8], "little")
    assert stack_top == part.ram_origin + part.ram_length  # the vector table: the stack at the top of the part's RAM
    assert part.flash_origin <= reset < part.flash_origin + len(built) and reset & 1  # a Thumb address in flash
    assert (copy / "build" / "lenet.hex").read_text().startswith(":")
    readme = (tmp_path / "fw" / "README.md").read_text()
    assert board in readme and "cmake -S . -B build" in readme and "Wiring:" in readme
    assert f"flash: {'pyocd' if part.serial_part == 'stm32f4' else 'copy'}" in result.stdout  # nRF: a USB drive


@needs_build
def test_a_model_too_big_for_the_part_names_the_overflow_and_writes_nothing(tmp_path):
    model = tmp_path / "wide.tflite"
    model.write_bytes(elementwise_model("TANH", 20000, 0.05, 0, 1 / 128, 0))  # 40 KB of activations
    result = _bench("firmware", "--model", model, "--board", "microbit", "--out", tmp_path / "fw", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: the model does not fit microbit (nRF51822 (BBC micro:bit v1)): the "
                                    "firmware overflows its RAM by")
    assert not (tmp_path / "fw").exists() and not list(tmp_path.glob(".fw*"))


@pytest.mark.parametrize("args, message", [
    (["--board", "nucleo-f446re"], "--board nucleo-f446re: QEMU has no model of it; run it over its serial port"),
    (["--port", "qemu", "--board", "nrf52840-dk"], "--port qemu: QEMU has no model of nrf52840-dk"),
    (["--port", "/dev/no-such-tty"], "--port /dev/no-such-tty: no such device"),
    (["--port", "/tmp"], "--port /tmp: not a serial device (a board's port is e.g. /dev/ttyACM0)"),
    (["--flash"], "--flash goes with --port DEV"),
    (["--port", "qemu", "--flash"], "--flash is for a board"),
    (["--port", "qemu", "--baud", "0"], "--baud must be > 0"),
])
def test_bad_port_options_are_one_line_errors_before_any_work(args, message, tmp_path):
    model = _tiny_model(tmp_path)
    result = _bench("mcu", "--model", model, *args, "--out", tmp_path / "r", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {result.stderr.strip()[7:]}"]
    assert message in result.stderr
    assert not (tmp_path / "r").exists()


def test_flash_without_a_flashing_tool_says_how_to_flash(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                                               if not any(os.path.exists(os.path.join(p, t))
                                                          for t in ("pyocd", "openocd"))))
    model = _tiny_model(tmp_path)
    name, stop, fds = _silent_or_noisy_pty(False)
    try:
        result = _bench("mcu", "--model", model, "--board", "nucleo-f446re", "--port", name, "--flash",
                        "--out", tmp_path / "r", cwd=tmp_path)
    finally:
        stop.set()
        for fd in fds:
            os.close(fd)
    assert result.returncode == 2
    assert f"--flash needs pyocd or openocd on PATH; without them: lenet-bench firmware --model {model} --board " \
           "nucleo-f446re --out fw, then pyocd flash -t stm32f446retx fw/build/lenet.hex" in result.stderr
    assert not (tmp_path / "r").exists()


# ---- the trained LeNet over the three emulated UARTs (slow) ----

@needs_tools
@pytest.mark.parametrize("board", UARTS)
def test_the_serial_path_equals_the_semihosting_run_image_for_image(board, converted_build, testset, tmp_path):
    from lenet_deploy.firmware_bench.mcu.bench import tflm_reference
    from lenet_deploy.firmware_bench.mcu.build import build_firmware
    from lenet_deploy.firmware_bench.mcu.qemu import run_firmware
    from lenet_deploy.firmware_bench.testdata import read_test_data

    model = converted_build / "lenet_int8.tflite"
    out = tmp_path / "serial"
    result = _bench("mcu", "--model", model, "--board", board, "--port", "qemu", "--data", testset, "--samples", 100,
                    "--out", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "mcu.json").read_text())
    row = report["variants"]["O2"]
    assert report["transport"]["complete"] and report["transport"]["kind"] == "qemu"
    assert report["transport"]["part"] == board
    assert row["images"] == 100 and row["bit_exact_vs_tflm"] == 100 and row["bit_exact_vs_host_engine"] == 100
    assert row["cycles_per_inference"] is None  # QEMU counts no cycles; instructions it does
    assert row["instructions_per_mac"] > 0.5 and row["accuracy"] == report["tflm"]["accuracy"]
    serial = np.load(out / "outputs.npy")

    images, _, _ = read_test_data(testset, verify=False)
    quantized = tflm_reference(model.read_bytes(), images[:100]).inputs
    firmware = build_firmware(out / "firmware" / "model" / "lenet_int8_engine.c", tmp_path / "semihosting",
                              BOARDS[board])
    semihosting = run_firmware(firmware, quantized, 10).outputs
    assert serial.shape == (100, 10) and np.array_equal(serial, semihosting)
    assert "Over the serial port: QEMU's emulated UART" in (out / "report.md").read_text()


@needs_tools
def test_a_run_the_board_breaks_off_keeps_its_partial_report_marked_and_fails(converted_build, testset, tmp_path):
    from lenet_deploy.firmware_bench.mcu.bench import McuOptions
    from lenet_deploy.firmware_bench.mcu.serial_bench import SerialOptions, run_serial_bench
    from lenet_deploy.firmware_bench.testdata import read_test_data

    images, labels, _ = read_test_data(testset, verify=False)
    out = tmp_path / "serial"

    def unplug(done):
        if done == 16:  # QEMU is this process's child: kill it as a cable pulled out would end the port
            subprocess.run(["pkill", "-KILL", "-P", str(os.getpid()), "qemu-system-arm"], check=True)

    with pytest.raises(CheckFailed, match=r"after 16 of 40 images \(the report covers those\)"):
        run_serial_bench(converted_build / "lenet_int8.tflite", images[:40], labels[:40], "subset", out,
                         McuOptions(board=BOARDS["mps2-an386"]), SerialOptions("qemu"), say=lambda _: None,
                         progress=unplug)
    report = json.loads((out / "mcu.json").read_text())
    assert report["transport"]["complete"] is False and report["transport"]["images_requested"] == 40
    assert report["samples"] == 16 and report["variants"]["O2"]["bit_exact_vs_tflm"] == 16
    assert np.load(out / "outputs.npy").shape == (16, 10)
    assert "INCOMPLETE" in (out / "report.md").read_text()
