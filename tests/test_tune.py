"""`python -m pyck_train.tune`: trials, resume from storage, best flagfile, pruning."""

from __future__ import annotations

import json
import os
import subprocess

import keras
import numpy as np
import optuna
import pytest

from pyck_train.tuning import PruneOnValidationAccuracy
from tests.conftest import BUILT_DATASET, run_python

pytestmark = pytest.mark.slow


def run_tune(data_dir: str, model_dir: str, n_trials: int, *more: str) -> subprocess.CompletedProcess:
    return run_python("-m", "pyck_train.tune", "--flagfile=configs/quickstart.flags", f"--dataset={BUILT_DATASET}",
                      f"--data_dir={data_dir}", f"--model_dir={model_dir}", "--epochs=2", "--steps_per_epoch=3",
                      "--train_subset=64", f"--n_trials={n_trials}", "--study_name=test", *more, timeout=600)


def test_tune_resumes_from_its_storage_and_writes_a_best_flagfile(built_data_dir, tmp_path):
    model_dir = tmp_path / "tune"
    first = run_tune(built_data_dir, str(model_dir), n_trials=1)
    assert first.returncode == 0, first.stderr[-3000:]
    again = run_tune(built_data_dir, str(model_dir), n_trials=2)  # same storage: one more trial, not two
    assert again.returncode == 0, again.stderr[-3000:]

    study = optuna.load_study(study_name="test", storage=f"sqlite:///{model_dir}/optuna.db")
    assert [t.number for t in study.trials] == [0, 1]
    for trial in study.trials:  # each trial scored on its run's validation accuracy, and recorded as a run
        metrics = json.load(open(model_dir / f"trial_{trial.number}" / "metrics.json"))
        assert trial.value == metrics["validation"]["accuracy"]
        recorded = open(model_dir / f"trial_{trial.number}" / "flags.txt").read()
        assert f"--learning_rate={trial.params['learning_rate']}\n" in recorded
    assert {"trial_0", "trial_1", "best.flags", "trials.csv", "optimization_history.png"} <= set(
        os.listdir(model_dir))
    best_flags = open(model_dir / "best.flags").read()
    assert f"--learning_rate={study.best_params['learning_rate']}" in best_flags
    assert f"--batch_size={study.best_params['batch_size']}" in best_flags
    assert f"--dataset={BUILT_DATASET}" in best_flags  # everything else comes from the tuned flagfile
    check = run_python("-c", "import sys; from absl import flags; import pyck_train.flags as f; "
                       "flags.FLAGS(['x', '--flagfile=' + sys.argv[1]]); print(f.config_from_flags().learning_rate)",
                       str(model_dir / "best.flags"), timeout=120)
    assert check.returncode == 0, check.stderr[-2000:]
    assert float(check.stdout.strip().splitlines()[-1]) == study.best_params["learning_rate"]
    # A new study in the same folder numbers its trials from 0 again: trial_0 holds a run of other flags.
    recorded = open(model_dir / "trial_0" / "flags.txt").read()
    other = run_tune(built_data_dir, str(model_dir), 1, "--study_name=other", "--epochs=3")
    assert other.returncode == 1 and "Traceback" not in other.stderr, other.stderr[-3000:]
    assert other.stderr.strip().splitlines()[-1].startswith("error: ") and "--epochs: 2 -> 3" in other.stderr
    assert open(model_dir / "trial_0" / "flags.txt").read() == recorded  # refused, the trial's run kept


class _AlwaysPrune:
    def __init__(self):
        self.reports = []

    def report(self, value, step):
        self.reports.append((step, value))

    def should_prune(self):
        return len(self.reports) >= 2


def test_pruning_callback_reports_every_epoch_and_stops_the_fit():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = np.random.default_rng(0).normal(size=(16, 4)).astype("float32"), np.arange(16) % 2
    trial = _AlwaysPrune()
    with pytest.raises(optuna.TrialPruned):
        model.fit(x, y, validation_data=(x, y), epochs=5, verbose=0, callbacks=[PruneOnValidationAccuracy(trial)])
    assert [step for step, _ in trial.reports] == [0, 1]


def test_median_pruning_prunes_a_poor_trial_and_trials_are_scored_on_validation(tmp_path, monkeypatch):
    import pyck_train.tuning as tuning
    from pyck_train.config import TrainConfig

    def fake_train(config, extra_callbacks=()):
        """Trials 0-2 climb to 0.9 validation accuracy; trial 3 stays at 0.1. Test accuracy is never 0.9."""
        os.makedirs(config.model_dir)
        trial_number = int(config.model_dir.rsplit("_", 1)[1])
        curve = [0.5, 0.7, 0.9] if trial_number < 3 else [0.1, 0.1, 0.1]
        for epoch, value in enumerate(curve):
            for callback in extra_callbacks:
                callback.on_epoch_end(epoch, {"val_accuracy": value})
        return {"validation": {"accuracy": curve[-1]}, "test": {"accuracy": 0.25}}

    monkeypatch.setattr(tuning, "train", fake_train)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1))
    base = TrainConfig(model_dir=str(tmp_path))
    best = tuning.run_study(base, study, n_trials=4, backbones=["efficientnet_lite0"])
    states = [t.state for t in study.trials]
    assert states == [optuna.trial.TrialState.COMPLETE] * 3 + [optuna.trial.TrialState.PRUNED]
    assert study.trials[3].last_step == 1  # stopped after its second epoch (warm-up: 1), not run to the end
    assert open(tmp_path / "trial_3" / "PRUNED").read().startswith("val_accuracy 0.100 at step 2")
    assert [t.value for t in study.trials[:3]] == [0.9, 0.9, 0.9]  # validation, never test
    assert best is not None and best.model_dir.endswith(f"trial_{study.best_trial.number}")
