"""The 2017 research scrape: per-year image folders and JSON metadata with GBIF matches."""

from __future__ import annotations

from pyck_tfds.dump.metadata import find_metadata_files, read_metadata
from pyck_tfds.dump.source import DumpSource, ExtraFeature

LAYOUT = """\
DUMP/                                   the 2017 research scrape (BUILD.md, section 2)
  images/2006/<label>/<image_id>.jpg    one folder per year 2006 ... 2016; any nesting works,
  ...                                   images are found recursively and keyed by id
  images/2016/<label>/<image_id>.jpg
  json/observations_2006.json           metadata: JSON lists of records, any *.json name,
  ...                                   anywhere below DUMP
  json/observations_2017.json"""


def _read(manual_dir: str, files: list[str]):
    records, reports = read_metadata(manual_dir, files)
    return records, reports, {}


SOURCE = DumpSource(
    name="scrape_2017",
    description="2017 research scrape (JSON + year folders)",
    layout=LAYOUT,
    detect=lambda manual_dir: bool(find_metadata_files(manual_dir)),
    metadata_files=find_metadata_files,
    read=_read,
    extra_features=(ExtraFeature("gbif_confidence", "gbif_info.confidence", "float"),
                    ExtraFeature("user_id", "user_id", "id")),
)
