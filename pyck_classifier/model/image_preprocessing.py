"""The one image preprocessing shared by training, evaluation and prediction.

Backbones hold their own normalisation (see `backbones.registry`), so this only makes any
image a uint8 RGB tensor of the dataset's size; models cast it to float [0, 255] at their
input (uint8 batches are a quarter of the bytes to copy and to send to a GPU). An image of another size is
centre-cropped to the target aspect and resized, as the TFDS builder does for
`family_all_resolutions`, so train and predict see the same framing. Files given to predict
or Grad-CAM are read with `read_image_file`, which applies their EXIF orientation.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def decode_image(encoded: tf.Tensor) -> tf.Tensor:
    """JPEG/PNG/GIF/BMP bytes -> uint8 RGB (grayscale and RGBA become RGB)."""
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def read_image_file(path: str) -> np.ndarray:
    """An image file of any format PIL reads -> uint8 RGB, turned upright by its EXIF orientation.

    Raises ValueError naming the file when it is not a readable image.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"{path}: not a readable image ({err})") from None


def prepare_image(image: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """uint8 or float [0, 255] RGB (H, W, 3) -> uint8 (size[0], size[1], 3); resized only when needed.

    `size` is (height, width): the dataset's image shape when training, the model's input when predicting.
    """
    height, width = size
    shape = tf.shape(image)

    def crop_and_resize() -> tf.Tensor:
        h, w = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
        scale = tf.minimum(h / height, w / width)
        crop_h = tf.cast(tf.round(height * scale), tf.int32)
        crop_w = tf.cast(tf.round(width * scale), tf.int32)
        top, left = (shape[0] - crop_h) // 2, (shape[1] - crop_w) // 2
        cropped = tf.cast(image[top:top + crop_h, left:left + crop_w], tf.float32)
        resized = tf.image.resize(cropped, size, method="bicubic", antialias=True)
        return tf.saturate_cast(tf.round(resized), tf.uint8)

    as_uint8 = image if image.dtype == tf.uint8 else tf.saturate_cast(tf.round(tf.cast(image, tf.float32)), tf.uint8)
    same_size = tf.logical_and(tf.equal(shape[0], height), tf.equal(shape[1], width))
    prepared = tf.cond(same_size, lambda: as_uint8, crop_and_resize)
    return tf.ensure_shape(prepared, [height, width, 3])
