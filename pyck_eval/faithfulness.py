"""Deletion and insertion curves: does removing what a map points at change the model's mind?

Pixels are ranked by a map's attribution (resized to the photo). Deletion replaces the top
fraction with the same pixels of a reference image (the photo blurred) and follows the
explained class's probability as the fraction grows from 0 to 1; insertion starts from the
reference and reveals the top pixels first. A faithful map makes deletion fall fast (a low
area under the curve) and insertion rise fast (a high area). A map in random order is the
yardstick: a method whose deletion area is not below the random one's explains nothing.
The curve images are pure numpy; the caller gives the function that scores them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def pixel_ranking(attribution: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Flat pixel indices of a (h, w) photo, most attributed first; a map of another size is resized first."""
    from PIL import Image

    height, width = shape
    values = np.asarray(attribution, np.float32)
    if values.shape != (height, width):
        values = np.asarray(Image.fromarray(values, mode="F").resize((width, height), Image.BILINEAR))
    return np.argsort(-values.ravel(), kind="stable")


def random_ranking(shape: tuple[int, int], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(shape[0] * shape[1])


def curve_images(image: np.ndarray, reference: np.ndarray, ranking: np.ndarray, steps: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(deletion images, insertion images), `steps + 1` each: 0, 1/steps, ..., all of the ranked pixels swapped."""
    height, width = image.shape[:2]
    deletion, insertion = [], []
    for step in range(steps + 1):
        mask = np.zeros(height * width, bool)
        mask[ranking[:round(step / steps * len(ranking))]] = True
        mask = mask.reshape(height, width, 1)
        deletion.append(np.where(mask, reference, image))
        insertion.append(np.where(mask, image, reference))
    return np.stack(deletion).astype(np.float32), np.stack(insertion).astype(np.float32)


def area_under(curve: np.ndarray) -> float:
    """Trapezoid area under a curve sampled at equal steps over [0, 1]."""
    curve = np.asarray(curve, np.float64)
    return float((curve[1:] + curve[:-1]).sum() / (2 * (len(curve) - 1)))


def curves(score: Callable[[np.ndarray], np.ndarray], image: np.ndarray, reference: np.ndarray,
           ranking: np.ndarray, target: int, steps: int) -> dict:
    """Deletion and insertion curves of one ranking (the class's probability at each step) and their areas.

    `score` maps a batch of images to probabilities; both curves go through it in one call.
    """
    deletion, insertion = curve_images(image, reference, ranking, steps)
    probabilities = score(np.concatenate([deletion, insertion]))[:, target]
    deleted, inserted = probabilities[:steps + 1], probabilities[steps + 1:]
    return {"deletion": deleted, "insertion": inserted, "deletion_auc": area_under(deleted),
            "insertion_auc": area_under(inserted)}
