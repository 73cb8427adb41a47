"""A trained run (`python -m pyck_train --model_dir M`) as eval needs it: model, labels, data, predictions."""

from __future__ import annotations

import dataclasses
import json
import os

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
import tensorflow_datasets as tfds

import pyck_tfds  # noqa: F401  (registers mushroom_observer)
from pyck_classifier.data import EVAL_BATCH_SIZE, input_pipeline
from pyck_classifier.data.label_level import label_level, split_taxonomy
from pyck_classifier.model import feature_extraction, litert
from pyck_classifier.model.image_preprocessing import prepare_image
from pyck_classifier.posthoc.calibration import Calibration
from pyck_classifier.posthoc.location_prior import LocationPrior
from pyck_classifier.posthoc.month_prior import MonthPrior
from pyck_classifier.posthoc.taxonomy import Taxonomy
from pyck_classifier.posthoc.test_time_augmentation import with_tta
from pyck_classifier.run import run_directory as names
from pyck_eval.tasks.errors import OptionError

METADATA_COLUMNS = ("image_id", "observation_id", "date")
REFIT = ("To fit one, rerun its training command (`python -m pyck_train --flagfile=MODEL_DIR/flags.txt`): "
         "finished phases are not trained again.")


@dataclasses.dataclass
class TrainedRun:
    model_dir: str
    model: keras.Model
    labels: list[str]
    dataset: str
    data_dir: str | None
    backbone: str
    calibration: Calibration | None  # None for a run trained before pyck fitted one
    level: str = "class"  # what a label names: "family", "species"... (metrics.json; the build report for older runs)
    runtime: str = "keras"  # what runs the frozen network: keras, litert or auto (`pyck_classifier.model.litert`)
    taxonomy: Taxonomy | None = None  # taxonomy.json; read from the training records for older runs

    def executable(self, model: keras.Model, variant: str):
        """`model` (built from this run's model) as the runtime runs it; LiteRT conversions are cached by variant."""
        return litert.runnable(model, self.runtime, os.path.join(self.model_dir, names.MODEL), variant)

    def _saved_prior(self, file_name: str, prior_class, why_missing: str):
        path = os.path.join(self.model_dir, file_name)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path} does not exist: {why_missing}")
        return prior_class.from_json(path, self.labels)

    def location_prior(self) -> LocationPrior:
        """The p(class | cell) the trainer fitted on the training split; an error says why when there is none."""
        return self._saved_prior(names.LOCATION_PRIOR, LocationPrior, "the training images of this run had no "
                                 "coordinates (only the *_csv configs store them), so it has no location prior")

    def month_prior(self) -> MonthPrior:
        """The p(class | month) the trainer fitted on the training split; an error says why when there is none."""
        return self._saved_prior(names.MONTH_PRIOR, MonthPrior, "the training images of this run had no dates, so it "
                                 "has no month prior (drop --metadata_prior=month)")


def load_run(model_dir: str, data_dir: str | None = None, runtime: str = "keras") -> TrainedRun:
    """Reads model.keras, labels.txt and metrics.json; `data_dir` overrides the one training used."""
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"--model_dir={model_dir} does not exist: give the folder of a "
                                "`python -m pyck_train` run")
    missing = [name for name in (names.MODEL, names.LABELS, names.METRICS)
               if not os.path.exists(os.path.join(model_dir, name))]
    flagfile = os.path.join(model_dir, names.FLAGS)
    if missing and os.path.exists(flagfile):
        raise FileNotFoundError(f"{model_dir} is an unfinished run (no {', '.join(missing)} yet): rerunning its "
                                f"training command resumes it (`python -m pyck_train --flagfile={flagfile}`)")
    if missing:
        raise FileNotFoundError(f"{model_dir} is not a pyck_train run (no {names.FLAGS}, {', '.join(missing)}); "
                                "train one with `python -m pyck_train --flagfile=... --model_dir=...`")
    with open(os.path.join(model_dir, names.METRICS)) as f:
        metrics = json.load(f)
    with open(os.path.join(model_dir, names.LABELS)) as f:
        labels = [line for line in f.read().splitlines() if line]
    recorded = metrics["data_dir"]
    if not data_dir and recorded and not os.path.isdir(recorded):
        where = "" if os.path.isabs(recorded) else f" from {os.getcwd()} (the run recorded it relative to where it " \
                                                   "was trained)"
        raise FileNotFoundError(f"{model_dir} was trained on --data_dir={recorded}, which is not a folder{where}: "
                                "pass --data_dir")
    model = keras.models.load_model(os.path.join(model_dir, names.MODEL), compile=False)
    data_dir = data_dir or recorded
    level = metrics.get("level") or label_level(metrics["dataset"], data_dir)
    calibration = Calibration.load(model_dir, labels)
    taxonomy = (Taxonomy.load(model_dir, labels)  # else a run older than taxonomy.json: its training records
                or split_taxonomy(metrics["dataset"], "train", data_dir, labels, level))
    return TrainedRun(model_dir, model, labels, metrics["dataset"], data_dir, metrics["backbone"],
                      calibration, level, runtime, taxonomy)


