"""Options several eval functions share: each is written once here, with its default and its help.

Each function is a field factory, so every options dataclass that needs the option gets its own
field with the same default and help, and the flags generated from them agree across commands.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pyck_classifier.data import EVAL_BATCH_SIZE
from pyck_classifier.model.litert import RUNTIMES
from pyck_classifier.posthoc.binned_prior import METADATA_PRIORS
from pyck_classifier.posthoc.test_time_augmentation import TTA_HELP, TTA_MODES
from pyck_tfds.options import option


def out_dir() -> Any:
    return option(None, "Folder for this command's outputs (created; an index.html is written there).")


def data_dir() -> Any:
    return option(None, "TFDS data_dir (default: the one the model was trained with).")


def batch_size() -> Any:
    return option(EVAL_BATCH_SIZE, "Images per prediction batch.", lower=1)


def seed() -> Any:
    return option(0, "Seed of the scikit-learn / XGBoost / Optuna models.")


def runtime() -> Any:
    return option("auto", "What runs the network: LiteRT (XNNPACK, several times faster on CPU, same numbers), "
                  "Keras, or auto (LiteRT without a GPU). The LiteRT conversion is cached per model in "
                  "PYCK_CACHE_DIR (default ~/.cache/pyck).", choices=RUNTIMES)


def tta() -> Any:
    return option("none", TTA_HELP, choices=TTA_MODES)


def metadata_prior() -> Any:
    return option("none", "month: re-weight the image probabilities by p(class | month) of the training split (the "
                  "run's month_prior.json), undated images unchanged; location (report only, *_csv datasets): by "
                  "p(class | 10-degree cell) (location_prior.json), images without coordinates unchanged; "
                  "month+location: both.", choices=METADATA_PRIORS)


def calibrated() -> Any:
    return option(True, "Apply the run's temperature (calibration.json, fitted on validation) to the probabilities; "
                  "--nocalibrated shows the network's raw softmax.")


def min_confidence() -> Any:
    return option(0.0, "A level answers when its top probability reaches this (a genus's or family's is the sum of "
                  "its classes'); when none does, the answer is 'unsure' (its top 3 listed); 0 always answers.",
                  lower=0.0, upper=1.0)


def back_off() -> Any:
    return option(True, "A species or genus run answers at the finest level (species, genus, family) whose top "
                  "probability reaches --min_confidence and whose out-of-class check passes (taxonomy.json); "
                  "--noback_off answers at the classes' level only.")


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """Which trained run a command reads, where its data is, and what runs its network."""
    model_dir: str = option(help="A finished `python -m pyck_train` run.")
    data_dir: str | None = data_dir()
    runtime: str = runtime()
