"""The C generator's planners on hand-made graphs: layer parameters as TFLM derives them, and the arena layout."""

from __future__ import annotations

import numpy as np
import pytest
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from lenet_deploy.convert.engine import fixedpoint as fp
from lenet_deploy.convert.engine.memory import plan_memory
from lenet_deploy.convert.engine.plan import Layer, plan_layers
from lenet_deploy.convert.flatbuffer import Graph, Op, Tensor
from lenet_deploy.errors import LenetError

F32 = np.float32  # a .tflite file stores scales as float32: the values below are what a reader gets
IN_SCALE, IN_ZP = float(F32(1 / 255)), -128
CONV_SCALE, CONV_ZP = float(F32(0.02)), -5
FC_SCALE, FC_ZP = float(F32(0.1)), 3
W_SCALES = (float(F32(0.01)), float(F32(0.03)))
FC_W_SCALE = float(F32(0.02))


def _tensor(index, name, shape, scale=0.0, zero_point=0, data=b"", dtype="INT8", scales=None):
    scales = scales if scales is not None else ((scale,) if scale else ())
    return Tensor(index, name, tuple(shape), dtype, tuple(scales), tuple([zero_point] * max(1, len(scales))), data)


def _options(kind, **values):
    options = getattr(schema, kind)()
    for key, value in values.items():
        setattr(options, key, value)
    return options


def small_graph(input_dtype="INT8", last_op="SOFTMAX") -> Graph:
    """[1,6,6,1] -> CONV_2D 3x3 SAME, 2 filters, RELU -> RESHAPE [1,72] -> FULLY_CONNECTED 3 -> SOFTMAX."""
    rng = np.random.default_rng(0)
    conv_w = rng.integers(-127, 128, (2, 3, 3, 1)).astype(np.int8)
    conv_b = np.array([100, -50], np.int32)
    fc_w = rng.integers(-127, 128, (3, 72)).astype(np.int8)
    fc_b = np.array([7, 0, -7], np.int32)
    tensors = (
        _tensor(0, "image", (1, 6, 6, 1), IN_SCALE, IN_ZP, dtype=input_dtype),
        _tensor(1, "conv_w", conv_w.shape, data=conv_w.tobytes(), scales=W_SCALES),
        _tensor(2, "conv_b", conv_b.shape, data=conv_b.tobytes(), dtype="INT32",
                scales=tuple(IN_SCALE * s for s in W_SCALES)),
        _tensor(3, "conv", (1, 6, 6, 2), CONV_SCALE, CONV_ZP),
        _tensor(4, "flat", (1, 72), CONV_SCALE, CONV_ZP),
        _tensor(5, "fc_w", fc_w.shape, data=fc_w.tobytes(), scales=(FC_W_SCALE,)),
        _tensor(6, "fc_b", fc_b.shape, data=fc_b.tobytes(), dtype="INT32", scales=(CONV_SCALE * FC_W_SCALE,)),
        _tensor(7, "logits", (1, 3), FC_SCALE, FC_ZP),
        _tensor(8, "probs", (1, 3), 1 / 256, -128),
    )
    ops = (
        Op(0, "CONV_2D", (0, 1, 2), (3,), _options("Conv2DOptionsT", padding=0, strideH=1, strideW=1,
                                                       fusedActivationFunction=1, dilationHFactor=1,
                                                       dilationWFactor=1)),
        Op(1, "RESHAPE", (3,), (4,), None),
        Op(2, "FULLY_CONNECTED", (4, 5, 6), (7,), _options("FullyConnectedOptionsT", fusedActivationFunction=0,
                                                              weightsFormat=0, asymmetricQuantizeInputs=False)),
        Op(3, last_op, (7,), (8,), _options("SoftmaxOptionsT", beta=1.0) if last_op == "SOFTMAX" else None),
    )
    return Graph(ops, tensors, (0,), (8,), size=0)


