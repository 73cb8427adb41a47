"""SHAP values of photos through the `shap` library: GradientExplainer, i.e. expected gradients.

Expected gradients are Integrated Gradients averaged over baselines drawn from a background set
(here photos of the training split) and over random points of each path, so no single baseline
colours the answer. Only the explained class's output is computed (`ranked_outputs=1`, the
largest logit, i.e. the predicted class), unless a tie makes it another. shap draws its samples
from numpy's global generator, which is seeded here so the same settings give the same map.
"""

from __future__ import annotations

import dataclasses
import warnings

import keras
import numpy as np


@dataclasses.dataclass(frozen=True)
class ShapSettings:
    background: int  # photos of the training split the baselines are drawn from
    samples: int  # (baseline, path point) draws per photo
    seed: int
    explainer: str = "shap.GradientExplainer (expected gradients) on the logits"


def shap_maps(logits: keras.Model, images: np.ndarray, background: np.ndarray, targets: np.ndarray,
              settings: ShapSettings, batch_size: int = 16) -> np.ndarray:
    """(n, h, w) signed evidence for class `targets[i]` of each photo, summed over channels.

    The largest logit is computed alone; a photo whose target is not its largest logit (a tie) is computed again
    for every class, and its target's values kept.
    """
    import shap

    images, targets = np.asarray(images, np.float32), np.asarray(targets).reshape(-1)
    np.random.seed(settings.seed)
    with warnings.catch_warnings():  # Keras 3 warns that shap passes its input as a list: noise here
        warnings.simplefilter("ignore")
        explainer = shap.GradientExplainer(logits, np.asarray(background, np.float32), batch_size=batch_size)
        values, ranked = explainer.shap_values(images, nsamples=settings.samples, ranked_outputs=1,
                                               output_rank_order="max")
        values = _first_output(values)
        for row in np.flatnonzero(np.asarray(ranked).reshape(-1) != targets):
            every_class = explainer.shap_values(images[row:row + 1], nsamples=settings.samples)
            values[row] = np.asarray(every_class)[0, ..., targets[row]]
    return values.sum(axis=-1)


def _first_output(values) -> np.ndarray:
    """shap >= 0.45 returns one (n, h, w, c, outputs) array, older versions a list with one array per output."""
    return np.array(values[0]) if isinstance(values, list) else np.array(values)[..., 0]
