"""Integrated Gradients (Sundararajan et al., 2017) of a pyck classifier's logit, with its completeness check.

The attribution of pixel i is (x_i - b_i) times the mean gradient of the class logit along the
straight path from the baseline b to the photo x. Completeness says the attributions sum to
logit(x) - logit(b); with a finite number of steps (trapezoid rule) the sum misses it by a gap
that shrinks with more steps, and that gap is reported per photo. The path's images go through
the classifier in batches; gradients are taken on the logits (pre-softmax) of the whole model,
the nested backbone called with training=False like every pyck inference.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from pyck_classifier.model.heads import LOGITS_LAYER

BASELINES = ("black", "blur")  # the photo's all-zero pixels, or the photo blurred (`blurred`)


def logits_model(classifier: keras.Model) -> keras.Model:
    """The classifier up to its logits layer (pre-softmax scores), the backbone included."""
    return keras.Model(classifier.input, classifier.get_layer(LOGITS_LAYER).output, name="logits")


def blurred(image: np.ndarray, radius: float = 16.0) -> np.ndarray:
    """The photo under a Gaussian blur: no edge or texture left, its colours kept (float [0, 255])."""
    from PIL import Image, ImageFilter

    pil = Image.fromarray(np.uint8(np.clip(image, 0, 255)))
    return np.asarray(pil.filter(ImageFilter.GaussianBlur(radius)), np.float32)


def baseline_of(image: np.ndarray, kind: str) -> np.ndarray:
    if kind not in BASELINES:
        raise ValueError(f"unknown baseline {kind!r}; choose from {', '.join(BASELINES)}")
    return np.zeros_like(image, np.float32) if kind == "black" else blurred(image)


@dataclasses.dataclass(frozen=True)
class Attribution:
    pixels: np.ndarray  # (h, w, 3) attribution of each pixel value, summing to about `logit_difference`
    logit_difference: float  # logit(photo) - logit(baseline) of the explained class
    completeness_gap: float  # |sum(pixels) - logit_difference| / max(|logit_difference|, 1): relative, in logits
    # when the difference is under one logit (a baseline the model scores almost as the photo)

    def map(self) -> np.ndarray:
        """(h, w) signed evidence per pixel: the attributions of its three channels summed."""
        return self.pixels.sum(axis=-1)


def gradients(logits: keras.Model, images: np.ndarray, target: int, batch_size: int) -> np.ndarray:
    """d logit[target] / d image for each image, in batches."""
    result = []
    for start in range(0, len(images), batch_size):
        batch = tf.convert_to_tensor(images[start:start + batch_size], tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(batch)
            score = tf.cast(logits(batch, training=False), tf.float32)[:, target]
        result.append(tape.gradient(score, batch).numpy())
    return np.concatenate(result)


def integrated_gradients(logits: keras.Model, image: np.ndarray, baseline: np.ndarray, target: int,
                         steps: int = 64, batch_size: int = 16) -> Attribution:
    """Attributions of `image` (float [0, 255], the model's input size) for class `target` against `baseline`."""
    if steps < 1:
        raise ValueError(f"integrated gradients need at least 1 step, got {steps}")
    image, baseline = np.asarray(image, np.float32), np.asarray(baseline, np.float32)
    alphas = np.linspace(0.0, 1.0, steps + 1, dtype=np.float32)
    path = baseline[None] + alphas[:, None, None, None] * (image - baseline)[None]
    grads = gradients(logits, path, target, batch_size)
    weights = np.full(steps + 1, 1.0 / steps)
    weights[[0, -1]] /= 2  # the trapezoid rule over [0, 1]
    pixels = (image - baseline) * np.tensordot(weights, grads, axes=1)
    ends = tf.cast(logits(tf.convert_to_tensor(np.stack([image, baseline])), training=False), tf.float32).numpy()
    difference = float(ends[0, target] - ends[1, target])
    gap = abs(float(pixels.sum()) - difference) / max(abs(difference), 1.0)
    return Attribution(pixels, difference, gap)
