/* Reset and the vector table for a Cortex-M (ARMv7-M / ARMv8-M mainline) on QEMU's MPS2 boards.
   Reset copies .data from flash, zeroes .bss, enables the FPU when built for one, opens the
   semihosting handles newlib needs, runs main and exits with its status (semihosting SYS_EXIT). */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern int main(void);
extern void initialise_monitor_handles(void);

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
  initialise_monitor_handles();
  exit(main());
}

/* newlib's init/fini arrays call these; -nostartfiles leaves them out (no C++ constructors here). */
void _init(void) {}
void _fini(void) {}

/* A fault ends the run with a non-zero status instead of hanging the emulator. */
void Default_Handler(void) { exit(3); }

__attribute__((section(".isr_vector"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(&_estack), Reset_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, 0, 0, 0, 0, Default_Handler, Default_Handler, 0, Default_Handler,
    Default_Handler,
};
