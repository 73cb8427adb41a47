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


def unknown_dataset_message(dataset: str, configs: list[str]) -> str | None:
    """Why `dataset` names no builder of pyck's (a misspelling, or a config without its builder), or None.

    Said before "not built", whose `tfds build` command could not work for a builder that does not exist.
    """
    name, _, config = dataset.partition("/")
    if name == NAME and config:
        return None
    if name == NAME:
        return f"--dataset={dataset} names no config; {NAME}'s configs: {', '.join(configs)}"
    config = config or (name if name in configs else "")
    hint = f"did you mean {NAME}/{config}? " if config in configs else ""
    return f"--dataset={dataset}: {name!r} is no dataset builder of pyck (its one builder is {NAME}); {hint}" \
           f"its configs: {', '.join(configs)}"


def not_built_message(dataset: str, data_dir: str, configs: list[str] | None = None) -> str:
    """`dataset` (name/config) is not built in `data_dir`: what is there and the two ways on (with the builder's
    `configs`, the build command only for one of them)."""
    name, _, config = dataset.partition("/")
    built = built_configs(data_dir, name)
    message = (f"{dataset} is not built in {data_dir} (built there: {', '.join(built) or 'nothing'}). To read the one "
               "you built, pass the --data_dir (or data_dir=) you gave `tfds build`")
    config = config.partition(":")[0] or "family7"  # family7:1.0.0 is a version of family7
    if configs is not None and config not in configs:  # a typo, or a JSON config built elsewhere
        return f"{message}; {not_a_config(config, name, configs)}"
    return f"{message}; to build it here: `tfds build pyck_tfds/{name} --config={config} " \
           f"--manual_dir=DUMP --data_dir={data_dir}`"


def not_a_config(config: str, name: str, configs: list[str]) -> str:
    """The words for a config the builder does not define (`--config=` of `tfds build`, or `--dataset=`)."""
    return f"{config} is not a config of {name}; its configs: {', '.join(configs)}"
