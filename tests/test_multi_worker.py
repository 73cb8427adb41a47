"""`--distribution=multi_worker`: two worker processes on 127.0.0.1 with TF_CONFIG train through the custom loop
over `strategy.run`; the chief writes the outputs; a killed cluster resumes from its last epoch and then
scores as one machine does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import numpy as np
import pandas as pd
import pytest

from tests.conftest import BUILT_DATASET, assert_epochs_end_on_averages, finish, run_python, start_training_cluster

pytestmark = pytest.mark.slow
# Frozen ImageNet Lite0 and a pooling head, the base run on every batch (no feature cache): the loop's full path.
FLAGS = ["--flagfile=configs/quickstart.flags", f"--dataset={BUILT_DATASET}", "--nocache_features", "--head=gap",
         "--epochs=2", "--runtime=keras", "--seed=1"]
PER_WORKER_BATCH, RATE = 16, 0.01


def start_cluster(data_dir: str, model_dir: str) -> list[subprocess.Popen]:
    return start_training_cluster([*FLAGS, f"--data_dir={data_dir}", f"--model_dir={model_dir}",
                                   f"--batch_size={PER_WORKER_BATCH}", f"--learning_rate={RATE}"])


def epochs_logged(history) -> int:
    try:
        return len(pd.read_csv(history))
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return 0


@pytest.fixture(scope="module")
def resumed_cluster(built_data_dir, tmp_path_factory):
    """A two-worker run whose worker 1 is killed in epoch 2, then the cluster started again with the same
    command: (model_dir, epochs finished before the kill, the second launch's (code, stdout, stderr)s).

    Both tests below read this one run (a cluster run costs minutes on 2 cores): the second launch is the
    cluster run that is compared with one machine, so a resume that lost or spoiled state shows there too.
    """
    model_dir = tmp_path_factory.mktemp("cluster")
    history = model_dir / "history_0_head.csv"
    processes = start_cluster(built_data_dir, str(model_dir))
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and not epochs_logged(history):
        assert all(p.poll() is None for p in processes), finish(processes)[0][2][-3000:]
        time.sleep(0.2)
    processes[1].send_signal(signal.SIGKILL)  # worker 1 dies in epoch 2
    try:  # its peer notices (collectives fail) or is stopped by the cluster manager, as here after 60 s
        processes[0].wait(timeout=60)
        print("the chief stopped by itself:", processes[0].returncode)
    except subprocess.TimeoutExpired:
        processes[0].send_signal(signal.SIGKILL)
        print("the chief was still waiting on its peer after 60 s: killed")
    finish(processes)
    done = pd.read_csv(history)["epoch"].tolist()
    return model_dir, done, finish(start_cluster(built_data_dir, str(model_dir)))


def test_a_killed_worker_and_the_restarted_cluster_resume_from_the_last_epoch(resumed_cluster):
    model_dir, done, results = resumed_cluster
    assert done and done == list(range(len(done))) and len(done) < 2
    for returncode, stdout, stderr in results:
        assert returncode == 0, stderr[-3000:]
    epochs = [line for line in results[0][1].splitlines() if line.startswith("Epoch ")]
    assert [line.split()[1] for line in epochs] == [f"{e + 1}/2" for e in range(len(done), 2)], epochs
    assert pd.read_csv(model_dir / "history_0_head.csv")["epoch"].tolist() == [0, 1], "a finished epoch ran again"


def test_two_workers_train_like_one_machine_with_the_same_global_batch(resumed_cluster, built_data_dir, tmp_path):
    model_dir, _, results = resumed_cluster
    for returncode, stdout, stderr in results:
        assert returncode == 0, stderr[-3000:]
    assert "worker 1 trained its part" in results[1][1]
    cluster = json.load(open(model_dir / "metrics.json"))
    assert cluster["replicas"] == 2
    for name in ("model.keras", "saved_model", "calibration.json", "history_0_head.csv", "flags.txt"):
        assert os.path.exists(model_dir / name), name
    # One machine, one replica: the same global batch, and the rate the cluster's linear scaling gave it.
    single = run_python("-m", "pyck_train", *FLAGS, f"--data_dir={built_data_dir}",
                        f"--model_dir={tmp_path / 'single'}", f"--batch_size={2 * PER_WORKER_BATCH}",
                        f"--learning_rate={2 * RATE}", timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]
    alone = json.load(open(tmp_path / "single" / "metrics.json"))
    print({split: (cluster[split]["accuracy"], alone[split]["accuracy"]) for split in ("validation", "test")})
    for split in ("validation", "test"):
        assert abs(cluster[split]["accuracy"] - alone[split]["accuracy"]) <= 0.1, split
    assert cluster["test"]["accuracy"] > 0.5


MIXED_PRECISION_LOOP = """
import json
import keras, numpy as np, tensorflow as tf
strategy = tf.distribute.MultiWorkerMirroredStrategy()  # no TF_CONFIG: a one-worker cluster, this process
keras.mixed_precision.set_global_policy("mixed_float16")
from pyck_train import strategy_run_loop
rng = np.random.default_rng(0)
x = rng.normal(size=(256, 8)).astype("float32")
y = np.eye(2, dtype="float32")[(x[:, 0] > 0).astype(int)]
with strategy.scope():
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(2, activation="softmax", dtype="float32")])
    # SGD, not Adam: Adam's steps do not depend on the gradients' scale, so a missing loss scale would not show.
    model.compile(keras.optimizers.SGD(0.5), loss=keras.losses.CategoricalCrossentropy())
batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
history = strategy_run_loop.fit(model, batches, validation_data=batches, epochs=8, steps_per_epoch=None,
                                class_weight={0: 1.0, 1: 3.0}, callbacks=[], strategy=strategy, global_batch=32)
print(json.dumps({"optimizer": type(model.optimizer).__name__, "compute": model.layers[0].compute_dtype,
                  "loss": history.history["loss"], "val_accuracy": history.history["val_accuracy"]}))
"""


def test_the_loop_keeps_mixed_precision_loss_scaling_and_class_weights_on_cpu():
    result = run_python("-c", MIXED_PRECISION_LOOP, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["optimizer"] == "LossScaleOptimizer" and report["compute"] == "float16"
    # Unscaled, the LossScaleOptimizer would divide every gradient by its scale (2**15): SGD would barely move.
    assert report["loss"][-1] < 0.6 * report["loss"][0] and report["val_accuracy"][-1] > 0.8, report


AVERAGED_WEIGHTS_LOOP = """
import json
import keras, numpy as np, tensorflow as tf
strategy = tf.distribute.MultiWorkerMirroredStrategy()  # no TF_CONFIG: a one-worker cluster, this process
from pyck_train import optimization, strategy_run_loop
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 3)).astype("float32")
y = np.eye(2, dtype="float32")[(x[:, 0] > 0).astype(int)]
with strategy.scope():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimization.build_optimizer("adam", 0.1, ema_momentum=0.5),
                  loss=keras.losses.CategoricalCrossentropy())

class Seen(keras.callbacks.Callback):
    trained, ends = [], []

    def on_train_batch_end(self, batch, logs=None):
        self.trained.append([w.tolist() for w in self.model.get_weights()])

    def on_epoch_end(self, epoch, logs=None):
        self.ends.append([w.tolist() for w in self.model.get_weights()])

batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
history = strategy_run_loop.fit(model, batches, validation_data=batches, epochs=2, steps_per_epoch=None,
                                class_weight=None, callbacks=[*optimization.averaged_weights_callbacks(0.5), Seen()],
                                strategy=strategy, global_batch=16)
print(json.dumps({"x": x.tolist(), "y": y.tolist(), "trained": Seen.trained, "ends": Seen.ends,
                  "val_loss": history.history["val_loss"]}))
"""


def test_the_loop_validates_and_ends_epochs_on_the_averaged_weights():
    """--ema_momentum through the multi-worker loop: as with fit, each epoch ends on the moving average of the weights
    it trained (4 steps an epoch), and validation scored those."""
    result = run_python("-c", AVERAGED_WEIGHTS_LOOP, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert_epochs_end_on_averages(report["trained"], report["ends"], report["val_loss"], np.array(report["x"]),
                                  np.array(report["y"]), steps_per_epoch=4, momentum=0.5)
