"""Builder configs: each is a documented set of `FilterOptions` plus the stored image size."""

from __future__ import annotations

import dataclasses

import tensorflow_datasets as tfds

from pyck_tfds.dump import DumpFilter, FilterOptions

STUDY_FAMILIES_7 = (
    "Agaricaceae", "Amanitaceae", "Boletaceae", "Cortinariaceae", "Russulaceae", "Strophariaceae", "Tricholomataceae",
)
STUDY_FAMILIES_5 = ("Agaricaceae", "Amanitaceae", "Boletaceae", "Cortinariaceae", "Russulaceae")
IMAGE_SIZE = (240, 320)  # (height, width) of every stored image: the study's 320x240 landscape photos
_DEFAULTS = FilterOptions()
# MO's vote in percent (vote_cache x 100 / 3): above 50 is a consensus above 1.5 of 3, between "could be" (1)
# and "promising" (2). The GBIF filter's 90 would keep near-unanimous "I'd call it that" votes only.
CSV_MIN_CONFIDENCE = 50.0


@dataclasses.dataclass(eq=False)
class MushroomObserverConfig(tfds.core.BuilderConfig):
    """`FilterOptions`' fields as plain JSON values, so `tfds build --config='{"name": ..., ...}'` can override them.

    The defaults are `FilterOptions`' own (a test checks that every field is here).
    """

    level: str = _DEFAULTS.level
    resolution: str = _DEFAULTS.resolution
    min_confidence: float = _DEFAULTS.min_confidence
    min_per_class: int = _DEFAULTS.min_per_class
    max_classes: int | None = _DEFAULTS.max_classes
    classes: tuple[str, ...] | None = _DEFAULTS.classes
    formats: tuple[str, ...] = _DEFAULTS.formats
    licenses: tuple[str, ...] | None = _DEFAULTS.licenses
    split_seed: int = 0
    source: str = "scrape_2017"  # what the manual dir must hold: a `pyck_tfds.dump.sources` name

    @property
    def filter_options(self) -> FilterOptions:
        return FilterOptions(**{field.name: getattr(self, field.name) for field in dataclasses.fields(FilterOptions)})

    @property
    def dump_filter(self) -> DumpFilter:
        return self.filter_options.dump_filter()


BUILDER_CONFIGS = [
    MushroomObserverConfig(
        name="family7",
        description="The study's setup: 320x240 JPEGs only, family level, GBIF confidence > 90, families with "
        ">= 4000 images (on the real dump: the study's 7 families).",
    ),
    MushroomObserverConfig(
        name="family5",
        description="The study's 5-family variant: " + ", ".join(STUDY_FAMILIES_5) + "; 320x240 only.",
        classes=STUDY_FAMILIES_5,
    ),
    MushroomObserverConfig(
        name="family_all_resolutions",
        description="The study's 7 families at every resolution and in JPEG, PNG or GIF: images that are not "
        "320x240 are centre-cropped to 4:3 and resized to 320x240 at build time (no padding, no distortion).",
        resolution="any",
        formats=("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "MPO"),
        classes=STUDY_FAMILIES_7,
    ),
    MushroomObserverConfig(
        name="genus",
        description="Genus level: 320x240 only, confidence > 90, genera with >= 1000 images.",
        level="genus",
        min_per_class=1000,
    ),
    MushroomObserverConfig(
        name="species",
        description="Species level: 320x240 only, confidence > 90, species with >= 500 images.",
        level="species",
        min_per_class=500,
    ),
    MushroomObserverConfig(
        name="family7_csv",
        description="Today's site, from the nightly CSV export (BUILD.md): the study's 7 families by name, 320x240 "
        "JPEGs (the site's 320-pixel size, landscape), community vote above 50 % (MO's consensus above 1.5 of 3), "
        "labels from MO's own taxonomy; features add each image's licence, copyright holder and coordinates.",
        source="csv_export", classes=STUDY_FAMILIES_7, min_confidence=CSV_MIN_CONFIDENCE,
    ),
    MushroomObserverConfig(
        name="family5_csv",
        description="family7_csv's filters with the study's 5 families: " + ", ".join(STUDY_FAMILIES_5) + ".",
        source="csv_export", classes=STUDY_FAMILIES_5, min_confidence=CSV_MIN_CONFIDENCE,
    ),
    MushroomObserverConfig(
        name="genus_csv",
        description="The CSV export at genus level: genera with >= 1000 images, vote above 50 %.",
        source="csv_export", level="genus", min_per_class=1000, min_confidence=CSV_MIN_CONFIDENCE,
    ),
    MushroomObserverConfig(
        name="species_csv",
        description="The CSV export at species level: species with >= 500 images, vote above 50 %.",
        source="csv_export", level="species", min_per_class=500, min_confidence=CSV_MIN_CONFIDENCE,
    ),
    MushroomObserverConfig(
        name="family7_csv_sample",
        description="family7_csv's filters with the class-size threshold scaled to the generated sample export "
        "(`python -m tools.make_sample_dump --format=csv_export`): families with >= 10 images.",
        source="csv_export", min_per_class=10, min_confidence=CSV_MIN_CONFIDENCE,
    ),
    MushroomObserverConfig(
        name="family7_sample",
        description="family7's filters with the class-size threshold scaled to the generated sample dump "
        "(`python -m tools.make_sample_dump`): families with >= 100 images.",
        min_per_class=100,
    ),
    MushroomObserverConfig(
        name="species_sample",
        description="species's filters with the class-size threshold scaled to the generated sample dump: species "
        "with >= 20 images (17 species, 12 genera, 7 families with the default 120 images per family). The sample "
        "tells a family's species apart by cap colour only, and not all of them (a style has 1 to 3 colours).",
        level="species",
        min_per_class=20,
    ),
]
