"""From an int8 .tflite graph to layers with every integer parameter TFLite Micro would compute in Prepare.

The multipliers, shifts, activation ranges and paddings follow tflite/kernels/kernel_util.cc,
quantization_util.cc and the micro kernels' Prepare functions, in the same float/double order,
so the C engine needs no floating point at all. Anything the engine does not reproduce exactly
is a LenetError naming the op and the option.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lenet_deploy.convert.engine import fixedpoint as fp
from lenet_deploy.convert.flatbuffer import Graph, Op, Tensor
from lenet_deploy.errors import LenetError

SUPPORTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D", "FULLY_CONNECTED", "RESHAPE",
                 "TANH", "LOGISTIC", "SOFTMAX", "ADD", "MUL")
# The Keras layer an op outside SUPPORTED_OPS usually comes from, for the one-line refusal.
KERAS_LAYERS = {"CONCATENATION": "Concatenate", "MEAN": "GlobalAveragePooling2D (use AveragePooling2D + Flatten)",
                "PAD": "ZeroPadding2D (use padding='same')", "SUB": "Subtract", "MAXIMUM": "Maximum",
                "RELU": "a separate ReLU or Activation('relu') that TFLite could not fuse (put it right after a "
                        "Conv2D or Dense)", "HARD_SWISH": "Activation('hard_swish')",
                "LEAKY_RELU": "LeakyReLU", "PRELU": "PReLU", "TRANSPOSE_CONV": "Conv2DTranspose",
                "RESIZE_NEAREST_NEIGHBOR": "UpSampling2D", "RESIZE_BILINEAR": "UpSampling2D(interpolation='bilinear')",
                "DEQUANTIZE": "a float input or output (convert with --io int8)",
                "QUANTIZE": "a float input or output (convert with --io int8)", "STRIDED_SLICE": "Cropping2D",
                "DIV": "a division layer", "GELU": "Activation('gelu')", "BATCH_MATMUL": "Dot or Attention"}
_SAME, _VALID = 0, 1
_ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6"}


@dataclass
class Layer:
    """One op with its constant data and integer parameters; `kind` picks the C kernel."""

    index: int
    kind: str
    input: int  # tensor index
    output: int
    params: dict = field(default_factory=dict)
    macs: int = 0


def _f32(x: float) -> float:
    return float(np.float32(x))


def _scale(tensor: Tensor) -> float:
    return _f32(tensor.scales[0])


def _zero_point(tensor: Tensor) -> int:
    return int(tensor.zero_points[0]) if tensor.zero_points else 0


def _quantize(scale: float, zero_point: int, real: float) -> int:
    """kernel_util.cc Quantize: the division in float32, then std::round."""
    return zero_point + fp.round_half_away(float(np.float32(real) / np.float32(scale)))


def activation_range(activation: int, output: Tensor, where: str) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for int8."""
    name = _ACTIVATIONS.get(activation)
    if name is None:
        raise LenetError(f"{where}: fused activation {activation} is not supported by the C engine "
                         f"(supported: {', '.join(_ACTIVATIONS.values())})")
    scale, zero_point = _scale(output), _zero_point(output)
    low, high = -128, 127
    if name == "RELU":
        low = max(low, _quantize(scale, zero_point, 0.0))
    elif name == "RELU6":
        low, high = max(low, _quantize(scale, zero_point, 0.0)), min(high, _quantize(scale, zero_point, 6.0))
    elif name == "RELU_N1_TO_1":
        low, high = max(low, _quantize(scale, zero_point, -1.0)), min(high, _quantize(scale, zero_point, 1.0))
    return low, high


def _padding(kind: int, in_size: int, out_size: int, stride: int, filter_size: int, dilation: int = 1) -> int:
    """ComputePaddingHeightWidth: the top/left padding (any odd extra goes bottom/right)."""
    if kind == _VALID:
        return 0
    effective = (filter_size - 1) * dilation + 1
    return max(0, (out_size - 1) * stride + effective - in_size) // 2


