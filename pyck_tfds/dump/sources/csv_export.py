"""Today's site: the nightly CSV export and the images `tools.fetch_mo_images` downloads."""

from __future__ import annotations

import os

import pandas as pd

from pyck_tfds.dump.csv_export import EXPORT_FILES, is_csv_export, read_csv_export
from pyck_tfds.dump.source import DumpSource, ExtraFeature

LAYOUT = """\
DUMP/                                   today's site: its nightly CSV export (BUILD.md, section 2b)
  observations.csv, images_observations.csv, images.csv, names.csv,
  name_classifications.csv, locations.csv
  images/<image_id>.jpg                 as `python -m tools.fetch_mo_images` writes them"""


def _licence_counts(examples: pd.DataFrame) -> dict:
    return {"licenses": examples["license"].astype(object).fillna("(none)").value_counts().to_dict()}


def _facts_text(facts: dict) -> str:
    return (f"Export: {facts['observations']:,} observations, {facts['observations_without_images']:,} without "
            f"images; {facts['records_under_accepted_name']:,} records counted under the accepted name of a misspelt "
            f"or deprecated one; {facts['family_from_genus_classification']:,} families from the genus's "
            f"classification; coordinates: {facts['coordinates']}")


SOURCE = DumpSource(
    name="csv_export",
    description="nightly CSV export (observations.csv, ...)",
    layout=LAYOUT,
    detect=is_csv_export,
    metadata_files=lambda manual_dir: [os.path.join(manual_dir, name) for name in EXPORT_FILES],
    read=lambda manual_dir, files: read_csv_export(manual_dir),
    extra_features=(ExtraFeature("confidence", "taxon.confidence", "float"),  # the community's vote, in percent
                    ExtraFeature("latitude", "latitude", "float"),  # NaN where neither observation nor location says
                    ExtraFeature("longitude", "longitude", "float"),
                    ExtraFeature("license", "license", "text"),
                    ExtraFeature("copyright_holder", "copyright_holder", "text")),
    report_extras=_licence_counts,
    facts_text=_facts_text,
)
