"""The state of a phase in progress, saved after every epoch, so that a killed run resumes exactly or refuses.

Keras's BackupAndRestore writes its weights file in place: an interrupt while it is written
leaves a file whose optimizer part is cut, and Keras then warns, skips the optimizer's state
and trains on (a silently different run). Here epoch k's state is two files, its callbacks'
counters (`epoch_<k>.json`) then the weights with the optimizer (`epoch_<k>.weights.h5`), each
renamed into place when complete: the weights file appears last, so a backup is there whole
or not at all. A backup that does not fit the model is refused, never half loaded.

The callback must come after every callback that writes at an epoch's end (the history row,
the best checkpoint), so a backup of epoch k promises that they hold epoch k too.
"""

from __future__ import annotations

import glob
import json
import os
import re
import warnings

import keras

from pyck_classifier.run.atomic_write import replaced_atomically, write_text_atomically

_WEIGHTS = re.compile(r"epoch_(\d+)\.weights\.h5$")
_KERAS_BACKUP = "latest.weights.h5"  # what Keras's BackupAndRestore, which pyck used before, leaves
# What EarlyStopping and ReduceLROnPlateau count across epochs (a fresh fit resets them), and whether
# SwapEMAWeights left the averaged weights in the model at the epoch's end (then the optimizer holds the
# trained ones, which it swaps back before the next epoch trains).
COUNTERS = {keras.callbacks.EarlyStopping: ("wait", "best", "best_epoch", "stopped_epoch"),
            keras.callbacks.ReduceLROnPlateau: ("wait", "cooldown_counter", "best"),
            keras.callbacks.SwapEMAWeights: ("_ema_weights_in_model",)}


class ResumeError(RuntimeError):
    """A backup that cannot be restored exactly."""


def epochs_backed_up(folder: str) -> int:
    """Epochs the newest complete backup in `folder` holds (0: none, the phase starts again)."""
    done = [int(m.group(1)) for path in glob.glob(os.path.join(folder, "epoch_*.weights.h5"))
            if (m := _WEIGHTS.search(os.path.basename(path)))]
    return max(done, default=0)


def _counted(callbacks: list[keras.callbacks.Callback]) -> list[keras.callbacks.Callback]:
    return [c for c in callbacks if any(isinstance(c, kind) for kind in COUNTERS)]


def _counters(callback: keras.callbacks.Callback) -> tuple[str, ...]:
    return next(names for kind, names in COUNTERS.items() if isinstance(callback, kind))


class EpochBackup(keras.callbacks.Callback):
    """Restores the newest complete backup when training begins; with `write`, saves one after each epoch.

    `counted`: the run's EarlyStopping / ReduceLROnPlateau / SwapEMAWeights, whose counters are saved and
    restored with the weights. A worker that is not the chief restores the chief's backup and writes nothing.
    """

    def __init__(self, folder: str, counted: list[keras.callbacks.Callback] = (), write: bool = True):
        super().__init__()
        self.folder, self.counted, self.write = folder, _counted(list(counted)), write

    def _paths(self, epochs: int) -> tuple[str, str]:
        stem = os.path.join(self.folder, f"epoch_{epochs:04d}")
        return f"{stem}.json", f"{stem}.weights.h5"

    def on_train_begin(self, logs=None):
        epochs = epochs_backed_up(self.folder)
        self.model._initial_epoch = None  # Keras keeps it after a fit: a model fitted again would skip epochs
        if epochs == 0 and os.path.exists(os.path.join(self.folder, _KERAS_BACKUP)):
            raise ResumeError(f"cannot resume from {self.folder}: it holds a backup of Keras's BackupAndRestore, "
                              f"written by an earlier pyck, whose optimizer state may be cut short; move "
                              f"{self.folder} aside to train the phase again")
        if epochs == 0:
            return
        state_path, weights_path = self._paths(epochs)
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                self.model.load_weights(weights_path)
                problem = next((str(w.message) for w in caught if "Skipping variable loading" in str(w.message)), None)
            except (OSError, ValueError) as err:
                problem = str(err)
        if problem:
            first = problem.strip().splitlines()[0][:200]
            raise ResumeError(f"cannot resume from {weights_path}: it does not fit this run's model ({first}); "
                              f"move {self.folder} aside to train the phase again")
        with open(state_path) as f:
            state = json.load(f)
        for callback, saved in zip(self.counted, state["counters"]):
            for name, value in saved.items():
                setattr(callback, name, value)
        # fit (and the multi-worker loop) go on from here; after an early stop, with no epoch left
        self.model._initial_epoch = max(epochs, self.params.get("epochs") or 0) if state.get("stopped") else epochs

    def on_epoch_end(self, epoch, logs=None):
        if not self.write:
            return
        os.makedirs(self.folder, exist_ok=True)
        state_path, weights_path = self._paths(epoch + 1)
        counters = [{name: _plain(getattr(c, name)) for name in _counters(c)} for c in self.counted]
        stopped = bool(getattr(self.model, "stop_training", False))  # EarlyStopping ended the fit at this epoch
        write_text_atomically(state_path, json.dumps({"epochs": epoch + 1, "stopped": stopped, "counters": counters}))
        with replaced_atomically(weights_path) as partial:
            self.model.save_weights(partial)
        for older in range(1, epoch + 1):  # only now that the new one is whole
            for path in self._paths(older):
                if os.path.exists(path):
                    os.remove(path)


def _plain(value):
    """A counter as JSON holds it (numpy scalars and tensors included)."""
    return value.item() if hasattr(value, "item") else value
