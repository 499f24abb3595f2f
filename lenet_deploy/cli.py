"""Shared CLI plumbing: one clear line and an exit code for bad input, a traceback only with --debug."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from lenet_deploy.errors import LenetError

debug_option = click.option("--debug", is_flag=True, help="Show the full traceback on errors.")


def quiet_tensorflow() -> None:
    """TensorFlow's C++ start-up chatter buries the one line a user needs."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def console():
    """A rich console that is wide enough for our tables also when writing to a log file."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=160)


def handle_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a click command body: LenetError -> 'error: …' and its exit code; other crashes -> exit 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, debug: bool = False, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except LenetError as exc:
            if debug:
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except OSError as exc:  # a full disk, a read-only or missing directory: the file and the reason
            if debug:
                raise
            where = f"{exc.filename}: " if exc.filename else ""
            click.echo(f"error: {where}{exc.strerror or exc}", err=True)
            sys.exit(2)
        except Exception as exc:
            if debug:
                raise
            first = (str(exc) or "").splitlines()[0] if str(exc) else ""
            click.echo(f"error: {type(exc).__name__}: {first} (rerun with --debug for the traceback)", err=True)
            sys.exit(1)

    return debug_option(wrapper)
