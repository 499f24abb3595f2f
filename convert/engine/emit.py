"""Write the engine: `<stem>_engine.h` (API + macros) and `<stem>_engine.c` (kernels, const weights, one arena).

The .c holds everything (no other source to add to a firmware project); each op becomes one call of
an always-inline kernel with constant arguments, so the compiler specialises every layer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from lenet_deploy.artifacts import staged_update, write_text_atomic
from lenet_deploy.convert.c_array import c_comment, check_c_identifier
from lenet_deploy.convert.engine.memory import MemoryPlan, plan_memory
from lenet_deploy.convert.engine.output_guess import layer_guess, reach
from lenet_deploy.convert.engine.plan import Layer, plan_layers
from lenet_deploy.convert.flatbuffer import Graph, read_graph, read_graph_file
from lenet_deploy.errors import LenetError

VALUES_PER_LINE = 16


@dataclass(frozen=True)
class LayerCost:
    """What one op costs before it runs anywhere: the per-layer table of `lenet-convert --engine c`."""

    op: int  # index in the .tflite graph (what LE_TRACE and the MCU profile report)
    name: str  # TFLite op name
    output_shape: list[int]
    macs: int
    constant_bytes: int  # its weights, biases, multipliers, shifts, tables
    activation_bytes: int  # its output tensor
    arena_offset: int | None  # where the output lives in the arena (None: the caller's input/output buffer)


@dataclass(frozen=True)
class Engine:
    header: str
    source: str
    arena_bytes: int
    weight_bytes: int  # int8 weights + int32 biases + requantization constants + tables, as emitted
    macs: int
    ops: list[str]
    layers: list[LayerCost]


def _array(c_type: str, name: str, values, aligned: str = "") -> str:
    if c_type == "bias":  # doubled on SIMD32 cores (`doubled`), a dense layer's folded on ARMv6-M (`dense_bias`)
        plain, twice, blocked = values
        text = f"#ifdef LE_DSP\n{_array('int32_t', name, twice)}" if twice is not None else ""
        if blocked is not None:
            text += f"{'#elif' if text else '#if'} LE_BLOCKED\n{_array('int32_t', name, blocked)}"
        return f"{text}#else\n{_array('int32_t', name, plain)}#endif\n"
    if c_type == "filters":  # int8 filters, blocked on ARMv6-M and SIMD32 (`block_order`; SIMD32 loads words by LDM)
        by_element, by_group, plain = values
        word_aligned = " __attribute__((aligned(4)))"  # LDM reads them
        return (f"#if LE_BLOCKED\n{_array('int8_t', name, by_element)}#elif defined(LE_DSP)\n"
                f"{_array('int8_t', name, by_group, word_aligned)}#else\n{_array('int8_t', name, plain)}#endif\n")
    values = [int(v) for v in np.asarray(values).reshape(-1)]
    lines = ",\n".join("  " + ", ".join(str(v) for v in values[i:i + VALUES_PER_LINE])
                       for i in range(0, len(values), VALUES_PER_LINE))
    if c_type == "int16_t":  # the SIMD32 path's weight copy: in flash only where that path reads it
        return (f"#ifdef LE_DSP\nstatic const int16_t {name}[{len(values)}] __attribute__((aligned(8))) = "
                f"{{\n{lines}\n}};\n#endif\n")
    if c_type in ("words", "guess"):  # ARMv6-M's int32 weight copy and output guess: likewise
        return f"#if LE_BLOCKED\nstatic const int32_t {name}[{len(values)}] = {{\n{lines}\n}};\n#endif\n"
    if c_type == "extended":  # ARMv6-M's fused lookup indexed by the unclamped guess (`extended_table`)
        return f"#if LE_BLOCKED\nstatic const int8_t {name}[{len(values)}] = {{\n{lines}\n}};\n#endif\n"
    if c_type == "unblocked":  # that lookup's own table: on the other cores
        return f"#if !LE_BLOCKED\nstatic const int8_t {name}[{len(values)}] = {{\n{lines}\n}};\n#endif\n"
    return f"static const {c_type} {name}[{len(values)}]{aligned} = {{\n{lines}\n}};\n"


def _constant(c_type: str, name: str, values) -> str:
    """One constant array. A strip convolution's filters and their copies ("strip_" types, values: the strip's
    order and row by row) in both orders: the strip's where the kernel uses the strip (kernels.c LE_STRIP_PAYS)."""
    if not c_type.startswith("strip_"):
        return _array(c_type, name, values)
    in_strip, by_rows = values
    return (f"#if LE_STRIP_PAYS\n{_array(c_type[6:], name, in_strip)}#else\n{_array(c_type[6:], name, by_rows)}"
            "#endif\n")


