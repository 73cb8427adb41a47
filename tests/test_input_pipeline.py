import hashlib

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from pyck_classifier.data.input_pipeline import load_split, make_pipeline, parse_record
from tests.conftest import BUILT_DATASET

pytestmark = pytest.mark.slow


@pytest.fixture
def data_dir(built_data_dir) -> str:
    return built_data_dir


def test_load_split_reads_what_tfds_load_reads_in_the_same_order(data_dir):
    for split in ("test", "train[10:30]"):
        records, _ = load_split(BUILT_DATASET, split, data_dir)
        ours = records.map(parse_record)
        theirs = tfds.load(BUILT_DATASET, split=split, data_dir=data_dir, as_supervised=True, shuffle_files=False,
                           decoders={"image": tfds.decode.SkipDecoding()})
        pairs = list(zip(tfds.as_numpy(ours), tfds.as_numpy(theirs), strict=True))
        assert int(records.cardinality()) == len(pairs) > 0
        assert all(a[0] == b[0] and a[1] == b[1] for a, b in pairs)  # same JPEG bytes and labels


def image_hashes(batches) -> list[str]:
    return [hashlib.sha1(image.tobytes()).hexdigest() for images, _ in batches for image in np.asarray(images)]


def test_eval_pipeline_is_deterministic_uint8_of_the_dataset_size(data_dir):
    ds, info = load_split(BUILT_DATASET, "test", data_dir)
    batches = list(make_pipeline(ds, image_size=(240, 320), training=False, batch_size=16))
    images, labels = batches[0]
    assert images.dtype == tf.uint8 and images.shape[1:] == (240, 320, 3)
    assert sum(int(b[1].shape[0]) for b in batches) == info.splits["test"].num_examples
    # The very images tfds decodes, in the stored order, and the same on a second pass.
    theirs = tfds.load(BUILT_DATASET, split="test", data_dir=data_dir, as_supervised=True, shuffle_files=False)
    assert image_hashes(batches) == image_hashes(theirs.map(lambda image, label: (image[None], label)))
    again = list(make_pipeline(ds, image_size=(240, 320), training=False, batch_size=16))
    assert image_hashes(again) == image_hashes(batches)
    assert np.array_equal(np.concatenate([b[1] for b in again]), np.concatenate([b[1] for b in batches]))


def test_array_record_builds_get_a_clear_error(array_record_data_dir):
    with pytest.raises(ValueError, match="--file_format=tfrecord"):
        load_split("mushroom_observer/family7_ar", "train", array_record_data_dir)


def test_training_pipeline_shuffles_every_epoch_and_cache_keeps_content(data_dir):
    ds, _ = load_split(BUILT_DATASET, "train", data_dir)
    pipeline = make_pipeline(ds, image_size=(240, 320), training=True, batch_size=1000, cache=True, seed=3)
    first, second = (list(pipeline) for _ in range(2))
    plain = list(make_pipeline(ds, image_size=(240, 320), training=False, batch_size=1000))
    assert sorted(image_hashes(first)) == sorted(image_hashes(second)) == sorted(image_hashes(plain))  # the cache
    assert image_hashes(first) != image_hashes(second)  # reshuffled every epoch
    pairs = {(h, int(label)) for h, label in zip(image_hashes(plain), np.concatenate([b[1] for b in plain]))}
    assert {(h, int(label)) for h, label in zip(image_hashes(second), np.concatenate([b[1] for b in second]))} == pairs
