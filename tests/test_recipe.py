"""The accuracy recipe's parts: augmentation, class weights, schedules, test-time augmentation, month prior."""

from __future__ import annotations

import os
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from pyck_classifier.data.input_pipeline import EpochSeeds, make_pipeline
from pyck_classifier.posthoc.month_prior import MonthPrior, months_of
from pyck_classifier.posthoc.test_time_augmentation import tta_views, with_tta
from pyck_train import optimization
from pyck_train.augmentation import batch_augmenter
from pyck_train.config import AUGMENTATIONS
from tests.conftest import assert_epochs_end_on_averages


def _encoded_images(count: int = 8, size=(24, 32)) -> tf.data.Dataset:
    """Records as `load_split` reads them (PNG, so the decoded pixels are the generated ones), and the images."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (count, *size, 3), dtype=np.uint8)
    records = [tf.train.Example(features=tf.train.Features(feature={
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[tf.io.encode_png(image).numpy()])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 4]))})).SerializeToString()
        for i, image in enumerate(images)]
    return tf.data.Dataset.from_tensor_slices(records), images


def _batches(ds: tf.data.Dataset) -> list[np.ndarray]:
    return [np.asarray(images) for images, _ in ds]


def test_augmentation_changes_training_batches_only():
    encoded, images = _encoded_images()
    augment = batch_augmenter("light", 4, mixup=0.2, seed=0)
    training = make_pipeline(encoded, image_size=(24, 32), training=True, batch_size=8, shuffle_buffer=1,
                             batch_transform=augment)
    first, second = (next(iter(training)) for _ in range(2))
    assert first[0].dtype == tf.float32 and first[1].shape == (8, 4)  # one-hot (mixed) labels
    assert not np.allclose(first[0], images) and not np.allclose(first[0], second[0])  # random, per epoch
    np.testing.assert_allclose(first[1].numpy().sum(axis=1), 1.0, atol=1e-6)

    evaluation = make_pipeline(encoded, image_size=(24, 32), training=False, batch_size=8)
    again = make_pipeline(encoded, image_size=(24, 32), training=False, batch_size=8)
    np.testing.assert_array_equal(_batches(evaluation)[0], images)  # evaluation sees the images as they are
    np.testing.assert_array_equal(_batches(evaluation)[0], _batches(again)[0])


@pytest.mark.parametrize("kind", [kind for kind in AUGMENTATIONS if kind != "none"])
def test_seeded_augmentation_repeats_run_to_run_and_on_resume(kind):
    """With `EpochSeeds` a training batch's augmentation is a function of (seed, epoch, batch): the same in
    two runs, and in a run resumed at epoch 1, although the map augments 8 batches in parallel."""
    encoded, _ = _encoded_images(count=64)

    def epochs(start: int, count: int) -> list[list[np.ndarray]]:
        seeds = EpochSeeds()
        seeds.epoch.assign(start)
        augment = batch_augmenter(kind, 4, mixup=0.2, cutmix=1.0, seed=0)
        pipeline = make_pipeline(encoded, image_size=(24, 32), training=True, batch_size=8, shuffle_buffer=64,
                                 batch_transform=augment, epoch_seeds=seeds)
        stream = iter(pipeline)
        return [[np.concatenate([np.ravel(t) for t in next(stream)]) for _ in range(8)] for _ in range(count)]

    first, again, resumed = epochs(0, 2), epochs(0, 2), epochs(1, 1)
    np.testing.assert_array_equal(np.stack(first[0]), np.stack(again[0]))
    np.testing.assert_array_equal(np.stack(first[1]), np.stack(again[1]))
    np.testing.assert_array_equal(np.stack(first[1]), np.stack(resumed[0]))
    assert not np.array_equal(np.stack(first[0]), np.stack(first[1]))


def test_no_augmentation_only_casts_and_one_hot_encodes():
    images = tf.constant(np.random.default_rng(1).integers(0, 256, (3, 8, 8, 3)), tf.uint8)
    out_images, out_labels = batch_augmenter("none", 3)(images, tf.constant([2, 0, 1]))
    np.testing.assert_array_equal(out_images.numpy(), images.numpy().astype(np.float32))
    np.testing.assert_array_equal(out_labels.numpy(), np.eye(3)[[2, 0, 1]])


class _WeightsSeen(keras.callbacks.Callback):
    """The model's weights after every training step, at every epoch's begin and end, and the validation loss."""

    def __init__(self):
        super().__init__()
        self.steps, self.begins, self.ends, self.val_losses = [], [], [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.begins.append(self.model.get_weights())

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append(self.model.get_weights())

    def on_epoch_end(self, epoch, logs=None):
        self.ends.append(self.model.get_weights())
        self.val_losses.append(logs["val_loss"])


def test_averaged_weights_are_what_validation_and_the_epoch_end_see_and_training_goes_on_from_the_trained():
    """--ema_momentum: at each epoch's end the model holds the moving average of the weights it trained (computed
    here by hand from the weights after every step), validation scored those, and the next epoch trains on
    from the trained weights."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 32)]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimization.build_optimizer("adam", 0.1, ema_momentum=0.5), loss="categorical_crossentropy")
    seen = _WeightsSeen()
    model.fit(x, y, batch_size=8, epochs=3, validation_data=(x, y), shuffle=False, verbose=0,
              callbacks=[*optimization.averaged_weights_callbacks(0.5), seen])
    trained = assert_epochs_end_on_averages(seen.steps, seen.ends, seen.val_losses, x, y, steps_per_epoch=4,
                                            momentum=0.5)  # 32 examples in batches of 8
    for begun, trained_before in zip(seen.begins[1:], trained):  # the next epoch starts from the trained weights
        for begun_weight, trained_weight in zip(begun, trained_before):
            np.testing.assert_allclose(begun_weight, trained_weight, rtol=1e-6)
    assert not np.allclose(seen.ends[-1][0], seen.steps[-1][0])


