"""The int8 C engine: each op against TFLite Micro's reference kernels, whole models bit-exact, errors."""

import re
import subprocess
import sys

import numpy as np
import pytest

from lenet_deploy.convert.engine import fixedpoint as fp
from lenet_deploy.convert.engine.emit import build_engine, write_engine
from lenet_deploy.convert.engine.host import HostEngine
from tests.single_op import elementwise_model, run_tflm

ALL_INT8 = np.arange(-128, 128, dtype=np.int8).reshape(1, -1)
QUANTIZATIONS = [(0.05, 3), (0.0213, -7), (0.1, 0), (1 / 128, 0), (0.37, -128), (0.003, 100)]


@pytest.mark.parametrize("scale,zero_point", QUANTIZATIONS)
def test_tanh_and_logistic_tables_equal_tflm_on_every_input(scale, zero_point):
    tanh = run_tflm(elementwise_model("TANH", 256, scale, zero_point, 1 / 128, 0), ALL_INT8)[0]
    logistic = run_tflm(elementwise_model("LOGISTIC", 256, scale, zero_point, 1 / 256, -128), ALL_INT8)[0]
    assert fp.tanh_table(scale, zero_point) == tanh.tolist()
    assert fp.logistic_table(scale, zero_point) == logistic.tolist()


def _host_engine(model: bytes, tmp_path, name="lenet") -> HostEngine:
    engine = build_engine(model, name, "single-op model", "model_engine.h")
    (tmp_path / "model_engine.h").write_text(engine.header)
    (tmp_path / "model_engine.c").write_text(engine.source)
    return HostEngine(tmp_path / "model_engine.c", name)


@pytest.mark.parametrize("scale,zero_point,beta",
                         [(0.115, -23, 1.0), (0.05, 0, 1.0), (0.4, 10, 0.5), (0.01, -128, 2.0)])
def test_softmax_equals_tflm(tmp_path, scale, zero_point, beta):
    model = elementwise_model("SOFTMAX", 10, scale, zero_point, 1 / 256, -128, beta)
    rows = np.random.default_rng(0).integers(-128, 128, (300, 10)).astype(np.int8)
    rows[0] = 127  # all equal
    rows[1] = -128
    rows[2] = [127] + [-128] * 9  # one winner, the rest below diff_min
    np.testing.assert_array_equal(_host_engine(model, tmp_path).run(rows, 10), run_tflm(model, rows))


def test_elementwise_ops_run_in_the_engine_as_tflm(tmp_path):
    for op, out_scale, out_zero in (("TANH", 1 / 128, 0), ("LOGISTIC", 1 / 256, -128)):
        model = elementwise_model(op, 256, 0.07, -5, out_scale, out_zero)
        np.testing.assert_array_equal(_host_engine(model, tmp_path).run(ALL_INT8, 256), run_tflm(model, ALL_INT8))


def _every_op_model():
    """A tiny random-weight network with every op and option the engine supports."""
    import keras

    keras.utils.set_random_seed(3)
    layers = keras.layers
    inputs = keras.Input(batch_shape=(1, 28, 28, 1))
    x = layers.Conv2D(4, 5, padding="same", activation="relu")(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(8, 3, strides=2, padding="valid", activation="relu6")(x)
    x = layers.AveragePooling2D(pool_size=2, padding="same")(x)
    x = layers.Conv2D(6, 3, padding="same", activation="tanh")(x)
    x = layers.Conv2D(5, 1, activation="sigmoid")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(12, activation="relu")(x)
    x = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, x)


@pytest.fixture(scope="module")
def every_op_tflite(subset_arrays, tmp_path_factory):
    from lenet_deploy.convert.converter import convert
    from lenet_deploy.data import to_model_input

    calibration = to_model_input(subset_arrays["x_train"][:200])
    path = tmp_path_factory.mktemp("every-op") / "every_op_int8.tflite"
    path.write_bytes(convert(_every_op_model(), "int8", "int8", calibration))
    return path


def _engine_vs_tflm(model_path, images, tmp_path):
    """(host engine outputs, TFLite Micro outputs, engine) for uint8 images [N, 28, 28]."""
    from lenet_deploy.data import to_model_input
    from lenet_deploy.firmware_bench.mcu.bench import tflm_reference

    paths, engine = write_engine(model_path, tmp_path)
    tflm = tflm_reference(model_path.read_bytes(), to_model_input(images))
    return HostEngine(paths[1]).run(tflm.inputs, tflm.outputs.shape[1]), tflm.outputs, engine


