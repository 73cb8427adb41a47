"""Training curves (accuracy and loss, train vs validation, phases one after another) as a PNG."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def plot_history(histories: list[pd.DataFrame], phase_names: list[str], out: str) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    offset = 0
    for history, name in zip(histories, phase_names):
        epochs = history["epoch"] + 1 + offset
        for ax, metric in zip(axes, ("accuracy", "loss")):
            ax.plot(epochs, history[metric], marker="o", label=f"train ({name})")
            if f"val_{metric}" in history:
                ax.plot(epochs, history[f"val_{metric}"], marker="s", linestyle="--", label=f"validation ({name})")
        offset += len(history)
    for ax, metric in zip(axes, ("accuracy", "loss")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
