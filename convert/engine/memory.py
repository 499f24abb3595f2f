"""Static memory for the engine: which buffer each tensor lives in, and one arena sized at generation time.

The model input is the caller's `in` pointer and the final op writes straight into `out`; every
other activation gets an offset in one arena. RESHAPE aliases its input, and TANH/LOGISTIC run in
place when their input dies with them. Buffers whose lifetimes overlap never overlap in the
arena; placement is greedy, largest first (as TFLM's GreedyMemoryPlanner).
"""

from __future__ import annotations

from dataclasses import dataclass

from lenet_deploy.convert.engine.plan import Layer

ALIGN = 4  # word loads in the kernels


@dataclass(frozen=True)
class MemoryPlan:
    location: dict[int, tuple[str, int]]  # tensor -> ("in" | "out" | "arena", byte offset)
    scratch: dict[int, int]  # layer index -> arena offset of its padded-input scratch
    strip: dict[int, int]  # layer index -> arena offset of its column strip (plan.py `_strip_bytes`)
    unpacked: dict[int, int]  # layer index -> arena offset of a dense layer's unpacked input (emit.py)
    arena_bytes: int
    copy_output_from: tuple[str, int] | None  # set when the output tensor aliases another buffer


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def plan_memory(layers: list[Layer], sizes: dict[int, int], model_input: int, model_output: int,
                unpacked: dict[int, int] | None = None) -> MemoryPlan:
    """`sizes` maps each activation tensor to its byte size; `unpacked` the layers that want a scratch for their
    unpacked input to its size (emit.py `unpacked_bytes`)."""
    unpacked = unpacked or {}
    last_use = {}
    for i, layer in enumerate(layers):
        last_use[layer.input] = i
    root = {model_input: model_input}
    storage = {model_input: "in"}
    born = {}
    for i, layer in enumerate(layers):
        source = root[layer.input]
        aliases_die_here = all(last_use.get(t, -1) <= i for t, r in root.items() if r == source)
        in_place = layer.kind == "lookup" and storage[source] == "arena" and aliases_die_here \
            and layer.output != model_output
        if layer.kind == "reshape" or in_place:
            root[layer.output] = source
            continue
        root[layer.output] = layer.output
        storage[layer.output] = "out" if layer.output == model_output else "arena"
        born[layer.output] = i

    end = len(layers)
    intervals = []  # (size, first, last, key)
    for tensor, first in born.items():
        if storage[tensor] != "arena":
            continue
        last = max((last_use.get(t, first) if t != model_output else end) for t, r in root.items() if r == tensor)
        intervals.append((_align(sizes[tensor]), first, last, ("tensor", tensor)))
    for i, layer in enumerate(layers):
        p = layer.params
        if layer.kind in ("conv2d", "depthwise") and p["needs_pad"]:
            intervals.append((_align(p["padded_h"] * p["padded_w"] * p["in_c"]), i, i, ("scratch", layer.index)))
        if p.get("strip_bytes"):
            intervals.append((_align(p["strip_bytes"]), i, i, ("strip", layer.index)))
        if layer.index in unpacked:
            intervals.append((_align(unpacked[layer.index]), i, i, ("unpacked", layer.index)))

    placed: list[tuple[int, int, int, int]] = []  # offset, size, first, last
    offsets = {}
    for size, first, last, key in sorted(intervals, key=lambda item: (-item[0], item[1])):
        offset = 0
        for other_offset, other_size, other_first, other_last in sorted(placed):
            lives_together = not (last < other_first or other_last < first)
            if lives_together and offset < other_offset + other_size and other_offset < offset + size:
                offset = _align(other_offset + other_size)
        placed.append((offset, size, first, last))
        offsets[key] = offset

    for a in placed:  # a cheap proof of the placement above
        for b in placed:
            assert a is b or a[3] < b[2] or b[3] < a[2] or a[0] + a[1] <= b[0] or b[0] + b[1] <= a[0]
    location = {}
    for tensor, r in root.items():
        location[tensor] = (storage[r], offsets.get(("tensor", r), 0))
    copy_from = None
    if root.get(model_output) != model_output:
        copy_from = location[model_output]
        location[model_output] = ("out", 0)
    by_kind = {kind: {index: offset for (k, index), offset in offsets.items() if k == kind}
               for kind in ("scratch", "strip", "unpacked")}
    arena = max((offset + size for offset, size, _, _ in placed), default=0)
    return MemoryPlan(location, by_kind["scratch"], by_kind["strip"], by_kind["unpacked"], arena, copy_from)
