"""Taxonomy-aware answers, quick: summed probabilities, back-off at the thresholds' edges, per-level detectors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pyck_classifier.posthoc.back_off import back_off
from pyck_classifier.posthoc.calibration import Calibration
from pyck_classifier.posthoc.taxonomy import Taxonomy
from pyck_eval import taxonomic_answers

SPECIES = ["Amanita muscaria", "Amanita pantherina", "Boletus edulis", "Russula emetica", "Xerocomellus dryophilus"]
GENUS = ["Amanita", "Amanita", "Boletus", "Russula", "Xerocomellus"]
FAMILY = ["Amanitaceae", "Amanitaceae", "Boletaceae", "Russulaceae", "Boletaceae"]


def taxonomy() -> Taxonomy:
    records = pd.DataFrame({"label": [0, 1, 2, 3, 4, 0, 2], "genus": GENUS + ["Amanita", "Boletus"],
                            "family": FAMILY + ["Amanitaceae", "Boletaceae"]})
    return Taxonomy.from_records(SPECIES, "species", records)


def test_the_map_is_read_from_the_records_and_a_disagreeing_record_is_outvoted_and_counted():
    records = pd.DataFrame({"label": [0, 0, 0, 1, 2, 2], "genus": ["A", "A", "B", "C", "D", ""],
                            "family": ["F", "F", "G", "F", "G", "G"]})
    found = Taxonomy.from_records(["a1", "c1", "d1"], "species", records)
    assert found.parents == {"genus": ("A", "C", "D"), "family": ("F", "F", "G")}
    assert found.conflicts(records) == {"genus": 1, "family": 1}  # the empty genus is no disagreement
    with pytest.raises(ValueError, match="no record of d1 names its genus"):
        Taxonomy.from_records(["a1", "c1", "d1"], "species", records.assign(genus=["A", "A", "B", "C", "", ""]))
    assert Taxonomy.from_records(["f", "g"], "family", records).levels == ("family",)  # nothing above family
    assert Taxonomy.from_records(["a", "c"], "genus", records.iloc[:4]).parents == {"family": ("F", "F")}


def test_summed_probabilities_match_a_hand_computation_and_sum_to_one_at_every_level():
    tax = taxonomy()
    p = np.array([[0.1, 0.2, 0.3, 0.15, 0.25], [0.5, 0.4, 0.05, 0.03, 0.02]])
    assert tax.names("genus") == ["Amanita", "Boletus", "Russula", "Xerocomellus"]
    np.testing.assert_allclose(tax.probabilities(p, "genus"), [[0.3, 0.3, 0.15, 0.25], [0.9, 0.05, 0.03, 0.02]])
    assert tax.names("family") == ["Amanitaceae", "Boletaceae", "Russulaceae"]
    np.testing.assert_allclose(tax.probabilities(p, "family"), [[0.3, 0.55, 0.15], [0.9, 0.07, 0.03]])
    for level in tax.levels:
        np.testing.assert_allclose(tax.probabilities(p, level).sum(axis=1), 1.0)
    np.testing.assert_array_equal(tax.label_at([4, 0, 3], "family"), [1, 0, 2])
    assert Taxonomy.from_json(tax.to_json()) == tax


def test_back_off_answers_at_the_finest_level_that_reaches_the_threshold_exactly_at_its_edges():
    tax = taxonomy()
    p = np.array([[0.5, 0.25, 0.125, 0.0625, 0.0625],  # species 0.5, genus Amanita 0.75, family 0.75
                  [0.25, 0.25, 0.25, 0.0, 0.25],  # species 0.25, genus Amanita 0.5, family Boletaceae 0.5
                  [0.125, 0.125, 0.25, 0.25, 0.25]])  # species 0.25, genus 0.25 each, family Boletaceae 0.5
    at = {t: back_off(tax, p, t) for t in (0.0, 0.25, 0.5, 0.5000001, 0.75, 0.7500001)}
    assert list(at[0.0]["level"]) == ["species"] * 3
    assert list(at[0.25]["taxon"]) == ["Amanita muscaria", "Amanita muscaria", "Boletus edulis"]  # first of a tie
    assert list(at[0.5]["level"]) == ["species", "genus", "family"]
    assert list(at[0.5]["taxon"]) == ["Amanita muscaria", "Amanita", "Boletaceae"]
    assert list(at[0.5000001]["level"]) == ["genus", "", ""]
    assert list(at[0.5000001]["verdict"]) == ["answer", "unsure", "unsure"]
    assert list(at[0.75]["taxon"]) == ["Amanita", "", ""] and at[0.75]["probability"][0] == 0.75
    assert list(at[0.7500001]["verdict"]) == ["unsure"] * 3
    assert list(back_off(tax, p, 0.5, levels=("species",))["verdict"]) == ["answer", "unsure", "unsure"]


def test_an_out_of_class_level_is_passed_and_every_level_flagged_is_out_of_class():
    tax = taxonomy()
    p = np.tile([[0.9, 0.05, 0.03, 0.01, 0.01]], (3, 1))
    flags = {"species": np.array([True, True, True]), "genus": np.array([False, True, True]),
             "family": np.array([False, False, True])}
    decided = back_off(tax, p, 0.5, flags)
    assert list(decided["verdict"]) == ["answer", "answer", "out_of_class"]
    assert list(decided["level"]) == ["genus", "family", ""]
    assert list(decided["taxon"]) == ["Amanita", "Amanitaceae", ""]
    assert decided["own_level_out_of_class"].all()
    unchecked = back_off(tax, p, 0.5, {"species": flags["species"]})  # no detector above species: no check there
    assert list(unchecked["level"]) == ["genus"] * 3


def test_coarser_levels_get_their_own_mahalanobis_means_and_thresholds_saved_beside_the_run(tmp_path):
    tax = taxonomy()
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 4, (5, 6))
    train_labels = np.repeat(np.arange(5), 40)
    train_features = centres[train_labels] + rng.normal(0, 1, (200, 6))
    validation_labels = np.repeat(np.arange(5), 20)
    validation_features = centres[validation_labels] + rng.normal(0, 1, (100, 6))
    logits = np.eye(5)[validation_labels] * 3 + rng.normal(0, 1, (100, 5))
    calibration = Calibration.fit(train_features=train_features, train_labels=train_labels,
                                  validation_logits=logits, validation_features=validation_features,
                                  validation_labels=validation_labels, num_classes=5, taxonomy=tax)
    assert set(calibration.levels) == {"genus", "family"}
    family = calibration.levels["family"].mahalanobis
    boletaceae = train_features[np.isin(train_labels, [2, 4])].mean(axis=0)  # Boletus and Xerocomellus photos
    np.testing.assert_allclose(family.means[1], boletaceae, rtol=1e-5)
    summed = -(np.exp(logits / calibration.temperature) / np.exp(logits / calibration.temperature).sum(1,
               keepdims=True) @ tax.membership("genus")).max(axis=1)
    np.testing.assert_allclose(calibration.outlyingness(logits, validation_features, "max_probability", "genus"),
                               summed)
    np.testing.assert_allclose(calibration.outlyingness(logits, validation_features, level="genus"), summed)
    np.testing.assert_array_equal(calibration.outlyingness(logits, validation_features),  # the run's score below
                                  calibration.outlyingness(logits, validation_features, "mahalanobis"))
    kept = ~calibration.is_out_of_class(calibration.outlyingness(logits, validation_features, level="family"),
                                        level="family")
    assert kept.mean() >= calibration.in_class_recall
    tax.save(str(tmp_path))
    calibration.save(str(tmp_path), SPECIES)
    loaded = Calibration.load(str(tmp_path), SPECIES)
    assert loaded.taxonomy == tax and loaded.levels["genus"].thresholds == calibration.levels["genus"].thresholds
    np.testing.assert_array_equal(loaded.levels["family"].mahalanobis.means, family.means)
    with pytest.raises(ValueError, match="no out-of-class detector at order level"):
        loaded.outlyingness(logits, validation_features, level="order")


def test_the_report_tables_count_each_mistake_at_its_taxonomic_distance_and_the_back_off_curve_adds_up():
    tax = taxonomy()
    labels = np.array([0, 0, 0, 0, 2])
    predicted = np.array([0, 1, 4, 2, 2])  # right; right genus; wrong family; right family; right
    errors = taxonomic_answers.taxonomic_errors(tax, labels[[0, 1, 2, 3, 4]], predicted)
    assert errors["photos"].to_dict() == {"right species": 2, "wrong species, right genus": 1,
                                          "wrong species, right family": 0, "wrong family": 2}
    labels = np.array([0, 2, 3])
    p = np.array([[0.4, 0.4, 0.1, 0.05, 0.05], [0.1, 0.0, 0.3, 0.0, 0.6], [0.0, 0.0, 0.0, 1.0, 0.0]])
    accuracy = taxonomic_answers.accuracy_per_level(tax, labels, p, np.array([1, 2, 3]))
    assert accuracy["accuracy"].round(6).to_dict() == {"species": round(2 / 3, 6), "genus": round(2 / 3, 6),
                                                       "family": 1.0}
    curve = taxonomic_answers.back_off_curve(tax, labels, p, thresholds=(0.0, 0.5, 0.85))
    shares = curve[[c for c in curve if c.startswith("answered_")] + ["unsure", "out_of_class"]].sum(axis=1)
    np.testing.assert_allclose(shares, 1.0)
    # 0.5: muscaria 0.4 → Amanita 0.8 (right); the bolete: Xerocomellus 0.6 at species (wrong); Russula right.
    assert curve.loc[0.5, "answered_genus"] == pytest.approx(1 / 3) and curve.loc[0.5, "accuracy"] == pytest.approx(
        2 / 3)
    # 0.85: the bolete's Boletaceae 0.9 at family (right); the Amanita's 0.8 is unsure.
    assert curve.loc[0.85, "answered_family"] == pytest.approx(1 / 3) and curve.loc[0.85, "unsure"] == pytest.approx(
        1 / 3) and curve.loc[0.85, "accuracy"] == 1.0


class _Detector:
    """A calibration whose check flags a score above 0 at every level."""

    @staticmethod
    def is_out_of_class(score, name=None, level=None):
        return np.asarray(score) > 0


def test_predict_answers_each_photo_and_observation_at_its_level_with_each_levels_check():
    from pyck_eval.tasks.predict import PredictOptions, _answers_of, _Outputs

    tax = taxonomy()
    rows = {"a.jpg": np.array([0.9, 0.05, 0.03, 0.01, 0.01]), "b.jpg": np.array([0.3, 0.3, 0.2, 0.1, 0.1]),
            "c.jpg": np.array([0.5, 0.25, 0.125, 0.0625, 0.0625]), "d.jpg": np.array([0.1, 0.1, 0.7, 0.05, 0.05])}
    scores = {"a.jpg": np.array([1.0, -1.0, -1.0]), "b.jpg": np.array([-1.0, -1.0, -1.0]),
              "c.jpg": np.array([1.0, 1.0, 1.0]), "d.jpg": np.array([-1.0, -1.0, -1.0])}
    outputs = _Outputs(SPECIES, "species", tax, rows, {}, scores, _Detector(), None, tax.levels)
    files = list(rows)
    answers = _answers_of(outputs, files, files, PredictOptions(min_confidence=0.6))
    assert [(a.verdict, a.answer and (a.answer["level"], a.answer["taxon"])) for a in answers] == [
        ("answer", ("genus", "Amanita")), ("answer", ("genus", "Amanita")), ("out_of_class", None),
        ("answer", ("species", "Boletus edulis"))]
    assert answers[0].out_of_class_at == ("species",)
    assert answers[0].to_json()["answer"]["probability"] == pytest.approx(0.95)
    assert [t["class"] for t in answers[0].coarser["family"]][:2] == ["Amanitaceae", "Boletaceae"]
    assert len(answers[0].top) == 3 and len(answers[3].top) == 3  # unsure of the species: their top 3 shown
    plain = _answers_of(outputs, files, files, PredictOptions(min_confidence=0.6, back_off=False))
    assert [a.verdict for a in plain] == ["out_of_class", "unsure", "out_of_class", "answer"] and not plain[0].coarser
    # One observation of a, b and d: the mean of the photos' probabilities and of each level's scores.
    together = _answers_of(outputs, ["a.jpg", "b.jpg", "d.jpg"], ["x", "x", "x"],
                           PredictOptions(min_confidence=0.55, group="folder"))
    assert together[0].observation == "x" and together[0].out_of_class_score == pytest.approx(-1 / 3)
    assert together[0].answer == {"level": "genus", "taxon": "Amanita", "probability": pytest.approx(1.75 / 3)}
