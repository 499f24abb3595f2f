/* ---- int8 kernels: TFLite Micro's reference arithmetic (tflite/kernels/internal/reference/integer_ops) ----
   Fixed-point helpers follow gemmlowp/fixedpoint.h. They assume arithmetic right shifts of negative
   integers, as GCC, Clang, Arm Compiler and MSVC all do. */

#if defined(__GNUC__)
#define LE_INLINE static inline __attribute__((always_inline))
#else
#define LE_INLINE static inline
#endif
#if defined(__ARM_ARCH) && (defined(__ARM_FEATURE_SAT) || defined(__ARM_FEATURE_SIMD32))
#include <arm_acle.h>
#endif
#if defined(__GNUC__) && !defined(__clang__)
#define LE_UNROLL _Pragma("GCC unroll 32")
/* The int16-copy SMLAD steps (small layers: a convolution's window is a few steps) unrolled up to 8 times, which
   unrolls them whole where a window has at most 8 steps. Measured on seed-best (M4): 705,203 -> 628,639
   instructions, engine flash +2.9 KB; unrolled 4 times 722,026 (a remainder loop for 6 or 7 steps); the int8 steps
   (big dense layers) unrolled as well, 632,405 (the 294-input layer 1.77 -> 1.88 per MAC). */
#define LE_UNROLL_STEPS _Pragma("GCC unroll 8")
#else
#define LE_UNROLL_STEPS
#define LE_UNROLL
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

#if defined(__ARM_ARCH_6M__) || defined(LENET_SRDHM_32)
/* le_srdhm for b >= 0 (every requantization multiplier is) from 32-bit products only: ARMv6-M has no 32x32 -> 64
   multiply, and GCC's __aeabi_lmul call and the 64-bit rounding took about 55 instructions, this 27. With
   a = ah*2^16 + al, b = bh*2^16 + bl (al, bl, bh the unsigned halves, ah signed): a*b + 2^30 = ah*bh*2^32 +
   (s + u)*2^16 + r, where s = ah*bl, u = al*bh + (al*bl >> 16) + 2^14 and r < 2^16 (too small to reach the next
   multiple of 2^31). So the result is 2*ah*bh + floor((s + u) / 2^15), u's high bits shifted apart from its low
   15 so that no sum overflows. Called, not inlined: inlined, its registers pushed a 5x5 convolution's loop onto
   the stack (Cortex-M0, seed-best: 2,346,669 instructions before, 2,223,808 inlined, 2,215,834 called).
   -DLENET_SRDHM_32 selects it on any core (the tests run it on the host). */
#if defined(__GNUC__)
__attribute__((noinline, unused)) /* unused: a model may have no requantization */
#endif
static int32_t le_srdhm_multiplier(int32_t a, int32_t b) {
  const int32_t ah = a >> 16, bh = b >> 16, s = ah * (int32_t)(b & 0xffff);
  const uint32_t al = (uint32_t)a & 0xffffu;
  const uint32_t u = al * (uint32_t)bh + ((al * ((uint32_t)b & 0xffffu)) >> 16) + (1u << 14);
  return 2 * ah * bh + (int32_t)(u >> 15) + (((int32_t)(u & 0x7fffu) + s) >> 15);
}
#else
#define le_srdhm_multiplier le_srdhm
#endif

/* MultiplyByQuantizedMultiplier, double rounding (TFLite Micro's default build). */
LE_INLINE int32_t le_requantize(int32_t acc, int32_t multiplier, int shift) {
  if (shift > 0) acc = (int32_t)((uint32_t)acc << shift);
  acc = le_srdhm_multiplier(acc, multiplier);
  return shift < 0 ? le_rdbpot(acc, -shift) : acc;
}

/* x saturated to int8's range, as an int32 (the caller needs no sign extension) */
LE_INLINE int32_t le_ssat8(int32_t x) {
#if defined(__ARM_FEATURE_SAT) && __ARM_FEATURE_SAT
  return __ssat(x, 8);
#else
  return x < -128 ? -128 : x > 127 ? 127 : x;
#endif
}

LE_INLINE int8_t le_clamp(int32_t x, int32_t low, int32_t high) {
#if defined(__ARM_FEATURE_SAT) && __ARM_FEATURE_SAT
  if (low == -128 && high == 127) return (int8_t)__ssat(x, 8); /* one SSAT when there is no fused activation */
  if (high == 127) return (int8_t)__ssat(x < low ? low : x, 8); /* ReLU: SSAT for the top */
#endif
  x = x < low ? low : x;
  return (int8_t)(x > high ? high : x);
}

/* A requantized value v plus the output offset, clamped to the activation's range: a ReLU (its floor is the
   offset) as max(v, 0) by one USAT where the core saturates (SSAT for the top), not a compare and a move:
   one 3x3 ReLU conv (1 -> 8 channels, 28x28) on the M4 174,863 -> 156,051 instructions, M3 314,020 -> 301,476. */
LE_INLINE int8_t le_activate(int32_t v, int32_t offset, int32_t low, int32_t high) {
#if defined(__ARM_FEATURE_SAT) && __ARM_FEATURE_SAT
  if (low == offset && high == 127 && low != -128) return (int8_t)__ssat((int32_t)__usat(v, 31) + offset, 8);
#endif
  return le_clamp(v + offset, low, high);
}

/* The input surrounded by its zero point: what TFLM's skipped out-of-image taps amount to. `flip` (ARMv6-M, a
   convolution with the int32 copy: emit.py flips): each byte then x + 128 as an unsigned byte, a word at a time
   (the arena's buffers are word-aligned and sized: memory.py), for le_dot_words to read by LDRB alone. */
LE_INLINE void le_pad(const int8_t *in, int h, int w, int c, int top, int left, int padded_h, int padded_w,
                      int8_t value, int flip, int8_t *out) {
  int y;
  memset(out, value, (size_t)(padded_h * padded_w * c));
  for (y = 0; y < h; ++y) {
    memcpy(out + ((y + top) * padded_w + left) * c, in + y * w * c, (size_t)(w * c));
  }
  if (flip) {
    uint32_t *word = (uint32_t *)(void *)out, *end = word + (padded_h * padded_w * c + 3) / 4;
    for (; word < end; ++word) *word ^= 0x80808080u;
  }
}

/* le_srdhm for |a| < 2^30: floor((a*b + 2^30) / 2^31) = floor((2a*b + 2^31) / 2^32), which is SMMULR of 2a and
   b (ARMv6 and later with the SIMD32 set: one instruction where the 64-bit product, its rounding and shift take
   five). */
#if defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32 && !defined(LENET_NO_DSP)
LE_INLINE int32_t le_srdhm_doubled(int32_t doubled, int32_t b) { /* le_srdhm_bounded of doubled / 2 */
  int32_t r;
  __asm("smmulr %0, %1, %2" : "=r"(r) : "r"(doubled), "r"(b));
  return r;
}
#define le_srdhm_bounded(a, b) le_srdhm_doubled((int32_t)((uint32_t)(a) << 1), b)
#else
#define le_srdhm_bounded le_srdhm_multiplier
#define le_srdhm_doubled(doubled, b) le_srdhm_multiplier((doubled) / 2, b)
#endif

/* `right_only` (a per-layer constant) is set by the generator when every shift is a right shift of at most 23 and
   the accumulators are bounded below 2^30, so RoundingDivideByPOT can round with one add (no overflow) and the
   doubling high multiply can use le_srdhm_bounded. Then two more steps drop out where the clamp allows:
   - the nudge of negative x (its x >> 31) only moves values at or below 0 to others at or below 0, which a clamp at
     or above the offset maps alike, so it is left out where low >= offset (a ReLU);
   - with no clamp but int8's the offset joins the rounding add ((2 * offset + 1) * 2^(shift - 1), below 2^30 for a
     shift of at most 23: no overflow) and the shift SSAT's operand: one SSAT clamps.
   Measured on the M4 (profile builds): lenet-plus 3,121,546 -> 3,064,738 instructions, seed-best 494,910 ->
   482,926. */
LE_INLINE int32_t le_srdhm_sums(int32_t acc, int32_t multiplier, int right_only) {
  return right_only == 2 ? le_srdhm_doubled(acc, multiplier) : le_srdhm_bounded(acc, multiplier);
}

/* right_only: the output plus its offset saturated to int8 only, the nudge where `nudge` */
LE_INLINE int32_t le_output_int8(int32_t acc, int32_t multiplier, int shift, int right_only, int32_t offset,
                                 int nudge) {
  const int32_t x = le_srdhm_sums(acc, multiplier, right_only);
  return le_ssat8((x + (2 * offset + 1) * (1 << (-shift - 1)) + (nudge ? x >> 31 : 0)) >> -shift);
}

LE_INLINE int8_t le_output(int32_t acc, int32_t multiplier, int shift, int right_only, int32_t offset,
                           int32_t low, int32_t high) {
  if (right_only && low == -128 && high == 127)
    return (int8_t)le_output_int8(acc, multiplier, shift, right_only, offset, low < offset);
  if (right_only) {
    const int32_t x = le_srdhm_sums(acc, multiplier, right_only), nudge = low >= offset ? 0 : x >> 31;
    return le_activate((x + (1 << (-shift - 1)) + nudge) >> -shift, offset, low, high);
  }
  return le_activate(le_requantize(acc, multiplier, shift), offset, low, high);
}

/* Dot products of one run of n contiguous input bytes with the same run of 4 filters (filter j at
   w + j * stride): each input byte is loaded once for four multiply-accumulates. With the DSP
   extension (Cortex-M4/M7/M33), SXTB16 unpacks 4 bytes into two pairs of int16 and SMLAD does two
   multiply-accumulates at once; the sums are the same int32 sums, so the result is the same. */
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && !defined(LENET_NO_DSP)
/* Helium (Cortex-M55/M85): 16 input bytes per load; VMLADAVA multiplies 16 int8 pairs and adds them to a
   scalar int32 sum, exactly. Whole steps run unpredicated, then one tail step under a predicate (VCTP) that
   loads zeros past the end of a run and touches no memory there (LE_MVE_STEP, LE_MVE_MAC). Predicating every
   step, as before, cost 22 %: seed-best on the M55 205,794 -> 168,889 instructions without. */
#include <arm_mve.h>
#define LE_MVE 1
#define LE_MVE_STEP(n, i, p, xv) const mve_pred16_t p = vctp8q((uint32_t)((n) - (i))); \
  const int8x16_t xv = vldrbq_z_s8(x + (i), p)
#define LE_MVE_MAC(acc, xv, w, p) acc = vmladavaq_s8(acc, xv, vldrbq_z_s8(w, p))
#elif defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32 && !defined(LENET_NO_DSP)
/* SIMD32, not DSP: ARMv5TE (a Pi Zero's 32-bit Debian armel) has the DSP extension but no SXTB16/SMLAD. */
#define LE_DSP 1
LE_INLINE uint32_t le_load32(const int8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4); /* an unaligned LDR, which ARMv7E-M allows */
  return v;
}
/* SXTB16 with its ROR #8 folded in: one instruction (GCC 12 emits a separate MOV ... ROR for the
   intrinsic on a rotated operand; measured: 5 of the 28 instructions of a 4-filter step). */
