"""Read a Mushroom Observer dump: metadata + image headers -> filtered, split examples."""

from __future__ import annotations

import dataclasses
import os
import time

import pandas as pd

from pyck_tfds.dump.csv_export import EXPORT_FILES, is_csv_export, read_csv_export
from pyck_tfds.dump.errors import DumpError
from pyck_tfds.dump.filters import DumpFilter, select_examples
from pyck_tfds.dump.images import scan_images
from pyck_tfds.dump.metadata import find_metadata_files, read_metadata
from pyck_tfds.dump.report import DumpReport
from pyck_tfds.dump.splits import SPLITS, assign_splits

EXPECTED_LAYOUT = """\
DUMP/                                   (the folder passed as --manual_dir)
  images/2006/<label>/<image_id>.jpg    one folder per year 2006 ... 2016; any nesting works,
  ...                                   images are found recursively and keyed by id
  images/2016/<label>/<image_id>.jpg
  json/observations_2006.json           metadata: JSON lists of records, any *.json name,
  ...                                   anywhere below DUMP
  json/observations_2017.json
or, from today's site (the nightly CSV export, see BUILD.md):
  observations.csv, images_observations.csv, images.csv, names.csv,
  name_classifications.csv, locations.csv
  images/<image_id>.jpg                 as `python -m tools.fetch_mo_images` writes them"""
SOURCES = ("scrape_2017", "csv_export")


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
    """Which of `SOURCES` a manual dir holds (the CSV export is recognised by its images_observations.csv)."""
    return "csv_export" if is_csv_export(manual_dir) else "scrape_2017"


def check_manual_dir(manual_dir: str | os.PathLike) -> list[str]:
    """Fail fast, naming the path and the expected layout, when the dump is missing or empty."""
    manual_dir = os.fspath(manual_dir)
    if not os.path.isdir(manual_dir):
        raise DumpError(f"manual dir {manual_dir!r} does not exist or is not a folder. Expected:\n{EXPECTED_LAYOUT}")
    if is_csv_export(manual_dir):
        return [os.path.join(manual_dir, name) for name in EXPORT_FILES]
    files = find_metadata_files(manual_dir)
    if not files:
        raise DumpError(
            f"manual dir {manual_dir!r} holds no metadata *.json file and no images_observations.csv. "
            f"Expected:\n{EXPECTED_LAYOUT}\n"
            "See BUILD.md for where to download the dump."
        )
    return files


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
        raise DumpError(
            f"manual dir {manual_dir!r} holds metadata but no image file named <image_id>.jpg. "
            f"Expected:\n{EXPECTED_LAYOUT}"
        )
    source = dump_source(manual_dir)
    if source == "csv_export":
        records, json_reports, source_facts = read_csv_export(manual_dir)
    else:
        source_facts = {}
        records, json_reports = read_metadata(manual_dir, metadata_files)
    examples, funnel, orphans = select_examples(records, images, dump_filter)
    del records
    if examples.empty:
        raise DumpError(f"no image of {manual_dir!r} passed the filters {dump_filter}; see the funnel in `inspect`.")
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
        source=source,
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
