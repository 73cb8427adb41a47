"""A trained run as a LiteRT (.tflite) file carrying its labels, and its parity with the Keras model."""

from __future__ import annotations

import dataclasses
import glob
import json
import os

import numpy as np
import pandas as pd

from pyck_classifier.model import litert
from pyck_classifier.run import run_directory
from pyck_classifier.run.atomic_write import write_bytes_atomically
from pyck_classifier.usable_cpus import usable_cpus
from pyck_eval.index_page import write_index
from pyck_eval.lazy_imports import lazy_import
from pyck_eval.tasks import shared_options
from pyck_eval.tasks.outputs import finish, output_folder
from pyck_tfds.options import CheckedOptions, option

litert_export = lazy_import("pyck_eval.litert_export")


@dataclasses.dataclass(frozen=True)
class ExportOptions(CheckedOptions):
    format: str = option("tflite", "Export format: LiteRT (.tflite).", choices=("tflite",))
    quantize: str = option("none", "none (float32), float16 weights, dynamic (int8 weights), or int8 (weights and "
                           "activations, calibrated on training images).", choices=litert.QUANTIZATIONS)
    calibration_images: int = option(200, "int8: training images that calibrate the activation ranges.", lower=1)
    parity_images: int = option(512, "Test images of the parity check (the first ones, preloaded).", lower=1)
    batch_size: int = shared_options.batch_size()
    out_dir: str | None = shared_options.out_dir()


@dataclasses.dataclass
class ExportResult:
    path: str  # the .tflite file
    parity: dict  # what parity_<quantize>.json holds
    out_dir: str
    index: str


def export(run, options: ExportOptions = ExportOptions()) -> ExportResult:
    """Writes model_<quantize>.tflite and parity_<quantize>.json; the index lists every export of the folder."""
    out = output_folder(options.out_dir, os.path.join(run.model_dir, "export"))
    content = litert_export.export(run, options.quantize, options.calibration_images)
    path = os.path.join(out, f"model_{options.quantize}.tflite")
    write_bytes_atomically(path, content)

    batches = litert_export.preloaded(run, "test", options.parity_images, options.batch_size)
    labels = np.concatenate([y for _, y in batches])
    keras_probabilities, keras_rate = litert_export.timed_predictions(litert_export.served_model(run), batches)
    litert_probabilities, litert_rate = litert_export.timed_predictions(litert.LiteRTModel.from_file(path), batches)
    compared = litert_export.parity(labels, keras_probabilities, litert_probabilities)
    parity = {
        "quantize": options.quantize, "file": os.path.basename(path), "test_images": int(len(labels)),
        "keras_accuracy": float((keras_probabilities.argmax(1) == labels).mean()),
        "litert_accuracy": compared["accuracy"], "top1_agreement": compared["top1_agreement"],
        "max_probability_difference": compared["max_probability_difference"],
        "keras_mb": os.path.getsize(os.path.join(run.model_dir, run_directory.MODEL)) / 1e6,
        "litert_mb": len(content) / 1e6,
        "keras_images_per_s": keras_rate, "litert_images_per_s": litert_rate,
        "speedup": litert_rate / keras_rate, "batch_size": options.batch_size, "threads": usable_cpus(),
    }
    with open(os.path.join(out, f"parity_{options.quantize}.json"), "w") as f:
        json.dump(parity, f, indent=2)
    table = pd.DataFrame([json.load(open(p)) for p in sorted(glob.glob(os.path.join(out, "parity_*.json")))])
    index = write_index(out, f"LiteRT exports of {run.model_dir}", [
        ("Parity with the Keras model on the same preloaded test images (images/s measured side by side)",
         table.set_index("quantize")),
        ("Use", f"from ai_edge_litert.interpreter import Interpreter\nInterpreter(model_path='{path}')\n"
                "Labels, input size and the pixel contract: "
                "pyck_classifier.model.litert.read_metadata(open(path, 'rb').read())"),
    ])
    return ExportResult(path, parity, out, finish(index))
