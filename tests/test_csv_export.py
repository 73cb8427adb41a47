"""Mushroom Observer's nightly CSV export as input: the reader's funnel against what the generator planted,
names, licences and coordinates, and a build through `tfds build`'s code path."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest

from pyck_tfds.dump import DumpError, DumpFilter, load_dump
from pyck_tfds.dump.csv_export import coordinates, name_taxonomy, read_export_table
from pyck_tfds.dump.licenses import license_id
from tests.conftest import build_dataset, run_python, write_text
from tools.sample_csv_export import make_sample_csv_export

IMAGES_PER_FAMILY = 12


@pytest.fixture(scope="module")
def sample_export(tmp_path_factory):
    return make_sample_csv_export(str(tmp_path_factory.mktemp("export")), IMAGES_PER_FAMILY, seed=0)


def export_filter(**changes) -> DumpFilter:
    return dataclasses.replace(DumpFilter(min_per_class=10, min_confidence=50.0), **changes)


def table(export, name: str) -> pd.DataFrame:
    return pd.read_csv(f"{export.out}/{name}", sep="\t", dtype=str, keep_default_na=False, quoting=3)


def test_funnel_accounts_for_every_export_row_as_planted(sample_export):
    report = load_dump(sample_export.out, export_filter(), progress=False).report
    summary = report.to_dict()
    assert summary["source"] == "csv_export"
    assert summary["records_in"] == sample_export.export_rows
    assert summary["skipped"] == sample_export.expected_skips
    assert summary["kept"] == 7 * IMAGES_PER_FAMILY
    totals = {name: sum(counts.get(name, 0) for counts in summary["class_counts"].values())
              for name in summary["classes"]}
    assert totals == {name: IMAGES_PER_FAMILY for name in sample_export.families}
    facts = summary["source_facts"]
    assert facts["observations_without_images"] == sample_export.observations_without_images
    assert facts["records_under_accepted_name"] == sample_export.records_under_accepted_name
    assert facts["family_from_genus_classification"] == sample_export.family_from_genus_classification


def test_deprecated_and_misspelt_names_land_on_the_accepted_name(sample_export):
    examples = load_dump(sample_export.out, export_filter(level="species", min_per_class=1), progress=False).examples
    names = table(sample_export, "names.csv").set_index("id")
    observations = table(sample_export, "observations.csv").set_index("id")
    replaced = names[names["deprecated"] == "1"]
    assert len(replaced) >= 7
    for name_id, name in replaced.iterrows():
        if name["correct_spelling_id"] != "NULL":
            accepted = names.loc[name["correct_spelling_id"], "text_name"]
        else:
            group = names[(names["synonym_id"] == name["synonym_id"]) & (names["deprecated"] == "0")]
            accepted = group["text_name"].iloc[0]
        planted = observations.index[observations["name_id"] == name_id].astype(int)
        rows = examples[examples["observation_id"].isin(planted)]
        assert not rows.empty, name["text_name"]
        assert set(rows["taxon.species"].astype(str)) == {accepted}, name["text_name"]
        assert set(rows["label"].astype(str)) == {accepted}


def test_ranks_old_and_new_codes_give_the_same_taxonomy():
    names = pd.DataFrame({"id": pd.array([1, 2, 3, 4, 5], dtype="Int64"),
                          "text_name": ["Amanita", "Amanita muscaria", "Amanita muscaria var. alba",
                                        "Amanita muscaria group", "Amanitaceae"],
                          "deprecated": ["0"] * 5, "rank": ["500", "400", "200", "410", "600"]})
    classified = pd.DataFrame({"name_id": pd.array([1], dtype="Int64"), "family": ["Amanitaceae"]})
    new = name_taxonomy(names, classified)
    old = name_taxonomy(names.assign(rank=["9", "4", "2", "16", "10"]), classified)
    pd.testing.assert_frame_equal(new, old)
    assert new["genus"].fillna("-").tolist() == ["Amanita"] * 4 + ["-"]
    assert new["species"].fillna("-").tolist() == ["-", "Amanita muscaria", "Amanita muscaria", "-", "-"]
    assert new["family"].tolist() == ["Amanitaceae"] * 5  # species and varieties from the genus's classification


def test_export_files_are_read_as_mysql_writes_them(tmp_path):
    path = write_text(tmp_path / "images.csv", "id\tcopyright_holder\tlicense\tok_for_export\n"
                      "1\tA \\\"B\\\" C\\tD\\\\E\tPublic Domain\t1\n2\tNULL\t\t0\n")
    frame = read_export_table(path, ("id", "copyright_holder", "license", "ok_for_export"))
    assert frame.loc[0, "copyright_holder"] == 'A "B" C\tD\\E'
    assert pd.isna(frame.loc[1, "copyright_holder"]) and pd.isna(frame.loc[1, "license"])
    with pytest.raises(DumpError, match=r"images.csv: no column ok_for_export .*Re-download"):
        read_export_table(write_text(tmp_path / "x" / "images.csv", "id\tlicense\n1\tx\n"), ("id", "ok_for_export"))


def test_coordinates_come_from_the_observation_then_the_location_box():
    observations = pd.DataFrame({"lat": ["45.5", None, None, None], "lng": ["-122.25", None, None, None],
                                 "location_id": pd.array([1, 1, 2, 9], dtype="Int64")})
    locations = pd.DataFrame({"id": ["1", "2"], "north": ["40", "-16.7"], "south": ["38", "-17.1"],
                              "east": ["-120", "-179.8"], "west": ["-124", "179.8"]})
    latitude, longitude, source = coordinates(observations, locations)
    assert source.tolist() == ["observation", "location_box", "location_box", "none"]
    assert latitude[:3].tolist() == pytest.approx([45.5, 39.0, -16.9])
    assert longitude[:2].tolist() == pytest.approx([-122.25, -122.0])
    assert abs(abs(longitude[2]) - 180.0) < 1e-9, "the centre of a box across the antimeridian"
    assert math.isnan(latitude[3]) and math.isnan(longitude[3])


def test_license_selection_is_a_counted_funnel_step(sample_export, sample_dump):
    free = ("CC0", "CC-BY-4.0", "CC-BY-SA-3.0")
    selection = load_dump(sample_export.out, export_filter(licenses=free, min_per_class=1), progress=False)
    assert set(selection.examples["license"].astype(str)) <= set(free)
    assert selection.report.funnel.skip_counts()["license_not_kept"] > 0
    with pytest.raises(DumpError, match="only the CSV export gives"):
        load_dump(sample_dump.out, DumpFilter(min_per_class=5, licenses=free), progress=False)


def test_inspect_prints_the_export_funnel(sample_export):
    result = run_python("-m", "pyck_tfds.inspect", sample_export.out, "--min_per_class=10", "--min_confidence=50",
                        "--noprogress", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "nightly CSV export" in result.stdout and "not_ok_for_export" in result.stdout
    total = sum(sample_export.expected_skips.values())
    assert f"Records in {sample_export.export_rows:,} = kept {7 * IMAGES_PER_FAMILY} + skipped {total}" in result.stdout


@pytest.fixture(scope="module")
def csv_built(sample_export, tmp_path_factory):
    """`mushroom_observer/family7_csv_sample` built from the module's sample export: (builder, data_dir)."""
    from pyck_tfds.mushroom_observer import configs

    data_dir = tmp_path_factory.mktemp("csv_tfds")
    config = next(c for c in configs.BUILDER_CONFIGS if c.name == "family7_csv_sample")
    return build_dataset(sample_export.out, data_dir, config), data_dir


