/* STM32F405 / STM32F446 (Netduino Plus 2, Nucleo-F446RE): the PLL from the 16 MHz HSI to 168 MHz, USART2 on
   PA2 (TX) / PA3 (RX), alternate function 7 (on the Nucleo this is the ST-LINK's virtual COM port).
   Registers from RM0090 (F405) and RM0390 (F446), identical for what is used here. Where the PLL does not lock
   (QEMU models no RCC), the part stays on the HSI and says so through part_clock_hz(). */
#include "part.h"

#define RCC_CR REG(0x40023800u)
#define RCC_PLLCFGR REG(0x40023804u)
#define RCC_CFGR REG(0x40023808u)
#define RCC_AHB1ENR REG(0x40023830u)
#define RCC_APB1ENR REG(0x40023840u)
#define FLASH_ACR REG(0x40023C00u)
#define GPIOA_MODER REG(0x40020000u)
#define GPIOA_PUPDR REG(0x4002000Cu)
#define GPIOA_AFRL REG(0x40020020u)
#define USART_SR REG(0x40004400u) /* bit 7 TXE, bit 5 RXNE, bit 3 ORE */
#define USART_DR REG(0x40004404u)
#define USART_BRR REG(0x40004408u)
#define USART_CR1 REG(0x4000440Cu)

#define HSI_HZ 16000000u
#define PLL_HZ 168000000u
#define LOCK_POLLS 100000u

static uint32_t core_hz = HSI_HZ, apb1_hz = HSI_HZ;

static void clock_init(void) {
  uint32_t polls;
  /* PLL: HSI / M=16 = 1 MHz, x N=336, / P=2 = 168 MHz (/ Q=7 = 48 MHz for USB); 5 flash wait states at 3.3 V. */
  RCC_PLLCFGR = 16u | (336u << 6) | (0u << 16) | (0u << 22) | (7u << 24);
  RCC_CR |= 1u << 24; /* PLLON */
  for (polls = 0; polls < LOCK_POLLS && !(RCC_CR & (1u << 25)); ++polls) {
  }
  if (!(RCC_CR & (1u << 25))) return; /* no lock: stay on the HSI */
  FLASH_ACR = 5u | (1u << 8) | (1u << 9) | (1u << 10); /* latency, prefetch, I-cache, D-cache */
  RCC_CFGR = (RCC_CFGR & ~0xFCF3u) | (5u << 10) | (4u << 13) | 2u; /* AHB /1, APB1 /4, APB2 /2, SW = PLL */
  for (polls = 0; polls < LOCK_POLLS && ((RCC_CFGR >> 2) & 3u) != 2u; ++polls) {
  }
  if (((RCC_CFGR >> 2) & 3u) == 2u) {
    core_hz = PLL_HZ;
    apb1_hz = PLL_HZ / 4u;
  }
}

void part_init(void) {
  clock_init();
  RCC_AHB1ENR |= 1u;        /* GPIOA */
  RCC_APB1ENR |= 1u << 17;  /* USART2 */
  (void)RCC_APB1ENR;        /* the enable takes effect before the first access (errata: two cycles) */
  GPIOA_MODER = (GPIOA_MODER & ~(0xFu << 4)) | (0xAu << 4);  /* PA2, PA3: alternate function */
  GPIOA_AFRL = (GPIOA_AFRL & ~(0xFFu << 8)) | (0x77u << 8);  /* AF7: USART2 */
  GPIOA_PUPDR = (GPIOA_PUPDR & ~(3u << 6)) | (1u << 6);      /* RX pulled up while idle */
  USART_BRR = (apb1_hz + LENET_BAUD / 2u) / LENET_BAUD;      /* 16x oversampling */
  USART_CR1 = (1u << 13) | (1u << 3) | (1u << 2);            /* UE, TE, RE */
  dwt_start();
}

uint32_t part_clock_hz(void) { return core_hz; }
uint32_t part_counter(void) { return COUNTER_DWT; }
uint32_t part_cycles(void) { return DWT_CYCCNT; }

void uart_put(uint8_t byte) {
  while (!(USART_SR & (1u << 7))) {
  }
  USART_DR = byte;
}

int uart_get(uint32_t patience) {
  uint32_t polls = 0;
  while (!(USART_SR & (1u << 5))) {
    if (USART_SR & (1u << 3)) (void)USART_DR; /* an overrun: drop it (the frame's CRC fails, the host resends) */
    if (patience && ++polls >= patience) return -1;
  }
  return (int)(USART_DR & 0xFFu);
}