def test_taxonomy_loss_adds_the_coarser_levels_cross_entropy_as_computed_by_hand():
    """Species a, b of genus A and c of genus C, all of one family but c (--taxonomy_loss)."""
    genus = np.array([[1, 0], [1, 0], [0, 1]], np.float32)
    family = np.array([[1, 0], [1, 0], [0, 1]], np.float32)
    labels = np.array([[1, 0, 0], [0.7, 0, 0.3]], np.float32)  # the second mixed by MixUp
    probabilities = np.array([[0.2, 0.7, 0.1], [0.5, 0.3, 0.2]], np.float32)

    def cross_entropy(y, p, smoothing):
        y = y * (1 - smoothing) + smoothing / y.shape[1]
        return -(y * np.log(p)).sum(axis=1)

    for smoothing in (0.0, 0.1):
        loss = optimization.classification_loss(smoothing, (genus, family), 0.5, reduction=None)
        expected = cross_entropy(labels, probabilities, smoothing) + 0.5 * np.mean(
            [cross_entropy(labels @ m, probabilities @ m, smoothing) for m in (genus, family)], axis=0)
        np.testing.assert_allclose(np.asarray(loss(labels, probabilities)), expected, rtol=1e-5)
        restored = type(loss).from_config(loss.get_config())
        np.testing.assert_allclose(np.asarray(restored(labels, probabilities)), expected, rtol=1e-5)
    # The same species probability on the wrong species costs less within the right genus than across families.
    right_genus, wrong_family = np.array([[0.3, 0.6, 0.1]], np.float32), np.array([[0.3, 0.1, 0.6]], np.float32)
    loss = optimization.classification_loss(0.0, (genus, family), 1.0)
    assert float(loss(labels[:1], right_genus)) < float(loss(labels[:1], wrong_family))
    plain = optimization.classification_loss(0.0, (genus, family), 0.0)  # weight 0: the cross-entropy alone
    assert float(plain(labels[:1], right_genus)) == pytest.approx(float(plain(labels[:1], wrong_family)))


def test_balanced_class_weights():
    weights = optimization.class_weights("balanced", np.array([0, 0, 0, 1, 2, 2]), 3)
    assert weights == pytest.approx({0: 6 / (3 * 3), 1: 6 / (3 * 1), 2: 6 / (3 * 2)})
    assert optimization.class_weights("none", np.array([0, 1]), 2) is None
    with pytest.raises(ValueError, match=r"\[1\] have no training example"):
        optimization.class_weights("balanced", np.array([0, 2]), 3)


