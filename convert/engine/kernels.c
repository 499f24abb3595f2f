/* ---- int8 kernels: TFLite Micro's reference arithmetic (tflite/kernels/internal/reference/integer_ops) ----
   Fixed-point helpers follow gemmlowp/fixedpoint.h. They assume arithmetic right shifts of negative
   integers, as GCC, Clang, Arm Compiler and MSVC all do. */

#if defined(__GNUC__)
#define LE_INLINE static inline __attribute__((always_inline))
#else
#define LE_INLINE static inline
#endif

/* SaturatingRoundingDoublingHighMul. gemmlowp adds a sign-dependent nudge and truncates toward zero;
   that equals floor((a*b + 2^30) / 2^31) for every pair but a == b == INT32_MIN, which cannot occur
   (one side is always a non-negative multiplier or a constant). */
LE_INLINE int32_t le_srdhm(int32_t a, int32_t b) {
  return (int32_t)(((int64_t)a * b + (1 << 30)) >> 31);
}

/* RoundingDivideByPOT: to nearest, halves away from zero (no overflow near INT32_MAX). */
LE_INLINE int32_t le_rdbpot(int32_t x, int exponent) {
  const int32_t mask = (int32_t)((1u << exponent) - 1);
  const int32_t threshold = (mask >> 1) + (x < 0);
  return (x >> exponent) + ((x & mask) > threshold);
}

/* MultiplyByQuantizedMultiplier, double rounding (TFLite Micro's default build). */
LE_INLINE int32_t le_requantize(int32_t acc, int32_t multiplier, int shift) {
  if (shift > 0) acc = (int32_t)((uint32_t)acc << shift);
  acc = le_srdhm(acc, multiplier);
  return shift < 0 ? le_rdbpot(acc, -shift) : acc;
}

LE_INLINE int8_t le_clamp(int32_t x, int32_t low, int32_t high) {
  return (int8_t)(x < low ? low : x > high ? high : x);
}

/* The input surrounded by its zero point: what TFLM's skipped out-of-image taps amount to. */
LE_INLINE void le_pad(const int8_t *in, int h, int w, int c, int top, int left, int padded_h, int padded_w,
                      int8_t value, int8_t *out) {
  int y;
  memset(out, value, (size_t)(padded_h * padded_w * c));
  for (y = 0; y < h; ++y) {
    memcpy(out + ((y + top) * padded_w + left) * c, in + y * w * c, (size_t)(w * c));
  }
}

/* One output value of a convolution: k_h rows of k_w * c contiguous input bytes (NHWC) against
   the filter (OHWI). The input offset is folded into the bias at generation time. */
LE_INLINE int32_t le_dot(const int8_t *x, const int8_t *w, int n) {
  int32_t acc = 0;
  int i;
  for (i = 0; i < n; ++i) acc += (int32_t)x[i] * w[i];
  return acc;
}

LE_INLINE void le_conv2d(const int8_t *in, int in_w, int in_c, const int8_t *filters, const int32_t *bias,
                         const int32_t *multiplier, const int8_t *shift, int k_h, int k_w, int stride_h,
                         int stride_w, int out_h, int out_w, int out_c, int32_t output_offset, int32_t act_min,
                         int32_t act_max, int8_t *out) {
  const int row = k_w * in_c;
  int oy, ox, oc, ky;
  for (oy = 0; oy < out_h; ++oy) {
    for (ox = 0; ox < out_w; ++ox) {
      const int8_t *window = in + (oy * stride_h * in_w + ox * stride_w) * in_c;
      const int8_t *w = filters;
      for (oc = 0; oc < out_c; ++oc) {
        int32_t acc = bias[oc];
        for (ky = 0; ky < k_h; ++ky, w += row) acc += le_dot(window + ky * in_w * in_c, w, row);
        *out++ = le_clamp(le_requantize(acc, multiplier[oc], shift[oc]) + output_offset, act_min, act_max);
      }
    }
  }
}

LE_INLINE void le_fully_connected(const int8_t *in, int depth, const int8_t *filters, const int32_t *bias,
                                  const int32_t *multiplier, const int8_t *shift, int out_n, int32_t output_offset,
                                  int32_t act_min, int32_t act_max, int8_t *out) {
  int o;
  for (o = 0; o < out_n; ++o) {
    int32_t acc = bias[o] + le_dot(in, filters + o * depth, depth);
    out[o] = le_clamp(le_requantize(acc, multiplier[o], shift[o]) + output_offset, act_min, act_max);
  }
}

