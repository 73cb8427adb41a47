"""Optuna search over TrainConfig: search space, pruning on validation accuracy, storage, reports.

Scored on VALIDATION accuracy only; the test split is never looked at while tuning. The
command line is `pyck_train.tune`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging as python_logging
import os

import keras
import optuna
from absl import logging

from pyck_train.provenance import RunDirectoryError
from pyck_train.train import TrainConfig, train

LEARNING_RATE_RANGE = (1e-4, 1e-2)
DROPOUT_RANGE = (0.0, 0.5)
HEAD_WIDTHS = (64, 128, 256)
BATCH_SIZES = (16, 32, 64)
UNFREEZE_RANGE = (10, 120)


def suggest_config(trial: optuna.Trial, base: TrainConfig, backbones: list[str]) -> TrainConfig:
    """The base config with this trial's choices; the head keeps the study's shape (dense, dropout, dense/4)."""
    width = trial.suggest_categorical("head_width", HEAD_WIDTHS)
    dropout = trial.suggest_float("dropout", *DROPOUT_RANGE)
    changes = dict(
        backbone=trial.suggest_categorical("backbone", backbones),
        learning_rate=trial.suggest_float("learning_rate", *LEARNING_RATE_RANGE, log=True),
        batch_size=trial.suggest_categorical("batch_size", BATCH_SIZES),
        head=f"dense:{width},dropout:{dropout:.3f},dense:{width // 4},dropout:{dropout:.3f}",
        model_dir=os.path.join(base.model_dir, f"trial_{trial.number}"),
    )
    if base.strategy == "partial":
        changes["unfreeze_top_layers"] = trial.suggest_int("unfreeze_top_layers", *UNFREEZE_RANGE)
    return dataclasses.replace(base, **changes)


class PruneOnValidationAccuracy(keras.callbacks.Callback):
    """Reports val_accuracy to Optuna after every epoch (phases counted one after another) and prunes."""

    def __init__(self, trial: optuna.Trial):
        super().__init__()
        self.trial = trial
        self.step = 0

    def on_epoch_end(self, epoch, logs=None):
        self.trial.report(float(logs["val_accuracy"]), self.step)
        self.step += 1
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"val_accuracy {logs['val_accuracy']:.3f} at step {self.step}")


def make_storage(url: str, heartbeat_seconds: int) -> optuna.storages.BaseStorage:
    return optuna.storages.RDBStorage(url, heartbeat_interval=heartbeat_seconds, grace_period=2 * heartbeat_seconds,
                                      failed_trial_callback=optuna.storages.RetryFailedTrialCallback(max_retry=1))


def finished_trials(study: optuna.Study) -> int:
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=states))


class _WithoutRefusals(python_logging.Filter):
    """Optuna logs a failed trial with its traceback; a trial folder refused by the run record is said in one line
    by `tune` instead."""

    def filter(self, record: python_logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], RunDirectoryError))


@contextlib.contextmanager
def _refusals_unlogged():
    handlers = python_logging.getLogger("optuna").handlers
    refusals = _WithoutRefusals()
    for handler in handlers:
        handler.addFilter(refusals)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(refusals)


def run_study(base: TrainConfig, study: optuna.Study, n_trials: int, backbones: list[str]) -> TrainConfig | None:
    """Run trials until the study has `n_trials` finished ones; returns the best trial's config (None if none)."""
    def objective(trial: optuna.Trial) -> float:
        keras.backend.clear_session()  # one process runs every trial: free the previous trial's graphs
        config = suggest_config(trial, base, backbones)
        trial.set_user_attr("model_dir", config.model_dir)
        try:
            metrics = train(config, extra_callbacks=[PruneOnValidationAccuracy(trial)])
        except optuna.TrialPruned as pruned:
            with open(os.path.join(config.model_dir, "PRUNED"), "w") as f:
                f.write(f"{pruned}\n")  # so this half-trained folder is never taken for a finished run
            raise
        return metrics["validation"]["accuracy"]

    remaining = n_trials - finished_trials(study)
    if remaining > 0:
        with _refusals_unlogged():
            study.optimize(objective, n_trials=remaining, catch=())
    completed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not completed:
        return None
    return suggest_config(optuna.trial.FixedTrial(study.best_trial.params, study.best_trial.number), base, backbones)


def write_reports(study: optuna.Study, best: TrainConfig, out_dir: str) -> list[str]:
    """best.flags, trials.csv and the plots Optuna can draw for this study; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = [os.path.join(out_dir, "best.flags"), os.path.join(out_dir, "trials.csv")]
    with open(written[0], "w") as f:
        f.write(f"# Best of study {study.study_name!r}: trial {study.best_trial.number}, validation accuracy "
                f"{study.best_value:.4f}\n")
        f.write(dataclasses.replace(best, model_dir=os.path.join(out_dir, "best")).to_flagfile())
    study.trials_dataframe().to_csv(written[1], index=False)
    plots = {"optimization_history.png": optuna.visualization.matplotlib.plot_optimization_history,
             "param_importances.png": optuna.visualization.matplotlib.plot_param_importances}
    for name, plot in plots.items():
        try:
            axes = plot(study)
        except (ValueError, RuntimeError) as err:  # e.g. importances need 2+ completed trials with varied params
            logging.warning("%s not drawn: %s", name, err)
            continue
        axes.figure.tight_layout()
        axes.figure.savefig(os.path.join(out_dir, name), dpi=110)
        plt.close(axes.figure)
        written.append(os.path.join(out_dir, name))
    return written

