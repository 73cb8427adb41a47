r"""Training speed, side by side in one run: pipeline stall, the feature cache, and (on a GPU) mixed precision.

    python -m tools.bench_train [--data_dir DATA --dataset mushroom_observer/family7] [--n_images 2048]

Without --data_dir a sample dump is generated and built in a temporary folder.
  stall: training steps/s of the head phase (frozen base, the fastest steps, so the most
         sensitive to a slow input) fed by pyck's pipeline vs the standard upper bound, one
         batch held in memory and repeated (no input work at all); the two alternate, best of
         each; stall ratio = pipeline / bound (1.0: the model never waits for data). Epochs
         far apart can fall in different slow spells of a shared machine, so the stall is also
         timed within each step: the share of an epoch spent waiting for the next batch, and
         1 - that share (`stall_ratio_from_waits`). As in the trainer, one iterator reads epoch
         after epoch: a phase's first epoch waits for its first batch (files opened, the shuffle
         buffer filled, the first images decoded), later epochs' start-up overlaps the previous
         epoch's last steps; both are reported apart, in seconds and as a share of the epoch,
         beside the epoch's size (--n_images).
  feature cache: seconds per frozen-strategy epoch over images vs over cached pooled features
         (after the one-off extraction pass, reported too); speedup = images / features.
  precision: with a GPU, steps/s of full fine-tuning in float32 vs mixed_float16.
Prints one JSON object.
"""

from __future__ import annotations

import json
import tempfile
import time
from typing import TYPE_CHECKING

import numpy as np
from absl import app, flags

from pyck_classifier.usable_cpus import usable_cpus
from pyck_tfds.built_datasets import DEFAULT_DATASET  # before TensorFlow: keeps its start-up lines off
from tools.bench_data import build_sample
from tools.bench_infer import cpu_model

if TYPE_CHECKING:
    import keras

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "A data_dir with --dataset built (default: build a sample).")
flags.DEFINE_string("dataset", DEFAULT_DATASET, "Dataset/config in --data_dir.")
flags.DEFINE_string("backbone", "efficientnet_lite0", "Backbone from the registry (weights are not loaded).")
flags.DEFINE_integer("n_images", 2048, "Training images per epoch (fewer if the split is smaller).",
                     lower_bound=8)
flags.DEFINE_integer("batch_size", 32, "Batch size.", lower_bound=1)
flags.DEFINE_integer("repeats", 2, "Timed epochs per case, the cases alternating; the best of each is kept (more: "
                     "steadier ratios on a busy machine).", lower_bound=1)
flags.DEFINE_integer("per_family", 120, "Sample dump size when no --data_dir is given.", lower_bound=10)


def timed_fit(model: keras.Model, data, epochs: int = 2) -> float:
    """Seconds per epoch, best of `epochs` (see `timed_fits`)."""
    return timed_fits(model, {"data": data}, epochs)["data"]


