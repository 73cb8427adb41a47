"""PNG figures shared by the eval commands: confusion matrices, image grids, heatmap overlays, calibration."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay  # noqa: E402


def save(fig, out: str) -> str:
    fig.tight_layout()
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out


def confusion_matrix_png(matrix: np.ndarray, class_names: list[str], out: str, title: str = "") -> str:
    """Counts and row-normalised (recall per true family) side by side."""
    size = 2.5 + 0.7 * len(class_names)
    fig, axes = plt.subplots(1, 2, figsize=(2 * size, size))
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros(matrix.shape, float), where=rows > 0)
    for ax, values, fmt, name in ((axes[0], matrix, "d", "counts"), (axes[1], normalised, ".2f", "row-normalised")):
        ConfusionMatrixDisplay(values, display_labels=class_names).plot(ax=ax, values_format=fmt, colorbar=False,
                                                                         xticks_rotation=45, cmap="Blues")
        ax.set_title(f"{title} {name}".strip())
    return save(fig, out)


def image_grid_png(images: list[np.ndarray], titles: list[str], out: str, columns: int = 4,
                   colors: list[str] | None = None, suptitle: str = "") -> str:
    """uint8/float [0, 255] RGB images in a grid, each with a (coloured) title."""
    rows = max(1, -(-len(images) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.7 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (image, title) in enumerate(zip(images, titles)):
        ax = axes.flat[i]
        ax.imshow(np.clip(np.asarray(image), 0, 255).astype(np.uint8))
        ax.set_title(title, fontsize=8, color=(colors[i] if colors else "black"))
    if suptitle:
        fig.suptitle(suptitle, y=1.0)
    return save(fig, out)


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.4) -> np.ndarray:
    """A [0, 1] heatmap of any size, resized to the image and blended over it in the jet colormap (uint8)."""
    from PIL import Image

    height, width = image.shape[:2]
    resized = np.asarray(Image.fromarray(np.uint8(255 * np.clip(heatmap, 0, 1))).resize((width, height),
                                                                                        Image.BILINEAR)) / 255.0
    colored = matplotlib.colormaps["jet"](resized)[..., :3] * 255
    return np.uint8(np.clip((1 - alpha) * np.asarray(image, float) + alpha * colored, 0, 255))


def reliability_png(panels: dict[str, dict[str, pd.DataFrame]], out: str) -> str:
    """Reliability diagrams: per panel (e.g. per image, per observation), accuracy vs confidence of each curve.

    `panels[title][curve]` is a `temperature_scaling.reliability_bins` table; the diagonal is perfect calibration.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.6), squeeze=False)
    for ax, (title, curves) in zip(axes.flat, panels.items()):
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
        for name, table in curves.items():
            ax.plot(table["confidence"], table["accuracy"], marker="o", label=name)
        ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="confidence (top probability)", ylabel="accuracy", title=title)
        ax.legend(loc="upper left", fontsize=8)
    return save(fig, out)


def coverage_png(curves: dict[str, pd.DataFrame], out: str, target: float | None = None,
                 chosen: dict[str, float] | None = None) -> str:
    """Accuracy of the answered photos vs the share answered, one line per split; chosen thresholds marked."""
    fig, ax = plt.subplots(figsize=(6, 4.6))
    for name, curve in curves.items():
        ax.plot(curve["coverage"], curve["accuracy"], label=name)
    for name, coverage in (chosen or {}).items():
        ax.axvline(coverage, linestyle="--", color="grey")
        ax.annotate(name, (coverage, ax.get_ylim()[0]), rotation=90, fontsize=8, va="bottom", ha="right")
    if target is not None:
        ax.axhline(target, linestyle=":", color="black", label=f"target accuracy {target:.2f}")
    ax.set(xlabel="coverage (share of photos answered)", ylabel="accuracy of the answered photos", xlim=(0, 1.01),
           title="Abstaining below a confidence threshold")
    ax.legend(fontsize=8)
    return save(fig, out)


def score_histograms_png(scores: dict[str, np.ndarray], threshold: float, out: str, title: str,
                         threshold_label: str = "threshold") -> str:
    """Distributions of an out-of-class score for in-class and out-of-class photos, with the threshold."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    values = np.concatenate(list(scores.values()))
    bins = np.linspace(values.min(), values.max(), 40) if len(values) else 10
    for name, score in scores.items():
        ax.hist(score, bins=bins, alpha=0.55, density=True, label=f"{name} ({len(score)})")
    ax.axvline(threshold, color="black", linestyle="--", label=threshold_label)
    ax.set(xlabel="score (higher: more likely out of class)", ylabel="density", title=title)
    ax.legend(fontsize=8)
    return save(fig, out)


def deletion_insertion_png(curves: dict[str, dict], out: str, title: str = "") -> str:
    """Deletion and insertion curves (probability of the class against the share of pixels swapped) per method."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, kind in zip(axes, ("deletion", "insertion")):
        for method, curve in curves.items():
            share = np.linspace(0, 1, len(curve[kind]))
            ax.plot(share, curve[kind], label=f"{method} ({curve[kind + '_auc']:.3f})",
                    linestyle=":" if method == "random" else "-", color="grey" if method == "random" else None)
        ax.set(xlabel="share of the pixels, most attributed first", ylabel="probability of the class",
               title=f"{kind} (area in brackets)", ylim=(0, 1.02))
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return save(fig, out)


def back_off_png(curve: pd.DataFrame, levels: tuple[str, ...], out: str, title: str = "",
                 chosen: float | None = None) -> str:
    """Share of photos answered at each level (stacked, finest at the bottom), unsure and out of class, against
    min_confidence; the accuracy of the answers over it."""
    fig, ax = plt.subplots(figsize=(7, 4.6))
    shares = [curve[f"answered_{level}"].to_numpy() for level in levels] + [curve["unsure"], curve["out_of_class"]]
    names = [f"answered at {level}" for level in levels] + ["unsure", "out of class at every level"]
    ax.stackplot(curve.index.to_numpy(), *shares, labels=names, alpha=0.55)
    ax.plot(curve.index, curve["accuracy"], color="black", marker=".", label="accuracy of the answers")
    if chosen is not None:
        ax.axvline(chosen, linestyle="--", color="grey", label=f"--min_confidence={chosen:g}")
    ax.set(xlabel="--min_confidence", ylabel="share of photos / accuracy", ylim=(0, 1.01),
           xlim=(curve.index.min(), curve.index.max()), title=title or "Answers at the finest level that is sure")
    ax.legend(fontsize=8, loc="lower left")
    return save(fig, out)
