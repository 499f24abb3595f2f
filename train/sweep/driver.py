"""The local sweep driver: W&B sweep configs run as an Optuna study.

One study lives in SQLite (default, in the sweep directory) or any SQLAlchemy URL, so the
same command on several machines joins one study. Each worker loops: fail trials whose
worker died, stop when `count` trials have finished, else run one trial. A trial that a
dead worker left RUNNING is failed and re-queued with the same parameters (heartbeats for
other machines, a pid check on this one), so a rerun after a crash simply continues.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lenet_deploy.artifacts import process_alive
from lenet_deploy.cli import quiet_tensorflow
from lenet_deploy.data import DEFAULT_VAL_SIZE, load_mnist
from lenet_deploy.energy import EnergyMeter
from lenet_deploy.errors import Interrupted, LenetError, StopRequested
from lenet_deploy.manifests import SWEEP_MANIFEST, SweepManifest, read_record, write_record
from lenet_deploy.train.config import cap_epochs, make_config
from lenet_deploy.train.fitting import FitOptions, fit
from lenet_deploy.train.model import spatial_plan
from lenet_deploy.train.sweep.progress import TrialProgress
from lenet_deploy.train.sweep.pruning import make_in_order_hyperband, retry_from_scratch
from lenet_deploy.train.sweep.results import state_counts, write_results
from lenet_deploy.train.sweep.sampling import make_sampler
from lenet_deploy.train.sweep.device import DeviceLimits, violations
from lenet_deploy.train.sweep.spec import SweepSpec, grid_size, grid_space, max_epochs, optuna_distributions

FINISHED = ("COMPLETE", "PRUNED")
STORAGE_ATTEMPTS = 4  # workers starting together race to create the schema; the loser retries


@dataclass(frozen=True)
class SweepOptions:
    count: int = 20
    workers: int = 1
    storage: str | None = None
    epochs_cap: int | None = None
    seed: int = 0
    val_size: int = DEFAULT_VAL_SIZE
    wandb: str = "auto"
    country: str = "USA"
    heartbeat: int = 20
    data: str | None = None
    verify: bool = True
    trial_threads: int = 1  # TensorFlow threads per trial: fixed, because results depend on it
    device: DeviceLimits | None = None  # measure every trial on that board, within those limits

    def record(self) -> dict[str, Any]:
        """As sweep.json records them (the storage apart: it may hold a password)."""
        options = {k: v for k, v in asdict(self).items() if k not in ("storage", "device")}
        return {**options, "device": self.device.to_dict() if self.device else None}


# A trial's cost on the board: (Keras model, MNIST, board, work directory, seed, validation size, whether to measure
# int8 accuracy) -> the cost record. firmware_bench's `trial_cost`, passed in by the command that starts the sweep.
TrialCost = Callable[..., dict[str, Any]]


class SurplusTrial(Exception):
    """Another worker already holds the last trial slot: this one gives its slot back unrun."""


LOCAL_STUDY = "sqlite:///study.db"  # as sweep.json records it: the study.db beside it, wherever the directory is


def storage_url(out: Path, options: SweepOptions) -> str:
    return options.storage or local_study_url(out)


def local_study_url(sweep_dir: Path) -> str:
    return f"sqlite:///{(Path(sweep_dir) / 'study.db').absolute()}"


def recorded_storage_url(sweep_dir: Path, recorded: str) -> str:
    """The URL a sweep.json records, with the local study resolved against the sweep directory itself."""
    return local_study_url(sweep_dir) if recorded == LOCAL_STUDY else recorded


def redact(url: str) -> str:
    """`url` without its password (also when it does not parse)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return re.sub(r"//[^@/]*@", "//***@", url)