def timed_fits(model: keras.Model, datasets: dict, epochs: int = 2, steps: int | None = None) -> dict[str, float]:
    """Seconds per epoch of each dataset, best of `epochs`, alternating so that drift hits every one alike.

    Each timed epoch is the second of a two-epoch `fit` of `steps` steps: its first traces and compiles the step
    and starts the pipeline; an endless stream of epochs (the trainer's) keeps its iterator into the second,
    as it does in a training phase.
    """
    import keras

    class EpochSeconds(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds = time.perf_counter() - self.start

    seconds = {name: [] for name in datasets}
    for _ in range(epochs):
        for name, data in datasets.items():
            timer = EpochSeconds()
            model.fit(data, epochs=2, steps_per_epoch=steps, verbose=0, shuffle=False,  # the pipeline shuffles
                      callbacks=[timer])
            seconds[name].append(timer.seconds)
    return {name: min(values) for name, values in seconds.items()}


def input_waits(model: keras.Model, data, epochs: int, steps: int) -> dict[str, float]:
    """Where the time of an epoch goes, step by step: waiting for the next batch vs training on it.

    Both are timed in the same steps, so a slow spell of the machine weighs on them alike (the epochs
    that `timed_fits` compares can fall in different spells). One iterator for `epochs` + 1 epochs of
    `steps` batches, as `fit` reads the trainer's stream: the first epoch's wait for its first batch is a
    phase's start-up (files, shuffle buffer, first decodes); the median of the later epochs is reported,
    their start-up apart. Blocking `train_on_batch` calls: the next batch is prepared by the pipeline's
    prefetch meanwhile, as in `fit`, so any wait here is time the model spent without data.
    """
    model.train_on_batch(*next(iter(data)))  # warm-up: tracing and compiling the step
    shares, first_waits = [], []
    batches = iter(data)
    for _ in range(epochs + 1):
        waited, total, first_wait = 0.0, 0.0, None
        for _ in range(steps):
            start = time.perf_counter()
            batch = next(batches)
            ready = time.perf_counter()
            model.train_on_batch(*batch)
            waited, total = waited + ready - start, total + time.perf_counter() - start
            first_wait = ready - start if first_wait is None else first_wait
        shares.append(waited / total)
        first_waits.append(first_wait)
    share = float(np.median(shares[1:]))
    return {"input_wait_share": round(share, 4), "stall_ratio_from_waits": round(1 - share, 4),
            "startup_seconds_per_epoch": round(float(np.median(first_waits[1:])), 4),
            "startup_seconds_first_epoch": round(first_waits[0], 4)}


def compiled(model: keras.Model) -> keras.Model:
    import keras

    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def measure(dataset: str, data_dir: str, backbone: str, n_images: int, batch: int, repeats: int = 2) -> dict:
    import keras  # here, not at the top: --help answers before TensorFlow loads
    import tensorflow as tf
    import tensorflow_datasets as tfds

    from pyck_classifier.data.input_pipeline import (
        EpochSeeds,
        image_shape,
        load_split,
        make_pipeline,
    )
    from pyck_classifier.model import feature_extraction
    from pyck_classifier.model.backbones.registry import get_backbone_spec
    from pyck_classifier.model.classifier import backbone_of, build_classifier
    from pyck_train.strategies import apply_phase, phases

    n_images = min(n_images, tfds.builder(dataset, data_dir=data_dir).info.splits["train"].num_examples)
    encoded, info = load_split(dataset, f"train[:{n_images}]", data_dir, shuffle_files=True)
    shape = image_shape(info)
    # The trainer's configuration, `EpochSeeds` order included: an endless stream of epochs from epoch 0 (its
    # callback is left out: it would only set the epoch the next iterator starts at).
    pipeline = make_pipeline(encoded, image_size=shape[:2], training=True, batch_size=batch, epoch_seeds=EpochSeeds())
    steps = -(-n_images // batch)
    bound = tf.data.Dataset.from_tensors(next(iter(pipeline))).repeat(steps)  # no input work: the upper bound

    model = build_classifier(backbone, info.features["label"].num_classes, weights="none", input_shape=shape,
                             head="dense:128,dropout:0.25,dense:32,dropout:0.25")
    apply_phase(backbone_of(model), phases("frozen")[0], get_backbone_spec(backbone))
    compiled(model)
    timed = timed_fits(model, {"pipeline": pipeline, "bound": bound}, repeats, steps)
    pipeline_seconds, bound_seconds = timed["pipeline"], timed["bound"]
    waits = input_waits(model, pipeline, repeats, steps)
    gpus = [device.name for device in tf.config.list_physical_devices("GPU")]
    result = {"images": n_images, "batch_size": batch, "backbone": backbone, "cpu": cpu_model(),
              "machine": f"{usable_cpus()} CPUs", "gpu": gpus or None,
              "stall": {"epoch_images": n_images, "epoch_seconds": round(pipeline_seconds, 3),
                        "pipeline_steps_per_second": round(steps / pipeline_seconds, 3),
                        "bound_steps_per_second": round(steps / bound_seconds, 3),
                        "stall_ratio": round(bound_seconds / pipeline_seconds, 3), **waits,
                        "startup_share_of_epoch": round(waits["startup_seconds_per_epoch"] / pipeline_seconds, 4)}}

    start = time.perf_counter()
    features, labels, _ = feature_extraction.predict_batches(
        feature_extraction.pooled_feature_model(model), make_pipeline(encoded, image_size=shape[:2], training=False,
                                                                   batch_size=batch))
    extraction_seconds = time.perf_counter() - start
    head = compiled(feature_extraction.head_on_features(model))
    features_seconds = timed_fit(head, feature_extraction.feature_pipeline(features, labels, training=True,
                                                                      batch_size=batch), repeats)
    result["feature_cache"] = {"epoch_seconds_images": round(pipeline_seconds, 3),
                               "epoch_seconds_features": round(features_seconds, 4),
                               "one_off_extraction_seconds": round(extraction_seconds, 3),
                               "speedup_per_epoch": round(pipeline_seconds / features_seconds, 1)}
    if result["gpu"]:
        rates = {}
        for policy in ("float32", "mixed_float16"):
            keras.mixed_precision.set_global_policy(policy)
            tuned = build_classifier(backbone, info.features["label"].num_classes, weights="none", head="gap",
                                     input_shape=shape)
            apply_phase(backbone_of(tuned), phases("unfreeze")[0], get_backbone_spec(backbone))
            rates[policy] = steps / timed_fit(compiled(tuned), bound, repeats)
        keras.mixed_precision.set_global_policy("float32")
        result["precision"] = {f"{k}_steps_per_second": round(v, 3) for k, v in rates.items()}
        result["precision"]["mixed_float16_speedup"] = round(rates["mixed_float16"] / rates["float32"], 3)
    return result


def main(argv: list[str]) -> None:
    from pyck_tfds.console import quiet_python_logs

    quiet_python_logs()
    with tempfile.TemporaryDirectory() as work:
        if FLAGS.data_dir:
            dataset, data_dir = FLAGS.dataset, FLAGS.data_dir
        else:
            dataset, data_dir, _ = build_sample(work, FLAGS.per_family, formats=("tfrecord",))
        print(json.dumps(measure(dataset, data_dir, FLAGS.backbone, FLAGS.n_images, FLAGS.batch_size,
                                 FLAGS.repeats), indent=2))


if __name__ == "__main__":
    app.run(main)
