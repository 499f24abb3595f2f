"""Talk to the serial benchmark firmware: say hello, check it runs this model, stream images, read outputs back.

The same code serves a board's serial port (/dev/ttyACM0) and QEMU's emulated UART behind a pseudo-terminal.
Whatever goes wrong on the line ends in one sentence: not the firmware (or another baud rate) within seconds,
another model's firmware by its SHA-256, a board that resets, goes quiet or disappears mid-run (the images done so
far are kept and the run is marked incomplete).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lenet_deploy.errors import LenetError
from lenet_deploy.firmware_bench.mcu.protocol import (BATCH, BOOT, ERROR, HELLO, INFO, RESULTS, VERSION,
                                                      FrameReader, Info, ProtocolError, Results, batch_payload,
                                                      encode)

HELLO_SECONDS = 3.0  # how long a firmware has to answer hello (it answers in milliseconds)
RESENDS = 3  # a batch whose frame arrived damaged is sent again this many times


@dataclass
class SerialRun:
    """What came back: the outputs and timings of the images done, and why the run stopped early if it did."""

    info: Info
    outputs: list[bytes] = field(default_factory=list)
    cycles: list[int] = field(default_factory=list)
    ticks: list[int] = field(default_factory=list)
    stack_bytes: int = 0
    stopped: str | None = None  # None: every image was answered

    def output_array(self) -> np.ndarray:
        return np.frombuffer(b"".join(self.outputs), dtype=np.int8).reshape(len(self.outputs), self.info.output_size)


class SerialLink:
    """An open serial port with the firmware on the other end (after `hello`)."""

    def __init__(self, port: str, baud: int = 115200):
        import serial

        self.port, self.baud = port, baud
        try:
            self._serial = serial.Serial(port, baud, timeout=0.05)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise LenetError(f"--port {port}: cannot open it ({exc})") from None
        self._reader = FrameReader(self._serial.read)

    def close(self) -> None:
        self._serial.close()

    def __enter__(self) -> SerialLink:
        return self

    def __exit__(self, *_) -> None:
        self.close()

    def _send(self, kind: bytes, payload: bytes = b"") -> None:
        self._serial.write(encode(kind, payload))
        self._serial.flush()

    def hello(self) -> Info:
        """The firmware's info, or one line saying the other end is not it (within HELLO_SECONDS)."""
        import serial

        self._serial.reset_input_buffer()
        self._reader = FrameReader(self._serial.read)
        try:
            for _ in range(2):  # the first hello may land in a frame the firmware was still waiting out
                self._send(HELLO)
                try:
                    while True:
                        kind, payload = self._reader.next(HELLO_SECONDS / 2)
                        if kind == INFO:
                            info = Info.parse(payload)
                            if info.version != VERSION:
                                raise LenetError(f"--port {self.port}: the firmware speaks protocol version "
                                                 f"{info.version}, this host {VERSION}: rebuild and flash it")
                            self._reader.max_payload = 10 + info.batch * (8 + info.output_size)  # 'R', the longest
                            return info
                except (TimeoutError, ProtocolError):
                    continue
        except (serial.SerialException, OSError) as exc:
            raise LenetError(f"--port {self.port}: {exc}") from None
        raise LenetError(f"--port {self.port}: no answer from the lenet firmware within {HELLO_SECONDS:g} s at "
                         f"{self.baud} baud (is the board flashed with it, and at this baud rate?)")

    def run(self, images: np.ndarray, seconds_per_image: float, progress=None) -> SerialRun:
        """Every image (int8, flattened) through the firmware, in batches of the size it declared.

        Never raises for a failure on the line: the run stops, says why, and keeps what came back."""
        import serial

        info = self.hello()
        images = np.ascontiguousarray(images, dtype=np.int8).reshape(len(images), -1)
        if images.shape[1] != info.input_size:
            raise LenetError(f"--port {self.port}: the firmware takes {info.input_size} input bytes, the model "
                             f"{images.shape[1]}")
        run = SerialRun(info)
        for seq, start in enumerate(range(0, len(images), info.batch)):
            batch = images[start:start + info.batch]
            try:
                results = self._batch(seq, batch, info, 5.0 + seconds_per_image * len(batch))
            except _Stopped as stop:
                run.stopped = f"{stop} after {len(run.outputs):,} of {len(images):,} images"
                return run
            except (serial.SerialException, OSError) as exc:
                run.stopped = (f"the port went away ({exc.__class__.__name__}: {exc}) after {len(run.outputs):,} of "
                               f"{len(images):,} images")
                return run
            run.outputs += results.outputs
            run.cycles += results.cycles
            run.ticks += results.ticks
            run.stack_bytes = max(run.stack_bytes, results.stack_bytes)
            if progress:
                progress(len(run.outputs))
        return run

    def _batch(self, seq: int, batch: np.ndarray, info: Info, seconds: float) -> Results:
        frame = batch_payload(seq, [row.tobytes() for row in batch])
        for _ in range(RESENDS + 1):
            self._send(BATCH, frame)
            try:
                while True:
                    kind, payload = self._reader.next(seconds)
                    if kind == RESULTS:
                        results = Results.parse(payload, info.output_size)
                        if results.seq == seq and len(results.outputs) == len(batch):
                            return results
                    elif kind == BOOT:
                        raise _Stopped("the board reset")
                    elif kind == ERROR:
                        message = payload.decode("ascii", "replace")
                        if message != "bad checksum":
                            raise _Stopped(f"the firmware said: {message}")
                        break  # the batch arrived damaged: send it again
            except ProtocolError:
                continue  # the answer arrived damaged: ask again
            except TimeoutError:
                raise _Stopped(f"the board stopped answering (nothing for {seconds:.0f} s)") from None
        raise _Stopped(f"batch {seq} damaged on the line {RESENDS + 1} times")


class _Stopped(Exception):
    """The run cannot go on (its message says why)."""
