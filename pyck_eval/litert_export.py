"""A trained run as a LiteRT model, and its parity with Keras on preloaded images (export and bench_infer share it)."""

from __future__ import annotations

import time

import numpy as np

from pyck_classifier.model import litert
from pyck_classifier.model.classifier import with_temperature
from pyck_eval.trained_run import TrainedRun, split_batches


def preloaded(run: TrainedRun, split: str, count: int, batch_size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The first `count` images of a split as float32 batches in memory, with their labels."""
    batches, taken = [], 0
    for images, labels, _ in split_batches(run, split, batch_size).as_numpy_iterator():
        keep = min(len(labels), count - taken)
        batches.append((images[:keep].astype(np.float32), labels[:keep]))
        taken += keep
        if taken >= count:
            break
    return batches


def timed_predictions(model, batches: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, float]:
    """Outputs over the batches and images/s, after one warm-up batch (graph tracing, tensor allocation)."""
    model.predict_on_batch(batches[0][0])
    started = time.perf_counter()
    outputs = [np.asarray(model.predict_on_batch(x)) for x, _ in batches]
    seconds = time.perf_counter() - started
    return np.concatenate(outputs), sum(len(y) for _, y in batches) / seconds


def served_model(run: TrainedRun):
    """The Keras model an export holds: the run's classifier with its temperature (calibrated probabilities)."""
    return with_temperature(run.model, run.calibration.temperature) if run.calibration else run.model


def metadata(run: TrainedRun, quantize: str) -> dict:
    height, width = run.model.input_shape[1:3]
    return {"labels": run.labels, "level": run.level, "dataset": run.dataset, "backbone": run.backbone,
            "input_size": [int(height), int(width)], "quantize": quantize,
            "temperature": run.calibration.temperature if run.calibration else None,
            "input": "float32 RGB pixels in [0, 255], NHWC at input_size; crop to the input's aspect ratio, then "
                     "resize (pyck_classifier.model.image_preprocessing.prepare_image); the model normalises them "
                     "itself",
            "output": "calibrated class probabilities, in the order of labels",
            "taxonomy": run.taxonomy.to_json()}  # a genus's (family's) probability is the sum of its classes'


def export(run: TrainedRun, quantize: str, calibration_images: int = 200) -> bytes:
    """LiteRT bytes of `served_model(run)` with pyck's metadata; int8 calibrated on training images."""
    def representative():
        for images, _ in preloaded(run, "train", calibration_images, 1):
            yield images

    return litert.convert(served_model(run), quantize, representative if quantize == "int8" else None,
                          metadata(run, quantize))


def parity(labels: np.ndarray, reference: np.ndarray, outputs: np.ndarray) -> dict:
    """Accuracy of the export vs the reference (Keras) probabilities on the same images."""
    return {"accuracy": float((outputs.argmax(1) == labels).mean()),
            "top1_agreement": float((reference.argmax(1) == outputs.argmax(1)).mean()),
            "max_probability_difference": float(np.abs(reference - outputs).max())}
