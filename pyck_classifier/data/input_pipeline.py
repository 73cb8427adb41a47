"""tf.data input pipelines over the built `mushroom_observer` dataset, at the JPEG-decode limit.

`load_split` reads the split's TFRecord shards (tfds's own file instructions, so any tfds
slice like `train[:5000]` works) as serialized records. `make_pipeline`: shuffle those small
records (not decoded images) -> one parallel map that parses only the two features training
needs and decodes the JPEG -> batch -> prefetch. One map per image is what keeps it at the
decode ceiling (tools/bench_input.py, issue 28): tfds.load parses all twelve features, and a
separate parse stage, a resize check and a tuple-building map each took their share of 2 cores.
The builder stores every image at the dataset's size, so nothing is resized here; an image of
another size fails loudly. With `cache`, decoded uint8 images (230 KB each) are cached in the
first epoch, then shuffled and batched from memory. With `EpochSeeds`, the training order is a
function of the seed and the epoch alone, so a run resumed at epoch k sees the batches an
uninterrupted run sees. Batches stay uint8: the model casts at its input (a quarter of float32's
bytes to copy and to send to a GPU). Training order may be non-deterministic for speed (not with
`EpochSeeds`); evaluation order is deterministic. Keras's `fit` feeds batches through the
distribution strategy's distributed dataset, which prefetches them onto the GPU(s) while the
current step runs.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

import pyck_tfds  # noqa: F401  (registers mushroom_observer)
from pyck_classifier.model.image_preprocessing import decode_image

AUTOTUNE = tf.data.AUTOTUNE
_TRAINING_FEATURES = {"image": tf.io.FixedLenFeature([], tf.string), "label": tf.io.FixedLenFeature([], tf.int64)}
_METADATA_FEATURES = {"label": tf.io.FixedLenFeature([], tf.int64),
                      "observation_id": tf.io.FixedLenFeature([], tf.int64),
                      "image_id": tf.io.FixedLenFeature([], tf.int64),
                      "date": tf.io.FixedLenFeature([], tf.string, default_value=""),
                      # Only the CSV export's configs store coordinates; elsewhere every photo reads as unknown.
                      "latitude": tf.io.FixedLenFeature([], tf.float32, default_value=float("nan")),
                      "longitude": tf.io.FixedLenFeature([], tf.float32, default_value=float("nan")),
                      # Each photo's taxonomy (GBIF's), what a run's coarser answers sum over.
                      **{level: tf.io.FixedLenFeature([], tf.string, default_value="")
                         for level in ("species", "genus", "family")}}
_PARSE_BATCH = 256
_PREFETCH_BATCHES = 4  # ready while the model runs a step


def _file_records(filename, skip, take) -> tf.data.Dataset:
    """The records of one file instruction: `take` records after the first `skip`."""
    return tf.data.TFRecordDataset(filename, buffer_size=8 << 20).skip(skip).take(take)


def _split_records(dataset: str, split: str, data_dir: str | None, shuffle_files: bool, seed: int
                   ) -> tuple[tf.data.Dataset, int, tfds.core.DatasetInfo]:
    """The split's serialized records (tfds's own file instructions), their count and the dataset's info."""
    builder = tfds.builder(dataset, data_dir=data_dir)
    info = builder.info
    if info.file_format != tfds.core.FileFormat.TFRECORD:
        raise ValueError(f"{dataset} in {builder.data_dir} is stored as {info.file_format.value}; tf.data training "
                         "reads TFRecord: build it again with `tfds build ... --file_format=tfrecord`")
    instructions = info.splits[split].file_instructions
    examples = sum(i.take for i in instructions)
    if len(instructions) == 1:  # one file: read it directly. A parallel interleave hands each record across
        # threads, which made filling the shuffle buffer, the start of every epoch, 2-3x slower (issue 28).
        only = instructions[0]
        return _file_records(only.filename, only.skip, only.take), examples, info
    files = tf.data.Dataset.from_tensor_slices((
        [i.filename for i in instructions], tf.constant([i.skip for i in instructions], tf.int64),
        tf.constant([i.take for i in instructions], tf.int64)))
    if shuffle_files:
        files = files.shuffle(len(instructions), seed=seed, reshuffle_each_iteration=True)
    records = files.interleave(
        _file_records, cycle_length=min(4, len(instructions)), num_parallel_calls=AUTOTUNE,
        deterministic=not shuffle_files)
    return records, examples, info