def test_cosine_schedule_warms_up_then_decays_to_zero():
    schedule = optimization.learning_rate("cosine", 1e-3, epochs=10, steps_per_epoch=10, warmup_epochs=2)
    rates = [float(schedule(step)) for step in (0, 10, 20, 60, 100)]
    assert rates[0] == 0.0 and rates[1] == pytest.approx(5e-4) and rates[2] == pytest.approx(1e-3)
    assert rates[2] > rates[3] > rates[4] and rates[4] == pytest.approx(0.0, abs=1e-9)
    assert optimization.learning_rate("constant", 1e-3, epochs=3, steps_per_epoch=5) == 1e-3
    decay = optimization.learning_rate("constant", 1e-3, epochs=3, steps_per_epoch=5, exponential_decay=0.5)
    assert float(decay(10)) == pytest.approx(2.5e-4)


def _small_classifier() -> keras.Model:
    keras.utils.set_random_seed(3)
    inputs = keras.Input((16, 20, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(keras.layers.Rescaling(1 / 255)(inputs))
    x = keras.layers.Flatten()(x)  # position-sensitive, so a mirror image gets other probabilities
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))


def test_flip_tta_of_a_symmetric_image_equals_no_tta():
    model = _small_classifier()
    rng = np.random.default_rng(0)
    half = rng.integers(0, 256, (2, 16, 10, 3)).astype(np.float32)
    symmetric = np.concatenate([half, half[:, :, ::-1]], axis=2)
    np.testing.assert_allclose(with_tta(model, "flip").predict_on_batch(symmetric), model.predict_on_batch(symmetric),
                               atol=1e-6)
    assert with_tta(model, "none") is model

    asymmetric = rng.integers(0, 256, (2, 16, 20, 3)).astype(np.float32)
    plain, mirrored = model.predict_on_batch(asymmetric), model.predict_on_batch(asymmetric[:, :, ::-1])
    assert not np.allclose(plain, mirrored)
    np.testing.assert_allclose(with_tta(model, "flip").predict_on_batch(asymmetric), (plain + mirrored) / 2,
                               atol=1e-6)
    views = tta_views(asymmetric, "flip_crops")
    assert len(views) == 4 and all(tuple(v.shape) == asymmetric.shape for v in views)
    np.testing.assert_allclose(with_tta(model, "flip_crops").predict_on_batch(asymmetric),
                               np.mean([model.predict_on_batch(v) for v in views], axis=0), atol=1e-6)


def test_months_of_dates():
    months = months_of(["2012-06-01 10:00:00", "2014-11-30", None, "", "not a date", b"2010-01-05 00:00:00"])
    assert months.tolist() == [6, 11, 0, 0, 0, 1]


def test_month_prior_is_a_no_op_without_dates_and_never_moves_undated_rows():
    prior = MonthPrior.fit(np.array([0, 0, 1, 1, 1]), np.array([6, 6, 11, 11, 0]), 2)
    probabilities = np.array([[0.6, 0.4], [0.3, 0.7], [0.5, 0.5]])
    np.testing.assert_array_equal(prior.apply(probabilities, np.zeros(3, int)), probabilities)
    fused = prior.apply(probabilities, np.array([6, 0, 11]))
    np.testing.assert_array_equal(fused[1], probabilities[1])
    assert fused[0, 0] > 0.6 and fused[2, 1] > 0.5  # June favours class 0, November class 1
    np.testing.assert_allclose(prior.apply(probabilities, np.array([3, 3, 3])), probabilities)  # month never seen
    december = MonthPrior.fit(np.array([0, 0, 0, 1]), np.array([12, 12, 12, 6]), 2)  # month 0 is not month 12
    np.testing.assert_array_equal(december.apply(probabilities, np.zeros(3, int)), probabilities)
    assert december.apply(probabilities, np.full(3, 12))[0, 0] > 0.6
    with pytest.raises(ValueError, match="no training image has a date"):
        MonthPrior.fit(np.array([0, 1]), np.array([0, 0]), 2)


