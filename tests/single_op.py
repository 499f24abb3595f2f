"""Build one-op int8 .tflite models with the schema's object API, to probe TFLite Micro op by op."""

from __future__ import annotations

import flatbuffers
import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema


def elementwise_model(op: str, n: int, input_scale: float, input_zero_point: int, output_scale: float,
                      output_zero_point: int, beta: float = 1.0) -> bytes:
    """An int8 [1, n] -> [1, n] model of TANH, LOGISTIC or SOFTMAX."""
    tensors = [_quantized([1, n], INT8, 0, [input_scale], [input_zero_point], "in"),
               _quantized([1, n], INT8, 0, [output_scale], [output_zero_point], "out")]
    options_type, options = 0, None
    if op == "SOFTMAX":
        options_type, options = schema.BuiltinOptions.SoftmaxOptions, schema.SoftmaxOptionsT()
        options.beta = beta
    return _one_op_model(op, tensors, {}, [0], options_type, options)


def run_tflm(model: bytes, rows: np.ndarray) -> np.ndarray:
    """Each row of int8 `rows` through TFLite Micro's reference kernel."""
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_bytes(model, arena_size=1 << 18)
    shape = interpreter.get_input_details(0)["shape"]
    outputs = []
    for row in rows:
        interpreter.set_input(row.reshape(shape).astype(np.int8), 0)
        interpreter.invoke()
        outputs.append(interpreter.get_output(0).reshape(-1).copy())
    return np.array(outputs, dtype=np.int8)


def _quantized(shape, tensor_type, buffer: int, scales, zero_points, name: str, axis: int = 0) -> schema.TensorT:
    tensor = schema.TensorT()
    tensor.shape, tensor.type, tensor.buffer, tensor.name = list(shape), tensor_type, buffer, name
    tensor.quantization = schema.QuantizationParametersT()
    tensor.quantization.scale, tensor.quantization.zeroPoint = list(scales), list(zero_points)
    tensor.quantization.quantizedDimension = axis
    return tensor


