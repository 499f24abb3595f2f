"""A layer's requantization as 32-bit multiplies where that is provably exact, for the Cortex-M0 (kernels.c
le_output_guess).

ARMv6-M has no 32 x 32 -> 64 multiply: TFLM's exact requantization (a doubling high multiply, then a rounding
shift and the offset) took about 55 instructions an output there. Its result v(acc) is a non-decreasing step
function of the int32 sum, which x(acc) >> k guesses, x = acc * m1 + r (or, refined, plus the next 16 bits of
the scale: ((acc >> a) * m2) >> (16 - a)). The guess can only be wrong near one of its own steps: this module
finds, for every step of v the layer's sums can reach (T[o], the least sum whose v is at least o, by bisection), how
far the guess's step lies from it, and from that a margin 2^j such that wherever x mod 2^k is at least 2^j from a
multiple of 2^k the guess is v exactly. The kernel takes the guess there and TFLM's arithmetic elsewhere.
"""

from __future__ import annotations

import numpy as np

MAX_STEPS = 1 << 16  # steps of v a layer's sums may cross (bisected all at once: ~10 ms a channel here)
MAX_UNSURE = 1 / 4  # the share of sums near a step (2^(j + 1 - k)) above which the guess does not pay
# Instructions, for the choice between the plain and the refined guess: what refining adds to each output, what an
# unsure output adds (TFLM's arithmetic); measured on the Cortex-M0.
REFINE_COST, UNSURE_COST = 5, 60


def true_outputs(acc: np.ndarray, multiplier: int, shift: int, offset: int) -> np.ndarray:
    """v: TFLM's output before the activation's clamp (MultiplyByQuantizedMultiplier with double rounding, right
    shifts only, plus the offset), for each int32 sum."""
    a = acc.astype(np.int64) * multiplier
    nudged = a + np.where(a >= 0, 1 << 30, 1 - (1 << 30))
    x = np.where(nudged >= 0, nudged >> 31, -((-nudged) >> 31))  # C++'s division: toward zero
    exponent = -shift
    mask = (1 << exponent) - 1
    return (x >> exponent) + ((x & mask) > (mask >> 1) + (x < 0)) + offset


def steps(levels: np.ndarray, multiplier: int, shift: int, offset: int, bound: int) -> np.ndarray:
    """T[o] for each level o: the least sum in [-bound, bound] whose v is at least o; bound + 1 where none is (by
    bisection, all levels at once)."""
    lo = np.full(len(levels), -bound, dtype=np.int64)
    hi = np.full(len(levels), bound + 1, dtype=np.int64)
    while (hi > lo).any():
        mid = (lo + hi) // 2
        reached = true_outputs(mid, multiplier, shift, offset) >= levels
        hi, lo = np.where(reached, mid, hi), np.where(reached, lo, mid + 1)
    return lo


def scaled(acc, m1: int, m2: int, a: int, r: int):
    """x(acc), as kernels.c computes it (m2 = 0: the plain guess). Non-decreasing in acc."""
    acc = np.asarray(acc, dtype=np.int64)
    return acc * m1 + r + (((acc >> a) * m2) >> (16 - a) if m2 else 0)


def margin(multiplier: int, shift: int, offset: int, bound: int, k: int, m1: int, m2: int, a: int,
           r: int) -> int | None:
    """The least M for which every sum in [-bound, bound] with x mod 2^k at least M from 0 and from 2^k has
    x >> k == v (None: v crosses more than MAX_STEPS steps). Sums below T[o] reach x(T[o] - 1) at most, so none sits
    M past step o (x >= o * 2^k + M) if x(T[o] - 1) - o * 2^k < M; sums at or past T[o] reach x(T[o]) at least, so
    none sits M short of it if o * 2^k - x(T[o]) <= M (each where the range has such sums)."""
    first, last = int(scaled(-bound, m1, m2, a, r)) >> k, int(scaled(bound, m1, m2, a, r)) >> k
    if last - first > MAX_STEPS:
        return None
    levels = np.arange(first, last + 2, dtype=np.int64)
    t = steps(levels, multiplier, shift, offset, bound)
    below = t > -bound
    past = t <= bound
    before = scaled(t[below] - 1, m1, m2, a, r) - levels[below] * (1 << k) + 1
    after = levels[past] * (1 << k) - scaled(t[past], m1, m2, a, r)
    return int(max(before.max(initial=1), after.max(initial=1)))


