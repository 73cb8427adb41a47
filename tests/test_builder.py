"""Acceptance tests of the mushroom_observer builder on a generated sample dump."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import pyck_tfds  # noqa: F401  (registers mushroom_observer)
from pyck_tfds.dump import SPLITS, scan_images
from pyck_tfds.mushroom_observer import Builder, configs
from tests.conftest import (
    BUILT_DATASET,
    ROOT,
    SMALL_IMAGES_PER_FAMILY,
    build_dataset,
    family7_config,
    run_python,
    without_tf_log_level,
)
from tools.sample_csv_export import make_sample_csv_export

pytestmark = pytest.mark.slow
FAMILY7 = family7_config(BUILT_DATASET.split("/")[1])  # the session's build (conftest.built_data_dir)


def build(manual_dir, data_dir, config=FAMILY7, **kwargs) -> Builder:
    return build_dataset(manual_dir, data_dir, config, **kwargs)


def raw_examples(builder: Builder, split: str) -> list[tuple[int, bytes]]:
    ds = builder.as_dataset(split=split, decoders={"image": tfds.decode.SkipDecoding()}, shuffle_files=False)
    return [(int(e["image_id"]), e["image"].numpy()) for e in ds]


@pytest.fixture(scope="module")
def built(built_data_dir) -> Builder:
    return Builder(config=FAMILY7, data_dir=built_data_dir)


def tfds_cli() -> str:
    return os.path.join(os.path.dirname(sys.executable), "tfds")


def is_quiet_build_line(line: str) -> bool:
    """pyck's own warnings and progress bars; not TensorFlow's start-up lines, TFDS's INFO logs, or the cursor-up
    codes of nested progress bars in a log file."""
    return "\x1b[" not in line and ("%|" in line or line.startswith(("WARNING: ", "\r")) or not line.strip())


def test_cli_build_then_load_matches_inspect(sample_dump, tmp_path):
    """Built with `python -m pyck_tfds build`, which runs `tfds build` (the mistakes test runs the `tfds` script)."""
    config = json.dumps({"name": "family7_cli", "min_per_class": SMALL_IMAGES_PER_FAMILY})
    result = run_python("-m", "pyck_tfds", "build", f"--config={config}", f"--manual_dir={sample_dump.out}",
                        f"--data_dir={tmp_path}", env=without_tf_log_level(), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert all(is_quiet_build_line(line) for line in result.stderr.splitlines()), result.stderr[-3000:]
    inspect = run_python("-m", "pyck_tfds.inspect", sample_dump.out, f"--min_per_class={SMALL_IMAGES_PER_FAMILY}",
                         "--json", "--noprogress", timeout=300)
    report = json.loads(inspect.stdout)
    datasets, info = tfds.load("mushroom_observer/family7_cli", data_dir=str(tmp_path), with_info=True)
    assert {s: info.splits[s].num_examples for s in SPLITS} == report["split_sizes"]
    assert info.features["label"].names == report["classes"] == sample_dump.families
    spec = datasets["train"].element_spec
    assert spec["image"].shape == (240, 320, 3) and spec["image"].dtype == tf.uint8
    assert spec["label"].dtype == tf.int64 and spec["image_id"].dtype == tf.int64
    assert set(spec) == {"image", "label", "image_id", "observation_id", "is_thumbnail", "date", "year", "family",
                         "genus", "species", "gbif_confidence", "location_id", "user_id"}
    assert info.supervised_keys == ("image", "label")
    for split in SPLITS:  # each label is its record's family under the names stored with the dataset
        records = list(datasets[split].map(lambda e: (e["label"], e["family"])).as_numpy_iterator())
        assert [info.features["label"].int2str(label) for label, _ in records] == [f.decode() for _, f in records]


def test_slicing_and_as_supervised(built):
    n = built.info.splits["train"].num_examples
    sliced = built.as_dataset(split="train[:10%]", as_supervised=True)
    image, label = next(iter(sliced))
    assert image.shape == (240, 320, 3) and 0 <= int(label) < 7
    assert len(list(sliced)) == round(n * 0.1)


def test_build_report_is_written_and_summarised(built, sample_dump):
    report = json.loads(open(os.path.join(built.data_path, "build_report.json")).read())
    assert report["records_in"] == sample_dump.json_records  # the stored report is the funnel's
    assert report["skipped"] == {k: v for k, v in sample_dump.expected_skips.items() if v}
    assert report["split_sizes"] == {s: built.info.splits[s].num_examples for s in SPLITS}
    # The card written with the dataset summarises the build (tfds reads the description from the code on load).
    card = json.loads(open(os.path.join(built.data_path, "dataset_info.json")).read())["description"]
    assert "Build report:" in card and "low_confidence" in card


def test_the_build_summary_says_none_when_nothing_was_skipped():
    from pyck_tfds.mushroom_observer.mushroom_observer_dataset_builder import (
        _description_summary,
    )

    report = {"records_in": 40, "kept": 40, "split_sizes": {"train": 30, "validation": 5, "test": 5}, "skipped": {},
              "classes": ["A", "B"]}
    assert "images kept (train 30, validation 5, test 5); skipped: none. Classes: A, B." in _description_summary(report)


def test_building_twice_gives_the_same_examples_and_needs_no_network(sample_dump, built, tmp_path, no_network):
    again = build(sample_dump.out, tmp_path)
    assert sum(again.info.splits[s].num_examples for s in SPLITS) == 7 * SMALL_IMAGES_PER_FAMILY
    for split in SPLITS:
        assert raw_examples(again, split) == raw_examples(built, split)


KILLED_WHILE_WRITING = """
import os, signal, sys
from tensorflow_datasets.core import file_adapters
from tensorflow_datasets.scripts.cli.main import launch_cli

