"""`lenet-convert MODEL --quantize int8` and `lenet-convert inspect FILE.tflite`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lenet_deploy.cli import Group, console, data_option, handle_errors, unverified_option
from lenet_deploy.convert.converter import IO_TYPES, MODES
from lenet_deploy.errors import LenetError


class _DefaultToConvert(Group):
    """`lenet-convert MODEL ...` means `lenet-convert model MODEL ...`: the command users know."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["model", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultToConvert)
def main() -> None:
    """Convert a Keras LeNet to TFLite (float32/float16/dynamic/int8) and C source for firmware."""


@main.command("model")
@click.argument("model_path", type=click.Path(path_type=Path))
@click.option("--quantize", type=click.Choice(list(MODES)), default="int8", show_default=True,
              help="Weights and activations of the converted model.")
@click.option("--io", "io_type", type=click.Choice(IO_TYPES), default="int8", show_default=True,
              help="int8 model input/output type (int8 inside either way).")
@click.option("--representative", default=500, show_default=True,
              help="Calibration images for int8, drawn stratified from the training split.")
@click.option("--name", default="lenet", show_default=True, help="Artifact stem and C symbol prefix.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("build"), show_default=True,
              help="Directory for the .tflite files, C source and manifest.json (replaced in one rename).")
@click.option("--max-drop", type=float, help="Fail (exit 1, artifacts kept) if accuracy drops more (pp).")
@click.option("--tflm-samples", default=1000, show_default=True,
              help="Validation images run through TFLite Micro's reference kernels.")
@click.option("--val-size", type=int, help="Validation images for the checks [default: the run's own split, "
                                         "from its manifest, else 6000].")
@click.option("--seed", type=int, help="Split seed [default: the run's, else 0].")
@data_option
@unverified_option
@click.option("--engine", type=click.Choice(["c"]),
              help="Also generate the int8 C engine (no interpreter): <stem>_engine.{c,h}. MODEL may then be "
                   "an int8 .tflite, which is only turned into C.")
@handle_errors
def model_command(model_path: Path, quantize: str, io_type: str, representative: int, name: str, out: Path,
                  max_drop: float | None, tflm_samples: int, val_size: int | None, seed: int | None,
                  data: Path | None, unverified: bool, engine: str | None) -> None:
    """Convert MODEL_PATH (a .keras file) and check each result against Keras on the validation split."""
    if model_path.suffix == ".tflite":
        if engine is None:
            raise LenetError(f"{model_path} is already a .tflite model: add --engine c to generate C from it")
        _write_engine(model_path, out, name)
        return
    if engine is not None and (quantize != "int8" or io_type != "int8"):  # before anything is converted or written
        given = f"--quantize {quantize}" if quantize != "int8" else f"--io {io_type}"
        raise LenetError(f"--engine c runs full-integer int8 models with int8 input and output: drop {given}")
    from lenet_deploy.convert.run import ConvertOptions, convert_model

    entries = convert_model(model_path, ConvertOptions(quantize, io_type, representative, name, out, max_drop, data,
                                                       not unverified, tflm_samples, val_size, seed))
    _print_entries(entries, out)
    if engine is not None:
        _write_engine(out / f"{name}_int8.tflite", out, name)


def _write_engine(tflite: Path, out: Path, name: str) -> None:
    from lenet_deploy.convert.engine.emit import write_engine

    paths, engine = write_engine(tflite, out, name)
    click.echo(f"C engine: {paths[1]} + {paths[0]}: {name}_invoke(), ops {', '.join(engine.ops)}; "
               f"arena {engine.arena_bytes:,} B (static), constants {engine.weight_bytes:,} B, "
               f"{engine.macs:,} MACs per inference")
    _print_layers(engine)


def _print_layers(engine) -> None:
    """Per layer, before anything runs: what STM32Cube.AI's `analyze` shows (instructions: `lenet-bench mcu`)."""
    from rich.table import Table

    table = Table(title="per layer (instructions per layer: lenet-bench mcu)")
    for column in ("op", "layer", "output", "MACs", "MAC share", "constants B", "activation B", "arena offset"):
        table.add_column(column, justify="left" if column in ("layer", "output") else "right")
    for layer in engine.layers:
        table.add_row(str(layer.op), layer.name, "x".join(map(str, layer.output_shape)), f"{layer.macs:,}",
                      f"{layer.macs / engine.macs:.1%}" if engine.macs else "-", f"{layer.constant_bytes:,}",
                      f"{layer.activation_bytes:,}",
                      "caller's buffer" if layer.arena_offset is None else f"{layer.arena_offset:,}")
    console().print(table)


@main.command("inspect")
@click.argument("tflite_path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@handle_errors
def inspect_command(tflite_path: Path, as_json: bool) -> None:
    """Ops, tensors, quantization, size, TFLite Micro arena and a fits-on table for boards."""
    from lenet_deploy.convert.inspect_model import inspect_tflite, print_inspection

    report = inspect_tflite(tflite_path)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        print_inspection(report)


def _print_entries(entries: dict, out: Path) -> None:
    from rich.table import Table

    table = Table(title=f"converted → {out} (checked on the validation split)")
    for column in ("artifact", "bytes", "runtime", "Keras acc", "TFLite acc", "drop pp", "top-1 agree",
                   "max |Δ|", "TFLM acc", "TFLM arena"):
        table.add_column(column, justify="right")
    for stem, entry in entries.items():
        check, tflm = entry["check"], entry.get("tflm")
        table.add_row(f"{stem}.tflite", f"{entry['bytes']:,}", check["runtime"], f"{check['keras_accuracy']:.4f}",
                      f"{check['tflite_accuracy']:.4f}", f"{check['drop_pp']:+.2f}", f"{check['top1_agreement']:.4f}",
                      f"{check['max_abs_diff']:.4f}", f"{tflm['accuracy']:.4f} (n={tflm['samples']})" if tflm else "-",
                      f"{tflm['arena_bytes']:,} B" if tflm else "-")
    console().print(table)
    for entry in entries.values():
        if "c_source" in entry:
            click.echo(f"C source for firmware: {out / entry['c_source'][0]} + {out / entry['c_source'][1]} "
                       f"(arena {entry['tflm']['arena_bytes']} B + {entry['arena_margin']} B margin); "
                       f"int8 is {entry['size_vs_f32']:.1%} of float32")


if __name__ == "__main__":
    main()
