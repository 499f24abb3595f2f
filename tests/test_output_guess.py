"""The Cortex-M0's output guess (convert/engine/output_guess.py): exact wherever it says it is sure, over every sum a
layer can reach; kernels.c's use of it is checked against TFLM in test_kernels.py (host and micro:bit)."""

import numpy as np
import pytest

from lenet_deploy.boards import BOARDS, missing_tools
from lenet_deploy.convert.engine import fixedpoint as fp
from lenet_deploy.convert.engine import output_guess
from lenet_deploy.convert.engine.emit import build_engine
from lenet_deploy.convert.engine.host import HostEngine
from lenet_deploy.convert.engine.output_guess import layer_guess, true_outputs
from lenet_deploy.convert.engine.plan import plan_layers
from lenet_deploy.convert.flatbuffer import read_graph
from tests.single_op import conv_model, fully_connected_model, run_tflm

LAYERS = [pytest.param(conv_model, (12, 12, 1, 6, 5, 1, "same", "none"), id="conv-5x5-none"),
          pytest.param(conv_model, (10, 10, 6, 6, 5, 1, "same", "relu"), id="conv-5x5x6-relu"),
          pytest.param(conv_model, (12, 12, 1, 8, 3, 1, "same", "relu6"), id="conv-3x3-relu6"),
          pytest.param(fully_connected_model, (120, 10, "none"), id="fc-120-10")]


def _layer(make, case, seed=0):
    model = make(np.random.default_rng(seed), *case)
    return next(layer for layer in plan_layers(read_graph(model, "case")) if "filters" in layer.params)


def _wrong(p: dict, guess: list[int]) -> tuple[int, int]:
    """(sure sums whose guess differs from TFLM's output, sums not sure) over every sum each channel can reach,
    computed as kernels.c computes the guess."""
    k, a, j, low, span = guess[:5]
    filters = np.asarray(p["filters"]).reshape(len(p["bias"]), -1).astype(np.int64)
    wrong = unsure = 0
    for c in range(len(p["bias"])):
        m1, m2, r = guess[5 + 3 * c:8 + 3 * c]
        bound = int(abs(p["bias"][c]) + 128 * np.abs(filters[c]).sum())
        acc = np.arange(-bound, bound + 1, dtype=np.int64)
        x = acc * m1 + r + ((((acc >> a) * m2) >> (16 - a)) if a else 0)
        assert np.abs(x).max() < 1 << 31
        sure = ((x << (32 - k)) & 0xFFFFFFFF) >> (33 - k + j) != 0
        expected = np.clip(true_outputs(acc, p["multipliers"][c], p["shifts"][c], p["output_offset"]), low, low + span)
        wrong += int((sure & (np.clip(x >> k, 0, span) + low != expected)).sum())
        unsure += int((~sure).sum())
    return wrong, unsure


@pytest.mark.parametrize("make, case", LAYERS)
def test_the_guess_is_tflm_s_output_wherever_it_is_sure(make, case):
    p = _layer(make, case).params
    guess = layer_guess(p)
    assert guess is not None
    wrong, unsure = _wrong(p, guess)
    filters = np.asarray(p["filters"]).reshape(len(p["bias"]), -1)
    sums = sum(2 * int(abs(b) + 128 * np.abs(f.astype(np.int64)).sum()) + 1 for b, f in zip(p["bias"], filters))
    assert wrong == 0 and 0 < unsure < sums / 4


@pytest.mark.parametrize("make, case", LAYERS[:2])
def test_the_extended_table_covers_every_guess_the_layer_can_give(make, case):
    """emit.py extended_table: the kernel indexes it by the guess before its clamp (x >> k), at the pointer it is
    given (entry v + 128 for output v); every guess any sum can give lands in it on the lookup of its clamped
    output, and the layer's outputs (the unsure ones' way) on the lookup itself."""
    from lenet_deploy.convert.engine.emit import extended_table

    p = _layer(make, case).params
    guess = layer_guess(p)
    k, a, low, span = guess[0], guess[1], guess[3], guess[4]
    lookup = np.random.default_rng(2).integers(-128, 128, 256)
    first, last = output_guess.reach(p, guess)
    extended, offset = extended_table(lookup, guess, (first, last))
    seen = []
    for c, bound in enumerate(output_guess.sum_bounds(p)):
        m1, m2, r = guess[5 + 3 * c:8 + 3 * c]
        q = output_guess.scaled(np.arange(-bound, bound + 1), m1, m2, a, r) >> k
        seen.append((q.min(), q.max()))
        index = offset + 128 + low + q  # the kernel's pointer, then the guess
        assert index.min() >= 0 and index.max() < len(extended)
        assert (extended[index] == lookup[np.clip(q, 0, span) + low + 128]).all()
    assert (min(s[0] for s in seen), max(s[1] for s in seen)) == (first, last)
    v = np.arange(low, low + span + 1)
    assert (extended[offset + v + 128] == lookup[v + 128]).all()


