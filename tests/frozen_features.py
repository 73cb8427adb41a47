"""Frozen-backbone features of a sample dump's images and a softmax head trained on them."""

from __future__ import annotations

import os

import keras
import numpy as np
from PIL import Image

from pyck_tfds.dump import DumpFilter, class_names, load_dump


def dump_arrays(manual_dir: str, min_per_class: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{split: (images float32 [0, 255] NHWC at 240x320, labels)} straight from the dump's files."""
    examples = load_dump(manual_dir, DumpFilter(min_per_class=min_per_class), progress=False).examples
    names = class_names(examples)
    arrays = {}
    for split, rows in examples.groupby("split"):
        images = np.stack([np.asarray(Image.open(os.path.join(manual_dir, p)).convert("RGB"), np.float32)
                           for p in rows["file_path"]])
        arrays[split] = (images, rows["class_name"].map(names.index).to_numpy())
    return arrays


def head_accuracy(backbone: keras.Model, arrays: dict, seed: int = 0) -> float:
    """Test accuracy of a softmax head trained on the frozen backbone's pooled features."""
    features = {s: (backbone.predict(x, batch_size=32, verbose=0), y) for s, (x, y) in arrays.items()}
    keras.utils.set_random_seed(seed)
    x_train, y_train = features["train"]
    head = keras.Sequential([keras.Input(x_train.shape[1:]), keras.layers.Dense(int(y_train.max()) + 1, "softmax")])
    head.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    head.fit((x_train - mean) / std, y_train, epochs=100, batch_size=64, verbose=0)
    x_test, y_test = features["test"]
    return float(head.evaluate((x_test - mean) / std, y_test, verbose=0)[1])