LE_INLINE int32_t le_sxtb16_ror8(uint32_t v) {
  int32_t r;
  __asm("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
  return r;
}
#define LE_SMLAD_BYTES(xa, xb, wv, acc) acc = __smlad(xb, le_sxtb16_ror8(wv), __smlad(xa, __sxtb16(wv), acc))
#endif

/* SIMD32 only: an int16 copy of small layers' weights, re-laid at generation time so that each 4 weights sit in
   the order SMLAD pairs them with SXTB16's halves of 4 input bytes (w0 w2 w1 w3), a run's tail as below:
   per filter and 4 inputs, two words and two SMLADs, no unpacking. The generator emits the copy for the layers
   emit.py `copied_layers` picks (it doubles their flash); LE_PAIRS(p) is 0 on other cores.
   SIMD32 cores read the int8 filters and this copy blocked by groups of 4 inputs (emit.py block_order): per block
   and group, each filter's 4 int8 weights one word, or the block's (w0, w2) words of the copy, then its (w1, w3)
   words; a run's last n % 4 inputs as [input][filter] (int8) or by pairs (the copy). The words then come by LDM,
   which GCC 12 does not form from word loads, so each group is one asm statement (LE_PAIRS4/2/6, LE_BYTES4: LDM
   fills its registers in number order, hence named ones; the "memory" clobber keeps GCC from hoisting later groups'
   input loads, which it did with separate statements, spilling them). The named registers are high ones (r8,
   r10-r12): with r4-r6 and r8, GCC 12 -Os had too few left for the operands in lenet-plus's 16-channel convolution
   ("impossible constraints");
   test_kernels.py compiles every case at every level. Without optimization (-O0 keeps too few registers free) the
   same steps in C. Per 16 MACs of a block of 4: with the copy 13 instructions (LDR, 2 SXTB16, 2 LDM, 8 SMLAD)
   where it took 19, without it 20 (LDR, 2 SXTB16, LDM, 8 SXTB16, 8 SMLAD) where it took 23.
   A run's tail in the copy (a block of several filters): 2 inputs packed into one word (PKHBT) against each
   filter's pair of weights, one SMLAD a filter (LE_TAIL_PAIRS4/2/6), where each input took a load and a multiply a
   filter: seed-best's second convolution (rows of 30 bytes) on the M4 178,612 -> 156,862 instructions (profile
   build); an odd last input against (w, 0) words (LE_TAIL_ONE4/2; a block of 6 in C, see le_dot6). */
#ifdef LE_DSP
#define LE_PAIRS(p) (p)
/* The layers with the int16 copy have it and their bias doubled where every shift is a right one (emit.py
   `doubled`), so their sums come doubled, ready for SMMULR (right_only 2): one LSL less an output. Measured on
   the M4 (profile builds): lenet-plus 3,064,738 -> 3,039,792 instructions, seed-best 482,926 -> 473,318. */
#define LE_DSP_ELSE(dsp, other) (dsp)
#define LE_UNPACKED(p) ((int32_t *)(void *)(p)) /* le_fully_connected's scratch, where emit.py gives it one */
#define LE_SUMS4 [s0] "+r"(a0), [s1] "+r"(a1), [s2] "+r"(a2), [s3] "+r"(a3)
#if defined(__OPTIMIZE__)
#define LE_GROUP [v] "+r"(v), [xb] "=&r"(xb), [q] "+r"(q)
#define LE_UNPACK "sxtb16 %[xb], %[v], ror #8\n\tsxtb16 %[v], %[v]\n\t" /* xa in v */
#define LE_SMLAD(s, x, r) "smlad %[" s "], %[" x "], " r ", %[" s "]\n\t"
#define LE_PAIRS4(word) do { uint32_t v = (word), xb; __asm(LE_UNPACK "ldmia %[q]!, {r8, r10, r11, r12}\n\t" \
  LE_SMLAD("s0", "v", "r8") LE_SMLAD("s1", "v", "r10") LE_SMLAD("s2", "v", "r11") LE_SMLAD("s3", "v", "r12") \
  "ldmia %[q]!, {r8, r10, r11, r12}\n\t" \
  LE_SMLAD("s0", "xb", "r8") LE_SMLAD("s1", "xb", "r10") LE_SMLAD("s2", "xb", "r11") LE_SMLAD("s3", "xb", "r12") \
  : LE_SUMS4, LE_GROUP : : "r8", "r10", "r11", "r12", "memory"); } while (0)
#define LE_BYTES_SMLAD(s, r) "sxtb16 %[t], " r "\n\t" LE_SMLAD(s, "v", "%[t]") "sxtb16 " r ", " r ", ror #8\n\t" \
  LE_SMLAD(s, "xb", r)
#define LE_BYTES4(word) do { uint32_t v = (word), xb, t; __asm(LE_UNPACK "ldmia %[q]!, {r8, r10, r11, r12}\n\t" \
  LE_BYTES_SMLAD("s0", "r8") LE_BYTES_SMLAD("s1", "r10") LE_BYTES_SMLAD("s2", "r11") LE_BYTES_SMLAD("s3", "r12") \
  : LE_SUMS4, LE_GROUP, [t] "=&r"(t) : : "r8", "r10", "r11", "r12", "memory"); } while (0)
#define LE_PAIRS2(word) do { uint32_t v = (word), xb; __asm(LE_UNPACK "ldmia %[q]!, {r8, r10, r11, r12}\n\t" \
  LE_SMLAD("s0", "v", "r8") LE_SMLAD("s1", "v", "r10") LE_SMLAD("s0", "xb", "r11") LE_SMLAD("s1", "xb", "r12") \
  : [s0] "+r"(a0), [s1] "+r"(a1), LE_GROUP : : "r8", "r10", "r11", "r12", "memory"); } while (0)
#define LE_PAIRS6(word) do { uint32_t v = (word), xb; __asm(LE_UNPACK "ldmia %[q]!, {r8, r10, r11, r12}\n\t" \
  LE_SMLAD("s0", "v", "r8") LE_SMLAD("s1", "v", "r10") LE_SMLAD("s2", "v", "r11") LE_SMLAD("s3", "v", "r12") \
  "ldmia %[q]!, {r8, r10, r11, r12}\n\t" \
  LE_SMLAD("s4", "v", "r8") LE_SMLAD("s5", "v", "r10") LE_SMLAD("s0", "xb", "r11") LE_SMLAD("s1", "xb", "r12") \
  "ldmia %[q]!, {r8, r10, r11, r12}\n\t" \
  LE_SMLAD("s2", "xb", "r8") LE_SMLAD("s3", "xb", "r10") LE_SMLAD("s4", "xb", "r11") LE_SMLAD("s5", "xb", "r12") \
  : LE_SUMS4, [s4] "+r"(a4), [s5] "+r"(a5), LE_GROUP : : "r8", "r10", "r11", "r12", "memory"); } while (0)
/* A tail's 2 inputs packed by PKHBT (LE_TAIL_PAIRS), a last one as it is (LE_TAIL_ONE: its top half, 0 or -1,
   meets a weight of 0) */
#define LE_TAIL_ASM(pack, x0, steps, hi, ...) do { uint32_t v = (uint32_t)(int32_t)(x0); \
  __asm(pack steps : __VA_ARGS__, [v] "+r"(v), [q] "+r"(q) : hi : "r8", "r10", "r11", "r12", "memory"); } while (0)
#define LE_PKHBT "pkhbt %[v], %[v], %[hi], lsl #16\n\t"
#define LE_HI(x1) [hi] "r"((int32_t)(x1))
#define LE_TAIL_STEPS4 "ldmia %[q]!, {r8, r10, r11, r12}\n\t" LE_SMLAD("s0", "v", "r8") LE_SMLAD("s1", "v", "r10") \
  LE_SMLAD("s2", "v", "r11") LE_SMLAD("s3", "v", "r12")
#define LE_TAIL_STEPS2 "ldmia %[q]!, {r8, r10}\n\t" LE_SMLAD("s0", "v", "r8") LE_SMLAD("s1", "v", "r10")
#define LE_SUMS2 [s0] "+r"(a0), [s1] "+r"(a1)
#define LE_TAIL_PAIRS4(x0, x1) LE_TAIL_ASM(LE_PKHBT, x0, LE_TAIL_STEPS4, LE_HI(x1), LE_SUMS4)
#define LE_TAIL_PAIRS2(x0, x1) LE_TAIL_ASM(LE_PKHBT, x0, LE_TAIL_STEPS2, LE_HI(x1), LE_SUMS2)
#define LE_TAIL_ONE4(x0) LE_TAIL_ASM("", x0, LE_TAIL_STEPS4, , LE_SUMS4)
#define LE_TAIL_ONE2(x0) LE_TAIL_ASM("", x0, LE_TAIL_STEPS2, , LE_SUMS2)
/* A block of 6 by LDRDs into registers GCC picks: with 6 sums, LDM's named ones left it too few (a 3x3 layer's
   rows of 3 bytes: "impossible constraints"). */
#define LE_LDRD_SMLAD2(s, t) "ldrd %[t0], %[t1], [%[q]], #8\n\t" LE_SMLAD(s, "v", "%[t0]") LE_SMLAD(t, "v", "%[t1]")
#define LE_TAIL_PAIRS6(x0, x1) do { uint32_t v = (uint32_t)(int32_t)(x0), t0, t1; \
  __asm(LE_PKHBT LE_LDRD_SMLAD2("s0", "s1") LE_LDRD_SMLAD2("s2", "s3") LE_LDRD_SMLAD2("s4", "s5") \
        : LE_SUMS4, [s4] "+r"(a4), [s5] "+r"(a5), [v] "+r"(v), [q] "+r"(q), [t0] "=&r"(t0), [t1] "=&r"(t1) \
        : LE_HI(x1) : "memory"); } while (0)
#define LE_BYTES4_UNPACKED() do { uint32_t v, xb, t; __asm("ldrd %[v], %[xb], [%[u]], #8\n\t" \
  "ldmia %[q]!, {r8, r10, r11, r12}\n\t" \
  LE_BYTES_SMLAD("s0", "r8") LE_BYTES_SMLAD("s1", "r10") LE_BYTES_SMLAD("s2", "r11") LE_BYTES_SMLAD("s3", "r12") \
  : LE_SUMS4, [v] "=&r"(v), [xb] "=&r"(xb), [q] "+r"(q), [u] "+r"(u), [t] "=&r"(t) : : "r8", "r10", "r11", "r12", \
  "memory"); } while (0)
#else
#define LE_WORD(k) le_load32((const int8_t *)(const void *)q + 4 * (k))
#define LE_UNPACK(word) const uint32_t v = (word); const int32_t xa = (int32_t)__sxtb16(v), xb = le_sxtb16_ror8(v)
#define LE_PAIRS4(word) do { LE_UNPACK(word); \
  a0 = __smlad(xb, (int32_t)LE_WORD(4), __smlad(xa, (int32_t)LE_WORD(0), a0)); \
  a1 = __smlad(xb, (int32_t)LE_WORD(5), __smlad(xa, (int32_t)LE_WORD(1), a1)); \
  a2 = __smlad(xb, (int32_t)LE_WORD(6), __smlad(xa, (int32_t)LE_WORD(2), a2)); \
  a3 = __smlad(xb, (int32_t)LE_WORD(7), __smlad(xa, (int32_t)LE_WORD(3), a3)); q += 16; } while (0)
#define LE_BYTES4(word) do { LE_UNPACK(word); LE_SMLAD_BYTES(xa, xb, LE_WORD(0), a0); \
  LE_SMLAD_BYTES(xa, xb, LE_WORD(1), a1); LE_SMLAD_BYTES(xa, xb, LE_WORD(2), a2); \
  LE_SMLAD_BYTES(xa, xb, LE_WORD(3), a3); q += 16; } while (0)
#define LE_PAIRS2(word) do { LE_UNPACK(word); \
  a0 = __smlad(xb, (int32_t)LE_WORD(2), __smlad(xa, (int32_t)LE_WORD(0), a0)); \
  a1 = __smlad(xb, (int32_t)LE_WORD(3), __smlad(xa, (int32_t)LE_WORD(1), a1)); q += 8; } while (0)
#define LE_PAIRS6(word) do { LE_UNPACK(word); \
  a0 = __smlad(xb, (int32_t)LE_WORD(6), __smlad(xa, (int32_t)LE_WORD(0), a0)); \
  a1 = __smlad(xb, (int32_t)LE_WORD(7), __smlad(xa, (int32_t)LE_WORD(1), a1)); \
  a2 = __smlad(xb, (int32_t)LE_WORD(8), __smlad(xa, (int32_t)LE_WORD(2), a2)); \
  a3 = __smlad(xb, (int32_t)LE_WORD(9), __smlad(xa, (int32_t)LE_WORD(3), a3)); \
  a4 = __smlad(xb, (int32_t)LE_WORD(10), __smlad(xa, (int32_t)LE_WORD(4), a4)); \
  a5 = __smlad(xb, (int32_t)LE_WORD(11), __smlad(xa, (int32_t)LE_WORD(5), a5)); q += 24; } while (0)
#define LE_TAIL_PAIR(x0, x1, k) a##k = __smlad((int32_t)(((uint32_t)(int32_t)(x0) & 0xffffu) | \
  ((uint32_t)(int32_t)(x1) << 16)), (int32_t)LE_WORD(k), a##k)
#define LE_TAIL_PAIRS2(x0, x1) do { LE_TAIL_PAIR(x0, x1, 0); LE_TAIL_PAIR(x0, x1, 1); q += 4; } while (0)
#define LE_TAIL_PAIRS4(x0, x1) do { LE_TAIL_PAIR(x0, x1, 0); LE_TAIL_PAIR(x0, x1, 1); LE_TAIL_PAIR(x0, x1, 2); \
  LE_TAIL_PAIR(x0, x1, 3); q += 8; } while (0)
#define LE_TAIL_PAIRS6(x0, x1) do { LE_TAIL_PAIR(x0, x1, 0); LE_TAIL_PAIR(x0, x1, 1); LE_TAIL_PAIR(x0, x1, 2); \
  LE_TAIL_PAIR(x0, x1, 3); LE_TAIL_PAIR(x0, x1, 4); LE_TAIL_PAIR(x0, x1, 5); q += 12; } while (0)
#define LE_TAIL_ONE2(x0) LE_TAIL_PAIRS2(x0, 0)
#define LE_TAIL_ONE4(x0) LE_TAIL_PAIRS4(x0, 0)
#define LE_BYTES4_UNPACKED() do { const int32_t xa = u[0], xb = u[1]; LE_SMLAD_BYTES(xa, xb, LE_WORD(0), a0); \
  LE_SMLAD_BYTES(xa, xb, LE_WORD(1), a1); LE_SMLAD_BYTES(xa, xb, LE_WORD(2), a2); \
  LE_SMLAD_BYTES(xa, xb, LE_WORD(3), a3); q += 16; u += 2; } while (0)
