r"""Train a mushroom family classifier: `python -m pyck_train --flagfile=configs/quickstart.flags [--flag=...]`.

Before any work: the dataset must be built in --data_dir, and a --model_dir holding an earlier
run must have been trained with the same flags (then this run resumes it; `--overwrite` moves
it aside). Mistakes end in one line on stderr (`--debug` shows the traceback); Ctrl-C exits 130
and says which epoch to resume from.
"""

from __future__ import annotations

import json
import os
import sys

from absl import app, flags

from pyck_tfds.built_datasets import not_built_message, unknown_dataset_message
from pyck_tfds.console import quiet_python_logs
from pyck_train import flags as train_flags
from pyck_train import provenance
from pyck_train.cluster import current_role

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(train_flags)  # --help lists every training flag, not only "Try --helpfull"
# TensorFlow is imported only once the flags are valid: --help and usage errors answer in about a second.


def epoch_in_progress():
    """A Keras callback remembering the epoch in progress (1-based), for the message of an interrupted run."""
    import keras

    class EpochInProgress(keras.callbacks.Callback):
        epoch = None

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch + 1

    return EpochInProgress()


def dataset_problem(dataset: str, data_dir: str | None) -> str | None:
    """Why `dataset` cannot be read from `data_dir` (no such builder or config, or not built there), or None."""
    import tensorflow_datasets as tfds

    from pyck_tfds.mushroom_observer import Builder

    root = data_dir or os.environ.get("TFDS_DATA_DIR") or tfds.core.constants.DATA_DIR
    try:
        if tfds.builder(dataset, data_dir=data_dir).is_prepared():
            return None
    except Exception:  # noqa: BLE001 (tfds raises several types for an unknown or unbuilt config)
        pass
    configs = [config.name for config in Builder.BUILDER_CONFIGS]
    return unknown_dataset_message(dataset, configs) or not_built_message(dataset, root, configs)


def fail(message: str, status: int = 2) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(status)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    quiet_python_logs()
    config = train_flags.config_from_flags()
    problem = dataset_problem(config.dataset, config.data_dir)
    if problem:
        fail(problem)
    role = current_role(config.distribution)
    from pyck_train.epoch_backup import ResumeError
    from pyck_train.train import SettingsError, train

    progress = epoch_in_progress()
    try:
        metrics = train(config, extra_callbacks=[progress], overwrite=FLAGS.overwrite)
    except (provenance.RunDirectoryError, ResumeError, SettingsError) as err:
        if FLAGS.debug:
            raise
        fail(str(err))
    except KeyboardInterrupt:
        if FLAGS.debug:
            raise
        where = f"in epoch {progress.epoch}" if progress.epoch else "before the first epoch"
        fail(f"interrupted {where}; rerun the same command to resume", 130)
    if not role.is_chief:
        print(f"{role.task_type} {role.task_id} trained its part; the chief wrote the outputs in {config.model_dir}")
        return
    print(json.dumps({s: metrics[s] for s in ("validation", "test")}, indent=2))
    print(f"outputs in {config.model_dir}")


if __name__ == "__main__":
    train_flags.mark_required()
    app.run(main)
