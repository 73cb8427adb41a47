"""Train a classifier on `mushroom_observer` through the strategy's phases, writing everything to model_dir.

Outputs: `flags.txt` (a reusable flagfile), `labels.txt`, `checkpoints/best_<phase>.weights.h5`,
`history_<phase>.csv`, `training_curves.png`, `logs/` (TensorBoard), `model.keras`,
`saved_model/` (for serving: calibrated probabilities), `month_prior.json` and `location_prior.json`
(when training images have dates, coordinates), `taxonomy.json` (each class's genus and family),
`calibration.json` with `calibration_mahalanobis.npz` (temperature and out-of-class detectors, per level,
`pyck_classifier.posthoc.calibration`) and `metrics.json` on the
validation and test splits: per image and per observation, with test-time augmentation and the metadata
priors when asked for, the calibration error before and after the temperature, and the epoch each
phase kept.

Every phase ends on its best validation epoch: the best checkpoint is loaded back before the
next phase starts (a phase that was resumed compares against the best of its earlier part).

Killing a run and starting it again with the same flags resumes: a finished phase is
skipped (its weights are kept in `phases/`), the phase that was cut short continues from its
last completed epoch (`epoch_backup.EpochBackup`), its history cut back to that epoch. Every file
is written under a temporary name and renamed, and `metrics.json` last: a run folder without it
is unfinished, whatever else it holds.

With `cache_features`, a frozen-base phase trains the head on pooled features computed once
per image (`modeling.feature_extraction`); its best checkpoint then holds the head's weights only
(`best_<phase>.head_only.weights.h5`), while `phases/` and `model.keras` hold the whole model.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Callable

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
import tensorflow_datasets as tfds

from pyck_classifier.data.input_pipeline import (
    EpochSeeds,
    image_shape,
    is_endless,
    load_split,
    make_pipeline,
    read_columns,
)
from pyck_classifier.data.label_level import label_level, split_taxonomy
from pyck_classifier.model import feature_extraction, litert
from pyck_classifier.model.backbones.registry import get_backbone_spec
from pyck_classifier.model.classifier import backbone_of, build_classifier, with_temperature
from pyck_classifier.posthoc import scores
from pyck_classifier.posthoc.binned_prior import priors_named
from pyck_classifier.posthoc.calibration import Calibration
from pyck_classifier.posthoc.location_prior import LocationPrior, cells_of
from pyck_classifier.posthoc.month_prior import MonthPrior, months_of
from pyck_classifier.posthoc.taxonomy import Taxonomy, coarser_levels
from pyck_classifier.posthoc.temperature_scaling import expected_calibration_error
from pyck_classifier.posthoc.test_time_augmentation import with_tta
from pyck_classifier.run import run_directory, run_index
from pyck_classifier.run.atomic_write import remove_tree, replaced_atomically, write_text_atomically
from pyck_classifier.run.run_directory import RunDirectory
from pyck_train import curves, epoch_backup, optimization, provenance, strategy_run_loop
from pyck_train.augmentation import batch_augmenter
from pyck_train.cluster import Role, current_role
from pyck_train.config import TrainConfig
from pyck_train.strategies import Phase, apply_phase, phases

LITERT_MIN_IMAGES = 1000  # --runtime=auto extracts features with LiteRT from this many images on


def resolve_precision(precision: str) -> str:
    """`auto` is mixed_float16 on a GPU and float32 on CPU."""
    if precision != "auto":
        return precision
    return "mixed_float16" if tf.config.list_physical_devices("GPU") else "float32"


def resolve_distribution(distribution: str) -> tf.distribute.Strategy:
    """The tf.distribute strategy `--distribution` names (not to be confused with the transfer `--strategy`)."""
    if distribution == "auto":
        distribution = "mirrored" if len(tf.config.list_physical_devices("GPU")) > 1 else "default"
    if distribution == "mirrored":
        # Every GPU; without one, every logical CPU device (how the multi-GPU path is tested on CPU).
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if distribution == "multi_worker":  # the cluster and this task come from TF_CONFIG
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


@dataclasses.dataclass
class _Data:
    raw: dict  # split -> (encoded, label) dataset
    pipelines: dict  # split -> batches of (uint8 images, int labels); train's are augmented, one-hot
    labels: list[str]
    image_shape: tuple[int, int, int]  # of the stored images: the classifier's input
    train_labels: np.ndarray
    train_months: np.ndarray
    train_coordinates: tuple[np.ndarray, np.ndarray]  # latitude, longitude; NaN where unknown
    augment: Callable  # the training batches' transform: augmentation, one-hot labels
    steps: int  # an epoch's batches: the split's, or --steps_per_epoch's limit below that
    batch: int  # global batch (per replica x replicas)
    epoch_seeds: EpochSeeds  # the training order is a function of (seed, epoch): resumed runs see the same batches
    taxonomy: Taxonomy  # the classes' genus and family, as the training records name them


@dataclasses.dataclass
class _Run:
    """What every step of one training run shares."""

    config: TrainConfig
    directory: RunDirectory
    distribution: tf.distribute.Strategy
    data: _Data
    role: Role  # in a multi-worker cluster, only the chief writes files
    service_job: str | None = None  # the tf.data service job a multi-worker cluster shares (name prefix)
    cached: dict = dataclasses.field(default_factory=dict)  # pooled train/validation features, on first use

    @property
    def multi_worker(self) -> bool:
        return self.config.distribution == "multi_worker"


def _load_data(config: TrainConfig, batch: int) -> _Data:
    """The splits, their pipelines and the training labels; a multi-worker cluster on tf.data service gets
    its training batches per phase instead (`_service_batches`)."""
    train_split = "train"
    if config.train_subset:  # tfds refuses a slice past the end: a subset larger than the split is the split
        available = tfds.builder(config.dataset, data_dir=config.data_dir).info.splits["train"].num_examples
        train_split = f"train[:{min(config.train_subset, available)}]"
    # Shard order is shuffled only without the cache: a cached split is shuffled whole every epoch, by (seed, epoch).
    # tf.data service workers read the training split in parts: its size is not asserted then.
    raw = {name: load_split(config.dataset, split, config.data_dir, shuffle_files=name == "train" and not config.cache,
                            seed=config.seed, known_size=not (name == "train" and config.data_service))
           for name, split in (("train", train_split), ("validation", "validation"), ("test", "test"))}
    info = raw["train"][1]
    labels, shape = info.features["label"].names, image_shape(info)
    augment = batch_augmenter(config.augment, len(labels), mixup=config.mixup, cutmix=config.cutmix, seed=config.seed)
    epoch_seeds = EpochSeeds()
    multi_worker = config.distribution == "multi_worker"
    columns = read_columns(config.dataset, train_split, config.data_dir, ("label", "date", "latitude", "longitude"))
    steps = -(-len(columns["label"]) // batch)
    limit = config.steps_per_epoch if 0 < config.steps_per_epoch < steps else None  # a limit past the split is none
    steps = limit or steps
    pipelines = {
        name: make_pipeline(ds, image_size=shape[:2], training=name == "train", batch_size=batch, cache=config.cache,
                            shuffle_buffer=config.shuffle_buffer, seed=config.seed,
                            batch_transform=augment if name == "train" else None, epoch_seeds=epoch_seeds,
                            epoch_batches=limit if name == "train" else None,
                            data_service=config.data_service if name == "train" and not multi_worker else None)
        for name, (ds, _) in raw.items()
    }
    taxonomy = split_taxonomy(config.dataset, "train", config.data_dir, labels,
                              label_level(config.dataset, config.data_dir))
    return _Data(raw, pipelines, labels, shape, columns["label"].astype(np.int64), months_of(columns["date"]),
                 (columns["latitude"], columns["longitude"]), augment, steps, batch, epoch_seeds, taxonomy)


def _service_batches(run: _Run, tag: str) -> Callable[[tf.distribute.InputContext], tf.data.Dataset]:
    """Each worker's training batches, from the tf.data service job the cluster shares in phase `tag`: the
    dispatcher hands each batch to one worker, so the cluster reads each example once per epoch."""
    config, data = run.config, run.data

    def this_workers_batches(context: tf.distribute.InputContext) -> tf.data.Dataset:
        return make_pipeline(data.raw["train"][0], image_size=data.image_shape[:2], training=True,
                             batch_size=context.get_per_replica_batch_size(data.batch),
                             shuffle_buffer=config.shuffle_buffer, seed=config.seed, batch_transform=data.augment,
                             data_service=config.data_service, service_job=f"{run.service_job}-{tag}")

    return this_workers_batches


def _plain_batches(run: _Run, split: str) -> tf.data.Dataset:
    """The split's images in stored order, neither cached nor augmented (one pass of feature extraction)."""
    return make_pipeline(run.data.raw[split][0], image_size=run.data.image_shape[:2], training=False,
                         batch_size=run.data.batch)


