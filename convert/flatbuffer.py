"""Read a .tflite flatbuffer into plain Python: ops, tensors, quantization, weight bytes.

Uses the schema bindings that ship with the tflite-micro package, so inspection needs
neither TensorFlow nor a running interpreter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lenet_deploy.errors import LenetError
from lenet_deploy.filekind import read_tflite_file


@dataclass(frozen=True)
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    scales: tuple[float, ...]
    zero_points: tuple[int, ...]
    data: bytes  # constant data (weights), empty for activations


@dataclass(frozen=True)
class Op:
    index: int
    name: str  # builtin name, e.g. CONV_2D
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: object  # the schema's options object (stride, padding, fused activation, ...)


@dataclass(frozen=True)
class Graph:
    ops: tuple[Op, ...]
    tensors: tuple[Tensor, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    size: int

    @property
    def op_names(self) -> list[str]:
        """Distinct op names in first-use order."""
        return list(dict.fromkeys(op.name for op in self.ops))

    @property
    def weight_bytes(self) -> int:
        return sum(len(t.data) for t in self.tensors)


def _schema():
    try:
        from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema
    except ImportError:
        raise LenetError("reading .tflite files needs the tflite-micro package (pip install tflite-micro)") from None
    return schema


def _names(enum_class) -> dict[int, str]:
    return {v: k for k, v in vars(enum_class).items() if not k.startswith("_") and isinstance(v, int)}


def read_graph(data: bytes, where: str = "model") -> Graph:
    """Parse `data`; a file that is not a TFLite flatbuffer (or is cut short) is a LenetError."""
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise LenetError(f"{where}: not a TFLite flatbuffer (no TFL3 identifier)")
    schema = _schema()
    try:
        model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
        graph = model.subgraphs[0]
        op_names, type_names = _names(schema.BuiltinOperator), _names(schema.TensorType)
        tensors = []
        for i, t in enumerate(graph.tensors):
            q = t.quantization
            scales = tuple(float(s) for s in (q.scale if q is not None and q.scale is not None else ()))
            zero_points = tuple(int(z) for z in (q.zeroPoint if q is not None and q.zeroPoint is not None else ()))
            buffer = model.buffers[t.buffer]
            raw = bytes(np.asarray(buffer.data, dtype=np.uint8)) if buffer.data is not None else b""
            if not raw and buffer.offset and buffer.size:  # large models keep buffers outside the table
                raw = data[buffer.offset:buffer.offset + buffer.size]
            name = t.name.decode() if isinstance(t.name, bytes) else str(t.name)
            tensors.append(Tensor(i, name, tuple(int(d) for d in t.shape) if t.shape is not None else (),
                                  type_names.get(t.type, str(t.type)), scales, zero_points, raw))
        ops = []
        for i, op in enumerate(graph.operators):
            code = model.operatorCodes[op.opcodeIndex]
            builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
            ops.append(Op(i, op_names.get(builtin, f"OP_{builtin}"), tuple(int(x) for x in op.inputs),
                          tuple(int(x) for x in op.outputs), op.builtinOptions))
        return Graph(tuple(ops), tuple(tensors), tuple(int(x) for x in graph.inputs),
                     tuple(int(x) for x in graph.outputs), len(data))
    except LenetError:
        raise
    except Exception as exc:  # a corrupt table shows up as any of struct/index/attribute errors
        raise LenetError(f"{where}: corrupt TFLite flatbuffer ({type(exc).__name__})") from None


def read_graph_file(path: Path) -> tuple[bytes, Graph]:
    data = read_tflite_file(path)
    return data, read_graph(data, str(path))
