"""Shared CLI plumbing: one clear line and an exit code for bad input, a traceback only with --debug."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from lenet_deploy.boards import BOARDS, QEMU_BOARDS, Board, find_board
from lenet_deploy.errors import Interrupted, LenetError

WANDB_MODES = ("auto", "online", "offline", "disabled")  # every command that trains tracks the same way

debug_option = click.option("--debug", is_flag=True, help="Show the full traceback on errors.")
# --data means the same in every command; a command that trains says so when it gets test images only.
data_option = click.option("--data", type=click.Path(path_type=Path),
                           help="MNIST: an IDX directory (raw or .gz), Keras' mnist.npz, or an export-data .npz "
                                "(test images only: enough to benchmark, not to train) [default: the cache, "
                                "then the download].")
unverified_option = click.option("--unverified", is_flag=True,
                                 help="Accept data that is not byte-identical to canonical MNIST (e.g. a subset).")
wandb_option = click.option("--wandb", "wandb_mode", type=click.Choice(WANDB_MODES), default="auto",
                            show_default=True, help="W&B mode (auto = online only if an API key is configured).")
country_option = click.option("--country", default="USA", show_default=True,
                              help="ISO 3166 alpha-3 country for CodeCarbon's carbon intensity (e.g. USA, DEU, FRA).")
BOARD_FLAG = "lenet_deploy.board_flag"  # click context meta: the flag the user typed the board with


def board_option(help: str, default: str | None = None, real_boards: bool = False
                 ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`--board NAME`, the same in every command, passed to the command as a resolved `Board` (None if not given
    and no default). `--target`, its earlier name in the sweep and the pipeline, is accepted too (hidden); messages
    name the flag the user typed (`board_flag()`). `real_boards`: also the boards QEMU has no model of (for the
    commands that build for a board or talk to one over its serial port)."""
    names = click.Choice(list(BOARDS if real_boards else QEMU_BOARDS))

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def wrapper(*args: Any, board: str | None = None, target: str | None = None, **kwargs: Any) -> Any:
            if board and target:
                raise click.UsageError("give --board or --target (its other name), not both")
            flag = "--target" if target else "--board"
            click.get_current_context().meta[BOARD_FLAG] = flag
            name = board or target or default
            return command(*args, board=find_board(name, flag) if name else None, **kwargs)

        wrapper = click.option("--target", type=names, hidden=True, help="The earlier name of --board.")(wrapper)
        shown_default = f" [default: {default}]" if default else ""
        return click.option("--board", type=names, help=help + shown_default)(wrapper)

    return decorate


def board_flag() -> str:
    """The flag the current command's board was given with (--board, or its alias --target)."""
    context = click.get_current_context(silent=True)
    return context.meta.get(BOARD_FLAG, "--board") if context else "--board"


class OneLineUsage:
    """Click's own usage errors (a bad choice, not a number, a missing argument) as one `error:` line and
    exit 2, like every other bad input; `--help` names the choices."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            return super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as exc:
            where = f" (see {exc.ctx.command_path} --help)" if exc.ctx else ""
            click.echo(f"error: {exc.format_message()}{where}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("interrupted", err=True)
            sys.exit(130)


class Command(OneLineUsage, click.Command):
    pass


class Group(OneLineUsage, click.Group):
    pass


DEBUG_ENV = "LENET_DEBUG"  # set by --debug; inherited by sweep workers, so they stay verbose too


def quiet_tensorflow() -> None:
    """TensorFlow's C++ start-up chatter and its Python warnings (retracing, oneDNN) bury the one line a user
    needs; `--debug` keeps them. Call before TensorFlow is imported (and in every spawned worker)."""
    if os.environ.get(DEBUG_ENV):
        return
    from lenet_deploy.quiet import quiet_tensorflow_import

    quiet_tensorflow_import()  # the start-up lines TF_CPP_MIN_LOG_LEVEL no longer stops
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def console():
    """A rich console that is wide enough for our tables also when writing to a log file."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=160)


def handle_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a click command body: LenetError -> 'error: …' and its exit code; other crashes -> exit 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, debug: bool = False, **kwargs: Any) -> Any:
        if debug:
            os.environ[DEBUG_ENV] = "1"
        quiet_tensorflow()
        try:
            return command(*args, **kwargs)
        except Interrupted as exc:  # the work so far is kept: a rerun continues it
            click.echo(f"interrupted: {exc}", err=True)
            sys.exit(exc.exit_code)
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
