"""Scores that tell photos of the model's classes from photos of others: numpy and scikit-learn, no TensorFlow.

A softmax always answers with one of its classes, often at 0.99 on a family it never saw.
Three standard scores, each "higher = more likely out of class":
- `max_probability`: minus the top calibrated probability (Hendrycks & Gimpel 2017);
- `energy`: minus logsumexp of the logits (Liu et al. 2020);
- `mahalanobis`: the smallest squared Mahalanobis distance of the pooled CNN features to a
  class mean, with one shared covariance fitted on the training features (Lee et al. 2018);
  Ledoit-Wolf shrinkage keeps it invertible when features outnumber images.
A threshold keeps a chosen share of in-class photos (95 % by default, set on validation).
scikit-learn is imported when fitting and scoring, so `SCORES` costs nothing to flags.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.special import logsumexp, softmax

SCORES = ("max_probability", "energy", "mahalanobis")


@dataclasses.dataclass
class Mahalanobis:
    means: np.ndarray  # (classes, features)
    precision: np.ndarray  # (features, features), shared by the classes

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray, num_classes: int) -> Mahalanobis:
        features, labels = np.asarray(features, np.float64), np.asarray(labels, int)
        missing = sorted(set(range(num_classes)) - set(labels.tolist()))
        if missing:
            raise ValueError(f"classes {missing} have no training features: no class mean to measure distances to")
        means = np.stack([features[labels == c].mean(axis=0) for c in range(num_classes)])
        from sklearn.covariance import LedoitWolf

        covariance = LedoitWolf(assume_centered=True).fit(features - means[labels])
        return cls(means.astype(np.float32), covariance.precision_.astype(np.float32))

    def distance(self, features: np.ndarray) -> np.ndarray:
        """Squared distance to the nearest class mean, per row."""
        x = np.asarray(features, np.float64)
        precision, means = self.precision.astype(np.float64), self.means.astype(np.float64)
        projected = x @ precision
        squared = ((projected * x).sum(axis=1)[:, None] - 2 * projected @ means.T
                   + ((means @ precision) * means).sum(axis=1)[None, :])
        return squared.min(axis=1)


def outlyingness(score: str, *, logits: np.ndarray, features: np.ndarray, temperature: float,
                 mahalanobis: Mahalanobis | None, membership: np.ndarray | None = None) -> np.ndarray:
    """The named score per image; higher means more likely a class the model never learned.

    At a coarser level (`membership`: classes x taxa, `pyck_classifier.posthoc.taxonomy`) the top probability is
    the top taxon's summed one and `mahalanobis` holds the taxa's means; the energy of the logits is the same at
    every level.
    """
    if score == "max_probability":
        probabilities = softmax(np.asarray(logits, np.float64) / temperature, axis=1)
        return -(probabilities if membership is None else probabilities @ membership).max(axis=1)
    if score == "energy":
        return -logsumexp(np.asarray(logits, np.float64), axis=1)
    if score == "mahalanobis":
        if mahalanobis is None:
            raise ValueError("the mahalanobis score needs class means fitted on training features")
        return mahalanobis.distance(features)
    raise ValueError(f"unknown out-of-class score {score!r}: use one of {', '.join(SCORES)}")


def threshold_at_recall(in_class_scores: np.ndarray, recall: float = 0.95) -> float:
    """A score at or under which at least `recall` of the in-class photos fall (kept; the rest flagged).

    Halfway between the last photo kept and the first flagged, not on the last kept: a threshold equal to a photo's
    score flips that photo when its logits are recomputed with a last-bit difference (another batch, another run).
    """
    if not 0 < recall <= 1:
        raise ValueError(f"in-class recall must be in (0, 1], got {recall}")
    ordered = np.sort(np.asarray(in_class_scores, np.float64))
    kept = int(np.ceil(recall * len(ordered) - 1e-9))
    if kept >= len(ordered):
        return float(ordered[-1])
    return float((ordered[kept - 1] + ordered[kept]) / 2)


def auroc(in_class_scores: np.ndarray, out_scores: np.ndarray) -> float:
    """Probability that an out-of-class photo scores above an in-class one (0.5: no better than chance)."""
    labels = np.r_[np.zeros(len(in_class_scores)), np.ones(len(out_scores))]
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, np.r_[in_class_scores, out_scores]))
