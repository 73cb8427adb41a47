"""Train a classifier on `mushroom_observer` through the strategy's phases, writing everything to model_dir.

Outputs: `flags.txt` (a reusable flagfile), `labels.txt`, `checkpoints/best_<phase>.weights.h5`,
`history_<phase>.csv`, `training_curves.png`, `logs/` (TensorBoard), `model.keras`,
`saved_model/` (for serving: calibrated probabilities), `month_prior.json` (when training images
have dates), `calibration.json` with `calibration_mahalanobis.npz` (temperature and out-of-class
detector, `pyck_train.calibration`) and `metrics.json` on the validation and test splits: per
image and per observation, with test-time augmentation and the month prior when asked for, the
calibration error before and after the temperature, and the epoch each phase kept.

Every phase ends on its best validation epoch: the best checkpoint is loaded back before the
next phase starts (a phase that was resumed compares against the best of its earlier part).

Killing a run and starting it again with the same flags resumes: a finished phase is
skipped (its weights are kept in `phases/`), the phase that was cut short continues from its
last completed epoch (`keras.callbacks.BackupAndRestore`).

With `cache_features`, a frozen-base phase trains the head on pooled features computed once
per image (`feature_cache`); its best checkpoint then holds the head's weights only
(`best_<phase>.head_only.weights.h5`), while `phases/` and `model.keras` hold the whole model.
"""

from __future__ import annotations

import dataclasses
import json
import os

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
import tensorflow_datasets as tfds

from pyck_train import curves, feature_cache, litert, optimization, run_index, scores
from pyck_train.augmentation import batch_augmenter
from pyck_train.calibration import Calibration
from pyck_train.input_pipeline import load_split, make_pipeline, read_columns
from pyck_train.model import backbone_of, build_classifier, with_temperature
from pyck_train.month_prior import FILE_NAME as MONTH_PRIOR_FILE
from pyck_train.month_prior import MonthPrior, months_of
from pyck_train.strategies import Phase, apply_phase, phases
from pyck_train.temperature_scaling import expected_calibration_error
from pyck_train.test_time_augmentation import with_tta


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    model_dir: str
    dataset: str = "mushroom_observer/family7"
    data_dir: str | None = None
    train_subset: int = 0
    cache: bool = True
    cache_features: bool = False
    shuffle_buffer: int = 2048
    seed: int = 0
    backbone: str = "efficientnet_lite0"
    weights: str = "imagenet"
    head: str = "gap"
    strategy: str = "freeze_then_finetune"
    epochs: int = 10
    fine_tune_epochs: int = 20
    learning_rate: float = 1e-3
    fine_tune_learning_rate: float = 1e-4
    unfreeze_top_layers: int = 20
    lr_decay_rate: float = 0.9
    reduce_lr_patience: int = 2
    early_stopping_patience: int = 3
    batch_size: int = 32
    steps_per_epoch: int = 0
    augment: str = "none"
    mixup: float = 0.0
    cutmix: float = 0.0
    optimizer: str = "adam"
    weight_decay: float = 0.01
    lr_schedule: str = "constant"
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    class_weight: str = "none"
    tta: str = "none"
    metadata_prior: str = "none"
    precision: str = "auto"
    distribution: str = "auto"
    jit_compile: bool = False
    runtime: str = "auto"

    def to_flagfile(self) -> str:
        """A flagfile that reproduces this config with `python -m pyck_train --flagfile=...`."""
        lines = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool):
                lines.append(f"--{field.name}" if value else f"--no{field.name}")
            elif value is not None:
                lines.append(f"--{field.name}={value}")
        return "\n".join(lines) + "\n"


LITERT_MIN_IMAGES = 1000  # --runtime=auto extracts features with LiteRT from this many images on

MULTI_WORKER_UNSUPPORTED = (
    "--distribution=multi_worker: Keras 3's model.fit does not work with tf.distribute.MultiWorkerMirroredStrategy "
    "(keras-team/keras#20585; with two local workers pyck's fit fails reducing PerReplica batches). Train on one "
    "machine instead: --distribution=mirrored uses all of its GPUs, with the same flagfile.")


def resolve_precision(precision: str) -> str:
    """`auto` is mixed_float16 on a GPU and float32 on CPU."""
    if precision != "auto":
        return precision
    return "mixed_float16" if tf.config.list_physical_devices("GPU") else "float32"


def resolve_distribution(distribution: str) -> tf.distribute.Strategy:
    if distribution == "auto":
        distribution = "mirrored" if len(tf.config.list_physical_devices("GPU")) > 1 else "default"
    if distribution == "mirrored":
        # Every GPU; without one, every logical CPU device (how the multi-GPU path is tested on CPU).
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if distribution == "multi_worker":
        raise NotImplementedError(MULTI_WORKER_UNSUPPORTED)
    return tf.distribute.get_strategy()