def test_every_op_model_is_bit_exact_with_tflm(every_op_tflite, subset_arrays, tmp_path):
    from lenet_deploy.convert.flatbuffer import read_graph_file

    _, graph = read_graph_file(every_op_tflite)
    assert {"CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D", "TANH", "LOGISTIC", "RESHAPE", "FULLY_CONNECTED",
            "SOFTMAX"} <= set(graph.op_names)
    activations = {getattr(op.options, "fusedActivationFunction", 0) for op in graph.ops}
    assert {1, 3} <= activations  # fused RELU and RELU6
    mine, reference, _ = _engine_vs_tflm(every_op_tflite, subset_arrays["x_test"][:300], tmp_path)
    np.testing.assert_array_equal(mine, reference)
    # its TANH and LOGISTIC ride on their convolutions' output step (emit.py fused_lookups), here and in the
    # Cortex-M0's path (its output guess then looks up too, in the table extended over every guess)
    engine_c = tmp_path / f"{every_op_tflite.stem}_engine.c"
    source = engine_c.read_text()
    for function in ("tanh", "logistic"):
        extended_or_plain = rf"LE_BLOCKED_ELSE\(lenet_op\d+_extended \+ \d+, lenet_op\d+_{function}\)"
        assert re.search(rf"le_conv2d\(.*LE_FUSED\({extended_or_plain}\)", source)
    from lenet_deploy.data import to_model_input
    from lenet_deploy.firmware_bench.mcu.bench import tflm_reference

    tflm = tflm_reference(every_op_tflite.read_bytes(), to_model_input(subset_arrays["x_test"][:100]))
    m0 = HostEngine(engine_c, extra_flags=("-DLENET_BLOCKED=1", "-DLENET_SRDHM_32"))
    np.testing.assert_array_equal(m0.run(tflm.inputs, tflm.outputs.shape[1]), tflm.outputs)


def test_a_lookup_is_fused_only_into_the_layer_it_alone_reads_in_place_unclamped():
    from lenet_deploy.convert.engine.emit import fused_lookups
    from lenet_deploy.convert.engine.memory import MemoryPlan
    from lenet_deploy.convert.engine.plan import Layer

    def conv(low=-128, high=127):
        return Layer(0, "conv2d", 0, 1, {"act_min": low, "act_max": high})

    tanh, pool = Layer(1, "lookup", 1, 2), Layer(2, "max_pool", 1, 3)
    in_place = MemoryPlan({0: ("in", 0), 1: ("arena", 0), 2: ("arena", 0), 3: ("arena", 64)}, {}, {}, {}, 128, None)
    apart = MemoryPlan({**in_place.location, 2: ("arena", 64)}, {}, {}, {}, 128, None)
    assert fused_lookups([conv(), tanh], in_place) == {0: tanh}
    assert fused_lookups([conv(), tanh], apart) == {}  # the conv's output kept apart: someone may read it
    assert fused_lookups([conv(-128, 100), tanh], in_place) == {}  # the clamp comes before the table
    assert fused_lookups([conv(), tanh, pool], in_place) == {}  # a second reader of the conv's output
    assert fused_lookups([Layer(0, "depthwise", 0, 1, {"act_min": -128, "act_max": 127}), tanh], in_place) == {}


def test_lenet_on_the_subset_is_bit_exact_with_tflm(converted_build, subset_arrays, tmp_path):
    mine, reference, engine = _engine_vs_tflm(converted_build / "lenet_int8.tflite", subset_arrays["x_test"], tmp_path)
    np.testing.assert_array_equal(mine, reference)  # all 1,000 test images of the subset
    # The arena is the peak live set: conv1's padded input, its strip (its 5 rows of 32 inputs) and its output.
    assert engine.arena_bytes == 32 * 32 + 32 * 5 + 28 * 28 * 6


def test_only_the_convolution_reading_the_image_skips_its_zero_inputs(converted_build, tmp_path):
    """The int32 copy's flags (emit.py words): both convolutions' padded inputs flipped (1), the first, which reads
    the model's input (mostly background), also skipping its zeros on the Cortex-M0 (2), both with their guess's
    constants after each block's weights (4)."""
    paths, _ = write_engine(converted_build / "lenet_int8.tflite", tmp_path)
    flags = dict(re.findall(r"lenet_op(\d+)_words\[\d+\] = \{\s*(\d+),", paths[1].read_text()))
    assert flags == {"0": "7", "3": "5"}


def test_generated_c_is_strict_c99_and_cpp(converted_build, tmp_path):
    paths, _ = write_engine(converted_build / "lenet_int8.tflite", tmp_path)
    header, source = paths
    assert "void lenet_invoke(const int8_t *input, int8_t *output);" in header.read_text()
    strict = ["-Wall", "-Wextra", "-Werror", "-pedantic"]
    subprocess.run(["gcc", "-std=c99", *strict, "-c", str(source), "-o", str(tmp_path / "e.o")], check=True)
    (tmp_path / "user.cc").write_text('#include "lenet_int8_engine.h"\nint main() { int8_t i[LENET_INPUT_SIZE] = {0}, '
                                      "o[LENET_OUTPUT_SIZE]; lenet_invoke(i, o); return 0; }\n")
    subprocess.run(["g++", "-std=c++11", *strict, f"-I{tmp_path}", str(tmp_path / "user.cc"), str(tmp_path / "e.o"),
                    "-o", str(tmp_path / "user")], check=True)
    subprocess.run([str(tmp_path / "user")], check=True)
    text = source.read_text()
    assert "static const int8_t lenet_op0_filters" in text and "static int32_t lenet_arena_words" in text
    assert "malloc" not in text and "float" not in text.split("/* ---- constants")[1]


