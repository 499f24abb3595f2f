"""lenet-train error paths: one clear line on stderr, exit code 2, earlier runs intact."""

import pytest
from click.testing import CliRunner

from lenet_deploy.train.cli import main


def invoke(*args):
    return CliRunner().invoke(main, list(args))


def assert_one_line_error(result, fragment, code=2):
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert fragment in lines[0]
    assert "Traceback" not in result.output


def test_unknown_preset():
    assert_one_line_error(invoke("fit", "--preset", "lenet-9"),
                          "Invalid value for '--preset': 'lenet-9' is not one of 'original', 'seed-best', 'lenet-plus'")


def test_malformed_yaml(tmp_path):
    (tmp_path / "bad.yaml").write_text("epochs: [3\n")
    assert_one_line_error(invoke("fit", "--config", str(tmp_path / "bad.yaml")), "malformed YAML at line")


def test_wrong_type_in_yaml(tmp_path):
    (tmp_path / "bad.yaml").write_text("batch_size: big\n")
    assert_one_line_error(invoke("fit", "--config", str(tmp_path / "bad.yaml")),
                          "batch_size must be an integer, got 'big'")


@pytest.mark.parametrize("epochs", ["0", "-1"])
def test_epochs_not_positive(epochs):
    assert_one_line_error(invoke("fit", "--preset", "original", "--epochs", epochs), "epochs must be >= 1")


def test_infeasible_config_file(tmp_path):
    (tmp_path / "deep.yaml").write_text("conv_layers: 3\npadding: valid\n")
    assert_one_line_error(invoke("fit", "--config", str(tmp_path / "deep.yaml")), "infeasible config")


def test_out_is_a_file(tmp_path, subset_npz):
    (tmp_path / "taken").write_text("keep me")
    result = invoke("fit", "--preset", "original", "--out", str(tmp_path / "taken"), "--data", str(subset_npz),
                    "--unverified")
    assert_one_line_error(result, "is a file, not a directory")
    assert (tmp_path / "taken").read_text() == "keep me"


def test_unwritable_out():
    assert_one_line_error(invoke("fit", "--preset", "original", "--out", "/proc/lenet-run/x"), "is not writable")


@pytest.mark.slow
def test_existing_run_is_never_overwritten_without_force(tmp_path, subset_npz):
    run = tmp_path / "runs" / "mine"
    run.mkdir(parents=True)
    (run / "model.keras").write_bytes(b"earlier model")
    result = invoke("fit", "--preset", "original", "--out", str(run), "--data", str(subset_npz), "--unverified")
    assert_one_line_error(result, "already holds a run; pass --force")
    assert (run / "model.keras").read_bytes() == b"earlier model"


@pytest.mark.slow
def test_force_replaces_the_run_whole(tmp_path, subset_npz):
    run = tmp_path / "runs" / "mine"
    run.mkdir(parents=True)
    (run / "stale.txt").write_text("old")
    result = invoke("fit", "--preset", "seed-best", "--epochs", "1", "--val-size", "200", "--out", str(run),
                    "--data", str(subset_npz), "--unverified", "--force", "--wandb", "disabled")
    assert result.exit_code == 0, result.output
    assert not (run / "stale.txt").exists() and (run / "model.keras").exists()


def test_checksum_mismatch_without_unverified(subset_npz):
    assert_one_line_error(invoke("fit", "--preset", "original", "--data", str(subset_npz)), "checksum mismatch")


def test_preset_and_config_together(tmp_path):
    (tmp_path / "c.yaml").write_text("epochs: 1\n")
    assert_one_line_error(invoke("fit", "--preset", "original", "--config", str(tmp_path / "c.yaml")),
                          "give --preset or --config, not both")


def test_unknown_wandb_mode(subset_npz):
    assert_one_line_error(invoke("fit", "--preset", "original", "--wandb", "cloud", "--data", str(subset_npz),
                                 "--unverified"), "Invalid value for '--wandb': 'cloud' is not one of 'auto'")


def test_data_command_reports_source(subset_npz):
    result = invoke("data", "--data", str(subset_npz), "--unverified")
    assert result.exit_code == 0
    assert "4000 train + 1000 test" in result.output and "verified against pinned SHA-256: no" in result.output
