/* nRF51822 (BBC micro:bit v1) and nRF52840 (nRF52840-DK): the external 16/32 MHz crystal started, UART0 at
   115200 baud on the board's USB-serial pins (micro:bit: TX P0.24, RX P0.25; DK: TX P0.06, RX P0.08), the
   registers of the nRF51 Series Reference Manual (the nRF52840 keeps the same UART0 at the same address).
   Cycles: DWT on the nRF52840's Cortex-M4; on the nRF51's Cortex-M0, TIMER0 at 16 MHz, the core clock. */
#include "part.h"

#ifndef UART_TX_PIN /* board.h gives the nRF52840-DK's */
#define UART_TX_PIN 24u
#define UART_RX_PIN 25u
#endif
#ifndef PART_CLOCK_HZ
#define PART_CLOCK_HZ 16000000u
#endif

#define CLOCK_HFCLKSTART REG(0x40000000u)
#define CLOCK_HFCLKSTARTED REG(0x40000100u)
#define UART_STARTRX REG(0x40002000u)
#define UART_STARTTX REG(0x40002008u)
#define UART_RXDRDY REG(0x40002108u)
#define UART_TXDRDY REG(0x4000211Cu)
#define UART_ENABLE REG(0x40002500u)
#define UART_PSELTXD REG(0x4000250Cu)
#define UART_PSELRXD REG(0x40002514u)
#define UART_RXD REG(0x40002518u)
#define UART_TXD REG(0x4000251Cu)
#define UART_BAUDRATE REG(0x40002524u)
#define GPIO_OUTSET REG(0x50000508u)
#define GPIO_DIRSET REG(0x50000518u)
#define TIMER0_START REG(0x40008000u)
#define TIMER0_CLEAR REG(0x4000800Cu)
#define TIMER0_CAPTURE0 REG(0x40008040u)
#define TIMER0_MODE REG(0x40008504u)
#define TIMER0_BITMODE REG(0x40008508u)
#define TIMER0_PRESCALER REG(0x40008510u)
#define TIMER0_CC0 REG(0x40008540u)
#define BAUD_115200 0x01D7E000u
#define LOCK_POLLS 100000u

void part_init(void) {
  uint32_t polls;
  CLOCK_HFCLKSTART = 1u; /* the crystal: the UART's baud rate is off by up to 1.5 % on the RC oscillator */
  for (polls = 0; polls < LOCK_POLLS && !CLOCK_HFCLKSTARTED; ++polls) {
  }
  GPIO_OUTSET = 1u << UART_TX_PIN; /* TX idles high */
  GPIO_DIRSET = 1u << UART_TX_PIN;
  UART_PSELTXD = UART_TX_PIN;
  UART_PSELRXD = UART_RX_PIN;
  UART_BAUDRATE = BAUD_115200;
  UART_ENABLE = 4u;
  UART_STARTTX = 1u;
  UART_STARTRX = 1u;
#if defined(__ARM_ARCH_6M__)
  TIMER0_MODE = 0u;      /* timer */
  TIMER0_BITMODE = 3u;   /* 32 bits */
  TIMER0_PRESCALER = 0u; /* 16 MHz */
  TIMER0_CLEAR = 1u;
  TIMER0_START = 1u;
#else
  dwt_start();
#endif
}

uint32_t part_clock_hz(void) { return PART_CLOCK_HZ; }

#if defined(__ARM_ARCH_6M__)
uint32_t part_counter(void) { return COUNTER_TIMER; }
uint32_t part_cycles(void) {
  TIMER0_CAPTURE0 = 1u;
  return TIMER0_CC0;
}
#else
uint32_t part_counter(void) { return COUNTER_DWT; }
uint32_t part_cycles(void) { return DWT_CYCCNT; }
#endif

void uart_put(uint8_t byte) {
  UART_TXDRDY = 0u;
  UART_TXD = byte;
  while (!UART_TXDRDY) {
  }
}

int uart_get(uint32_t patience) {
  uint32_t polls = 0;
  while (!UART_RXDRDY) {
    if (patience && ++polls >= patience) return -1;
  }
  UART_RXDRDY = 0u; /* cleared before RXD is read: reading it lets the next byte in, which raises it again */
  return (int)(UART_RXD & 0xFFu);
}
