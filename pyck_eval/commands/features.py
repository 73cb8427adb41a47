r"""`python -m pyck_eval features --model_dir M`: the run's pooled CNN features of every split, once, as .npz.

Each `features_<split>.npz` (in --out_dir, default M/features) holds `features` (the input of
the head's first layer: global-average-pooled backbone output), `labels`, `image_id`,
`observation_id`, `date` and `probabilities` (the network's own head on those features, which is
exactly the model's output), plus `class_names`. `svc` and other feature models read them.
"""

from __future__ import annotations

import os

import numpy as np
from absl import flags

from pyck_eval.commands import common_flags
from pyck_eval.index_page import write_index
from pyck_eval.lazy_imports import lazy_import

feature_extraction = lazy_import("pyck_classifier.model.feature_extraction")
trained_run = lazy_import("pyck_eval.trained_run")

flags.DEFINE_string("model_dir", None, "A finished `python -m pyck_train` run.")
flags.DEFINE_list("splits", ["train", "validation", "test"], "Splits to extract.")
FLAGS = flags.FLAGS


def prepare() -> None:
    flags.mark_flag_as_required("model_dir")


def main(argv: list[str]) -> None:
    run = trained_run.load_run(FLAGS.model_dir, FLAGS.data_dir, FLAGS.runtime)
    out = common_flags.out_dir(os.path.join(FLAGS.model_dir, "features"))
    extractor = run.executable(feature_extraction.pooled_feature_model(run.model), "pooled_features")
    head = feature_extraction.head_on_features(run.model)
    lines = []
    for split in FLAGS.splits:
        features, labels, meta = feature_extraction.predict_batches(
            extractor, trained_run.split_batches(run, split, FLAGS.batch_size), f"features {split}")
        probabilities = head.predict(features, batch_size=1024, verbose=0)
        path = os.path.join(out, f"features_{split}.npz")
        np.savez_compressed(path, features=features, labels=labels, probabilities=probabilities,
                            class_names=np.array(run.labels), **meta)
        lines.append(f"{path}: {features.shape[0]} images x {features.shape[1]} features")
        print(lines[-1])
    common_flags.done(write_index(out, f"Pooled features of {FLAGS.model_dir}", [("Files", "\n".join(lines))]))
