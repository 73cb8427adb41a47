"""Colour segmentation as a background-removal experiment (the study tried KMeans and MeanShift).

Pure numpy/scikit-learn: an RGB image in, a label per pixel out. The background guess is the
segments that cover much of the image border, since the photographed mushroom is rarely cut
by the frame.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans, MeanShift, estimate_bandwidth


def pixel_features(image: np.ndarray, xy_weight: float = 0.0) -> np.ndarray:
    """(h*w, 3) RGB in [0, 1], plus (x, y) in [0, 1] scaled by `xy_weight` when it is positive."""
    height, width = image.shape[:2]
    rgb = image.reshape(-1, 3).astype(np.float32) / 255.0
    if xy_weight <= 0:
        return rgb
    ys, xs = np.mgrid[0:height, 0:width]
    xy = np.stack([xs.ravel() / max(width - 1, 1), ys.ravel() / max(height - 1, 1)], axis=1) * xy_weight
    return np.concatenate([rgb, xy.astype(np.float32)], axis=1)


def kmeans_segments(image: np.ndarray, clusters: int, xy_weight: float = 0.0, seed: int = 0) -> np.ndarray:
    labels = KMeans(n_clusters=clusters, n_init=4, random_state=seed).fit_predict(pixel_features(image, xy_weight))
    return labels.reshape(image.shape[:2])


def mean_shift_segments(image: np.ndarray, seed: int = 0) -> np.ndarray:
    features = pixel_features(image)
    bandwidth = estimate_bandwidth(features, quantile=0.1, n_samples=500, random_state=seed)
    labels = MeanShift(bandwidth=max(bandwidth, 1e-3), bin_seeding=True).fit_predict(features)
    return labels.reshape(image.shape[:2])


def mean_colours(image: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """Each pixel painted with its segment's mean colour (uint8)."""
    flat, labels = image.reshape(-1, 3).astype(np.float64), segments.ravel()
    counts = np.bincount(labels)
    means = np.stack([np.bincount(labels, flat[:, c], minlength=len(counts)) for c in range(3)], axis=1)
    means /= np.maximum(counts, 1)[:, None]
    return means[labels].reshape(image.shape).astype(np.uint8)


def background_segments(segments: np.ndarray, border_share: float = 0.2) -> list[int]:
    """Segments that cover at least `border_share` of the image border (at least the largest one)."""
    border = np.concatenate([segments[0], segments[-1], segments[:, 0], segments[:, -1]])
    shares = np.bincount(border) / len(border)
    return sorted({int(shares.argmax()), *np.flatnonzero(shares >= border_share).tolist()})


def remove_background(image: np.ndarray, segments: np.ndarray, border_share: float = 0.2) -> np.ndarray:
    kept = image.copy()
    kept[np.isin(segments, background_segments(segments, border_share))] = 255
    return kept