def _phase_epochs_and_rate(config: TrainConfig, phase: Phase, replicas: int, steps: int):
    """(epochs, learning rate or schedule) of a phase; rates scale with the replicas (linear scaling rule)."""
    if phase.name == "finetune":
        epochs, rate = config.fine_tune_epochs, config.fine_tune_learning_rate * replicas
    else:
        epochs, rate = config.epochs, config.learning_rate * replicas
    decay = config.lr_decay_rate if phase.base == "top" else None
    return epochs, optimization.learning_rate(config.lr_schedule, rate, epochs=epochs, steps_per_epoch=steps,
                                              warmup_epochs=config.warmup_epochs, exponential_decay=decay)


def _history(directory: RunDirectory, tag: str) -> pd.DataFrame:
    """The phase's history rows; none when the file is missing or empty (a run killed before the first epoch's end
    leaves the file CSVLogger opened, without even its header)."""
    path = directory.history(tag)
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return pd.DataFrame({"epoch": pd.Series(dtype=int)})
    return pd.read_csv(path)


def _best_epoch(directory: RunDirectory, tag: str) -> dict | None:
    """The phase's best validation epoch so far (1-based, first of equals, as ModelCheckpoint keeps it)."""
    history = _history(directory, tag).drop_duplicates("epoch", keep="last")
    if history.empty or "val_accuracy" not in history:
        return None
    best = history.loc[history["val_accuracy"].idxmax()]
    return {"phase": tag, "best_epoch": int(best["epoch"]) + 1, "best_val_accuracy": float(best["val_accuracy"]),
            "epochs_run": int(len(history))}


