"""Where an eval function writes, and the run's own index page updated after it wrote inside a model_dir."""

from __future__ import annotations

import os
import tempfile

from pyck_classifier.run.run_directory import find_run
from pyck_classifier.run.run_index import write_run_index
from pyck_eval.tasks.errors import OptionError


def output_folder(out_dir: str | None, default: str) -> str:
    """`out_dir`, or `default` when it is None; created, and refused before any work when it cannot be written."""
    path = out_dir or default
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        named = f"--out_dir={path}" if out_dir else f"the default --out_dir {path}"
        raise OptionError(f"{named}: cannot write there ({err.strerror}): give a folder you can write") from None
    return path


def finish(index_path: str) -> str:
    """Inside a model_dir, its top index.html is written again to list the new outputs; returns `index_path`."""
    model_dir = find_run(os.path.dirname(index_path))
    if model_dir:
        write_run_index(model_dir)
    return index_path
