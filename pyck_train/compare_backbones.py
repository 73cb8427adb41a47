r"""The study's backbone table: accuracy, epoch time, images/s and parameters per backbone, as CSV and PNG.

    python -m pyck_train.compare_backbones --flagfile=configs/quickstart.flags \
        --backbones=efficientnet_lite0,mobilenet_v3_large,efficientnet_b0 --train_subset=2000 \
        --model_dir=runs/compare

Every backbone trains with the same flags (each into `<model_dir>/<backbone>/`); the table
(`comparison.csv`, `comparison.png`) ranks them by VALIDATION accuracy, with test accuracy
beside it. Epoch time is the median over the first phase's epochs, training batches only
(validation excluded); images/s is the images of one such epoch over that time. With
--cache_features the base runs once before those epochs, so compare speeds without it.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time

import pandas as pd
from absl import app, flags

from pyck_classifier.model.backbones.registry import available_backbones
from pyck_train import flags as train_flags
from pyck_train import provenance
from pyck_train.config import TrainConfig

flags.adopt_module_key_flags(train_flags)  # --help lists the trainer's flags too
flags.DEFINE_list("backbones", None, "Backbones to compare, comma-separated.")
FLAGS = flags.FLAGS


@flags.validator("backbones", message="--backbones: give registry names, comma-separated")
def _known_backbones(value: list[str] | None) -> bool:
    return bool(value) and set(value) <= set(available_backbones())


def epoch_timer():
    """A Keras callback: seconds from the start of each epoch to its last training batch (validation excluded)."""
    import keras  # with TensorFlow, only once the flags are valid (--help answers at once)

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds: list[float] = []
            self._start = self._last = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self._start = self._last = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self._last = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(self._last - self._start)

    return EpochTimer()


def images_per_epoch(config: TrainConfig, metrics: dict) -> int:
    batch = config.batch_size * metrics["replicas"]
    examples = metrics["train_examples"]
    return min(config.steps_per_epoch * batch, examples) if config.steps_per_epoch else examples


def compare(base: TrainConfig, backbones: list[str]) -> pd.DataFrame:
    import keras

    from pyck_train.train import train

    rows = []
    for backbone in backbones:
        keras.backend.clear_session()
        config = dataclasses.replace(base, backbone=backbone, model_dir=os.path.join(base.model_dir, backbone))
        timer = epoch_timer()
        started = time.perf_counter()
        metrics = train(config, extra_callbacks=[timer])
        epoch_seconds = statistics.median(timer.seconds[:base.epochs]) if timer.seconds else float("nan")
        rows.append({
            "backbone": backbone,
            "validation_accuracy": metrics["validation"]["accuracy"],
            "test_accuracy": metrics["test"]["accuracy"],
            "epoch_seconds": epoch_seconds,
            "images_per_second": images_per_epoch(config, metrics) / epoch_seconds,
            "parameters": metrics["parameters"],
            "total_seconds": time.perf_counter() - started,
            "cache_features": config.cache_features,
        })
    return pd.DataFrame(rows).sort_values("validation_accuracy", ascending=False, kind="stable")


def plot_comparison(table: pd.DataFrame, out: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [("validation_accuracy", "validation accuracy"), ("test_accuracy", "test accuracy"),
               ("images_per_second", "training images/s"), ("parameters", "parameters (millions)")]
    fig, axes = plt.subplots(1, len(columns), figsize=(4 * len(columns), 0.5 * len(table) + 1.5), sharey=True)
    for ax, (column, title) in zip(axes, columns):
        values = table[column] / 1e6 if column == "parameters" else table[column]
        ax.barh(table["backbone"], values, color="tab:blue")
        ax.set_title(title)
        ax.grid(axis="x", alpha=0.3)
    axes[0].invert_yaxis()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    base = train_flags.config_from_flags()
    os.makedirs(base.model_dir, exist_ok=True)
    try:
        table = compare(base, FLAGS.backbones)
    except provenance.RunDirectoryError as err:  # a backbone's folder holds a run trained with other flags
        raise SystemExit(f"error: {err}") from None
    csv_path, png_path = (os.path.join(base.model_dir, f"comparison.{ext}") for ext in ("csv", "png"))
    table.to_csv(csv_path, index=False)
    plot_comparison(table, png_path)
    print(table.to_string(index=False))
    print(f"wrote {csv_path} and {png_path}")


if __name__ == "__main__":
    train_flags.mark_required()
    flags.mark_flag_as_required("backbones")
    app.run(main)
