"""The one exception type a stage raises for bad input: the CLI turns it into one line and exit code 2."""


class LenetError(Exception):
    """A user-facing error: the message says what is wrong and where."""

    exit_code = 2


class CheckFailed(LenetError):
    """A measured result missed a limit the user set (e.g. --max-drop): artifacts are kept, exit code 1."""

    exit_code = 1
