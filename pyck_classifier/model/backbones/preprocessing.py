"""In-model ImageNet preprocessing, so every backbone takes float RGB pixels in [0, 255]."""

from __future__ import annotations

import keras
from keras import ops

_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="pyck")
class ImageNetPreprocessing(keras.layers.Layer):
    """The `mode` of `keras.applications.imagenet_utils.preprocess_input`, as a serialisable layer.

    "caffe": RGB -> BGR, minus the ImageNet BGR mean (VGG, ResNet); "tf": scaled to [-1, 1]
    (Inception).
    """

    def __init__(self, mode: str, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("caffe", "tf"):
            raise ValueError(f"mode must be 'caffe' or 'tf', got {mode!r}")
        self.mode = mode

    def call(self, inputs):
        if self.mode == "tf":
            return inputs / 127.5 - 1.0
        bgr = ops.flip(inputs, axis=-1)
        return bgr - ops.convert_to_tensor(_CAFFE_BGR_MEAN, dtype=inputs.dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode}
