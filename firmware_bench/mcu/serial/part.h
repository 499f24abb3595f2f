/* What the serial benchmark firmware needs from a part: its clock, its UART (polled), its cycle counter.
   One implementation per family: part_mps2.c (CMSDK UART), part_stm32f4.c (USART2), part_nrf5.c (UART0). */
#ifndef LENET_PART_H
#define LENET_PART_H
#include <stdint.h>

#include "board.h" /* written per board by `lenet-bench firmware`: LENET_PART, LENET_BATCH, the UART's place */

#define COUNTER_NONE 0u
#define COUNTER_DWT 1u   /* the core's DWT cycle counter (M3, M4, M7, M33, M55) */
#define COUNTER_TIMER 2u /* a timer on the core clock (the nRF51's TIMER0: the M0 has no DWT cycle counter) */

void part_init(void);             /* clock, pins, UART at LENET_BAUD, cycle counter */
uint32_t part_clock_hz(void);     /* the core clock part_init set (its reset clock where the PLL did not lock) */
uint32_t part_counter(void);      /* COUNTER_* */
uint32_t part_cycles(void);       /* the free-running cycle count (wraps at 2^32) */
void uart_put(uint8_t byte);      /* blocks until the byte is in the transmitter */
int uart_get(uint32_t patience);  /* a byte, or -1 after about `patience` empty polls (0: wait for ever) */

#define LENET_BAUD 115200u
#define REG(address) (*(volatile uint32_t *)(address))

/* ARMv7-M / ARMv8-M mainline debug registers: DWT's cycle counter. */
#define DEMCR REG(0xE000EDFCu)
#define DWT_CTRL REG(0xE0001000u)
#define DWT_CYCCNT REG(0xE0001004u)

static inline void dwt_start(void) {
  DEMCR |= 1u << 24; /* TRCENA */
  DWT_CYCCNT = 0;
  DWT_CTRL |= 1u;    /* CYCCNTENA */
}
#endif
