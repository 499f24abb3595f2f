"""The house rules of ../shared/DESIGN.md, checked on the source: one namespace, layers that point down only."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

# Each layer may import the layers listed after it, never one before it (core <- train <- convert <- bench <- pipeline).
LAYERS = ("pipeline", "firmware_bench", "convert", "train", "core")
FOLDERS = {"pipeline": "pipeline", "firmware_bench": "firmware_bench", "convert": "convert", "train": "train",
           "core": "lenet_deploy"}
# What firmware_bench may take from convert: the C generator's public API, nothing else.
CONVERT_API = "lenet_deploy.convert.codegen"
# The one import upwards: a device-aware sweep (train) costs each trial on the board through this module's
# `trial_cost` (DESIGN.md gives train "the device cost of a trial"; it needs the generator and QEMU).
DEVICE_COST_API = ("train/sweep/driver.py", "lenet_deploy.firmware_bench.mcu.cost")


def _layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "lenet_deploy":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in FOLDERS and parts[1] != "core" else "core"


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def _sources(layer: str) -> list[Path]:
    folder = REPO / FOLDERS[layer]
    return [p for p in folder.glob("*.py")] if layer == "core" else list(folder.rglob("*.py"))


def test_no_module_imports_a_layer_above_its_own():
    wrong = []
    for layer in LAYERS:
        allowed = set(LAYERS[LAYERS.index(layer):])
        for path in _sources(layer):
            for module in _imports(path):
                target = _layer_of(module)
                if (str(path.relative_to(REPO)), module) == DEVICE_COST_API:
                    continue
                if target is not None and target not in allowed:
                    wrong.append(f"{path.relative_to(REPO)} imports {module}")
    assert wrong == []


def test_nothing_imports_the_old_top_level_names():
    old = {"lenet", "train", "convert", "firmware_bench", "pipeline"}
    wrong = [f"{path.relative_to(REPO)} imports {module}"
             for layer in LAYERS for path in _sources(layer) + list((REPO / "tests").glob("*.py"))
             for module in _imports(path) if module.split(".")[0] in old]
    assert wrong == []


def test_firmware_bench_takes_from_convert_only_its_public_c_generator_api():
    wrong = [f"{path.relative_to(REPO)} imports {module}" for path in _sources("firmware_bench")
             for module in _imports(path) if module.startswith("lenet_deploy.convert") and module != CONVERT_API]
    assert wrong == []


def test_core_and_firmware_bench_import_no_heavy_library_at_module_level():
    """A Raspberry Pi runs firmware_bench with numpy and a TFLite runtime only."""
    heavy = {"tensorflow", "keras", "wandb", "codecarbon", "optuna", "sklearn", "matplotlib"}
    wrong = []
    for layer in ("core", "firmware_bench"):
        for path in _sources(layer):
            for node in ast.parse(path.read_text()).body:  # module level only: lazy imports in functions are fine
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
                wrong += [f"{path.relative_to(REPO)} imports {n}" for n in names if n.split(".")[0] in heavy]
    assert wrong == []


def test_every_option_of_every_command_has_help_text():
    import click

    from lenet_deploy.convert.cli import main as convert
    from lenet_deploy.firmware_bench.cli import main as bench
    from lenet_deploy.pipeline.cli import main as pipeline
    from lenet_deploy.train.cli import main as train

    def commands(command, name):
        if isinstance(command, click.Group):
            for sub_name, sub in command.commands.items():
                yield from commands(sub, f"{name} {sub_name}")
        else:
            yield name, command

    undocumented = [f"{name} {option.opts[-1]}"
                    for root, root_name in ((train, "lenet-train"), (convert, "lenet-convert"), (bench, "lenet-bench"),
                                            (pipeline, "lenet-pipeline"))
                    for name, command in commands(root, root_name)
                    for option in command.params if isinstance(option, click.Option) and not option.help]
    assert undocumented == []


def test_pipeline_help_lists_every_step():
    from click.testing import CliRunner

    from lenet_deploy.pipeline.cli import main as pipeline

    shown = CliRunner().invoke(pipeline, ["--help"]).output
    for step in ("original LeNet-5", "sweep", "best trial", "convert", "benchmark", "emulated Cortex-M4", "report"):
        assert step in shown, step
