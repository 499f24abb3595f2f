"""The C generator's public API: everything firmware_bench takes from convert, and nothing more.

The MCU bench needs the engine (`write_engine`, and `HostEngine` to run it on this machine), the
model's graph (ops, weight bytes) and the flatbuffer as the C array a TFLite Micro firmware links; the cost
of a sweep trial needs its Keras model as the int8 .tflite (`int8_flatbuffer`, `representative_images`).
"""

from __future__ import annotations

from pathlib import Path

from lenet_deploy.convert.c_array import ModelMacros, arena_margin, write_c_array
from lenet_deploy.convert.converter import batch_one, convert, representative_images
from lenet_deploy.convert.engine.emit import Engine, LayerCost, build_engine, write_engine
from lenet_deploy.convert.engine.host import HostEngine, host_compiler
from lenet_deploy.convert.flatbuffer import Graph, read_graph, read_graph_file
from lenet_deploy.tflite import TensorIO

__all__ = ["Engine", "Graph", "HostEngine", "LayerCost", "build_engine", "host_compiler", "int8_flatbuffer",
           "read_graph", "read_graph_file",
           "representative_images", "write_engine", "write_model_source"]


def int8_flatbuffer(model, calibration) -> bytes:
    """A Keras model as the full-integer int8 .tflite `lenet-convert --quantize int8` writes (batch 1, int8 I/O)."""
    return convert(batch_one(model), "int8", "int8", calibration)


def write_model_source(out_dir: Path, stem: str, model: bytes, io: tuple[TensorIO, TensorIO], arena_bytes: int,
                       source: str) -> Path:
    """`<stem>.c` (+ `.h`) holding the flatbuffer, as `lenet-convert` writes it; returns the .c path."""
    macros = ModelMacros(*io, read_graph(model, source).op_names, arena_bytes, arena_margin(arena_bytes))
    return write_c_array(out_dir, stem, model, macros, source)[1]
