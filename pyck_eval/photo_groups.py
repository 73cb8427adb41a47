"""Which observation each photo given to `predict` belongs to: itself, its folder, or a CSV's row."""

from __future__ import annotations

import os

import pandas as pd

GROUPINGS = ("none", "folder", "csv")


def observation_of(files: list[str], group: str, observations_csv: str | None = None) -> list[str]:
    """One observation key per file; `csv` paths are relative to the CSV's folder. ValueError names what is wrong."""
    if group == "none":
        return list(files)
    if group == "folder":
        return [os.path.dirname(os.path.abspath(f)) for f in files]
    if group != "csv":
        raise ValueError(f"unknown grouping {group!r}; choose from {', '.join(GROUPINGS)}")
    table = pd.read_csv(observations_csv, dtype=str)
    if not {"file", "observation"} <= set(table.columns):
        raise ValueError(f"{observations_csv}: needs columns file,observation")
    base = os.path.dirname(os.path.abspath(observations_csv))
    mapping = {os.path.normpath(os.path.join(base, f)): o for f, o in zip(table["file"], table["observation"])}
    missing = [f for f in files if os.path.normpath(os.path.abspath(f)) not in mapping]
    if missing:
        raise ValueError(f"{observations_csv} has no observation for {missing[0]} (and {len(missing) - 1} more "
                         "files); paths in it are relative to the CSV's folder")
    return [mapping[os.path.normpath(os.path.abspath(f))] for f in files]
