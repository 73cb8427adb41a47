r"""`python -m pyck_eval stack --model_dirs M1,M2,...`: stacking vs each base model on the test split.

Every run must be trained on the same dataset config (same splits, same image order). The
meta-learners (XGBoost, logistic regression) are fitted on the runs' VALIDATION probabilities
and scored on test; the plain average of the runs' probabilities is shown too. Writes
comparison.csv, metrics.json and index.html into --out_dir (default ./stack).
"""

from __future__ import annotations

import json
import os

import pandas as pd
from absl import app, flags

from pyck_eval.commands import common_flags
from pyck_eval.index_page import write_index
from pyck_eval.lazy_imports import lazy_import

classification_metrics = lazy_import("pyck_eval.classification_metrics")
stacking = lazy_import("pyck_eval.stacking")
trained_run = lazy_import("pyck_eval.trained_run")

flags.DEFINE_list("model_dirs", None, "Two or more finished `python -m pyck_train` runs.")
FLAGS = flags.FLAGS


def prepare() -> None:
    flags.mark_flag_as_required("model_dirs")


def main(argv: list[str]) -> None:
    if len(FLAGS.model_dirs) < 2:
        raise app.UsageError("--model_dirs: give at least two runs to stack")
    out = common_flags.out_dir("stack")
    predictions = {"validation": [], "test": []}
    ids, labels, names = {}, {}, None
    for model_dir in FLAGS.model_dirs:
        run = trained_run.load_run(model_dir, FLAGS.data_dir, FLAGS.runtime)
        if names is not None and run.labels != names:
            raise ValueError(f"{model_dir} has classes {run.labels}, not {names}: stack runs of one dataset config")
        names = run.labels
        for split in ("validation", "test"):
            rows, probabilities = trained_run.predict_split(run, split, FLAGS.batch_size)
            if split in ids and not ids[split].equals(rows["image_id"]):
                raise ValueError(f"{model_dir}'s {split} split holds other images than {FLAGS.model_dirs[0]}'s; "
                                 "stack runs trained on the same dataset config and data_dir")
            ids[split], labels[split] = rows["image_id"], rows["label"].to_numpy()
            predictions[split].append(probabilities)

    rows = []
    for model_dir, probabilities in zip(FLAGS.model_dirs, predictions["test"]):
        rows.append({"model": os.path.basename(os.path.normpath(model_dir)),
                     **classification_metrics.summary(labels["test"], probabilities, names)})
    stacked = stacking.stack(predictions["validation"], labels["validation"], predictions["test"],
                             stacking.meta_learners(FLAGS.seed))
    for name, probabilities in stacked.items():
        rows.append({"model": name, **classification_metrics.summary(labels["test"], probabilities, names)})
    table = pd.DataFrame(rows).drop(columns="per_class")
    table.to_csv(os.path.join(out, "comparison.csv"), index=False)
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump({"model_dirs": FLAGS.model_dirs, "fitted_on": "validation", "scored_on": "test",
                   "validation_examples": int(len(labels["validation"])), "rows": table.to_dict(orient="records")},
                  f, indent=2)
    print(table.to_string(index=False))
    common_flags.done(write_index(out, "Stacking on the test split", [
        ("Meta-learners fitted on the validation split only; every row scored on test", table)]))
