"""absl flags that describe a `DumpFilter`: one definition for every command that reads a dump."""

from __future__ import annotations

from absl import flags

from pyck_tfds.dump import LEVELS, DumpFilter, parse_resolutions

flags.DEFINE_enum("level", "family", list(LEVELS), "Taxonomic rank whose name is the class label.")
flags.DEFINE_string("resolution", "320x240", "WIDTHxHEIGHT[,WIDTHxHEIGHT...] of the images to keep, or 'any'.")
flags.DEFINE_float("min_confidence", 90.0, "Keep records whose GBIF match confidence is strictly above this.")
flags.DEFINE_integer("min_per_class", 4000, "Keep classes with at least this many images (the study: 4000).",
                     lower_bound=1)
flags.DEFINE_integer("max_classes", None, "Keep only the N largest classes left after --min_per_class.",
                     lower_bound=2)
flags.DEFINE_list("classes", None, "Explicit comma-separated class list; overrides --min_per_class.")
flags.DEFINE_list("formats", ["JPEG"], "Image formats (PIL names) to keep.")
flags.DEFINE_integer("seed", 0, "Seed of the grouped, stratified train/validation/test split.")


@flags.validator("resolution", message="--resolution must be WIDTHxHEIGHT[,...] (e.g. 320x240) or 'any'")
def _valid_resolution(value: str) -> bool:
    try:
        parse_resolutions(value)
    except ValueError:
        return False
    return True


def dump_filter_from_flags() -> DumpFilter:
    values = flags.FLAGS
    return DumpFilter.from_options(
        level=values.level, resolution=values.resolution, min_confidence=values.min_confidence,
        min_per_class=values.min_per_class, max_classes=values.max_classes, classes=values.classes,
        formats=values.formats,
    )
