"""How far a trained model's answers can be trusted: a temperature and an out-of-class detector, saved beside it.

Fitted once at the end of training, never on test: the temperature and the thresholds on the
validation split, the class means and covariance of the Mahalanobis score on the training
split's pooled features. `calibration.json` holds the scalars (and what fitting them
changed), `calibration_mahalanobis.npz` the means and precision matrix. Report, predict
and the exported SavedModel read them from here.

A run with a taxonomy (a species or genus run) gets one detector per coarser level too:
thresholds on validation at that level for the summed top probability (the default check
there, so a photo of an unknown species can still be in class at genus level), the energy,
and the Mahalanobis distance to each genus's (family's) mean over its classes' training
features, with the covariance around them.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
from scipy.special import softmax

from pyck_classifier.posthoc import out_of_class, temperature_scaling
from pyck_classifier.posthoc.out_of_class import Mahalanobis
from pyck_classifier.posthoc.taxonomy import Taxonomy
from pyck_classifier.run import run_directory

FILE_NAME = run_directory.CALIBRATION
MAHALANOBIS_FILE = run_directory.CALIBRATION_MAHALANOBIS
DEFAULT_SCORE = "mahalanobis"
# A photo of a species the model never learned lies far from every species' features, its genus's mean included,
# yet its genus can be sure: above the classes' level the default check is the summed probability.
COARSER_SCORE = "max_probability"
IN_CLASS_RECALL = 0.95


@dataclasses.dataclass
class LevelDetector:
    """The out-of-class detector of one coarser level: its taxa's Mahalanobis statistics and thresholds."""
    mahalanobis: Mahalanobis
    thresholds: dict[str, float]


def _thresholds(logits, features, temperature, mahalanobis, recall, membership=None) -> dict[str, float]:
    return {name: out_of_class.threshold_at_recall(out_of_class.outlyingness(
        name, logits=logits, features=features, temperature=temperature, mahalanobis=mahalanobis,
        membership=membership), recall) for name in out_of_class.SCORES}


