"""What a file is, from its first bytes: so that "not a Keras model" can say what it is instead."""

from __future__ import annotations

import zipfile
from pathlib import Path

from lenet_deploy.errors import LenetError

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def read_tflite_file(path: Path) -> bytes:
    """The bytes of a .tflite file, or one line saying what the path is instead (missing, a directory, a text
    file, a Keras model, …)."""
    path = Path(path)
    if not path.is_file():
        raise LenetError(f"{path}: {'is a directory, not a .tflite file' if path.is_dir() else 'no such file'}")
    data = path.read_bytes()
    if data[4:8] != b"TFL3":
        raise LenetError(f"{path}: not a TFLite flatbuffer (no TFL3 identifier): it is {file_kind(path)}")
    return data


def file_kind(path: Path) -> str:
    """'a directory', 'an empty file', 'a Keras model (.keras zip)', 'an HDF5 file', 'a TFLite model', 'a NumPy
    .npz archive', 'a zip archive', 'a text file' or 'binary data'."""
    path = Path(path)
    if path.is_dir():
        return "a directory"
    with path.open("rb") as file:
        head = file.read(4096)
    if not head:
        return "an empty file"
    if head.startswith(HDF5_MAGIC):
        return "an HDF5 file"
    if head[4:8] == b"TFL3":
        return "a TFLite model"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except zipfile.BadZipFile:
            return "a damaged zip archive"
        if "config.json" in names and "metadata.json" in names:
            return "a Keras model (.keras zip)"
        if names and all(name.endswith(".npy") for name in names):
            return "a NumPy .npz archive"
        return "a zip archive"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data"
    return "binary data" if "\x00" in text else "a text file"
