"""pyck_eval's pure parts: metrics, stacking without test labels, Grad-CAM localisation, segmentation, image files."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from PIL import Image
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import Pipeline
from xgboost import XGBClassifier

from pyck_classifier.model.backbones.registry import _BACKBONES, register_backbone
from pyck_classifier.model.classifier import build_classifier
from pyck_classifier.model.image_preprocessing import read_image_file
from pyck_classifier.posthoc import scores
from pyck_eval import classification_metrics as cm
from pyck_eval import colour_segmentation, faithfulness, feature_models, integrated_gradients, stacking
from pyck_eval.grad_cam import GradCam


def test_per_observation_averages_probabilities_of_its_images():
    labels = np.array([0, 0, 1, 1])
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7]])
    obs_labels, obs_probabilities = cm.per_observation(labels, probabilities, np.array([7, 7, 3, 3]))
    assert obs_labels.tolist() == [0, 1]
    np.testing.assert_allclose(obs_probabilities, [[0.55, 0.45], [0.35, 0.65]])
    assert cm.summary(obs_labels, obs_probabilities, ["a", "b"])["accuracy"] == 1.0  # per image it is 0.75
    with pytest.raises(ValueError, match="different labels"):
        cm.per_observation(np.array([0, 1]), probabilities[:2], np.array([5, 5]))


def test_a_splits_scores_count_observations_as_finds_not_photos():
    labels, observations = np.array([0, 0, 1, 1]), np.array([7, 7, 3, 3])
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7]])  # one photo of 4 wrong
    recorded = scores.split_scores(labels, probabilities, observations, ["a", "b"])
    assert (recorded["examples"], recorded["accuracy"]) == (4, 0.75)
    assert (recorded["observations"], recorded["per_observation_accuracy"]) == (2, 1.0)
    assert recorded["per_observation"]["examples"] == 2 and recorded["per_observation"]["accuracy"] == 1.0
    assert recorded["loss"] == pytest.approx(-np.log([0.9, 0.2, 0.6, 0.7]).mean())
    # Macro F1 is the mean of the classes' F1, whatever their sizes: a: 2/3 (P 1, R 1/2), b: 4/5 (P 2/3, R 1).
    assert recorded["per_image"]["macro_f1"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert recorded["per_image"]["balanced_accuracy"] == pytest.approx((1 / 2 + 1) / 2)


def test_classifiers_on_features_never_fit_on_test_rows(monkeypatch):
    """Every fit (the plain ones, the grid search's folds and its refit) sees train rows, or train+validation rows
    for the grid search's refit; a test row carries a marker column that none of them may see."""
    rng = np.random.default_rng(0)
    splits = {}
    for marker, (name, size) in enumerate([("train", 60), ("validation", 30), ("test", 30)]):
        labels = np.arange(size) % 3
        features = rng.normal(0, 1, (size, 5)) + labels[:, None]
        splits[name] = (np.column_stack([features, np.full(size, float(marker))]), labels)
    seen = []
    for cls in (Pipeline, XGBClassifier):
        real_fit = cls.fit
        monkeypatch.setattr(cls, "fit", lambda self, x, y, *a, _fit=real_fit, **k: (
            seen.append(set(np.asarray(x)[:, -1])), _fit(self, x, y, *a, **k))[1])
    searched = feature_models.grid_search_on_validation(feature_models.svc(), {"svc__C": [0.1, 1.0]},
                                                        splits["train"], splits["validation"])
    table, _ = feature_models.compare({"svc": feature_models.svc(), "lr": feature_models.logistic_regression(),
                                       "xgboost": feature_models.xgboost(n_estimators=5), "searched": searched},
                                      splits, ["a", "b", "c"])
    assert seen.count({0.0}) == 2 + 3 and seen.count({0.0, 1.0}) == 1 and len(seen) == 6, seen
    assert table["test_accuracy"].between(0.5, 1.0).all()  # the features separate the classes


def test_confused_pairs_and_worst_mistakes():
    labels = np.array([0, 0, 0, 1, 2, 2])
    probabilities = np.array([[.8, .1, .1], [.2, .7, .1], [.3, .6, .1], [.1, .8, .1], [.9, .07, .03], [.1, .1, .8]])
    matrix = cm.confusion(labels, probabilities.argmax(1), 3)
    pairs = cm.most_confused_pairs(matrix, ["a", "b", "c"])
    assert pairs.iloc[0][["true", "predicted", "count"]].tolist() == ["a", "b", 2]
    assert cm.worst_mistakes(labels, probabilities).tolist() == [4, 1, 2]  # wrong ones, most confident first
    summary = cm.summary(labels, probabilities, ["a", "b", "c"])
    assert summary["accuracy"] == pytest.approx(3 / 6) and summary["top_2_accuracy"] == pytest.approx(5 / 6)


class _Spy(ClassifierMixin, BaseEstimator):
    """A meta-learner that records what it is fitted on."""

    fits: list = []

    def __init__(self, **params):
        self.params = params

    def get_params(self, deep=True):
        return dict(self.params)

    def set_params(self, **params):
        self.params.update(params)
        return self

    def fit(self, x, y):
        _Spy.fits.append((x.copy(), y.copy()))
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, x):
        return np.full((len(x), 3), 1 / 3)

    def predict(self, x):
        return np.zeros(len(x), int)


