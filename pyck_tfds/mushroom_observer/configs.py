"""Builder configs: each is a documented set of `DumpFilter` parameters plus the stored image size."""

from __future__ import annotations

import dataclasses

import tensorflow_datasets as tfds

from pyck_tfds.dump import DumpFilter

STUDY_FAMILIES_7 = (
    "Agaricaceae", "Amanitaceae", "Boletaceae", "Cortinariaceae", "Russulaceae", "Strophariaceae", "Tricholomataceae",
)
STUDY_FAMILIES_5 = ("Agaricaceae", "Amanitaceae", "Boletaceae", "Cortinariaceae", "Russulaceae")
IMAGE_SIZE = (240, 320)  # (height, width) of every stored image: the study's 320x240 landscape photos


@dataclasses.dataclass(eq=False)
class MushroomObserverConfig(tfds.core.BuilderConfig):
    """Filter parameters as plain JSON values, so `tfds build --config='{"name": ..., ...}'` can override them."""

    level: str = "family"
    resolution: str = "320x240"  # WIDTHxHEIGHT[,...] or "any"
    min_confidence: float = 90.0
    min_per_class: int = 4000
    max_classes: int | None = None
    classes: tuple[str, ...] | None = None
    formats: tuple[str, ...] = ("JPEG",)
    split_seed: int = 0

    @property
    def dump_filter(self) -> DumpFilter:
        return DumpFilter.from_options(
            level=self.level, resolution=self.resolution, min_confidence=self.min_confidence,
            min_per_class=self.min_per_class, max_classes=self.max_classes, classes=self.classes,
            formats=self.formats,
        )


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
        name="family7_sample",
        description="family7's filters with the class-size threshold scaled to the generated sample dump "
        "(`python -m tools.make_sample_dump`): families with >= 100 images.",
        min_per_class=100,
    ),
]
