r"""Train a mushroom family classifier: `python -m pyck_train --flagfile=configs/quickstart.flags [--flag=...]`."""

from __future__ import annotations

import dataclasses
import json
import os

from absl import app, flags

from pyck_train import flags as train_flags
from pyck_train.train import TrainConfig, train

FLAGS = flags.FLAGS


def config_from_flags() -> TrainConfig:
    return TrainConfig(**{field.name: getattr(FLAGS, field.name) for field in dataclasses.fields(TrainConfig)})


def write_flagfile(model_dir: str) -> None:
    """The flags of this run as a flagfile that reproduces it."""
    own = FLAGS.flags_by_module_dict()[train_flags.__name__]
    lines = [flag.serialize() for flag in sorted(own, key=lambda f: f.name) if flag.value is not None]
    with open(os.path.join(model_dir, "flags.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    config = config_from_flags()
    os.makedirs(config.model_dir, exist_ok=True)
    write_flagfile(config.model_dir)
    metrics = train(config)
    print(json.dumps({s: metrics[s] for s in ("validation", "test")}, indent=2))
    print(f"outputs in {config.model_dir}")


if __name__ == "__main__":
    train_flags.mark_required()
    app.run(main)
