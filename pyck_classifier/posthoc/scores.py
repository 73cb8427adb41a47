"""The scores of one split, per image and per observation: the one implementation behind the trainer's
metrics.json and `pyck_eval report`'s, so the two files agree field for field (pure numpy/scikit-learn)."""

from __future__ import annotations

import numpy as np
from sklearn import metrics

from pyck_classifier.posthoc.observations import per_observation


def summary(labels: np.ndarray, probabilities: np.ndarray, class_names: list[str]) -> dict:
    """accuracy, balanced accuracy, macro F1, top-2/top-3 accuracy and the per-class report."""
    classes = np.arange(len(class_names))
    predicted = probabilities.argmax(axis=1)
    result = {
        "examples": int(len(labels)),
        "accuracy": float(metrics.accuracy_score(labels, predicted)),
        "balanced_accuracy": float(metrics.balanced_accuracy_score(labels, predicted)),
        "macro_f1": float(metrics.f1_score(labels, predicted, average="macro", labels=classes, zero_division=0)),
    }
    for k in (2, 3):
        if k < len(class_names):
            result[f"top_{k}_accuracy"] = float(metrics.top_k_accuracy_score(labels, probabilities, k=k,
                                                                              labels=classes))
    result["per_class"] = metrics.classification_report(labels, predicted, labels=classes, target_names=class_names,
                                                        output_dict=True, zero_division=0)
    return result


def per_image_and_observation(labels: np.ndarray, probabilities: np.ndarray, observation_ids: np.ndarray,
                              class_names: list[str]) -> dict:
    """{"per_image": summary, "per_observation": summary of each observation's mean probabilities}."""
    labels = np.asarray(labels, int)
    return {"per_image": summary(labels, probabilities, class_names),
            "per_observation": summary(*per_observation(labels, probabilities, observation_ids), class_names)}


def split_scores(labels: np.ndarray, probabilities: np.ndarray, observation_ids: np.ndarray,
                 class_names: list[str]) -> dict:
    """The trainer's record of a split: the headline numbers and the cross-entropy, then both summaries."""
    labels = np.asarray(labels, int)
    chosen = np.clip(probabilities[np.arange(len(labels)), labels], 1e-7, 1.0)
    blocks = per_image_and_observation(labels, probabilities, observation_ids, class_names)
    images, observations = blocks["per_image"], blocks["per_observation"]
    return {
        "examples": images["examples"],
        "accuracy": images["accuracy"],
        "balanced_accuracy": images["balanced_accuracy"],
        "loss": float(-np.log(chosen).mean()),
        "observations": observations["examples"],
        "per_observation_accuracy": observations["accuracy"],
        "per_observation_balanced_accuracy": observations["balanced_accuracy"],
        **blocks,
    }