def test_stacking_fits_on_validation_labels_only():
    rng = np.random.default_rng(0)
    validation = [rng.dirichlet(np.ones(3), 30) for _ in range(2)]
    validation_labels = np.arange(30) % 3
    test = [rng.dirichlet(np.ones(3), 12) for _ in range(2)]
    _Spy.fits = []
    learners = {"spy": _Spy(), **stacking.meta_learners()}
    predictions = stacking.stack(validation, validation_labels, test, learners)
    assert len(_Spy.fits) == 1
    fitted_x, fitted_y = _Spy.fits[0]
    np.testing.assert_array_equal(fitted_y, validation_labels)
    np.testing.assert_array_equal(fitted_x, np.concatenate(validation, axis=1))
    assert all(p.shape == (12, 3) for p in predictions.values())
    np.testing.assert_allclose(predictions["average of the models (no fit)"], (test[0] + test[1]) / 2)
    with pytest.raises(ValueError, match="no validation example"):
        stacking.stack(validation, np.zeros(30, int), test, learners)


def test_stacking_scores_each_combination_on_validation_photos_it_was_not_fitted_on():
    rng = np.random.default_rng(1)
    validation = [rng.dirichlet(np.ones(3), 30) for _ in range(2)]
    validation_labels = np.arange(30) % 3
    _Spy.fits = []
    held_out = stacking.held_out_on_validation(validation, validation_labels, {"spy": _Spy()}, folds=5)
    inputs = np.concatenate(validation, axis=1)
    assert len(_Spy.fits) == 5  # one fit per fold, none on the whole split
    fitted_rows = [{tuple(r) for r in x} for x, _ in _Spy.fits]
    assert all(len(rows) == 24 for rows in fitted_rows)  # 30 photos, 6 held out per fold
    left_out = set.union(*({tuple(r) for r in inputs} - rows for rows in fitted_rows))
    assert len(left_out) == 30  # every photo is predicted by a fit that did not see it
    assert held_out["spy"].shape == (30, 3)
    np.testing.assert_allclose(held_out["average of the models (no fit)"], (validation[0] + validation[1]) / 2)
    one_photo_class = np.r_[np.zeros(29, int), 1]  # one photo in a class: no folds, no estimate
    assert stacking.held_out_on_validation(validation, one_photo_class, {"spy": _Spy()})["spy"] is None


TINY = (48, 64, 3)


@pytest.fixture(scope="module")
def corner_classifier() -> keras.Model:
    """A tiny CNN trained to tell a red square (class 0) from a blue one (class 1), wherever they sit."""
    if "test_tiny_cnn" not in _BACKBONES:
        @register_backbone("test_tiny_cnn", last_conv_layer="last_conv", block_pattern=None)
        def _tiny(weights, input_shape):
            inputs = keras.Input(input_shape)
            x = keras.layers.Rescaling(1 / 255.0)(inputs)
            x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(x)
            x = keras.layers.MaxPooling2D(4)(x)
            x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="last_conv")(x)
            return keras.Model(inputs, x)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 40, (240, *TINY)).astype(np.float32)
    labels = np.arange(240) % 2
    for image, label in zip(images, labels):
        top, left = rng.integers(0, TINY[0] - 12), rng.integers(0, TINY[1] - 12)
        image[top:top + 12, left:left + 12] = (230, 20, 20) if label == 0 else (20, 20, 230)
    keras.utils.set_random_seed(0)
    model = build_classifier("test_tiny_cnn", 2, weights="none", head="gap", input_shape=TINY)
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(images, labels, epochs=15, batch_size=32, verbose=0)
    assert model.evaluate(images, labels, verbose=0)[1] > 0.95
    return model