def load_split(dataset: str, split: str, data_dir: str | None = None, *, shuffle_files: bool = False,
               seed: int = 0, known_size: bool = True) -> tuple[tf.data.Dataset, tfds.core.DatasetInfo]:
    """Serialized records of one split in stored order (shards in random order with `shuffle_files`).

    `make_pipeline` parses them; `parse_record` gives (encoded JPEG bytes, label) to other readers.
    `known_size` asserts the split's example count (Keras then knows an epoch's steps); a split that
    tf.data service workers read in parts (`through_data_service`) must not carry that assertion.
    """
    records, examples, info = _split_records(dataset, split, data_dir, shuffle_files, seed)
    if known_size:
        records = records.apply(tf.data.experimental.assert_cardinality(examples))
    return records, info


def parse_record(serialized: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """One serialized record -> (encoded JPEG bytes, label): the two features training reads."""
    example = tf.io.parse_single_example(serialized, _TRAINING_FEATURES)
    return example["image"], example["label"]


def decode_stored_image(encoded: tf.Tensor, image_size: tuple[int, int]) -> tf.Tensor:
    """A stored JPEG -> uint8 (height, width, 3); the builder stored it at the dataset's `image_size`."""
    return tf.ensure_shape(decode_image(encoded), (*image_size, 3))


def _decoded_record(image_size: tuple[int, int]) -> Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor]]:
    def decoded(serialized):
        encoded, label = parse_record(serialized)
        return decode_stored_image(encoded, image_size), label

    return decoded


def split_examples(dataset: str, split: str, data_dir: str | None = None,
                   columns: tuple[str, ...] = ("image_id", "observation_id", "date")) -> tf.data.Dataset:
    """(uint8 image, label, {column: value}) of one split in stored order: what evaluation reads.

    The same records and decode (`decode_stored_image`) as training's `load_split` and `make_pipeline`,
    so a split's images and order are the same for the trainer's metrics and eval's. Coordinates are added where the
    dataset stores them (the CSV export's configs).
    """
    records, _, info = _split_records(dataset, split, data_dir, False, 0)
    columns = (*columns, *(name for name in ("latitude", "longitude") if name in info.features))
    wanted = {**_TRAINING_FEATURES, **{name: _METADATA_FEATURES[name] for name in columns}}
    shape = image_shape(info)

    def decoded(example):
        image = decode_stored_image(example["image"], shape[:2])
        return image, example["label"], {name: example[name] for name in columns}

    return (records.batch(_PARSE_BATCH)
            .map(lambda serialized: tf.io.parse_example(serialized, wanted), num_parallel_calls=AUTOTUNE)
            .unbatch()
            .map(decoded, num_parallel_calls=AUTOTUNE, deterministic=True))


def read_columns(dataset: str, split: str, data_dir: str | None = None,
                 columns: tuple[str, ...] = ("label", "observation_id", "date")) -> dict[str, np.ndarray]:
    """Metadata columns of one split as numpy arrays, in the stored order `load_split` and evaluation use."""
    records, _, _ = _split_records(dataset, split, data_dir, False, 0)
    wanted = {name: _METADATA_FEATURES[name] for name in columns}
    values: dict[str, list] = {name: [] for name in columns}
    for batch in records.batch(_PARSE_BATCH).map(lambda s: tf.io.parse_example(s, wanted)).as_numpy_iterator():
        for name in columns:
            values[name].append(batch[name])
    return {name: np.concatenate(parts) if parts else np.zeros((0,)) for name, parts in values.items()}