def _check_int8(tensor: Tensor, where: str, role: str) -> None:
    if tensor.dtype != "INT8" or not tensor.scales:
        raise LenetError(f"{where + ': ' if where else ''}{role} tensor '{tensor.name}' is {tensor.dtype}"
                         f"{'' if tensor.scales else ' without quantization'}; the C engine needs int8 "
                         "(convert with --quantize int8 --io int8)")


def _constant(graph: Graph, index: int, where: str, dtype) -> np.ndarray:
    tensor = graph.tensors[index]
    if not tensor.data:
        raise LenetError(f"{where}: tensor '{tensor.name}' must be a constant (weights/bias)")
    return np.frombuffer(tensor.data, dtype=dtype).reshape(tensor.shape)


def _weights_and_bias(graph: Graph, op: Op, where: str) -> tuple[Tensor, np.ndarray, np.ndarray]:
    """CONV_2D / FULLY_CONNECTED constants: the weight tensor, its int8 values (symmetric), the int32 bias."""
    weights = graph.tensors[op.inputs[1]]
    filters = _constant(graph, op.inputs[1], where, np.int8)
    if any(z != 0 for z in weights.zero_points):
        raise LenetError(f"{where}: weight zero points must be 0 (symmetric int8 weights)")
    has_bias = len(op.inputs) > 2 and op.inputs[2] >= 0
    bias = _constant(graph, op.inputs[2], where, np.int32) if has_bias else np.zeros(filters.shape[0], np.int32)
    return weights, filters, bias


def _requant(input_scale: float, filter_scales: tuple[float, ...], output_scale: float, channels: int,
             float_product: bool) -> tuple[list[int], list[int]]:
    """Multipliers and shifts per output channel, as TFLM computes them.

    Conv and per-channel dense: input_scale * filter_scale / output_scale in double. Per-tensor dense
    (GetQuantizedConvolutionMultipler): the input * filter product in float32 first.
    """
    scales = [_f32(s) for s in filter_scales] if len(filter_scales) > 1 else [_f32(filter_scales[0])] * channels
    if float_product:
        reals = [float(np.float32(input_scale) * np.float32(s)) / output_scale for s in scales]
    else:
        reals = [input_scale * s / output_scale for s in scales]
    pairs = [fp.quantize_multiplier(r) for r in reals]
    return [m for m, _ in pairs], [s for _, s in pairs]


def _window(op: Op, source: Tensor, target: Tensor, k_h: int, k_w: int, where: str) -> dict:
    """A convolution's sliding window over its input padded with the input's zero point (x + input_offset == 0,
    as TFLM's skipped taps: the offset then folds into the bias, sum w * (x + off) = sum w * x + off * sum w)."""
    options = op.options
    if (options.dilationHFactor, options.dilationWFactor) != (1, 1):
        raise LenetError(f"{where}: dilated {op.name} is not supported by the C engine")
    _, in_h, in_w, in_c = source.shape
    _, out_h, out_w, _ = target.shape
    pad_t = _padding(options.padding, in_h, out_h, options.strideH, k_h)
    pad_l = _padding(options.padding, in_w, out_w, options.strideW, k_w)
    padded_h = max(in_h + pad_t, (out_h - 1) * options.strideH + k_h)
    padded_w = max(in_w + pad_l, (out_w - 1) * options.strideW + k_w)
    return dict(in_h=in_h, in_w=in_w, in_c=in_c, pad_t=pad_t, pad_l=pad_l, padded_h=padded_h, padded_w=padded_w,
                needs_pad=(padded_h, padded_w) != (in_h, in_w), pad_value=_zero_point(source), k_h=k_h, k_w=k_w,
                stride_h=options.strideH, stride_w=options.strideW, out_h=out_h, out_w=out_w)


STRIP_MAX = 2048  # bytes of the largest column strip a convolution may use (arena RAM)


