import gzip

import numpy as np
import pytest

from lenet_deploy.errors import LenetError
from lenet_deploy.idx import decode_idx, encode_idx, read_idx_bytes


def images(n=3):
    return (np.arange(n * 28 * 28) % 256).astype(np.uint8).reshape(n, 28, 28)


def test_roundtrip_and_header():
    data = encode_idx(images())
    assert data[:4] == bytes([0, 0, 8, 3])
    assert data[4:16] == (3).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    np.testing.assert_array_equal(decode_idx(data, "x", 3, (28, 28)), images())


def test_gzip_is_read_transparently(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(encode_idx(images())))
    assert read_idx_bytes(path) == encode_idx(images())


def test_truncated_file_is_an_error_not_a_reshape():
    data = encode_idx(images())[:-100]
    with pytest.raises(LenetError, match="truncated.*needs 2368"):
        decode_idx(data, "f", 3, (28, 28))


def test_trailing_bytes_are_an_error():
    with pytest.raises(LenetError, match="trailing bytes"):
        decode_idx(encode_idx(images()) + b"\0", "f", 3, (28, 28))


def test_wrong_magic():
    data = b"PK\x03\x04" + encode_idx(images())[4:]
    with pytest.raises(LenetError, match="magic 504b0304"):
        decode_idx(data, "f", 3, (28, 28))


def test_labels_given_as_images_is_a_dimension_error():
    labels = encode_idx(np.arange(10, dtype=np.uint8))
    with pytest.raises(LenetError, match="1 dimensions, expected 3"):
        decode_idx(labels, "f", 3, (28, 28))


def test_wrong_image_size():
    with pytest.raises(LenetError, match=r"item shape \(32, 32\)"):
        decode_idx(encode_idx(np.zeros((2, 32, 32), np.uint8)), "f", 3, (28, 28))