def _convert_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "lenet_deploy.convert.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd)


def test_cli_generates_the_engine(converted_build, tmp_path):
    result = _convert_cli(converted_build / "lenet_int8.tflite", "--engine", "c", "--out", tmp_path / "out",
                          cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "lenet_invoke()" in result.stdout
    assert "per layer" in result.stdout and "CONV_2D" in result.stdout and "arena offset" in result.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["lenet_int8_engine.c", "lenet_int8_engine.h"]


@pytest.mark.parametrize("case,message", [
    ("float", "is FLOAT32 without quantization; the C engine needs int8"),
    ("unsupported", "op 0 (RELU): not supported by the C engine"),
    ("garbage", "not a TFLite flatbuffer"),
    ("missing", "no such file"),
    ("no-engine", "is already a .tflite model: add --engine c"),
])
def test_cli_errors_are_one_line_and_write_nothing(converted_build, tmp_path, case, message):
    paths = {"float": converted_build / "lenet_f32.tflite", "garbage": tmp_path / "garbage.tflite",
             "missing": tmp_path / "missing.tflite", "unsupported": tmp_path / "relu.tflite",
             "no-engine": converted_build / "lenet_int8.tflite"}
    (tmp_path / "garbage.tflite").write_bytes(b"\x00" * 64)
    (tmp_path / "relu.tflite").write_bytes(elementwise_model("RELU", 4, 0.1, 0, 0.1, 0))
    args = [paths[case], "--out", tmp_path / "out"] + ([] if case == "no-engine" else ["--engine", "c"])
    result = _convert_cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "out").exists()


def test_fixed_point_helpers_match_their_definitions():
    assert fp.rounding_divide_by_pot(5, 1) == 3 and fp.rounding_divide_by_pot(-5, 1) == -3  # halves away from 0
    assert fp.rounding_divide_by_pot(-6, 2) == -2 and fp.rounding_divide_by_pot(6, 2) == 2
    assert fp.srdhm(fp.INT32_MIN, fp.INT32_MIN) == fp.INT32_MAX
    assert fp.quantize_multiplier(0.5) == (1 << 30, 0) and fp.quantize_multiplier(1.0) == (1 << 30, 1)
    assert fp.multiply_by_quantized_multiplier(1000, 1 << 30, -1) == 250


_HELPERS_MAIN = r"""
#include <stdio.h>
int main(void) {
  long long a, b, c, d, offset, low, high;
  char kind;
  while (scanf(" %c %lld %lld %lld %lld %lld %lld %lld", &kind, &a, &b, &c, &d, &offset, &low, &high) == 8) {
    if (kind == 'd') printf("%d\n", (int)le_rdbpot((int32_t)a, (int)b));
    if (kind == 'q') printf("%d\n", (int)le_requantize((int32_t)a, (int32_t)b, (int)c));
    if (kind == 'o') printf("%d\n", (int)le_output((int32_t)a, (int32_t)b, (int)c, (int)d, (int32_t)offset,
                                                   (int32_t)low, (int32_t)high));
  }
  return 0;
}
"""


# The output steps' clamps: none (int8's), a ReLU at the offset (-128 or above it), a ReLU6, a floor above the offset
_CLAMPS = ((0, -128, 127), (-128, -128, 127), (17, -128, 127), (127, -128, 127), (-5, -5, 127), (-128, -128, -60),
           (3, 3, 80), (-20, 0, 127))