class EpochSeeds(keras.callbacks.Callback):
    """Makes each epoch's randomness a function of (seed, epoch): the training order and the model's dropout.

    tf.data's own reshuffling draws each epoch's order from how many times the dataset was
    iterated, and Keras keeps dropout's random state outside the weights it saves; both start
    again in a resumed process. With this callback (it sets the epoch before the training
    iterator starts, and each model's seeds at every epoch) a run resumed at epoch k trains exactly
    as an uninterrupted one, augmentation included (`shuffled_by_epoch` seeds each batch's).
    """

    COUNTER_STRIDE = 1 << 24  # random draws one epoch may take before the next epoch's begin

    def __init__(self):
        super().__init__()
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch_seeds")

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch.assign(epoch)
        for variable in self.model.non_trainable_variables:
            if variable.path.endswith("seed_generator_state"):
                state = np.array(variable.numpy())
                state[1] = epoch * self.COUNTER_STRIDE
                variable.assign(state)


def shuffled_by_epoch(ds: tf.data.Dataset, buffer_size: int, seed: int, epoch_seeds: EpochSeeds | None,
                      each_epoch: Callable[[tf.data.Dataset], tf.data.Dataset] = lambda examples: examples,
                      epoch_batches: int | None = None, batch_transform: Callable | None = None) -> tf.data.Dataset:
    """`ds` shuffled anew every epoch, then `each_epoch` (what ends an epoch: its map and batches), each epoch
    cut to its first `epoch_batches` elements when given (smoke runs), then `batch_transform` mapped over them.

    Without `epoch_seeds`: one epoch per iteration, ordered by tf.data's iteration count. With it:
    epoch after epoch without end, from the epoch `epoch_seeds` holds when iteration starts, each
    ordered by (seed, epoch), and `batch_transform` gets each batch's own seed pair (the epoch's seed,
    the batch's index) as a third argument, so its random draws are a function of (seed, epoch, batch).
    `fit` then needs `steps_per_epoch`, and keeps one iterator for the whole phase, so the next epoch's
    shuffle buffer fills while the model trains on the current epoch's last batches (a new iterator per
    epoch waited for it: issue 28's per-epoch start-up).
    """
    def ended(shuffled: tf.data.Dataset, epoch_seed: tf.Tensor | None = None) -> tf.data.Dataset:
        epoch = each_epoch(shuffled)
        if epoch_batches:
            epoch = epoch.take(epoch_batches)
        if batch_transform is None:
            return epoch
        if epoch_seed is None:
            return epoch.map(batch_transform, num_parallel_calls=AUTOTUNE)
        return epoch.enumerate().map(lambda index, batch: batch_transform(*batch, tf.stack([epoch_seed, index])),
                                     num_parallel_calls=AUTOTUNE, deterministic=True)

    if epoch_seeds is None:
        return ended(ds.shuffle(buffer_size, seed=seed, reshuffle_each_iteration=True))

    def epoch_order(epoch):
        # The op seed is a tensor (seed, epoch); tf's seed helper compares seeds in Python, which a tensor
        # cannot do beside a global seed of 0, so this function's graph takes no global seed: the order
        # depends on (seed, epoch) alone.
        graph = tf.compat.v1.get_default_graph()
        global_seed, graph.seed = graph.seed, None
        epoch_seed = seed * 1_000_003 + epoch
        try:
            shuffled = ds.shuffle(buffer_size, seed=epoch_seed, reshuffle_each_iteration=False)
        finally:
            graph.seed = global_seed
        return ended(shuffled, epoch_seed)

    # The first epoch is read once, when the iterator draws its first element (after `on_epoch_begin`).
    epochs = tf.data.Dataset.from_tensors(0).flat_map(lambda _: tf.data.Dataset.counter(start=epoch_seeds.epoch))
    return epochs.flat_map(epoch_order).apply(tf.data.experimental.assert_cardinality(tf.data.INFINITE_CARDINALITY))


def is_endless(batches) -> bool:
    """Whether `batches` is an endless stream of epochs (`shuffled_by_epoch` with `EpochSeeds`): its consumer must
    count an epoch's steps."""
    return isinstance(batches, tf.data.Dataset) and int(batches.cardinality()) == tf.data.INFINITE_CARDINALITY


def image_shape(info: tfds.core.DatasetInfo) -> tuple[int, int, int]:
    """(height, width, channels) of the dataset's stored images: the classifier's input shape."""
    return tuple(info.features["image"].shape)


