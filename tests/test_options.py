"""`pyck_tfds.options`: the one generator of absl flags from options dataclasses, and the checks it shares."""

from __future__ import annotations

import dataclasses

import pytest
from absl import flags

from pyck_tfds.options import CheckedOptions, define_flags, option, options_from_flags


@dataclasses.dataclass(frozen=True)
class Example(CheckedOptions):
    where: str = option(help="No default: the caller gives it.")
    size: tuple[int, ...] = option((24, 32), "Height,width.")
    names: tuple[str, ...] | None = option(None, "Some names.")
    mode: str = option("flip", "A mode.", choices=("none", "flip"))
    rate: float = option(0.5, "A rate.", lower=0.0, upper=1.0)
    count: int | None = option(None, "A count.", lower=2)
    verbose: bool = option(True, "Talk.")


def test_each_field_becomes_a_flag_of_its_kind_and_parses_back():
    values = flags.FlagValues()
    define_flags(Example, values, skip=("where",))
    kinds = {name: values[name].flag_type() for name in ("size", "names", "mode", "rate", "count", "verbose")}
    assert kinds == {"size": "comma separated list of strings", "names": "comma separated list of strings",
                     "mode": "string enum", "rate": "float", "count": "int", "verbose": "bool"}
    assert "where" not in values and values["size"].default == ["24", "32"] and values["rate"].help == "A rate."
    values(["prog"])
    assert options_from_flags(Example, values, where="here") == Example(where="here")
    values(["prog", "--size=12,16", "--names=a,b", "--mode=none", "--rate=0.25", "--count=3", "--noverbose"])
    assert options_from_flags(Example, values, where="x") == Example("x", (12, 16), ("a", "b"), "none", 0.25, 3, False)
    with pytest.raises(flags.IllegalFlagValueError):
        values(["prog", "--rate=2"])  # the bound is the flag's too
    with pytest.raises(flags.IllegalFlagValueError):
        values(["prog", "--mode=crops"])


def test_values_outside_choices_or_bounds_raise_a_line_naming_the_option():
    with pytest.raises(ValueError, match=r"^mode='crops': choose from none, flip$"):
        Example(mode="crops", where="x")
    with pytest.raises(ValueError, match=r"^rate=1.5: must be at most 1.0$"):
        Example(rate=1.5, where="x")
    with pytest.raises(ValueError, match=r"^count=1: must be at least 2$"):
        Example(count=1, where="x")
    with pytest.raises(TypeError, match="must be a tuple"):
        option([1, 2], "A list default.")
