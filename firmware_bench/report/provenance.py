"""Where a report's numbers come from: the command, the code and the library versions that made them."""

from __future__ import annotations

from lenet_deploy.manifests import Record


def made_by(record: Record) -> str:
    """'Made by `lenet-bench run …` with lenet-deploy 0.1.0 (commit …); Python 3.11.7; numpy 2.4.6, …'."""
    code = f"commit {record.commit}" if record.commit else "an installed package, not a checkout"
    libraries = ", ".join(f"{k} {v}" for k, v in record.versions.items() if k not in ("python", "lenet-deploy"))
    return (f"Made by `{record.command}` with lenet-deploy {record.versions.get('lenet-deploy')} ({code}); "
            f"Python {record.versions.get('python')}; {libraries}.")
