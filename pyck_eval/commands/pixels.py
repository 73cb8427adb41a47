r"""`python -m pyck_eval pixels --dataset mushroom_observer/family7 --data_dir DATA [--n_trials 20]`.

The study's baselines on raw pixels: each image area-downscaled to --size, then RandomForest
and XGBoost fitted on train (hyper-parameters searched with Optuna on validation when
--n_trials > 0) and scored on test. Writes comparison.csv, pixel_importance.png (where in
the frame the forests look) and index.html into --out_dir (default ./pixels). From Python:
`pyck_eval.pixel_baselines(PixelsOptions(...))`.
"""

from __future__ import annotations

from absl import flags

from pyck_eval.commands import command_line
from pyck_eval.lazy_imports import lazy_import
from pyck_eval.tasks.pixels import PixelsOptions
from pyck_tfds.options import define_flags, options_from_flags

tasks_pixels = lazy_import("pyck_eval.tasks.pixels")

OPTIONS = (PixelsOptions,)
define_flags(PixelsOptions)


@flags.validator("size", message="--size: two positive integers, height,width")
def _valid_size(value: list[str]) -> bool:
    return len(value) == 2 and all(v.isdigit() and int(v) > 0 for v in value)


def main(argv: list[str]) -> None:
    result = tasks_pixels.pixel_baselines(options_from_flags(PixelsOptions))
    print(result.table.to_string(index=False))
    command_line.done(result.index)