def test_build_and_load_carry_licences_and_coordinates(sample_export, sample_dump, csv_built, tmp_path):
    import tensorflow_datasets as tfds

    builder, data_dir = csv_built
    config = builder.builder_config
    loaded = tfds.as_dataframe(builder.as_dataset(split="train+validation+test").map(
        lambda ex: {k: v for k, v in ex.items() if k != "image"}))
    assert len(loaded) == 7 * IMAGES_PER_FAMILY
    images = table(sample_export, "images.csv").set_index("id")
    expected = images.loc[loaded["image_id"].astype(str), "license"].map(license_id)
    assert loaded["license"].str.decode("utf-8").tolist() == expected.tolist()
    holders = images.loc[loaded["image_id"].astype(str), "copyright_holder"].str.replace("\\t", "\t")
    assert loaded["copyright_holder"].str.decode("utf-8").tolist() == holders.str.replace("\\\\", "\\").tolist()
    observations = table(sample_export, "observations.csv").set_index("id")
    own = observations.loc[loaded["observation_id"].astype(str), ["lat", "lng"]]
    has_own = (own["lat"] != "NULL").to_numpy()
    np.testing.assert_allclose(loaded["latitude"][has_own], own["lat"][has_own].astype(float), atol=1e-4)
    np.testing.assert_allclose(loaded["longitude"][has_own], own["lng"][has_own].astype(float), atol=1e-4)
    assert 0 < has_own.sum() < len(loaded)
    report = json.load(open(data_dir / builder.info.full_name / "build_report.json"))
    assert report["licenses"] == loaded["license"].str.decode("utf-8").value_counts().to_dict()
    assert "Licences of the images kept: " in builder.info.description
    wrong = dataclasses.replace(config, name="family7_csv_on_scrape")
    with pytest.raises(DumpError, match=r"reads the nightly CSV export .*, but .* holds the 2017 research scrape"):
        build_dataset(sample_dump.out, tmp_path / "wrong", wrong)


