import dataclasses
import json
import os
import shutil

import pandas as pd
import pytest

from pyck_tfds.dump import DumpError, DumpFilter, assign_splits, class_names, load_dump


def test_funnel_counts_exactly_what_the_sample_dump_planted(sample_dump, sample_filter):
    report = load_dump(sample_dump.out, sample_filter, progress=False).report
    assert report.funnel.records_in == sample_dump.json_records
    assert report.funnel.skip_counts() == {k: v for k, v in sample_dump.expected_skips.items() if v}
    assert report.funnel.kept == 7 * sample_dump.images_per_family
    assert report.image_scan["orphan_images"] == sample_dump.orphan_images
    assert sum(r.lost_records for r in report.json_files) == sample_dump.lost_records
    assert report.classes == sample_dump.families


def test_no_observation_in_two_splits_and_fractions_near_64_16_20(sample_dump, sample_filter):
    examples = load_dump(sample_dump.out, sample_filter, progress=False).examples
    splits_per_observation = examples.groupby("observation_id")["split"].nunique()
    assert splits_per_observation.max() == 1
    fractions = examples["split"].value_counts(normalize=True)
    assert abs(fractions["train"] - 0.64) < 0.06
    assert abs(fractions["validation"] - 0.16) < 0.05
    assert abs(fractions["test"] - 0.20) < 0.05
    assert examples.groupby("class_name")["split"].nunique().min() == 3  # stratified: each class in each split


def test_two_reads_give_identical_examples_and_splits(sample_dump, sample_filter):
    first = load_dump(sample_dump.out, sample_filter, progress=False).examples
    second = load_dump(sample_dump.out, sample_filter, progress=False).examples
    pd.testing.assert_frame_equal(first, second)


def test_split_ignores_row_order_but_follows_the_seed(sample_dump, sample_filter):
    examples = load_dump(sample_dump.out, sample_filter, progress=False).examples
    shuffled = examples.sample(frac=1.0, random_state=123)
    same = assign_splits(shuffled, seed=0).reindex(examples.index)
    assert same.equals(examples["split"])
    other = assign_splits(examples, seed=1)
    assert not other.equals(examples["split"])


def test_duplicate_record_from_the_last_metadata_file_wins(sample_dump, sample_filter):
    examples = load_dump(sample_dump.out, sample_filter, progress=False).examples
    from_last_file = examples[examples["json_file"].astype(str).str.endswith("observations_2017.json")]
    assert len(from_last_file) == 20 and (from_last_file["gbif_info.confidence"] == 99).all()


@pytest.mark.parametrize("level", ["genus", "species"])
def test_genus_and_species_levels(sample_dump, level):
    selection = load_dump(sample_dump.out, DumpFilter(level=level, min_per_class=5), progress=False)
    examples = selection.examples
    assert (examples["class_name"] == examples[f"gbif_info.{level}"].astype(str)).all()
    assert examples["class_name"].value_counts().min() >= 5
    # Records without a family (rank ORDER, KINGDOM, no GBIF answer) have no genus either; species also
    # misses on the identifications GBIF matched at genus rank only.
    no_family = sample_dump.expected_skips["missing_family"]
    missing = selection.report.funnel.skip_counts()[f"missing_{level}"]
    assert missing == no_family if level == "genus" else missing > no_family


def test_explicit_classes_and_max_classes(sample_dump):
    chosen = ("Amanitaceae", "Boletaceae", "Russulaceae")
    examples = load_dump(sample_dump.out, DumpFilter(classes=chosen), progress=False).examples
    assert class_names(examples) == list(chosen)
    top = load_dump(sample_dump.out, DumpFilter(min_per_class=1, max_classes=8), progress=False).report
    two_smallest = sum(sorted(sample_dump.rare_family_images.values())[:2])
    assert len(top.classes) == 8 and top.funnel.skip_counts()["class_too_small"] == two_smallest


def test_unknown_class_names_the_available_ones(sample_dump):
    with pytest.raises(DumpError, match="Amanitaceae"):
        load_dump(sample_dump.out, DumpFilter(classes=("Amanitaceae", "Agaricacea")), progress=False)


def test_all_resolutions_keeps_more_images(sample_dump, sample_filter):
    wide = dataclasses.replace(sample_filter, resolutions=None)
    report = load_dump(sample_dump.out, wide, progress=False).report
    assert "resolution_not_kept" not in report.funnel.skip_counts()
    assert report.funnel.kept == 7 * sample_dump.images_per_family + sample_dump.expected_skips["resolution_not_kept"]


def test_missing_manual_dir_names_path_and_layout(tmp_path):
    with pytest.raises(DumpError) as err:
        load_dump(tmp_path / "nope", progress=False)
    assert str(tmp_path / "nope") in str(err.value) and "pyck_tfds.inspect --help` shows the layouts" in str(err.value)
    assert "\n" not in str(err.value)  # one line; the layouts are inspect's --help (test_the_dump_reader_and_...)


def test_empty_manual_dir_names_path_and_layout(tmp_path):
    with pytest.raises(DumpError) as err:
        load_dump(tmp_path, progress=False)
    assert str(tmp_path) in str(err.value) and "no metadata *.json" in str(err.value) and "\n" not in str(err.value)


def test_filters_that_keep_nothing_name_the_step_that_did(sample_dump, sample_filter):
    with pytest.raises(DumpError) as err:
        load_dump(sample_dump.out, dataclasses.replace(sample_filter, min_per_class=10**6), progress=False)
    assert str(err.value).startswith("no family has >= 1000000 images after the other filters (largest: ")
    with pytest.raises(DumpError) as err:
        load_dump(sample_dump.out, dataclasses.replace(sample_filter, min_confidence=100.0), progress=False)
    assert "passed the filters: 'confidence > 100' kept none of " in str(err.value)


def test_metadata_without_images_is_an_error(tmp_path):
    (tmp_path / "observations_2006.json").write_text(json.dumps([{"image_id": 1, "observation": 1}]))
    with pytest.raises(DumpError, match="no image file"):
        load_dump(tmp_path, progress=False)


def test_bad_images_never_reach_the_examples(sample_dump, sample_filter, tmp_path):
    copy = shutil.copytree(sample_dump.out, tmp_path / "dump")
    examples = load_dump(copy, sample_filter, progress=False).examples
    victim = examples.iloc[0]
    open(os.path.join(copy, victim["file_path"]), "wb").close()  # now zero bytes
    after = load_dump(copy, sample_filter, progress=False)
    assert victim["image_id"] not in set(after.examples["image_id"])
    assert after.report.funnel.skip_counts()["image_zero_bytes"] == 2
