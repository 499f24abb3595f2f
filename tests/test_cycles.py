"""The cycle estimate: QEMU's execution trace read back block by block, each instruction charged its core's timing."""

import pytest

from lenet_deploy.errors import LenetError
from lenet_deploy.firmware_bench.mcu.cycles import TIMINGS, estimate_cycles, instruction_cycles

M0, M4, M7, M55 = (TIMINGS[c] for c in ("Cortex-M0", "Cortex-M4F", "Cortex-M7", "Cortex-M55"))


def _block(name, *lines):
    return f"----------------\nIN: {name}\n" + "\n".join(lines) + "\n"


def _trace(host, pc, symbol):
    return f"Trace 0: {host} [00800408/{pc:08x}/00000110/ff020200] {symbol}\n"


# lenet_invoke: a loop of 3 iterations (two loads, a multiply-accumulate, a compare, a conditional branch back),
# falling through to the call of the trace callback (after_op: left out, it ends op 0), then op 1, then main.
LOOP = ["0x00000100:  f853 2b04  ldr      r2, [r3], #4", "0x00000104:  f851 4b04  ldr      r4, [r1], #4",
        "0x00000108:  fb02 0004  mla      r0, r2, r4, r0", "0x0000010c:  4283       cmp      r3, r0",
        "0x0000010e:  d1f7       bne      #0x100"]
ENTRY = ["0x000000f0:  b510       push     {r4, lr}", "0x000000f2:  2300       movs     r3, #0"]
CALL = ["0x00000110:  4798       blx      r3"]
OP1 = ["0x00000112:  bd10       pop      {r4, pc}"]
LOG = (_block("lenet_invoke", *ENTRY) + _trace("0xa", 0xF0, "lenet_invoke")
       + _block("lenet_invoke", *LOOP) + _trace("0xb", 0x100, "lenet_invoke")
       + _trace("0xb", 0x100, "lenet_invoke") + _trace("0xb", 0x100, "lenet_invoke")
       + _block("lenet_invoke", *CALL) + _trace("0xg", 0x110, "lenet_invoke")
       + _block("after_op", "0x00000200:  4770       bx       lr") + _trace("0xc", 0x200, "after_op")
       + _block("lenet_invoke", *OP1) + _trace("0xd", 0x112, "lenet_invoke")
       + _block("main", "0x00000300:  2000       movs     r0, #0") + _trace("0xe", 0x300, "main"))


def test_each_executed_instruction_is_charged_its_cores_timing_and_ops_split_at_the_callback():
    cycles, instructions = estimate_cycles(LOG, M4)
    # op 0: push {r4, lr} 1+2, movs 1; then 3 x (ldr 2, ldr pipelined 1, mla 1, cmp 1, bne) with bne taken twice
    # (1 + 2 refill) and not taken the last time (1); the call 3
    assert instructions == [2 + 3 * 5 + 1, 1]
    assert cycles == [3 + 1 + 3 * 5 + 2 * 3 + 1 + 3, 1 + 2 + 2]  # pop {r4, pc}: 1 + 2 registers + the refill
    # the M0: no load pipelining (2 + 2), a taken branch 3, a call 4, pop with pc 1 + 2 + 2 (its TRM's 4 + N)
    assert estimate_cycles(LOG, M0)[0] == [3 + 1 + 3 * (2 + 2 + 1 + 1) + 2 * 3 + 1 + 4, 1 + 2 + 2]
    assert estimate_cycles(LOG, M7)[0] == [18, 1]  # the M7: one cycle per instruction (stated)


def test_a_block_translated_twice_is_read_by_the_translation_that_ran():
    short = _block("lenet_invoke", "0x000000f0:  2300       movs     r3, #0")
    log = (_block("lenet_invoke", *ENTRY) + _trace("0xa", 0xF0, "lenet_invoke")
           + short + _trace("0xf", 0xF0, "lenet_invoke")  # the same address, another translation, one instruction
           + _block("main", "0x00000300:  2000       movs     r0, #0") + _trace("0xe", 0x300, "main"))
    assert estimate_cycles(log, M4)[1] == [3]


def test_a_32_bit_instruction_capstone_cannot_name_is_one_instruction():
    loop_end = ["0x00000100:  2301       movs     r3, #1", "0x00000102:  f00f       .byte    0x0f, 0xf0",
                "0x00000104:  c001       .byte    0x01, 0xc0"]  # LE: a low-overhead loop's end
    vector = ["0x00000106:  ef00       .byte    0x00, 0xef", "0x00000108:  0d40       .byte    0x40, 0x0d"]
    log = (_block("lenet_invoke", *loop_end) + _trace("0xa", 0x100, "lenet_invoke")
           + _trace("0xa", 0x100, "lenet_invoke")
           + _block("lenet_invoke", *vector) + _trace("0xb", 0x106, "lenet_invoke")
           + _block("main", "0x00000300:  2000       movs     r0, #0") + _trace("0xe", 0x300, "main"))
    cycles, instructions = estimate_cycles(log, M55)
    assert instructions == [2 + 2 + 1]
    assert cycles == [(1 + 3) + (1 + 1) + 2]  # LE taken back, then falling through; the vector op 2 beats


def test_registers_lists_and_their_ranges_count():
    assert instruction_cycles("push.w", "{r4, r5, r6, r7, r8, sb, sl, fp, lr}", M4, False, False)[0] == 10
    assert instruction_cycles("pop", "{r4-r7, pc}", M4, False, True)[0] == 1 + 5 + 2
    assert instruction_cycles("ldrsb.w", "r2, [r1, #1]", M4, True, False) == (1, True)
    assert instruction_cycles("ldrsb", "r2, [r1, r3]", M0, True, False) == (2, True)


def test_a_trace_that_never_runs_the_engine_is_an_error():
    with pytest.raises(LenetError, match="never entered lenet_invoke"):
        estimate_cycles(_block("main", "0x00000300:  2000       movs     r0, #0") + _trace("0xe", 0x300, "main"),
                        M4)
