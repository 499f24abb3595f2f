"""The device-aware sweep: limits as people write them, the Pareto front, feasibility, and costs measured in QEMU."""

import csv
import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from lenet_deploy.boards import BOARDS, find_board, missing_tools
from lenet_deploy.errors import LenetError
from lenet_deploy.sweeps import sweep_config
from lenet_deploy.train.cli import main
from lenet_deploy.train.config import make_config
from lenet_deploy.train.sweep.device import DeviceLimits, device_limits, parse_latency_ms, parse_size, violations
from lenet_deploy.train.sweep.pareto import pareto_front
from lenet_deploy.train.sweep.results import ranked
from lenet_deploy.train.sweep.spec import parse_spec

HAS_MCU_TOOLS = not missing_tools()
needs_mcu_tools = pytest.mark.skipif(not HAS_MCU_TOOLS, reason="needs qemu-system-arm and arm-none-eabi-gcc")


@pytest.mark.parametrize("text, size", [("64KB", 65536), ("64 KiB", 65536), ("16kb", 16384), ("1MB", 1 << 20),
                                        ("1.5K", 1536), ("4096", 4096)])
def test_sizes_as_people_write_them(text, size):
    assert parse_size("--max-flash", text) == size


@pytest.mark.parametrize("text, message", [("64XB", "not a size"), ("-5KB", "not a size"), ("0", "more than 0"),
                                           ("", "not a size")])
def test_bad_sizes(text, message):
    with pytest.raises(LenetError, match=message):
        parse_size("--max-flash", text)


@pytest.mark.parametrize("text, ms", [("5ms", 5.0), ("5 ms", 5.0), ("500us", 0.5), ("0.01s", 10.0)])
def test_latencies_as_people_write_them(text, ms):
    assert parse_latency_ms("--max-latency", text) == pytest.approx(ms)


@pytest.mark.parametrize("text, message", [("5", "give a unit"), ("2.5", "give a unit"), ("fast", "not a duration"),
                                           ("-1ms", "not a duration")])
def test_bad_latencies(text, message):
    with pytest.raises(LenetError, match=message):
        parse_latency_ms("--max-latency", text)


def test_limits_need_a_board_named_as_the_user_typed_it():
    assert device_limits(None) is None
    with pytest.raises(LenetError, match="--max-ram needs --board BOARD"):
        device_limits(None, max_ram="16KB")
    with pytest.raises(LenetError, match="--max-ram needs --target BOARD"):
        device_limits(None, max_ram="16KB", flag="--target")
    with pytest.raises(LenetError, match="--target 'esp32' is not supported"):
        find_board("esp32", "--target")


@needs_mcu_tools
def test_limits_are_parsed_for_the_board():
    assert device_limits(BOARDS["microbit"], "64KB", None, "5ms") == DeviceLimits(BOARDS["microbit"], 65536, None,
                                                                                  5.0)
    assert DeviceLimits.from_dict(DeviceLimits(BOARDS["microbit"], 65536).to_dict()) == DeviceLimits(
        BOARDS["microbit"], 65536)


COST = {"fits": True, "reason": "", "flash_bytes": 50_000, "ram_bytes": 6_000, "latency_ms": 4.0, "images": 10,
        "bit_exact": 10}


def test_every_broken_limit_is_a_reason_and_none_broken_is_feasible():
    limits = DeviceLimits(BOARDS["mps2-an386"], max_flash=40_000, max_ram=8_000, max_latency_ms=3.0)
    assert violations(COST, limits) == ["engine flash 50,000 B > --max-flash 40,000 B",
                                        "estimated latency 4.00 ms > --max-latency 3.00 ms"]
    assert violations(COST, DeviceLimits("mps2-an386", 50_000, 6_000, 4.0)) == []  # at the limit is within it
    assert violations({**COST, "bit_exact": 9}, DeviceLimits(BOARDS["mps2-an386"])) == [
        "the engine differs from TFLite Micro on 1 of 10 images (an engine bug: please report it)"]
    overflow = {"fits": False, "reason": "the model does not fit microbit: the firmware overflows its flash by 5 B"}
    assert violations(overflow, limits) == [overflow["reason"]]


