"""The engine's kernels op by op, in TFLite Micro's style: single-op models over shapes chosen to walk every code
path (channel counts with each remainder mod 4 and mod 16, output-channel blocks of 4, 2 and 1, strides 1 and 2, SAME
and VALID, 1x1 to 7x7 kernels, no activation, RELU and RELU6, weights either side of the size where the generator adds
the int16 copy), each bit-exact with TFLite Micro. On this host (portable C) in the fast lane; on the Cortex-M0
(portable C), M4 (DSP) and M55 (Helium) boards in QEMU in the slow lane."""

import re
import shutil
import subprocess

import numpy as np
import pytest

from lenet_deploy.boards import BOARDS, missing_tools
from lenet_deploy.convert.engine.emit import PAIRS_SMALL_BYTES, build_engine
from lenet_deploy.convert.engine.host import HostEngine
from tests.single_op import (channel_constant_model, conv_model, depthwise_model, fully_connected_model, pool_model,
                             run_tflm)

# (height, width, in_c, out_c, kernel, stride, padding, activation): every in_c remainder mod 4 and mod 16 (1, 2, 3,
# 4, 5, 16, 17, 19, 31), out_c blocks (1, 2, 3, 4, 5, 7, 8; 6 and 10: SIMD32's block of 6 with the copy), kernels 1
# to 7, both strides and paddings, 3 activations.
CONVS = [
    (12, 12, 1, 4, 5, 1, "same", "none"), (12, 12, 1, 6, 3, 1, "same", "relu"), (11, 11, 1, 3, 5, 2, "valid", "relu6"),
    (9, 9, 2, 5, 3, 1, "valid", "none"), (9, 10, 3, 7, 3, 2, "same", "relu"), (8, 8, 4, 8, 1, 1, "valid", "relu6"),
    (8, 8, 5, 2, 7, 1, "same", "none"), (7, 9, 16, 4, 3, 1, "same", "relu"), (7, 7, 17, 1, 3, 2, "valid", "none"),
    (6, 6, 19, 5, 2, 1, "valid", "relu6"), (5, 5, 31, 3, 1, 2, "same", "relu"), (10, 10, 8, 16, 5, 1, "same", "none"),
    (14, 14, 6, 12, 5, 1, "valid", "relu"), (8, 8, 3, 1, 7, 2, "same", "relu6"), (13, 13, 1, 2, 7, 1, "valid", "none"),
    (10, 9, 1, 5, 3, 1, "valid", "relu"), (9, 11, 1, 3, 4, 1, "same", "relu6"), (10, 10, 6, 6, 5, 1, "same", "none"),
    (12, 12, 1, 10, 5, 1, "same", "relu"), (14, 14, 16, 32, 5, 1, "same", "relu"),
    (4, 4, 37, 19, 5, 1, "same", "relu"),
]
# (inputs, outputs, activation): input remainders mod 4 and 16, output blocks, weights below and above the threshold
# (PAIRS_SMALL_BYTES) where the SIMD32 path adds its int16 copy to a single layer.
DENSES = [(1, 1, "none"), (3, 2, "relu"), (4, 3, "relu6"), (5, 4, "none"), (16, 5, "relu"), (17, 7, "none"),
          (31, 8, "relu6"), (64, 10, "none"), (120, 84, "relu"), (196, 120, "none"), (33, 62, "relu"),
          (300, 7, "relu"), (303, 9, "none")]
# (height, width, in_c, depth multiplier, kernel, stride, padding, activation)
DEPTHWISES = [(12, 12, 4, 1, 3, 1, "same", "relu"), (11, 11, 3, 2, 3, 2, "valid", "none"),
              (9, 9, 8, 1, 5, 1, "same", "relu6"), (8, 10, 5, 2, 5, 2, "same", "none"),
              (7, 7, 16, 1, 1, 1, "valid", "relu"), (10, 10, 1, 2, 7, 1, "same", "none")]
