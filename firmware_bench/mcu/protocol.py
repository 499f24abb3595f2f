"""The frames the serial benchmark firmware (serial/main.c) and the host exchange, and their checks.

'L' 'N', type, payload length (u16), payload, CRC-32 (zlib's) of type + length + payload; little-endian.
"""

from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass

START = b"LN"
HELLO, INFO, BATCH, RESULTS, ERROR, BOOT = b"H", b"I", b"B", b"R", b"E", b"S"
VERSION = 1
COUNTERS = {0: "none", 1: "DWT cycle counter", 2: "TIMER0 at the core clock"}


class ProtocolError(Exception):
    """A frame that is not what the firmware sends: noise, a wrong baud rate, another program on the port."""


def encode(kind: bytes, payload: bytes = b"") -> bytes:
    body = kind + struct.pack("<H", len(payload)) + payload
    return START + body + struct.pack("<I", zlib.crc32(body))


def batch_payload(seq: int, images) -> bytes:
    """One 'B' frame's payload: a sequence number, the image count, the int8 images back to back."""
    return struct.pack("<IH", seq, len(images)) + b"".join(bytes(image) for image in images)


@dataclass(frozen=True)
class Info:
    """What the firmware says about itself ('I' and 'S')."""

    version: int
    counter: int  # COUNTERS
    counter_runs: bool  # the counter moved across a known loop at the time of the answer
    clock_hz: int
    input_size: int
    output_size: int
    batch: int
    calibration_instructions: int
    calibration_ticks: int
    model_sha256: str
    part: str

    @classmethod
    def parse(cls, payload: bytes) -> Info:
        if len(payload) < 92:
            raise ProtocolError(f"an info frame of {len(payload)} bytes (want at least 92)")
        version, counter, runs, _, clock, inputs, outputs, batch, _, cal_instr, cal_ticks = struct.unpack_from(
            "<BBBBIIIHHII", payload)
        try:
            sha, part = payload[28:92].decode("ascii"), payload[92:].decode("ascii")
        except UnicodeDecodeError:
            raise ProtocolError("an info frame whose model hash or part name is not text") from None
        return cls(version, counter, bool(runs), clock, inputs, outputs, batch, cal_instr, cal_ticks, sha, part)


@dataclass(frozen=True)
class Results:
    """One 'R' frame: per image the cycle count, the SysTick ticks and the int8 outputs."""

    seq: int
    stack_bytes: int
    cycles: list[int]
    ticks: list[int]
    outputs: list[bytes]

    @classmethod
    def parse(cls, payload: bytes, output_size: int) -> Results:
        if len(payload) < 10:
            raise ProtocolError(f"a results frame of {len(payload)} bytes")
        seq, count, stack = struct.unpack_from("<IHI", payload)
        row = 8 + output_size
        if len(payload) != 10 + count * row:
            raise ProtocolError(f"a results frame of {len(payload)} bytes for {count} images")
        rows = [payload[10 + i * row:10 + (i + 1) * row] for i in range(count)]
        return cls(seq, stack, [struct.unpack_from("<I", r)[0] for r in rows],
                   [struct.unpack_from("<I", r, 4)[0] for r in rows], [r[8:] for r in rows])


class FrameReader:
    """Frames out of a byte stream: skips noise up to the start bytes, checks length and checksum, and after a
    false start (start bytes inside noise or inside a damaged frame) looks again from the next byte."""

    def __init__(self, read, max_payload: int = 256):
        self._read = read  # read(n) -> up to n bytes, b"" after a short wait
        self.max_payload = max_payload  # the longest frame the other end sends (info: ~100 bytes)
        self._buffer = b""

    def _fill(self, n: int, deadline: float) -> bool:
        while len(self._buffer) < n:
            if time.monotonic() > deadline:
                return False
            self._buffer += self._read(n - len(self._buffer))
        return True

    def next(self, seconds: float) -> tuple[bytes, bytes]:
        """(type, payload) of the next whole frame within `seconds`. TimeoutError if none came (a quiet line, or
        one that only carries noise); ProtocolError if what came was a damaged frame."""
        deadline, damaged = time.monotonic() + seconds, False
        while True:
            start = self._buffer.find(START)
            if start < 0:
                self._buffer = self._buffer[-1:]  # a start byte may end the buffer
                if not self._fill(len(self._buffer) + 1, deadline):
                    break
                continue
            self._buffer = self._buffer[start:]
            if not self._fill(5, deadline):
                break
            (size,) = struct.unpack_from("<H", self._buffer, 3)
            if size <= self.max_payload:
                if not self._fill(9 + size, deadline):
                    break
                body, (crc,) = self._buffer[2:5 + size], struct.unpack_from("<I", self._buffer, 5 + size)
                if zlib.crc32(body) == crc:
                    self._buffer = self._buffer[9 + size:]
                    return body[:1], body[3:]
                damaged = True
            self._buffer = self._buffer[1:]  # a false start: look again from the next byte
        if damaged:
            raise ProtocolError("a frame with a bad checksum")
        raise TimeoutError