def _cut_history(directory: RunDirectory, tag: str) -> None:
    """Drop the history rows of epochs the backup does not hold: a resumed phase runs them again (a run killed
    after an epoch's row but before its backup would otherwise list that epoch twice)."""
    history, kept = _history(directory, tag), epoch_backup.epochs_backed_up(directory.backup(tag))
    if len(history) and history["epoch"].max() >= kept:
        write_text_atomically(directory.history(tag), history[history["epoch"] < kept].to_csv(index=False))


def _callbacks(run: _Run, tag: str, phase: Phase, best_file: str, plateau: bool) -> list[keras.callbacks.Callback]:
    """The phase's callbacks, the epoch backup after every one that writes at an epoch's end."""
    config, directory = run.config, run.directory
    if run.role.is_chief:
        _cut_history(directory, tag)
    earlier = _best_epoch(directory, tag)  # a resumed phase must beat what it reached before the interruption
    threshold = earlier["best_val_accuracy"] if earlier else None
    callbacks = optimization.averaged_weights_callbacks(config.ema_momentum)  # first: the rest see the averages
    if run.role.is_chief:
        callbacks += [
            BestCheckpoint(best_file, threshold),
            keras.callbacks.CSVLogger(directory.history(tag), append=True),
            keras.callbacks.TensorBoard(directory.logs(tag)),
            run.data.epoch_seeds,
        ]
    else:
        callbacks.append(run.data.epoch_seeds)
    if run.multi_worker:  # the best weights in memory: no worker waits on the chief's file
        callbacks.append(BestWeightsInMemory(threshold))
    if phase.name == "finetune":
        if plateau:  # a schedule already sets the rate at every step
            callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", mode="min", factor=0.1,
                                                               patience=config.reduce_lr_patience))
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max",
                                                       patience=config.early_stopping_patience,
                                                       restore_best_weights=True))
    # Every worker restores the chief's backup, as all must start from the same state; only the chief writes.
    return callbacks + [epoch_backup.EpochBackup(directory.backup(tag), callbacks, write=run.role.is_chief)]


class BestCheckpoint(keras.callbacks.Callback):
    """ModelCheckpoint(save_best_only, val_accuracy, first of equals), written under a temporary name and renamed:
    an interrupt while it is written leaves the previous best whole."""

    def __init__(self, path: str, threshold: float | None = None):
        super().__init__()
        self.path, self.best = path, threshold if threshold is not None else -float("inf")

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get("val_accuracy")
        if current is not None and current > self.best:
            self.best = current
            with replaced_atomically(self.path) as partial:
                self.model.save_weights(partial)