def _strip_bytes(window: dict) -> int:
    """Bytes of the column strip of a convolution with short filter rows (a 5x5 filter on one channel: rows of 5
    bytes), else 0. On cores with a SIMD path (kernels.c LE_STRIP_PAYS) the kernel copies the k_h input rows an
    output row reads into the strip column by column, so that each output's window is one contiguous run: one
    dot product and one tail instead of one per filter row. Measured on seed-best, rows of 30 bytes lost (M4
    +3 %, M55 +60 % on that layer: the copy costs more than the tails), rows of 5 gained (M4 -8 %)."""
    row = window["k_w"] * window["in_c"]
    cols = (window["out_w"] - 1) * window["stride_w"] + window["k_w"]
    size = cols * window["k_h"] * window["in_c"]
    return size if window["k_h"] > 1 and row < 16 and size <= STRIP_MAX else 0


def _conv(graph: Graph, op: Op, where: str) -> Layer:
    options = op.options
    source, target = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    weights, filters, bias = _weights_and_bias(graph, op, where)
    in_c = source.shape[-1]
    out_c, k_h, k_w, f_c = filters.shape
    if f_c != in_c:
        raise LenetError(f"{where}: grouped convolution ({in_c} input channels, filter has {f_c}) is not supported")
    window = _window(op, source, target, k_h, k_w, where)
    multipliers, shifts = _requant(_scale(source), weights.scales, _scale(target), out_c, float_product=False)
    low, high = activation_range(options.fusedActivationFunction, target, where)
    folded = bias.astype(np.int64) - _zero_point(source) * filters.reshape(out_c, -1).astype(np.int64).sum(axis=1)
    strip = _strip_bytes(window)
    return Layer(op.index, "conv2d", op.inputs[0], op.outputs[0], dict(
        **window, out_c=out_c, filters=filters, bias=_int32(folded, where), strip_bytes=strip,
        multipliers=multipliers, shifts=shifts,
        right_only=_right_only(filters, folded, shifts), output_offset=_zero_point(target), act_min=low,
        act_max=high),
        macs=window["out_h"] * window["out_w"] * out_c * k_h * k_w * in_c)


def _depthwise(graph: Graph, op: Op, where: str) -> Layer:
    """DEPTHWISE_CONV_2D (reference_integer_ops::DepthwiseConvPerChannel): output channel c reads input channel
    c // depth_multiplier; the input offset folds into the bias as for CONV_2D."""
    options = op.options
    source, target = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    weights, filters, bias = _weights_and_bias(graph, op, where)
    in_c = source.shape[-1]
    _, k_h, k_w, out_c = filters.shape
    multiplier = out_c // in_c
    if multiplier * in_c != out_c:
        raise LenetError(f"{where}: {out_c} output channels is not a multiple of the {in_c} input channels")
    if len(op.inputs) <= 2 or op.inputs[2] < 0:
        bias = np.zeros(out_c, np.int32)  # (_weights_and_bias sized it by the filter's first dimension, 1 here)
    window = _window(op, source, target, k_h, k_w, where)
    per_channel = filters.reshape(k_h * k_w, out_c).T.copy()  # [out_c, k_h * k_w]: each channel's taps together
    folded = bias.astype(np.int64) - _zero_point(source) * per_channel.astype(np.int64).sum(axis=1)
    multipliers, shifts = _requant(_scale(source), weights.scales, _scale(target), out_c, float_product=False)
    low, high = activation_range(options.fusedActivationFunction, target, where)
    return Layer(op.index, "depthwise", op.inputs[0], op.outputs[0], dict(
        **window, out_c=out_c, depth_multiplier=multiplier, filters=per_channel, bias=_int32(folded, where),
        multipliers=multipliers, shifts=shifts, right_only=_right_only(per_channel, folded, shifts),
        output_offset=_zero_point(target), act_min=low, act_max=high),
        macs=window["out_h"] * window["out_w"] * out_c * k_h * k_w)


