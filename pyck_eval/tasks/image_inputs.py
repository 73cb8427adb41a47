"""Image files named on the command line, all read before any work so a bad one costs nothing."""

from __future__ import annotations

import numpy as np

from pyck_eval.lazy_imports import lazy_import
from pyck_eval.tasks.errors import OptionError

image_preprocessing = lazy_import("pyck_classifier.model.image_preprocessing")


def read_images(paths: list[str], flag: str = "--images") -> list[np.ndarray]:
    """Each file as RGB pixels (EXIF orientation applied); the first unreadable one refused, naming the flag."""
    images = []
    for path in paths:
        try:
            images.append(image_preprocessing.read_image_file(path))
        except ValueError as err:
            raise OptionError(f"{flag}: {err}") from None
    return images
