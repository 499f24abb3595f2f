/* Serial benchmark firmware: the host streams images over the part's UART, the firmware answers each batch
   with every image's int8 outputs and the cycles (and SysTick ticks) its inference took. Polled, no RTOS,
   no semihosting: it runs on silicon with no debugger attached, and on QEMU's emulated UARTs.

   Frame (both directions, little-endian): 'L' 'N', type (1 byte), payload length (2), payload, CRC-32 (4) of
   type + length + payload (zlib's CRC-32).
     host 'H' hello (empty)               -> 'I' info (layout below)
     host 'B' seq (4) count (2) images    -> 'R' seq (4) count (2) stack high-water (4),
                                               then per image: cycles (4) ticks (4) outputs
     anything wrong                       -> 'E' one line of text
   At reset the firmware sends 'S' (the info payload): a host that sees it mid-run knows the board restarted.
   'B' before 'H' is refused: after a reset the host must say hello again.

   Timing: the part's cycle counter (DWT; TIMER0 on the nRF51) around each inference, and SysTick on the
   processor clock. Under QEMU neither counts cycles; -icount makes SysTick count instructions, and a loop of
   known length timed at boot gives the instructions per tick. */
#include <stdint.h>
#include <string.h>

#include "part.h" /* and board.h: the part's name, the batch size, the engine's header */
#define PROTOCOL_VERSION 1u
#define MAX_PAYLOAD (6u + LENET_BATCH * LENET_INPUT_SIZE)
#define RESULT_SIZE (8u + LENET_OUTPUT_SIZE)
#define CALIBRATION_LOOPS 100000u
#define PAINT 0xA5A5A5A5u

#define SYST_CSR REG(0xE000E010u)
#define SYST_RVR REG(0xE000E014u)
#define SYST_CVR REG(0xE000E018u)
#define TICKS(start, end) (((start) - (end)) & 0xFFFFFFu) /* a 24-bit down-counter */

extern uint32_t _estack, _ebss;

static uint8_t frame[MAX_PAYLOAD > 128u + 6u ? MAX_PAYLOAD : 128u + 6u];
static int8_t scores[LENET_OUTPUT_SIZE];
static uint32_t calibration_ticks, patience;