def _channel_constant(graph: Graph, op: Op, where: str) -> tuple[int, np.ndarray, Tensor]:
    """ADD / MUL with one input a tensor and the other a constant per channel (an unfolded batch normalization):
    (which input is the tensor, the constant's int8 values per channel, the constant's tensor)."""
    constants = [i for i, t in enumerate(op.inputs[:2]) if graph.tensors[t].data]
    if len(constants) != 1:
        raise LenetError(f"{where}: only {op.name} of a tensor and a per-channel constant (an unfolded "
                         "BatchNormalization) is supported by the C engine")
    variable = 1 - constants[0]
    source, constant = graph.tensors[op.inputs[variable]], graph.tensors[op.inputs[constants[0]]]
    _check_int8(constant, where, "constant")
    channels = source.shape[-1]
    values = np.frombuffer(constant.data, dtype=np.int8)
    if values.size == 1:
        values = np.repeat(values, channels)
    if values.size != channels or any(d != 1 for d in constant.shape[:-1]):
        raise LenetError(f"{where}: the constant of shape {list(constant.shape)} does not broadcast per channel over "
                         f"{list(source.shape)}")
    if list(graph.tensors[op.outputs[0]].shape) != list(source.shape):
        raise LenetError(f"{where}: {op.name} must keep its input's shape")
    return variable, values.astype(np.int64), constant


def _add(graph: Graph, op: Op, where: str) -> Layer:
    """ADD (reference_integer_ops::Add; TFLM add.cc's parameters, left shift 20, in double): the constant's side
    is computed here, per channel, to the int32 the kernel adds."""
    variable, values, constant = _channel_constant(graph, op, where)
    source, target = graph.tensors[op.inputs[variable]], graph.tensors[op.outputs[0]]
    left_shift = 20
    twice_max = 2 * max(float(np.float32(_scale(source))), float(np.float32(_scale(constant))))
    m1, s1 = fp.quantize_multiplier(_scale(source) / twice_max)
    m2, s2 = fp.quantize_multiplier(_scale(constant) / twice_max)
    mo, so = fp.quantize_multiplier(twice_max / ((1 << left_shift) * _scale(target)))
    scaled = [fp.multiply_by_quantized_multiplier((int(v) - _zero_point(constant)) * (1 << left_shift), m2, s2)
              for v in values]
    low, high = activation_range(op.options.fusedActivationFunction, target, where)
    return Layer(op.index, "add", op.inputs[variable], op.outputs[0], dict(
        size=int(np.prod(source.shape)), channels=source.shape[-1], input_offset=-_zero_point(source),
        input_multiplier=m1, input_shift=s1, constant=scaled, output_multiplier=mo, output_shift=so,
        output_offset=_zero_point(target), act_min=low, act_max=high))


def _mul(graph: Graph, op: Op, where: str) -> Layer:
    """MUL (reference_integer_ops::Mul; TFLM mul.cc's one multiplier, in double)."""
    variable, values, constant = _channel_constant(graph, op, where)
    source, target = graph.tensors[op.inputs[variable]], graph.tensors[op.outputs[0]]
    multiplier, shift = fp.quantize_multiplier(_scale(source) * _scale(constant) / _scale(target))
    low, high = activation_range(op.options.fusedActivationFunction, target, where)
    return Layer(op.index, "mul", op.inputs[variable], op.outputs[0], dict(
        size=int(np.prod(source.shape)), channels=source.shape[-1], input_offset=-_zero_point(source),
        constant=[int(v) - _zero_point(constant) for v in values], multiplier=multiplier, shift=shift,
        output_offset=_zero_point(target), act_min=low, act_max=high))


TABLE_MAX_BYTES = 4096  # an ADD or MUL of a per-channel constant with at most 16 channels becomes a table


