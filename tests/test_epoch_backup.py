"""`pyck_train.epoch_backup`: a backup is whole or absent, restores the callbacks' counters, and refuses a mismatch."""

from __future__ import annotations

import os

import keras
import numpy as np
import pytest

from pyck_train.epoch_backup import EpochBackup, ResumeError, epochs_backed_up


def small_model(width: int = 4) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(width), keras.layers.Dense(2)])
    model.compile(keras.optimizers.Adam(0.01), loss="mse")
    return model


def counted_callbacks() -> list[keras.callbacks.Callback]:
    return [keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=1, factor=0.5),
            keras.callbacks.EarlyStopping(monitor="loss", patience=50)]


DATA = (np.random.default_rng(0).normal(size=(16, 3)), np.random.default_rng(1).normal(size=(16, 2)))


def test_a_resumed_fit_starts_from_the_last_epoch_with_its_weights_optimizer_and_counters(tmp_path):
    folder = str(tmp_path / "backup")
    model, counted = small_model(), counted_callbacks()
    model.fit(*DATA, epochs=3, verbose=0, callbacks=[*counted, EpochBackup(folder, counted)])
    assert epochs_backed_up(folder) == 3 and sorted(os.listdir(folder)) == ["epoch_0003.json",
                                                                            "epoch_0003.weights.h5"]
    resumed, fresh = small_model(), counted_callbacks()
    for callback in fresh:
        callback.set_model(resumed)
        callback.on_train_begin()  # a new fit resets them; the backup, last in the list, restores them
    backup = EpochBackup(folder, fresh)
    backup.set_model(resumed)
    backup.on_train_begin()
    assert resumed._initial_epoch == 3
    for restored, saved in zip(fresh, counted):
        assert (restored.wait, restored.best) == (saved.wait, pytest.approx(saved.best))
    assert fresh[0].cooldown_counter == counted[0].cooldown_counter
    assert int(resumed.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy()) == 3
    for mine, theirs in zip(resumed.get_weights() + [v.numpy() for v in resumed.optimizer.variables],
                            model.get_weights() + [v.numpy() for v in model.optimizer.variables]):
        np.testing.assert_array_equal(mine, theirs)


def test_an_interrupt_while_a_backup_is_written_leaves_the_previous_one_whole(tmp_path, monkeypatch):
    folder = str(tmp_path / "backup")
    model = small_model()
    model.fit(*DATA, epochs=2, verbose=0, callbacks=[EpochBackup(folder)])
    save = keras.Model.save_weights

    def cut_short(self, path, *args, **kwargs):
        save(self, path, *args, **kwargs)
        with open(path, "r+b") as f:  # half of the file, as a kill mid-write leaves it
            f.truncate(os.path.getsize(path) // 2)
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "save_weights", cut_short)
    with pytest.raises(KeyboardInterrupt):
        model.fit(*DATA, epochs=3, verbose=0, callbacks=[EpochBackup(folder)])
    monkeypatch.undo()
    assert epochs_backed_up(folder) == 2 and "epoch_0002.weights.h5" in os.listdir(folder)
    # epoch_0003.json may be there: without its weights (renamed last) it is no backup, and is rewritten
    assert not [name for name in os.listdir(folder) if "partial" in name or name == "epoch_0003.weights.h5"]
    resumed = small_model()
    backup = EpochBackup(folder)
    backup.set_model(resumed)
    backup.on_train_begin()
    assert resumed._initial_epoch == 2


def test_a_backup_of_another_model_is_refused_in_one_line(tmp_path):
    folder = str(tmp_path / "backup")
    small_model(width=4).fit(*DATA, epochs=1, verbose=0, callbacks=[EpochBackup(folder)])
    other = small_model(width=5)
    backup = EpochBackup(folder)
    backup.set_model(other)
    with pytest.raises(ResumeError) as err:
        backup.on_train_begin()
    assert str(err.value).startswith(f"cannot resume from {folder}/epoch_0001.weights.h5: it does not fit")
    assert str(err.value).endswith(f"move {folder} aside to train the phase again") and "\n" not in str(err.value)


def test_a_backup_left_by_keras_backup_and_restore_is_refused_not_ignored(tmp_path):
    """An earlier pyck's backup (Keras's in-place file): restarting the phase silently would be another run."""
    folder = tmp_path / "backup"
    small_model().fit(*DATA, epochs=1, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(str(folder),
                                                                                              delete_checkpoint=False)])
    assert "latest.weights.h5" in os.listdir(folder)
    backup = EpochBackup(str(folder))
    backup.set_model(small_model())
    with pytest.raises(ResumeError, match=f"^cannot resume from {folder}: it holds a backup of Keras's Backup"):
        backup.on_train_begin()


def test_a_fit_that_early_stopping_ended_is_not_resumed_for_more_epochs(tmp_path):
    """Bug found by the fault campaign: killed after EarlyStopping ended the fine-tuning but before the phase was
    saved, the rerun went on for another epoch, and kept other weights than an uninterrupted run."""
    folder = str(tmp_path / "backup")
    model = small_model()
    stopping = keras.callbacks.EarlyStopping(monitor="loss", patience=1, min_delta=10.0)  # stops after epoch 2
    history = model.fit(*DATA, epochs=6, verbose=0, callbacks=[stopping, EpochBackup(folder, [stopping])])
    assert len(history.epoch) == 2 and epochs_backed_up(folder) == 2
    resumed = small_model()
    again = keras.callbacks.EarlyStopping(monitor="loss", patience=1, min_delta=10.0)
    rerun = resumed.fit(*DATA, epochs=6, verbose=0, callbacks=[again, EpochBackup(folder, [again])])
    assert rerun.epoch == [] and again.stopped_epoch == stopping.stopped_epoch == 1
