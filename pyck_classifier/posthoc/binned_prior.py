"""p(class | bin) from the training split, fused with image probabilities: the arithmetic of the metadata priors.

A bin is a month (`month_prior`) or a coarse latitude/longitude cell (`location_prior`); bin 0 means
unknown. p(c | image, bin) ~ p(c | image) * p(c | bin) / p(c), renormalised; p(c | bin) is smoothed
towards p(c) with `strength` pseudo-observations, so a bin with few training photos moves the answer
little, one never seen not at all, and an unknown bin leaves the image probabilities unchanged.
"""

from __future__ import annotations

import json

import numpy as np

METADATA_PRIORS = ("none", "month", "location", "month+location")  # the choices of --metadata_prior


def priors_named(option: str) -> frozenset[str]:
    """The priors a --metadata_prior choice asks for: "month+location" -> {"month", "location"}, "none" -> {}."""
    if option not in METADATA_PRIORS:
        raise ValueError(f"unknown metadata prior {option!r}; choose from {', '.join(METADATA_PRIORS)}")
    return frozenset() if option == "none" else frozenset(option.split("+"))


def fit_class_given_bin(labels: np.ndarray, bins: np.ndarray, num_bins: int, num_classes: int,
                        strength: float) -> tuple[np.ndarray, np.ndarray]:
    """(p(class | bin) as a (num_bins, classes) table, p(class)), over the images whose bin is known (> 0)."""
    labels, bins = np.asarray(labels, int), np.asarray(bins, int)
    known = bins > 0
    prior = np.bincount(labels[known], minlength=num_classes).astype(float)
    prior = (prior + 1.0) / (prior.sum() + num_classes)  # no class at exactly zero
    counts = np.zeros((num_bins, num_classes))
    np.add.at(counts, (bins[known] - 1, labels[known]), 1.0)
    given = (counts + strength * prior) / (counts.sum(axis=1, keepdims=True) + strength)
    return given, prior


def reweight(probabilities: np.ndarray, bins: np.ndarray, class_given_bin: np.ndarray,
             class_prior: np.ndarray) -> np.ndarray:
    """Image probabilities times p(c | bin) / p(c), renormalised; rows with bin 0 are returned unchanged."""
    probabilities, bins = np.asarray(probabilities, float), np.asarray(bins, int)
    ratio = np.ones_like(probabilities)
    known = bins > 0
    ratio[known] = class_given_bin[bins[known] - 1] / class_prior
    fused = probabilities * ratio
    return fused / fused.sum(axis=1, keepdims=True)


def read_prior_file(path: str, labels) -> dict:
    """A saved prior's JSON, refused when it was fitted for other labels than the model's."""
    with open(path) as f:
        saved = json.load(f)
    if saved["labels"] != list(labels):
        raise ValueError(f"{path}: its labels {saved['labels']} are not the model's {list(labels)}")
    return saved
