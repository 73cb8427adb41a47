r"""`python -m pyck_eval stack --model_dirs M1,M2,...`: stacking vs each base model on the test split.

Every run must be trained on the same dataset config (same splits, same image order). The
meta-learners (XGBoost, logistic regression) are fitted on the runs' VALIDATION probabilities
and scored on test; the plain average of the runs' probabilities is shown too. Each row also
has a held-out validation accuracy (cross-validated for the meta-learners): choose by it. Writes
comparison.csv, metrics.json and index.html into --out_dir (default ./stack). From Python:
`pyck_eval.stack_runs([run, ...], StackOptions(...))`.
"""

from __future__ import annotations

from absl import flags

from pyck_eval.commands import command_line
from pyck_eval.lazy_imports import lazy_import
from pyck_eval.tasks.shared_options import RunOptions
from pyck_eval.tasks.stack import StackOptions
from pyck_tfds.options import define_flags, options_from_flags

tasks_stack = lazy_import("pyck_eval.tasks.stack")
trained_run = lazy_import("pyck_eval.trained_run")

OPTIONS = (RunOptions, StackOptions)
flags.DEFINE_list("model_dirs", None, "Two or more finished `python -m pyck_train` runs.")
define_flags(RunOptions, skip=("model_dir",))
define_flags(StackOptions)


def prepare() -> None:
    flags.mark_flag_as_required("model_dirs")


def main(argv: list[str]) -> None:
    source = options_from_flags(RunOptions, model_dir=None)
    runs = [trained_run.load_run(model_dir, source.data_dir, source.runtime) for model_dir in flags.FLAGS.model_dirs]
    result = tasks_stack.stack_runs(runs, options_from_flags(StackOptions))
    print(result.table.to_string(index=False))
    command_line.done(result.index)
