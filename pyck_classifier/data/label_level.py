"""What a dataset's labels name (family, genus, species), read from its build report, and the taxonomy above them."""

from __future__ import annotations

import glob
import json
import os

import pandas as pd

from pyck_classifier.posthoc.taxonomy import Taxonomy, coarser_levels
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


def split_taxonomy(dataset: str, split: str, data_dir: str | None, labels: list[str], level: str) -> Taxonomy:
    """Each class's genus and family (those coarser than `level`) as the split's records name them."""
    from pyck_classifier.data.input_pipeline import read_columns

    coarser = coarser_levels(level)
    columns = read_columns(dataset, split, data_dir, ("label", *coarser))
    records = pd.DataFrame({"label": columns["label"].astype(int),
                            **{name: [v.decode() for v in columns[name]] for name in coarser}})
    return Taxonomy.from_records(labels, level, records)
