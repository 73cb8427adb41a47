"""Shared fixtures: one small generated sample dump per test session."""

from __future__ import annotations

import os

import pytest

from tools.make_sample_dump import SampleDumpManifest, make_sample_dump

SMALL_IMAGES_PER_FAMILY = 30


@pytest.fixture(scope="session")
def sample_dump(tmp_path_factory) -> SampleDumpManifest:
    """A sample dump with every kind of mess; read-only for tests (copy before changing it)."""
    return make_sample_dump(str(tmp_path_factory.mktemp("dump")), SMALL_IMAGES_PER_FAMILY, seed=0)


@pytest.fixture
def sample_filter():
    """The study's filter with the class-size threshold scaled down to the sample dump."""
    from pyck_tfds.dump import DumpFilter

    return DumpFilter(min_per_class=SMALL_IMAGES_PER_FAMILY)


def write_text(path, text: str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return str(path)
