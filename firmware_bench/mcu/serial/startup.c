/* Reset and the vector table of a Cortex-M for the serial firmware: .data copied from flash, .bss zeroed, the
   FPU enabled when built for one, then main. No interrupt is enabled (the UART is polled), so the table holds
   the core's 16 exception vectors only. A fault is reported over the UART (main.c's lenet_fault). */
#include <stdint.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern int main(void);
extern void lenet_fault(void);

void Reset_Handler(void);
void Default_Handler(void);

void Reset_Handler(void) {
  uint32_t *src = &_sidata, *dst = &_sdata;
  while (dst < &_edata) *dst++ = *src++;
  for (dst = &_sbss; dst < &_ebss;) *dst++ = 0;
#if defined(__ARM_FP)
  *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* CPACR: CP10 and CP11 full access */
  __asm volatile("dsb\n isb");
#endif
  main();
  for (;;) {
  }
}

void Default_Handler(void) { lenet_fault(); }

__attribute__((section(".isr_vector"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(&_estack), Reset_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, 0, 0, 0, 0, Default_Handler, Default_Handler, 0, Default_Handler,
    Default_Handler,
};