def _phase_epochs_and_rate(config: TrainConfig, phase: Phase, replicas: int, steps: int):
    """(epochs, learning rate or schedule) of a phase; rates scale with the replicas (linear scaling rule)."""
    if phase.name == "finetune":
        epochs, rate = config.fine_tune_epochs, config.fine_tune_learning_rate * replicas
    else:
        epochs, rate = config.epochs, config.learning_rate * replicas
    decay = config.lr_decay_rate if phase.base == "top" else None
    return epochs, optimization.learning_rate(config.lr_schedule, rate, epochs=epochs, steps_per_epoch=steps,
                                              warmup_epochs=config.warmup_epochs, exponential_decay=decay)


def _history_path(config: TrainConfig, tag: str) -> str:
    return os.path.join(config.model_dir, f"history_{tag}.csv")


def _best_epoch(config: TrainConfig, tag: str) -> dict | None:
    """The phase's best validation epoch so far (1-based, first of equals, as ModelCheckpoint keeps it)."""
    path = _history_path(config, tag)
    if not os.path.exists(path):
        return None
    history = pd.read_csv(path).drop_duplicates("epoch", keep="last")
    if history.empty or "val_accuracy" not in history:
        return None
    best = history.loc[history["val_accuracy"].idxmax()]
    return {"phase": tag, "best_epoch": int(best["epoch"]) + 1, "best_val_accuracy": float(best["val_accuracy"]),
            "epochs_run": int(len(history))}


def _callbacks(config: TrainConfig, tag: str, phase: Phase, best_file: str, plateau: bool
               ) -> list[keras.callbacks.Callback]:
    earlier = _best_epoch(config, tag)  # a resumed phase must beat what it reached before the interruption
    callbacks = [
        keras.callbacks.BackupAndRestore(os.path.join(config.model_dir, "backup", tag)),
        keras.callbacks.ModelCheckpoint(best_file, monitor="val_accuracy", save_best_only=True, save_weights_only=True,
                                        initial_value_threshold=earlier["best_val_accuracy"] if earlier else None),
        keras.callbacks.CSVLogger(_history_path(config, tag), append=True),
        keras.callbacks.TensorBoard(os.path.join(config.model_dir, "logs", tag)),
    ]
    if phase.name == "finetune":
        if plateau:  # a schedule already sets the rate at every step
            callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.1,
                                                               patience=config.reduce_lr_patience))
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=config.early_stopping_patience,
                                                       restore_best_weights=True))
    return callbacks


def _one_hot(num_classes: int):
    return lambda images, labels: (images, tf.one_hot(labels, num_classes))


@dataclasses.dataclass
class _Data:
    raw: dict  # split -> (encoded, label) dataset
    pipelines: dict  # split -> batches of (uint8 images, int labels); train's are augmented, one-hot
    labels: list[str]
    train_labels: np.ndarray
    train_months: np.ndarray
    steps: int


