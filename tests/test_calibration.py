"""Temperature scaling, abstention and out-of-class scores on numbers whose answer is known (no TensorFlow)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.special import softmax

from pyck_classifier.posthoc import out_of_class, temperature_scaling
from pyck_classifier.posthoc.calibration import Calibration
from pyck_eval import abstention


def overconfident(n: int = 4000, classes: int = 5, sharpening: float = 3.0, seed: int = 0):
    """Labels drawn from a calibrated softmax, and that softmax's logits multiplied by `sharpening`."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (n, classes))
    labels = np.array([rng.choice(classes, p=p) for p in softmax(logits, axis=1)])
    return labels, logits, softmax(sharpening * logits, axis=1)


def test_temperature_scaling_recovers_the_sharpening_lowers_the_ece_and_keeps_every_argmax():
    labels, _, probabilities = overconfident()
    temperature = temperature_scaling.fit_temperature(labels, probabilities)
    scaled = temperature_scaling.scale(probabilities, temperature)
    before = temperature_scaling.expected_calibration_error(labels, probabilities)
    after = temperature_scaling.expected_calibration_error(labels, scaled)
    print(f"T={temperature:.3f} ECE {before:.3f} -> {after:.3f}")
    assert temperature == pytest.approx(3.0, rel=0.1)
    assert after < before / 3 and after < 0.03
    np.testing.assert_array_equal(scaled.argmax(axis=1), probabilities.argmax(axis=1))
    assert temperature_scaling.negative_log_likelihood(labels, scaled) < temperature_scaling.negative_log_likelihood(
        labels, probabilities)


def test_temperature_one_is_the_identity_and_a_calibrated_model_keeps_about_one():
    labels, logits, _ = overconfident(sharpening=1.0, seed=1)
    probabilities = softmax(logits, axis=1)
    np.testing.assert_allclose(temperature_scaling.scale(probabilities, 1.0), probabilities, atol=1e-12)
    assert temperature_scaling.fit_temperature(labels, probabilities) == pytest.approx(1.0, abs=0.1)


def test_ece_of_a_perfectly_confident_right_model_is_zero_and_of_a_wrong_one_is_its_confidence():
    probabilities = np.array([[0.9, 0.1], [0.9, 0.1], [0.2, 0.8]])
    assert temperature_scaling.expected_calibration_error(np.array([0, 0, 1]), np.eye(2)[[0, 0, 1]]) == 0.0
    # bins: 0.9 (two examples, both wrong) and 0.8 (one, wrong): (2 * 0.9 + 0.8) / 3
    assert temperature_scaling.expected_calibration_error(np.array([1, 1, 0]), probabilities) == pytest.approx(
        (2 * 0.9 + 0.8) / 3)


def test_abstention_at_zero_answers_everything_with_the_plain_accuracy():
    labels, _, probabilities = overconfident(n=500, seed=2)
    result = abstention.at_threshold(labels, probabilities, 0.0)
    assert result["coverage"] == 1.0 and result["answered"] == 500
    assert result["accuracy"] == pytest.approx((probabilities.argmax(axis=1) == labels).mean())
    curve = abstention.coverage_curve(labels, probabilities)
    assert curve["coverage"].iloc[-1] == 1.0 and curve["accuracy"].iloc[-1] == pytest.approx(result["accuracy"])


def test_the_threshold_for_a_target_accuracy_is_the_lowest_that_reaches_it():
    labels = np.array([0, 0, 1, 1, 0])
    probabilities = np.array([[0.95, 0.05], [0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    # by confidence: 0.95 right, 0.9 right, 0.8 wrong, 0.7 right, 0.6 right -> accuracies 1, 1, 2/3, 3/4, 4/5
    assert abstention.threshold_for_accuracy(labels, probabilities, 0.8) == 0.6
    assert abstention.threshold_for_accuracy(labels, probabilities, 0.9) == 0.9
    assert abstention.threshold_for_accuracy(labels[[2]], probabilities[[2]], 0.5) is None
    assert abstention.at_threshold(labels, probabilities, 0.99) == {"min_confidence": 0.99, "coverage": 0.0,
                                                                     "answered": 0, "accuracy": None}


def test_photos_of_equal_confidence_are_answered_together():
    """A threshold cannot answer one of two photos of the same confidence: ties share one point of the curve."""
    labels = np.array([0, 1, 0, 0])
    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.8, 0.2], [0.6, 0.4]])  # the 0.8 pair: one wrong, one right
    curve = abstention.coverage_curve(labels, probabilities)
    assert curve["min_confidence"].tolist() == [0.9, 0.8, 0.6]
    np.testing.assert_allclose(curve["coverage"], [0.25, 0.75, 1.0])
    np.testing.assert_allclose(curve["accuracy"], [1.0, 2 / 3, 3 / 4])
    assert abstention.threshold_for_accuracy(labels, probabilities, 0.8) == 0.9  # 0.8 answers both: 2/3; 0.6: 3/4


