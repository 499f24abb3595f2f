"""The one exception type a stage raises for bad input: the CLI turns it into one line and exit code 2."""


class LenetError(Exception):
    """A user-facing error: the message says what is wrong and where."""

    exit_code = 2


class CheckFailed(LenetError):
    """A measured result missed a limit the user set (e.g. --max-drop): artifacts are kept, exit code 1."""

    exit_code = 1


class Interrupted(LenetError):
    """Ctrl-C or SIGTERM: what finished is kept and a rerun continues; exit 130 (SIGINT) or 143 (SIGTERM)."""

    def __init__(self, message: str, signum: int = 2) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum


class StopRequested(BaseException):
    """Raised by a SIGTERM handler in a worker process: not an Exception, so that nothing on the way (Optuna's trial
    runner included, which would record the trial as failed) catches it; context managers still clean up."""