def _fits(bound: int, k: int, m1: int, m2: int, a: int) -> bool:
    """Whether x and its parts stay int32 for every sum in [-bound, bound], with any offset, floor and margin
    (each below 2^7 * 2^k)."""
    return bound * m1 + ((bound >> a) + 1) * m2 + (1 << (k + 9)) < 1 << 31  # each part below the whole


def _scale(multiplier: int, shift: int, k: int, a: int, refine: bool) -> tuple[int, int]:
    """m1, m2: the scale in k fraction bits, whole (the plain guess: rounded), and its next 16 bits (refined)."""
    real = multiplier * 2.0 ** (shift - 31 + k)  # exact: a power-of-two scaling of an int below 2^31
    if not refine:
        return round(real), 0
    return int(real), round((real - int(real)) * (1 << 16))


def _guess(p: dict, bounds: list[int], refine: bool) -> tuple[float, list[int]] | None:
    """(expected extra instructions an output, the layer's guess) for the plain or the refined guess."""
    a = max(1, max(bounds).bit_length() - 15) if refine else 1  # (acc >> a) * m2 < 2^31
    offset, low = p["output_offset"], p["act_min"]
    for k in range(30, 1, -1):  # the largest k that fits
        scales = [_scale(m, s, k, a, refine) for m, s in zip(p["multipliers"], p["shifts"])]
        if all(_fits(b, k, m1, m2, a) for b, (m1, m2) in zip(bounds, scales)):
            break
    else:
        return None
    r = offset * (1 << k) + (1 << (k - 1))
    widest = 1
    for multiplier, shift, bound, (m1, m2) in zip(p["multipliers"], p["shifts"], bounds, scales):
        needed = margin(multiplier, shift, offset, bound, k, m1, m2, a, r) if m1 > 0 else None
        if needed is None:
            return None
        widest = max(widest, needed)
    j = (widest - 1).bit_length()  # 2^j >= the widest margin
    unsure = 2.0 ** (j + 1 - k)
    if unsure > MAX_UNSURE:
        return None
    folded = r + (1 << j) - low * (1 << k)
    return (REFINE_COST * refine + UNSURE_COST * unsure,
            [k, a if refine else 0, j, low, p["act_max"] - low, *(v for m1, m2 in scales for v in (m1, m2, folded))])


def sum_bounds(p: dict) -> np.ndarray:
    """Per channel, the most |sum| any int8 input gives: |bias| + 128 * the sum of |weights|."""
    filters = np.asarray(p["filters"]).reshape(len(p["bias"]), -1).astype(np.int64)
    return np.abs(np.asarray(p["bias"], dtype=np.int64)) + 128 * np.abs(filters).sum(axis=1)


def layer_guess(p: dict, shared: bool = False) -> list[int] | None:
    """A right-shifting conv or dense layer's guess, as kernels.c reads it: k, a (0: the plain guess), j, the
    activation's floor and its span, then per channel m1, m2 and r + 2^j - floor * 2^k (the margin folded in, so
    that an unsure x has x mod 2^k < 2^(j + 1), and the guess counting from the floor). One k for the layer (a
    constant shift), the largest whose products cannot overflow; the cheaper of the plain and the refined guess
    (REFINE_COST, UNSURE_COST); None where neither pays (MAX_STEPS, MAX_UNSURE). `shared`: one scale for every
    channel (a dense layer's, quantized per tensor), so one triple of constants, good for any channel's sums (None
    where the channels' scales differ)."""
    if not p["right_only"]:
        return None
    bounds = [int(b) for b in sum_bounds(p)]
    if shared:
        if len(set(zip(p["multipliers"], p["shifts"]))) != 1:
            return None
        p, bounds = {**p, "multipliers": p["multipliers"][:1], "shifts": p["shifts"][:1]}, [max(bounds)]
    choices = [c for c in (_guess(p, bounds, refine) for refine in (False, True)) if c is not None]
    return min(choices)[1] if choices else None


def reach(p: dict, guess: list[int]) -> tuple[int, int]:
    """The least and the greatest x >> k (the guess counting from the floor, before its clamp to [0, span]) that any
    sum the layer can reach gives, over its channels: the extent a table indexed by the guess must cover for the
    kernel to skip the clamp (emit.py extended_table)."""
    k, a = guess[0], guess[1]
    triples, bounds = np.asarray(guess[5:]).reshape(-1, 3), sum_bounds(p)
    if len(triples) == 1:  # a shared guess: good for every channel's sums
        bounds = bounds.max(keepdims=True)
    ends = [int(scaled(sign * int(bound), int(m1), int(m2), a, int(r))) >> k for bound, (m1, m2, r)
            in zip(bounds, triples) for sign in (-1, 1)]
    return min(ends), max(ends)
