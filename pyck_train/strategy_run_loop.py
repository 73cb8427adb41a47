"""The training loop for several machines: `model.fit`'s part of one phase, written over `strategy.run`.

Keras 3's `fit` fails under `tf.distribute.MultiWorkerMirroredStrategy` (keras-team/keras#20585);
a custom loop over `strategy.run` is the documented way. Everything around the loop (model,
optimizer, loss, class weights, pipelines, callbacks) is what the single-machine path builds: the
loop only replaces `fit`, and drives the same Keras callbacks through a `CallbackList`, so
BackupAndRestore (resume after a worker is restarted), the best checkpoint, the history CSV,
TensorBoard, EarlyStopping and ReduceLROnPlateau behave as under `fit`.

Per replica, the loss is summed over its examples and divided by the global batch
(`tf.nn.compute_average_loss`), so the all-reduced gradient is the gradient of the global batch's
mean loss. Under mixed precision the compiled optimizer is a `LossScaleOptimizer`: the loss is
scaled before the gradient and `apply_gradients` unscales (and skips steps that overflow).
Scores are sums and counts all-reduced over the replicas, so every worker logs the same numbers.
"""

from __future__ import annotations

import itertools
import secrets
import time
from typing import Callable

import keras
import tensorflow as tf

from pyck_classifier.data.input_pipeline import is_endless


def _at_least_one(images, labels):
    """(images, labels, weights): an empty batch becomes one blank example of weight 0, others get weights 1.

    A replica may get an empty batch (a worker that ran out of tf.data service batches, the last partial batch
    split over the replicas), and layers need not accept a batch of 0: oneDNN's convolutions give a wrongly
    shaped result. With the blank example every replica runs the same graph and joins the same collectives,
    and the weight of 0 keeps the blank out of the gradients and the sums. (BatchNorm never trains, so the
    blank does not reach its statistics either.)
    """
    count = tf.shape(labels)[0]
    blank = tf.cast(tf.equal(count, 0), tf.int32)
    images = tf.concat([images, tf.zeros(tf.concat([[blank], tf.shape(images)[1:]], 0), images.dtype)], 0)
    labels = tf.concat([labels, tf.zeros(tf.stack([blank, tf.shape(labels)[1]]), labels.dtype)], 0)
    return images, labels, tf.concat([tf.ones([count]), tf.zeros([blank])], 0)


def _sums(losses, probabilities, labels, weights):
    """(loss sum, correct, examples) of one replica's batch, counting the examples of weight 1."""
    correct = tf.cast(tf.equal(tf.argmax(probabilities, -1), tf.argmax(labels, -1)), tf.float32)
    return tf.reduce_sum(losses * weights), tf.reduce_sum(correct * weights), tf.reduce_sum(weights)


def make_steps(model: keras.Model, strategy: tf.distribute.Strategy, *, global_batch: int,
               per_example_loss: keras.losses.Loss, class_weight: dict[int, float] | None, jit_compile: bool = False):
    """(train_step, eval_step) over one distributed batch; each returns (loss sum, correct, examples), all-reduced.
    `per_example_loss` is the run's loss without reduction. A replica's empty batch adds zero to the gradients and
    the sums (`_at_least_one`)."""
    num_classes = model.output_shape[-1]
    table = tf.constant([(class_weight or {}).get(i, 1.0) for i in range(num_classes)], tf.float32)

    def class_weights_of(labels):
        return tf.gather(table, tf.argmax(labels, -1)) if class_weight else tf.ones(tf.shape(labels)[:1])

    def replica_train(images, labels):
        images, labels, weights = _at_least_one(images, labels)
        with tf.GradientTape() as tape:
            probabilities = tf.cast(model(images, training=True), tf.float32)
            losses = per_example_loss(labels, probabilities) * class_weights_of(labels)
            loss = tf.nn.compute_average_loss(losses * weights, global_batch_size=global_batch)
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
            scaled = model.optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled, model.trainable_variables)
        model.optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return _sums(losses, probabilities, labels, weights)

    def replica_eval(images, labels):
        images, labels, weights = _at_least_one(images, labels)
        probabilities = tf.cast(model(images, training=False), tf.float32)
        return _sums(per_example_loss(labels, probabilities), probabilities, labels, weights)

    def all_reduced(replica_fn):
        @tf.function(jit_compile=jit_compile)
        def step(batch):
            images, labels = batch
            results = strategy.run(replica_fn, args=(images, labels))
            return [strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None) for value in results]
        return step

    return all_reduced(replica_train), all_reduced(replica_eval)


