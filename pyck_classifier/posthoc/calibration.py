"""How far a trained model's answers can be trusted: a temperature and an out-of-class detector, saved beside it.

Fitted once at the end of training, never on test: the temperature and the thresholds on the
validation split, the class means and covariance of the Mahalanobis score on the training
split's pooled features. `calibration.json` holds the scalars (and what fitting them
changed), `calibration_mahalanobis.npz` the means and precision matrix. Report, predict
and the exported SavedModel read them from here.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
from scipy.special import softmax

from pyck_classifier.posthoc import out_of_class, temperature_scaling
from pyck_classifier.posthoc.out_of_class import Mahalanobis
from pyck_classifier.run import run_directory

FILE_NAME = run_directory.CALIBRATION
MAHALANOBIS_FILE = run_directory.CALIBRATION_MAHALANOBIS
DEFAULT_SCORE = "mahalanobis"
IN_CLASS_RECALL = 0.95


@dataclasses.dataclass
class Calibration:
    temperature: float
    score: str  # the out-of-class score predict uses
    thresholds: dict[str, float]  # per score: above it, a photo is flagged as out of class
    mahalanobis: Mahalanobis
    summary: dict = dataclasses.field(default_factory=dict)
    in_class_recall: float = IN_CLASS_RECALL

    @classmethod
    def fit(cls, *, train_features: np.ndarray, train_labels: np.ndarray, validation_logits: np.ndarray,
            validation_features: np.ndarray, validation_labels: np.ndarray, num_classes: int,
            score: str = DEFAULT_SCORE, in_class_recall: float = IN_CLASS_RECALL) -> Calibration:
        """Temperature and thresholds on validation, Mahalanobis statistics on train."""
        if score not in out_of_class.SCORES:
            raise ValueError(f"unknown out-of-class score {score!r}: use one of {', '.join(out_of_class.SCORES)}")
        probabilities = softmax(np.asarray(validation_logits, np.float64), axis=1)
        temperature = temperature_scaling.fit_temperature(validation_labels, probabilities)
        mahalanobis = Mahalanobis.fit(train_features, train_labels, num_classes)
        thresholds = {
            name: out_of_class.threshold_at_recall(out_of_class.outlyingness(
                name, logits=validation_logits, features=validation_features, temperature=temperature,
                mahalanobis=mahalanobis), in_class_recall)
            for name in out_of_class.SCORES}
        scaled = temperature_scaling.scale(probabilities, temperature)
        summary = {
            "fitted_on": "validation (temperature, thresholds); train (Mahalanobis means and covariance)",
            "validation_examples": int(len(validation_labels)), "train_examples": int(len(train_labels)),
            "validation_nll_before": temperature_scaling.negative_log_likelihood(validation_labels, probabilities),
            "validation_nll_after": temperature_scaling.negative_log_likelihood(validation_labels, scaled),
            "validation_ece_before": temperature_scaling.expected_calibration_error(validation_labels, probabilities),
            "validation_ece_after": temperature_scaling.expected_calibration_error(validation_labels, scaled),
        }
        return cls(temperature, score, thresholds, mahalanobis, summary, in_class_recall)

    def calibrated(self, probabilities: np.ndarray) -> np.ndarray:
        return temperature_scaling.scale(probabilities, self.temperature)

    def outlyingness(self, logits: np.ndarray, features: np.ndarray, score: str | None = None) -> np.ndarray:
        return out_of_class.outlyingness(score or self.score, logits=logits, features=features,
                                         temperature=self.temperature, mahalanobis=self.mahalanobis)

    def is_out_of_class(self, outlyingness: np.ndarray, score: str | None = None) -> np.ndarray:
        return np.asarray(outlyingness) > self.thresholds[score or self.score]

    def save(self, model_dir: str, labels: list[str]) -> None:
        with open(os.path.join(model_dir, FILE_NAME), "w") as f:
            json.dump({"labels": labels, "temperature": self.temperature, "out_of_class_score": self.score,
                       "in_class_recall": self.in_class_recall, "thresholds": self.thresholds,
                       **self.summary}, f, indent=2)
        np.savez(os.path.join(model_dir, MAHALANOBIS_FILE), means=self.mahalanobis.means,
                 precision=self.mahalanobis.precision)

    @classmethod
    def load(cls, model_dir: str, labels: list[str]) -> Calibration | None:
        """The run's calibration; None for a run trained before pyck fitted one."""
        path = os.path.join(model_dir, FILE_NAME)
        if not os.path.exists(path):
            return None
        with open(path) as f:
            saved = json.load(f)
        if saved["labels"] != list(labels):
            raise ValueError(f"{path} was fitted for the labels {saved['labels']}, not this model's {labels}")
        with np.load(os.path.join(model_dir, MAHALANOBIS_FILE)) as stats:
            mahalanobis = Mahalanobis(stats["means"], stats["precision"])
        summary = {k: v for k, v in saved.items()
                   if k not in ("labels", "temperature", "out_of_class_score", "in_class_recall", "thresholds")}
        return cls(float(saved["temperature"]), saved["out_of_class_score"], saved["thresholds"], mahalanobis,
                   summary, float(saved["in_class_recall"]))
