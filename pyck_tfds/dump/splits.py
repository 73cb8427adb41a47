"""Train/validation/test assignment: stratified by class, grouped by observation.

Images of one observation are near-duplicates (same mushroom, same day), so they must
never straddle splits; the study split per image and so over-estimated its accuracy.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from pyck_tfds.dump.errors import DumpError

SPLITS = ("train", "validation", "test")


def _first_fold(labels: np.ndarray, groups: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    from sklearn.model_selection import StratifiedGroupKFold  # ~3 s to import here: only when splitting

    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        _, held_out = next(splitter.split(np.zeros(len(labels)), labels, groups))
    mask = np.zeros(len(labels), dtype=bool)
    mask[held_out] = True
    return mask


def assign_splits(
    examples: pd.DataFrame,
    *,
    seed: int = 0,
    test_folds: int = 5,
    validation_folds: int = 5,
    label_column: str = "class_name",
    group_column: str = "observation_id",
) -> pd.Series:
    """Split names aligned with `examples.index`.

    Test is one of `test_folds` StratifiedGroupKFold folds (20 %), validation one of
    `validation_folds` folds of the rest (16 %), train the remainder (64 %). Rows are sorted
    by image id first, so the result depends on the seed and the data, not on row order.
    """
    n_groups = examples[group_column].nunique()
    if n_groups < test_folds * validation_folds:
        raise DumpError(
            f"only {n_groups} observations passed the filters; at least {test_folds * validation_folds} are needed "
            "for a grouped train/validation/test split. Lower min_per_class or choose other classes."
        )
    ordered = examples.sort_values("image_id", kind="stable")
    labels = ordered[label_column].astype(str).to_numpy()
    groups = ordered[group_column].astype("int64").to_numpy()
    split = np.full(len(ordered), "train", dtype=object)
    is_test = _first_fold(labels, groups, test_folds, seed)
    split[is_test] = "test"
    rest = np.flatnonzero(~is_test)
    is_validation = _first_fold(labels[rest], groups[rest], validation_folds, seed + 1)
    split[rest[is_validation]] = "validation"
    return pd.Series(split, index=ordered.index, name="split").reindex(examples.index)
