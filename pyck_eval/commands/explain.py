r"""`python -m pyck_eval explain --model_dir M (--split test --per_class N | --images A.jpg,B.png)`.

Grad-CAM, Integrated Gradients (`--ig_steps`, `--ig_baseline`: completeness checked) and SHAP
(the `shap` library's GradientExplainer, `--shap_background` training photos, `--shap_samples`)
of each photo's predicted class, one page per photo with the prediction and its calibrated
probability; deletion and insertion curves of each map against a random order, and their areas
averaged over the photos on the index page, with the seconds each method took per photo. Pages,
`photos.csv` and `faithfulness.csv` go to --out_dir (default M/explain). From Python:
`pyck_eval.explain(run, ExplainOptions(...))`.
"""

from __future__ import annotations

from pyck_eval.commands import command_line
from pyck_eval.lazy_imports import lazy_import
from pyck_eval.tasks.explain import ExplainOptions
from pyck_eval.tasks.shared_options import RunOptions
from pyck_tfds.options import define_flags, options_from_flags

tasks_explain = lazy_import("pyck_eval.tasks.explain")
trained_run = lazy_import("pyck_eval.trained_run")

OPTIONS = (RunOptions, ExplainOptions)
define_flags(RunOptions, skip=("runtime",))  # gradients need the Keras model
define_flags(ExplainOptions)
prepare = command_line.require_model_dir


def main(argv: list[str]) -> None:
    source, options = options_from_flags(RunOptions, runtime="keras"), options_from_flags(ExplainOptions)
    result = tasks_explain.explain(trained_run.load_run(source.model_dir, source.data_dir), options)
    print(result.faithfulness.to_string(float_format=lambda v: f"{v:.3f}"))
    command_line.done(result.index)