# (op, height, width, channels, activation, constant first)
CHANNEL_CONSTANTS = [("ADD", 6, 6, 4, "none", False), ("ADD", 5, 7, 6, "relu", True), ("ADD", 4, 4, 16, "relu6", False),
                     ("MUL", 6, 6, 4, "none", False), ("MUL", 5, 7, 6, "relu", True), ("MUL", 3, 3, 17, "relu6", False),
                     ("ADD", 3, 3, 20, "none", True)]
# (op, height, width, channels, size, stride, padding, activation[, scale: the last two's RELU6 clamps at 93])
POOLS = [("MAX_POOL_2D", 8, 8, 4, 2, 2, "valid", "none"), ("AVERAGE_POOL_2D", 8, 8, 4, 2, 2, "valid", "none"),
         ("MAX_POOL_2D", 9, 7, 3, 3, 2, "same", "relu"), ("AVERAGE_POOL_2D", 9, 7, 3, 3, 2, "same", "relu6"),
         ("AVERAGE_POOL_2D", 7, 7, 5, 3, 1, "same", "none"), ("MAX_POOL_2D", 6, 6, 17, 2, 1, "valid", "relu6"),
         ("MAX_POOL_2D", 6, 8, 8, 2, 2, "valid", "relu6", 0.06),
         ("AVERAGE_POOL_2D", 6, 6, 6, 2, 2, "valid", "relu6", 0.06)]


def _conv(case, seed):
    height, width, in_c, out_c, kernel, stride, padding, activation = case
    return conv_model(np.random.default_rng(seed), height, width, in_c, out_c, kernel, stride, padding, activation)


def _dense(case, seed):
    inputs, outputs, activation = case
    return fully_connected_model(np.random.default_rng(seed), inputs, outputs, activation)


def _pool(case, _seed):
    return pool_model(*case)


def _depthwise(case, seed):
    return depthwise_model(np.random.default_rng(seed), *case)


def _channel_constant(case, seed):
    op, height, width, channels, activation, constant_first = case
    return channel_constant_model(np.random.default_rng(seed), op, height, width, channels, activation, constant_first)


MODELS = ([pytest.param(_conv, case, id="conv-{}x{}x{}-o{}-k{}-s{}-{}-{}".format(*case)) for case in CONVS]
          + [pytest.param(_dense, case, id="fc-{}-{}-{}".format(*case)) for case in DENSES]
          + [pytest.param(_pool, case, id="{}-{}x{}x{}-k{}-s{}-{}-{}".format(*case)) for case in POOLS]
          + [pytest.param(_depthwise, case, id="dw-{}x{}x{}-m{}-k{}-s{}-{}-{}".format(*case)) for case in DEPTHWISES]
          + [pytest.param(_channel_constant, case, id="{}-{}x{}x{}-{}-{}".format(*case))
             for case in CHANNEL_CONSTANTS])


