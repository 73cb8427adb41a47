"""Which `mushroom_observer` configs are built in a data_dir, and the message when the one asked for is not.

`tfds.load` of a config that is not built would try to build it and fail on a missing manual
dir; the builder raises `DatasetNotBuiltError` first, and `pyck_train` checks with
`not_built_message` before any work. Pure Python (file names only).
"""

from __future__ import annotations

import glob
import os

NAME = "mushroom_observer"
DEFAULT_DATASET = f"{NAME}/family7"  # the study's seven families: every command's default


class DatasetNotBuiltError(FileNotFoundError):
    """A config read from a data_dir it was never built in."""


def built_configs(data_dir: str, name: str = NAME) -> list[str]:
    """Configs of `name` with a finished build (a dataset_info.json) in `data_dir`."""
    infos = glob.glob(os.path.join(data_dir, name, "*", "*", "dataset_info.json"))
    return sorted({os.path.basename(os.path.dirname(os.path.dirname(path))) for path in infos})


def not_built_message(dataset: str, data_dir: str) -> str:
    """`dataset` (name/config) is not built in `data_dir`: what is there and the two ways on."""
    name, _, config = dataset.partition("/")
    built = built_configs(data_dir, name)
    return (f"{dataset} is not built in {data_dir} (built there: {', '.join(built) or 'nothing'}). To read the one "
            "you built, pass the --data_dir (or data_dir=) you gave `tfds build`; to build it here: `tfds build "
            f"pyck_tfds/{name} --config={config or 'family7'} --manual_dir=DUMP --data_dir={data_dir}`")