LE_INLINE void le_pool(int average, const int8_t *in, int in_h, int in_w, int channels, int f_h, int f_w,
                       int stride_h, int stride_w, int pad_t, int pad_l, int out_h, int out_w, int32_t act_min,
                       int32_t act_max, int8_t *out) {
  int oy, ox, c, fy, fx;
  for (oy = 0; oy < out_h; ++oy) {
    const int y0 = oy * stride_h - pad_t;
    const int fy0 = y0 < 0 ? -y0 : 0, fy1 = f_h < in_h - y0 ? f_h : in_h - y0;
    for (ox = 0; ox < out_w; ++ox) {
      const int x0 = ox * stride_w - pad_l;
      const int fx0 = x0 < 0 ? -x0 : 0, fx1 = f_w < in_w - x0 ? f_w : in_w - x0;
      const int count = (fy1 - fy0) * (fx1 - fx0);
      for (c = 0; c < channels; ++c) {
        int32_t acc = average ? 0 : -128;
        for (fy = fy0; fy < fy1; ++fy) {
          const int8_t *p = in + ((y0 + fy) * in_w + x0) * channels + c;
          for (fx = fx0; fx < fx1; ++fx) {
            const int32_t v = p[fx * channels];
            if (average) acc += v; else if (v > acc) acc = v;
          }
        }
        if (average) acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
        *out++ = le_clamp(acc, act_min, act_max);
      }
    }
  }
}

/* TANH and LOGISTIC: TFLM's fixed-point result for each of the 256 inputs, tabulated at generation. */
LE_INLINE void le_lookup(const int8_t *in, int n, const int8_t *table, int8_t *out) {
  int i;
  for (i = 0; i < n; ++i) out[i] = table[in[i] + 128];
}

LE_INLINE int32_t le_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }

LE_INLINE int32_t le_saturating_shl(int32_t x, int exponent) {
  const int32_t threshold = (int32_t)((1u << (31 - exponent)) - 1);
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return (int32_t)((uint32_t)x << exponent);
}

/* gemmlowp one_over_one_plus_x_for_x_in_0_1: Newton-Raphson in Q2.29. */
static int32_t le_one_over_one_plus_x(int32_t a) {
  const int64_t sum = (int64_t)a + INT32_MAX;
  const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
  int32_t x = le_add(1515870810, le_srdhm(half_denominator, -1010580540));
  int i;
  for (i = 0; i < 3; ++i) {
    const int32_t one_minus = le_add(1 << 29, -le_srdhm(half_denominator, x));
    x = le_add(x, le_saturating_shl(le_srdhm(x, one_minus), 2));
  }
  return le_saturating_shl(x, 1);
}

static int le_clz(uint32_t x) {
#if defined(__GNUC__)
  return x ? __builtin_clz(x) : 32;
#else
  int n = 0;
  if (!x) return 32;
  while (!(x & 0x80000000u)) { x <<= 1; ++n; }
  return n;
#endif
}

/* Softmax (reference_ops::Softmax, int8 in, int8 out with scale 1/256 and zero point -128).
   exp_table[d] is exp_on_negative_values of the rescaled difference -d from the row maximum. */
static void le_softmax(const int8_t *in, int rows, int depth, const int32_t *exp_table, int32_t diff_min,
                       int8_t *out) {
  int r, c;
  for (r = 0; r < rows; ++r, in += depth, out += depth) {
    int32_t max = -128, sum = 0, scale;
    int headroom, exponent;
    for (c = 0; c < depth; ++c) if (in[c] > max) max = in[c];
    for (c = 0; c < depth; ++c) {
      const int32_t diff = in[c] - max;
      if (diff >= diff_min) sum = le_add(sum, le_rdbpot(exp_table[-diff], 12));
    }
    headroom = le_clz((uint32_t)sum);
    scale = le_one_over_one_plus_x((int32_t)(((uint32_t)sum << headroom) - (1u << 31)));
    exponent = (12 - headroom) + 31 - 8;
    for (c = 0; c < depth; ++c) {
      const int32_t diff = in[c] - max;
      out[c] = diff >= diff_min
          ? le_clamp(le_rdbpot(le_srdhm(scale, exp_table[-diff]), exponent) - 128, -128, 127)
          : (int8_t)-128;
    }
  }
}