_C_BYTES = {"int8_t": 1, "int32_t": 4, "filters": 1, "bias": 4, "unblocked": 1}
# The copies of small weights in flash only on the cores whose path reads them: int16 pairs (SIMD32), int32 words
# and the output guess (ARMv6-M).
CORE_COPIES = ("int16_t", "strip_int16_t", "words", "strip_words", "guess", "extended")


def _filter_arrays(p: dict, name: str) -> list[tuple[str, str, object]]:
    """Every filtering layer's constants: filters, bias, and the per-channel requantization."""
    return [("int8_t", f"{name}_filters", p["filters"]), ("int32_t", f"{name}_bias", p["bias"]),
            ("int32_t", f"{name}_multiplier", p["multipliers"]), ("int8_t", f"{name}_shift", p["shifts"])]


def _requantization_args(p: dict, name: str, arrays: list) -> str:
    """bias, multiplier, shift, right_only: 2 on SIMD32 cores where the layer's sums come doubled (`doubled`)."""
    twice = any(c_type == "bias" and values[1] is not None for c_type, _, values in arrays)
    return f"{name}_bias, {name}_multiplier, {name}_shift, {'LE_DSP_ELSE(2, 1)' if twice else int(p['right_only'])}"


def _window_args(p: dict, name: str, arrays: list) -> str:
    """The arguments CONV_2D and DEPTHWISE_CONV_2D share after their filters: bias, requantization, the window,
    the output and its activation range."""
    return (f"{_requantization_args(p, name, arrays)}, {p['k_h']}, {p['k_w']}, "
            f"{p['stride_h']}, {p['stride_w']}, {p['out_h']}, {p['out_w']}, {p['out_c']}, {p['output_offset']}, "
            f"{p['act_min']}, {p['act_max']}")


def doubled(p: dict, copy: bool) -> bool:
    """Whether a layer's int16 copy and a SIMD32 copy of its bias are doubled: where it has the copy and its output
    step takes the one-add path (`right_only`: |acc| < 2^30, so 2 * acc fits), whose SMMULR wants 2 * acc."""
    return copy and bool(p["right_only"])


def _weight_arrays(p: dict, name: str, run: int, copy: bool,
                   convolution: bool = False) -> list[tuple[str, str, object]]:
    """A conv or dense layer's constants (`_filter_arrays`, each filter as runs of `run` bytes) and the copies of
    its filters for the SIMD32 (`pairs`, if `copy`: see `copied_layers`) and ARMv6-M (`words`, a small
    convolution's: a dense layer reads each weight once, so four times its bytes buy it little) paths.
    A convolution with a column strip has them all also in the strip's order (OWHI: each window one run of
    k_h * k_w * in_c bytes), chosen where the C is compiled (`_constant`). An ARMv6-M layer also has its output
    guess where it has one (output_guess.py): a convolution's 12 bytes a channel, a dense layer's (one output a
    channel, one scale for all: quantized per tensor) 12 bytes in all, shared."""
    twice = doubled(p, copy)
    guess = layer_guess(p, shared=not convolution)

    def layouts(filters, run: int) -> dict[str, object]:
        """C type -> values of each array these filters give (None: no such copy)."""
        copied = pairs(np.asarray(filters, dtype=np.int16) * (2 if twice else 1), run) if copy else None
        by_element = block_order(filters, run) if convolution else dense_bytes(filters)
        return {"filters": (by_element, block_order(filters, run, group=4), filters),
                "int16_t": copied,
                "words": words(filters, p["bias"], flips(p), skips_zeros(p), guess) if convolution else None}

    filters = np.asarray(p["filters"])
    arrays = layouts(filters, run)
    if p.get("strip_bytes"):
        columns = filters.transpose(0, 2, 1, 3)
        in_strip = layouts(columns, columns[0].size)
        arrays = {f"strip_{c_type}": (in_strip[c_type], values) for c_type, values in arrays.items()
                  if values is not None}
    named = [(c_type, f"{name}_{_ARRAY_NAMES[c_type.removeprefix('strip_')]}", values)
             for c_type, values in arrays.items() if values is not None]
    constants = _filter_arrays(p, name)[1:]
    if twice or not convolution:
        constants[0] = ("bias", f"{name}_bias", (p["bias"], 2 * np.asarray(p["bias"], dtype=np.int64) if twice
                                                 else None, None if convolution else dense_bias(filters, p["bias"])))
    if guess is not None:
        named.append(("guess", f"{name}_guess", guess))
    return named[:1] + constants + named[1:]  # the filters in the place of their int8 array


_ARRAY_NAMES = {"filters": "filters", "int16_t": "pairs", "words": "words", "guess": "guess"}


