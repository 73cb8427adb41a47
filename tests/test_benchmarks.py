"""Benchmark smoke tests: tiny sizes, every field present, rates positive. The targets are the benchmarks' job."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import BUILT_DATASET, run_python

pytestmark = pytest.mark.slow


def run_bench(module: str, *args: str) -> dict:
    result = run_python("-m", module, *args, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout[result.stdout.index("{"):])


def test_bench_input_reports_every_case_and_ratio():
    report = run_bench("tools.bench_input", "--per_family=20", "--n_images=64", "--epochs=1", "--repeats=1",
                       "--data_service_workers=1")
    cases = ("d_decode_ceiling", "a_pyck_tfrecord", "a_array_record_data_source",
             "b_keras_image_dataset_from_directory", "c_pandas_pil_study", "e_pyck_cached_epoch2",
             "f_data_service_1_workers")
    assert report["images"] == 64 and all(case in report for case in cases)
    assert set(report["ratios"]) == {"a/d", "a/b", "a/c", "e/d", "a/d_steady", "a/b_steady", "a_array_record/d", "f/a"}
    assert (set(report["first_batch_ms"]) == set(report["first_batch_ms_first_epoch"])
            == set(report["steady_images_per_second"]) == set(cases))
    assert all(wait > 0 for wait in report["first_batch_ms"].values())
    assert report["first_batch_ms_first_epoch"] == report["first_batch_ms"]  # one epoch: its wait is the median
    steady = report["steady_images_per_second"]
    for ratio, (numerator, denominator) in {"a/d_steady": ("a_pyck_tfrecord", "d_decode_ceiling"),
                                            "a/b_steady": ("a_pyck_tfrecord", "b_keras_image_dataset_from_directory")
                                            }.items():
        assert report["ratios"][ratio] == pytest.approx(steady[numerator] / steady[denominator], rel=0.02), ratio
    quotients = {"a/d": ("a_pyck_tfrecord", "d_decode_ceiling"),  # each ratio is the one its name says
                 "a/b": ("a_pyck_tfrecord", "b_keras_image_dataset_from_directory"),
                 "a/c": ("a_pyck_tfrecord", "c_pandas_pil_study"), "e/d": ("e_pyck_cached_epoch2", "d_decode_ceiling"),
                 "a_array_record/d": ("a_array_record_data_source", "d_decode_ceiling"),
                 "f/a": ("f_data_service_1_workers", "a_pyck_tfrecord")}
    for ratio, (numerator, denominator) in quotients.items():
        assert report["ratios"][ratio] == pytest.approx(report[numerator] / report[denominator], rel=0.02), ratio


def test_bench_build_reports_each_scale_and_inspect():
    report = run_bench("tools.bench_build", "--per_family=20", "--scales=1,2", "--repeats=1", "--inspect_records=3000")
    assert [s["scale"] for s in report["scales"]] == [1, 2]
    for scale in report["scales"]:  # the rates are the images over the seconds the report gives (rounded)
        assert scale["build_images_per_second"] == pytest.approx(scale["images"] / scale["build_seconds"], rel=0.05)
        assert scale["build_vs_copy"] == pytest.approx(
            scale["build_images_per_second"] / scale["copy_images_per_second"], rel=0.02, abs=5e-4)
        assert scale["build_ms_per_image"] == pytest.approx(1000 / scale["build_images_per_second"], rel=0.02)
    assert report["scales"][1]["images"] == 2 * report["scales"][0]["images"]  # scale 2: the sample drawn twice
    assert report["inspect"]["records"] == 3000 and report["inspect"]["peak_rss_mib"] > 0


@pytest.mark.timing  # its ratio has a physical bound: timed alone, not beside the suite's other test process
def test_bench_train_reports_stall_and_feature_cache():
    # 6 steps an epoch, best of 4: with 2 steps, Keras's per-fit overhead made the ratio swing from 0.64 to 1.24
    report = run_bench("tools.bench_train", "--per_family=20", "--n_images=96", "--batch_size=16", "--repeats=4")
    stall = report["stall"]
    assert stall["pipeline_steps_per_second"] > 0 and stall["bound_steps_per_second"] > 0
    # One batch repeated bounds any pipeline from above: only timing noise can take the ratio past 1. On this VM
    # it reached 1.18 (640-image epochs) and 1.63 (2,150-image epochs, best of 3): slow spells of minutes hit
    # one case's epochs. The bound catches an inverted ratio, not noise.
    assert 0 < stall["stall_ratio"] <= 2.0
    assert stall["epoch_images"] == report["images"] <= 96  # the sample's train split may hold fewer
    assert stall["startup_share_of_epoch"] == pytest.approx(stall["startup_seconds_per_epoch"] / stall["epoch_seconds"],
                                                            rel=0.05, abs=1e-3)
    assert 0 <= stall["input_wait_share"] < 1  # timed within the steps: waiting for a batch is part of each step
    assert stall["stall_ratio_from_waits"] == pytest.approx(1 - stall["input_wait_share"], abs=1e-3)
    assert stall["stall_ratio"] == pytest.approx(stall["pipeline_steps_per_second"] / stall["bound_steps_per_second"],
                                                 rel=0.01)
    assert report["cpu"]
    cache = report["feature_cache"]
    assert cache["speedup_per_epoch"] == pytest.approx(cache["epoch_seconds_images"] / cache["epoch_seconds_features"],
                                                       rel=0.1)  # the seconds are rounded to 3 and 4 digits
    assert ("precision" in report) == bool(report["gpu"])


@pytest.mark.timing  # ratios of rates: timed alone, not beside the suite's other test process
def test_bench_input_keeps_the_pipeline_near_the_decode_ceiling_and_ahead_of_keras():
    # 1,075 images, five epochs of ~0.2 s each from one iterator, as the trainer reads them: the first epoch's
    # start-up (~0.08 s against the ceiling's ~0.015 s) weighs in the whole-run ratios. On correct code (2-core
    # EPYC) a/d was 0.89, a/b 1.21 and a/d after each first batch 0.96 (one epoch per iterator before, 7 runs:
    # 0.65-0.88, 0.79-1.24, 0.81-1.0); with the decode map run on one thread: 0.50, 0.69 and 0.51.
    report = run_bench("tools.bench_input", "--per_family=240", "--repeats=4")
    assert report["ratios"]["a/d_steady"] >= 0.7, report
    assert report["ratios"]["a/d"] >= 0.6, report
    assert report["ratios"]["a/b"] >= 0.75, report


@pytest.mark.parametrize("cores", ["x", "0", "99"])
def test_bench_input_refuses_bad_core_counts_in_one_line(cores):
    result = run_python("-m", "tools.bench_input", f"--cores={cores}", timeout=120)
    assert result.returncode != 0 and f"--cores={cores}:" in result.stderr
    assert "Traceback" not in result.stderr


def test_bench_input_refuses_a_split_of_fewer_than_two_batches_in_one_line(built_data_dir):
    result = run_python("-m", "tools.bench_input", f"--data_dir={built_data_dir}", f"--dataset={BUILT_DATASET}",
                        "--batch_size=100000", timeout=300)
    assert result.returncode != 0 and "fewer than two batches of 100000" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="pins runs to 1 and 2 of this process's CPUs (Linux)")
def test_bench_input_pins_each_core_count_and_reports_per_core_rates():
    report = run_bench("tools.bench_input", "--per_family=20", "--n_images=64", "--epochs=1", "--repeats=1",
                       "--cores=1,2")
    for count in (1, 2):
        pinned = report[f"{count}_cores"]
        assert pinned["cpus_seen"] == count  # the child ran pinned: TensorFlow sized its pools for that many
        assert pinned["per_core"]["a_pyck_tfrecord"] == pytest.approx(pinned["a_pyck_tfrecord"] / count, rel=0.01)
        assert pinned["ratios"]["a/d"] == pytest.approx(pinned["a_pyck_tfrecord"] / pinned["d_decode_ceiling"],
                                                        rel=0.02)
