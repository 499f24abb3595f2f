/* Arm's MPS2/MPS3 FPGA boards (QEMU's mps2-an385/386/500/505, mps3-an547): UART0 is a CMSDK APB UART on the
   25 MHz peripheral clock; the core clock is fixed by the FPGA image, so there is nothing to set up. */
#include "part.h"

#ifndef UART_BASE
#define UART_BASE 0x40004000u /* AN385/386/500; board.h gives the Secure alias on AN505 and AN547 */
#endif
#ifndef PART_CLOCK_HZ
#define PART_CLOCK_HZ 25000000u
#endif
#define UART_DATA REG(UART_BASE + 0x000u)
#define UART_STATE REG(UART_BASE + 0x004u) /* bit 0: TX buffer full, bit 1: RX buffer full */
#define UART_CTRL REG(UART_BASE + 0x008u)  /* bit 0: TX enable, bit 1: RX enable */
#define UART_BAUDDIV REG(UART_BASE + 0x010u)

void part_init(void) {
  UART_BAUDDIV = PART_CLOCK_HZ / LENET_BAUD;
  UART_CTRL = 3u;
  dwt_start();
}

uint32_t part_clock_hz(void) { return PART_CLOCK_HZ; }
uint32_t part_counter(void) { return COUNTER_DWT; }
uint32_t part_cycles(void) { return DWT_CYCCNT; }

void uart_put(uint8_t byte) {
  while (UART_STATE & 1u) {
  }
  UART_DATA = byte;
}

int uart_get(uint32_t patience) {
  uint32_t polls = 0;
  while (!(UART_STATE & 2u)) {
    if (patience && ++polls >= patience) return -1;
  }
  return (int)(UART_DATA & 0xFFu);
}
