"""Capture what C/C++ code writes to file descriptors 1 and 2 (Python's redirect_stdout cannot see it).

TFLite's converter and interpreters print progress lines from C++; we keep them off the
user's terminal and read what we need (e.g. TFLM's arena report) from the capture.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator


class Captured:
    text = ""


@contextlib.contextmanager
def capture_fds(fds: tuple[int, ...] = (1, 2)) -> Iterator[Captured]:
    """Send `fds` to a temp file for the duration of the block; `.text` holds it afterwards."""
    captured = Captured()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    with tempfile.TemporaryFile() as sink:
        saved = {fd: os.dup(fd) for fd in fds}
        for fd in fds:
            os.dup2(sink.fileno(), fd)
        try:
            yield captured
        finally:
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            captured.text = sink.read().decode(errors="replace")
