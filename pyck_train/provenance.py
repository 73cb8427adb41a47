"""A model directory is a record: its flags.txt must describe the weights beside it. Pure Python, no TensorFlow.

Before any work, a `--model_dir` that already holds a run is compared with the new flags.
Rerunning with the same training flags resumes it. A run cannot be resumed with other training
flags, since its finished phases would be kept as they are while flags.txt claimed otherwise;
that is a usage error naming each difference, and `--overwrite` moves the old run aside
instead. Flags that only change evaluation or where data is read may differ.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import shutil
from typing import TYPE_CHECKING

from pyck_classifier.run import run_directory
from pyck_classifier.run.atomic_write import write_text_atomically

if TYPE_CHECKING:
    from pyck_train.config import TrainConfig

FLAGS_FILE = run_directory.FLAGS
# Flags that change what is measured or where data is read from, never the weights: a rerun may change them.
NOT_TRAINING = frozenset({"model_dir", "data_dir", "tta", "metadata_prior", "runtime", "data_service"})


class RunDirectoryError(ValueError):
    """--model_dir cannot receive this run; the message says why and what to do."""


def read_flagfile(path: str) -> dict[str, str]:
    """`--name=value`, `--name` and `--noname` lines as {name: value} ("true"/"false" for booleans)."""
    values = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("--"):
                continue
            name, equals, value = line[2:].partition("=")
            if equals:
                values[name] = value
            elif name.startswith("no"):
                values[name[2:]] = "false"
            else:
                values[name] = "true"
    return values


def as_flag_values(config_values: dict) -> dict[str, str]:
    """A config's fields as the strings a flagfile holds."""
    return {name: ("true" if value else "false") if isinstance(value, bool) else str(value)
            for name, value in config_values.items() if value is not None}


def differences(old: dict[str, str], new: dict[str, str], defaults: dict[str, str]) -> list[tuple[str, str, str]]:
    """(flag, old, new) for each training flag that differs; a flag missing from the old file had its default."""
    changed = []
    for name in sorted(set(old) | set(new)):
        if name in NOT_TRAINING:
            continue
        before, after = old.get(name, defaults.get(name, "")), new.get(name, defaults.get(name, ""))
        if _normalised(before) != _normalised(after):
            changed.append((name, before, after))
    return changed


def _normalised(value: str) -> str:
    try:
        return repr(float(value))  # 1e-3 and 0.001 are the same learning rate
    except ValueError:
        return value


def check_model_dir(model_dir: str, new: dict[str, str], defaults: dict[str, str], overwrite: bool) -> str:
    """Decide what a run into `model_dir` does: "new", "resume", or "replaced <where the old run went>".

    Raises RunDirectoryError (nothing written) when the folder cannot take the run.
    """
    if os.path.exists(model_dir) and not os.path.isdir(model_dir):
        raise RunDirectoryError(f"--model_dir={model_dir} is a file, not a folder: choose another --model_dir")
    if not os.path.isdir(model_dir) or not os.listdir(model_dir):
        return "new"
    flagfile = os.path.join(model_dir, FLAGS_FILE)
    if overwrite:
        moved = f"{os.path.normpath(model_dir)}.replaced-{datetime.datetime.now():%Y%m%d-%H%M%S}"
        shutil.move(model_dir, moved)
        return f"replaced (the old run is now in {moved})"
    if not os.path.exists(flagfile):
        raise RunDirectoryError(f"--model_dir={model_dir} holds files but no {FLAGS_FILE}: it is not a pyck_train "
                                "run; choose another --model_dir, or pass --overwrite to move it aside")
    changed = differences(read_flagfile(flagfile), new, defaults)
    if changed:
        listed = ", ".join(f"--{name}: {before} -> {after}" for name, before, after in changed)
        raise RunDirectoryError(f"--model_dir={model_dir} holds a run trained with other flags ({listed}); rerun "
                                f"with its flags to resume (--flagfile={flagfile}), choose another --model_dir, or "
                                "pass --overwrite to move the old run aside and start afresh")
    return "resume"


def record_run(config: TrainConfig, overwrite: bool = False) -> str:
    """Check `config.model_dir` against `config` (`check_model_dir`), then write its flags.txt: every caller of
    `train` (the command, Python, tune trials, backbone comparisons) gets the same record and the same refusal.
    Returns "new", "resume" or "replaced ..."; raises RunDirectoryError (nothing written)."""
    new = as_flag_values(dataclasses.asdict(config))
    defaults = as_flag_values({field.name: field.default for field in dataclasses.fields(config)
                               if field.default is not dataclasses.MISSING})
    state = check_model_dir(config.model_dir, new, defaults, overwrite)
    os.makedirs(config.model_dir, exist_ok=True)
    path = os.path.join(config.model_dir, FLAGS_FILE)
    write_text_atomically(path, config.to_flagfile())  # an interrupt never leaves half a record
    return state