@pytest.mark.parametrize("plus", [False, True])
@pytest.mark.parametrize("corner", ["top_left", "bottom_right"])
def test_grad_cam_peaks_where_the_class_evidence_is(corner_classifier, plus, corner):
    image = np.full((1, *TINY), 10.0, np.float32)
    if corner == "top_left":
        image[0, 2:14, 2:14] = (230, 20, 20)  # the red square (class 0)
    else:
        image[0, -14:-2, -14:-2] = (230, 20, 20)
    cam = GradCam(corner_classifier, "test_tiny_cnn")
    heatmaps, probabilities = cam.heatmaps(image, np.array([0]), plus=plus)
    assert heatmaps.shape == (1, 12, 16)  # the last conv map at 48x64 / 4
    assert heatmaps.min() >= 0.0 and heatmaps.max() == pytest.approx(1.0)
    row, col = np.unravel_index(heatmaps[0].argmax(), heatmaps[0].shape)
    in_quadrant = (row < 6 and col < 8) if corner == "top_left" else (row >= 6 and col >= 8)
    assert in_quadrant, heatmaps[0].round(2)
    assert probabilities[0, 0] > 0.5


def red_square_photo(top: int = 20, left: int = 30) -> np.ndarray:
    image = np.full(TINY, 10.0, np.float32)
    image[top:top + 12, left:left + 12] = (230, 20, 20)  # the red square (class 0)
    return image


@pytest.mark.parametrize("baseline", ["black", "blur"])
def test_integrated_gradients_are_complete_and_sit_on_the_evidence(corner_classifier, baseline):
    logits = integrated_gradients.logits_model(corner_classifier)
    image = red_square_photo()
    reference = integrated_gradients.baseline_of(image, baseline)
    coarse = integrated_gradients.integrated_gradients(logits, image, reference, 0, steps=4)
    fine = integrated_gradients.integrated_gradients(logits, image, reference, 0, steps=128)
    assert fine.completeness_gap < 0.01 and fine.completeness_gap <= coarse.completeness_gap
    assert fine.pixels.sum() == pytest.approx(fine.logit_difference, rel=0.01)
    evidence = fine.map()
    assert evidence[20:32, 30:42].sum() > 0.5 * np.abs(evidence).sum()  # most of it on the square
    with pytest.raises(ValueError, match="unknown baseline"):
        integrated_gradients.baseline_of(image, "white")
    # On a model linear in its pixels the gradient is the same all along the path: exact with any number of steps.
    inputs = keras.Input(TINY)
    linear = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
    exact = integrated_gradients.integrated_gradients(linear, image, reference, 1, steps=2)
    assert exact.pixels.sum() == pytest.approx(exact.logit_difference, rel=1e-4, abs=1e-3)


@pytest.mark.parametrize("backbone", ["mobilenet_v3_small", "efficientnet_b0", "efficientnet_lite0", "resnet50"])
def test_every_map_reaches_a_registry_backbone(backbone):
    """Grad-CAM over the nested base, IG and SHAP over the whole classifier: one map per photo, IG complete."""
    from pyck_eval.shap_explanations import ShapSettings, shap_maps

    model = build_classifier(backbone, 3, weights="none", head="gap", input_shape=(64, 64, 3))
    images = np.random.default_rng(0).uniform(0, 255, (3, 64, 64, 3)).astype(np.float32)
    logits = integrated_gradients.logits_model(model)
    predicted = np.asarray(logits(images[:2])).argmax(axis=1)
    maps = shap_maps(logits, images[:2], images[1:], predicted, ShapSettings(2, 4, 0))
    assert maps.shape == (2, 64, 64) and np.isfinite(maps).all()
    if backbone == "mobilenet_v3_small":  # a class that is not the largest logit: computed for every class
        other = shap_maps(logits, images[:2], images[1:], (predicted + 1) % 3, ShapSettings(2, 4, 0))
        assert other.shape == (2, 64, 64) and np.abs(other - maps).max() > 0.1 * np.abs(maps).max()  # (tiny: untrained)
    attribution = integrated_gradients.integrated_gradients(logits, images[0], np.zeros((64, 64, 3)), 0, steps=8)
    assert attribution.map().shape == (64, 64) and np.isfinite(attribution.pixels).all()
    assert GradCam(model, backbone).heatmaps(images[:1])[0].ndim == 3