nth, written = int(sys.argv[1]), [0]
original = file_adapters.TfRecordFileAdapter.write_examples.__func__

def write_examples(cls, path, iterator):
    def counted():
        for example in iterator:
            written[0] += 1
            if written[0] == nth:  # the shard file is open, part of it written
                os.kill(os.getpid(), signal.SIGKILL)
            yield example
    return original(cls, path, counted())

file_adapters.TfRecordFileAdapter.write_examples = classmethod(write_examples)
sys.argv = ["tfds", *sys.argv[2:]]
launch_cli()
"""


def test_a_build_killed_repeatedly_then_rerun_equals_an_uninterrupted_one(sample_dump, built, tmp_path):
    """SIGKILL while the n-th example is written (n seeded), three times in a row, then the same `tfds build`:
    TFDS writes into a temporary folder it renames when whole, so nothing looks built until the rerun ends."""
    config = json.dumps({"name": FAMILY7.name, "min_per_class": FAMILY7.min_per_class})
    build_flags = ["build", "pyck_tfds/mushroom_observer", f"--config={config}", f"--manual_dir={sample_dump.out}",
                   f"--data_dir={tmp_path}"]
    total = sum(built.info.splits[split].num_examples for split in SPLITS)
    for nth in np.random.default_rng(0).integers(1, total + 1, size=3):
        killed = run_python("-c", KILLED_WHILE_WRITING, str(nth), *build_flags, timeout=600)
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
        assert not list(tmp_path.rglob("dataset_info.json"))  # nothing looks built
        assert list(tmp_path.rglob("*.tfrecord*"))  # killed while writing, not before
    rerun = subprocess.run([tfds_cli(), *build_flags], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    again = Builder(config=FAMILY7, data_dir=str(tmp_path))
    for split in SPLITS:
        assert raw_examples(again, split) == raw_examples(built, split)


def test_beam_build_equals_plain_build(sample_dump, built, tmp_path):
    import apache_beam as beam  # a required dependency: a broken install fails here rather than skipping

    options = beam.options.pipeline_options.PipelineOptions(["--runner=DirectRunner", "--direct_num_workers=2"])
    beamed = build(sample_dump.out, tmp_path, beam_options=options)
    for split in SPLITS:
        assert sorted(raw_examples(beamed, split)) == sorted(raw_examples(built, split))


def test_array_record_format(array_record_data_dir):
    builder = Builder(config=family7_config("family7_ar"), data_dir=array_record_data_dir)
    assert any(f.endswith(".array_record-00000-of-00001") for f in os.listdir(builder.data_path))
    source = builder.as_data_source(split="test")
    assert len(source) == builder.info.splits["test"].num_examples
    assert source[0]["image"].shape == (240, 320, 3)


def test_passed_through_jpeg_bytes_are_the_source_files(sample_dump, built):
    images, _ = scan_images(sample_dump.out, progress=False)
    by_id = images.set_index("image_id")
    checked = {"RGB": 0, "L": 0, "CMYK": 0}
    for split in SPLITS:
        for image_id, data in raw_examples(built, split):
            row = by_id.loc[image_id]
            source = open(os.path.join(sample_dump.out, row["file_path"]), "rb").read()
            checked[row["mode"]] += 1
            if row["mode"] == "CMYK":  # converted to RGB by tfds.core.utils.jpeg_cmyk_to_rgb
                assert data != source and tf.io.decode_jpeg(data).shape == (240, 320, 3)
            else:
                assert data == source
    assert checked["RGB"] > 100 and checked["L"] == 1 and checked["CMYK"] == 1


def test_bad_images_are_counted_never_written(sample_dump, built):
    images, _ = scan_images(sample_dump.out, progress=False)
    bad = set(images.loc[images["problem"].notna() | (images["format"] != "JPEG"), "image_id"])
    assert len(bad) == 4  # corrupt, zero-byte, HTML, PNG
    written = {i for split in SPLITS for i, _ in raw_examples(built, split)}
    assert not bad & written
    report = json.loads(open(os.path.join(built.data_path, "build_report.json")).read())
    for reason in ("image_truncated_jpeg", "image_zero_bytes", "image_unreadable", "format_not_kept"):
        assert report["skipped"][reason] == 1


@pytest.mark.parametrize("runner", ["plain", "beam"])
def test_all_resolutions_resizes_and_counts_build_time_decode_errors(sample_dump, tmp_path, runner):
    dump = shutil.copytree(sample_dump.out, tmp_path / "dump")
    png = [os.path.join(d, f) for d, _, fs in os.walk(dump) for f in fs if f.endswith(".png")][0]
    data = open(png, "rb").read()
    open(png, "wb").write(data[: len(data) // 3])  # header intact, pixels cut: only a decode finds it
    config = dataclasses.replace(configs.BUILDER_CONFIGS[2], name="all_res_test")
    kwargs = {}
    if runner == "beam":  # skips are counted on workers with Beam metrics, not on `self`
        import apache_beam as beam

        kwargs["beam_options"] = beam.options.pipeline_options.PipelineOptions(
            ["--runner=DirectRunner", "--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    builder = build(dump, tmp_path / "data", config=config, **kwargs)
    report = json.loads(open(os.path.join(builder.data_path, "build_report.json")).read())
    assert report["build_skipped"] == {"image_decode_error": 1}
    total = sum(builder.info.splits[s].num_examples for s in SPLITS)
    assert total == report["kept"] - 1
    images, _ = scan_images(dump, progress=False)
    other_size = set(images.loc[(images["width"] != 320) | (images["height"] != 240), "image_id"])
    resized = [e for s in SPLITS for e in builder.as_dataset(split=s) if int(e["image_id"]) in other_size]
    assert len(resized) == sample_dump.expected_skips["resolution_not_kept"]
    assert all(e["image"].shape == (240, 320, 3) for e in resized)


def refusal_case(case: str, tmp_path, sample_dump) -> tuple[list[str], str]:
    """The flags of one mistake a new user makes with `tfds build`, and the one line that must answer it."""
    manual, layouts = tmp_path / "dump", "(`python -m pyck_tfds.inspect --help` shows the layouts a dump may have"
    if case == "missing manual dir":
        return [f"--manual_dir={manual}"], f"error: manual dir '{manual}' does not exist or is not a folder: " \
                                           f"give the dump's folder {layouts})"
    if case == "a folder of photos":
        shutil.copy(next(os.path.join(r, f) for r, _, fs in os.walk(sample_dump.out) for f in fs if f.endswith(".jpg")),
                    manual.mkdir() or manual / "1.jpg")
        return [f"--manual_dir={manual}"], f"error: manual dir '{manual}' holds no metadata *.json file and no " \
                                           f"images_observations.csv: it is not a Mushroom Observer dump {layouts};"
    if case == "no manual dir":
        return [], "error: tfds build of mushroom_observer/family7 needs --manual_dir=DUMP, the dump's folder"
    if case == "unknown config":
        return ["--config=family8", f"--manual_dir={sample_dump.out}"], \
            "error: --config=family8 is not a config of mushroom_observer; its configs: family7, family5,"
    if case == "filters keep nothing":
        return [f"--manual_dir={sample_dump.out}", '--config={"name": "family7_x", "min_per_class": 100000}'], \
            "error: no family has >= 100000 images after the other filters (largest: "
    if case == "malformed metadata":
        shutil.copytree(sample_dump.out, manual)
        path = manual / "json" / "observations_2010.json"
        text = path.read_text()
        path.write_text(text.replace('"label"', '"label": oops, "x"', 1))
        return [f"--manual_dir={manual}"], f"error: {path}: malformed JSON at byte "
    assert case == "CSV export without names.csv"
    make_sample_csv_export(str(manual), 10, seed=0)
    os.remove(manual / "names.csv")
    return ["--config=family7_csv_sample", f"--manual_dir={manual}"], f"error: {manual / 'names.csv'} is missing: "


@pytest.mark.parametrize("case", ["missing manual dir", "a folder of photos", "no manual dir", "unknown config",
                                  "filters keep nothing", "malformed metadata", "CSV export without names.csv"])
def test_a_mistake_given_to_tfds_build_is_one_line(tmp_path, sample_dump, case):
    """TFDS's CLI would print its traceback around pyck's reason; the builder's hook prints the reason alone."""
    flags, line = refusal_case(case, tmp_path, sample_dump)
    flags = flags if any(f.startswith("--config") for f in flags) else ["--config=family7", *flags]
    data_dir = tmp_path / "data"
    result = subprocess.run([tfds_cli(), "build", "pyck_tfds/mushroom_observer", *flags, f"--data_dir={data_dir}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1].startswith(line), result.stderr[-3000:]
    assert not data_dir.exists(), list(data_dir.rglob("*"))  # refused before TFDS wrote anything, not even a folder
    if case in ("missing manual dir", "a folder of photos", "no manual dir", "unknown config"):
        assert "Reading image headers" not in result.stderr  # found before any work
    debug = subprocess.run([tfds_cli(), "build", "pyck_tfds/mushroom_observer", *flags, f"--data_dir={data_dir}"],
                           cwd=ROOT, capture_output=True, text=True, timeout=600,
                           env={**os.environ, "PYCK_DEBUG": "1"}) if case == "no manual dir" else None
    assert debug is None or "Traceback" in debug.stderr
    if case == "unknown config":  # pyck's build command: that line and nothing else, TensorFlow's start-up included
        quiet = run_python("-m", "pyck_tfds", "build", *flags, f"--data_dir={data_dir}", env=without_tf_log_level())
        assert quiet.returncode == 1 and quiet.stderr.startswith(line) and quiet.stderr.count("\n") == 1, quiet.stderr
