import numpy as np
import pytest
import tensorflow as tf

from pyck_train.input_pipeline import load_split, make_pipeline
from tests.conftest import BUILT_DATASET

pytestmark = pytest.mark.slow


@pytest.fixture
def data_dir(built_data_dir) -> str:
    return built_data_dir


def test_eval_pipeline_is_deterministic_and_float_in_0_255(data_dir):
    ds, info = load_split(BUILT_DATASET, "test", data_dir)
    batches = list(make_pipeline(ds, training=False, batch_size=16))
    images, labels = batches[0]
    assert images.dtype == tf.float32 and images.shape[1:] == (240, 320, 3)
    assert 0.0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 255.0
    assert sum(int(b[1].shape[0]) for b in batches) == info.splits["test"].num_examples
    again = [b[1].numpy() for b in make_pipeline(ds, training=False, batch_size=16)]
    assert all(np.array_equal(a, b[1].numpy()) for a, b in zip(again, batches))


def test_training_pipeline_shuffles_every_epoch_and_cache_keeps_content(data_dir):
    ds, _ = load_split(BUILT_DATASET, "train", data_dir)
    pipeline = make_pipeline(ds, training=True, batch_size=1000, cache=True, seed=3)
    first, second = (np.concatenate([b[1].numpy() for b in pipeline]) for _ in range(2))
    assert sorted(first.tolist()) == sorted(second.tolist())  # same examples (from the cache)
    assert not np.array_equal(first, second)  # reshuffled
    plain = np.concatenate([b[1].numpy() for b in make_pipeline(ds, training=False, batch_size=1000)])
    assert sorted(plain.tolist()) == sorted(first.tolist())
