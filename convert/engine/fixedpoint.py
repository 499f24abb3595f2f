"""gemmlowp's fixed-point arithmetic, as TFLite Micro's int8 kernels use it, on Python ints.

The engine's element-wise ops (TANH, LOGISTIC) and SOFTMAX's exp() see at most 256 distinct
inputs, so the generator evaluates them here once and the C code looks the result up. Every
function follows gemmlowp/fixedpoint.h and tflite/kernels/internal (quantization_util.cc,
common.h) step by step, int32 wrap-around and saturation included; the tests check the tables
against the tflite-micro interpreter on all 256 inputs.
"""

from __future__ import annotations

import math

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def wrap32(x: int) -> int:
    """Two's-complement int32 wrap-around, as the C++ raw adds do."""
    return (x + (1 << 31)) % (1 << 32) - (1 << 31)


def round_half_away(x: float) -> int:
    """std::round (TfLiteRound): halves away from zero."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """QuantizeMultiplier: real = q * 2^(shift - 31), q in [2^30, 2^31)."""
    if real == 0.0:
        return 0, 0
    fraction, shift = math.frexp(real)
    q = round_half_away(fraction * (1 << 31))
    if q == 1 << 31:
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q, shift


def srdhm(a: int, b: int) -> int:
    """SaturatingRoundingDoublingHighMul (ARM VQRDMULH)."""
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return _trunc_div(ab + nudge, 1 << 31)


def _trunc_div(n: int, d: int) -> int:
    """C++ integer division (truncates toward zero)."""
    q = abs(n) // d
    return q if n >= 0 else -q


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    """RoundingDivideByPOT: x / 2^exponent, to nearest, halves away from zero."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def saturating_mul_by_pot(x: int, exponent: int) -> int:
    """SaturatingRoundingMultiplyByPOT<exponent> on int32."""
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    if x > threshold:
        return INT32_MAX
    if x < -threshold:
        return INT32_MIN
    return wrap32(x << exponent)


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """MultiplyByQuantizedMultiplier, double rounding (TFLite Micro's default build)."""
    left, right = max(shift, 0), max(-shift, 0)
    return rounding_divide_by_pot(srdhm(wrap32(x * (1 << left)), multiplier), right)


def rounding_half_sum(a: int, b: int) -> int:
    total = a + b
    return _trunc_div(total + (1 if total >= 0 else -1), 2)


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a: int) -> int:
    """exp(a) for a in [-1/4, 0), Q0.31 in and out."""
    constant_term, one_third = 1895147668, 715827883
    x = wrap32(a + (1 << 28))
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = saturating_mul_by_pot(x4, -2)
    poly = saturating_mul_by_pot(wrap32(srdhm(wrap32(x4_over_4 + x3), one_third) + x2), -1)
    return wrap32(constant_term + srdhm(constant_term, wrap32(x + poly)))


_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535),
               (3, 720401), (4, 242))


def exp_on_negative_values(a: int, integer_bits: int) -> int:
    """exp(a) for a <= 0 given in Q(integer_bits).(31-integer_bits); result Q0.31."""
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    mask = one_quarter - 1
    a_mod_quarter_minus_one_quarter = wrap32((a & mask) - one_quarter)
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_mul_by_pot(a_mod_quarter_minus_one_quarter, integer_bits))
    remainder = wrap32(a_mod_quarter_minus_one_quarter - a)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent and remainder & (1 << (fractional_bits + exponent)):
            result = srdhm(result, multiplier)
    if integer_bits > 5 and a < -(1 << (36 - integer_bits)):
        result = 0
    return INT32_MAX if a == 0 else result


def _newton_reciprocal_f2(half_denominator: int) -> int:
    """Three Newton-Raphson steps for 1/half_denominator, Q2.29 (shared by both divisions below)."""
    x = wrap32(1515870810 + srdhm(half_denominator, -1010580540))
    one_f2 = 1 << 29
    for _ in range(3):
        half_denominator_times_x = srdhm(half_denominator, x)
        one_minus = wrap32(one_f2 - half_denominator_times_x)
        x = wrap32(x + saturating_mul_by_pot(srdhm(x, one_minus), 2))
    return x