def clusters(rng, centres: np.ndarray, n: int, spread: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    labels = np.repeat(np.arange(len(centres)), n)
    return centres[labels] + rng.normal(0, spread, (len(labels), centres.shape[1])), labels


def test_mahalanobis_ranks_an_unseen_cluster_above_the_known_ones_with_more_features_than_images():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 3, (4, 200))
    train_x, train_y = clusters(rng, centres[:3], 40)  # 120 images, 200 features: shrinkage keeps it invertible
    known_x, _ = clusters(rng, centres[:3], 30)
    unseen_x, _ = clusters(rng, centres[3:], 30)
    mahalanobis = out_of_class.Mahalanobis.fit(train_x, train_y, 3)
    auroc = out_of_class.auroc(mahalanobis.distance(known_x), mahalanobis.distance(unseen_x))
    assert auroc > 0.99
    with pytest.raises(ValueError, match=r"classes \[2\] have no training features"):
        out_of_class.Mahalanobis.fit(train_x[train_y < 2], train_y[train_y < 2], 3)


def test_threshold_keeps_the_asked_share_and_auroc_is_half_for_identical_scores():
    scores = np.arange(100, dtype=float)
    threshold = out_of_class.threshold_at_recall(scores, 0.95)
    assert (scores <= threshold).mean() == 0.95
    assert threshold == 94.5, "halfway between the last kept and the first flagged, so recomputed logits do not flip"
    assert out_of_class.threshold_at_recall(np.arange(24.0), 0.95) == 22.5
    assert out_of_class.threshold_at_recall(np.arange(24.0), 1.0) == 23.0
    assert out_of_class.auroc(np.zeros(10), np.zeros(10)) == 0.5
    with pytest.raises(ValueError, match="in-class recall"):
        out_of_class.threshold_at_recall(scores, 0.0)


def test_energy_and_max_probability_follow_their_definitions():
    logits = np.array([[10.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    energy = out_of_class.outlyingness("energy", logits=logits, features=None, temperature=1.0, mahalanobis=None)
    np.testing.assert_allclose(energy, -np.log(np.exp(logits).sum(axis=1)))
    msp = out_of_class.outlyingness("max_probability", logits=logits, features=None, temperature=2.0,
                                    mahalanobis=None)
    np.testing.assert_allclose(msp, -softmax(logits / 2.0, axis=1).max(axis=1))
    assert msp[1] > msp[0]  # the uniform row is the more doubtful one
    with pytest.raises(ValueError, match="unknown out-of-class score"):
        out_of_class.outlyingness("entropy", logits=logits, features=None, temperature=1.0, mahalanobis=None)


def test_calibration_fits_on_validation_round_trips_and_checks_the_labels(tmp_path):
    rng = np.random.default_rng(1)
    centres = rng.normal(0, 3, (3, 16))
    train_x, train_y = clusters(rng, centres, 50)
    validation_x, validation_y = clusters(rng, centres, 20)
    validation_logits = validation_x @ centres.T / 16
    validation_y[::6] = (validation_y[::6] + 1) % 3  # some mistakes, so the fitted temperature stays finite
    fitted = Calibration.fit(train_features=train_x, train_labels=train_y, validation_logits=validation_logits,
                             validation_features=validation_x, validation_labels=validation_y, num_classes=3)
    assert fitted.summary["validation_nll_after"] <= fitted.summary["validation_nll_before"]
    on_train = out_of_class.Mahalanobis.fit(train_x, train_y, 3)  # the class means and covariance: train's
    np.testing.assert_array_equal(fitted.mahalanobis.means, on_train.means)
    np.testing.assert_array_equal(fitted.mahalanobis.precision, on_train.precision)
    assert fitted.temperature == temperature_scaling.fit_temperature(validation_y, softmax(validation_logits, axis=1))
    for score in out_of_class.SCORES:  # 95 % of the validation photos are kept by construction
        kept = ~fitted.is_out_of_class(fitted.outlyingness(validation_logits, validation_x, score), score)
        assert kept.mean() == pytest.approx(0.95, abs=1 / 60)
    fitted.save(str(tmp_path), ["a", "b", "c"])
    loaded = Calibration.load(str(tmp_path), ["a", "b", "c"])
    assert loaded.temperature == fitted.temperature and loaded.thresholds == fitted.thresholds
    np.testing.assert_allclose(loaded.outlyingness(validation_logits, validation_x),
                               fitted.outlyingness(validation_logits, validation_x), rtol=1e-4)
    assert Calibration.load(str(tmp_path / "elsewhere"), ["a"]) is None
    with pytest.raises(ValueError, match="fitted for the labels"):
        Calibration.load(str(tmp_path), ["a", "b", "x"])


def test_a_validation_split_without_mistakes_keeps_a_finite_temperature():
    logits = np.array([[4.0, 0.0], [0.0, 3.0], [5.0, 1.0], [1.0, 6.0]] * 25)
    labels = logits.argmax(axis=1)  # every answer right: the likelihood alone would send T to 0
    temperature = temperature_scaling.fit_temperature(labels, softmax(logits, axis=1))
    assert 0.2 < temperature < 1.0
    assert temperature_scaling.scale(softmax(logits, axis=1), temperature).max() < 1.0


def test_a_metadata_prior_choice_is_parsed_once_into_the_priors_it_names():
    from pyck_classifier.posthoc.binned_prior import METADATA_PRIORS, priors_named
    from pyck_train.config import TrainConfig

    assert [sorted(priors_named(choice)) for choice in METADATA_PRIORS] == [
        [], ["month"], ["location"], ["location", "month"]]
    with pytest.raises(ValueError, match="choose from none, month, location, month\\+location"):
        priors_named("month+weather")
    choices = next(f for f in dataclasses.fields(TrainConfig) if f.name == "metadata_prior").metadata["choices"]
    assert tuple(choices) == METADATA_PRIORS  # the trainer's flag offers the same list, not a copy of it
