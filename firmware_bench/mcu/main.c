/* Benchmark firmware: images in from the host, int8 outputs back, through semihosting file I/O.

   images.bin: "LNI8", uint32 count, uint32 image size, then count images (int8).
   outputs.bin: count rows of LENET_OUTPUT_SIZE int8 values.
   stdout: one line "LENET_MCU {json}" with the tick counts and stack use.

   Timing: SysTick on the processor clock, read around each lenet_invoke. Under QEMU -icount the
   virtual clock advances a fixed time per instruction, so ticks count instructions; a loop of a
   known instruction count, timed the same way, gives the instructions per tick.

   -DLENET_PROFILE (with the engine's -DLENET_TRACE): the engine calls back after every op and the
   firmware adds the ticks since the previous op to that op's total, printed as one line
   "LENET_MCU_PROFILE {json}". The production build has neither flag and no callback. */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include ENGINE_HEADER

#ifdef WITH_FLATBUFFER
#include FLATBUFFER_HEADER
#endif

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define TICKS(start, end) (((start) - (end)) & 0xFFFFFFu) /* a 24-bit down-counter */
#define PAINT 0xA5A5A5A5u
#define PAINT_BYTES (32u * 1024u)
#define HEAP_RESERVE 4096u /* newlib's stdio buffers live on the heap, just above `end` */
#define CALIBRATION_LOOPS 1000000u

extern uint32_t _estack, end;

static int8_t image[LENET_INPUT_SIZE];
static int8_t scores[LENET_OUTPUT_SIZE];

#ifdef LENET_PROFILE
#define MAX_OPS 64
extern void (*lenet_trace)(int op, const int8_t *data, int size);
static unsigned long long op_ticks[MAX_OPS];
static uint32_t op_mark;
static int ops_seen;

static void after_op(int op, const int8_t *data, int size) {
  uint32_t now = SYST_CVR;
  (void)data;
  (void)size;
  if (op >= 0 && op < MAX_OPS) {
    op_ticks[op] += TICKS(op_mark, now);
    if (op + 1 > ops_seen) ops_seen = op + 1;
  }
  op_mark = SYST_CVR; /* the callback's own time is left out (all but a few instructions of it) */
}

static void print_profile(void) {
  int op;
  printf("LENET_MCU_PROFILE {\"op_ticks\": [");
  for (op = 0; op < ops_seen; ++op) printf("%s%llu", op ? ", " : "", op_ticks[op]);
  printf("]}\n");
}
#endif

static uint32_t *paint_stack(void) { /* 32 KB below the stack pointer, or down to the heap on small parts */
  uint32_t *sp = (uint32_t *)__builtin_frame_address(0) - 16, *low = sp - PAINT_BYTES / 4, *p;
  uint32_t *heap_top = (uint32_t *)((uint32_t)&end + HEAP_RESERVE);
  if ((uint32_t)low < (uint32_t)heap_top) low = heap_top;
  for (p = low; p < sp; ++p) *p = PAINT;
  return low;
}

static uint32_t lowest_touched(const uint32_t *bottom) {
  while (*bottom == PAINT) ++bottom;
  return (uint32_t)bottom;
}

__attribute__((noinline)) static void known_loop(uint32_t n) {
  /* 2 instructions per iteration; unified syntax and a low register, so that ARMv6-M assembles it too */
  __asm volatile(".syntax unified\n1: subs %0, %0, #1\n bne 1b" : "+l"(n));
}

static uint32_t read_u32(FILE *f, int *ok) {
  unsigned char b[4];
  *ok = *ok && fread(b, 1, 4, f) == 4;
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

int main(void) {
  uint32_t *bottom = paint_stack(), call_sp = (uint32_t)__builtin_frame_address(0), invoke_stack = 0;
  FILE *in = fopen("images.bin", "rb"), *out = fopen("outputs.bin", "wb");
  char magic[4];
  int ok = 1;
  uint32_t count, size, i, start, ticks, least = 0xFFFFFFFFu, most = 0, calibration;
  unsigned long long total = 0;
  uint32_t deepest = call_sp;
  if (!in || !out) { printf("LENET_MCU_ERROR cannot open images.bin / outputs.bin\n"); return 2; }
  ok = fread(magic, 1, 4, in) == 4 && memcmp(magic, "LNI8", 4) == 0;
  count = read_u32(in, &ok);
  size = read_u32(in, &ok);
  if (!ok || size != LENET_INPUT_SIZE) {
    printf("LENET_MCU_ERROR images.bin: bad header or image size (want %d)\n", LENET_INPUT_SIZE);
    return 2;
  }
  SYST_RVR = 0xFFFFFFu;
  SYST_CVR = 0;
  SYST_CSR = 5u; /* enable, processor clock, no interrupt */
#ifdef LENET_PROFILE
  lenet_trace = after_op;
#endif
  start = SYST_CVR;
  known_loop(CALIBRATION_LOOPS);
  calibration = TICKS(start, SYST_CVR);

  for (i = 0; i < count; ++i) {
    if (fread(image, 1, LENET_INPUT_SIZE, in) != LENET_INPUT_SIZE) {
      printf("LENET_MCU_ERROR images.bin: short read at image %lu\n", (unsigned long)i);
      return 2;
    }
    if (i == 0) { /* repaint, so the first call shows the engine's own stack */
      if (lowest_touched(bottom) < deepest) deepest = lowest_touched(bottom);
      bottom = paint_stack();
    }
    start = SYST_CVR;
#ifdef LENET_PROFILE
    op_mark = start;
#endif
    lenet_invoke(image, scores);
    ticks = TICKS(start, SYST_CVR);
    if (i == 0) invoke_stack = call_sp - lowest_touched(bottom);
    total += ticks;
    if (ticks < least) least = ticks;
    if (ticks > most) most = ticks;
    if (fwrite(scores, 1, LENET_OUTPUT_SIZE, out) != LENET_OUTPUT_SIZE) {
      printf("LENET_MCU_ERROR outputs.bin: write failed\n");
      return 2;
    }
  }
  fclose(in);
  fclose(out);
#ifdef WITH_FLATBUFFER
  { /* keep the blob: a TFLM build reads it in place from flash */
    uint32_t sum = 0, k;
    for (k = 0; k < FLATBUFFER_LEN; ++k) sum += FLATBUFFER_ARRAY[k];
    printf("LENET_MCU_BLOB %lu\n", (unsigned long)sum);
  }
#endif
  if (lowest_touched(bottom) < deepest) deepest = lowest_touched(bottom);
#ifdef LENET_PROFILE
  print_profile();
#endif
  printf("LENET_MCU {\"images\": %lu, \"ticks_total\": %llu, \"ticks_min\": %lu, \"ticks_max\": %lu, "
         "\"calibration_instructions\": %lu, \"calibration_ticks\": %lu, \"invoke_stack_bytes\": %lu, "
         "\"stack_bytes\": %lu, \"heap_bytes\": %lu}\n",
         (unsigned long)count, total, (unsigned long)least, (unsigned long)most,
         (unsigned long)(2u * CALIBRATION_LOOPS), (unsigned long)calibration, (unsigned long)invoke_stack,
         (unsigned long)((uint32_t)&_estack - deepest), (unsigned long)mallinfo().arena);
  return 0;
}