def row(number, accuracy, instructions, feasible=True, state="COMPLETE"):
    return {"number": number, "state": state, "val_accuracy": accuracy, "feasible": feasible,
            "int8_val_accuracy": accuracy, "instructions": instructions}


# Hand-made: 1 is dominated by 2 (as accurate, cheaper), 4 by 3; 5 is the most accurate but over a limit;
# 6 ties 3 exactly (both stay: neither is better on one objective); 7 was pruned; 8 never measured.
TRIALS = [row(0, 0.950, 100), row(1, 0.970, 400), row(2, 0.970, 300), row(3, 0.985, 600), row(4, 0.980, 700),
          row(5, 0.995, 200, feasible=False), row(6, 0.985, 600), row(7, 0.999, 50, state="PRUNED"),
          {**row(8, 0.999, 10), "instructions": None}]


def test_the_pareto_front_of_a_hand_made_set():
    assert [r["number"] for r in pareto_front(TRIALS)] == [0, 2, 3, 6]


def test_best_is_the_most_accurate_feasible_trial_never_an_infeasible_one():
    spec = parse_spec(yaml.safe_load(sweep_config("mcu.yaml").read_text()))
    order = [r["number"] for r in ranked(TRIALS, spec)]
    assert order[:3] == [3, 6, 4] and 5 not in order and 7 not in order
    assert ranked([row(0, 0.99, 100, feasible=False)], spec) == []


def test_equally_accurate_trials_are_ranked_by_fewer_instructions():
    spec = parse_spec(yaml.safe_load(sweep_config("mcu.yaml").read_text()))
    tied = [row(0, 0.985, 600), row(1, 0.985, 500), row(2, 0.985, 700), row(3, 0.984, 100)]
    assert [r["number"] for r in ranked(tied, spec)] == [1, 0, 2, 3]


@pytest.mark.parametrize("goal, metric, order", [("maximize", "val_accuracy", [1, 2, 0]),
                                                 ("minimize", "val_loss", [0, 2, 1])])
def test_a_plain_sweep_ranks_its_completed_trials_in_its_goals_direction(goal, metric, order):
    spec = parse_spec({"method": "random", "metric": {"name": metric, "goal": goal},
                       "parameters": {"filters": {"values": [4, 6]}}})
    rows = [{"number": n, "state": "COMPLETE", metric: value} for n, value in ((0, 0.1), (1, 0.9), (2, 0.5))]
    rows.append({"number": 3, "state": "PRUNED", metric: 0.99 if goal == "maximize" else 0.0})
    assert [r["number"] for r in ranked(rows, spec)] == order


def test_filters_listed_per_layer_set_the_number_of_conv_layers():
    assert make_config({"filters": [8, 16, 24]}).conv_layers == 3
    assert make_config({"filters": [8, 16]}).conv_layers == 2
    with pytest.raises(LenetError, match="filters has 2 values for 3 conv layers"):
        make_config({"conv_layers": 3, "filters": [8, 16]})


def test_the_mcu_space_parses_and_has_what_the_issue_asks():
    spec = parse_spec(yaml.safe_load(sweep_config("mcu.yaml").read_text()), "mcu.yaml")
    swept = {p.name for p in spec.params}
    assert {"filters", "kernel_size", "pooling", "activation", "dense_units", "dropout", "learn_rate", "separable",
            "batch_norm"} <= swept
    for values in ({"separable": True, "batch_norm": True}, {"separable": False, "batch_norm": False}):
        config = make_config({**{p.name: p.values[0] for p in spec.params if p.values}, **values})
        assert (config.separable, config.batch_norm) == (values["separable"], values["batch_norm"])


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_the_switches_take_true_or_false_only(value):
    with pytest.raises(LenetError, match=f"separable must be true or false, got {value!r}"):
        make_config({"separable": value})


def sweep_command(spec_path, out, npz, *extra):
    return ["sweep", "--config", str(spec_path), "--count", "2", "--epochs-cap", "1", "--data", str(npz),
            "--unverified", "--val-size", "400", "--out", str(out), "--wandb", "disabled", *extra]


