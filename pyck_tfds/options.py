"""Options dataclasses and the absl flags generated from them: one default and one help text per option.

Every pyck command (`inspect`, `pyck_train`, each `pyck_eval` command) describes its settings as
a frozen dataclass whose fields carry their help text, allowed values and bounds. Its flags are
generated here, so a Python caller and the command line share defaults they cannot disagree on.
No TensorFlow here: `--help` and flag parsing stay fast.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from typing import Any

from absl import flags


def option(default: Any = dataclasses.MISSING, help: str = "", *, choices: tuple[str, ...] | list[str] | None = None,
           lower: float | None = None, upper: float | None = None) -> Any:
    """A dataclass field with what its flag needs: help text, allowed values, bounds (no default: required)."""
    metadata = {"help": help, "choices": tuple(choices) if choices else None, "lower": lower, "upper": upper}
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=metadata)
    if isinstance(default, list):
        raise TypeError("an option's list default must be a tuple (options are frozen)")
    return dataclasses.field(default=default, metadata=metadata)


def flag_kind(annotation) -> Any:
    """The type a flag parses: `int | None` is int, `tuple[str, ...] | None` is tuple[str, ...]."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0]
    return annotation


def _default(field: dataclasses.Field) -> Any:
    return None if field.default is dataclasses.MISSING else field.default


def define_flags(options_class: type, flag_values: flags.FlagValues = flags.FLAGS, skip: tuple[str, ...] = ()
                 ) -> None:
    """One absl flag per field of `options_class` (a dataclass made of `option` fields), except `skip`.

    The flags belong to the calling module, so its `--help` lists them as its own.
    """
    module_name = sys._getframe(1).f_globals["__name__"]
    hints = typing.get_type_hints(options_class)
    for field in dataclasses.fields(options_class):
        if field.name in skip:
            continue
        meta, default, kind = field.metadata, _default(field), flag_kind(hints[field.name])
        bounds = {"lower_bound": meta["lower"], "upper_bound": meta["upper"]}
        common = {"flag_values": flag_values, "module_name": module_name}
        if kind is bool:
            flags.DEFINE_bool(field.name, default, meta["help"], **common)
        elif meta["choices"]:
            flags.DEFINE_enum(field.name, default, list(meta["choices"]), meta["help"], **common)
        elif kind is int:
            flags.DEFINE_integer(field.name, default, meta["help"], **bounds, **common)
        elif kind is float:
            flags.DEFINE_float(field.name, default, meta["help"], **bounds, **common)
        elif typing.get_origin(kind) is tuple:
            flags.DEFINE_list(field.name, None if default is None else [str(v) for v in default], meta["help"],
                              **common)
        elif kind is str:
            flags.DEFINE_string(field.name, default, meta["help"], **common)
        else:
            raise TypeError(f"{options_class.__name__}.{field.name}: no flag type for {kind}")


def check_option_values(options: Any) -> None:
    """Raises ValueError naming the first field outside its choices or bounds: what the flags check, for Python."""
    for field in dataclasses.fields(options):
        value, meta = getattr(options, field.name), field.metadata
        if value is None or isinstance(value, (bool, tuple)):
            continue
        if meta["choices"] and value not in meta["choices"]:
            raise ValueError(f"{field.name}={value!r}: choose from {', '.join(meta['choices'])}")
        if meta["lower"] is not None and value < meta["lower"]:
            raise ValueError(f"{field.name}={value!r}: must be at least {meta['lower']}")
        if meta["upper"] is not None and value > meta["upper"]:
            raise ValueError(f"{field.name}={value!r}: must be at most {meta['upper']}")


class CheckedOptions:
    """Base of an options dataclass: a value outside its field's choices or bounds raises ValueError naming it."""

    def __post_init__(self) -> None:
        check_option_values(self)


def options_from_flags(options_class: type, flag_values: flags.FlagValues = flags.FLAGS, **given: Any) -> Any:
    """The parsed flags as an `options_class` instance; `given` fills the fields that have no flag."""
    hints = typing.get_type_hints(options_class)
    values = dict(given)
    for field in dataclasses.fields(options_class):
        if field.name in given:
            continue
        value, kind = flag_values[field.name].value, flag_kind(hints[field.name])
        if isinstance(value, list):  # tuple[int, ...] fields parse their items
            item = typing.get_args(kind)[0] if typing.get_args(kind) else str
            value = tuple(item(v) for v in value)
        values[field.name] = value
    return options_class(**values)