def _copy_args(arrays: list, name: str, kinds: tuple[str, ...] = ("pairs", "words", "guess")) -> str:
    """The copy arguments of le_conv2d (pairs, words, guess) or le_fully_connected (pairs, guess): each copy the
    layer has, else 0."""
    names = {array[1] for array in arrays}
    return ", ".join(f"LE_{kind.upper()}({name}_{kind})" if f"{name}_{kind}" in names else "0" for kind in kinds)


def _pointer(plan: MemoryPlan, tensor: int) -> str:
    where, offset = plan.location[tensor]
    return {"in": "input", "out": "output"}.get(where, f"arena + {offset}")


def flips(p: dict) -> bool:
    """Whether a convolution's padded input is flipped on ARMv6-M (each byte x + 128: le_dot_words then reads it by
    LDRB alone, no SXTB): where it has the int32 copy and a padding to write it."""
    return bool(p.get("needs_pad")) and has_words(p["filters"])


def _padded(layer: Layer, plan: MemoryPlan, src: str) -> tuple[str, str]:
    """(the C that pads a convolution's input into its scratch, the pointer the convolution then reads)."""
    p = layer.params
    if not p["needs_pad"]:
        return "", src
    scratch = f"arena + {plan.scratch[layer.index]}"
    flip = "LE_WORDS_FLIP" if layer.kind == "conv2d" and flips(p) else "0"
    return (f"  le_pad({src}, {p['in_h']}, {p['in_w']}, {p['in_c']}, {p['pad_t']}, {p['pad_l']}, {p['padded_h']}, "
            f"{p['padded_w']}, {p['pad_value']}, {flip}, {scratch});\n", scratch)


def _unpacked(layer: Layer, plan: MemoryPlan) -> str:
    """A dense layer's scratch for its unpacked input (`unpacked_bytes`), or 0."""
    return f"LE_UNPACKED(arena + {plan.unpacked[layer.index]})" if layer.index in plan.unpacked else "0"


