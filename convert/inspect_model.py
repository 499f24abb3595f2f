"""`lenet-convert inspect`: what is inside a .tflite file and where it fits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lenet_deploy.convert.flatbuffer import read_graph_file
from lenet_deploy.convert.parts import TFLM_RUNTIME_FLASH, TFLM_RUNTIME_RAM, fits_table
from lenet_deploy.errors import LenetError


def inspect_tflite(path: Path) -> dict[str, Any]:
    data, graph = read_graph_file(path)
    arena = None
    arena_note = "TFLite Micro loads it"
    try:
        from lenet_deploy.tflm import arena_bytes, tflm_interpreter

        interpreter = tflm_interpreter(data)
        details = interpreter.get_input_details(0)
        import numpy as np

        interpreter.set_input(np.zeros(details["shape"], dtype=details["dtype"]), 0)
        interpreter.invoke()
        arena = arena_bytes(interpreter)
    except LenetError as exc:
        arena_note = str(exc)
    return {
        "file": str(path), "bytes": len(data), "weight_bytes": graph.weight_bytes, "ops": graph.op_names,
        "operators": [{"index": op.index, "op": op.name, "inputs": list(op.inputs), "outputs": list(op.outputs)}
                      for op in graph.ops],
        "tensors": [{"index": t.index, "name": t.name, "shape": list(t.shape), "dtype": t.dtype,
                     "scale": list(t.scales[:4]), "zero_point": list(t.zero_points[:4]), "channels": len(t.scales),
                     "const_bytes": len(t.data)} for t in graph.tensors],
        "tflm": {"arena_bytes": arena, "note": arena_note},
        "fits": fits_table(len(data), arena) if arena is not None else [],
        "tflm_runtime_assumed": {"flash": TFLM_RUNTIME_FLASH, "ram": TFLM_RUNTIME_RAM},
    }


def print_inspection(report: dict[str, Any]) -> None:
    from rich.table import Table

    from lenet_deploy.cli import console

    out = console()
    out.print(f"[bold]{report['file']}[/bold]: {report['bytes']:,} bytes ({report['weight_bytes']:,} in constant "
              f"tensors); ops: {', '.join(report['ops'])}")
    ops = Table(title="operators")
    for column in ("#", "op", "inputs", "outputs"):
        ops.add_column(column)
    for op in report["operators"]:
        ops.add_row(str(op["index"]), op["op"], str(op["inputs"]), str(op["outputs"]))
    out.print(ops)
    tensors = Table(title="tensors")
    for column in ("#", "name", "shape", "dtype", "scale", "zero point", "const bytes"):
        tensors.add_column(column, overflow="fold")
    for t in report["tensors"]:
        scale = (f"{t['scale'][0]:.4g}" + (f" (+{t['channels'] - 1} ch)" if t["channels"] > 1 else "")) \
            if t["scale"] else "-"
        tensors.add_row(str(t["index"]), t["name"][:48], str(t["shape"]), t["dtype"], scale,
                        str(t["zero_point"][0]) if t["zero_point"] else "-", f"{t['const_bytes']:,}")
    out.print(tensors)
    arena = report["tflm"]["arena_bytes"]
    if arena is None:
        out.print(f"TFLite Micro: {report['tflm']['note']}")
        return
    runtime = report["tflm_runtime_assumed"]
    fits = Table(title=f"fits on (model + arena {arena:,} B measured by tflite-micro, plus an assumed TFLM runtime "
                       f"of {runtime['flash'] // 1024} KB flash / {runtime['ram'] // 1024} KB RAM)")
    for column in ("board", "flash", "RAM", "flash use", "RAM use", "fits"):
        fits.add_column(column)
    for row in report["fits"]:
        fits.add_row(row["board"], f"{row['flash'] // 1024} KB", f"{row['ram'] // 1024} KB",
                     f"{row['flash_use']:.0%}", f"{row['ram_use']:.0%}", "yes" if row["fits"] else "NO")
    out.print(fits)