def open_study(spec: SweepSpec, name: str, url: str, heartbeat: int, seed: int = 0, epochs_cap: int | None = None):
    """Create or join the study `name` in `url`, with the sampler and pruner the spec asks for."""
    import optuna
    from optuna.storages import RDBStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    for attempt in range(STORAGE_ATTEMPTS):
        try:
            storage = RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat,
                                 grace_period=3 * heartbeat,
                                 heartbeat_stale_trial_callback=retry_from_scratch())
            break
        except Exception as exc:  # driver missing, server down, bad URL; or two workers creating the tables
            from sqlalchemy.exc import ArgumentError, SQLAlchemyError

            # Retried: what may pass (a server starting, a table race); not a URL that does not parse.
            final = attempt == STORAGE_ATTEMPTS - 1
            if final or not isinstance(exc, SQLAlchemyError) or isinstance(exc, ArgumentError):
                raise LenetError(f"--storage {redact(url)}: cannot open the study storage "
                                 f"({str(exc).splitlines()[0]})") from None
            time.sleep(1 + attempt)
    pruner = (make_in_order_hyperband(spec.hyperband.min_iter, max_epochs(spec, epochs_cap), spec.hyperband.eta,
                                      on_wait=lambda: (stop_if_asked(), fail_dead_trials(study, 3 * heartbeat)))
              if spec.hyperband else optuna.pruners.NopPruner())
    sampler = make_sampler(spec.method, grid_space(spec) if spec.method == "grid" else None, seed)
    study = optuna.create_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner,
                                direction=spec.goal, load_if_exists=True)
    return study  # named: the pruner's on_wait above closes over it


# What decides which trials a sweep draws and how they train, as sweep.json records it, with the flag that sets it.
# The trial count is not among them (asking for more continues the search), nor are the workers (same results).
SEARCH_FLAGS = {"seed": "--seed", "epochs_cap": "--epochs-cap", "val_size": "--val-size",
                "trial_threads": "--trial-threads", "data_sha256": "--data"}


def sweep_mismatch(spec: SweepSpec, name: str, out: Path, options: SweepOptions, data_sha256: str,
                   config_flag: str = "--config") -> str | None:
    """None if `out` holds no sweep or this very search; else what differs and how to continue the old one,
    e.g. "with --seed 0, not --seed 1: rerun with --seed 0 to continue it"."""
    manifest_path = Path(out) / SWEEP_MANIFEST
    if not manifest_path.exists():
        return None
    earlier = read_record(manifest_path, SweepManifest)
    if earlier.spec != spec.raw or earlier.study != name:
        return (f"from another {config_flag} ({earlier.study}): rerun with that config to continue it")
    device = options.device.to_dict() if options.device else None
    if earlier.options.get("device") != device:
        was = _target_text(earlier.options.get("device"))
        return f"for {was}, not {_target_text(device)}: give the same --board and limits to continue it"
    now = {**options.record(), "data_sha256": data_sha256}
    for key, flag in SEARCH_FLAGS.items():
        if key in earlier.options and earlier.options[key] != now[key]:  # older sweeps recorded fewer keys
            was, asked = earlier.options[key], now[key]
            if key == "data_sha256":
                return f"of other data (sha256 {was[:12]}…, not {asked[:12]}…): give the same --data to continue it"
            return f"with {flag} {was}, not {flag} {asked}: rerun with {flag} {was} to continue it"
    return None


def prepare_sweep_dir(spec: SweepSpec, name: str, out: Path, options: SweepOptions, data_sha256: str,
                      restart: bool = False) -> None:
    """Create the sweep directory, or check that an existing one holds this same search (then: resume).

    `restart`: an existing sweep in `out` (its study included) is deleted first and the search starts over."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise LenetError(f"--out {out} is a file, not a directory")
    manifest_path = out / SWEEP_MANIFEST
    if manifest_path.exists() and restart:
        _delete_sweep(out, name, options)
    elif manifest_path.exists():
        mismatch = sweep_mismatch(spec, name, out, options, data_sha256)
        if mismatch:
            raise LenetError(f"--out {out} holds a sweep {mismatch}, choose another --out, or pass --restart to "
                             "start it over")
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LenetError(f"--out {out} is not writable ({exc.strerror})") from None
    write_record(manifest_path, SweepManifest.new(
        study=name, spec=spec.raw, storage=redact(options.storage) if options.storage else LOCAL_STUDY,
        options={**options.record(), "data_sha256": data_sha256}))


def _delete_sweep(out: Path, name: str, options: SweepOptions) -> None:
    """--restart: the old study (in its storage) and the sweep directory's files go."""
    import shutil

    import optuna

    earlier = read_record(out / SWEEP_MANIFEST, SweepManifest)
    url = options.storage or recorded_storage_url(out, earlier.storage)
    if not url.startswith("sqlite:"):  # a server's study: delete it there (the local study.db goes with `out`)
        with contextlib.suppress(KeyError):
            optuna.delete_study(study_name=earlier.study, storage=url)
    shutil.rmtree(out)


def _target_text(device: dict | None) -> str:
    return DeviceLimits.from_dict(device).describe() if device else "no --board"


