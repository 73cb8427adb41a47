"""absl flags that describe a `DumpFilter`, generated from `FilterOptions`' fields (defaults and help)."""

from __future__ import annotations

import dataclasses
import typing

from absl import flags

from pyck_tfds.dump import DumpFilter, FilterOptions, parse_resolutions


def _define(field: dataclasses.Field, kind) -> None:
    meta, default = field.metadata, field.default
    if meta["choices"]:
        flags.DEFINE_enum(field.name, default, list(meta["choices"]), meta["help"])
    elif kind is int:
        flags.DEFINE_integer(field.name, default, meta["help"], lower_bound=meta["lower"])
    elif kind is float:
        flags.DEFINE_float(field.name, default, meta["help"])
    elif typing.get_origin(kind) is tuple:
        flags.DEFINE_list(field.name, list(default) if default else None, meta["help"])
    else:
        flags.DEFINE_string(field.name, default, meta["help"])


def _kind(annotation):
    """The flag's type: `int | None` is int, `tuple[str, ...] | None` is tuple[str, ...]."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if typing.get_origin(annotation) in (typing.Union, type(int | None)) else annotation


_HINTS = typing.get_type_hints(FilterOptions)
for _field in dataclasses.fields(FilterOptions):
    _define(_field, _kind(_HINTS[_field.name]))
flags.DEFINE_integer("seed", 0, "Seed of the grouped, stratified train/validation/test split.")


@flags.validator("resolution", message="--resolution must be WIDTHxHEIGHT[,...] (e.g. 320x240) or 'any'")
def _valid_resolution(value: str) -> bool:
    try:
        parse_resolutions(value)
    except ValueError:
        return False
    return True


def filter_options_from_flags() -> FilterOptions:
    values = flags.FLAGS
    options = {field.name: getattr(values, field.name) for field in dataclasses.fields(FilterOptions)}
    return FilterOptions(**{name: tuple(v) if isinstance(v, list) else v for name, v in options.items()})


def dump_filter_from_flags() -> DumpFilter:
    return filter_options_from_flags().dump_filter()