def test_location_prior_is_fitted_on_train_and_reported_beside_the_month_prior(csv_built, tmp_path):
    """The trainer's columns and its prior step on the built CSV dataset (a trained model adds nothing here)."""
    from pyck_classifier.data.input_pipeline import read_columns
    from pyck_classifier.posthoc.location_prior import LocationPrior
    from pyck_classifier.posthoc.month_prior import MonthPrior, months_of
    from pyck_train.config import TrainConfig
    from pyck_train.train import _with_priors

    builder, data_dir = csv_built
    dataset = "mushroom_observer/family7_csv_sample"
    wanted = ("label", "observation_id", "date", "latitude", "longitude")
    train, test = (read_columns(dataset, split, str(data_dir), wanted) for split in ("train", "test"))
    stored = tfds_rows(builder, "test")
    np.testing.assert_array_equal(test["latitude"], stored["latitude"].to_numpy())  # NaN where unknown
    located = int(np.isfinite(test["latitude"]).sum())
    assert 0 < located < len(test["label"])
    month = MonthPrior.fit(train["label"], months_of(train["date"]), 7)
    location = LocationPrior.fit(train["label"], train["latitude"], train["longitude"], 7)
    uniform = np.full((len(test["label"]), 7), 1 / 7)
    config = TrainConfig(model_dir=str(tmp_path), metadata_prior="month+location")
    names = [f"family {i}" for i in range(7)]
    scores = _with_priors(config, month, location, uniform, test, test["label"], names)
    assert set(scores) == {"month_prior", "location_prior", "month_and_location_prior"}
    assert scores["location_prior"]["located_examples"] == scores["month_and_location_prior"]["located_examples"] \
        == located
    assert scores["month_prior"]["dated_examples"] == len(test["label"])
    assert scores["location_prior"]["accuracy"] > 1 / 7, "the sample's families live in different cells"
    only_month = _with_priors(TrainConfig(model_dir=str(tmp_path), metadata_prior="month"), month, location, uniform,
                              test, test["label"], names)
    assert set(only_month) == {"month_prior"}


def tfds_rows(builder, split: str) -> pd.DataFrame:
    import tensorflow_datasets as tfds

    return tfds.as_dataframe(builder.as_dataset(split=split).map(
        lambda ex: {k: v for k, v in ex.items() if k != "image"}))


@pytest.mark.slow
def test_trainer_and_report_carry_the_location_prior(csv_built, tmp_path):
    """Wiring end to end (a small untrained base keeps it quick; accuracy is tested elsewhere)."""
    from pyck_train.config import TrainConfig
    from pyck_train.train import train

    builder, data_dir = csv_built
    config = TrainConfig(model_dir=str(tmp_path / "run"), dataset="mushroom_observer/family7_csv_sample",
                         data_dir=str(data_dir), backbone="mobilenet_v3_small", weights="none", batch_size=16,
                         steps_per_epoch=2, epochs=1, head="gap", metadata_prior="month+location", runtime="keras")
    trained = train(config)["test"]
    located = int(np.isfinite(tfds_rows(builder, "test")["latitude"]).sum())
    assert trained["location_prior"]["located_examples"] == located
    result = run_python("-m", "pyck_eval", "report", f"--model_dir={config.model_dir}",
                        "--metadata_prior=month+location", "--runtime=keras", f"--out_dir={tmp_path / 'report'}",
                        timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.load(open(tmp_path / "report" / "metrics.json"))
    assert report["located_examples"] == located and report["dated_examples"] == trained["examples"]
    assert report["per_image"]["accuracy"] == pytest.approx(trained["month_and_location_prior"]["accuracy"], abs=1e-6)
    assert report["per_image_without_prior"]["accuracy"] == pytest.approx(trained["accuracy"], abs=1e-6)
    assert "with_month_and_location_prior" in report["calibration"]
    refused = run_python("-m", "pyck_eval", "predict", f"--model_dir={config.model_dir}", "--metadata_prior=location",
                         str(tmp_path), timeout=120)
    assert refused.returncode != 0 and "carry no coordinates" in refused.stderr
