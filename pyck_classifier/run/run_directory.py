"""The run-directory contract: every file a `python -m pyck_train` model_dir holds, named once.

The trainer writes these and `pyck_eval` reads them, so both take the names from here. A
model_dir is a record: `flags.txt` always describes the weights beside it
(`pyck_train.provenance`). Pure Python.
"""

from __future__ import annotations

import dataclasses
import os

FLAGS = "flags.txt"  # the flagfile that trained it
LABELS = "labels.txt"  # class names in the model's output order
METRICS = "metrics.json"
MODEL = "model.keras"  # as trained (uncalibrated probabilities)
SAVED_MODEL = "saved_model"  # for serving: calibrated probabilities
CALIBRATION = "calibration.json"
CALIBRATION_MAHALANOBIS = "calibration_mahalanobis.npz"
MONTH_PRIOR = "month_prior.json"
LOCATION_PRIOR = "location_prior.json"
TAXONOMY = "taxonomy.json"  # each class's genus and family: the coarser answers sum over it
TRAINING_CURVES = "training_curves.png"
INDEX = "index.html"
CHECKPOINTS = "checkpoints"  # best epoch of each phase
PHASES = "phases"  # the weights each finished phase ended on (a resumed run skips these phases)
LOGS = "logs"  # TensorBoard
BACKUP = "backup"  # BackupAndRestore's state of the phase in progress
HISTORY_PREFIX, HISTORY_SUFFIX = "history_", ".csv"


@dataclasses.dataclass(frozen=True)
class RunDirectory:
    """Paths inside one model_dir; a phase is named by its tag, e.g. `0_head` or `1_finetune`."""

    root: str

    def path(self, name: str) -> str:
        return os.path.join(self.root, name)

    def history(self, tag: str) -> str:
        return self.path(f"{HISTORY_PREFIX}{tag}{HISTORY_SUFFIX}")

    def history_tags(self) -> list[str]:
        """Tags of the phases with a history file, in phase order."""
        names = sorted(os.listdir(self.root))
        return [n[len(HISTORY_PREFIX):-len(HISTORY_SUFFIX)] for n in names
                if n.startswith(HISTORY_PREFIX) and n.endswith(HISTORY_SUFFIX)]

    def best_checkpoint(self, tag: str, head_only: bool = False) -> str:
        return os.path.join(self.root, CHECKPOINTS, f"best_{tag}{'.head_only' if head_only else ''}.weights.h5")

    def finished_phase(self, tag: str) -> str:
        return os.path.join(self.root, PHASES, f"{tag}.weights.h5")

    def backup(self, tag: str) -> str:
        return os.path.join(self.root, BACKUP, tag)

    def logs(self, tag: str) -> str:
        return os.path.join(self.root, LOGS, tag)

    def is_finished(self) -> bool:
        return all(os.path.exists(self.path(name)) for name in (FLAGS, METRICS))


def find_run(path: str, levels: int = 3) -> str | None:
    """The model_dir holding `path` (a finished run: flags.txt and metrics.json), looking up to `levels` folders up."""
    folder = os.path.abspath(path)
    for _ in range(levels + 1):
        if RunDirectory(folder).is_finished():
            return folder
        folder = os.path.dirname(folder)
    return None
