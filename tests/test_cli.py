"""The command lines as users run them."""

import json
import os
import subprocess

import pytest

from tests.conftest import run_python


def run(*args: str) -> subprocess.CompletedProcess:
    return run_python("-m", *args, timeout=300)


def test_inspect_json_adds_up(sample_dump):
    result = run("pyck_tfds.inspect", sample_dump.out, "--min_per_class=20", "--json", "--noprogress")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["records_in"] == sample_dump.json_records and report["kept"] == 7 * sample_dump.images_per_family
    assert report["classes"] == sample_dump.families
    assert sum(report["split_sizes"].values()) == report["kept"]


def test_inspect_text_shows_funnel_and_splits(sample_dump):
    result = run("pyck_tfds.inspect", sample_dump.out, "--min_per_class=20", "--noprogress")
    assert result.returncode == 0, result.stderr
    for expected in ("Filter funnel", "confidence > 90", "low_confidence", "validation", "observations"):
        assert expected in result.stdout


def test_inspect_missing_dir_fails_fast_with_the_path(tmp_path):
    result = run("pyck_tfds.inspect", str(tmp_path / "missing"))
    assert result.returncode == 2
    assert str(tmp_path / "missing") in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("flag", ["--resolution=320by240", "--level=kingdom", "--min_per_class=0"])
def test_inspect_bad_flag_is_a_usage_error_naming_the_flag(sample_dump, flag):
    result = run("pyck_tfds.inspect", sample_dump.out, flag)
    assert result.returncode != 0 and flag.split("=")[0] in result.stderr


def test_explore_writes_plots_and_summary(sample_dump, tmp_path):
    result = run("tools.explore", sample_dump.out, f"--out={tmp_path}")
    assert result.returncode == 0, result.stderr
    names = sorted(os.listdir(tmp_path))
    assert names == sorted(["images_per_rank.png", "top_resolutions.png", "images_per_family.png",
                            "images_and_observations_per_year.png", "images_per_observation.png", "summary.csv"])
    summary = open(tmp_path / "summary.csv").read()
    assert "images_per_family,Amanitaceae," in summary