@pytest.mark.parametrize("extra, message", [
    (["--max-flash", "64KB"], "error: --max-flash needs --board BOARD (the board whose costs it limits)"),
    (["--board", "mps2-an386", "--max-flash", "64XB"],
     "error: --max-flash '64XB': not a size (write e.g. 64KB, 16 KiB, 1MB or bytes)"),
    (["--board", "mps2-an386", "--max-latency", "5"], "error: --max-latency '5': give a unit (e.g. 5ms, 500us, "
                                                      "0.01s)"),
    (["--board", "mps2-an386", "--backend", "wandb"],
     "error: --board runs with --backend local only (the device measurement lives in our driver)"),
    (["--target", "mps2-an386", "--backend", "wandb"],  # the earlier name: the message names what was typed
     "error: --target runs with --backend local only (the device measurement lives in our driver)"),
    (["--target", "esp32"], "error: Invalid value for '--target': 'esp32' is not one of 'microbit', 'mps2-an385', "
                            "'mps2-an386', 'mps2-an500', 'mps2-an505', 'mps3-an547', 'netduinoplus2'. (see main sweep "
                            "--help)"),
    (["--target", "microbit", "--board", "microbit"],
     "error: give --board or --target (its other name), not both (see main sweep --help)")])
def test_bad_device_options_are_one_line_exit_2_and_write_nothing(tmp_path, subset_npz, extra, message):
    result = CliRunner().invoke(main, sweep_command(sweep_config("mcu.yaml"), tmp_path / "s", subset_npz, *extra))
    assert result.exit_code == 2
    assert result.stderr.strip() == message
    assert not (tmp_path / "s").exists()


# Two architectures, both tried (grid): [4, 8] filters fit in 40 KB of flash; [16, 32] carry a 1,568 x 32 dense
# layer (50 KB of int8 weights) and do not.
TWO = {"name": "sweep-device-test", "method": "grid", "metric": {"name": "val_accuracy", "goal": "maximize"},
       "parameters": {"filters": {"values": [[4, 8], [16, 32]]}, "kernel_size": {"value": 3},
                      "padding": {"value": "same"}, "dense_units": {"value": [32]}, "activation": {"value": "relu"},
                      "pooling": {"value": "max"}, "epochs": {"value": 1}, "batch_size": {"value": 64}}}


def sweep_two(tmp_path, npz, *device):
    """TWO swept into tmp_path/sweep with the `device` options; (spec path, sweep dir, CLI result)."""
    spec_path = tmp_path / "two.yaml"
    spec_path.write_text(yaml.safe_dump(TWO))
    out = tmp_path / "sweep"
    return spec_path, out, CliRunner().invoke(main, sweep_command(spec_path, out, npz, *device))


