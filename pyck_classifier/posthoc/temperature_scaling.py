"""Temperature scaling (Guo et al. 2017) and the expected calibration error: numpy and scipy, no TensorFlow.

A network trained with cross-entropy is usually over-confident: among the photos it gives 0.95,
fewer than 95 % are right. One scalar T, fitted on the validation split by minimising the
negative log-likelihood, rescales the logits (z / T) without ever changing the top class.
The model's outputs are probabilities, and log p differs from the logits by a constant per
image, so scaling log p is the same operation (and also applies to averaged TTA outputs).

When validation has no mistake, the likelihood alone drives T to 0 (every answer becomes
certain); a standard normal prior on log T (the fit is a MAP estimate) keeps T finite there
and is negligible once validation holds a few hundred images with mistakes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

_FLOOR = 1e-30  # log(0) guard for float32 probabilities that underflowed


def scale(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T): the probabilities a temperature T gives; T = 1 returns them (renormalised)."""
    return softmax(np.log(np.maximum(np.asarray(probabilities, np.float64), _FLOOR)) / temperature, axis=1)


def negative_log_likelihood(labels: np.ndarray, probabilities: np.ndarray, temperature: float = 1.0) -> float:
    log_p = log_softmax(np.log(np.maximum(np.asarray(probabilities, np.float64), _FLOOR)) / temperature, axis=1)
    return float(-log_p[np.arange(len(labels)), np.asarray(labels, int)].mean())


def fit_temperature(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """The T in [0.05, 20] that minimises the summed negative log-likelihood of `labels` plus (log T)^2 / 2."""
    if not len(labels):
        raise ValueError("temperature scaling needs at least one labelled example")

    def objective(log_t: float) -> float:
        return len(labels) * negative_log_likelihood(labels, probabilities, float(np.exp(log_t))) + 0.5 * log_t ** 2

    result = minimize_scalar(objective, bounds=(np.log(0.05), np.log(20.0)), method="bounded",
                             options={"xatol": 1e-4})
    return float(np.exp(result.x))


def reliability_bins(labels: np.ndarray, probabilities: np.ndarray, bins: int = 15) -> pd.DataFrame:
    """Per equal-width confidence bin: examples, mean confidence and accuracy of the top class (empty bins left out)."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(labels)
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    table = pd.DataFrame({"bin": index, "confidence": confidence, "accuracy": correct.astype(float)})
    grouped = table.groupby("bin").agg(examples=("accuracy", "size"), confidence=("confidence", "mean"),
                                       accuracy=("accuracy", "mean")).reset_index()
    grouped["lower"] = grouped["bin"] / bins
    return grouped[["lower", "examples", "confidence", "accuracy"]]


def expected_calibration_error(labels: np.ndarray, probabilities: np.ndarray, bins: int = 15) -> float:
    """Sum over confidence bins of |accuracy - confidence| weighted by the bin's share of examples."""
    table = reliability_bins(labels, probabilities, bins)
    if table.empty:
        return 0.0
    weights = table["examples"] / table["examples"].sum()
    return float((weights * (table["accuracy"] - table["confidence"]).abs()).sum())