def _load_data(config: TrainConfig, batch: int) -> _Data:
    train_split = "train"
    if config.train_subset:  # tfds refuses a slice past the end: a subset larger than the split is the split
        available = tfds.builder(config.dataset, data_dir=config.data_dir).info.splits["train"].num_examples
        train_split = f"train[:{min(config.train_subset, available)}]"
    raw = {name: load_split(config.dataset, split, config.data_dir, shuffle_files=name == "train", seed=config.seed)
           for name, split in (("train", train_split), ("validation", "validation"), ("test", "test"))}
    labels = raw["train"][1].features["label"].names
    augment = batch_augmenter(config.augment, len(labels), mixup=config.mixup, cutmix=config.cutmix, seed=config.seed)
    pipelines = {
        name: make_pipeline(ds, training=name == "train", batch_size=batch, cache=config.cache,
                            shuffle_buffer=config.shuffle_buffer, seed=config.seed,
                            batch_transform=augment if name == "train" else None)
        for name, (ds, _) in raw.items()
    }
    columns = read_columns(config.dataset, train_split, config.data_dir, ("label", "date"))
    steps = config.steps_per_epoch or -(-len(columns["label"]) // batch)
    return _Data(raw, pipelines, labels, columns["label"].astype(np.int64), months_of(columns["date"]), steps)


def _feature_runtime(config: TrainConfig, data: _Data) -> str:
    """`auto`: LiteRT without a GPU once train + validation hold enough images for its conversion (~15 s) to pay."""
    images = sum(int(data.raw[name][0].cardinality().numpy()) for name in ("train", "validation"))
    if config.runtime == "auto" and images < LITERT_MIN_IMAGES:
        return "keras"
    return litert.resolve_runtime(config.runtime)


def _pooled_features(model: keras.Model, config: TrainConfig, data: _Data, batch: int):
    """Pooled features of the train and validation splits, in order, from the frozen base (one pass each)."""
    extractor = litert.runnable(feature_cache.pooled_feature_model(model), _feature_runtime(config, data))
    return tuple(
        feature_cache.predict_batches(
            extractor, make_pipeline(data.raw[name][0], training=False, batch_size=batch), f"features {name}")[:2]
        for name in ("train", "validation"))


def _compile(model: keras.Model, config: TrainConfig, rate, strategy: tf.distribute.Strategy) -> None:
    with strategy.scope():
        model.compile(optimization.build_optimizer(config.optimizer, rate, config.weight_decay),
                      loss=optimization.classification_loss(config.label_smoothing),
                      metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")], jit_compile=config.jit_compile)


def _train_phase(model: keras.Model, config: TrainConfig, index: int, phase: Phase, data: _Data,
                 strategy: tf.distribute.Strategy, cached: dict, extra_callbacks) -> dict | None:
    """Fit one phase (or restore it when it finished before) and leave `model` on its best validation epoch."""
    tag = f"{index}_{phase.name}"
    finished = os.path.join(config.model_dir, "phases", f"{tag}.weights.h5")
    apply_phase(backbone_of(model), phase, config.unfreeze_top_layers)
    if os.path.exists(finished):
        model.load_weights(finished)
        return _best_epoch(config, tag)
    epochs, rate = _phase_epochs_and_rate(config, phase, strategy.num_replicas_in_sync, data.steps)
    if epochs == 0:
        return None
    num_classes = len(data.labels)
    fitted, train_data = model, data.pipelines["train"]
    validation_data = data.pipelines["validation"].map(_one_hot(num_classes))
    if config.cache_features and phase.base == "none":
        batch = config.batch_size * strategy.num_replicas_in_sync
        if not cached:
            cached["features"] = _pooled_features(model, config, data, batch)
            if config.augment != "none" or config.mixup or config.cutmix:
                print(f"phase {tag}: trained on cached features, so without augmentation "
                      "(augmentation applies to the phases that train the base)")
        (train_x, train_y), (val_x, val_y) = cached["features"]
        with strategy.scope():  # fit checks that the model it trains was made under the strategy
            fitted = feature_cache.head_on_features(model)
        train_data = feature_cache.feature_pipeline(train_x, train_y, training=True, batch_size=batch,
                                                    seed=config.seed).map(_one_hot(num_classes))
        validation_data = feature_cache.feature_pipeline(val_x, val_y, training=False,
                                                         batch_size=batch).map(_one_hot(num_classes))
    best_file = os.path.join(config.model_dir, "checkpoints",
                             f"best_{tag}.head_only.weights.h5" if fitted is not model else f"best_{tag}.weights.h5")
    _compile(fitted, config, rate, strategy)
    fitted.fit(train_data, validation_data=validation_data, epochs=epochs,
               steps_per_epoch=config.steps_per_epoch or None,
               class_weight=optimization.class_weights(config.class_weight, data.train_labels, num_classes),
               callbacks=_callbacks(config, tag, phase, best_file, plateau=isinstance(rate, float))
               + list(extra_callbacks),
               shuffle=False, verbose=2)  # the training pipeline shuffles; fit's own shuffle only warns
    if os.path.exists(best_file):
        fitted.load_weights(best_file)
    model.save_weights(finished)
    return _best_epoch(config, tag)


def _month_prior(config: TrainConfig, data: _Data) -> MonthPrior | None:
    """Fitted on the training split's dated images and saved beside the model; None when none has a date."""
    if not (data.train_months > 0).any():
        return None
    prior = MonthPrior.fit(data.train_labels, data.train_months, len(data.labels))
    prior.to_json(os.path.join(config.model_dir, MONTH_PRIOR_FILE), data.labels)
    return prior


def _calibrate(model: keras.Model, config: TrainConfig, data: _Data, cached: dict, batch: int) -> Calibration:
    """Fit the temperature and the out-of-class detector (training features, validation logits); save them."""
    base_never_trained = all(phase.base == "none" for phase in phases(config.strategy))
    runtime = _feature_runtime(config, data)
    if cached and base_never_trained:  # the pooled features the head trained on are still the base's
        train_features, train_labels = cached["features"][0]
    else:
        train_features, train_labels, _ = feature_cache.predict_batches(
            litert.runnable(feature_cache.pooled_feature_model(model), runtime),
            make_pipeline(data.raw["train"][0], training=False, batch_size=batch), "calibration: train features")
    outputs, validation_labels, _ = feature_cache.predict_batches(
        litert.runnable(feature_cache.logits_and_features_model(model), runtime), data.pipelines["validation"],
        "calibration: validation")
    logits, features = feature_cache.split_logits_and_features(outputs, len(data.labels))
    calibration = Calibration.fit(train_features=train_features, train_labels=train_labels,
                                  validation_logits=logits, validation_features=features,
                                  validation_labels=validation_labels, num_classes=len(data.labels))
    calibration.save(config.model_dir, data.labels)
    return calibration


def _evaluate(model: keras.Model, config: TrainConfig, data: _Data, prior: MonthPrior | None,
              calibration: Calibration) -> dict:
    """Validation and test scores per image and per observation; with TTA and the month prior when asked for.

    The month prior re-weights calibrated probabilities (Bayes' rule needs them); the temperature
    never changes the top class, so the other scores are the same with or without it.
    """
    results = {}
    tta_model = with_tta(model, config.tta)
    for name in ("validation", "test"):
        columns = read_columns(config.dataset, name, config.data_dir, ("observation_id", "date"))
        probabilities, labels, _ = feature_cache.predict_batches(model, data.pipelines[name], f"evaluate {name}")
        result = scores.split_scores(labels, probabilities, columns["observation_id"])
        final = probabilities
        if config.tta != "none":
            final, _, _ = feature_cache.predict_batches(tta_model, data.pipelines[name], f"evaluate {name} tta")
            result["tta"] = {"mode": config.tta, **scores.split_scores(labels, final, columns["observation_id"])}
        calibrated = calibration.calibrated(final)
        result["calibration"] = {"tta": config.tta, "ece_before": expected_calibration_error(labels, final),
                                 "ece_after": expected_calibration_error(labels, calibrated)}
        if config.metadata_prior == "month" and prior is not None:
            months = months_of(columns["date"])
            fused = prior.apply(calibrated, months)
            result["month_prior"] = {"tta": config.tta, "dated_examples": int((months > 0).sum()),
                                     **scores.split_scores(labels, fused, columns["observation_id"])}
        results[name] = result
    return results


def _export(model: keras.Model, config: TrainConfig, calibration: Calibration) -> None:
    """model.keras as trained; the serving SavedModel answers with the calibrated probabilities."""
    model.save(os.path.join(config.model_dir, "model.keras"))
    with_temperature(model, calibration.temperature).export(os.path.join(config.model_dir, "saved_model"),
                                                           verbose=False)
    histories = sorted(p for p in os.listdir(config.model_dir) if p.startswith("history_") and p.endswith(".csv"))
    curves.plot_history([pd.read_csv(os.path.join(config.model_dir, p)) for p in histories],
                        [p[len("history_"):-len(".csv")] for p in histories],
                        os.path.join(config.model_dir, "training_curves.png"))


def train(config: TrainConfig, extra_callbacks: list[keras.callbacks.Callback] = ()) -> dict:
    """Run every phase of `config.strategy`; returns the metrics written to metrics.json."""
    for folder in ("checkpoints", "phases", "logs"):
        os.makedirs(os.path.join(config.model_dir, folder), exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_global_policy(resolve_precision(config.precision))
    strategy = resolve_distribution(config.distribution)
    data = _load_data(config, config.batch_size * strategy.num_replicas_in_sync)
    with open(os.path.join(config.model_dir, "labels.txt"), "w") as f:
        f.write("\n".join(data.labels) + "\n")
    if config.metadata_prior == "month" and not (data.train_months > 0).any():
        raise ValueError(f"--metadata_prior=month: no training image of {config.dataset} has a date")

    with strategy.scope():
        model = build_classifier(config.backbone, len(data.labels), weights=config.weights, head=config.head)
    cached: dict = {}  # pooled features of train and validation, computed on first use
    kept = [_train_phase(model, config, index, phase, data, strategy, cached, extra_callbacks)
            for index, phase in enumerate(phases(config.strategy))]

    calibration = _calibrate(model, config, data, cached, config.batch_size * strategy.num_replicas_in_sync)
    metrics = {"dataset": config.dataset, "data_dir": config.data_dir, "backbone": config.backbone,
               "strategy": config.strategy, "precision": keras.mixed_precision.global_policy().name,
               "replicas": strategy.num_replicas_in_sync, "labels": data.labels, "parameters": model.count_params(),
               "train_examples": int(len(data.train_labels)), "phases": [k for k in kept if k is not None],
               "calibration": {"temperature": calibration.temperature, **calibration.summary},
               **_evaluate(model, config, data, _month_prior(config, data), calibration)}
    with open(os.path.join(config.model_dir, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    _export(model, config, calibration)
    run_index.write_run_index(config.model_dir)
    return metrics
