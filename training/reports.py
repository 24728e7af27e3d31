"""Report figures for the evaluation: confusion matrix, training curves, misclassified faces (PNG files)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from fer_core.labels import EMOTIONS


def plot_confusion_matrix(matrix: np.ndarray, path: Path, title: str) -> Path:
    """Row-normalised confusion matrix with counts, rows = true class."""
    normalised = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    figure, axes = plt.subplots(figsize=(6.4, 5.6), dpi=110)
    image = axes.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(len(EMOTIONS)), EMOTIONS, rotation=40, ha="right")
    axes.set_yticks(range(len(EMOTIONS)), EMOTIONS)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    for i in range(len(EMOTIONS)):
        for j in range(len(EMOTIONS)):
            colour = "white" if normalised[i, j] > 0.5 else "black"
            axes.text(
                j, i, f"{normalised[i, j]:.2f}\n({matrix[i, j]})", ha="center", va="center", fontsize=7, color=colour
            )
    figure.colorbar(image, ax=axes, fraction=0.046)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def read_training_log(log_csv: Path) -> dict[str, list[float]]:
    """Columns of a Keras CSVLogger file as float lists (empty dict if the file is missing)."""
    if not log_csv.is_file():
        return {}
    with log_csv.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {
        key: [float(row[key]) for row in rows if row.get(key) not in (None, "")] for key in (rows[0] if rows else {})
    }


def plot_training_curves(
    log: dict[str, list[float]],
    path: Path,
    stage_starts: Sequence[int] = (),
    *,
    averaged_accuracy: float | None = None,
) -> Path | None:
    """Accuracy and loss per epoch, Training vs PublicTest; a dotted line where a warm-started stage begins.

    ``averaged_accuracy``: PublicTest accuracy of the last stage's weight average (``--swa-start``), marked after
    the last epoch, since the average is not any one epoch's weights.
    """
    if not log.get("accuracy"):
        return None
    epochs = np.arange(1, len(log["accuracy"]) + 1)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=110)
    left.plot(epochs, log["accuracy"], label="Training (augmented)")
    left.plot(epochs, log.get("val_accuracy", []), label="PublicTest")
    if averaged_accuracy is not None:
        left.plot(
            [epochs[-1]],
            [averaged_accuracy],
            marker="*",
            markersize=11,
            linestyle="",
            color="C3",
            label=f"weight average, PublicTest {averaged_accuracy:.1%}",
        )
    left.set_xlabel("epoch")
    left.set_ylabel("accuracy")
    left.grid(alpha=0.3)
    left.legend()
    right.plot(epochs, log["loss"], label="Training (augmented)")
    right.plot(epochs, log.get("val_loss", []), label="PublicTest")
    right.set_xlabel("epoch")
    right.set_ylabel("loss (label-smoothed cross-entropy)")
    right.grid(alpha=0.3)
    for axis in (left, right):
        for start in stage_starts:
            axis.axvline(start + 0.5, color="grey", linestyle=":", linewidth=1)
    if stage_starts:
        left.set_title("dotted: a new stage starts from the previous one", fontsize=8)
    right.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def plot_misclassified(
    images: np.ndarray,
    labels: np.ndarray,
    predictions: np.ndarray,
    confidences: np.ndarray,
    path: Path,
    *,
    count: int = 48,
    seed: int = 0,
) -> Path:
    """A grid of misclassified faces, captioned "true -> predicted (confidence)"."""
    wrong = np.flatnonzero(labels != predictions)
    chosen = np.random.default_rng(seed).choice(wrong, size=min(count, wrong.size), replace=False) if wrong.size else []
    columns = 8
    rows = max(1, int(np.ceil(len(chosen) / columns)))
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 1.5, rows * 1.75), dpi=100)
    for axis in np.atleast_1d(axes).ravel():
        axis.axis("off")
    for axis, index in zip(np.atleast_1d(axes).ravel(), chosen, strict=False):
        axis.imshow(images[index], cmap="gray", vmin=0, vmax=255)
        axis.set_title(
            f"{EMOTIONS[labels[index]]}\n→ {EMOTIONS[predictions[index]]} {confidences[index]:.0%}", fontsize=7
        )
    figure.suptitle("PrivateTest faces the model gets wrong (true → predicted)", fontsize=10)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
