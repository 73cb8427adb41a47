"""Read a Mushroom Observer dump: metadata + image headers -> filtered, split examples."""

from __future__ import annotations

import dataclasses
import os
import time

import pandas as pd

from pyck_tfds.dump import sources
from pyck_tfds.dump.errors import DumpError
from pyck_tfds.dump.filters import DumpFilter, Funnel, select_examples
from pyck_tfds.dump.images import scan_images
from pyck_tfds.dump.report import DumpReport
from pyck_tfds.dump.splits import SPLITS, assign_splits

EXPECTED_LAYOUT = sources.expected_layout()
SOURCES = sources.source_names()
LAYOUT_HELP = "`python -m pyck_tfds.inspect --help` shows the layouts a dump may have"


@dataclasses.dataclass
class DumpSelection:
    """The examples (one row per image, with `class_name` and `split`) and the report of how."""

    examples: pd.DataFrame
    report: DumpReport

    @property
    def source(self) -> str:
        return self.report.source

    def split(self, name: str) -> pd.DataFrame:
        return self.examples[self.examples["split"] == name]


def dump_source(manual_dir: str | os.PathLike) -> str:
    """Which of `SOURCES` a manual dir holds (the registry's first that recognises it; else the last one)."""
    source = sources.detect_source(os.fspath(manual_dir))
    return (source or sources.REGISTRY[-1]).name


def check_manual_dir(manual_dir: str | os.PathLike) -> list[str]:
    """Fail fast, naming the path and the expected layout, when the dump is missing or empty."""
    manual_dir = os.fspath(manual_dir)
    if not os.path.isdir(manual_dir):
        raise DumpError(f"manual dir {manual_dir!r} does not exist or is not a folder: give the dump's folder "
                        f"({LAYOUT_HELP})")
    source = sources.detect_source(manual_dir)
    files = source.metadata_files(manual_dir) if source else []
    if not files:
        raise DumpError(f"manual dir {manual_dir!r} holds no metadata *.json file and no images_observations.csv: "
                        f"it is not a Mushroom Observer dump ({LAYOUT_HELP}; BUILD.md says where to download one)")
    return files


def _first_empty_step(funnel: Funnel) -> str:
    """The step that left nothing, with what it dropped (the whole funnel is `inspect`'s)."""
    for before, step in zip(funnel.steps, funnel.steps[1:]):
        if step.rows == 0:
            reasons = ", ".join(f"{reason}={count}" for reason, count in step.skipped.items())
            return f"'{step.step}' kept none of {before.rows} rows ({reasons})."
    return f"'{funnel.steps[0].step}' found no row."


def load_dump(
    manual_dir: str | os.PathLike,
    dump_filter: DumpFilter = DumpFilter(),
    *,
    seed: int = 0,
    progress: bool = True,
) -> DumpSelection:
    """Read, join, filter and split the dump; pure pandas, no TensorFlow."""
    start = time.perf_counter()
    manual_dir = os.fspath(manual_dir)
    metadata_files = check_manual_dir(manual_dir)
    images, image_stats = scan_images(manual_dir, progress=progress)
    if images.empty:
        raise DumpError(f"manual dir {manual_dir!r} holds metadata but no image file named <image_id>.jpg "
                        f"({LAYOUT_HELP})")
    source = sources.source_named(dump_source(manual_dir))
    records, json_reports, source_facts = source.read(manual_dir, metadata_files)
    examples, funnel, orphans = select_examples(records, images, dump_filter)
    del records
    if examples.empty:
        raise DumpError(f"no image of {manual_dir!r} passed the filters: {_first_empty_step(funnel)}")
    examples["split"] = assign_splits(examples, seed=seed)
    class_counts = {
        split: examples.loc[examples["split"] == split, "class_name"].value_counts().sort_index().to_dict()
        for split in SPLITS
    }
    observation_counts = {
        split: int(examples.loc[examples["split"] == split, "observation_id"].nunique()) for split in SPLITS
    }
    report = DumpReport(
        manual_dir=manual_dir,
        source=source.name,
        source_facts=source_facts,
        dump_filter=dump_filter,
        seed=seed,
        json_files=json_reports,
        image_scan={**image_stats, "orphan_images": orphans},
        funnel=funnel,
        class_counts={s: {k: int(v) for k, v in c.items()} for s, c in class_counts.items()},
        observation_counts=observation_counts,
        seconds=time.perf_counter() - start,
    )
    return DumpSelection(examples=examples, report=report)