def test_layers_carry_the_parameters_tflm_computes():
    conv, reshape, dense, softmax = plan_layers(small_graph())
    assert [layer.kind for layer in (conv, reshape, dense, softmax)] == ["conv2d", "reshape", "fully_connected",
                                                                          "softmax"]
    p = conv.params
    # SAME padding of a 3x3 kernel at stride 1: one pixel each side, so the input is copied into an 8x8 scratch.
    assert (p["pad_t"], p["pad_l"], p["padded_h"], p["padded_w"], p["needs_pad"]) == (1, 1, 8, 8, True)
    assert (p["out_h"], p["out_w"], p["out_c"], p["pad_value"]) == (6, 6, 2, IN_ZP)
    assert conv.macs == 6 * 6 * 2 * 3 * 3 and dense.macs == 72 * 3
    # The input offset (-zero point) is folded into the bias: b + off * sum(w).
    filters = p["filters"].reshape(2, -1).astype(np.int64)
    assert p["bias"] == [100 - IN_ZP * int(filters[0].sum()), -50 - IN_ZP * int(filters[1].sum())]
    # Per-channel multipliers from input * filter / output scale in double.
    assert list(zip(p["multipliers"], p["shifts"])) == [fp.quantize_multiplier(IN_SCALE * s / CONV_SCALE)
                                                         for s in W_SCALES]
    # Fused RELU: the lower bound is the quantized 0.0, i.e. the output zero point.
    assert (p["act_min"], p["act_max"]) == (CONV_ZP, 127)
    d = dense.params
    assert (d["depth"], d["out_n"], d["output_offset"]) == (72, 3, FC_ZP)
    # Per-tensor dense: TFLM forms the input * filter product in float32 first.
    real = float(F32(CONV_SCALE) * F32(FC_W_SCALE)) / FC_SCALE
    assert d["multipliers"] == [fp.quantize_multiplier(real)[0]] * 3
    assert (softmax.params["rows"], softmax.params["depth"]) == (1, 3)
    assert reshape.input == 3 and reshape.output == 4


def test_an_unsupported_op_is_named():
    with pytest.raises(LenetError, match=r"op 3 \(RELU\): not supported by the C engine \(from the Keras layer a "
                                         r"separate ReLU .*put it right after a Conv2D or Dense\): change that "
                                         r"layer\); supported: CONV_2D, DEPTHWISE_CONV_2D"):
        plan_layers(small_graph(last_op="RELU"))


def test_a_float_input_is_refused_with_the_conversion_to_use():
    with pytest.raises(LenetError, match=r"input tensor 'image' is FLOAT32.*--quantize int8 --io int8"):
        plan_layers(small_graph(input_dtype="FLOAT32"))


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[0] + b[1] and b[0] < a[0] + a[1]


def test_memory_plan_aliases_reshape_and_keeps_live_buffers_apart():
    layers = plan_layers(small_graph())
    sizes = {3: 72, 4: 72, 7: 3, 8: 3}
    plan = plan_memory(layers, sizes, model_input=0, model_output=8)
    assert plan.location[0] == ("in", 0) and plan.location[8] == ("out", 0)
    assert plan.location[4] == plan.location[3]  # RESHAPE: the same bytes
    conv_out, logits = plan.location[3][1], plan.location[7][1]
    scratch, strip = plan.scratch[0], plan.strip[0]
    # The scratch (8x8x1 padded input), the strip (8 columns of 3 rows: rows of 3 bytes are short) and the conv
    # output are alive together; so are the conv output (read through the reshape) and the logits.
    assert layers[0].params["strip_bytes"] == 24
    assert not _overlap((scratch, 64), (conv_out, 72)) and not _overlap((strip, 24), (conv_out, 72))
    assert not _overlap((scratch, 64), (strip, 24))
    assert not _overlap((conv_out, 72), (logits, 4))
    assert all(offset % 4 == 0 for offset in (scratch, strip, conv_out, logits))
    assert plan.arena_bytes == max(scratch + 64, strip + 24, conv_out + 72, logits + 4)
    assert plan.copy_output_from is None


def test_memory_plan_reuses_dead_buffers_and_runs_lookups_in_place():
    # in -> A (fc) -> B (tanh, in place on A) -> C (fc) -> out (softmax); A's bytes are free once B is read.
    layers = [Layer(0, "fully_connected", 0, 1), Layer(1, "lookup", 1, 2), Layer(2, "fully_connected", 2, 3),
              Layer(3, "fully_connected", 3, 4), Layer(4, "softmax", 4, 5)]
    plan = plan_memory(layers, {1: 400, 2: 400, 3: 40, 4: 40, 5: 10}, model_input=0, model_output=5)
    assert plan.location[2] == plan.location[1]  # TANH in place
    assert not _overlap((plan.location[1][1], 400), (plan.location[3][1], 40))  # read while C is written
    assert plan.location[4][1] == plan.location[1][1]  # D reuses A's bytes: A died when C was computed
    assert plan.arena_bytes == 440


def test_an_output_that_aliases_another_buffer_is_copied_out():
    layers = [Layer(0, "fully_connected", 0, 1), Layer(1, "reshape", 1, 2)]
    plan = plan_memory(layers, {1: 10, 2: 10}, model_input=0, model_output=2)
    assert plan.location[2] == ("out", 0) and plan.copy_output_from == ("arena", 0)


