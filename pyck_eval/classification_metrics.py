"""Classification metrics from labels and probabilities: pure numpy/pandas/scikit-learn, no TensorFlow.

Per image and per observation: a user identifies an observation (several photos of one find),
so its images' probabilities are averaged before taking the top family.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics

from pyck_classifier.posthoc.observations import per_observation  # noqa: F401  (re-exported for eval's commands)
from pyck_classifier.posthoc.scores import summary  # noqa: F401  (the one summary, shared with the trainer)


def confusion(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    return metrics.confusion_matrix(labels, predicted, labels=np.arange(num_classes))


def most_confused_pairs(matrix: np.ndarray, class_names: list[str], top: int = 5) -> pd.DataFrame:
    """The largest off-diagonal cells: true family, predicted family, count, share of the true family."""
    rows = [(class_names[t], class_names[p], int(matrix[t, p]), matrix[t, p] / max(matrix[t].sum(), 1))
            for t in range(len(matrix)) for p in range(len(matrix)) if t != p and matrix[t, p] > 0]
    table = pd.DataFrame(rows, columns=["true", "predicted", "count", "share_of_true"])
    return table.sort_values(["count", "true", "predicted"], ascending=[False, True, True]).head(top).reset_index(
        drop=True)


def worst_mistakes(labels: np.ndarray, probabilities: np.ndarray, top: int = 16) -> np.ndarray:
    """Indices of wrong predictions, most confident first."""
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    confidence = probabilities[wrong, predicted[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")][:top]


def headline_table(result: dict, levels: list[str]) -> pd.DataFrame:
    """One row per level (per image, per observation, ...): counts as integers, scores as fractions."""
    table = pd.DataFrame({level: {k: v for k, v in result[level].items() if k != "per_class"}
                          for level in levels}).T
    return table.astype({"examples": int})


def per_class_table(report: dict, names: list[str]) -> pd.DataFrame:
    """scikit-learn's report per class and its averages; support as an integer count (its accuracy row is left out:
    the headline has it)."""
    table = pd.DataFrame({name: report[name] for name in [*names, "macro avg", "weighted avg"] if name in report}).T
    return table.astype({"support": int})
