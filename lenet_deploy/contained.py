"""Native code on an untrusted model (LiteRT, TFLite Micro, generated C) runs in a forked child process.

A segfault in there would otherwise end the whole command with exit 139 and no message (the
runtimes' stderr is often captured at that moment). In a child, the crash becomes one LenetError
that names the step and the signal; results and Python exceptions come back through a pipe.
"""

from __future__ import annotations

import os
import pickle
import signal
from collections.abc import Callable
from typing import Any, TypeVar

from lenet_deploy.errors import LenetError

T = TypeVar("T")


def contained(what: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`function(*args, **kwargs)` in a forked child; `what` names the step in a crash's error line."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: run, send the result or the exception, leave without cleanup handlers
        os.close(read_end)
        try:
            outcome: tuple[str, Any] = ("result", function(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
            outcome = ("error", exc)
        try:
            payload = pickle.dumps(outcome)
        except Exception as exc:  # an exception that does not pickle: send its text
            payload = pickle.dumps(("error", LenetError(f"{what}: {type(exc).__name__}: {exc}")))
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(payload)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        payload = pipe.read()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        raise LenetError(f"{what} crashed ({signal.Signals(os.WTERMSIG(status)).name})")
    if not payload:
        raise LenetError(f"{what} ended without a result (exit status {os.waitstatus_to_exitcode(status)})")
    kind, value = pickle.loads(payload)
    if kind == "error":
        raise value
    return value