def run_sweep(spec: SweepSpec, name: str, out: Path, options: SweepOptions, say=lambda line: None,
              trial_cost: TrialCost | None = None, restart: bool = False) -> dict[str, Any]:
    """Run workers until `count` trials have finished, then write the results (trials table, plots).

    `trial_cost` measures a trial on `options.device`'s board (needed then); it is a module-level function, so
    the spawned workers receive it by reference. `restart`: an existing sweep in `out` is deleted and the search
    starts over (otherwise a different search there is refused). Returns {'finished', 'this_run', 'seconds',
    'trials_per_hour', 'rows'} (rows: one per trial).
    """
    if options.device is not None and trial_cost is None:
        raise LenetError("a device-aware sweep needs the trial cost function of the command that starts it")
    if options.count < 1:
        raise LenetError(f"--count must be >= 1, got {options.count}")
    if options.workers < 1:
        raise LenetError(f"--workers must be >= 1, got {options.workers}")
    if options.epochs_cap is not None and options.epochs_cap < 1:
        raise LenetError(f"--epochs-cap must be >= 1, got {options.epochs_cap}")
    if spec.method == "grid" and options.count > grid_size(spec):
        raise LenetError(f"--count {options.count} exceeds the grid's {grid_size(spec)} configurations")
    if options.trial_threads < 1:
        raise LenetError(f"--trial-threads must be >= 1, got {options.trial_threads}")
    if options.heartbeat < 1:
        raise LenetError(f"--heartbeat must be >= 1 second, got {options.heartbeat}")
    mnist = load_mnist(Path(options.data) if options.data else None, verify=options.verify)  # fail fast
    say(mnist.summary())
    if options.storage:  # a server's URL is checked (and the study joined) before the directory is claimed
        open_study(spec, name, options.storage, options.heartbeat)
    prepare_sweep_dir(spec, name, out, options, mnist.checksum, restart)
    study = open_study(spec, name, storage_url(out, options), options.heartbeat, options.seed, options.epochs_cap)
    before = _finished(study)
    started = time.perf_counter()
    interrupted = None
    try:
        _run_worker_processes(spec, name, str(out), options, trial_cost)
    except Interrupted as exc:  # the interrupted trials go back to the queue with their parameters
        fail_dead_local_trials(study, reason="interrupted; re-queued")
        interrupted = exc
    finally:  # a worker that failed (or an interrupt) still leaves the trials table of what did finish
        rows = write_results(study, spec, Path(out), options.device.to_dict() if options.device else None)
    if interrupted is not None:
        raise Interrupted(f"{interrupted}: {state_counts(rows)}; rerun the same command to continue",
                          interrupted.exit_code - 128)
    seconds = time.perf_counter() - started
    done = _finished(study) - before
    return {"finished": _finished(study), "this_run": done, "seconds": seconds,
            "trials_per_hour": done / seconds * 3600 if seconds else 0.0, "rows": rows}


def _run_worker_processes(spec: SweepSpec, name: str, out: str, options: SweepOptions,
                          trial_cost: TrialCost | None) -> None:
    """N spawned workers (TensorFlow is not fork-safe), even for one.

    A trial's numbers depend on TensorFlow's thread count (Eigen splits sums by thread), so every trial
    trains with `trial_threads` threads whatever the worker count or the machine: that, not the cores a
    process happens to get, makes the same --seed train each trial to the same weights.
    """
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=run_worker, args=(spec, name, out, options, i, os.getpid(), trial_cost),
                               daemon=False)
               for i in range(options.workers)]
    with _interrupts_stop(workers):
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    failed = [i for i, w in enumerate(workers) if w.exitcode != 0]
    if failed:
        raise LenetError(f"sweep worker(s) {failed} exited with an error; rerun the same command to continue")


