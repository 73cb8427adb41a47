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
"""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import pandas as pd
from absl import flags

from pyck_classifier.model import litert
from pyck_classifier.run import run_directory
from pyck_eval.commands import common_flags
from pyck_eval.index_page import write_index
from pyck_eval.lazy_imports import lazy_import

litert_export = lazy_import("pyck_eval.litert_export")
trained_run = lazy_import("pyck_eval.trained_run")

flags.DEFINE_string("model_dir", None, "A finished `python -m pyck_train` run.")
flags.DEFINE_enum("format", "tflite", ["tflite"], "Export format: LiteRT (.tflite).")
flags.DEFINE_enum("quantize", "none", list(litert.QUANTIZATIONS), "none (float32), float16 weights, dynamic "
                  "(int8 weights), or int8 (weights and activations, calibrated on training images).")
flags.DEFINE_integer("calibration_images", 200, "int8: training images that calibrate the activation ranges.",
                     lower_bound=1)
flags.DEFINE_integer("parity_images", 512, "Test images of the parity check (the first ones, preloaded).",
                     lower_bound=1)
FLAGS = flags.FLAGS


def prepare() -> None:
    flags.mark_flag_as_required("model_dir")


def main(argv: list[str]) -> None:
    run = trained_run.load_run(FLAGS.model_dir, FLAGS.data_dir)
    out = common_flags.out_dir(os.path.join(FLAGS.model_dir, "export"))
    print(f"converting to LiteRT ({FLAGS.quantize})...")
    content = litert_export.export(run, FLAGS.quantize, FLAGS.calibration_images)
    path = os.path.join(out, f"model_{FLAGS.quantize}.tflite")
    litert.write_atomically(path, content)

    batches = litert_export.preloaded(run, "test", FLAGS.parity_images, FLAGS.batch_size)
    labels = np.concatenate([y for _, y in batches])
    keras_probabilities, keras_rate = litert_export.timed_predictions(litert_export.served_model(run), batches)
    litert_probabilities, litert_rate = litert_export.timed_predictions(litert.LiteRTModel.from_file(path), batches)
    compared = litert_export.parity(labels, keras_probabilities, litert_probabilities)
    parity = {
        "quantize": FLAGS.quantize, "file": os.path.basename(path), "test_images": int(len(labels)),
        "keras_accuracy": float((keras_probabilities.argmax(1) == labels).mean()),
        "litert_accuracy": compared["accuracy"], "top1_agreement": compared["top1_agreement"],
        "max_probability_difference": compared["max_probability_difference"],
        "keras_mb": os.path.getsize(os.path.join(FLAGS.model_dir, run_directory.MODEL)) / 1e6,
        "litert_mb": len(content) / 1e6,
        "keras_images_per_s": keras_rate, "litert_images_per_s": litert_rate,
        "speedup": litert_rate / keras_rate, "batch_size": FLAGS.batch_size, "threads": os.cpu_count(),
    }
    with open(os.path.join(out, f"parity_{FLAGS.quantize}.json"), "w") as f:
        json.dump(parity, f, indent=2)
    table = pd.DataFrame([json.load(open(p)) for p in sorted(glob.glob(os.path.join(out, "parity_*.json")))])
    print(pd.Series(parity).to_string())
    common_flags.done(write_index(out, f"LiteRT exports of {FLAGS.model_dir}", [
        ("Parity with the Keras model on the same preloaded test images (images/s measured side by side)",
         table.set_index("quantize")),
        ("Use", f"from ai_edge_litert.interpreter import Interpreter\nInterpreter(model_path='{path}')\n"
                "Labels, input size and the pixel contract: "
                "pyck_classifier.model.litert.read_metadata(open(path, 'rb').read())"),
    ]))
