"""`python -m pyck_train`: flags, outputs, resume."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from pyck_classifier.model import feature_extraction
from pyck_classifier.model.classifier import backbone_of, build_classifier
from pyck_classifier.model.heads import LOGITS_LAYER
from pyck_classifier.posthoc.calibration import Calibration
from pyck_train import provenance
from pyck_train.config import TrainConfig
from pyck_train.train import train
from tests.conftest import BUILT_DATASET, ROOT, beats_pixels, run_python

pytestmark = pytest.mark.slow
DATASET = BUILT_DATASET


@pytest.fixture
def data_dir(built_data_dir) -> str:
    return built_data_dir


def small_config(data_dir: str, model_dir: str, **overrides) -> TrainConfig:
    values = dict(model_dir=model_dir, dataset=DATASET, data_dir=data_dir, batch_size=8, steps_per_epoch=2,
                  epochs=1, fine_tune_epochs=1, head="dense:16,dropout:0.25")
    return TrainConfig(**{**values, **overrides})


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return run_python("-m", "pyck_train", *args, timeout=600)


@pytest.mark.parametrize("flag", ["--head=dense:0", "--strategy=sideways", "--weights=/no/such/file.h5",
                                  "--backbone=resnet5", "--batch_size=0",
                                  "--distribution=multi_worker"])
def test_bad_flag_is_a_usage_error_before_any_work(tmp_path, flag):
    model_dir = tmp_path / "model"
    result = run_cli("--flagfile=configs/quickstart.flags", f"--model_dir={model_dir}", flag)
    assert result.returncode != 0 and flag.split("=")[0] in result.stderr
    assert not model_dir.exists()


# Fine-tuning from the full split's first 16 images (2 batches), each epoch cut to the first batch of its own
# (seed, epoch) order by --steps_per_epoch=1, which resumes exactly (before, epoch 2 was a pass's second batch),
# augmented by (seed, epoch, batch), which resumes exactly too (before, from the layers' generators, started anew),
# with a moving average of the weights (the backup holds the averages in the model, the trained ones in the optimizer).
FINETUNE = dict(strategy="freeze_then_finetune", epochs=1, fine_tune_epochs=3, steps_per_epoch=1, train_subset=16,
                augment="light", ema_momentum=0.5)
# The quickstart's path: frozen base, head on cached features, the whole train split.
CACHED = dict(strategy="frozen", cache_features=True, epochs=6, steps_per_epoch=0, head="gap", learning_rate=0.01,
              train_subset=100_000)


@pytest.fixture(scope="module")
def finetune_run(built_data_dir, tmp_path_factory) -> tuple[TrainConfig, dict]:
    config = small_config(built_data_dir, str(tmp_path_factory.mktemp("finetune") / "model"), **FINETUNE)
    return config, train(config)


@pytest.fixture(scope="module")
def cached_run(built_data_dir, tmp_path_factory) -> tuple[TrainConfig, dict]:
    config = small_config(built_data_dir, str(tmp_path_factory.mktemp("cached") / "model"), **CACHED)
    return config, train(config)


def test_freeze_then_finetune_writes_every_output(finetune_run):
    config, metrics = finetune_run
    model_dir = config.model_dir
    names = set(os.listdir(model_dir))
    assert {"labels.txt", "metrics.json", "model.keras", "saved_model", "training_curves.png", "logs",
            "history_0_head.csv", "history_1_finetune.csv", "calibration.json", "calibration_mahalanobis.npz",
            "index.html"} <= names
    assert "href='training_curves.png'" in open(os.path.join(model_dir, "index.html")).read()
    assert set(os.listdir(os.path.join(model_dir, "checkpoints"))) == {"best_0_head.weights.h5",
                                                                     "best_1_finetune.weights.h5"}
    assert open(os.path.join(model_dir, "labels.txt")).read().split("\n")[:7] == metrics["labels"]
    saved = json.load(open(os.path.join(model_dir, "metrics.json")))
    assert saved == json.loads(json.dumps(metrics)) and saved["train_examples"] == 16
    images = np.random.default_rng(0).uniform(0, 255, (2, 240, 320, 3)).astype(np.float32)
    reloaded = keras.models.load_model(os.path.join(model_dir, "model.keras"))
    serving = tf.saved_model.load(os.path.join(model_dir, "saved_model"))  # keep a reference: it owns the variables
    served = serving.serve(tf.constant(images))  # the calibrated probabilities
    calibration = Calibration.load(model_dir, metrics["labels"])
    assert saved["calibration"]["temperature"] == calibration.temperature != 1.0
    np.testing.assert_allclose(np.asarray(served), calibration.calibrated(reloaded.predict(images, verbose=0)),
                               atol=1e-5)


class _KillAfter(keras.callbacks.Callback):
    """Kills the run at the end of its `epochs`-th epoch (counted over phases), after BackupAndRestore saved it."""

    def __init__(self, epochs: int):
        super().__init__()
        self.left = epochs

    def on_epoch_end(self, epoch, logs=None):
        self.left -= 1
        if self.left == 0:
            raise KeyboardInterrupt("simulated kill")


class _Fits(keras.callbacks.Callback):
    """What a run fitted: one list of epoch numbers per `fit` call."""

    def __init__(self):
        super().__init__()
        self.epochs: list[list[int]] = []

    def on_train_begin(self, logs=None):
        self.epochs.append([])

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs[-1].append(epoch)


def killed_and_resumed(config: TrainConfig, kill_after: int) -> tuple[dict, _Fits]:
    with pytest.raises(KeyboardInterrupt):
        train(config, extra_callbacks=[_KillAfter(kill_after)])
    fits = _Fits()
    return train(config, extra_callbacks=[fits]), fits


def assert_same_run(resumed: dict, uninterrupted: dict) -> None:
    """Bit-for-bit the same training: the same kept epochs, scores and calibration."""
    assert resumed["phases"] == uninterrupted["phases"]
    for split in ("validation", "test"):
        assert resumed[split]["accuracy"] == uninterrupted[split]["accuracy"]
        assert resumed[split]["loss"] == pytest.approx(uninterrupted[split]["loss"], abs=1e-6)
    assert resumed["calibration"]["temperature"] == pytest.approx(uninterrupted["calibration"]["temperature"])


def test_the_quickstart_path_killed_mid_phase_resumes_where_it_stopped(cached_run, tmp_path):
    config, uninterrupted = cached_run
    config = dataclasses.replace(config, model_dir=str(tmp_path / "model"))
    resumed, fits = killed_and_resumed(config, kill_after=3)
    assert fits.epochs == [[3, 4, 5]]  # the cached-features phase goes on at epoch 4 of 6
    assert pd.read_csv(os.path.join(config.model_dir, "history_0_head.csv"))["epoch"].tolist() == list(range(6))
    assert_same_run(resumed, uninterrupted)
    # Killed after the last phase but before the metrics: a rerun trains nothing and still writes them.
    os.remove(os.path.join(config.model_dir, "metrics.json"))
    again = _Fits()
    assert_same_run(train(config, extra_callbacks=[again]), uninterrupted)
    assert again.epochs == []


def test_a_run_killed_while_fine_tuning_keeps_its_head_phase_and_resumes(finetune_run, tmp_path):
    config, uninterrupted = finetune_run
    config = dataclasses.replace(config, model_dir=str(tmp_path / "model"))
    # Killed after the head's epoch and fine-tuning's first two (after one step the average is the trained weights).
    resumed, fits = killed_and_resumed(config, kill_after=3)
    assert fits.epochs == [[2]]  # the finished head phase is not fitted again; fine-tuning goes on at epoch 3
    history = {tag: pd.read_csv(os.path.join(config.model_dir, f"history_{tag}.csv"))["epoch"].tolist()
               for tag in ("0_head", "1_finetune")}
    assert history == {"0_head": [0], "1_finetune": [0, 1, 2]}
    assert_same_run(resumed, uninterrupted)
    # Every epoch trained alike, not only the kept one: the losses of the resumed epochs' augmented batches.
    losses = [pd.read_csv(os.path.join(folder, "history_1_finetune.csv"))[["loss", "val_loss"]]
              for folder in (config.model_dir, finetune_run[0].model_dir)]
    np.testing.assert_allclose(losses[0].to_numpy(), losses[1].to_numpy(), atol=1e-6)


def test_cli_with_the_quickstart_flagfile_reproduces_its_flags(data_dir, tmp_path):
    model_dir = tmp_path / "model"
    relative = os.path.relpath(data_dir, ROOT)  # as quickstart.flags gives it: relative to where training runs
    result = run_cli("--flagfile=configs/quickstart.flags", f"--dataset={DATASET}", f"--data_dir={relative}",
                     f"--model_dir={model_dir}", "--epochs=1", "--steps_per_epoch=2", "--batch_size=8")
    assert result.returncode == 0, result.stderr[-3000:]
    # Parsed back: every field of the config, the defaults, the flagfile's values and the overrides.
    expected = {**provenance.as_flag_values(dataclasses.asdict(TrainConfig(model_dir=str(model_dir)))),
                **provenance.read_flagfile(os.path.join(ROOT, "configs/quickstart.flags")),
                "dataset": DATASET, "data_dir": relative, "model_dir": str(model_dir), "epochs": "1",
                "steps_per_epoch": "2", "batch_size": "8"}
    assert provenance.read_flagfile(model_dir / "flags.txt") == expected  # the flags as given
    metrics = json.loads(open(model_dir / "metrics.json").read())
    assert metrics["precision"] == "float32"  # auto on CPU
    assert metrics["data_dir"] == os.path.abspath(data_dir)  # eval reads it from any folder
    metrics["data_dir"] = relative  # a run recorded before: from another folder, eval says what it tried
    open(model_dir / "metrics.json", "w").write(json.dumps(metrics))
    elsewhere = run_python("-m", "pyck_eval", "report", f"--model_dir={model_dir}", cwd=str(tmp_path), timeout=300)
    assert elsewhere.returncode == 1 and elsewhere.stderr.strip().splitlines() == [
        f"error: {model_dir} was trained on --data_dir={relative}, which is not a folder from {tmp_path} (the run "
        "recorded it relative to where it was trained): pass --data_dir"]


def test_taxonomy_loss_on_a_family_dataset_is_refused_in_one_line_before_any_work(built_data_dir, tmp_path):
    model_dir = tmp_path / "model"
    result = run_cli(f"--dataset={DATASET}", f"--data_dir={built_data_dir}", f"--model_dir={model_dir}",
                     "--taxonomy_loss=0.5")
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        f"error: --taxonomy_loss: the labels of {DATASET} are family names, with no coarser level to add; train a "
        "species or genus config, or drop the flag"]
    assert not model_dir.exists()


FLAGFILES = sorted(f for f in os.listdir(os.path.join(ROOT, "configs")) if f.endswith(".flags"))


@pytest.mark.parametrize("flagfile", FLAGFILES)
def test_every_flagfile_parses_and_validates(flagfile):
    script = ("import sys; from absl import flags; import pyck_train.flags; "
              "flags.FLAGS(['pyck_train', '--flagfile=' + sys.argv[1]]); "
              "from pyck_train.flags import config_from_flags; print(config_from_flags())")
    result = run_python("-c", script, f"configs/{flagfile}", timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "TrainConfig(" in result.stdout


@pytest.fixture(scope="module")
def subset_runs(built_data_dir, tmp_path_factory) -> dict:
    """One frozen Lite0 setup on 64 training images, run three ways: head on cached features extracted by Keras,
    the same through LiteRT, and a plain frozen phase that runs the base on every batch."""
    root = tmp_path_factory.mktemp("subset_runs")
    ways = {"keras": dict(cache_features=True, runtime="keras"), "litert": dict(cache_features=True, runtime="litert"),
            "plain": dict(cache_features=False, runtime="keras")}
    for name, way in ways.items():
        train(small_config(built_data_dir, str(root / name), **{**CACHED, "epochs": 2, "train_subset": 64, **way}))
    return {name: str(root / name) for name in ways}


def test_litert_feature_extraction_trains_the_same_model_as_keras(subset_runs):
    metrics = {name: json.load(open(os.path.join(path, "metrics.json"))) for name, path in subset_runs.items()}
    for split in ("validation", "test"):
        assert metrics["litert"][split]["accuracy"] == metrics["keras"][split]["accuracy"]
        assert metrics["litert"][split]["loss"] == pytest.approx(metrics["keras"][split]["loss"], abs=1e-4)
    assert metrics["litert"]["calibration"]["temperature"] == pytest.approx(
        metrics["keras"]["calibration"]["temperature"], rel=1e-3)


def test_cached_features_train_the_full_models_head_and_leave_the_base_alone(cached_run, pixel_baseline):
    config, metrics = cached_run
    base_before = build_classifier(config.backbone, 7, weights="imagenet", head="gap",
                                   input_shape=(240, 320, 3)).get_layer("backbone")
    model = keras.models.load_model(os.path.join(config.model_dir, "model.keras"))
    for before, after in zip(base_before.weights, backbone_of(model).weights):
        np.testing.assert_array_equal(np.asarray(before), np.asarray(after))
    assert beats_pixels(metrics["test"]["accuracy"], pixel_baseline, "frozen Lite0, head on cached features")
    assert metrics["train_examples"] == tfds.builder(config.dataset, data_dir=config.data_dir).info.splits[
        "train"].num_examples  # --train_subset past the split's end: the whole split
    checkpoints = os.listdir(os.path.join(config.model_dir, "checkpoints"))
    assert checkpoints == ["best_0_head.head_only.weights.h5"]
    # The head trained on cached vectors is the full model's head: same probabilities either way.
    images = np.random.default_rng(1).uniform(0, 255, (3, 240, 320, 3)).astype(np.float32)
    pooled = feature_extraction.pooled_feature_model(model).predict(images, verbose=0)
    np.testing.assert_allclose(feature_extraction.head_on_features(model).predict(pooled, verbose=0),
                               model.predict(images, verbose=0), atol=1e-5)


def test_cached_features_give_the_model_a_plain_frozen_phase_gives(subset_runs):
    cached, plain = ({"metrics": json.load(open(os.path.join(subset_runs[name], "metrics.json"))),
                      "history": pd.read_csv(os.path.join(subset_runs[name], "history_0_head.csv"))}
                     for name in ("keras", "plain"))
    assert cached["metrics"]["phases"][0]["best_epoch"] == plain["metrics"]["phases"][0]["best_epoch"]
    for split in ("validation", "test"):  # the same batches and dropout; features differ by float round-off
        assert cached["metrics"][split]["accuracy"] == plain["metrics"][split]["accuracy"]
        assert cached["metrics"][split]["loss"] == pytest.approx(plain["metrics"][split]["loss"], abs=1e-4)
    for column in ("loss", "val_loss", "val_accuracy"):  # each epoch validated on the same split, the same way
        np.testing.assert_allclose(cached["history"][column], plain["history"][column], atol=1e-4)


MIRRORED_ON_TWO_CPUS = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from pyck_train.config import TrainConfig
from pyck_train.train import train


class Seen(keras.callbacks.Callback):
    steps = 0

    def on_train_begin(self, logs=None):
        self.rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1  # one epoch: the steps of one pass over the split


seen = Seen()
config = TrainConfig(model_dir=sys.argv[2], dataset=sys.argv[3], data_dir=sys.argv[1], batch_size=4,
                     steps_per_epoch=0, epochs=1, head="gap", strategy="frozen", cache_features=True,
                     distribution="mirrored", learning_rate=0.001, runtime="keras")
metrics = train(config, extra_callbacks=[seen])
print(json.dumps({**metrics, "seen_rate": seen.rate, "seen_steps": seen.steps}))
"""