def _rows(model: bytes, n: int, seed: int) -> np.ndarray:
    from lenet_deploy.convert.flatbuffer import read_graph

    size = int(np.prod(read_graph(model).tensors[0].shape))
    generator = np.random.default_rng(seed)
    rows = generator.integers(-128, 128, (n, size)).astype(np.int8)
    rows[0], rows[1] = -128, 127  # the extremes saturate every accumulator
    background = generator.random((n // 2 - 2, size)) < 0.8  # like an image's: the M0 skips these inputs
    rows[2:n // 2][background] = -128
    return rows


def _engine(model: bytes, tmp_path):
    engine = build_engine(model, "lenet", "single-op model", "model_engine.h")
    (tmp_path / "model_engine.h").write_text(engine.header)
    (tmp_path / "model_engine.c").write_text(engine.source)
    return tmp_path / "model_engine.c", engine


def _has_strip(param) -> bool:
    make, case = param.values
    return "LE_STRIP(arena" in build_engine(make(case, 0)).source


STRIP_CASES = [p for p in MODELS if p.id.startswith("conv-") and _has_strip(p)]
# The Cortex-M0's portable path on this host (-DLENET_BLOCKED=1 -DLENET_SRDHM_32: its blocked filters, the int32
# copy of small convolutions and 32-bit requantization, the output guess): half the conv cases with the copy
# (blocks of 6 and 1 to 5 filters, short and long runs), the strip cases with the strip too (its order of the
# copy), big layers and dense ones (blocked int8 filters, no copy: blocks of 4, 2 and 1), the ops that requantize
# without filters, and a pool (which does not requantize: the 32-bit helper then goes unused).
WORDS_CASES = [p for p in MODELS if p.id.startswith("conv-") and "LE_WORDS(lenet_op" in build_engine(
    p.values[0](p.values[1], 0)).source]
M0 = ("-DLENET_BLOCKED=1", "-DLENET_SRDHM_32")
M0_CASES = WORDS_CASES[::2] + [p for p in MODELS if p.id in (
    "fc-120-84-relu", "fc-300-7-relu", "fc-3-2-relu", "fc-4-3-relu6", "fc-5-4-none", "fc-16-5-relu",
    "conv-10x10x8-o16-k5-s1-same-none", "dw-11x11x3-m2-k3-s2-valid-none",
    "ADD-3x3x20-none-True", "MUL-3x3x17-relu6-False", "MAX_POOL_2D-8x8x4-k2-s2-valid-none")]
HOST_RUNS = ([pytest.param(*p.values, (), id=p.id) for p in MODELS]
             + [pytest.param(*p.values, ("-DLENET_STRIP=1",), id=f"{p.id}-strip") for p in STRIP_CASES]
             + [pytest.param(*p.values, M0, id=f"{p.id}-m0") for p in M0_CASES]
             + [pytest.param(*p.values, (*M0, "-DLENET_STRIP=1"), id=f"{p.id}-m0-strip") for p in STRIP_CASES])


@pytest.mark.parametrize("make, case, flags", HOST_RUNS)
def test_each_kernel_on_this_host_is_bit_exact_with_tflm(make, case, flags, tmp_path):
    """Every case in portable C; the convolutions with a column strip also with it forced on (-DLENET_STRIP=1:
    the SIMD cores' path, its filter order and its copy)."""
    model = make(case, 0)
    rows = _rows(model, 40, 1)
    reference = run_tflm(model, rows)
    engine_c, _ = _engine(model, tmp_path)
    np.testing.assert_array_equal(HostEngine(engine_c, extra_flags=flags).run(rows, reference.shape[1]), reference)


SRDHM_CHECK = r"""
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "kernels.c"
int main(void) {
  const int32_t edges[] = {0, 1, -1, 2, 32767, 32768, -32768, -32769, 65535, 65536, -65536, -65537, 1 << 30,
    -(1 << 30), (1 << 30) - 1, INT32_MAX, INT32_MIN, INT32_MIN + 1, 0x7fff8000, (int32_t)0x80008000u, 0x7fff0000};
  const int n = sizeof edges / sizeof *edges;
  uint64_t state = 88172645463325252u;
  long differ = 0, k;
  int i, j;
  for (i = 0; i < n; ++i)
    for (j = 0; j < n; ++j)
      if (edges[j] >= 0) differ += le_srdhm_multiplier(edges[i], edges[j]) != le_srdhm(edges[i], edges[j]);
  for (k = 0; k < 20000000; ++k) { /* xorshift64: both operands over their whole ranges, and shifted short */
    int32_t a, b;
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    a = (int32_t)(uint32_t)state, b = (int32_t)((uint32_t)(state >> 32) >> 1);
    if (k & 1) a >>= (state >> 58) % 31;
    if (k & 2) b >>= (state >> 53) % 31;
    differ += le_srdhm_multiplier(a, b) != le_srdhm(a, b);
  }
  printf("%ld\n", differ);
  return 0;
}
"""


def test_the_cortex_m0s_32_bit_doubling_high_multiply_equals_the_64_bit_one(tmp_path):
    """le_srdhm_multiplier (-DLENET_SRDHM_32, the ARMv6-M default) against le_srdhm's int64 product: every pair of
    edge values and 20 million random ones (multipliers are never negative), under UBSan (no signed overflow)."""
    import subprocess
    from importlib import resources

    from lenet_deploy.convert.engine.host import host_compiler

    (tmp_path / "kernels.c").write_text(
        resources.files("lenet_deploy.convert.engine").joinpath("kernels.c").read_text())
    (tmp_path / "check.c").write_text(SRDHM_CHECK)
    subprocess.run([host_compiler(), "-std=c99", "-O2", "-Wall", "-Werror", "-DLENET_SRDHM_32",
                    "-fsanitize=undefined", "-fno-sanitize-recover", "check.c", "-o", "check"],
                   cwd=tmp_path, check=True)
    run = subprocess.run(["./check"], cwd=tmp_path, capture_output=True, text=True)
    assert (run.returncode, run.stdout, run.stderr) == (0, "0\n", "")


def test_the_conv_cases_walk_the_column_strip_with_one_and_several_channels_and_both_strides():
    assert {p.id for p in STRIP_CASES} == {"conv-12x12x1-o4-k5-s1-same-none", "conv-12x12x1-o6-k3-s1-same-relu",
                                           "conv-11x11x1-o3-k5-s2-valid-relu6", "conv-9x9x2-o5-k3-s1-valid-none",
                                           "conv-9x10x3-o7-k3-s2-same-relu", "conv-13x13x1-o2-k7-s1-valid-none",
                                           "conv-10x9x1-o5-k3-s1-valid-relu", "conv-9x11x1-o3-k4-s1-same-relu6",
                                           "conv-12x12x1-o10-k5-s1-same-relu"}


def test_the_add_and_mul_cases_walk_the_table_and_the_computed_path():
    """Up to 16 channels (TABLE_MAX_BYTES) a per-channel ADD or MUL is a table; above, it is computed."""
    kernels = {}
    for param in MODELS:
        if param.id.startswith(("ADD", "MUL")):
            source = build_engine(_channel_constant(param.values[1], 0)).source
            kernels[param.id] = [k for k in ("le_channel_lookup(", "le_add_channels(", "le_mul_channels(")
                                 if f"  {k}" in source]
    assert kernels["ADD-4x4x16-relu6-False"] == kernels["MUL-6x6x4-none-False"] == ["le_channel_lookup("]
    assert kernels["ADD-3x3x20-none-True"] == ["le_add_channels("]
    assert kernels["MUL-3x3x17-relu6-False"] == ["le_mul_channels("]


def test_the_dense_cases_cross_the_int16_copy_threshold():
    weights = [inputs * outputs for inputs, outputs, _ in DENSES]
    assert min(weights) <= PAIRS_SMALL_BYTES < max(weights)


def test_the_int32_copy_is_made_for_small_convolutions_only_and_walks_every_block_size():
    """Small convolutions get the copy (both orders where there is a strip), big ones and dense layers keep their
    int8 path; the cases with a copy, on this host and on the micro:bit, end in blocks of every size from 1 to 6,
    and on the micro:bit take each way through le_dot_words' assembly (rows unrolled, a loop of rows, rows of more
    than 32 inputs, C for longer rows)."""
    assert {p.id for p in WORDS_CASES} >= {p.id for p in STRIP_CASES}
    assert not [p for p in MODELS if p.id.startswith("fc-") and "LE_WORDS(lenet_op" in build_engine(
        p.values[0](p.values[1], 0)).source]
    assert "conv-14x14x16-o32-k5-s1-same-relu" not in {p.id for p in WORDS_CASES}
    assert {p.values[1][3] % 6 for p in M0_CASES if p in WORDS_CASES} == {0, 1, 2, 3, 4, 5}
    on_board = [p.values[1] for p in BOARD_CASES if p in WORDS_CASES]
    assert {c[3] % 6 for c in on_board} == {0, 1, 2, 3, 4, 5}
    runs = [(c[4], c[4] * c[2]) for c in on_board]  # (rows, inputs a row)
    assert [r for r in runs if r[0] * r[1] <= 64] and [r for r in runs if r[0] * r[1] > 64 and r[1] <= 40]
    assert [r for r in runs if 32 < r[1] <= 40] and [r for r in runs if r[0] * r[1] > 64 and r[1] > 40]
    source = build_engine(_conv(CONVS[0], 0)).source
    # the flags, 4 biases, 100 weights, each filter's 3 guess constants (as in its guess, after the layer's 5);
    # in the strip's order and by rows
    assert source.count("static const int32_t lenet_op0_words[117]") == 2
    words, guess = (np.array(re.search(rf"lenet_op0_{kind}\[\d+\] = \{{([^}}]*)\}}", source).group(1).split(","),
                             dtype=np.int64) for kind in ("words", "guess"))
    assert words[0] & 4 and list(words[-12:]) == list(guess[5:])
    flipped = {p.id for p in WORDS_CASES
               if "LE_WORDS_FLIP, arena" in build_engine(p.values[0](p.values[1], 0)).source}
    for cases in (M0_CASES, BOARD_CASES):  # padded inputs flipped (x + 128 for LDRB alone), the others not
        assert {p.id in flipped for p in cases if p in WORDS_CASES} == {True, False}
    assert all(p.values[1][6] == "same" for p in WORDS_CASES if p.id in flipped)


def test_the_dense_cases_walk_every_block_of_the_cortex_m0s_bytes():
    """Dense layers on ARMv6-M (le_dot_bytes): blocks of 6 and 1 to 5 filters, on this host and on the micro:bit;
    inputs fewer than one unrolled pass, whole passes only, passes and a tail."""
    for cases in (M0_CASES, BOARD_CASES):
        assert {p.values[1][1] % 6 for p in cases if p.id.startswith("fc-")} == {0, 1, 2, 3, 4, 5}
    depths = {p.values[1][0] for p in BOARD_CASES if p.id.startswith("fc-")}
    assert min(depths) < 5 and 120 in depths and 300 in depths  # block of 6: 5 inputs a pass


missing = missing_tools()
# The last conv case: int8 weights (no copy: over PAIRS_SMALL_BYTES, alone in its model) in blocks of 4, 2 and 1
# filters, the block of 2's second row 2 bytes off a word (SIMD32 reads it by LDRs, not LDM); the one before it is
# lenet-plus's second convolution (12.8 KB: in lenet-plus it carries the int16 copy); fc-300-7 and fc-303-9: a dense
# layer's blocks of 4, 2 and 1, reading its input unpacked on SIMD32 (int8 weights: no copy), 303 with a tail of 3;
# fc-5-4: the Cortex-M0's dense block of 4 (le_dot_bytes: the cases' outputs leave every remainder mod 6);
# the 6- and 10-filter convolutions end in SIMD32's block of 6 (rows of 30 bytes: tails of 2; a strip: a tail of 1).
BOARD_CASES = [MODELS[i] for i in (0, 2, 4, 6, 8, 9, 11, 13, 17, 18, len(CONVS) - 1)] \
    + [p for p in MODELS if p.id.startswith("fc-")][::2] \
    + [p for p in MODELS if p.id in ("fc-300-7-relu", "fc-5-4-none")] \
    + [p for p in MODELS if "POOL" in p.id] + [p for p in MODELS if p.id.startswith("dw-")][:4] \
    + [p for p in MODELS if p.id.startswith(("ADD", "MUL"))][::2]


# Half the conv and dense cases, and lenet-plus's second convolution, with the int16 copy up to 16 KB.
COPY_CASES = [p for p in MODELS if p.id.startswith(("conv-", "fc-"))][::2] + [MODELS[len(CONVS) - 2]]


@pytest.mark.slow
@pytest.mark.skipif(bool(missing), reason=f"not installed: {', '.join(missing)}")
def test_every_case_compiles_for_the_asm_cores_at_every_optimization_level(tmp_path, monkeypatch):
    """Each SIMD32 group step is one asm statement with named registers: GCC rejects it ("impossible constraints")
    where it finds too few registers left, which depended on the layer around it (lenet-plus's 16-channel
    convolution at -Os, with r4-r6 and r8 named). The Cortex-M0's window is one asm statement of every register but
    SP and PC, its length GCC's to guess (LE_M0_SIZE: else the assembler finds branches out of reach). Every case,
    each with the copy up to 16 KB, for the M4 and M0 at every level, the M7 and M33 at -O2 and -Os; -O0 runs the
    steps in C."""
    from lenet_deploy.convert.engine import emit

    monkeypatch.setattr(emit, "PAIRS_SHARE", 1.0)
    failures = []
    levels = {"mps2-an386": ("-O0", "-O1", "-O2", "-Os", "-O3"), "microbit": ("-O0", "-O1", "-O2", "-Os", "-O3"),
              "mps2-an500": ("-O2", "-Os"),
              "mps2-an505": ("-O2", "-Os")}
    for index, param in enumerate(MODELS):
        engine_c, _ = _engine(param.values[0](param.values[1], index), tmp_path)
        for board, options in levels.items():
            for level in options:
                command = ["arm-none-eabi-gcc", *BOARDS[board].flags, "-mthumb", "-std=c99", "-Wall", "-Wextra",
                           "-Werror", level, "-c", str(engine_c), "-o", str(tmp_path / "engine.o")]
                result = subprocess.run(command, capture_output=True, text=True)
                if result.returncode:
                    errors = [line for line in result.stderr.splitlines() if "error" in line] or [result.stderr]
                    failures.append(f"{param.id} {board} {level}: {errors[0].strip()}")
    assert not failures, failures


@pytest.mark.slow
@pytest.mark.skipif(bool(missing), reason=f"not installed: {', '.join(missing)}")
@pytest.mark.parametrize("board, cases, forced, share", [
    ("microbit", BOARD_CASES, "", None), ("mps2-an386", BOARD_CASES, "", None), ("mps3-an547", BOARD_CASES, "", None),
    ("mps2-an386", STRIP_CASES, "#define LENET_STRIP 0\n", None), ("mps2-an386", STRIP_CASES, "", None),
    ("mps2-an386", COPY_CASES, "", 1.0)],
    ids=["microbit", "mps2-an386", "mps3-an547", "mps2-an386-no-strip", "mps2-an386-strip", "mps2-an386-copies"])
def test_each_kernel_on_the_boards_is_bit_exact_with_tflm(board, cases, forced, share, tmp_path, monkeypatch):
    """One firmware per case, each in QEMU on the board's core (portable C, DSP, Helium), against TFLite Micro; on
    the M4 the column-strip cases all, with the strip and forced off (LENET_STRIP 0: their filters and int16 copy
    row by row), and half the conv and dense cases with the int16 copy up to 16 KB (PAIRS_SHARE 1: a one-layer
    model otherwise has it up to 2 KB only)."""
    from lenet_deploy.convert.engine import emit
    from lenet_deploy.firmware_bench.mcu.build import build_firmware
    from lenet_deploy.firmware_bench.mcu.qemu import run_firmware

    if share is not None:
        monkeypatch.setattr(emit, "PAIRS_SHARE", share)
    failures = []
    for index, param in enumerate(cases):
        make, case = param.values
        model = make(case, index)
        rows = _rows(model, 20, index)
        reference = run_tflm(model, rows)
        work = tmp_path / param.id
        work.mkdir()
        engine_c, engine = _engine(model, work)
        engine_c.write_text(forced + engine_c.read_text())
        firmware = build_firmware(engine_c, work, BOARDS[board])
        outputs = run_firmware(firmware, rows, reference.shape[1], engine.macs).outputs
        if not np.array_equal(outputs, reference):
            failures.append(f"{param.id}: {int((outputs != reference).any(axis=1).sum())} of {len(rows)} rows differ")
        shutil.rmtree(work)
    assert not failures, failures
