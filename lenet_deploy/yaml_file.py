"""Reading a user's YAML file with errors that name the file and the line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from lenet_deploy.errors import LenetError


def read_yaml(path: Path, option: str = "--config") -> Any:
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise LenetError(f"{option} {path}: no such file") from None
    except IsADirectoryError:
        raise LenetError(f"{option} {path}: is a directory, not a YAML file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise LenetError(f"{option} {path}: malformed YAML{at} ({getattr(exc, 'problem', exc)})") from None
