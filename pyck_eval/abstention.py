"""Answer only when confident enough: accuracy against coverage (the share of photos answered). Pure numpy/pandas.

With a threshold t on the top calibrated probability, photos under t get "unsure" instead of
an answer. Raising t trades coverage for accuracy; the curve shows how much of one buys the other.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def answered(probabilities: np.ndarray, min_confidence: float) -> np.ndarray:
    """True where the top probability reaches `min_confidence` (0 answers everything)."""
    return np.asarray(probabilities).max(axis=1) >= min_confidence


def coverage_curve(labels: np.ndarray, probabilities: np.ndarray) -> pd.DataFrame:
    """For each distinct confidence t (descending): the coverage and accuracy of answering only at >= t."""
    confidence = np.asarray(probabilities).max(axis=1)
    correct = (np.asarray(probabilities).argmax(axis=1) == np.asarray(labels)).astype(float)
    order = np.argsort(-confidence, kind="stable")
    confidence, correct = confidence[order], correct[order]
    last_of_tie = np.r_[confidence[1:] != confidence[:-1], True]  # ties are answered together
    answered_count = np.arange(1, len(confidence) + 1)[last_of_tie]
    return pd.DataFrame({"min_confidence": confidence[last_of_tie],
                         "coverage": answered_count / max(len(confidence), 1),
                         "accuracy": np.cumsum(correct)[last_of_tie] / answered_count})


def threshold_for_accuracy(labels: np.ndarray, probabilities: np.ndarray, target: float) -> float | None:
    """The lowest min_confidence whose answered photos reach `target` accuracy (most coverage); None if none does."""
    curve = coverage_curve(labels, probabilities)
    reaching = curve[curve["accuracy"] >= target]
    return float(reaching["min_confidence"].iloc[-1]) if len(reaching) else None


def at_threshold(labels: np.ndarray, probabilities: np.ndarray, min_confidence: float) -> dict:
    """Coverage and accuracy of the answered photos at one threshold (accuracy None when nothing is answered)."""
    kept = answered(probabilities, min_confidence)
    correct = np.asarray(probabilities).argmax(axis=1) == np.asarray(labels)
    return {"min_confidence": float(min_confidence), "coverage": float(kept.mean()) if len(kept) else 0.0,
            "answered": int(kept.sum()), "accuracy": float(correct[kept].mean()) if kept.any() else None}
