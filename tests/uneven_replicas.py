"""`python -m tests.uneven_replicas BACKBONE...`: the strategy.run loop's steps on two CPU replicas when one
replica's batch is empty, against the same arithmetic done directly on the model; prints one JSON line per
backbone.

Run in its own process: the CPU is split into two logical devices before TensorFlow starts, and the caller
sets TF_ENABLE_ONEDNN_OPTS (oneDNN's convolutions are what failed on a batch of 0).

With a global batch of 4 split over the replicas (MirroredStrategy):
- one training step on 1 example: the second replica's batch is empty. The update must be SGD's on that one
  example's loss over the global batch, computed directly with a GradientTape.
- scoring 5 examples: steps of 2 + 2 then 1 + 0. The sums must be the model's own on the 5 examples.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import tensorflow as tf

tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                           [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

from pyck_classifier.model.backbones.registry import get_backbone_spec  # noqa: E402
from pyck_classifier.model.classifier import backbone_of, build_classifier  # noqa: E402
from pyck_train.strategies import Phase, apply_phase  # noqa: E402
from pyck_train.strategy_run_loop import make_steps  # noqa: E402

INPUT_SHAPE = (75, 75, 3)  # the smallest InceptionV3 takes
CLASSES = 3
GLOBAL_BATCH = 4
RATE = 0.01


def examples(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, (count, *INPUT_SHAPE)).astype(np.float32)
    return images, np.eye(CLASSES, dtype=np.float32)[np.arange(count) % CLASSES]


def summed(step, strategy: tf.distribute.Strategy, data) -> list[float]:
    totals = np.zeros(3)
    for batch in strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensor_slices(data).batch(GLOBAL_BATCH)):
        totals += [float(value) for value in step(batch)]
    return totals.tolist()


def check(backbone: str, strategy: tf.distribute.Strategy) -> dict:
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = build_classifier(backbone, CLASSES, weights="none", input_shape=INPUT_SHAPE)
        apply_phase(backbone_of(model), Phase("full", "all"), get_backbone_spec(backbone))  # as fine-tuning does
        model.compile(keras.optimizers.SGD(RATE), loss="categorical_crossentropy")
    cross_entropy = keras.losses.CategoricalCrossentropy(reduction=None)
    train_step, eval_step = make_steps(model, strategy, global_batch=GLOBAL_BATCH, per_example_loss=cross_entropy,
                                       class_weight=None)

    validation = examples(5, seed=2)

    @tf.function
    def scored(images, labels):  # compiled as the step is: Keras then takes the loss from the softmax's logits
        probabilities = model(images, training=False)
        return tf.reduce_sum(cross_entropy(labels, probabilities)), tf.reduce_sum(
            tf.cast(tf.equal(tf.argmax(probabilities, -1), tf.argmax(labels, -1)), tf.float32))

    # The replicas' own batches (2 + 2, then 1): a randomly initialised network can be ill-conditioned enough
    # that another grouping of the same examples changes the losses.
    parts = [scored(validation[0][part], validation[1][part]) for part in (slice(0, 2), slice(2, 4), slice(4, 5))]
    direct = [float(sum(loss for loss, _ in parts)), float(sum(correct for _, correct in parts)), 5.0]
    eval_sums = summed(eval_step, strategy, validation)

    image = examples(1, seed=1)[0]
    one = image, np.eye(CLASSES, dtype=np.float32)[model(image, training=False).numpy().argmin(-1)]  # a loss to learn

    @tf.function
    def update(images, labels):  # compiled as the step is
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(cross_entropy(labels, model(images, training=True))) / GLOBAL_BATCH
        return loss, [-RATE * g for g in tape.gradient(loss, model.trainable_variables)]

    before = [v.numpy() for v in model.trainable_variables]
    loss, steps = update(*one)
    expected = [w + step.numpy() for w, step in zip(before, steps)]
    train_sums = summed(train_step, strategy, one)
    after = [v.numpy() for v in model.trainable_variables]
    return {
        "backbone": backbone, "replicas": strategy.num_replicas_in_sync,
        "eval_sums": eval_sums, "direct_eval_sums": direct,
        "train_examples": train_sums[2], "direct_train_loss": float(loss) * GLOBAL_BATCH,
        "train_loss": train_sums[0],
        "largest_update": max(float(np.abs(a - b).max()) for a, b in zip(after, before)),
        "largest_difference": max(float(np.abs(a - e).max()) for a, e in zip(after, expected)),
        "finite": all(bool(np.isfinite(w).all()) for w in after),
    }


if __name__ == "__main__":
    # One strategy object for every model: each new MirroredStrategy numbers its collectives from the start again,
    # and the runtime would take a later model's collective for an earlier one's of the same number.
    two_replicas = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    for name in sys.argv[1:]:
        print(json.dumps(check(name, two_replicas)), flush=True)