def test_mirrored_strategy_runs_the_multi_gpu_code_path_on_two_cpu_devices(data_dir, tmp_path):
    result = run_python("-c", MIRRORED_ON_TWO_CPUS, data_dir, str(tmp_path / "model"), DATASET, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["replicas"] == 2 and metrics["test"]["examples"] > 0
    # Per-replica flags: the global batch is 2 x 4 (one epoch of ceil(n / 8) steps), the rate 2 x 0.001.
    assert metrics["seen_steps"] == -(-metrics["train_examples"] // 8)
    assert metrics["seen_rate"] == pytest.approx(0.002)
    # Bug: predict_on_batch under a 2-replica strategy returned every row twice (features and metrics).
    assert metrics["test"]["examples"] == tfds.builder(DATASET, data_dir=data_dir).info.splits["test"].num_examples


class _SpoilLastEpoch(keras.callbacks.Callback):
    """Scrambles the head and stops learning at the start of the last epoch, so that epoch is the worst."""

    def __init__(self, last: int):
        super().__init__()
        self.last = last

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.last:
            logits = self.model.get_layer(LOGITS_LAYER)
            kernel, bias = logits.get_weights()
            logits.set_weights([np.zeros_like(kernel), np.eye(len(bias))[0] * 10.0])  # always the first class
            self.model.optimizer.learning_rate.assign(0.0)


def test_every_phase_ends_on_its_best_validation_epoch(data_dir, tmp_path):
    config = small_config(data_dir, str(tmp_path / "model"), strategy="frozen", cache_features=True, epochs=4,
                          steps_per_epoch=0, batch_size=32, head="gap", learning_rate=0.01)
    metrics = train(config, extra_callbacks=[_SpoilLastEpoch(last=3)])
    history = pd.read_csv(os.path.join(config.model_dir, "history_0_head.csv"))
    assert history["val_accuracy"].iloc[-1] < history["val_accuracy"].max()
    (kept,) = metrics["phases"]
    assert kept == {"phase": "0_head", "best_epoch": int(history["val_accuracy"].idxmax()) + 1,
                    "best_val_accuracy": pytest.approx(history["val_accuracy"].max()), "epochs_run": 4}
    assert metrics["validation"]["accuracy"] == pytest.approx(kept["best_val_accuracy"], abs=1e-6)


def test_the_recipe_flags_train_and_report_tta_and_the_month_prior(data_dir, tmp_path):
    """Wiring only (accuracy is tested elsewhere): a small untrained base keeps it quick."""
    config = small_config(data_dir, str(tmp_path / "model"), strategy="freeze_then_finetune", cache_features=True,
                          backbone="mobilenet_v3_small", weights="none",
                          augment="light", mixup=0.2, cutmix=1.0, optimizer="adamw", lr_schedule="cosine",
                          warmup_epochs=0.5, label_smoothing=0.1, class_weight="balanced", tta="flip",
                          metadata_prior="month")
    metrics = train(config)
    assert [p["phase"] for p in metrics["phases"]] == ["0_head", "1_finetune"]
    for split in ("validation", "test"):
        scores = metrics[split]
        assert scores["tta"]["mode"] == "flip" and scores["tta"]["examples"] == scores["examples"]
        assert scores["month_prior"]["dated_examples"] == scores["examples"]  # every sample photo has a date
        assert 0 < scores["observations"] < scores["examples"]
        assert {"per_observation_accuracy", "balanced_accuracy"} <= set(scores)
    assert os.path.exists(os.path.join(config.model_dir, "month_prior.json"))
