"""mushroom_observer builder tests on `dummy_data/` (a sample dump: 16 images per family, mess included).

The dummy data was written by `python -m tools.make_sample_dump --out dummy_data --images_per_family 16
--jpeg_quality 35`; class-size thresholds are scaled down to it. Expected split sizes are what
`python -m pyck_tfds.inspect dummy_data` reports for the same filters (checked below too).
"""

import dataclasses

import tensorflow_datasets as tfds

from pyck_tfds.dump import load_dump
from pyck_tfds.mushroom_observer import configs, mushroom_observer_dataset_builder

_CONFIGS = {c.name: c for c in configs.BUILDER_CONFIGS}
IMAGES_PER_FAMILY = 16  # dummy_data/README.txt


def _scaled(name: str, min_per_class: int):
    """A custom config (its own name: tfds forbids reusing one) with the threshold scaled to dummy_data."""
    return dataclasses.replace(_CONFIGS[name], name=f"{name}_min{min_per_class}", min_per_class=min_per_class)


class _MushroomObserverTestCase(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = mushroom_observer_dataset_builder.Builder
    SKIP_CHECKSUMS = True  # manual download: nothing to checksum

    PLANTED = None  # images the generator planted for this config (README.txt's command), where it is fixed

    def test_split_sizes_match_inspect(self):
        for config in self.BUILDER_CONFIG_NAMES_TO_TEST:
            config = _CONFIGS[config] if isinstance(config, str) else config
            report = load_dump(self.dummy_data, config.dump_filter, seed=config.split_seed, progress=False).report
            self.assertEqual(report.to_dict()["split_sizes"], self.SPLITS)
        if self.PLANTED is not None:  # independent of the reader: what make_sample_dump wrote
            self.assertEqual(sum(self.SPLITS.values()), self.PLANTED)


class Family7Test(_MushroomObserverTestCase):
    BUILDER_CONFIG_NAMES_TO_TEST = [_scaled("family7", 16)]
    SPLITS = {"train": 69, "validation": 19, "test": 24}
    PLANTED = 7 * IMAGES_PER_FAMILY


class Family5Test(_MushroomObserverTestCase):
    BUILDER_CONFIG_NAMES_TO_TEST = ["family5"]
    SPLITS = {"train": 50, "validation": 14, "test": 16}
    PLANTED = 5 * IMAGES_PER_FAMILY


class FamilyAllResolutionsTest(_MushroomObserverTestCase):
    BUILDER_CONFIG_NAMES_TO_TEST = [_scaled("family_all_resolutions", 16)]
    SPLITS = {"train": 80, "validation": 21, "test": 26}
    # Every planted image of the 7 families at any resolution: 16 each, round(0.15 x 16) = 2 each at other
    # sizes, and the one PNG.
    PLANTED = 7 * (IMAGES_PER_FAMILY + round(0.15 * IMAGES_PER_FAMILY)) + 1


class GenusTest(_MushroomObserverTestCase):
    BUILDER_CONFIG_NAMES_TO_TEST = [_scaled("genus", 5)]
    SPLITS = {"train": 83, "validation": 21, "test": 26}


class SpeciesTest(_MushroomObserverTestCase):
    BUILDER_CONFIG_NAMES_TO_TEST = [_scaled("species", 5)]
    SPLITS = {"train": 67, "validation": 17, "test": 21}


del _MushroomObserverTestCase  # only its subclasses are tests


if __name__ == "__main__":
    tfds.testing.test_main()
