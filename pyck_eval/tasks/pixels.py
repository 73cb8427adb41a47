"""The study's baselines on raw pixels: RandomForest and XGBoost on downscaled images, scored on test."""

from __future__ import annotations

import dataclasses
import json
import os

import pandas as pd

from pyck_eval.index_page import write_index
from pyck_eval.lazy_imports import lazy_import
from pyck_eval.tasks import shared_options
from pyck_eval.tasks.outputs import finish, output_folder
from pyck_eval.tasks.svc import ComparisonResult
from pyck_tfds.built_datasets import DEFAULT_DATASET
from pyck_tfds.options import CheckedOptions, option

classification_metrics = lazy_import("pyck_eval.classification_metrics")
feature_models = lazy_import("pyck_eval.feature_models")
figures = lazy_import("pyck_eval.figures")
input_pipeline = lazy_import("pyck_classifier.data.input_pipeline")
pixel_models = lazy_import("pyck_eval.pixel_baselines")

MODELS = ("random_forest", "xgboost")


@dataclasses.dataclass(frozen=True)
class PixelsOptions(CheckedOptions):
    dataset: str = option(DEFAULT_DATASET, "TFDS name/config.")
    data_dir: str | None = option(None, "TFDS data_dir (default: TFDS's own).")
    size: tuple[int, ...] = option((24, 32), "Downscaled height,width.")
    n_trials: int = option(0, "Optuna trials per model on the validation split (0: defaults).", lower=0)
    seed: int = shared_options.seed()
    out_dir: str | None = shared_options.out_dir()

    def __post_init__(self):
        super().__post_init__()
        if len(self.size) != 2 or min(self.size) < 1:
            raise ValueError(f"size={self.size}: two positive integers, height,width")


def pixel_baselines(options: PixelsOptions = PixelsOptions()) -> ComparisonResult:
    """Fits each model on train (Optuna on validation with `n_trials`); writes comparison.csv and the importances."""
    out = output_folder(options.out_dir, "pixels")
    size = options.size
    names = input_pipeline.load_split(options.dataset, "train", options.data_dir)[1].features["label"].names
    splits = {s: pixel_models.pixel_matrix(options.dataset, s, options.data_dir, size)
              for s in ("train", "validation", "test")}
    rows, fitted = [], {}
    for kind in MODELS:
        params = {}
        if options.n_trials:
            params, _ = pixel_models.search(kind, splits["train"], splits["validation"], options.n_trials,
                                            options.seed)
        model = pixel_models.build(kind, options.seed, params).fit(*splits["train"])
        fitted[kind] = model
        row = {"model": kind, "params": json.dumps(params)}
        for split in ("validation", "test"):
            x, y = splits[split]
            scores = classification_metrics.summary(y, feature_models.one_hot(model.predict(x), len(names)), names)
            row[f"{split}_accuracy"] = scores["accuracy"]
        row["test_balanced_accuracy"] = scores["balanced_accuracy"]
        rows.append(row)
    table = pd.DataFrame(rows)
    table.to_csv(os.path.join(out, "comparison.csv"), index=False)

    fig, axes = figures.plt.subplots(1, len(MODELS), figsize=(5 * len(MODELS), 4))
    for ax, kind in zip(axes, MODELS):
        shown = ax.imshow(pixel_models.importance_map(fitted[kind], size), cmap="magma")
        ax.set_title(f"{kind}: feature importance per pixel")
        ax.axis("off")
        fig.colorbar(shown, ax=ax, fraction=0.04)
    figures.save(fig, os.path.join(out, "pixel_importance.png"))
    index = write_index(out, f"Pixel baselines on {options.dataset} at {size[0]}x{size[1]}", [
        ("Fitted on train, scored on test", table), ("Where the forests look", "pixel_importance.png")])
    return ComparisonResult(table, out, finish(index))