def _evaluate(eval_step, batches) -> dict[str, float]:
    loss = correct = count = 0.0
    for batch in batches:
        batch_loss, batch_correct, batch_count = (float(v) for v in eval_step(batch))
        loss, correct, count = loss + batch_loss, correct + batch_correct, count + batch_count
    return {"val_loss": loss / max(count, 1.0), "val_accuracy": correct / max(count, 1.0)}


def fit(model: keras.Model, train_batches: tf.data.Dataset | Callable[[tf.distribute.InputContext], tf.data.Dataset],
        *, validation_data: tf.data.Dataset, epochs: int,
        steps_per_epoch: int | None, class_weight: dict[int, float] | None, callbacks: list,
        strategy: tf.distribute.Strategy, global_batch: int, per_example_loss: keras.losses.Loss | None = None,
        jit_compile: bool = False) -> keras.callbacks.History:
    """`model.fit(train_batches, validation_data=..., epochs=..., callbacks=...)` for a compiled `model`, over
    `strategy.run`; prints one line per epoch, as `fit(verbose=2)` does, with the examples the cluster trained on.

    `train_batches` is the global batches (each worker keeps its shard), or a function of the input context
    that gives this worker's own batches (tf.data service: a worker may get more batches than another; one
    that runs out steps on empty batches until every worker is done, so the collectives stay matched). An endless
    stream of epochs (`input_pipeline.is_endless`) is read by one iterator, `steps_per_epoch` batches an epoch, as
    `fit` reads it. `per_example_loss`: the run's loss without reduction (default: the cross-entropy).
    """
    endless = is_endless(train_batches)
    if endless and not steps_per_epoch:
        raise ValueError("an endless stream of epochs needs steps_per_epoch: the number of batches in one epoch")
    per_example_loss = per_example_loss or keras.losses.CategoricalCrossentropy(reduction=None)
    train_step, eval_step = make_steps(model, strategy, global_batch=global_batch, per_example_loss=per_example_loss,
                                       class_weight=class_weight, jit_compile=jit_compile)
    distributed_train = (strategy.distribute_datasets_from_function(train_batches) if callable(train_batches)
                         else strategy.experimental_distribute_dataset(train_batches))
    distributed_validation = strategy.experimental_distribute_dataset(validation_data)
    history = keras.callbacks.History()
    callback_list = keras.callbacks.CallbackList([*callbacks, history], model=model, epochs=epochs,
                                                 steps=steps_per_epoch)  # the params fit gives its callbacks
    model.stop_training = False
    model._initial_epoch = None  # EpochBackup sets it when it restores a backup
    with strategy.scope():  # a restore builds the optimizer's variables: under the strategy, as fit does
        callback_list.on_train_begin()
    logs: dict[str, float] = {}
    stream = None  # started after the first `on_epoch_begin`: `EpochSeeds` sets the epoch the stream starts at
    for epoch in range(model._initial_epoch or 0, epochs):
        start = time.perf_counter()
        callback_list.on_epoch_begin(epoch)
        if stream is None or not endless:
            stream = iter(distributed_train)
        loss = correct = count = 0.0
        for step, batch in enumerate(itertools.islice(stream, steps_per_epoch)):
            callback_list.on_train_batch_begin(step)
            batch_loss, batch_correct, batch_count = (float(v) for v in train_step(batch))
            loss, correct, count = loss + batch_loss, correct + batch_correct, count + batch_count
            callback_list.on_train_batch_end(step, {"loss": loss / max(count, 1.0)})
        callback_list.on_test_begin()  # as fit's validation: SwapEMAWeights puts the averaged weights in
        validation = _evaluate(eval_step, distributed_validation)
        callback_list.on_test_end(validation)
        logs = {"accuracy": correct / max(count, 1.0), "loss": loss / max(count, 1.0), **validation,
                "learning_rate": float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))}
        print(f"Epoch {epoch + 1}/{epochs} - {time.perf_counter() - start:.0f}s - {count:.0f} examples - "
              + " - ".join(f"{k}: {v:.4f}" for k, v in logs.items() if k != "learning_rate"), flush=True)
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end(logs)
    return history


def _sum_over_workers(strategy: tf.distribute.Strategy, value: tf.Tensor) -> tf.Tensor:
    """`value` summed over every replica of the cluster: returns once every worker has sent its own."""

    @tf.function
    def all_reduce(value):
        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: value), axis=None)

    return all_reduce(value)


def barrier(strategy: tf.distribute.Strategy) -> None:
    """Returns once every worker of the cluster has called it."""
    _sum_over_workers(strategy, tf.constant(1.0))


def agreed_random_number(strategy: tf.distribute.Strategy) -> int:
    """A random number, the same on every worker: the sum of one drawn by each from the system's entropy
    (not the seeded generators, so a restarted cluster draws another)."""
    return int(_sum_over_workers(strategy, tf.constant(secrets.randbits(48), tf.int64)))
