"""The generated C source compiles cleanly as C99 and C++11 (host gcc and arm-none-eabi-gcc) and holds
the model byte for byte."""

import shutil
import subprocess

import numpy as np
import pytest

from lenet_deploy.convert.c_array import ModelMacros, resolver_name, write_c_array
from lenet_deploy.tflite import TensorIO

STRICT = ["-Wall", "-Wextra", "-Werror", "-pedantic"]
ROUNDTRIP = r"""
#include <stdint.h>
#include <stdio.h>
#include "blob.h"
const unsigned char *other_unit(void);
int main(int argc, char **argv) {
    FILE *f;
    size_t n;
    if (argc != 2 || (uintptr_t)blob % 16 != 0 || other_unit() != blob) return 3;
    if (blob_len != BLOB_SIZE || BLOB_INPUT_SIZE != 784 || BLOB_NUM_CLASSES != 10) return 4;
    f = fopen(argv[1], "wb");
    if (!f) return 1;
    n = fwrite(blob, 1, blob_len, f);
    fclose(f);
    return n == blob_len ? 0 : 2;
}
"""
OTHER_UNIT = '#include "blob.h"\nconst unsigned char *other_unit(void) { return blob; }\n'


def macros(ops=("CONV_2D", "FULLY_CONNECTED", "SOFTMAX")):
    io = TensorIO(np.dtype(np.int8), 1 / 255, -128, (1, 28, 28, 1))
    out = TensorIO(np.dtype(np.int8), 1 / 256, -128, (1, 10))
    return ModelMacros(io, out, list(ops), 12_000, 1_200)


@pytest.fixture
def blob(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, 300_001, dtype=np.uint8).tobytes()
    write_c_array(tmp_path, "blob", data, macros(), "test")
    (tmp_path / "main.c").write_text(ROUNDTRIP)
    (tmp_path / "other.c").write_text(OTHER_UNIT)
    return tmp_path, data


@pytest.mark.parametrize("compiler, flags", [("gcc", ["-std=c99"]), ("gcc", ["-std=c11"]),
                                             ("g++", ["-std=c++11", "-x", "c++"])])
def test_roundtrip_is_byte_identical(blob, compiler, flags):
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    directory, data = blob
    exe = directory / f"roundtrip-{compiler}"
    sources = [str(directory / n) for n in ("blob.c", "other.c", "main.c")]
    subprocess.run([compiler, *flags, *STRICT, "-I", str(directory), *sources, "-o", str(exe)], check=True,
                   capture_output=True, text=True)
    subprocess.run([str(exe), str(directory / "back.bin")], check=True)
    assert (directory / "back.bin").read_bytes() == data


def test_cortex_m_build_keeps_the_model_in_flash(blob):
    gcc = shutil.which("arm-none-eabi-gcc")
    if gcc is None:
        pytest.skip("arm-none-eabi-gcc is not installed (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)")
    directory, data = blob
    for std in ("-std=c99", "-std=c11"):
        subprocess.run([gcc, "-mcpu=cortex-m4", "-mthumb", "-O2", std, *STRICT, "-I", str(directory), "-c",
                        str(directory / "blob.c"), "-o", str(directory / "blob.o")], check=True, capture_output=True)
    subprocess.run(["arm-none-eabi-g++", "-mcpu=cortex-m4", "-mthumb", "-std=c++11", "-x", "c++", *STRICT, "-I",
                    str(directory), "-c", str(directory / "other.c"), "-o", str(directory / "other.o")], check=True,
                   capture_output=True)
    symbols = subprocess.run(["arm-none-eabi-nm", "-S", str(directory / "blob.o")], check=True, capture_output=True,
                             text=True).stdout
    kinds = {line.split()[-1]: (line.split()[-2], int(line.split()[1], 16)) for line in symbols.splitlines()}
    assert kinds["blob"] == ("R", len(data))  # read-only data: stays in flash
    assert kinds["blob_len"][0] == "R"
    sections = subprocess.run(["arm-none-eabi-objdump", "-h", str(directory / "blob.o")], check=True,
                              capture_output=True, text=True).stdout
    rodata = next(line.split() for line in sections.splitlines() if ".rodata" in line)
    assert rodata[-1] in ("2**4", "2**5")  # 16-byte alignment (or more)


def test_resolver_names():
    assert [resolver_name(op) for op in ("CONV_2D", "AVERAGE_POOL_2D", "FULLY_CONNECTED", "DEPTHWISE_CONV_2D",
                                         "SOFTMAX")] == ["Conv2D", "AveragePool2D", "FullyConnected",
                                                         "DepthwiseConv2D", "Softmax"]


def test_header_only_declares(blob):
    directory, _ = blob
    header = (directory / "blob.h").read_text()
    assert "extern const unsigned char blob[];" in header and "0x" not in header.split("BLOB_SHA256")[1]
    assert header.count("#ifndef BLOB_H_") == 1 and 'extern "C"' in header


QUANTIZE_ALL_PIXELS = r"""
#include <stdio.h>
#include "io.h"
int main(void) {
    for (int p = 0; p < 256; ++p) {
        IO_INPUT_TYPE q = IO_QUANTIZE_INPUT(p / 255.0f);
        printf("%.17g %.17g\n", (double)q, (double)IO_DEQUANTIZE_OUTPUT(q));
    }
    printf("%.17g\n", (double)IO_QUANTIZE_INPUT(-3.0f));
    return 0;
}
"""


@pytest.mark.parametrize("io", [TensorIO(np.dtype(np.int8), 1 / 255, -128, (1, 28, 28, 1)),
                                TensorIO(np.dtype(np.uint8), 1 / 255, 0, (1, 28, 28, 1)),
                                TensorIO(np.dtype(np.float32), 0.0, 0, (1, 28, 28, 1))], ids=["int8", "uint8", "float"])
def test_typed_io_macros_quantize_as_the_python_side_does(tmp_path, io):
    """Every pixel value through the header's QUANTIZE_INPUT equals TensorIO.quantize (what TFLM is fed)."""
    write_c_array(tmp_path, "io", b"\0" * 64, ModelMacros(io, io, ["SOFTMAX"], 1000, 1024), "test")
    (tmp_path / "main.c").write_text(QUANTIZE_ALL_PIXELS)
    exe = tmp_path / "quantize"
    subprocess.run(["gcc", "-std=c99", *STRICT, "-I", str(tmp_path), str(tmp_path / "main.c"), str(tmp_path / "io.c"),
                    "-o", str(exe)], check=True, capture_output=True, text=True)
    printed = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split("\n")
    rows = np.array([line.split() for line in printed[:256]], dtype=np.float64)
    pixels = (np.arange(256, dtype=np.float32) / np.float32(255))
    np.testing.assert_array_equal(rows[:, 0], io.quantize(pixels).astype(np.float64))
    np.testing.assert_allclose(rows[:, 1], io.dequantize(io.quantize(pixels)), rtol=1e-6)
    below = float(printed[256])
    assert below == (np.iinfo(io.dtype).min if io.quantized else -3.0)  # saturated to the type, or passed through