@pytest.mark.slow
@needs_mcu_tools
def test_a_trial_over_the_limit_is_recorded_with_its_reason_never_trained_and_never_chosen(tmp_path, subset_npz):
    spec_path, out, done = sweep_two(tmp_path, subset_npz, "--board", "mps2-an386", "--max-flash", "40KB",
                                     "--max-ram", "16KB")
    assert done.exit_code == 0, done.output
    trials = {json.loads(r["param_filters"])[0]: r for r in csv.DictReader((out / "trials.csv").open())}
    small, big = trials[4], trials[16]
    assert big["state"] == "PRUNED" and big["feasible"] == "False"
    assert big["reason"].startswith("infeasible on mps2-an386: engine flash ")
    assert big["reason"].endswith(" B > --max-flash 40,960 B")
    assert int(big["flash_bytes"]) > 40_960 and big["int8_val_accuracy"] == ""
    assert not (out / "trials" / f"{int(big['number']):04d}" / "model.keras").exists()  # never trained
    assert small["state"] == "COMPLETE" and small["feasible"] == "True" and small["reason"] == ""
    assert 0 < float(small["int8_val_accuracy"]) <= 1 and int(small["flash_bytes"]) <= 40_960
    assert float(small["instructions"]) > int(small["macs"]) > 0
    assert "trial states: complete 1, infeasible 1" in done.output
    # Where the time went: the over-limit trial only measured, the other measured, trained and checked.
    assert float(big["precheck_s"]) > 0 and big["fit_s"] == "" and big["int8_check_s"] == ""
    assert all(float(small[f"{phase}_s"]) > 0 for phase in ("precheck", "fit", "int8_check"))
    assert "time per trial (mean): precheck " in done.output and " (2 trials), fit " in done.output

    chosen = CliRunner().invoke(main, ["best", str(out), "--data", str(subset_npz), "--unverified", "--force",
                                       "--wandb", "disabled"])
    assert chosen.exit_code == 0, chosen.output
    assert "Pareto front: int8 validation accuracy vs instructions" in chosen.output
    picked = json.loads((out / "best" / "manifest.json").read_text())["picked"]
    assert picked["trial"] == int(small["number"])
    assert picked["ranked_by"] == "int8 validation accuracy among the trials within the device limits"
    front = list(csv.DictReader((out / "pareto.csv").open()))
    assert [(r["number"], r["chosen"]) for r in front] == [(small["number"], "True")]
    assert (out / "pareto.png").stat().st_size > 10_000

    again = CliRunner().invoke(main, sweep_command(spec_path, out, subset_npz, "--board", "mps2-an386",
                                                   "--max-flash", "64KB"))
    assert again.exit_code == 2
    assert again.stderr.strip() == (
        f"error: --out {out} holds a sweep for mps2-an386 with flash ≤ 40 KB, RAM ≤ 16 KB, not mps2-an386 with "
        "flash ≤ 64 KB: give the same --board and limits to continue it, choose another --out, or pass --restart to "
        "start it over")


@pytest.mark.slow
@needs_mcu_tools
def test_when_no_trial_fits_best_says_so_and_chooses_nothing(tmp_path, subset_npz):
    _, out, done = sweep_two(tmp_path, subset_npz, "--board", "microbit", "--max-ram", "1KB")
    assert done.exit_code == 0, done.output
    assert "trial states: infeasible 2" in done.output
    result = CliRunner().invoke(main, ["best", str(out), "--data", str(subset_npz), "--unverified",
                                       "--wandb", "disabled"])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: no trained trial of the sweep is within its device limits")
    assert not (out / "best").exists()


@pytest.mark.slow
@needs_mcu_tools
def test_a_trials_cost_is_what_lenet_bench_mcu_measures_on_the_same_model(tmp_path, converted_build, subset_arrays):
    from lenet_deploy.data import to_model_input
    from lenet_deploy.firmware_bench.mcu.bench import McuOptions, run_mcu_bench
    from lenet_deploy.firmware_bench.mcu.cost import measure_cost

    model = converted_build / "lenet_int8.tflite"
    images, labels = to_model_input(subset_arrays["x_test"][:10]), subset_arrays["y_test"][:10]
    cost = measure_cost(model, BOARDS["mps2-an386"], images, tmp_path / "cost", (images, labels))
    report = run_mcu_bench(model, images, labels, "subset", tmp_path / "mcu", McuOptions(compare_samples=2),
                           say=lambda _: None)
    main_build = report.main_build
    assert cost.fits and cost.images == cost.bit_exact == 10
    assert cost.flash_bytes == main_build["engine_flash_bytes"]
    assert cost.ram_bytes == main_build["engine_ram_bytes"] + main_build["invoke_stack_bytes"]
    assert cost.instructions == main_build["instructions_per_inference"]
    # Cycles: the trial's trace is of the production build, the report's of the profile build (its callbacks
    # add a few instructions): the same cycles per instruction within 1 %.
    assert cost.latency_ms == pytest.approx(main_build["estimated_latency_ms"], rel=0.01)
    assert cost.energy_uj == pytest.approx(main_build["estimated_energy_uj"], rel=0.01)
    assert cost.int8_accuracy == pytest.approx(report.host_engine["accuracy"])
    assert np.isclose(cost.macs, report.macs)