def make_pipeline(
    records: tf.data.Dataset,
    *,
    image_size: tuple[int, int],
    training: bool,
    batch_size: int,
    cache: bool = False,
    shuffle_buffer: int = 2048,
    seed: int = 0,
    batch_transform: Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]] | None = None,
    epoch_seeds: EpochSeeds | None = None,
    epoch_batches: int | None = None,
    data_service: str | None = None,
    service_job: str | None = None,
) -> tf.data.Dataset:
    """Batches of (uint8 images in [0, 255] of the dataset's size, labels), for `model.fit` / `evaluate`.

    `records` comes from `load_split`; `image_size` is the dataset's (height, width) (`image_shape(info)[:2]`).
    `batch_transform` maps each batch after the cache and the shuffle (augmentation, one-hot labels).
    `epoch_seeds` makes the training order a function of (seed, epoch), the batches an endless stream of
    epochs and each batch's augmentation a function of (seed, epoch, batch) (`shuffled_by_epoch`):
    `epoch_batches` then cuts each epoch to its first batches (smoke runs).
    `data_service` (grpc://HOST:PORT, training only) runs all of it on tf.data service workers: see
    `through_data_service` (`service_job` names a job several trainers share).
    """
    if data_service is not None:
        return through_data_service(records, data_service, image_size=image_size, batch_size=batch_size,
                                    shuffle_buffer=shuffle_buffer, seed=seed, batch_transform=batch_transform,
                                    job_name=service_job)
    options = tf.data.Options()
    deterministic = not training or epoch_seeds is not None  # an exact resume needs the same order into the cache
    options.deterministic = deterministic
    # tf.data's autotuning left whole epochs on one of 2 cores at random (tools/bench_input.py, issue 28): the
    # maps run with a thread per usable CPU (tf.data's default without autotuning), the prefetch holds batches.
    options.autotune.enabled = False
    # Multi-GPU: shard by example, since a small split may have fewer record files than replicas.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    ds = records.with_options(options)
    decoded = _decoded_record(image_size)

    def batches(examples: tf.data.Dataset) -> tf.data.Dataset:  # decoded, batched: one epoch's end
        if not cache:
            examples = examples.map(decoded, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
        return examples.batch(batch_size, drop_remainder=False)

    if cache:  # decoding is deterministic, so its output is what gets cached
        ds = ds.map(decoded, num_parallel_calls=AUTOTUNE, deterministic=deterministic).cache()
    if training:
        ds = shuffled_by_epoch(ds, shuffle_buffer, seed, epoch_seeds, batches, epoch_batches, batch_transform)
    else:
        ds = batches(ds)
        if batch_transform is not None:
            ds = ds.map(batch_transform, num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.with_options(options).prefetch(_PREFETCH_BATCHES)


def through_data_service(records: tf.data.Dataset, service: str, *, image_size: tuple[int, int],
                         batch_size: int, shuffle_buffer: int = 2048, seed: int = 0,
                         batch_transform: Callable | None = None, job_name: str | None = None) -> tf.data.Dataset:
    """Training batches made by tf.data service workers: shuffle, parse and decode, batch and `batch_transform`.

    Dynamic sharding: the dispatcher hands the split's record files out to the workers as they ask, so
    each example is read once per epoch however many workers there are (a worker lost mid-epoch loses its
    part of that epoch). Nothing here may hold state outside the graph (no cache, no `EpochSeeds`): the
    graph is sent to the workers. `records` comes from `load_split(..., known_size=False)`.

    Trainers that pass the same `job_name` share one job: each batch goes to one of them, so the
    cluster together still reads each example once per epoch (each new iteration of the dataset,
    one per epoch, is a new round of the job). Without it each trainer gets a whole epoch of its own.
    """
    service_options = tf.data.Options()
    service_options.deterministic = False

    ds = (records.with_options(service_options)
          .shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
          .map(_decoded_record(image_size), num_parallel_calls=AUTOTUNE)
          .batch(batch_size))
    if batch_transform is not None:
        ds = ds.map(batch_transform, num_parallel_calls=AUTOTUNE)
    ds = ds.apply(tf.data.experimental.service.distribute(
        processing_mode=tf.data.experimental.service.ShardingPolicy.DYNAMIC, service=service, job_name=job_name))
    return ds.prefetch(AUTOTUNE)