#endif
/* A run of the int16 copy for a block of B filters (4, 2 or 6): its groups of 4 inputs, then a pair of inputs
   left (emit.py block_order `tail_pairs`); the caller takes an odd last one. */
#define LE_PAIRS_RUN(B) do { LE_UNROLL_STEPS for (; i + 4 <= n; i += 4) LE_PAIRS##B(le_load32(x + i)); \
  if (n - i >= 2) { LE_TAIL_PAIRS##B(x[i], x[i + 1]); i += 2; } } while (0)
LE_INLINE int32_t le_pair_dot(int32_t xa, int32_t xb, const int16_t *w, int32_t acc) {
  uint32_t even, odd; /* two scalars, not an array: an array made GCC 12 copy through the stack */
  memcpy(&even, w, 4);
  memcpy(&odd, w + 2, 4);
  return __smlad(xb, (int32_t)odd, __smlad(xa, (int32_t)even, acc));
}
/* 4 input bytes, unpacked once for every filter of the block (or read unpacked: le_fully_connected); then each filter's
   step from either layout (a block of 1, and a block of 2's int8 words, which may sit 2 bytes off a word: LDRs,
   not LDM). */
#define LE_DSP_INPUTS(i) int32_t xa, xb; \
  if (unpacked) { \
    xa = unpacked[(i) / 2], xb = unpacked[(i) / 2 + 1]; \
  } else { \
    const uint32_t xv = le_load32(x + (i)); \
    xa = (int32_t)__sxtb16(xv), xb = le_sxtb16_ror8(xv); \
  }
#define LE_DSP_INT8(acc, offset) LE_SMLAD_BYTES(xa, xb, le_load32(w + i + (offset)), acc)
#define LE_DSP_INT16(acc, offset) acc = le_pair_dot(xa, xb, pairs + i + (offset), acc)
#if defined(__GNUC__) && !defined(__clang__)
/* A convolution's blocks of 4 output channels unrolled up to 4 times (SIMD32 only). Measured on the M4, one
   5x5 / 3x3 convolution on a 28x28 image with 8 filters: 2.65 -> 2.10 and 4.75 -> 3.44 instructions per MAC
   (kept in a loop, the sums and requantization constants went through memory); lenet-plus 5,262,936 ->
   5,151,434 per inference; seed-best (6 filters: one block) +0.1 %, flash +0.9 KB (its dense layers' blocks).
   On the M0 and M55 it cost 3 % and 2 % on seed-best, so not there. */
#define LE_UNROLL_BLOCKS _Pragma("GCC unroll 4")
#endif
#else
#define LE_PAIRS(p) ((const int16_t *)0)
#define LE_DSP_ELSE(dsp, other) (other)
#define LE_UNPACKED(p) ((int32_t *)0)
#endif
#ifndef LE_UNROLL_BLOCKS
#define LE_UNROLL_BLOCKS
#endif

/* ARMv6-M (Cortex-M0/M0+), whose LDRSB takes a register offset only (a weight cost a MOVS or an address sum and
   an LDRSB): the filters in blocked order (LE_BLOCKED), each block's weights interleaved (input i of the block's
   filter j at i * block + j), so that they are reached by immediate offsets: a big convolution's int8 filters in
   blocks of 4, 2 and 1; a small one's int32 copy (LE_WORDS: it quadruples their flash) and a dense layer's bytes
   w + 128 in blocks of 6 (le_dot_words, le_dot_bytes). LE_WORDS(p) is 0 elsewhere. -DLENET_BLOCKED=1 or 0
   overrides the choice on cores without DSP or Helium (the tests walk it on the host). Measured on seed-best (M0):
   2,215,834 -> 1,905,149 instructions with the int32 copy, then 1,851,168 with the big layers' int8 filters
   blocked (its 294- and 120-input dense layers 6.32 -> 4.90 and 7.34 -> 5.18 per MAC). LE_BLOCK4/2/1 also read
   the last inputs of SIMD32's blocked int8 runs. */
#if defined(LENET_BLOCKED) && !defined(LE_DSP) && !defined(LE_MVE)
#define LE_BLOCKED LENET_BLOCKED
#elif defined(__ARM_ARCH_6M__)
#define LE_BLOCKED 1
#else
#define LE_BLOCKED 0
#endif
#if LE_BLOCKED
#define LE_BLOCKED_ELSE(blocked, other) (blocked) /* emit.py: a dense layer's flipped input, an extended table */
#define LE_WORDS(p) (p)
#define LE_GUESS(p) (p)
#define LE_WORDS_FLIP 1
#else
#define LE_BLOCKED_ELSE(blocked, other) (other)
#define LE_WORDS(p) ((const int32_t *)0)
#define LE_GUESS(p) ((const int32_t *)0)
#define LE_WORDS_FLIP 0
#endif
#define LE_BLOCK4(W) LE_UNROLL_STEPS for (; i < n; ++i) { \
    const int32_t v = x[i]; \
    a0 += v * (W)[4 * i], a1 += v * (W)[4 * i + 1], a2 += v * (W)[4 * i + 2], a3 += v * (W)[4 * i + 3]; }
#define LE_BLOCK2(W) LE_UNROLL_STEPS for (; i < n; ++i) { \
    const int32_t v = x[i]; \
    a0 += v * (W)[2 * i], a1 += v * (W)[2 * i + 1]; }
#if LE_BLOCKED || defined(LE_DSP)
#define LE_IN_BLOCK(block) (block) /* a filter row's step within its block's weights */
#else
#define LE_IN_BLOCK(block) 1
#endif
#define LE_BLOCK1(W) LE_UNROLL_STEPS for (; i < n; ++i) acc += (int32_t)x[i] * (W)[i];

/* The dot products of n contiguous input bytes with the same run of 4, 2 or 1 filters (filter j at
   w + j * stride, or blocked: see LE_BLOCKED): each input byte is loaded once for every filter of the block. One
   family for every int8 or int16 weight layout (ARMv6-M's int32 copy: le_dot_words): `pairs` is the int16 copy
   of the same weights (SIMD32 only, else 0); given it, the 4-input steps and the scalar tail read it; else the
   int8 weights (the choice is made at compile time: each layer's function passes its own constant copy or 0).
   One tail per block size (LE_TAIL4/2/1) serves the plain layout (Cortex-M3, Helium, hosts), one loop
   (LE_BLOCK4/2/1) the blocked ones (ARMv6-M; SIMD32's tails). Measured on seed-best at -O2 (GCC 12): the same
   instructions as the two separate families this replaced (M4 728,451 -> 728,453; M33 724,376 -> 724,380), once
   the weight addresses are written `w + i + offset` as before: written `w + (i + offset)` they cost +0.4 % on the
   M4 and +1.9 % on the M33. The three block sizes are written out on purpose: a single version looping over a
   block-size parameter kept the sums in memory (1.3x the instructions with SMLAD, 1.75x without). */
#define LE_TAIL4(W) LE_UNROLL for (; i < n; ++i) { \
    const int32_t v = x[i]; \
    a0 += v * (W)[i], a1 += v * (W)[i + stride], a2 += v * (W)[i + 2 * stride], a3 += v * (W)[i + 3 * stride]; }
#define LE_TAIL2(W) LE_UNROLL for (; i < n; ++i) { \
    const int32_t v = x[i]; \
    a0 += v * (W)[i], a1 += v * (W)[i + stride]; }
#define LE_TAIL1(W) LE_UNROLL for (; i < n; ++i) acc += (int32_t)x[i] * (W)[i];

LE_INLINE void le_dot4(const int8_t *x, const int32_t *unpacked, const int8_t *w, const int16_t *pairs,
                       int n, int stride, int32_t *acc) {
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
  int i = 0;
  (void)unpacked, (void)pairs, (void)stride; /* stride: unused where the filters are blocked */
#ifdef LE_DSP
  if (pairs) {
    const int16_t *q = pairs;
    LE_PAIRS_RUN(4);
    if (i < n) LE_TAIL_ONE4(x[i]);
  } else
#endif
  {
#if LE_BLOCKED
    LE_BLOCK4(w)
#elif defined(LE_DSP)
    const int8_t *q = w;
    if (unpacked) {
      const int32_t *u = unpacked;
      LE_UNROLL_STEPS
      for (; i + 4 <= n; i += 4) LE_BYTES4_UNPACKED();
    } else {
      LE_UNROLL_STEPS
      for (; i + 4 <= n; i += 4) LE_BYTES4(le_load32(x + i));
    }
    LE_BLOCK4(w)
#else
#ifdef LE_MVE
    for (; i + 16 <= n; i += 16) {
      const int8x16_t xv = vldrbq_s8(x + i);
      a0 = vmladavaq_s8(a0, xv, vldrbq_s8(w + i));
      a1 = vmladavaq_s8(a1, xv, vldrbq_s8(w + i + stride));
      a2 = vmladavaq_s8(a2, xv, vldrbq_s8(w + i + 2 * stride));
      a3 = vmladavaq_s8(a3, xv, vldrbq_s8(w + i + 3 * stride));
    }
    if (i < n) {
      LE_MVE_STEP(n, i, p, xv);
      LE_MVE_MAC(a0, xv, w + i, p);
      LE_MVE_MAC(a1, xv, w + i + stride, p);
      LE_MVE_MAC(a2, xv, w + i + 2 * stride, p);
      LE_MVE_MAC(a3, xv, w + i + 3 * stride, p);
      i = n;
    }
#endif
    LE_TAIL4(w)
#endif
  }
  acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
}

LE_INLINE void le_dot2(const int8_t *x, const int32_t *unpacked, const int8_t *w, const int16_t *pairs,
                       int n, int stride, int32_t *acc) {
  int32_t a0 = acc[0], a1 = acc[1];
  int i = 0;
  (void)unpacked, (void)pairs, (void)stride;
#ifdef LE_DSP
  if (pairs) {
    const int16_t *q = pairs;
    LE_PAIRS_RUN(2);
    if (i < n) LE_TAIL_ONE2(x[i]);
  } else
#endif
  {
#if LE_BLOCKED
    LE_BLOCK2(w)
#elif defined(LE_DSP)
    for (; i + 4 <= n; i += 4) { /* a block of 2's words may sit 2 bytes off a word: LDRs, not LDM */
      LE_DSP_INPUTS(i);
      LE_SMLAD_BYTES(xa, xb, le_load32(w + 2 * i), a0), LE_SMLAD_BYTES(xa, xb, le_load32(w + 2 * i + 4), a1);
    }
    LE_BLOCK2(w)
#else
#ifdef LE_MVE
    for (; i + 16 <= n; i += 16) {
      const int8x16_t xv = vldrbq_s8(x + i);
      a0 = vmladavaq_s8(a0, xv, vldrbq_s8(w + i));
      a1 = vmladavaq_s8(a1, xv, vldrbq_s8(w + i + stride));
    }
    if (i < n) {
      LE_MVE_STEP(n, i, p, xv);
      LE_MVE_MAC(a0, xv, w + i, p);
      LE_MVE_MAC(a1, xv, w + i + stride, p);
      i = n;
    }
#endif
    LE_TAIL2(w)
#endif
  }
  acc[0] = a0, acc[1] = a1;
}

LE_INLINE int32_t le_dot1(const int8_t *x, const int32_t *unpacked, const int8_t *w, const int16_t *pairs,
                          int n, int32_t acc) {
  int i = 0;
  (void)unpacked, (void)pairs;
#ifdef LE_DSP
  if (pairs) {
    LE_UNROLL_STEPS
    for (; i + 4 <= n; i += 4) {
      LE_DSP_INPUTS(i);
      LE_DSP_INT16(acc, 0);
    }
    LE_TAIL1(pairs)
  } else
#endif
  {
#if LE_BLOCKED
    LE_BLOCK1(w)
#else
#ifdef LE_MVE
    for (; i + 16 <= n; i += 16) acc = vmladavaq_s8(acc, vldrbq_s8(x + i), vldrbq_s8(w + i));
    if (i < n) {
      LE_MVE_STEP(n, i, p, xv);
      LE_MVE_MAC(acc, xv, w + i, p);
      i = n;
    }
#endif
#ifdef LE_DSP
    for (; i + 4 <= n; i += 4) {
      LE_DSP_INPUTS(i);
      LE_DSP_INT8(acc, 0);
    }
#endif
    LE_TAIL1(w)
#endif
  }
  return acc;
}

