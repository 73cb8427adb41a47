"""`python -m tests.uneven_workers BACKBONE...` in each worker of a TF_CONFIG cluster: the strategy.run loop
when one worker's own batches (a tf.data service worker's) run out first; prints one JSON line per backbone
and case with the epoch's example count and a digest of the weights (equal on every worker).

Per-replica batches of 2 come from a function of the input context, as `--data_service` gives them:
- `alone`: worker 0 gets 3 batches, worker 1 none at all in the epoch;
- `uneven`: worker 0 gets 3 batches, worker 1 one.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys

import keras
import numpy as np
import tensorflow as tf

from pyck_classifier.model.backbones.registry import get_backbone_spec
from pyck_classifier.model.classifier import backbone_of, build_classifier
from pyck_train.strategies import Phase, apply_phase
from pyck_train.strategy_run_loop import fit

INPUT_SHAPE = (64, 64, 3)
CLASSES = 3
PER_REPLICA = 2
BATCHES = {"alone": (3, 0), "uneven": (3, 1)}  # per worker


def worker_batches(case: str):
    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        count = BATCHES[case][context.input_pipeline_id] * PER_REPLICA
        rng = np.random.default_rng(context.input_pipeline_id)
        images = rng.uniform(0, 255, (count, *INPUT_SHAPE)).astype(np.float32)
        labels = np.eye(CLASSES, dtype=np.float32)[np.arange(count) % CLASSES]
        return tf.data.Dataset.from_tensor_slices((images, labels)).batch(PER_REPLICA)
    return dataset_fn


def run(backbone: str, case: str, strategy: tf.distribute.Strategy) -> dict:
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = build_classifier(backbone, CLASSES, weights="none", input_shape=INPUT_SHAPE)
        apply_phase(backbone_of(model), Phase("full", "all"), get_backbone_spec(backbone))  # as fine-tuning does
        model.compile(keras.optimizers.SGD(0.01), loss="categorical_crossentropy")
    validation = tf.data.Dataset.from_tensor_slices(
        (np.zeros((3, *INPUT_SHAPE), np.float32), np.eye(CLASSES, dtype=np.float32))).batch(4)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        history = fit(model, worker_batches(case), validation_data=validation, epochs=1, steps_per_epoch=None,
                      class_weight=None, callbacks=[], strategy=strategy,
                      global_batch=PER_REPLICA * strategy.num_replicas_in_sync)
    weights = model.get_weights()
    return {"backbone": backbone, "case": case, "examples": int(printed.getvalue().split(" - ")[2].split()[0]),
            "loss": history.history["loss"][-1], "val_loss": history.history["val_loss"][-1],
            "finite": all(bool(np.isfinite(w).all()) for w in weights),
            "weights_digest": float(sum(np.abs(w).astype(np.float64).sum() for w in weights))}


if __name__ == "__main__":
    cluster = tf.distribute.MultiWorkerMirroredStrategy()
    for name in sys.argv[1:]:
        for case in BATCHES:
            print(json.dumps(run(name, case, cluster)), flush=True)
