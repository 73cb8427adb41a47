"""What every eval command does around its function: require the run it reads, say where the outputs are."""

from __future__ import annotations

import os

from absl import flags


def require_model_dir() -> None:
    flags.mark_flag_as_required("model_dir")


def done(index_path: str) -> None:
    print(f"outputs in {os.path.dirname(index_path)}  (open {index_path})")