def test_the_c_fixed_point_helpers_equal_tflm_arithmetic_on_every_rounding_edge(tmp_path):
    """kernels.c's RoundingDivideByPOT, MultiplyByQuantizedMultiplier and the output step (both its general path and
    the one-add path the generator picks when every shift is right and |acc| < 2^30, under every kind of clamp),
    compiled on this host, against their definitions (fixedpoint.py, TFLite Micro's): exact halves of both signs,
    where a rounding slip shows."""
    from importlib import resources

    kernels = resources.files("lenet_deploy.convert.engine").joinpath("kernels.c").read_text()
    source = tmp_path / "helpers.c"
    source.write_text("#include <stdint.h>\n#include <string.h>\n" + kernels + _HELPERS_MAIN)
    binary = tmp_path / "helpers"
    subprocess.run(["gcc", "-O2", "-std=c99", "-w", str(source), "-o", str(binary)], check=True)
    rng = np.random.default_rng(0)
    cases, expected = [], []

    def output(acc, multiplier, shift):
        value = fp.multiply_by_quantized_multiplier(acc, multiplier, shift)
        cases.append(f"q {acc} {multiplier} {shift} 0 0 0 0")
        expected.append(value)
        for offset, low, high in _CLAMPS:
            for right_only, sums in ((1, acc), (0, acc), (2, 2 * acc)):  # 2: the sums come doubled
                cases.append(f"o {sums} {multiplier} {shift} {right_only} {offset} {low} {high}")
                expected.append(max(low, min(high, value + offset)))

    for exponent in range(1, 31):
        for k in (-3, -2, -1, 0, 1, 2, 3):  # k * 2^e + half, and one either side of it
            for delta in (-1, 0, 1):
                x = int(np.clip(k * (1 << exponent) + (1 << (exponent - 1)) + delta, fp.INT32_MIN, fp.INT32_MAX))
                cases.append(f"d {x} {exponent} 0 0 0 0 0")
                expected.append(fp.rounding_divide_by_pot(x, exponent))
    for _ in range(3000):
        output(int(rng.integers(-(1 << 29), 1 << 29)), int(rng.integers(1 << 30, (1 << 31) - 1)),
               int(rng.integers(-23, 0)))
    for shift in range(-23, 0):  # multiplier 2^30 halves an even acc exactly: put x on each half of 2^-shift
        for k in (-3, -2, -1, 0, 1, 2):
            for delta in (-1, 0, 1):
                output(2 * (k * (1 << -shift) + (1 << (-shift - 1)) + delta), 1 << 30, shift)
    for shift in (-23, -22, -1):  # the bounds: |acc| just under 2^30
        for acc in ((1 << 30) - 1, -(1 << 30) + 1):
            output(acc, (1 << 31) - 1, shift)
    for _ in range(500):  # left shifts: the general path only
        acc, multiplier = int(rng.integers(-(1 << 20), 1 << 20)), int(rng.integers(1 << 30, (1 << 31) - 1))
        cases.append(f"q {acc} {multiplier} 3 0 0 0 0")
        expected.append(fp.multiply_by_quantized_multiplier(acc, multiplier, 3))
    answers = subprocess.run([str(binary)], input="\n".join(cases), capture_output=True, text=True, check=True)
    got = [int(line) for line in answers.stdout.split()]
    mismatches = [(case, want, have) for case, want, have in zip(cases, expected, got) if want != have]
    assert len(got) == len(cases) and not mismatches, mismatches[:5]


def _separable_model():
    """Depthwise-separable blocks (MobileNet's) and batch normalizations TFLite cannot fold (after an activation)."""
    import keras

    keras.utils.set_random_seed(5)
    layers = keras.layers
    inputs = keras.Input(batch_shape=(1, 28, 28, 1))
    x = layers.Conv2D(6, 3, padding="same", activation="relu")(inputs)
    x = layers.BatchNormalization()(x)  # after the activation: MUL + ADD
    x = layers.SeparableConv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="valid", activation="relu6")(x)
    x = layers.BatchNormalization()(x)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, x)
    for layer in model.layers:  # trained-looking statistics, so that the MUL and ADD constants are not trivial
        if isinstance(layer, layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            rng = np.random.default_rng(len(gamma))
            layer.set_weights([rng.uniform(0.5, 2, gamma.shape), rng.uniform(-1, 1, beta.shape),
                               rng.uniform(-0.5, 0.5, mean.shape), rng.uniform(0.5, 2, variance.shape)])
    return model


@pytest.mark.slow  # TensorFlow's converter: 15 s
def test_separable_blocks_and_unfolded_batch_norms_are_bit_exact_with_tflm(subset_arrays, tmp_path):
    from lenet_deploy.convert.converter import convert
    from lenet_deploy.convert.flatbuffer import read_graph_file
    from lenet_deploy.data import to_model_input

    path = tmp_path / "separable_int8.tflite"
    path.write_bytes(convert(_separable_model(), "int8", "int8", to_model_input(subset_arrays["x_train"][:200])))
    _, graph = read_graph_file(path)
    assert {"DEPTHWISE_CONV_2D", "MUL", "ADD"} <= set(graph.op_names), graph.op_names
    mine, reference, engine = _engine_vs_tflm(path, subset_arrays["x_test"][:200], tmp_path)
    np.testing.assert_array_equal(mine, reference)
    assert len({row.tobytes() for row in reference}) > 100  # the outputs follow the images (an untrained model)
    depthwise = [layer for layer in engine.layers if layer.name == "DEPTHWISE_CONV_2D"]
    assert depthwise and all(layer.macs > 0 for layer in depthwise)  # per-layer costs in the profile