def test_pairs_relay_each_group_of_four_in_smlads_order_blocked():
    """SXTB16 splits 4 input bytes into (x0, x2) and (x1, x3): SMLAD needs the weights as (w0, w2), (w1, w3); a
    block's (w0, w2) words come first (one LDM), then its (w1, w3) words, then the run's tail: 2 inputs as a word
    per filter (SMLAD with the 2 inputs packed), a last one as [input][filter]."""
    from lenet_deploy.convert.engine.emit import pairs

    filters = np.arange(1, 21, dtype=np.int8).reshape(2, 10)  # a block of 2 filters, runs of 10: 2 groups, 2 left
    relaid = pairs(filters, 10)
    assert relaid.dtype == np.int16
    assert relaid.tolist() == [1, 3, 11, 13, 2, 4, 12, 14, 5, 7, 15, 17, 6, 8, 16, 18, 9, 10, 19, 20]
    assert pairs(filters[:1], 10).tolist() == [1, 3, 2, 4, 5, 7, 6, 8, 9, 10]  # one filter: its own order
    three = np.arange(1, 15, dtype=np.int8).reshape(2, 7)  # runs of 7: a group, then a pair and one more
    assert pairs(three, 7).tolist() == [1, 3, 8, 10, 2, 4, 9, 11, 5, 6, 12, 13, 7, 0, 14, 0]  # the last with a 0
    six = np.arange(60, dtype=np.int8).reshape(6, 10)[:, :5]  # 6 filters: one block (kernels.c le_dot6)
    assert pairs(six, 5).tolist() == ([0, 2, 10, 12, 20, 22, 30, 32, 40, 42, 50, 52]  # (w0, w2) of each filter
                                      + [1, 3, 11, 13, 21, 23, 31, 33, 41, 43, 51, 53]
                                      + [4, 0, 14, 0, 24, 0, 34, 0, 44, 0, 54, 0])
    ten = np.arange(10 * 4, dtype=np.int16).reshape(10, 4)
    assert pairs(ten, 4)[:8].tolist() == [0, 2, 4, 6, 8, 10, 12, 14]  # a block of 4, then one of 6 (not 4 and 2):
    assert pairs(ten, 4)[16:28].tolist() == list(range(16, 40, 2))  # the (w0, w2) of its 6 filters


def test_the_int16_copy_goes_to_small_layers_then_to_the_densest_within_a_fifth_of_the_weights():
    """Up to 2 KB of weights always; up to 16 KB by MACs per weight byte while the copies stay within 20 % of the
    model's weights; never above 16 KB."""
    from lenet_deploy.convert.engine.emit import PAIRS_MAX_BYTES, PAIRS_SMALL_BYTES, copied_layers

    def layer(index, kind, size, macs):
        return Layer(index, kind, index, index + 1, dict(filters=np.zeros(size, np.int8)), macs=macs)

    small, conv, dense, big = (layer(0, "conv2d", PAIRS_SMALL_BYTES, 10 ** 6), layer(1, "conv2d", 12_000, 10 ** 6),
                               layer(2, "fully_connected", 10_000, 10_000), layer(3, "fully_connected", 60_000, 60_000))
    depthwise = layer(4, "depthwise", 100, 1_000)  # weights that count, a layer without the copy
    # 20 % of 84,148 bytes is 16,829: the small layer's 2,048, then conv's 12,000 (83 MACs a byte), not dense's
    assert copied_layers([small, conv, dense, big, depthwise]) == {0, 1}
    # with more weights, dense fits as well; a layer over PAIRS_MAX_BYTES never does
    huge = layer(3, "fully_connected", 200_000, 200_000)
    assert copied_layers([small, conv, dense, huge]) == {0, 1, 2}
    assert copied_layers([layer(0, "conv2d", PAIRS_MAX_BYTES + 1, 10 ** 9), huge]) == set()


def test_block_order_interleaves_each_run_of_each_block_of_4_2_and_1_filters():
    """le_conv2d's blocks (4, then 2, then 1 filters) one after the other; each filter's runs (here 2 of 6) in
    turn, within a run the groups then the tail: group 1 (ARMv6-M) is input by input, group 4 (SIMD32) 4 at once."""
    from lenet_deploy.convert.engine.emit import block_order

    filters = np.arange(7 * 12).reshape(7, 2, 6)  # 7 filters: blocks of 4, 2 and 1
    by_input = block_order(filters, 6)
    assert by_input[:8].tolist() == [0, 12, 24, 36, 1, 13, 25, 37]  # inputs 0 and 1 of the first 4 filters
    assert by_input[48:52].tolist() == [48, 60, 49, 61] and by_input[72:].tolist() == list(range(72, 84))
    by_group = block_order(filters, 6, group=4)
    assert by_group[:20].tolist() == [0, 1, 2, 3, 12, 13, 14, 15, 24, 25, 26, 27, 36, 37, 38, 39, 4, 16, 28, 40]
    assert by_group[24:28].tolist() == [6, 7, 8, 9]  # the second run starts with its first group
    assert sorted(by_group.tolist()) == list(range(84))