def fake_cost(model, mnist, board, work, seed, val_size, accuracy):
    """A stand-in for firmware_bench's trial cost (QEMU), for the driver's own logic: 1 byte of flash per
    parameter, a fixed RAM, latency growing with the parameters, instructions with them and with the weights (as
    the engine's do: the weights choose some of its code)."""
    params = model.count_params()
    weights = round(sum(float(abs(w).sum()) for w in model.get_weights()))
    return {"board": board.machine, "macs": params, "fits": True, "reason": "", "flash_bytes": params,
            "ram_bytes": 4000, "instructions": 2.0 * params + weights, "latency_ms": params / 1e4, "energy_uj": 1.0,
            "images": 10, "bit_exact": 10, "int8_accuracy": 0.5 if accuracy else None, "asked_accuracy": accuracy}


def broken_cost(*_, **__):
    raise LenetError("the firmware did not link")


@pytest.mark.parametrize("cost, filters, limit, reason", [
    (fake_cost, [4, 8], 200_000, None),
    (fake_cost, [16, 32], 20_000, "infeasible on mps2-an386: engine flash {flash:,} B > --max-flash 20,000 B"),
    (broken_cost, [4, 8], 200_000, "infeasible on mps2-an386: could not be measured on mps2-an386: the firmware did "
                                   "not link"),
])
def test_an_architecture_over_a_limit_is_pruned_before_training_with_the_reason(cost, filters, limit, reason):
    """The driver's device logic with a stand-in cost, fast and without QEMU: the untrained architecture is
    measured (no int8 accuracy asked), and one over a limit or not measurable never reaches training."""
    import optuna

    from lenet_deploy.train.sweep.device import DeviceLimits
    from lenet_deploy.train.sweep.driver import SweepOptions, _Objective
    from lenet_deploy.train.sweep.progress import TrialProgress

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    options = SweepOptions(device=DeviceLimits(find_board("mps2-an386"), max_flash=limit))
    objective = _Objective(None, "test", None, options, None, study, TrialProgress(1), cost)
    config = make_config({"filters": filters, "kernel_size": 3, "dense_units": [32]})
    if reason is None:
        objective._check_before_training(trial, config, 1)
        recorded = study._storage.get_trial(trial._trial_id).user_attrs["device"]
        assert recorded["asked_accuracy"] is False and recorded["flash_bytes"] <= limit
        return
    with pytest.raises(optuna.TrialPruned) as pruned:
        objective._check_before_training(trial, config, 1)
    attrs = study._storage.get_trial(trial._trial_id).user_attrs
    flash = attrs["device"].get("flash_bytes")
    assert str(pruned.value) == attrs["reason"] == reason.format(flash=flash or 0)
    assert attrs["feasible"] is False


def test_a_trained_trial_is_measured_again_and_ranked_by_its_own_cost(tmp_path):
    """The untrained architecture's cost prunes before training; the trained model's replaces it, since the
    weights choose some of the engine's code (a stand-in cost whose instructions follow the weights)."""
    import keras
    import optuna

    from lenet_deploy.train.model import build_model
    from lenet_deploy.train.sweep.device import DeviceLimits
    from lenet_deploy.train.sweep.driver import SweepOptions, _Objective
    from lenet_deploy.train.sweep.progress import TrialProgress

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    board = find_board("mps2-an386")
    objective = _Objective(None, "test", None, SweepOptions(device=DeviceLimits(board, max_flash=200_000)), None,
                           study, TrialProgress(1), fake_cost)
    config = make_config({"filters": [4, 8], "kernel_size": 3, "dense_units": [32]})
    objective._check_before_training(trial, config, 1)
    untrained = study._storage.get_trial(trial._trial_id).user_attrs["device"]
    trained = build_model(config, 0)
    trained.set_weights([w * 3 + 0.01 for w in trained.get_weights()])  # what training does to them, roughly
    trained.save(tmp_path / "model.keras")
    objective._measure_trained(trial, tmp_path)
    attrs = study._storage.get_trial(trial._trial_id).user_attrs
    expected = fake_cost(keras.models.load_model(tmp_path / "model.keras"), None, board, None, 0, 0, True)
    assert attrs["device"]["instructions"] == expected["instructions"] != untrained["instructions"]
    assert attrs["device"]["asked_accuracy"] is True and attrs["feasible"] is True
