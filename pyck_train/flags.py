"""The flags of `python -m pyck_train`, generated from `TrainConfig`'s fields (defaults, help, allowed values).

Flagfiles in `configs/` set these; any flag can be overridden after `--flagfile`. Only the
command's own switches (`--overwrite`, `--debug`) are defined here by hand.
"""

from __future__ import annotations

import os

from absl import flags

from pyck_classifier.model.heads import parse_head
from pyck_tfds.options import define_flags, options_from_flags
from pyck_train.cluster import tf_config_error
from pyck_train.config import TrainConfig

define_flags(TrainConfig)
flags.DEFINE_bool("overwrite", False, "--model_dir holds a run trained with other flags: move it aside "
                  "(<model_dir>.replaced-<time>) and start afresh, instead of stopping.")
flags.DEFINE_bool("debug", False, "Show Python tracebacks instead of one-line errors (and on Ctrl-C).")


@flags.validator("head", message="--head must be 'gap' or dense:UNITS / dropout:RATE layers, comma-separated")
def _valid_head(value: str) -> bool:
    try:
        parse_head(value)
    except ValueError:
        return False
    return True


@flags.validator("weights", message="--weights must be 'imagenet', 'none' or an existing weights file")
def _valid_weights(value: str) -> bool:
    return value in ("imagenet", "none") or os.path.isfile(value)


@flags.validator("data_service", message="--data_service must be grpc://HOST:PORT (a tf.data service dispatcher)")
def _valid_data_service(value: str | None) -> bool:
    return value is None or (value.startswith("grpc://") and ":" in value[len("grpc://"):])


@flags.validator("distribution", message="--distribution=multi_worker needs TF_CONFIG naming the cluster and this "
                 "task, e.g. TF_CONFIG='{\"cluster\": {\"worker\": [\"host1:2222\", \"host2:2222\"]}, \"task\": "
                 "{\"type\": \"worker\", \"index\": 0}}' (BUILD.md: running on a cluster)")
def _cluster_described(value: str) -> bool:
    return value != "multi_worker" or tf_config_error(os.environ.get("TF_CONFIG")) is None


def mark_required() -> None:
    flags.mark_flag_as_required("model_dir")


def config_from_flags() -> TrainConfig:
    """The parsed flags as a TrainConfig (the trainer, tune and compare_backbones all start from it)."""
    return options_from_flags(TrainConfig)