def test_a_copied_layer_on_the_one_add_path_has_its_copy_and_its_simd32_bias_doubled():
    """SMMULR wants 2 * acc: SIMD32 cores read such a layer's doubled int16 copy and bias and take its sums as they
    come (right_only 2); other cores keep the plain bias (right_only 1). Without the copy, or off the one-add path,
    nothing is doubled."""
    import dataclasses

    from lenet_deploy.convert.engine import emit

    graph = small_graph()
    layers = plan_layers(graph)
    sizes = {t.index: int(np.prod(t.shape)) for t in graph.tensors if not t.data}
    plan = plan_memory(layers, sizes, graph.inputs[0], graph.outputs[0])
    conv = layers[0]
    assert conv.kind == "conv2d" and conv.params["right_only"]
    arrays, code = emit._layer_code(conv, plan, "t_", copy=True)
    by_name = {name: (c_type, values) for c_type, name, values in arrays}
    c_type, (plain, twice, blocked) = by_name["t_op0_bias"]
    assert c_type == "bias" and list(plain) == conv.params["bias"] and list(twice) == [2 * b for b in plain]
    assert blocked is None  # a convolution's ARMv6-M biases are in its int32 copy (or plain)
    copy = by_name["t_op0_pairs"][1]
    copy = copy[0] if by_name["t_op0_pairs"][0].startswith("strip_") else copy
    assert np.abs(copy).max() > 127 and (np.asarray(copy) % 2 == 0).all()
    assert "t_op0_bias, t_op0_multiplier, t_op0_shift, LE_DSP_ELSE(2, 1)," in code
    source = emit._constant("bias", "t_op0_bias", (plain, twice, None))
    assert source.index("#ifdef LE_DSP") < source.index(str(twice[0])) < source.index("#else") < source.rindex(
        str(plain[0]))
    # a dense layer's: on ARMv6-M less 128 times each filter's weights (its input comes flipped, x + 128)
    dense = layers[2]
    arrays, _ = emit._layer_code(dense, plan, "t_", copy=False)
    c_type, (plain, twice, blocked) = {name: (c, v) for c, name, v in arrays}["t_op2_bias"]
    weights = np.asarray(dense.params["filters"], dtype=np.int64).reshape(len(plain), -1)
    assert twice is None and list(blocked) == list(np.asarray(plain) - 128 * weights.sum(axis=1))
    source = emit._constant("bias", "t_op2_bias", (plain, twice, blocked))
    assert source.index("#if LE_BLOCKED") < source.index("#else") and "LE_DSP" not in source
    for params, copied in ((conv.params, False), (dict(conv.params, right_only=False), True)):
        arrays, code = emit._layer_code(dataclasses.replace(conv, params=params), plan, "t_", copy=copied)
        assert all(c_type != "bias" for c_type, *_ in arrays)
        assert f"t_op0_bias, t_op0_multiplier, t_op0_shift, {int(params['right_only'])}," in code
        if copied:
            copy = {name: values for _, name, values in arrays}["t_op0_pairs"]
            copy = copy[0] if isinstance(copy, tuple) else copy
            assert np.abs(copy).max() <= 127


def test_dense_layers_with_int8_weights_and_several_blocks_get_a_scratch_for_their_unpacked_input():
    """kernels.c le_fully_connected unpacks a dense layer's input once (two words per 4 bytes) where its int8
    weights would have it unpacked again for each block of 4 filters: not with the int16 copy (its steps unpack
    once already), not for one block; the scratch lives only while its layer runs."""
    from lenet_deploy.convert.engine.emit import unpacked_bytes

    def dense(index, depth, out_n):
        return Layer(index, "fully_connected", index, index + 1, dict(depth=depth, out_n=out_n))

    layers = [dense(0, 294, 120), dense(1, 120, 84), dense(2, 84, 4), dense(3, 7, 10)]
    assert unpacked_bytes(layers, copied={1}) == {0: 2 * 292, 3: 2 * 4}
    plan = plan_memory(layers, {1: 120, 2: 84, 3: 4, 4: 10}, model_input=0, model_output=4, unpacked={0: 584, 3: 8})
    first, last = plan.unpacked[0], plan.unpacked[3]
    output = plan.location[1][1]  # the first layer's output lives with its scratch: apart
    assert first + 584 <= output or output + 120 <= first
    assert set(plan.unpacked) == {0, 3} and plan.arena_bytes >= max(first + 584, last + 8)
