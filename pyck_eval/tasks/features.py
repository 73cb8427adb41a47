"""Pooled CNN features of a run's splits, with its head's probabilities, cached as `features_<split>.npz`.

What the SVC, logistic regression and XGBoost of `svc` are fitted on, as the study did.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from pyck_eval.index_page import write_index
from pyck_eval.lazy_imports import lazy_import
from pyck_eval.tasks import shared_options
from pyck_eval.tasks.outputs import finish, output_folder
from pyck_tfds.options import CheckedOptions, option

feature_extraction = lazy_import("pyck_classifier.model.feature_extraction")
trained_run = lazy_import("pyck_eval.trained_run")


@dataclasses.dataclass(frozen=True)
class FeaturesOptions(CheckedOptions):
    splits: tuple[str, ...] = option(("train", "validation", "test"), "Splits to extract.")
    batch_size: int = shared_options.batch_size()
    out_dir: str | None = shared_options.out_dir()


@dataclasses.dataclass
class FeaturesResult:
    files: dict[str, str]  # split -> its .npz
    shapes: dict[str, tuple[int, int]]  # split -> (images, features)
    out_dir: str
    index: str


def extract_features(run, options: FeaturesOptions = FeaturesOptions()) -> FeaturesResult:
    """Writes features_<split>.npz (features, labels, the head's probabilities, class names, ids) per split."""
    out = output_folder(options.out_dir, os.path.join(run.model_dir, "features"))
    extractor = run.executable(feature_extraction.pooled_feature_model(run.model), "pooled_features")
    head = feature_extraction.head_on_features(run.model)
    files, shapes = {}, {}
    for split in options.splits:
        features, labels, meta = feature_extraction.predict_batches(
            extractor, trained_run.split_batches(run, split, options.batch_size), f"features {split}")
        probabilities = head.predict(features, batch_size=1024, verbose=0)
        files[split] = os.path.join(out, f"features_{split}.npz")
        np.savez_compressed(files[split], features=features, labels=labels, probabilities=probabilities,
                            class_names=np.array(run.labels), **meta)
        shapes[split] = tuple(features.shape)
    lines = [f"{files[s]}: {shapes[s][0]} images x {shapes[s][1]} features" for s in options.splits]
    index = write_index(out, f"Pooled features of {run.model_dir}", [("Files", "\n".join(lines))])
    return FeaturesResult(files, shapes, out, finish(index))
