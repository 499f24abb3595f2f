"""The int8 C engine on an emulated Cortex-M: bare-metal firmware, its build, the QEMU run and the report."""
