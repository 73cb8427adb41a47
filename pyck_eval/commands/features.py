r"""`python -m pyck_eval features --model_dir M`: the run's pooled CNN features of every split, once, as .npz.

Each `features_<split>.npz` (in --out_dir, default M/features) holds `features` (the input of
the head's first layer: global-average-pooled backbone output), `labels`, `image_id`,
`observation_id`, `date` and `probabilities` (the network's own head on those features, which is
exactly the model's output), plus `class_names`. `svc` and other feature models read them. From
Python: `pyck_eval.extract_features(run, FeaturesOptions(...))`.
"""

from __future__ import annotations

from pyck_eval.commands import command_line
from pyck_eval.lazy_imports import lazy_import
from pyck_eval.tasks.features import FeaturesOptions
from pyck_eval.tasks.shared_options import RunOptions
from pyck_tfds.options import define_flags, options_from_flags

tasks_features = lazy_import("pyck_eval.tasks.features")
trained_run = lazy_import("pyck_eval.trained_run")

OPTIONS = (RunOptions, FeaturesOptions)
define_flags(RunOptions)
define_flags(FeaturesOptions)
prepare = command_line.require_model_dir


def main(argv: list[str]) -> None:
    source, options = options_from_flags(RunOptions), options_from_flags(FeaturesOptions)
    run = trained_run.load_run(source.model_dir, source.data_dir, source.runtime)
    result = tasks_features.extract_features(run, options)
    for split, path in result.files.items():
        print(f"{path}: {result.shapes[split][0]} images x {result.shapes[split][1]} features")
    command_line.done(result.index)
