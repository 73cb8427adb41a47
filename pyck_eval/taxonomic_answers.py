"""How a species (genus) run does at every level of its taxonomy: pure numpy and pandas, the tables `report` shows.

Accuracy per level from the summed probabilities; the taxonomic distance of each wrong answer
(wrong species of the right genus is a smaller mistake than a wrong family); and the back-off
answers (`pyck_classifier.posthoc.back_off`) over a range of `min_confidence`: how many photos
each level answers, and how many of those answers are right.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pyck_classifier.posthoc.back_off import back_off
from pyck_classifier.posthoc.observations import per_observation
from pyck_classifier.posthoc.taxonomy import Taxonomy

THRESHOLDS = tuple(np.round(np.arange(0.0, 1.0, 0.05), 2))  # the back-off curve's min_confidence values


def accuracy_per_level(taxonomy: Taxonomy, labels: np.ndarray, probabilities: np.ndarray,
                       observation_ids: np.ndarray) -> pd.DataFrame:
    """Per level: its taxa, and the accuracy of the top taxon of the summed probabilities per image and per
    observation (the mean of its photos')."""
    rows = []
    for level in taxonomy.levels:
        truth, summed = taxonomy.label_at(labels, level), taxonomy.probabilities(probabilities, level)
        observed_truth, observed = per_observation(truth, summed, observation_ids)
        rows.append({"level": level, "taxa": len(taxonomy.names(level)),
                     "accuracy": float((summed.argmax(axis=1) == truth).mean()),
                     "per_observation_accuracy": float((observed.argmax(axis=1) == observed_truth).mean())})
    return pd.DataFrame(rows).set_index("level")


def taxonomic_errors(taxonomy: Taxonomy, labels: np.ndarray, predicted: np.ndarray) -> pd.DataFrame:
    """Photos by how far the top class is from the truth: right, then wrong at the classes' level but right at
    each coarser one (finest first), then wrong at every level."""
    labels, predicted = np.asarray(labels, int), np.asarray(predicted, int)
    outcome = np.where(labels == predicted, f"right {taxonomy.level}", "")
    for level in taxonomy.parents:
        same = taxonomy.label_at(labels, level) == taxonomy.label_at(predicted, level)
        outcome = np.where((outcome == "") & same, f"wrong {taxonomy.level}, right {level}", outcome)
    outcome = np.where(outcome == "", f"wrong {taxonomy.levels[-1]}" if taxonomy.parents else f"wrong {taxonomy.level}",
                       outcome)
    order = [f"right {taxonomy.level}", *(f"wrong {taxonomy.level}, right {level}" for level in taxonomy.parents)]
    order.append(f"wrong {taxonomy.levels[-1]}" if taxonomy.parents else f"wrong {taxonomy.level}")
    counts = pd.Series(outcome).value_counts().reindex(order, fill_value=0)
    return pd.DataFrame({"photos": counts.astype(int), "share": counts / max(len(labels), 1)}).rename_axis("outcome")


def back_off_curve(taxonomy: Taxonomy, labels: np.ndarray, probabilities: np.ndarray,
                   out_of_class: dict[str, np.ndarray] | None = None,
                   thresholds: tuple[float, ...] = THRESHOLDS) -> pd.DataFrame:
    """One row per min_confidence: the share of photos answered at each level, unsure and out of class, and the
    accuracy of the answers (each against the truth at its own level), overall and per level."""
    truth = {level: np.array(taxonomy.names(level), dtype=object)[taxonomy.label_at(labels, level)]
             for level in taxonomy.levels}
    rows = []
    for threshold in thresholds:
        answers = back_off(taxonomy, probabilities, float(threshold), out_of_class)
        row = {"min_confidence": float(threshold)}
        right = np.zeros(len(answers), bool)
        for level in taxonomy.levels:
            at_level = (answers["level"] == level).to_numpy()
            correct = at_level & (answers["taxon"].to_numpy() == truth[level])
            right |= correct
            row[f"answered_{level}"] = float(at_level.mean())
            row[f"accuracy_{level}"] = float(correct.sum() / at_level.sum()) if at_level.any() else np.nan
        answered = (answers["verdict"] == "answer").to_numpy()
        row["unsure"] = float((answers["verdict"] == "unsure").mean())
        row["out_of_class"] = float((answers["verdict"] == "out_of_class").mean())
        row["accuracy"] = float(right.sum() / answered.sum()) if answered.any() else np.nan
        rows.append(row)
    return pd.DataFrame(rows).set_index("min_confidence")
