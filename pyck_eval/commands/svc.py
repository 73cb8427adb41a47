r"""`python -m pyck_eval svc --features M/features`: SVC, logistic regression and XGBoost on CNN features.

Fits on the train split's features (from `pyck_eval features`) and compares with the
network's own head on the test split. `--grid_search` picks SVC's C and kernel on the
validation split (then refits on train+validation). Writes comparison.csv, metrics.json and
index.html into --out_dir (default: <features>/../svc). From Python:
`pyck_eval.compare_on_features(folder, SvcOptions(...))`.
"""

from __future__ import annotations

from absl import flags

from pyck_eval.commands import command_line
from pyck_eval.lazy_imports import lazy_import
from pyck_eval.tasks.svc import SvcOptions
from pyck_tfds.options import define_flags, options_from_flags

tasks_svc = lazy_import("pyck_eval.tasks.svc")

OPTIONS = (SvcOptions,)
flags.DEFINE_string("features", None, "Folder with features_{train,validation,test}.npz from `pyck_eval features`.")
define_flags(SvcOptions)


def prepare() -> None:
    flags.mark_flag_as_required("features")


def main(argv: list[str]) -> None:
    result = tasks_svc.compare_on_features(flags.FLAGS.features, options_from_flags(SvcOptions))
    print(result.table.to_string(index=False))
    command_line.done(result.index)
