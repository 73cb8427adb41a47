r"""`python -m pyck_eval pixels --dataset mushroom_observer/family7 --data_dir DATA [--n_trials 20]`.

The study's baselines on raw pixels: each image area-downscaled to --size, then RandomForest
and XGBoost fitted on train (hyper-parameters searched with Optuna on validation when
--n_trials > 0) and scored on test. Writes comparison.csv, pixel_importance.png (where in
the frame the forests look) and index.html into --out_dir (default ./pixels).
"""

from __future__ import annotations

import json
import os

import pandas as pd
from absl import flags

from pyck_eval.commands import common_flags
from pyck_eval.index_page import write_index
from pyck_eval.lazy_imports import lazy_import
from pyck_tfds.built_datasets import DEFAULT_DATASET

classification_metrics = lazy_import("pyck_eval.classification_metrics")
feature_models = lazy_import("pyck_eval.feature_models")
figures = lazy_import("pyck_eval.figures")
input_pipeline = lazy_import("pyck_classifier.data.input_pipeline")
pixel_baselines = lazy_import("pyck_eval.pixel_baselines")

flags.DEFINE_string("dataset", DEFAULT_DATASET, "TFDS name/config.")
flags.DEFINE_list("size", ["24", "32"], "Downscaled height,width.")
flags.DEFINE_integer("n_trials", 0, "Optuna trials per model on the validation split (0: defaults).", lower_bound=0)
FLAGS = flags.FLAGS
MODELS = ("random_forest", "xgboost")


@flags.validator("size", message="--size: two positive integers, height,width")
def _valid_size(value: list[str]) -> bool:
    return len(value) == 2 and all(v.isdigit() and int(v) > 0 for v in value)


def main(argv: list[str]) -> None:
    out = common_flags.out_dir("pixels")
    size = tuple(int(v) for v in FLAGS.size)
    names = input_pipeline.load_split(FLAGS.dataset, "train", FLAGS.data_dir)[1].features["label"].names
    splits = {s: pixel_baselines.pixel_matrix(FLAGS.dataset, s, FLAGS.data_dir, size)
              for s in ("train", "validation", "test")}
    rows, fitted = [], {}
    for kind in MODELS:
        params = {}
        if FLAGS.n_trials:
            params, _ = pixel_baselines.search(kind, splits["train"], splits["validation"], FLAGS.n_trials,
                                               FLAGS.seed)
        model = pixel_baselines.build(kind, FLAGS.seed, params).fit(*splits["train"])
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
        shown = ax.imshow(pixel_baselines.importance_map(fitted[kind], size), cmap="magma")
        ax.set_title(f"{kind}: feature importance per pixel")
        ax.axis("off")
        fig.colorbar(shown, ax=ax, fraction=0.04)
    figures.save(fig, os.path.join(out, "pixel_importance.png"))
    print(table.to_string(index=False))
    common_flags.done(write_index(out, f"Pixel baselines on {FLAGS.dataset} at {size[0]}x{size[1]}", [
        ("Fitted on train, scored on test", table), ("Where the forests look", "pixel_importance.png")]))
