"""Build one-op int8 .tflite models with the schema's object API, to probe TFLite Micro op by op."""

from __future__ import annotations

import flatbuffers
import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema


def _tensor(shape, buffer: int, scale: float, zero_point: int, name: str) -> schema.TensorT:
    tensor = schema.TensorT()
    tensor.shape, tensor.type, tensor.buffer, tensor.name = list(shape), schema.TensorType.INT8, buffer, name
    tensor.quantization = schema.QuantizationParametersT()
    tensor.quantization.scale, tensor.quantization.zeroPoint = [scale], [zero_point]
    return tensor


def elementwise_model(op: str, n: int, input_scale: float, input_zero_point: int, output_scale: float,
                      output_zero_point: int, beta: float = 1.0) -> bytes:
    """An int8 [1, n] -> [1, n] model of TANH, LOGISTIC or SOFTMAX."""
    model = schema.ModelT()
    model.version, model.description = 3, "single op"
    model.buffers = [schema.BufferT() for _ in range(3)]
    code = schema.OperatorCodeT()
    code.builtinCode = getattr(schema.BuiltinOperator, op)
    code.deprecatedBuiltinCode = min(code.builtinCode, 127)
    code.version = 2
    model.operatorCodes = [code]
    graph = schema.SubGraphT()
    graph.tensors = [_tensor([1, n], 1, input_scale, input_zero_point, "in"),
                     _tensor([1, n], 2, output_scale, output_zero_point, "out")]
    graph.inputs, graph.outputs = [0], [1]
    operator = schema.OperatorT()
    operator.opcodeIndex, operator.inputs, operator.outputs = 0, [0], [1]
    if op == "SOFTMAX":
        operator.builtinOptionsType = schema.BuiltinOptions.SoftmaxOptions
        operator.builtinOptions = schema.SoftmaxOptionsT()
        operator.builtinOptions.beta = beta
    graph.operators = [operator]
    model.subgraphs = [graph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def run_tflm(model: bytes, rows: np.ndarray) -> np.ndarray:
    """Each row of int8 `rows` through TFLite Micro's reference kernel."""
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_bytes(model, arena_size=1 << 16)
    outputs = []
    for row in rows:
        interpreter.set_input(row.reshape(1, -1).astype(np.int8), 0)
        interpreter.invoke()
        outputs.append(interpreter.get_output(0).reshape(-1).copy())
    return np.array(outputs, dtype=np.int8)
