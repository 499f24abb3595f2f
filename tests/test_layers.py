"""The house rules of ../shared/DESIGN.md, checked on the source: one namespace, layers that point down only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

# Each layer may import the layers listed after it, never one before it (core <- train <- convert <- bench <- pipeline).
LAYERS = ("pipeline", "firmware_bench", "convert", "train", "core")
FOLDERS = {"pipeline": "pipeline", "firmware_bench": "firmware_bench", "convert": "convert", "train": "train",
           "core": "lenet_deploy"}
STAGES = ("train", "convert", "firmware_bench")  # the ones with a public face other layers import from


def _layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "lenet_deploy":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in FOLDERS and parts[1] != "core" else "core"


def _imports(path: Path) -> list[str]:
    return [module for module, _ in _imported_names(path)]


def _imported_names(path: Path) -> list[tuple[str, str | None]]:
    """(module, name) per import: `from m import a, b` gives (m, a), (m, b); `import m` gives (m, None)."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(node.module, alias.name) for alias in node.names]
    return found


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
                if target is not None and target not in allowed:
                    wrong.append(f"{path.relative_to(REPO)} imports {module}")
    assert wrong == []


def test_other_layers_import_a_stage_only_through_its_public_face():
    """`from lenet_deploy.train import fit`, never `lenet_deploy.train.fitting`: a stage's insides can move."""
    import importlib

    faces = {stage: set(importlib.import_module(f"lenet_deploy.{stage}").__all__) for stage in STAGES}
    wrong = []
    for layer in LAYERS:
        for path in _sources(layer):
            for module, name in _imported_names(path):
                stage = _layer_of(module)
                if stage not in STAGES or stage == layer:
                    continue
                if module != f"lenet_deploy.{stage}" or name not in faces[stage]:
                    wrong.append(f"{path.relative_to(REPO)} imports {name or '*'} from {module}")
    assert wrong == []


@pytest.mark.parametrize("stage", STAGES)
def test_every_public_name_resolves_and_none_is_a_submodules_name(stage):
    """A public name that is also a submodule's would be rebound to the module once the submodule is imported."""
    import importlib

    package = importlib.import_module(f"lenet_deploy.{stage}")
    assert package.__all__
    folder = REPO / FOLDERS[stage]
    shadowed = [name for name in package.__all__ if (folder / f"{name}.py").exists() or (folder / name).is_dir()]
    assert shadowed == []
    for name in package.__all__:
        assert getattr(getattr(package, name), "__name__", name) == name  # resolves (PRESETS is a dict)
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        package.nope


def test_a_device_sweep_gets_firmware_bench_s_trial_cost_through_the_entry_point():
    from lenet_deploy.device_cost import device_cost_function
    from lenet_deploy.firmware_bench import trial_cost

    assert device_cost_function() is trial_cost


def test_nothing_imports_the_old_top_level_names():
    old = {"lenet", "train", "convert", "firmware_bench", "pipeline"}
    wrong = [f"{path.relative_to(REPO)} imports {module}"
             for layer in LAYERS for path in _sources(layer) + list((REPO / "tests").glob("*.py"))
             for module in _imports(path) if module.split(".")[0] in old]
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