/* ARMv6-M's int32 copy (LE_WORDS): a window's sums for a block of up to 6 filters (w: the block's biases, then input k
   of its filter j at k * block + j), its `rows` runs of `run` input bytes, in_row bytes apart; `flipped`: the input's
   bytes are x + 128 (le_pad wrote them so; the biases take the 128 back). On the Cortex-M0 in assembly: the 6 sums in
   the high registers r8-r12 and lr (ADD reaches them, MULS does not), so that r0-r5 hold an input and 5 weights; per
   input LDRB (and SXTB unless flipped), then per 5 filters one LDM of their weights and a MULS and an ADD each (15 or
   16 instructions per 6 MACs), each input's offset an immediate: the window's rows unrolled where it has at most 64
   inputs, else one row (of at most 40) in a loop counted on the stack. GCC's C kept the sums in low registers and took
   14 per 4 MACs (an index register, an LDRSB, then LDR, MULS, ADD per filter). GCC sizes an asm by its statements, not
   by what .rept makes of them, so each asm ends in LE_M0_SIZE empty statements, at least the most it assembles to (else
   branches and literal pools placed across it fall out of reach). Without optimization (too few registers), for longer
   rows, with Clang (not tried here) and on other cores, C. Measured on seed-best (M0, profile builds): 1,840,894 ->
   1,479,062 instructions (its convolutions 6.06 and 4.68 -> 5.28 and 3.14 per MAC); flipped (both are padded) 1,205,778
   -> 1,160,019 (after the output guess and dense bytes below). Where the input is mostly background (the model's
   input, emit.py skips_zeros) a zero input skips its MACs: CMP, BEQ and an ADDS of the weights' pointer (4
   instructions where its MACs took 15; 18 where it is not zero): seed-best's first convolution 431,056 -> 264,550
   on MNIST (20 test images; 82 % of their pixels are background), the whole 1,135,131 -> 968,631. */
#if LE_BLOCKED && defined(__ARM_ARCH_6M__) && defined(__GNUC__) && !defined(__clang__) && defined(__OPTIMIZE__)
#define LE_M0_MAC(r, s) "muls " r ", r0, " r "\n\tadd " s ", " r "\n\t"
/* a block's sums started from B words at `p` (LDM with writeback, or from r0 itself: `p` "r0" with no "!") */
#define LE_M0_SUMS1(p) "ldm " p ", {r0}\n\tmov r8, r0\n\t"
#define LE_M0_SUMS2(p) "ldm " p ", {r0, r1}\n\tmov r8, r0\n\tmov r9, r1\n\t"
#define LE_M0_SUMS3(p) "ldm " p ", {r0-r2}\n\tmov r8, r0\n\tmov r9, r1\n\tmov r10, r2\n\t"
#define LE_M0_SUMS4(p) "ldm " p ", {r0-r3}\n\tmov r8, r0\n\tmov r9, r1\n\tmov r10, r2\n\tmov r11, r3\n\t"
#define LE_M0_SUMS5(p) "ldm " p ", {r0-r4}\n\tmov r8, r0\n\tmov r9, r1\n\tmov r10, r2\n\tmov r11, r3\n\t" \
  "mov r12, r4\n\t"
#define LE_M0_SUMS6(p) "ldm " p ", {r0-r5}\n\tmov r8, r0\n\tmov r9, r1\n\tmov r10, r2\n\tmov r11, r3\n\t" \
  "mov r12, r4\n\tmov lr, r5\n\t"
#define LE_M0_STEP1 "ldm %[w]!, {r1}\n\t" LE_M0_MAC("r1", "r8")
#define LE_M0_STEP2 "ldm %[w]!, {r1, r2}\n\t" LE_M0_MAC("r1", "r8") LE_M0_MAC("r2", "r9")
#define LE_M0_STEP3 "ldm %[w]!, {r1-r3}\n\t" LE_M0_MAC("r1", "r8") LE_M0_MAC("r2", "r9") LE_M0_MAC("r3", "r10")
#define LE_M0_STEP4 "ldm %[w]!, {r1-r4}\n\t" LE_M0_MAC("r1", "r8") LE_M0_MAC("r2", "r9") LE_M0_MAC("r3", "r10") \
  LE_M0_MAC("r4", "r11")
#define LE_M0_STEP5 "ldm %[w]!, {r1-r5}\n\t" LE_M0_MAC("r1", "r8") LE_M0_MAC("r2", "r9") LE_M0_MAC("r3", "r10") \
  LE_M0_MAC("r4", "r11") LE_M0_MAC("r5", "r12")
#define LE_M0_STEP6 LE_M0_STEP5 "ldm %[w]!, {r1}\n\t" LE_M0_MAC("r1", "lr")
/* n inputs at offsets 0..31 from x (LDRB's reach; x moved on by 32 where there are more) */
#define LE_M0_INPUTS(n, B) ".set .Lle_k, 0\n\t.rept " n "\n\t.if .Lle_k == 32\n\tadds %[x], #32\n\t.set .Lle_k, 0\n\t" \
  ".endif\n\tldrb r0, [%[x], #.Lle_k]\n\t.if %c[sign]\n\tsxtb r0, r0\n\t.endif\n\t" \
  ".if %c[skip]\n\tcmp r0, #0\n\tbeq 8f\n\t.endif\n\t" LE_M0_STEP##B \
  ".if %c[skip]\n\tb 9f\n8:\n\tadds %[w], #4 * " #B "\n9:\n\t.endif\n\t.set .Lle_k, .Lle_k + 1\n\t.endr\n\t"
#define LE_M0_ADVANCE ".rept %c[adv] / 255\n\tadds %[x], #255\n\t.endr\n\t.if %c[adv] %% 255\n\t" \
  "adds %[x], #%c[adv] %% 255\n\t.endif\n\t"
/* the block's sums from its biases (the head of its words), then the body (`rows` rows of `run`, each followed by
   the advance to the next) `loops` times */
#define LE_M0_DOT(B) ".syntax unified\n\t" LE_M0_SUMS##B("%[w]!") ".if %c[loops] > 1\n\tmovs r0, #%c[loops]\n\t" \
  "push {r0}\n\t.endif\n1:\n\t.rept %c[rows]\n\t" LE_M0_INPUTS("%c[run]", B) LE_M0_ADVANCE ".endr\n\t" \
  ".if %c[loops] > 1\n\tldr r0, [sp]\n\tsubs r0, #1\n\tstr r0, [sp]\n\tbeq 2f\n\tb 1b\n2:\n\tadd sp, #4\n\t" \
  ".endif\n\t" LE_M0_SIZE
#define LE_M0_PAD10 ";;;;;;;;;;"
#define LE_M0_PAD100 LE_M0_PAD10 LE_M0_PAD10 LE_M0_PAD10 LE_M0_PAD10 LE_M0_PAD10 LE_M0_PAD10 LE_M0_PAD10 \
  LE_M0_PAD10 LE_M0_PAD10 LE_M0_PAD10
#define LE_M0_PAD500 LE_M0_PAD100 LE_M0_PAD100 LE_M0_PAD100 LE_M0_PAD100 LE_M0_PAD100
/* the most an asm assembles to: 64 inputs of 20 instructions (16, and 4 where zeros are skipped), 64 advances of
   4 ADDS (in_row <= 1020), 13 */
#define LE_M0_SIZE LE_M0_PAD500 LE_M0_PAD500 LE_M0_PAD500 LE_M0_PAD100
#define LE_M0_CASE(B) case B: \
  __asm volatile(LE_M0_DOT(B) : "=r"(s0), "=r"(s1), "=r"(s2), "=r"(s3), "=r"(s4), "=r"(s5), [x] "+l"(x), \
                 [w] "+l"(w) : [rows] "i"(rows), [loops] "i"(loops), [run] "i"(run), \
                 [adv] "i"(in_row - 32 * ((run - 1) / 32)), [sign] "i"(!(flags & 1)), [skip] "i"(flags >> 1 & 1) \
                 : "r0", "r1", "r2", "r3", "r4", "r5", "cc", "memory"); break;
/* the 6 sums' registers, and the block's sums out of them */
#define LE_M0_SUM_REGISTERS register int32_t s0 __asm("r8"), s1 __asm("r9"), s2 __asm("r10"), s3 __asm("r11"), \
    s4 __asm("r12"), s5 __asm("lr")
#define LE_M0_SUMS_OUT(block, acc) do { (acc)[0] = s0; if ((block) > 1) { (acc)[1] = s1; } \
    if ((block) > 2) { (acc)[2] = s2; } if ((block) > 3) { (acc)[3] = s3; } if ((block) > 4) { (acc)[4] = s4; } \
    if ((block) > 5) { (acc)[5] = s5; } } while (0)
#define LE_M0_ASM 1
#endif
LE_INLINE void le_dot_words(const int8_t *x, const int32_t *w, int flags, int block, int rows, int run,
                            int in_row, int32_t *acc) {
  const int flipped = flags & 1;
  int ky, k, j;
#ifdef LE_M0_ASM
  if (__builtin_constant_p(block) && __builtin_constant_p(rows) && __builtin_constant_p(run) &&
      __builtin_constant_p(in_row) && __builtin_constant_p(flags) && in_row <= 1020 &&
      (rows * run <= 64 || run <= 40)) {
    LE_M0_SUM_REGISTERS;
    int loops = 1;
    if (rows * run > 64) loops = rows, rows = 1;
    switch (block) {
      LE_M0_CASE(1) LE_M0_CASE(2) LE_M0_CASE(3) LE_M0_CASE(4) LE_M0_CASE(5) LE_M0_CASE(6)
    }
    LE_M0_SUMS_OUT(block, acc);
    return;
  }
#endif
  for (j = 0; j < block; ++j) acc[j] = *w++;
  for (ky = 0; ky < rows; ++ky)
    for (k = 0; k < run; ++k, w += block) {
      const int32_t v = flipped ? (int32_t)(uint8_t)x[ky * in_row + k] : (int32_t)x[ky * in_row + k];
      for (j = 0; j < block; ++j) acc[j] += v * w[j];
    }
}

#ifdef LE_DSP
/* A layer's last 6 filters as one block where its int16 copy has them so (4n + 2 filters: emit.py `pairs`), on
   SIMD32 cores: the inputs unpacked once for 6 filters, not once for 4 and again for 2 (LE_PAIRS6: 18 instructions
   per 24 MACs where a block of 4 and one of 2 took 21). Measured on seed-best (M4, profile builds): 465,178 ->
   430,836 instructions (its 6-filter convolutions 164,420 -> 148,738 and 197,272 -> 178,612). */
LE_INLINE void le_dot6(const int8_t *x, const int16_t *pairs, int n, int32_t *acc) {
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], a4 = acc[4], a5 = acc[5];
  const int16_t *q = pairs;
  int i = 0;
  LE_PAIRS_RUN(6);
  if (i < n) { /* measured: by LDRDs as LE_TAIL_PAIRS6, seed-best's first layer 148,746 -> 151,092 */
    const int32_t v = x[i];
    const int16_t *w = pairs + 6 * i; /* from `pairs`, not q: GCC folds the constant weights into the code */
    a0 += v * w[0], a1 += v * w[2], a2 += v * w[4], a3 += v * w[6], a4 += v * w[8], a5 += v * w[10];
  }
  acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3, acc[4] = a4, acc[5] = a5;
}
#endif

/* Where the column strip pays (see le_conv2d): SIMD cores, whose dot products run whole words or vectors; on
   others the copy costs more than it saves, and GCC (which sees the constant filters of a fully unrolled run)
   turned the Cortex-M0's multiplies into shift-and-add chains (seed-best's first layer 8.44 -> 9.52 per MAC).
   -DLENET_STRIP=1 or 0 overrides the choice (the tests walk both paths on any core). */
#if defined(LENET_STRIP)
#define LE_STRIP_PAYS LENET_STRIP
#elif defined(LE_DSP) || defined(LE_MVE)
#define LE_STRIP_PAYS 1
#else
#define LE_STRIP_PAYS 0
#endif
#if LE_STRIP_PAYS
#define LE_STRIP(p) (p)
#else
#define LE_STRIP(p) ((int8_t *)0)
#endif

/* The k_h input rows that output row reads, column by column (strip[x][ky][c]): each output's window is then one
   contiguous run of k_w * k_h * in_c bytes, read against filters laid out the same way (OWHI, by the generator). */
#ifdef LE_MVE
typedef uint8x16_t le_scatter;
/* Where byte j of a chunk of whole pixels of one input row goes in the strip: j + (j / in_c) * (k_h - 1) * in_c
   (a byte while k_h <= 16: in_c < 16 where there is a strip). */
LE_INLINE le_scatter le_strip_offsets(int in_c, int k_h) {
  uint8_t offsets[16];
  int j;
  for (j = 0; j < 16; ++j) offsets[j] = (uint8_t)(j + j / in_c * (k_h - 1) * in_c);
  return vld1q_u8(offsets);
}
#define LE_NO_SCATTER vdupq_n_u8(0)
#else
typedef int le_scatter; /* unused where there is no Helium */
#define le_strip_offsets(in_c, k_h) 0
#define LE_NO_SCATTER 0
#endif

