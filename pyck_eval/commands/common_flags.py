"""Flags several eval commands share, defined once."""

from __future__ import annotations

import os

from absl import flags

from pyck_classifier.data import EVAL_BATCH_SIZE
from pyck_classifier.model.litert import RUNTIMES
from pyck_classifier.run.run_directory import find_run
from pyck_classifier.run.run_index import write_run_index

flags.DEFINE_string("out_dir", None, "Folder for this command's outputs (created; an index.html is written there).")
flags.DEFINE_string("data_dir", None, "TFDS data_dir (default: the one the model was trained with).")
flags.DEFINE_integer("batch_size", EVAL_BATCH_SIZE, "Images per prediction batch.", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of the scikit-learn / XGBoost / Optuna models.")
flags.DEFINE_enum("runtime", "auto", list(RUNTIMES), "What runs the network: LiteRT (XNNPACK, several "
                  "times faster on CPU, same numbers), Keras, or auto (LiteRT without a GPU). The LiteRT conversion "
                  "is cached per model in PYCK_CACHE_DIR (default ~/.cache/pyck).")

FLAGS = flags.FLAGS


def out_dir(default: str) -> str:
    path = FLAGS.out_dir or default
    os.makedirs(path, exist_ok=True)
    return path


def done(index_path: str) -> None:
    """Says where the outputs are; inside a model_dir, its top index.html is written again to list them."""
    print(f"outputs in {os.path.dirname(index_path)}  (open {index_path})")
    model_dir = find_run(os.path.dirname(index_path))
    if model_dir:
        write_run_index(model_dir)