class BestWeightsInMemory(keras.callbacks.Callback):
    """The weights of the best validation accuracy so far (above `threshold`), kept in memory on every worker."""

    def __init__(self, threshold: float | None = None):
        super().__init__()
        self.best, self.weights = threshold if threshold is not None else -1.0, None

    def on_epoch_end(self, epoch, logs=None):
        if logs and logs.get("val_accuracy", -1.0) > self.best:
            self.best, self.weights = logs["val_accuracy"], self.model.get_weights()


def _one_hot(num_classes: int):
    return lambda images, labels: (images, tf.one_hot(labels, num_classes))


def _feature_runtime(run: _Run) -> str:
    """`auto`: LiteRT without a GPU once train + validation hold enough images for its conversion (~15 s) to pay."""
    images = sum(int(run.data.raw[name][0].cardinality().numpy()) for name in ("train", "validation"))
    if run.config.runtime == "auto" and images < LITERT_MIN_IMAGES:
        return "keras"
    return litert.resolve_runtime(run.config.runtime)


def _pooled_features(model: keras.Model, run: _Run):
    """Pooled features of the train and validation splits, in order, from the frozen base (one pass each)."""
    extractor = litert.runnable(feature_extraction.pooled_feature_model(model), _feature_runtime(run))
    return tuple(feature_extraction.predict_batches(extractor, _plain_batches(run, name), f"features {name}")[:2]
                 for name in ("train", "validation"))


def _loss(run: _Run, reduction: str | None = "sum_over_batch_size") -> keras.losses.Loss:
    """The run's loss: the cross-entropy, and with --taxonomy_loss the coarser levels' too."""
    taxonomy, config = run.data.taxonomy, run.config
    return optimization.classification_loss(config.label_smoothing, tuple(map(taxonomy.membership, taxonomy.parents)),
                                            config.taxonomy_loss, reduction)


