r"""`python -m pyck_eval report --model_dir M [--split test] [--tta flip] [--metadata_prior month] [--ood_from C]`.

How good a trained run is, per image and per observation (the mean of its images'
probabilities), and how far its probabilities can be trusted. With `--tta` the probabilities
are averaged over test-time views; the run's temperature (calibration.json) is applied unless
`--nocalibrated`; with `--metadata_prior=month` (or `location`, `month+location` on a *_csv dataset)
the headline shows the scores with and without the prior, and the rest of the report uses the
probabilities with it.

Trust: the expected calibration error and reliability diagrams before and after the temperature;
accuracy against coverage when answering only above a confidence, with the lowest threshold
that reaches `--target_accuracy` on validation and what it costs on this split; with
`--ood_from=CONFIG` (another config built in the same data_dir), how well each out-of-class
score separates this split's photos from photos of CONFIG's classes the model never learned.

Writes metrics.json, predictions.csv, confusion_matrix.png (counts and row-normalised),
most_confused.csv, worst_mistakes.png, reliability.png, coverage.png, out_of_class.png and
index.html into --out_dir (default M/report_<split>). From Python: `pyck_eval.report(run, ReportOptions(...))`.
"""

from __future__ import annotations

import pandas as pd

from pyck_eval.commands import command_line
from pyck_eval.lazy_imports import lazy_import
from pyck_eval.tasks.report import ReportOptions
from pyck_eval.tasks.shared_options import RunOptions
from pyck_tfds.options import define_flags, options_from_flags

tasks_report = lazy_import("pyck_eval.tasks.report")
trained_run = lazy_import("pyck_eval.trained_run")

OPTIONS = (RunOptions, ReportOptions)
define_flags(RunOptions)
define_flags(ReportOptions)
prepare = command_line.require_model_dir


def main(argv: list[str]) -> None:
    source, options = options_from_flags(RunOptions), options_from_flags(ReportOptions)
    run = trained_run.load_run(source.model_dir, source.data_dir, source.runtime)
    result = tasks_report.report(run, options)
    print(result.headline.to_string(float_format=lambda v: f"{v:.4f}"))
    for heading, content in result.notes:
        if isinstance(content, pd.DataFrame):
            print(f"{heading}:\n{content.to_string(float_format=lambda v: f'{v:.3f}')}")
        elif not content.endswith(".png"):
            print(content)
    command_line.done(result.index)
