"""Train a classifier on `mushroom_observer` through the strategy's phases, writing everything to model_dir.

Outputs: `flags.txt` (a reusable flagfile), `labels.txt`, `checkpoints/best_<phase>.weights.h5`,
`history_<phase>.csv`, `training_curves.png`, `logs/` (TensorBoard), `model.keras`,
`saved_model/` (for serving) and `metrics.json` on the validation and test splits.

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
import pandas as pd
import tensorflow as tf
import tensorflow_datasets as tfds

from pyck_train import curves, feature_cache
from pyck_train.input_pipeline import load_split, make_pipeline
from pyck_train.model import backbone_of, build_classifier
from pyck_train.strategies import Phase, apply_phase, phases


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
    precision: str = "auto"
    distribution: str = "auto"
    jit_compile: bool = False

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
    if phase.name == "finetune":
        return config.fine_tune_epochs, config.fine_tune_learning_rate * replicas
    rate = config.learning_rate * replicas
    if phase.base == "top":
        rate = keras.optimizers.schedules.ExponentialDecay(rate, decay_steps=max(steps, 1),
                                                           decay_rate=config.lr_decay_rate)
    return config.epochs, rate


def _callbacks(config: TrainConfig, index: int, phase: Phase, head_only: bool = False
               ) -> list[keras.callbacks.Callback]:
    tag = f"{index}_{phase.name}"
    best = f"best_{tag}.head_only.weights.h5" if head_only else f"best_{tag}.weights.h5"
    callbacks = [
        keras.callbacks.BackupAndRestore(os.path.join(config.model_dir, "backup", tag)),
        keras.callbacks.ModelCheckpoint(os.path.join(config.model_dir, "checkpoints", best),
                                        monitor="val_accuracy", save_best_only=True, save_weights_only=True),
        keras.callbacks.CSVLogger(os.path.join(config.model_dir, f"history_{tag}.csv"), append=True),
        keras.callbacks.TensorBoard(os.path.join(config.model_dir, "logs", tag)),
    ]
    if phase.name == "finetune":
        callbacks += [
            keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=config.reduce_lr_patience),
            keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=config.early_stopping_patience,
                                          restore_best_weights=True),
        ]
    return callbacks


def _pooled_features(model: keras.Model, raw: dict, batch: int):
    """Pooled features of the train and validation splits, in order, from the frozen base (one pass each)."""
    extractor = feature_cache.pooled_feature_model(model)
    return tuple(
        feature_cache.predict_batches(
            extractor, make_pipeline(raw[name][0], training=False, batch_size=batch), f"features {name}")[:2]
        for name in ("train", "validation"))


def train(config: TrainConfig, extra_callbacks: list[keras.callbacks.Callback] = ()) -> dict:
    """Run every phase of `config.strategy`; returns the metrics written to metrics.json."""
    for folder in ("checkpoints", "phases", "logs"):
        os.makedirs(os.path.join(config.model_dir, folder), exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_global_policy(resolve_precision(config.precision))
    strategy = resolve_distribution(config.distribution)
    replicas = strategy.num_replicas_in_sync
    batch = config.batch_size * replicas

    train_split = "train"
    if config.train_subset:  # tfds refuses a slice past the end: a subset larger than the split is the split
        available = tfds.builder(config.dataset, data_dir=config.data_dir).info.splits["train"].num_examples
        train_split = f"train[:{min(config.train_subset, available)}]"
    raw = {name: load_split(config.dataset, split, config.data_dir, shuffle_files=name == "train", seed=config.seed)
           for name, split in (("train", train_split), ("validation", "validation"), ("test", "test"))}
    labels = raw["train"][1].features["label"].names
    with open(os.path.join(config.model_dir, "labels.txt"), "w") as f:
        f.write("\n".join(labels) + "\n")
    pipelines = {
        name: make_pipeline(ds, training=name == "train", batch_size=batch, cache=config.cache,
                            shuffle_buffer=config.shuffle_buffer, seed=config.seed)
        for name, (ds, _) in raw.items()
    }
    train_examples = raw["train"][0].cardinality().numpy()
    steps = config.steps_per_epoch or -(-int(train_examples) // batch)

    with strategy.scope():
        model = build_classifier(config.backbone, len(labels), weights=config.weights, head=config.head)
    cached = None  # (train, validation) pooled features, computed on first use
    for index, phase in enumerate(phases(config.strategy)):
        finished = os.path.join(config.model_dir, "phases", f"{index}_{phase.name}.weights.h5")
        apply_phase(backbone_of(model), phase, config.unfreeze_top_layers)
        if os.path.exists(finished):
            model.load_weights(finished)
            continue
        epochs, rate = _phase_epochs_and_rate(config, phase, replicas, steps)
        if epochs == 0:
            continue
        fitted, train_data, validation_data = model, pipelines["train"], pipelines["validation"]
        if config.cache_features and phase.base == "none":
            if cached is None:
                cached = _pooled_features(model, raw, batch)
            (train_x, train_y), (val_x, val_y) = cached
            fitted = feature_cache.head_on_features(model)
            train_data = feature_cache.feature_pipeline(train_x, train_y, training=True, batch_size=batch,
                                                        seed=config.seed)
            validation_data = feature_cache.feature_pipeline(val_x, val_y, training=False, batch_size=batch)
        with strategy.scope():
            fitted.compile(keras.optimizers.Adam(rate), loss="sparse_categorical_crossentropy",
                           metrics=["accuracy"], jit_compile=config.jit_compile)
        fitted.fit(train_data, validation_data=validation_data, epochs=epochs,
                   steps_per_epoch=config.steps_per_epoch or None,
                   callbacks=_callbacks(config, index, phase, head_only=fitted is not model) + list(extra_callbacks),
                   verbose=2)
        model.save_weights(finished)

    metrics = {"dataset": config.dataset, "data_dir": config.data_dir, "backbone": config.backbone,
               "strategy": config.strategy, "precision": keras.mixed_precision.global_policy().name,
               "replicas": replicas, "labels": labels, "parameters": model.count_params(),
               "train_examples": int(train_examples)}
    if not model.compiled:  # every phase restored from phases/, or trained on cached features
        with strategy.scope():
            model.compile(keras.optimizers.Adam(config.learning_rate), loss="sparse_categorical_crossentropy",
                          metrics=["accuracy"])
    for name in ("validation", "test"):
        loss, accuracy = model.evaluate(pipelines[name], verbose=0)
        metrics[name] = {"accuracy": float(accuracy), "loss": float(loss),
                         "examples": int(raw[name][0].cardinality().numpy())}
    with open(os.path.join(config.model_dir, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    model.save(os.path.join(config.model_dir, "model.keras"))
    model.export(os.path.join(config.model_dir, "saved_model"), verbose=False)
    histories = sorted(p for p in os.listdir(config.model_dir) if p.startswith("history_") and p.endswith(".csv"))
    curves.plot_history([pd.read_csv(os.path.join(config.model_dir, p)) for p in histories],
                        [p[len("history_"):-len(".csv")] for p in histories],
                        os.path.join(config.model_dir, "training_curves.png"))
    return metrics