LE_INLINE void le_strip(const int8_t *rows, int in_row, int in_c, int k_h, int cols, le_scatter scatter,
                        int8_t *strip) {
  int x, ky, c;
#ifdef LE_MVE
  /* Helium: each input row in chunks of whole pixels (up to 16 bytes), each chunk scattered to its columns by one
     store (seed-best's first layer on the M55: 225,807 -> 212,362 instructions in all). */
  if (k_h <= 16) {
    const int chunk = 16 / in_c * in_c;
    for (ky = 0; ky < k_h; ++ky)
      for (x = 0; x < cols * in_c; x += chunk) {
        const mve_pred16_t p = vctp8q((uint32_t)(cols * in_c - x < chunk ? cols * in_c - x : chunk));
        vstrbq_scatter_offset_p_s8(strip + x * k_h + ky * in_c, scatter, vldrbq_z_s8(rows + ky * in_row + x, p), p);
      }
    return;
  }
#endif
#ifdef LE_DSP
  /* SIMD32, 3 rows of one channel: 4 columns from a word of each row, reordered by UXTB16, ORR and PKH into the
     strip's 3 words (a0 b0 c0 a1, b1 c1 a2 b2, c2 a3 b3 c3): 20 instructions where they took 28. Measured on the
     M4 (benchmarks/first_layers.py, 50 images), 3x3 one-channel ReLU layers with 4 and 6 filters, zero point 8:
     57,714 -> 56,054 and 85,121 -> 83,497 instructions (2.04 -> 1.99 and 2.01 -> 1.97 per MAC). */
  if (in_c == 1 && k_h == 3) {
    for (x = 0; x + 4 <= cols; x += 4, strip += 12) {
      const uint32_t a = le_load32(rows + x), b = le_load32(rows + in_row + x), c = le_load32(rows + 2 * in_row + x);
      uint32_t w[3], t, u, ab, ca, bc; /* ab: a0 b0 a2 b2, ca: c0 a1 c2 a3, bc: b1 c1 b3 c3 (GCC 12 took 26) */
      __asm("uxtb16 %[t], %[a]\n\tuxtb16 %[u], %[b]\n\torr %[ab], %[t], %[u], lsl #8\n\t"
            "uxtb16 %[t], %[a], ror #8\n\tuxtb16 %[u], %[c]\n\torr %[ca], %[u], %[t], lsl #8\n\t"
            "uxtb16 %[t], %[b], ror #8\n\tuxtb16 %[u], %[c], ror #8\n\torr %[bc], %[t], %[u], lsl #8\n\t"
            "pkhbt %[w0], %[ab], %[ca], lsl #16\n\tpkhtb %[w1], %[ab], %[bc]\n\tpkhtb %[w2], %[bc], %[ca], asr #16"
            : [t] "=&r"(t), [u] "=&r"(u), [ab] "=&r"(ab), [ca] "=&r"(ca), [bc] "=&r"(bc), [w0] "=&r"(w[0]),
              [w1] "=&r"(w[1]), [w2] "=r"(w[2]) : [a] "r"(a), [b] "r"(b), [c] "r"(c));
      memcpy(strip, w, 12);
    }
    for (; x < cols; ++x, strip += 3)
      strip[0] = rows[x], strip[1] = rows[in_row + x], strip[2] = rows[2 * in_row + x];
    (void)scatter;
    return;
  }
#endif
  LE_UNROLL_STEPS
  for (x = 0; x < cols; ++x, strip += k_h * in_c) /* a column unrolled: a byte is a load and a store */
    LE_UNROLL
    for (ky = 0; ky < k_h; ++ky)
      LE_UNROLL
      for (c = 0; c < in_c; ++c) strip[ky * in_c + c] = rows[ky * in_row + x * in_c + c];
  (void)scatter;
}

/* An output through a fused TANH or LOGISTIC's table (emit.py fused_lookups: the layer's only reader, in place, where
   the layer clamps to int8's range only), or as it is: one load where the lookup's own pass took a load, the
   lookup and a store an element. */
#define LE_LOOK(v) (table ? (int32_t)table[(v) + 128] : (int32_t)(v))
#ifdef LE_MVE /* Helium keeps the lookup's own pass, 16 elements a gather load (fused, seed-best ran 4 % more) */
#define LE_FUSED(table) ((const int8_t *)0)
#define LE_FUSED_PASS 1
#else
#define LE_FUSED(table) (table)
#define LE_FUSED_PASS 0
#endif

#ifdef LE_MVE
/* le_output of 4 accumulators at once, for right_only layers: VQRDMULH is le_srdhm, and VRSHL by a negative amount
   rounds halves up, so adding x >> 31 first rounds them away from zero as le_rdbpot does (|x| < 2^30: no
   overflow). Measured on seed-best (M55): 260,360 -> 244,639 instructions; also predicated for the blocks of 2,
   260,782 (GCC 12 then kept the sums in memory), so blocks of 4 only. */
#define LE_OUTPUT4(right_only, low, high) (right_only)
LE_INLINE void le_output4(const int32_t *acc, const int32_t *multiplier, const int8_t *shift, int right_only,
                          int32_t offset, int32_t low, int32_t high, const int8_t *table, int8_t *out) {
  int32x4_t x = vqrdmulhq_s32(vldrwq_s32(acc), vldrwq_s32(multiplier));
  x = vrshlq_s32(vaddq_s32(x, vshrq_n_s32(x, 31)), vldrbq_s32(shift));
  x = vminq_s32(vmaxq_s32(vaddq_n_s32(x, offset), vdupq_n_s32(low)), vdupq_n_s32(high));
  if (table) x = vldrbq_gather_offset_s32(table, vreinterpretq_u32_s32(vaddq_n_s32(x, 128))); /* a fused TANH */
  vstrbq_s32(out, x);
  (void)right_only;
}
#elif defined(LE_DSP)
/* 4 int8 in a word clamped to [low, high], each byte alone: SSUB8 flags the bytes at or above the floor and SEL
   takes them (a signed max of 4 bytes in 2 instructions), the ceiling the same way. */
LE_INLINE uint32_t le_clamp4(uint32_t w, int32_t low, int32_t high) {
  const uint32_t lows = (uint8_t)low * 0x01010101u, highs = (uint8_t)high * 0x01010101u;
  if (low > -128) {
    (void)__ssub8((int8x4_t)w, (int8x4_t)lows);
    w = (uint32_t)__sel((uint8x4_t)w, (uint8x4_t)lows);
  }
  if (high < 127) {
    (void)__ssub8((int8x4_t)highs, (int8x4_t)w);
    w = (uint32_t)__sel((uint8x4_t)w, (uint8x4_t)highs);
  }
  return w;
}

/* le_output of 4 accumulators at once where the activation clamps inside int8's range (right_only layers: a ReLU
   whose offset is not -128, a ReLU6): each output saturated to int8 with its offset (le_output_int8: the offset in
   the rounding add, the shift in SSAT), the four packed into a word (BFI, BFI, PKHBT), clamped by le_clamp4, one
   STR; where each output took its own USAT, ADD, SSAT and STRB. Measured on the M4 (main build, 50 images), 3x3
   one-channel ReLU layers (offset 8) with 8, 6 and 4 filters: 116,282 -> 107,828, 96,686 -> 85,936 and 66,896 ->
   61,626 instructions. */
#define LE_OUTPUT4(right_only, low, high) ((right_only) && ((low) > -128 || (high) < 127))
LE_INLINE void le_output4(const int32_t *acc, const int32_t *multiplier, const int8_t *shift, int right_only,
                          int32_t offset, int32_t low, int32_t high, const int8_t *table, int8_t *out) {
  int32_t z0 = LE_LOOK(le_output_int8(acc[0], multiplier[0], shift[0], right_only, offset, low < offset));
  int32_t z2 = LE_LOOK(le_output_int8(acc[2], multiplier[2], shift[2], right_only, offset, low < offset));
  const int32_t z1 = LE_LOOK(le_output_int8(acc[1], multiplier[1], shift[1], right_only, offset, low < offset));
  const int32_t z3 = LE_LOOK(le_output_int8(acc[3], multiplier[3], shift[3], right_only, offset, low < offset));
  uint32_t w;
  __asm("bfi %[a], %[b], #8, #8\n\tbfi %[c], %[d], #8, #8\n\tpkhbt %[a], %[a], %[c], lsl #16"
        : [a] "+r"(z0), [c] "+r"(z2) : [b] "r"(z1), [d] "r"(z3));
  w = le_clamp4((uint32_t)z0, low, high);
  memcpy(out, &w, 4);
}

/* The same for 2 (a block of 2, the last 2 of a block of 6): one BFI, one STRH. Measured as le_output4. */
LE_INLINE void le_output2(const int32_t *acc, const int32_t *multiplier, const int8_t *shift, int right_only,
                          int32_t offset, int32_t low, int32_t high, const int8_t *table, int8_t *out) {
  int32_t z0 = LE_LOOK(le_output_int8(acc[0], multiplier[0], shift[0], right_only, offset, low < offset));
  const int32_t z1 = LE_LOOK(le_output_int8(acc[1], multiplier[1], shift[1], right_only, offset, low < offset));
  uint32_t w;
  __asm("bfi %[a], %[b], #8, #8" : [a] "+r"(z0) : [b] "r"(z1));
  w = le_clamp4((uint32_t)z0, low, high);
  memcpy(out, &w, 2);
}
#endif

/* ARMv6-M's dense layers (emit.py dense_bytes): a block of up to 6 filters' n weights as bytes w + 128 (input k of
   filter j at k * block + j), so that LDRB with an immediate offset reads them (LDRSB has none), and the input
   flipped (x + 128, le_flip), so that LDRB alone reads it too; `init` holds each sum's start (the bias less 128
   times the filter's weights' sum, emit.py, and 128 times the flipped inputs' sum: they take the 128s back). On
   the Cortex-M0 in assembly, the 6 sums in r8-r12 and lr as in le_dot_words: per input LDRB, then per filter
   LDRB, MULS, ADD (19 instructions per 6 MACs where the blocked int8 path took 29), `unroll` inputs a pass (their
   weights' offsets within LDRB's 31 bytes: the weights' pointer moved on within the pass), the passes counted in
   memory, then the rest. Measured on seed-best (M0, profile builds): its dense layers 172,788, 52,312 and 4,688
   -> 134,175, 41,809 and 4,084 instructions (4.90 -> 3.80 per MAC for the 294-input one) with the input's SXTB and
   5 inputs a pass; flipped, 10 a pass: -> 125,334, 39,225 and 3,622 (3.55 per MAC). */
#ifdef LE_M0_ASM
#define LE_M0_BYTE(j, r, s) "ldrb " r ", [%[w], #(.Lle_k %% %c[group]) * %c[block] + " #j "]\n\t" LE_M0_MAC(r, s)
#define LE_M0_BYTES1 LE_M0_BYTE(0, "r1", "r8")
#define LE_M0_BYTES2 LE_M0_BYTES1 LE_M0_BYTE(1, "r2", "r9")
#define LE_M0_BYTES3 LE_M0_BYTES2 LE_M0_BYTE(2, "r3", "r10")
#define LE_M0_BYTES4 LE_M0_BYTES3 LE_M0_BYTE(3, "r4", "r11")
#define LE_M0_BYTES5 LE_M0_BYTES4 LE_M0_BYTE(4, "r5", "r12")
#define LE_M0_BYTES6 LE_M0_BYTES5 LE_M0_BYTE(5, "r1", "lr")
/* n inputs, the weights' pointer moved on by each `group` of inputs' weights (32 / block: LDRB's reach) */
#define LE_M0_BYTES_PASS(n, B) ".set .Lle_k, 0\n\t.rept " n "\n\t.if .Lle_k && .Lle_k %% %c[group] == 0\n\t" \
  "adds %[w], #%c[group] * %c[block]\n\t.endif\n\tldrb r0, [%[x], #.Lle_k]\n\t" LE_M0_BYTES##B \
  ".set .Lle_k, .Lle_k + 1\n\t.endr\n\t"
#define LE_M0_BYTES(B) ".syntax unified\n\t" LE_M0_SUMS##B("r0") ".if %c[passes]\n1:\n\t" \
  LE_M0_BYTES_PASS("%c[unroll]", B) \
  "adds %[x], #%c[unroll]\n\tadds %[w], #%c[group] * %c[block]\n\tldr r0, %[count]\n\tsubs r0, #1\n\t" \
  "str r0, %[count]\n\tbeq 2f\n\tb 1b\n2:\n\t.endif\n\t" LE_M0_BYTES_PASS("%c[tail]", B) \
  LE_M0_PAD500 /* (LE_M0_SIZE) at most a pass and a tail of 10 and 9 inputs of 19 instructions, and 17 */
#define LE_M0_BYTES_CASE(B) case B: \
  __asm volatile(LE_M0_BYTES(B) : "=r"(s0), "=r"(s1), "=r"(s2), "=r"(s3), "=r"(s4), "=r"(s5), "+r"(b), [x] "+l"(x), \
                 [w] "+l"(w), [count] "+m"(count) : [block] "i"(block), [unroll] "i"(unroll), [group] "i"(group), \
                 [passes] "i"(n / unroll), [tail] "i"(n % unroll) \
                 : "r1", "r2", "r3", "r4", "r5", "cc", "memory"); \
  break;
