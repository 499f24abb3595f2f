"""Every command the README and the guides show works as shown, from an empty directory outside the checkout.

Each `lenet-…` line of a fenced block is run in its `--help` form: click parses every option and argument first,
so an option that no longer exists, or a subcommand that moved, fails here. The sweep configs the commands name
(`--config seed`) are resolved for real, from the empty directory the autouse fixture moves into.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted(REPO.glob("*/README.md")),
        *sorted(REPO.glob("*/*/README.md"))]
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _commands(path: Path) -> list[str]:
    commands = []
    for block in _FENCE.findall(path.read_text()):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" # ")[0].strip()
            if line.startswith("lenet-"):
                commands.append(line)
    return commands


SHOWN = [(path.relative_to(REPO).as_posix(), command) for path in DOCS for command in _commands(path)]


def _main(program: str):
    from lenet_deploy.convert.cli import main as convert
    from lenet_deploy.firmware_bench.cli import main as bench
    from lenet_deploy.pipeline.cli import main as pipeline
    from lenet_deploy.train.cli import main as train

    return {"lenet-train": train, "lenet-convert": convert, "lenet-bench": bench, "lenet-pipeline": pipeline}[program]


def test_the_readme_shows_every_command():
    shown = {command.split()[0] + " " + command.split()[1] for _, command in SHOWN
             if command.split()[0] != "lenet-pipeline" and len(command.split()) > 1}
    assert {"lenet-train fit", "lenet-train sweep", "lenet-train best", "lenet-bench run", "lenet-bench mcu",
            "lenet-bench export-data", "lenet-bench compare", "lenet-convert inspect"} <= shown
    assert len(SHOWN) >= 30


@pytest.mark.parametrize("doc, command", SHOWN, ids=[f"{doc}: {command[:60]}" for doc, command in SHOWN])
def test_a_shown_command_parses_from_an_empty_directory(doc, command, tmp_path):
    assert Path.cwd() == tmp_path and not any(tmp_path.iterdir())  # outside the checkout, nothing to lean on
    words = shlex.split(command.replace("$(ls lenet_deploy-*.whl)", "x"))
    result = CliRunner().invoke(_main(words[0]), [*words[1:], "--help"])
    assert result.exit_code == 0, f"{doc}: {command}\n{result.output}{result.stderr}"
    assert result.output.startswith("Usage: ")


@pytest.mark.parametrize("program, args, option", [
    ("lenet-train", ["sweep", "--config", "seed"], "--config"),
    ("lenet-train", ["sweep", "--config", "sweeps/mcu.yaml"], "--config"),
    ("lenet-pipeline", ["--sweep-config", "lenet-plus"], "--sweep-config")])
def test_installed_sweep_configs_are_found_from_anywhere(program, args, option, tmp_path):
    """The config loads (the first check after it, --count 0, is what fails), and nothing is written."""
    result = CliRunner().invoke(_main(program), [*args, "--count", "0"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --count must be >= 1, got 0"
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("program, args, option", [("lenet-train", ["sweep", "--config"], "--config"),
                                                    ("lenet-pipeline", ["--sweep-config"], "--sweep-config")])
def test_an_unknown_config_names_the_installed_ones(program, args, option, tmp_path):
    result = CliRunner().invoke(_main(program), [*args, "seeds"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"error: {option} seeds: no such file, nor an installed sweep config "
                                     "(installed: lenet-plus, mcu, mcu-refine, seed)")
    assert not any(tmp_path.iterdir())
