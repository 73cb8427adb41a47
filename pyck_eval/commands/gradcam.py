r"""`python -m pyck_eval gradcam --model_dir M (--images A.jpg,B.png | --split test --per_class N)`.

Grad-CAM (or `--plus` for Grad-CAM++) of the registry backbone's last conv layer (`--layer`
overrides), as jet overlays. With --split: a grid of N images per true family, titled
true -> predicted and marked green (right) or red (wrong), plus every class's CAM for the first
image. With --images: every class's CAM side by side for each file. PNGs and index.html go
to --out_dir (default M/gradcam). From Python: `pyck_eval.gradcam(run, GradCamOptions(...))`.
"""

from __future__ import annotations

from pyck_eval.commands import command_line
from pyck_eval.lazy_imports import lazy_import
from pyck_eval.tasks.gradcam import GradCamOptions
from pyck_eval.tasks.shared_options import RunOptions
from pyck_tfds.options import define_flags, options_from_flags

tasks_gradcam = lazy_import("pyck_eval.tasks.gradcam")
trained_run = lazy_import("pyck_eval.trained_run")

OPTIONS = (RunOptions, GradCamOptions)
define_flags(RunOptions, skip=("runtime",))  # gradients need the Keras model
define_flags(GradCamOptions)
prepare = command_line.require_model_dir


def main(argv: list[str]) -> None:
    source, options = options_from_flags(RunOptions, runtime="keras"), options_from_flags(GradCamOptions)
    result = tasks_gradcam.gradcam(trained_run.load_run(source.model_dir, source.data_dir), options)
    command_line.done(result.index)
