"""What a dataset's labels name (family, genus, species), read from its build report."""

from __future__ import annotations

import glob
import json
import os

from pyck_tfds.mushroom_observer.mushroom_observer_dataset_builder import REPORT_FILE


def label_level(dataset: str, data_dir: str | None) -> str:
    """The taxonomic rank of `dataset`'s labels ("family", ...) from its build_report.json; "class" when unknown.

    The trainer records it in the run's metrics.json, so eval reads it there instead.
    """
    import tensorflow_datasets as tfds

    builder, _, config = dataset.partition("/")
    pattern = os.path.join(data_dir or tfds.core.constants.DATA_DIR, builder, config, "*", REPORT_FILE)
    for path in sorted(glob.glob(pattern)):
        with open(path) as f:
            return json.load(f).get("filter", {}).get("level") or "class"
    return "class"