#endif
LE_INLINE void le_dot_bytes(const uint8_t *x, const int8_t *w, const int32_t *init, int block, int n, int32_t *acc) {
  int k, j;
#ifdef LE_M0_ASM
  if (__builtin_constant_p(block) && __builtin_constant_p(n)) {
    LE_M0_SUM_REGISTERS;
    register const int32_t *b __asm("r0") = init;
    /* a pass of whole groups, at most 32 inputs (LDRB's reach in x) and about 200 instructions */
    const int group = 32 / block, groups = 200 / (2 + 3 * block) / group;
    const int unroll = group * (groups < 1 ? 1 : groups * group > 32 ? 32 / group : groups);
    int32_t count = n / unroll;
    switch (block) {
      LE_M0_BYTES_CASE(1) LE_M0_BYTES_CASE(2) LE_M0_BYTES_CASE(3) LE_M0_BYTES_CASE(4) LE_M0_BYTES_CASE(5)
      LE_M0_BYTES_CASE(6)
    }
    LE_M0_SUMS_OUT(block, acc);
    return;
  }
#endif
  for (j = 0; j < block; ++j) acc[j] = init[j];
  for (k = 0; k < n; ++k, w += block)
    for (j = 0; j < block; ++j) acc[j] += (int32_t)x[k] * (uint8_t)w[j];
}

/* A dense layer's input flipped (x + 128: each byte's top bit toggled) into `out` for le_dot_bytes; returns the
   flipped bytes' sum. Four bytes a word where the input is word-aligned, their sum in two 16-bit lanes (at most
   128 words between folds: 128 * 2 * 255 < 2^16). */
LE_INLINE int32_t le_flip(const int8_t *in, int n, uint8_t *out) {
  int32_t sum = 0;
  int i = 0;
  if (((uintptr_t)in & 3) == 0)
    while (i + 4 <= n) {
#if defined(__GNUC__)
      const int8_t *const aligned = (const int8_t *)__builtin_assume_aligned(in, 4); /* one LDR a word */
#else
      const int8_t *const aligned = in;
#endif
      uint32_t lanes = 0;
      const int end = i + 512 <= n ? i + 512 : n & ~3;
      for (; i < end; i += 4) {
        uint32_t v;
        memcpy(&v, aligned + i, 4);
        v ^= 0x80808080u;
        memcpy(out + i, &v, 4);
        lanes += (v & 0x00ff00ffu) + (v >> 8 & 0x00ff00ffu);
      }
      sum += (int32_t)((lanes & 0xffffu) + (lanes >> 16));
    }
  for (; i < n; ++i) sum += out[i] = (uint8_t)(in[i] ^ 0x80);
  return sum;
}

/* The output of channel `channel` from its guess (output_guess.py; ARMv6-M, where le_output's 64-bit product costs
   some 55 instructions): `guess` holds the layer's k, a, j, floor and span, then per channel m1, m2 and r. x =
   acc * m1 + r (refined where a: + ((acc >> a) * m2) >> (16 - a)) is below 2^31, and x >> k is TFLM's output less
   the floor wherever x mod 2^k is not below 2^(j + 1) (the generator checked every sum the layer can reach); the
   other sums (about one in a thousand refined, one in 16 plain) take le_output. In assembly where the layer's
   constants are known: GCC turned a known m1's MULS into shifts and adds, and placed the rare branches out of
   reach. Measured on seed-best (M0, profile builds, after le_dot_words): 1,479,062 -> 1,251,938 instructions, its
   first convolution's outputs about 58 -> 20 instructions each; a table of each channel's 257 steps instead (a
   guess within one, corrected by the steps either side) ran 1,247,788 but took 12 KB of flash. */
#define LE_GUESS_STRIDE 3
LE_INLINE int32_t le_output_guess(int32_t acc, const int32_t *guess, int channel, const int32_t *multiplier,
                                 const int8_t *shift, int right_only, int32_t offset, int32_t low, int32_t high) {
  const int32_t *c = guess + 5 + channel * LE_GUESS_STRIDE;
  const int k = guess[0], a = guess[1], j = guess[2], span = guess[4];
  int32_t q, x;
#ifdef LE_M0_ASM
  if (__builtin_constant_p(k) && __builtin_constant_p(a) && __builtin_constant_p(j) && __builtin_constant_p(span)) {
    int32_t t;
    q = c[0];
#define LE_GUESS_TAIL "lsls %[t], %[q], %[up]\n\tlsrs %[t], %[t], %[down]\n\tbeq 2f\n\tasrs %[q], %[q], %[k]\n\t" \
  "cmp %[q], %[span]\n\tbls 3f\n\tasrs %[t], %[q], #31\n\tmovs %[q], %[span]\n\tbics %[q], %[t]\n\tb 3f\n" \
  "2:\n\tmovs %[q], #0\n\tmvns %[q], %[q]\n3:\n\t" /* unsure: -1 */
#define LE_GUESS_CONSTANTS [k] "i"(k), [up] "i"(32 - k), [down] "i"(33 - k + j), [span] "i"(span)
    if (a)
      __asm(".syntax unified\n\tasrs %[t], %[acc], %[a]\n\tmuls %[t], %[m2], %[t]\n\tasrs %[t], %[t], %[b]\n\t"
            "muls %[q], %[acc], %[q]\n\tadds %[q], %[q], %[r]\n\tadds %[q], %[q], %[t]\n\t" LE_GUESS_TAIL
            : [q] "+&l"(q), [t] "=&l"(t) : [acc] "l"(acc), [m2] "l"(c[1]), [r] "l"(c[2]), [a] "i"(a),
              [b] "i"(16 - a), LE_GUESS_CONSTANTS : "cc");
    else
      __asm(".syntax unified\n\tmuls %[q], %[acc], %[q]\n\tadds %[q], %[q], %[r]\n\t" LE_GUESS_TAIL
            : [q] "+&l"(q), [t] "=&l"(t) : [acc] "l"(acc), [r] "l"(c[2]), LE_GUESS_CONSTANTS : "cc");
    if (q < 0) return le_output(acc, multiplier[channel], shift[channel], right_only, offset, low, high);
    return q + low; /* int8's range: an int32 spares the store a sign extension */
  }
#endif
  x = acc * c[0] + c[2];
  if (a) x += ((acc >> a) * c[1]) >> (16 - a);
  if (!(((uint32_t)x << (32 - k)) >> (33 - k + j)))
    return le_output(acc, multiplier[channel], shift[channel], right_only, offset, low, high);
  q = x >> k;
  return (q < 0 ? 0 : q > span ? span : q) + low;
}

/* ARMv6-M: a block's window and its outputs in one asm (emit.py words: each block's guess constants m1, m2, r
   follow its weights). The sums stay in r8-r12 and lr until each is requantized by its guess (le_output_guess), so
   none goes through memory; each channel's 3 constants come by one LDM; a fused lookup's table (extended over every
   guess the layer's sums can give, emit.py extended_table: no clamp) and the output pointer sit in registers the
   window has done with (x is kept in r8 once its sum is out). An
   unsure output (about 1 in 1,000) keeps its sum in `keep` and its bit in `unsure`, and C gives it TFLM's
   arithmetic after the asm. Measured on seed-best (M0, profile builds, 20 images): its convolutions' outputs 22 ->
   17 instructions each (refined guess), the block's moves of sums through the stack gone: 264,550 -> 236,562 and
   483,950 -> 477,541 (the whole 968,631 -> 936,066; an image with no background 1,135,042 before the zero skip
   and this, 1,134,042 after). */
#ifdef LE_M0_ASM
#define LE_M0_OUT(j, H) ".if " #j " < %c[block]\n\t.if " #j "\n\tmov r0, " H "\n\t.endif\n\tldm %[w]!, {r1, r2, r3}\n\t" \
  ".if %c[a]\n\tasrs r4, r0, %[a]\n\tmuls r4, r2, r4\n\tasrs r4, r4, %[b]\n\t.endif\n\tmuls r1, r0, r1\n\t" \
  "adds r1, r1, r3\n\t.if %c[a]\n\tadds r1, r1, r4\n\t.endif\n\tlsls r4, r1, %[up]\n\tlsrs r4, r4, %[down]\n\t" \
  "beq 3" #j "f\n\tasrs r1, r1, %[k]\n\t.if %c[look]\n\tldrb r1, [r5, r1]\n\t.else\n\tcmp r1, %[span]\n\t" \
  "bhi 4" #j "f\n5" #j ":\n\tadds r1, %[low]\n\t.endif\n\tstrb r1, [%[x], #" #j "]\n6" #j ":\n\t.endif\n\t"
/* the rare ways of output j, out of line: unsure (its sum kept, its bit set), or clamped to [0, span] (a table
   covers every guess the layer's sums can give: emit.py extended_table) */
#define LE_M0_RARE(j) ".if " #j " < %c[block]\n3" #j ":\n\tstr r0, %[keep" #j "]\n\tmovs r1, #1 << " #j "\n\t" \
  "ldr r2, %[unsure]\n\torrs r2, r1\n\tstr r2, %[unsure]\n\tb 6" #j "b\n\t.if !%c[look]\n4" #j ":\n\t" \
  "asrs r2, r1, #31\n\tmovs r1, %[span]\n\tbics r1, r2\n\tb 5" #j "b\n\t.endif\n\t.endif\n\t"
#define LE_M0_OUTPUTS "mov r0, r8\n\tmov r8, %[x]\n\tldr %[x], %[out]\n\t.if %c[look]\n\tldr r5, %[table]\n\t.endif\n\t" \
  LE_M0_OUT(0, "r8") LE_M0_OUT(1, "r9") LE_M0_OUT(2, "r10") LE_M0_OUT(3, "r11") LE_M0_OUT(4, "r12") \
  LE_M0_OUT(5, "lr") "adds %[x], %[block]\n\tstr %[x], %[out]\n\tmov %[x], r8\n\tb 7f\n\t" LE_M0_RARE(0) \
  LE_M0_RARE(1) LE_M0_RARE(2) LE_M0_RARE(3) LE_M0_RARE(4) LE_M0_RARE(5) "7:\n\t"
#define LE_M0_BLOCK_CASE(B) case B: \
  __asm volatile(LE_M0_DOT(B) LE_M0_OUTPUTS : [x] "+l"(x), [w] "+l"(w), [out] "+m"(*out), [unsure] "+m"(*unsure), \
                 [keep0] "=m"(keep[0]), [keep1] "=m"(keep[1]), [keep2] "=m"(keep[2]), [keep3] "=m"(keep[3]), \
                 [keep4] "=m"(keep[4]), [keep5] "=m"(keep[5]) \
                 : [table] "m"(look), [rows] "i"(rows), [loops] "i"(loops), [run] "i"(run), \
                 [adv] "i"(in_row - 32 * ((run - 1) / 32)), [sign] "i"(!(flags & 1)), [skip] "i"(flags >> 1 & 1), \
                 [block] "i"(B), [look] "i"(table != 0), [low] "i"(low & 255), LE_GUESS_CONSTANTS, [a] "i"(a), \
                 [b] "i"(16 - a) \
                 : "r0", "r1", "r2", "r3", "r4", "r5", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory"); break;
/* Whether it applies: a convolution with the copy and the guess, every size known to GCC. Returns 0 where not. */
LE_INLINE int le_block_m0(const int8_t *x, const int32_t *w, int flags, int block, int rows, int run, int in_row,
                          const int32_t *guess, const int8_t *table, int8_t **out, int32_t *unsure, int32_t *keep) {
  const int k = guess[0], a = guess[1], j = guess[2], low = guess[3], span = guess[4];
  const int8_t *look = table ? table + 128 + low : table; /* entry v + 128 for output v: the guess q + low */
  int loops = 1;
  if (!(__builtin_constant_p(block) && __builtin_constant_p(rows) && __builtin_constant_p(run) &&
        __builtin_constant_p(in_row) && __builtin_constant_p(flags) && __builtin_constant_p(k) &&
        __builtin_constant_p(a) && __builtin_constant_p(j) && __builtin_constant_p(low) &&
        __builtin_constant_p(span) && __builtin_constant_p(table != 0) && in_row <= 1020 &&
        (rows * run <= 64 || run <= 40) && (flags & 4)))
    return 0;
  if (rows * run > 64) loops = rows, rows = 1;
  switch (block) {
    LE_M0_BLOCK_CASE(1) LE_M0_BLOCK_CASE(2) LE_M0_BLOCK_CASE(3) LE_M0_BLOCK_CASE(4) LE_M0_BLOCK_CASE(5)
    LE_M0_BLOCK_CASE(6)
  }
  return 1;
}
#endif

/* le_conv2d's output of channel `channel` from its sum: by the layer's guess where it has one (ARMv6-M), through a
   fused lookup's table where it has one */
#define LE_OUTPUT(sum, channel) (int8_t)LE_LOOK(guess ? le_output_guess(sum, guess, channel, multiplier, shift, \
  right_only, output_offset, act_min, act_max) : le_output(sum, multiplier[channel], shift[channel], right_only, \
  output_offset, act_min, act_max))
