"""absl flags that describe a `DumpFilter`, generated from `FilterOptions`' fields (defaults and help)."""

from __future__ import annotations

from absl import flags

from pyck_tfds.dump import DumpFilter, FilterOptions, parse_resolutions
from pyck_tfds.options import define_flags, options_from_flags

define_flags(FilterOptions)
flags.DEFINE_integer("seed", 0, "Seed of the grouped, stratified train/validation/test split.")


@flags.validator("resolution", message="--resolution must be WIDTHxHEIGHT[,...] (e.g. 320x240) or 'any'")
def _valid_resolution(value: str) -> bool:
    try:
        parse_resolutions(value)
    except ValueError:
        return False
    return True


def filter_options_from_flags() -> FilterOptions:
    return options_from_flags(FilterOptions)


def dump_filter_from_flags() -> DumpFilter:
    return filter_options_from_flags().dump_filter()
