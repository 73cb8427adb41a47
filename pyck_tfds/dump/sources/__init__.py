"""The registry of dump sources: a new source is one module here and one line below (its configs aside).

A manual dir holds the first source that detects it; list the most specific first.
"""

from __future__ import annotations

from pyck_tfds.dump.source import DumpSource
from pyck_tfds.dump.sources import csv_export, scrape_2017

REGISTRY: list[DumpSource] = [
    csv_export.SOURCE,
    scrape_2017.SOURCE,
]


def source_names() -> tuple[str, ...]:
    return tuple(source.name for source in REGISTRY)


def source_named(name: str) -> DumpSource:
    for source in REGISTRY:
        if source.name == name:
            return source
    raise ValueError(f"unknown dump source {name!r}; known: {', '.join(source_names())}")


def detect_source(manual_dir: str) -> DumpSource | None:
    """The first registered source that recognises `manual_dir`, or None."""
    return next((source for source in REGISTRY if source.detect(manual_dir)), None)


def expected_layout() -> str:
    """What a manual dir may hold, every source's layout."""
    return "\nor\n".join(source.layout for source in REGISTRY)


def all_extra_features() -> dict[str, str]:
    """name -> kind of every source's extra features."""
    return {feature.name: feature.kind for source in REGISTRY for feature in source.extra_features}
