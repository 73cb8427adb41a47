"""The training order as an endless stream of epochs (`shuffled_by_epoch` with `EpochSeeds`): what `fit` reads."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from pyck_classifier.data.input_pipeline import EpochSeeds, is_endless, shuffled_by_epoch

EXAMPLES, BATCH = 10, 4  # 3 batches an epoch, the last of 2


def stream(epoch_seeds: EpochSeeds, epoch_batches: int | None = None) -> tf.data.Dataset:
    return shuffled_by_epoch(tf.data.Dataset.range(EXAMPLES), EXAMPLES, 7, epoch_seeds,
                             lambda examples: examples.batch(BATCH), epoch_batches)


def epochs_of(iterator, epochs: int, steps: int = 3) -> list[list[int]]:
    return [np.concatenate([next(iterator).numpy() for _ in range(steps)]).tolist() for _ in range(epochs)]


def test_each_epoch_is_a_whole_permutation_of_its_own_and_batches_never_cross_epochs():
    seeds = EpochSeeds()
    ds = stream(seeds)
    assert is_endless(ds) and not is_endless(tf.data.Dataset.range(3))
    iterator = iter(ds)
    sizes = [int(next(iterator).shape[0]) for _ in range(9)]
    assert sizes == [4, 4, 2] * 3  # each epoch ends on its own partial batch
    orders = epochs_of(iter(ds), 4)
    assert all(sorted(order) == list(range(EXAMPLES)) for order in orders)
    assert len({tuple(order) for order in orders}) == 4


def test_a_stream_started_at_epoch_k_continues_the_uninterrupted_one_exactly():
    seeds = EpochSeeds()
    uninterrupted = epochs_of(iter(stream(seeds)), 4)
    seeds.epoch.assign(2)  # what `EpochSeeds.on_epoch_begin` sets in a run resumed at epoch 2
    assert epochs_of(iter(stream(seeds)), 2) == uninterrupted[2:]
    # The first epoch is read once, when the iterator starts: setting the next epoch meanwhile changes nothing.
    iterator = iter(stream(seeds))
    first = epochs_of(iterator, 1)
    seeds.epoch.assign(0)
    assert first + epochs_of(iterator, 1) == uninterrupted[2:]


def test_epoch_batches_cut_every_epoch_to_its_first_batches():
    seeds = EpochSeeds()
    whole = epochs_of(iter(stream(seeds)), 3)
    cut = epochs_of(iter(stream(seeds, epoch_batches=1)), 3, steps=1)
    assert cut == [order[:BATCH] for order in whole]


def test_each_batch_gets_a_seed_of_its_own_from_seed_epoch_and_index():
    """What seeds each batch's augmentation: distinct for every batch of every epoch, the same when resumed."""
    def batch_seeds(start: int) -> list[tuple[int, int]]:
        seeds = EpochSeeds()
        seeds.epoch.assign(start)
        pairs = tf.data.Dataset.range(EXAMPLES).map(lambda i: (i, i))
        ds = shuffled_by_epoch(pairs, EXAMPLES, 7, seeds, lambda examples: examples.batch(BATCH),
                               batch_transform=lambda images, labels, seed: seed)
        iterator = iter(ds)
        return [tuple(next(iterator).numpy().tolist()) for _ in range(6 - 3 * start)]

    uninterrupted = batch_seeds(0)
    assert len(set(uninterrupted)) == 6
    assert batch_seeds(1) == uninterrupted[3:]


class BatchRecorder(keras.Model):
    """Keeps every training batch it is given; trains nothing."""

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(1)
        self.seen: list[list[int]] = []

    def call(self, inputs):
        return self.dense(inputs)

    def train_step(self, data):
        self.seen.append(np.asarray(data[0]).ravel().astype(int).tolist())
        return {"loss": tf.constant(0.0)}


@pytest.mark.parametrize("resumed_at", [0, 1])
def test_fit_reads_the_stream_epoch_by_epoch_with_steps_per_epoch(resumed_at):
    # The trainer's call: one iterator for the whole fit, `EpochSeeds` among the callbacks.
    seeds = EpochSeeds()
    expected = epochs_of(iter(stream(seeds)), 3)
    model = BatchRecorder()
    model.compile(run_eagerly=True)
    model.fit(stream(seeds).map(lambda x: (tf.cast(x[:, None], tf.float32), x)), epochs=3, steps_per_epoch=3,
              initial_epoch=resumed_at, callbacks=[seeds], shuffle=False, verbose=0)
    seen = [sum(model.seen[i:i + 3], []) for i in range(0, len(model.seen), 3)]
    assert seen == expected[resumed_at:]


def test_fit_keeps_one_iterator_for_the_whole_stream():
    # Without `EpochSeeds` among the callbacks nothing sets the epoch, so only an iterator that lasts the whole fit
    # reads epochs 0, 1, 2; a new one each epoch would read epoch 0 three times (and wait for its start each time).
    seeds = EpochSeeds()
    expected = epochs_of(iter(stream(seeds)), 3)
    model = BatchRecorder()
    model.compile(run_eagerly=True)
    model.fit(stream(seeds).map(lambda x: (tf.cast(x[:, None], tf.float32), x)), epochs=3, steps_per_epoch=3,
              shuffle=False, verbose=0)
    assert [sum(model.seen[i:i + 3], []) for i in range(0, 9, 3)] == expected
