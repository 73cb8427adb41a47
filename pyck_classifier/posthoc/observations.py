"""Scores per observation: a user identifies a find (several photos of one mushroom), not a photo.

The probabilities of an observation's images are averaged before the top class is taken.
Pure numpy/pandas, shared by the trainer's metrics, `pyck_eval report` and `predict`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def mean_by_group(probabilities: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(group keys, mean probabilities), one row per group in order of first appearance."""
    means = pd.DataFrame(probabilities).assign(group=groups).groupby("group", sort=False).mean()
    return means.index.to_numpy(), means.to_numpy()


def per_observation(labels: np.ndarray, probabilities: np.ndarray, observation_ids: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(labels, mean probabilities) with one row per observation, in order of first appearance."""
    frame = pd.DataFrame(probabilities).assign(observation=observation_ids, label=labels)
    grouped = frame.groupby("observation", sort=False)
    if (grouped["label"].nunique() > 1).any():
        raise ValueError("an observation has images with different labels; per-observation scores are undefined")
    means = grouped.mean()
    return means.pop("label").to_numpy().astype(int), means.to_numpy()