def unpacked_bytes(layers: list[Layer], copied: set[int]) -> dict[int, int]:
    """Op index -> the scratch bytes of each dense layer that reads its input unpacked on SIMD32 cores (kernels.c
    le_fully_connected): int8 weights (no int16 copy) and more than one block of 4 filters to share it."""
    return {layer.index: 2 * (layer.params["depth"] // 4 * 4) for layer in layers
            if layer.kind == "fully_connected" and layer.index not in copied and layer.params["out_n"] > 4
            and layer.params["depth"] >= 4}


def _layer_code(layer: Layer, plan: MemoryPlan, prefix: str, copy: bool,
                lookup: Layer | None = None) -> tuple[list[tuple[str, str, object]], str]:
    """(constant arrays, C statements) for one layer; `copy`: it carries the SIMD32 int16 copy of its filters;
    `lookup`: the TANH or LOGISTIC fused into its output step (`fused_lookups`), whose table it reads."""
    p, src, dst = layer.params, _pointer(plan, layer.input), _pointer(plan, layer.output)
    name = f"{prefix}op{layer.index}"
    own = f"{prefix}op{lookup.index}_{lookup.params['function']}" if lookup else None  # the lookup's own table
    table = f"LE_FUSED({own})" if lookup else "0"
    if layer.kind == "conv2d":
        arrays = _weight_arrays(p, name, p["k_w"] * p["in_c"], copy, True)
        guess = next((values for c_type, _, values in arrays if c_type == "guess"), None)
        if lookup and guess is not None and has_words(p["filters"]):  # le_block_m0 reads it unclamped
            extended, offset = extended_table(lookup.params["table"], guess, reach(p, guess))
            arrays.append(("extended", f"{name}_extended", extended))
            table = f"LE_FUSED(LE_BLOCKED_ELSE({name}_extended + {offset}, {own}))"
        strip = f"LE_STRIP(arena + {plan.strip[layer.index]})" if p["strip_bytes"] else "0"
        code, src = _padded(layer, plan, src)
        code += (f"  le_conv2d({src}, 0, {p['padded_w']}, {p['in_c']}, {name}_filters, {_copy_args(arrays, name)}, "
                 f"{_window_args(p, name, arrays)}, {table}, {strip}, {dst});\n")
        return arrays, code
    if layer.kind == "depthwise":
        code, src = _padded(layer, plan, src)
        arrays = _filter_arrays(p, name)
        return arrays, code + (
            f"  le_depthwise({src}, {p['padded_w']}, {p['in_c']}, {p['depth_multiplier']}, {name}_filters, "
            f"{_window_args(p, name, arrays)}, {dst});\n")
    if layer.kind == "add":
        return ([("int32_t", f"{name}_constant", p["constant"])],
                f"  le_add_channels({src}, {p['size']}, {p['channels']}, {p['input_offset']}, "
                f"{p['input_multiplier']}, {p['input_shift']}, {name}_constant, {p['output_multiplier']}, "
                f"{p['output_shift']}, {p['output_offset']}, {p['act_min']}, {p['act_max']}, {dst});\n")
    if layer.kind == "mul":
        return ([("int32_t", f"{name}_constant", p["constant"])],
                f"  le_mul_channels({src}, {p['size']}, {p['channels']}, {p['input_offset']}, {name}_constant, "
                f"{p['multiplier']}, {p['shift']}, {p['output_offset']}, {p['act_min']}, {p['act_max']}, {dst});\n")
    if layer.kind == "channel_table":
        return ([("int8_t", f"{name}_table", p["table"])],
                f"  le_channel_lookup({src}, {p['size']}, {p['channels']}, {name}_table, {dst});\n")
    if layer.kind == "fully_connected":
        arrays = _weight_arrays(p, name, p["depth"], copy)
        flipped = (f"#if LE_BLOCKED\n  int32_t flipped[{(p['depth'] + 3) // 4}]; /* its input flipped (x + 128) */\n"
                   "#endif\n")
        return arrays, flipped + (f"  le_fully_connected({src}, {p['depth']}, {name}_filters, "
                        f"{_copy_args(arrays, name, ('pairs', 'guess'))}, "
                        f"{_requantization_args(p, name, arrays)}, {p['out_n']}, "
                        f"{p['output_offset']}, {p['act_min']}, {p['act_max']}, {table}, "
                        f"LE_BLOCKED_ELSE(flipped, {_unpacked(layer, plan)}), "
                        f"{dst});\n")
    if layer.kind in ("avg_pool", "max_pool"):
        return [], (f"  le_pool({int(layer.kind == 'avg_pool')}, {src}, {p['in_h']}, {p['in_w']}, {p['channels']}, "
                    f"{p['f_h']}, {p['f_w']}, {p['stride_h']}, {p['stride_w']}, {p['pad_t']}, {p['pad_l']}, "
                    f"{p['out_h']}, {p['out_w']}, {p['act_min']}, {p['act_max']}, {dst});\n")
    if layer.kind == "lookup":
        return ([("int8_t", f"{name}_{p['function']}", p["table"])],
                f"  le_lookup({src}, {p['size']}, {name}_{p['function']}, {dst});\n")
    if layer.kind == "softmax":
        return ([("int32_t", f"{name}_exp", p["exp_table"])],
                f"  le_softmax({src}, {p['rows']}, {p['depth']}, {name}_exp, {p['diff_min']}, {dst});\n")
    return [], ""  # reshape: an alias, nothing to run


# The SIMD32 int16 copy of a layer's filters (twice their flash; the int8 ones then go unused): every layer up to
# PAIRS_SMALL_BYTES of weights, then bigger ones up to PAIRS_MAX_BYTES, most MACs per weight byte first, while all
# copies stay within PAIRS_SHARE of the model's weights (the MCU bench's flash target: the engine within 1.2 x the
# weights + 8 KB).
PAIRS_SMALL_BYTES = 2048
PAIRS_MAX_BYTES = 16384
PAIRS_SHARE = 0.2
# The ARMv6-M int32 copy (four times their flash; a micro:bit has 256 KB), in blocks of 6 filters (kernels.c
# le_dot_words: 6 sums in the Cortex-M0's high registers).
WORDS_MAX_BYTES = 2048
WORDS_BLOCK = 6


def copied_layers(layers: list[Layer]) -> set[int]:
    """The op indices of the conv and dense layers that carry the SIMD32 int16 copy (see PAIRS_SHARE). Measured on
    the M4: lenet-plus's 12.8 KB convolution 1.40 -> 0.96 instructions per MAC with it."""
    sizes = {layer.index: int(np.asarray(layer.params["filters"]).size) for layer in layers
             if layer.kind in ("conv2d", "fully_connected")}
    chosen = {index for index, size in sizes.items() if size <= PAIRS_SMALL_BYTES}
    weights = sum(int(np.asarray(layer.params["filters"]).size) for layer in layers if "filters" in layer.params)
    budget = PAIRS_SHARE * weights - sum(sizes[index] for index in chosen)
    macs = {layer.index: layer.macs for layer in layers}
    for index in sorted((i for i, size in sizes.items() if PAIRS_SMALL_BYTES < size <= PAIRS_MAX_BYTES),
                        key=lambda i: -macs[i] / sizes[i]):
        if sizes[index] <= budget:
            chosen.add(index)
            budget -= sizes[index]
    return chosen


def pairs(filters, run: int) -> np.ndarray:
    """The int16 copy of a layer's weights for the SIMD32 path (kernels.c le_dot4 with its `pairs`), blocked as the
    int8 filters are there (`block_order`, groups of 4): per group and filter, SXTB16's halves of 4 input bytes
    are (x0, x2) and (x1, x3), so SMLAD needs (w0, w2), then (w1, w3); the block's (w0, w2) words first (one
    LDM), then its (w1, w3) words. A layer whose filters leave 2 over their blocks of 4 has its last 6 in one
    block (`six`: kernels.c le_dot6); a run's tail of inputs by pairs, one word per filter (`tail_pairs`)."""
    return block_order(np.asarray(filters, dtype=np.int16), run, group=4, parts=2, order=[0, 2, 1, 3], six=True,
                       tail_pairs=True)


def block_order(filters, run: int, group: int = 1, parts: int = 1, order=None, six: bool = False,
                tail_pairs: bool = False) -> np.ndarray:
    """The filters in le_conv2d's blocks of 4, 2 and 1 filters, each block's weights interleaved run by run (a run:
    the weights one dot product reads): a run's whole groups of `group` weights as [group][part][filter][weight]
    (each group's weights in `order`, cut into `parts`), then its last run % group weights as [weight][filter].
    ARMv6-M reads group 1 (kernels.c LE_BLOCKED: input i of the block's filter j at i * block + j); SIMD32 cores
    group 4 (LE_DSP: a block's next 4 weights of each filter are one LDM's words). `six`: 4n + 2 filters (n >= 1)
    end with a block of 6, not 4 and 2. `tail_pairs`: in a block of several filters, a run's tail as pairs of
    weights, each [filter][weight] (each filter's pair one word: kernels.c LE_TAIL_PAIRS), an odd last one with a
    0 (LE_TAIL_ONE)."""
    w = np.asarray(filters)
    w = w.reshape(len(w), -1, run)
    n_runs, whole = w.shape[1], run // group * group
    fours = len(w) // 4 * 4
    twos = fours + (len(w) - fours) // 2 * 2
    if six and len(w) % 4 == 2 and len(w) >= 6:
        fours -= 4
    blocks = [w[i:i + 4] for i in range(0, fours, 4)] + [w[fours:twos], w[twos:]]
    out = []
    for b in (block for block in blocks if len(block)):
        head = b[:, :, :whole].reshape(len(b), n_runs, whole // group, group)
        head = head[..., order] if order is not None else head
        head = head.reshape(len(b), n_runs, whole // group, parts, group // parts).transpose(1, 2, 3, 0, 4)
        if tail_pairs and len(b) > 1:  # [filter][weight] (2 weights, or 1 and a 0)
            paired = np.concatenate([b[:, :, whole:], np.zeros_like(b[:, :, :(whole - run) % 2])], axis=2)
            tail = [paired.reshape(len(b), n_runs, -1, 2).transpose(1, 2, 0, 3)]
        else:
            tail = [b[:, :, whole:].transpose(1, 2, 0)]
        out.append(np.concatenate([part.reshape(n_runs, -1) for part in [head, *tail]], axis=1).reshape(-1))
    return np.concatenate(out)


def blocks_of_6(filters) -> np.ndarray:
    """ARMv6-M's order (kernels.c le_dot_words, le_dot_bytes): blocks of 6 filters, then one of those left, each
    block's weights interleaved (input k of filter j at k * block + j), k in each filter's own order."""
    w = np.asarray(filters)
    w = w.reshape(len(w), -1)
    return np.concatenate([w[i:i + WORDS_BLOCK].T.reshape(-1) for i in range(0, len(w), WORDS_BLOCK)])


def has_words(filters) -> bool:
    """Whether a convolution's weights are small enough for the ARMv6-M int32 copy (WORDS_MAX_BYTES)."""
    return np.asarray(filters).size <= WORDS_MAX_BYTES


def skips_zeros(p: dict) -> bool:
    """Whether a convolution's ARMv6-M window skips the inputs at the zero point (kernels.c le_dot_words): one that
    reads the model's input, flipped (an image's background: about 4 in 5 of MNIST's pixels)."""
    return flips(p) and bool(p.get("reads_model_input"))


def words(filters, bias, flipped: bool, sparse: bool = False, guess: list[int] | None = None) -> np.ndarray | None:
    """A small convolution's int32 copy for the ARMv6-M path (kernels.c le_dot_words, le_block_m0), None for a big
    one: its flags (1: its input is flipped, each byte x + 128 as le_pad writes a padded input there; 2: the window
    skips zero inputs, `skips_zeros`; 4: each block ends in its filters' guess constants), then each block of
    `blocks_of_6` led by its filters' biases (less 128 times the filter's weights where the input is flipped),
    then its weights, then (with a `guess`, output_guess.layer_guess) each filter's m1, m2 and r."""
    if not has_words(filters):
        return None
    w = np.asarray(filters, dtype=np.int64).reshape(len(filters), -1)
    b = np.asarray(bias, dtype=np.int64) - (128 * w.sum(axis=1) if flipped else 0)
    constants = np.asarray(guess[5:], dtype=np.int64).reshape(len(w), 3) if guess else np.zeros((len(w), 0), int)
    blocks = [np.concatenate([b[i:i + WORDS_BLOCK], w[i:i + WORDS_BLOCK].T.reshape(-1),
                              constants[i:i + WORDS_BLOCK].reshape(-1)]) for i in range(0, len(w), WORDS_BLOCK)]
    return np.concatenate([[int(flipped) | 2 * int(sparse and flipped) | 4 * int(bool(guess))], *blocks])


def dense_bias(filters, bias) -> np.ndarray:
    """A dense layer's bias on ARMv6-M (kernels.c le_fully_connected): less 128 times each filter's weights' sum,
    which takes back the 128 its flipped input (x + 128) adds to each product."""
    return np.asarray(bias, dtype=np.int64) - 128 * np.asarray(filters, dtype=np.int64).reshape(len(bias), -1).sum(1)


def dense_bytes(filters) -> np.ndarray:
    """A dense layer's int8 weights for the ARMv6-M path (kernels.c le_dot_bytes): each w as the byte w + 128 (read
    by LDRB, which takes an immediate offset where LDRSB does not), in `blocks_of_6`."""
    shifted = (np.asarray(filters, dtype=np.int16) + 128).astype(np.uint8).view(np.int8)
    return blocks_of_6(shifted)


def _float_literal(value: float) -> str:
    return f"{np.float32(value):.9e}f"


def extended_table(table, guess: list[int], reached: tuple[int, int]) -> tuple[np.ndarray, int]:
    """A fused lookup's table for le_block_m0 (ARMv6-M), which indexes it by the output guess before its clamp
    (x >> k counted from the floor, in `reached`: output_guess.reach): (the table over every output v the guess can
    give, each entry the lookup of v clamped to the layer's range; the offset of v = -128 in it, which is where the
    kernel's pointer goes: it reads entry v + 128 there, for v within int8's range too). The clamp's CMP and BHI go
    from every output (only a layer clamping to int8's range has its lookup fused: `fused_lookups`)."""
    low, span = guess[3], guess[4]
    first, last = min(reached[0], 0) + low, max(reached[1], span) + low
    values = np.asarray(table).reshape(-1)
    extended = values[np.clip(np.arange(first, last + 1), low, low + span) + 128]
    return extended, -128 - first


def fused_lookups(layers: list[Layer], plan: MemoryPlan) -> dict[int, Layer]:
    """Conv or dense op index -> the TANH or LOGISTIC fused into its output step (kernels.c LE_LOOK): where the
    lookup is the only reader of the layer's output and runs in place, and the layer clamps to int8's range only (its
    outputs then go through the table as they are stored; the lookup's own pass goes). Measured on seed-best (its
    four TANHs, main builds): M4 405,722 -> 391,232 instructions, M0 1,153,388 -> 1,135,042, M3 983,767 ->
    973,633; on the M55 171,441 against 164,955 with its pass (kernels.c LE_FUSED)."""
    fused = {}
    for producer, lookup in zip(layers, layers[1:]):
        readers = [layer for layer in layers if layer.input == producer.output]
        if (lookup.kind == "lookup" and producer.kind in ("conv2d", "fully_connected") and readers == [lookup]
                and plan.location[lookup.output] == plan.location[producer.output]
                and (producer.params["act_min"], producer.params["act_max"]) == (-128, 127)):
            fused[producer.index] = lookup
    return fused


def build_engine(model: bytes, name: str = "lenet", source: str = "model",
                 header_name: str = "lenet_engine.h") -> Engine:
    """The engine's two files as text, for an int8 .tflite flatbuffer."""
    check_c_identifier(name)
    graph: Graph = read_graph(model, source)
    try:
        layers = plan_layers(graph)
    except LenetError as exc:
        raise LenetError(f"{source}: {exc}") from None
    sizes = {t.index: int(np.prod(t.shape)) for t in graph.tensors if not t.data}
    copied = copied_layers(layers)
    plan = plan_memory(layers, sizes, graph.inputs[0], graph.outputs[0], unpacked_bytes(layers, copied))
    prefix, upper = f"{name}_", name.upper()
    arrays, body, costs, functions = [], [], [], []
    fused = fused_lookups(layers, plan)
    in_output_step = {lookup.index: producer for producer, lookup in fused.items()}
    extended: set[int] = set()  # the lookups whose producer has an extended table (`extended_table`)
    for layer in layers:
        layer.params["reads_model_input"] = layer.input == graph.inputs[0]
        lookup = fused.get(layer.index)
        layer_arrays, code = _layer_code(layer, plan, prefix, layer.index in copied, lookup)
        if lookup and any(c_type == "extended" for c_type, *_ in layer_arrays):
            extended.add(lookup.index)
        if layer.index in extended:  # ARMv6-M reads its producer's extended copy instead
            layer_arrays = [("unblocked", *array[1:]) for array in layer_arrays]
        if layer.index in in_output_step:  # where the core keeps the pass (kernels.c LE_FUSED)
            code = (f"  /* fused into op {in_output_step[layer.index]}'s output step (kernels.c LE_FUSED); a pass of "
                    f"its own where LE_FUSED_PASS */\n"
                    f"#if LE_FUSED_PASS\n{code}#endif\n")
        op_name = graph.ops[layer.index].name
        size = int(np.prod(graph.tensors[layer.output].shape))
        where, offset = plan.location[layer.output]
        costs.append(LayerCost(layer.index, op_name, list(graph.tensors[layer.output].shape), layer.macs,
                               _constant_bytes(layer_arrays), size, offset if where == "arena" else None))
        if layer.kind in ("conv2d", "depthwise", "fully_connected"):
            # On SIMD32 cores each its own (not inlined) function: inlined into one, GCC 12 let the pairs
            # path's registers spill into the dense layers (M4: 1.71 -> 2.21 instructions per MAC). Elsewhere
            # GCC inlines these single-call functions as before (the Cortex-M0 lost 1.6 % when it did not).
            functions.append(f"static LE_NOINLINE void {prefix}op{layer.index}(const int8_t *input, int8_t *output, "
                             f"int8_t *arena) {{\n  (void)input, (void)output, (void)arena;\n{code}}}\n")
            code = f"  {prefix}op{layer.index}(input, output, arena);\n"
        body.append(f"  /* op {layer.index}: {op_name} */\n{code}"
                    f"  LE_TRACE({layer.index}, {_pointer(plan, layer.output)}, {size});\n")
        arrays.extend(layer_arrays)
    if plan.copy_output_from is not None:
        where, offset = plan.copy_output_from
        body.append(f"  memcpy(output, {'input' if where == 'in' else f'arena + {offset}'}, "
                    f"{upper}_OUTPUT_SIZE);\n")
    weight_bytes = _constant_bytes(arrays)
    macs = sum(layer.macs for layer in layers)
    sha = hashlib.sha256(model).hexdigest()
    header = _header(name, graph, plan.arena_bytes, weight_bytes, macs, sha, source)
    kernels = resources.files("lenet_deploy.convert.engine").joinpath("kernels.c").read_text()
    arena_words = max(1, (plan.arena_bytes + 3) // 4)
    c_source = (
        f"/* {name}_engine.c: generated by lenet-convert --engine c from {c_comment(source)} (sha256 {sha}).\n"
        f"   Do not edit. Computes what TFLite Micro's int8 reference kernels compute, bit for bit. */\n"
        f"#include \"{header_name}\"\n\n#include <string.h>\n\n{kernels}\n"
        f"/* -DLENET_TRACE: {name}_trace, if set, sees each op's output (for debugging and tests). */\n"
        f"#ifdef LENET_TRACE\nvoid (*{name}_trace)(int op, const int8_t *data, int size);\n"
        f"#define LE_TRACE(op, data, size) if ({name}_trace) {name}_trace(op, data, size)\n"
        f"#else\n#define LE_TRACE(op, data, size)\n#endif\n\n"
        f"/* ---- constants (flash) ---- */\n" + "".join(_constant(*a) for a in arrays) +
        "#if defined(__GNUC__) && defined(LE_DSP) /* see the comment on the layer functions in emit.py */\n"
        "#define LE_NOINLINE __attribute__((noinline))\n#else\n#define LE_NOINLINE\n#endif\n" +
        "".join(functions) +
        f"\n/* ---- the arena: every activation, buffers reused ({plan.arena_bytes} bytes) ---- */\n"
        f"static int32_t {prefix}arena_words[{arena_words}];\n\n"
        f"void {name}_invoke(const int8_t *input, int8_t *output) {{\n"
        f"  int8_t *const arena = (int8_t *){prefix}arena_words;\n"
        f"  (void)arena;\n" + "".join(body) + "}\n")
    return Engine(header, c_source, plan.arena_bytes, weight_bytes, macs, graph.op_names, costs)


def _constant_bytes(arrays: list[tuple[str, str, object]]) -> int:
    """Constants every core carries (SIMD32 and ARMv6-M cores add their copies of small weights: see `pairs` and
    `words`); a strip convolution's filters once (either order)."""
    total = 0
    for c_type, _, values in arrays:
        if c_type in CORE_COPIES:
            continue
        if c_type.startswith("strip_"):  # either order: the same bytes
            c_type, values = c_type.removeprefix("strip_"), values[1]
        if c_type in ("filters", "bias"):  # blocked or not, doubled or not: the same bytes
            values = values[-1] if c_type == "filters" else values[0]
        total += _C_BYTES[c_type] * int(np.asarray(values).size)
    return total


def _header(name: str, graph: Graph, arena: int, weight_bytes: int, macs: int, sha: str, source: str) -> str:
    p = name.upper()
    inp, out = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    dims = list(inp.shape[1:]) + [1] * (3 - len(inp.shape[1:]))
    guard = f"{p}_ENGINE_H_"
    return "\n".join([
        f"/* {name}_engine.h: generated by lenet-convert --engine c from {c_comment(source)}. Do not edit. */",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        "#include <stdint.h>",
        "",
        f'#define {p}_MODEL_SHA256 "{sha}"',
        f"#define {p}_OPS \"{' '.join(graph.op_names)}\"",
        "",
        "/* Input: one image, NHWC int8. real = (q - ZERO_POINT) * SCALE; q = round(real / SCALE) + ZERO_POINT. */",
        f"#define {p}_INPUT_HEIGHT {dims[0]}",
        f"#define {p}_INPUT_WIDTH {dims[1]}",
        f"#define {p}_INPUT_CHANNELS {dims[2]}",
        f"#define {p}_INPUT_SIZE {int(np.prod(inp.shape))}",
        f"#define {p}_INPUT_SCALE {_float_literal(inp.scales[0])}",
        f"#define {p}_INPUT_ZERO_POINT ({inp.zero_points[0]})",
        f"#define {p}_OUTPUT_SIZE {int(np.prod(out.shape))}",
        f"#define {p}_OUTPUT_SCALE {_float_literal(out.scales[0])}",
        f"#define {p}_OUTPUT_ZERO_POINT ({out.zero_points[0]})",
        "/* Saturating, halves away from zero; like any macro, evaluates its argument more than once. */",
        f"#define {p}_CLAMP_INT8(v) ((v) < -128 ? -128 : (v) > 127 ? 127 : (v))",
        f"#define {p}_QUANTIZE_INPUT(real) ((int8_t){p}_CLAMP_INT8( \\",
        f"  (long)((real) / {p}_INPUT_SCALE + ((real) >= 0 ? 0.5f : -0.5f)) + {p}_INPUT_ZERO_POINT))",
        f"#define {p}_DEQUANTIZE_OUTPUT(q) (((float)(q) - {p}_OUTPUT_ZERO_POINT) * {p}_OUTPUT_SCALE)",
        "",
        "/* Static memory: the arena is a zero-initialised static array inside the engine (.bss). */",
        f"#define {p}_ARENA_BYTES {arena}",
        f"#define {p}_CONSTANT_BYTES {weight_bytes}",
        f"#define {p}_MACS {macs}",
        "",
        "#ifdef __cplusplus",
        'extern "C" {',
        "#endif",
        "/* Runs the model on one input (INPUT_SIZE int8 values) and writes OUTPUT_SIZE int8 values. */",
        f"void {name}_invoke(const int8_t *input, int8_t *output);",
        "#ifdef __cplusplus",
        "}",
        "#endif",
        "",
        f"#endif /* {guard} */",
        "",
    ])


def write_engine(model_path: Path, out: Path, name: str = "lenet") -> tuple[list[Path], Engine]:
    """Generate from `model_path` into `out`/<stem>_engine.{h,c}, atomically."""
    model_path, out = Path(model_path), Path(out)
    data, _ = read_graph_file(model_path)  # a missing, non-TFLite or corrupt file: one line saying what it is
    if out.exists() and not out.is_dir():
        raise LenetError(f"--out {out} is a file, not a directory")
    header, c_file = out / f"{model_path.stem}_engine.h", out / f"{model_path.stem}_engine.c"
    engine = build_engine(data, name, str(model_path), header.name)
    with staged_update(out) as stage:
        write_text_atomic(stage / header.name, engine.header)
        write_text_atomic(stage / c_file.name, engine.source)
    return [header, c_file], engine