@contextlib.contextmanager
def _interrupts_stop(workers: list) -> Iterator[None]:
    """Ctrl-C or SIGTERM to the sweep command: each worker is asked to stop (SIGTERM), leaves its trial RUNNING
    and exits quietly; then Interrupted. The workers run in their own process group, so a terminal's Ctrl-C
    reaches only this process, which speaks for them."""
    def on_sigterm(signum, frame) -> None:
        raise Interrupted("stopped by SIGTERM", signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    except (KeyboardInterrupt, Interrupted) as exc:
        signum = signal.SIGINT if isinstance(exc, KeyboardInterrupt) else signal.SIGTERM
        _stop(workers)
        raise Interrupted("stopped by Ctrl-C" if signum == signal.SIGINT else "stopped by SIGTERM", signum) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stop(workers: list, grace: float = 60.0) -> None:
    """SIGTERM to every live worker, then wait; one that does not stop within `grace` seconds is killed."""
    for worker in workers:
        if worker.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for worker in workers:
        while worker.is_alive() and time.monotonic() < deadline:
            with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C does not leave workers behind
                worker.join(timeout=0.5)
        if worker.is_alive():
            worker.kill()
            worker.join()


_STOP = threading.Event()  # set by SIGTERM in a worker; honoured at the next safe point (stop_if_asked)


def run_worker(spec: SweepSpec, name: str, out: str, options: SweepOptions, index: int, parent: int,
               trial_cost: TrialCost | None = None) -> None:
    """One worker process: run trials of the shared study until `count` of them have finished."""
    os.setpgrp()  # a terminal's Ctrl-C goes to the sweep command only, which stops its workers with SIGTERM
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: _STOP.set())
    try:
        _work(spec, name, out, options, index, parent, trial_cost)
    except StopRequested:  # its trial stays RUNNING with this dead pid: the command re-queues it
        sys.exit(128 + signal.SIGTERM)


def stop_if_asked() -> None:
    """Raise StopRequested where stopping is safe (between batches, epochs and trials, while waiting): raised by
    the signal handler itself, it could land inside a database call and leave its cursor half-read."""
    if _STOP.is_set():
        raise StopRequested()


def _work(spec: SweepSpec, name: str, out: str, options: SweepOptions, index: int, parent: int,
          trial_cost: TrialCost | None) -> None:
    import optuna

    _die_with(parent)
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(options.trial_threads)  # before TensorFlow starts in this process
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    quiet_tensorflow()  # a spawned worker starts a fresh interpreter
    mnist = load_mnist(Path(options.data) if options.data else None, verify=options.verify)
    study = open_study(spec, name, storage_url(Path(out), options), options.heartbeat, options.seed,
                       options.epochs_cap)
    progress = TrialProgress(options.count, prefix=f"[w{index}] " if options.workers > 1 else "")
    while True:
        stop_if_asked()
        fail_dead_trials(study, 3 * options.heartbeat)
        trials = study.get_trials(deepcopy=False)
        finished = sum(t.state.name in FINISHED for t in trials)
        if finished >= options.count:
            return
        if finished + sum(t.state.name == "RUNNING" for t in trials) >= options.count:
            time.sleep(min(5, options.heartbeat))  # the last slots are taken; wait in case their worker dies
            continue
        objective = _Objective(spec, name, Path(out), options, mnist, study, progress, trial_cost)
        try:
            study.optimize(objective, n_trials=1, catch=(SurplusTrial,), gc_after_trial=True)
        except (optuna.exceptions.UpdateFinishedTrialError, ValueError) as exc:
            # Another worker failed this trial (it looked dead) and re-queued it: Optuna then refuses our
            # writes ("Cannot tell a FAIL trial"). The retry will run it; this worker carries on.
            if isinstance(exc, ValueError) and not str(exc).startswith("Cannot tell a"):
                raise


