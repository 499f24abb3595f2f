/* Reset and the vector table of a Cortex-M (ARMv6-M, ARMv7-M, ARMv8-M mainline), for both firmwares.
   Reset copies .data from flash, zeroes .bss, enables the FPU when built for one, then runs main.
   The QEMU benchmark (semihosting): opens the semihosting handles newlib needs, and exits with main's status
   (SYS_EXIT); a fault exits with 3 instead of hanging the emulator.
   The serial firmware (-DLENET_SERIAL, no semihosting: it runs on silicon with no debugger): main never
   returns; a fault is reported over the UART (serial/main.c's lenet_fault). No interrupt is enabled by
   either (the UART is polled), so the table holds the core's 16 exception vectors only. */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern int main(void);

void Reset_Handler(void);
void Default_Handler(void);

#ifdef LENET_SERIAL
extern void lenet_fault(void);
#else
extern void initialise_monitor_handles(void);
/* newlib's init/fini arrays call these; -nostartfiles leaves them out (no C++ constructors here). */
void _init(void) {}
void _fini(void) {}
#endif

void Reset_Handler(void) {
  uint32_t *src = &_sidata, *dst = &_sdata;
  while (dst < &_edata) *dst++ = *src++;
  for (dst = &_sbss; dst < &_ebss;) *dst++ = 0;
#if defined(__ARM_FP)
  *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* CPACR: CP10 and CP11 full access */
  __asm volatile("dsb\n isb");
#endif
#ifdef LENET_SERIAL
  main();
  for (;;) {
  }
#else
  initialise_monitor_handles();
  exit(main());
#endif
}

#ifdef LENET_SERIAL
void Default_Handler(void) { lenet_fault(); }
#else
void Default_Handler(void) { exit(3); }
#endif

__attribute__((section(".isr_vector"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(&_estack), Reset_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, 0, 0, 0, 0, Default_Handler, Default_Handler, 0, Default_Handler,
    Default_Handler,
};