def test_month_prior_is_bayes_rule_on_imbalanced_classes():
    """p(c | image, month) ~ p(c | image) p(c | month) / p(c): with unequal class sizes p(c) is not uniform, so
    dividing by it once, not twice or never, is what this checks (computed by hand)."""
    labels = np.array([0] * 6 + [1] * 2 + [0, 1, 1])  # class 0 is three times as common as class 1 in June
    months = np.array([6] * 8 + [11] * 3)
    prior = MonthPrior.fit(labels, months, 2, strength=4.0)
    class_prior = np.array([7 + 1, 4 + 1]) / (11 + 2)  # counts over the dated images, plus one each
    june_given, november_given = (np.array([6, 2]) + 4 * class_prior) / 12, (np.array([1, 2]) + 4 * class_prior) / 7
    np.testing.assert_allclose(prior.class_prior, class_prior)
    np.testing.assert_allclose(prior.class_given_month[[5, 10]], [june_given, november_given])
    image = np.array([[0.5, 0.5], [0.2, 0.8]])
    fused = prior.apply(image, np.array([6, 11]))
    june, november = image[0] * june_given / class_prior, image[1] * november_given / class_prior
    np.testing.assert_allclose(fused, [june / june.sum(), november / november.sum()])


def test_month_prior_round_trips_and_checks_the_labels(tmp_path):
    prior = MonthPrior.fit(np.array([0, 1, 1]), np.array([5, 9, 9]), 2)
    path = str(tmp_path / "month_prior.json")
    prior.to_json(path, ["a", "b"])
    loaded = MonthPrior.from_json(path, ["a", "b"])
    np.testing.assert_allclose(loaded.class_given_month, prior.class_given_month)
    with pytest.raises(ValueError, match="not the model's"):
        MonthPrior.from_json(path, ["b", "a"])


def test_month_prior_helps_on_the_seasonal_sample_dump(sample_dump, sample_filter):
    """Fitted on the train split's dates, it lifts a weak image model's test accuracy and log-likelihood."""
    from pyck_tfds.dump import load_dump

    examples = load_dump(sample_dump.out, sample_filter, seed=0).examples
    names = sorted(examples["class_name"].unique())
    labels = examples["class_name"].map({n: i for i, n in enumerate(names)}).to_numpy()
    months = months_of(examples["date"].astype(object))
    train, test = (examples["split"] == "train").to_numpy(), (examples["split"] == "test").to_numpy()
    prior = MonthPrior.fit(labels[train], months[train], len(names))

    rng = np.random.default_rng(0)  # an image model right about half the time
    logits = 1.5 * np.eye(len(names))[labels[test]] + rng.normal(0, 1.2, (test.sum(), len(names)))
    image = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    fused = prior.apply(image, months[test])

    def scores(p):
        return (p.argmax(1) == labels[test]).mean(), np.log(p[np.arange(len(p)), labels[test]]).mean()

    (image_accuracy, image_loglik), (fused_accuracy, fused_loglik) = scores(image), scores(fused)
    print(f"test accuracy image {image_accuracy:.3f} -> with month prior {fused_accuracy:.3f}")
    assert fused_accuracy >= image_accuracy + 0.05 and fused_loglik > image_loglik


def test_each_phase_gets_its_rate_times_the_replicas_and_partial_decays_per_epoch():
    from pyck_train.config import TrainConfig
    from pyck_train.strategies import phases
    from pyck_train.train import _phase_epochs_and_rate

    config = TrainConfig(model_dir="unused", learning_rate=1e-3, fine_tune_learning_rate=1e-4, epochs=4,
                         fine_tune_epochs=6, lr_decay_rate=0.9)
    head, finetune = phases("freeze_then_finetune")
    assert _phase_epochs_and_rate(config, head, replicas=2, steps=5) == (4, pytest.approx(2e-3))
    assert _phase_epochs_and_rate(config, finetune, replicas=2, steps=5) == (6, pytest.approx(2e-4))
    epochs, schedule = _phase_epochs_and_rate(config, phases("partial")[0], replicas=2, steps=5)
    assert epochs == 4 and [float(schedule(step)) for step in (0, 5, 10)] == pytest.approx([2e-3, 1.8e-3, 1.62e-3])