def test_a_dense_layer_s_shared_guess_is_one_set_of_constants_sure_for_every_channel():
    """Quantized per tensor, a dense layer's channels share one scale: one triple of constants (kernels.c reads
    channel 0's for each output), exact wherever it is sure over every sum each channel can reach; a layer whose
    channels' scales differ gets none."""
    p = _layer(*LAYERS[3].values).params
    assert len(set(zip(p["multipliers"], p["shifts"]))) == 1
    guess = layer_guess(p, shared=True)
    assert guess is not None and len(guess) == 8
    wrong, unsure = _wrong(p, guess[:5] + guess[5:] * len(p["bias"]))
    assert wrong == 0 and unsure > 0
    conv = _layer(*LAYERS[0].values).params
    assert len(set(conv["multipliers"])) > 1 and layer_guess(conv, shared=True) is None


def test_the_vectorized_output_is_tflm_s_arithmetic():
    p = _layer(*LAYERS[1].values).params
    acc = np.random.default_rng(1).integers(-(1 << 20), 1 << 20, 2000)
    for c in range(len(p["bias"])):
        expected = [fp.multiply_by_quantized_multiplier(int(a), p["multipliers"][c], p["shifts"][c])
                    + p["output_offset"] for a in acc]
        np.testing.assert_array_equal(true_outputs(acc, p["multipliers"][c], p["shifts"][c], p["output_offset"]),
                                      expected)


def test_a_guess_one_off_in_its_scale_is_caught():
    """The check above can fail: the same margin with each channel's m1 one higher leaves sure sums wrong."""
    p = _layer(*LAYERS[0].values).params
    guess = layer_guess(p)
    off = list(guess)
    for c in range(len(p["bias"])):
        off[5 + 3 * c] += 1
    assert _wrong(p, off)[0] > 0


def test_a_layer_with_left_shifts_gets_no_guess():
    p = dict(_layer(*LAYERS[0].values).params, right_only=False)
    assert layer_guess(p) is None


# Convolutions whose outputs take the guess: padded (the input flipped) and not, with the int32 copy and without
# (over 2 KB of weights: int8 blocks of 4).
UNSURE_CASES = [(12, 12, 1, 6, 5, 1, "same", "none"), (11, 11, 3, 7, 3, 1, "valid", "relu"),
                (10, 10, 8, 16, 5, 1, "same", "relu6")]
M0_FLAGS = ("-DLENET_BLOCKED=1", "-DLENET_SRDHM_32")


def _one_in_four_unsure(monkeypatch):
    """Margins widened to 2^(k - 3): a quarter of all sums unsure (TFLM's arithmetic), still exact (a wider margin
    only moves sums from the guess to TFLM's arithmetic)."""
    real = output_guess.margin
    monkeypatch.setattr(output_guess, "margin", lambda *args: None if (needed := real(*args)) is None
                        else max(needed, 1 << (args[4] - 3)))


def _case(case, index, tmp_path):
    model = conv_model(np.random.default_rng(index), *case)
    p = next(layer for layer in plan_layers(read_graph(model, "case")) if "filters" in layer.params).params
    guess = layer_guess(p)
    assert guess is not None and guess[2] == guess[0] - 3  # j = k - 3: one sum in four unsure
    engine = build_engine(model, "lenet", "single-op model", "model_engine.h")
    (tmp_path / "model_engine.h").write_text(engine.header)
    (tmp_path / "model_engine.c").write_text(engine.source)
    rows = np.random.default_rng(index).integers(-128, 128, (20, int(np.prod(read_graph(model).tensors[0].shape))))
    rows = rows.astype(np.int8)
    return tmp_path / "model_engine.c", engine, rows, run_tflm(model, rows)


@pytest.mark.parametrize("index, case", list(enumerate(UNSURE_CASES)))
def test_the_unsure_sums_take_tflm_s_arithmetic_on_this_host(index, case, tmp_path, monkeypatch):
    _one_in_four_unsure(monkeypatch)
    engine_c, _, rows, reference = _case(case, index, tmp_path)
    np.testing.assert_array_equal(HostEngine(engine_c, extra_flags=M0_FLAGS).run(rows, reference.shape[1]), reference)


@pytest.mark.slow
@pytest.mark.skipif(bool(missing_tools()), reason="the Cortex-M toolchain or QEMU is not installed")
def test_the_unsure_sums_take_tflm_s_arithmetic_on_the_micro_bit(tmp_path, monkeypatch):
    """The same cases on the Cortex-M0 (the guess in assembly, its unsure branch to le_output)."""
    from lenet_deploy.firmware_bench.mcu.build import build_firmware
    from lenet_deploy.firmware_bench.mcu.qemu import run_firmware

    _one_in_four_unsure(monkeypatch)
    for index, case in enumerate(UNSURE_CASES):
        work = tmp_path / str(index)
        work.mkdir()
        engine_c, engine, rows, reference = _case(case, index, work)
        firmware = build_firmware(engine_c, work, BOARDS["microbit"])
        np.testing.assert_array_equal(run_firmware(firmware, rows, reference.shape[1], engine.macs).outputs,
                                      reference)
