"""What a dump source is to pyck: how to recognise its folder, read its records, and which features it adds.

Each source (the 2017 research scrape, the nightly CSV export) is one module of
`pyck_tfds.dump.sources` holding a `DumpSource`; the registry there lists them. The reader, the
builder's features, its examples and its build report iterate a source's fields instead of
testing its name. Pure pandas.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pandas as pd

FEATURE_KINDS = ("float", "id", "text")  # float32 (NaN: unknown), int64 (-1: unknown), text ("" : unknown)


@dataclasses.dataclass(frozen=True)
class ExtraFeature:
    """A dataset feature only this source has, and the records' column it is read from."""
    name: str
    column: str
    kind: str  # one of FEATURE_KINDS

    def __post_init__(self):
        if self.kind not in FEATURE_KINDS:
            raise ValueError(f"feature {self.name}: kind {self.kind!r} is not one of {', '.join(FEATURE_KINDS)}")


@dataclasses.dataclass(frozen=True)
class DumpSource:
    name: str  # what a builder config's `source` says
    description: str  # as messages and the build report name it
    layout: str  # what its manual dir holds (part of the expected-layout text users see)
    detect: Callable[[str], bool]  # does this manual dir hold this source?
    metadata_files: Callable[[str], list[str]]  # the files `read` needs (empty: the folder is not this source)
    read: Callable[[str, list[str]], tuple[pd.DataFrame, list, dict]]  # records, per-file reports, source facts
    extra_features: tuple[ExtraFeature, ...] = ()
    report_extras: Callable[[pd.DataFrame], dict] = lambda examples: {}  # added to build_report.json
    facts_text: Callable[[dict], str] = lambda facts: "Source: " + ", ".join(f"{k} {v}" for k, v in facts.items())