def _channel_output(layer: Layer, value: int, channel: int) -> int:
    """What kernels.c's le_add_channels / le_mul_channels compute for one int8 input in one channel."""
    p, mbqm = layer.params, fp.multiply_by_quantized_multiplier
    if layer.kind == "add":
        x = mbqm((value + p["input_offset"]) * (1 << 20), p["input_multiplier"], p["input_shift"])
        y = mbqm(fp.wrap32(x + p["constant"][channel]), p["output_multiplier"], p["output_shift"])
    else:
        y = mbqm((value + p["input_offset"]) * p["constant"][channel], p["multiplier"], p["shift"])
    return min(max(y + p["output_offset"], p["act_min"]), p["act_max"])


def _as_table(layer: Layer) -> Layer:
    """A per-channel ADD or MUL as a table of its output for each of the 256 inputs of each channel, where it is
    small (TABLE_MAX_BYTES): one load per element instead of two or one requantizations (~100 instructions each
    element on the Cortex-M0, whose 64-bit multiplies are library calls). Bit-exact by construction: the table
    holds what the kernel would compute (`_channel_output`), and the kernel tests check both against TFLM.
    Measured on the micro:bit sweep's choice (two batch norms, 4 and 8 channels): M0 1,421,194 -> 917,392
    instructions, M4 402,806 -> 286,270, M55 269,988 -> 147,352; engine flash +5.7 KB."""
    channels = layer.params["channels"]
    if channels * 256 > TABLE_MAX_BYTES:
        return layer
    table = [_channel_output(layer, value, c) for c in range(channels) for value in range(-128, 128)]
    return Layer(layer.index, "channel_table", layer.input, layer.output, dict(
        size=layer.params["size"], channels=channels, table=table))


def _fully_connected(graph: Graph, op: Op, where: str) -> Layer:
    options = op.options
    if options.weightsFormat != 0 or options.asymmetricQuantizeInputs:
        raise LenetError(f"{where}: only default-format, int8-input FULLY_CONNECTED is supported")
    source, target = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    weights, filters, bias = _weights_and_bias(graph, op, where)
    out_n, depth = filters.shape
    if int(np.prod(source.shape)) != depth or int(np.prod(target.shape)) != out_n:
        raise LenetError(f"{where}: batched FULLY_CONNECTED (input {source.shape}) is not supported")
    multipliers, shifts = _requant(_scale(source), weights.scales, _scale(target), out_n,
                                   float_product=len(weights.scales) == 1)
    low, high = activation_range(options.fusedActivationFunction, target, where)
    folded = bias.astype(np.int64) - _zero_point(source) * filters.astype(np.int64).sum(axis=1)
    return Layer(op.index, "fully_connected", op.inputs[0], op.outputs[0], dict(
        depth=depth, out_n=out_n, filters=filters, bias=_int32(folded, where), multipliers=multipliers,
        shifts=shifts, right_only=_right_only(filters, folded, shifts), output_offset=_zero_point(target),
        act_min=low, act_max=high), macs=depth * out_n)


def _pool(graph: Graph, op: Op, where: str, kind: str) -> Layer:
    options = op.options
    source, target = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if kind == "avg_pool" and (_scale(source), _zero_point(source)) != (_scale(target), _zero_point(target)):
        raise LenetError(f"{where}: AVERAGE_POOL_2D with different input and output quantization is not supported")
    _, in_h, in_w, channels = source.shape
    _, out_h, out_w, _ = target.shape
    low, high = activation_range(options.fusedActivationFunction, target, where)
    return Layer(op.index, kind, op.inputs[0], op.outputs[0], dict(
        in_h=in_h, in_w=in_w, channels=channels, out_h=out_h, out_w=out_w, f_h=options.filterHeight,
        f_w=options.filterWidth, stride_h=options.strideH, stride_w=options.strideW,
        pad_t=_padding(options.padding, in_h, out_h, options.strideH, options.filterHeight),
        pad_l=_padding(options.padding, in_w, out_w, options.strideW, options.filterWidth),
        act_min=low, act_max=high))