#define LE_WORDS_OUTPUT(block) LE_UNROLL for (j = 0; j < (block); ++j) *out++ = LE_OUTPUT(acc[j], oc + j)
/* a dense layer's: its guess, where it has one, is the same for every channel (output_guess.py `shared`), as is its
   scale (per tensor): channel 0's (seed-best's dense layers on the M0, profile builds: 125,341, 39,218 and 3,622
   -> 121,512, 36,606 and 3,384 instructions) */
#define LE_DENSE_OUTPUT(block) LE_UNROLL for (j = 0; j < (block); ++j) *out++ = LE_OUTPUT(acc[j], guess ? 0 : oc + j)
/* le_conv2d's block of `block` filters from its int32 copy: in one asm (le_block_m0) where it applies, its unsure
   outputs then by TFLM's arithmetic; else le_dot_words, then each output */
#ifdef LE_M0_ASM
#define LE_WORDS_BLOCK(block) do { const int32_t *w = words + 1 + oc * stride; \
    if (guess && le_block_m0(window, w, words[0], block, rows, run, in_row, guess, table, &out, &unsure, keep)) { \
      if (unsure) { \
        for (j = 0; j < (block); ++j) \
          if (unsure >> j & 1) out[j - (block)] = (int8_t)LE_LOOK(le_output(keep[j], multiplier[oc + j], \
              shift[oc + j], right_only, output_offset, act_min, act_max)); \
        unsure = 0; \
      } \
      break; \
    } \
    le_dot_words(window, w, words[0], block, rows, run, in_row, acc); \
    LE_WORDS_OUTPUT(block); } while (0)
#else
#define LE_WORDS_BLOCK(block) do { le_dot_words(window, words + 1 + oc * stride, words[0], block, rows, run, in_row, \
    acc); LE_WORDS_OUTPUT(block); } while (0)
#endif

/* CONV_2D on an input already padded with its zero point (the input offset is folded into the bias
   at generation time): k_h rows of k_w * in_c contiguous bytes (NHWC) per output, filters OHWI,
   output channels in blocks of 4. FULLY_CONNECTED is the same kernel on a 1x1 image.
   `strip` (a scratch buffer, or 0): the generator gives one where filter rows are short (a 5x5 filter on one
   channel: rows of 5 bytes) and the core has SIMD (LE_STRIP), and lays those filters out OWHI; each output
   row's input is then copied into the strip once and every window is one dot product of k_h * k_w * in_c
   bytes instead of k_h short ones, each with its tail. `unpacked` (SIMD32, a dense layer with int8 weights, else
   0): its input as le_fully_connected unpacks it. `table`: the table of a TANH or LOGISTIC fused into the output
   step (LE_LOOK), else 0. */
LE_INLINE void le_conv2d(const int8_t *in, const int32_t *unpacked, int in_w, int in_c, const int8_t *filters,
                         const int16_t *pairs, const int32_t *words, const int32_t *guess, const int32_t *bias,
                         const int32_t *multiplier, const int8_t *shift, int right_only, int k_h, int k_w,
                         int stride_h, int stride_w, int out_h, int out_w, int out_c, int32_t output_offset,
                         int32_t act_min, int32_t act_max, const int8_t *table, int8_t *strip, int8_t *out) {
#ifdef LE_DSP
  const int six = pairs && out_c % 4 == 2 && out_c >= 6; /* the copy's last 6 filters one block: le_dot6 */
#else
  const int six = 0;
#endif
  const int row = k_w * in_c, size = k_h * row, in_row = in_w * in_c, fours = out_c / 4 * 4 - (six ? 4 : 0);
  const int twos = fours + (out_c - fours) / 2 * 2;
  const int rows = strip ? 1 : k_h, run = strip ? size : row;
  const int pair_run = run + (run & 1), paired = rows * pair_run; /* the copy pads odd runs of blocks (`pairs`) */
  const int step = strip ? stride_w * k_h * in_c : stride_w * in_c; /* from one window to the next */
  int oy, ox, oc, ky, j;
  /* the copy's words a filter: its weights, its bias, and its guess's 3 constants where it has them there */
  const int stride = words ? size + 1 + (words[0] >> 2 & 1) * 3 : 0;
#ifdef LE_M0_ASM
  int32_t unsure = 0, keep[6];
#endif
  (void)pairs; /* read on SIMD32 cores only */
  const le_scatter scatter = strip ? le_strip_offsets(in_c, k_h) : LE_NO_SCATTER; /* once per layer */
#ifdef LE_DSP
  /* With one block of 4 filters GCC built each multiplier from the one before by three ADDs or SUBs; the pointer
     made opaque, it loads each (M4, one 3x3 one-channel layer with 4 filters, zero point -128: 2.10 -> 1.99 per
     MAC; with 6 filters it cost 1.92 -> 1.97 and seed-best 391,253 -> 402,066, so not there). */
  if (out_c <= 4) __asm("" : "+r"(multiplier));
#endif
  for (oy = 0; oy < out_h; ++oy) {
    const int8_t *window = in + oy * stride_h * in_row;
    if (strip) {
      le_strip(window, in_row, in_c, k_h, (out_w - 1) * stride_w + k_w, scatter, strip);
      window = strip;
    }
    /* the windows walked by pointer: measured on seed-best, M4 -0.9 %, M0 +0.6 % against computing each */
    for (ox = 0; ox < out_w; ++ox, window += step) {
      if (words) { /* ARMv6-M's int32 copy: blocks of 6 filters, then one of what is left */
        int32_t acc[6];
        for (oc = 0; oc + 6 <= out_c; oc += 6) { /* each block its biases, its weights, its guess (emit.py words) */
          LE_WORDS_BLOCK(6);
        }
        if (oc < out_c) { /* the block sizes constants: le_dot_words' assembly is written for each */
          LE_WORDS_BLOCK(out_c % 6);
        }
        continue;
      }
      LE_UNROLL_BLOCKS
      for (oc = 0; oc < fours; oc += 4) {
        int32_t acc[4];
        for (j = 0; j < 4; ++j) acc[j] = bias[oc + j];
        for (ky = 0; ky < rows; ++ky)
          le_dot4(window + ky * in_row, unpacked, filters + oc * size + LE_IN_BLOCK(4) * ky * run,
                  pairs ? pairs + oc * paired + 4 * ky * pair_run : 0, run, size, acc);
#ifdef LE_OUTPUT4
        if (LE_OUTPUT4(right_only, act_min, act_max)) {
          le_output4(acc, multiplier + oc, shift + oc, right_only, output_offset, act_min, act_max, table, out);
          out += 4;
          continue;
        }
#endif
        LE_UNROLL
        for (j = 0; j < 4; ++j)
          *out++ = LE_OUTPUT(acc[j], oc + j);
      }
#ifdef LE_DSP
      if (six) {
        int32_t acc[6];
        LE_UNROLL /* else GCC 12 copied the bias through the stack: seed-best's first layer +24 instructions a pixel */
        for (j = 0; j < 6; ++j) acc[j] = bias[fours + j];
        for (ky = 0; ky < rows; ++ky)
          le_dot6(window + ky * in_row, pairs + fours * paired + 6 * ky * pair_run, run, acc);
        /* packed also where int8's clamp is the only one (M4: a 3x3 one-channel layer with 6 filters and offset -128
           2.03 -> 1.92 per MAC; seed-best +754 instructions) */
        if (right_only) {
          le_output4(acc, multiplier + fours, shift + fours, right_only, output_offset, act_min, act_max, table, out);
          le_output2(acc + 4, multiplier + fours + 4, shift + fours + 4, right_only, output_offset, act_min, act_max,
                     table, out + 4);
          out += 6;
          continue;
        }
        LE_UNROLL
        for (j = 0; j < 6; ++j)
          *out++ = LE_OUTPUT(acc[j], fours + j);
        continue;
      }
#endif
      if (twos > fours) {
        int32_t acc[2];
        for (j = 0; j < 2; ++j) acc[j] = bias[fours + j];
        for (ky = 0; ky < rows; ++ky)
          le_dot2(window + ky * in_row, unpacked, filters + fours * size + LE_IN_BLOCK(2) * ky * run,
                  pairs ? pairs + fours * paired + 2 * ky * pair_run : 0, run, size, acc);
#ifdef LE_DSP
        if (LE_OUTPUT4(right_only, act_min, act_max)) {
          le_output2(acc, multiplier + fours, shift + fours, right_only, output_offset, act_min, act_max, table, out);
          out += 2;
        } else
#endif
        {
          LE_UNROLL
          for (j = 0; j < 2; ++j)
            *out++ = LE_OUTPUT(acc[j], fours + j);
        }
      }
      if (out_c > twos) {
        int32_t acc = bias[twos];
        for (ky = 0; ky < rows; ++ky)
          acc = le_dot1(window + ky * in_row, unpacked, filters + twos * size + ky * run,
                        pairs ? pairs + twos * paired + ky * run : 0, run, acc);
        *out++ = LE_OUTPUT(acc, twos);
      }
    }
  }
}

/* A dense layer's input as SXTB16 leaves each 4 bytes (x0, x2) and (x1, x3), once, where the same unpacking was
   done again for each block of 4 filters (SIMD32, int8 weights: the `scratch` emit.py gives such layers, else 0):
   per 16 MACs 18 instructions, not 20. Measured on the M4 (profile builds): lenet-plus's 1568-input layer
   243,238 -> 220,344 instructions, seed-best's 294- and 120-input ones 47,826 -> 43,814 and 16,946 -> 13,410. */
LE_INLINE void le_fully_connected(const int8_t *in, int depth, const int8_t *filters, const int16_t *pairs,
                                  const int32_t *guess, const int32_t *bias,
                                  const int32_t *multiplier, const int8_t *shift, int right_only, int out_n,
                                  int32_t output_offset, int32_t act_min, int32_t act_max, const int8_t *table,
                                  int32_t *scratch, int8_t *out) {
#ifdef LE_DSP
  int i;
  if (scratch)
    for (i = 0; i + 4 <= depth; i += 4) {
      const uint32_t v = le_load32(in + i);
      scratch[i / 2] = (int32_t)__sxtb16(v), scratch[i / 2 + 1] = le_sxtb16_ror8(v);
    }
#endif
#if LE_BLOCKED
  { /* ARMv6-M: the input flipped, the weights as bytes w + 128 in blocks of 6 (le_dot_bytes); the bias (emit.py:
       less 128 times the filter's weights' sum) */
    uint8_t *const flipped = (uint8_t *)scratch; /* the input flipped: the layer's stack (emit.py) */
    const int32_t sum = le_flip(in, depth, flipped);
    int32_t init[6], acc[6];
    int j, oc;
    for (oc = 0; oc + 6 <= out_n; oc += 6) {
      for (j = 0; j < 6; ++j) init[j] = bias[oc + j] - 128 * sum;
      le_dot_bytes(flipped, filters + oc * depth, init, 6, depth, acc);
      LE_DENSE_OUTPUT(6);
    }
    if (oc < out_n) {
      for (j = 0; j < out_n % 6; ++j) init[j] = bias[oc + j] - 128 * sum;
      le_dot_bytes(flipped, filters + oc * depth, init, out_n % 6, depth, acc);
      LE_DENSE_OUTPUT(out_n % 6);
    }
    (void)pairs;
    return;
  }
#endif
  le_conv2d(in, scratch, 1, depth, filters, pairs, 0, guess, bias, multiplier, shift, right_only, 1, 1, 1, 1, 1, 1,
            out_n, output_offset, act_min, act_max, table, 0, out);
}

/* DEPTHWISE_CONV_2D on an input padded with its zero point (the offset folded into the bias, as for CONV_2D):
   output channel oc reads input channel oc / depth_multiplier; filters[oc] holds that channel's k_h * k_w taps.
   The window's loops unrolled (constant per layer): the micro:bit sweep's choice (one 5x5 depthwise layer)
   738,932 -> 706,090 instructions on the M0, 286,270 -> 257,350 on the M4, 147,352 -> 120,178 on the M55. */
LE_INLINE void le_depthwise(const int8_t *in, int in_w, int in_c, int depth_multiplier, const int8_t *filters,
                            const int32_t *bias, const int32_t *multiplier, const int8_t *shift, int right_only,
                            int k_h, int k_w, int stride_h, int stride_w, int out_h, int out_w, int out_c,
                            int32_t output_offset, int32_t act_min, int32_t act_max, int8_t *out) {
  int oy, ox, oc, ky, kx;
  for (oy = 0; oy < out_h; ++oy) {
    for (ox = 0; ox < out_w; ++ox) {
      const int8_t *window = in + (oy * stride_h * in_w + ox * stride_w) * in_c;
      for (oc = 0; oc < out_c; ++oc) {
        const int8_t *x = window + oc / depth_multiplier, *w = filters + oc * k_h * k_w;
        int32_t acc = bias[oc];
        LE_UNROLL
        for (ky = 0; ky < k_h; ++ky, x += in_w * in_c)
          LE_UNROLL
          for (kx = 0; kx < k_w; ++kx) acc += (int32_t)x[kx * in_c] * *w++;
        *out++ = le_output(acc, multiplier[oc], shift[oc], right_only, output_offset, act_min, act_max);
      }
    }
  }
}

