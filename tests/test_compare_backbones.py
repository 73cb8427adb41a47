"""`python -m pyck_train.compare_backbones`: one row per backbone, CSV and PNG."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from tests.conftest import BUILT_DATASET, run_python

pytestmark = pytest.mark.slow


def compare(data_dir: str, model_dir, *flags: str):
    return run_python("-m", "pyck_train.compare_backbones", "--flagfile=configs/quickstart.flags",
                      f"--dataset={BUILT_DATASET}", f"--data_dir={data_dir}", f"--model_dir={model_dir}",
                      "--steps_per_epoch=2", "--batch_size=8", "--nocache_features", "--weights=none",
                      "--head=gap", "--backbones=mobilenet_v3_small,efficientnet_lite0", *flags, timeout=600)


def test_compare_backbones_writes_the_table_and_plot(built_data_dir, tmp_path):
    result = compare(built_data_dir, tmp_path, "--epochs=2")
    assert result.returncode == 0, result.stderr[-3000:]
    for backbone in ("mobilenet_v3_small", "efficientnet_lite0"):  # each folder is a run of its own
        assert f"--backbone={backbone}\n" in open(tmp_path / backbone / "flags.txt").read()
    again = compare(built_data_dir, tmp_path, "--epochs=3")  # other flags: refused, the runs kept
    assert again.returncode != 0 and "Traceback" not in again.stderr, again.stderr[-3000:]
    assert again.stderr.strip().splitlines()[-1].startswith("error: ") and "--epochs: 2 -> 3" in again.stderr
    assert "--epochs=2\n" in open(tmp_path / "mobilenet_v3_small" / "flags.txt").read()
    table = pd.read_csv(tmp_path / "comparison.csv")
    assert sorted(table["backbone"]) == ["efficientnet_lite0", "mobilenet_v3_small"]
    for row in table.itertuples():  # each row reports its own run, and its speed is its epochs' images over time
        metrics = json.load(open(tmp_path / row.backbone / "metrics.json"))
        assert (row.validation_accuracy, row.test_accuracy) == (metrics["validation"]["accuracy"],
                                                                metrics["test"]["accuracy"])
        assert row.images_per_second == pytest.approx(2 * 8 / row.epoch_seconds)  # --steps_per_epoch x --batch_size
        assert 0 < 2 * row.epoch_seconds < row.total_seconds  # two epochs, plus the set-up and the evaluation
    params = dict(zip(table["backbone"], table["parameters"]))
    assert params["efficientnet_lite0"] > params["mobilenet_v3_small"] > 0
    assert table["validation_accuracy"].is_monotonic_decreasing
    assert os.path.getsize(tmp_path / "comparison.png") > 10_000


def test_unknown_backbone_is_a_usage_error(tmp_path):
    result = run_python("-m", "pyck_train.compare_backbones", f"--model_dir={tmp_path}",
                        "--backbones=efficientnet_lite0,resnet5", timeout=120)
    assert result.returncode != 0 and "--backbones" in result.stderr