def test_fine_tuning_reduces_the_rate_on_plateau_and_stops_early_on_its_best_weights(tmp_path):
    import types

    from pyck_classifier.data.input_pipeline import EpochSeeds
    from pyck_classifier.run.run_directory import RunDirectory
    from pyck_train.cluster import SINGLE, Role
    from pyck_train.config import TrainConfig
    from pyck_train.strategies import phases
    from pyck_train.train import _callbacks

    config = TrainConfig(model_dir=str(tmp_path), reduce_lr_patience=2, early_stopping_patience=3)
    run = types.SimpleNamespace(config=config, directory=RunDirectory(str(tmp_path)), role=SINGLE, multi_worker=False,
                                data=types.SimpleNamespace(epoch_seeds=EpochSeeds()))
    head, finetune = phases("freeze_then_finetune")
    kinds = {type(c).__name__: c for c in _callbacks(run, "1_finetune", finetune, "best.weights.h5", plateau=True)}
    plateau, stopping = kinds["ReduceLROnPlateau"], kinds["EarlyStopping"]
    assert (plateau.monitor, plateau.factor, plateau.patience) == ("val_loss", 0.1, 2)
    assert (stopping.monitor, stopping.patience, stopping.restore_best_weights) == ("val_accuracy", 3, True)
    assert {"EpochBackup", "BestCheckpoint", "CSVLogger", "TensorBoard", "EpochSeeds"} <= set(kinds)
    listed = _callbacks(run, "1_finetune", finetune, "best.weights.h5", plateau=True)
    assert type(listed[-1]).__name__ == "EpochBackup"  # after every callback that writes at an epoch's end
    assert listed[-1].counted == [c for c in listed if type(c).__name__ in ("ReduceLROnPlateau", "EarlyStopping")]
    assert len(listed[-1].counted) == 2 and listed[-1].write
    scheduled = {type(c).__name__ for c in _callbacks(run, "1_finetune", finetune, "b.weights.h5", plateau=False)}
    assert "ReduceLROnPlateau" not in scheduled and "EarlyStopping" in scheduled  # a schedule sets every step
    assert not {"ReduceLROnPlateau", "EarlyStopping"} & {
        type(c).__name__ for c in _callbacks(run, "0_head", head, "b.weights.h5", plateau=True)}
    # A worker that is not the chief restores the chief's backup, writes nothing, keeps its best weights in memory.
    worker = types.SimpleNamespace(**{**vars(run), "role": Role("worker", 1, 2), "multi_worker": True})
    listed = _callbacks(worker, "1_finetune", finetune, "b.weights.h5", plateau=True)
    assert {type(c).__name__ for c in listed} == {"EpochBackup", "EpochSeeds", "BestWeightsInMemory",
                                                  "ReduceLROnPlateau", "EarlyStopping"} and not listed[-1].write


def test_location_cells_and_prior():
    from pyck_classifier.posthoc.location_prior import LocationPrior, cells_of, num_cells

    cells = cells_of(np.array([-90.0, 89.99, 45.0, np.nan, 45.0, 95.0]), np.array([-180.0, 179.99, 5.0, 5.0, 365.0,
                                                                                    0.0]))
    assert cells[0] == 1 and cells[1] == num_cells() == 648
    assert cells[2] == cells[4] > 0, "longitude wraps around"
    assert cells[3] == 0 and cells[5] == 0, "unknown or impossible coordinates"
    lat, lng = np.array([45.0, 45.0, 45.0, -30.0, np.nan]), np.array([5.0, 6.0, 7.0, 150.0, 0.0])
    prior = LocationPrior.fit(np.array([0, 0, 0, 1, 1]), lat, lng, 2)
    fused = prior.apply(np.full((3, 2), 0.5), np.array([45.0, -30.0, np.nan]), np.array([5.0, 150.0, np.nan]))
    assert fused[0, 0] > 0.5 > fused[1, 0] and fused[2].tolist() == [0.5, 0.5]
    path = os.path.join(tempfile.mkdtemp(), "location_prior.json")
    prior.to_json(path, ["a", "b"])
    np.testing.assert_allclose(LocationPrior.from_json(path, ["a", "b"]).class_given_cell, prior.class_given_cell)
    with pytest.raises(ValueError, match="no training image has coordinates"):
        LocationPrior.fit(np.array([0, 1]), np.array([np.nan] * 2), np.array([np.nan] * 2), 2)