def _one_op_model(op: str, tensors: list, constants: dict, inputs: list[int], options_type: int, options) -> bytes:
    """A model of one `op`: tensors[0] the graph's input, tensors[-1] its output, `constants` {tensor: array}."""
    model = schema.ModelT()
    model.version, model.description = 3, "single op"
    model.buffers = [schema.BufferT()]  # buffer 0: the empty sentinel
    for index, tensor in enumerate(tensors):
        buffer = schema.BufferT()
        if index in constants:
            buffer.data = np.frombuffer(np.ascontiguousarray(constants[index]).tobytes(), np.uint8).tolist()
        model.buffers.append(buffer)
        tensor.buffer = len(model.buffers) - 1
    code = schema.OperatorCodeT()
    code.builtinCode = getattr(schema.BuiltinOperator, op)
    code.deprecatedBuiltinCode = min(code.builtinCode, 127)
    code.version = 3
    model.operatorCodes = [code]
    graph = schema.SubGraphT()
    graph.tensors = tensors
    graph.inputs, graph.outputs = [0], [len(tensors) - 1]
    operator = schema.OperatorT()
    operator.opcodeIndex, operator.inputs, operator.outputs = 0, inputs, [len(tensors) - 1]
    operator.builtinOptionsType, operator.builtinOptions = options_type, options
    graph.operators = [operator]
    model.subgraphs = [graph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


ACTIVATIONS = {"none": 0, "relu": 1, "relu6": 3}
PADDINGS = {"same": 0, "valid": 1}
INT8, INT32 = schema.TensorType.INT8, schema.TensorType.INT32


def _output_size(size: int, kernel: int, stride: int, padding: str) -> int:
    return (size + stride - 1) // stride if padding == "same" else (size - kernel) // stride + 1


def conv_model(rng, height: int, width: int, in_c: int, out_c: int, kernel: int, stride: int, padding: str,
               activation: str, out_zero: int | None = None) -> bytes:
    """CONV_2D with random int8 filters (per-channel scales), int32 biases and quantization (`out_zero`: the
    output's zero point instead of a random one)."""
    in_scale, in_zero, out_scale, drawn = 0.02, int(rng.integers(-20, 20)), 0.05, int(rng.integers(-30, 30))
    out_zero = drawn if out_zero is None else out_zero
    filters = rng.integers(-127, 128, (out_c, kernel, kernel, in_c)).astype(np.int8)
    w_scales = rng.uniform(0.002, 0.02, out_c)
    bias = rng.integers(-3000, 3000, out_c).astype(np.int32)
    out_h, out_w = _output_size(height, kernel, stride, padding), _output_size(width, kernel, stride, padding)
    tensors = [_quantized([1, height, width, in_c], INT8, 0, [in_scale], [in_zero], "in"),
               _quantized(filters.shape, INT8, 0, w_scales, [0] * out_c, "filters"),
               _quantized([out_c], INT32, 0, in_scale * w_scales, [0] * out_c, "bias"),
               _quantized([1, out_h, out_w, out_c], INT8, 0, [out_scale], [out_zero], "out")]
    options = schema.Conv2DOptionsT()
    options.padding, options.strideW, options.strideH = PADDINGS[padding], stride, stride
    options.fusedActivationFunction = ACTIVATIONS[activation]
    options.dilationWFactor = options.dilationHFactor = 1
    return _one_op_model("CONV_2D", tensors, {1: filters, 2: bias}, [0, 1, 2],
                         schema.BuiltinOptions.Conv2DOptions, options)


def fully_connected_model(rng, inputs: int, outputs: int, activation: str) -> bytes:
    """FULLY_CONNECTED with random int8 weights (one scale, as TFLite's converter writes it), int32 biases."""
    in_scale, in_zero, out_scale, out_zero = 0.02, int(rng.integers(-20, 20)), 0.08, int(rng.integers(-30, 30))
    weights = rng.integers(-127, 128, (outputs, inputs)).astype(np.int8)
    w_scale = float(rng.uniform(0.002, 0.02))
    bias = rng.integers(-3000, 3000, outputs).astype(np.int32)
    tensors = [_quantized([1, inputs], INT8, 0, [in_scale], [in_zero], "in"),
               _quantized(weights.shape, INT8, 0, [w_scale], [0], "weights"),
               _quantized([outputs], INT32, 0, [in_scale * w_scale], [0], "bias"),
               _quantized([1, outputs], INT8, 0, [out_scale], [out_zero], "out")]
    options = schema.FullyConnectedOptionsT()
    options.fusedActivationFunction = ACTIVATIONS[activation]
    return _one_op_model("FULLY_CONNECTED", tensors, {1: weights, 2: bias}, [0, 1, 2],
                         schema.BuiltinOptions.FullyConnectedOptions, options)


def pool_model(op: str, height: int, width: int, channels: int, size: int, stride: int, padding: str,
               activation: str, scale: float = 0.03) -> bytes:
    """MAX_POOL_2D or AVERAGE_POOL_2D; input and output share their quantization, as TFLite requires (a RELU6's
    top is inside the int8 range from a scale of 6 / 134 up)."""
    out_h, out_w = _output_size(height, size, stride, padding), _output_size(width, size, stride, padding)
    tensors = [_quantized([1, height, width, channels], INT8, 0, [scale], [-7], "in"),
               _quantized([1, out_h, out_w, channels], INT8, 0, [scale], [-7], "out")]
    options = schema.Pool2DOptionsT()
    options.padding, options.strideW, options.strideH = PADDINGS[padding], stride, stride
    options.filterWidth = options.filterHeight = size
    options.fusedActivationFunction = ACTIVATIONS[activation]
    return _one_op_model(op, tensors, {}, [0], schema.BuiltinOptions.Pool2DOptions, options)


def depthwise_model(rng, height: int, width: int, in_c: int, multiplier: int, kernel: int, stride: int, padding: str,
                    activation: str) -> bytes:
    """DEPTHWISE_CONV_2D with random int8 filters [1, k, k, in_c * multiplier] (per-channel scales)."""
    out_c = in_c * multiplier
    in_scale, in_zero, out_scale, out_zero = 0.02, int(rng.integers(-20, 20)), 0.03, int(rng.integers(-30, 30))
    filters = rng.integers(-127, 128, (1, kernel, kernel, out_c)).astype(np.int8)
    w_scales = rng.uniform(0.005, 0.05, out_c)
    bias = rng.integers(-2000, 2000, out_c).astype(np.int32)
    out_h, out_w = _output_size(height, kernel, stride, padding), _output_size(width, kernel, stride, padding)
    tensors = [_quantized([1, height, width, in_c], INT8, 0, [in_scale], [in_zero], "in"),
               _quantized(filters.shape, INT8, 0, w_scales, [0] * out_c, "filters", axis=3),
               _quantized([out_c], INT32, 0, in_scale * w_scales, [0] * out_c, "bias"),
               _quantized([1, out_h, out_w, out_c], INT8, 0, [out_scale], [out_zero], "out")]
    options = schema.DepthwiseConv2DOptionsT()
    options.padding, options.strideW, options.strideH = PADDINGS[padding], stride, stride
    options.depthMultiplier = multiplier
    options.fusedActivationFunction = ACTIVATIONS[activation]
    options.dilationWFactor = options.dilationHFactor = 1
    return _one_op_model("DEPTHWISE_CONV_2D", tensors, {1: filters, 2: bias}, [0, 1, 2],
                         schema.BuiltinOptions.DepthwiseConv2DOptions, options)


def channel_constant_model(rng, op: str, height: int, width: int, channels: int, activation: str,
                           constant_first: bool = False) -> bytes:
    """ADD or MUL of a [1, h, w, c] tensor and an int8 constant [c] (an unfolded batch normalization's step)."""
    constant = rng.integers(-128, 128, channels).astype(np.int8)
    tensors = [_quantized([1, height, width, channels], INT8, 0, [0.04], [int(rng.integers(-20, 20))], "in"),
               _quantized([channels], INT8, 0, [float(rng.uniform(0.005, 0.03))], [int(rng.integers(-10, 10))],
                          "constant"),
               _quantized([1, height, width, channels], INT8, 0, [float(rng.uniform(0.02, 0.08))],
                          [int(rng.integers(-30, 30))], "out")]
    options = (schema.AddOptionsT() if op == "ADD" else schema.MulOptionsT())
    options.fusedActivationFunction = ACTIVATIONS[activation]
    kind = schema.BuiltinOptions.AddOptions if op == "ADD" else schema.BuiltinOptions.MulOptions
    return _one_op_model(op, tensors, {1: constant}, [1, 0] if constant_first else [0, 1], kind, options)
