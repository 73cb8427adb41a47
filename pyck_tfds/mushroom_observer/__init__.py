"""The `mushroom_observer` TFDS dataset."""

from pyck_tfds.mushroom_observer.mushroom_observer_dataset_builder import Builder

__all__ = ["Builder"]
