"""Pooled backbone features, computed once per image, for training a head on a frozen base.

With the base frozen, every epoch would run the whole CNN again on the same images; on a CPU
that is ~99% of the time. Here the base and the head's global average pooling run once per
image, and the head's remaining layers (the same layer objects, so the trained weights land
in the full model) train on the pooled vectors. The result is the model a plain frozen phase
would give: pooling is deterministic and nothing random happens before it.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from pyck_classifier.data.input_pipeline import EpochSeeds, shuffled_by_epoch
from pyck_classifier.model.classifier import layers_after
from pyck_classifier.model.heads import LOGITS_LAYER, POOL_LAYER


def pooled_feature_model(classifier: keras.Model) -> keras.Model:
    """Image -> the head's pooled feature vector (the input of its first dense/dropout layer)."""
    return keras.Model(classifier.input, classifier.get_layer(POOL_LAYER).output, name="pooled_features")


def logits_and_features_model(classifier: keras.Model) -> keras.Model:
    """Image -> [logits | pooled features] in one float32 row (one pass feeds calibration and out-of-class scores).

    Split the rows with `split_logits_and_features`.
    """
    parts = [keras.ops.cast(classifier.get_layer(name).output, "float32") for name in (LOGITS_LAYER, POOL_LAYER)]
    return keras.Model(classifier.input, keras.ops.concatenate(parts, axis=-1), name="logits_and_features")


def split_logits_and_features(rows: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    return rows[:, :num_classes], rows[:, num_classes:]


def head_on_features(classifier: keras.Model) -> keras.Model:
    """The classifier's layers after pooling, re-applied to a feature vector input; weights are shared."""
    inputs = keras.Input(shape=classifier.get_layer(POOL_LAYER).output.shape[1:], name="pooled_features")
    x = inputs
    for layer in layers_after(classifier, POOL_LAYER):
        x = layer(x)
    return keras.Model(inputs, x, name="head")


def _predict_on_batch(model, images) -> np.ndarray:
    """`predict_on_batch`, except for a model built under a multi-replica strategy: Keras would give each
    replica the whole batch and concatenate the copies, so the model is called directly (one device).
    A `litert.LiteRTModel` has the same `predict_on_batch`."""
    strategy = getattr(model, "distribute_strategy", None)
    if strategy is not None and strategy.num_replicas_in_sync > 1:
        return np.asarray(model(images, training=False))
    return np.asarray(model.predict_on_batch(images))


def _predict_padded(model, images, batch_size: int) -> np.ndarray:
    """A short last batch is padded to `batch_size` with zeros and the padding's outputs dropped: one shape, one
    traced predict function per model (each new shape retraces it, ~1 s, and TensorFlow warns about retracing)."""
    missing = batch_size - len(images)
    if missing > 0:
        images = tf.concat([images, tf.zeros((missing, *images.shape[1:]), images.dtype)], axis=0)
    return _predict_on_batch(model, images)[:batch_size - missing].astype(np.float32)


def predict_batches(model, batches: tf.data.Dataset, description: str = "features"
                    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Run `model` (a feature extractor or a classifier, Keras or LiteRT) over (images, labels[, metadata]) batches.

    Returns its float32 outputs, int64 labels and the metadata's columns concatenated (empty dict if none);
    text columns (tf.string) come back as str.
    """
    features, labels, metadata = [], [], {}
    total = batches.cardinality().numpy()
    batch_size = None
    for images, batch_labels, *meta in tqdm(batches, total=total if total > 0 else None, desc=description,
                                            unit="batch"):
        features.append(_predict_padded(model, images, batch_size := batch_size or len(images)))
        labels.append(batch_labels.numpy())
        for key, values in (meta[0] if meta else {}).items():
            metadata.setdefault(key, []).append(values.numpy())
    if not features:
        width = model.output_size if hasattr(model, "output_size") else model.output.shape[-1]
        return np.zeros((0, width), np.float32), np.zeros((0,), np.int64), {}
    columns = {key: np.concatenate(values) for key, values in metadata.items()}
    for key, column in columns.items():
        if column.dtype == object:
            columns[key] = np.array([v.decode() if isinstance(v, bytes) else v for v in column], dtype=str)
    return np.concatenate(features), np.concatenate(labels).astype(np.int64), columns


def feature_pipeline(features: np.ndarray, labels: np.ndarray, *, training: bool, batch_size: int, seed: int = 0,
                     shuffle_buffer: int | None = None, epoch_seeds: EpochSeeds | None = None,
                     epoch_batches: int | None = None) -> tf.data.Dataset:
    """Batches of (pooled features, labels); training ones shuffled every epoch (by epoch with `epoch_seeds`,
    then an endless stream of epochs, each cut to `epoch_batches` when given: see `make_pipeline`).

    With the image pipeline's `shuffle_buffer`, the batches hold the same examples as `make_pipeline`'s
    (the default buffer holds every example).
    """
    ds = tf.data.Dataset.from_tensor_slices((features, labels))
    if training:
        return shuffled_by_epoch(ds, shuffle_buffer or len(labels), seed, epoch_seeds,
                                 lambda examples: examples.batch(batch_size), epoch_batches).prefetch(tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
