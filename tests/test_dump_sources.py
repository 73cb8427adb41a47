"""A dump source is one module and one registry line: a fake third source, read, inspected and built end to end."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil

import pandas as pd
import pytest

from pyck_tfds.dump import load_dump, sources
from pyck_tfds.dump.source import DumpSource, ExtraFeature
from pyck_tfds.dump.sources import scrape_2017
from pyck_tfds.mushroom_observer import examples
from tests.conftest import build_dataset, family7_config

FIELD_NOTES = "field_notes.csv"
HABITATS = ("forest", "meadow", "dune")


def _read_with_notes(manual_dir: str, files: list[str]):
    records, reports, _ = scrape_2017.SOURCE.read(manual_dir, files)
    notes = pd.read_csv(os.path.join(manual_dir, FIELD_NOTES))
    records["habitat"] = records["observation_id"].map(dict(zip(notes["observation_id"], notes["habitat"])))
    return records, reports, {"field_notes": int(len(notes))}


FIELD_NOTES_SOURCE = DumpSource(  # the whole of a third source: what its module would hold
    name="field_notes",
    description="2017 scrape with field notes (a habitat per observation)",
    layout=f"{scrape_2017.LAYOUT}\n  {FIELD_NOTES}                         observation_id,habitat",
    detect=lambda manual_dir: os.path.exists(os.path.join(manual_dir, FIELD_NOTES)),
    metadata_files=scrape_2017.SOURCE.metadata_files,
    read=_read_with_notes,
    extra_features=(*scrape_2017.SOURCE.extra_features, ExtraFeature("habitat", "habitat", "text")),
    report_extras=lambda selected: {"habitats": selected["habitat"].fillna("(none)").value_counts().to_dict()},
)


@pytest.fixture
def registered(monkeypatch):
    """The registry line: `REGISTRY = [field_notes.SOURCE, csv_export.SOURCE, scrape_2017.SOURCE]`."""
    monkeypatch.setattr(sources, "REGISTRY", [FIELD_NOTES_SOURCE, *sources.REGISTRY])


def dump_with_notes(sample_dump, folder) -> dict[int, str]:
    """The sample dump plus a field_notes.csv; one observation in seven has no note."""
    shutil.copytree(sample_dump.out, folder)
    observations = sorted(load_dump(sample_dump.out, family7_config("x").dump_filter, progress=False)
                          .examples["observation_id"].astype(int).unique())
    notes = {o: HABITATS[o % 3] for o in observations if o % 7}
    pd.DataFrame({"observation_id": list(notes), "habitat": list(notes.values())}).to_csv(
        os.path.join(folder, FIELD_NOTES), index=False)
    return notes


def test_the_registry_names_every_source_once():
    assert sources.source_names() == ("csv_export", "scrape_2017")
    with pytest.raises(ValueError, match="unknown dump source 'nope'; known: csv_export, scrape_2017"):
        sources.source_named("nope")
    with pytest.raises(ValueError, match="kind 'date'"):
        ExtraFeature("when", "date", "date")


@pytest.mark.slow
def test_a_third_source_needs_only_its_module_and_a_registry_line(sample_dump, tmp_path, registered):
    notes = dump_with_notes(sample_dump, tmp_path / "dump")
    config = dataclasses.replace(family7_config("habitat_small"), source="field_notes")
    selection = load_dump(tmp_path / "dump", config.dump_filter, progress=False)
    assert selection.source == "field_notes" and selection.report.source_facts == {"field_notes": len(notes)}
    assert f"({FIELD_NOTES_SOURCE.description})" in selection.report.to_text()
    rows = examples.example_rows(selection.split("train"), "field_notes")
    assert {row["habitat"] for row in rows} == {*HABITATS, ""}  # unknown text is "", as for every text feature
    assert all("gbif_confidence" in row and "latitude" not in row for row in rows)

    builder = build_dataset(tmp_path / "dump", tmp_path / "tfds", config)
    assert "habitat" in builder.info.features and "gbif_confidence" in builder.info.features
    stored = builder.as_dataset(split="test", shuffle_files=False)
    for example in stored.take(40).as_numpy_iterator():
        assert example["habitat"].decode() == notes.get(int(example["observation_id"]), "")
    report = json.load(open(os.path.join(builder.data_dir, "build_report.json")))
    assert report["source"] == "field_notes" and set(report["habitats"]) <= {*HABITATS, "(none)"}
