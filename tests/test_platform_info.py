"""What a benchmark says about the machine it ran on (a Pi's identity from a made-up /proc)."""

from lenet_deploy.firmware_bench.platform_info import cpu_model, emulation, usable_cores

PI4_CPUINFO = """processor\t: 0
model name\t: ARMv7 Processor rev 3 (v7l)
BogoMIPS\t: 108.00

Hardware\t: BCM2835
Revision\t: c03114
Serial\t\t: 10000000abcdef
Model\t\t: Raspberry Pi 4 Model B Rev 1.4
"""


def proc(tmp_path, cpuinfo=None, model=None, maps=None):
    (tmp_path / "proc" / "self").mkdir(parents=True)
    if cpuinfo is not None:
        (tmp_path / "proc" / "cpuinfo").write_text(cpuinfo)
    if model is not None:
        (tmp_path / "proc" / "device-tree").mkdir()
        (tmp_path / "proc" / "device-tree" / "model").write_bytes(model)
    if maps is not None:
        (tmp_path / "proc" / "self" / "maps").write_text(maps)
    return tmp_path


def test_a_pi_is_named_by_its_board_not_its_soc_family(tmp_path):
    assert cpu_model(proc(tmp_path, PI4_CPUINFO)) == "Raspberry Pi 4 Model B Rev 1.4"


def test_the_device_tree_model_comes_first(tmp_path):
    root = proc(tmp_path, PI4_CPUINFO, model=b"Raspberry Pi Zero W Rev 1.1\0")
    assert cpu_model(root) == "Raspberry Pi Zero W Rev 1.1"


def test_a_pc_is_named_by_its_cpu(tmp_path):
    assert cpu_model(proc(tmp_path, "processor\t: 0\nmodel name\t: AMD EPYC 7B13\n")) == "AMD EPYC 7B13"


def test_user_mode_qemu_is_detected(tmp_path, monkeypatch):
    monkeypatch.delenv("QEMU_CPU", raising=False)
    root = proc(tmp_path)
    (root / "proc" / "sys" / "fs" / "binfmt_misc").mkdir(parents=True)
    (root / "proc" / "sys" / "fs" / "binfmt_misc" / "qemu-aarch64").write_text(
        "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POCF\n")
    assert emulation(root, "aarch64") == "qemu-user (binfmt_misc runs aarch64 programs with " \
                                         "/usr/libexec/qemu-binfmt/aarch64-binfmt-P)"
    assert emulation(root, "armv7l") is None  # no entry for 32-bit Arm: a real armv7 board
    monkeypatch.setenv("QEMU_CPU", "cortex-a72")
    assert emulation(root, "armv7l") == "qemu-user (QEMU_CPU=cortex-a72)"


def test_this_process_is_native_and_has_cores(monkeypatch):
    monkeypatch.delenv("QEMU_CPU", raising=False)
    assert emulation() is None
    assert 1 <= usable_cores()
