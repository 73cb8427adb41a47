r"""Inference speed of a trained run, Keras vs LiteRT, side by side on the same preloaded test images.

    python -m tools.bench_infer --model_dir M [--images 512] [--batch_size 32]

Rows: Keras `predict_on_batch`, then the LiteRT export (calibrated probabilities) as float32,
float16 weights, dynamic-range int8 and full int8 (calibrated on training images). Each row
runs the same batches after a warm-up batch; images/s, the ratio to Keras, test accuracy, the
largest probability difference to Keras and the file size come side by side. Batch 1 rows
show the latency a phone-style single-photo call sees. Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import platform

import numpy as np
from absl import app, flags

from pyck_classifier.usable_cpus import usable_cpus

FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_string("model_dir", None, "A finished `python -m pyck_train` run.", required=True)
    flags.DEFINE_integer("images", 512, "Test images (the first ones), preloaded.", lower_bound=1)
    flags.DEFINE_integer("batch_size", 32, "Images per call.", lower_bound=1)
    flags.DEFINE_list("quantize", ["none", "float16", "dynamic", "int8"], "LiteRT variants to measure.")


def cpu_model() -> str:
    """The CPU's model name (two machines of one kind differ by up to 5x here, so every figure names it)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def measure(model_dir: str, images: int, batch_size: int, variants: list[str]) -> dict:
    from pyck_classifier.model import litert
    from pyck_eval import litert_export
    from pyck_eval.trained_run import load_run

    run = load_run(model_dir)
    batches = litert_export.preloaded(run, "test", images, batch_size)
    singles = [(x[i:i + 1], y[i:i + 1]) for x, y in batches[:1] for i in range(min(len(y), 16))]
    labels = np.concatenate([y for _, y in batches])
    served = litert_export.served_model(run)
    reference, keras_rate = litert_export.timed_predictions(served, batches)
    _, keras_single = litert_export.timed_predictions(served, singles)
    rows = [{"runtime": "keras", "images_per_s": keras_rate, "ratio": 1.0, "batch1_images_per_s": keras_single,
             "accuracy": float((reference.argmax(1) == labels).mean()),
             "mb": os.path.getsize(os.path.join(model_dir, "model.keras")) / 1e6}]
    for quantize in variants:
        content = litert_export.export(run, quantize)
        model = litert.LiteRTModel(content, name=quantize)
        outputs, rate = litert_export.timed_predictions(model, batches)
        _, single = litert_export.timed_predictions(model, singles)
        rows.append({"runtime": f"litert {quantize}", "images_per_s": rate, "ratio": rate / keras_rate,
                     "batch1_images_per_s": single, **litert_export.parity(labels, reference, outputs),
                     "mb": len(content) / 1e6})
    return {"model_dir": model_dir, "test_images": int(len(labels)), "batch_size": batch_size,
            "cpu": cpu_model(), "cpus": usable_cpus(), "rows": rows}


def main(argv: list[str]) -> None:
    print(json.dumps(measure(FLAGS.model_dir, FLAGS.images, FLAGS.batch_size, FLAGS.quantize), indent=2))


if __name__ == "__main__":
    define_flags()
    app.run(main)
