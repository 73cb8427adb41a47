r"""Train a mushroom family classifier: `python -m pyck_train --flagfile=configs/quickstart.flags [--flag=...]`."""

from __future__ import annotations

import json
import os

from absl import app

from pyck_train import flags as train_flags
from pyck_train.train import train


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    config = train_flags.config_from_flags()
    os.makedirs(config.model_dir, exist_ok=True)
    with open(os.path.join(config.model_dir, "flags.txt"), "w") as f:
        f.write(config.to_flagfile())
    metrics = train(config)
    print(json.dumps({s: metrics[s] for s in ("validation", "test")}, indent=2))
    print(f"outputs in {config.model_dir}")


if __name__ == "__main__":
    train_flags.mark_required()
    app.run(main)