static uint32_t crc32_update(uint32_t crc, const uint8_t *data, uint32_t size) {
  uint32_t i, bit;
  for (i = 0; i < size; ++i) {
    crc ^= data[i];
    for (bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return crc;
}

static void put_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void send_bytes(const uint8_t *data, uint32_t size, uint32_t *crc) {
  uint32_t i;
  for (i = 0; i < size; ++i) uart_put(data[i]);
  *crc = crc32_update(*crc, data, size);
}

/* A frame whose payload is head (head_size bytes) followed by body (body_size bytes). */
static void send_frame(uint8_t type, const uint8_t *head, uint32_t head_size, const uint8_t *body,
                       uint32_t body_size) {
  uint8_t start[5] = {'L', 'N', type, (uint8_t)(head_size + body_size), (uint8_t)((head_size + body_size) >> 8)};
  uint8_t tail[4];
  uint32_t crc = 0xFFFFFFFFu, i;
  for (i = 0; i < 2; ++i) uart_put(start[i]);
  send_bytes(start + 2, 3, &crc);
  send_bytes(head, head_size, &crc);
  send_bytes(body, body_size, &crc);
  put_u32(tail, ~crc);
  for (i = 0; i < 4; ++i) uart_put(tail[i]);
}

static void send_error(const char *text) { send_frame('E', (const uint8_t *)text, strlen(text), 0, 0); }

/* The next whole frame into `frame`: its type, or -1 (after an 'E' reply) when it was broken. */
static int receive_frame(uint32_t *size) {
  uint8_t head[3], tail[4];
  uint32_t i, crc;
  int c;
  do { /* resynchronise on the start bytes */
    while (uart_get(0) != 'L') {
    }
    c = uart_get(patience);
  } while (c != 'N');
  for (i = 0; i < 3; ++i) {
    if ((c = uart_get(patience)) < 0) return -1; /* the host stopped mid-frame: wait for the next one */
    head[i] = (uint8_t)c;
  }
  *size = (uint32_t)head[1] | (uint32_t)head[2] << 8;
  if (*size > sizeof frame) {
    send_error("frame too long for this firmware's batch");
    return -1;
  }
  for (i = 0; i < *size + 4u; ++i) {
    if ((c = uart_get(patience)) < 0) return -1;
    if (i < *size) frame[i] = (uint8_t)c;
    else tail[i - *size] = (uint8_t)c;
  }
  crc = ~crc32_update(crc32_update(0xFFFFFFFFu, head, 3), frame, *size);
  if (crc != get_u32(tail)) {
    send_error("bad checksum");
    return -1;
  }
  return head[0];
}

__attribute__((noinline)) static void known_loop(uint32_t n) {
  __asm volatile(".syntax unified\n1: subs %0, %0, #1\n bne 1b" : "+l"(n));
}

static void paint_stack(void) {
  uint32_t *p = &_ebss, *sp = (uint32_t *)__builtin_frame_address(0) - 16;
  while (p < sp) *p++ = PAINT;
}

static uint32_t stack_high_water(void) {
  const uint32_t *p = &_ebss;
  while (*p == PAINT) ++p;
  return (uint32_t)&_estack - (uint32_t)p;
}

/* version, counter kind, counter runs, 0, clock Hz, input size, output size, batch, 0 (2),
   calibration instructions, calibration ticks, model SHA-256 (64 hex), part name */
static uint32_t info(uint8_t *out) {
  static const char part[] = LENET_PART;
  uint32_t start = part_cycles(), runs;
  known_loop(1000u);
  runs = part_cycles() != start;
  out[0] = PROTOCOL_VERSION;
  out[1] = (uint8_t)part_counter();
  out[2] = (uint8_t)runs;
  out[3] = 0;
  put_u32(out + 4, part_clock_hz());
  put_u32(out + 8, LENET_INPUT_SIZE);
  put_u32(out + 12, LENET_OUTPUT_SIZE);
  out[16] = (uint8_t)LENET_BATCH;
  out[17] = (uint8_t)(LENET_BATCH >> 8);
  out[18] = out[19] = 0;
  put_u32(out + 20, 2u * CALIBRATION_LOOPS);
  put_u32(out + 24, calibration_ticks);
  memcpy(out + 28, LENET_MODEL_SHA256, 64);
  memcpy(out + 92, part, sizeof part - 1);
  return 92u + sizeof part - 1u;
}

static void run_batch(uint32_t size) {
  uint8_t head[10];
  uint32_t count = (uint32_t)frame[4] | (uint32_t)frame[5] << 8, i, cycles, ticks;
  if (size < 6u || count == 0 || count > LENET_BATCH || size != 6u + count * LENET_INPUT_SIZE) {
    send_error("batch: wrong image count or size for this model");
    return;
  }
  /* the images are read in place; each answer overwrites nothing the next needs */
  static uint8_t results[LENET_BATCH][RESULT_SIZE];
  for (i = 0; i < count; ++i) {
    uint32_t c0, t0;
    t0 = SYST_CVR;
    c0 = part_cycles();
    lenet_invoke((const int8_t *)(frame + 6u + i * LENET_INPUT_SIZE), scores);
    cycles = part_cycles() - c0;
    ticks = TICKS(t0, SYST_CVR);
    put_u32(results[i], cycles);
    put_u32(results[i] + 4, ticks);
    memcpy(results[i] + 8, scores, LENET_OUTPUT_SIZE);
  }
  memcpy(head, frame, 6);
  put_u32(head + 6, stack_high_water());
  send_frame('R', head, 10, &results[0][0], count * RESULT_SIZE);
}

/* startup.c's fault handler: say so (the host stops the run with this line), then wait for a reset. */
void lenet_fault(void) {
  send_error("the firmware faulted");
  for (;;) {
  }
}

int main(void) {
  uint8_t about[92 + 64];
  uint32_t size, start;
  int session = 0, type;
  part_init();
  paint_stack();
  patience = part_clock_hz() / 8u; /* an idle line mid-frame for roughly a second ends the frame */
  SYST_RVR = 0xFFFFFFu;
  SYST_CVR = 0;
  SYST_CSR = 5u; /* enable, processor clock, no interrupt */
  start = SYST_CVR;
  known_loop(CALIBRATION_LOOPS);
  calibration_ticks = TICKS(start, SYST_CVR);
  send_frame('S', about, info(about), 0, 0);
  for (;;) {
    type = receive_frame(&size);
    if (type == 'H') {
      session = 1;
      send_frame('I', about, info(about), 0, 0);
    } else if (type == 'B') {
      if (session) run_batch(size);
      else send_error("no session: say hello first (the board was reset?)");
    } else if (type >= 0) {
      send_error("unknown frame type");
    }
  }
}