def test_deletion_falls_faster_for_a_map_on_the_evidence_than_for_a_random_order():
    image, reference = red_square_photo(), np.full(TINY, 10.0, np.float32)

    def score(images: np.ndarray) -> np.ndarray:  # the class-0 "probability" is the red share of the square
        red = (images[:, 20:32, 30:42, 0] > 100).mean(axis=(1, 2))
        return np.stack([red, 1 - red], axis=1)

    on_square = np.zeros(TINY[:2])
    on_square[20:32, 30:42] = 1.0
    ranking = faithfulness.pixel_ranking(on_square, TINY[:2])
    assert set(ranking[:144]) == {r * TINY[1] + c for r in range(20, 32) for c in range(30, 42)}
    coarse = faithfulness.pixel_ranking(on_square[::4, ::4], TINY[:2])  # a conv map's size, resized to the photo
    assert np.isin(coarse[:36], ranking[:144]).all()  # its peak: inside the square
    mapped = faithfulness.curves(score, image, reference, ranking, 0, steps=24)
    shuffled = faithfulness.curves(score, image, reference, faithfulness.random_ranking(TINY[:2], 0), 0, steps=24)
    assert mapped["deletion"][0] == 1.0 and mapped["deletion"][-1] == 0.0 and mapped["insertion"][-1] == 1.0
    assert mapped["deletion_auc"] < 0.05 < 0.4 < shuffled["deletion_auc"]
    assert mapped["insertion_auc"] > 0.9 > 0.6 > shuffled["insertion_auc"]
    assert faithfulness.area_under(np.linspace(0, 1, 11)) == pytest.approx(0.5)


def test_grad_cam_reaches_the_nested_registry_backbone_and_names_wrong_layers():
    model = build_classifier("efficientnet_lite0", 3, weights="none", head="dense:8", input_shape=(240, 320, 3))
    cam = GradCam(model, "efficientnet_lite0")
    images = np.random.default_rng(0).uniform(0, 255, (2, 240, 320, 3)).astype(np.float32)
    heatmaps, probabilities = cam.heatmaps(images)
    assert heatmaps.shape == (2, 8, 10)
    np.testing.assert_allclose(probabilities, model.predict(images, verbose=0), atol=1e-5)
    with pytest.raises(ValueError, match="top_conv"):
        GradCam(model, layer="no_such_layer")


def test_background_removal_keeps_the_centre_object():
    image = np.zeros((40, 60, 3), np.uint8)
    image[:] = (30, 120, 30)
    image[12:28, 22:38] = (240, 120, 20)
    segments = colour_segmentation.kmeans_segments(image, clusters=2)
    kept = colour_segmentation.remove_background(image, segments)
    assert (kept[20, 30] == (240, 120, 20)).all() and (kept[2, 2] == 255).all()


def test_read_image_file_applies_exif_orientation_and_names_bad_files(tmp_path):
    upright = np.zeros((20, 40, 3), np.uint8)
    upright[:, :20] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: viewers turn it 90 degrees clockwise
    Image.fromarray(np.rot90(upright, k=1)).save(tmp_path / "rotated.png", exif=exif)
    restored = read_image_file(str(tmp_path / "rotated.png"))
    assert restored.shape == (20, 40, 3) and restored[:, :20].mean() > 200 and restored[:, 20:].mean() < 50
    (tmp_path / "bad.jpg").write_bytes(b"<html>not an image</html>")
    with pytest.raises(ValueError, match="bad.jpg"):
        read_image_file(str(tmp_path / "bad.jpg"))


def test_photos_group_into_observations_by_folder_or_csv(tmp_path):
    from pyck_eval.photo_groups import observation_of

    files = [str(tmp_path / "a" / "1.jpg"), str(tmp_path / "a" / "2.jpg"), str(tmp_path / "b" / "3.jpg")]
    assert observation_of(files, "none") == files
    assert observation_of(files, "folder") == [str(tmp_path / "a")] * 2 + [str(tmp_path / "b")]
    csv = tmp_path / "obs.csv"
    csv.write_text("file,observation\na/1.jpg,x\nb/3.jpg,x\na/2.jpg,y\n")
    assert observation_of(files, "csv", str(csv)) == ["x", "y", "x"]
    csv.write_text("file,observation\na/1.jpg,x\n")
    with pytest.raises(ValueError, match=r"no observation for .*2\.jpg \(and 1 more"):
        observation_of(files, "csv", str(csv))


def test_report_tables_show_counts_as_integers_and_leave_out_the_accuracy_row(tmp_path):
    from pyck_eval.index_page import write_index

    labels, probabilities = np.array([0, 0, 1, 1, 1]), np.eye(2)[[0, 1, 1, 1, 1]]
    result = {"per_image": cm.summary(labels, probabilities, ["a", "b"])}
    per_class = cm.per_class_table(result["per_image"]["per_class"], ["a", "b"])
    assert per_class.index.tolist() == ["a", "b", "macro avg", "weighted avg"]
    assert per_class["support"].tolist() == [2, 3, 5, 5] and per_class["support"].dtype == int
    headline = cm.headline_table(result, ["per_image"])
    assert headline.loc["per_image", "examples"] == 5 and headline["examples"].dtype == int
    page = open(write_index(str(tmp_path), "t", [("h", headline), ("p", per_class)])).read()
    assert "<td>5</td>" in page and "5.0000" not in page and "<td>0.8000</td>" in page
