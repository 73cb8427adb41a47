"""The strategy.run loop when a replica's batches run out first (a tf.data service worker that got fewer
batches, the last partial batch split over the replicas), with oneDNN forced on (its convolutions fail on a batch
of 0): on every backbone family of the registry, two CPU replicas count each example once, score as the model
does directly and take the update of the examples they were given; a two-worker cluster in which one worker gets
no batch at all, or fewer than the other, counts each example once and ends with the same weights on both."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from pyck_classifier.model.backbones.registry import available_backbones
from tests.conftest import ROOT, finish, free_ports, run_python

pytestmark = pytest.mark.slow


def family(backbone: str) -> str:
    """`efficientnet_v2_b3` -> `efficientnet_v2_b`, `mobilenet_v3_small` -> `mobilenet_v3`, `vgg19` -> `vgg`."""
    return re.sub(r"_?(\d+|small|large)$", "", backbone)


def one_of_each_family() -> list[str]:
    families: dict[str, str] = {}
    for name in available_backbones():
        families.setdefault(family(name), name)
    return sorted(families.values())


def test_one_backbone_stands_for_each_family():
    assert sorted(map(family, one_of_each_family())) == ["efficientnet_b", "efficientnet_lite", "efficientnet_v2_b",
                                                         "inception_v", "mobilenet_v3", "resnet", "vgg"]


ONEDNN_ON = {"TF_ENABLE_ONEDNN_OPTS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}


@pytest.fixture(scope="module")
def reports() -> dict[str, dict]:
    result = run_python("-m", "tests.uneven_replicas", *one_of_each_family(), env={**os.environ, **ONEDNN_ON},
                        timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    return {report["backbone"]: report for report in map(json.loads, result.stdout.splitlines())}


@pytest.mark.parametrize("backbone", one_of_each_family())
def test_an_empty_replica_batch_adds_nothing_to_the_sums_and_the_update(reports, backbone):
    report = reports[backbone]
    assert report["replicas"] == 2 and report["finite"]
    # Scoring 5 examples in steps of 2 + 2 and 1 + 0: the model's own sums, each example once.
    assert report["eval_sums"][2] == 5.0 and report["eval_sums"][1] == report["direct_eval_sums"][1]
    assert report["eval_sums"][0] == pytest.approx(report["direct_eval_sums"][0], rel=1e-4)
    # One step on 1 example (1 + 0): SGD's update for that example alone.
    assert report["train_examples"] == 1.0
    assert report["train_loss"] == pytest.approx(report["direct_train_loss"], rel=1e-4)
    assert report["largest_update"] > 1e-5 and report["largest_difference"] < 1e-3 * report["largest_update"]


def test_a_worker_whose_batches_run_out_first_joins_every_step_of_the_cluster():
    addresses = [f"127.0.0.1:{port}" for port in free_ports(2)]
    workers = []
    for index in range(2):
        tf_config = {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, **ONEDNN_ON, "TF_CONFIG": json.dumps(tf_config)}
        workers.append(subprocess.Popen([sys.executable, "-m", "tests.uneven_workers", "mobilenet_v3_small",
                                         "efficientnet_b0"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True))
    results = finish(workers)
    for returncode, _, stderr in results:
        assert returncode == 0, stderr[-3000:]
    chief, other = ([json.loads(line) for line in stdout.splitlines()] for _, stdout, _ in results)
    # 3 + 0 and 3 + 1 per-replica batches of 2 (tests/uneven_workers.py), counted by the whole cluster.
    assert [(r["backbone"], r["case"], r["examples"]) for r in chief] == [
        (backbone, case, examples) for backbone in ("mobilenet_v3_small", "efficientnet_b0")
        for case, examples in (("alone", 6), ("uneven", 8))]
    for mine, theirs in zip(chief, other):
        assert mine["finite"] and mine == theirs  # the same counts, losses and weights on both workers
