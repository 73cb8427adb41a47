"""Where an eval function writes, and the run's own index page updated after it wrote inside a model_dir."""

from __future__ import annotations

import os

from pyck_classifier.run.run_directory import find_run
from pyck_classifier.run.run_index import write_run_index


def output_folder(out_dir: str | None, default: str) -> str:
    """`out_dir`, or `default` when it is None; created."""
    path = out_dir or default
    os.makedirs(path, exist_ok=True)
    return path


def finish(index_path: str) -> str:
    """Inside a model_dir, its top index.html is written again to list the new outputs; returns `index_path`."""
    model_dir = find_run(os.path.dirname(index_path))
    if model_dir:
        write_run_index(model_dir)
    return index_path