def _lookup(graph: Graph, op: Op, where: str, kind: str) -> Layer:
    source, target = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if kind == "TANH":
        table = fp.tanh_table(_scale(source), _zero_point(source))
    else:
        if _zero_point(target) != -128:
            raise LenetError(f"{where}: LOGISTIC output zero point must be -128 (TFLite Micro's requirement)")
        table = fp.logistic_table(_scale(source), _zero_point(source))
    return Layer(op.index, "lookup", op.inputs[0], op.outputs[0], dict(
        size=int(np.prod(source.shape)), table=table, function=kind.lower()))


def _softmax(graph: Graph, op: Op, where: str) -> Layer:
    source, target = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if _zero_point(target) != -128 or _scale(target) != _f32(1 / 256):
        raise LenetError(f"{where}: int8 SOFTMAX output must have scale 1/256 and zero point -128")
    table, diff_min = fp.softmax_exp_table(_f32(op.options.beta), _scale(source))
    depth = source.shape[-1]
    return Layer(op.index, "softmax", op.inputs[0], op.outputs[0], dict(
        rows=int(np.prod(source.shape)) // depth, depth=depth, exp_table=table, diff_min=diff_min))


def _right_only(filters: np.ndarray, folded_bias: np.ndarray, shifts: list[int]) -> bool:
    """Whether the kernel may round with the one-add formula: right shifts of 1 to 23 bits only, |acc| < 2^30."""
    bound = np.abs(folded_bias) + 128 * np.abs(filters.reshape(len(folded_bias), -1).astype(np.int64)).sum(axis=1)
    return all(-23 <= s <= -1 for s in shifts) and int(bound.max()) < (1 << 30)


def _int32(values: np.ndarray, where: str) -> list[int]:
    if values.min() < fp.INT32_MIN or values.max() > fp.INT32_MAX:
        raise LenetError(f"{where}: folded bias overflows int32")
    return [int(v) for v in values]


def plan_layers(graph: Graph) -> list[Layer]:
    """The graph as engine layers, in execution order; a LenetError names the first thing not supported."""
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise LenetError(f"the C engine needs one input and one output (model has {len(graph.inputs)} and "
                         f"{len(graph.outputs)})")
    _check_int8(graph.tensors[graph.inputs[0]], "", "the model's input")
    _check_int8(graph.tensors[graph.outputs[0]], "", "the model's output")
    layers = []
    for op in graph.ops:
        where = f"op {op.index} ({op.name})"
        if op.name not in SUPPORTED_OPS:
            layer = KERAS_LAYERS.get(op.name)
            keras = f" (from the Keras layer {layer}: change that layer)" if layer else ""
            raise LenetError(f"{where}: not supported by the C engine{keras}; supported: {', '.join(SUPPORTED_OPS)}")
        _check_int8(graph.tensors[op.inputs[0]], where, "input")
        _check_int8(graph.tensors[op.outputs[0]], where, "output")
        if op.name == "CONV_2D":
            layers.append(_conv(graph, op, where))
        elif op.name == "DEPTHWISE_CONV_2D":
            layers.append(_depthwise(graph, op, where))
        elif op.name == "FULLY_CONNECTED":
            layers.append(_fully_connected(graph, op, where))
        elif op.name == "ADD":
            layers.append(_as_table(_add(graph, op, where)))
        elif op.name == "MUL":
            layers.append(_as_table(_mul(graph, op, where)))
        elif op.name in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            layers.append(_pool(graph, op, where, "avg_pool" if op.name == "AVERAGE_POOL_2D" else "max_pool"))
        elif op.name in ("TANH", "LOGISTIC"):
            layers.append(_lookup(graph, op, where, op.name))
        elif op.name == "SOFTMAX":
            layers.append(_softmax(graph, op, where))
        else:  # RESHAPE: the same bytes under another shape
            layers.append(Layer(op.index, "reshape", op.inputs[0], op.outputs[0]))
    return layers