def _die_with(parent: int) -> None:
    """Stop this worker when the sweep command that started it dies, even by SIGKILL (which it cannot pass
    on): its trial is then failed and retried by the next run instead of training on unseen."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def fail_dead_trials(study, grace: float) -> None:
    """Fail (and re-queue) running trials whose worker died: by pid on this host, by heartbeat elsewhere, and those
    no worker claimed within `grace` seconds of their start (`fail_unclaimed_trials`)."""
    import optuna

    fail_dead_local_trials(study)
    fail_unclaimed_trials(study, grace)
    optuna.storages.fail_stale_trials(study)


def fail_unclaimed_trials(study, grace: float) -> None:
    """Fail (and re-queue) RUNNING trials that no worker claimed (`_Objective` does it first thing) within `grace`
    seconds of their start. A worker killed between creating its trial and claiming it left no pid, and no
    heartbeat either, which Optuna needs to call a trial stale: the sweep then waited for it forever (seen in the
    pipeline's kill test, with both --count slots taken)."""
    import datetime

    from optuna.trial import TrialState

    now = datetime.datetime.now()  # Optuna's datetime_start is naive local time
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        started = trial.datetime_start
        if trial.user_attrs.get("owner") == trial.number or started is None:
            continue
        if (now - started).total_seconds() > grace:
            _fail_and_retry(study, trial, "never claimed by a worker (killed while starting it); re-queued")


def fail_dead_local_trials(study, reason: str = "worker died mid-trial; re-queued") -> None:
    """Fail (and re-queue) RUNNING trials whose worker process on this host no longer exists."""
    from optuna.trial import TrialState

    host = socket.gethostname()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        # A retried trial starts with a copy of the dead trial's attributes: until its new worker has
        # claimed it (owner = its own number), its host and pid are not its own and prove nothing.
        if trial.user_attrs.get("owner") != trial.number:
            continue
        if trial.user_attrs.get("host") != host or process_alive(trial.user_attrs.get("pid")):
            continue
        _fail_and_retry(study, trial, reason)


def _fail_and_retry(study, trial, reason: str) -> None:
    """FAIL a RUNNING trial with its reason and queue its retry (same parameters), unless another worker did."""
    import optuna
    from optuna.trial import TrialState

    try:
        study._storage.set_trial_user_attr(trial._trial_id, "reason", reason)
        study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:  # another worker failed it first
        return
    retry_from_scratch()(study, study._storage.get_trial(trial._trial_id))


def _finished(study) -> int:
    return sum(t.state.name in FINISHED for t in study.get_trials(deepcopy=False))


class _Objective:
    """Sample a config, prune infeasible ones with the reason, fit with per-epoch pruning."""

    def __init__(self, spec, name, out, options, mnist, study, progress, trial_cost=None) -> None:
        self.spec, self.name, self.out, self.options = spec, name, out, options
        self.mnist, self.study, self.progress = mnist, study, progress
        self.device, self.trial_cost = options.device, trial_cost

    def __call__(self, trial) -> float:
        import optuna

        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        trial.set_user_attr("owner", trial.number)  # last: host and pid above are now this trial's own
        position = self._claim_slot(trial)
        values = cap_epochs({**self.spec.fixed, **self._suggest(trial)}, self.options.epochs_cap)
        try:
            config = make_config(values, f"trial {trial.number}")
            spatial_plan(config)
        except LenetError as exc:
            trial.set_user_attr("reason", str(exc))
            self.progress.skipped(trial.number, position, str(exc))
            raise optuna.TrialPruned(str(exc)) from None
        trial.set_user_attr("config", config.to_dict())
        if self.device:
            with self._timed(trial, "precheck"):
                self._check_before_training(trial, config, position)
        shown = dict(trial.params)
        if shown.get("epochs", config.epochs) != config.epochs:
            shown["epochs"] = f"{shown['epochs']}→{config.epochs} (capped)"
        last_logs: dict[str, float] = {}

        def after_epoch(epoch: int, logs: dict) -> None:
            last_logs.update(logs, epoch=epoch)
            value = float(logs[self.spec.metric])
            trial.report(value, epoch)
            self.progress.epoch(trial.number, position, shown, epoch, config.epochs, self.spec.metric, value)
            # Asked at the last epoch too (the trial's value then counts at that rung for later trials), but a
            # trial that has trained all its epochs is a result, not a trial to stop.
            if trial.should_prune() and epoch < config.epochs:
                raise optuna.TrialPruned(f"hyperband stopped it after epoch {epoch}")

        run_dir = self.out / "trials" / f"{trial.number:04d}"
        started = time.perf_counter()
        meter = EnergyMeter(self.options.country, self.name)  # fit meters too, but a pruned fit returns nothing
        try:
            with meter, self._timed(trial, "fit"):
                fit(config, self.mnist, run_dir, f"{self.name}-t{trial.number:04d}",
                    FitOptions(seed=self.options.seed, val_size=self.options.val_size, wandb=self.options.wandb,
                               wandb_group=self.name, country=self.options.country, verbose=0,
                               evaluate_test=False),
                    force=True, epoch_hook=after_epoch, batch_hook=stop_if_asked)
            trial.set_user_attr("run_dir", str(run_dir.absolute()))
            if self.device:
                with self._timed(trial, "int8_check"):
                    self._measure_trained(trial, run_dir)
        except StopRequested:  # the sweep was interrupted: this trial is re-queued, not ended
            raise
        except BaseException as exc:  # pruned, or failed: it ended here
            if isinstance(exc, optuna.TrialPruned):
                trial.set_user_attr("reason", str(exc))
            self._ended(trial, started, last_logs, meter)
            raise
        self._ended(trial, started, last_logs, meter)
        return float(last_logs[self.spec.metric])

    def _ended(self, trial, started: float, last_logs: dict, meter) -> None:
        trial.set_user_attr("duration_s", time.perf_counter() - started)
        trial.set_user_attr("last_epoch", {k: float(v) for k, v in last_logs.items()})
        if meter.result:
            trial.set_user_attr("energy", meter.result)
        self.progress.finished(trial.number, self._done() + 1, time.perf_counter() - started)

    @contextlib.contextmanager
    def _timed(self, trial, phase: str):
        """Where a trial's time goes (trials.csv: precheck_s, fit_s, int8_check_s), also when the phase raises."""
        started = time.perf_counter()
        try:
            yield
        finally:
            trial.set_user_attr(f"{phase}_s", time.perf_counter() - started)

    def _device_cost(self, model, work: Path, accuracy: bool) -> tuple[dict, list[str]]:
        """The trial's measured cost on the board and why it is infeasible (a failed measurement is a reason)."""
        try:
            cost = self.trial_cost(model, self.mnist, self.device.board, work, self.options.seed, self.options.val_size,
                                   accuracy)
        except LenetError as exc:
            return {"fits": False, "reason": str(exc)}, [f"could not be measured on {self.device.board.machine}: {exc}"]
        return cost, violations(cost, self.device)

    def _check_before_training(self, trial, config, position: int) -> None:
        """The untrained architecture measured: one over a limit is never trained. Its cost is an estimate of the
        trained model's (the same layers and sizes), not the cost itself: see `_measure_trained`."""
        import tempfile

        import optuna

        from lenet_deploy.train.model import build_model

        with tempfile.TemporaryDirectory(prefix="lenet-precheck-") as work:
            cost, reasons = self._device_cost(build_model(config, self.options.seed), Path(work), accuracy=False)
        trial.set_user_attr("device", cost)
        if reasons:
            reason = f"infeasible on {self.device.board.machine}: {'; '.join(reasons)}"
            trial.set_user_attr("feasible", False)
            trial.set_user_attr("reason", reason)
            self.progress.skipped(trial.number, position, reason)
            raise optuna.TrialPruned(reason)

    def _measure_trained(self, trial, run_dir: Path) -> None:
        """The trained model's own cost and int8 validation accuracy; over a limit, it is kept but never chosen.

        Measured again in full, not taken from the untrained architecture: the weights choose some of the engine's
        code (the one-add rounding where the sums stay under 2^30) and the paths the data takes. The micro:bit
        sweep's choice measured 1,138,606 instructions untrained and 1,421,224 trained (+25 %)."""
        import keras

        cost, reasons = self._device_cost(keras.models.load_model(run_dir / "model.keras"), run_dir / "device",
                                          accuracy=True)
        trial.set_user_attr("device", cost)
        trial.set_user_attr("feasible", not reasons)
        if reasons:
            trial.set_user_attr("reason", f"infeasible on {self.device.board.machine}: {'; '.join(reasons)}")
        self.progress.measured(trial.number, self.device.board.machine, cost, reasons)

    def _claim_slot(self, trial) -> int:
        """Two workers can ask for the last slot at once: the lower trial number keeps it.

        Returns the trial's place in the count (finished + running before it + 1), fixed for its whole run.
        """
        trials = self.study.get_trials(deepcopy=False)
        finished = sum(t.state.name in FINISHED for t in trials)
        ahead = sum(t.state.name == "RUNNING" and t.number < trial.number for t in trials)
        if finished + ahead >= self.options.count:
            trial.set_user_attr("reason", "surplus: the count was reached by other workers; not run")
            raise SurplusTrial()
        return finished + ahead + 1

    def _suggest(self, trial) -> dict[str, Any]:
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        values = {}
        distributions = optuna_distributions(self.spec)
        for param in self.spec.params:
            dist = distributions[param.name]
            if isinstance(dist, CategoricalDistribution):
                raw = trial.suggest_categorical(param.name, list(dist.choices))
            elif isinstance(dist, IntDistribution):
                raw = trial.suggest_int(param.name, dist.low, dist.high)
            elif isinstance(dist, FloatDistribution):
                raw = trial.suggest_float(param.name, dist.low, dist.high, step=dist.step, log=dist.log)
            values[param.name] = param.decode(raw)
        return values

    def _done(self) -> int:
        return _finished(self.study)
