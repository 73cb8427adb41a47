r"""`python -m pyck_eval export --model_dir M [--quantize none|float16|dynamic|int8]`: a LiteRT model.

The exported model answers with the run's calibrated probabilities (its temperature is built
in) for float32 RGB pixels in [0, 255] at the run's input size, and carries its labels, input
size and pixel contract as metadata (`pyck_classifier.model.litert.read_metadata`, no TensorFlow needed).
`int8` quantizes weights and activations, calibrated on --calibration_images training images;
`dynamic` quantizes weights to int8, `float16` halves them.

A parity check on the first --parity_images test images runs the Keras model and the export
on the same preloaded batches: accuracy of each, their largest probability difference, top-1
agreement, file sizes and images/s side by side. Writes model_<quantize>.tflite,
parity_<quantize>.json and index.html (every export of the folder) into --out_dir (default M/export).
From Python: `pyck_eval.export(run, ExportOptions(...))`.
"""

from __future__ import annotations

import pandas as pd

from pyck_eval.commands import command_line
from pyck_eval.lazy_imports import lazy_import
from pyck_eval.tasks.export import ExportOptions
from pyck_eval.tasks.shared_options import RunOptions
from pyck_tfds.options import define_flags, options_from_flags

tasks_export = lazy_import("pyck_eval.tasks.export")
trained_run = lazy_import("pyck_eval.trained_run")

OPTIONS = (RunOptions, ExportOptions)
define_flags(RunOptions, skip=("runtime",))  # the Keras model is what is converted
define_flags(ExportOptions)
prepare = command_line.require_model_dir


def main(argv: list[str]) -> None:
    source, options = options_from_flags(RunOptions, runtime="keras"), options_from_flags(ExportOptions)
    run = trained_run.load_run(source.model_dir, source.data_dir)
    print(f"converting to LiteRT ({options.quantize})...")
    result = tasks_export.export(run, options)
    print(pd.Series(result.parity).to_string())
    command_line.done(result.index)
