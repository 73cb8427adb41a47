"""Mushroom Observer as a TensorFlow Datasets dataset: `import pyck_tfds` registers `mushroom_observer`."""

from pyck_tfds.mushroom_observer import Builder as MushroomObserver

__all__ = ["MushroomObserver"]
