"""The trainer's headline scores of one split, per image and per observation (pure numpy)."""

from __future__ import annotations

import numpy as np
from sklearn import metrics

from pyck_classifier.posthoc.observations import per_observation


def split_scores(labels: np.ndarray, probabilities: np.ndarray, observation_ids: np.ndarray) -> dict:
    """accuracy, balanced accuracy and cross-entropy per image; accuracy and balanced accuracy per observation."""
    labels = np.asarray(labels, int)
    predicted = probabilities.argmax(axis=1)
    chosen = np.clip(probabilities[np.arange(len(labels)), labels], 1e-7, 1.0)
    obs_labels, obs_probabilities = per_observation(labels, probabilities, observation_ids)
    obs_predicted = obs_probabilities.argmax(axis=1)
    return {
        "examples": int(len(labels)),
        "accuracy": float(metrics.accuracy_score(labels, predicted)),
        "balanced_accuracy": float(metrics.balanced_accuracy_score(labels, predicted)),
        "loss": float(-np.log(chosen).mean()),
        "observations": int(len(obs_labels)),
        "per_observation_accuracy": float(metrics.accuracy_score(obs_labels, obs_predicted)),
        "per_observation_balanced_accuracy": float(metrics.balanced_accuracy_score(obs_labels, obs_predicted)),
    }
