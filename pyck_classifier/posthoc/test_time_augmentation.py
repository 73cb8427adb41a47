"""Test-time augmentation: average a classifier's probabilities over fixed views of each image.

- `none`: the image as it is;
- `flip`: the image and its left-right mirror (a mushroom photographed from the other side);
- `flip_crops`: those two, plus the central crop of 85 % of each side scaled back up, and its
  mirror (4 views: the subject a little closer, as photographers frame it).

The views are deterministic, so evaluation stays reproducible; `with_tta` wraps any
classifier into a model with the same input and output, so its callers (the trainer's
metrics, `pyck_eval report` and `predict`) use it without knowing about it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras

TTA_MODES = ("none", "flip", "flip_crops")
TTA_HELP = ("Test-time augmentation: flip (image + mirror) or flip_crops (+ a central 85 % crop and its mirror); "
            "probabilities are averaged.")
CROP_FRACTION = 0.85


def tta_views(images, mode: str) -> list:
    """The views of a (batch, H, W, 3) batch that `mode` averages over, as float32 in the input's range."""
    from keras import ops

    if mode not in TTA_MODES:
        raise ValueError(f"unknown TTA mode {mode!r}; choose from {', '.join(TTA_MODES)}")
    images = ops.cast(images, "float32")
    views = [images]
    if mode in ("flip", "flip_crops"):
        views.append(ops.flip(images, axis=2))
    if mode == "flip_crops":
        height, width = images.shape[1], images.shape[2]
        crop_h, crop_w = round(height * CROP_FRACTION), round(width * CROP_FRACTION)
        top, left = (height - crop_h) // 2, (width - crop_w) // 2
        crop = ops.image.resize(images[:, top:top + crop_h, left:left + crop_w, :], (height, width),
                                interpolation="bilinear", antialias=True)
        views += [crop, ops.flip(crop, axis=2)]
    return views


def with_tta(classifier: keras.Model, mode: str) -> keras.Model:
    """`classifier` itself for `none`; otherwise a model with its input and output that averages the views."""
    if mode == "none":
        return classifier
    if mode not in TTA_MODES:
        raise ValueError(f"unknown TTA mode {mode!r}; choose from {', '.join(TTA_MODES)}")
    import keras

    inputs = keras.Input(shape=classifier.input_shape[1:], name="image")
    views = [classifier(view, training=False) for view in tta_views(inputs, mode)]
    return keras.Model(inputs, keras.ops.mean(keras.ops.stack(views), axis=0), name=f"{classifier.name}_tta_{mode}")
