"""PNG figures shared by the eval commands: confusion matrices, image grids, heatmap overlays."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
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
