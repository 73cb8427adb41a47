"""Training input on tf.data service: a dispatcher and two workers started as users start them, each
training example seen exactly once per epoch, and training runs fed by them: one trainer, and a
two-worker cluster that shares one job."""

from __future__ import annotations

import collections
import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import (
    BUILT_DATASET,
    ROOT,
    build_dataset,
    family7_config,
    finish,
    free_ports,
    run_python,
    start_training_cluster,
)

pytestmark = pytest.mark.slow


def start(*args: str) -> tuple[subprocess.Popen, str]:
    """A `python -m pyck_train.data_service ...` process and the first line it prints (it serves after that)."""
    process = subprocess.Popen([sys.executable, "-m", "pyck_train.data_service", *args], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    assert line, process.stderr.read()[-2000:]
    return process, line


@pytest.fixture(scope="module")
def service():
    """grpc://localhost:PORT of a dispatcher with two workers, all three as separate processes."""
    dispatcher, line = start("dispatcher", "--port=0")
    target = line.split(" at ", 1)[1].split()[0]
    workers = [start("worker", f"--port={port}", f"--dispatcher={target.removeprefix('grpc://')}")[0]
               for port in free_ports(2)]
    yield target
    for process in (*workers, dispatcher):
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def sharded_data_dir(sample_dump, tmp_path_factory) -> str:
    """`BUILT_DATASET` in 4 record files: the dispatcher hands out whole files (one file: one busy worker)."""
    out = str(tmp_path_factory.mktemp("sharded"))
    build_dataset(sample_dump.out, out, family7_config(BUILT_DATASET.split("/")[1]), num_shards=4)
    return out


def fingerprints(batches) -> collections.Counter:
    """(pixel sum, label) of every image: a multiset that says which images an epoch held, and how often."""
    seen = collections.Counter()
    for images, labels in batches.as_numpy_iterator():
        seen.update(zip(images.reshape(len(images), -1).sum(axis=1, dtype=np.int64).tolist(), labels.tolist()))
    return seen


def test_every_training_example_goes_through_the_service_once_per_epoch(service, sharded_data_dir):
    from pyck_classifier.data.input_pipeline import image_shape, load_split, make_pipeline

    encoded, info = load_split(BUILT_DATASET, "train", sharded_data_dir, shuffle_files=True, known_size=False)
    assert len(info.splits["train"].file_instructions) == 4
    size = image_shape(info)[:2]
    local = fingerprints(make_pipeline(load_split(BUILT_DATASET, "train", sharded_data_dir)[0], image_size=size,
                                       training=False, batch_size=16))
    assert sum(local.values()) == info.splits["train"].num_examples
    served = make_pipeline(encoded, image_size=size, training=True, batch_size=16, data_service=service)
    for epoch in range(2):
        assert fingerprints(served) == local, f"epoch {epoch}: an image missing or seen twice"


def test_training_reads_its_batches_from_the_service(service, built_data_dir, tmp_path):
    result = run_python("-m", "pyck_train", "--flagfile=configs/quickstart.flags", f"--dataset={BUILT_DATASET}",
                        f"--data_dir={built_data_dir}", f"--model_dir={tmp_path / 'run'}", "--nocache_features",
                        "--backbone=mobilenet_v3_small", "--weights=none", "--head=gap", "--epochs=1",
                        "--batch_size=16", "--augment=light", f"--data_service={service}", "--runtime=keras",
                        timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "--data_service=" + service in open(tmp_path / "run" / "flags.txt").read()
    assert "val_accuracy" in open(tmp_path / "run" / "history_0_head.csv").read()


def test_a_two_worker_cluster_shares_one_job_and_reads_each_example_once_per_epoch(service, sharded_data_dir,
                                                                                   tmp_path):
    from pyck_classifier.data.input_pipeline import load_split

    train_examples = load_split(BUILT_DATASET, "train", sharded_data_dir)[1].splits["train"].num_examples
    results = finish(start_training_cluster(
        ["--flagfile=configs/quickstart.flags", f"--dataset={BUILT_DATASET}", f"--data_dir={sharded_data_dir}",
         f"--model_dir={tmp_path / 'run'}", "--nocache_features", "--backbone=mobilenet_v3_small", "--weights=none",
         "--head=gap", "--epochs=2", "--batch_size=8", f"--data_service={service}", "--runtime=keras"]))
    for returncode, stdout, stderr in results:
        assert returncode == 0, stderr[-3000:]
    # The chief's epoch lines count the examples the whole cluster trained on (all-reduced).
    epochs = [line for line in results[0][1].splitlines() if line.startswith("Epoch ")]
    assert [line.split(" - ")[2] for line in epochs] == [f"{train_examples} examples"] * 2, epochs
    assert json.load(open(tmp_path / "run" / "metrics.json"))["replicas"] == 2


def test_bad_data_service_flags_are_usage_errors(tmp_path):
    bad = run_python("-m", "pyck_train", f"--model_dir={tmp_path}", "--data_service=localhost:5050", timeout=120)
    assert bad.returncode != 0 and "--data_service must be grpc://HOST:PORT" in bad.stderr
    role = run_python("-m", "pyck_train.data_service", "master", "--port=1", timeout=120)
    assert role.returncode != 0 and "dispatcher or worker" in role.stderr