def split_examples(run: TrainedRun, split: str, dataset: str | None = None) -> tf.data.Dataset:
    """(image uint8, label, {image_id, observation_id, date[, latitude, longitude]}) in the split's stored order.

    `dataset` reads another config of the run's data_dir (e.g. one holding other families).
    """
    return input_pipeline.split_examples(dataset or run.dataset, split, run.data_dir, METADATA_COLUMNS)


def split_batches(run: TrainedRun, split: str, batch_size: int = EVAL_BATCH_SIZE,
                  dataset: str | None = None) -> tf.data.Dataset:
    """Batches of (uint8 images via the shared `prepare_image`, labels, metadata)."""
    size = run.model.input_shape[1:3]  # the model's own input size
    return (split_examples(run, split, dataset)
            .map(lambda image, label, meta: (prepare_image(image, size), label, meta),
                 num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .batch(batch_size).prefetch(tf.data.AUTOTUNE))


def predict_split(run: TrainedRun, split: str, batch_size: int = EVAL_BATCH_SIZE, tta: str = "none"
                  ) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per image (image_id, observation_id, date, label) and the (n, classes) probabilities, in split order.

    `tta` averages the probabilities over test-time views (`pyck_classifier.posthoc.test_time_augmentation`).
    """
    probabilities, labels, meta = feature_extraction.predict_batches(
        run.executable(with_tta(run.model, tta), f"tta_{tta}"), split_batches(run, split, batch_size),
        f"predict {split}")
    if not len(labels):
        raise ValueError(f"split {split!r} of {run.dataset} in {run.data_dir} is empty")
    return pd.DataFrame({"label": labels, **meta}), probabilities.astype(np.float64)


def predict_logits_and_features(run: TrainedRun, split: str, batch_size: int = EVAL_BATCH_SIZE,
                                dataset: str | None = None
                                ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Rows as `predict_split`, the logits and the pooled features: what the out-of-class scores read."""
    outputs, labels, meta = feature_extraction.predict_batches(
        run.executable(feature_extraction.logits_and_features_model(run.model), "logits_and_features"),
        split_batches(run, split, batch_size, dataset),
        f"logits and features {dataset or run.dataset} {split}")
    logits, features = feature_extraction.split_logits_and_features(outputs, len(run.labels))
    return pd.DataFrame({"label": labels, **meta}), logits.astype(np.float64), features


def split_taxa(run: TrainedRun, split: str, dataset: str | None = None) -> pd.DataFrame:
    """Each photo's species, genus and family as its record names them, in the split's stored order."""
    levels = ("species", "genus", "family")
    columns = input_pipeline.read_columns(dataset or run.dataset, split, run.data_dir, levels)
    return pd.DataFrame({level: [value.decode() for value in columns[level]] for level in levels})


def check_split(run: TrainedRun, split: str) -> int:
    """The examples of `split` (tfds slicing works); an OptionError naming --split when it has none or is unknown."""
    try:
        examples = tfds.builder(run.dataset, data_dir=run.data_dir).info.splits[split].num_examples
    except ValueError as err:  # unknown split, or a slice the split cannot give
        raise OptionError(f"--split={split}: {err}") from None
    if not examples:
        raise OptionError(f"--split={split}: {run.dataset} in {run.data_dir} has no example there")
    return examples


def label_names(run: TrainedRun, dataset: str) -> list[str]:
    """The class names of another config built in the run's data_dir."""
    builder = tfds.builder(dataset, data_dir=run.data_dir)
    if not builder.is_prepared():
        raise FileNotFoundError(f"{dataset} is not built in {run.data_dir}")
    return builder.info.features["label"].names