def _compile(model: keras.Model, run: _Run, rate, loss: keras.losses.Loss | None = None) -> None:
    """Compiled for a phase at learning rate `rate`; with `loss` and no rate, with `loss` and the optimizer it has."""
    config = run.config
    with run.distribution.scope():  # the optimizer's variables belong to the strategy
        optimizer = (model.optimizer if rate is None else
                     optimization.build_optimizer(config.optimizer, rate, config.weight_decay, config.ema_momentum))
        model.compile(optimizer, loss=loss or _loss(run),
                      metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")], jit_compile=config.jit_compile)


def _head_on_cached_features(model: keras.Model, run: _Run, tag: str):
    """(head-only model, its training batches, its validation batches) over pooled features computed once."""
    config, num_classes = run.config, len(run.data.labels)
    if not run.cached:
        run.cached["features"] = _pooled_features(model, run)
        if config.augment != "none" or config.mixup or config.cutmix:
            print(f"phase {tag}: trained on cached features, so without augmentation "
                  "(augmentation applies to the phases that train the base)")
    (train_x, train_y), (val_x, val_y) = run.cached["features"]
    with run.distribution.scope():  # fit checks that the model it trains was made under the strategy
        head = feature_extraction.head_on_features(model)
    train_batches = feature_extraction.feature_pipeline(train_x, train_y, training=True, batch_size=run.data.batch,
                                                        seed=config.seed, shuffle_buffer=config.shuffle_buffer,
                                                        epoch_seeds=run.data.epoch_seeds,
                                                        epoch_batches=run.data.steps).map(_one_hot(num_classes))
    validation_batches = feature_extraction.feature_pipeline(val_x, val_y, training=False,
                                                             batch_size=run.data.batch).map(_one_hot(num_classes))
    return head, train_batches, validation_batches


def _train_phase(model: keras.Model, run: _Run, index: int, phase: Phase, extra_callbacks) -> dict | None:
    """Fit one phase (or restore it when it finished before) and leave `model` on its best validation epoch."""
    config, data, directory = run.config, run.data, run.directory
    tag = f"{index}_{phase.name}"
    finished = directory.finished_phase(tag)
    apply_phase(backbone_of(model), phase, get_backbone_spec(config.backbone), config.unfreeze_top_layers)
    if os.path.exists(finished):
        model.load_weights(finished)
        if run.role.is_chief:
            remove_tree(directory.backup(tag))  # left when a run was killed right after the phase ended
        return _best_epoch(directory, tag)
    epochs, rate = _phase_epochs_and_rate(config, phase, run.distribution.num_replicas_in_sync, data.steps)
    if epochs == 0:
        return None
    num_classes = len(data.labels)
    fitted, train_batches = model, data.pipelines["train"]
    validation_batches = data.pipelines["validation"].map(_one_hot(num_classes))
    if config.cache_features and phase.base == "none":
        fitted, train_batches, validation_batches = _head_on_cached_features(model, run, tag)
    elif run.service_job:
        train_batches = _service_batches(run, tag)
    best_file = directory.best_checkpoint(tag, head_only=fitted is not model)
    _compile(fitted, run, rate)
    callbacks = _callbacks(run, tag, phase, best_file, plateau=isinstance(rate, float)) + list(extra_callbacks)
    class_weight = optimization.class_weights(config.class_weight, data.train_labels, num_classes)
    # An endless stream of epochs (`EpochSeeds`) is cut into epochs by the step count, and read by one iterator.
    steps = data.steps if is_endless(train_batches) else config.steps_per_epoch or None
    if run.multi_worker:  # Keras 3's fit cannot run under MultiWorkerMirroredStrategy
        strategy_run_loop.fit(fitted, train_batches, validation_data=validation_batches, epochs=epochs,
                              steps_per_epoch=steps, class_weight=class_weight,
                              callbacks=callbacks, strategy=run.distribution, global_batch=data.batch,
                              per_example_loss=_loss(run, reduction=None), jit_compile=config.jit_compile)
    else:
        fitted.fit(train_batches, validation_data=validation_batches, epochs=epochs,
                   steps_per_epoch=steps, class_weight=class_weight, callbacks=callbacks,
                   shuffle=False, verbose=2)  # the training pipeline shuffles; fit's own shuffle only warns
    best_in_memory = next((c for c in callbacks if isinstance(c, BestWeightsInMemory)), None)
    if best_in_memory is not None and best_in_memory.weights is not None:
        fitted.set_weights(best_in_memory.weights)
    elif os.path.exists(best_file):
        fitted.load_weights(best_file)
    if not run.role.is_chief:
        return None  # the chief is still writing this phase's history
    with replaced_atomically(finished) as partial:
        model.save_weights(partial)
    remove_tree(directory.backup(tag))  # only now: killed before, the rerun resumes from the last epoch
    return _best_epoch(directory, tag)


def _month_prior(run: _Run) -> MonthPrior | None:
    """Fitted on the training split's dated images and saved beside the model; None when none has a date."""
    data = run.data
    if not (data.train_months > 0).any():
        return None
    prior = MonthPrior.fit(data.train_labels, data.train_months, len(data.labels))
    prior.to_json(run.directory.path(run_directory.MONTH_PRIOR), data.labels)
    return prior


def _location_prior(run: _Run) -> LocationPrior | None:
    """Fitted on the training split's located images and saved beside the model; None when none has coordinates."""
    data = run.data
    if not (cells_of(*data.train_coordinates) > 0).any():
        return None
    prior = LocationPrior.fit(data.train_labels, *data.train_coordinates, len(data.labels))
    prior.to_json(run.directory.path(run_directory.LOCATION_PRIOR), data.labels)
    return prior


def _with_priors(config: TrainConfig, month: MonthPrior | None, location: LocationPrior | None, calibrated: np.ndarray,
                 columns: dict, labels: np.ndarray, names: list[str]) -> dict:
    """Scores with each prior the config asks for (and both together), beside the image-only scores."""
    months, coordinates = months_of(columns["date"]), (columns["latitude"], columns["longitude"])
    fused, wanted = {}, priors_named(config.metadata_prior)
    if "month" in wanted and month is not None:
        fused["month_prior"] = ({"dated_examples": int((months > 0).sum())}, month.apply(calibrated, months))
    if "location" in wanted and location is not None:
        located = {"located_examples": int((cells_of(*coordinates) > 0).sum())}
        fused["location_prior"] = (located, location.apply(calibrated, *coordinates))
        if "month_prior" in fused:
            both = location.apply(fused["month_prior"][1], *coordinates)
            fused["month_and_location_prior"] = ({**fused["month_prior"][0], **located}, both)
    observations = columns["observation_id"]
    return {key: {"tta": config.tta, **counts, **scores.split_scores(labels, probabilities, observations, names)}
            for key, (counts, probabilities) in fused.items()}


def _calibrate(model: keras.Model, run: _Run) -> Calibration:
    """Fit the temperature and the out-of-class detectors (training features, validation logits), per level of the
    taxonomy the training records give; save them and the taxonomy."""
    data = run.data
    base_never_trained = all(phase.base == "none" for phase in phases(run.config.strategy))
    runtime = _feature_runtime(run)
    if run.cached and base_never_trained:  # the pooled features the head trained on are still the base's
        train_features, train_labels = run.cached["features"][0]
    else:
        train_features, train_labels, _ = feature_extraction.predict_batches(
            litert.runnable(feature_extraction.pooled_feature_model(model), runtime), _plain_batches(run, "train"),
            "calibration: train features")
    outputs, validation_labels, _ = feature_extraction.predict_batches(
        litert.runnable(feature_extraction.logits_and_features_model(model), runtime), data.pipelines["validation"],
        "calibration: validation")
    logits, features = feature_extraction.split_logits_and_features(outputs, len(data.labels))
    data.taxonomy.save(run.directory.root)
    calibration = Calibration.fit(train_features=train_features, train_labels=train_labels,
                                  validation_logits=logits, validation_features=features,
                                  validation_labels=validation_labels, num_classes=len(data.labels),
                                  taxonomy=data.taxonomy)
    calibration.save(run.directory.root, data.labels)
    return calibration


def _evaluate(model: keras.Model, run: _Run, calibration: Calibration) -> dict:
    """Validation and test scores per image and per observation; with TTA and the metadata priors when asked for.

    A prior re-weights calibrated probabilities (Bayes' rule needs them); the temperature
    never changes the top class, so the other scores are the same with or without it.
    """
    config, data = run.config, run.data
    month, location = _month_prior(run), _location_prior(run)
    results = {}
    tta_model = with_tta(model, config.tta)
    for name in ("validation", "test"):
        columns = read_columns(config.dataset, name, config.data_dir, ("observation_id", "date", "latitude",
                                                                       "longitude"))
        probabilities, labels, _ = feature_extraction.predict_batches(model, data.pipelines[name], f"evaluate {name}")
        result = scores.split_scores(labels, probabilities, columns["observation_id"], data.labels)
        final = probabilities
        if config.tta != "none":
            final, _, _ = feature_extraction.predict_batches(tta_model, data.pipelines[name], f"evaluate {name} tta")
            result["tta"] = {"mode": config.tta, **scores.split_scores(labels, final, columns["observation_id"],
                                                                        data.labels)}
        calibrated = calibration.calibrated(final)
        result["calibration"] = {"tta": config.tta, "ece_before": expected_calibration_error(labels, final),
                                 "ece_after": expected_calibration_error(labels, calibrated)}
        result.update(_with_priors(config, month, location, calibrated, columns, labels, data.labels))
        results[name] = result
    return results


def _metrics(model: keras.Model, run: _Run, kept: list, calibration: Calibration) -> dict:
    """What metrics.json records: the run's setup, the epoch each phase kept, calibration and scores."""
    config, data = run.config, run.data
    data_dir = os.path.abspath(config.data_dir) if config.data_dir else None  # evaluated from any folder
    return {"dataset": config.dataset, "data_dir": data_dir, "backbone": config.backbone,
            "strategy": config.strategy, "precision": keras.mixed_precision.global_policy().name,
            "replicas": run.distribution.num_replicas_in_sync, "labels": data.labels,
            "level": label_level(config.dataset, config.data_dir),
            "parameters": model.count_params(), "train_examples": int(len(data.train_labels)),
            "phases": [k for k in kept if k is not None],
            "calibration": {"temperature": calibration.temperature, **calibration.summary},
            **_evaluate(model, run, calibration)}


def _export(model: keras.Model, run: _Run, calibration: Calibration, metrics: dict) -> None:
    """model.keras as trained (a --taxonomy_loss run's compiled with the cross-entropy, so plain Keras loads it);
    the serving SavedModel answers with the calibrated probabilities; metrics.json."""
    directory = run.directory
    if isinstance(getattr(model, "loss", None), optimization.TaxonomyLoss):  # plain Keras could not load pyck's loss
        _compile(model, run, None, optimization.classification_loss(run.config.label_smoothing))
    with replaced_atomically(directory.path(run_directory.MODEL)) as partial:
        model.save(partial)
    with replaced_atomically(directory.path(run_directory.SAVED_MODEL)) as partial:
        with_temperature(model, calibration.temperature).export(partial, verbose=False)
    tags = directory.history_tags()
    with replaced_atomically(directory.path(run_directory.TRAINING_CURVES)) as partial:
        curves.plot_history([_history(directory, tag) for tag in tags], tags, partial)
    write_text_atomically(directory.path(run_directory.METRICS), json.dumps(metrics, indent=2))  # last: finished
    run_index.write_run_index(directory.root)


def _start(config: TrainConfig) -> _Run:
    """The tf.distribute strategy (first: a multi-worker one must be made before any other TensorFlow work),
    folders, seed, precision, the data; labels.txt written (by the chief)."""
    distribution = resolve_distribution(config.distribution)
    role = current_role(config.distribution)
    service_job = None
    if config.data_service and config.distribution == "multi_worker":  # a new name each launch: jobs outlive runs
        service_job = f"pyck-{strategy_run_loop.agreed_random_number(distribution):x}"
    directory = RunDirectory(config.model_dir)
    if role.is_chief:
        for folder in (run_directory.CHECKPOINTS, run_directory.PHASES, run_directory.LOGS):
            os.makedirs(directory.path(folder), exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_global_policy(resolve_precision(config.precision))
    data = _load_data(config, config.batch_size * distribution.num_replicas_in_sync)
    wanted = priors_named(config.metadata_prior)
    if "month" in wanted and not (data.train_months > 0).any():
        raise ValueError(f"--metadata_prior={config.metadata_prior}: no training image of {config.dataset} has a date")
    if "location" in wanted and not (cells_of(*data.train_coordinates) > 0).any():
        raise ValueError(f"--metadata_prior={config.metadata_prior}: no training image of {config.dataset} has "
                         "coordinates (the *_csv configs store them)")
    if role.is_chief:
        with open(directory.path(run_directory.LABELS), "w") as f:
            f.write("\n".join(data.labels) + "\n")
    return _Run(config, directory, distribution, data, role, service_job)


class SettingsError(ValueError):
    """Settings the dataset cannot train with, found before any work."""


def check_settings(config: TrainConfig) -> None:
    """Raises SettingsError when these settings cannot train on `config.dataset`."""
    level = label_level(config.dataset, config.data_dir)
    if config.taxonomy_loss and not coarser_levels(level):
        raise SettingsError(f"--taxonomy_loss: the labels of {config.dataset} are {level} names, with no coarser "
                            "level to add; train a species or genus config, or drop the flag")


def train(config: TrainConfig, extra_callbacks: list[keras.callbacks.Callback] = (), *,
          overwrite: bool = False) -> dict:
    """Run every phase of `config.strategy`; returns the metrics written to metrics.json.

    Before any work the chief records the run (`provenance.record_run`): a model_dir holding a run trained with
    other settings raises `provenance.RunDirectoryError` (`overwrite` moves it aside instead); the same settings
    resume it. The other workers of a cluster write nothing. Settings the dataset cannot train with raise
    `SettingsError` first (`check_settings`).
    """
    check_settings(config)
    if current_role(config.distribution).is_chief:
        state = provenance.record_run(config, overwrite)
        if state != "new":
            print(f"{config.model_dir}: {state}")
    run = _start(config)
    with run.distribution.scope():
        model = build_classifier(config.backbone, len(run.data.labels), weights=config.weights, head=config.head,
                                 input_shape=run.data.image_shape)
    kept = [_train_phase(model, run, index, phase, extra_callbacks)
            for index, phase in enumerate(phases(config.strategy))]
    if not run.role.is_chief:  # calibration, scores and outputs are the chief's; wait for them, then leave together
        strategy_run_loop.barrier(run.distribution)
        return {"role": dataclasses.asdict(run.role), "phases": [k for k in kept if k is not None]}
    calibration = _calibrate(model, run)
    metrics = _metrics(model, run, kept, calibration)
    _export(model, run, calibration, metrics)
    if run.multi_worker:  # a worker that left earlier would look like a crash to the cluster's health checks
        strategy_run_loop.barrier(run.distribution)
    return metrics