/* ADD of a per-channel constant (an unfolded batch normalization's offset): TFLM's int8 AddFunc, the constant's
   side precomputed at generation (`constant`: its offset value shifted left 20 and rescaled). */
LE_INLINE void le_add_channels(const int8_t *in, int n, int channels, int32_t input_offset, int32_t input_multiplier,
                               int input_shift, const int32_t *constant, int32_t output_multiplier, int output_shift,
                               int32_t output_offset, int32_t act_min, int32_t act_max, int8_t *out) {
  int i, c = 0;
  for (i = 0; i < n; ++i) {
    const int32_t x = le_requantize((in[i] + input_offset) * (1 << 20), input_multiplier, input_shift);
    out[i] = le_clamp(le_requantize(x + constant[c], output_multiplier, output_shift) + output_offset, act_min,
                      act_max);
    if (++c == channels) c = 0;
  }
}

/* MUL by a per-channel constant (an unfolded batch normalization's scale): TFLM's int8 MulElementwise. */
LE_INLINE void le_mul_channels(const int8_t *in, int n, int channels, int32_t input_offset, const int32_t *constant,
                               int32_t multiplier, int shift, int32_t output_offset, int32_t act_min, int32_t act_max,
                               int8_t *out) {
  int i, c = 0;
  for (i = 0; i < n; ++i) {
    out[i] = le_clamp(le_requantize((in[i] + input_offset) * constant[c], multiplier, shift) + output_offset, act_min,
                      act_max);
    if (++c == channels) c = 0;
  }
}

/* An average pool's sum over its count: rounded, halves away from zero (TFLM's AveragePool). */
LE_INLINE int32_t le_average(int32_t sum, int count) {
  return sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
}

#ifdef LE_MVE
/* One output pixel of a pool, 8 channels per vector in int16 lanes (a window of at most 255 int8 values cannot
   overflow them). The average (le_average) is a rounding shift of |sum| when the count is a power of two (a 2x2
   pool's), else done lane by lane. */
LE_INLINE void le_pool_pixel(int average, const int8_t *in, int in_w, int channels, int y0, int x0, int fy0, int fy1,
                             int fx0, int fx1, int32_t act_min, int32_t act_max, int8_t *out) {
  const int count = (fy1 - fy0) * (fx1 - fx0);
  int c, fy, fx, j;
  for (c = 0; c < channels; c += 8) {
    const mve_pred16_t p = vctp16q((uint32_t)(channels - c));
    int16x8_t acc = vdupq_n_s16(average ? 0 : -128);
    for (fy = fy0; fy < fy1; ++fy)
      for (fx = fx0; fx < fx1; ++fx) {
        const int16x8_t v = vldrbq_z_s16(in + ((y0 + fy) * in_w + x0 + fx) * channels + c, p);
        acc = average ? vaddq_s16(acc, v) : vmaxq_s16(acc, v);
      }
    if (average && (count & (count - 1)) == 0) {
      const int16x8_t sign = vshrq_n_s16(acc, 15), magnitude = vabsq_s16(acc);
      const int16x8_t rounded = vrshlq_s16(magnitude, vdupq_n_s16((int16_t)-__builtin_ctz((unsigned)count)));
      acc = vsubq_s16(veorq_s16(rounded, sign), sign);
    } else if (average) {
      int16_t lanes[8];
      vst1q_s16(lanes, acc);
      for (j = 0; j < 8; ++j)
        lanes[j] = (int16_t)le_average(lanes[j], count);
      acc = vld1q_s16(lanes);
    }
    acc = vminq_s16(vmaxq_s16(acc, vdupq_n_s16((int16_t)act_min)), vdupq_n_s16((int16_t)act_max));
    vstrbq_p_s16(out + c, acc, p);
  }
}
#endif

/* ADD or MUL of a per-channel constant with few channels, tabulated at generation (plan.py `_as_table`): the
   output for each channel and each of the 256 inputs, what le_add_channels / le_mul_channels compute. */
LE_INLINE void le_channel_lookup(const int8_t *in, int n, int channels, const int8_t *table, int8_t *out) {
  int i, c;
  for (i = 0; i < n; i += channels)
    for (c = 0; c < channels; ++c) out[i + c] = table[(c << 8) + in[i + c] + 128];
}

#ifdef LE_DSP
/* A pool with no window clipped on SIMD32 cores, 4 channels at once. MAX_POOL_2D: SSUB8 flags the bytes where
   the new value is not below the maximum so far and SEL takes them (a signed max of 4 int8 in 2 instructions); the
   activation's clamp the same way. AVERAGE_POOL_2D (at most 255 values a window: sums fit int16): SXTAB16 adds
   two channels' bytes to their int16 sums in one instruction, then each sum is rounded and clamped alone.
   Measured on the M4: lenet-plus's two 2x2 max pools 54,794 -> 11,470 and 27,010 -> 5,460 instructions;
   seed-best's two 2x2 average pools 20,950 -> 15,874 and 5,520 -> 3,958. */
LE_INLINE int32_t le_sxtab16_ror8(int32_t sums, uint32_t v) {
  int32_t r;
  __asm("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(sums), "r"(v));
  return r;
}

LE_INLINE void le_pool4(int average, const int8_t *in, int in_w, int channels, int f_h, int f_w, int stride_h,
                        int stride_w, int out_h, int out_w, int32_t act_min, int32_t act_max, int8_t *out) {
  const int count = f_h * f_w;
  int oy, ox, c, fy, fx;
  for (oy = 0; oy < out_h; ++oy)
    for (ox = 0; ox < out_w; ++ox) {
      const int8_t *window = in + (oy * stride_h * in_w + ox * stride_w) * channels;
      for (c = 0; c + 4 <= channels; c += 4, out += 4) {
        uint32_t m = le_load32(window + c);
        int32_t even = 0, odd = 0; /* the sums of channels c, c + 2 and c + 1, c + 3 */
        LE_UNROLL
        for (fy = 0; fy < f_h; ++fy)
          LE_UNROLL
          for (fx = 0; fx < f_w; ++fx) {
            const uint32_t v = le_load32(window + (fy * in_w + fx) * channels + c);
            if (average) {
              even = __sxtab16(even, (int8x4_t)v), odd = le_sxtab16_ror8(odd, v);
            } else if (fy || fx) {
              (void)__ssub8((int8x4_t)v, (int8x4_t)m);
              m = (uint32_t)__sel((uint8x4_t)v, (uint8x4_t)m);
            }
          }
        if (average) {
          out[0] = le_clamp(le_average((int16_t)even, count), act_min, act_max);
          out[1] = le_clamp(le_average((int16_t)odd, count), act_min, act_max);
          out[2] = le_clamp(le_average(even >> 16, count), act_min, act_max);
          out[3] = le_clamp(le_average(odd >> 16, count), act_min, act_max);
          continue;
        }
        m = le_clamp4(m, act_min, act_max);
        memcpy(out, &m, 4);
      }
      for (; c < channels; ++c) {
        int32_t acc = average ? 0 : -128;
        for (fy = 0; fy < f_h; ++fy)
          for (fx = 0; fx < f_w; ++fx) {
            const int32_t v = window[(fy * in_w + fx) * channels + c];
            if (average) acc += v; else if (v > acc) acc = v;
          }
        *out++ = le_clamp(average ? le_average(acc, count) : acc, act_min, act_max);
      }
    }
}
#endif

#if !defined(LE_DSP) && !defined(LE_MVE)
/* A pool with no window clipped on the other cores: the window's loops unrolled (its size is the layer's constant),
   an average of 2^s values a shift: TFLM's rounding (halves away from zero) is (sum + 2^(s-1) - 1 + (sum > 0)) >> s.
   Measured on seed-best (M0, profile builds, 20 images): its two 2x2 average pools 31,500 and 7,841 -> 22,894 and
   7,216 instructions (one output 27 -> 19.5). */
LE_INLINE void le_pool1(int average, const int8_t *in, int in_w, int channels, int f_h, int f_w, int stride_h,
                        int stride_w, int out_h, int out_w, int32_t act_min, int32_t act_max, int8_t *out) {
  const int count = f_h * f_w, power = (count & (count - 1)) == 0, s = power ? __builtin_ctz((unsigned)count) : 0;
  int oy, ox, c, fy, fx;
  for (oy = 0; oy < out_h; ++oy)
    for (ox = 0; ox < out_w; ++ox) {
      const int8_t *window = in + (oy * stride_h * in_w + ox * stride_w) * channels;
      LE_UNROLL_STEPS
      for (c = 0; c < channels; ++c, ++window) {
        int32_t acc = average ? 0 : -128;
        LE_UNROLL
        for (fy = 0; fy < f_h; ++fy)
          LE_UNROLL
          for (fx = 0; fx < f_w; ++fx) {
            const int32_t v = window[(fy * in_w + fx) * channels];
            if (average) acc += v; else if (v > acc) acc = v;
          }
        if (average) acc = power ? (acc + (count >> 1) - 1 + (acc > 0)) >> s : le_average(acc, count);
        *out++ = le_clamp(acc, act_min, act_max);
      }
    }
}
#endif

LE_INLINE void le_pool(int average, const int8_t *in, int in_h, int in_w, int channels, int f_h, int f_w,
                       int stride_h, int stride_w, int pad_t, int pad_l, int out_h, int out_w, int32_t act_min,
                       int32_t act_max, int8_t *out) {
  int oy, ox, c, fy, fx;
#if !defined(LE_MVE)
  if (pad_t == 0 && pad_l == 0 && (out_h - 1) * stride_h + f_h <= in_h && (out_w - 1) * stride_w + f_w <= in_w &&
      f_h * f_w <= 255) { /* no window clipped */
#ifdef LE_DSP
    le_pool4(average, in, in_w, channels, f_h, f_w, stride_h, stride_w, out_h, out_w, act_min, act_max, out);
#else
    le_pool1(average, in, in_w, channels, f_h, f_w, stride_h, stride_w, out_h, out_w, act_min, act_max, out);
#endif
    return;
  }
#endif
  for (oy = 0; oy < out_h; ++oy) {
    const int y0 = oy * stride_h - pad_t;
    const int fy0 = y0 < 0 ? -y0 : 0, fy1 = f_h < in_h - y0 ? f_h : in_h - y0;
    for (ox = 0; ox < out_w; ++ox) {
      const int x0 = ox * stride_w - pad_l;
      const int fx0 = x0 < 0 ? -x0 : 0, fx1 = f_w < in_w - x0 ? f_w : in_w - x0;
      const int count = (fy1 - fy0) * (fx1 - fx0);
#ifdef LE_MVE /* measured on seed-best (M55): 244,639 -> 225,807 instructions (its two 2x2 average pools) */
      if (f_h * f_w <= 255) {
        le_pool_pixel(average, in, in_w, channels, y0, x0, fy0, fy1, fx0, fx1, act_min, act_max, out);
        out += channels;
        continue;
      }
#endif
      for (c = 0; c < channels; ++c) {
        int32_t acc = average ? 0 : -128;
        for (fy = fy0; fy < fy1; ++fy) {
          const int8_t *p = in + ((y0 + fy) * in_w + x0) * channels + c;
          for (fx = fx0; fx < fx1; ++fx) {
            const int32_t v = p[fx * channels];
            if (average) acc += v; else if (v > acc) acc = v;
          }
        }
        if (average) acc = le_average(acc, count);
        *out++ = le_clamp(acc, act_min, act_max);
      }
    }
  }
}

/* TANH and LOGISTIC: TFLM's fixed-point result for each of the 256 inputs, tabulated at generation. */
LE_INLINE void le_lookup(const int8_t *in, int n, const int8_t *table, int8_t *out) {
  int i;
#ifdef LE_MVE /* 16 lookups per gather load: seed-best's four TANHs on the M55 20,556 -> 5,440 instructions */
  for (i = 0; i < n; i += 16) {
    const mve_pred16_t p = vctp8q((uint32_t)(n - i));
    const uint8x16_t index = veorq_u8(vldrbq_z_u8((const uint8_t *)in + i, p), vdupq_n_u8(0x80)); /* x + 128 */
    vstrbq_p_s8(out + i, vldrbq_gather_offset_z_s8(table, index, p), p);
  }
#else
  for (i = 0; i < n; ++i) out[i] = table[in[i] + 128];
#endif
}

LE_INLINE int32_t le_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }

LE_INLINE int32_t le_saturating_shl(int32_t x, int exponent) {
  const int32_t threshold = (int32_t)((1u << (31 - exponent)) - 1);
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return (int32_t)((uint32_t)x << exponent);
}

/* gemmlowp one_over_one_plus_x_for_x_in_0_1: Newton-Raphson in Q2.29. */
LE_INLINE int32_t le_one_over_one_plus_x(int32_t a) {
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

LE_INLINE int le_clz(uint32_t x) {
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
LE_INLINE void le_softmax(const int8_t *in, int rows, int depth, const int32_t *exp_table, int32_t diff_min,
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
