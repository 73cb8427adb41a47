"""tf.data input pipelines over the built `mushroom_observer` dataset.

tfds.load (parallel JPEG decode) -> cache (decoded uint8, flag) -> shuffle -> the shared
`prepare_image` (resize only when needed, float32) -> batch -> prefetch. The cache holds
uint8 pixels (a quarter of float32's memory: 230 KB per 320x240 image), and everything
random comes after it. Training order may be non-deterministic for speed; evaluation order
is deterministic. Keras's `fit` feeds these through the distribution strategy's distributed
dataset, which prefetches each batch onto the GPU(s) while the current step runs.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_datasets as tfds

import pyck_tfds  # noqa: F401  (registers mushroom_observer)
from pyck_train.preprocessing import prepare_image

AUTOTUNE = tf.data.AUTOTUNE


def load_split(dataset: str, split: str, data_dir: str | None = None) -> tuple[tf.data.Dataset, tfds.core.DatasetInfo]:
    """(image uint8, label) pairs of one split; `split` may be sliced (`train[:5000]`)."""
    return tfds.load(dataset, split=split, data_dir=data_dir, as_supervised=True, with_info=True,
                     shuffle_files=False, read_config=tfds.ReadConfig(try_autocache=False))


def make_pipeline(
    images_and_labels: tf.data.Dataset,
    *,
    training: bool,
    batch_size: int,
    cache: bool = False,
    shuffle_buffer: int = 2048,
    seed: int = 0,
) -> tf.data.Dataset:
    """Batches of (float32 images in [0, 255], labels), ready for `model.fit` / `evaluate`."""
    options = tf.data.Options()
    options.deterministic = not training
    options.experimental_optimization.map_parallelization = True
    # Multi-worker: shard by example, since a small split may have fewer record files than workers.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    ds = images_and_labels.with_options(options)
    if cache:
        ds = ds.cache()
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(lambda image, label: (prepare_image(image), label), num_parallel_calls=AUTOTUNE,
                deterministic=not training)
    return ds.batch(batch_size, drop_remainder=False).prefetch(AUTOTUNE)
