"""Training-batch augmentation with Keras's own preprocessing layers, applied in tf.data after the cache.

- `none`: the images as they are;
- `light`: left-right flip, rotation up to +-18 degrees, zoom in up to 20 %, shifts up to 10 %,
  brightness and contrast +-20 %. No hue or saturation change: a mushroom's colour is
  one of its characters (a red Russula must not turn purple);
- `randaugment`: the left-right flip and `keras.layers.RandAugment` (2 random operations of
  magnitude 0.5 per image).

`--mixup ALPHA` and `--cutmix ALPHA` mix pairs of images and their one-hot labels
(`keras.layers.MixUp`, `keras.layers.CutMix`); with both set, each batch gets one of the two,
chosen at random. Only `training` pipelines are augmented: evaluation and prediction never
see any of this, and `--cache_features` phases, which train on features computed once per
image, cannot be augmented at all.

Given a batch's seed (the trainer's pipeline gives (seed, epoch, batch index)), every random draw
of the batch is a function of that seed alone, so a seeded run augments the same way every time,
resumed or not. Keras's layers draw from a seed-generator variable; in a parallel map the batches
take its draws in whatever order their threads run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import keras
import tensorflow as tf

from pyck_train.config import AUGMENTATIONS


def image_augmenter(kind: str, seed: int = 0) -> keras.Sequential | None:
    """Per-image random transforms for `kind`, float32 [0, 255] out; None for `none`."""
    if kind == "none":
        return None
    layers = [keras.layers.RandomFlip("horizontal", seed=seed)]
    if kind == "light":
        layers += [
            keras.layers.RandomRotation(0.05, fill_mode="reflect", seed=seed + 1),
            keras.layers.RandomZoom((-0.2, 0.0), fill_mode="reflect", seed=seed + 2),
            keras.layers.RandomTranslation(0.1, 0.1, fill_mode="reflect", seed=seed + 3),
            keras.layers.RandomBrightness(0.2, value_range=(0, 255), seed=seed + 4),
            keras.layers.RandomContrast(0.2, value_range=(0, 255), seed=seed + 5),
        ]
    elif kind == "randaugment":
        layers.append(keras.layers.RandAugment(value_range=(0, 255), num_ops=2, factor=0.5, seed=seed + 1))
    else:
        raise ValueError(f"unknown augmentation {kind!r}; choose from {', '.join(AUGMENTATIONS)}")
    return keras.Sequential(layers, name=f"augment_{kind}")


class _BatchSeeds(keras.random.SeedGenerator):
    """A stateless stand-in for the layers' seed generators: a batch's i-th draw is fold_in(the batch's seed, i)."""

    def __init__(self, batch_seed: tf.Tensor):  # no state variable: nothing is shared between batches
        self._batch_seed = tf.cast(batch_seed, tf.int64)
        self._draws = 0  # counted while the map function is traced: each draw site gets its own index

    def next(self, ordered: bool = True) -> tf.Tensor:
        self._draws += 1
        return tf.random.experimental.stateless_fold_in(self._batch_seed, self._draws)


@contextlib.contextmanager
def _drawing_from(layers: list[keras.layers.Layer], seeds: _BatchSeeds | None) -> Iterator[None]:
    """The layers draw from `seeds` inside the block (their own generators with None). Every Keras image
    preprocessing layer, RandAugment's inner ones included, gets its seed generator from `_get_seed_generator`."""
    if seeds is None:
        yield
        return
    for layer in layers:
        layer.__dict__["_get_seed_generator"] = lambda backend=None: seeds
    try:
        yield
    finally:
        for layer in layers:
            del layer.__dict__["_get_seed_generator"]


def batch_augmenter(kind: str, num_classes: int, *, mixup: float = 0.0, cutmix: float = 0.0, seed: int = 0
                    ) -> Callable[..., tuple[tf.Tensor, tf.Tensor]]:
    """(uint8 images, int labels[, the batch's int seed pair]) -> (float32 images, one-hot labels), augmented
    as configured: by the batch's seed alone when given, else from the layers' own generators (seeded by `seed`).

    With no augmentation at all it only casts and one-hot encodes, so every training batch has
    the same types whatever the flags.
    """
    images_augmenter = image_augmenter(kind, seed)
    mixers = []
    if mixup > 0:
        mixers.append(keras.layers.MixUp(alpha=mixup, seed=seed + 10))
    if cutmix > 0:
        mixers.append(keras.layers.CutMix(factor=cutmix, seed=seed + 11))

    layers = [*(images_augmenter.layers if images_augmenter is not None else ()), *mixers]

    def augment(images: tf.Tensor, labels: tf.Tensor, batch_seed: tf.Tensor | None = None
                ) -> tuple[tf.Tensor, tf.Tensor]:
        seeds = _BatchSeeds(batch_seed) if batch_seed is not None else None
        with _drawing_from(layers, seeds):
            images = tf.cast(images, tf.float32)
            if images_augmenter is not None:
                images = images_augmenter(images, training=True)
            one_hot = tf.one_hot(labels, num_classes)
            if not mixers:
                return images, one_hot

            def mix(layer):
                return lambda: tuple(layer({"images": images, "labels": one_hot}, training=True).values())

            if len(mixers) == 1:
                return mix(mixers[0])()
            coin = (tf.random.stateless_uniform([], seed=seeds.next()) if seeds is not None
                    else tf.random.uniform([]))
            return tf.cond(coin < 0.5, mix(mixers[0]), mix(mixers[1]))

    return augment