def one_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    x = _newton_reciprocal_f2(rounding_half_sum(a, INT32_MAX))
    return saturating_mul_by_pot(x, 1)  # Rescale<0>(ExactMulByPot<-1>(x)): Q1 -> Q0


def one_minus_x_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    x = _newton_reciprocal_f2(rounding_half_sum(a, INT32_MAX))
    return saturating_mul_by_pot(wrap32(x - (1 << 29)), 2)


def tanh_q0(a: int, integer_bits: int) -> int:
    """gemmlowp::tanh: Q(integer_bits) in, Q0.31 out."""
    if a == 0:
        return 0
    n = a if a < 0 else wrap32(-a)
    # ExactMulByPot<1>: the same raw value read with one more integer bit is 2n.
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, integer_bits + 1))
    return wrap32(-t) if a < 0 else t


def logistic_q0(a: int, integer_bits: int) -> int:
    """gemmlowp::logistic: Q(integer_bits) in, Q0.31 out."""
    if a == 0:
        return 1 << 30
    abs_a = a if a > 0 else wrap32(-a)
    positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(wrap32(-abs_a), integer_bits))
    return positive if a > 0 else wrap32(INT32_MAX - positive)  # F0::One() is INT32_MAX


def calculate_input_radius(integer_bits: int, left_shift: int, total_signed_bits: int = 31) -> int:
    return math.floor(((1 << integer_bits) - 1) * (1 << (total_signed_bits - integer_bits)) / (1 << left_shift))


def _elementwise_table(input_scale: float, input_zero_point: int, function, output_bits: int,
                       output_offset: int) -> list[int]:
    """TFLM's int8 TANH/LOGISTIC (reference_integer_ops) for each of the 256 inputs, indexed by q + 128."""
    input_integer_bits = 4
    real = float(input_scale) * float(1 << (31 - input_integer_bits))
    fraction, left_shift = math.frexp(real)
    multiplier = round_half_away(fraction * (1 << 31))
    radius = calculate_input_radius(input_integer_bits, left_shift)
    table = []
    for q in range(-128, 128):
        x = q - input_zero_point
        if x <= -radius:
            table.append(-128)
        elif x >= radius:
            table.append(127)
        else:
            fixed = function(multiply_by_quantized_multiplier(x, multiplier, left_shift), input_integer_bits)
            table.append(min(max(rounding_divide_by_pot(fixed, 31 - output_bits) + output_offset, -128), 127))
    return table


def tanh_table(input_scale: float, input_zero_point: int) -> list[int]:
    """Output is Q0.7 whatever the output tensor says (TFLM requires scale 1/128, zero point 0)."""
    return _elementwise_table(input_scale, input_zero_point, tanh_q0, 7, 0)


def logistic_table(input_scale: float, input_zero_point: int) -> list[int]:
    """Output is Q0.8 with zero point -128 (TFLM requires scale 1/256)."""
    return _elementwise_table(input_scale, input_zero_point, logistic_q0, 8, -128)


SOFTMAX_DIFF_INTEGER_BITS = 5


def softmax_params(beta: float, input_scale: float) -> tuple[int, int, int]:
    """PreprocessSoftmaxScaling + CalculateInputRadius for int8: (multiplier, left_shift, diff_min)."""
    real = min(float(beta) * float(input_scale) * (1 << (31 - SOFTMAX_DIFF_INTEGER_BITS)), float((1 << 31) - 1))
    multiplier, left_shift = quantize_multiplier(real)
    diff_min = -calculate_input_radius(SOFTMAX_DIFF_INTEGER_BITS, left_shift)
    return multiplier, left_shift, diff_min


def softmax_exp_table(beta: float, input_scale: float) -> tuple[list[int], int]:
    """exp() of each possible int8 difference from the row maximum (0, -1, ..., -255), Q0.31, and diff_min.

    Differences below diff_min are skipped by the kernel (their table entry is never read).
    """
    multiplier, left_shift, diff_min = softmax_params(beta, input_scale)
    table = []
    for diff in range(0, -256, -1):
        if diff < diff_min:
            table.append(0)
            continue
        rescaled = srdhm(wrap32(diff * (1 << left_shift)), multiplier)  # ...GreaterThanOne
        table.append(exp_on_negative_values(rescaled, SOFTMAX_DIFF_INTEGER_BITS))
    return table, diff_min
