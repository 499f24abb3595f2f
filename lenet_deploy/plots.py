"""PNG plots shared by the stages (matplotlib, headless), written atomically."""

from __future__ import annotations

import io
from pathlib import Path

from lenet_deploy.artifacts import write_bytes_atomic


def pyplot():
    """matplotlib.pyplot on the headless Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    pyplot().close(fig)
    write_bytes_atomic(path, buffer.getvalue())


def confusion_matrix_png(matrix: list[list[int]], path: Path, title: str) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 5.2))
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046)
    n = len(matrix)
    ax.set(xticks=range(n), yticks=range(n), xlabel="predicted", ylabel="true", title=title)
    peak = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            if count:
                ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                        color="white" if count > peak / 2 else "black")
    save_png(fig, path)


def training_curves_png(history: dict[str, list[float]], path: Path, title: str) -> None:
    """Loss and accuracy per epoch, training beside validation."""
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    epochs = range(1, len(history["loss"]) + 1)
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.plot(epochs, history[metric], marker="o", label="train")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], marker="o", label="validation")
        ax.set(xlabel="epoch", ylabel=metric, title=f"{title}: {metric}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.grid(alpha=0.3)
        ax.legend()
    save_png(fig, path)