@dataclasses.dataclass
class Calibration:
    temperature: float
    score: str  # the out-of-class score predict uses
    thresholds: dict[str, float]  # per score: above it, a photo is flagged as out of class
    mahalanobis: Mahalanobis
    summary: dict = dataclasses.field(default_factory=dict)
    in_class_recall: float = IN_CLASS_RECALL
    taxonomy: Taxonomy | None = None
    levels: dict[str, LevelDetector] = dataclasses.field(default_factory=dict)  # per coarser level

    @classmethod
    def fit(cls, *, train_features: np.ndarray, train_labels: np.ndarray, validation_logits: np.ndarray,
            validation_features: np.ndarray, validation_labels: np.ndarray, num_classes: int,
            score: str = DEFAULT_SCORE, in_class_recall: float = IN_CLASS_RECALL,
            taxonomy: Taxonomy | None = None) -> Calibration:
        """Temperature and thresholds on validation, Mahalanobis statistics on train; per coarser level of
        `taxonomy` too."""
        if score not in out_of_class.SCORES:
            raise ValueError(f"unknown out-of-class score {score!r}: use one of {', '.join(out_of_class.SCORES)}")
        probabilities = softmax(np.asarray(validation_logits, np.float64), axis=1)
        temperature = temperature_scaling.fit_temperature(validation_labels, probabilities)
        mahalanobis = Mahalanobis.fit(train_features, train_labels, num_classes)
        thresholds = _thresholds(validation_logits, validation_features, temperature, mahalanobis, in_class_recall)
        levels = {}
        for level in (taxonomy.parents if taxonomy else ()):
            taxa = Mahalanobis.fit(train_features, taxonomy.label_at(train_labels, level),
                                   len(taxonomy.names(level)))
            levels[level] = LevelDetector(taxa, _thresholds(validation_logits, validation_features, temperature, taxa,
                                                            in_class_recall, taxonomy.membership(level)))
        scaled = temperature_scaling.scale(probabilities, temperature)
        summary = {
            "fitted_on": "validation (temperature, thresholds); train (Mahalanobis means and covariance)",
            "validation_examples": int(len(validation_labels)), "train_examples": int(len(train_labels)),
            "validation_nll_before": temperature_scaling.negative_log_likelihood(validation_labels, probabilities),
            "validation_nll_after": temperature_scaling.negative_log_likelihood(validation_labels, scaled),
            "validation_ece_before": temperature_scaling.expected_calibration_error(validation_labels, probabilities),
            "validation_ece_after": temperature_scaling.expected_calibration_error(validation_labels, scaled),
        }
        return cls(temperature, score, thresholds, mahalanobis, summary, in_class_recall, taxonomy, levels)

    def calibrated(self, probabilities: np.ndarray) -> np.ndarray:
        return temperature_scaling.scale(probabilities, self.temperature)

    def _at(self, level: str | None) -> tuple[Mahalanobis, dict[str, float], np.ndarray | None]:
        """The detector of `level`: None for the classes' own, else a coarser level of `levels`."""
        if level is None:
            return self.mahalanobis, self.thresholds, None
        if level not in self.levels:
            raise ValueError(f"this calibration has no out-of-class detector at {level} level")
        return self.levels[level].mahalanobis, self.levels[level].thresholds, self.taxonomy.membership(level)

    def outlyingness(self, logits: np.ndarray, features: np.ndarray, score: str | None = None,
                     level: str | None = None) -> np.ndarray:
        mahalanobis, _, membership = self._at(level)
        return out_of_class.outlyingness(self._score(score, level), logits=logits, features=features,
                                         temperature=self.temperature, mahalanobis=mahalanobis, membership=membership)

    def is_out_of_class(self, outlyingness: np.ndarray, score: str | None = None, level: str | None = None
                        ) -> np.ndarray:
        return np.asarray(outlyingness) > self._at(level)[1][self._score(score, level)]

    def _score(self, score: str | None, level: str | None) -> str:
        """The score asked for; by default the run's at the classes' level and `COARSER_SCORE` above it."""
        return score or (self.score if level is None else COARSER_SCORE)

    def save(self, model_dir: str, labels: list[str]) -> None:
        levels = {level: {"thresholds": detector.thresholds} for level, detector in self.levels.items()}
        with open(os.path.join(model_dir, FILE_NAME), "w") as f:
            json.dump({"labels": labels, "temperature": self.temperature, "out_of_class_score": self.score,
                       "in_class_recall": self.in_class_recall, "thresholds": self.thresholds,
                       **({"levels": levels} if levels else {}), **self.summary}, f, indent=2)
        per_level = {f"{level}_{name}": getattr(detector.mahalanobis, name)
                     for level, detector in self.levels.items() for name in ("means", "precision")}
        np.savez(os.path.join(model_dir, MAHALANOBIS_FILE), means=self.mahalanobis.means,
                 precision=self.mahalanobis.precision, **per_level)

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
        taxonomy = Taxonomy.load(model_dir, labels)
        with np.load(os.path.join(model_dir, MAHALANOBIS_FILE)) as stats:
            mahalanobis = Mahalanobis(stats["means"], stats["precision"])
            levels = {level: LevelDetector(Mahalanobis(stats[f"{level}_means"], stats[f"{level}_precision"]),
                                           saved["levels"][level]["thresholds"])
                      for level in saved.get("levels", {}) if taxonomy is not None}
        summary = {k: v for k, v in saved.items()
                   if k not in ("labels", "temperature", "out_of_class_score", "in_class_recall", "thresholds",
                                "levels")}
        return cls(float(saved["temperature"]), saved["out_of_class_score"], saved["thresholds"], mahalanobis,
                   summary, float(saved["in_class_recall"]), taxonomy, levels)
